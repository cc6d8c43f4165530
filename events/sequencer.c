/*
 * sequencer.c - numbering publishes in the shared log (sequencer.h).
 */
#include "events/sequencer.h"
#include "events/log.h"
#include "events/redis_control.h"
#include "events/redis_log.h"
#include "events/timefmt.h"
#include "events/transitions.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GROUP 128    /* jobs per pipeline */
#define CALL_EVENTS 1000 /* events per function call (jobs are never split) */
#define RETRY_MS 500     /* after a failed connect, jobs are refused at once this long */
/* after a new epoch, publishes wait this long while every node raises the counter to what it
 * holds (its follower joins within a read) */
#define EPOCH_GRACE_MS 3000

struct fg_sequencer {
    fg_sequencer_config_t cfg; /* immutable after start */
    pthread_t thread;
    pthread_mutex_t lock; /* guards head, tail, stopping */
    pthread_cond_t cond;
    fg_writer_job_t *head, *tail;
    bool stopping;
    fg_redis_t *redis;  /* sequencer thread */
    int64_t down_until; /* sequencer thread: refuse without trying until then (monotonic ms) */
    bool prepared;      /* sequencer thread: the function library is loaded on this server */
    fg_sequencer_stats_t stats;
};

int fg_sequencer_submit(fg_sequencer_t *s, fg_writer_job_t *job)
{
    job->next = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        pthread_mutex_unlock(&s->lock);
        return FG_ERR_CLOSED;
    }
    if (s->tail)
        s->tail->next = job;
    else
        s->head = job;
    s->tail = job;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return FG_OK;
}

/* The state machine's own check, before Redis: enforce makes the job a conflict; warn notes it. */
static bool machine_ok(const fg_sequencer_t *s, fg_writer_job_t *job)
{
    for (size_t i = 0; i < job->n; i++) {
        const fg_pub_event_t *ev = &job->events[i];
        if (ev->from < 0 ||
            fg_transition_allowed((fg_run_status_t)ev->from, (fg_run_status_t)ev->to))
            continue;
        if (!s->cfg.enforce_transitions)
            continue; /* noted after the reply, which fills the results */
        fg_verr_set(
            &job->err, "illegal_transition", "to", fg_run_status_name((fg_run_status_t)ev->to),
            "illegal transition %s -> %s for run %s", fg_run_status_name((fg_run_status_t)ev->from),
            fg_run_status_name((fg_run_status_t)ev->to), ev->run_id);
        job->err.index = (long)i;
        job->status = FG_ERR_CONFLICT;
        return false;
    }
    return true;
}

static void note_machine_warnings(fg_writer_job_t *job)
{
    for (size_t i = 0; i < job->n; i++) {
        const fg_pub_event_t *ev = &job->events[i];
        if (ev->from < 0 || job->results[i].duplicate || job->results[i].warning[0] ||
            fg_transition_allowed((fg_run_status_t)ev->from, (fg_run_status_t)ev->to))
            continue;
        snprintf(job->results[i].warning, sizeof(job->results[i].warning),
                 "illegal_transition: illegal transition %s -> %s for run %s",
                 fg_run_status_name((fg_run_status_t)ev->from),
                 fg_run_status_name((fg_run_status_t)ev->to), ev->run_id);
    }
}

static void redis_failed(fg_sequencer_t *s, const char *why)
{
    char reason[320];
    snprintf(reason, sizeof(reason), "cannot publish to Redis: %s", why);
    if (fg_health_commit_failed(s->cfg.health, reason))
        fg_log(FG_LOG_ERROR, "cluster_redis_down",
               "error=\"%s\" publishes get 503 until it is back", why);
    s->down_until = fg_time_mono_ms() + RETRY_MS;
}

/* Sends a group's publish jobs and control entries (ctl, their outcomes into cst) in one
 * pipeline and fills the publish jobs' status. */
