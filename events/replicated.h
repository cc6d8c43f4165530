/*
 * replicated.h - writer jobs that cluster mode sends through the shared log: the log's control
 * entries (a subscription change, a batch of delivery outcomes). Such a job is made on one node
 * (its origin), written to the log by that node's sequencer - refused there when it names a lease
 * that no longer holds (fencing: FG_ERR_CONFLICT) - and applied in log order by every node's
 * follower, so every node's store takes the same change at the same point between events. The
 * origin's job is answered once its own follower has applied the entry (its done sees what the
 * apply said), or at once when the entry could not be written. Control entries carry no event and
 * take no sequence number: SSE ids stay gap-free.
 *
 * On a single node the same jobs go to the writer directly (repl stays NULL).
 *
 * Threads: kinds are registered before the follower starts (immutable after); the waiting list is
 * behind the registry's lock (sequencer, follower and writer threads).
 */
#ifndef FG_EVENTS_REPLICATED_H
#define FG_EVENTS_REPLICATED_H

#include "events/writer.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define FG_REPL_MAX_KINDS 8
#define FG_REPL_FENCE_MAX 96
#define FG_REPL_WAIT_MS 30000 /* an origin waits this long for its own follower, then 503 */

/* One kind of control entry. */
typedef struct {
    const char *name; /* in the entry ("wh_op", "wh_res"); at most 15 characters */
    /* Follower thread: a writer job that does what body says, its done freeing it; NULL when
     * body cannot be read (the entry is skipped, logged and counted). */
    fg_writer_job_t *(*decode)(void *ctx, const json_t *body);
    /* Writer thread, after the commit, on the origin only: hands the applied job's outcome
     * (status, result) to the origin's job before that one's done is called. */
    void (*answer)(fg_writer_job_t *applied, fg_writer_job_t *origin);
    void *ctx;
} fg_repl_kind_t;

/* The log side of an origin's job (the job points at it through job->repl). */
typedef struct fg_repl_op {
    const fg_repl_kind_t *kind;
    json_t *body; /* what every node applies; the job's owner frees it (a reference) */
    /* A lease that must hold in Redis for the entry to be written ("" when none): the key and
     * its expected value. A stale lease makes the job FG_ERR_CONFLICT, nothing written. */
    char fence_key[FG_REPL_FENCE_MAX], fence_value[FG_REPL_FENCE_MAX];
    /* private (the registry's lock) */
    uint64_t nonce;
    int64_t deadline_ms;
    bool written, applied, claimed;
    fg_writer_job_t *job;
    struct fg_repl_op *next;
} fg_repl_op_t;

typedef struct fg_repl fg_repl_t;

/** A registry for this node (node_id names it in the entries it writes). NULL: no memory. */
fg_repl_t *fg_repl_create(const char *node_id);

/** Frees it; nothing may be waiting any more. */
void fg_repl_destroy(fg_repl_t *r);

/** Registers a kind (before the follower starts). FG_OK or FG_ERR_INVALID (too many). */
int fg_repl_add_kind(fg_repl_t *r, const fg_repl_kind_t *kind);

/** The kind named name[0..len), or NULL. */
const fg_repl_kind_t *fg_repl_kind(const fg_repl_t *r, const char *name, size_t len);

/** This node's id. */
const char *fg_repl_node(const fg_repl_t *r);

/**
 * Sequencer thread, before writing job's entry: puts it on the waiting list and gives it its
 * nonce (the entry's origin is "<node>/<nonce>", written by fg_repl_origin).
 */
void fg_repl_expect(fg_repl_t *r, fg_writer_job_t *job);

/** The origin text of an expected job, into out. */
void fg_repl_origin(const fg_repl_t *r, const fg_writer_job_t *job, char *out, size_t cap);

/**
 * Sequencer thread, after the write: status FG_OK when the entry is in the log (the job is
 * answered when its follower has applied it); else why not (FG_ERR_IO, FG_ERR_CONFLICT: fenced, or
 * FG_ERR_CLOSED), and the job is answered now with it, unless the follower took it meanwhile (a
 * write whose reply was lost: the apply's answer stands).
 */
void fg_repl_written(fg_repl_t *r, fg_writer_job_t *job, int status);

/**
 * Follower thread: the origin's job for an entry with this origin text, taken off the list
 * (NULL when the entry is another node's, or its origin gave up waiting).
 */
fg_writer_job_t *fg_repl_claim(fg_repl_t *r, const char *origin, size_t len);

/** Follower thread: puts a claimed job back (its entry's apply failed: it is read again). */
void fg_repl_unclaim(fg_repl_t *r, fg_writer_job_t *job);

/** Writer thread, after the apply's commit: status set, the job answered when written. */
void fg_repl_applied(fg_repl_t *r, fg_writer_job_t *job);

/** Any thread: answers FG_ERR_IO to written jobs whose follower has not come in time. */
void fg_repl_sweep(fg_repl_t *r, int64_t now_ms);

#endif
