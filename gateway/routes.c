/*
 * routes.c - the route table and its matching (see routes.h).
 */
#include "gateway/routes.h"
#include "gateway/auth.h"
#include "gateway/gateway_internal.h"

#include <stdio.h>
#include <string.h>

#define PUB FG_SCOPE_PUBLISH
#define SUB FG_SCOPE_SUBSCRIBE
#define ADM FG_SCOPE_ADMIN

const fg_route_t fg_routes[] = {
    {"POST", "/v1/events", fg_publish_handle, PUB},
    {"POST", "/v1/ingest/{engine}", fg_ingest_handle, 0},
    {"GET", "/v1/events", fg_query_handle, SUB},
    {"GET", "/v1/stream", fg_stream_handle, SUB},
    {"GET", "/v1/runs/{run_id}/stream", fg_stream_handle, SUB},
    {"GET", "/v1/runs", fg_runs_list_handle, SUB},
    {"GET", "/v1/runs/{run_id}", fg_run_handle, SUB},
    {"GET", "/v1/runs/{run_id}/logs", fg_run_logs_handle, SUB},
    {"GET", "/v1/runs/{run_id}/logs/download", fg_run_logs_download_handle, SUB},
    {"GET", "/v1/approvals", fg_approvals_handle, SUB},
    {"POST", "/v1/filters/test", fg_filters_test_handle, SUB},
    {"GET", "/v1/webhooks", fg_wh_list_handle, ADM},
    {"POST", "/v1/webhooks", fg_wh_create_handle, ADM},
    {"GET", "/v1/webhooks/{id}", fg_wh_get_handle, ADM},
    {"PATCH", "/v1/webhooks/{id}", fg_wh_patch_handle, ADM},
    {"DELETE", "/v1/webhooks/{id}", fg_wh_delete_handle, ADM},
    {"GET", "/v1/webhooks/{id}/secret", fg_wh_secret_handle, ADM},
    {"POST", "/v1/webhooks/{id}/secret/rotate", fg_wh_rotate_handle, ADM},
    {"GET", "/v1/webhooks/{id}/deliveries", fg_wh_deliveries_handle, ADM},
    {"POST", "/v1/webhooks/{id}/replay", fg_wh_replay_handle, ADM},
    {"GET", "/v1/deliveries/{id}", fg_delivery_get_handle, ADM},
    {"POST", "/v1/deliveries/{id}/retry", fg_delivery_retry_handle, ADM},
    {"GET", "/v1/openapi.json", fg_openapi_handle, 0},
    {"GET", "/", fg_console_handle, 0},
    {"GET", "/console/app.js", fg_console_handle, 0},
    {"GET", "/console/log.js", fg_console_handle, 0},
    {"GET", "/console/app.css", fg_console_handle, 0},
    {"GET", "/console/icon.svg", fg_console_handle, 0},
    {"GET", "/favicon.ico", fg_console_handle, 0},
    {"GET", "/healthz", fg_healthz_handle, 0},
    {"HEAD", "/healthz", fg_healthz_handle, 0},
    {"GET", "/readyz", fg_readyz_handle, 0},
    {"HEAD", "/readyz", fg_readyz_handle, 0},
    {"GET", "/metrics", fg_metrics_handle, ADM},
    {"GET", "/v1/cluster/snapshot", fg_cluster_snapshot_handle, ADM},
    {"HEAD", "/metrics", fg_metrics_handle, ADM},
};
const size_t fg_nroutes = sizeof(fg_routes) / sizeof(fg_routes[0]);

/* True when path matches the template: literal bytes, and {x} for one non-empty segment, which
 * goes to *param. */
static bool path_matches(const char *tpl, const char *path, size_t plen, h2o_iovec_t *param)
{
    const char *p = path, *end = path + plen;
    *param = h2o_iovec_init(NULL, 0);
    while (*tpl) {
        if (*tpl == '{') {
            tpl = strchr(tpl, '}');
            if (tpl == NULL)
                return false;
            tpl++;
            const char *seg = p;
            while (p < end && *p != '/')
                p++;
            if (p == seg)
                return false;
            *param = h2o_iovec_init(seg, (size_t)(p - seg));
        } else {
            if (p == end || *p != *tpl)
                return false;
            p++;
            tpl++;
        }
    }
    return p == end;
}

const fg_route_t *fg_route_match(const char *method, size_t mlen, const char *path, size_t plen,
                                 h2o_iovec_t *param, bool *path_known, char *allow, size_t cap)
{
    *path_known = false;
    *param = h2o_iovec_init(NULL, 0);
    size_t used = 0;
    if (cap > 0)
        allow[0] = '\0';
    for (size_t i = 0; i < fg_nroutes; i++) {
        const fg_route_t *r = &fg_routes[i];
        h2o_iovec_t seg;
        if (!path_matches(r->path, path, plen, &seg))
            continue;
        if (strlen(r->method) == mlen && memcmp(r->method, method, mlen) == 0) {
            *param = seg;
            return r;
        }
        *path_known = true;
        if (used < cap) {
            int w = snprintf(allow + used, cap - used, "%s%s", used ? ", " : "", r->method);
            if (w > 0)
                used += (size_t)w;
        }
    }
    return NULL;
}
