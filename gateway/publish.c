/*
 * publish.c - POST /v1/events: one JSON object, a JSON array (a batch) or NDJSON.
 *
 * Runs on the HTTP loop that received the request: the body is parsed and every event
 * validated here; the job then goes to the writer thread, which answers on this loop's
 * reply receiver after the commit. Only then does the producer get its 202. A batch is all or
 * nothing: one bad event rejects it with its index, and nothing is stored.
 *
 * The request may end (client gone) while its job is with the writer: a small record in the
 * request pool clears the job's pointer to the request when the pool is disposed.
 */
#include "events/buf.h"
#include "events/log.h"
#include "events/timefmt.h"
#include "gateway/body.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"
#include "gateway/pending.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    fg_pending_t pending; /* the answer comes back through it */
    fg_writer_job_t job;
    bool batch; /* answer with an array */
    fg_pub_event_t *events;
    fg_pub_result_t *results;
    int64_t started_us; /* monotonic: when the request was taken (publish latency) */
} pub_ctx_t;

static void ctx_free(pub_ctx_t *c)
{
    for (size_t i = 0; i < c->job.n; i++)
        fg_pub_event_dispose(&c->events[i]);
    free(c->events);
    free(c->results);
    free(c);
}

static void out_of_memory(h2o_req_t *req)
{
    fg_http_fail(req, FG_ERR_NOMEM, "out of memory");
}

static void release(fg_pending_t *p)
{
    ctx_free((pub_ctx_t *)p);
}

static void answer(fg_pending_t *p, h2o_req_t *req)
{
    pub_ctx_t *c = (pub_ctx_t *)p;
    fg_writer_job_t *job = &c->job;
    fg_hist_observe(&fg_loop_of(req)->server->publish_latency, fg_time_mono_us() - c->started_us);
    if (job->status == FG_ERR_CONFLICT) {
        fg_http_verr(req, 409, &job->err);
        return;
    }
    if (job->status != FG_OK) {
        fg_http_fail(req, job->status, "the event store could not commit; nothing was stored");
        return;
    }
    fg_buf_t b;
    fg_buf_init(&b, 0);
    int rc = c->batch ? fg_buf_puts(&b, "[") : FG_OK;
    for (size_t i = 0; i < job->n; i++) {
        const fg_pub_result_t *r = &c->results[i];
        rc |= fg_buf_printf(&b, "%s{\"seq\":%" PRIu64 ",\"id\":", i ? "," : "", r->seq);
        rc |= fg_buf_json_string(&b, c->events[i].id, strlen(c->events[i].id));
        if (r->warning[0] != '\0') {
            rc |= fg_buf_puts(&b, ",\"warning\":");
            rc |= fg_buf_json_string(&b, r->warning, strlen(r->warning));
        }
        rc |= fg_buf_puts(&b, "}");
    }
    if (c->batch)
        rc |= fg_buf_puts(&b, "]");
    if (rc != FG_OK)
        out_of_memory(req);
    else
        fg_http_json(req, 202, b.data, b.len);
    fg_buf_dispose(&b);
}

/* The request's traceparent header: 0 with out set ("" when none), -1 when it is not one. */
static int traceparent(h2o_req_t *req, char out[FG_TRACEPARENT_LEN + 1])
{
    size_t n;
    const char *v = fg_http_header_by_name(req, "traceparent", &n);
    out[0] = '\0';
    if (v == NULL)
        return 0;
    if (!fg_traceparent_valid(v, n))
        return -1;
    memcpy(out, v, n);
    out[n] = '\0';
    return 0;
}

/* A prepared event's last checks: a type only flowgate publishes is refused; the trace context
 * goes with it. FG_OK or FG_ERR_INVALID with err (the event is disposed). */
