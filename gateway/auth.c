/*
 * auth.c - API keys and JWTs to principals (see auth.h).
 */
#include "gateway/auth.h"
#include "events/text.h"

#include <errno.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char name[64];
    unsigned char hash[32]; /* SHA-256 of the key */
    unsigned scopes;
    fg_filter_t allow;
} key_entry_t;

struct fg_auth {
    const fg_catalog_t *cat;
    key_entry_t *keys;
    size_t nkeys;
    char *jwt_secret; /* HS256 shared secret, or NULL */
    char *jwt_pem;    /* RS256/ES256 public key, or NULL */
};

/* --- helpers ---------------------------------------------------------------------------------- */

static bool parse_hash(const char *hex, unsigned char out[32])
{
    if (strlen(hex) != 64)
        return false;
    for (int i = 0; i < 32; i++) {
        int hi = fg_hex_digit(hex[2 * i]), lo = fg_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

static int scope_bit(const char *s, size_t n)
{
    if (n == 7 && memcmp(s, "publish", 7) == 0)
        return FG_SCOPE_PUBLISH;
    if (n == 9 && memcmp(s, "subscribe", 9) == 0)
        return FG_SCOPE_SUBSCRIBE;
    if (n == 5 && memcmp(s, "admin", 5) == 0)
        return FG_SCOPE_ADMIN;
    return 0;
}

/* Scopes from a JSON array of names or a space-separated string (OAuth's "scope"). Unknown
 * names are an error in the config (strict) and ignored in tokens (issuers add their own). */
static int parse_scopes(const json_t *v, bool strict, unsigned *out)
{
    *out = 0;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        while (*s) {
            while (*s == ' ')
                s++;
            size_t n = strcspn(s, " ");
            if (n == 0)
                break;
            int b = scope_bit(s, n);
            if (b == 0 && strict)
                return FG_ERR_INVALID;
            *out |= (unsigned)b;
            s += n;
        }
        return FG_OK;
    }
    if (!json_is_array(v))
        return FG_ERR_INVALID;
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item))
            return FG_ERR_INVALID;
        int b = scope_bit(json_string_value(item), json_string_length(item));
        if (b == 0 && strict)
            return FG_ERR_INVALID;
        *out |= (unsigned)b;
    }
    return FG_OK;
}

/* Adds a list of types or run ids (a JSON array of strings, or a comma list) to a filter. */
static int add_list(fg_filter_t *f, const fg_catalog_t *cat, const json_t *v, bool runs,
                    fg_verr_t *err)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        return runs ? fg_filter_add_runs(f, s, strlen(s), err)
                    : fg_filter_add_types(f, cat, s, strlen(s), err);
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return fg_verr_set(err, "invalid_filter", runs ? "runs" : "types", NULL,
                           "must be a non-empty list of strings");
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item))
            return fg_verr_set(err, "invalid_filter", runs ? "runs" : "types", NULL,
                               "must be a list of strings");
        const char *s = json_string_value(item);
        int rc = runs ? fg_filter_add_runs(f, s, strlen(s), err)
                      : fg_filter_add_types(f, cat, s, strlen(s), err);
        if (rc != FG_OK)
            return rc;
    }
    return FG_OK;
}

static int copy_filter(fg_filter_t *dst, const fg_filter_t *src)
{
    fg_filter_init(dst);
    dst->any_type = src->any_type;
    memcpy(dst->types, src->types, sizeof(dst->types));
    if (src->nruns > 0) {
        dst->runs = malloc(src->nruns * sizeof(*dst->runs));
        if (dst->runs == NULL)
            return FG_ERR_NOMEM;
        memcpy(dst->runs, src->runs, src->nruns * sizeof(*dst->runs));
        dst->nruns = src->nruns;
    }
    return FG_OK;
}

/* --- building --------------------------------------------------------------------------------- */

static int bad(char *err, size_t cap, const char *fmt, const char *a, const char *b)
{
    snprintf(err, cap, fmt, a, b);
    return FG_ERR_INVALID;
}

