/*
 * webhooks_api.c - the webhook subscription API:
 *
 *   POST   /v1/webhooks                      create (201, shows the secret once)
 *   GET    /v1/webhooks                      list
 *   GET    /v1/webhooks/{id}                 one
 *   PATCH  /v1/webhooks/{id}                 change fields (validated whole)
 *   DELETE /v1/webhooks/{id}                 drop it and its deliveries (204)
 *   GET    /v1/webhooks/{id}/secret          the secret (and the previous one during rotation)
 *   POST   /v1/webhooks/{id}/secret/rotate   a new secret; the old one signs for 24 h more
 *   GET    /v1/webhooks/{id}/deliveries      the delivery log (?status=&after=&limit=)
 *   POST   /v1/webhooks/{id}/replay          {"since_seq":N} or {"since":time}, "until"?: new
 *                                            deliveries of the stored events that match
 *   GET    /v1/deliveries/{id}               one delivery with its attempts
 *   POST   /v1/deliveries/{id}/retry         send a failed or dead delivery again now
 *
 * Changes are writer ops (ordered with event commits, so the outbox sees them exactly when
 * they are committed); reads come from the loop's store reader. HTTP loop threads.
 */
#include "events/timefmt.h"
#include "gateway/body.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"
#include "gateway/params.h"
#include "gateway/pending.h"
#include "webhooks/subscription.h"
#include "webhooks/outbox_store.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    fg_pending_t pending;
    fg_wh_op_t op;
    fg_repl_op_t repl; /* cluster mode: the op as a log entry (op.job.repl points here) */
    int ok_status;     /* 200, 201 or 204 */
} op_ctx_t;

static void op_release(fg_pending_t *p)
{
    op_ctx_t *c = (op_ctx_t *)p;
    fg_wh_op_dispose(&c->op);
    json_decref(c->repl.body);
    free(c);
}

static void reply_json(h2o_req_t *req, int status, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        fg_http_fail(req, FG_ERR_NOMEM, "out of memory");
        return;
    }
    fg_http_json(req, status, text, strlen(text));
    free(text);
}

static void not_found(h2o_req_t *req)
{
    fg_http_error(req, 404, "not_found", "no such webhook subscription", NULL, NULL, -1);
}

static void op_answer(fg_pending_t *p, h2o_req_t *req)
{
    op_ctx_t *c = (op_ctx_t *)p;
    /* a replay's next chunk: the request waits, publishes went in between */
    if (c->op.job.status == FG_OK && c->op.more &&
        fg_pending_resubmit(&c->pending, req, &c->op.job) == FG_OK)
        return;
    if (c->op.job.status == FG_OK && c->op.more) {
        fg_http_fail(req, FG_ERR_CLOSED, "the replay stopped part way");
        return;
    }
    if (c->op.job.status == FG_OK) /* new work, or new secrets, settings or subscriptions */
        fg_wh_dispatcher_poke(fg_loop_of(req)->server->dispatcher);
    switch (c->op.job.status) {
    case FG_OK:
        if (c->ok_status == 204) {
            req->res.status = 204;
            req->res.reason = "No Content";
            req->res.content_length = 0;
            h2o_send_inline(req, "", 0);
        } else {
            reply_json(req, c->ok_status, c->op.result);
        }
        return;
    case FG_ERR_INVALID:
        fg_http_verr(req, 400, &c->op.err);
        return;
    case FG_ERR_NOT_FOUND:
        not_found(req);
        return;
    case FG_ERR_TOO_LARGE:
        fg_http_verr(req, strcmp(c->op.err.code, "replay_too_large") == 0 ? 413 : 409, &c->op.err);
        return;
    case FG_ERR_CONFLICT:
        fg_http_verr(req, 409, &c->op.err);
        return;
    }
    fg_http_fail(req, c->op.job.status, "the change could not be committed");
}

/* A replay's range checked, and its size counted, on this loop's reader before anything is
 * written: past FG_WH_REPLAY_MAX events it is a 413 and nothing is enqueued. Answers and returns
 * false (dropping body) when it does not fit. */
