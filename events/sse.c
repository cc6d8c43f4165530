/*
 * sse.c - SSE frame encoding. Pure functions.
 */
#include "events/sse.h"
#include "events/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of a field value with CR/LF removed. */
static size_t field_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += (*s != '\r' && *s != '\n');
    return n;
}

static size_t field_write(char *out, const char *name, const char *value)
{
    size_t n = strlen(name);
    memcpy(out, name, n);
    out[n++] = ':';
    out[n++] = ' ';
    for (; *value; value++) {
        if (*value != '\r' && *value != '\n')
            out[n++] = *value;
    }
    out[n++] = '\n';
    return n;
}

/* Calls emit for each line of data; CRLF, CR and LF each end a line. Returns the line count. */
static size_t count_lines(const char *data, size_t len, size_t *breaks_bytes)
{
    size_t lines = 1, skipped = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\r') {
            lines++;
            skipped++;
            if (i + 1 < len && data[i + 1] == '\n') {
                i++;
                skipped++;
            }
        } else if (data[i] == '\n') {
            lines++;
            skipped++;
        }
    }
    *breaks_bytes = skipped;
    return lines;
}

size_t fg_sse_frame_len(const char *id, const char *event, const char *data, size_t len)
{
    size_t n = 0;
    if (id != NULL)
        n += 4 + field_len(id) + 1; /* "id: " value "\n" */
    if (event != NULL)
        n += 7 + field_len(event) + 1;
    size_t breaks;
    size_t lines = count_lines(data, len, &breaks);
    n += lines * 7 + (len - breaks); /* "data: " + "\n" per line, payload without breaks */
    return n + 1;                    /* the blank line */
}

size_t fg_sse_frame_write(char *out, const char *id, const char *event, const char *data,
                          size_t len)
{
    size_t n = 0;
    if (id != NULL)
        n += field_write(out + n, "id", id);
    if (event != NULL)
        n += field_write(out + n, "event", event);
    memcpy(out + n, "data: ", 6);
    n += 6;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < len && data[i + 1] == '\n')
                i++;
            memcpy(out + n, "\ndata: ", 7);
            n += 7;
        } else {
            out[n++] = c;
        }
    }
    out[n++] = '\n';
    out[n++] = '\n';
    return n;
}

int fg_sse_append_frame(fg_buf_t *b, const char *id, const char *event, const char *data,
                        size_t len)
{
    size_t need = fg_sse_frame_len(id, event, data, len);
    char *tmp = malloc(need);
    if (tmp == NULL)
        return FG_ERR_NOMEM;
    size_t n = fg_sse_frame_write(tmp, id, event, data, len);
    int rc = fg_buf_append(b, tmp, n);
    free(tmp);
    return rc;
}

int fg_sse_append_comment(fg_buf_t *b, const char *text)
{
    size_t before = b->len;
    int rc = fg_buf_puts(b, ": ");
    for (const char *p = text; rc == FG_OK && *p; p++) {
        if (*p != '\r' && *p != '\n')
            rc = fg_buf_append(b, p, 1);
    }
    if (rc == FG_OK)
        rc = fg_buf_puts(b, "\n\n");
    if (rc != FG_OK)
        b->len = before;
    return rc;
}

int fg_sse_append_retry(fg_buf_t *b, unsigned ms)
{
    return fg_buf_printf(b, "retry: %u\n\n", ms);
}