static void run_group(fg_sequencer_t *s, fg_writer_job_t **jobs, size_t n, fg_writer_job_t **ctl,
                      size_t nctl, int *cst)
{
    int64_t now_us = fg_time_now_us(), t0 = fg_time_mono_us();
    for (size_t i = 0; i < nctl; i++)
        cst[i] = FG_ERR_IO;
    if (fg_time_mono_ms() < s->down_until) {
        for (size_t i = 0; i < n; i++)
            jobs[i]->status = FG_ERR_IO;
        return;
    }
    if (!s->prepared) {
        uint64_t epoch;
        bool created;
        char err[256];
        if (fg_rlog_join(s->redis, atomic_load(s->cfg.head), &epoch, &created, err, sizeof(err)) !=
            FG_OK) {
            redis_failed(s, err);
            for (size_t i = 0; i < n; i++)
                jobs[i]->status = FG_ERR_IO;
            return;
        }
        s->prepared = true;
        if (fg_cluster_epoch_seen(s->cfg.epoch, s->cfg.epoch_changes, epoch, "sequencer")) {
            /* the other nodes raise the counter to what they hold before anyone numbers on */
            s->down_until = fg_time_mono_ms() + EPOCH_GRACE_MS;
            for (size_t i = 0; i < n; i++)
                jobs[i]->status = FG_ERR_IO;
            return;
        }
    }
    /* The jobs go in calls of up to CALL_EVENTS events (a larger job alone), pipelined: one
     * function call numbers many single-event publishes at once. */
    uint64_t epoch = atomic_load(s->cfg.epoch);
    size_t start[MAX_GROUP + 1], ncalls = 0, sent = 0;
    for (size_t i = 0, events = 0; i < n; i++) {
        if (i == 0 || events + jobs[i]->n > CALL_EVENTS) {
            start[ncalls++] = i;
            events = 0;
        }
        events += jobs[i]->n;
    }
    start[ncalls] = n;
    if (n == 0)
        ncalls = 0;
    bool all_sent = true;
    for (size_t c = 0; c < ncalls; c++) {
        if (fg_rlog_append_publish(s->redis, s->cfg.cat, jobs + start[c], start[c + 1] - start[c],
                                   s->cfg.enforce_transitions, now_us, epoch) != FG_OK) {
            all_sent = false;
            break;
        }
        sent = c + 1;
    }
    size_t ctl_sent = 0;
    for (size_t i = 0; all_sent && i < nctl; i++) {
        fg_repl_expect(s->cfg.repl, ctl[i]);
        if (fg_rlog_append_control(s->redis, s->cfg.repl, ctl[i], epoch, now_us) != FG_OK)
            break;
        ctl_sent = i + 1;
    }
    uint64_t high = 0;
    bool any_ok = false;
    for (size_t c = 0; c < ncalls; c++) {
        size_t m = start[c + 1] - start[c];
        fg_writer_job_t **part = jobs + start[c];
        redisReply *rep = c < sent ? fg_redis_read(s->redis) : NULL;
        uint64_t h = fg_rlog_publish_reply(rep, part, m);
        high = h > high ? h : high;
        if (rep != NULL)
            atomic_fetch_add(&s->stats.calls, 1);
        for (size_t i = 0; i < m; i++) {
            if (part[i]->status == FG_ERR_STALE || part[i]->status == FG_ERR_IO) {
                /* another epoch, an error reply (a Redis that lost the library), or no reply:
                 * nothing of it was written, the client retries with the same id; join the log
                 * Redis has now */
                part[i]->status = FG_ERR_IO;
                s->prepared = false;
            }
            any_ok |= part[i]->status == FG_OK;
        }
    }
    for (size_t i = 0; i < ctl_sent; i++) {
        redisReply *rep = fg_redis_read(s->redis);
        if (rep != NULL)
            atomic_fetch_add(&s->stats.calls, 1);
        cst[i] = fg_rlog_control_reply(rep);
        if (cst[i] == FG_ERR_STALE) {
            cst[i] = FG_ERR_IO;
            s->prepared = false;
        }
        any_ok |= cst[i] == FG_OK;
    }
    if (any_ok && s->cfg.min_replicas > 0) {
        redisReply *rep = fg_redis_cmdf(s->redis, "WAIT %d %lld", s->cfg.min_replicas,
                                        (long long)s->cfg.timeout_ms);
        long long acked = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
        if (rep != NULL)
            freeReplyObject(rep);
        if (acked < s->cfg.min_replicas) {
            fg_log(FG_LOG_WARN, "cluster_replicas_short",
                   "wanted=%d confirmed=%lld the publishes are in the log but not answered 202",
                   s->cfg.min_replicas, acked);
            for (size_t i = 0; i < n; i++)
                if (jobs[i]->status == FG_OK)
                    jobs[i]->status = FG_ERR_IO;
            for (size_t i = 0; i < nctl; i++)
                if (cst[i] == FG_OK)
                    cst[i] = FG_ERR_IO;
        }
    }
    if (!fg_redis_up(s->redis)) {
        s->prepared = false; /* a restarted Redis may have lost the library */
        redis_failed(s, fg_redis_error(s->redis));
    } else if (fg_health_commit_ok(s->cfg.health)) {
        fg_log(FG_LOG_INFO, "cluster_redis_back", "publishes go through again");
    }
    if (high > 0) {
        uint64_t cur = atomic_load(s->cfg.head);
        while (high > cur && !atomic_compare_exchange_weak(s->cfg.head, &cur, high)) {
        }
    }
    atomic_store(&s->stats.rtt_us, (uint64_t)(fg_time_mono_us() - t0));
}