static bool replay_fits(h2o_req_t *req, json_t *body)
{
    fg_wh_replay_range_t range;
    fg_verr_t err;
    uint64_t n = 0;
    int rc = fg_wh_replay_parse(body, &range, &err);
    if (rc == FG_OK)
        rc = fg_store_reader_count_events(fg_loop_of(req)->reader, range.after, range.since_us,
                                          range.until_us, FG_WH_REPLAY_MAX + 1, &n);
    if (rc == FG_OK && n <= FG_WH_REPLAY_MAX)
        return true;
    json_decref(body);
    if (rc == FG_ERR_INVALID) {
        fg_http_verr(req, 400, &err);
    } else if (rc != FG_OK) {
        fg_http_fail(req, rc, "the store could not be read");
    } else {
        fg_verr_set(&err, "replay_too_large", "until", NULL,
                    "a replay covers at most %d events; narrow it with until", FG_WH_REPLAY_MAX);
        fg_http_verr(req, 413, &err);
    }
    return false;
}

static int submit_op(h2o_req_t *req, fg_wh_op_kind_t kind, const char *id, json_t *body,
                     int ok_status)
{
    fg_server_t *srv = fg_loop_of(req)->server;
    op_ctx_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        json_decref(body);
        fg_http_fail(req, FG_ERR_NOMEM, "out of memory");
        return 0;
    }
    fg_wh_op_init(&c->op, srv->outbox, kind, id, body);
    json_decref(body);
    if (srv->repl != NULL) {
        /* cluster mode: the change goes through the shared log, so every node makes it; the
         * answer is this node's own apply of it */
        c->repl.kind = &srv->repl_kinds[0];
        c->repl.body = fg_wh_op_encode(&c->op);
        c->op.job.repl = &c->repl;
        if (c->repl.body == NULL) {
            fg_http_fail(req, FG_ERR_NOMEM, "out of memory");
            op_release(&c->pending);
            return 0;
        }
    }
    c->ok_status = ok_status;
    c->pending.answer = op_answer;
    c->pending.release = op_release;
    if (fg_pending_submit(&c->pending, req, &c->op.job) != FG_OK) {
        fg_http_fail(req, FG_ERR_CLOSED, "the server is shutting down");
        op_release(&c->pending);
    }
    return 0;
}

/* --- reads ------------------------------------------------------------------------------- */

typedef struct {
    fg_server_t *srv;
    json_t *out; /* array (list) or the one object */
    bool secret; /* render the secret view instead */
} render_t;

static void render_row(void *ctx, const fg_wh_sub_row_t *row)
{
    render_t *r = ctx;
    json_t *shown;
    if (r->secret) {
        shown = json_pack("{s:s}", "secret", row->secret);
        if (row->old_secret != NULL && row->old_secret_until_us > fg_time_now_us()) {
            char until[40];
            fg_time_format(row->old_secret_until_us, until, 0);
            json_object_set_new(shown, "previous_secret", json_string(row->old_secret));
            json_object_set_new(shown, "previous_secret_valid_until", json_string(until));
        }
    } else {
        fg_wh_sub_t sub;
        fg_verr_t err;
        if (fg_wh_sub_from_row(&sub, row, r->srv->cat, r->srv->cfg->r.allow, r->srv->cfg->r.nallow,
                               &err) == FG_OK) {
            shown = fg_wh_sub_to_json(&sub, false);
        } else {
            /* stored but no longer valid under this configuration: show it as stored */
            json_t *spec = json_loads(row->spec, 0, NULL);
            shown = json_pack("{s:s, s:O, s:b, s:s}", "id", row->id, "spec",
                              spec ? spec : json_null(), "enabled", row->enabled, "error",
                              "no longer valid under this configuration");
            json_decref(spec);
        }
        fg_wh_sub_dispose(&sub);
    }
    if (json_is_array(r->out))
        json_array_append_new(r->out, shown);
    else
        r->out = shown;
}

static int read_subs(h2o_req_t *req, const char *id, bool secret)
{
    fg_loop_t *l = fg_loop_of(req);
    render_t r = {.srv = l->server, .out = id ? NULL : json_array(), .secret = secret};
    int rc = fg_wh_store_read_subs(l->reader, id, render_row, &r);
    if (rc == FG_ERR_NOT_FOUND) {
        not_found(req);
    } else if (rc != FG_OK) {
        fg_http_fail(req, rc, "the store could not be read");
    } else if (id == NULL) {
        json_t *wrapped = json_pack("{s:O}", "webhooks", r.out);
        reply_json(req, 200, wrapped);
        json_decref(wrapped);
    } else {
        reply_json(req, 200, r.out);
    }
    json_decref(r.out);
    return 0;
}

/* --- the delivery log ---------------------------------------------------------------------- */

static const char *status_names[] = {"pending", "pending", "succeeded", "failed", "dead"};

