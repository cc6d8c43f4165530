/*
 * hub.c - the per-loop stream index and live fan-out. Runs on its loop's thread only.
 */
#include "gateway/hub.h"
#include "events/text.h"
#include "events/err.h"

#include <h2o/memory.h>

#include <stdlib.h>
#include <string.h>

#define NBUCKETS 4096

typedef struct fg_hub_bucket {
    char run_id[FG_UUID_LEN + 1];
    h2o_linklist_t nodes;       /* nodes of subscribers filtering on this run */
    struct fg_hub_bucket *next; /* hash chain */
} fg_hub_bucket_t;

typedef struct fg_hub_node {
    h2o_linklist_t link; /* in a type list, the any list, or a bucket */
    fg_hub_sub_t *sub;
    fg_hub_bucket_t *bucket; /* when in a bucket */
} fg_hub_node_t;

static size_t hash_run(const char *run_id)
{
    return (size_t)(fg_fnv1a(run_id, FG_UUID_LEN) % NBUCKETS);
}

int fg_hub_init(fg_hub_t *h, uint64_t high_seq, fg_hub_deliver_cb deliver, void *ctx)
{
    memset(h, 0, sizeof(*h));
    h->buckets = calloc(NBUCKETS, sizeof(h->buckets[0]));
    if (h->buckets == NULL)
        return FG_ERR_NOMEM;
    h->nbuckets = NBUCKETS;
    h2o_linklist_init_anchor(&h->subs);
    h2o_linklist_init_anchor(&h->any);
    for (size_t i = 0; i < FG_MAX_TYPES; i++)
        h2o_linklist_init_anchor(&h->by_type[i]);
    h->high_seq = high_seq;
    h->deliver = deliver;
    h->ctx = ctx;
    return FG_OK;
}

void fg_hub_dispose(fg_hub_t *h)
{
    if (h->buckets == NULL)
        return; /* never initialised (zeroed), or already disposed */
    while (!h2o_linklist_is_empty(&h->subs))
        fg_hub_detach(h, H2O_STRUCT_FROM_MEMBER(fg_hub_sub_t, all, h->subs.next));
    free(h->buckets);
    h->buckets = NULL;
}

static fg_hub_bucket_t *bucket_get(fg_hub_t *h, const char *run_id, bool create)
{
    size_t i = hash_run(run_id);
    for (fg_hub_bucket_t *b = h->buckets[i]; b; b = b->next) {
        if (memcmp(b->run_id, run_id, FG_UUID_LEN) == 0)
            return b;
    }
    if (!create)
        return NULL;
    fg_hub_bucket_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    memcpy(b->run_id, run_id, FG_UUID_LEN + 1);
    h2o_linklist_init_anchor(&b->nodes);
    b->next = h->buckets[i];
    h->buckets[i] = b;
    return b;
}

static void bucket_drop_if_empty(fg_hub_t *h, fg_hub_bucket_t *b)
{
    if (!h2o_linklist_is_empty(&b->nodes))
        return;
    fg_hub_bucket_t **pp = &h->buckets[hash_run(b->run_id)];
    while (*pp != b)
        pp = &(*pp)->next;
    *pp = b->next;
    free(b);
}

int fg_hub_attach(fg_hub_t *h, fg_hub_sub_t *sub, const fg_filter_t *f, size_t ntypes)
{
    size_t n = 0;
    if (f->nruns > 0)
        n = f->nruns;
    else if (f->any_type)
        n = 1;
    else
        for (size_t t = 0; t < ntypes; t++)
            n += fg_filter_type_ok(f, (int)t);
    sub->filter = f;
    sub->nodes = calloc(n ? n : 1, sizeof(*sub->nodes));
    sub->nnodes = 0;
    if (sub->nodes == NULL)
        return FG_ERR_NOMEM;
    if (f->nruns > 0) {
        for (size_t i = 0; i < f->nruns; i++) {
            fg_hub_bucket_t *b = bucket_get(h, f->runs[i], true);
            if (b == NULL) {
                h2o_linklist_insert(&h->subs, &sub->all);
                fg_hub_detach(h, sub);
                return FG_ERR_NOMEM;
            }
            fg_hub_node_t *node = &sub->nodes[sub->nnodes++];
            node->sub = sub;
            node->bucket = b;
            h2o_linklist_insert(&b->nodes, &node->link);
        }
    } else if (f->any_type) {
        fg_hub_node_t *node = &sub->nodes[sub->nnodes++];
        node->sub = sub;
        h2o_linklist_insert(&h->any, &node->link);
    } else {
        for (size_t t = 0; t < ntypes; t++) {
            if (!fg_filter_type_ok(f, (int)t))
                continue;
            fg_hub_node_t *node = &sub->nodes[sub->nnodes++];
            node->sub = sub;
            h2o_linklist_insert(&h->by_type[t], &node->link);
        }
    }
    h2o_linklist_insert(&h->subs, &sub->all);
    h->nsubs++;
    return FG_OK;
}

void fg_hub_detach(fg_hub_t *h, fg_hub_sub_t *sub)
{
    if (sub->nodes == NULL)
        return;
    for (size_t i = 0; i < sub->nnodes; i++) {
        fg_hub_node_t *node = &sub->nodes[i];
        h2o_linklist_unlink(&node->link);
        if (node->bucket)
            bucket_drop_if_empty(h, node->bucket);
    }
    free(sub->nodes);
    sub->nodes = NULL;
    sub->nnodes = 0;
    if (h2o_linklist_is_linked(&sub->all)) {
        h2o_linklist_unlink(&sub->all);
        h->nsubs--;
    }
}

static void deliver_list(fg_hub_t *h, h2o_linklist_t *list, fg_event_t *ev)
{
    /* deliver may detach the subscriber it is given (a slow stream): step before calling. */
    h2o_linklist_t *l = list->next;
    while (l != list) {
        fg_hub_node_t *node = H2O_STRUCT_FROM_MEMBER(fg_hub_node_t, link, l);
        l = l->next;
        if (fg_filter_match(node->sub->filter, ev))
            h->deliver(node->sub, ev, h->ctx);
    }
}

void fg_hub_publish(fg_hub_t *h, fg_event_t *ev)
{
    if (ev->seq > h->high_seq)
        h->high_seq = ev->seq;
    if (ev->run_id[0] != '\0') {
        fg_hub_bucket_t *b = bucket_get(h, ev->run_id, false);
        if (b != NULL) {
            /* The bucket may be freed when its last subscriber detaches during delivery. */
            h2o_linklist_t *l = b->nodes.next;
            while (l != &b->nodes) {
                fg_hub_node_t *node = H2O_STRUCT_FROM_MEMBER(fg_hub_node_t, link, l);
                bool last = l->next == &b->nodes;
                l = l->next;
                if (fg_filter_match(node->sub->filter, ev))
                    h->deliver(node->sub, ev, h->ctx);
                if (last)
                    break;
            }
        }
    }
    deliver_list(h, &h->any, ev);
    deliver_list(h, &h->by_type[ev->type_idx], ev);
}