static void *sequencer_main(void *arg)
{
    fg_sequencer_t *s = arg;
    pthread_setname_np(pthread_self(), "fg-sequencer");
    fg_writer_job_t *group[MAX_GROUP];
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->head == NULL && !s->stopping)
            pthread_cond_wait(&s->cond, &s->lock);
        if (s->head == NULL)
            break;
        size_t n = 0;
        while (s->head != NULL && n < MAX_GROUP) {
            group[n++] = s->head;
            s->head = s->head->next;
        }
        if (s->head == NULL)
            s->tail = NULL;
        bool stopping = s->stopping;
        pthread_mutex_unlock(&s->lock);
        size_t m = 0, k = 0;
        fg_writer_job_t *ask[MAX_GROUP], *ctl[MAX_GROUP];
        int cst[MAX_GROUP];
        for (size_t i = 0; i < n; i++) {
            if (group[i]->repl != NULL) {
                if (!stopping)
                    ctl[k++] = group[i];
                continue;
            }
            group[i]->status = FG_OK;
            memset(group[i]->results, 0, group[i]->n * sizeof(*group[i]->results));
            if (stopping)
                group[i]->status = FG_ERR_CLOSED;
            else if (machine_ok(s, group[i]))
                ask[m++] = group[i];
        }
        if (m > 0 || k > 0)
            run_group(s, ask, m, ctl, k, cst);
        for (size_t i = 0, c = 0; i < n; i++) {
            if (group[i]->repl != NULL) {
                /* a control entry is answered when this node's follower applied it */
                int st = stopping ? FG_ERR_CLOSED : cst[c++];
                if (st == FG_ERR_IO)
                    atomic_fetch_add(&s->stats.failures, 1);
                fg_repl_written(s->cfg.repl, group[i], st);
                continue;
            }
            if (group[i]->status == FG_OK && !s->cfg.enforce_transitions)
                note_machine_warnings(group[i]);
            if (group[i]->status == FG_ERR_IO)
                atomic_fetch_add(&s->stats.failures, 1);
            group[i]->done(group[i]);
        }
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int fg_sequencer_start(const fg_sequencer_config_t *cfg, fg_sequencer_t **out)
{
    fg_sequencer_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return FG_ERR_NOMEM;
    s->cfg = *cfg;
    char err[256];
    int rc = fg_redis_open(cfg->redis_url, cfg->timeout_ms, &s->redis, err, sizeof(err));
    if (rc == FG_ERR_NOMEM || rc == FG_ERR_INVALID) {
        free(s);
        return rc;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (pthread_create(&s->thread, NULL, sequencer_main, s) != 0) {
        fg_redis_close(s->redis);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s);
        return FG_ERR_IO;
    }
    *out = s;
    return FG_OK;
}

void fg_sequencer_stop(fg_sequencer_t *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    fg_redis_close(s->redis);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

const fg_sequencer_stats_t *fg_sequencer_stats(const fg_sequencer_t *s)
{
    return &s->stats;
}
