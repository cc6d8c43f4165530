/*
 * sequencer.h - cluster mode's publish path: a thread that numbers publish jobs in the shared
 * Redis log (redis_log.h) instead of the local writer. Jobs queued together go to Redis in one
 * pipeline (one function call each: a job is all or nothing); each job is answered once Redis
 * replied (and, with min_replicas, once WAIT confirmed the replicas). The node's store learns the
 * events like every other node's, from the follower (follower.h).
 *
 * Threads: fg_sequencer_submit from any thread; done callbacks run on the sequencer thread.
 */
#ifndef FG_EVENTS_SEQUENCER_H
#define FG_EVENTS_SEQUENCER_H

#include "events/health.h"
#include "events/replicated.h"
#include "events/writer.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *redis_url;
    const fg_catalog_t *cat;  /* the events' type names */
    int64_t timeout_ms;       /* a Redis command's longest wait */
    bool enforce_transitions; /* 409 for an illegal run status change; else a warning */
    int min_replicas;         /* WAIT for this many replicas before answering (0: none) */
    fg_health_t *health;      /* whether Redis takes publishes (outlives the sequencer) */
    _Atomic uint64_t *head;   /* raised to the highest seq Redis gave out (shared) */
    _Atomic uint64_t *epoch;  /* the log's epoch this node joined (shared with the follower) */
    _Atomic uint64_t *epoch_changes; /* times a new epoch was found (shared) */
    fg_repl_t *repl;                 /* control entries' registry (replicated.h) */
} fg_sequencer_config_t;

typedef struct {
    _Atomic uint64_t calls;    /* function calls answered by Redis */
    _Atomic uint64_t failures; /* jobs answered 503: Redis unreachable or refusing */
    _Atomic uint64_t rtt_us;   /* the last pipeline's round trip */
} fg_sequencer_stats_t;

typedef struct fg_sequencer fg_sequencer_t;

/** Starts the thread. FG_OK, FG_ERR_NOMEM or FG_ERR_IO (thread creation). */
int fg_sequencer_start(const fg_sequencer_config_t *cfg, fg_sequencer_t **out);

/**
 * Queues a publish job (apply NULL, seqs NULL), or a control entry (job->repl: answered through
 * the registry once this node's follower applied it, or at once when it could not be written). Its
 * done is called exactly once: status FG_OK (results filled), FG_ERR_CONFLICT (err), FG_ERR_IO
 * (Redis unreachable: nothing acknowledged) or FG_ERR_CLOSED. Returns FG_ERR_CLOSED when stopping
 * (done is not called).
 */
int fg_sequencer_submit(fg_sequencer_t *s, fg_writer_job_t *job);

/** Answers what is queued, joins the thread, frees it. */
void fg_sequencer_stop(fg_sequencer_t *s);

const fg_sequencer_stats_t *fg_sequencer_stats(const fg_sequencer_t *s);

#endif