static json_t *time_or_null(int64_t us)
{
    if (us <= 0)
        return json_null();
    char t[40];
    fg_time_format(us, t, 3);
    return json_string(t);
}

static json_t *delivery_json(const fg_wh_delivery_row_t *d)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:i}", "id", d->id, "webhook_id", d->sub_id, "seq",
                          (json_int_t)d->seq, "status",
                          status_names[(unsigned)d->status < 5 ? d->status : 0], "attempts",
                          (int)d->attempts);
    json_object_set_new(o, "next_attempt_at",
                        d->status == FG_DELIVERY_PENDING || d->status == FG_DELIVERY_FAILED
                            ? time_or_null(d->next_at_us)
                            : json_null());
    json_object_set_new(o, "created_at", time_or_null(d->created_us));
    json_object_set_new(o, "updated_at", time_or_null(d->updated_us));
    json_object_set_new(o, "traceparent",
                        d->traceparent != NULL ? json_string(d->traceparent) : json_null());
    return o;
}

typedef struct {
    json_t *list;
    json_t *one;
    char last[48];
} log_t;

static void on_delivery(void *ctx, const fg_wh_delivery_row_t *d)
{
    log_t *l = ctx;
    if (l->list != NULL) {
        json_array_append_new(l->list, delivery_json(d));
        snprintf(l->last, sizeof(l->last), "%.47s", d->id);
    } else {
        l->one = delivery_json(d);
        json_object_set_new(l->one, "attempt_log", json_array());
    }
}

static void on_attempt(void *ctx, const fg_wh_attempt_row_t *a)
{
    log_t *l = ctx;
    json_t *o = json_pack("{s:i, s:o, s:f}", "n", (int)a->n, "at", time_or_null(a->at_us),
                          "duration_ms", (double)a->duration_us / 1000.0);
    json_object_set_new(o, "http_status",
                        a->http_status ? json_integer(a->http_status) : json_null());
    json_object_set_new(o, "error", a->error ? json_string(a->error) : json_null());
    json_object_set_new(o, "response", a->response ? json_string(a->response) : json_null());
    json_array_append_new(json_object_get(l->one, "attempt_log"), o);
}

/* The delivery log's own parameters: status, and after (a delivery id, not a sequence). */
typedef struct {
    int status; /* FG_DELIVERY_…, or -1: any */
    char after[48];
} deliveries_query_t;

static int deliveries_param(h2o_req_t *req, void *ctx, const char *name, const char *value,
                            size_t vlen)
{
    deliveries_query_t *q = ctx;
    if (strcmp(name, "status") == 0) {
        q->status = strcmp(value, "pending") == 0     ? FG_DELIVERY_PENDING
                    : strcmp(value, "succeeded") == 0 ? FG_DELIVERY_SUCCEEDED
                    : strcmp(value, "failed") == 0    ? FG_DELIVERY_FAILED
                    : strcmp(value, "dead") == 0      ? FG_DELIVERY_DEAD
                                                      : -2;
        if (q->status == -2) {
            fg_http_error(req, 400, "invalid_filter",
                          "status must be pending, succeeded, failed or dead", "status", value, -1);
            return -1;
        }
    } else if (strcmp(name, "after") == 0) {
        if (vlen >= sizeof(q->after)) {
            fg_http_error(req, 400, "invalid_cursor", "after must be a delivery id", "after", NULL,
                          -1);
            return -1;
        }
        memcpy(q->after, value, vlen + 1);
    }
    return 0;
}

static int list_deliveries(h2o_req_t *req, const char *sub_id)
{
    fg_loop_t *l = fg_loop_of(req);
    deliveries_query_t q = {.status = -1};
    size_t limit = 100;
    fg_params_t params = {.limit = &limit, .max_limit = 1000, .other = deliveries_param, .ctx = &q};
    if (fg_params_walk(req, l->server->cat, &params) != 0)
        return 0;
    int status = q.status;
    const char *after = q.after;
    /* the subscription must exist */
    render_t probe = {.srv = l->server, .out = json_array()};
    int rc = fg_wh_store_read_subs(l->reader, sub_id, render_row, &probe);
    json_decref(probe.out);
    if (rc == FG_ERR_NOT_FOUND) {
        not_found(req);
        return 0;
    }
    log_t lg = {.list = json_array()};
    if (rc == FG_OK)
        rc = fg_wh_store_read_deliveries(l->reader, sub_id, status, after, (size_t)limit,
                                         on_delivery, &lg);
    if (rc != FG_OK) {
        json_decref(lg.list);
        fg_http_fail(req, rc, "the store could not be read");
        return 0;
    }
    json_t *out = json_pack("{s:o, s:s}", "deliveries", lg.list, "next_after", lg.last);
    reply_json(req, 200, out);
    json_decref(out);
    return 0;
}

