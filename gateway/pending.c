/*
 * pending.c - requests waiting for the writer: the reply message back to the request's loop,
 * and a record in the request pool that forgets the request when the client goes away.
 */
#include "gateway/pending.h"
#include "gateway/gateway_internal.h"

/* Lives in the request pool; points back at the pending while its job is out. */
struct fg_pending_ref {
    fg_pending_t *p;
};

static void on_req_dispose(void *v)
{
    struct fg_pending_ref *ref = v;
    if (ref->p != NULL)
        ref->p->req = NULL;
}

/* Writer thread: hand the answered job back to its loop. */
static void on_job_done(fg_writer_job_t *job)
{
    fg_pending_t *p = job->udata;
    atomic_store_explicit(&p->loop->replies_waiting, true, memory_order_relaxed);
    h2o_multithread_send_message(&p->loop->reply_rx, &p->msg);
}

/* Where a job goes: in cluster mode a publish (and a control entry) to the shared log; its events
 * reach this node's store through the follower like every other node's. Else the writer. */
static int to_store(void *ctx, fg_writer_job_t *job)
{
    fg_server_t *srv = ctx;
    if ((job->apply == NULL || job->repl != NULL) && srv->sequencer != NULL)
        return fg_sequencer_submit(srv->sequencer, job);
    return fg_writer_submit(srv->writer, job);
}

/* Binds the pending to req until the answer: a record in the request pool forgets it should the
 * request end first. */
static void bind_request(fg_pending_t *p, h2o_req_t *req)
{
    p->req = req;
    p->ref = h2o_mem_alloc_shared(&req->pool, sizeof(*p->ref), on_req_dispose);
    p->ref->p = p;
}

int fg_pending_submit(fg_pending_t *p, h2o_req_t *req, fg_writer_job_t *job)
{
    return fg_pending_submit_to(p, req, job, to_store, fg_loop_of(req)->server);
}

int fg_pending_submit_to(fg_pending_t *p, h2o_req_t *req, fg_writer_job_t *job,
                         int (*submit)(void *ctx, fg_writer_job_t *job), void *ctx)
{
    fg_loop_t *l = fg_loop_of(req);
    p->loop = l;
    p->ahead = false;
    bind_request(p, req);
    job->done = on_job_done;
    job->udata = p;
    int rc = submit(ctx, job);
    if (rc != FG_OK) {
        p->ref->p = NULL;
        return rc;
    }
    l->pending_publishes++;
    return FG_OK;
}

int fg_pending_submit_ahead(fg_pending_t *p, fg_loop_t *l, fg_writer_job_t *job)
{
    p->loop = l;
    p->req = NULL;
    p->ref = NULL;
    p->ahead = true;
    p->done = p->abandoned = false;
    job->done = on_job_done;
    job->udata = p;
    int rc = to_store(l->server, job);
    if (rc == FG_OK)
        l->pending_publishes++;
    return rc;
}

void fg_pending_attach(fg_pending_t *p, h2o_req_t *req)
{
    p->ahead = false;
    if (!p->done) {
        bind_request(p, req);
        return;
    }
    p->answer(p, req);
    p->release(p);
}

void fg_pending_abandon(fg_pending_t *p)
{
    if (p->done)
        p->release(p);
    else
        p->abandoned = true;
}

int fg_pending_resubmit(fg_pending_t *p, h2o_req_t *req, fg_writer_job_t *job)
{
    int rc = fg_pending_submit(p, req, job);
    p->again = rc == FG_OK;
    return rc;
}

void fg_pending_on_replies(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    fg_loop_t *l = H2O_STRUCT_FROM_MEMBER(fg_loop_t, reply_rx, rx);
    atomic_store_explicit(&l->replies_waiting, false, memory_order_relaxed);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        fg_pending_t *p = H2O_STRUCT_FROM_MEMBER(fg_pending_t, msg, m);
        p->loop->pending_publishes--;
        p->again = false;
        if (p->ahead && !p->abandoned) {
            p->done = true; /* kept for its request (fg_pending_attach) */
            continue;
        }
        if (p->req != NULL) {
            p->ref->p = NULL;
            p->answer(p, p->req);
        }
        if (!p->again)
            p->release(p);
    }
}