static int add_key(fg_auth_t *a, size_t i, const json_t *k, char *err, size_t cap)
{
    key_entry_t *e = &a->keys[i];
    fg_filter_init(&e->allow);
    char where[32];
    snprintf(where, sizeof(where), "auth.keys[%zu]", i);
    const char *name = json_string_value(json_object_get(k, "name"));
    const char *hash = json_string_value(json_object_get(k, "sha256"));
    if (!json_is_object(k) || hash == NULL)
        return bad(err, cap, "config key %s: %s", where,
                   "each key needs \"sha256\" (from `flowgate hash-key`) and \"scopes\"");
    if (!parse_hash(hash, e->hash))
        return bad(err, cap, "config key %s.sha256: %s", where, "must be 64 hex digits");
    snprintf(e->name, sizeof(e->name), "%s", name ? name : where);
    const json_t *scopes = json_object_get(k, "scopes");
    if (scopes == NULL || parse_scopes(scopes, true, &e->scopes) != FG_OK || e->scopes == 0)
        return bad(err, cap, "config key %s.scopes: %s", where,
                   "must list publish, subscribe and/or admin");
    const char *field;
    json_t *v;
    json_object_foreach((json_t *)k, field, v)
    {
        fg_verr_t ve;
        if (strcmp(field, "types") == 0 || strcmp(field, "runs") == 0) {
            if (add_list(&e->allow, a->cat, v, field[0] == 'r', &ve) != FG_OK)
                return bad(err, cap, "config key %s: %s", where, ve.message);
        } else if (strcmp(field, "name") != 0 && strcmp(field, "sha256") != 0 &&
                   strcmp(field, "scopes") != 0) {
            return bad(err, cap, "config key %s.%s: unknown field", where, field);
        }
    }
    return FG_OK;
}

int fg_auth_create(const fg_auth_config_t *cfg, const fg_catalog_t *cat, fg_auth_t **out, char *err,
                   size_t cap)
{
    fg_auth_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return FG_ERR_NOMEM;
    a->cat = cat;
    int rc = FG_OK;
    if (cfg->keys != NULL) {
        if (!json_is_array(cfg->keys) || json_array_size(cfg->keys) > FG_AUTH_MAX_KEYS) {
            rc = bad(err, cap, "config key %s: %s", "auth.keys", "must be a list of keys");
            goto fail;
        }
        a->keys = calloc(json_array_size(cfg->keys) + 1, sizeof(*a->keys));
        if (a->keys == NULL) {
            rc = FG_ERR_NOMEM;
            goto fail;
        }
        size_t i;
        json_t *k;
        json_array_foreach(cfg->keys, i, k)
        {
            a->nkeys = i + 1;
            if ((rc = add_key(a, i, k, err, cap)) != FG_OK)
                goto fail;
        }
    }
    if (cfg->jwt_secret != NULL && cfg->jwt_secret[0] != '\0') {
        if (strlen(cfg->jwt_secret) < 32) {
            rc = bad(err, cap, "config key %s: %s", "auth.jwt.hs256_secret",
                     "must be at least 32 characters");
            goto fail;
        }
        if ((a->jwt_secret = strdup(cfg->jwt_secret)) == NULL) {
            rc = FG_ERR_NOMEM;
            goto fail;
        }
    }
    if (cfg->jwt_public_key != NULL && (a->jwt_pem = strdup(cfg->jwt_public_key)) == NULL) {
        rc = FG_ERR_NOMEM;
        goto fail;
    }
    *out = a;
    return FG_OK;
fail:
    fg_auth_destroy(a);
    return rc;
}

void fg_auth_destroy(fg_auth_t *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->nkeys; i++)
        fg_filter_dispose(&a->keys[i].allow);
    free(a->keys);
    if (a->jwt_secret != NULL)
        OPENSSL_cleanse(a->jwt_secret, strlen(a->jwt_secret));
    free(a->jwt_secret);
    free(a->jwt_pem);
    free(a);
}

bool fg_auth_has_credentials(const fg_auth_t *a)
{
    return a != NULL && (a->nkeys > 0 || a->jwt_secret != NULL || a->jwt_pem != NULL);
}

/* --- verifying -------------------------------------------------------------------------------- */

static int verify_key(const fg_auth_t *a, const char *cred, size_t len, fg_principal_t *p,
                      const char **why)
{
    unsigned char h[32];
    SHA256((const unsigned char *)cred, len, h);
    const key_entry_t *found = NULL;
    for (size_t i = 0; i < a->nkeys; i++) /* every entry, so the time says nothing */
        if (CRYPTO_memcmp(h, a->keys[i].hash, sizeof(h)) == 0)
            found = &a->keys[i];
    if (found == NULL) {
        *why = "unknown API key";
        return FG_ERR_INVALID;
    }
    snprintf(p->name, sizeof(p->name), "%s", found->name);
    p->scopes = found->scopes;
    p->exp_us = 0;
    if (copy_filter(&p->allow, &found->allow) != FG_OK) {
        *why = "out of memory";
        return FG_ERR_INVALID;
    }
    return FG_OK;
}

