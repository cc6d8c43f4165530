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
 *
 * Changes are writer ops (ordered with event commits, so the outbox sees them exactly when
 * they are committed); reads come from the loop's store reader. HTTP loop threads.
 */
#include "events/timefmt.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"
#include "gateway/pending.h"
#include "webhooks/subscription.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    fg_pending_t pending;
    fg_wh_op_t op;
    int ok_status; /* 200, 201 or 204 */
} op_ctx_t;

static void op_release(fg_pending_t *p)
{
    op_ctx_t *c = (op_ctx_t *)p;
    fg_wh_op_dispose(&c->op);
    free(c);
}

static void reply_json(h2o_req_t *req, int status, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        fg_http_error(req, 503, "unavailable", "out of memory", NULL, NULL, -1);
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
        fg_http_verr(req, 409, &c->op.err);
        return;
    }
    fg_http_error(req, 503, "store_unavailable", "the change could not be committed; retry later",
                  NULL, NULL, -1);
}

/* Parses the request body as one JSON object. Replies 400/415 and returns NULL on bad input. */
static json_t *body_object(h2o_req_t *req)
{
    size_t len;
    const char *ct = fg_http_header(req, H2O_TOKEN_CONTENT_TYPE, &len);
    if (ct != NULL && !(len >= 16 && h2o_lcstris(ct, 16, H2O_STRLIT("application/json")))) {
        fg_http_error(req, 415, "unsupported_media_type", "Content-Type must be application/json",
                      NULL, NULL, -1);
        return NULL;
    }
    if (req->entity.base == NULL || req->entity.len == 0) {
        fg_http_error(req, 400, "empty_body", "the body must be a JSON object", NULL, NULL, -1);
        return NULL;
    }
    json_error_t jerr;
    json_t *obj = json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(obj)) {
        json_decref(obj);
        fg_http_error(req, 400, "invalid_json", obj ? "the body must be a JSON object" : jerr.text,
                      NULL, NULL, -1);
        return NULL;
    }
    return obj;
}

static int submit_op(h2o_req_t *req, fg_wh_op_kind_t kind, const char *id, json_t *body,
                     int ok_status)
{
    fg_server_t *srv = fg_loop_of(req)->server;
    op_ctx_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        json_decref(body);
        fg_http_error(req, 503, "unavailable", "out of memory", NULL, NULL, -1);
        return 0;
    }
    fg_wh_op_init(&c->op, srv->outbox, kind, id, body);
    json_decref(body);
    c->ok_status = ok_status;
    c->pending.answer = op_answer;
    c->pending.release = op_release;
    if (fg_pending_submit(&c->pending, req, &c->op.job) != FG_OK) {
        fg_http_error(req, 503, "unavailable", "the server is shutting down", NULL, NULL, -1);
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

static void render_row(void *ctx, const fg_store_sub_t *row)
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
        json_t *spec = json_loads(row->spec, 0, NULL);
        fg_wh_sub_t sub;
        fg_wh_sub_init(&sub);
        fg_verr_t err;
        if (spec != NULL && fg_wh_sub_apply_json(&sub, spec, false, r->srv->cat, r->srv->allow,
                                                 r->srv->nallow, &err) == FG_OK) {
            snprintf(sub.id, sizeof(sub.id), "%s", row->id);
            sub.enabled = row->enabled;
            shown = fg_wh_sub_to_json(&sub, false);
        } else {
            /* stored but no longer valid under this configuration: show it as stored */
            shown = json_pack("{s:s, s:O, s:b, s:s}", "id", row->id, "spec",
                              spec ? spec : json_null(), "enabled", row->enabled, "error",
                              "no longer valid under this configuration");
        }
        json_decref(spec);
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
    int rc = fg_store_reader_subs(l->reader, id, render_row, &r);
    if (rc == FG_ERR_NOT_FOUND) {
        not_found(req);
    } else if (rc != FG_OK) {
        fg_http_error(req, 503, "store_unavailable", "the store could not be read", NULL, NULL, -1);
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

/* --- routing ------------------------------------------------------------------------------- */

static void method_not_allowed(h2o_req_t *req, const char *allow)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    fg_http_error(req, 405, "method_not_allowed", "this method is not allowed on this path",
                  "allow", allow, -1);
}

static bool is(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

int fg_webhooks_handle(h2o_req_t *req, const char *rest, size_t len)
{
    if (fg_loop_of(req)->stopping) {
        fg_http_error(req, 503, "unavailable", "the server is shutting down", NULL, NULL, -1);
        return 0;
    }
    if (len == 0) {
        if (is(req, "GET"))
            return read_subs(req, NULL, false);
        if (is(req, "POST")) {
            json_t *body = body_object(req);
            return body ? submit_op(req, FG_WH_OP_CREATE, NULL, body, 201) : 0;
        }
        method_not_allowed(req, "GET, POST");
        return 0;
    }
    /* "/{id}" then "", "/secret" or "/secret/rotate" */
    const char *id = rest + 1, *end = rest + len;
    const char *slash = memchr(id, '/', (size_t)(end - id));
    size_t id_len = (size_t)((slash ? slash : end) - id);
    char idbuf[48];
    if (id_len == 0 || id_len >= sizeof(idbuf)) {
        not_found(req);
        return 0;
    }
    memcpy(idbuf, id, id_len);
    idbuf[id_len] = '\0';
    const char *tail = slash ? slash : end;
    size_t tail_len = (size_t)(end - tail);
    if (tail_len == 0) {
        if (is(req, "GET"))
            return read_subs(req, idbuf, false);
        if (is(req, "PATCH")) {
            json_t *body = body_object(req);
            return body ? submit_op(req, FG_WH_OP_PATCH, idbuf, body, 200) : 0;
        }
        if (is(req, "DELETE"))
            return submit_op(req, FG_WH_OP_DELETE, idbuf, NULL, 204);
        method_not_allowed(req, "GET, PATCH, DELETE");
        return 0;
    }
    if (h2o_memis(tail, tail_len, H2O_STRLIT("/secret"))) {
        if (is(req, "GET"))
            return read_subs(req, idbuf, true);
        method_not_allowed(req, "GET");
        return 0;
    }
    if (h2o_memis(tail, tail_len, H2O_STRLIT("/secret/rotate"))) {
        if (is(req, "POST"))
            return submit_op(req, FG_WH_OP_ROTATE, idbuf, NULL, 200);
        method_not_allowed(req, "POST");
        return 0;
    }
    fg_http_error(req, 404, "not_found", "no such path", NULL, NULL, -1);
    return 0;
}