static int finish_event(const fg_catalog_t *cat, fg_pub_event_t *ev, const char *trace,
                        fg_verr_t *err)
{
    int t = ev->type_idx;
    if (t >= FG_EV_WEBHOOK_ENDPOINT_FAILING && t <= FG_EV_WEBHOOK_DELIVERY_DEAD) {
        fg_pub_event_dispose(ev);
        return fg_verr_set(err, "reserved_type", "type", fg_catalog_type(cat, (size_t)t)->name,
                           "webhook.* events are flowgate's own: it publishes them about its"
                           " webhook endpoints");
    }
    memcpy(ev->traceparent, trace, sizeof(ev->traceparent));
    return FG_OK;
}

fg_pending_t *fg_publish_ahead(h2o_req_t *req, const char *body, size_t len, const char *who,
                               const char *key)
{
    fg_loop_t *l = fg_loop_of(req);
    fg_server_t *srv = l->server;
    const fg_config_t *cfg = srv->cfg;
    if (len == 0 || len > (size_t)cfg->max_body_bytes || l->stopping ||
        fg_health_state(&srv->health) == FG_HEALTH_CORRUPT)
        return NULL;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root) || fg_mask_event(srv->mask, root) != FG_OK) {
        json_decref(root);
        return NULL;
    }
    pub_ctx_t *c = calloc(1, sizeof(*c));
    if (c != NULL) {
        c->events = calloc(1, sizeof(*c->events));
        c->results = calloc(1, sizeof(*c->results));
    }
    fg_verr_t err;
    char trace[FG_TRACEPARENT_LEN + 1];
    if (c == NULL || c->events == NULL || c->results == NULL || traceparent(req, trace) != 0 ||
        fg_pub_event_prepare(srv->cat, root, key, (size_t)cfg->max_event_bytes, fg_time_now_us(),
                             &c->events[0], &err) != FG_OK ||
        finish_event(srv->cat, &c->events[0], trace, &err) != FG_OK) {
        json_decref(root);
        if (c != NULL)
            ctx_free(c);
        return NULL;
    }
    json_decref(root);
    c->job.n = 1;
    if (!fg_admit_publish_quiet(req, who, 1)) {
        ctx_free(c);
        return NULL;
    }
    c->started_us = fg_time_mono_us();
    c->job.events = c->events;
    c->job.results = c->results;
    c->pending.answer = answer;
    c->pending.release = release;
    if (fg_pending_submit_ahead(&c->pending, l, &c->job) != FG_OK) {
        ctx_free(c);
        return NULL;
    }
    return &c->pending;
}

typedef enum { BODY_JSON, BODY_NDJSON } body_kind_t;

/* Checks the Content-Type. Missing means JSON. Returns 0, or replies 415 and returns -1. */
static int body_kind(h2o_req_t *req, body_kind_t *kind)
{
    size_t len;
    const char *ct = fg_http_header(req, H2O_TOKEN_CONTENT_TYPE, &len);
    *kind = BODY_JSON;
    if (ct == NULL)
        return 0;
    size_t base = 0;
    while (base < len && ct[base] != ';' && ct[base] != ' ')
        base++;
    if (h2o_lcstris(ct, base, H2O_STRLIT("application/json")))
        return 0;
    if (h2o_lcstris(ct, base, H2O_STRLIT("application/x-ndjson")) ||
        h2o_lcstris(ct, base, H2O_STRLIT("application/jsonl"))) {
        *kind = BODY_NDJSON;
        return 0;
    }
    fg_http_error_bytes(req, 415, "unsupported_media_type",
                        "Content-Type must be application/json or application/x-ndjson",
                        "content_type", ct, len);
    return -1;
}

/* Parses the body into a list of JSON objects (new references). Replies and returns -1 on
 * error (503 when out of memory). */
