/*
 * health.c - the store's health (see health.h). Any thread.
 */
#include "events/health.h"

#include <stdbool.h>
#include <stdio.h>

void fg_health_init(fg_health_t *h)
{
    atomic_init(&h->state, FG_HEALTH_OK);
    pthread_mutex_init(&h->lock, NULL);
    h->reason[0] = '\0';
}

void fg_health_dispose(fg_health_t *h)
{
    pthread_mutex_destroy(&h->lock);
}

bool fg_health_corrupt(fg_health_t *h, const char *reason)
{
    pthread_mutex_lock(&h->lock);
    bool first = atomic_load(&h->state) != FG_HEALTH_CORRUPT;
    if (first) {
        snprintf(h->reason, sizeof(h->reason), "%s", reason);
        atomic_store(&h->state, FG_HEALTH_CORRUPT);
    }
    pthread_mutex_unlock(&h->lock);
    return first;
}

bool fg_health_commit_failed(fg_health_t *h, const char *reason)
{
    pthread_mutex_lock(&h->lock);
    int was = atomic_load(&h->state);
    if (was != FG_HEALTH_CORRUPT) {
        snprintf(h->reason, sizeof(h->reason), "%s", reason);
        atomic_store(&h->state, FG_HEALTH_CANNOT_COMMIT);
    }
    pthread_mutex_unlock(&h->lock);
    return was == FG_HEALTH_OK;
}

bool fg_health_commit_ok(fg_health_t *h)
{
    if (atomic_load(&h->state) != FG_HEALTH_CANNOT_COMMIT)
        return false;
    pthread_mutex_lock(&h->lock);
    bool cleared = atomic_load(&h->state) == FG_HEALTH_CANNOT_COMMIT;
    if (cleared) {
        h->reason[0] = '\0';
        atomic_store(&h->state, FG_HEALTH_OK);
    }
    pthread_mutex_unlock(&h->lock);
    return cleared;
}

fg_health_state_t fg_health_state(fg_health_t *h)
{
    return (fg_health_state_t)atomic_load(&h->state);
}

fg_health_state_t fg_health_get(fg_health_t *h, char *buf, size_t cap)
{
    pthread_mutex_lock(&h->lock);
    fg_health_state_t s = (fg_health_state_t)atomic_load(&h->state);
    snprintf(buf, cap, "%s", h->reason);
    pthread_mutex_unlock(&h->lock);
    return s;
}

const char *fg_health_name(fg_health_state_t s)
{
    switch (s) {
    case FG_HEALTH_OK:
        return "ok";
    case FG_HEALTH_CANNOT_COMMIT:
        return "cannot_commit";
    case FG_HEALTH_CORRUPT:
        return "store_corrupt";
    }
    return "unknown";
}
