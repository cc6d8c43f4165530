/*
 * redis_control.h - the shared log's control entries and the leases that fence them, in Redis
 * (the functions fg_control, fg_lease, fg_unlease and fg_nodes of events/redis_log.lua):
 * - a control entry (replicated.h) is appended under <seq>-<n>, refused when its lease is not
 *   held as the writer thinks;
 * - a lease is a key "<node>:<token>" with a time to live, the token growing with every grant;
 * - the live nodes are a sorted set each node renews (what leases are shared out by).
 * The caller's thread owns its fg_redis_t.
 */
#ifndef FG_EVENTS_REDIS_CONTROL_H
#define FG_EVENTS_REDIS_CONTROL_H

#include "events/redis.h"
#include "events/replicated.h"

#include <stdint.h>

#define FG_RLOG_NODES "fg:nodes"
#define FG_RLOG_NODES_LEFT "fg:nodes:left" /* counts nodes that left (their leases are free) */
#define FG_RLOG_LEASE_TOKENS "fg:lease:tokens"

/**
 * Queues one FCALL fg_control for job's control entry (job->repl, expected by fg_repl_expect) on
 * r's pipeline, for the log of `epoch`, stamped at_us. FG_OK or FG_ERR_IO/NOMEM.
 */
int fg_rlog_append_control(fg_redis_t *r, const fg_repl_t *repl, fg_writer_job_t *job,
                           uint64_t epoch, int64_t at_us);

/**
 * That call's outcome: FG_OK (in the log), FG_ERR_CONFLICT (fenced: the lease is not held as
 * the job says), FG_ERR_STALE (another epoch: join again) or FG_ERR_IO. Frees rep.
 */
int fg_rlog_control_reply(redisReply *rep);

/**
 * Takes or renews the lease `key` for node: *token is the token held (0: none; the one held is
 * renewed), afterwards the one held now, 0 when another node holds it. FG_OK or FG_ERR_IO.
 */
int fg_rlease_take(fg_redis_t *r, const char *key, const char *node, uint64_t *token,
                   int64_t ttl_ms);

/** Lets a lease go when it still holds "<node>:<token>". FG_OK or FG_ERR_IO. */
int fg_rlease_drop(fg_redis_t *r, const char *key, const char *node, uint64_t token);

/**
 * Renews node's presence for ttl_ms (0: it leaves now); *live is how many nodes are live.
 * FG_OK or FG_ERR_IO.
 */
int fg_rnodes_beat(fg_redis_t *r, const char *node, int64_t ttl_ms, uint64_t *live);

#endif
