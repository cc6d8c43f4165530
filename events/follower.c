/*
 * follower.c - applying the shared log to this node's store (follower.h).
 */
#include "events/follower.h"
#include "events/log.h"
#include "events/redis_log.h"
#include "events/replicated.h"
#include "events/timefmt.h"
#include "events/filter.h"
#include "events/validate.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENTRIES 8     /* entries per read (each holds one publish call's events, up to 1,000) */
#define BLOCK_MS 1000 /* a read's wait for new entries (bounds stop's wait) */
#define MAX_STORED (64u << 20) /* an entry's size limit here: another node accepted it */
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

#define META_CTL_SEQ "cluster_ctl_seq" /* the last control entry applied: <seq>-<sub> */
#define META_CTL_SUB "cluster_ctl_sub"

struct fg_follower {
    fg_follower_config_t cfg; /* immutable after start */
    pthread_t thread;
    _Atomic bool stopping;
    fg_redis_t *redis;    /* follower thread */
    pthread_mutex_t lock; /* guards outstanding (jobs the writer has not answered) */
    pthread_cond_t cond;
    size_t outstanding;
    fg_follower_stats_t stats;
};

/* A control entry as the writer applies it: the decoded job (or none, when it cannot be read),
 * then the entry's place recorded in the same transaction. */
typedef struct {
    fg_writer_job_t job;
    fg_follower_t *f;
    const fg_repl_kind_t *kind;
    fg_writer_job_t *inner;  /* decoded; NULL when unreadable */
    fg_writer_job_t *origin; /* this node's job waiting for it, or NULL */
    fg_rlog_pos_t pos;
    size_t at; /* events of the read before it */
} ctl_t;

/* One read's events, prepared as writer events (the arrays grow to the largest read), and its
 * control entries. */
typedef struct {
    fg_follower_t *f;
    fg_pub_event_t *ev;
    uint64_t *seq;
    int64_t *at_us;
    fg_pub_result_t *res;
    size_t n, cap;
    ctl_t **ctl;
    size_t nctl, capctl;
    int64_t last_received_us;
} batch_t;

static void grow(batch_t *b)
{
    size_t cap = b->cap ? b->cap * 2 : 1024;
    fg_pub_event_t *ev = realloc(b->ev, cap * sizeof(*ev));
    if (ev != NULL)
        b->ev = ev;
    uint64_t *seq = realloc(b->seq, cap * sizeof(*seq));
    if (seq != NULL)
        b->seq = seq;
    int64_t *at = realloc(b->at_us, cap * sizeof(*at));
    if (at != NULL)
        b->at_us = at;
    fg_pub_result_t *res = realloc(b->res, cap * sizeof(*res));
    if (res != NULL)
        b->res = res;
    if (ev == NULL || seq == NULL || at == NULL || res == NULL) {
        fg_log(FG_LOG_ERROR, "out_of_memory", "where=follower");
        abort(); /* the follower cannot go on without the events it read */
    }
    b->cap = cap;
}

/* Copies the next tab-separated field of [*p, end) into out (cap bytes). False when it does not
 * fit or there is none. */
static bool field(const char **p, const char *end, char *out, size_t cap)
{
    const char *tab = memchr(*p, '\t', (size_t)(end - *p));
    if (tab == NULL || (size_t)(tab - *p) >= cap)
        return false;
    memcpy(out, *p, (size_t)(tab - *p));
    out[tab - *p] = '\0';
    *p = tab + 1;
    return true;
}

/* Builds the event from its header (redis_log.h), with no JSON parse: the node that published it
 * validated it. False when the header is not one this version reads (the caller parses). */
