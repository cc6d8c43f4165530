/*
 * redis_log.c - the cluster's shared log in Redis (redis_log.h). The function library is
 * events/redis_log.lua, built into the binary.
 */
#include "events/redis_log.h"
#include "events/log.h"
#include "events/timefmt.h"
#include "events/transitions.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

extern const char fg_redis_lua[];
extern const size_t fg_redis_lua_len;

/* A reply's text as a NUL-terminated copy into buf ("" when it has none). */
static const char *text_of(const redisReply *rep, char *buf, size_t cap)
{
    if (rep == NULL || (rep->type != REDIS_REPLY_STRING && rep->type != REDIS_REPLY_STATUS &&
                        rep->type != REDIS_REPLY_ERROR))
        return "";
    snprintf(buf, cap, "%.*s", (int)rep->len, rep->str);
    return buf;
}

/* A command that failed: "what: why" into err (the error reply, or the connection's), the reply
 * freed. Returns FG_ERR_IO. */
static int failed(fg_redis_t *r, redisReply *rep, const char *what, char *err, size_t cap)
{
    char buf[256];
    snprintf(err, cap, "%s: %s", what, rep ? text_of(rep, buf, sizeof(buf)) : fg_redis_error(r));
    if (rep != NULL)
        freeReplyObject(rep);
    return FG_ERR_IO;
}

int fg_rlog_load(fg_redis_t *r, char *err, size_t cap)
{
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", fg_redis_lua};
    size_t lens[] = {8, 4, 7, fg_redis_lua_len};
    redisReply *rep = fg_redis_cmd(r, 4, argv, lens);
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
        return failed(r, rep, "cannot load the flowgate function library into Redis", err, cap);
    freeReplyObject(rep);
    return FG_OK;
}

int fg_rlog_join(fg_redis_t *r, uint64_t held, uint64_t *epoch, bool *created, char *err,
                 size_t cap)
{
    uint64_t mine = 0;
    if (getrandom(&mine, sizeof(mine), 0) != (ssize_t)sizeof(mine))
        mine = (uint64_t)(uintptr_t)&mine ^ (uint64_t)fg_time_now_us();
    mine = (mine & INT64_MAX) | 1;
    redisReply *rep =
        fg_redis_cmdf(r, "FCALL fg_join 2 " FG_RLOG_EPOCH " " FG_RLOG_SEQ " %llu %llu",
                      (unsigned long long)mine, (unsigned long long)held);
    char buf[256];
    if (rep != NULL && rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "unction") != NULL) {
        /* the library is not there (a Redis that lost it): load it and ask again */
        freeReplyObject(rep);
        if (fg_rlog_load(r, err, cap) != FG_OK)
            return FG_ERR_IO;
        rep = fg_redis_cmdf(r, "FCALL fg_join 2 " FG_RLOG_EPOCH " " FG_RLOG_SEQ " %llu %llu",
                            (unsigned long long)mine, (unsigned long long)held);
    }
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2)
        return failed(r, rep, "cannot join the log in Redis", err, cap);
    *epoch = strtoull(text_of(rep->element[0], buf, sizeof(buf)), NULL, 10);
    *created = rep->element[1]->type == REDIS_REPLY_INTEGER && rep->element[1]->integer == 1;
    freeReplyObject(rep);
    return FG_OK;
}

/* CONFIG GET name into val (""). FG_OK or FG_ERR_IO. */
static int config_get(fg_redis_t *r, const char *name, char *val, size_t cap)
{
    redisReply *rep = fg_redis_cmdf(r, "CONFIG GET %s", name);
    val[0] = '\0';
    if (rep == NULL)
        return FG_ERR_IO;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2)
        text_of(rep->element[1], val, cap);
    freeReplyObject(rep);
    return FG_OK;
}

