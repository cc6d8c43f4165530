/*
 * pipeline.c - single-event POSTs pipelined on one HTTP/1.1 connection, committed together
 * (see pipeline.h).
 *
 * Where the bytes are: h2o 2.2.5 keeps the current request at the start of the connection's
 * input buffer until its response is sent (it consumes the request then), and a Content-Length
 * body is req->entity, inside that buffer. Requests the client pipelined behind it follow in the
 * buffer when they were read with it. h2o does not read the socket again while a request is
 * handled, so the buffer only shrinks from the front until the requests read ahead are all
 * handed over.
 *
 * A request qualifies when its bytes are the first request's request line and headers with other
 * Content-Length digits (header names in any case: h2o lowercases the names of the request it
 * parsed in the buffer itself; values and the request line byte for byte), then that many bytes
 * of body: h2o parses it alike (same method, path,
 * headers; no Expect, Upgrade or Transfer-Encoding; persistent, as the first one was), so it
 * reaches the same route, credential and limits. Its body must be one event that validates, and the
 * publish rate limit must let it through: those are checked here as the normal path would.
 *
 * Lifetime: a connection's record is owned by the request being handled (a record in its pool).
 * When that request ends, h2o hands the next one over at once (its bytes are all there), which
 * claims the record; a record nobody claimed by the end of the loop's turn belongs to a
 * connection that closed, and is dropped (the jobs of its requests stand; their answers go
 * nowhere, as for a client that leaves while its publish commits).
 */
#include "gateway/pipeline.h"
#include "events/log.h"
#include "events/text.h"
#include "events/timefmt.h"
#include "gateway/gateway_internal.h"
#include "gateway/pending.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    fg_pending_t *p;
    size_t reqlen;  /* its bytes on the connection: request line, headers, body */
    size_t bodylen; /* of which body */
    uint64_t hash;  /* of the body: h2o must hand over exactly these bytes */
} ahead_t;

typedef struct conn_ahead conn_ahead_t;

/* In the pool of the connection's request being handled. */
typedef struct {
    conn_ahead_t *ca; /* NULL once the record is gone */
} owner_ref_t;

struct conn_ahead {
    h2o_linklist_t link; /* in fg_pipeline_t.conns */
    h2o_conn_t *conn;
    uint64_t conn_id;   /* with conn: a new connection at the same address is another */
    owner_ref_t *owner; /* the request being handled; NULL between two (or once closed) */
    char *head;         /* request line and headers: prefix, Content-Length digits, suffix */
    size_t prefix_len, suffix_len;
    char who[sizeof(((fg_principal_t *)0)->name)];
    bool has_who, has_key;
    bool blocked; /* a complete request behind did not qualify: nothing past it is read */
    int64_t who_exp_us;
    char key[FG_EVENT_ID_MAX + 2];
    ahead_t q[FG_PIPELINE_AHEAD_MAX]; /* submitted, in the connection's order */
    size_t qhead, qlen;
};

void fg_pipeline_init(fg_pipeline_t *p)
{
    h2o_linklist_init_anchor(&p->conns);
}

static void ca_free(conn_ahead_t *ca)
{
    for (size_t i = 0; i < ca->qlen; i++)
        fg_pending_abandon(ca->q[(ca->qhead + i) % FG_PIPELINE_AHEAD_MAX].p);
    if (ca->owner != NULL)
        ca->owner->ca = NULL;
    h2o_linklist_unlink(&ca->link);
    free(ca->head);
    free(ca);
}

void fg_pipeline_dispose(fg_pipeline_t *p)
{
    while (!h2o_linklist_is_empty(&p->conns))
        ca_free(H2O_STRUCT_FROM_MEMBER(conn_ahead_t, link, p->conns.next));
}

static void on_owner_dispose(void *v)
{
    owner_ref_t *ref = v;
    if (ref->ca != NULL)
        ref->ca->owner = NULL;
}

static void own(conn_ahead_t *ca, h2o_req_t *req)
{
    if (ca->owner != NULL)
        ca->owner->ca = NULL;
    ca->owner = h2o_mem_alloc_shared(&req->pool, sizeof(*ca->owner), on_owner_dispose);
    ca->owner->ca = ca;
}

static conn_ahead_t *find(fg_loop_t *l, h2o_conn_t *conn)
{
    for (h2o_linklist_t *n = l->pipeline.conns.next; n != &l->pipeline.conns; n = n->next) {
        conn_ahead_t *ca = H2O_STRUCT_FROM_MEMBER(conn_ahead_t, link, n);
        if (ca->conn == conn && ca->conn_id == conn->id)
            return ca;
    }
    return NULL;
}

