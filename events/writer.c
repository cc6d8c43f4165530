/*
 * writer.c - the writer thread: group commit of publish jobs, idempotency, the run status check,
 * and background retention. This file's thread is the only user of the store's write connection.
 */
#include "events/writer.h"
#include "events/log.h"
#include "events/timefmt.h"
#include "events/transitions.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETENTION_CHUNK 5000
#define PROBE_MS 1000 /* after a failed commit, an idle writer tries a small one this often */

struct fg_writer {
    fg_writer_config_t cfg; /* immutable after start */
    pthread_t thread;
    pthread_mutex_t lock; /* guards head, tail, queued, stopping */
    pthread_cond_t cond;  /* signalled on submit and stop */
    fg_writer_job_t *head, *tail;
    size_t queued;
    bool stopping;
    fg_writer_stats_t stats;
    int64_t next_retention_ms; /* writer thread only */
    int64_t next_probe_ms;     /* writer thread only */
    fg_health_t *health;       /* cfg.health, or own_health */
    fg_health_t own_health;
    fg_projection_t projections[FG_MAX_PROJECTIONS]; /* cfg.projections: a copy, immutable */
};

int fg_writer_submit_all(fg_writer_t *w, fg_writer_job_t *const *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        jobs[i]->next = i + 1 < n ? jobs[i + 1] : NULL;
        jobs[i]->with_next = i + 1 < n;
    }
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        return FG_ERR_CLOSED;
    }
    if (w->tail)
        w->tail->next = jobs[0];
    else
        w->head = jobs[0];
    w->tail = jobs[n - 1];
    w->queued += n;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return FG_OK;
}

int fg_writer_submit(fg_writer_t *w, fg_writer_job_t *job)
{
    return fg_writer_submit_all(w, &job, 1);
}

size_t fg_writer_queued(fg_writer_t *w)
{
    pthread_mutex_lock(&w->lock);
    size_t n = w->queued;
    pthread_mutex_unlock(&w->lock);
    return n;
}

const fg_writer_stats_t *fg_writer_stats(const fg_writer_t *w)
{
    return &w->stats;
}

/* Checks a run_status_changed against the machine and the run's last known status. Returns
 * true when legal; otherwise writes why into msg. */
static bool transition_ok(const fg_pub_event_t *ev, int known, char *msg, size_t cap)
{
    if (!fg_transition_allowed((fg_run_status_t)ev->from, (fg_run_status_t)ev->to)) {
        snprintf(msg, cap, "illegal transition %s -> %s for run %s",
                 fg_run_status_name((fg_run_status_t)ev->from),
                 fg_run_status_name((fg_run_status_t)ev->to), ev->run_id);
        return false;
    }
    if (known >= 0 && known != ev->from) {
        snprintf(msg, cap, "run %s is %s, not %s", ev->run_id,
                 fg_run_status_name((fg_run_status_t)known),
                 fg_run_status_name((fg_run_status_t)ev->from));
        return false;
    }
    return true;
}

/* Tells every projection that a savepoint (whole: false) or the transaction was rolled back. */
static void rolled_back(fg_writer_t *w, bool whole)
{
    for (size_t k = 0; k < w->cfg.nprojections; k++) {
        const fg_projection_t *p = &w->cfg.projections[k];
        if (p->rolled_back != NULL)
            p->rolled_back(p->ctx, w->cfg.store, whole);
    }
}

/* Stores one job inside the open transaction, under a savepoint. On a conflict in enforce mode
 * the savepoint is rolled back and the job marked; on I/O error returns FG_ERR_IO. */
