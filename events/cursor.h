/*
 * cursor.h - stream cursors. A cursor is the sequence number of the last event a client saw
 * (the SSE id). Pure functions.
 */
#ifndef FG_EVENTS_CURSOR_H
#define FG_EVENTS_CURSOR_H

#include <stddef.h>
#include <stdint.h>

/**
 * Parses a cursor: 1 to 20 ASCII digits, no sign, no spaces, no leading zeros except "0", at most
 * 2^63-1. Returns FG_OK and sets *out, or FG_ERR_INVALID leaving *out unchanged.
 */
int fg_cursor_parse(const char *s, size_t len, uint64_t *out);

#endif
