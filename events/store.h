/*
 * store.h - the durable event log: events in sequence order, the run status table used by the
 * transition check, and the retention floor. Beside the log, in the same transactions, the
 * writer keeps its projections (projection.h): the run views (runview.h) and the webhook outbox
 * (webhooks/outbox_store.h).
 *
 * Two kinds of handle:
 * - fg_store_t, the single writer connection, used only by the writer thread (writer.h);
 * - fg_store_reader_t, read-only connections, one per thread (HTTP loops, the dispatcher).
 * The embedded backend is SQLite in WAL mode (store_sqlite.c writes, store_read.c reads):
 * readers never block the writer. Only the storage files see SQLite (store_db.h).
 *
 * What a log backend guarantees (the embedded one, and any other the writer is given):
 * - Order: sequence numbers are assigned by the writer in commit order, each event one more than
 *   the one before, starting at 1; a reader sees a prefix of the log (never seq N+1 without N).
 * - No gap, no reuse: every number up to last_seq names a stored event, except those removed by
 *   retention (at or below purged_through) and ranges recorded as lost (fg_store_cursor_check);
 *   a number once given out (announced to a client) is never given to another event, even after
 *   a crash that lost the write-ahead log (the epoch then changes).
 * - Idempotency: an event id is stored once; fg_store_find_id finds every id still in the log
 *   (the window is the retention: an id whose event retention removed may be stored again).
 * - Durability at acknowledgement: fg_store_commit returns only after the transaction is as
 *   durable as fg_sync_mode_t says (FULL: on disk); a publisher is answered after it, never before,
 *   and events are announced to streams only after it.
 * - Atomicity: a group of jobs commits whole (events, run status, projections) or not at all; a
 *   job under a savepoint is rolled back alone.
 */
#ifndef FG_EVENTS_STORE_H
#define FG_EVENTS_STORE_H

#include "events/catalog.h"
#include "events/err.h"
#include "events/event.h"
#include "events/filter.h"
#include "events/validate.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fg_store fg_store_t;
typedef struct fg_store_reader fg_store_reader_t;

typedef enum {
    FG_SYNC_OFF = 0,    /* no fsync: fastest, loses recent events on power loss */
    FG_SYNC_NORMAL = 1, /* fsync at checkpoints: survives a crash of flowgate, not of the OS */
    FG_SYNC_FULL = 2,   /* fsync each commit (default): survives power loss */
} fg_sync_mode_t;

/**
 * Opens (creating when missing) the store in the data directory dir: its database file and its
 * schema. A file that is not a flowgate
 * store is refused before anything is written to it (store_guard.h). A log that ends below the
 * numbers already given out (its write-ahead log was lost) is logged, the lost range recorded,
 * and numbering goes on above it under a new epoch. On error returns FG_ERR_IO, FG_ERR_CORRUPT
 * (damaged, or not a database), FG_ERR_INVALID (another application's database, a newer schema)
 * or FG_ERR_NOMEM, with a sentence naming the file in errbuf and *out untouched.
 */
int fg_store_open(const char *dir, fg_sync_mode_t sync, fg_store_t **out, char *errbuf,
                  size_t errlen);

/** Closes the writer connection (checkpointing the WAL). */
void fg_store_close(fg_store_t *s);

/**
 * The start-up integrity check (PRAGMA quick_check), stopped after budget_ms. FG_OK (*complete
 * says whether it finished) or FG_ERR_CORRUPT with what SQLite found in why. Main thread, before
 * the writer starts.
 */
int fg_store_check(fg_store_t *s, int64_t budget_ms, bool *complete, char *why, size_t cap);

/** Highest sequence number ever given out (0 when none). Any thread. */
uint64_t fg_store_last_seq(const fg_store_t *s);

/** The store's epoch: made with it, renewed when it lost numbers it had given out. Any thread. */
uint64_t fg_store_epoch(const fg_store_t *s);

/** The database file's path (for logs and messages). Any thread. */
const char *fg_store_path(const fg_store_t *s);

/** Bytes the store takes on disk (the file and its write-ahead log). Any thread. */
uint64_t fg_store_disk_bytes(const fg_store_t *s);

typedef enum {
    FG_CURSOR_OK = 0, /* a position of this store (maybe below retention: a gap) */
    FG_CURSOR_AHEAD,  /* beyond every number this store gave out: from another store */
    FG_CURSOR_LOST,   /* inside a range lost with a write-ahead log */
} fg_cursor_state_t;