/* Decodes base64url (no padding) into out (cap bytes, NUL-terminated). False when malformed. */
static bool b64url_decode(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '-'             ? 62
                : c == '_'             ? 63
                                       : -1;
        if (v < 0)
            return false;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap)
                return false;
            out[o++] = (char)(acc >> bits & 0xff);
        }
    }
    out[o] = '\0';
    return true;
}

/* The "alg" of a JWT's header, checked before any key is chosen (no "none", no confusion of a
 * public key with an HMAC secret). */
static jwt_alg_t header_alg(const char *tok, size_t len)
{
    const char *dot = memchr(tok, '.', len);
    char hdr[512];
    if (dot == NULL || !b64url_decode(tok, (size_t)(dot - tok), hdr, sizeof(hdr)))
        return JWT_ALG_INVAL;
    json_t *h = json_loads(hdr, JSON_REJECT_DUPLICATES, NULL);
    const char *alg = json_string_value(json_object_get(h, "alg"));
    jwt_alg_t r = alg ? jwt_str_alg(alg) : JWT_ALG_INVAL;
    json_decref(h);
    return r;
}

/* The HS256 signature checked here in constant time (libjwt 1.10 compares it as a string):
 * HMAC-SHA256 of "header.payload" with the secret, base64url without padding. */
static bool hs256_ok(const char *secret, const char *tok, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *dot = NULL;
    for (size_t i = len; i > 0 && dot == NULL; i--)
        if (tok[i - 1] == '.')
            dot = tok + i - 1;
    if (dot == NULL)
        return false;
    unsigned char mac[32];
    unsigned int maclen = 0;
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)tok,
             (size_t)(dot - tok), mac, &maclen) == NULL ||
        maclen != 32)
        return false;
    char want[44];
    size_t o = 0;
    for (size_t i = 0; i < 32; i += 3) {
        uint32_t v = (uint32_t)mac[i] << 16 | (i + 1 < 32 ? (uint32_t)mac[i + 1] << 8 : 0) |
                     (i + 2 < 32 ? mac[i + 2] : 0);
        size_t chars = i + 2 < 32 ? 4 : i + 1 < 32 ? 3 : 2;
        for (size_t j = 0; j < chars; j++)
            want[o++] = alphabet[v >> (18 - 6 * j) & 63];
    }
    size_t siglen = len - (size_t)(dot + 1 - tok);
    return siglen == o && CRYPTO_memcmp(want, dot + 1, o) == 0;
}

static int verify_jwt(const fg_auth_t *a, const char *cred, size_t len, int64_t now_us,
                      fg_principal_t *p, const char **why)
{
    jwt_alg_t alg = header_alg(cred, len);
    const char *key = NULL;
    if (alg == JWT_ALG_HS256)
        key = a->jwt_secret;
    else if (alg == JWT_ALG_RS256 || alg == JWT_ALG_ES256)
        key = a->jwt_pem;
    if (key == NULL) {
        *why = "the token's algorithm is not accepted here";
        return FG_ERR_INVALID;
    }
    if (alg == JWT_ALG_HS256 && !hs256_ok(key, cred, len)) {
        *why = "the token's signature does not verify";
        return FG_ERR_INVALID;
    }
    char *tok = strndup(cred, len);
    jwt_t *jwt = NULL;
    int rc = tok ? jwt_decode(&jwt, tok, (const unsigned char *)key, (int)strlen(key)) : ENOMEM;
    free(tok);
    if (rc != 0 || jwt == NULL || jwt_get_alg(jwt) != alg) {
        jwt_free(jwt);
        *why = "the token's signature does not verify";
        return FG_ERR_INVALID;
    }
    char *grants = jwt_get_grants_json(jwt, NULL);
    jwt_free(jwt);
    json_t *g = grants ? json_loads(grants, 0, NULL) : NULL;
    free(grants);
    int result = FG_ERR_INVALID;
    const json_t *exp = json_object_get(g, "exp"), *nbf = json_object_get(g, "nbf");
    const json_t *fg = json_object_get(g, "flowgate");
    const json_t *types = json_object_get(fg, "types"), *runs = json_object_get(fg, "runs");
    if (types == NULL)
        types = json_object_get(g, "flowgate.types");
    if (runs == NULL)
        runs = json_object_get(g, "flowgate.runs");
    const json_t *scope = json_object_get(g, "scope");
    fg_verr_t ve;
    if (!json_is_integer(exp)) {
        *why = "the token has no \"exp\"";
    } else if (json_integer_value(exp) <= now_us / 1000000) {
        *why = "the token has expired";
    } else if (nbf != NULL &&
               (!json_is_integer(nbf) || json_integer_value(nbf) > now_us / 1000000)) {
        *why = "the token is not valid yet";
    } else if (scope == NULL || parse_scopes(scope, false, &p->scopes) != FG_OK) {
        *why = "the token's \"scope\" is missing or malformed";
    } else if ((types != NULL && add_list(&p->allow, a->cat, types, false, &ve) != FG_OK) ||
               (runs != NULL && add_list(&p->allow, a->cat, runs, true, &ve) != FG_OK)) {
        *why = "the token's flowgate.types or flowgate.runs is malformed";
    } else {
        const char *sub = json_string_value(json_object_get(g, "sub"));
        snprintf(p->name, sizeof(p->name), "%s", sub ? sub : "jwt");
        p->exp_us = (int64_t)json_integer_value(exp) * 1000000;
        result = FG_OK;
    }
    json_decref(g);
    return result;
}

