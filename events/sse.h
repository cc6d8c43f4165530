/*
 * sse.h - Server-Sent Events framing (WHATWG HTML "Server-sent events").
 *
 * A frame is "id: …\nevent: …\n" followed by one "data: " line per line of the payload and a
 * blank line. CR, LF and CRLF inside the payload each end a line, so the payload is split there
 * (a browser joins the data lines back with LF). Pure functions, any thread.
 */
#ifndef FG_EVENTS_SSE_H
#define FG_EVENTS_SSE_H

#include "events/buf.h"

#include <stddef.h>

/** Bytes fg_sse_frame_write will produce. id and event may be NULL (line omitted). */
size_t fg_sse_frame_len(const char *id, const char *event, const char *data, size_t len);

/**
 * Writes the frame into out (at least fg_sse_frame_len bytes; no NUL is added) and returns the
 * bytes written. CR and LF in id or event are dropped: they would end the field early.
 */
size_t fg_sse_frame_write(char *out, const char *id, const char *event, const char *data,
                          size_t len);

/** Appends a frame to b. Returns FG_OK or the fg_buf_append error, b unchanged on error. */
int fg_sse_append_frame(fg_buf_t *b, const char *id, const char *event, const char *data,
                        size_t len);

/** Appends ": text\n\n" (a comment, ignored by clients; used for heartbeats). */
int fg_sse_append_comment(fg_buf_t *b, const char *text);

/** Appends "retry: ms\n\n" (the reconnection delay hint). */
int fg_sse_append_retry(fg_buf_t *b, unsigned ms);

#endif
