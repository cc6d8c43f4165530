/*
 * body.h - the request body as a handler reads it: Content-Encoding decoded (gzip, as log
 * shippers send it), every size bounded by the same limit before and after decoding.
 * HTTP loop threads; memory from the request pool.
 */
#ifndef FG_GATEWAY_BODY_H
#define FG_GATEWAY_BODY_H

#include <h2o.h>
#include <jansson.h>
#include <stddef.h>

/* The least h2o reads of one request body before refusing it itself (server.c): the largest
 * limits.max_body_bytes. */
#define FG_BODY_CEILING ((size_t)64 << 20)

/**
 * Sets *out to the request body, decoded when it is labelled Content-Encoding gzip (or x-gzip;
 * concatenated members are read in turn), as sent when unlabelled or identity. At most
 * max_bytes are accepted, both as sent and as decoded (a small gzip bomb is refused as soon as
 * its output passes the limit). Returns 0, or -1 after answering: 413 body_too_large (limit
 * max_body_bytes), 415 unsupported_encoding (any other coding), 400 invalid_body (a corrupt or
 * truncated gzip stream), 503 when out of memory. The decoded bytes live in the request pool;
 * an empty body gives out->len 0.
 */
int fg_body_get(h2o_req_t *req, size_t max_bytes, h2o_iovec_t *out);

/**
 * The body (fg_body_get) parsed as one JSON object (duplicate keys refused); a new reference.
 * NULL after answering: 415 when Content-Type is given and is not application/json, 400
 * empty_body or invalid_json, or fg_body_get's errors.
 */
json_t *fg_body_object(h2o_req_t *req, size_t max_bytes);

#endif
