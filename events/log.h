/*
 * log.h - one line per event on stderr: time, level, event name and key=value fields.
 *
 *   2026-11-22T10:15:30.123Z level=info event=listening addr=127.0.0.1:8080
 *
 * Thread-safe: each line is written with one write(2). Never log secrets or tokens.
 */
#ifndef FG_EVENTS_LOG_H
#define FG_EVENTS_LOG_H

#include <stdbool.h>

typedef enum {
    FG_LOG_DEBUG = 0, /* per request */
    FG_LOG_INFO = 1,  /* lifecycle */
    FG_LOG_WARN = 2,  /* something a client or operator did wrong, the server goes on */
    FG_LOG_ERROR = 3, /* something failed on our side */
} fg_log_level_t;

/** Sets the lowest level written. Call before starting threads. */
void fg_log_set_level(fg_log_level_t level);

/** True when lines at this level are written (to skip building expensive fields). */
bool fg_log_enabled(fg_log_level_t level);

/** Parses "debug", "info", "warn", "error". Returns 0, or FG_ERR_INVALID leaving *out as is. */
int fg_log_parse_level(const char *s, fg_log_level_t *out);

/** Writes one line: event is a short snake_case name, fmt adds " key=value" fields (may be ""). */
void fg_log(fg_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