/** Whether a client's cursor names a position of this store. Any thread. */
fg_cursor_state_t fg_store_cursor_check(const fg_store_t *s, uint64_t cursor);

/** Highest sequence number removed by retention (0 when none): cursors below it have a gap.
 * Any thread. */
uint64_t fg_store_purged_through(const fg_store_t *s);

/* --- writer thread only ----------------------------------------------------------------- */

/**
 * Transaction control. begin/commit return FG_OK or FG_ERR_IO; rollback never fails. A
 * successful commit makes last_seq (the highest sequence appended in it) the store's last_seq.
 */
int fg_store_begin(fg_store_t *s);
/**
 * Begins a transaction whose loss to a power cut would only make work be done again (webhook
 * outcomes: the attempt is sent again, and receivers dedupe on webhook-id). Under FG_SYNC_FULL
 * its commit skips its own fsync, as under FG_SYNC_NORMAL; the next fg_store_begin'd commit's
 * fsync (or a checkpoint's) makes it durable too. A crash of flowgate alone loses nothing.
 */
int fg_store_begin_redo_safe(fg_store_t *s);

/**
 * A module's own small value in the store (key unique to it): put inside the open transaction
 * (it commits with it); get reads the last committed one (0 when absent; the main thread before
 * the writer starts, or the writer). FG_OK or FG_ERR_IO.
 */
int fg_store_meta_put(fg_store_t *s, const char *key, int64_t value);
int fg_store_meta_get(fg_store_t *s, const char *key, int64_t *value);

int fg_store_commit(fg_store_t *s, uint64_t last_seq);
void fg_store_rollback(fg_store_t *s);

/**
 * What the writer connection's last failure was, read right after it (before a rollback):
 * FG_ERR_CORRUPT when SQLite reported damage, else FG_ERR_IO; SQLite's message in why.
 */
int fg_store_failure(fg_store_t *s, char *why, size_t cap);

/**
 * A small write in its own transaction (a row of meta), to learn whether commits work again
 * after a failure (disk full). FG_OK, or the failure as fg_store_failure classifies it.
 */
int fg_store_probe(fg_store_t *s, int64_t now_us);

/** A savepoint inside the transaction, released or rolled back as a whole (one publish). */
int fg_store_savepoint(fg_store_t *s);
int fg_store_savepoint_release(fg_store_t *s);
void fg_store_savepoint_rollback(fg_store_t *s);

/** Looks up an event id. FG_OK with *seq set, FG_ERR_NOT_FOUND, or FG_ERR_IO. */
int fg_store_find_id(fg_store_t *s, const char *id, uint64_t *seq);

/**
 * Looks up a run: *status is its last known fg_run_status_t or -1, workflow (cap bytes) its
 * workflow name or "". FG_OK, FG_ERR_NOT_FOUND, or FG_ERR_IO.
 */
int fg_store_run_get(fg_store_t *s, const char *run_id, int *status, char *workflow, size_t cap);

/** Inserts or updates a run. workflow may be NULL (kept), status -1 (kept). */
int fg_store_run_put(fg_store_t *s, const char *run_id, const char *workflow, int status,
                     uint64_t seq);

/**
 * Records, inside the transaction, that the numbers after < seq <= upto will never be here (a
 * shared log's entries this store never got: trimmed before it applied them, lost with the log,
 * or unreadable); cursors inside the range are FG_CURSOR_LOST once it commits (a rollback drops
 * it). FG_OK, FG_ERR_NOMEM or FG_ERR_IO.
 */
int fg_store_record_gap(fg_store_t *s, uint64_t after, uint64_t upto);

/** Appends an event under seq (above every stored one, without gaps); workflow may be NULL. */
int fg_store_append(fg_store_t *s, uint64_t seq, const fg_pub_event_t *ev, const char *type,
                    const char *workflow, int64_t received_us);

/* Rows one retention pass deleted. */
typedef struct {
    uint64_t events;
    uint64_t runs; /* finished runs whose last status event is gone */
} fg_store_retained_t;

/**
 * One retention pass, in its own transaction: deletes up to chunk of the oldest events that are
 * received before min_received_us (0: no age limit) or beyond the newest max_events (0: no count
 * limit), and updates purged_through. Below purged_through it also deletes up to 4 × chunk
 * settled deliveries with their attempts, and up to chunk finished runs whose last status event
 * is gone (a run still going keeps its row). Pending and failed deliveries stay until the
 * dispatcher settles them. FG_OK or FG_ERR_IO.
 */
