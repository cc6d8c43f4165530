/*
 * runs_http.h - what the run-view handlers share (runs_api.c, logs_api.c, logs_download.c):
 * the credential's narrowing, the query walk, the run id in the path and the answer of a view
 * query. Each answers the request itself when it fails. Loop thread.
 */
#ifndef FG_GATEWAY_RUNS_HTTP_H
#define FG_GATEWAY_RUNS_HTTP_H

#include "events/buf.h"
#include "events/filter.h"
#include "events/ids.h"
#include "gateway/auth.h"

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>

#define FG_RUNS_MAX_BODY (8u << 20) /* a page of 1,000 long log lines stays well under this */

/** Checks that who may see events of type (and of run_id when not NULL); f gets who's run list.
 * Answers 403 and returns -1 when not. */
int fg_runs_narrow(h2o_req_t *req, const fg_principal_t *who, const char *type, const char *run_id,
                   fg_filter_t *f);

/** Walks the query string: the page (limit, after) as params.h takes it, every other parameter
 * to other. 0, or -1 after answering 400. */
int fg_runs_walk_query(h2o_req_t *req, size_t *limit, uint64_t *after,
                       int (*other)(h2o_req_t *req, void *ctx, const char *name, const char *value,
                                    size_t vlen),
                       void *ctx);

/** Answers the buffer a view query built (rc FG_OK), or the error it ended with (404 for an
 * unknown run). */
void fg_runs_answer(h2o_req_t *req, int rc, fg_buf_t *b, const char *run_id);

/** Copies the run id from the path, lowercased; answers 400 invalid_run_id when it is not one. */
int fg_runs_path_run(h2o_req_t *req, const char *s, size_t len, char out[FG_UUID_LEN + 1]);

/** Calls cb on each item of a comma list; stops at the first non-zero return and returns it. */
int fg_runs_each_item(const char *list, size_t len, int (*cb)(void *ctx, const char *p, size_t n),
                      void *ctx);

#endif
