/*
 * url.c - webhook target URL parsing (libcurl's CURLU) and the creation-time address check.
 */
#include "webhooks/url.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int invalid(fg_verr_t *err, const char *url, const char *why)
{
    char shown[96];
    snprintf(shown, sizeof(shown), "%.80s", url);
    return fg_verr_set(err, "invalid_url", "url", shown, "%s", why);
}

/* Fetches one part; NULL when absent. The caller curl_free()s it. */
static char *part(CURLU *h, CURLUPart what, unsigned flags)
{
    char *v = NULL;
    if (curl_url_get(h, what, &v, flags) != CURLUE_OK)
        return NULL;
    return v;
}

int fg_wh_url_parse(const char *url, fg_wh_url_t *out, fg_verr_t *err)
{
    if (strlen(url) > FG_WH_URL_MAX)
        return invalid(err, url, "the URL is longer than 2048 bytes");
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return invalid(err, url, "the URL contains spaces or control characters");
    CURLU *h = curl_url();
    if (h == NULL)
        return FG_ERR_NOMEM;
    int rc = FG_OK;
    char *scheme = NULL, *user = NULL, *password = NULL, *host = NULL, *port = NULL,
         *fragment = NULL;
    if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK) {
        rc = invalid(err, url, "the URL cannot be parsed");
        goto done;
    }
    scheme = part(h, CURLUPART_SCHEME, 0);
    user = part(h, CURLUPART_USER, 0);
    password = part(h, CURLUPART_PASSWORD, 0);
    host = part(h, CURLUPART_HOST, 0);
    port = part(h, CURLUPART_PORT, CURLU_DEFAULT_PORT);
    fragment = part(h, CURLUPART_FRAGMENT, 0);
    if (scheme == NULL || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        rc = invalid(err, url, "the URL must be http or https");
        goto done;
    }
    if (user != NULL || password != NULL) {
        rc = invalid(err, url, "the URL must not carry credentials; use the headers field");
        goto done;
    }
    if (fragment != NULL) {
        rc = invalid(err, url, "the URL must not have a fragment");
        goto done;
    }
    if (host == NULL || host[0] == '\0' || port == NULL) {
        rc = invalid(err, url, "the URL has no host");
        goto done;
    }
    memset(out, 0, sizeof(*out));
    out->https = strcasecmp(scheme, "https") == 0;
    out->port = (unsigned)strtoul(port, NULL, 10);
    const char *hv = host;
    size_t hl = strlen(host);
    if (hv[0] == '[' && hl > 2 && hv[hl - 1] == ']') {
        hv++;
        hl -= 2;
    }
    if (hl >= sizeof(out->host) || out->port == 0 || out->port > 65535) {
        rc = invalid(err, url, "the URL's host or port is out of range");
        goto done;
    }
    memcpy(out->host, hv, hl);
    out->host[hl] = '\0';
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->ip;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->ip;
    if (inet_pton(AF_INET, out->host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        out->literal = true;
    } else if (inet_pton(AF_INET6, out->host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        out->literal = true;
    }
done:
    curl_free(scheme);
    curl_free(user);
    curl_free(password);
    curl_free(host);
    curl_free(port);
    curl_free(fragment);
    curl_url_cleanup(h);
    return rc;
}

static bool is_localhost_name(const char *h)
{
    size_t n = strlen(h);
    if (n > 0 && h[n - 1] == '.')
        n--; /* "localhost." */
    return (n == 9 && strncasecmp(h, "localhost", 9) == 0) ||
           (n > 10 && strncasecmp(h + n - 10, ".localhost", 10) == 0);
}

int fg_wh_url_check_target(const fg_wh_url_t *u, const fg_cidr_t *allow, size_t nallow,
                           fg_verr_t *err)
{
    const char *why = NULL;
    if (u->literal) {
        if (fg_addr_allowed((const struct sockaddr *)&u->ip, allow, nallow, &why))
            return FG_OK;
    } else if (is_localhost_name(u->host)) {
        struct sockaddr_in lo = {.sin_family = AF_INET};
        lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fg_addr_allowed((const struct sockaddr *)&lo, allow, nallow, &why))
            return FG_OK;
    } else {
        return FG_OK;
    }
    return fg_verr_set(err, "forbidden_target", "url", u->host,
                       "the target is a %s address; allow its network in webhooks.allow_networks "
                       "to use it",
                       why);
}
