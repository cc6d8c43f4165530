/*
 * error_filter.c - gives h2o's own error responses the one error shape of DESIGN.md.
 *
 * h2o answers some requests before any handler runs: a body over max_request_entity_size (413),
 * a failed Expect (417), a request timeout. Those come out as text/plain. This response filter,
 * registered on every path and on the host's fallback path, turns any text/plain response with
 * a 4xx/5xx status into {"error":…,"message":…,"details":{}}; flowgate's own responses are never
 * text/plain errors, so they pass untouched. Runs on the HTTP loop of the request; memory from
 * the request pool.
 */
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"

#include <string.h>

typedef struct {
    h2o_ostream_t super;
    h2o_iovec_t body; /* the JSON error, in the request pool */
} reshape_t;

static const char *code_for(int status)
{
    switch (status) {
    case 400:
        return "bad_request";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 408:
        return "request_timeout";
    case 411:
        return "length_required";
    case 413:
        return "payload_too_large";
    case 414:
        return "uri_too_long";
    case 417:
        return "expectation_failed";
    case 431:
        return "headers_too_large";
    }
    return status < 500 ? "client_error" : "unavailable";
}

/* The original body is dropped; ours goes out with the final state. */
static void reshape_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *inbufs, size_t inbufcnt,
                         h2o_send_state_t state)
{
    reshape_t *r = (reshape_t *)self;
    if (h2o_send_state_is_in_progress(state))
        h2o_ostream_send_next(&r->super, req, NULL, 0, state);
    else
        h2o_ostream_send_next(&r->super, req, &r->body, 1, state);
}

static bool is_plain_error(h2o_req_t *req)
{
    if (req->res.status < 400)
        return false;
    ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    return i >= 0 && req->res.headers.entries[i].value.len >= 10 &&
           h2o_lcstris(req->res.headers.entries[i].value.base, 10, H2O_STRLIT("text/plain"));
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    if (is_plain_error(req)) {
        const char *code = code_for(req->res.status);
        const char *reason = req->res.reason ? req->res.reason : "error";
        fg_buf_t b;
        fg_buf_init(&b, 4096);
        if (fg_http_error_body(&b, code, reason, NULL, NULL, -1) == FG_OK) {
            reshape_t *r = (reshape_t *)h2o_add_ostream(req, sizeof(*r), slot);
            r->super.do_send = reshape_send;
            r->body = h2o_strdup(&req->pool, b.data, b.len);
            req->res.content_length = r->body.len;
            h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
                           H2O_STRLIT("application/json"), 1);
            slot = &r->super.next;
        }
        fg_buf_dispose(&b);
    }
    h2o_setup_next_ostream(req, slot);
}

void fg_error_filter_register(h2o_pathconf_t *conf)
{
    h2o_filter_t *f = h2o_create_filter(conf, sizeof(*f));
    f->on_setup_ostream = on_setup_ostream;
}