int fg_rlog_check_durability(fg_redis_t *r, char *why, size_t cap)
{
    char aof[32], fsync[32], policy[64];
    if (config_get(r, "appendonly", aof, sizeof(aof)) != FG_OK ||
        config_get(r, "appendfsync", fsync, sizeof(fsync)) != FG_OK ||
        config_get(r, "maxmemory-policy", policy, sizeof(policy)) != FG_OK) {
        snprintf(why, cap, "cannot read Redis's configuration: %s", fg_redis_error(r));
        return FG_ERR_IO;
    }
    why[0] = '\0';
    if (strcmp(aof, "yes") != 0)
        snprintf(why, cap, "appendonly is %s (acknowledged events are lost when Redis restarts)",
                 aof[0] ? aof : "unknown");
    else if (strcmp(fsync, "always") != 0)
        snprintf(why, cap,
                 "appendfsync is %s (events acknowledged in the last second are lost on a crash)",
                 fsync[0] ? fsync : "unknown");
    else if (strcmp(policy, "noeviction") != 0 && policy[0] != '\0')
        snprintf(why, cap, "maxmemory-policy is %s (Redis may evict the log)", policy);
    return why[0] ? FG_ERR_INVALID : FG_OK;
}

int fg_rlog_append_publish(fg_redis_t *r, const fg_catalog_t *cat, fg_writer_job_t *const *jobs,
                           size_t m, bool enforce, int64_t received_us, uint64_t epoch)
{
    size_t events = 0, hcap = 0;
    for (size_t j = 0; j < m; j++) {
        events += jobs[j]->n;
        for (size_t i = 0; i < jobs[j]->n; i++) {
            const fg_pub_event_t *ev = &jobs[j]->events[i];
            hcap += 64 + strlen(fg_catalog_type(cat, (size_t)ev->type_idx)->name) + strlen(ev->id) +
                    (ev->workflow ? strlen(ev->workflow) : 0) + 2 * 40 + FG_TRACEPARENT_LEN + 1;
        }
    }
    size_t argc = 3 + 5 + 3 + m + 6 * events + 1;
    const char **argv = malloc(argc * sizeof(*argv));
    size_t *lens = malloc(argc * sizeof(*lens));
    char *nums = malloc(64 + 24 * m + 48 * events + hcap); /* the numbers' and headers' text */
    if (argv == NULL || lens == NULL || nums == NULL) {
        free(argv);
        free(lens);
        free(nums);
        return FG_ERR_NOMEM;
    }
    size_t k = 0, used = 0;
#define ARG(s, l) (argv[k] = (s), lens[k] = (l), k++)
#define NUM(fmt, v)                                                                                \
    do {                                                                                           \
        int w_ = snprintf(nums + used, 24, fmt, v);                                                \
        ARG(nums + used, (size_t)w_);                                                              \
        used += (size_t)w_ + 1;                                                                    \
    } while (0)
    ARG("FCALL", 5);
    ARG("fg_publish", 10);
    ARG("5", 1);
    ARG("fg:seq", 6);
    ARG("fg:ids", 6);
    ARG(FG_RLOG_STREAM, strlen(FG_RLOG_STREAM));
    ARG("fg:runs", 7);
    ARG(FG_RLOG_EPOCH, strlen(FG_RLOG_EPOCH));
    ARG(enforce ? "1" : "0", 1);
    NUM("%" PRId64, received_us);
    NUM("%zu", m);
    for (size_t j = 0; j < m; j++) {
        const fg_writer_job_t *job = jobs[j];
        NUM("%zu", job->n);
        for (size_t i = 0; i < job->n; i++) {
            const fg_pub_event_t *ev = &job->events[i];
            ARG(ev->id, strlen(ev->id));
            ARG(ev->run_id, strlen(ev->run_id));
            NUM("%d", ev->from);
            NUM("%d", ev->to);
            /* the trace context, when the event has one, last (redis_log.h) */
            int w = sprintf(nums + used, "%s\t%d\t%d\t%s\t%s\t%s\t%s%s%s",
                            fg_catalog_type(cat, (size_t)ev->type_idx)->name, ev->from, ev->to,
                            ev->run_id, ev->step_id, ev->id, ev->workflow ? ev->workflow : "",
                            ev->traceparent[0] ? "\t" : "", ev->traceparent);
            ARG(nums + used, (size_t)w);
            used += (size_t)w + 1;
            ARG(ev->json, ev->json_len);
        }
    }
    NUM("%" PRIu64, epoch);
#undef ARG
#undef NUM
    int rc = fg_redis_append(r, (int)k, argv, lens);
    free(argv);
    free(lens);
    /* hiredis formatted the command into its buffer: the texts may go */
    free(nums);
    return rc;
}