/* Where a comparison of request heads stands: header names compare in any case. */
typedef struct {
    bool in_name; /* within a header name (after the request line, before the colon) */
} head_cmp_t;

/* Compares n bytes of a request head at p with the template's t (names lowercased there). */
static bool head_eq(head_cmp_t *st, const char *t, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (st->in_name && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != t[i])
            return false;
        if (p[i] == '\n')
            st->in_name = true;
        else if (st->in_name && p[i] == ':')
            st->in_name = false;
    }
    return true;
}

static bool header_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

/* Splits the first request's head [start, end) around its Content-Length digits. False when it
 * is not a plain POST with one Content-Length and CRLF line ends, or carries a header that
 * changes how h2o reads a request. */
static bool make_template(conn_ahead_t *ca, const char *start, const char *end)
{
    size_t len = (size_t)(end - start);
    if (len < 9 || memcmp(start, "POST ", 5) != 0 || memcmp(end - 4, "\r\n\r\n", 4) != 0)
        return false;
    const char *digits = NULL, *digits_end = NULL;
    const char *line = memchr(start, '\n', len);
    while (line != NULL && line + 1 < end - 2) {
        const char *name = line + 1;
        const char *eol = memchr(name, '\n', (size_t)(end - name));
        const char *colon = memchr(name, ':', (size_t)(eol - name));
        if (eol == NULL || eol[-1] != '\r' || colon == NULL)
            return false;
        size_t nlen = (size_t)(colon - name);
        if (header_is(name, nlen, "expect") || header_is(name, nlen, "upgrade") ||
            header_is(name, nlen, "transfer-encoding"))
            return false;
        if (header_is(name, nlen, "content-length")) {
            if (digits != NULL)
                return false;
            const char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *d = v;
            while (d < eol && *d >= '0' && *d <= '9')
                d++;
            if (d == v || d - v > 9)
                return false;
            digits = v;
            digits_end = d;
        }
        line = eol;
    }
    if (digits == NULL || (ca->head = malloc(len)) == NULL)
        return false;
    ca->prefix_len = (size_t)(digits - start);
    ca->suffix_len = (size_t)(end - digits_end);
    memcpy(ca->head, start, ca->prefix_len);
    memcpy(ca->head + ca->prefix_len, digits_end, ca->suffix_len);
    bool in_name = false; /* the names in lowercase, as head_eq compares them */
    for (size_t i = 0; i < len - (size_t)(digits_end - digits); i++) {
        char c = ca->head[i];
        if (in_name && c >= 'A' && c <= 'Z')
            ca->head[i] = (char)(c - 'A' + 'a');
        if (c == '\n')
            in_name = true;
        else if (in_name && c == ':')
            in_name = false;
    }
    return true;
}

/* The request at p (avail bytes there): its length with *bodylen, -1 when it does not repeat the
 * template, -2 when it may but is not all there yet. */
static long match(const conn_ahead_t *ca, const char *p, size_t avail, size_t *bodylen)
{
    head_cmp_t st = {false};
    size_t cmp = avail < ca->prefix_len ? avail : ca->prefix_len;
    if (!head_eq(&st, ca->head, p, cmp))
        return -1;
    if (cmp < ca->prefix_len)
        return -2;
    size_t i = ca->prefix_len, v = 0, nd = 0;
    while (i < avail && p[i] >= '0' && p[i] <= '9' && nd < 10) {
        v = v * 10 + (size_t)(p[i] - '0');
        i++;
        nd++;
    }
    if (i == avail)
        return -2;
    if (nd == 0 || nd > 9)
        return -1;
    cmp = avail - i < ca->suffix_len ? avail - i : ca->suffix_len;
    if (!head_eq(&st, ca->head + ca->prefix_len, p + i, cmp))
        return -1;
    size_t total = i + ca->suffix_len + v;
    if (cmp < ca->suffix_len || avail < total)
        return -2;
    *bodylen = v;
    return (long)total;
}

