/*
 * store.h - the durable event log: events in sequence order, the run status table used by the
 * transition check, and the retention floor.
 *
 * Two kinds of handle:
 * - fg_store_t, the single writer connection, used only by the writer thread (writer.h);
 * - fg_store_reader_t, read-only connections, one per HTTP loop, for replay and paging.
 * The embedded backend is SQLite in WAL mode (store_sqlite.c): readers never block the writer.
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
 * Opens (creating when missing) the database file and its schema. A file that is not a flowgate
 * store is refused before anything is written to it (store_guard.h). A log that ends below the
 * numbers already given out (its write-ahead log was lost) is logged, the lost range recorded,
 * and numbering goes on above it under a new epoch. On error returns FG_ERR_IO, FG_ERR_CORRUPT
 * (damaged, or not a database), FG_ERR_INVALID (another application's database, a newer schema)
 * or FG_ERR_NOMEM, with a sentence naming the file in errbuf and *out untouched.
 */
int fg_store_open(const char *path, fg_sync_mode_t sync, fg_store_t **out, char *errbuf,
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

/** The database file's path. Any thread. */
const char *fg_store_path(const fg_store_t *s);

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

/** Appends an event under seq (above every stored one, without gaps); workflow may be NULL. */
int fg_store_append(fg_store_t *s, uint64_t seq, const fg_pub_event_t *ev, const char *type,
                    const char *workflow, int64_t received_us);

/* Rows one retention pass deleted. */
typedef struct {
    uint64_t events;
    uint64_t deliveries; /* settled (succeeded or dead) deliveries of deleted events */
    uint64_t runs;       /* finished runs whose last status event is gone */
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

/* --- webhooks: subscriptions and their delivery outbox (writer thread only) ------------------ */

/* A stored subscription. The spec is the subscription's accepted JSON (webhooks/ parses it). */
typedef struct {
    const char *id;
    const char *spec;            /* JSON text */
    const char *secret;          /* current "whsec_…" */
    const char *old_secret;      /* the previous one during a rotation, or NULL */
    int64_t old_secret_until_us; /* when the previous secret stops signing */
    bool enabled;
    int64_t failing_since_us; /* since when every attempt failed (0: not failing); read only */
} fg_store_sub_t;

/** Inserts or replaces a subscription; enabling a disabled one clears failing_since_us.
 * FG_OK or FG_ERR_IO. */
int fg_store_sub_put(fg_store_t *s, const fg_store_sub_t *sub, int64_t now_us);

/**
 * Records since when every attempt to a subscription has failed (0: it is not failing), so the
 * auto-disable period survives a restart. FG_OK or FG_ERR_IO.
 */
int fg_store_sub_set_failing(fg_store_t *s, const char *id, int64_t since_us);

/** Deletes a subscription and every delivery of it. FG_OK, FG_ERR_NOT_FOUND or FG_ERR_IO. */
int fg_store_sub_delete(fg_store_t *s, const char *id);

/** Calls cb for each stored subscription (strings valid during the call). FG_OK or FG_ERR_IO. */
int fg_store_sub_each(fg_store_t *s, void (*cb)(void *ctx, const fg_store_sub_t *sub), void *ctx);

/**
 * Adds a pending delivery of event seq to a subscription, due at now_us. id is the delivery's
 * webhook-id (stable across its retries). FG_OK or FG_ERR_IO.
 */
int fg_store_delivery_add(fg_store_t *s, const char *id, const char *sub_id, uint64_t seq,
                          const char *run_id, int64_t now_us);

/* Delivery states (stored numbers; never renumbered). */
enum {
    FG_DELIVERY_PENDING = 0,   /* not tried yet */
    FG_DELIVERY_SUCCEEDED = 2, /* a 2xx was received */
    FG_DELIVERY_FAILED = 3,    /* tried and failed; tried again at next_at */
    FG_DELIVERY_DEAD = 4,      /* the retry schedule is exhausted */
};

/* One attempt of a delivery, and the delivery's state after it. */
typedef struct {
    const char *delivery_id;
    const char *sub_id; /* the delivery's subscription */
    unsigned attempt;   /* 1 for the first */
    int64_t at_us;      /* when it started */
    int64_t duration_us;
    int http_status;      /* 0 when no response */
    const char *error;    /* transport error or refusal, or NULL */
    const char *response; /* the first bytes of the response body, or NULL */
    size_t response_len;
    int new_status;     /* FG_DELIVERY_… */
    int64_t next_at_us; /* for FG_DELIVERY_FAILED */
} fg_store_attempt_t;

/** Records an attempt and the delivery's new state. FG_OK or FG_ERR_IO. */
int fg_store_attempt_record(fg_store_t *s, const fg_store_attempt_t *a, int64_t now_us);

/**
 * Makes every failed delivery of a subscription due now (its endpoint is back after a breaker
 * held it: what failed during the outage goes first, in order). FG_OK or FG_ERR_IO.
 */
int fg_store_deliveries_due_now(fg_store_t *s, const char *sub_id, int64_t now_us);

/**
 * Makes a failed or dead delivery due now (status pending, next_at now). FG_OK,
 * FG_ERR_NOT_FOUND, FG_ERR_CONFLICT (it is pending or succeeded) or FG_ERR_IO.
 */
int fg_store_delivery_retry(fg_store_t *s, const char *id, int64_t now_us);

/* A stored event as the replay matches it (strings valid during the callback). */
typedef struct {
    uint64_t seq;
    const char *type;
    const char *run_id;   /* "" when none */
    const char *workflow; /* "" when none */
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

/** Sets a subscription's enabled flag. FG_OK, FG_ERR_NOT_FOUND or FG_ERR_IO. */
int fg_store_sub_set_enabled(fg_store_t *s, const char *id, bool enabled, int64_t now_us);

/** Deliveries of a subscription in a given state (FG_DELIVERY_…). */
int fg_store_delivery_count(fg_store_t *s, const char *sub_id, int status, uint64_t *n);

/* --- readers: one per thread ---------------------------------------------------------------- */

/** Opens a read-only connection to a store already opened by fg_store_open. */
int fg_store_reader_open(const char *path, fg_store_reader_t **out, char *errbuf, size_t errlen);

void fg_store_reader_close(fg_store_reader_t *r);

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
 * Calls cb for each stored subscription, or only for the one with id when id is not NULL
 * (FG_ERR_NOT_FOUND when there is none). FG_OK or FG_ERR_IO.
 */
int fg_store_reader_subs(fg_store_reader_t *r, const char *id,
                         void (*cb)(void *ctx, const fg_store_sub_t *sub), void *ctx);

/* A delivery due to be tried. */
typedef struct {
    char id[48];
    uint64_t seq;
    char run_id[40]; /* "" when the event has no run */
    unsigned attempts;
} fg_store_due_t;

/**
 * Up to limit deliveries of a subscription that are due (pending, or failed with next_at <=
 * now_us), in sequence order. With per_run, only the earliest unsettled delivery of each run is
 * due (a run's events reach the endpoint one at a time, in order). Without it, pending ones
 * below from_seq are left out (the caller has them in hand already). FG_OK or FG_ERR_IO.
 */
int fg_store_reader_due(fg_store_reader_t *r, const char *sub_id, int64_t now_us, bool per_run,
                        uint64_t from_seq, size_t limit, fg_store_due_t *out, size_t *n);

/* A delivery as the delivery log shows it (strings valid during the callback). */
typedef struct {
    const char *id, *sub_id;
    uint64_t seq;
    int status;
    unsigned attempts;
    int64_t next_at_us, created_us, updated_us;
} fg_store_delivery_t;

/* One attempt as the delivery log shows it. */
typedef struct {
    unsigned n;
    int64_t at_us, duration_us;
    int http_status; /* 0: none */
    const char *error, *response;
} fg_store_attempt_row_t;

/**
 * The deliveries of a subscription with id > after (ids grow with time; "" for the first page),
 * in id order, optionally of one status (-1: any), at most limit. FG_OK or FG_ERR_IO.
 */
int fg_store_reader_deliveries(fg_store_reader_t *r, const char *sub_id, int status,
                               const char *after, size_t limit,
                               void (*cb)(void *ctx, const fg_store_delivery_t *d), void *ctx);

/** One delivery and its attempts. FG_OK, FG_ERR_NOT_FOUND or FG_ERR_IO. */
int fg_store_reader_delivery(fg_store_reader_t *r, const char *id,
                             void (*cb)(void *ctx, const fg_store_delivery_t *d),
                             void (*attempt_cb)(void *ctx, const fg_store_attempt_row_t *a),
                             void *ctx);

/** A counter that moves whenever a subscription is added, changed or removed (committed in the
 * change's own transaction). */
int fg_store_reader_subs_version(fg_store_reader_t *r, uint64_t *version);

/**
 * The stored JSON of event seq, malloc'd into *json (caller frees). FG_ERR_NOT_FOUND when
 * retention has removed it.
 */
int fg_store_reader_event_json(fg_store_reader_t *r, uint64_t seq, char **json, size_t *len);

/* The webhook subscriptions at a glance (metrics). */
typedef struct {
    uint64_t disabled_subs; /* subscriptions disabled */
    uint64_t subs;          /* subscriptions */
} fg_store_outbox_gauges_t;

/** Counts of fg_store_outbox_gauges_t. FG_OK or FG_ERR_IO. */
int fg_store_reader_outbox_gauges(fg_store_reader_t *r, fg_store_outbox_gauges_t *g);

/**
 * The outbox backlog as of the last commit: deliveries not tried yet, and failed ones waiting
 * for their next attempt. Counted at open and kept by every change since, so it costs two
 * atomic loads whatever the backlog's size. Any thread.
 */
void fg_store_outbox_backlog(const fg_store_t *s, uint64_t *pending, uint64_t *retrying);

/** Highest stored sequence number and the retention floor, as this reader sees them. */
int fg_store_reader_bounds(fg_store_reader_t *r, uint64_t *last_seq, uint64_t *purged_through);

#endif