static int64_t int_of(const redisReply *rep)
{
    return rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
}

static uint64_t job_reply(const redisReply *rep, fg_writer_job_t *job)
{
    uint64_t high = 0;
    char buf[200];
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1) {
        job->status = FG_ERR_IO;
        goto out;
    }
    const char *tag = text_of(rep->element[0], buf, sizeof(buf));
    if (strcmp(tag, "conflict") == 0 && rep->elements == 3) {
        long i = (long)int_of(rep->element[1]);
        int known = (int)int_of(rep->element[2]);
        if (i < 0 || (size_t)i >= job->n) {
            job->status = FG_ERR_IO;
            goto out;
        }
        const fg_pub_event_t *ev = &job->events[i];
        fg_verr_set(&job->err, "illegal_transition", "to",
                    fg_run_status_name((fg_run_status_t)ev->to), "run %s is %s, not %s", ev->run_id,
                    fg_run_status_name((fg_run_status_t)known),
                    fg_run_status_name((fg_run_status_t)ev->from));
        job->err.index = i;
        job->status = FG_ERR_CONFLICT;
        goto out;
    }
    if (strcmp(tag, "ok") != 0 || rep->elements != 1 + 3 * job->n) {
        job->status = FG_ERR_IO;
        goto out;
    }
    for (size_t i = 0; i < job->n; i++) {
        fg_pub_result_t *res = &job->results[i];
        const fg_pub_event_t *ev = &job->events[i];
        int64_t seq = int_of(rep->element[1 + 3 * i]);
        int known = (int)int_of(rep->element[3 + 3 * i]);
        if (seq <= 0) {
            job->status = FG_ERR_IO;
            goto out;
        }
        res->seq = (uint64_t)seq;
        res->duplicate = int_of(rep->element[2 + 3 * i]) == 1;
        if (known >= 0)
            snprintf(res->warning, sizeof(res->warning), "illegal_transition: run %s is %s, not %s",
                     ev->run_id, fg_run_status_name((fg_run_status_t)known),
                     fg_run_status_name((fg_run_status_t)ev->from));
        if ((uint64_t)seq > high)
            high = (uint64_t)seq;
    }
    job->status = FG_OK;
out:
    return high;
}

uint64_t fg_rlog_publish_reply(redisReply *rep, fg_writer_job_t *const *jobs, size_t m)
{
    uint64_t high = 0;
    char buf[200];
    bool jobs_reply = rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 + m &&
                      strcmp(text_of(rep->element[0], buf, sizeof(buf)), "jobs") == 0;
    bool stale = rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
                 strcmp(text_of(rep->element[0], buf, sizeof(buf)), "epoch") == 0;
    if (!jobs_reply && !stale && rep != NULL)
        fg_log(FG_LOG_ERROR, "cluster_publish_failed", "error=\"%s\"",
               text_of(rep, buf, sizeof(buf)));
    for (size_t j = 0; j < m; j++) {
        if (jobs_reply) {
            uint64_t h = job_reply(rep->element[1 + j], jobs[j]);
            high = h > high ? h : high;
        } else {
            /* another epoch: nothing was written, join again; else no answer */
            jobs[j]->status = stale ? FG_ERR_STALE : FG_ERR_IO;
        }
    }
    if (rep != NULL)
        freeReplyObject(rep);
    return high;
}

/* An entry's position from its id "<seq>-<sub>". False when it is not one of ours. */
static bool pos_of(const redisReply *id, fg_rlog_pos_t *pos)
{
    if (id == NULL || id->type != REDIS_REPLY_STRING || id->len < 3 || id->len > 40)
        return false;
    char buf[48];
    memcpy(buf, id->str, id->len);
    buf[id->len] = '\0';
    char *end;
    pos->seq = strtoull(buf, &end, 10);
    if (*end != '-')
        return false;
    pos->sub = strtoull(end + 1, &end, 10);
    return *end == '\0' && (pos->sub > 0 || pos->seq > 0);
}