static int parse_body(h2o_req_t *req, h2o_iovec_t in, body_kind_t kind, size_t max_batch,
                      json_t ***out, size_t *n, bool *batch)
{
    const char *body = in.base;
    size_t len = in.len;
    json_error_t jerr;
    *out = NULL;
    *n = 0;
    if (kind == BODY_JSON) {
        json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (root == NULL) {
            char pos[32];
            snprintf(pos, sizeof(pos), "%d:%d", jerr.line, jerr.column);
            fg_http_error(req, 400, "invalid_json", jerr.text, "position", pos, -1);
            return -1;
        }
        if (json_is_object(root)) {
            if ((*out = malloc(sizeof(json_t *))) == NULL) {
                json_decref(root);
                out_of_memory(req);
                return -1;
            }
            (*out)[0] = root;
            *n = 1;
            *batch = false;
            return 0;
        }
        if (!json_is_array(root)) {
            json_decref(root);
            fg_http_error(req, 400, "invalid_event",
                          "the body must be an event object or an array of events", NULL, NULL, -1);
            return -1;
        }
        size_t count = json_array_size(root);
        if (count == 0 || count > max_batch) {
            json_decref(root);
            if (count == 0)
                fg_http_error(req, 400, "empty_batch", "the batch holds no event", NULL, NULL, -1);
            else
                fg_http_limit_error(req, 413, "batch_too_large", "the batch holds too many events",
                                    "max_batch_events", (long long)max_batch, -1);
            return -1;
        }
        if ((*out = malloc(count * sizeof(json_t *))) == NULL) {
            json_decref(root);
            out_of_memory(req);
            return -1;
        }
        for (size_t i = 0; i < count; i++)
            (*out)[i] = json_incref(json_array_get(root, i));
        *n = count;
        *batch = true;
        json_decref(root);
        return 0;
    }
    /* NDJSON: one object per line; blank lines are skipped. */
    size_t cap = 16;
    if ((*out = malloc(cap * sizeof(json_t *))) == NULL) {
        out_of_memory(req);
        return -1;
    }
    *batch = true;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - body) : len;
        size_t ll = end - pos;
        if (ll > 0 && body[pos + ll - 1] == '\r')
            ll--;
        bool blank = true;
        for (size_t i = 0; i < ll && blank; i++)
            blank = body[pos + i] == ' ' || body[pos + i] == '\t';
        if (!blank) {
            if (*n >= max_batch) {
                fg_http_limit_error(req, 413, "batch_too_large", "the batch holds too many events",
                                    "max_batch_events", (long long)max_batch, -1);
                goto fail;
            }
            json_t *obj = json_loadb(body + pos, ll, JSON_REJECT_DUPLICATES, &jerr);
            if (obj == NULL) {
                char where[32];
                snprintf(where, sizeof(where), "%d", jerr.column);
                fg_http_error(req, 400, "invalid_json", jerr.text, "column", where, (long)*n);
                goto fail;
            }
            if (*n == cap) {
                json_t **grown = realloc(*out, cap * 2 * sizeof(json_t *));
                if (grown == NULL) {
                    json_decref(obj);
                    out_of_memory(req);
                    goto fail;
                }
                *out = grown;
                cap *= 2;
            }
            (*out)[(*n)++] = obj;
        }
        pos = end + 1;
    }
    if (*n == 0) {
        fg_http_error(req, 400, "empty_body", "the body holds no event", NULL, NULL, -1);
        goto fail;
    }
    return 0;
fail:
    for (size_t i = 0; i < *n; i++)
        json_decref((*out)[i]);
    free(*out);
    *out = NULL;
    *n = 0;
    return -1;
}

int fg_publish_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param)
{
    fg_loop_t *l = fg_loop_of(req);
    fg_server_t *srv = l->server;
    const fg_config_t *cfg = srv->cfg;
    if (l->stopping) {
        fg_http_fail(req, FG_ERR_CLOSED, "the server is shutting down");
        return 0;
    }
    if (fg_health_state(&srv->health) == FG_HEALTH_CORRUPT) {
        fg_http_fail(req, FG_ERR_CORRUPT, "nothing was stored");
        return 0;
    }
    body_kind_t kind;
    if (body_kind(req, &kind) != 0)
        return 0;
    h2o_iovec_t body;
    if (fg_body_get(req, (size_t)cfg->max_body_bytes, &body) != 0)
        return 0;
    if (body.len == 0) {
        fg_http_error(req, 400, "empty_body", "the body holds no event", NULL, NULL, -1);
        return 0;
    }
    json_t **objs;
    size_t n;
    bool batch;
    if (parse_body(req, body, kind, (size_t)cfg->max_batch_events, &objs, &n, &batch) != 0)
        return 0;
    size_t klen;
    const char *key = fg_http_header_by_name(req, "idempotency-key", &klen);
    char keybuf[FG_EVENT_ID_MAX + 2];
    if (key != NULL) {
        snprintf(keybuf, sizeof(keybuf), "%.*s",
                 (int)(klen <= FG_EVENT_ID_MAX ? klen : FG_EVENT_ID_MAX + 1), key);
        key = keybuf;
    }
    /* Single-event POSTs pipelined behind this one are committed with it (pipeline.c). */
    bool ahead =
        kind == BODY_JSON && fg_http_header(req, H2O_TOKEN_CONTENT_ENCODING, &klen) == NULL;
    fg_publish_objects(req, who, objs, n, batch, key, ahead);
    return 0;
}

