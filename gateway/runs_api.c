/*
 * runs_api.c - the run views over HTTP (events/runview.h has the data):
 *   GET /v1/runs?status=&workflow=&limit=&after=      recent runs, newest first
 *   GET /v1/runs/{run_id}                              one run in full
 *   GET /v1/approvals?status=&run_id=&limit=&after=   approvals (default: pending), oldest first
 * (A run's log lines: logs_api.c and logs_download.c.)
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
#include "gateway/runs_http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LIMIT 50

/* Checks that the principal may see events of type `type` (and of run_id when not NULL). f gets
 * the principal's run list. Answers 403 and returns -1 when not. */
int fg_runs_narrow(h2o_req_t *req, const fg_principal_t *who, const char *type, const char *run_id,
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
int fg_runs_walk_query(h2o_req_t *req, size_t *limit, uint64_t *after,
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
void fg_runs_answer(h2o_req_t *req, int rc, fg_buf_t *b, const char *run_id)
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
int fg_runs_path_run(h2o_req_t *req, const char *s, size_t len, char out[FG_UUID_LEN + 1])
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
int fg_runs_each_item(const char *list, size_t len, int (*cb)(void *ctx, const char *p, size_t n),
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

/* --- GET /v1/runs ----------------------------------------------------------------------------- */

typedef struct {
    fg_runs_query_t *q;
    fg_filter_t *flows;
} runs_params_t;

static int runs_param(h2o_req_t *req, void *ctx, const char *name, const char *value, size_t vlen)
{
    runs_params_t *p = ctx;
    fg_verr_t err;
    if (strcmp(name, "status") == 0 &&
        fg_runs_each_item(value, vlen, add_status, &p->q->statuses) != 0) {
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
    if (fg_runs_walk_query(req, &q.limit, &q.before, runs_param, &params) != 0)
        goto done;
    if (fg_runs_narrow(req, who, "run_status_changed", NULL, &f) != 0)
        goto done;
    q.flows = (const char *const *)flows.workflows;
    q.nflows = flows.nworkflows;
    q.runs = (const char(*)[FG_UUID_LEN + 1]) f.runs;
    q.nruns = f.nruns;
    fg_buf_t b;
    fg_buf_init(&b, FG_RUNS_MAX_BODY);
    fg_runs_answer(req, fg_runview_list(l->reader, &q, &b), &b, NULL);
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
    if (fg_runs_path_run(req, s, len, run_id) != 0)
        return 0;
    fg_filter_t f;
    fg_filter_init(&f);
    if (fg_runs_narrow(req, who, "run_status_changed", run_id, &f) == 0) {
        fg_buf_t b;
        fg_buf_init(&b, FG_RUNS_MAX_BODY);
        fg_runs_answer(req, fg_runview_get(fg_loop_of(req)->reader, run_id, fg_time_now_us(), &b),
                       &b, run_id);
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
    if (strcmp(name, "status") == 0 &&
        fg_runs_each_item(value, vlen, add_state, &p->q->states) != 0) {
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
    if (fg_runs_walk_query(req, &q.limit, &q.after, approvals_param, &params) != 0)
        goto done;
    if (fg_runs_narrow(req, who, "approval_requested", NULL, &f) != 0)
        goto done;
    q.runs = (const char(*)[FG_UUID_LEN + 1]) f.runs;
    q.nruns = f.nruns;
    fg_buf_t b;
    fg_buf_init(&b, FG_RUNS_MAX_BODY);
    fg_runs_answer(req, fg_runview_approvals(fg_loop_of(req)->reader, &q, fg_time_now_us(), &b), &b,
                   NULL);
    fg_buf_dispose(&b);
done:
    fg_filter_dispose(&f);
    return 0;
}

/* --- GET /v1/runs/{run_id}/logs --------------------------------------------------------------- */
