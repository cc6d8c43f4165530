/*
 * sub_auth.c - a subscription's outbound credentials (sub_auth.h). Certificates and keys are
 * parsed with OpenSSL once, when the subscription is made, so a bad one is a 400 and not a
 * failed delivery later.
 */
#include "webhooks/sub_auth.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(fg_verr_t *err, const char *field, const char *why)
{
    return fg_verr_set(err, "invalid_field", field, NULL, "%s %s", field, why);
}

/* A credential string: present, 1 to FG_WH_AUTH_MAX printable bytes. */
static const char *credential(const json_t *obj, const char *key, const char *field, bool colon_ok,
                              fg_verr_t *err)
{
    const json_t *v = json_object_get(obj, key);
    size_t n = json_string_length(v);
    if (!json_is_string(v) || n == 0 || n > FG_WH_AUTH_MAX) {
        bad(err, field, "must be a string of 1 to 4096 bytes");
        return NULL;
    }
    const char *s = json_string_value(v);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || (!colon_ok && c == ':')) {
            bad(err, field, colon_ok ? "must be printable" : "must be printable, without ':'");
            return NULL;
        }
    }
    return s;
}

static int parse_auth(fg_wh_auth_t *a, const json_t *auth, fg_verr_t *err)
{
    const json_t *type = json_object_get(auth, "type");
    const char *t = json_string_value(type);
    if (!json_is_object(auth) || t == NULL || (strcmp(t, "basic") != 0 && strcmp(t, "bearer") != 0))
        return bad(err, "auth",
                   "must be {\"type\":\"basic\",\"username\",\"password\"} or"
                   " {\"type\":\"bearer\",\"token\"}");
    const char *allowed = strcmp(t, "basic") == 0 ? "type username password" : "type token";
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)auth, key, v)
    {
        char word[32];
        snprintf(word, sizeof(word), "%s", key);
        const char *hit = strstr(allowed, word);
        size_t n = strlen(word);
        if (hit == NULL || (hit != allowed && hit[-1] != ' ') || (hit[n] != ' ' && hit[n] != '\0'))
            return fg_verr_set(err, "invalid_field", "auth", key, "auth has no field %.48s for %s",
                               key, t);
    }
    if (strcmp(t, "bearer") == 0) {
        const char *token = credential(auth, "token", "auth.token", true, err);
        if (token == NULL)
            return FG_ERR_INVALID;
        size_t n = strlen(token) + 8;
        if ((a->authorization = malloc(n)) == NULL)
            return FG_ERR_NOMEM;
        snprintf(a->authorization, n, "Bearer %s", token);
        return FG_OK;
    }
    const char *user = credential(auth, "username", "auth.username", false, err);
    const char *pass = user ? credential(auth, "password", "auth.password", true, err) : NULL;
    if (pass == NULL)
        return FG_ERR_INVALID;
    size_t ulen = strlen(user), plen = strlen(pass), raw = ulen + 1 + plen;
    unsigned char *joined = malloc(raw + 1);
    a->authorization = malloc(6 + 4 * ((raw + 2) / 3) + 1);
    if (joined == NULL || a->authorization == NULL) {
        free(joined);
        return FG_ERR_NOMEM;
    }
    memcpy(joined, user, ulen);
    joined[ulen] = ':';
    memcpy(joined + ulen + 1, pass, plen);
    memcpy(a->authorization, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)a->authorization + 6, joined, (int)raw);
    OPENSSL_cleanse(joined, raw);
    free(joined);
    return FG_OK;
}

/* A PEM field copied out, or NULL (absent). */
static int pem_field(const json_t *tls, const char *key, const char *field, char **out, size_t *len,
                     fg_verr_t *err)
{
    const json_t *v = json_object_get(tls, key);
    if (v == NULL || json_is_null(v))
        return FG_OK;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > FG_WH_PEM_MAX)
        return bad(err, field, "must be a PEM text of at most 65536 bytes");
    *len = json_string_length(v);
    if ((*out = malloc(*len + 1)) == NULL)
        return FG_ERR_NOMEM;
    memcpy(*out, json_string_value(v), *len + 1);
    return FG_OK;
}

static X509 *read_cert(const char *pem, size_t len)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

