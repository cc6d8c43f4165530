/*
 * follower.h - cluster mode's apply path: one thread per node that reads the shared Redis log
 * in order (XREAD BLOCK from the last applied entry) and hands each read to the local writer
 * in one transaction - its events under the numbers the log gave them, its control entries
 * (replicated.h) applied between them - so the node's store, its run views, its outbox
 * and its SSE streams follow the same log as every other node's. A lost connection is retried
 * with backoff, from the last applied seq; an entry this node cannot read (written by hand, or
 * by a newer version) is skipped with an error log and counted.
 *
 * Threads: its own; fg_follower_start/stop on the main thread; stats from any thread.
 */
#ifndef FG_EVENTS_FOLLOWER_H
#define FG_EVENTS_FOLLOWER_H

#include "events/catalog.h"
#include "events/health.h"
#include "events/replicated.h"
#include "events/store.h"
#include "events/writer.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct {
    const char *redis_url;
    int64_t timeout_ms;
    fg_writer_t *writer;     /* applies the entries */
    const fg_store_t *store; /* where to start: its last_seq */
    const fg_catalog_t *cat;
    fg_health_t *health;             /* whether Redis answers (shared with the sequencer) */
    _Atomic uint64_t *head;          /* raised to the highest seq seen in the log (shared) */
    _Atomic uint64_t *epoch;         /* the log's epoch this node joined (shared) */
    _Atomic uint64_t *epoch_changes; /* times a new epoch was found (shared) */
    /* the shared log's retention (redis_log.h fg_rlog_trim), tried every interval by each
     * node's follower, done by one at a time; both 0: the log is kept whole */
    const char *node_id;
    uint64_t retention_max_events;
    int64_t retention_max_age_ms;
    int64_t retention_interval_ms;
    /* control entries (replicated.h): the kinds and this node's waiting jobs, and the last one
     * this store applied (fg_follower_position) */
    fg_repl_t *repl;
    uint64_t ctl_seq, ctl_sub;
} fg_follower_config_t;

typedef struct {
    _Atomic uint64_t applied;     /* entries applied */
    _Atomic uint64_t bad_entries; /* entries skipped: unreadable */
    _Atomic uint64_t reconnects;  /* connections lost and made again */
    _Atomic int64_t lag_us;       /* publish (received) to applied here, of the last entry */
    _Atomic uint64_t log_floor;   /* the shared log's retention floor, as last trimmed here */
} fg_follower_stats_t;

typedef struct fg_follower fg_follower_t;

/**
 * The last control entry the store applied (<ctl_seq>-<ctl_sub>; 0-0 when none), kept with it in
 * the store. Main thread, before the writer starts. FG_OK or FG_ERR_IO.
 */
int fg_follower_position(fg_store_t *s, uint64_t *ctl_seq, uint64_t *ctl_sub);

/** Starts the thread. FG_OK, FG_ERR_NOMEM, FG_ERR_INVALID (bad url) or FG_ERR_IO. */
int fg_follower_start(const fg_follower_config_t *cfg, fg_follower_t **out);

/** Stops reading (within the read's block time), joins and frees. Call before the writer stops. */
void fg_follower_stop(fg_follower_t *f);

const fg_follower_stats_t *fg_follower_stats(const fg_follower_t *f);

#endif
