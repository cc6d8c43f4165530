/*
 * transitions.c - the run status transition table. Pure functions.
 */
#include "events/transitions.h"

#include <string.h>

static const char *names[FG_RUN_STATUS_COUNT] = {
    "pending", "running", "completed", "failed", "retrying", "cancelled", "awaiting_approval",
};

#define B(s) (1u << (s))
/* allowed[from] is the set of statuses `from` may change to. */
static const unsigned allowed[FG_RUN_STATUS_COUNT] = {
    [FG_RUN_PENDING] = B(FG_RUN_RUNNING) | B(FG_RUN_CANCELLED),
    [FG_RUN_RUNNING] = B(FG_RUN_COMPLETED) | B(FG_RUN_FAILED) | B(FG_RUN_RETRYING) |
                       B(FG_RUN_CANCELLED) | B(FG_RUN_AWAITING_APPROVAL),
    [FG_RUN_RETRYING] = B(FG_RUN_RUNNING) | B(FG_RUN_FAILED) | B(FG_RUN_CANCELLED),
    [FG_RUN_AWAITING_APPROVAL] = B(FG_RUN_RUNNING) | B(FG_RUN_FAILED) | B(FG_RUN_CANCELLED),
    [FG_RUN_COMPLETED] = B(FG_RUN_COMPLETED),
    [FG_RUN_FAILED] = B(FG_RUN_FAILED),
    [FG_RUN_CANCELLED] = B(FG_RUN_CANCELLED),
};

int fg_run_status_parse(const char *s, size_t len)
{
    for (int i = 0; i < FG_RUN_STATUS_COUNT; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return i;
    }
    return -1;
}

const char *fg_run_status_name(fg_run_status_t st)
{
    return (unsigned)st < FG_RUN_STATUS_COUNT ? names[st] : "unknown";
}

bool fg_run_status_terminal(fg_run_status_t st)
{
    return st == FG_RUN_COMPLETED || st == FG_RUN_FAILED || st == FG_RUN_CANCELLED;
}

bool fg_transition_allowed(fg_run_status_t from, fg_run_status_t to)
{
    if ((unsigned)from >= FG_RUN_STATUS_COUNT || (unsigned)to >= FG_RUN_STATUS_COUNT)
        return false;
    return (allowed[from] & B(to)) != 0;
}
