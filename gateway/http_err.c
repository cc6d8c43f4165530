/*
 * http_err.c - the one answer for each failure of the store or the server (fg_err_t → HTTP
 * status and error code), so every handler says the same thing about the same trouble.
 * HTTP loop threads.
 */
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"

#include <stdio.h>

void fg_http_fail(h2o_req_t *req, int rc, const char *what)
{
    fg_server_t *srv = fg_loop_of(req)->server;
    char msg[320];
    switch (rc) {
    case FG_ERR_NOMEM:
        fg_http_error(req, 503, "unavailable", "out of memory", NULL, NULL, -1);
        return;
    case FG_ERR_TOO_LARGE:
        fg_http_error(req, 503, "unavailable", "the answer does not fit in memory", NULL, NULL, -1);
        return;
    case FG_ERR_CLOSED:
        fg_http_error(req, 503, "unavailable", "the server is shutting down", NULL, NULL, -1);
        return;
    case FG_ERR_CORRUPT: {
        /* a reader may be the first to meet the damage: every other path learns it here */
        char reason[256];
        snprintf(reason, sizeof(reason), "the store %.200s is damaged", fg_store_path(srv->store));
        fg_health_corrupt(&srv->health, reason);
        snprintf(msg, sizeof(msg), "%s: the store is damaged (see /readyz)", what);
        fg_http_error(req, 503, "store_corrupt", msg, NULL, NULL, -1);
        return;
    }
    default:
        /* passing trouble (Redis or the disk): clients and proxies may try again shortly */
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
        snprintf(msg, sizeof(msg), "%s; retry later", what);
        fg_http_error(req, 503, "store_unavailable", msg, NULL, NULL, -1);
        return;
    }
}
