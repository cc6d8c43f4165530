/*
 * runs_api.c - the run views over HTTP (events/runview.h has the data):
 *   GET /v1/runs?status=&workflow=&limit=&after=      recent runs, newest first
 *   GET /v1/runs/{run_id}                              one run in full
 *   GET /v1/approvals?status=&run_id=&limit=&after=   approvals (default: pending), oldest first
 *   GET /v1/runs/{run_id}/logs?step_id=&stream=&after=&limit=&follow=
 *       log lines as JSON pages, or text ("[step] [stream] line"); follow=1 keeps the text
 *       coming like tail -f and ends once the run has finished.
 * Runs on the HTTP loop, on its store reader. A credential sees what its filter allows: the
 * run views need run_status_changed, the approvals approval_requested, the logs log_line, and a
 * credential limited to some runs sees only those.
 */
#include "events/cursor.h"
#include "events/log.h"
#include "events/runview.h"
#include "events/timefmt.h"
#include "events/transitions.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"
#include "gateway/params.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define DEFAULT_LIMIT 50
#define MAX_BODY (8u << 20) /* a page of 1,000 long log lines stays well under this */

/* Checks that the principal may see events of type `type` (and of run_id when not NULL). f gets
 * the principal's run list. Answers 403 and returns -1 when not. */
static int narrow(h2o_req_t *req, const fg_principal_t *who, const char *type, const char *run_id,
                  fg_filter_t *f)
{
    fg_server_t *srv = fg_loop_of(req)->server;
    fg_verr_t err;
    if (fg_filter_add_types(f, srv->cat, type, strlen(type), &err) != FG_OK ||
        (run_id != NULL && fg_filter_add_runs(f, run_id, strlen(run_id), &err) != FG_OK) ||
        (who != NULL && fg_auth_narrow(who, f, srv->cat, &err) != FG_OK)) {
        fg_http_verr(req, 403, &err);
        return -1;
    }
    return 0;
}

/* Walks the query string: the page (limit, after) as params.h takes it, every other parameter
 * to other. Returns 0, or -1 after answering 400. */
static int walk_query(h2o_req_t *req, size_t *limit, uint64_t *after,
                      int (*other)(h2o_req_t *req, void *ctx, const char *name, const char *value,
                                   size_t vlen),
                      void *ctx)
{
    fg_params_t p = {.after = after,
                     .limit = limit,
                     .max_limit = FG_RUNVIEW_MAX_LIMIT,
                     .other = other,
                     .ctx = ctx};
    return fg_params_walk(req, fg_loop_of(req)->server->cat, &p);
}

/* Answers the buffer built by a view query, or the error it ended with. */
static void answer(h2o_req_t *req, int rc, fg_buf_t *b, const char *run_id)
{
    if (rc == FG_OK)
        fg_http_json(req, 200, b->data, b->len);
    else if (rc == FG_ERR_NOT_FOUND)
        fg_http_error(req, 404, "run_not_found", "no event of this run is stored", "run_id", run_id,
                      -1);
    else if (rc == FG_ERR_NOMEM)
        fg_http_fail(req, FG_ERR_TOO_LARGE, "the event store could not be read");
    else
        fg_http_fail(req, rc, "the event store could not be read");
}