/* Submits the qualifying requests in [p, end), p being where the last one read ahead ends. */
static void scan(conn_ahead_t *ca, h2o_req_t *req, const char *p, const char *end)
{
    while (!ca->blocked && ca->qlen < FG_PIPELINE_AHEAD_MAX && p < end) {
        size_t bodylen = 0;
        long n = match(ca, p, (size_t)(end - p), &bodylen);
        if (n == -2)
            return; /* looked at again at the next claim */
        const char *body = p + n - (long)bodylen;
        fg_pending_t *pend = NULL;
        if (n > 0 && (ca->who_exp_us == 0 || fg_time_now_us() < ca->who_exp_us))
            pend = fg_publish_ahead(req, body, bodylen, ca->has_who ? ca->who : NULL,
                                    ca->has_key ? ca->key : NULL);
        if (pend == NULL) {
            ca->blocked = true; /* it takes the normal path, and so does everything behind it */
            return;
        }
        ahead_t *a = &ca->q[(ca->qhead + ca->qlen++) % FG_PIPELINE_AHEAD_MAX];
        a->p = pend;
        a->reqlen = (size_t)n;
        a->bodylen = bodylen;
        a->hash = fg_fnv1a(body, bodylen);
        p += n;
    }
}

/* Where the input buffer holds req's connection, and where req's body ends in it; false when
 * req's body is not in that buffer (nothing can be read ahead). */
static bool input_of(h2o_req_t *req, const char **body_end, const char **end)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->input == NULL || req->entity.base == NULL)
        return false;
    const char *start = sock->input->bytes;
    *end = start + sock->input->size;
    *body_end = req->entity.base + req->entity.len;
    return req->entity.base >= start && *body_end <= *end;
}

void fg_pipeline_read_ahead(h2o_req_t *req, const char *who, int64_t who_exp_us, const char *key)
{
    const char *body_end, *end;
    if (req->version != 0x101 || !req->http1_is_persistent || !input_of(req, &body_end, &end) ||
        body_end == end)
        return; /* nothing behind it: the usual case */
    fg_loop_t *l = fg_loop_of(req);
    if (find(l, req->conn) != NULL)
        return; /* cannot happen: a request read ahead is claimed, never published */
    conn_ahead_t *ca = calloc(1, sizeof(*ca));
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (ca == NULL || !make_template(ca, sock->input->bytes, req->entity.base)) {
        free(ca);
        return;
    }
    ca->conn = req->conn;
    ca->conn_id = req->conn->id;
    ca->has_who = who != NULL;
    if (who != NULL)
        snprintf(ca->who, sizeof(ca->who), "%s", who);
    ca->who_exp_us = who_exp_us;
    ca->has_key = key != NULL;
    if (key != NULL)
        snprintf(ca->key, sizeof(ca->key), "%s", key);
    h2o_linklist_insert(&l->pipeline.conns, &ca->link);
    own(ca, req);
    scan(ca, req, body_end, end);
    if (ca->qlen == 0)
        ca_free(ca);
}

bool fg_pipeline_claim(h2o_req_t *req)
{
    fg_loop_t *l = fg_loop_of(req);
    if (h2o_linklist_is_empty(&l->pipeline.conns))
        return false;
    conn_ahead_t *ca = find(l, req->conn);
    if (ca == NULL)
        return false;
    ahead_t a = ca->q[ca->qhead];
    if (req->entity.base == NULL || req->entity.len != a.bodylen ||
        fg_fnv1a(req->entity.base, req->entity.len) != a.hash ||
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        /* cannot happen: h2o parsed the bytes matched here. The requests read ahead are
         * committed or on their way; this one and those behind it take the normal path. */
        fg_log(FG_LOG_ERROR, "pipeline_mismatch", "read_ahead=%zu", ca->qlen);
        ca_free(ca);
        return false;
    }
    ca->qhead = (ca->qhead + 1) % FG_PIPELINE_AHEAD_MAX;
    ca->qlen--;
    own(ca, req);
    const char *body_end, *end;
    if (!ca->blocked && input_of(req, &body_end, &end)) {
        for (size_t i = 0; i < ca->qlen; i++)
            body_end += ca->q[(ca->qhead + i) % FG_PIPELINE_AHEAD_MAX].reqlen;
        if (body_end <= end)
            scan(ca, req, body_end, end);
    }
    if (ca->qlen == 0)
        ca_free(ca);
    fg_pending_attach(a.p, req);
    return true;
}

void fg_pipeline_sweep(fg_loop_t *l)
{
    h2o_linklist_t *n = l->pipeline.conns.next;
    while (n != &l->pipeline.conns) {
        conn_ahead_t *ca = H2O_STRUCT_FROM_MEMBER(conn_ahead_t, link, n);
        n = n->next;
        if (ca->owner == NULL)
            ca_free(ca);
    }
}
