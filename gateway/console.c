/*
 * console.c - the web console's files (gateway/console/), built into the binary: GET / is the
 * page, GET /console/app.js, /console/log.js, /console/app.css and /console/icon.svg (also
 * /favicon.ico) what it loads. The console uses the public API only, with the caller's own
 * credential. Static bytes: any thread.
 */
#include "events/text.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"

#include <stdio.h>
#include <string.h>

extern const char fg_console_html[], fg_console_js[], fg_console_logjs[], fg_console_css[],
    fg_console_icon[];
extern const size_t fg_console_html_len, fg_console_js_len, fg_console_logjs_len,
    fg_console_css_len, fg_console_icon_len;

typedef struct {
    const char *path;
    const char *type;
    const char *data;
    const size_t *len;
} asset_t;

static const asset_t assets[] = {
    {"/", "text/html; charset=utf-8", fg_console_html, &fg_console_html_len},
    {"/console/app.js", "text/javascript; charset=utf-8", fg_console_js, &fg_console_js_len},
    {"/console/log.js", "text/javascript; charset=utf-8", fg_console_logjs, &fg_console_logjs_len},
    {"/console/app.css", "text/css; charset=utf-8", fg_console_css, &fg_console_css_len},
    {"/console/icon.svg", "image/svg+xml", fg_console_icon, &fg_console_icon_len},
    /* browsers ask for it on every page that names no icon, the API's JSON pages included */
    {"/favicon.ico", "image/svg+xml", fg_console_icon, &fg_console_icon_len},
};

int fg_console_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param)
{
    const char *path = req->path_normalized.base;
    size_t len = req->path_normalized.len;
    const asset_t *a = NULL;
    for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
        if (strlen(assets[i].path) == len && memcmp(assets[i].path, path, len) == 0)
            a = &assets[i];
    if (a == NULL)
        return -1; /* the route table only sends the paths above */
    /* The files change only with the binary: revalidate by a hash of their bytes. */
    char etag[24];
    int n =
        snprintf(etag, sizeof(etag), "\"%016llx\"", (unsigned long long)fg_fnv1a(a->data, *a->len));
    h2o_iovec_t tag = h2o_strdup(&req->pool, etag, (size_t)n);
    size_t inm_len;
    const char *inm = fg_http_header_by_name(req, "if-none-match", &inm_len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, tag.base, tag.len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    if (inm != NULL && memmem(inm, inm_len, etag, (size_t)n) != NULL) {
        req->res.status = 304;
        req->res.reason = "Not Modified";
        h2o_send_inline(req, NULL, 0);
        return 0;
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, a->type,
                   strlen(a->type));
    if (a->path[1] == '\0')
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"),
                              0, NULL, H2O_STRLIT("default-src 'self'; frame-ancestors 'none'"));
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = *a->len;
    h2o_send_inline(req, a->data, *a->len);
    return 0;
}
