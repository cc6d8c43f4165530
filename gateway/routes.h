/*
 * routes.h - every route flowgate serves, as one table: method, path template ({name} is one
 * path segment, as in OpenAPI), the scope it needs and the handler it goes to. The server
 * dispatches through it (404 for an unknown path, 405 with Allow for a known path and another
 * method), and a test checks it against the OpenAPI document (gateway/openapi.json) both ways.
 * Pure data and matching, any thread.
 */
#ifndef FG_GATEWAY_ROUTES_H
#define FG_GATEWAY_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    FG_ROUTE_PUBLISH,
    FG_ROUTE_EVENTS,
    FG_ROUTE_STREAM,
    FG_ROUTE_RUN_STREAM,
    FG_ROUTE_RUNS,       /* GET /v1/runs */
    FG_ROUTE_RUN,        /* GET /v1/runs/{run_id} */
    FG_ROUTE_RUN_LOGS,   /* GET /v1/runs/{run_id}/logs */
    FG_ROUTE_APPROVALS,  /* GET /v1/approvals */
    FG_ROUTE_CONSOLE,    /* the web console's files (console.c) */
    FG_ROUTE_WEBHOOKS,   /* /v1/webhooks and below: webhooks_api.c */
    FG_ROUTE_DELIVERIES, /* /v1/deliveries/{id} and below: webhooks_api.c */
    FG_ROUTE_HEALTHZ,
    FG_ROUTE_READYZ,
    FG_ROUTE_METRICS,
    FG_ROUTE_OPENAPI,
} fg_route_id_t;

typedef struct {
    const char *method; /* "GET", "POST", … */
    const char *path;   /* "/v1/runs/{run_id}/stream" */
    fg_route_id_t id;
    unsigned scope; /* FG_SCOPE_* needed, 0 for none */
} fg_route_t;

extern const fg_route_t fg_routes[];
extern const size_t fg_nroutes;

/**
 * The route for method and path (path without its query), or NULL. *path_known tells whether
 * some route has this path with another method; then allow (cap bytes) lists those methods
 * ("GET, POST").
 */
const fg_route_t *fg_route_match(const char *method, size_t mlen, const char *path, size_t plen,
                                 bool *path_known, char *allow, size_t cap);

#endif
