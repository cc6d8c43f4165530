/*
 * body.c - request bodies: Content-Encoding (identity, gzip) and the size limit (see body.h).
 * HTTP loop threads.
 */
#include "gateway/body.h"
#include "gateway/http_util.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* A malloc'd buffer owned by the request pool (freed with it). */
typedef struct {
    char *data;
} pooled_t;

static void pooled_dispose(void *p)
{
    free(((pooled_t *)p)->data);
}

typedef enum { CODING_IDENTITY, CODING_GZIP, CODING_OTHER } coding_t;

/* The coding named by Content-Encoding: one token, surrounding spaces ignored. */
static coding_t coding_of(h2o_req_t *req)
{
    size_t len;
    const char *v = fg_http_header(req, H2O_TOKEN_CONTENT_ENCODING, &len);
    if (v == NULL)
        return CODING_IDENTITY;
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len == 0 || h2o_lcstris(v, len, H2O_STRLIT("identity")))
        return CODING_IDENTITY;
    if (h2o_lcstris(v, len, H2O_STRLIT("gzip")) || h2o_lcstris(v, len, H2O_STRLIT("x-gzip")))
        return CODING_GZIP;
    return CODING_OTHER;
}

static void too_large(h2o_req_t *req, size_t max_bytes, const char *message)
{
    fg_http_limit_error(req, 413, "body_too_large", message, "max_body_bytes", (long long)max_bytes,
                        -1);
}

typedef enum { INFLATE_OK, INFLATE_TOO_LARGE, INFLATE_CORRUPT, INFLATE_NOMEM } inflate_rc_t;

/* Inflates the gzip members in in into *data (malloc'd, *len bytes), stopping with
 * INFLATE_TOO_LARGE as soon as the output would pass max_bytes. */
static inflate_rc_t gunzip(const unsigned char *in, size_t in_len, size_t max_bytes, char **data,
                           size_t *len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return INFLATE_NOMEM;
    size_t cap = in_len * 4 < 4096 ? 4096 : in_len * 4, used = 0;
    if (cap > max_bytes + 1)
        cap = max_bytes + 1;
    char *out = malloc(cap);
    inflate_rc_t rc = out != NULL ? INFLATE_OK : INFLATE_NOMEM;
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)in_len;
    while (rc == INFLATE_OK) {
        if (used == cap) {
            if (cap > max_bytes) {
                rc = INFLATE_TOO_LARGE;
                break;
            }
            size_t grown = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
            char *p = realloc(out, grown);
            if (p == NULL) {
                rc = INFLATE_NOMEM;
                break;
            }
            out = p;
            cap = grown;
        }
        z.next_out = (unsigned char *)out + used;
        z.avail_out = (uInt)(cap - used);
        int zr = inflate(&z, Z_NO_FLUSH);
        used = cap - z.avail_out;
        if (zr == Z_STREAM_END) {
            if (z.avail_in == 0)
                break;
            /* another member follows (gzip allows concatenation) */
            if (inflateReset(&z) != Z_OK)
                rc = INFLATE_CORRUPT;
        } else if (zr == Z_BUF_ERROR && z.avail_in == 0 && z.avail_out > 0) {
            rc = INFLATE_CORRUPT; /* the input ended inside a member */
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = zr == Z_MEM_ERROR ? INFLATE_NOMEM : INFLATE_CORRUPT;
        }
    }
    inflateEnd(&z);
    if (rc == INFLATE_OK && used > max_bytes)
        rc = INFLATE_TOO_LARGE;
    if (rc != INFLATE_OK) {
        free(out);
        return rc;
    }
    *data = out;
    *len = used;
    return INFLATE_OK;
}

int fg_body_get(h2o_req_t *req, size_t max_bytes, h2o_iovec_t *out)
{
    coding_t coding = coding_of(req);
    if (coding == CODING_OTHER) {
        size_t len;
        const char *v = fg_http_header(req, H2O_TOKEN_CONTENT_ENCODING, &len);
        fg_http_error_bytes(req, 415, "unsupported_encoding",
                            "Content-Encoding must be gzip or identity (or absent)",
                            "content_encoding", v, len);
        return -1;
    }
    size_t sent = req->entity.base != NULL ? req->entity.len : 0;
    if (sent > max_bytes) {
        too_large(req, max_bytes, "the request body exceeds the limit");
        return -1;
    }
    if (coding == CODING_IDENTITY || sent == 0) {
        *out = h2o_iovec_init(req->entity.base, sent);
        return 0;
    }
    char *data = NULL;
    size_t len = 0;
    switch (gunzip((const unsigned char *)req->entity.base, sent, max_bytes, &data, &len)) {
    case INFLATE_OK:
        break;
    case INFLATE_TOO_LARGE:
        too_large(req, max_bytes, "the request body, decompressed, exceeds the limit");
        return -1;
    case INFLATE_CORRUPT:
        fg_http_error(req, 400, "invalid_body", "the gzip body is corrupt or truncated", NULL, NULL,
                      -1);
        return -1;
    case INFLATE_NOMEM:
        fg_http_fail(req, FG_ERR_NOMEM, "out of memory");
        return -1;
    }
    pooled_t *keep = h2o_mem_alloc_shared(&req->pool, sizeof(*keep), pooled_dispose);
    keep->data = data;
    *out = h2o_iovec_init(data, len);
    return 0;
}

json_t *fg_body_object(h2o_req_t *req, size_t max_bytes)
{
    size_t len;
    const char *ct = fg_http_header(req, H2O_TOKEN_CONTENT_TYPE, &len);
    if (ct != NULL && !(len >= 16 && h2o_lcstris(ct, 16, H2O_STRLIT("application/json")))) {
        fg_http_error(req, 415, "unsupported_media_type", "Content-Type must be application/json",
                      NULL, NULL, -1);
        return NULL;
    }
    h2o_iovec_t body;
    if (fg_body_get(req, max_bytes, &body) != 0)
        return NULL;
    if (body.len == 0) {
        fg_http_error(req, 400, "empty_body", "the body must be a JSON object", NULL, NULL, -1);
        return NULL;
    }
    json_error_t jerr;
    json_t *obj = json_loadb(body.base, body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(obj)) {
        json_decref(obj);
        fg_http_error(req, 400, "invalid_json", obj ? "the body must be a JSON object" : jerr.text,
                      NULL, NULL, -1);
        return NULL;
    }
    return obj;
}
