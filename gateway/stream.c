/*
 * stream.c - SSE streams: GET /v1/stream and GET /v1/runs/{run_id}/stream.
 *
 * Runs on the HTTP loop that accepted the request. A stream starts by replaying from the store
 * what matches after its cursor, in pages, one page per drained send; when it has read up to
 * the highest sequence its loop has seen (hub.high_seq), it turns live and takes events from the
 * hub as they are announced. Both happen on the same thread, so nothing falls between replay and
 * live and nothing comes twice: the cursor only moves forward.
 *
 * h2o's streaming contract: one h2o_send in flight per request; the buffers stay valid until
 * proceed; after stop, never send again. So events wait in a bounded per-stream queue and each
 * proceed flushes all that is queued as one multi-iovec send. A stream whose queue overflows is
 * cut off (its client resumes from its cursor); the others are not slowed.
 * Memory: the stream lives in the request pool and is freed by the pool's dispose callback.
 */
#include "events/cursor.h"
#include "events/log.h"
#include "events/rng.h"
#include "events/sse.h"
#include "events/timefmt.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"
#include "gateway/params.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct fg_stream {
    fg_hub_sub_t sub; /* hub membership; attached while the stream may take live events */
    h2o_generator_t gen;
    h2o_req_t *req; /* NULL after stop */
    fg_loop_t *loop;
    fg_filter_t filter;
    uint64_t cursor;    /* every event <= cursor was queued or does not match */
    bool live;          /* false while replaying from the store */
    bool sending;       /* an h2o_send is in flight (waiting for proceed) */
    bool closing;       /* end the response once the queue is flushed */
    bool finished;      /* the final send was made */
    bool dirty;         /* in the loop's flush list */
    uint64_t dirty_gen; /* the loop's batch_gen when it was put in the flush list */
    bool counted;       /* included in loop->nstreams */
    bool trimmed;       /* the connection's input buffer was made small (fg_http1_trim_input) */
    fg_event_t **q;     /* ring of queued events (references held) */
    size_t qhead, qlen, qcap;
    size_t qbytes;    /* bytes of the queued frames */
    fg_event_t **fly; /* events of the send in flight (references held) */
    size_t nfly, flycap;
    fg_buf_t ctl;     /* control frames waiting: retry, gap, heartbeat */
    fg_buf_t ctl_fly; /* control frames of the send in flight */
    int64_t last_write_ms;
    int64_t expires_ms;           /* the credential's end (monotonic), or 0 */
    const fg_stream_text_t *text; /* plain text instead of SSE (in ctl), or NULL */
    bool end_when_live;           /* text: the end was seen in the replay */
    char addr_key[FG_LIMITS_KEY_MAX], cred_key[FG_LIMITS_KEY_MAX]; /* counted against */
    fg_hangup_watch_t *watch;  /* HTTP/1.1: its socket, watched for the client's hangup */
    h2o_linklist_t dirty_link; /* in the loop's dirty list while dirty */
} fg_stream_t;

static void flush(fg_stream_t *s);
static void shut(fg_stream_t *s);

static void release_fly(fg_stream_t *s)
{
    for (size_t i = 0; i < s->nfly; i++)
        fg_event_release(s->fly[i]);
    s->nfly = 0;
    s->ctl_fly.len = 0;
}

static void release_queue(fg_stream_t *s)
{
    for (size_t i = 0; i < s->qlen; i++)
        fg_event_release(s->q[(s->qhead + i) % s->qcap]);
    s->qlen = s->qhead = s->qbytes = 0;
}

static void on_dispose(void *p)
{
    fg_stream_t *s = p;
    if (s->counted) {
        s->loop->nstreams--;
        atomic_fetch_sub(&s->loop->server->streams_open, 1);
    }
    fg_hub_detach(&s->loop->hub, &s->sub);
    if (s->dirty)
        h2o_linklist_unlink(&s->dirty_link);
    fg_admit_stream_end(s->loop->server, s->addr_key, s->cred_key);
    fg_hangup_unwatch(&s->loop->hangup, s->watch);
    release_fly(s);
    release_queue(s);
    free(s->q);
    free(s->fly);
    fg_buf_dispose(&s->ctl);
    fg_buf_dispose(&s->ctl_fly);
    fg_filter_dispose(&s->filter);
}

