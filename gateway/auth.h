/*
 * auth.h - who may do what. Credentials are API keys listed in the config (stored as SHA-256
 * hashes; a key looks like "fgk_" + 32 base64url characters) and JWT bearer tokens (HS256 with a
 * shared secret, RS256/ES256 with a public key; "exp" required). Either yields a principal: its
 * scopes and the event types and runs it may subscribe to.
 *
 * Nothing here knows HTTP: the gateway finds the credential in the request (Authorization:
 * Bearer, a cookie, or the access_token query parameter) and hands its text over. Built on the
 * main thread; afterwards read-only, so any thread may verify. Comparisons of secrets are
 * constant-time. Tokens and keys are never logged.
 */
#ifndef FG_GATEWAY_AUTH_H
#define FG_GATEWAY_AUTH_H

#include "events/catalog.h"
#include "events/err.h"
#include "events/filter.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    FG_SCOPE_PUBLISH = 1,   /* POST /v1/events */
    FG_SCOPE_SUBSCRIBE = 2, /* streams and GET /v1/events */
    FG_SCOPE_ADMIN = 4,     /* webhooks, the delivery log, replay, metrics */
};

#define FG_AUTH_MAX_KEYS 1024
#define FG_AUTH_KEY_PREFIX "fgk_"
#define FG_AUTH_KEY_LEN 36     /* "fgk_" + 32 base64url characters (24 random bytes) */
#define FG_AUTH_MAX_TOKEN 8192 /* longest credential accepted */

/* What a credential allows. */
typedef struct {
    char name[64];   /* the key's name or the token's "sub" (for logs and per-credential limits) */
    unsigned scopes; /* FG_SCOPE_* */
    fg_filter_t allow; /* types and runs it may subscribe to; empty dimensions: all */
    int64_t exp_us;    /* when it stops being valid (0: never) */
} fg_principal_t;

typedef struct fg_auth fg_auth_t;

typedef struct {
    const json_t *keys;         /* auth.keys: [{name, sha256, scopes, types?, runs?}], or NULL */
    const char *jwt_secret;     /* auth.jwt.hs256_secret, or "" */
    const char *jwt_public_key; /* PEM text of auth.jwt.public_key_file, or NULL */
} fg_auth_config_t;

/**
 * Compiles the credentials. FG_OK, or FG_ERR_INVALID with one line naming what is wrong in err
 * (a malformed hash, an unknown scope or type, a bad run id, an unreadable public key).
 */
int fg_auth_create(const fg_auth_config_t *cfg, const fg_catalog_t *cat, fg_auth_t **out, char *err,
                   size_t cap);

void fg_auth_destroy(fg_auth_t *a);

/** True when at least one credential is configured (keys or a JWT key). */
bool fg_auth_has_credentials(const fg_auth_t *a);

/**
 * Checks a credential (an API key or a JWT) at now_us. FG_OK fills p (dispose it);
 * FG_ERR_INVALID means it is not valid (unknown key, bad signature, expired, malformed), with a
 * short reason in why that never contains the credential.
 */
int fg_auth_verify(const fg_auth_t *a, const char *cred, size_t len, int64_t now_us,
                   fg_principal_t *p, const char **why);

void fg_principal_dispose(fg_principal_t *p);

/**
 * Narrows a subscriber's filter to what the principal may see: an empty dimension becomes the
 * principal's list; asking for a type or run outside it fails with FG_ERR_FORBIDDEN and err
 * (forbidden_type, forbidden_run).
 */
int fg_auth_narrow(const fg_principal_t *p, fg_filter_t *f, const fg_catalog_t *cat,
                   fg_verr_t *err);

/** A new random API key ("fgk_…", FG_AUTH_KEY_LEN chars + NUL). FG_OK or FG_ERR_IO. */
int fg_auth_new_key(char out[FG_AUTH_KEY_LEN + 1]);

/** The SHA-256 of a key as 64 lower-case hex digits + NUL: what auth.keys stores. */
void fg_auth_hash_key(const char *key, size_t len, char out[65]);

#endif
