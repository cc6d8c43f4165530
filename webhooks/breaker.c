/*
 * breaker.c - an endpoint's circuit breaker (see breaker.h). Pure; the dispatcher thread.
 */
#include "webhooks/breaker.h"

#include <string.h>

void fg_wh_breaker_init(fg_wh_breaker_t *b)
{
    memset(b, 0, sizeof(*b));
    b->state = FG_WH_BREAKER_CLOSED;
}

int fg_wh_breaker_admits(const fg_wh_breaker_t *b, int64_t now_ms)
{
    switch (b->state) {
    case FG_WH_BREAKER_CLOSED:
        return -1;
    case FG_WH_BREAKER_OPEN:
        return now_ms >= b->probe_at_ms ? 1 : 0;
    case FG_WH_BREAKER_PROBING:
        return 0;
    }
    return 0;
}

void fg_wh_breaker_probe_sent(fg_wh_breaker_t *b)
{
    if (b->state == FG_WH_BREAKER_OPEN)
        b->state = FG_WH_BREAKER_PROBING;
}

/* The wait w varied by ±jitter. */
static int64_t jittered(int64_t w, double jitter, double u)
{
    return (int64_t)((double)w * (1.0 + jitter * (2.0 * u - 1.0)));
}

/* (Re)arms the next probe after a wait of b->wait_ms, and no earlier than not_before_ms. */
static void arm(fg_wh_breaker_t *b, const fg_wh_breaker_config_t *cfg, int64_t now_ms,
                int64_t not_before_ms, double u)
{
    b->state = FG_WH_BREAKER_OPEN;
    b->probe_at_ms = now_ms + jittered(b->wait_ms, cfg->jitter, u);
    if (not_before_ms > b->probe_at_ms)
        b->probe_at_ms = not_before_ms;
}

fg_wh_breaker_change_t fg_wh_breaker_record(fg_wh_breaker_t *b, const fg_wh_breaker_config_t *cfg,
                                            bool ok, bool probe, int64_t now_ms,
                                            int64_t not_before_ms, double u)
{
    if (ok) {
        bool was_open = b->state != FG_WH_BREAKER_CLOSED;
        fg_wh_breaker_init(b);
        return was_open ? FG_WH_BREAKER_CLOSED_AGAIN : FG_WH_BREAKER_SAME;
    }
    switch (b->state) {
    case FG_WH_BREAKER_CLOSED:
        b->consecutive++;
        if (cfg->failures == 0 || b->consecutive < cfg->failures)
            return FG_WH_BREAKER_SAME;
        b->wait_ms = cfg->probe_ms;
        b->opened_at_ms = now_ms;
        b->probes = 0;
        arm(b, cfg, now_ms, not_before_ms, u);
        return FG_WH_BREAKER_OPENED;
    case FG_WH_BREAKER_OPEN:
        /* an attempt that was in flight when it opened: the probe schedule stands */
        return FG_WH_BREAKER_SAME;
    case FG_WH_BREAKER_PROBING:
        if (!probe)
            return FG_WH_BREAKER_SAME;
        b->probes++;
        b->wait_ms = b->wait_ms * 2 > cfg->probe_max_ms ? cfg->probe_max_ms : b->wait_ms * 2;
        arm(b, cfg, now_ms, not_before_ms, u);
        return FG_WH_BREAKER_SAME;
    }
    return FG_WH_BREAKER_SAME;
}
