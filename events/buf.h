/*
 * buf.h - a growable byte buffer with a hard cap (curl's rule: every buffer a client can grow
 * fails with "too large" instead of growing without bound). Caller allocates (init/dispose).
 */
#ifndef FG_EVENTS_BUF_H
#define FG_EVENTS_BUF_H

#include <stddef.h>

typedef struct {
    char *data;   /* NUL-terminated when len > 0 or after any append; owned */
    size_t len;   /* bytes used, excluding the terminating NUL */
    size_t cap;   /* bytes allocated */
    size_t limit; /* appends that would make len exceed this fail with FG_ERR_TOO_LARGE */
} fg_buf_t;

/** Initialises an empty buffer that may grow to limit bytes (0 = 1 GiB). */
void fg_buf_init(fg_buf_t *b, size_t limit);

/** Frees the memory; the buffer may be initialised again. */
void fg_buf_dispose(fg_buf_t *b);

/** Appends bytes. On error (FG_ERR_TOO_LARGE, FG_ERR_NOMEM) the buffer is unchanged. */
int fg_buf_append(fg_buf_t *b, const void *p, size_t n);

/** Appends a C string. */
int fg_buf_puts(fg_buf_t *b, const char *s);

/** Appends formatted text. */
int fg_buf_printf(fg_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Appends s as a JSON string literal (with quotes), escaping as RFC 8259 requires. */
int fg_buf_json_string(fg_buf_t *b, const char *s, size_t n);

/** Hands the memory to the caller (free() it) and leaves the buffer empty. */
char *fg_buf_steal(fg_buf_t *b, size_t *len);

#endif
