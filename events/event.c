/*
 * event.c - creation and release of refcounted events and batches. Any thread.
 */
#include "events/event.h"
#include "events/sse.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fg_event_t *fg_event_create(uint64_t seq, int type_idx, const char *type, const char *id,
                            const char *run_id, const char *workflow, const char *json,
                            size_t json_len)
{
    char seqs[24];
    snprintf(seqs, sizeof(seqs), "%" PRIu64, seq);
    run_id = run_id ? run_id : "";
    workflow = workflow ? workflow : "";
    size_t id_n = strlen(id) + 1, run_n = strlen(run_id) + 1, wf_n = strlen(workflow) + 1;
    size_t frame_n = fg_sse_frame_len(seqs, type, json, json_len);
    fg_event_t *ev = malloc(sizeof(*ev) + id_n + run_n + wf_n + json_len + 1 + frame_n + 1);
    if (ev == NULL)
        return NULL;
    char *p = (char *)(ev + 1);
    atomic_init(&ev->refs, 1);
    ev->seq = seq;
    ev->type_idx = type_idx;
    ev->type = type;
    ev->id = memcpy(p, id, id_n);
    p += id_n;
    ev->run_id = memcpy(p, run_id, run_n);
    p += run_n;
    ev->workflow = memcpy(p, workflow, wf_n);
    p += wf_n;
    memcpy(p, json, json_len);
    p[json_len] = '\0';
    ev->json = p;
    ev->json_len = json_len;
    p += json_len + 1;
    ev->frame_len = fg_sse_frame_write(p, seqs, type, json, json_len);
    p[ev->frame_len] = '\0';
    ev->frame = p;
    return ev;
}

void fg_event_release(fg_event_t *ev)
{
    if (atomic_fetch_sub_explicit(&ev->refs, 1, memory_order_acq_rel) == 1)
        free(ev);
}

fg_batch_t *fg_batch_create(fg_event_t *const *events, size_t n)
{
    fg_batch_t *b = malloc(sizeof(*b) + n * sizeof(b->events[0]));
    if (b == NULL)
        return NULL;
    atomic_init(&b->refs, 1);
    b->n = n;
    memcpy(b->events, events, n * sizeof(events[0]));
    return b;
}

void fg_batch_release(fg_batch_t *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < b->n; i++)
        fg_event_release(b->events[i]);
    free(b);
}
