/*
 * params.c - the one query-string walk (params.h).
 */
#include "gateway/params.h"
#include "events/cursor.h"
#include "events/err.h"
#include "gateway/http_util.h"

#include <string.h>

/* A shared parameter p takes: FG_OK with *taken set, or FG_ERR_INVALID with err. */
static int shared(const fg_catalog_t *cat, const fg_params_t *p, const char *name,
                  const char *value, size_t vlen, bool *taken, fg_verr_t *err)
{
    *taken = true;
    uint64_t v;
    if (p->filter != NULL && strcmp(name, "types") == 0)
        return fg_filter_add_types(p->filter, cat, value, vlen, err);
    if (p->filter != NULL && !p->run_in_path && strcmp(name, "run_id") == 0)
        return fg_filter_add_runs(p->filter, value, vlen, err);
    if (p->filter != NULL && strcmp(name, "workflow") == 0)
        return fg_filter_add_workflows(p->filter, value, vlen, err);
    if (p->filter != NULL && strcmp(name, "filter") == 0) {
        if (p->filter->payload != NULL)
            return fg_verr_set(err, "invalid_filter", "filter", NULL,
                               "filter: give one (combine with $and)");
        return fg_filter_set_payload(p->filter, value, vlen, err);
    }
    if (p->after != NULL && strcmp(name, "after") == 0) {
        if (fg_cursor_parse(value, vlen, p->after) != FG_OK)
            return fg_verr_set(err, "invalid_cursor", "after", value,
                               "after must be a sequence number");
        return FG_OK;
    }
    if (p->limit != NULL && strcmp(name, "limit") == 0) {
        if (fg_cursor_parse(value, vlen, &v) != FG_OK || v == 0 || v > p->max_limit)
            return fg_verr_set(err, "invalid_limit", "limit", value,
                               "limit must be an integer from 1 to %zu", p->max_limit);
        *p->limit = (size_t)v;
        return FG_OK;
    }
    *taken = false;
    return FG_OK;
}

int fg_params_walk(h2o_req_t *req, const fg_catalog_t *cat, const fg_params_t *p)
{
    fg_query_iter_t it;
    fg_query_init(&it, req);
    char *name, *value;
    size_t nlen, vlen;
    int r;
    while ((r = fg_query_next(&it, &req->pool, &name, &nlen, &value, &vlen)) > 0) {
        fg_verr_t err;
        bool taken;
        if (shared(cat, p, name, value, vlen, &taken, &err) != FG_OK) {
            fg_http_verr(req, 400, &err);
            return -1;
        }
        if (!taken && p->other != NULL && p->other(req, p->ctx, name, value, vlen) != 0)
            return -1;
    }
    if (r < 0) {
        fg_http_error(req, 400, "invalid_query", "malformed percent-encoding in the query string",
                      NULL, NULL, -1);
        return -1;
    }
    return 0;
}
