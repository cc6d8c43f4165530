/*
 * writer.h - the single writer: sequences events, stores them, and answers producers only after
 * their events are committed (group commit: publishes queued together share one commit).
 *
 * Threads: fg_writer_submit is called from any thread (HTTP loops); everything else in a job,
 * including its done callback and on_commit, runs on the writer thread.
 */
#ifndef FG_EVENTS_WRITER_H
#define FG_EVENTS_WRITER_H

#include "events/catalog.h"
#include "events/err.h"
#include "events/event.h"
#include "events/health.h"
#include "events/projection.h"
#include "events/store.h"
#include "events/validate.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint64_t seq;      /* sequence number (of the first event, for a duplicate) */
    bool duplicate;    /* the id was already stored; nothing new was stored */
    char warning[192]; /* "" or a note (illegal transition accepted in warn mode) */
} fg_pub_result_t;

typedef struct fg_writer_job fg_writer_job_t;

/*
 * One unit of work for the writer, all of it committed or none of it:
 * - a publish: n events to store (apply is NULL);
 * - an op: apply runs inside the group transaction under its own savepoint (n is 0). It may use
 *   the store's write functions; a non-zero return rolls back its savepoint and becomes status.
 */
struct fg_writer_job {
    int (*apply)(fg_writer_job_t *job, fg_store_t *store); /* an op, or NULL for a publish */
    fg_pub_event_t *events; /* n validated events; owned by the submitter. The writer fills
                               in workflow from the run when the event has none. */
    size_t n;
    /* NULL for a publish the writer numbers; else the numbers a shared log (cluster mode) gave
     * these events, ascending and above the store's last_seq: the writer applies them as they
     * are (a projection of that log: no idempotency or transition check, which the log did). A
     * number skipped (an entry this node could not read) stays unused here. */
    const uint64_t *seqs;
    /* With seqs: when the log received each event (its stored time, and the time its
     * projections see), so every node stores the same; NULL: the commit's time. */
    const int64_t *at_us;
    /* Cluster mode: set when this job is one of the shared log's control entries
     * (replicated.h): the sequencer writes it to the log and every node's follower applies it;
     * done is called once this node's follower has applied it (or it could not be written). */
    struct fg_repl_op *repl;
    fg_pub_result_t *results; /* n slots the writer fills; owned by the submitter */
    int status;               /* set by the writer: FG_OK, FG_ERR_CONFLICT (err), FG_ERR_IO,
                                 FG_ERR_CORRUPT (the store is damaged), FG_ERR_CLOSED */
    fg_verr_t err;            /* the conflict, with err.index the event at fault */
    /* Called once on the writer thread when the job is answered (after its commit). The callee
     * hands the job back to its own thread; the writer never touches the job afterwards. */
    void (*done)(fg_writer_job_t *job);
    void *udata; /* the submitter's */
    /* An op whose commit, lost to a power cut, only makes work be done again (a webhook
     * outcome): a group made only of such ops commits without its own fsync
     * (fg_store_begin_redo_safe). */
    bool redo_safe;
    fg_writer_job_t *next; /* writer queue link; private */
    bool with_next;        /* private: commits with the next job (fg_writer_submit_all) */
};

typedef struct {
    fg_store_t *store; /* opened; the writer owns it from start until stop */
    const fg_catalog_t *cat;
    bool enforce_transitions;      /* true: reject illegal transitions (409); false: warn */
    int64_t retention_max_age_ms;  /* 0: keep forever */
    uint64_t retention_max_events; /* 0: no count limit */
    int64_t retention_interval_ms; /* how often retention runs */
    size_t max_group_events;       /* events per commit at most */
    /* Where the writer records each commit's outcome (health.h); it outlives the writer. When
     * it says the store is damaged, every job is answered FG_ERR_CORRUPT untried; after a
     * failed commit the writer probes once a second while idle until commits work again.
     * NULL: the writer keeps its own. */
    fg_health_t *health;
    /* Called on the writer thread after each commit, before the commit's jobs are answered,
     * with the new events in sequence order; the callee takes over one reference of each event.
     * May be NULL. */
    void (*on_commit)(void *ctx, fg_event_t **events, size_t n);
    void *on_commit_ctx;
    /* What the writer keeps beside the log in the same transactions (projection.h), called in
     * this order; at most FG_MAX_PROJECTIONS (copied at start). Each is caught up with the log
     * before the writer starts (fg_runview_sync; the outbox needs no catching up). */
    const fg_projection_t *projections;
    size_t nprojections;
} fg_writer_config_t;

/* Counters, readable from any thread. */
typedef struct {
    _Atomic uint64_t events;                /* events stored */
    _Atomic uint64_t duplicates;            /* publishes answered from an earlier event */
    _Atomic uint64_t commits;               /* transactions committed */
    _Atomic uint64_t illegal_transitions;   /* run status changes outside the state machine */
    _Atomic uint64_t failed_commits;        /* commits that failed (jobs answered FG_ERR_IO) */
    _Atomic uint64_t retained;              /* events deleted by retention */
    _Atomic uint64_t by_type[FG_MAX_TYPES]; /* events stored, by catalog index */
} fg_writer_stats_t;

typedef struct fg_writer fg_writer_t;

/** Starts the writer thread. Returns FG_OK, or FG_ERR_NOMEM / FG_ERR_IO (thread creation) /
 * FG_ERR_INVALID (too many projections). */
int fg_writer_start(const fg_writer_config_t *cfg, fg_writer_t **out);

/**
 * Queues a job. Returns FG_OK (done will be called exactly once), or FG_ERR_CLOSED when the
 * writer is stopping (done is not called).
 */
int fg_writer_submit(fg_writer_t *w, fg_writer_job_t *job);

/**
 * Queues n jobs (n >= 1) to be committed in order in one transaction, all or none (the group
 * limit yields to them). FG_OK, or FG_ERR_CLOSED (no done is called).
 */
int fg_writer_submit_all(fg_writer_t *w, fg_writer_job_t *const *jobs, size_t n);

/**
 * Stops accepting jobs, answers every job already queued, joins the thread and frees the writer.
 * The store is left open for the caller to close.
 */
void fg_writer_stop(fg_writer_t *w);

/** The counters. */
const fg_writer_stats_t *fg_writer_stats(const fg_writer_t *w);

/** Jobs waiting in the queue right now (for readiness and metrics). */
size_t fg_writer_queued(fg_writer_t *w);

#endif