void fg_publish_objects(h2o_req_t *req, const fg_principal_t *who, json_t **objs, size_t n,
                        bool batch, const char *key, bool read_ahead)
{
    fg_server_t *srv = fg_loop_of(req)->server;
    const fg_config_t *cfg = srv->cfg;
    if (fg_admit_publish(req, who, n) != 0) {
        for (size_t i = 0; i < n; i++)
            json_decref(objs[i]);
        free(objs);
        return;
    }

    pub_ctx_t *c = calloc(1, sizeof(*c));
    if (c != NULL) {
        c->events = calloc(n, sizeof(*c->events));
        c->results = calloc(n, sizeof(*c->results));
    }
    if (c == NULL || c->events == NULL || c->results == NULL) {
        for (size_t i = 0; i < n; i++)
            json_decref(objs[i]);
        free(objs);
        if (c != NULL)
            ctx_free(c);
        out_of_memory(req);
        return;
    }
    int64_t now = fg_time_now_us();
    c->started_us = fg_time_mono_us();
    int rc = FG_OK;
    fg_verr_t err;
    char trace[FG_TRACEPARENT_LEN + 1];
    if (traceparent(req, trace) != 0) {
        for (size_t i = 0; i < n; i++)
            json_decref(objs[i]);
        free(objs);
        ctx_free(c);
        fg_http_error(req, 400, "invalid_traceparent",
                      "traceparent must be a W3C trace context: 00-<32 hex>-<16 hex>-<2 hex>",
                      "traceparent", NULL, -1);
        return;
    }
    size_t done = 0;
    for (; done < n; done++) {
        /* secrets out first (logs.mask): nothing after this sees them */
        if ((rc = fg_mask_event(srv->mask, objs[done])) != FG_OK)
            break;
        rc = fg_pub_event_prepare(srv->cat, objs[done], batch ? NULL : key,
                                  (size_t)cfg->max_event_bytes, now, &c->events[done], &err);
        if (rc != FG_OK || (rc = finish_event(srv->cat, &c->events[done], trace, &err)) != FG_OK)
            break;
    }
    for (size_t i = 0; i < n; i++)
        json_decref(objs[i]);
    free(objs);
    c->job.n = done;
    if (rc != FG_OK) {
        if (batch)
            err.index = (long)done;
        if (rc == FG_ERR_TOO_LARGE)
            fg_http_limit_error(req, 413, err.code, err.message, "max_event_bytes",
                                cfg->max_event_bytes, err.index);
        else if (rc == FG_ERR_INVALID)
            fg_http_verr(req, 400, &err);
        else
            out_of_memory(req);
        ctx_free(c);
        return;
    }
    c->batch = batch;
    c->job.events = c->events;
    c->job.results = c->results;
    c->pending.answer = answer;
    c->pending.release = release;
    if (fg_pending_submit(&c->pending, req, &c->job) != FG_OK) {
        fg_http_fail(req, FG_ERR_CLOSED, "the server is shutting down");
        ctx_free(c);
        return;
    }
    if (read_ahead)
        fg_pipeline_read_ahead(req, who ? who->name : NULL, who ? who->exp_us : 0, key);
}