bool fg_rlog_pos_after(fg_rlog_pos_t a, fg_rlog_pos_t b)
{
    return a.seq > b.seq || (a.seq == b.seq && a.sub > b.sub);
}

/* A control entry (replicated.h): fields c (kind), b (body), n (origin), r (at_us). */
static void read_control(const redisReply *f, fg_rlog_pos_t pos,
                         void (*cb)(void *ctx, const fg_rlog_entry_t *e), void *ctx)
{
    fg_rlog_entry_t e = {.seq = pos.seq, .sub = pos.sub, .kind = ""};
    for (size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements; k += 2) {
        const redisReply *name = f->element[k], *val = f->element[k + 1];
        if (name->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING || name->len != 1)
            continue;
        if (name->str[0] == 'c') {
            e.kind = val->str;
            e.kind_len = val->len;
        } else if (name->str[0] == 'b') {
            e.body = val->str;
            e.body_len = val->len;
        } else if (name->str[0] == 'n') {
            e.origin = val->str;
            e.origin_len = val->len;
        } else if (name->str[0] == 'r') {
            e.received_us = strtoll(val->str, NULL, 10);
        }
    }
    cb(ctx, &e);
}

/*
 * One entry: id <last>-0, fields f (first seq; absent: = last), r (received_us), j per event; or
 * a control entry, id <seq>-<n>. Calls cb for each event above after (json NULL for an event
 * that cannot be read, and for an entry whose events do not number last - first + 1), or once
 * for the control entry. FG_ERR_INVALID for an id that is not ours.
 */
static int read_entry(const redisReply *en, fg_rlog_pos_t after,
                      void (*cb)(void *ctx, const fg_rlog_entry_t *e), void *ctx,
                      fg_rlog_pos_t *last)
{
    fg_rlog_pos_t pos;
    if (!pos_of(en->element[0], &pos))
        return FG_ERR_INVALID;
    if (!fg_rlog_pos_after(pos, *last))
        return FG_OK; /* never: ids grow */
    const redisReply *f = en->element[1];
    if (pos.sub > 0) {
        read_control(f, pos, cb, ctx);
        *last = pos;
        return FG_OK;
    }
    uint64_t lseq = pos.seq;
    uint64_t first = lseq;
    int64_t received = 0;
    size_t nj = 0;
    for (size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements; k += 2) {
        const redisReply *name = f->element[k], *val = f->element[k + 1];
        if (name->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING || name->len != 1)
            continue;
        if (name->str[0] == 'f')
            first = strtoull(val->str, NULL, 10);
        else if (name->str[0] == 'r')
            received = strtoll(val->str, NULL, 10);
        else if (name->str[0] == 'j')
            nj++;
    }
    *last = pos;
    if (first == 0 || first > lseq || nj != lseq - first + 1) {
        /* not an entry this version wrote: its highest number is lost here, the rest unknown */
        fg_rlog_entry_t e = {.seq = lseq, .received_us = received};
        cb(ctx, &e);
        return FG_OK;
    }
    uint64_t seq = first;
    const redisReply *header = NULL;
    for (size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements; k += 2) {
        const redisReply *name = f->element[k], *val = f->element[k + 1];
        if (name->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING || name->len != 1)
            continue;
        if (name->str[0] == 'h') {
            header = val;
            continue;
        }
        if (name->str[0] != 'j')
            continue;
        if (seq > after.seq) {
            fg_rlog_entry_t e = {.seq = seq,
                                 .json = val->str,
                                 .json_len = val->len,
                                 .header = header ? header->str : NULL,
                                 .header_len = header ? header->len : 0,
                                 .received_us = received};
            cb(ctx, &e);
        }
        header = NULL;
        seq++;
    }
    return FG_OK;
}

