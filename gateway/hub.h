/*
 * hub.h - the streams of one HTTP loop, indexed so that an event reaches the streams that may
 * want it without scanning every stream: streams filtered by run id sit in a hash by run id,
 * other streams in one list per event type they accept (or one catch-all list).
 *
 * Each loop owns one hub; all calls happen on that loop's thread.
 */
#ifndef FG_GATEWAY_HUB_H
#define FG_GATEWAY_HUB_H

#include "events/event.h"
#include "events/filter.h"

#include <h2o/linklist.h>
#include <stddef.h>
#include <stdint.h>

struct fg_hub_node;
struct fg_hub_bucket;

/* A subscriber's membership, embedded in the subscriber (caller allocates). */
typedef struct fg_hub_sub {
    const fg_filter_t *filter; /* read on every delivery; must outlive the membership */
    struct fg_hub_node *nodes; /* index entries; owned */
    size_t nnodes;
    h2o_linklist_t all; /* link in fg_hub_t.subs while attached */
} fg_hub_sub_t;

typedef void (*fg_hub_deliver_cb)(fg_hub_sub_t *sub, fg_event_t *ev, void *ctx);

typedef struct fg_hub {
    h2o_linklist_t subs;                  /* every attached subscriber */
    h2o_linklist_t any;                   /* nodes of subscribers taking every type */
    h2o_linklist_t by_type[FG_MAX_TYPES]; /* nodes of subscribers taking that type */
    struct fg_hub_bucket **buckets;       /* run id hash: chains of buckets */
    size_t nbuckets;
    size_t nsubs;
    uint64_t high_seq; /* highest sequence published into this hub */
    fg_hub_deliver_cb deliver;
    void *ctx;
} fg_hub_t;

/** Initialises a hub whose events start after high_seq. Returns FG_OK or FG_ERR_NOMEM. */
int fg_hub_init(fg_hub_t *h, uint64_t high_seq, fg_hub_deliver_cb deliver, void *ctx);

/** Frees the index. Subscribers still attached are detached. Safe on a zeroed hub. */
void fg_hub_dispose(fg_hub_t *h);

/**
 * Attaches a subscriber with filter f (kept by pointer). ntypes is the catalog size. Returns
 * FG_OK, or FG_ERR_NOMEM with the subscriber not attached.
 */
int fg_hub_attach(fg_hub_t *h, fg_hub_sub_t *sub, const fg_filter_t *f, size_t ntypes);

/** Detaches a subscriber; does nothing when it is not attached. */
void fg_hub_detach(fg_hub_t *h, fg_hub_sub_t *sub);

/** Records ev->seq as high_seq and calls deliver for each subscriber whose filter matches. */
void fg_hub_publish(fg_hub_t *h, fg_event_t *ev);

#endif
