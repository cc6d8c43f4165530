/*
 * logs_http.h - the parameters a run's log routes share (logs_api.c, logs_download.c): the step,
 * the streams, ansi, follow and the search's. Loop thread.
 */
#ifndef FG_GATEWAY_LOGS_HTTP_H
#define FG_GATEWAY_LOGS_HTTP_H

#include "events/ids.h"
#include "events/logindex.h"
#include "events/runview.h"

#include <h2o.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    fg_logs_query_t *q;
    char step_id[FG_UUID_LEN + 1]; /* "" for every step */
    bool follow;
    int ansi; /* -1: not given (strip for text, keep for JSON), 0 keep, 1 strip */
    /* the search's (copies in the request's pool) */
    const char *needle, *regex;
    size_t needle_len;
    const char *exclude[FG_LOGSEARCH_MAX_EXCLUDES];
    size_t nexclude;
    bool case_sensitive, has_since, has_until;
    int64_t since_us, until_us;
} fg_logs_params_t;

/** fg_params_t's `other` for the log routes (ctx: fg_logs_params_t). 0, or -1 after a 400. */
int fg_logs_param(h2o_req_t *req, void *ctx, const char *name, const char *value, size_t vlen);

/** True when the parameters ask for a search. */
bool fg_logs_searching(const fg_logs_params_t *p);

/** True when the Accept header asks for text and not JSON (follow: text unless JSON only). */
bool fg_logs_wants_text(h2o_req_t *req, bool follow);

#endif
