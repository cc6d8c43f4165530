/*
 * replicated.c - the registry of control entry kinds and of this node's jobs waiting for their
 * own follower (replicated.h).
 */
#include "events/replicated.h"
#include "events/timefmt.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fg_repl {
    char node[64];                                  /* immutable */
    const fg_repl_kind_t *kinds[FG_REPL_MAX_KINDS]; /* immutable once the follower starts */
    size_t nkinds;
    pthread_mutex_t lock; /* guards waiting, next_nonce and every waiting op's private fields */
    fg_repl_op_t *waiting;
    uint64_t next_nonce;
};

fg_repl_t *fg_repl_create(const char *node_id)
{
    fg_repl_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    snprintf(r->node, sizeof(r->node), "%s", node_id);
    pthread_mutex_init(&r->lock, NULL);
    r->next_nonce = (uint64_t)fg_time_now_us(); /* another run of this node never reuses one */
    return r;
}

void fg_repl_destroy(fg_repl_t *r)
{
    if (r == NULL)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int fg_repl_add_kind(fg_repl_t *r, const fg_repl_kind_t *kind)
{
    if (r->nkinds == FG_REPL_MAX_KINDS || strlen(kind->name) > 15)
        return FG_ERR_INVALID;
    r->kinds[r->nkinds++] = kind;
    return FG_OK;
}

const fg_repl_kind_t *fg_repl_kind(const fg_repl_t *r, const char *name, size_t len)
{
    for (size_t i = 0; i < r->nkinds; i++)
        if (strlen(r->kinds[i]->name) == len && memcmp(r->kinds[i]->name, name, len) == 0)
            return r->kinds[i];
    return NULL;
}

const char *fg_repl_node(const fg_repl_t *r)
{
    return r->node;
}

void fg_repl_expect(fg_repl_t *r, fg_writer_job_t *job)
{
    fg_repl_op_t *op = job->repl;
    pthread_mutex_lock(&r->lock);
    op->nonce = ++r->next_nonce;
    op->deadline_ms = fg_time_mono_ms() + FG_REPL_WAIT_MS;
    op->written = op->applied = op->claimed = false;
    op->job = job;
    op->next = r->waiting;
    r->waiting = op;
    pthread_mutex_unlock(&r->lock);
}

void fg_repl_origin(const fg_repl_t *r, const fg_writer_job_t *job, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%" PRIu64, r->node, job->repl->nonce);
}

/* Takes op off the waiting list (the lock held). False when it is not on it. */
static bool unlink_op(fg_repl_t *r, fg_repl_op_t *op)
{
    for (fg_repl_op_t **p = &r->waiting; *p != NULL; p = &(*p)->next) {
        if (*p == op) {
            *p = op->next;
            op->next = NULL;
            return true;
        }
    }
    return false;
}

void fg_repl_written(fg_repl_t *r, fg_writer_job_t *job, int status)
{
    fg_repl_op_t *op = job->repl;
    bool answer = false;
    pthread_mutex_lock(&r->lock);
    op->written = true;
    if (op->claimed) {
        answer = op->applied; /* the follower was quicker than this reply */
    } else if (status != FG_OK) {
        unlink_op(r, op);
        job->status = status;
        answer = true;
    }
    pthread_mutex_unlock(&r->lock);
    if (answer)
        job->done(job);
}

fg_writer_job_t *fg_repl_claim(fg_repl_t *r, const char *origin, size_t len)
{
    size_t nl = strlen(r->node);
    if (len <= nl + 1 || memcmp(origin, r->node, nl) != 0 || origin[nl] != '/')
        return NULL;
    char digits[24];
    if (len - nl - 1 >= sizeof(digits))
        return NULL;
    memcpy(digits, origin + nl + 1, len - nl - 1);
    digits[len - nl - 1] = '\0';
    uint64_t nonce = strtoull(digits, NULL, 10);
    fg_writer_job_t *job = NULL;
    pthread_mutex_lock(&r->lock);
    for (fg_repl_op_t *op = r->waiting; op != NULL; op = op->next) {
        if (op->nonce == nonce) {
            unlink_op(r, op);
            op->claimed = true;
            job = op->job;
            break;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return job;
}

void fg_repl_unclaim(fg_repl_t *r, fg_writer_job_t *job)
{
    fg_repl_op_t *op = job->repl;
    pthread_mutex_lock(&r->lock);
    op->claimed = false;
    op->next = r->waiting;
    r->waiting = op;
    pthread_mutex_unlock(&r->lock);
}

void fg_repl_applied(fg_repl_t *r, fg_writer_job_t *job)
{
    fg_repl_op_t *op = job->repl;
    pthread_mutex_lock(&r->lock);
    op->applied = true;
    bool answer = op->written;
    pthread_mutex_unlock(&r->lock);
    if (answer)
        job->done(job);
}

void fg_repl_sweep(fg_repl_t *r, int64_t now_ms)
{
    fg_repl_op_t *late = NULL;
    pthread_mutex_lock(&r->lock);
    for (fg_repl_op_t **p = &r->waiting; *p != NULL;) {
        fg_repl_op_t *op = *p;
        if (op->written && now_ms >= op->deadline_ms) {
            *p = op->next;
            op->next = late;
            late = op;
        } else {
            p = &op->next;
        }
    }
    pthread_mutex_unlock(&r->lock);
    while (late != NULL) {
        fg_repl_op_t *next = late->next;
        late->job->status = FG_ERR_IO; /* in the log, not applied here in time */
        late->job->done(late->job);
        late = next;
    }
}
