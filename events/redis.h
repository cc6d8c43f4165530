/*
 * redis.h - one connection to Redis (hiredis 0.14, blocking), with what that library lacks: a
 * connect timeout, a command timeout, and reconnection on demand. A connection belongs to one
 * thread. Cluster mode only (cluster.redis_url).
 */
#ifndef FG_EVENTS_REDIS_H
#define FG_EVENTS_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fg_redis fg_redis_t;

/**
 * Parses "redis://host[:port][/db]" (host: a name, IPv4, or [IPv6]; port 6379 by default).
 * FG_OK or FG_ERR_INVALID.
 */
int fg_redis_parse_url(const char *url, char *host, size_t hostcap, int *port, int *db);

/**
 * A connection to url whose commands wait at most timeout_ms (a blocking read like XREAD BLOCK
 * needs its block time on top). It connects at once; a failure is returned (FG_ERR_IO, with why
 * in err) but the handle stays usable: each command reconnects first when the connection is
 * down. FG_ERR_INVALID for a bad url, FG_ERR_NOMEM.
 */
int fg_redis_open(const char *url, int64_t timeout_ms, fg_redis_t **out, char *err, size_t cap);

void fg_redis_close(fg_redis_t *r);

/** Whether the last command (or connect) worked. */
bool fg_redis_up(const fg_redis_t *r);

/** Why the connection last failed ("" when it works). */
const char *fg_redis_error(const fg_redis_t *r);

/**
 * Runs one command (argv with lengths). Returns the reply (caller frees with freeReplyObject;
 * an error reply is a reply), or NULL when the connection failed: it is dropped and the next
 * command reconnects.
 */
redisReply *fg_redis_cmd(fg_redis_t *r, int argc, const char **argv, const size_t *lens);

/** printf-style shorthand for fixed commands ("GET %s"); same contract as fg_redis_cmd. */
redisReply *fg_redis_cmdf(fg_redis_t *r, const char *fmt, ...);

/**
 * Pipelining: queue commands with fg_redis_append, then read each reply in order with
 * fg_redis_read (NULL: the connection failed; the rest are lost too).
 */
int fg_redis_append(fg_redis_t *r, int argc, const char **argv, const size_t *lens);
redisReply *fg_redis_read(fg_redis_t *r);

#endif