/* Copies a run id from the path, lowercased; answers 400 invalid_run_id when it is not one. */
static int path_run(h2o_req_t *req, const char *s, size_t len, char out[FG_UUID_LEN + 1])
{
    if (!fg_uuid_valid(s, len)) {
        char shown[64];
        snprintf(shown, sizeof(shown), "%.*s", (int)(len < 48 ? len : 48), s);
        for (char *p = shown; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                *p = '?';
        fg_http_error(req, 400, "invalid_run_id", "run_id must be a uuid other than the nil uuid",
                      "run_id", shown, -1);
        return -1;
    }
    for (size_t i = 0; i < FG_UUID_LEN; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[FG_UUID_LEN] = '\0';
    return 0;
}

/* Each item of a comma list, as (p, n); stops at the first cb returning non-zero. */
static int each_item(const char *list, size_t len, int (*cb)(void *ctx, const char *p, size_t n),
                     void *ctx)
{
    const char *p = list, *end = list + len;
    while (p <= end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        const char *stop = c ? c : end;
        int rc = cb(ctx, p, (size_t)(stop - p));
        if (rc != 0)
            return rc;
        p = stop + 1;
    }
    return 0;
}

static int add_status(void *ctx, const char *p, size_t n)
{
    int st = fg_run_status_parse(p, n);
    if (st < 0)
        return -1;
    *(unsigned *)ctx |= 1u << st;
    return 0;
}

static int add_state(void *ctx, const char *p, size_t n)
{
    int st = fg_approval_state_parse(p, n);
    if (st < 0)
        return -1;
    *(unsigned *)ctx |= 1u << st;
    return 0;
}

static int add_stream(void *ctx, const char *p, size_t n)
{
    unsigned bit = fg_log_stream_bit(p, n);
    if (bit == 0)
        return -1;
    *(unsigned *)ctx |= bit;
    return 0;
}

/* --- GET /v1/runs ----------------------------------------------------------------------------- */

typedef struct {
    fg_runs_query_t *q;
    fg_filter_t *flows;
} runs_params_t;

static int runs_param(h2o_req_t *req, void *ctx, const char *name, const char *value, size_t vlen)
{
    runs_params_t *p = ctx;
    fg_verr_t err;
    if (strcmp(name, "status") == 0 && each_item(value, vlen, add_status, &p->q->statuses) != 0) {
        fg_http_error(req, 400, "invalid_status",
                      "status must be a comma list of run statuses (pending, running, "
                      "completed, failed, retrying, cancelled, awaiting_approval)",
                      "status", value, -1);
        return -1;
    }
    if (strcmp(name, "workflow") == 0 &&
        fg_filter_add_workflows(p->flows, value, vlen, &err) != FG_OK) {
        fg_http_verr(req, 400, &err);
        return -1;
    }
    return 0;
}

int fg_runs_list_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param)
{
    fg_loop_t *l = fg_loop_of(req);
    fg_filter_t f, flows;
    fg_filter_init(&f);
    fg_filter_init(&flows);
    fg_runs_query_t q = {.limit = DEFAULT_LIMIT};
    runs_params_t params = {&q, &flows};
    if (walk_query(req, &q.limit, &q.before, runs_param, &params) != 0)
        goto done;
    if (narrow(req, who, "run_status_changed", NULL, &f) != 0)
        goto done;
    q.flows = (const char *const *)flows.workflows;
    q.nflows = flows.nworkflows;
    q.runs = (const char(*)[FG_UUID_LEN + 1]) f.runs;
    q.nruns = f.nruns;
    fg_buf_t b;
    fg_buf_init(&b, MAX_BODY);
    answer(req, fg_runview_list(l->reader, &q, &b), &b, NULL);
    fg_buf_dispose(&b);
done:
    fg_filter_dispose(&f);
    fg_filter_dispose(&flows);
    return 0;
}

/* --- GET /v1/runs/{run_id} -------------------------------------------------------------------- */

int fg_run_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t run)
{
    const char *s = run.base;
    size_t len = run.len;
    char run_id[FG_UUID_LEN + 1];
    if (path_run(req, s, len, run_id) != 0)
        return 0;
    fg_filter_t f;
    fg_filter_init(&f);
    if (narrow(req, who, "run_status_changed", run_id, &f) == 0) {
        fg_buf_t b;
        fg_buf_init(&b, MAX_BODY);
        answer(req, fg_runview_get(fg_loop_of(req)->reader, run_id, fg_time_now_us(), &b), &b,
               run_id);
        fg_buf_dispose(&b);
    }
    fg_filter_dispose(&f);
    return 0;
}