/* Puts the stream at the tail of its loop's flush list (fg_stream_flush_slice). */
static void mark_dirty(fg_stream_t *s)
{
    if (s->dirty)
        return;
    s->dirty = true;
    s->dirty_gen = s->loop->batch_gen;
    h2o_linklist_insert(&s->loop->dirty_streams, &s->dirty_link);
}

/* The stream's frames are behind: its last send is not taken yet, or it has waited its turn in
 * the flush list since an earlier batch. Only then do the queue's caps bind. */
static bool behind(const fg_stream_t *s)
{
    return s->sending || (s->dirty && s->dirty_gen != s->loop->batch_gen);
}

/* Cuts off a stream that does not keep up. The client resumes from its last id. */
static void cut_off(fg_stream_t *s)
{
    fg_server_t *srv = s->loop->server;
    atomic_fetch_add(&srv->streams_slow, 1);
    fg_log(FG_LOG_WARN, "stream_too_slow", "queued_events=%zu queued_bytes=%zu cursor=%" PRIu64,
           s->qlen, s->qbytes, s->cursor);
    fg_hub_detach(&s->loop->hub, &s->sub);
    release_queue(s);
    s->closing = true;
    if (s->sending && s->req != NULL) {
        /* The send in flight never completes while the client does not read: make it fail.
         * h2o then calls stop. (On HTTP/2 this closes the client's whole connection.) */
        shut(s);
    } else {
        flush(s);
    }
}

/* Makes h2o close the stream's connection now: a write on the shut socket fails, h2o calls stop
 * and frees the request (with the stream and its slots). The send in flight fails alike. */
static void shut(fg_stream_t *s)
{
    h2o_socket_t *sock = s->req->conn->callbacks->get_socket(s->req->conn);
    if (sock != NULL)
        shutdown(h2o_socket_get_fd(sock), SHUT_RDWR);
    if (!s->sending && fg_buf_append(&s->ctl, "\n", 1) == FG_OK)
        flush(s);
}

void fg_stream_hangup(void *stream)
{
    fg_stream_t *s = stream;
    if (s->req == NULL)
        return;
    atomic_fetch_add(&s->loop->server->streams_hung_up, 1);
    fg_hub_detach(&s->loop->hub, &s->sub);
    release_queue(s);
    s->closing = true;
    shut(s);
}

/* A text stream has shown its last line: it ends once what is queued is sent. */
static void end_text(fg_stream_t *s)
{
    fg_hub_detach(&s->loop->hub, &s->sub);
    s->closing = true;
}

/* A text stream renders the event into ctl; the byte cap binds as for events. */
static void enqueue_text(fg_stream_t *s, fg_event_t *ev, bool capped)
{
    const fg_config_t *cfg = s->loop->server->cfg;
    int r = s->text->render(s->text->ctx, ev, &s->ctl);
    if (r < 0 || (capped && behind(s) && s->ctl.len > (size_t)cfg->queue_max_bytes)) {
        cut_off(s);
        return;
    }
    if (r > 0) {
        if (s->live)
            end_text(s);
        else
            s->end_when_live = true;
    }
    mark_dirty(s);
}

/* Queues one event (taking a reference). Live events respect the stream's caps, which only
 * bind while the stream is behind: a stream is slow when its client has not taken the previous
 * write yet (or the loop's turn has not come back to it), not when one large commit arrives at
 * an idle stream. */
static void enqueue(fg_stream_t *s, fg_event_t *ev, bool capped)
{
    const fg_config_t *cfg = s->loop->server->cfg;
    if (s->text != NULL) {
        enqueue_text(s, ev, capped);
        return;
    }
    if (capped && behind(s) &&
        (s->qlen + 1 > (size_t)cfg->queue_max_events ||
         s->qbytes + ev->frame_len > (size_t)cfg->queue_max_bytes)) {
        cut_off(s);
        return;
    }
    if (s->qlen == s->qcap) {
        size_t cap = s->qcap ? s->qcap * 2 : 4;
        fg_event_t **q = malloc(cap * sizeof(*q));
        if (q == NULL) {
            cut_off(s);
            return;
        }
        for (size_t i = 0; i < s->qlen; i++)
            q[i] = s->q[(s->qhead + i) % s->qcap];
        free(s->q);
        s->q = q;
        s->qcap = cap;
        s->qhead = 0;
    }
    s->q[(s->qhead + s->qlen) % s->qcap] = fg_event_retain(ev);
    s->qlen++;
    s->qbytes += ev->frame_len;
    mark_dirty(s);
}

