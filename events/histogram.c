/*
 * histogram.c - latency histograms (see histogram.h).
 */
#include "events/histogram.h"

const int64_t fg_hist_bounds_us[FG_HIST_BUCKETS] = {500,     1000,    2500,    5000,    10000,
                                                    25000,   50000,   100000,  250000,  500000,
                                                    1000000, 2500000, 5000000, 10000000};

void fg_hist_observe(fg_hist_t *h, int64_t us)
{
    if (us < 0)
        us = 0;
    int i = 0;
    while (i < FG_HIST_BUCKETS && us > fg_hist_bounds_us[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)us, memory_order_relaxed);
}