/* --- GET /v1/approvals ------------------------------------------------------------------------ */

typedef struct {
    fg_approvals_query_t *q;
    fg_filter_t *runs;
} approvals_params_t;

static int approvals_param(h2o_req_t *req, void *ctx, const char *name, const char *value,
                           size_t vlen)
{
    approvals_params_t *p = ctx;
    fg_verr_t err;
    if (strcmp(name, "status") == 0 && each_item(value, vlen, add_state, &p->q->states) != 0) {
        fg_http_error(req, 400, "invalid_status",
                      "status must be a comma list of pending, granted, rejected, withdrawn",
                      "status", value, -1);
        return -1;
    }
    if (strcmp(name, "run_id") == 0 && fg_filter_add_runs(p->runs, value, vlen, &err) != FG_OK) {
        fg_http_verr(req, 400, &err);
        return -1;
    }
    return 0;
}

int fg_approvals_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param)
{
    fg_filter_t f;
    fg_filter_init(&f);
    fg_approvals_query_t q = {.limit = 100};
    approvals_params_t params = {&q, &f};
    if (walk_query(req, &q.limit, &q.after, approvals_param, &params) != 0)
        goto done;
    if (narrow(req, who, "approval_requested", NULL, &f) != 0)
        goto done;
    q.runs = (const char(*)[FG_UUID_LEN + 1]) f.runs;
    q.nruns = f.nruns;
    fg_buf_t b;
    fg_buf_init(&b, MAX_BODY);
    answer(req, fg_runview_approvals(fg_loop_of(req)->reader, &q, fg_time_now_us(), &b), &b, NULL);
    fg_buf_dispose(&b);
done:
    fg_filter_dispose(&f);
    return 0;
}

/* --- GET /v1/runs/{run_id}/logs --------------------------------------------------------------- */

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
static bool wants_text(h2o_req_t *req, bool follow)
{
    size_t n;
    const char *a = fg_http_header_by_name(req, "accept", &n);
    if (a == NULL)
        return follow;
    bool text = memmem(a, n, "text/plain", 10) != NULL, json = memmem(a, n, "json", 4) != NULL;
    bool any = memmem(a, n, "*/*", 3) != NULL || memmem(a, n, "text/*", 6) != NULL;
    return (text && !json) || (follow && (text || any));
}

typedef struct {
    fg_logs_query_t *q;
    char step_id[FG_UUID_LEN + 1]; /* "" for every step */
    bool follow;
    int ansi; /* -1: not given (strip for text, keep for JSON), 0 keep, 1 strip */
} logs_params_t;