static int get_delivery(h2o_req_t *req, const char *id)
{
    fg_loop_t *l = fg_loop_of(req);
    log_t lg = {0};
    int rc = fg_wh_store_read_delivery(l->reader, id, on_delivery, on_attempt, &lg);
    if (rc == FG_ERR_NOT_FOUND) {
        fg_http_error(req, 404, "not_found", "no such delivery", NULL, NULL, -1);
    } else if (rc != FG_OK) {
        fg_http_fail(req, rc, "the store could not be read");
    } else {
        reply_json(req, 200, lg.one);
    }
    json_decref(lg.one);
    return 0;
}

/* --- the routes (routes.c) ----------------------------------------------------------------- */

/* False (after answering 503) while the server shuts down: no webhook route is served then. */
static bool serving(h2o_req_t *req)
{
    if (!fg_loop_of(req)->stopping)
        return true;
    fg_http_fail(req, FG_ERR_CLOSED, "the server is shutting down");
    return false;
}

/* Copies the path's id into idbuf[48]; false after answering (shutting down, or 404 naming what
 * was not found when it cannot be an id). */
static bool take_id(h2o_req_t *req, h2o_iovec_t id, char *idbuf, const char *what)
{
    if (!serving(req))
        return false;
    if (id.len == 0 || id.len >= 48) {
        char msg[64];
        snprintf(msg, sizeof(msg), "no such %s", what);
        fg_http_error(req, 404, "not_found", msg, NULL, NULL, -1);
        return false;
    }
    memcpy(idbuf, id.base, id.len);
    idbuf[id.len] = '\0';
    return true;
}

#define SUB "webhook subscription"

int fg_wh_list_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param)
{
    return serving(req) ? read_subs(req, NULL, false) : 0;
}

int fg_wh_create_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param)
{
    if (!serving(req))
        return 0;
    json_t *body = fg_body_object(req, (size_t)fg_loop_of(req)->server->cfg->max_body_bytes);
    return body ? submit_op(req, FG_WH_OP_CREATE, NULL, body, 201) : 0;
}

int fg_wh_get_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id)
{
    char idbuf[48];
    return take_id(req, id, idbuf, SUB) ? read_subs(req, idbuf, false) : 0;
}

int fg_wh_patch_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id)
{
    char idbuf[48];
    if (!take_id(req, id, idbuf, SUB))
        return 0;
    json_t *body = fg_body_object(req, (size_t)fg_loop_of(req)->server->cfg->max_body_bytes);
    return body ? submit_op(req, FG_WH_OP_PATCH, idbuf, body, 200) : 0;
}

int fg_wh_delete_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id)
{
    char idbuf[48];
    return take_id(req, id, idbuf, SUB) ? submit_op(req, FG_WH_OP_DELETE, idbuf, NULL, 204) : 0;
}

int fg_wh_secret_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id)
{
    char idbuf[48];
    return take_id(req, id, idbuf, SUB) ? read_subs(req, idbuf, true) : 0;
}

int fg_wh_rotate_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id)
{
    char idbuf[48];
    return take_id(req, id, idbuf, SUB) ? submit_op(req, FG_WH_OP_ROTATE, idbuf, NULL, 200) : 0;
}

int fg_wh_deliveries_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id)
{
    char idbuf[48];
    return take_id(req, id, idbuf, SUB) ? list_deliveries(req, idbuf) : 0;
}

int fg_wh_replay_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id)
{
    char idbuf[48];
    if (!take_id(req, id, idbuf, SUB))
        return 0;
    json_t *body = fg_body_object(req, (size_t)fg_loop_of(req)->server->cfg->max_body_bytes);
    return body && replay_fits(req, body) ? submit_op(req, FG_WH_OP_REPLAY, idbuf, body, 202) : 0;
}

int fg_delivery_get_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id)
{
    char idbuf[48];
    return take_id(req, id, idbuf, "delivery") ? get_delivery(req, idbuf) : 0;
}

int fg_delivery_retry_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id)
{
    char idbuf[48];
    return take_id(req, id, idbuf, "delivery") ? submit_op(req, FG_WH_OP_RETRY, idbuf, NULL, 202)
                                               : 0;
}