static int store_job(fg_writer_t *w, fg_writer_job_t *job, uint64_t *next_seq, int64_t now_us)
{
    fg_store_t *s = w->cfg.store;
    uint64_t seq_before = *next_seq;
    if (fg_store_savepoint(s) != FG_OK)
        return FG_ERR_IO;
    if (job->apply != NULL) {
        int rc = job->apply(job, s);
        if (rc == FG_ERR_IO || rc == FG_ERR_CORRUPT)
            return rc; /* the whole group fails */
        if (rc != FG_OK) {
            fg_store_savepoint_rollback(s);
            rolled_back(w, false);
        } else if (fg_store_savepoint_release(s) != FG_OK)
            return FG_ERR_IO;
        job->status = rc;
        return FG_OK;
    }
    uint64_t illegal = 0;
    for (size_t i = 0; i < job->n; i++) {
        fg_pub_event_t *ev = &job->events[i];
        fg_pub_result_t *res = &job->results[i];
        memset(res, 0, sizeof(*res));
        uint64_t seq;
        int rc = FG_ERR_NOT_FOUND;
        if (job->seqs != NULL) {
            if (job->seqs[i] < *next_seq)
                goto io_fail; /* the log went back: never store under a number given out */
            /* numbers this store will never hold: clients resuming inside them are told */
            if (job->seqs[i] > *next_seq &&
                fg_store_record_gap(s, *next_seq - 1, job->seqs[i] - 1) != FG_OK)
                goto io_fail;
            *next_seq = job->seqs[i];
        } else {
            rc = fg_store_find_id(s, ev->id, &seq);
        }
        if (rc == FG_OK) {
            res->seq = seq;
            res->duplicate = true;
            continue;
        }
        if (rc != FG_ERR_NOT_FOUND)
            goto io_fail;
        char workflow[FG_FILTER_MAX_NAME + 1] = "";
        int known = -1;
        if (ev->run_id[0] != '\0') {
            rc = fg_store_run_get(s, ev->run_id, &known, workflow, sizeof(workflow));
            if (rc != FG_OK && rc != FG_ERR_NOT_FOUND)
                goto io_fail;
        }
        if (ev->from >= 0 && job->seqs == NULL) {
            char msg[160];
            if (!transition_ok(ev, known, msg, sizeof(msg))) {
                if (w->cfg.enforce_transitions) {
                    fg_store_savepoint_rollback(s);
                    rolled_back(w, false);
                    *next_seq = seq_before;
                    fg_verr_set(&job->err, "illegal_transition", "to",
                                fg_run_status_name((fg_run_status_t)ev->to), "%s", msg);
                    job->err.index = (long)i;
                    job->status = FG_ERR_CONFLICT;
                    return FG_OK;
                }
                snprintf(res->warning, sizeof(res->warning), "illegal_transition: %s", msg);
                illegal++;
            }
        }
        /* An event without workflow_name belongs to its run's workflow (for workflow=). */
        if (ev->workflow == NULL && workflow[0] != '\0') {
            ev->workflow = strdup(workflow);
            if (ev->workflow == NULL)
                goto io_fail;
        }
        seq = (*next_seq)++;
        int64_t at_us = job->seqs != NULL && job->at_us != NULL ? job->at_us[i] : now_us;
        const char *type_name = fg_catalog_type(w->cfg.cat, (size_t)ev->type_idx)->name;
        if (fg_store_append(s, seq, ev, type_name, ev->workflow, at_us) != FG_OK)
            goto io_fail;
        fg_event_t view = {.seq = seq,
                           .type_idx = ev->type_idx,
                           .type = type_name,
                           .id = ev->id,
                           .run_id = ev->run_id,
                           .workflow = ev->workflow ? ev->workflow : "",
                           .json = ev->json,
                           .json_len = ev->json_len};
        for (size_t k = 0; k < w->cfg.nprojections; k++) {
            const fg_projection_t *p = &w->cfg.projections[k];
            if (p->apply(p->ctx, s, &view, ev->step_id, at_us) != FG_OK)
                goto io_fail;
        }
        if (ev->run_id[0] != '\0' && (ev->workflow != NULL || ev->to >= 0)) {
            if (fg_store_run_put(s, ev->run_id, ev->workflow, ev->to, seq) != FG_OK)
                goto io_fail;
        }
        res->seq = seq;
    }
    if (fg_store_savepoint_release(s) != FG_OK)
        goto io_fail;
    job->status = FG_OK;
    atomic_fetch_add(&w->stats.illegal_transitions, illegal);
    return FG_OK;
io_fail:
    *next_seq = seq_before;
    return FG_ERR_IO;
}

/* Records a failed commit (the store's failure read before the rollback) in the health, and
 * logs a change of state. Returns the status the group's jobs get. */
static int commit_failed(fg_writer_t *w, int rc)
{
    char why[192], reason[256];
    int cls = fg_store_failure(w->cfg.store, why, sizeof(why));
    if (rc == FG_ERR_NOMEM)
        return FG_ERR_IO; /* not the store's fault: its health stands */
    if (rc == FG_ERR_CORRUPT || cls == FG_ERR_CORRUPT) {
        snprintf(reason, sizeof(reason), "the store %s is damaged: %s", fg_store_path(w->cfg.store),
                 why);
        if (fg_health_corrupt(w->health, reason))
            fg_log(FG_LOG_ERROR, "store_corrupt",
                   "file=%s error=\"%s\" publishes are refused until the store is repaired "
                   "(restore a backup, or move the file aside and restart)",
                   fg_store_path(w->cfg.store), why);
        return FG_ERR_CORRUPT;
    }
    snprintf(reason, sizeof(reason), "cannot commit to %s: %s", fg_store_path(w->cfg.store), why);
    if (fg_health_commit_failed(w->health, reason))
        fg_log(FG_LOG_ERROR, "store_cannot_commit",
               "file=%s error=\"%s\" publishes get 503 until a commit succeeds again",
               fg_store_path(w->cfg.store), why);
    w->next_probe_ms = fg_time_mono_ms() + PROBE_MS;
    return FG_ERR_IO;
}