static int logs_param(h2o_req_t *req, void *ctx, const char *name, const char *value, size_t vlen)
{
    logs_params_t *p = ctx;
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
        if (each_item(value, vlen, add_stream, &p->q->streams) != 0) {
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

int fg_run_logs_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t run)
{
    const char *s = run.base;
    size_t len = run.len;
    fg_loop_t *l = fg_loop_of(req);
    char run_id[FG_UUID_LEN + 1];
    if (path_run(req, s, len, run_id) != 0)
        return 0;
    fg_logs_query_t q = {.run_id = run_id, .limit = 100};
    logs_params_t params = {.q = &q, .ansi = -1};
    if (walk_query(req, &q.limit, &q.after, logs_param, &params) != 0)
        return 0;
    bool follow = params.follow;
    q.text = wants_text(req, follow);
    q.strip_ansi = params.ansi < 0 ? q.text : params.ansi == 1;
    if (follow && !q.text) {
        fg_http_error(req, 406, "not_acceptable",
                      "follow=1 streams text/plain; for JSON events use /v1/runs/{run_id}/stream",
                      "Accept", "application/json", -1);
        return 0;
    }
    fg_filter_t f;
    fg_filter_init(&f);
    if (narrow(req, who, "log_line", run_id, &f) != 0) {
        fg_filter_dispose(&f);
        return 0;
    }
    /* The page: history up to now. Following, it is the first part of the stream instead. */
    fg_buf_t b;
    fg_buf_init(&b, MAX_BODY);
    uint64_t next;
    int rc = follow ? fg_runview_run_known(l->reader, run_id)
                    : fg_runview_logs(l->reader, &q, &b, &next);
    if (rc != FG_OK || !follow) {
        if (rc == FG_OK && q.text) {
            char nx[24];
            int w = snprintf(nx, sizeof(nx), "%llu", (unsigned long long)next);
            h2o_iovec_t v = h2o_strdup(&req->pool, nx, (size_t)w);
            h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-next-after"), 0,
                                  NULL, v.base, v.len);
            req->res.status = 200;
            req->res.reason = "OK";
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                           H2O_STRLIT("text/plain; charset=utf-8"));
            h2o_iovec_t body = h2o_strdup(&req->pool, b.data ? b.data : "", b.len);
            req->res.content_length = body.len;
            h2o_send_inline(req, body.base, body.len);
        } else {
            answer(req, rc, &b, run_id);
        }
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

/* --- GET /v1/runs/{run_id}/logs/download -------------------------------------------------------
 */

#define DL_PAGE 1000 /* lines read per send: memory stays bounded whatever the log's size */

/* A download in progress: a page of text per send, gzip'd when the client takes it. */
typedef struct {
    h2o_generator_t gen;
    fg_loop_t *loop;
    fg_logs_query_t q;
    char run_id[FG_UUID_LEN + 1], step_id[FG_UUID_LEN + 1];
    uint64_t upto;    /* the log as it was when the download began */
    fg_buf_t page;    /* the text (or its compressed form) being sent */
    bool gzip, zinit; /* z is live */
    z_stream z;
} dl_t;

static void dl_dispose(void *p)
{
    dl_t *d = p;
    fg_buf_dispose(&d->page);
    if (d->zinit)
        deflateEnd(&d->z);
}

/* Compresses in (len bytes; finish: the end) onto out. FG_OK or FG_ERR_NOMEM. */
static int dl_deflate(dl_t *d, const char *in, size_t len, bool finish, fg_buf_t *out)
{
    d->z.next_in = (Bytef *)in;
    d->z.avail_in = (uInt)len;
    for (;;) {
        char chunk[16384];
        d->z.next_out = (Bytef *)chunk;
        d->z.avail_out = sizeof(chunk);
        int zr = deflate(&d->z, finish ? Z_FINISH : Z_NO_FLUSH);
        if (zr == Z_STREAM_ERROR ||
            fg_buf_append(out, chunk, sizeof(chunk) - d->z.avail_out) != FG_OK)
            return FG_ERR_NOMEM;
        if (finish ? zr == Z_STREAM_END : d->z.avail_in == 0 && d->z.avail_out != 0)
            return FG_OK;
    }
}

/* Reads and sends the next page, the final one when the log (as it was) is all sent. */
static void dl_next(h2o_generator_t *gen, h2o_req_t *req)
{
    dl_t *d = H2O_STRUCT_FROM_MEMBER(dl_t, gen, gen);
    fg_buf_t text;
    fg_buf_init(&text, MAX_BODY);
    uint64_t next = d->q.after;
    int rc = fg_runview_logs(d->loop->reader, &d->q, &text, &next);
    bool last = rc != FG_OK || text.len == 0 || next <= d->q.after || next >= d->upto;
    if (rc != FG_OK) /* the response has begun: end it short (the client sees a cut download) */
        fg_log(FG_LOG_WARN, "log_download_cut", "run=%s rc=%d", d->run_id, rc);
    d->q.after = next;
    d->page.len = 0;
    if (d->gzip) {
        if (dl_deflate(d, text.data ? text.data : "", text.len, last, &d->page) != FG_OK)
            last = true;
    } else if (text.len > 0 && fg_buf_append(&d->page, text.data, text.len) != FG_OK) {
        last = true;
    }
    fg_buf_dispose(&text);
    h2o_iovec_t v = h2o_iovec_init(d->page.data ? d->page.data : "", d->page.len);
    h2o_send(req, &v, 1, last ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void dl_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)gen;
    (void)req;
}

/* True when Accept-Encoding takes gzip (q=0 refuses it). */
static bool takes_gzip(h2o_req_t *req)
{
    size_t n;
    const char *a = fg_http_header(req, H2O_TOKEN_ACCEPT_ENCODING, &n);
    const char *g = a ? memmem(a, n, "gzip", 4) : NULL;
    if (g == NULL)
        return false;
    const char *end = a + n, *q = g + 4;
    while (q < end && *q == ' ')
        q++;
    return !(end - q >= 4 && memcmp(q, ";q=0", 4) == 0 &&
             (end - q == 4 || q[4] == ',' ||
              (end - q >= 6 && memcmp(q + 4, ".0", 2) == 0 && (end - q == 6 || q[6] == ','))));
}

int fg_run_logs_download_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t run)
{
    fg_loop_t *l = fg_loop_of(req);
    char run_id[FG_UUID_LEN + 1];
    if (path_run(req, run.base, run.len, run_id) != 0)
        return 0;
    dl_t *d = h2o_mem_alloc_shared(&req->pool, sizeof(*d), dl_dispose);
    memset(d, 0, sizeof(*d));
    fg_buf_init(&d->page, 0);
    memcpy(d->run_id, run_id, sizeof(run_id));
    d->q = (fg_logs_query_t){.run_id = d->run_id, .limit = DL_PAGE, .text = true};
    logs_params_t params = {.q = &d->q, .ansi = -1};
    size_t limit = DL_PAGE;
    uint64_t after = 0;
    if (walk_query(req, &limit, &after, logs_param, &params) != 0)
        return 0;
    d->q.after = after;                 /* a download may begin after a line already had */
    d->q.strip_ansi = params.ansi != 0; /* a text file: stripped unless asked to keep them */
    if (params.step_id[0] != '\0') {
        memcpy(d->step_id, params.step_id, sizeof(d->step_id));
        d->q.step_id = d->step_id;
    }
    fg_filter_t f;
    fg_filter_init(&f);
    int bad = narrow(req, who, "log_line", run_id, &f);
    fg_filter_dispose(&f);
    if (bad != 0)
        return 0;
    int rc = fg_runview_run_known(l->reader, run_id);
    uint64_t purged;
    if (rc == FG_OK)
        rc = fg_store_reader_bounds(l->reader, &d->upto, &purged);
    if (rc != FG_OK) {
        answer(req, rc, NULL, run_id);
        return 0;
    }
    d->loop = l;
    d->gzip = takes_gzip(req);
    if (d->gzip) {
        if (deflateInit2(&d->z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            fg_http_fail(req, FG_ERR_NOMEM, "out of memory");
            return 0;
        }
        d->zinit = true;
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_ENCODING, NULL,
                       H2O_STRLIT("gzip"));
    }
    char disp[128];
    int dn = snprintf(disp, sizeof(disp), "attachment; filename=\"run-%s%s%.8s.log\"", run_id,
                      d->q.step_id ? "-step-" : "", d->q.step_id ? d->q.step_id : "");
    h2o_iovec_t dv = h2o_strdup(&req->pool, disp, (size_t)dn);
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_DISPOSITION, NULL, dv.base,
                   dv.len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL,
                   H2O_STRLIT("Accept-Encoding"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    d->gen.proceed = dl_next;
    d->gen.stop = dl_stop;
    h2o_start_response(req, &d->gen);
    dl_next(&d->gen, req);
    return 0;
}
