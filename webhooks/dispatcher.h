/*
 * dispatcher.h - sends webhook deliveries: one thread, one epoll loop driving a libcurl multi
 * handle per subscription (curl_multi_socket_action). It reads due deliveries from the store (its
 * own connection), signs and POSTs them (keep-alive, HTTP/2 where offered), checks the address
 * actually connected to against the guard, and hands every attempt's outcome to the writer as one
 * op per round (attempt records, retries by the schedule, dead letters, 410 or failing too long
 * disabling the subscription).
 *
 * Isolation: each subscription has its own in-flight cap, its own query for due deliveries and
 * its own connection pool and timers, so a slow or hanging endpoint only fills its own slots and
 * costs nothing until its own socket or timeout fires. The backlog stays in the store. An
 * endpoint that keeps failing trips its breaker (breaker.h): its backlog waits, untried, while
 * one probe at a time goes out on a growing backoff, so a dead endpoint costs a few attempts a
 * minute instead of one per delivery and retry. The breaker opening and closing is logged
 * (webhook_endpoint_failing, webhook_endpoint_recovered), not each attempt.
 * A delivery in flight when flowgate stops is sent again after the restart (at least once, with
 * the same webhook-id).
 */
#ifndef FG_WEBHOOKS_DISPATCHER_H
#define FG_WEBHOOKS_DISPATCHER_H

#include "events/catalog.h"
#include "events/health.h"
#include "events/histogram.h"
#include "events/writer.h"
#include "webhooks/addr.h"
#include "events/replicated.h"
#include "events/sequencer.h"
#include "webhooks/breaker.h"
#include "webhooks/outbox.h"
#include "webhooks/owner.h"
#include "webhooks/retry.h"

typedef struct {
    const fg_store_t *store; /* the store: the dispatcher opens its own reader on it */
    const fg_catalog_t *cat;
    const fg_cidr_t *allow; /* webhooks.allow_networks */
    size_t nallow;
    fg_writer_t *writer;            /* attempt outcomes go through it */
    fg_wh_outbox_t *outbox;         /* writer-owned; used only inside writer ops */
    fg_wh_schedule_t schedule;      /* retries */
    int64_t connect_timeout_ms;     /* default 5000 */
    int64_t request_timeout_ms;     /* default 15000 */
    int64_t retry_after_max_s;      /* cap on Retry-After, default 3600 */
    int64_t disable_after_s;        /* a subscription failing this long is disabled (0: never) */
    fg_wh_breaker_config_t breaker; /* per endpoint: when to stop sending and probe instead */
    const char *console_url;        /* webhooks.console_url: chat messages link runs there, or "" */
    fg_health_t *health;            /* the store's health: nothing is sent while it is damaged (an
                                       outcome could not be recorded); may be NULL */
    /* Cluster mode (both NULL on a single node): only the subscriptions whose lease this node
     * holds are sent, and each round's outcomes of a subscription go through the shared log as
     * one control entry fenced by that lease (replicated.h), answered once applied here. */
    fg_sequencer_t *sequencer;
    fg_wh_owner_t *owner;
    const fg_repl_kind_t *result_kind; /* fg_wh_result_kind's, registered */
} fg_wh_dispatcher_config_t;

/* Counters, readable from any thread. */
typedef struct {
    _Atomic uint64_t attempts;        /* requests finished */
    _Atomic uint64_t succeeded;       /* 2xx */
    _Atomic uint64_t failed;          /* anything else */
    _Atomic uint64_t dead;            /* deliveries whose schedule ran out */
    _Atomic uint64_t refused;         /* attempts stopped by the address guard */
    _Atomic uint64_t disabled;        /* subscriptions disabled (410, or failing too long) */
    _Atomic uint64_t breakers_opened; /* times an endpoint's breaker opened */
    _Atomic int64_t breakers_open;    /* endpoints whose breaker is open now */
    _Atomic uint64_t fenced;          /* outcomes refused: the lease had moved (cluster) */
    fg_hist_t attempt_latency;        /* one attempt, from its start to its outcome */
} fg_wh_dispatcher_stats_t;

typedef struct fg_wh_dispatcher fg_wh_dispatcher_t;

/** Starts the thread. FG_OK, FG_ERR_IO (no reader, no thread) or FG_ERR_NOMEM. */
int fg_wh_dispatcher_start(const fg_wh_dispatcher_config_t *cfg, fg_wh_dispatcher_t **out);

/** Deliveries of any subscription may be due (after a retry or replay). Any thread; cheap. */
void fg_wh_dispatcher_poke(fg_wh_dispatcher_t *d);

/** A subscription got new deliveries (after a commit). Any thread; takes a short lock. */
void fg_wh_dispatcher_mark(fg_wh_dispatcher_t *d, const char *sub_id);

/** Stops: transfers in flight are abandoned (they are sent again after a restart). */
void fg_wh_dispatcher_stop(fg_wh_dispatcher_t *d);

/**
 * The control entry kind of delivery outcomes (cluster mode): every node records them in its
 * outbox o. Register it (replicated.h) and give it to the dispatcher as result_kind.
 */
fg_repl_kind_t fg_wh_result_kind(fg_wh_outbox_t *o);

const fg_wh_dispatcher_stats_t *fg_wh_dispatcher_stats(const fg_wh_dispatcher_t *d);

#endif
