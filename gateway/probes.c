/*
 * probes.c - what load balancers and tools ask: GET /healthz (the process answers), GET /readyz
 * (it can take publishes: the store commits, every loop runs), and the OpenAPI document.
 * HTTP loop threads.
 */
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"

#include <inttypes.h>
#include <stdio.h>

int fg_healthz_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    fg_http_json(req, 200, ok, sizeof(ok) - 1);
    return 0;
}

int fg_readyz_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param)
{
    fg_server_t *srv = fg_loop_of(req)->server;
    bool running = srv->store != NULL && srv->writer != NULL && !atomic_load(&srv->stopping);
    for (size_t i = 0; i < srv->nloops && running; i++)
        running = atomic_load(&srv->loops[i].running);
    if (!running) {
        fg_http_error(req, 503, "not_ready", "the store or an HTTP loop is not running", NULL, NULL,
                      -1);
        return 0;
    }
    /* A store that cannot take writes (damaged, or the disk full) is not ready for publishers;
     * reads are still served, and readiness comes back by itself when commits work again. */
    char why[256];
    fg_health_state_t h = fg_health_get(&srv->health, why, sizeof(why));
    if (h != FG_HEALTH_OK) {
        fg_http_error(req, 503, "not_ready", why, "reason", fg_health_name(h), -1);
        return 0;
    }
    /* cluster mode: Redis must answer, or publishes here would all be 503 */
    if (srv->cfg->r.cluster &&
        fg_health_get(&srv->cluster_health, why, sizeof(why)) != FG_HEALTH_OK) {
        fg_http_error(req, 503, "not_ready", why, "reason", "redis_unavailable", -1);
        return 0;
    }
    char body[160];
    int n = snprintf(body, sizeof(body),
                     "{\"status\":\"ready\",\"last_seq\":%" PRIu64 ",\"epoch\":\"%016" PRIx64 "\"}",
                     fg_store_last_seq(srv->store), fg_store_epoch(srv->store));
    fg_http_json(req, 200, body, (size_t)n);
    return 0;
}

int fg_openapi_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param)
{
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    req->res.content_length = fg_openapi_json_len;
    h2o_send_inline(req, fg_openapi_json, fg_openapi_json_len);
    return 0;
}
