/*
 * http_util.h - small helpers shared by the handlers: the one error shape of DESIGN.md, JSON
 * replies, request headers and query strings. HTTP loop threads; memory from the request pool.
 */
#ifndef FG_GATEWAY_HTTP_UTIL_H
#define FG_GATEWAY_HTTP_UTIL_H

#include "events/buf.h"
#include "events/err.h"

#include <h2o.h>
#include <stdbool.h>

/**
 * Replies {"error":code,"message":…,"details":{field:value[,"index":i]}} with the status.
 * field may be NULL or "" (empty details); index < 0 is left out.
 */
void fg_http_error(h2o_req_t *req, int status, const char *code, const char *message,
                   const char *field, const char *value, long index);

/**
 * Replies an error for a configured limit the request went past, with the limit's name and
 * value: {"error":code,"message":…,"details":{"limit":name,name:value[,"index":i]}}.
 */
void fg_http_limit_error(h2o_req_t *req, int status, const char *code, const char *message,
                         const char *name, long long value, long index);

/** Appends the error JSON of fg_http_error to b. FG_OK or FG_ERR_NOMEM. */
int fg_http_error_body(fg_buf_t *b, const char *code, const char *message, const char *field,
                       const char *value, long index);

/** fg_http_error with the value given as bytes (a header's), shown up to 60 of them. */
void fg_http_error_bytes(h2o_req_t *req, int status, const char *code, const char *message,
                         const char *field, const char *value, size_t len);

/*
 * The one answer for a failure of the store or the server, by its fg_err_t (http_err.c):
 * FG_ERR_NOMEM → 503 unavailable "out of memory"; FG_ERR_TOO_LARGE → 503 unavailable (the answer
 * does not fit in memory); FG_ERR_CLOSED → 503 unavailable (shutting down); FG_ERR_CORRUPT →
 * 503 store_corrupt (and the damage is recorded in the server's health); anything else → 503
 * store_unavailable ("<what>; retry later"). what is a short sentence: "the event store could
 * not be read". Client errors (4xx) are the handler's: they name its own resource.
 */
void fg_http_fail(h2o_req_t *req, int rc, const char *what);

/** Replies a validation error (fg_verr_t) with the status. */
void fg_http_verr(h2o_req_t *req, int status, const fg_verr_t *err);

/** Replies a JSON body (copied) with the status. */
void fg_http_json(h2o_req_t *req, int status, const char *body, size_t len);

/** The value of a request header (first one), or NULL. *len is set when found. */
const char *fg_http_header(h2o_req_t *req, const h2o_token_t *token, size_t *len);

/** Same, for a header h2o has no token for (name in lower case). */
const char *fg_http_header_by_name(h2o_req_t *req, const char *name, size_t *len);

/* Iterates the query string: name and value are percent-decoded ('+' is a space) copies in the
 * request pool, NUL-terminated. */
typedef struct {
    const char *p, *end;
} fg_query_iter_t;

/** Starts an iteration over the request's query string (empty when none). */
void fg_query_init(fg_query_iter_t *it, h2o_req_t *req);

/**
 * Returns 1 with the next parameter, 0 at the end, or -1 on a malformed escape (the caller
 * answers 400 invalid_query).
 */
int fg_query_next(fg_query_iter_t *it, h2o_mem_pool_t *pool, char **name, size_t *name_len,
                  char **value, size_t *value_len);

/**
 * A streaming HTTP/1.1 response whose head has been sent: h2o keeps the request's bytes in the
 * connection's input buffer (4 KiB at least) until the response ends; they are moved to a
 * buffer of their size (~4 KiB less per idle stream). Nothing else may point into them any
 * more: call it once the head went out (the first proceed), with what the handler keeps
 * copied. HTTP/2 and larger inputs are left as they are.
 */
void fg_http1_trim_input(h2o_req_t *req);
#endif
