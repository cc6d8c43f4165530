/*
 * stream_params.c - what a stream request asks for: its filter (query parameters, the run in the
 * path) and its cursor (Last-Event-ID, or last_event_id for clients that cannot send the header).
 */
#include "events/cursor.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"
#include "gateway/params.h"

#include <stdio.h>
#include <string.h>

/* The last_event_id query parameter (for clients that cannot send the header). */
typedef struct {
    const char *value;
    size_t len;
} cursor_param_t;

static int cursor_param(h2o_req_t *req, void *ctx, const char *name, const char *value, size_t vlen)
{
    if (strcmp(name, "last_event_id") == 0)
        *(cursor_param_t *)ctx = (cursor_param_t){value, vlen};
    return 0;
}

int fg_stream_parse(h2o_req_t *req, fg_filter_t *filter, const char *run_id, size_t run_id_len,
                    bool *has_cursor, uint64_t *cursor)
{
    fg_server_t *srv = fg_loop_of(req)->server;
    fg_verr_t err;
    if (run_id != NULL && fg_filter_add_runs(filter, run_id, run_id_len, &err) != FG_OK) {
        fg_http_verr(req, 400, &err);
        return -1;
    }
    *has_cursor = false;
    cursor_param_t q = {NULL, 0};
    fg_params_t params = {
        .filter = filter, .run_in_path = run_id != NULL, .other = cursor_param, .ctx = &q};
    if (fg_params_walk(req, srv->cat, &params) != 0)
        return -1;
    const char *qcursor = q.value;
    size_t qcursor_len = q.len;
    /* The header wins: a reconnecting EventSource sends it, and keeps the original URL. */
    size_t hlen;
    const char *h = fg_http_header_by_name(req, "last-event-id", &hlen);
    const char *src = h ? h : qcursor;
    size_t srclen = h ? hlen : qcursor_len;
    if (src != NULL) {
        if (fg_cursor_parse(src, srclen, cursor) != FG_OK) {
            char shown[32];
            snprintf(shown, sizeof(shown), "%.*s", (int)(srclen < 24 ? srclen : 24), src);
            for (char *p = shown; *p; p++)
                if ((unsigned char)*p < 0x20)
                    *p = '?';
            fg_http_error(req, 400, "invalid_cursor",
                          "the cursor (Last-Event-ID or last_event_id) must be a sequence number",
                          h ? "Last-Event-ID" : "last_event_id", shown, -1);
            return -1;
        }
        *has_cursor = true;
    }
    return 0;
}
