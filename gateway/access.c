/*
 * access.c - the HTTP side of auth.h: finding a request's credential, checking the scope a route
 * needs, and CORS (an allowlist of exact origins; a listed origin is echoed with credentials
 * allowed, any other gets no CORS headers, never a reflected one). HTTP loop threads.
 */
#include "events/log.h"
#include "events/text.h"
#include "events/timefmt.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static void principal_dispose(void *p)
{
    fg_principal_dispose(p);
}

/* The value of cookie `name` in the request's Cookie headers, or NULL. */
static const char *find_cookie(h2o_req_t *req, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) != -1;) {
        const h2o_iovec_t v = req->headers.entries[i].value;
        for (size_t p = 0; p < v.len;) {
            while (p < v.len && (v.base[p] == ' ' || v.base[p] == ';'))
                p++;
            size_t end = p;
            while (end < v.len && v.base[end] != ';')
                end++;
            if (end - p > nlen && v.base[p + nlen] == '=' && memcmp(v.base + p, name, nlen) == 0) {
                *len = end - p - nlen - 1;
                return v.base + p + nlen + 1;
            }
            p = end;
        }
    }
    return NULL;
}

/* Finds the credential: Authorization: Bearer, then the cookie, then ?access_token=. Returns
 * 1 with it, 0 when there is none, -1 when the Authorization header is not a Bearer one. */
static int find_credential(h2o_req_t *req, const char *cookie, const char **cred, size_t *len)
{
    const char *h = fg_http_header(req, H2O_TOKEN_AUTHORIZATION, len);
    if (h != NULL) {
        if (*len < 7 || strncasecmp(h, "Bearer ", 7) != 0)
            return -1;
        *cred = h + 7;
        *len -= 7;
        while (*len > 0 && **cred == ' ') {
            (*cred)++;
            (*len)--;
        }
        return 1;
    }
    if ((*cred = find_cookie(req, cookie, len)) != NULL)
        return 1;
    fg_query_iter_t it;
    fg_query_init(&it, req);
    char *name, *value;
    size_t nlen, vlen;
    while (fg_query_next(&it, &req->pool, &name, &nlen, &value, &vlen) > 0) {
        if (strcmp(name, "access_token") == 0) {
            *cred = value;
            *len = vlen;
            return 1;
        }
    }
    return 0;
}

static void unauthorized(h2o_req_t *req, const char *code, const char *message)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                   H2O_STRLIT("Bearer realm=\"flowgate\""));
    fg_http_error(req, 401, code, message, NULL, NULL, -1);
}

int fg_access_check(h2o_req_t *req, unsigned need, fg_principal_t **out)
{
    fg_server_t *srv = fg_loop_of(req)->server;
    *out = NULL;
    if (!srv->auth_on || need == 0)
        return 0;
    const char *cred = NULL;
    size_t len = 0;
    int found = find_credential(req, srv->cfg->auth_cookie, &cred, &len);
    if (found < 0) {
        unauthorized(req, "invalid_credential", "the Authorization header must be a Bearer one");
        return -1;
    }
    if (found == 0) {
        unauthorized(req, "unauthorized",
                     "a credential is needed: Authorization: Bearer, the cookie or access_token");
        return -1;
    }
    fg_principal_t *p = h2o_mem_alloc_shared(&req->pool, sizeof(*p), principal_dispose);
    const char *why;
    if (fg_auth_verify(srv->auth, cred, len, fg_time_now_us(), p, &why) != FG_OK) {
        fg_log(FG_LOG_INFO, "auth_rejected", "reason=\"%s\"", why); /* never the credential */
        unauthorized(req, "invalid_credential", why);
        return -1;
    }
    if ((p->scopes & need) != need) {
        const char *scope = need == FG_SCOPE_PUBLISH     ? "publish"
                            : need == FG_SCOPE_SUBSCRIBE ? "subscribe"
                                                         : "admin";
        char msg[96];
        snprintf(msg, sizeof(msg), "this credential lacks the %s scope", scope);
        fg_http_error(req, 403, "forbidden", msg, "scope", scope, -1);
        return -1;
    }
    *out = p;
    return 0;
}

int fg_cors_apply(h2o_req_t *req)
{
    fg_server_t *srv = fg_loop_of(req)->server;
    size_t olen;
    const char *origin = fg_http_header_by_name(req, "origin", &olen);
    bool preflight = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS"));
    if (origin == NULL)
        return 0;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL, H2O_STRLIT("Origin"));
    if (!fg_list_has(srv->cfg->cors_origins, ',', origin, olen)) {
        if (!preflight)
            return 0; /* no CORS headers: the browser keeps the answer from the page */
        char shown[128];
        snprintf(shown, sizeof(shown), "%.*s", (int)(olen < 100 ? olen : 100), origin);
        fg_http_error(req, 403, "forbidden_origin", "this origin is not in cors.origins", "Origin",
                      shown, -1);
        return 1;
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL,
                   origin, olen);
    h2o_add_header_by_str(&req->pool, &req->res.headers,
                          H2O_STRLIT("access-control-allow-credentials"), 0, NULL,
                          H2O_STRLIT("true"));
    if (!preflight)
        return 0;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-methods"),
                          0, NULL, H2O_STRLIT("GET, POST, PATCH, DELETE, OPTIONS"));
    h2o_add_header_by_str(
        &req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-headers"), 0, NULL,
        H2O_STRLIT("Authorization, Content-Type, Last-Event-ID, Idempotency-Key"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-max-age"), 0,
                          NULL, H2O_STRLIT("600"));
    req->res.status = 204;
    req->res.reason = "No Content";
    req->res.content_length = 0;
    h2o_send_inline(req, NULL, 0);
    return 1;
}