static bool from_header(const fg_catalog_t *cat, const fg_rlog_entry_t *e, fg_pub_event_t *ev)
{
    const char *p = e->header, *end = e->header + e->header_len;
    char type[FG_FILTER_MAX_NAME + 1], from[8], to[8];
    memset(ev, 0, sizeof(*ev));
    if (!field(&p, end, type, sizeof(type)) || !field(&p, end, from, sizeof(from)) ||
        !field(&p, end, to, sizeof(to)) || !field(&p, end, ev->run_id, sizeof(ev->run_id)) ||
        !field(&p, end, ev->step_id, sizeof(ev->step_id)) ||
        !field(&p, end, ev->id, sizeof(ev->id)))
        return false;
    ev->type_idx = fg_catalog_find(cat, type, strlen(type));
    if (ev->type_idx < 0)
        return false;
    ev->from = atoi(from);
    ev->to = atoi(to);
    /* a trace context ends the header when the event has one: a tab and exactly its shape */
    if (end - p > FG_TRACEPARENT_LEN && end[-FG_TRACEPARENT_LEN - 1] == '\t' &&
        fg_traceparent_valid(end - FG_TRACEPARENT_LEN, FG_TRACEPARENT_LEN)) {
        memcpy(ev->traceparent, end - FG_TRACEPARENT_LEN, FG_TRACEPARENT_LEN);
        ev->traceparent[FG_TRACEPARENT_LEN] = '\0';
        end -= FG_TRACEPARENT_LEN + 1;
    }
    ev->json = malloc(e->json_len + 1);
    ev->workflow = end > p ? strndup(p, (size_t)(end - p)) : NULL;
    if (ev->json == NULL || (end > p && ev->workflow == NULL)) {
        fg_pub_event_dispose(ev);
        return false;
    }
    memcpy(ev->json, e->json, e->json_len);
    ev->json[e->json_len] = '\0';
    ev->json_len = e->json_len;
    return true;
}

static int ctl_apply(fg_writer_job_t *job, fg_store_t *s)
{
    ctl_t *c = (ctl_t *)job;
    if (c->inner != NULL) {
        /* the entry's own change under its own savepoint: one that fails (a subscription
         * deleted meanwhile) fails alike on every node and changes nothing */
        if (fg_store_savepoint(s) != FG_OK)
            return FG_ERR_IO;
        int rc = c->inner->apply(c->inner, s);
        if (rc == FG_ERR_IO || rc == FG_ERR_CORRUPT || rc == FG_ERR_NOMEM)
            return rc == FG_ERR_NOMEM ? FG_ERR_IO : rc;
        if (rc != FG_OK)
            fg_store_savepoint_rollback(s);
        else if (fg_store_savepoint_release(s) != FG_OK)
            return FG_ERR_IO;
        c->inner->status = rc;
    }
    if (fg_store_meta_put(s, META_CTL_SEQ, (int64_t)c->pos.seq) != FG_OK ||
        fg_store_meta_put(s, META_CTL_SUB, (int64_t)c->pos.sub) != FG_OK)
        return FG_ERR_IO;
    return FG_OK;
}

static void job_done(fg_writer_job_t *job)
{
    fg_follower_t *f = job->udata;
    pthread_mutex_lock(&f->lock);
    f->outstanding--;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

/* Writer thread, after the commit: the origin is answered (or, when the commit failed, waits for
 * the entry to be read again), the decoded job freed. */
static void ctl_done(fg_writer_job_t *job)
{
    ctl_t *c = (ctl_t *)job;
    fg_follower_t *f = c->f;
    if (c->origin != NULL && job->status != FG_OK) {
        fg_repl_unclaim(f->cfg.repl, c->origin);
    } else if (c->origin != NULL) {
        if (c->inner != NULL)
            c->kind->answer(c->inner, c->origin);
        else
            c->origin->status = FG_ERR_IO;
        fg_repl_applied(f->cfg.repl, c->origin);
    }
    if (c->inner != NULL)
        c->inner->done(c->inner);
    c->inner = NULL;
    job_done(job);
}

/* A control entry: decoded here, applied by the writer between the events around it. */
static void on_control(batch_t *b, const fg_rlog_entry_t *e)
{
    fg_follower_t *f = b->f;
    if (b->nctl == b->capctl) {
        size_t cap = b->capctl ? b->capctl * 2 : 64;
        ctl_t **ctl = realloc(b->ctl, cap * sizeof(*ctl));
        if (ctl == NULL) {
            fg_log(FG_LOG_ERROR, "out_of_memory", "where=follower");
            abort();
        }
        b->ctl = ctl;
        b->capctl = cap;
    }
    ctl_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        fg_log(FG_LOG_ERROR, "out_of_memory", "where=follower");
        abort();
    }
    c->f = f;
    c->pos = (fg_rlog_pos_t){e->seq, e->sub};
    c->at = b->n;
    c->job.apply = ctl_apply;
    c->job.done = ctl_done;
    c->job.udata = f;
    c->kind = f->cfg.repl ? fg_repl_kind(f->cfg.repl, e->kind, e->kind_len) : NULL;
    json_error_t jerr;
    json_t *body = c->kind && e->body ? json_loadb(e->body, e->body_len, 0, &jerr) : NULL;
    if (body != NULL)
        c->inner = c->kind->decode(c->kind->ctx, body);
    json_decref(body);
    if (c->inner == NULL) {
        atomic_fetch_add(&f->stats.bad_entries, 1);
        fg_log(FG_LOG_ERROR, "cluster_bad_entry",
               "id=%" PRIu64 "-%" PRIu64 " kind=\"%.*s\" the control entry cannot be read here: "
               "skipped",
               e->seq, e->sub, (int)(e->kind_len < 32 ? e->kind_len : 32), e->kind);
    }
    if (e->origin != NULL && f->cfg.repl != NULL)
        c->origin = fg_repl_claim(f->cfg.repl, e->origin, e->origin_len);
    b->ctl[b->nctl++] = c;
}

