/*
 * logs_api.c - a run's log lines over HTTP (events/runview.h, events/logindex.h):
 *   GET /v1/runs/{run_id}/logs?step_id=&stream=&after=&limit=&ansi=&follow=
 *       log lines as JSON pages, or text ("[step] [stream] line"); follow=1 keeps the text
 *       coming like tail -f and ends once the run has finished.
 *   …&q=&regex=&exclude=&case=&since=&until=
 *       a search: the lines that hold q (case-insensitive for ASCII letters unless
 *       case=sensitive) and match regex (POSIX extended), none of the excludes, received in
 *       [since, until]; paged the same way, each with its seq (go on while next_after < last_seq).
 * Runs on the HTTP loop, on its store reader. A credential needs log_line, and one limited to
 * some runs sees only those.
 */
#include "events/logindex.h"
#include "events/runview.h"
#include "events/timefmt.h"
#include "events/transitions.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"
#include "gateway/logs_http.h"
#include "gateway/runs_http.h"

#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_stream(void *ctx, const char *p, size_t n)
{
    unsigned bit = fg_log_stream_bit(p, n);
    if (bit == 0)
        return -1;
    *(unsigned *)ctx |= bit;
    return 0;
}

/* What a followed log shows: lines of the wanted step and streams, until the run finishes. */
typedef struct {
    char step_id[FG_UUID_LEN + 1]; /* "" for every step */
    unsigned streams;              /* 0: all */
    bool strip;                    /* terminal escape sequences removed */
} follow_t;

static int render_line(void *ctx, const fg_event_t *ev, fg_buf_t *out)
{
    const follow_t *fw = ctx;
    if (ev->type_idx == FG_EV_LOG_LINE)
        return fg_runview_log_event_text(out, ev->json, ev->json_len,
                                         fw->step_id[0] ? fw->step_id : NULL, fw->streams,
                                         fw->strip) == FG_OK
                   ? 0
                   : -1;
    if (ev->type_idx != FG_EV_RUN_STATUS_CHANGED)
        return 0;
    json_t *obj = json_loadb(ev->json, ev->json_len, 0, NULL), *to = json_object_get(obj, "to");
    int st = fg_run_status_parse(json_string_value(to), json_string_length(to));
    json_decref(obj);
    return st >= 0 && fg_run_status_terminal((fg_run_status_t)st) ? 1 : 0;
}

/* True when the Accept header asks for text and not JSON. */
bool fg_logs_wants_text(h2o_req_t *req, bool follow)
{
    size_t n;
    const char *a = fg_http_header_by_name(req, "accept", &n);
    if (a == NULL)
        return follow;
    bool text = memmem(a, n, "text/plain", 10) != NULL, json = memmem(a, n, "json", 4) != NULL;
    bool any = memmem(a, n, "*/*", 3) != NULL || memmem(a, n, "text/*", 6) != NULL;
    return (text && !json) || (follow && (text || any));
}

