/*
 * limits.c - per-client stream counts and publish token buckets (see limits.h).
 */
#include "gateway/limits.h"
#include "events/text.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char key[FG_LIMITS_KEY_MAX]; /* "" when the slot is free */
    int64_t streams;
    double tokens;     /* when last refilled */
    int64_t refill_us; /* 0: no bucket yet */
} entry_t;

struct fg_limits {
    pthread_mutex_t lock;
    entry_t *slots;
    size_t cap, used;
};

fg_limits_t *fg_limits_create(void)
{
    fg_limits_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->cap = 1024;
    l->slots = calloc(l->cap, sizeof(*l->slots));
    if (l->slots == NULL) {
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    return l;
}

void fg_limits_destroy(fg_limits_t *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l->slots);
    free(l);
}

static entry_t *probe(entry_t *slots, size_t cap, const char *key)
{
    size_t i = (size_t)fg_fnv1a(key, strlen(key)) & (cap - 1);
    while (slots[i].key[0] != '\0' && strcmp(slots[i].key, key) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

/* An entry with no stream and a bucket that has refilled is worth nothing. */
static bool idle(const entry_t *e, int64_t now_us)
{
    return e->streams == 0 && (e->refill_us == 0 || now_us - e->refill_us > 3600 * 1000000LL);
}

/* Rebuilds the table without idle entries, twice as large when it stays over half full. */
static void compact(fg_limits_t *l, int64_t now_us)
{
    size_t live = 0;
    for (size_t i = 0; i < l->cap; i++)
        live += l->slots[i].key[0] != '\0' && !idle(&l->slots[i], now_us);
    size_t cap = l->cap;
    while ((live + 1) * 2 > cap)
        cap *= 2;
    entry_t *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return; /* keep the old table; it still works, only fuller */
    for (size_t i = 0; i < l->cap; i++)
        if (l->slots[i].key[0] != '\0' && !idle(&l->slots[i], now_us))
            *probe(slots, cap, l->slots[i].key) = l->slots[i];
    free(l->slots);
    l->slots = slots;
    l->cap = cap;
    l->used = live;
}

/* The entry of key, created when missing. Lock held. */
static entry_t *find(fg_limits_t *l, const char *key, int64_t now_us)
{
    char k[FG_LIMITS_KEY_MAX];
    snprintf(k, sizeof(k), "%s", key[0] ? key : "-");
    entry_t *e = probe(l->slots, l->cap, k);
    if (e->key[0] != '\0')
        return e;
    if ((l->used + 1) * 4 > l->cap * 3) { /* keep a free slot for probing to end on */
        compact(l, now_us);
        e = probe(l->slots, l->cap, k);
        if (e->key[0] != '\0')
            return e;
    }
    memset(e, 0, sizeof(*e));
    memcpy(e->key, k, sizeof(k));
    l->used++;
    return e;
}

bool fg_limits_stream_open(fg_limits_t *l, const char *key, int64_t max)
{
    pthread_mutex_lock(&l->lock);
    entry_t *e = find(l, key, 0);
    bool ok = max <= 0 || e->streams < max;
    if (ok)
        e->streams++;
    pthread_mutex_unlock(&l->lock);
    return ok;
}

void fg_limits_stream_close(fg_limits_t *l, const char *key)
{
    pthread_mutex_lock(&l->lock);
    entry_t *e = find(l, key, 0);
    if (e->streams > 0)
        e->streams--;
    pthread_mutex_unlock(&l->lock);
}

int64_t fg_limits_take(fg_limits_t *l, const char *key, int64_t n, int64_t rate, int64_t burst,
                       int64_t now_us)
{
    if (rate <= 0)
        return 0;
    if (burst < 1)
        burst = 1;
    pthread_mutex_lock(&l->lock);
    entry_t *e = find(l, key, now_us);
    if (e->refill_us == 0) {
        e->tokens = (double)burst;
        e->refill_us = now_us;
    }
    double t = e->tokens + (double)(now_us - e->refill_us) * (double)rate / 1e6;
    if (t > (double)burst)
        t = (double)burst;
    e->tokens = t;
    e->refill_us = now_us;
    double need = (double)(n < burst ? n : burst);
    int64_t wait_ms = 0;
    if (t >= need)
        e->tokens = t - (double)n; /* a batch larger than the burst may take the bucket below 0 */
    else
        wait_ms = (int64_t)((need - t) * 1000.0 / (double)rate) + 1;
    pthread_mutex_unlock(&l->lock);
    return wait_ms;
}
