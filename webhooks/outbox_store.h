/*
 * outbox_store.h - where the webhook outbox keeps its state: subscriptions, one delivery row per
 * (subscription, event) with its status and retry time, and every attempt. The embedded
 * implementation (outbox_sqlite.c, outbox_sqlite_read.c) keeps these tables in the store's SQLite
 * file and writes them in the writer's transactions, so an event and its deliveries commit
 * together. In cluster mode the same tables are a node's projection of the shared log.
 *
 * The functions take the store's connections: fg_store_t (the writer's; writer thread only, or
 * the main thread before the writer starts) and fg_store_reader_t (a reader's; its thread).
 */
#ifndef FG_WEBHOOKS_OUTBOX_STORE_H
#define FG_WEBHOOKS_OUTBOX_STORE_H

#include "events/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * Creates the outbox's tables in the store when missing and brings an older layout up to date
 * (idempotent), then counts the backlog gauges. Main thread, before the writer starts.
 * FG_OK, FG_ERR_CORRUPT or FG_ERR_IO (logged).
 */
int fg_wh_store_open(fg_store_t *s);

/**
 * Retention, in its own transaction: deletes up to limit settled (succeeded or dead) deliveries
 * of events at or below floor, oldest first, with their attempts; *deleted counts them. Pending
 * and failed ones stay until the dispatcher settles them. FG_OK or FG_ERR_IO.
 */
int fg_wh_store_retain(fg_store_t *s, uint64_t floor, size_t limit, uint64_t *deleted);

/* --- the writer's connection: writer thread only, inside its transactions ------------------- */

/* A stored subscription. The spec is the subscription's accepted JSON (webhooks/ parses it). */
typedef struct {
    const char *id;
    const char *spec;            /* JSON text */
    const char *secret;          /* current "whsec_…" */
    const char *old_secret;      /* the previous one during a rotation, or NULL */
    int64_t old_secret_until_us; /* when the previous secret stops signing */
    bool enabled;
    int64_t failing_since_us; /* since when every attempt failed (0: not failing); read only */
} fg_wh_sub_row_t;

/** Inserts or replaces a subscription; enabling a disabled one clears failing_since_us.
 * FG_OK or FG_ERR_IO. */
int fg_wh_store_sub_put(fg_store_t *s, const fg_wh_sub_row_t *sub, int64_t now_us);

/**
 * Records since when every attempt to a subscription has failed (0: it is not failing), so the
 * auto-disable period survives a restart. FG_OK or FG_ERR_IO.
 */
int fg_wh_store_sub_set_failing(fg_store_t *s, const char *id, int64_t since_us);

/** Deletes a subscription and every delivery of it. FG_OK, FG_ERR_NOT_FOUND or FG_ERR_IO. */
int fg_wh_store_sub_delete(fg_store_t *s, const char *id);

/** Calls cb for each stored subscription (strings valid during the call). FG_OK or FG_ERR_IO. */
int fg_wh_store_sub_each(fg_store_t *s, void (*cb)(void *ctx, const fg_wh_sub_row_t *sub),
                         void *ctx);

/**
 * Adds a pending delivery of event seq to a subscription, due at now_us. id is the delivery's
 * webhook-id (stable across its retries). FG_OK or FG_ERR_IO.
 */
int fg_wh_store_delivery_add(fg_store_t *s, const char *id, const char *sub_id, uint64_t seq,
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
} fg_wh_attempt_t;

/** Records an attempt and the delivery's new state. FG_OK or FG_ERR_IO. */
int fg_wh_store_attempt_record(fg_store_t *s, const fg_wh_attempt_t *a, int64_t now_us);

/**
 * Makes every failed delivery of a subscription due now (its endpoint is back after a breaker
 * held it: what failed during the outage goes first, in order). FG_OK or FG_ERR_IO.
 */
int fg_wh_store_due_now(fg_store_t *s, const char *sub_id, int64_t now_us);

/**
 * Makes a failed or dead delivery due now (status pending, next_at now). FG_OK,
 * FG_ERR_NOT_FOUND, FG_ERR_CONFLICT (it is pending or succeeded) or FG_ERR_IO.
 */
int fg_wh_store_delivery_retry(fg_store_t *s, const char *id, int64_t now_us);