static void on_entry(void *ctx, const fg_rlog_entry_t *e)
{
    batch_t *b = ctx;
    if (e->sub > 0) {
        on_control(b, e);
        return;
    }
    if (b->n == b->cap)
        grow(b);
    b->at_us[b->n] = e->received_us;
    if (e->header != NULL && e->json != NULL && from_header(b->f->cfg.cat, e, &b->ev[b->n])) {
        b->seq[b->n] = e->seq;
        b->last_received_us = e->received_us;
        b->n++;
        return;
    }
    json_error_t jerr;
    json_t *obj = e->json ? json_loadb(e->json, e->json_len, 0, &jerr) : NULL;
    fg_verr_t err = {.message = "not JSON"};
    fg_pub_event_t *ev = &b->ev[b->n];
    if (obj == NULL || fg_pub_event_prepare(b->f->cfg.cat, obj, NULL, MAX_STORED, e->received_us,
                                            ev, &err) != FG_OK) {
        json_decref(obj);
        atomic_fetch_add(&b->f->stats.bad_entries, 1);
        fg_log(FG_LOG_ERROR, "cluster_bad_entry",
               "seq=%" PRIu64 " error=\"%s\" the entry is skipped: its number stays unused here",
               e->seq, e->json ? err.message : "no event in the entry");
        return;
    }
    json_decref(obj);
    b->seq[b->n] = e->seq;
    b->last_received_us = e->received_us;
    b->n++;
}

/* Applies a read - its events, and its control entries between them - through the writer in
 * one transaction, and waits for its commit. FG_OK or the first failing job's status. */
static int apply(fg_follower_t *f, batch_t *b)
{
    if (b->n == 0 && b->nctl == 0)
        return FG_OK;
    size_t njobs = 0;
    fg_writer_job_t **jobs = malloc((2 * b->nctl + 1) * sizeof(*jobs));
    fg_writer_job_t *evjobs = calloc(b->nctl + 1, sizeof(*evjobs));
    if (jobs == NULL || evjobs == NULL) {
        fg_log(FG_LOG_ERROR, "out_of_memory", "where=follower");
        abort();
    }
    size_t from = 0, nev = 0;
    for (size_t k = 0; k <= b->nctl; k++) {
        size_t to = k < b->nctl ? b->ctl[k]->at : b->n;
        if (to > from) {
            fg_writer_job_t *j = &evjobs[nev++];
            *j = (fg_writer_job_t){.events = b->ev + from,
                                   .n = to - from,
                                   .seqs = b->seq + from,
                                   .at_us = b->at_us + from,
                                   .results = b->res + from,
                                   .done = job_done,
                                   .udata = f};
            jobs[njobs++] = j;
        }
        from = to;
        if (k < b->nctl)
            jobs[njobs++] = &b->ctl[k]->job;
    }
    pthread_mutex_lock(&f->lock);
    f->outstanding = njobs;
    pthread_mutex_unlock(&f->lock);
    int rc = fg_writer_submit_all(f->cfg.writer, jobs, njobs);
    if (rc == FG_OK) {
        pthread_mutex_lock(&f->lock);
        while (f->outstanding > 0)
            pthread_cond_wait(&f->cond, &f->lock);
        pthread_mutex_unlock(&f->lock);
        for (size_t i = 0; i < njobs && rc == FG_OK; i++)
            rc = jobs[i]->status;
    } else {
        for (size_t k = 0; k < b->nctl; k++) /* not applied: read again */
            if (b->ctl[k]->origin != NULL)
                fg_repl_unclaim(f->cfg.repl, b->ctl[k]->origin);
    }
    free(jobs);
    free(evjobs);
    return rc;
}

