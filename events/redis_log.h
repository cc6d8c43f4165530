/*
 * redis_log.h - the shared event log of cluster mode, in Redis: a stream (fg:log) of entries that
 * each hold the events of one publish (entry id <last seq>-0), a counter (fg:seq), the idempotency
 * index (fg:ids: event id -> seq) and each run's last status (fg:runs) for the transition check,
 * all written by one Redis FUNCTION (flowgate/fg_publish; one entry per call, its id the last
 * event's seq) so that a publish is numbered, checked and
 * appended atomically: a batch is all or nothing, numbers are gap-free and come from Redis only.
 *
 * It gives the guarantees events/store.h asks of a log backend: order and no gap (one counter,
 * XADD under <seq>-0), idempotency across nodes (fg:ids), durability at acknowledgement (the
 * caller answers after Redis replied; with appendfsync always that is after fsync, and after
 * WAIT when replicas are asked for), atomic batches (one function call).
 * Each node's SQLite store is a projection of it (follower.h). Any thread that owns its fg_redis_t.
 */
#ifndef FG_EVENTS_REDIS_LOG_H
#define FG_EVENTS_REDIS_LOG_H

#include "events/catalog.h"
#include "events/err.h"
#include "events/redis.h"
#include "events/validate.h"
#include "events/writer.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define FG_RLOG_STREAM "fg:log"
#define FG_RLOG_SEQ "fg:seq"
#define FG_RLOG_EPOCH "fg:epoch"

/** Loads (or replaces) the flowgate function library. FG_OK or FG_ERR_IO (why in err). */
int fg_rlog_load(fg_redis_t *r, char *err, size_t cap);

/**
 * Joins the log: its epoch (*epoch), made now when there is none (*created: a new log, or one
 * Redis lost), and the counter raised to `held` (the highest seq the caller has applied or seen)
 * so no number a node holds is given out again. Loads the library when Redis lacks it. A node
 * joins at start, after a reconnect, and whenever a publish finds another epoch.
 * FG_OK or FG_ERR_IO (why in err).
 */
int fg_rlog_join(fg_redis_t *r, uint64_t held, uint64_t *epoch, bool *created, char *err,
                 size_t cap);

/**
 * Whether Redis keeps what it acknowledges: appendonly yes, appendfsync always, and no
 * maxmemory-policy that evicts keys. FG_OK, or FG_ERR_INVALID with what is not so in why
 * (FG_ERR_IO when it cannot be asked).
 */
int fg_rlog_check_durability(fg_redis_t *r, char *why, size_t cap);

/**
 * Queues one FCALL for m publish jobs on r's pipeline (fg_redis_append), for the log of `epoch`
 * (the one joined). Each job is all or nothing on its own: in enforce mode an event whose run is
 * not in its `from` status makes its job a conflict (nothing of it written); the others go on.
 * The jobs' state machine check (fg_transition_allowed) is the caller's, before.
 * FG_OK or FG_ERR_IO/NOMEM.
 */
int fg_rlog_append_publish(fg_redis_t *r, const fg_catalog_t *cat, fg_writer_job_t *const *jobs,
                           size_t m, bool enforce, int64_t received_us, uint64_t epoch);

/**
 * Reads that call's reply into its m jobs: results (seq, duplicate, a warning in warn mode), or
 * status FG_ERR_CONFLICT with err (enforce), FG_ERR_STALE (the log has another epoch: nothing
 * written; join again), or FG_ERR_IO (no reply, or an error reply). Consumes (frees) rep.
 * Returns the highest seq it saw (0: none).
 */
uint64_t fg_rlog_publish_reply(redisReply *rep, fg_writer_job_t *const *jobs, size_t m);

/* A place in the log: an entry's id <seq>-<sub>. Events are in entries <last seq>-0; control
 * entries (replicated.h) in <seq>-<n>, n from 1, after the events up to seq. */
typedef struct {
    uint64_t seq, sub;
} fg_rlog_pos_t;

/** True when a comes after b in the log. */
bool fg_rlog_pos_after(fg_rlog_pos_t a, fg_rlog_pos_t b);

/* One event, or one control entry, read back from the log. */
typedef struct {
    uint64_t seq;
    /* a control entry (sub > 0): its kind, body and origin (valid while the reply lives; kind
     * "" when it has none); the event fields below are then empty */
    uint64_t sub;
    const char *kind, *body, *origin;
    size_t kind_len, body_len, origin_len;
    const char *json; /* the stored form (valid while the reply lives) */
    size_t json_len;
    /* "type\tfrom\tto\trun_id\tstep_id\tid\tworkflow[\ttraceparent]": the event's parts a
     * reader needs, so it need not parse the JSON (the trace context when it has one: a tab and
     * 55 characters of its shape); NULL in an entry written without it */
    const char *header;
    size_t header_len;
    int64_t received_us;
} fg_rlog_entry_t;

/**
 * Reads the entries after `after`, at most count (one event entry holds one publish call's
 * events), waiting up to block_ms for the first (XREAD BLOCK). Calls cb for each event above
 * after.seq and each control entry, in log order; an event that cannot be read (an entry written
 * by hand, or by a newer version) is passed with json NULL. *last is the last entry read's place
 * (after when none). FG_OK or FG_ERR_IO.
 */
int fg_rlog_read(fg_redis_t *r, fg_rlog_pos_t after, size_t count, int64_t block_ms,
                 void (*cb)(void *ctx, const fg_rlog_entry_t *e), void *ctx, fg_rlog_pos_t *last);

/**
 * Retention of the shared log, by one node at a time (a lease in Redis, fg:trim:lock, that
 * expires by itself): removes the oldest entries whose events are all at or below
 * head - max_events (0: no count rule) or were received before now - max_age_ms (0: no age
 * rule), with their ids from the idempotency index, a chunk at a time. *floor is the log's
 * floor afterwards (fg:purged). FG_OK (also when another node holds the lease) or FG_ERR_IO.
 */
int fg_rlog_trim(fg_redis_t *r, const char *node, uint64_t max_events, int64_t max_age_ms,
                 uint64_t *floor);

/**
 * Records the epoch a join found in *joined (shared by the node's threads). True (logged once,
 * *changes counted) when it replaces another: the log was lost and made again.
 */
bool fg_cluster_epoch_seen(_Atomic uint64_t *joined, _Atomic uint64_t *changes, uint64_t epoch,
                           const char *who);

/** The highest sequence number Redis gave out (fg:seq). FG_OK or FG_ERR_IO. */
int fg_rlog_head(fg_redis_t *r, uint64_t *seq);

#endif
