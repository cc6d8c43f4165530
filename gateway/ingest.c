/*
 * ingest.c - POST /v1/ingest/{engine}: an engine's own webhook deliveries (ingest.h).
 * HTTP loop threads.
 */
#include "gateway/ingest.h"
#include "events/log.h"
#include "events/runview.h"
#include "gateway/body.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const fg_ingest_adapter_t *const adapters[] = {&fg_ingest_ironflow, &fg_ingest_github};

const fg_ingest_adapter_t *fg_ingest_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(adapters) / sizeof(adapters[0]); i++)
        if (strlen(adapters[i]->name) == len && memcmp(adapters[i]->name, name, len) == 0)
            return adapters[i];
    return NULL;
}

json_t *fg_ingest_parse(const char *body, size_t len, fg_verr_t *err)
{
    json_error_t jerr;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL) {
        char pos[32];
        snprintf(pos, sizeof(pos), "%d:%d", jerr.line, jerr.column);
        fg_verr_set(err, "invalid_json", "position", pos, "%s", jerr.text);
    }
    return v;
}

int fg_ingest_derived_uuid(const char *ns, const char *data, size_t len, char out[37])
{
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned int hl = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(c, ns, strlen(ns) + 1) == 1 && /* a NUL ends the namespace */
              EVP_DigestUpdate(c, data, len) == 1 && EVP_DigestFinal_ex(c, h, &hl) == 1;
    EVP_MD_CTX_free(c);
    if (!ok)
        return FG_ERR_NOMEM;
    h[6] = (unsigned char)((h[6] & 0x0f) | 0x80); /* version 8 */
    h[8] = (unsigned char)((h[8] & 0x3f) | 0x80); /* RFC 9562 variant */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[h[i] >> 4];
        out[o++] = hex[h[i] & 15];
    }
    out[o] = '\0';
    return FG_OK;
}

/* The configured secret of an engine; "" when its ingest is off. */
static const char *secret_of(const fg_config_t *cfg, const fg_ingest_adapter_t *a)
{
    if (a == &fg_ingest_ironflow)
        return cfg->ingest_ironflow_secret;
    if (a == &fg_ingest_github)
        return cfg->ingest_github_secret;
    return "";
}

/* True when sig is "sha256=<hex HMAC-SHA256(secret, body)>" (compared in constant time). */
static bool signed_by(const char *secret, const char *sig, size_t sig_len, h2o_iovec_t body)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body.base, body.len,
             mac, &mac_len) == NULL)
        return false;
    char want[7 + 2 * EVP_MAX_MD_SIZE + 1];
    memcpy(want, "sha256=", 7);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < mac_len; i++) {
        want[7 + 2 * i] = hex[mac[i] >> 4];
        want[7 + 2 * i + 1] = hex[mac[i] & 15];
    }
    size_t want_len = 7 + 2 * (size_t)mac_len;
    char got[7 + 2 * EVP_MAX_MD_SIZE];
    if (sig_len != want_len)
        return false;
    for (size_t i = 0; i < sig_len; i++) /* hex digits in either case */
        got[i] = (char)(i >= 7 && sig[i] >= 'A' && sig[i] <= 'F' ? sig[i] - 'A' + 'a' : sig[i]);
    return CRYPTO_memcmp(got, want, want_len) == 0;
}

/* A request header's value into out (cut to cap - 1 bytes); "" when absent or name is NULL. */
static void header_copy(h2o_req_t *req, const char *name, char *out, size_t cap)
{
    size_t n;
    const char *v = name ? fg_http_header_by_name(req, name, &n) : NULL;
    snprintf(out, cap, "%.*s", v ? (int)(n < cap ? n : cap - 1) : 0, v ? v : "");
}

/* fg_ingest_meta_t.run_status on the loop's reader: a failed read counts as unknown (-1). */
static int run_status(void *ctx, const char *run_id)
{
    fg_loop_t *l = ctx;
    int status = -1;
    int rc = fg_runview_run_status(l->reader, run_id, &status);
    return rc == FG_ERR_NOT_FOUND ? -2 : rc == FG_OK ? status : -1;
}

int fg_ingest_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t engine)
{
    (void)who;
    fg_server_t *srv = fg_loop_of(req)->server;
    const fg_config_t *cfg = srv->cfg;
    const fg_ingest_adapter_t *a = fg_ingest_find(engine.base, engine.len);
    char name[64];
    snprintf(name, sizeof(name), "%.*s", (int)(engine.len < 48 ? engine.len : 48), engine.base);
    if (a == NULL) {
        fg_http_error(req, 404, "unknown_engine", "no ingest for this engine", "engine", name, -1);
        return 0;
    }
    const char *secret = secret_of(cfg, a);
    if (secret[0] == '\0') {
        char key[96];
        snprintf(key, sizeof(key), "ingest.%s.secret", a->name);
        fg_http_error(req, 404, "ingest_not_configured",
                      "this engine's ingest is off: its secret is not configured", "config_key",
                      key, -1);
        return 0;
    }
    h2o_iovec_t body;
    if (fg_body_get(req, (size_t)cfg->max_body_bytes, &body) != 0)
        return 0;
    size_t sig_len;
    const char *sig = fg_http_header_by_name(req, a->signature_header, &sig_len);
    if (sig == NULL || !signed_by(secret, sig, sig_len, body)) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("HMAC-SHA256"));
        fg_http_error(req, 401, sig == NULL ? "missing_signature" : "invalid_signature",
                      sig == NULL ? "the delivery is not signed"
                                  : "the signature does not match the body and the secret",
                      "header", a->signature_header, -1);
        return 0;
    }
    char event[64] = "", delivery[80] = "";
    header_copy(req, a->event_header, event, sizeof(event));
    header_copy(req, a->delivery_header, delivery, sizeof(delivery));
    fg_ingest_meta_t meta = {.event = event[0] ? event : NULL,
                             .delivery = delivery[0] ? delivery : NULL,
                             .run_status = run_status,
                             .ctx = fg_loop_of(req)};
    json_t *events = NULL;
    fg_verr_t err;
    int rc = a->map(body.base, body.len, &meta, &events, &err);
    if (rc == FG_ERR_INVALID) {
        fg_http_verr(req, 400, &err);
        return 0;
    }
    if (rc != FG_OK) {
        fg_http_fail(req, rc, "out of memory");
        return 0;
    }
    /* what the catalog does not know is not this gateway's business: ignored, not refused */
    size_t n = 0, total = json_array_size(events);
    json_t **objs = malloc((total ? total : 1) * sizeof(*objs));
    if (objs == NULL) {
        json_decref(events);
        fg_http_fail(req, FG_ERR_NOMEM, "out of memory");
        return 0;
    }
    for (size_t i = 0; i < total; i++) {
        json_t *ev = json_array_get(events, i), *type = json_object_get(ev, "type");
        if (json_is_string(type) &&
            fg_catalog_find(srv->cat, json_string_value(type), json_string_length(type)) >= 0)
            objs[n++] = json_incref(ev);
        else if (fg_log_enabled(FG_LOG_DEBUG))
            fg_log(FG_LOG_DEBUG, "ingest_ignored", "engine=%s type=\"%.64s\"", a->name,
                   json_is_string(type) ? json_string_value(type) : "");
    }
    json_decref(events);
    if (n == 0) {
        free(objs);
        req->res.status = 204;
        req->res.reason = "No Content";
        h2o_send_inline(req, NULL, 0);
        return 0;
    }
    fg_publish_objects(req, NULL, objs, n, n > 1, NULL, false);
    return 0;
}
