/*
 * routes.h - every route flowgate serves, as one table: method, path template ({name} is one
 * path segment, as in OpenAPI), the scope it needs and the handler it goes to. The server
 * dispatches through it (404 for an unknown path, 405 with Allow for a known path and another
 * method), and a test checks it against the OpenAPI document (gateway/openapi.json) both ways.
 * Data and matching, any thread; the handlers run on the request's loop.
 */
#ifndef FG_GATEWAY_ROUTES_H
#define FG_GATEWAY_ROUTES_H

#include "gateway/auth.h"

#include <h2o.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * A route's handler: answers the request in every case and returns 0. who is the caller's
 * principal (NULL when auth is off; a subscriber's reads are narrowed to what it may see); param
 * is the path's {…} segment (a run, webhook or delivery id, as sent), or empty when the template
 * has none.
 */
typedef int (*fg_handler_t)(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param);

typedef struct {
    const char *method; /* "GET", "POST", … */
    const char *path;   /* "/v1/runs/{run_id}/stream": at most one {…} */
    fg_handler_t handle;
    unsigned scope; /* FG_SCOPE_* needed, 0 for none */
} fg_route_t;

extern const fg_route_t fg_routes[];
extern const size_t fg_nroutes;

/**
 * The route for method and path (path without its query), or NULL; *param is the path's {…}
 * segment (empty when none). *path_known tells whether
 * some route has this path with another method; then allow (cap bytes) lists those methods
 * ("GET, POST").
 */
const fg_route_t *fg_route_match(const char *method, size_t mlen, const char *path, size_t plen,
                                 h2o_iovec_t *param, bool *path_known, char *allow, size_t cap);

#endif