int fg_auth_verify(const fg_auth_t *a, const char *cred, size_t len, int64_t now_us,
                   fg_principal_t *p, const char **why)
{
    memset(p, 0, sizeof(*p));
    fg_filter_init(&p->allow);
    int rc;
    *why = "";
    if (len == 0 || len > FG_AUTH_MAX_TOKEN || memchr(cred, '\0', len) != NULL) {
        *why = "malformed credential";
        rc = FG_ERR_INVALID;
    } else if (len > 4 && memcmp(cred, FG_AUTH_KEY_PREFIX, 4) == 0) {
        rc = verify_key(a, cred, len, p, why);
    } else {
        rc = verify_jwt(a, cred, len, now_us, p, why);
    }
    if (rc != FG_OK) {
        fg_principal_dispose(p);
        fg_filter_init(&p->allow);
    }
    return rc;
}

void fg_principal_dispose(fg_principal_t *p)
{
    fg_filter_dispose(&p->allow);
}

/* --- narrowing -------------------------------------------------------------------------------- */

int fg_auth_narrow(const fg_principal_t *p, fg_filter_t *f, const fg_catalog_t *cat, fg_verr_t *err)
{
    if (!p->allow.any_type) {
        if (f->any_type) {
            f->any_type = false;
            memcpy(f->types, p->allow.types, sizeof(f->types));
        } else {
            for (size_t i = 0; i < fg_catalog_count(cat); i++) {
                if (fg_filter_type_ok(f, (int)i) && !fg_filter_type_ok(&p->allow, (int)i)) {
                    fg_verr_set(err, "forbidden_type", "types", fg_catalog_type(cat, i)->name,
                                "this credential may not subscribe to %s",
                                fg_catalog_type(cat, i)->name);
                    return FG_ERR_FORBIDDEN;
                }
            }
        }
    }
    if (p->allow.nruns > 0) {
        if (f->nruns == 0) {
            f->runs = malloc(p->allow.nruns * sizeof(*f->runs));
            if (f->runs == NULL)
                return FG_ERR_NOMEM;
            memcpy(f->runs, p->allow.runs, p->allow.nruns * sizeof(*f->runs));
            f->nruns = p->allow.nruns;
        } else {
            for (size_t i = 0; i < f->nruns; i++) {
                bool ok = false;
                for (size_t j = 0; j < p->allow.nruns && !ok; j++)
                    ok = strcmp(f->runs[i], p->allow.runs[j]) == 0;
                if (!ok) {
                    fg_verr_set(err, "forbidden_run", "run_id", f->runs[i],
                                "this credential may not subscribe to run %s", f->runs[i]);
                    return FG_ERR_FORBIDDEN;
                }
            }
        }
    }
    return FG_OK;
}

/* --- keys ------------------------------------------------------------------------------------- */

int fg_auth_new_key(char out[FG_AUTH_KEY_LEN + 1])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[24];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return FG_ERR_IO;
    memcpy(out, FG_AUTH_KEY_PREFIX, 4);
    for (int i = 0; i < 8; i++) { /* 3 bytes -> 4 characters */
        uint32_t v = (uint32_t)raw[3 * i] << 16 | (uint32_t)raw[3 * i + 1] << 8 | raw[3 * i + 2];
        for (int j = 0; j < 4; j++)
            out[4 + 4 * i + j] = alphabet[v >> (18 - 6 * j) & 63];
    }
    out[FG_AUTH_KEY_LEN] = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));
    return FG_OK;
}

void fg_auth_hash_key(const char *key, size_t len, char out[65])
{
    unsigned char h[32];
    SHA256((const unsigned char *)key, len, h);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}
