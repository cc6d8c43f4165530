/*
 * loop.c - what runs on each HTTP loop thread: routing a request to its handler (routes.c), the
 * committed batches the writer fans out to every loop's hub, the heartbeat tick, and the loop's
 * own start and drain at shutdown.
 *
 * Threads: fg_loop_main and everything it calls on its loop's thread; fg_loop_fan_out on the
 * writer thread and fg_loop_stop on the main thread (both only post messages to the loops).
 */
#include "events/log.h"
#include "events/timefmt.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"
#include "gateway/pending.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    h2o_multithread_message_t super;
    fg_batch_t *batch;
} batch_msg_t;

typedef struct {
    h2o_multithread_message_t super;
} ctl_msg_t;

void fg_loop_stop(fg_loop_t *l)
{
    ctl_msg_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        abort();
    h2o_multithread_send_message(&l->ctl_rx, &m->super);
}

/* --- routing ---------------------------------------------------------------------------- */

static void method_not_allowed(h2o_req_t *req, const char *allow)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    fg_http_error(req, 405, "method_not_allowed", "this method is not allowed on this path",
                  "allow", allow, -1);
}

int fg_loop_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    h2o_iovec_t p = req->path_normalized;
    atomic_fetch_add_explicit(&fg_loop_of(req)->server->requests, 1, memory_order_relaxed);
    if (fg_log_enabled(FG_LOG_DEBUG)) /* the path only: a query may carry access_token */
        fg_log(FG_LOG_DEBUG, "request", "method=%.*s path=\"%.*s\" version=%d.%d",
               (int)req->method.len, req->method.base, (int)(p.len > 200 ? 200 : p.len), p.base,
               req->version >> 8, req->version & 0xff);
    if (fg_admit_request(req) != 0 || fg_cors_apply(req) || fg_pipeline_claim(req))
        return 0;
    bool known;
    char allow[64];
    h2o_iovec_t param;
    const fg_route_t *r = fg_route_match(req->method.base, req->method.len, p.base, p.len, &param,
                                         &known, allow, sizeof(allow));
    if (r == NULL && known) {
        method_not_allowed(req, allow);
        return 0;
    }
    if (r == NULL) {
        char shown[128];
        snprintf(shown, sizeof(shown), "%.*s", (int)(p.len < 120 ? p.len : 120), p.base);
        fg_http_error(req, 404, "not_found", "no such path", "path", shown, -1);
        return 0;
    }
    fg_principal_t *who = NULL;
    if (fg_access_check(req, r->scope, &who) != 0)
        return 0;
    return r->handle(req, who, param);
}

/* --- the writer's fan-out to the loops ---------------------------------------------------- */

/* Writer thread: tells the dispatcher which subscriptions got deliveries in the commit. */
static void mark_fresh(void *ctx, const char *sub_id)
{
    fg_wh_dispatcher_mark(ctx, sub_id);
}

/* Writer thread: announce a committed batch to every loop. */
void fg_loop_fan_out(void *ctx, fg_event_t **events, size_t n)
{
    fg_server_t *srv = ctx;
    pthread_mutex_lock(&srv->dispatcher_lock);
    if (srv->dispatcher != NULL)
        fg_wh_outbox_take_fresh(srv->outbox, mark_fresh, srv->dispatcher);
    pthread_mutex_unlock(&srv->dispatcher_lock);
    fg_batch_t *batch = fg_batch_create(events, n);
    if (batch == NULL) {
        fg_log(FG_LOG_ERROR, "out_of_memory", "where=on_commit");
        abort();
    }
    atomic_store(&batch->refs, (unsigned)srv->nloops);
    for (size_t i = 0; i < srv->nloops; i++) {
        batch_msg_t *m = calloc(1, sizeof(*m));
        if (m == NULL) {
            fg_log(FG_LOG_ERROR, "out_of_memory", "where=on_commit");
            abort();
        }
        m->batch = batch;
        h2o_multithread_send_message(&srv->loops[i].batch_rx, &m->super);
    }
}

