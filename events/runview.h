/*
 * runview.h - the run views: what UIs load before they stream. A projection of the event log
 * (each run's workflow, status, status history, steps, approvals, cost and duration) kept in
 * the store's own database, written by the writer inside the transaction that stores the events,
 * so a view never disagrees with the log it was read with.
 *
 * Writer side (runview.c), writer thread only: open, sync at start (rebuild when missing or
 * made by another version, catch up when behind), apply each stored event, mark each commit.
 * Read side (runview_query.c), on a loop's store reader: each query reads one snapshot and
 * writes its JSON answer; "last_seq" in it is the cursor to stream from with no gap and no
 * duplicate.
 *
 * Log lines are not copied: they are events, read from the log by run (events_run index).
 */
#ifndef FG_EVENTS_RUNVIEW_H
#define FG_EVENTS_RUNVIEW_H

#include "events/buf.h"
#include "events/catalog.h"
#include "events/event.h"
#include "events/ids.h"
#include "events/projection.h"
#include "events/store.h"
#include "events/transitions.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fg_runview fg_runview_t;

/* --- writer side ---------------------------------------------------------------------------- */

/** Creates the projection's tables when missing and prepares its statements. FG_OK/FG_ERR_IO. */
int fg_runview_open(fg_store_t *store, const fg_catalog_t *cat, fg_runview_t **out);

void fg_runview_close(fg_runview_t *rv);

/**
 * Brings the projection up to the store, in transactions of its own (before the writer takes
 * jobs): rebuilds it from every stored event when asked (force), when it is missing, was made by
 * another version of this code, or is ahead of the log; otherwise applies the events it has not
 * seen. *applied counts the events folded in. FG_OK or FG_ERR_IO.
 */
int fg_runview_sync(fg_runview_t *rv, bool force, uint64_t *applied, bool *rebuilt);

/**
 * Folds one stored event into the projection, inside the open transaction. step_id is the
 * event's lowercase step_id when the caller has it ("" or NULL: read from the JSON). Events
 * without a run, and custom types, change nothing. FG_OK or FG_ERR_IO.
 */
int fg_runview_apply(fg_runview_t *rv, const fg_event_t *ev, const char *step_id);

/** Records, inside the open transaction, that every event up to seq is folded in. */
int fg_runview_mark(fg_runview_t *rv, uint64_t seq);

/** The transaction was rolled back: forget what was cached about it. */
void fg_runview_rolled_back(fg_runview_t *rv);

/**
 * One retention pass in its own transaction: removes up to chunk finished runs whose last view
 * change is at or below purged_through (their events are gone), with their history, steps and
 * approvals. A run still going stays. *removed counts runs. FG_OK or FG_ERR_IO.
 */
int fg_runview_retain(fg_runview_t *rv, uint64_t purged_through, size_t chunk, uint64_t *removed);

/** The writer's hooks for the run views (projection.h); rv must outlive the writer. */
fg_projection_t fg_runview_projection(fg_runview_t *rv);

/* --- read side ------------------------------------------------------------------------------ */

#define FG_RUNVIEW_MAX_LIMIT 1000
#define FG_RUNVIEW_PAGE_BYTES (4u << 20) /* a log page stops growing past this */

/* GET /v1/runs */
typedef struct {
    unsigned statuses;        /* bit per fg_run_status_t wanted; 0: any */
    const char *const *flows; /* workflow names wanted, or none */
    size_t nflows;
    const char (*runs)[FG_UUID_LEN + 1]; /* only these runs (a credential's), or none */
    size_t nruns;
    uint64_t before; /* runs created before this cursor (the previous page's next_after); 0 */
    size_t limit;
} fg_runs_query_t;

/**
 * Appends {"runs":[summary…],"next_after":N|null,"last_seq":N}, newest run first. A summary has
 * run_id, workflow_name, status (null until known), created_at, updated_at, error, cost_usd,
 * duration_ms, labels, pending_approval_count, step_count. FG_OK, FG_ERR_IO or
 * FG_ERR_TOO_LARGE/NOMEM.
 */
int fg_runview_list(fg_store_reader_t *r, const fg_runs_query_t *q, fg_buf_t *out);

/**
 * Appends one run: the summary plus status_history [{from,to,at,seq}], steps [{step_id, name,
 * kind, status, started_at, finished_at, duration_ms, cost_usd, error}], pending_approvals (the
 * list) and last_seq (the run's newest event). FG_ERR_NOT_FOUND for a run the log never mentioned.
 */
int fg_runview_get(fg_store_reader_t *r, const char *run_id, int64_t now_us, fg_buf_t *out);

/* Approval states (stored text). */
#define FG_APPROVAL_STATES "pending,granted,rejected,withdrawn"

