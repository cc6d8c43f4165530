/*
 * store_fixture.c - a store and its writer in a temporary directory, with jobs to publish and
 * helpers to read back (store_fixture.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/store_fixture.h"
#include "events/store_checkpoint.h"
#include "events/transitions.h"
#include "webhooks/outbox_store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void on_commit(void *ctx, fg_event_t **evs, size_t n)
{
    fixture_t *fx = ctx;
    pthread_mutex_lock(&fx->lock);
    for (size_t i = 0; i < n; i++) {
        if (fx->nannounced < 4096) {
            snprintf(fx->workflows[fx->nannounced], 16, "%s", evs[i]->workflow);
            fx->announced[fx->nannounced++] = evs[i]->seq;
        }
        if (evs[i]->seq > fx->announced_through)
            fx->announced_through = evs[i]->seq;
        fg_event_release(evs[i]);
    }
    pthread_cond_broadcast(&fx->cond);
    pthread_mutex_unlock(&fx->lock);
}

void on_done(fg_writer_job_t *job)
{
    job_t *j = job->udata;
    pthread_mutex_lock(&j->fx->lock);
    j->done = true;
    pthread_cond_broadcast(&j->fx->cond);
    pthread_mutex_unlock(&j->fx->lock);
}

void start_writer_aged(fixture_t *fx, bool enforce, uint64_t max_events, int64_t max_age_ms)
{
    char err[256];
    assert_int_equal(fg_store_open(fx->dir, fx->full_sync ? FG_SYNC_FULL : FG_SYNC_NORMAL,
                                   &fx->store, err, sizeof(err)),
                     FG_OK);
    assert_int_equal(fg_wh_store_open(fx->store), FG_OK);
    uint64_t applied;
    bool rebuilt;
    assert_int_equal(fg_runview_open(fx->store, fx->cat, &fx->rv), FG_OK);
    assert_int_equal(fg_runview_sync(fx->rv, fx->rebuild_views, &applied, &rebuilt), FG_OK);
    fg_projection_t views = fg_runview_projection(fx->rv);
    fg_writer_config_t wc = {.store = fx->store,
                             .cat = fx->cat,
                             .enforce_transitions = enforce,
                             .retention_max_events = max_events,
                             .retention_max_age_ms = max_age_ms,
                             .retention_interval_ms = 50,
                             .on_commit = on_commit,
                             .on_commit_ctx = fx,
                             .projections = &views,
                             .nprojections = 1};
    if (fx->checkpoints)
        assert_int_equal(fg_checkpointer_start(fx->store, 20, 1, &fx->checkpointer), FG_OK);
    assert_int_equal(fg_writer_start(&wc, &fx->writer), FG_OK);
}

void start_writer(fixture_t *fx, bool enforce, uint64_t max_events)
{
    start_writer_aged(fx, enforce, max_events, 0);
}

void stop_writer(fixture_t *fx)
{
    fg_writer_stop(fx->writer);
    fg_checkpointer_stop(fx->checkpointer);
    fx->checkpointer = NULL;
    fg_runview_close(fx->rv);
    fx->rv = NULL;
    fg_store_close(fx->store);
    fx->writer = NULL;
    fx->store = NULL;
}

int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/fg-unit-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->path, sizeof(fx->path), "%s/flowgate.db", fx->dir);
    fx->cat = fg_catalog_create();
    pthread_mutex_init(&fx->lock, NULL);
    pthread_cond_init(&fx->cond, NULL);
    *state = fx;
    return 0;
}

int teardown(void **state)
{
    fixture_t *fx = *state;
    if (fx->writer)
        stop_writer(fx);
    fg_catalog_destroy(fx->cat);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
    if (system(cmd) != 0)
        return -1;
    free(fx);
    return 0;
}

/* Builds a job from JSON texts (prepared as the gateway would). */
job_t *make_job(fixture_t *fx, const char **texts, size_t n)
{
    job_t *j = calloc(1, sizeof(*j));
    j->fx = fx;
    for (size_t i = 0; i < n; i++) {
        json_t *obj = json_loads(texts[i], 0, NULL);
        assert_non_null(obj);
        fg_verr_t err;
        assert_int_equal(fg_pub_event_prepare(fx->cat, obj, NULL, 65536, 1000, &j->events[i], &err),
                         FG_OK);
        json_decref(obj);
    }
    j->job.events = j->events;
    j->job.results = j->results;
    j->job.n = n;
    j->job.done = on_done;
    j->job.udata = j;
    return j;
}