int fg_logs_param(h2o_req_t *req, void *ctx, const char *name, const char *value, size_t vlen)
{
    fg_logs_params_t *p = ctx;
    if (strcmp(name, "step_id") == 0) {
        if (!fg_uuid_valid(value, vlen)) {
            fg_http_error(req, 400, "invalid_step_id", "step_id must be a uuid", "step_id", value,
                          -1);
            return -1;
        }
        for (size_t i = 0; i < FG_UUID_LEN; i++)
            p->step_id[i] = (char)tolower((unsigned char)value[i]);
        p->step_id[FG_UUID_LEN] = '\0';
        p->q->step_id = p->step_id;
    } else if (strcmp(name, "stream") == 0) {
        if (fg_runs_each_item(value, vlen, add_stream, &p->q->streams) != 0) {
            fg_http_error(req, 400, "invalid_stream",
                          "stream must be a comma list of stdout, stderr, system", "stream", value,
                          -1);
            return -1;
        }
    } else if (strcmp(name, "ansi") == 0) {
        if (strcmp(value, "keep") != 0 && strcmp(value, "strip") != 0) {
            fg_http_error(req, 400, "invalid_ansi", "ansi must be keep or strip", "ansi", value,
                          -1);
            return -1;
        }
        p->ansi = strcmp(value, "strip") == 0;
    } else if (strcmp(name, "q") == 0 || strcmp(name, "regex") == 0) {
        if (vlen == 0) {
            fg_http_error(req, 400, name[0] == 'q' ? "invalid_q" : "invalid_regex",
                          "the search must not be empty", name, "", -1);
            return -1;
        }
        h2o_iovec_t v = h2o_strdup(&req->pool, value, vlen);
        if (name[0] == 'q') {
            p->needle = v.base;
            p->needle_len = v.len;
        } else {
            p->regex = v.base;
        }
    } else if (strcmp(name, "exclude") == 0) {
        if (vlen == 0 || p->nexclude == FG_LOGSEARCH_MAX_EXCLUDES) {
            fg_http_error(req, 400, "invalid_exclude",
                          vlen ? "at most 8 exclude parameters" : "exclude must not be empty",
                          "exclude", value, -1);
            return -1;
        }
        p->exclude[p->nexclude++] = h2o_strdup(&req->pool, value, vlen).base;
    } else if (strcmp(name, "case") == 0) {
        if (strcmp(value, "sensitive") != 0 && strcmp(value, "insensitive") != 0) {
            fg_http_error(req, 400, "invalid_case", "case must be sensitive or insensitive", "case",
                          value, -1);
            return -1;
        }
        p->case_sensitive = value[0] == 's';
    } else if (strcmp(name, "since") == 0 || strcmp(name, "until") == 0) {
        bool since = name[0] == 's';
        if (!fg_time_parse(value, vlen, since ? &p->since_us : &p->until_us)) {
            fg_http_error(req, 400, since ? "invalid_since" : "invalid_until",
                          since ? "since must be an RFC 3339 timestamp"
                                : "until must be an RFC 3339 timestamp",
                          name, value, -1);
            return -1;
        }
        *(since ? &p->has_since : &p->has_until) = true;
    } else if (strcmp(name, "follow") == 0) {
        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0) {
            p->follow = true;
        } else if (strcmp(value, "0") != 0 && strcmp(value, "false") != 0) {
            fg_http_error(req, 400, "invalid_follow", "follow must be 1, true, 0 or false",
                          "follow", value, -1);
            return -1;
        }
    }
    return 0;
}

bool fg_logs_searching(const fg_logs_params_t *p)
{
    return p->needle != NULL || p->regex != NULL || p->nexclude > 0 || p->has_since || p->has_until;
}

/* Sends a page built as JSON or as text (x-next-after carries the cursor). */
static void send_page(h2o_req_t *req, const fg_logs_query_t *q, fg_buf_t *b, uint64_t next)
{
    if (!q->text) {
        fg_http_json(req, 200, b->data, b->len);
        return;
    }
    char nx[24];
    int w = snprintf(nx, sizeof(nx), "%llu", (unsigned long long)next);
    h2o_iovec_t v = h2o_strdup(&req->pool, nx, (size_t)w);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-next-after"), 0, NULL,
                          v.base, v.len);
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; charset=utf-8"));
    h2o_iovec_t body = h2o_strdup(&req->pool, b->data ? b->data : "", b->len);
    req->res.content_length = body.len;
    h2o_send_inline(req, body.base, body.len);
}