static int parse_tls(fg_wh_auth_t *a, const json_t *tls, bool https, fg_verr_t *err)
{
    if (!json_is_object(tls))
        return bad(err, "tls", "must be an object (client_cert, client_key, ca_cert)");
    if (!https)
        return bad(err, "tls", "needs an https url");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)tls, key, v)
    {
        if (strcmp(key, "client_cert") != 0 && strcmp(key, "client_key") != 0 &&
            strcmp(key, "ca_cert") != 0)
            return fg_verr_set(err, "invalid_field", "tls", key, "tls has no field %.48s", key);
    }
    int rc;
    if ((rc = pem_field(tls, "client_cert", "tls.client_cert", &a->cert, &a->cert_len, err)) !=
            FG_OK ||
        (rc = pem_field(tls, "client_key", "tls.client_key", &a->key, &a->key_len, err)) != FG_OK ||
        (rc = pem_field(tls, "ca_cert", "tls.ca_cert", &a->ca, &a->ca_len, err)) != FG_OK)
        return rc;
    if ((a->cert == NULL) != (a->key == NULL))
        return bad(err, a->cert ? "tls.client_key" : "tls.client_cert",
                   "must come with the other (a client certificate and its key)");
    if (a->ca != NULL) {
        X509 *ca = read_cert(a->ca, a->ca_len);
        X509_free(ca);
        if (ca == NULL)
            return bad(err, "tls.ca_cert", "is not a PEM certificate");
    }
    if (a->cert == NULL)
        return FG_OK;
    X509 *cert = read_cert(a->cert, a->cert_len);
    BIO *b = BIO_new_mem_buf(a->key, (int)a->key_len);
    EVP_PKEY *pkey = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    rc = cert == NULL   ? bad(err, "tls.client_cert", "is not a PEM certificate")
         : pkey == NULL ? bad(err, "tls.client_key", "is not a PEM private key (unencrypted)")
         : X509_check_private_key(cert, pkey) != 1
             ? bad(err, "tls.client_key", "is not the key of tls.client_cert")
             : FG_OK;
    X509_free(cert);
    EVP_PKEY_free(pkey);
    return rc;
}

int fg_wh_auth_parse(fg_wh_auth_t *a, const json_t *auth, const json_t *tls, bool https,
                     fg_verr_t *err)
{
    memset(a, 0, sizeof(*a));
    int rc = FG_OK;
    if (auth != NULL && !json_is_null(auth))
        rc = parse_auth(a, auth, err);
    if (rc == FG_OK && tls != NULL && !json_is_null(tls))
        rc = parse_tls(a, tls, https, err);
    if (rc != FG_OK)
        fg_wh_auth_dispose(a);
    return rc;
}

void fg_wh_auth_dispose(fg_wh_auth_t *a)
{
    if (a->authorization != NULL)
        OPENSSL_cleanse(a->authorization, strlen(a->authorization));
    if (a->key != NULL)
        OPENSSL_cleanse(a->key, a->key_len);
    free(a->authorization);
    free(a->cert);
    free(a->key);
    free(a->ca);
    memset(a, 0, sizeof(*a));
}

json_t *fg_wh_auth_view(const json_t *auth)
{
    if (auth == NULL || json_is_null(auth))
        return NULL;
    const char *t = json_string_value(json_object_get(auth, "type"));
    if (t != NULL && strcmp(t, "basic") == 0)
        return json_pack("{s:s, s:O, s:b}", "type", "basic", "username",
                         json_object_get(auth, "username"), "password_set", 1);
    return json_pack("{s:s, s:b}", "type", t ? t : "bearer", "token_set", 1);
}

json_t *fg_wh_tls_view(const json_t *tls)
{
    if (tls == NULL || json_is_null(tls))
        return NULL;
    json_t *o = json_object();
    const json_t *cert = json_object_get(tls, "client_cert"), *ca = json_object_get(tls, "ca_cert");
    if (json_is_string(cert))
        json_object_set_new(o, "client_cert", json_deep_copy(cert));
    json_object_set_new(o, "client_key_set",
                        json_boolean(json_is_string(json_object_get(tls, "client_key"))));
    if (json_is_string(ca))
        json_object_set_new(o, "ca_cert", json_deep_copy(ca));
    return o;
}
