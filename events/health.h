/*
 * health.h - whether the store takes writes, shared by every thread. The writer records each
 * commit's outcome; any thread that meets a damaged store records it; /readyz, publish, the
 * dispatcher and metrics read it. Damage is sticky until a restart (after a repair); a failure
 * to commit (disk full, I/O error) clears with the next commit that succeeds (the writer probes
 * while nothing else is written).
 */
#ifndef FG_EVENTS_HEALTH_H
#define FG_EVENTS_HEALTH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    FG_HEALTH_OK = 0,            /* commits succeed */
    FG_HEALTH_CANNOT_COMMIT = 1, /* the last commit failed (disk full, I/O error) */
    FG_HEALTH_CORRUPT = 2,       /* the store reported damage: writes are refused */
} fg_health_state_t;

typedef struct {
    _Atomic int state;    /* fg_health_state_t; any thread */
    pthread_mutex_t lock; /* guards reason */
    char reason[256];     /* what the last change said, "" when FG_HEALTH_OK */
} fg_health_t;

void fg_health_init(fg_health_t *h);
void fg_health_dispose(fg_health_t *h);

/** Records damage (sticky). The first reason is kept; returns true when this call set it. */
bool fg_health_corrupt(fg_health_t *h, const char *reason);

/** Records a failed commit, unless the store is already known damaged. True when this call
 * changed the state (it was FG_HEALTH_OK). */
bool fg_health_commit_failed(fg_health_t *h, const char *reason);

/** Records a successful commit: clears FG_HEALTH_CANNOT_COMMIT. True when it did. */
bool fg_health_commit_ok(fg_health_t *h);

/** The state (an atomic load, cheap on every request). */
fg_health_state_t fg_health_state(fg_health_t *h);

/** The state, with its reason copied into buf (cap bytes, "" when OK). */
fg_health_state_t fg_health_get(fg_health_t *h, char *buf, size_t cap);

/** "ok", "cannot_commit" or "store_corrupt". */
const char *fg_health_name(fg_health_state_t s);

#endif
