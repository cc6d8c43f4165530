/*
 * stream_params.c - what a stream request asks for: its filter (query parameters, the run in the
 * path) and its cursor (Last-Event-ID, or last_event_id for clients that cannot send the header;
 * else where last=N or since=… start its history).
 */
#include "events/cursor.h"
#include "events/timefmt.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"
#include "gateway/params.h"

#include <stdio.h>
#include <string.h>

#define LAST_MAX 10000 /* last=N at most */

/* The cursor and history parameters: last_event_id (for clients that cannot send the header),
 * last=N (the newest N matching events first) and since=RFC 3339 (those received since then). */
typedef struct {
    const char *value;
    size_t len;
    uint64_t last; /* 0: not asked */
    int64_t since_us;
    bool has_since;
} cursor_param_t;

static int cursor_param(h2o_req_t *req, void *ctx, const char *name, const char *value, size_t vlen)
{
    cursor_param_t *q = ctx;
    char shown[48];
    snprintf(shown, sizeof(shown), "%.*s", (int)(vlen < 40 ? vlen : 40), value);
    for (char *p = shown; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';
    if (strcmp(name, "last_event_id") == 0) {
        q->value = value;
        q->len = vlen;
    } else if (strcmp(name, "last") == 0) {
        if (fg_cursor_parse(value, vlen, &q->last) != FG_OK || q->last == 0 || q->last > LAST_MAX) {
            fg_http_limit_error(req, 400, "invalid_last",
                                "last must be a whole number of events from 1 to 10000", "last",
                                LAST_MAX, -1);
            return -1;
        }
    } else if (strcmp(name, "since") == 0) {
        if (!fg_time_parse(value, vlen, &q->since_us)) {
            fg_http_error(req, 400, "invalid_since", "since must be an RFC 3339 timestamp", "since",
                          shown, -1);
            return -1;
        }
        q->has_since = true;
    }
    return 0;
}

/* History on subscribe: the cursor from last and since (the later start when both). */
static int history_cursor(h2o_req_t *req, const fg_filter_t *f, const cursor_param_t *q,
                          uint64_t *cursor)
{
    fg_loop_t *l = fg_loop_of(req);
    uint64_t upto = l->hub.high_seq, a = 0, b = 0;
    int rc =
        q->last ? fg_store_start_of_last(l->reader, l->server->cat, f, upto, q->last, &a) : FG_OK;
    if (rc == FG_OK && q->has_since)
        rc = fg_store_start_of_since(l->reader, q->since_us, upto, &b);
    if (rc != FG_OK) {
        fg_http_fail(req, rc, "the history could not be read");
        return -1;
    }
    *cursor = a > b ? a : b;
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
    cursor_param_t q = {0};
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
    } else if (q.last || q.has_since) {
        /* a reconnecting client's Last-Event-ID wins: it resumes where it was */
        if (history_cursor(req, filter, &q, cursor) != 0)
            return -1;
        *has_cursor = true;
    }
    return 0;
}