/** Sets a subscription's enabled flag. FG_OK, FG_ERR_NOT_FOUND or FG_ERR_IO. */
int fg_wh_store_sub_set_enabled(fg_store_t *s, const char *id, bool enabled, int64_t now_us);

/** Deliveries of a subscription in a given state (FG_DELIVERY_…). */
int fg_wh_store_delivery_count(fg_store_t *s, const char *sub_id, int status, uint64_t *n);

/* --- a reader connection: the thread that opened it ----------------------------------------- */

/**
 * Calls cb for each stored subscription, or only for the one with id when id is not NULL
 * (FG_ERR_NOT_FOUND when there is none). FG_OK or FG_ERR_IO.
 */
int fg_wh_store_read_subs(fg_store_reader_t *r, const char *id,
                          void (*cb)(void *ctx, const fg_wh_sub_row_t *sub), void *ctx);

/* A delivery due to be tried. */
typedef struct {
    char id[48];
    uint64_t seq;
    char run_id[40]; /* "" when the event has no run */
    unsigned attempts;
} fg_wh_due_t;

/**
 * Up to limit deliveries of a subscription that are due (pending, or failed with next_at <=
 * now_us), in sequence order. With per_run, only the earliest unsettled delivery of each run is
 * due (a run's events reach the endpoint one at a time, in order). Without it, pending ones
 * below from_seq are left out (the caller has them in hand already). FG_OK or FG_ERR_IO.
 */
int fg_wh_store_read_due(fg_store_reader_t *r, const char *sub_id, int64_t now_us, bool per_run,
                         uint64_t from_seq, size_t limit, fg_wh_due_t *out, size_t *n);

/**
 * Sets *due: whether a failed delivery of the subscription is due for its retry (next_at <=
 * now_us). One seek of the retry index. FG_OK or FG_ERR_IO.
 */
int fg_wh_store_read_retry_due(fg_store_reader_t *r, const char *sub_id, int64_t now_us, bool *due);

/* A delivery as the delivery log shows it (strings valid during the callback). */
typedef struct {
    const char *id, *sub_id;
    uint64_t seq;
    int status;
    unsigned attempts;
    int64_t next_at_us, created_us, updated_us;
    const char *traceparent; /* its event's trace context (sent with each attempt), or NULL */
} fg_wh_delivery_row_t;

/* One attempt as the delivery log shows it. */
typedef struct {
    unsigned n;
    int64_t at_us, duration_us;
    int http_status; /* 0: none */
    const char *error, *response;
} fg_wh_attempt_row_t;

/**
 * The deliveries of a subscription with id > after (ids grow with time; "" for the first page),
 * in id order, optionally of one status (-1: any), at most limit. FG_OK or FG_ERR_IO.
 */
int fg_wh_store_read_deliveries(fg_store_reader_t *r, const char *sub_id, int status,
                                const char *after, size_t limit,
                                void (*cb)(void *ctx, const fg_wh_delivery_row_t *d), void *ctx);

/** One delivery and its attempts. FG_OK, FG_ERR_NOT_FOUND or FG_ERR_IO. */
int fg_wh_store_read_delivery(fg_store_reader_t *r, const char *id,
                              void (*cb)(void *ctx, const fg_wh_delivery_row_t *d),
                              void (*attempt_cb)(void *ctx, const fg_wh_attempt_row_t *a),
                              void *ctx);

/** A counter that moves whenever a subscription is added, changed or removed (committed in the
 * change's own transaction). */
int fg_wh_store_read_subs_version(fg_store_reader_t *r, uint64_t *version);

/* The webhook subscriptions at a glance (metrics). */
typedef struct {
    uint64_t disabled_subs; /* subscriptions disabled */
    uint64_t subs;          /* subscriptions */
} fg_wh_sub_counts_t;

/** Counts of fg_wh_sub_counts_t. FG_OK or FG_ERR_IO. */
int fg_wh_store_read_counts(fg_store_reader_t *r, fg_wh_sub_counts_t *g);

/**
 * The outbox backlog as of the last commit: deliveries not tried yet, and failed ones waiting
 * for their next attempt. Counted at open and kept by every change since, so it costs two
 * atomic loads whatever the backlog's size. Any thread.
 */
void fg_wh_store_backlog(const fg_store_t *s, uint64_t *pending, uint64_t *retrying);

#endif
