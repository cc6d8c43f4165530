/*
 * projection.h - what the writer keeps beside the event log, in the log's own transactions: the
 * run views (runview.h) and the webhook outbox (webhooks/outbox.h) each hand the writer one of
 * these. The writer calls every projection in the order given, on the writer thread; a log
 * backend other than the embedded one feeds the same writer and so the same projections.
 *
 * Contract: a projection writes only through the store connection it is given, inside the
 * writer's open transaction, so an event and everything derived from it commit together or not
 * at all; after a rollback it forgets whatever it cached about the rolled-back work.
 */
#ifndef FG_EVENTS_PROJECTION_H
#define FG_EVENTS_PROJECTION_H

#include "events/event.h"
#include "events/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name; /* for logs ("run_views", "deliveries") */
    void *ctx;
    /* After each event is appended, inside the transaction. view holds no references and is
     * valid during the call only; step_id is the event's lowercase step_id or "". A non-zero
     * return fails the whole group (FG_ERR_IO, or FG_ERR_CORRUPT when the store is damaged). */
    int (*apply)(void *ctx, fg_store_t *s, const fg_event_t *view, const char *step_id,
                 int64_t now_us);
    /* Before the commit of a transaction that appended events up to last_seq. May be NULL. */
    int (*mark)(void *ctx, fg_store_t *s, uint64_t last_seq);
    /* A job's savepoint (whole: false) or the group's whole transaction (true) was rolled
     * back. May be NULL. */
    void (*rolled_back)(void *ctx, fg_store_t *s, bool whole);
    /* Retention, after the log's pass, in transactions of its own: removes up to chunk rows
     * derived from events at or below purged_through (gone from the log); *removed counts them.
     * May be NULL. */
    int (*retain)(void *ctx, fg_store_t *s, uint64_t purged_through, size_t chunk,
                  uint64_t *removed);
} fg_projection_t;

#define FG_MAX_PROJECTIONS 4

#endif
