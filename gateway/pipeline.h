/*
 * pipeline.h - single-event POSTs pipelined on one HTTP/1.1 connection, committed together.
 *
 * h2o 2.2.5 takes an HTTP/1.1 connection's requests one at a time: the next pipelined request is
 * parsed only once the current one's response is sent. A publisher pipelining single-event POSTs
 * (as workflow engines do) then waited for one commit, an fsync, per event. When a publish is
 * taken, the complete requests already read behind it on its connection are looked at: those
 * that repeat it byte for byte but for their Content-Length and body (same method, path,
 * credential and headers: the same route, access and limits) and whose body is one valid event
 * are prepared and submitted at once, in order, behind it, so one commit takes them all. When
 * h2o hands such a request over in its turn, it is answered from its job (fg_pipeline_claim),
 * never run twice. The first request that does not qualify (other headers, a batch, a bad body,
 * the rate limit) ends the read-ahead: it and those behind it take the normal path.
 *
 * One loop's thread only.
 */
#ifndef FG_GATEWAY_PIPELINE_H
#define FG_GATEWAY_PIPELINE_H

#include <h2o.h>
#include <h2o/linklist.h>
#include <stdbool.h>

struct fg_loop;

#define FG_PIPELINE_AHEAD_MAX 64 /* requests submitted ahead per connection at most */

typedef struct {
    h2o_linklist_t conns; /* connections with requests read ahead */
} fg_pipeline_t;

void fg_pipeline_init(fg_pipeline_t *p);

/** Drops every read-ahead left (the loop is ending; its jobs are all answered). */
void fg_pipeline_dispose(fg_pipeline_t *p);

/**
 * req is an HTTP/1.1 publish just submitted (one JSON body, no Content-Encoding), by the
 * principal who (NULL: none) with the Idempotency-Key key (NULL: none): submits the requests
 * behind it on the connection that qualify.
 */
void fg_pipeline_read_ahead(h2o_req_t *req, const char *who, int64_t who_exp_us, const char *key);

/** True when req was read ahead: it is answered from its job (now, or when the job is done). */
bool fg_pipeline_claim(h2o_req_t *req);

/** After each turn of the loop: the read-ahead of connections that closed is dropped. */
void fg_pipeline_sweep(struct fg_loop *l);

#endif
