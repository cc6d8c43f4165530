/*
 * limits.h - limits kept per client (a credential's name or a client address): open streams
 * counted against a cap, and a token bucket for publishing. One table shared by every HTTP
 * thread, behind a mutex (each call holds it for a hash lookup). Idle entries are dropped when
 * the table would grow, so memory follows the clients active at a time.
 */
#ifndef FG_GATEWAY_LIMITS_H
#define FG_GATEWAY_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct fg_limits fg_limits_t;

#define FG_LIMITS_KEY_MAX 96 /* longer keys are cut */

/** NULL when out of memory. */
fg_limits_t *fg_limits_create(void);
void fg_limits_destroy(fg_limits_t *l);

/** Counts one more stream for key unless it has max already (then false). max 0: no cap. */
bool fg_limits_stream_open(fg_limits_t *l, const char *key, int64_t max);

/** One stream of key ended (after a successful fg_limits_stream_open). */
void fg_limits_stream_close(fg_limits_t *l, const char *key);

/**
 * Takes n tokens from key's bucket (rate per second, burst tokens at most; a new bucket is
 * full). Returns 0 when taken, else the milliseconds until n would be there (nothing taken).
 * rate 0: no limit. n larger than burst is measured against a full bucket.
 */
int64_t fg_limits_take(fg_limits_t *l, const char *key, int64_t n, int64_t rate, int64_t burst,
                       int64_t now_us);

#endif
