/*
 * redis_control.c - control entries, leases and live nodes in Redis (redis_control.h).
 */
#include "events/redis_control.h"
#include "events/log.h"
#include "events/redis_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fg_rlog_append_control(fg_redis_t *r, const fg_repl_t *repl, fg_writer_job_t *job,
                           uint64_t epoch, int64_t at_us)
{
    const fg_repl_op_t *op = job->repl;
    char *body = json_dumps(op->body, JSON_COMPACT);
    if (body == NULL)
        return FG_ERR_NOMEM;
    char epoch_s[24], origin[96], at[24];
    snprintf(epoch_s, sizeof(epoch_s), "%" PRIu64, epoch);
    fg_repl_origin(repl, job, origin, sizeof(origin));
    snprintf(at, sizeof(at), "%" PRId64, at_us);
    bool fenced = op->fence_key[0] != '\0';
    const char *args[13];
    size_t n = 0;
    args[n++] = "FCALL";
    args[n++] = "fg_control";
    args[n++] = fenced ? "4" : "3";
    args[n++] = FG_RLOG_SEQ;
    args[n++] = FG_RLOG_STREAM;
    args[n++] = FG_RLOG_EPOCH;
    if (fenced)
        args[n++] = op->fence_key;
    args[n++] = epoch_s;
    args[n++] = op->kind->name;
    args[n++] = body;
    args[n++] = origin;
    args[n++] = at;
    if (fenced)
        args[n++] = op->fence_value;
    size_t lens[13];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(args[i]);
    int rc = fg_redis_append(r, (int)n, args, lens);
    free(body);
    return rc;
}

int fg_rlog_control_reply(redisReply *rep)
{
    if (rep == NULL)
        return FG_ERR_IO;
    int rc = FG_ERR_IO;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
        rep->element[0]->type == REDIS_REPLY_STRING) {
        const char *tag = rep->element[0]->str;
        rc = strcmp(tag, "ok") == 0       ? FG_OK
             : strcmp(tag, "fenced") == 0 ? FG_ERR_CONFLICT
             : strcmp(tag, "epoch") == 0  ? FG_ERR_STALE
                                          : FG_ERR_IO;
    } else if (rep->type == REDIS_REPLY_ERROR) {
        fg_log(FG_LOG_ERROR, "cluster_control_failed", "error=\"%.*s\"", (int)rep->len, rep->str);
    }
    freeReplyObject(rep);
    return rc;
}

int fg_rlease_take(fg_redis_t *r, const char *key, const char *node, uint64_t *token,
                   int64_t ttl_ms)
{
    redisReply *rep = fg_redis_cmdf(r, "FCALL fg_lease 2 %s " FG_RLOG_LEASE_TOKENS " %s %llu %lld",
                                    key, node, (unsigned long long)*token, (long long)ttl_ms);
    if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
        if (rep != NULL)
            freeReplyObject(rep);
        return FG_ERR_IO;
    }
    *token = rep->integer > 0 ? (uint64_t)rep->integer : 0;
    freeReplyObject(rep);
    return FG_OK;
}

int fg_rlease_drop(fg_redis_t *r, const char *key, const char *node, uint64_t token)
{
    redisReply *rep =
        fg_redis_cmdf(r, "FCALL fg_unlease 1 %s %s:%llu", key, node, (unsigned long long)token);
    int rc = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? FG_OK : FG_ERR_IO;
    if (rep != NULL)
        freeReplyObject(rep);
    return rc;
}

int fg_rnodes_beat(fg_redis_t *r, const char *node, int64_t ttl_ms, uint64_t *live)
{
    redisReply *rep =
        fg_redis_cmdf(r, "FCALL fg_nodes 1 " FG_RLOG_NODES " %s %lld", node, (long long)ttl_ms);
    int rc = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? FG_OK : FG_ERR_IO;
    if (rc == FG_OK)
        *live = rep->integer > 0 ? (uint64_t)rep->integer : 0;
    if (rep != NULL)
        freeReplyObject(rep);
    return rc;
}
