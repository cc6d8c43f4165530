/*
 * runview_logtext.c - a stored log line as the log pages give it (runview.h): a text line
 * "[step] [stream] line", or a JSON page entry ({"seq":…, then the event's members}), with the
 * line's terminal escape sequences kept or removed. No store access; any thread.
 */
#include "events/ansi.h"
#include "events/runview.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int fg_runview_log_text(fg_buf_t *out, const char *step, const char *stream, const char *line,
                        size_t line_len)
{
    int rc = FG_OK;
    const char *p = line, *end = line + line_len;
    do {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        size_t len = (size_t)(stop - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        rc |= fg_buf_printf(out, "[%s] [%s] ", step, stream);
        rc |= fg_buf_append(out, p, len);
        rc |= fg_buf_puts(out, "\n");
        p = nl ? nl + 1 : end;
    } while (p < end);
    return rc ? FG_ERR_TOO_LARGE : FG_OK;
}

int fg_runview_log_event_text(fg_buf_t *out, const char *json, size_t len, const char *step_id,
                              unsigned streams, bool strip)
{
    json_t *obj = json_loadb(json, len, 0, NULL);
    const char *step = json_string_value(json_object_get(obj, "step_id"));
    const char *name = json_string_value(json_object_get(obj, "step_name"));
    json_t *stream = json_object_get(obj, "stream"), *line = json_object_get(obj, "line");
    int rc = FG_OK;
    if (json_is_string(stream) && json_is_string(line) &&
        (step_id == NULL || (step && strcasecmp(step, step_id) == 0)) &&
        (streams == 0 ||
         (streams & fg_log_stream_bit(json_string_value(stream), json_string_length(stream))))) {
        size_t n = json_string_length(line);
        char *copy = strip ? malloc(n + 1) : NULL;
        if (strip && copy == NULL) {
            rc = FG_ERR_NOMEM;
        } else {
            if (copy != NULL) {
                memcpy(copy, json_string_value(line), n);
                n = fg_ansi_strip(copy, n);
            }
            rc = fg_runview_log_text(out, name ? name : "?", json_string_value(stream),
                                     copy ? copy : json_string_value(line), n);
            free(copy);
        }
    }
    json_decref(obj);
    return rc;
}

/* FG_OK when the views know the run, else FG_ERR_NOT_FOUND (recorded in q). */

/* Appends a stored log_line event as a JSON page entry ({"seq":…, then its members}) with its
 * line's terminal escape sequences removed. */
static int json_stripped(fg_buf_t *out, size_t n, uint64_t seq, const char *body, size_t blen)
{
    json_t *obj = json_loadb(body, blen, 0, NULL), *line = json_object_get(obj, "line");
    if (!json_is_object(obj)) {
        json_decref(obj);
        return FG_OK;
    }
    int rc = FG_OK;
    if (json_is_string(line)) {
        size_t len = json_string_length(line);
        char *copy = malloc(len + 1);
        if (copy == NULL) {
            json_decref(obj);
            return FG_ERR_NOMEM;
        }
        memcpy(copy, json_string_value(line), len);
        len = fg_ansi_strip(copy, len);
        if (json_string_setn(line, copy, len) != 0)
            rc = FG_ERR_NOMEM;
        free(copy);
    }
    char *s = rc == FG_OK ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(obj);
    if (s == NULL)
        return FG_ERR_NOMEM;
    rc = fg_buf_printf(out, "%s{\"seq\":%" PRIu64 ",", n ? "," : "", seq);
    rc |= fg_buf_puts(out, s + 1);
    free(s);
    return rc == FG_OK ? FG_OK : FG_ERR_TOO_LARGE;
}

int fg_runview_log_entry(fg_buf_t *out, size_t n, uint64_t seq, const char *body, size_t blen,
                         bool text, bool strip)
{
    if (text)
        return fg_runview_log_event_text(out, body, blen, NULL, 0, strip);
    if (strip)
        return json_stripped(out, n, seq, body, blen);
    if (blen < 2 || body[0] != '{')
        return FG_OK;
    /* The stored event as it is, with its seq first: no parsing, no re-encoding. */
    int rc = fg_buf_printf(out, "%s{\"seq\":%" PRIu64 ",", n ? "," : "", seq);
    rc |= fg_buf_append(out, body + 1, blen - 1);
    return rc == FG_OK ? FG_OK : FG_ERR_TOO_LARGE;
}