/* Sends what is waiting, if no send is in flight. */
static void flush(fg_stream_t *s)
{
    if (s->req == NULL || s->sending || s->finished)
        return;
    size_t n = 0;
    if (s->ctl.len > 0) {
        fg_buf_t t = s->ctl_fly;
        s->ctl_fly = s->ctl;
        s->ctl = t;
        s->ctl.len = 0;
        s->loop->send_iov[n++] = h2o_iovec_init(s->ctl_fly.data, s->ctl_fly.len);
    }
    size_t want = s->qlen < FG_STREAM_MAX_IOV ? s->qlen : FG_STREAM_MAX_IOV;
    if (want > s->flycap) {
        size_t cap = s->flycap ? s->flycap : 8;
        while (cap < want)
            cap *= 2;
        fg_event_t **fly = realloc(s->fly, cap * sizeof(*fly));
        if (fly == NULL) {
            /* the client resumes from its cursor: what is queued is not lost to it */
            fg_log(FG_LOG_ERROR, "out_of_memory", "where=stream_flush");
            release_queue(s);
            fg_hub_detach(&s->loop->hub, &s->sub);
            s->closing = true;
        } else {
            s->fly = fly;
            s->flycap = cap;
        }
    }
    while (s->qlen > 0 && s->nfly < FG_STREAM_MAX_IOV) {
        fg_event_t *ev = s->q[s->qhead];
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        s->qbytes -= ev->frame_len;
        s->fly[s->nfly++] = ev;
        s->loop->send_iov[n++] = h2o_iovec_init(ev->frame, ev->frame_len);
    }
    bool final = s->closing && s->qlen == 0;
    if (n == 0 && !final)
        return;
    atomic_fetch_add_explicit(&s->loop->server->frames_sent, s->nfly, memory_order_relaxed);
    s->last_write_ms = fg_time_mono_ms();
    if (final)
        s->finished = true;
    else
        s->sending = true;
    h2o_send(s->req, s->loop->send_iov, n,
             final ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

/* Emits an in-band gap: events after `after` up to `purged` were removed by retention. */
static void emit_gap(fg_stream_t *s, uint64_t purged)
{
    char id[24], data[96];
    snprintf(id, sizeof(id), "%" PRIu64, purged);
    int n = snprintf(data, sizeof(data), "{\"after\":%" PRIu64 ",\"first_seq\":%" PRIu64 "}",
                     s->cursor, purged + 1);
    if (fg_sse_append_frame(&s->ctl, id, "gap", data, (size_t)n) != FG_OK)
        s->closing = true;
    s->cursor = purged;
}

/* The cursor names no position of this store: it is beyond every number given out (a store
 * replaced or restored) or inside a range lost with a write-ahead log. An in-band reset tells the
 * client to reload its state; the stream goes on live from `now` (the frame's id). */
static void emit_reset(fg_stream_t *s, uint64_t cursor, fg_cursor_state_t why, uint64_t now)
{
    const fg_store_t *store = s->loop->server->store;
    char id[24], data[200];
    snprintf(id, sizeof(id), "%" PRIu64, now);
    int n = snprintf(data, sizeof(data),
                     "{\"after\":%" PRIu64 ",\"last_seq\":%" PRIu64 ",\"epoch\":\"%016" PRIx64
                     "\",\"reason\":\"%s\"}",
                     cursor, now, fg_store_epoch(store),
                     why == FG_CURSOR_LOST ? "events_lost" : "cursor_ahead");
    if (fg_sse_append_frame(&s->ctl, id, "reset", data, (size_t)n) != FG_OK)
        s->closing = true;
    fg_log(FG_LOG_INFO, "stream_reset", "cursor=%" PRIu64 " last_seq=%" PRIu64 " reason=%s", cursor,
           now, why == FG_CURSOR_LOST ? "events_lost" : "cursor_ahead");
}

/* The replay cannot be read: the stream ends with an error event naming why (a client that
 * only reconnected would meet the same wall every retry), and a damaged store is recorded. */
static void end_with_error(fg_stream_t *s, int rc)
{
    fg_server_t *srv = s->loop->server;
    fg_log(FG_LOG_ERROR, "replay_failed", "error=\"%s\" cursor=%" PRIu64, fg_strerror(rc),
           s->cursor);
    fg_hub_detach(&s->loop->hub, &s->sub);
    release_queue(s);
    if (rc == FG_ERR_CORRUPT) {
        char reason[256];
        snprintf(reason, sizeof(reason), "the store %.200s is damaged", fg_store_path(srv->store));
        fg_health_corrupt(&srv->health, reason);
    }
    if (s->text == NULL) {
        static const char corrupt[] = "{\"error\":\"store_corrupt\",\"message\":\"the store is "
                                      "damaged; the replay cannot be read (see /readyz)\"}";
        static const char other[] = "{\"error\":\"store_unavailable\",\"message\":\"the replay "
                                    "could not be read; reconnect later\"}";
        if (rc == FG_ERR_CORRUPT)
            fg_sse_append_frame(&s->ctl, NULL, "error", corrupt, sizeof(corrupt) - 1);
        else
            fg_sse_append_frame(&s->ctl, NULL, "error", other, sizeof(other) - 1);
    }
    s->closing = true;
    mark_dirty(s);
}

/* The replay has caught up: live from here, or the end of a text stream that saw its end. */
static void go_live(fg_stream_t *s)
{
    s->live = true;
    if (s->end_when_live)
        end_text(s);
}

/* Reads the next page of the replay into the queue, or turns the stream live. */
static void replay_page(fg_stream_t *s)
{
    fg_loop_t *l = s->loop;
    fg_server_t *srv = l->server;
    uint64_t upto = l->hub.high_seq;
    uint64_t purged = fg_store_purged_through(srv->store);
    if (s->cursor < purged && s->text == NULL)
        emit_gap(s, purged);
    if (s->cursor >= upto) {
        go_live(s);
        return;
    }
    size_t page = (size_t)srv->cfg->replay_page;
    fg_event_t **evs = malloc(page * sizeof(*evs));
    size_t n = 0;
    uint64_t scanned = s->cursor;
    int rc = evs ? fg_store_read(l->reader, srv->cat, &s->filter, s->cursor, upto, page, evs, &n,
                                 &scanned)
                 : FG_ERR_NOMEM;
    if (rc != FG_OK) {
        free(evs);
        end_with_error(s, rc);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        enqueue(s, evs[i], false);
        fg_event_release(evs[i]);
    }
    free(evs);
    s->cursor = scanned;
    if (scanned >= upto)
        go_live(s);
    mark_dirty(s);
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    fg_stream_t *s = H2O_STRUCT_FROM_MEMBER(fg_stream_t, gen, gen);
    if (!s->trimmed) { /* the response's head has gone out with the first send */
        s->trimmed = true;
        fg_http1_trim_input(req);
    }
    release_fly(s);
    s->sending = false;
    if (!s->live && !s->closing && s->qlen == 0)
        replay_page(s);
    if (s->qlen > 0 || s->ctl.len > 0 || s->closing)
        mark_dirty(s); /* its turn comes in the loop's next slice, after the streams before it */
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    fg_stream_t *s = H2O_STRUCT_FROM_MEMBER(fg_stream_t, gen, gen);
    s->req = NULL;
    fg_hub_detach(&s->loop->hub, &s->sub);
    release_queue(s);
}

/* The hub hands a live event to a stream whose filter matches. */
void fg_stream_deliver(fg_hub_sub_t *sub, fg_event_t *ev, void *ctx)
{
    fg_stream_t *s = H2O_STRUCT_FROM_MEMBER(fg_stream_t, sub, sub);
    if (!s->live || ev->seq <= s->cursor || s->closing)
        return;
    s->cursor = ev->seq;
    enqueue(s, ev, true);
}

bool fg_stream_flush_slice(fg_loop_t *l, int64_t budget_us)
{
    if (h2o_linklist_is_empty(&l->dirty_streams))
        return false;
    int64_t until = fg_time_mono_us() + budget_us;
    size_t n = 0;
    while (!h2o_linklist_is_empty(&l->dirty_streams)) {
        if (++n % 8 == 0 && (atomic_load_explicit(&l->replies_waiting, memory_order_relaxed) ||
                             fg_time_mono_us() >= until))
            return true;
        fg_stream_t *s = H2O_STRUCT_FROM_MEMBER(fg_stream_t, dirty_link, l->dirty_streams.next);
        h2o_linklist_unlink(&s->dirty_link);
        s->dirty = false;
        flush(s);
    }
    return true; /* sends were (probably) made: their completions are h2o's to run */
}

/* The credential ran out: a final auth_expired frame, then the end. The client signs in again
 * and resumes from its last id. */
static void expire(fg_stream_t *s)
{
    static const char data[] = "{\"error\":\"auth_expired\"}";
    s->expires_ms = 0;
    fg_hub_detach(&s->loop->hub, &s->sub);
    release_queue(s);
    if (s->text == NULL)
        fg_sse_append_frame(&s->ctl, NULL, "auth_expired", data, sizeof(data) - 1);
    s->closing = true;
    mark_dirty(s);
}

void fg_stream_heartbeat(fg_loop_t *l, int64_t now_ms)
{
    int64_t every = l->server->cfg->heartbeat_ms;
    for (h2o_linklist_t *p = l->hub.subs.next; p != &l->hub.subs;) {
        fg_stream_t *s = H2O_STRUCT_FROM_MEMBER(fg_stream_t, sub.all, p);
        p = p->next; /* expire detaches s */
        if (s->expires_ms != 0 && now_ms >= s->expires_ms) {
            expire(s);
            continue;
        }
        if (s->text != NULL || s->sending || s->qlen > 0 || now_ms - s->last_write_ms < every)
            continue; /* text streams carry nothing but their lines */
        if (fg_sse_append_comment(&s->ctl, "hb") == FG_OK)
            mark_dirty(s);
    }
}

void fg_stream_close_all(fg_loop_t *l)
{
    /* Each SSE stream's last words are a reconnection delay drawn from [retry_ms, retry_ms +
     * sse.drain_spread_ms]: the clients of a node going away come back to the others spread
     * over that time, not in one spike. */
    const fg_config_t *cfg = l->server->cfg;
    fg_rng_t rng;
    fg_rng_seed(&rng);
    while (!h2o_linklist_is_empty(&l->hub.subs)) {
        fg_stream_t *s = H2O_STRUCT_FROM_MEMBER(fg_stream_t, sub.all, l->hub.subs.next);
        fg_hub_detach(&l->hub, &s->sub);
        if (s->text == NULL && cfg->drain_spread_ms > 0)
            fg_sse_append_retry(
                &s->ctl, (unsigned)(cfg->retry_ms +
                                    (int64_t)(fg_rng_unit(&rng) * (double)cfg->drain_spread_ms)));
        s->closing = true;
        flush(s);
    }
}

static fg_stream_t *stream_new(h2o_req_t *req, size_t ctl_limit)
{
    fg_stream_t *s = h2o_mem_alloc_shared(&req->pool, sizeof(*s), on_dispose);
    memset(s, 0, sizeof(*s));
    s->loop = fg_loop_of(req);
    fg_filter_init(&s->filter);
    fg_buf_init(&s->ctl, ctl_limit);
    fg_buf_init(&s->ctl_fly, ctl_limit);
    return s;
}

static int start(h2o_req_t *req, fg_stream_t *s, const fg_principal_t *who, bool has_cursor,
                 uint64_t cursor);

int fg_stream_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t run_id)
{
    fg_stream_t *s = stream_new(req, 1 << 20);
    bool has_cursor;
    uint64_t cursor = 0;
    if (fg_stream_parse(req, &s->filter, run_id.len ? run_id.base : NULL, run_id.len, &has_cursor,
                        &cursor) != 0)
        return 0;
    return start(req, s, who, has_cursor, cursor);
}

int fg_stream_text(h2o_req_t *req, const fg_principal_t *who, fg_filter_t *filter, uint64_t after,
                   const fg_stream_text_t *text)
{
    /* Text is rendered into ctl: its cap is the queue's (the cut-off is checked first). */
    fg_stream_t *s = stream_new(req, 0);
    fg_filter_dispose(&s->filter);
    s->filter = *filter; /* taken over */
    fg_filter_init(filter);
    s->text = text;
    return start(req, s, who, true, after);
}

/* Checks the principal and the limits, then answers with the stream. */
static int start(h2o_req_t *req, fg_stream_t *s, const fg_principal_t *who, bool has_cursor,
                 uint64_t cursor)
{
    fg_loop_t *l = s->loop;
    fg_server_t *srv = l->server;
    if (who != NULL) {
        fg_verr_t err;
        if (fg_auth_narrow(who, &s->filter, srv->cat, &err) != FG_OK) {
            fg_http_verr(req, 403, &err);
            return 0;
        }
        if (who->exp_us != 0)
            s->expires_ms = fg_time_mono_ms() + (who->exp_us - fg_time_now_us()) / 1000;
    }
    if (fg_admit_stream(req, who, s->addr_key, s->cred_key) != 0)
        return 0;
    if (fg_hub_attach(&l->hub, &s->sub, &s->filter, fg_catalog_count(srv->cat)) != FG_OK) {
        fg_http_fail(req, FG_ERR_NOMEM, "out of memory");
        return 0;
    }
    s->req = req;
    s->gen.proceed = on_proceed;
    s->gen.stop = on_stop;
    fg_cursor_state_t cs = has_cursor ? fg_store_cursor_check(srv->store, cursor) : FG_CURSOR_OK;
    /* Cluster mode: a cursor beyond this node's store is one another node served first; the
     * stream waits for the follower to bring the log here (it never skips ahead). */
    if (cs == FG_CURSOR_AHEAD && srv->cfg->r.cluster)
        cs = FG_CURSOR_OK;
    if (!has_cursor || cs != FG_CURSOR_OK) {
        s->cursor = l->hub.high_seq;
        s->live = true;
    } else if (cursor <= l->hub.high_seq) {
        s->cursor = cursor;
        s->live = false;
    } else {
        /* committed, but not yet announced to this loop: live, after the client's cursor */
        s->cursor = cursor;
        s->live = true;
    }
    atomic_fetch_add(&srv->streams_opened, 1);
    s->counted = true;
    l->nstreams++;
    atomic_fetch_add(&srv->streams_open, 1);
    if (fg_log_enabled(FG_LOG_DEBUG))
        fg_log(FG_LOG_DEBUG, "stream_open", "cursor=%" PRIu64 " live=%d", s->cursor, s->live);

    req->res.status = 200;
    req->res.reason = "OK";
    if (s->text != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("text/plain; charset=utf-8"));
    else
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("text/event-stream; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-accel-buffering"), 0, NULL,
                          H2O_STRLIT("no"));
    h2o_start_response(req, &s->gen);
    if (req->version < 0x200) { /* HTTP/2 connections are read all along: h2o sees a hangup */
        h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
        s->watch = sock ? fg_hangup_watch(&l->hangup, h2o_socket_get_fd(sock), s) : NULL;
    }
    /* The reconnection hint is drawn from [retry_ms, 2 x retry_ms): after a crash or a network
     * blip the clients come back spread over that time, not in the same millisecond. */
    if (s->text == NULL)
        fg_sse_append_retry(
            &s->ctl, (unsigned)(srv->cfg->retry_ms +
                                (int64_t)(fg_rng_unit(&l->rng) * (double)srv->cfg->retry_ms)));
    if (cs != FG_CURSOR_OK && s->text == NULL)
        emit_reset(s, cursor, cs, s->cursor);
    if (l->stopping) {
        /* Shutting down: an empty stream that ends at once. A non-200 answer would make an
         * EventSource give up for good; an ended stream makes it reconnect after retry. */
        fg_hub_detach(&l->hub, &s->sub);
        s->closing = true;
    } else if (!s->live)
        replay_page(s);
    flush(s);
    if (s->dirty) {
        h2o_linklist_unlink(&s->dirty_link);
        s->dirty = false;
    }
    return 0;
}