/* Loop thread: publish announced events into this loop's hub, then flush the streams. */
static void on_batches(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    fg_loop_t *l = H2O_STRUCT_FROM_MEMBER(fg_loop_t, batch_rx, rx);
    while (!h2o_linklist_is_empty(messages)) {
        batch_msg_t *m = H2O_STRUCT_FROM_MEMBER(batch_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        l->batch_gen++;
        for (size_t i = 0; i < m->batch->n; i++)
            fg_hub_publish(&l->hub, m->batch->events[i]);
        fg_batch_release(m->batch);
        free(m);
    }
}

static void on_ctl(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    fg_loop_t *l = H2O_STRUCT_FROM_MEMBER(fg_loop_t, ctl_rx, rx);
    while (!h2o_linklist_is_empty(messages)) {
        ctl_msg_t *m = H2O_STRUCT_FROM_MEMBER(ctl_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        free(m);
    }
    if (l->stopping)
        return;
    l->stopping = true;
    if (l->listener != NULL) {
        h2o_socket_read_stop(l->listener);
        h2o_socket_close(l->listener);
        l->listener = NULL;
    }
    fg_stream_close_all(l);
    /* HTTP/2: GOAWAY. HTTP/1 has no shutdown hook in h2o 2.2.5: its idle keep-alive
     * connections wait out the request timeout, so make that timeout expire now. */
    h2o_context_request_shutdown(&l->ctx);
    l->ctx.http1.req_timeout.timeout = 0;
}

static bool conns_open(fg_loop_t *l)
{
    return !h2o_linklist_is_empty(&l->ctx.http1._conns) ||
           !h2o_linklist_is_empty(&l->ctx.http2._conns);
}

/* --- loop threads ------------------------------------------------------------------------ */

static void on_accept(h2o_socket_t *listener, const char *err)
{
    fg_loop_t *l = listener->data;
    if (err != NULL)
        return;
    SSL_CTX *next = atomic_exchange(&l->tls_next, NULL);
    if (next != NULL) { /* reloaded: new connections use it; open ones keep theirs */
        SSL_CTX_free(l->accept_ctx.ssl_ctx);
        l->accept_ctx.ssl_ctx = next;
    }
    for (int i = 0; i < 64; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        if (fg_admit_connection(l->server, sock, l->accept_ctx.ssl_ctx != NULL))
            h2o_accept(&l->accept_ctx, sock);
    }
}

static void on_heartbeat(h2o_timeout_entry_t *entry)
{
    fg_loop_t *l = H2O_STRUCT_FROM_MEMBER(fg_loop_t, hb_entry, entry);
    fg_stream_heartbeat(l, fg_time_mono_ms());
    h2o_timeout_link(l->loop, &l->hb_timeout, &l->hb_entry);
}

/* The hangup set is itself watched by the loop (h2o calls back without reading, as for the
 * listener): a client's FIN or RST is handled as soon as the loop sees it. The timer is the
 * fallback should that watch be missing. */
static void on_hangup_ready(h2o_socket_t *sock, const char *err)
{
    fg_loop_t *l = sock->data;
    fg_hangup_poll(&l->hangup, fg_stream_hangup);
}

static void on_hangup_tick(h2o_timeout_entry_t *entry)
{
    fg_loop_t *l = H2O_STRUCT_FROM_MEMBER(fg_loop_t, hangup_entry, entry);
    fg_hangup_poll(&l->hangup, fg_stream_hangup);
    h2o_timeout_link(l->loop, &l->hangup_timeout, &l->hangup_entry);
}

/* Creates the loop's h2o objects. h2o 2.2.5 keeps socket buffer pools in thread-local storage,
 * so every socket of a loop (listener, queue, connections) must be made, used and closed on the
 * loop's own thread: this runs there. */
static void loop_setup(fg_loop_t *l)
{
    fg_server_t *srv = l->server;
    /* A connection keeps its input buffer while its response streams (h2o consumes the request
     * bytes only when the response ends): start it at 4 KiB, the least h2o reserves per read,
     * rather than 8 KiB. Larger requests grow it as needed. Per thread, before any socket. */
    h2o_socket_buffer_prototype._initial_buf.capacity = 4096;
#ifdef FG_SANITIZE
    /* h2o recycles socket buffers in a per-thread free list, out of ASan's sight: in the
     * sanitizer build every buffer goes back to free() so misuse is caught. */
    h2o_socket_buffer_prototype.allocator.max = 0;
#endif
    l->loop = h2o_evloop_create();
    h2o_context_init(&l->ctx, l->loop, &srv->h2o_config);
    l->accept_ctx.ctx = &l->ctx;
    l->accept_ctx.hosts = srv->h2o_config.hosts;
    l->accept_ctx.ssl_ctx = atomic_exchange(&l->tls_next, NULL); /* NULL: plain HTTP */
    l->queue = h2o_multithread_create_queue(l->loop);
    h2o_multithread_register_receiver(l->queue, &l->batch_rx, on_batches);
    h2o_multithread_register_receiver(l->queue, &l->reply_rx, fg_pending_on_replies);
    h2o_multithread_register_receiver(l->queue, &l->ctl_rx, on_ctl);
    /* a few ticks per heartbeat interval, and at least one a second (credentials expire) */
    uint64_t tick = (uint64_t)(srv->cfg->heartbeat_ms / 4);
    if (tick > 1000)
        tick = 1000;
    h2o_timeout_init(l->loop, &l->hb_timeout, tick < 50 ? 50 : tick);
    l->hb_entry.cb = on_heartbeat;
    h2o_timeout_link(l->loop, &l->hb_timeout, &l->hb_entry);
    fg_rng_seed(&l->rng);
    fg_pipeline_init(&l->pipeline);
    fg_hangup_init(&l->hangup);
    int watched = l->hangup.epfd >= 0 ? dup(l->hangup.epfd) : -1;
    if (watched >= 0) {
        l->hangup_sock = h2o_evloop_socket_create(l->loop, watched, H2O_SOCKET_FLAG_DONT_READ);
        l->hangup_sock->data = l;
        h2o_socket_read_start(l->hangup_sock, on_hangup_ready);
    }
    h2o_timeout_init(l->loop, &l->hangup_timeout, FG_HANGUP_POLL_MS);
    l->hangup_entry.cb = on_hangup_tick;
    h2o_timeout_link(l->loop, &l->hangup_timeout, &l->hangup_entry);
    l->listener = h2o_evloop_socket_create(l->loop, l->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    l->listen_fd = -1; /* the socket owns it now */
    l->listener->data = l;
}

/* Frees the loop's h2o objects, on the loop's thread, once the writer has stopped: first the
 * messages left in the queue are delivered (so every batch reference is released). A loop
 * whose connections outlived the grace period is left as it is: h2o cannot free a context with
 * live connections, and the process is about to exit. */
static void loop_teardown(fg_loop_t *l)
{
    if (!l->drained)
        return;
    h2o_evloop_run(l->loop, 0);
    h2o_multithread_unregister_receiver(l->queue, &l->batch_rx);
    h2o_multithread_unregister_receiver(l->queue, &l->reply_rx);
    h2o_multithread_unregister_receiver(l->queue, &l->ctl_rx);
    h2o_multithread_destroy_queue(l->queue);
    h2o_evloop_run(l->loop, 0); /* completes the deferred close of the queue's socket */
    /* request_shutdown armed HTTP/2's graceful-shutdown timer; a disposed timeout must be empty */
    if (h2o_timeout_is_linked(&l->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&l->ctx.http2._graceful_shutdown_timeout);
    h2o_context_dispose(&l->ctx);
    h2o_timeout_dispose(l->loop, &l->hb_timeout);
    h2o_timeout_dispose(l->loop, &l->hangup_timeout);
    fg_hangup_dispose(&l->hangup);
    h2o_evloop_destroy(l->loop);
    l->loop = NULL;
}

void *fg_loop_main(void *arg)
{
    fg_loop_t *l = arg;
    fg_server_t *srv = l->server;
    char name[16];
    snprintf(name, sizeof(name), "fg-http-%d", l->index);
    pthread_setname_np(pthread_self(), name);
    loop_setup(l);
    atomic_store(&l->running, true);
    fg_phase_step(srv, &srv->loops_ready);
    /* Accept only once the writer and the dispatcher exist: a request that came in between
     * (a client retrying through a restart) would find no writer to take its events. */
    PHASE_WAIT(srv, srv->serving);
    h2o_socket_read_start(l->listener, on_accept);

    int64_t deadline = 0;
    bool more = false;
    for (;;) {
        /* After a slice that sent, h2o's completions wait in its pending list: poll, not wait. */
        h2o_evloop_run(l->loop, more ? 0 : l->stopping ? 20 : INT32_MAX);
        fg_pipeline_sweep(l);
        more = fg_stream_flush_slice(l, FG_FLUSH_SLICE_US);
        if (!l->stopping)
            continue;
        if (deadline == 0)
            deadline = fg_time_mono_ms() + srv->cfg->shutdown_grace_ms;
        bool idle = l->pending_publishes == 0 && l->nstreams == 0 && !conns_open(l);
        if (idle || fg_time_mono_ms() > deadline)
            break;
    }
    h2o_timeout_unlink(&l->hb_entry);
    h2o_timeout_unlink(&l->hangup_entry);
    fg_pipeline_dispose(&l->pipeline);
    if (l->hangup_sock != NULL) {
        h2o_socket_read_stop(l->hangup_sock);
        h2o_socket_close(l->hangup_sock); /* closes its copy of the set's fd */
        l->hangup_sock = NULL;
    }
    l->drained = !conns_open(l);
    if (!l->drained)
        fg_log(FG_LOG_WARN, "shutdown_grace_expired", "loop=%d streams=%zu publishes=%zu", l->index,
               l->nstreams, l->pending_publishes);
    atomic_store(&l->running, false);
    fg_phase_step(srv, &srv->loops_drained);
    PHASE_WAIT(srv, srv->writer_stopped);
    loop_teardown(l);
    return NULL;
}
