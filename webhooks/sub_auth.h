/*
 * sub_auth.h - how a subscription's requests prove who sends them to the endpoint:
 *   "auth": {"type": "basic", "username": "…", "password": "…"} or {"type": "bearer", "token": "…"}
 *           (an Authorization header on every attempt);
 *   "tls":  {"client_cert": PEM, "client_key": PEM, "ca_cert": PEM} (mutual TLS with a client
 *           certificate and its key, and the CA the endpoint's certificate is checked against
 *           instead of the system's; any of the three, the first two together, https only).
 * Secrets are write-only: the views the API shows say whether they are set, never what they
 * are. Checked once when the subscription is made (a certificate and its key must parse and
 * belong together); read-only after, by the dispatcher.
 */
#ifndef FG_WEBHOOKS_SUB_AUTH_H
#define FG_WEBHOOKS_SUB_AUTH_H

#include "events/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define FG_WH_AUTH_MAX 4096 /* bytes of a username, password or token */
#define FG_WH_PEM_MAX 65536 /* bytes of one PEM field */

typedef struct {
    char *authorization;   /* the Authorization header's value, or NULL; owned */
    char *cert, *key, *ca; /* PEM, or NULL; owned */
    size_t cert_len, key_len, ca_len;
} fg_wh_auth_t;

/** Reads "auth" and "tls" (either may be NULL or JSON null). FG_OK, FG_ERR_NOMEM, or
 * FG_ERR_INVALID with err naming the field ("auth.password", "tls.client_key"). https: the url's
 * scheme (tls needs it). On error a holds nothing. */
int fg_wh_auth_parse(fg_wh_auth_t *a, const json_t *auth, const json_t *tls, bool https,
                     fg_verr_t *err);

void fg_wh_auth_dispose(fg_wh_auth_t *a);

/** What the API shows of "auth" or "tls" (new references; NULL for NULL/null): secrets replaced
 * by "password_set": true, "token_set": true, "client_key_set": true. */
json_t *fg_wh_auth_view(const json_t *auth);
json_t *fg_wh_tls_view(const json_t *tls);

#endif