static void release(batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        fg_pub_event_dispose(&b->ev[i]);
    b->n = 0;
    for (size_t k = 0; k < b->nctl; k++) {
        if (b->ctl[k]->inner != NULL) /* never submitted */
            b->ctl[k]->inner->done(b->ctl[k]->inner);
        free(b->ctl[k]);
    }
    b->nctl = 0;
}

static void nap(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void raise_head(fg_follower_t *f, uint64_t seq)
{
    uint64_t cur = atomic_load(f->cfg.head);
    while (seq > cur && !atomic_compare_exchange_weak(f->cfg.head, &cur, seq)) {
    }
}

/* Each round first asks for the log's epoch: another one (or none) means Redis lost the log;
 * the node joins the new one, raising its counter to what this node holds, before reading on. */
static int check_epoch(fg_follower_t *f, uint64_t applied)
{
    redisReply *rep = fg_redis_cmdf(f->redis, "GET " FG_RLOG_EPOCH);
    if (rep == NULL)
        return FG_ERR_IO;
    uint64_t e = rep->type == REDIS_REPLY_STRING ? strtoull(rep->str, NULL, 10) : 0;
    freeReplyObject(rep);
    if (e != 0 && e == atomic_load(f->cfg.epoch))
        return FG_OK;
    uint64_t head = atomic_load(f->cfg.head), epoch;
    bool created;
    char err[256];
    if (fg_rlog_join(f->redis, applied > head ? applied : head, &epoch, &created, err,
                     sizeof(err)) != FG_OK) {
        fg_log(FG_LOG_ERROR, "cluster_join_failed", "error=\"%s\"", err);
        return FG_ERR_IO;
    }
    fg_cluster_epoch_seen(f->cfg.epoch, f->cfg.epoch_changes, epoch, "follower");
    return FG_OK;
}

static void *follower_main(void *arg)
{
    fg_follower_t *f = arg;
    pthread_setname_np(pthread_self(), "fg-follower");
    batch_t *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        fg_log(FG_LOG_ERROR, "out_of_memory", "where=follower");
        abort();
    }
    b->f = f;
    /* where this store is in the log: its last event, or a control entry after it */
    fg_rlog_pos_t applied = {fg_store_last_seq(f->cfg.store), 0};
    fg_rlog_pos_t ctl = {f->cfg.ctl_seq, f->cfg.ctl_sub};
    if (fg_rlog_pos_after(ctl, applied))
        applied = ctl;
    int64_t backoff = BACKOFF_MIN_MS;
    bool was_down = false;
    bool retention = f->cfg.retention_max_events > 0 || f->cfg.retention_max_age_ms > 0;
    int64_t next_trim = fg_time_mono_ms() + f->cfg.retention_interval_ms;
    while (!atomic_load(&f->stopping)) {
        if (retention && !was_down && fg_time_mono_ms() >= next_trim) {
            next_trim = fg_time_mono_ms() + f->cfg.retention_interval_ms;
            uint64_t floor;
            if (fg_rlog_trim(f->redis, f->cfg.node_id ? f->cfg.node_id : "",
                             f->cfg.retention_max_events, f->cfg.retention_max_age_ms,
                             &floor) == FG_OK &&
                floor > 0) {
                atomic_store(&f->stats.log_floor, floor);
                fg_log(FG_LOG_DEBUG, "cluster_log_trimmed", "floor=%" PRIu64, floor);
            }
        }
        if (f->cfg.repl != NULL)
            fg_repl_sweep(f->cfg.repl, fg_time_mono_ms());
        fg_rlog_pos_t last;
        int rc = check_epoch(f, applied.seq);
        if (rc == FG_OK)
            rc = fg_rlog_read(f->redis, applied, ENTRIES, BLOCK_MS, on_entry, b, &last);
        if (rc != FG_OK) {
            release(b);
            if (!was_down) {
                fg_log(FG_LOG_ERROR, "cluster_follower_down",
                       "error=\"%s\" applied=%" PRIu64 " reading again with backoff",
                       fg_redis_error(f->redis), applied.seq);
                was_down = true;
            }
            nap(backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        if (was_down) {
            atomic_fetch_add(&f->stats.reconnects, 1);
            fg_log(FG_LOG_INFO, "cluster_follower_back", "applied=%" PRIu64, applied.seq);
            was_down = false;
        }
        backoff = BACKOFF_MIN_MS;
        raise_head(f, last.seq);
        if (b->n > 0 && b->seq[0] > applied.seq + 1)
            fg_log(FG_LOG_WARN, "cluster_log_behind",
                   "applied=%" PRIu64 " first_in_log=%" PRIu64 " events %" PRIu64 "..%" PRIu64
                   " were trimmed from the shared log before this "
                   "node applied them: its store starts above them",
                   applied.seq, b->seq[0], applied.seq + 1, b->seq[0] - 1);
        size_t n = b->n;
        int64_t received = b->last_received_us;
        rc = apply(f, b);
        release(b);
        if (rc != FG_OK) {
            /* not applied: read the same entries again (the writer is stopping, or the store
             * cannot commit; its health says so) */
            if (rc != FG_ERR_CLOSED)
                fg_log(FG_LOG_ERROR, "cluster_apply_failed", "error=\"%s\" from=%" PRIu64,
                       fg_strerror(rc), applied.seq + 1);
            nap(BACKOFF_MAX_MS / 4);
            continue;
        }
        applied = last;
        if (n > 0) {
            atomic_fetch_add(&f->stats.applied, n);
            atomic_store(&f->stats.lag_us, fg_time_now_us() - received);
        }
    }
    release(b);
    free(b->ctl);
    free(b->at_us);
    free(b->ev);
    free(b->seq);
    free(b->res);
    free(b);
    return NULL;
}

int fg_follower_start(const fg_follower_config_t *cfg, fg_follower_t **out)
{
    fg_follower_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return FG_ERR_NOMEM;
    f->cfg = *cfg;
    char err[256];
    /* the read blocks BLOCK_MS on top of a command's own wait */
    int rc = fg_redis_open(cfg->redis_url, cfg->timeout_ms + BLOCK_MS, &f->redis, err, sizeof(err));
    if (rc == FG_ERR_NOMEM || rc == FG_ERR_INVALID) {
        free(f);
        return rc;
    }
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    if (pthread_create(&f->thread, NULL, follower_main, f) != 0) {
        fg_redis_close(f->redis);
        pthread_mutex_destroy(&f->lock);
        pthread_cond_destroy(&f->cond);
        free(f);
        return FG_ERR_IO;
    }
    *out = f;
    return FG_OK;
}

void fg_follower_stop(fg_follower_t *f)
{
    if (f == NULL)
        return;
    atomic_store(&f->stopping, true);
    pthread_join(f->thread, NULL);
    fg_redis_close(f->redis);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->cond);
    free(f);
}

int fg_follower_position(fg_store_t *s, uint64_t *ctl_seq, uint64_t *ctl_sub)
{
    int64_t seq = 0, sub = 0;
    int rc = fg_store_meta_get(s, META_CTL_SEQ, &seq);
    if (rc == FG_OK)
        rc = fg_store_meta_get(s, META_CTL_SUB, &sub);
    *ctl_seq = (uint64_t)seq;
    *ctl_sub = (uint64_t)sub;
    return rc;
}

const fg_follower_stats_t *fg_follower_stats(const fg_follower_t *f)
{
    return &f->stats;
}
