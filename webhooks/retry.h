/*
 * retry.h - when a failed delivery is tried again: the schedule (after the immediate attempt;
 * default 5s,5m,30m,2h,5h,10h,10h), its ±jitter, and the Retry-After header of 429/503 answers.
 * Pure functions, any thread.
 */
#ifndef FG_WEBHOOKS_RETRY_H
#define FG_WEBHOOKS_RETRY_H

#include "events/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FG_WH_SCHEDULE_MAX 32 /* retries in a schedule at most */

typedef struct {
    int64_t delays_ms[FG_WH_SCHEDULE_MAX]; /* delay before retry i (after failed attempt i+1) */
    size_t n;                              /* retries; attempt n+1 failing makes it dead */
    double jitter;                         /* 0.2 = each delay varies by ±20 % */
} fg_wh_schedule_t;

/** The default schedule: 5s,5m,30m,2h,5h,10h,10h with ±20 % jitter. */
void fg_wh_schedule_default(fg_wh_schedule_t *s);

/**
 * Parses a comma list of durations, each a positive integer with a unit: ms, s, m, h or d
 * ("5s,5m,30m"). An empty list means no retry. FG_OK or FG_ERR_INVALID (s unchanged).
 */
int fg_wh_schedule_parse(const char *spec, fg_wh_schedule_t *s);

/**
 * The delay before the next attempt after `failed` attempts have failed (1 = the immediate one),
 * with jitter from u, a uniform number in [0, 1). Returns -1 when the schedule is exhausted: the
 * delivery is dead.
 */
int64_t fg_wh_retry_delay_ms(const fg_wh_schedule_t *s, unsigned failed, double u);

/**
 * Parses a Retry-After value: delta-seconds, or an HTTP-date (IMF-fixdate, RFC 850 or asctime).
 * Sets *delay_s to the seconds from now_s (0 for a date in the past). FG_OK or FG_ERR_INVALID.
 */
int fg_wh_retry_after_parse(const char *v, size_t len, int64_t now_s, int64_t *delay_s);

#endif