int fg_store_retain(fg_store_t *s, int64_t min_received_us, uint64_t max_events, size_t chunk,
                    fg_store_retained_t *out);

/* A stored event as the replay matches it (strings valid during the callback). */
typedef struct {
    uint64_t seq;
    const char *type;
    const char *run_id;   /* "" when none */
    const char *workflow; /* "" when none */
    const char *json;     /* the stored event */
    size_t json_len;
} fg_store_event_ref_t;

/**
 * Calls cb for each stored event with seq > after_seq, received between since_us and until_us
 * (0: no bound), in order, at most max of them; cb returns FG_OK to go on. Sets *more when the
 * limit stopped it. FG_OK, FG_ERR_IO, or cb's error.
 */
int fg_store_events_each(fg_store_t *s, uint64_t after_seq, int64_t since_us, int64_t until_us,
                         size_t max, int (*cb)(void *ctx, const fg_store_event_ref_t *ev),
                         void *ctx, bool *more);

/**
 * Counts the stored events with seq > after_seq received between since_us and until_us (0: no
 * bound), stopping at max (*n is then max). FG_OK or FG_ERR_IO.
 */
int fg_store_reader_count_events(fg_store_reader_t *r, uint64_t after_seq, int64_t since_us,
                                 int64_t until_us, uint64_t max, uint64_t *n);

/* --- readers: one per thread ---------------------------------------------------------------- */

/** Opens a read-only connection to a store already opened by fg_store_open (any thread: the
 * connection then belongs to the thread that uses it). */
int fg_store_reader_open(const fg_store_t *s, fg_store_reader_t **out, char *errbuf, size_t errlen);

void fg_store_reader_close(fg_store_reader_t *r);

/**
 * Writes a consistent copy of the whole store (one read transaction: events, run views, outbox
 * and meta as of one commit) to path, a new file, compacted. Any thread (its own connection);
 * takes time in proportion to the store's size. FG_OK or FG_ERR_IO (why in errbuf).
 */
int fg_store_snapshot(const fg_store_t *s, const char *path, char *errbuf, size_t errlen);

/**
 * Reads up to limit events with after < seq <= upto that match the filter, in sequence order,
 * creating each with one reference into out (caller releases). *scanned_to is the sequence up to
 * which the log was examined: upto when fewer than limit events came back, else the last one's.
 * Events of types no longer in the catalog are skipped. FG_OK, FG_ERR_IO or FG_ERR_NOMEM (out
 * holds nothing then).
 */
int fg_store_read(fg_store_reader_t *r, const fg_catalog_t *cat, const fg_filter_t *f,
                  uint64_t after, uint64_t upto, size_t limit, fg_event_t **out, size_t *n,
                  uint64_t *scanned_to);

/**
 * Where a stream that wants the newest n events matching f (of those up to upto) starts:
 * *after is the cursor to replay after (0 when fewer than n match; upto when n is 0).
 * FG_OK, FG_ERR_IO or FG_ERR_NOMEM.
 */
int fg_store_start_of_last(fg_store_reader_t *r, const fg_catalog_t *cat, const fg_filter_t *f,
                           uint64_t upto, uint64_t n, uint64_t *after);

/**
 * Where a stream that wants the events received at or after since_us (of those up to upto)
 * starts: *after is the cursor to replay after (upto when none). Found by bisection on the
 * sequence, receive times growing with it. FG_OK or FG_ERR_IO.
 */
int fg_store_start_of_since(fg_store_reader_t *r, int64_t since_us, uint64_t upto, uint64_t *after);

/**
 * The stored JSON of event seq, malloc'd into *json (caller frees), and the trace context it
 * was published with ("" when none). FG_ERR_NOT_FOUND when retention has removed it.
 */
int fg_store_reader_event_json(fg_store_reader_t *r, uint64_t seq, char **json, size_t *len,
                               char traceparent[FG_TRACEPARENT_LEN + 1]);

/**
 * The stored events first..last (those still stored), in sequence order, each handed to cb with
 * its JSON (len bytes, valid during the call) and trace context ("" when none): one walk where
 * point reads would be many. FG_OK or FG_ERR_IO.
 */
int fg_store_reader_events_json(fg_store_reader_t *r, uint64_t first, uint64_t last,
                                void (*cb)(void *ctx, uint64_t seq, const char *json, size_t len,
                                           const char *traceparent),
                                void *ctx);

/** Highest stored sequence number and the retention floor, as this reader sees them. */
int fg_store_reader_bounds(fg_store_reader_t *r, uint64_t *last_seq, uint64_t *purged_through);

#endif
