/*
 * event.h - a stored event as the bus carries it: immutable after creation, refcounted
 * (atomic), with its SSE frame encoded once at creation and shared by every stream it goes to.
 *
 * Created by the writer thread after commit (or by a store reader for replay); retained by each
 * stream that queues it; freed by whoever drops the last reference, on any thread.
 */
#ifndef FG_EVENTS_EVENT_H
#define FG_EVENTS_EVENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fg_event {
    atomic_uint refs;     /* references; the event is freed when it drops to 0 */
    uint64_t seq;         /* sequence number, the SSE id and the stream cursor */
    int type_idx;         /* catalog index of the type */
    const char *type;     /* type name (owned by the catalog, which outlives all events) */
    const char *id;       /* event id */
    const char *run_id;   /* lowercase run id, "" when none */
    const char *workflow; /* workflow name (own or of its run), "" when unknown */
    const char *json;     /* the stored event JSON, exactly as stored; NUL-terminated */
    size_t json_len;
    const char *frame; /* "id: seq\nevent: type\ndata: json\n\n", NUL-terminated */
    size_t frame_len;
} fg_event_t;

/**
 * Creates an event with one reference, copying every string into one allocation. run_id and
 * workflow may be NULL. Returns NULL when out of memory.
 */
fg_event_t *fg_event_create(uint64_t seq, int type_idx, const char *type, const char *id,
                            const char *run_id, const char *workflow, const char *json,
                            size_t json_len);

static inline fg_event_t *fg_event_retain(fg_event_t *ev)
{
    atomic_fetch_add_explicit(&ev->refs, 1, memory_order_relaxed);
    return ev;
}

/** Drops one reference; frees the event when it was the last. */
void fg_event_release(fg_event_t *ev);

/* A committed batch announced to every HTTP loop: holds one reference on each event. */
typedef struct {
    atomic_uint refs; /* one per loop the batch was sent to */
    size_t n;
    fg_event_t *events[]; /* in sequence order */
} fg_batch_t;

/** Creates a batch with refs = 1 taking over one reference of each event. NULL on OOM. */
fg_batch_t *fg_batch_create(fg_event_t *const *events, size_t n);

static inline void fg_batch_retain(fg_batch_t *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

/** Drops one reference; the last releases every event and frees the batch. */
void fg_batch_release(fg_batch_t *b);

#endif
