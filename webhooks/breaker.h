/*
 * breaker.h - an endpoint's circuit breaker: after `failures` consecutive failed attempts it
 * opens, and the endpoint's backlog waits in the store (nothing is dropped; a waiting delivery
 * is not tried, so its retry schedule is not spent) while one probe at a time goes out on a
 * growing, jittered backoff. A probe is a real attempt of the endpoint's next due delivery; its
 * success (or any success) closes the breaker and the backlog drains in order.
 * Pure state, no I/O: the dispatcher thread owns each breaker and passes the clock in.
 */
#ifndef FG_WEBHOOKS_BREAKER_H
#define FG_WEBHOOKS_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    unsigned failures;    /* consecutive failed attempts that open it (0: never opens) */
    int64_t probe_ms;     /* the first wait before a probe once open */
    int64_t probe_max_ms; /* the wait doubles per failed probe up to this */
    double jitter;        /* each wait varies by ±jitter (0.2 = ±20 %) */
} fg_wh_breaker_config_t;

typedef enum {
    FG_WH_BREAKER_CLOSED = 0, /* attempts flow */
    FG_WH_BREAKER_OPEN,       /* nothing goes out until the next probe is due */
    FG_WH_BREAKER_PROBING,    /* open, with its one probe in flight */
} fg_wh_breaker_state_t;

typedef struct {
    fg_wh_breaker_state_t state;
    unsigned consecutive; /* failed attempts in a row (closed) */
    int64_t wait_ms;      /* the current backoff (open) */
    int64_t probe_at_ms;  /* when the next probe may go (open; monotonic) */
    int64_t opened_at_ms; /* when it opened (monotonic) */
    unsigned probes;      /* probes that failed since it opened */
} fg_wh_breaker_t;

/* What an outcome did to the breaker. */
typedef enum {
    FG_WH_BREAKER_SAME = 0,
    FG_WH_BREAKER_OPENED, /* it was closed and has opened now */
    FG_WH_BREAKER_CLOSED_AGAIN,
} fg_wh_breaker_change_t;

/** A closed breaker. */
void fg_wh_breaker_init(fg_wh_breaker_t *b);

/**
 * How many attempts may start now: -1 (no limit of the breaker's: it is closed), 1 (open and its
 * probe is due: the caller sends one and calls fg_wh_breaker_probe_sent), or 0.
 */
int fg_wh_breaker_admits(const fg_wh_breaker_t *b, int64_t now_ms);

/** The probe fg_wh_breaker_admits allowed has gone out. */
void fg_wh_breaker_probe_sent(fg_wh_breaker_t *b);

/**
 * Records an attempt's outcome (probe: it was the breaker's probe). not_before_ms is the
 * earliest next probe the endpoint asked for (Retry-After), or 0; u is uniform in [0, 1) for the
 * jitter. Returns the change it made.
 */
fg_wh_breaker_change_t fg_wh_breaker_record(fg_wh_breaker_t *b, const fg_wh_breaker_config_t *cfg,
                                            bool ok, bool probe, int64_t now_ms,
                                            int64_t not_before_ms, double u);

#endif
