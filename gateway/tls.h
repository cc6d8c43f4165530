/*
 * tls.h - the TLS listener's context: a certificate chain and key from files, TLS 1.2 or newer,
 * and ALPN offering h2 then http/1.1 (so browsers get HTTP/2 and are not held to six
 * connections per host). Built on the main thread (at start and on SIGHUP); each HTTP loop takes
 * a reference.
 */
#ifndef FG_GATEWAY_TLS_H
#define FG_GATEWAY_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

/** A new context, or NULL with one line naming the file at fault in err. */
SSL_CTX *fg_tls_context(const char *cert_file, const char *key_file, char *err, size_t cap);

#endif
