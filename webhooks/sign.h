/*
 * sign.h - Standard Webhooks 1.0 signing (notes/webhooks-and-sse.md) and secrets.
 *
 * A secret is "whsec_" + base64 of 24 to 64 random bytes; the HMAC key is the decoded bytes.
 * The signature of a delivery is "v1," + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
 * Pure functions (OpenSSL), any thread.
 */
#ifndef FG_WEBHOOKS_SIGN_H
#define FG_WEBHOOKS_SIGN_H

#include "events/err.h"

#include <stddef.h>
#include <stdint.h>

#define FG_WH_SECRET_MAX 96     /* "whsec_" + base64 of 64 bytes, with NUL */
#define FG_WH_KEY_MAX 64        /* decoded secret bytes at most */
#define FG_WH_SIGNATURE_LEN 48  /* "v1," + 44 base64 characters, with NUL */
#define FG_WH_GITHUB_SIG_LEN 72 /* "sha256=" + 64 hex digits, with NUL */

/** Writes a new secret (24 random bytes) into out[FG_WH_SECRET_MAX]. FG_OK or FG_ERR_IO. */
int fg_wh_secret_generate(char *out);

/**
 * Decodes a "whsec_…" secret into key (FG_WH_KEY_MAX bytes). FG_OK, or FG_ERR_INVALID when the
 * prefix is missing, the base64 is malformed, or it decodes to fewer than 24 or more than 64
 * bytes.
 */
int fg_wh_secret_decode(const char *secret, unsigned char *key, size_t *keylen);

/** Writes "v1,<base64 HMAC>" of "{id}.{timestamp}.{body}" into out[FG_WH_SIGNATURE_LEN]. */
void fg_wh_sign(const unsigned char *key, size_t keylen, const char *msg_id, int64_t timestamp,
                const char *body, size_t body_len, char *out);

/**
 * A signing key made ready once: HMAC's key schedule is done at creation, so each signature
 * costs only the message's hashing (0.36 against 1.1 us here). One thread at a time; NULL when
 * out of memory (like fg_wh_sign, it aborts when OpenSSL cannot provide HMAC-SHA256).
 */
typedef struct fg_wh_signer fg_wh_signer_t;
fg_wh_signer_t *fg_wh_signer_new(const unsigned char *key, size_t keylen);
/** As fg_wh_sign, with the signer's key. */
void fg_wh_signer_sign(fg_wh_signer_t *s, const char *msg_id, int64_t timestamp, const char *body,
                       size_t body_len, char *out);
void fg_wh_signer_free(fg_wh_signer_t *s);

/**
 * Writes "sha256=<hex HMAC-SHA256(secret, body)>" (the GitHub convention ironflow's receivers
 * check) into out[FG_WH_GITHUB_SIG_LEN]. The key is the secret text as configured, as a
 * receiver configured with that same string computes it.
 */
void fg_wh_sign_github(const char *secret, const char *body, size_t body_len, char *out);

/** Standard base64 with padding. Encode writes 4*ceil(n/3) characters and a NUL. */
void fg_base64_encode(const unsigned char *in, size_t n, char *out);

/** Decodes standard base64 with padding into out (cap bytes). FG_OK or FG_ERR_INVALID. */
int fg_base64_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *outlen);

#endif
