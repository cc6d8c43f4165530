/*
 * transitions.h - ironflow's run status machine (DESIGN.md, notes/event-catalog.md).
 */
#ifndef FG_EVENTS_TRANSITIONS_H
#define FG_EVENTS_TRANSITIONS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    FG_RUN_PENDING = 0,
    FG_RUN_RUNNING,
    FG_RUN_COMPLETED,
    FG_RUN_FAILED,
    FG_RUN_RETRYING,
    FG_RUN_CANCELLED,
    FG_RUN_AWAITING_APPROVAL,
    FG_RUN_STATUS_COUNT
} fg_run_status_t;

/** Parses a status name; returns -1 when it is not one. */
int fg_run_status_parse(const char *s, size_t len);

/** The name of a status. */
const char *fg_run_status_name(fg_run_status_t st);

/** True for completed, failed and cancelled. */
bool fg_run_status_terminal(fg_run_status_t st);

/**
 * True when the engine allows from -> to. A terminal status "changing" to itself is a no-op and
 * allowed; any other self-transition is not.
 */
bool fg_transition_allowed(fg_run_status_t from, fg_run_status_t to);

#endif