/* GET /v1/approvals */
typedef struct {
    unsigned states; /* bit i for the i-th of FG_APPROVAL_STATES; 0: pending */
    const char (*runs)[FG_UUID_LEN + 1];
    size_t nruns;
    uint64_t after; /* requested after this seq */
    size_t limit;
} fg_approvals_query_t;

/** Parses one approval state name; -1 when it is not one. */
int fg_approval_state_parse(const char *s, size_t len);

/**
 * Appends {"approvals":[…],"next_after":N|null,"last_seq":N}, oldest request first: run_id,
 * workflow_name, step_id, step_name, message, status, requested_at, requested_seq, age_ms,
 * decided_by, decided_at.
 */
int fg_runview_approvals(fg_store_reader_t *r, const fg_approvals_query_t *q, int64_t now_us,
                         fg_buf_t *out);

/** FG_OK when some stored event named the run, FG_ERR_NOT_FOUND, or FG_ERR_IO. */
int fg_runview_run_known(fg_store_reader_t *r, const char *run_id);

/** The run's status (fg_run_status_t; -1 while none is known): FG_OK, FG_ERR_NOT_FOUND when no
 * event of the run is stored, FG_ERR_IO. */
int fg_runview_run_status(fg_store_reader_t *r, const char *run_id, int *status);

/* GET /v1/runs/{run_id}/logs */
typedef struct {
    const char *run_id;
    const char *step_id; /* lowercase, or NULL */
    unsigned streams;    /* bits: 1 stdout, 2 stderr, 4 system; 0: all */
    uint64_t after;      /* lines after this seq */
    size_t limit;
    bool text;       /* "[step] [stream] line\n" per line instead of JSON */
    bool strip_ansi; /* terminal escape sequences removed from the lines (ansi.h) */
    uint64_t upto;   /* lines up to this seq only; 0: no bound */
} fg_logs_query_t;

/** Parses a log stream name (stdout, stderr, system) into its bit; 0 when it is not one. */
unsigned fg_log_stream_bit(const char *s, size_t len);

/**
 * Appends the run's log lines after q->after, in order, at most q->limit: as JSON
 * {"lines":[{seq, then the stored log_line event's members}…],"next_after":N,"last_seq":N} or as
 * text. A page ends at q->limit lines or once it passes FG_RUNVIEW_PAGE_BYTES. next_after is
 * where to go on: the last line's seq after a full page, else the whole log examined (stream
 * from it for what comes next). *next gets it too. FG_OK, FG_ERR_NOT_FOUND, FG_ERR_IO.
 */
int fg_runview_logs(fg_store_reader_t *r, const fg_logs_query_t *q, fg_buf_t *out, uint64_t *next);

/* The run views at a glance (metrics). */
typedef struct {
    uint64_t runs[FG_RUN_STATUS_COUNT]; /* runs by current status */
    uint64_t runs_unknown;              /* runs whose status no event told yet */
    uint64_t approvals_pending;
} fg_runview_gauges_t;

/** Counts of fg_runview_gauges_t (an index scan of the runs: cheap enough for a scrape). */
int fg_runview_gauges(fg_store_reader_t *r, fg_runview_gauges_t *g);

/**
 * Appends a stored log_line event (JSON text) as text when it is of step_id (NULL: any) and of
 * one of the streams (bits; 0: any); nothing otherwise. strip: without its terminal escape
 * sequences (ansi.h). FG_OK, FG_ERR_TOO_LARGE or FG_ERR_NOMEM.
 */
int fg_runview_log_event_text(fg_buf_t *out, const char *json, size_t len, const char *step_id,
                              unsigned streams, bool strip);

/**
 * Appends one stored log_line event (body, blen bytes: its JSON) as a page entry: text, or JSON
 * ({"seq":…, then its members}, after a comma unless it is the page's first, n == 0); strip:
 * without its terminal escape sequences. FG_OK, FG_ERR_TOO_LARGE or FG_ERR_NOMEM.
 */
int fg_runview_log_entry(fg_buf_t *out, size_t n, uint64_t seq, const char *body, size_t blen,
                         bool text, bool strip);

/** The newest seq of the run's events up to upto (0: none), and the log's purge point: what a
 * download of the run's log as it is now depends on. FG_OK or FG_ERR_IO. */
int fg_runview_log_version(fg_store_reader_t *r, const char *run_id, uint64_t upto, uint64_t *last,
                           uint64_t *purged);

/** Appends one log line as text ("[step] [stream] line\n", one output line per line in it). */
int fg_runview_log_text(fg_buf_t *out, const char *step, const char *stream, const char *line,
                        size_t line_len);

#endif