/* A search page (the parameters checked, the credential narrowed). */
static void search(h2o_req_t *req, fg_logs_query_t *q, const fg_logs_params_t *p)
{
    fg_loop_t *l = fg_loop_of(req);
    fg_logsearch_t s = {.logs = *q,
                        .q = p->needle,
                        .q_len = p->needle_len,
                        .nexclude = p->nexclude,
                        .case_sensitive = p->case_sensitive,
                        .index = l->server->logindex};
    memcpy(s.exclude, p->exclude, sizeof(s.exclude));
    regex_t re;
    if (p->regex != NULL) {
        int rc =
            regcomp(&re, p->regex, REG_EXTENDED | REG_NOSUB | (p->case_sensitive ? 0 : REG_ICASE));
        if (rc != 0) {
            char why[160], msg[224];
            regerror(rc, &re, why, sizeof(why));
            snprintf(msg, sizeof(msg), "regex is not a POSIX extended regular expression: %s", why);
            fg_http_error(req, 400, "invalid_regex", msg, "regex", p->regex, -1);
            return;
        }
        s.regex = &re;
        s.regex_text = p->regex;
    }
    uint64_t top, purged;
    int rc = fg_store_reader_bounds(l->reader, &top, &purged);
    if (rc == FG_OK && p->has_since) {
        uint64_t from;
        rc = fg_store_start_of_since(l->reader, p->since_us, top, &from);
        if (from > s.logs.after)
            s.logs.after = from;
    }
    if (rc == FG_OK && p->has_until) {
        uint64_t upto; /* the last event received at or before until */
        rc = fg_store_start_of_since(l->reader, p->until_us + 1, top, &upto);
        s.upto = upto > 0 ? upto : 1; /* nothing before it: an empty range */
        if (upto == 0 && s.logs.after < 1)
            s.logs.after = 1;
    }
    fg_buf_t b;
    fg_buf_init(&b, FG_RUNS_MAX_BODY);
    uint64_t next = 0;
    if (rc == FG_OK)
        rc = fg_logsearch(l->reader, &s, &b, &next);
    if (p->regex != NULL)
        regfree(&re);
    if (rc == FG_OK)
        send_page(req, q, &b, next);
    else
        fg_runs_answer(req, rc, &b, q->run_id);
    fg_buf_dispose(&b);
}

int fg_run_logs_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t run)
{
    const char *s = run.base;
    size_t len = run.len;
    fg_loop_t *l = fg_loop_of(req);
    char run_id[FG_UUID_LEN + 1];
    if (fg_runs_path_run(req, s, len, run_id) != 0)
        return 0;
    fg_logs_query_t q = {.run_id = run_id, .limit = 100};
    fg_logs_params_t params = {.q = &q, .ansi = -1};
    if (fg_runs_walk_query(req, &q.limit, &q.after, fg_logs_param, &params) != 0)
        return 0;
    bool follow = params.follow;
    q.text = fg_logs_wants_text(req, follow);
    q.strip_ansi = params.ansi < 0 ? q.text : params.ansi == 1;
    if (follow && !q.text) {
        fg_http_error(req, 406, "not_acceptable",
                      "follow=1 streams text/plain; for JSON events use /v1/runs/{run_id}/stream",
                      "Accept", "application/json", -1);
        return 0;
    }
    fg_filter_t f;
    fg_filter_init(&f);
    if (fg_runs_narrow(req, who, "log_line", run_id, &f) != 0) {
        fg_filter_dispose(&f);
        return 0;
    }
    if (fg_logs_searching(&params)) {
        fg_filter_dispose(&f);
        if (follow)
            fg_http_error(req, 400, "invalid_follow",
                          "follow=1 does not take a search (q, regex, exclude, since, until)",
                          "follow", "1", -1);
        else
            search(req, &q, &params);
        return 0;
    }
    /* The page: history up to now. Following, it is the first part of the stream instead. */
    fg_buf_t b;
    fg_buf_init(&b, FG_RUNS_MAX_BODY);
    uint64_t next;
    int rc = follow ? fg_runview_run_known(l->reader, run_id)
                    : fg_runview_logs(l->reader, &q, &b, &next);
    if (rc != FG_OK || !follow) {
        if (rc == FG_OK)
            send_page(req, &q, &b, next);
        else
            fg_runs_answer(req, rc, &b, run_id);
        fg_buf_dispose(&b);
        fg_filter_dispose(&f);
        return 0;
    }
    fg_buf_dispose(&b);
    /* Following: every line after `after`, then live, until the run ends. The run's status
     * changes tell the end, when the credential may see them. */
    fg_server_t *srv = l->server;
    fg_verr_t err;
    if (who == NULL || fg_filter_type_ok(&who->allow, FG_EV_RUN_STATUS_CHANGED))
        fg_filter_add_types(&f, srv->cat, "run_status_changed", 18, &err);
    follow_t *fw = h2o_mem_alloc_pool(&req->pool, sizeof(*fw));
    memcpy(fw->step_id, params.step_id, sizeof(fw->step_id));
    fw->streams = q.streams;
    fw->strip = q.strip_ansi;
    fg_stream_text_t *text = h2o_mem_alloc_pool(&req->pool, sizeof(*text));
    text->render = render_line;
    text->ctx = fw;
    return fg_stream_text(req, who, &f, q.after, text);
}
