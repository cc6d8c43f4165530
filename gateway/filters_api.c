/*
 * filters_api.c - POST /v1/filters/test {"filter": {…}, "event": {…}}: whether an event matches
 * a payload filter (events/pfilter.h), for people writing one for a subscription or a stream.
 * Answers {"match": true|false}; a bad filter is the 400 a subscription or stream would get.
 * HTTP loop threads; nothing is stored.
 */
#include "events/pfilter.h"
#include "gateway/body.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"

#include <string.h>

int fg_filters_test_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param)
{
    (void)who;
    (void)param;
    json_t *body = fg_body_object(req, (size_t)fg_loop_of(req)->server->cfg->max_body_bytes);
    if (body == NULL)
        return 0;
    const json_t *filter = json_object_get(body, "filter");
    const json_t *event = json_object_get(body, "event");
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "filter") != 0 && strcmp(key, "event") != 0) {
            fg_http_error(req, 400, "unknown_field", "the body holds filter and event only", key,
                          NULL, -1);
            json_decref(body);
            return 0;
        }
    }
    if (filter == NULL || !json_is_object(event)) {
        fg_http_error(req, 400, filter == NULL ? "missing_filter" : "invalid_event",
                      filter == NULL ? "the body needs a filter"
                                     : "the body needs an event (a JSON object)",
                      filter == NULL ? "filter" : "event", NULL, -1);
        json_decref(body);
        return 0;
    }
    fg_pfilter_t *f = NULL;
    fg_verr_t err;
    int rc = fg_pfilter_compile_json(filter, &f, &err);
    if (rc == FG_ERR_INVALID)
        fg_http_verr(req, 400, &err);
    else if (rc != FG_OK)
        fg_http_fail(req, rc, "the filter could not be compiled");
    else if (fg_pfilter_match(f, event))
        fg_http_json(req, 200, "{\"match\":true}", 14);
    else
        fg_http_json(req, 200, "{\"match\":false}", 15);
    fg_pfilter_free(f);
    json_decref(body);
    return 0;
}
