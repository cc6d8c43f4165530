/*
 * pending.h - an HTTP request waiting for the writer thread. The handler submits a writer job
 * on behalf of the request; when the writer is done, the answer is made on the request's own
 * loop, unless the client went away meanwhile (then only release runs). HTTP loop threads;
 * the writer thread only posts the message.
 */
#ifndef FG_GATEWAY_PENDING_H
#define FG_GATEWAY_PENDING_H

#include "events/writer.h"

#include <h2o.h>

struct fg_loop;
struct fg_pending_ref;

typedef struct fg_pending fg_pending_t;

struct fg_pending {
    /* Set by the caller before fg_pending_submit: */
    void (*answer)(fg_pending_t *p, h2o_req_t *req); /* loop thread; the request is alive */
    void (*release)(fg_pending_t *p);                /* loop thread; always, after answer */
    /* Private: */
    h2o_multithread_message_t msg;
    struct fg_loop *loop;
    h2o_req_t *req; /* NULL once the request ended */
    struct fg_pending_ref *ref;
    bool again; /* answer submitted the job once more (fg_pending_resubmit): no release yet */
    /* Submitted ahead of its request (fg_pending_submit_ahead): */
    bool ahead;     /* its request has not come yet */
    bool done;      /* the job was answered while its request had not come */
    bool abandoned; /* its request will never come: release at the answer */
};

/**
 * Submits job for req (job->done and job->udata are taken). On FG_OK the pending is answered
 * and released later on this loop; on failure (FG_ERR_CLOSED: the writer is stopping) nothing
 * was submitted and the caller still owns everything.
 */
int fg_pending_submit(fg_pending_t *p, h2o_req_t *req, fg_writer_job_t *job);

/**
 * The same, for a job done elsewhere: submit(ctx, job) hands it to whatever does it (a thread of
 * the caller's), which calls job->done once from any thread. FG_OK, or submit's failure.
 */
int fg_pending_submit_to(fg_pending_t *p, h2o_req_t *req, fg_writer_job_t *job,
                         int (*submit)(void *ctx, fg_writer_job_t *job), void *ctx);

/**
 * From answer: submits the same job again for the same request (work done in several writer
 * jobs, so others go in between). On FG_OK release waits for the next answer; on failure
 * (FG_ERR_CLOSED) nothing was submitted, and answer must reply itself.
 */
int fg_pending_resubmit(fg_pending_t *p, h2o_req_t *req, fg_writer_job_t *job);

/**
 * Submits job for a request that has not come yet: one read ahead of the current request on its
 * HTTP/1.1 connection (pipeline.c). Its answer waits for fg_pending_attach (or is dropped after
 * fg_pending_abandon). FG_OK, or FG_ERR_CLOSED with nothing submitted.
 */
int fg_pending_submit_ahead(fg_pending_t *p, struct fg_loop *l, fg_writer_job_t *job);

/** The request of a pending submitted ahead has come: answered now if its job is done, else
 * when it is. */
void fg_pending_attach(fg_pending_t *p, h2o_req_t *req);

/** The request of a pending submitted ahead will never come (its connection closed): released
 * now if its job is done, else when it is. */
void fg_pending_abandon(fg_pending_t *p);

/** The loop's reply receiver callback. */
void fg_pending_on_replies(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages);

#endif
