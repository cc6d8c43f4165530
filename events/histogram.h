/*
 * histogram.h - a latency histogram for metrics: fixed buckets from 0.5 ms to 10 s, counters
 * any thread may add to (relaxed atomics), read as Prometheus cumulative buckets.
 */
#ifndef FG_EVENTS_HISTOGRAM_H
#define FG_EVENTS_HISTOGRAM_H

#include <stdatomic.h>
#include <stdint.h>

#define FG_HIST_BUCKETS 14

/* The upper bounds of the buckets, in microseconds (the last bucket, +Inf, is implicit). */
extern const int64_t fg_hist_bounds_us[FG_HIST_BUCKETS];

typedef struct {
    _Atomic uint64_t buckets[FG_HIST_BUCKETS + 1]; /* not cumulative; the last is +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
} fg_hist_t;

/** Records one observation (negative values count as 0). Any thread. */
void fg_hist_observe(fg_hist_t *h, int64_t us);

#endif