static void commits_work(fg_writer_t *w)
{
    if (fg_health_commit_ok(w->health))
        fg_log(FG_LOG_INFO, "store_commits_again", "file=%s", fg_store_path(w->cfg.store));
}

/* Commits a group of jobs as one transaction and answers them. */
static void commit_group(fg_writer_t *w, fg_writer_job_t *jobs)
{
    fg_store_t *s = w->cfg.store;
    if (fg_health_state(w->health) == FG_HEALTH_CORRUPT) {
        /* a damaged store takes no more writes: nothing is tried, nothing announced */
        while (jobs) {
            fg_writer_job_t *next = jobs->next;
            jobs->status = FG_ERR_CORRUPT;
            jobs->done(jobs);
            jobs = next;
        }
        return;
    }
    uint64_t first_seq = fg_store_last_seq(s) + 1, next_seq = first_seq;
    int64_t now_us = fg_time_now_us();
    bool redo_safe = true;
    for (fg_writer_job_t *j = jobs; j; j = j->next)
        redo_safe = redo_safe && j->redo_safe;
    int rc = redo_safe ? fg_store_begin_redo_safe(s) : fg_store_begin(s);
    for (fg_writer_job_t *j = jobs; rc == FG_OK && j; j = j->next)
        rc = store_job(w, j, &next_seq, now_us);
    for (size_t k = 0; k < w->cfg.nprojections && rc == FG_OK && next_seq > first_seq; k++) {
        const fg_projection_t *p = &w->cfg.projections[k];
        if (p->mark != NULL)
            rc = p->mark(p->ctx, s, next_seq - 1);
    }
    if (rc == FG_OK)
        rc = fg_store_commit(s, next_seq - 1);
    if (rc != FG_OK) {
        int status = commit_failed(w, rc);
        fg_store_rollback(s);
        rolled_back(w, true);
        atomic_fetch_add(&w->stats.failed_commits, 1);
        /* Nothing of this group is stored, and the store's last_seq did not move. */
        for (fg_writer_job_t *j = jobs; j; j = j->next)
            j->status = status;
    } else {
        commits_work(w);
    }

    /* Announce the new events in sequence order, then answer the producers. */
    size_t count = 0;
    for (fg_writer_job_t *j = jobs; j && rc == FG_OK; j = j->next)
        for (size_t i = 0; j->status == FG_OK && i < j->n; i++)
            count += !j->results[i].duplicate;
    fg_event_t **evs = count ? malloc(count * sizeof(*evs)) : NULL;
    size_t made = 0;
    uint64_t dups = 0;
    for (fg_writer_job_t *j = jobs; j && count; j = j->next) {
        if (j->status != FG_OK)
            continue;
        for (size_t i = 0; i < j->n; i++) {
            if (j->results[i].duplicate) {
                dups++;
                continue;
            }
            fg_pub_event_t *ev = &j->events[i];
            const fg_type_spec_t *t = fg_catalog_type(w->cfg.cat, (size_t)ev->type_idx);
            fg_event_t *e = fg_event_create(j->results[i].seq, ev->type_idx, t->name, ev->id,
                                            ev->run_id, ev->workflow, ev->json, ev->json_len);
            if (e == NULL || evs == NULL) {
                fg_log(FG_LOG_ERROR, "out_of_memory", "where=announce");
                abort();
            }
            evs[made++] = e;
            if (rc == FG_OK)
                atomic_fetch_add_explicit(&w->stats.by_type[ev->type_idx], 1, memory_order_relaxed);
        }
    }
    if (rc == FG_OK) {
        atomic_fetch_add(&w->stats.commits, 1);
        atomic_fetch_add(&w->stats.events, made);
        atomic_fetch_add(&w->stats.duplicates, dups);
    }
    /* Announced before the producers are answered: whoever got a 202 finds its event in the
     * loops' hubs, and once the last job is answered (shutdown waits for that) nothing of this
     * commit is still being handed out. Announcing only queues the events on the loops: they
     * write them after answering (fg_stream_flush_slice). */
    if (made > 0 && w->cfg.on_commit)
        w->cfg.on_commit(w->cfg.on_commit_ctx, evs, made);
    else
        for (size_t i = 0; i < made; i++)
            fg_event_release(evs[i]);
    free(evs);
    while (jobs) {
        fg_writer_job_t *next = jobs->next;
        jobs->done(jobs);
        jobs = next;
    }
}

