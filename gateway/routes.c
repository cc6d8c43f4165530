/*
 * routes.c - the route table and its matching (see routes.h).
 */
#include "gateway/routes.h"
#include "gateway/auth.h"

#include <stdio.h>
#include <string.h>

#define PUB FG_SCOPE_PUBLISH
#define SUB FG_SCOPE_SUBSCRIBE
#define ADM FG_SCOPE_ADMIN

const fg_route_t fg_routes[] = {
    {"POST", "/v1/events", FG_ROUTE_PUBLISH, PUB},
    {"GET", "/v1/events", FG_ROUTE_EVENTS, SUB},
    {"GET", "/v1/stream", FG_ROUTE_STREAM, SUB},
    {"GET", "/v1/runs/{run_id}/stream", FG_ROUTE_RUN_STREAM, SUB},
    {"GET", "/v1/runs", FG_ROUTE_RUNS, SUB},
    {"GET", "/v1/runs/{run_id}", FG_ROUTE_RUN, SUB},
    {"GET", "/v1/runs/{run_id}/logs", FG_ROUTE_RUN_LOGS, SUB},
    {"GET", "/v1/approvals", FG_ROUTE_APPROVALS, SUB},
    {"GET", "/v1/webhooks", FG_ROUTE_WEBHOOKS, ADM},
    {"POST", "/v1/webhooks", FG_ROUTE_WEBHOOKS, ADM},
    {"GET", "/v1/webhooks/{id}", FG_ROUTE_WEBHOOKS, ADM},
    {"PATCH", "/v1/webhooks/{id}", FG_ROUTE_WEBHOOKS, ADM},
    {"DELETE", "/v1/webhooks/{id}", FG_ROUTE_WEBHOOKS, ADM},
    {"GET", "/v1/webhooks/{id}/secret", FG_ROUTE_WEBHOOKS, ADM},
    {"POST", "/v1/webhooks/{id}/secret/rotate", FG_ROUTE_WEBHOOKS, ADM},
    {"GET", "/v1/webhooks/{id}/deliveries", FG_ROUTE_WEBHOOKS, ADM},
    {"POST", "/v1/webhooks/{id}/replay", FG_ROUTE_WEBHOOKS, ADM},
    {"GET", "/v1/deliveries/{id}", FG_ROUTE_DELIVERIES, ADM},
    {"POST", "/v1/deliveries/{id}/retry", FG_ROUTE_DELIVERIES, ADM},
    {"GET", "/v1/openapi.json", FG_ROUTE_OPENAPI, 0},
    {"GET", "/", FG_ROUTE_CONSOLE, 0},
    {"GET", "/console/app.js", FG_ROUTE_CONSOLE, 0},
    {"GET", "/console/app.css", FG_ROUTE_CONSOLE, 0},
    {"GET", "/console/icon.svg", FG_ROUTE_CONSOLE, 0},
    {"GET", "/favicon.ico", FG_ROUTE_CONSOLE, 0},
    {"GET", "/healthz", FG_ROUTE_HEALTHZ, 0},
    {"HEAD", "/healthz", FG_ROUTE_HEALTHZ, 0},
    {"GET", "/readyz", FG_ROUTE_READYZ, 0},
    {"HEAD", "/readyz", FG_ROUTE_READYZ, 0},
    {"GET", "/metrics", FG_ROUTE_METRICS, ADM},
    {"HEAD", "/metrics", FG_ROUTE_METRICS, ADM},
};
const size_t fg_nroutes = sizeof(fg_routes) / sizeof(fg_routes[0]);

/* True when path matches the template: literal bytes, and {x} for one non-empty segment. */
static bool path_matches(const char *tpl, const char *path, size_t plen)
{
    const char *p = path, *end = path + plen;
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
                                 bool *path_known, char *allow, size_t cap)
{
    *path_known = false;
    size_t used = 0;
    if (cap > 0)
        allow[0] = '\0';
    for (size_t i = 0; i < fg_nroutes; i++) {
        const fg_route_t *r = &fg_routes[i];
        if (!path_matches(r->path, path, plen))
            continue;
        if (strlen(r->method) == mlen && memcmp(r->method, method, mlen) == 0)
            return r;
        *path_known = true;
        if (used < cap) {
            int w = snprintf(allow + used, cap - used, "%s%s", used ? ", " : "", r->method);
            if (w > 0)
                used += (size_t)w;
        }
    }
    return NULL;
}
