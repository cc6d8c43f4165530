/*
 * timefmt.h - RFC 3339 timestamps: strict parsing and UTC formatting. Pure functions.
 */
#ifndef FG_EVENTS_TIMEFMT_H
#define FG_EVENTS_TIMEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Microseconds since the Unix epoch (wall clock). */
int64_t fg_time_now_us(void);

/** Milliseconds from a monotonic clock. */
int64_t fg_time_mono_ms(void);

/** Microseconds from the same monotonic clock. */
int64_t fg_time_mono_us(void);

/**
 * Parses an RFC 3339 date-time ("2026-11-22T10:15:30.123456Z", "...+02:00"; 't'/'z' accepted).
 * Returns true and sets *us (when not NULL) to microseconds since the epoch, or false.
 */
bool fg_time_parse(const char *s, size_t len, int64_t *us);

/** Writes "YYYY-MM-DDTHH:MM:SS[.fff…]Z" with digits (0, 3 or 6) fractional digits; buf >= 32. */
void fg_time_format(int64_t us, char *buf, int digits);

#endif
