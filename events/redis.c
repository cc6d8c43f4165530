/*
 * redis.c - a Redis connection with timeouts and reconnection (redis.h).
 */
#include "events/redis.h"
#include "events/err.h"
#include "events/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fg_redis {
    char host[256];
    int port, db;
    int64_t timeout_ms;
    redisContext *c; /* NULL while down */
    char error[320];
};

int fg_redis_parse_url(const char *url, char *host, size_t hostcap, int *port, int *db)
{
    static const char scheme[] = "redis://";
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
        return FG_ERR_INVALID;
    const char *p = url + sizeof(scheme) - 1, *hend;
    if (*p == '[') {
        hend = strchr(p, ']');
        if (hend == NULL)
            return FG_ERR_INVALID;
        p++;
    } else {
        hend = p + strcspn(p, ":/");
    }
    size_t hlen = (size_t)(hend - p);
    if (hlen == 0 || hlen >= hostcap)
        return FG_ERR_INVALID;
    memcpy(host, p, hlen);
    host[hlen] = '\0';
    p = hend + (*hend == ']');
    *port = 6379;
    *db = 0;
    if (*p == ':') {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v < 1 || v > 65535)
            return FG_ERR_INVALID;
        *port = (int)v;
        p = end;
    }
    if (*p == '/') {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v < 0 || v > 1000 || *end != '\0')
            return FG_ERR_INVALID;
        *db = (int)v;
        p = end;
    }
    return *p == '\0' ? FG_OK : FG_ERR_INVALID;
}

static struct timeval tv_of(int64_t ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

static void drop(fg_redis_t *r, const char *why)
{
    snprintf(r->error, sizeof(r->error), "%s", why);
    if (r->c != NULL)
        redisFree(r->c);
    r->c = NULL;
}

/* Connects when down. FG_OK or FG_ERR_IO (r->error says why). */
static int ensure(fg_redis_t *r)
{
    if (r->c != NULL)
        return FG_OK;
    redisContext *c = redisConnectWithTimeout(r->host, r->port, tv_of(r->timeout_ms));
    if (c == NULL) {
        snprintf(r->error, sizeof(r->error), "out of memory");
        return FG_ERR_IO;
    }
    if (c->err) {
        snprintf(r->error, sizeof(r->error), "cannot connect to %.120s:%d: %.100s", r->host,
                 r->port, c->errstr);
        redisFree(c);
        return FG_ERR_IO;
    }
    redisSetTimeout(c, tv_of(r->timeout_ms));
    redisEnableKeepAlive(c);
    r->c = c;
    r->error[0] = '\0';
    if (r->db != 0) {
        redisReply *rep = redisCommand(c, "SELECT %d", r->db);
        bool ok = rep != NULL && rep->type != REDIS_REPLY_ERROR;
        if (rep != NULL)
            freeReplyObject(rep);
        if (!ok) {
            drop(r, "SELECT of the database failed");
            return FG_ERR_IO;
        }
    }
    return FG_OK;
}

int fg_redis_open(const char *url, int64_t timeout_ms, fg_redis_t **out, char *err, size_t cap)
{
    fg_redis_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return FG_ERR_NOMEM;
    if (fg_redis_parse_url(url, r->host, sizeof(r->host), &r->port, &r->db) != FG_OK) {
        snprintf(err, cap, "config key cluster.redis_url: not a redis://host:port[/db] URL: %s",
                 url);
        free(r);
        return FG_ERR_INVALID;
    }
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
    *out = r;
    if (ensure(r) != FG_OK) {
        snprintf(err, cap, "%s", r->error);
        return FG_ERR_IO;
    }
    return FG_OK;
}

void fg_redis_close(fg_redis_t *r)
{
    if (r == NULL)
        return;
    if (r->c != NULL)
        redisFree(r->c);
    free(r);
}

bool fg_redis_up(const fg_redis_t *r)
{
    return r->c != NULL;
}

const char *fg_redis_error(const fg_redis_t *r)
{
    return r->error;
}

/* A reply, or NULL after dropping a failed connection. */
static redisReply *checked(fg_redis_t *r, void *rep)
{
    if (rep == NULL) {
        char why[200];
        snprintf(why, sizeof(why), "%s", r->c && r->c->err ? r->c->errstr : "connection lost");
        drop(r, why);
    }
    return rep;
}

redisReply *fg_redis_cmd(fg_redis_t *r, int argc, const char **argv, const size_t *lens)
{
    if (ensure(r) != FG_OK)
        return NULL;
    return checked(r, redisCommandArgv(r->c, argc, argv, lens));
}

redisReply *fg_redis_cmdf(fg_redis_t *r, const char *fmt, ...)
{
    if (ensure(r) != FG_OK)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    void *rep = redisvCommand(r->c, fmt, ap);
    va_end(ap);
    return checked(r, rep);
}

int fg_redis_append(fg_redis_t *r, int argc, const char **argv, const size_t *lens)
{
    if (ensure(r) != FG_OK)
        return FG_ERR_IO;
    if (redisAppendCommandArgv(r->c, argc, argv, lens) != REDIS_OK) {
        drop(r, "out of memory");
        return FG_ERR_IO;
    }
    return FG_OK;
}

redisReply *fg_redis_read(fg_redis_t *r)
{
    if (r->c == NULL)
        return NULL;
    void *rep = NULL;
    if (redisGetReply(r->c, &rep) != REDIS_OK)
        rep = NULL;
    return checked(r, rep);
}
