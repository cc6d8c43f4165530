/*
 * url.h - validation of webhook target URLs, with libcurl's own URL parser (so what is checked
 * is what libcurl will connect to). Any thread.
 */
#ifndef FG_WEBHOOKS_URL_H
#define FG_WEBHOOKS_URL_H

#include "events/err.h"
#include "webhooks/addr.h"

#include <stdbool.h>
#include <sys/socket.h>

#define FG_WH_URL_MAX 2048

typedef struct {
    bool https;                 /* else http */
    char host[256];             /* host name or literal address, without brackets */
    unsigned port;              /* explicit or the scheme's default */
    bool literal;               /* host is an IP address, in `ip` */
    struct sockaddr_storage ip; /* when literal */
} fg_wh_url_t;

/**
 * Parses and checks a target URL: http or https only, a host, no credentials, no fragment, at
 * most FG_WH_URL_MAX bytes. Returns FG_OK, or FG_ERR_INVALID with err ("invalid_url").
 */
int fg_wh_url_parse(const char *url, fg_wh_url_t *out, fg_verr_t *err);

/**
 * The check made when a subscription is created: a literal address, or the name `localhost`
 * (and *.localhost, RFC 6761), that is not public and not allow-listed is refused with err
 * ("forbidden_target"). Names are checked again on the address actually connected to.
 */
int fg_wh_url_check_target(const fg_wh_url_t *u, const fg_cidr_t *allow, size_t nallow,
                           fg_verr_t *err);

#endif