int fg_rlog_read(fg_redis_t *r, fg_rlog_pos_t after, size_t count, int64_t block_ms,
                 void (*cb)(void *ctx, const fg_rlog_entry_t *e), void *ctx, fg_rlog_pos_t *last)
{
    *last = after;
    /* (hiredis's formatter knows l and ll, not z or the PRI macros) */
    redisReply *rep =
        fg_redis_cmdf(r, "XREAD COUNT %llu BLOCK %lld STREAMS " FG_RLOG_STREAM " %llu-%llu",
                      (unsigned long long)count, (long long)block_ms, (unsigned long long)after.seq,
                      (unsigned long long)after.sub);
    if (rep == NULL)
        return FG_ERR_IO;
    int rc = FG_OK;
    if (rep->type == REDIS_REPLY_ERROR) {
        char buf[200];
        fg_log(FG_LOG_ERROR, "cluster_read_failed", "error=\"%s\"", text_of(rep, buf, sizeof(buf)));
        rc = FG_ERR_IO;
    } else if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
               rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2) {
        const redisReply *entries = rep->element[0]->element[1];
        for (size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; i++) {
            const redisReply *en = entries->element[i];
            if (en->type != REDIS_REPLY_ARRAY || en->elements != 2)
                continue;
            if (read_entry(en, after, cb, ctx, last) != FG_OK)
                fg_log(FG_LOG_ERROR, "cluster_bad_entry",
                       "reason=\"entry id is not <seq>-<n>\" the entry is ignored");
        }
    }
    freeReplyObject(rep);
    return rc;
}

int fg_rlog_head(fg_redis_t *r, uint64_t *seq)
{
    redisReply *rep = fg_redis_cmdf(r, "GET " FG_RLOG_SEQ);
    if (rep == NULL)
        return FG_ERR_IO;
    char buf[32];
    *seq = rep->type == REDIS_REPLY_STRING ? strtoull(text_of(rep, buf, sizeof(buf)), NULL, 10) : 0;
    int rc = rep->type == REDIS_REPLY_ERROR ? FG_ERR_IO : FG_OK;
    freeReplyObject(rep);
    return rc;
}

int fg_rlog_trim(fg_redis_t *r, const char *node, uint64_t max_events, int64_t max_age_ms,
                 uint64_t *floor)
{
    *floor = 0;
    redisReply *rep = fg_redis_cmdf(r, "SET fg:trim:lock %s NX PX 60000", node[0] ? node : "-");
    if (rep == NULL)
        return FG_ERR_IO;
    bool mine = rep->type == REDIS_REPLY_STATUS;
    freeReplyObject(rep);
    if (!mine)
        return FG_OK; /* another node trims this round */
    uint64_t head = 0;
    int rc = fg_rlog_head(r, &head);
    uint64_t upto = max_events > 0 && head > max_events ? head - max_events : 0;
    long long before = max_age_ms > 0 ? (long long)(fg_time_now_us() - max_age_ms * 1000) : 0;
    for (int round = 0; rc == FG_OK && round < 100; round++) {
        rep = fg_redis_cmdf(r, "FCALL fg_trim 3 " FG_RLOG_STREAM " fg:ids fg:purged %llu %lld 1000",
                            (unsigned long long)upto, before);
        if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
            char buf[200];
            if (rep != NULL)
                fg_log(FG_LOG_ERROR, "cluster_trim_failed", "error=\"%s\"",
                       text_of(rep, buf, sizeof(buf)));
            rc = FG_ERR_IO;
        } else if (rep->integer > 0) {
            *floor = (uint64_t)rep->integer;
        }
        bool more = rep != NULL && rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
        if (rep != NULL)
            freeReplyObject(rep);
        if (!more)
            break;
    }
    rep = fg_redis_cmdf(r, "DEL fg:trim:lock");
    if (rep != NULL)
        freeReplyObject(rep);
    return rc;
}

bool fg_cluster_epoch_seen(_Atomic uint64_t *joined, _Atomic uint64_t *changes, uint64_t epoch,
                           const char *who)
{
    uint64_t before = atomic_exchange(joined, epoch);
    if (before == 0 || before == epoch)
        return false;
    atomic_fetch_add(changes, 1);
    fg_log(FG_LOG_ERROR, "cluster_log_epoch_changed",
           "by=%s old=%016" PRIx64 " new=%016" PRIx64
           " Redis lost the log (restarted empty, or flushed): numbering goes on above the highest "
           "seq the nodes hold; events published but not applied here before the loss are gone",
           who, before, epoch);
    return true;
}
