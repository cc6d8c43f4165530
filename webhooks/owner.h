/*
 * owner.h - cluster mode: which webhook subscriptions this node delivers. Each subscription is
 * owned by one live node at a time through a lease in Redis (redis_control.h: "fg:lease:<id>" =
 * "<node>:<token>", a time to live of cluster.lease_ms, renewed every third of it). Ownership is
 * shared out evenly: a node holds at most ceil(subscriptions / live nodes) and lets the extra go
 * when another node joins; a node that dies stops renewing, and its subscriptions go to the
 * others once its leases lapse. A lease is trusted here only until a fifth of its time before it
 * could lapse: past that nothing new is sent for it. The token fences the outcomes (replicated.h):
 * a node that lost a lease cannot record outcomes for it, so a delivery is done by one node;
 * only those in flight when a lease moves may be sent again, with the same webhook-id.
 *
 * Threads: its own (Redis, the store's subscription list); holds/fence from any thread (a lock).
 */
#ifndef FG_WEBHOOKS_OWNER_H
#define FG_WEBHOOKS_OWNER_H

#include "events/store.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *redis_url;
    int64_t timeout_ms; /* a Redis command's longest wait */
    const char *node_id;
    int64_t lease_ms;
    const fg_store_t *store;    /* the subscriptions (its own reader) */
    void (*changed)(void *ctx); /* it took a subscription (the dispatcher looks again) */
    void *ctx;
} fg_wh_owner_config_t;

typedef struct {
    _Atomic uint64_t held;       /* leases held now */
    _Atomic uint64_t taken;      /* leases taken since start */
    _Atomic uint64_t lost;       /* leases found taken by another node at renewal */
    _Atomic uint64_t live_nodes; /* as last seen */
} fg_wh_owner_stats_t;

typedef struct fg_wh_owner fg_wh_owner_t;

/** Starts the thread. FG_OK, FG_ERR_NOMEM, FG_ERR_INVALID (bad url) or FG_ERR_IO. */
int fg_wh_owner_start(const fg_wh_owner_config_t *cfg, fg_wh_owner_t **out);

/** Lets every lease go at once (graceful drain: others take over); the thread keeps none. */
void fg_wh_owner_release_all(fg_wh_owner_t *o);

/** Stops the thread (releasing every lease) and frees it. */
void fg_wh_owner_stop(fg_wh_owner_t *o);

/** True when this node may send the subscription's deliveries now. */
bool fg_wh_owner_holds(fg_wh_owner_t *o, const char *sub_id);

/**
 * The fence for the subscription's outcomes: its lease key and the value this node holds it
 * with (value "" when it holds none: the outcomes will be refused). Any thread.
 */
void fg_wh_owner_fence(fg_wh_owner_t *o, const char *sub_id, char *key, char *value, size_t cap);

const fg_wh_owner_stats_t *fg_wh_owner_stats(const fg_wh_owner_t *o);

#endif
