/*
 * tls.c - the TLS context (see tls.h).
 */
#include "gateway/tls.h"

#include <h2o.h>
#include <openssl/err.h>
#include <stdio.h>

SSL_CTX *fg_tls_context(const char *cert_file, const char *key_file, char *err, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, cap, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    const char *bad = NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
        bad = "tls.cert_file";
    else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
        bad = "tls.key_file";
    else if (SSL_CTX_check_private_key(ctx) != 1)
        bad = "tls.key_file";
    if (bad != NULL) {
        char why[160];
        ERR_error_string_n(ERR_get_error(), why, sizeof(why));
        ERR_clear_error();
        snprintf(err, cap, "config key %s: cannot use %s (%s)", bad,
                 bad[4] == 'c' ? cert_file : key_file, why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* h2o's HTTP/2 names, then http/1.1 (h2o's own list stops at h2: a client that offers only
     * http/1.1 would get no ALPN answer at all) */
    static h2o_iovec_t protos[8];
    if (protos[0].base == NULL) {
        size_t n = 0;
        for (const h2o_iovec_t *p = h2o_http2_alpn_protocols; p->base != NULL && n < 6; p++)
            protos[n++] = *p;
        protos[n] = h2o_iovec_init(H2O_STRLIT("http/1.1"));
    }
    h2o_ssl_register_alpn_protocols(ctx, protos);
    return ctx;
}