/* Waits for the job's answer, and for its new events' announcement (made after the answers). */
void wait_job(job_t *j)
{
    pthread_mutex_lock(&j->fx->lock);
    while (!j->done)
        pthread_cond_wait(&j->fx->cond, &j->fx->lock);
    uint64_t last = 0;
    for (size_t i = 0; j->job.status == FG_OK && i < j->job.n; i++)
        if (!j->job.results[i].duplicate && j->job.results[i].seq > last)
            last = j->job.results[i].seq;
    while (j->fx->announced_through < last)
        pthread_cond_wait(&j->fx->cond, &j->fx->lock);
    pthread_mutex_unlock(&j->fx->lock);
}

void free_job(job_t *j)
{
    for (size_t i = 0; i < j->job.n; i++)
        fg_pub_event_dispose(&j->events[i]);
    free(j);
}

/* Publishes and waits; returns the job (caller frees). */
job_t *publish(fixture_t *fx, const char **texts, size_t n)
{
    job_t *j = make_job(fx, texts, n);
    assert_int_equal(fg_writer_submit(fx->writer, &j->job), FG_OK);
    wait_job(j);
    return j;
}

const char *log_line(int i)
{
    static char buf[16][256];
    char *b = buf[i % 16];
    snprintf(b, 256,
             "{\"type\":\"log_line\",\"run_id\":\"" RUN "\",\"step_id\":\"" STEP "\","
             "\"step_name\":\"build\",\"stream\":\"stdout\",\"line\":\"line %d\"}",
             i);
    return b;
}

const char *status(const char *from, const char *to, const char *id)
{
    static char buf[4][320];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 320,
             "{\"type\":\"run_status_changed\",\"run_id\":\"" RUN "\",\"workflow_name\":\"deploy\","
             "\"from\":\"%s\",\"to\":\"%s\",\"cost_usd\":\"0\",\"duration_ms\":1%s%s%s}",
             from, to, id ? ",\"id\":\"" : "", id ? id : "", id ? "\"" : "");
    return b;
}

/* A reader on the fixture's store (close it). */
fg_store_reader_t *open_reader(fixture_t *fx)
{
    fg_store_reader_t *r = NULL;
    char err[256];
    assert_int_equal(fg_store_reader_open(fx->store, &r, err, sizeof(err)), FG_OK);
    return r;
}

size_t read_all(fixture_t *fx, const fg_filter_t *f, uint64_t after, uint64_t *seqs)
{
    fg_store_reader_t *r = open_reader(fx);
    fg_event_t *evs[512];
    size_t n;
    uint64_t scanned;
    assert_int_equal(fg_store_read(r, fx->cat, f, after, INT64_MAX, 512, evs, &n, &scanned), FG_OK);
    for (size_t i = 0; i < n; i++) {
        seqs[i] = evs[i]->seq;
        fg_event_release(evs[i]);
    }
    fg_store_reader_close(r);
    return n;
}

/* Publishes log lines from..to-1, one job each. */
void publish_lines(fixture_t *fx, int from, int to)
{
    for (int i = from; i < to; i++) {
        const char *t[] = {log_line(i)};
        free_job(publish(fx, t, 1));
    }
}

/* Waits (bounded) for background retention to reach a floor, then checks it and that the
 * remaining events start right after it; returns how many remain. */
size_t expect_purged_through(fixture_t *fx, uint64_t floor)
{
    for (int i = 0; i < 400 && fg_store_purged_through(fx->store) < floor; i++)
        usleep(10000);
    assert_int_equal(fg_store_purged_through(fx->store), floor);
    fg_filter_t f;
    fg_filter_init(&f);
    uint64_t seqs[512];
    size_t n = read_all(fx, &f, 0, seqs);
    fg_filter_dispose(&f);
    assert_true(n > 0);
    assert_int_equal(seqs[0], floor + 1);
    return n;
}

/* Counts rows of a table on a separate connection (what a restart would find). */
int64_t count_rows(fixture_t *fx, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}