static void run_retention(fg_writer_t *w)
{
    int64_t min_us = 0;
    if (w->cfg.retention_max_age_ms > 0)
        min_us = fg_time_now_us() - w->cfg.retention_max_age_ms * 1000;
    fg_store_retained_t done;
    if (fg_store_retain(w->cfg.store, min_us, w->cfg.retention_max_events, RETENTION_CHUNK,
                        &done) != FG_OK)
        return;
    uint64_t floor = fg_store_purged_through(w->cfg.store), total = done.events + done.runs;
    char more[160] = "";
    size_t used = 0;
    for (size_t k = 0; k < w->cfg.nprojections; k++) {
        const fg_projection_t *p = &w->cfg.projections[k];
        uint64_t removed = 0;
        if (p->retain == NULL ||
            p->retain(p->ctx, w->cfg.store, floor, RETENTION_CHUNK, &removed) != FG_OK)
            continue;
        total += removed;
        if (used < sizeof(more))
            used += (size_t)snprintf(more + used, sizeof(more) - used, " %s=%llu", p->name,
                                     (unsigned long long)removed);
    }
    if (total > 0) {
        atomic_fetch_add(&w->stats.retained, done.events);
        fg_log(FG_LOG_DEBUG, "retention", "events=%llu runs=%llu%s purged_through=%llu",
               (unsigned long long)done.events, (unsigned long long)done.runs, more,
               (unsigned long long)floor);
        /* More may be due: come back soon, after any waiting publishes. */
        w->next_retention_ms = fg_time_mono_ms();
    }
}

/* The relative deadline for pthread_cond_timedwait on CLOCK_MONOTONIC. */
static struct timespec deadline_in(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* After a failed commit, while nothing else is written: a small commit tells whether the store
 * takes writes again (the disk has room), so readiness comes back by itself. */
static void probe(fg_writer_t *w)
{
    int rc = fg_store_probe(w->cfg.store, fg_time_now_us());
    if (rc == FG_OK)
        commits_work(w);
    else
        commit_failed(w, rc);
}

static void *writer_main(void *arg)
{
    fg_writer_t *w = arg;
    pthread_setname_np(pthread_self(), "fg-writer");
    bool retention_on = w->cfg.retention_max_age_ms > 0 || w->cfg.retention_max_events > 0;
    w->next_retention_ms = fg_time_mono_ms() + 1000;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->head == NULL && !w->stopping) {
            int64_t now = fg_time_mono_ms();
            fg_health_state_t health = fg_health_state(w->health);
            if (health == FG_HEALTH_CANNOT_COMMIT && now >= w->next_probe_ms) {
                w->next_probe_ms = now + PROBE_MS;
                pthread_mutex_unlock(&w->lock);
                probe(w);
                pthread_mutex_lock(&w->lock);
                continue;
            }
            if (retention_on && health == FG_HEALTH_OK && now >= w->next_retention_ms) {
                w->next_retention_ms = now + w->cfg.retention_interval_ms;
                pthread_mutex_unlock(&w->lock);
                run_retention(w);
                pthread_mutex_lock(&w->lock);
                continue;
            }
            int64_t wait = retention_on ? w->next_retention_ms - now : 3600000;
            if (health == FG_HEALTH_CANNOT_COMMIT && w->next_probe_ms - now < wait)
                wait = w->next_probe_ms - now;
            if (wait < 1)
                wait = 1;
            struct timespec ts = deadline_in(wait);
            pthread_cond_timedwait(&w->cond, &w->lock, &ts);
        }
        if (w->head == NULL && w->stopping)
            break;
        /* Take jobs up to the group limit (always at least one). */
        fg_writer_job_t *group = w->head, *last = w->head;
        size_t events = last->n;
        while (last->next &&
               (last->with_next || events + last->next->n <= w->cfg.max_group_events)) {
            last = last->next;
            events += last->n;
        }
        w->head = last->next;
        if (w->head == NULL)
            w->tail = NULL;
        last->next = NULL;
        size_t taken = 0;
        for (fg_writer_job_t *j = group; j; j = j->next)
            taken++;
        w->queued -= taken;
        pthread_mutex_unlock(&w->lock);
        commit_group(w, group);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int fg_writer_start(const fg_writer_config_t *cfg, fg_writer_t **out)
{
    if (cfg->nprojections > FG_MAX_PROJECTIONS)
        return FG_ERR_INVALID;
    fg_writer_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return FG_ERR_NOMEM;
    w->cfg = *cfg;
    if (w->cfg.max_group_events == 0)
        w->cfg.max_group_events = 10000;
    if (w->cfg.retention_interval_ms <= 0)
        w->cfg.retention_interval_ms = 60000;
    fg_health_init(&w->own_health);
    w->health = cfg->health != NULL ? cfg->health : &w->own_health;
    if (cfg->nprojections > 0)
        memcpy(w->projections, cfg->projections, cfg->nprojections * sizeof(*cfg->projections));
    w->cfg.projections = w->projections;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        fg_health_dispose(&w->own_health);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return FG_ERR_IO;
    }
    *out = w;
    return FG_OK;
}

void fg_writer_stop(fg_writer_t *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    fg_health_dispose(&w->own_health);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
