/*
 * params.h - a request's query string, walked once by every handler: the shared filter
 * parameters (types, run_id, workflow) into a filter, the page (limit, after) when the handler
 * pages by sequence, and every other parameter to the handler's own callback. Bad values are
 * answered 400 in the one error shape; unknown parameters are ignored (as the API documents).
 * Runs on the request's loop thread.
 */
#ifndef FG_GATEWAY_PARAMS_H
#define FG_GATEWAY_PARAMS_H

#include "events/catalog.h"
#include "events/filter.h"

#include <h2o.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    fg_filter_t *filter; /* types, run_id, workflow are added to it (NULL: they go to other) */
    bool run_in_path;    /* the path names the run: run_id in the query goes to other */
    uint64_t *after;     /* `after` as a sequence number (NULL: it goes to other) */
    size_t *limit;       /* `limit`, 1..max_limit (NULL: it goes to other) */
    size_t max_limit;
    /* Any other parameter (value decoded, NUL-terminated): 0, or -1 after answering 400. May be
     * NULL. */
    int (*other)(h2o_req_t *req, void *ctx, const char *name, const char *value, size_t vlen);
    void *ctx;
} fg_params_t;

/** Walks req's query string as p says. 0, or -1 after answering 400. */
int fg_params_walk(h2o_req_t *req, const fg_catalog_t *cat, const fg_params_t *p);

#endif
