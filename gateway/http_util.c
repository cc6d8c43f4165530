/*
 * http_util.c - error replies, JSON replies, header lookup and query parsing. HTTP loop threads.
 */
#include "gateway/http_util.h"
#include "events/text.h"
#include "events/buf.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fg_http_json(h2o_req_t *req, int status, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = status == 200   ? "OK"
                      : status == 201 ? "Created"
                      : status == 202 ? "Accepted"
                      : status == 400 ? "Bad Request"
                      : status == 404 ? "Not Found"
                      : status == 405 ? "Method Not Allowed"
                      : status == 409 ? "Conflict"
                      : status == 413 ? "Payload Too Large"
                      : status == 415 ? "Unsupported Media Type"
                      : status == 501 ? "Not Implemented"
                      : status == 503 ? "Service Unavailable"
                                      : "Error";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    /* Without a content length the HTTP/1.1 path falls back to Connection: close. */
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
}

int fg_http_error_body(fg_buf_t *b, const char *code, const char *message, const char *field,
                       const char *value, long index)
{
    int rc = fg_buf_puts(b, "{\"error\":");
    rc |= fg_buf_json_string(b, code, strlen(code));
    rc |= fg_buf_puts(b, ",\"message\":");
    rc |= fg_buf_json_string(b, message, strlen(message));
    rc |= fg_buf_puts(b, ",\"details\":{");
    bool any = false;
    if (field != NULL && field[0] != '\0') {
        rc |= fg_buf_json_string(b, field, strlen(field));
        rc |= fg_buf_puts(b, ":");
        if (value != NULL)
            rc |= fg_buf_json_string(b, value, strlen(value));
        else
            rc |= fg_buf_puts(b, "null");
        any = true;
    }
    if (index >= 0)
        rc |= fg_buf_printf(b, "%s\"index\":%ld", any ? "," : "", index);
    rc |= fg_buf_puts(b, "}}");
    return rc == FG_OK ? FG_OK : FG_ERR_NOMEM;
}

/* Sends an error body built in b (or the out-of-memory answer when building it failed). */
static void send_error(h2o_req_t *req, int status, fg_buf_t *b, int rc)
{
    if (rc != FG_OK) {
        fg_buf_dispose(b);
        static const char oom[] = "{\"error\":\"unavailable\",\"message\":\"out of memory\","
                                  "\"details\":{}}";
        fg_http_json(req, 503, oom, sizeof(oom) - 1);
        return;
    }
    fg_http_json(req, status, b->data, b->len);
    fg_buf_dispose(b);
}

void fg_http_error(h2o_req_t *req, int status, const char *code, const char *message,
                   const char *field, const char *value, long index)
{
    fg_buf_t b;
    fg_buf_init(&b, 0);
    send_error(req, status, &b, fg_http_error_body(&b, code, message, field, value, index));
}

void fg_http_error_bytes(h2o_req_t *req, int status, const char *code, const char *message,
                         const char *field, const char *value, size_t len)
{
    char shown[64];
    snprintf(shown, sizeof(shown), "%.*s", (int)(len < 60 ? len : 60), value);
    fg_http_error(req, status, code, message, field, shown, -1);
}

void fg_http_limit_error(h2o_req_t *req, int status, const char *code, const char *message,
                         const char *name, long long value, long index)
{
    fg_buf_t b;
    fg_buf_init(&b, 0);
    int rc = fg_http_error_body(&b, code, message, "limit", name, index);
    if (rc == FG_OK) { /* add name:value before the details' closing brace */
        b.len -= 2;
        rc = fg_buf_puts(&b, ",");
        rc |= fg_buf_json_string(&b, name, strlen(name));
        rc |= fg_buf_printf(&b, ":%lld}}", value);
    }
    send_error(req, status, &b, rc);
}

void fg_http_verr(h2o_req_t *req, int status, const fg_verr_t *err)
{
    fg_http_error(req, status, err->code, err->message, err->field,
                  err->field[0] ? err->value : NULL, err->index);
}

const char *fg_http_header(h2o_req_t *req, const h2o_token_t *token, size_t *len)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    if (i < 0)
        return NULL;
    *len = req->headers.entries[i].value.len;
    return req->headers.entries[i].value.base;
}

const char *fg_http_header_by_name(h2o_req_t *req, const char *name, size_t *len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return NULL;
    *len = req->headers.entries[i].value.len;
    return req->headers.entries[i].value.base;
}

void fg_query_init(fg_query_iter_t *it, h2o_req_t *req)
{
    if (req->query_at == SIZE_MAX) {
        it->p = it->end = NULL;
        return;
    }
    it->p = req->path.base + req->query_at + 1;
    it->end = req->path.base + req->path.len;
}

static int decode(h2o_mem_pool_t *pool, const char *s, size_t n, char **out, size_t *out_len)
{
    char *d = h2o_mem_alloc_pool(pool, n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= n || (hi = fg_hex_digit(s[i + 1])) < 0 ||
                (lo = fg_hex_digit(s[i + 2])) < 0)
                return -1;
            d[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            d[j++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    d[j] = '\0';
    *out = d;
    *out_len = j;
    return 0;
}

int fg_query_next(fg_query_iter_t *it, h2o_mem_pool_t *pool, char **name, size_t *name_len,
                  char **value, size_t *value_len)
{
    while (it->p != NULL && it->p < it->end) {
        const char *amp = memchr(it->p, '&', (size_t)(it->end - it->p));
        const char *stop = amp ? amp : it->end;
        const char *start = it->p;
        it->p = amp ? amp + 1 : it->end;
        if (stop == start)
            continue; /* "a=1&&b=2" */
        const char *eq = memchr(start, '=', (size_t)(stop - start));
        const char *nend = eq ? eq : stop;
        if (decode(pool, start, (size_t)(nend - start), name, name_len) != 0)
            return -1;
        if (eq) {
            if (decode(pool, eq + 1, (size_t)(stop - eq - 1), value, value_len) != 0)
                return -1;
        } else {
            *value = "";
            *value_len = 0;
        }
        return 1;
    }
    return 0;
}

#define TRIM_MAX 1024 /* input bytes at most copied (else the buffer stays as it is) */

/* HTTP/1.1: h2o keeps the request's bytes in the connection's input buffer (4 KiB at least, a
 * read's reserve) until the response ends, when it consumes them; a stream's response lasts.
 * Once its head is sent nothing reads those bytes again but that consume (h2o reads no more
 * input during the response, the request's fields were read to make the head, and the stream
 * copied what it keeps), so the buffer is swapped for a copy of just what it holds: ~4 KiB
 * less per idle stream. A later read grows it again as usual. */
void fg_http1_trim_input(h2o_req_t *req)
{
    if (req->version >= 0x200)
        return; /* HTTP/2: the connection's streams share the buffer, read all along */
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    h2o_buffer_t *in = sock != NULL ? sock->input : NULL;
    if (in == NULL || in->bytes == NULL || in->_fd != -1 || in->size == 0 || in->size > TRIM_MAX ||
        in->capacity <= in->size)
        return;
    h2o_buffer_t *small = malloc(offsetof(h2o_buffer_t, _buf) + in->size);
    if (small == NULL)
        return; /* the big one stays */
    memcpy(small->_buf, in->bytes, in->size);
    small->size = small->capacity = in->size;
    small->bytes = small->_buf;
    small->_prototype = in->_prototype;
    small->_fd = -1;
    sock->input = small;
    h2o_buffer_dispose(&in);
}
