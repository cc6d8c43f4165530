/*
 * test_store.c - the SQLite store and the writer thread together: sequence numbers, group
 * commit from concurrent submitters, idempotency, the transition check in both modes, the
 * workflow of step events, retention and its floor, reopening, and the run views the writer
 * keeps (checked against a recorded event sequence, and rebuilt or caught up on start).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "events/runview.h"
#include "events/store.h"
#include "webhooks/outbox_store.h"
#include "events/transitions.h"
#include "events/writer.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUN "3f1c2a4e-8b9d-4c1e-9f2a-1b2c3d4e5f60"
#define STEP "0b7d2e51-1111-4c1e-9f2a-1b2c3d4e5f61"

int run_store_tests(void);

typedef struct {
    char dir[64], path[96];
    fg_catalog_t *cat;
    fg_store_t *store;
    fg_writer_t *writer;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t announced[4096]; /* seqs handed to on_commit, in order */
    size_t nannounced;
    char workflows[4096][16];
    bool rebuild_views; /* the run views' sync at the next start */
    fg_runview_t *rv;   /* the run views, the writer's projection */
} fixture_t;

typedef struct {
    fg_writer_job_t job;
    fg_pub_event_t events[8];
    fg_pub_result_t results[8];
    fixture_t *fx;
    bool done;
} job_t;

static void on_commit(void *ctx, fg_event_t **evs, size_t n)
{
    fixture_t *fx = ctx;
    pthread_mutex_lock(&fx->lock);
    for (size_t i = 0; i < n; i++) {
        if (fx->nannounced < 4096) {
            snprintf(fx->workflows[fx->nannounced], 16, "%s", evs[i]->workflow);
            fx->announced[fx->nannounced++] = evs[i]->seq;
        }
        fg_event_release(evs[i]);
    }
    pthread_mutex_unlock(&fx->lock);
}

static void on_done(fg_writer_job_t *job)
{
    job_t *j = job->udata;
    pthread_mutex_lock(&j->fx->lock);
    j->done = true;
    pthread_cond_broadcast(&j->fx->cond);
    pthread_mutex_unlock(&j->fx->lock);
}

static void start_writer_aged(fixture_t *fx, bool enforce, uint64_t max_events, int64_t max_age_ms)
{
    char err[256];
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &fx->store, err, sizeof(err)), FG_OK);
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
    assert_int_equal(fg_writer_start(&wc, &fx->writer), FG_OK);
}

static void start_writer(fixture_t *fx, bool enforce, uint64_t max_events)
{
    start_writer_aged(fx, enforce, max_events, 0);
}

static void stop_writer(fixture_t *fx)
{
    fg_writer_stop(fx->writer);
    fg_runview_close(fx->rv);
    fx->rv = NULL;
    fg_store_close(fx->store);
    fx->writer = NULL;
    fx->store = NULL;
}

static int setup(void **state)
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

static int teardown(void **state)
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
static job_t *make_job(fixture_t *fx, const char **texts, size_t n)
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

static void wait_job(job_t *j)
{
    pthread_mutex_lock(&j->fx->lock);
    while (!j->done)
        pthread_cond_wait(&j->fx->cond, &j->fx->lock);
    pthread_mutex_unlock(&j->fx->lock);
}

static void free_job(job_t *j)
{
    for (size_t i = 0; i < j->job.n; i++)
        fg_pub_event_dispose(&j->events[i]);
    free(j);
}

/* Publishes and waits; returns the job (caller frees). */
static job_t *publish(fixture_t *fx, const char **texts, size_t n)
{
    job_t *j = make_job(fx, texts, n);
    assert_int_equal(fg_writer_submit(fx->writer, &j->job), FG_OK);
    wait_job(j);
    return j;
}

static const char *log_line(int i)
{
    static char buf[16][256];
    char *b = buf[i % 16];
    snprintf(b, 256,
             "{\"type\":\"log_line\",\"run_id\":\"" RUN "\",\"step_id\":\"" STEP "\","
             "\"step_name\":\"build\",\"stream\":\"stdout\",\"line\":\"line %d\"}",
             i);
    return b;
}

static const char *status(const char *from, const char *to, const char *id)
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
static fg_store_reader_t *open_reader(fixture_t *fx)
{
    fg_store_reader_t *r = NULL;
    char err[256];
    assert_int_equal(fg_store_reader_open(fx->store, &r, err, sizeof(err)), FG_OK);
    return r;
}

static size_t read_all(fixture_t *fx, const fg_filter_t *f, uint64_t after, uint64_t *seqs)
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

static void test_sequences_and_replay(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, false, 0);
    const char *created =
        "{\"type\":\"run_created\",\"run_id\":\"" RUN "\",\"workflow_name\":\"deploy\"}";
    const char *texts[] = {created, log_line(1), log_line(2)};
    job_t *j = publish(fx, texts, 3);
    assert_int_equal(j->job.status, FG_OK);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(j->results[i].seq, i + 1);
        assert_false(j->results[i].duplicate);
    }
    free_job(j);
    assert_int_equal(fx->nannounced, 3);
    assert_int_equal(fx->announced[2], 3);
    /* a step event inherits its run's workflow (for workflow= filters), live and stored */
    assert_string_equal(fx->workflows[1], "deploy");
    fg_filter_t f;
    fg_filter_init(&f);
    fg_verr_t err;
    assert_int_equal(fg_filter_add_workflows(&f, "deploy", 6, &err), FG_OK);
    uint64_t seqs[512];
    assert_int_equal(read_all(fx, &f, 0, seqs), 3);
    fg_filter_dispose(&f);
    fg_filter_init(&f);
    assert_int_equal(fg_filter_add_types(&f, fx->cat, "log_line", 8, &err), FG_OK);
    assert_int_equal(read_all(fx, &f, 2, seqs), 1);
    assert_int_equal(seqs[0], 3);
    fg_filter_dispose(&f);

    /* reopening keeps the sequence going */
    stop_writer(fx);
    start_writer(fx, false, 0);
    assert_int_equal(fg_store_last_seq(fx->store), 3);
    const char *one[] = {log_line(3)};
    j = publish(fx, one, 1);
    assert_int_equal(j->results[0].seq, 4);
    free_job(j);
}

static void test_idempotent_publish(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, false, 0);
    const char *texts[] = {status("pending", "running", "evt-1")};
    job_t *a = publish(fx, texts, 1);
    job_t *b = publish(fx, texts, 1);
    assert_int_equal(a->results[0].seq, 1);
    assert_int_equal(b->results[0].seq, 1);
    assert_true(b->results[0].duplicate);
    assert_int_equal(fx->nannounced, 1); /* nothing new announced */
    free_job(a);
    free_job(b);
    /* a batch repeating an id inside itself stores it once */
    const char *twice[] = {status("running", "completed", "evt-2"),
                           status("running", "completed", "evt-2")};
    job_t *c = publish(fx, twice, 2);
    assert_int_equal(c->results[0].seq, 2);
    assert_int_equal(c->results[1].seq, 2);
    assert_true(c->results[1].duplicate);
    free_job(c);
    assert_int_equal(fg_store_last_seq(fx->store), 2);
}

static void test_transitions_enforced(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, true, 0);
    const char *ok[] = {status("pending", "running", NULL)};
    job_t *j = publish(fx, ok, 1);
    assert_int_equal(j->job.status, FG_OK);
    free_job(j);
    /* the machine forbids it */
    const char *bad[] = {log_line(1), status("running", "pending", NULL)};
    j = publish(fx, bad, 2);
    assert_int_equal(j->job.status, FG_ERR_CONFLICT);
    assert_string_equal(j->job.err.code, "illegal_transition");
    assert_int_equal(j->job.err.index, 1);
    free_job(j);
    /* the run is running, not retrying */
    const char *stale[] = {status("retrying", "running", NULL)};
    j = publish(fx, stale, 1);
    assert_int_equal(j->job.status, FG_ERR_CONFLICT);
    free_job(j);
    /* nothing of the rejected jobs was stored: the next seq follows the first */
    assert_int_equal(fg_store_last_seq(fx->store), 1);
    const char *next[] = {status("running", "completed", NULL),
                          status("completed", "completed", NULL)};
    j = publish(fx, next, 2);
    assert_int_equal(j->job.status, FG_OK);
    assert_int_equal(j->results[0].seq, 2);
    assert_int_equal(j->results[1].seq, 3);
    free_job(j);
    assert_int_equal(atomic_load(&fg_writer_stats(fx->writer)->events), 3);
}

static void test_transitions_warned(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, false, 0);
    const char *texts[] = {status("pending", "running", NULL),
                           status("pending", "completed", NULL)};
    job_t *j = publish(fx, texts, 2);
    assert_int_equal(j->job.status, FG_OK);
    assert_string_equal(j->results[0].warning, "");
    assert_non_null(strstr(j->results[1].warning, "illegal_transition"));
    assert_int_equal(j->results[1].seq, 2);
    free_job(j);
    assert_int_equal(atomic_load(&fg_writer_stats(fx->writer)->illegal_transitions), 1);
}

/* Publishes log lines from..to-1, one job each. */
static void publish_lines(fixture_t *fx, int from, int to)
{
    for (int i = from; i < to; i++) {
        const char *t[] = {log_line(i)};
        free_job(publish(fx, t, 1));
    }
}

/* Waits (bounded) for background retention to reach a floor, then checks it and that the
 * remaining events start right after it; returns how many remain. */
static size_t expect_purged_through(fixture_t *fx, uint64_t floor)
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

static void test_retention_by_count(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, false, 4);
    publish_lines(fx, 0, 10);
    assert_int_equal(expect_purged_through(fx, 6), 4);
    stop_writer(fx);
    /* the floor and the sequence survive a restart even though the rows are gone */
    start_writer(fx, false, 0);
    assert_int_equal(fg_store_purged_through(fx->store), 6);
    assert_int_equal(fg_store_last_seq(fx->store), 10);
}

static void test_retention_by_age(void **state)
{
    fixture_t *fx = *state;
    start_writer_aged(fx, false, 0, 1500);
    publish_lines(fx, 0, 5);
    usleep(1700 * 1000); /* the first five are now older than 1.5 s */
    publish_lines(fx, 5, 8);
    /* the young ones are a second and a half from their limit */
    assert_int_equal(expect_purged_through(fx, 5), 3);
}

/* Counts rows of a table on a separate connection (what a restart would find). */
static int64_t count_rows(fixture_t *fx, const char *sql)
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

static void record(fg_store_t *s, const char *id, int new_status)
{
    fg_wh_attempt_t a = {.delivery_id = id,
                         .sub_id = "wh_x",
                         .attempt = 1,
                         .at_us = 1,
                         .duration_us = 1,
                         .http_status = new_status == FG_DELIVERY_SUCCEEDED ? 204 : 500,
                         .new_status = new_status,
                         .next_at_us = 2};
    assert_int_equal(fg_wh_store_attempt_record(s, &a, 3), FG_OK);
}

static void test_retention_prunes_settled_deliveries_and_finished_runs(void **state)
{
    fixture_t *fx = *state;
    char err[256];
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &fx->store, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(fx->store), FG_OK);
    fg_store_t *s = fx->store;
    const char *texts[8];
    for (int i = 0; i < 8; i++)
        texts[i] = log_line(i);
    job_t *j = make_job(fx, texts, 8);
    assert_int_equal(fg_store_begin(s), FG_OK);
    for (int i = 0; i < 8; i++)
        assert_int_equal(fg_store_append(s, (uint64_t)i + 1, &j->events[i], "log_line", NULL, 1),
                         FG_OK);
    /* one run finished at seq 2, one still going since seq 3 */
    assert_int_equal(fg_store_run_put(s, "a0000000-0000-4000-8000-000000000001", "w", 2, 2), FG_OK);
    assert_int_equal(fg_store_run_put(s, "a0000000-0000-4000-8000-000000000002", "w", 1, 3), FG_OK);
    fg_wh_sub_row_t sub = {.id = "wh_x", .spec = "{}", .secret = "whsec_x", .enabled = true};
    assert_int_equal(fg_wh_store_sub_put(s, &sub, 1), FG_OK);
    /* a delivery per event: 1-4 succeeded, 5 pending, 6 dead, 7 failed, 8 succeeded */
    const int outcome[8] = {FG_DELIVERY_SUCCEEDED, FG_DELIVERY_SUCCEEDED, FG_DELIVERY_SUCCEEDED,
                            FG_DELIVERY_SUCCEEDED, FG_DELIVERY_PENDING,   FG_DELIVERY_DEAD,
                            FG_DELIVERY_FAILED,    FG_DELIVERY_SUCCEEDED};
    for (int i = 0; i < 8; i++) {
        char id[16];
        snprintf(id, sizeof(id), "msg_%d", i + 1);
        assert_int_equal(fg_wh_store_delivery_add(s, id, "wh_x", (uint64_t)i + 1, NULL, 1), FG_OK);
        if (outcome[i] != FG_DELIVERY_PENDING)
            record(s, id, outcome[i]);
    }
    assert_int_equal(fg_store_commit(s, 8), FG_OK);
    free_job(j);

    /* keep the newest 2 events: 1-6 go, and with them the settled deliveries 1-4 and 6 (and
     * their attempts) and the finished run; the pending delivery 5 and the running run stay */
    fg_store_retained_t out;
    uint64_t deliveries;
    assert_int_equal(fg_store_retain(s, 0, 2, 100, &out), FG_OK);
    assert_int_equal(fg_wh_store_retain(s, fg_store_purged_through(s), 400, &deliveries), FG_OK);
    assert_int_equal(out.events, 6);
    assert_int_equal(deliveries, 5);
    assert_int_equal(out.runs, 1);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM events"), 2);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM deliveries WHERE seq IN (5, 7, 8)"), 3);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM deliveries"), 3);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM attempts"), 2); /* of 7 and 8 */
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(count_rows(fx, "SELECT status FROM runs"), 1);

    /* once the dispatcher settles delivery 5 (its event is gone: dead), the next pass takes it,
     * even with no event left to delete */
    assert_int_equal(fg_store_begin(s), FG_OK);
    record(s, "msg_5", FG_DELIVERY_DEAD);
    assert_int_equal(fg_store_commit(s, 8), FG_OK);
    assert_int_equal(fg_store_retain(s, 0, 2, 100, &out), FG_OK);
    assert_int_equal(fg_wh_store_retain(s, fg_store_purged_through(s), 400, &deliveries), FG_OK);
    assert_int_equal(out.events, 0);
    assert_int_equal(deliveries, 1);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM deliveries"), 2);
    fg_store_close(fx->store);
    fx->store = NULL;
}

/* Collects failing_since_us of the one subscription. */
static void failing_cb(void *ctx, const fg_wh_sub_row_t *sub)
{
    *(int64_t *)ctx = sub->failing_since_us;
}

static void test_failing_since_is_kept_until_enabled_again(void **state)
{
    fixture_t *fx = *state;
    char err[256];
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &fx->store, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(fx->store), FG_OK);
    fg_store_t *s = fx->store;
    fg_wh_sub_row_t sub = {.id = "wh_x", .spec = "{}", .secret = "whsec_x", .enabled = true};
    int64_t since = -1;
    assert_int_equal(fg_wh_store_sub_put(s, &sub, 1), FG_OK);
    assert_int_equal(fg_wh_store_sub_set_failing(s, "wh_x", 12345), FG_OK);
    /* other changes (and disabling) keep it */
    sub.spec = "{\"description\":\"d\"}";
    assert_int_equal(fg_wh_store_sub_put(s, &sub, 2), FG_OK);
    assert_int_equal(fg_wh_store_sub_set_enabled(s, "wh_x", false, 3), FG_OK);
    assert_int_equal(fg_wh_store_sub_each(s, failing_cb, &since), FG_OK);
    assert_int_equal(since, 12345);
    /* enabling a disabled subscription starts the failing period over */
    assert_int_equal(fg_wh_store_sub_put(s, &sub, 4), FG_OK);
    assert_int_equal(fg_wh_store_sub_each(s, failing_cb, &since), FG_OK);
    assert_int_equal(since, 0);
    fg_store_close(fx->store);
    fx->store = NULL;
}

typedef struct {
    fixture_t *fx;
    int jobs;
    int failures; /* checked on the main thread: cmocka asserts only work there */
    uint64_t seqs[200];
} producer_t;

/* A producer thread: its own text buffer, no cmocka assertion (they longjmp on failure, which
 * is only safe on the main thread). */
static void *producer(void *arg)
{
    producer_t *p = arg;
    for (int i = 0; i < p->jobs; i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"type\":\"log_line\",\"run_id\":\"" RUN "\",\"step_id\":\"" STEP "\","
                 "\"step_name\":\"build\",\"stream\":\"stdout\",\"line\":\"line %d\"}",
                 i);
        job_t *j = calloc(1, sizeof(*j));
        j->fx = p->fx;
        json_t *obj = json_loads(text, 0, NULL);
        fg_verr_t err;
        if (obj == NULL || fg_pub_event_prepare(p->fx->cat, obj, NULL, 65536, 1000, &j->events[0],
                                                &err) != FG_OK) {
            json_decref(obj);
            free(j);
            p->failures++;
            continue;
        }
        json_decref(obj);
        j->job.events = j->events;
        j->job.results = j->results;
        j->job.n = 1;
        j->job.done = on_done;
        j->job.udata = j;
        if (fg_writer_submit(p->fx->writer, &j->job) != FG_OK) {
            free_job(j);
            p->failures++;
            continue;
        }
        wait_job(j);
        p->seqs[i] = j->job.status == FG_OK ? j->results[0].seq : 0;
        free_job(j);
    }
    return NULL;
}

static void test_concurrent_producers_get_contiguous_sequences(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, false, 0);
    enum { P = 8, J = 200 };
    producer_t prods[P];
    pthread_t th[P];
    for (int i = 0; i < P; i++) {
        prods[i].fx = fx;
        prods[i].jobs = J;
        prods[i].failures = 0;
        pthread_create(&th[i], NULL, producer, &prods[i]);
    }
    for (int i = 0; i < P; i++)
        pthread_join(th[i], NULL);
    static bool seen[P * J + 1];
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < P; i++) {
        assert_int_equal(prods[i].failures, 0);
        for (int k = 0; k < J; k++) {
            uint64_t s = prods[i].seqs[k];
            assert_true(s >= 1 && s <= P * J);
            assert_false(seen[s]);
            seen[s] = true;
            if (k > 0)
                assert_true(s > prods[i].seqs[k - 1]); /* one producer's order is kept */
        }
    }
    assert_int_equal(fg_store_last_seq(fx->store), P * J);
    /* announcements came in sequence order without gaps */
    for (size_t i = 0; i < fx->nannounced; i++)
        assert_int_equal(fx->announced[i], i + 1);
}

static void test_open_rejects_a_corrupt_file(void **state)
{
    fixture_t *fx = *state;
    FILE *f = fopen(fx->path, "wb");
    for (int i = 0; i < 64; i++)
        fputs("this is not a database file at all ", f);
    fclose(f);
    fg_store_t *s = NULL;
    char err[256];
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_FULL, &s, err, sizeof(err)), FG_ERR_CORRUPT);
    assert_null(s);
    assert_non_null(strstr(err, "corrupt"));
}

/* --- run views ---------------------------------------------------------------------------- */

#define RUN2 "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
#define STEP2 "0b7d2e51-2222-4c1e-9f2a-1b2c3d4e5f62"
#define STEP3 "0b7d2e51-3333-4c1e-9f2a-1b2c3d4e5f63"
#define AT(s) "\"at\":\"2026-11-22T10:00:" s "Z\""

/* A recorded sequence of two runs: RUN goes pending -> running -> awaiting_approval -> running
 * -> completed with a build step, an approval granted and a deploy step; RUN2 fails after a
 * rejected approval, with its second approval withdrawn by the failure. */
static const char *recorded[] = {
    "{\"type\":\"run_created\",\"run_id\":\"" RUN "\",\"workflow_name\":\"deploy\"," AT("00") "}",
    "{\"type\":\"run_status_changed\",\"run_id\":\"" RUN "\",\"workflow_name\":\"deploy\","
    "\"from\":\"pending\",\"to\":\"running\",\"cost_usd\":\"0\",\"duration_ms\":0," AT("01") "}",
    "{\"type\":\"log_line\",\"run_id\":\"" RUN "\",\"step_id\":\"" STEP "\",\"step_name\":"
    "\"build\",\"stream\":\"stdout\",\"line\":\"compiling\"," AT("02") "}",
    "{\"type\":\"log_line\",\"run_id\":\"" RUN "\",\"step_id\":\"" STEP "\",\"step_name\":"
    "\"build\",\"stream\":\"stderr\",\"line\":\"warning: x\\ny\"," AT("03") "}",
    "{\"type\":\"step_completed\",\"run_id\":\"" RUN "\",\"step_id\":\"" STEP "\",\"step_name\":"
    "\"build\",\"kind\":\"shell\",\"duration_ms\":2000,\"cost_usd\":\"0.125\"," AT("04") "}",
    "{\"type\":\"run_created\",\"run_id\":\"" RUN2 "\",\"workflow_name\":\"etl\"," AT("05") "}",
    "{\"type\":\"approval_requested\",\"run_id\":\"" RUN "\",\"step_id\":\"" STEP2 "\","
    "\"message\":\"ship it?\"," AT("06") "}",
    "{\"type\":\"run_status_changed\",\"run_id\":\"" RUN "\",\"workflow_name\":\"deploy\","
    "\"from\":\"running\",\"to\":\"awaiting_approval\",\"cost_usd\":\"0.125\",\"duration_ms\":"
    "2100," AT("07") "}",
    "{\"type\":\"run_status_changed\",\"run_id\":\"" RUN2 "\",\"workflow_name\":\"etl\","
    "\"from\":\"pending\",\"to\":\"running\",\"cost_usd\":0,\"duration_ms\":0," AT("08") "}",
    "{\"type\":\"approval_requested\",\"run_id\":\"" RUN2 "\",\"step_id\":\"" STEP "\","
    "\"message\":\"load?\"," AT("09") "}",
    "{\"type\":\"approval_granted\",\"run_id\":\"" RUN "\",\"approved_by\":\"ana\",\"step_id\":"
    "\"" STEP2 "\"," AT("10") "}",
    "{\"type\":\"run_status_changed\",\"run_id\":\"" RUN "\",\"workflow_name\":\"deploy\","
    "\"from\":\"awaiting_approval\",\"to\":\"running\",\"cost_usd\":\"0.125\",\"duration_ms\":"
    "3000," AT("11") "}",
    "{\"type\":\"approval_rejected\",\"run_id\":\"" RUN2 "\",\"rejected_by\":\"bo\"," AT("12") "}",
    "{\"type\":\"approval_requested\",\"run_id\":\"" RUN2 "\",\"step_id\":\"" STEP3 "\","
    "\"message\":\"retry?\"," AT("13") "}",
    "{\"type\":\"log_line\",\"run_id\":\"" RUN "\",\"step_id\":\"" STEP3 "\",\"step_name\":"
    "\"deploy\",\"stream\":\"system\",\"line\":\"rolling out\"," AT("14") "}",
    "{\"type\":\"step_failed\",\"run_id\":\"" RUN2 "\",\"step_id\":\"" STEP2 "\",\"step_name\":"
    "\"load\",\"kind\":\"http\",\"error\":\"timeout\"," AT("15") "}",
    "{\"type\":\"run_status_changed\",\"run_id\":\"" RUN2 "\",\"workflow_name\":\"etl\","
    "\"from\":\"running\",\"to\":\"failed\",\"error\":\"load failed\",\"cost_usd\":\"1.5\","
    "\"duration_ms\":9000," AT("16") "}",
    "{\"type\":\"run_failed\",\"run_id\":\"" RUN2 "\",\"workflow_name\":\"etl\",\"error\":"
    "\"load failed\",\"cost_usd\":\"1.5\",\"duration_ms\":9000," AT("17") "}",
    "{\"type\":\"step_completed\",\"run_id\":\"" RUN "\",\"step_id\":\"" STEP3 "\",\"step_name\":"
    "\"deploy\",\"kind\":\"shell\",\"duration_ms\":500,\"cost_usd\":0.25," AT("18") "}",
    "{\"type\":\"run_status_changed\",\"run_id\":\"" RUN "\",\"workflow_name\":\"deploy\","
    "\"from\":\"running\",\"to\":\"completed\",\"cost_usd\":\"0.375\",\"duration_ms\":4000,"
    "\"labels\":{\"env\":\"prod\"}," AT("19") "}",
    "{\"type\":\"user_signed_in\",\"user_id\":\"" STEP "\",\"username\":\"ana\"," AT("20") "}",
};
#define NRECORDED (sizeof(recorded) / sizeof(recorded[0]))
#define FIXED_NOW 1795000000000000 /* age_ms is computed against this */

/* Publishes texts in jobs of up to 8 events. */
static void publish_all(fixture_t *fx, const char **texts, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        job_t *j = publish(fx, texts + i, n - i < 8 ? n - i : 8);
        assert_int_equal(j->job.status, FG_OK);
        free_job(j);
    }
}

/* Every view as one text: the runs list, each run, the approvals of every state. */
static char *views_text(fixture_t *fx)
{
    fg_store_reader_t *r = open_reader(fx);
    fg_buf_t b;
    fg_buf_init(&b, 0);
    fg_runs_query_t rq = {.limit = 100};
    assert_int_equal(fg_runview_list(r, &rq, &b), FG_OK);
    assert_int_equal(fg_runview_get(r, RUN, FIXED_NOW, &b), FG_OK);
    assert_int_equal(fg_runview_get(r, RUN2, FIXED_NOW, &b), FG_OK);
    fg_approvals_query_t aq = {.states = 15, .limit = 100};
    assert_int_equal(fg_runview_approvals(r, &aq, FIXED_NOW, &b), FG_OK);
    fg_store_reader_close(r);
    return fg_buf_steal(&b, NULL);
}

static json_t *run_json(fixture_t *fx, const char *run_id)
{
    fg_store_reader_t *r = open_reader(fx);
    fg_buf_t b;
    fg_buf_init(&b, 0);
    int rc = fg_runview_get(r, run_id, FIXED_NOW, &b);
    fg_store_reader_close(r);
    json_t *j = rc == FG_OK ? json_loadb(b.data, b.len, 0, NULL) : NULL;
    fg_buf_dispose(&b);
    return j;
}

static const char *jstr(const json_t *o, const char *path)
{
    /* "a.b.0.c": members and array indexes */
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    const json_t *v = o;
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, "."))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(tok)) : json_object_get(v, tok);
    return json_is_string(v) ? json_string_value(v) : json_is_null(v) ? "null" : "?";
}

static void test_run_views_follow_a_recorded_sequence(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, true, 0);
    publish_all(fx, recorded, NRECORDED);

    json_t *run = run_json(fx, RUN);
    assert_non_null(run);
    assert_string_equal(jstr(run, "status"), "completed");
    assert_string_equal(jstr(run, "workflow_name"), "deploy");
    assert_string_equal(jstr(run, "cost_usd"), "0.375");
    assert_string_equal(jstr(run, "created_at"), "2026-11-22T10:00:00Z");
    assert_string_equal(jstr(run, "labels.env"), "prod");
    assert_int_equal(json_integer_value(json_object_get(run, "duration_ms")), 4000);
    json_t *hist = json_object_get(run, "status_history");
    assert_int_equal(json_array_size(hist), 4);
    const char *tos[] = {"running", "awaiting_approval", "running", "completed"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(jstr(hist, (char[8]){(char)('0' + i), '.', 't', 'o', 0}), tos[i]);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(hist, 0), "seq")), 2);
    json_t *steps = json_object_get(run, "steps");
    assert_int_equal(json_array_size(steps), 3); /* build, the approval step, deploy */
    assert_string_equal(jstr(steps, "0.status"), "completed");
    assert_string_equal(jstr(steps, "0.kind"), "shell");
    assert_string_equal(jstr(steps, "0.cost_usd"), "0.125");
    assert_string_equal(jstr(steps, "1.step_id"), STEP2);
    assert_string_equal(jstr(steps, "1.status"), "running"); /* granted, never completed */
    assert_string_equal(jstr(steps, "2.name"), "deploy");
    assert_string_equal(jstr(steps, "2.cost_usd"), "0.25");
    assert_int_equal(json_array_size(json_object_get(run, "pending_approvals")), 0);
    /* last_seq: the run's newest event (20 of 21; the 21st has no run) */
    assert_int_equal(json_integer_value(json_object_get(run, "last_seq")), 20);
    json_decref(run);

    run = run_json(fx, RUN2);
    assert_string_equal(jstr(run, "status"), "failed");
    assert_string_equal(jstr(run, "error"), "load failed");
    assert_string_equal(jstr(run, "cost_usd"), "1.50");
    steps = json_object_get(run, "steps");
    assert_int_equal(json_array_size(steps), 3);
    assert_string_equal(jstr(steps, "0.status"), "rejected");
    assert_string_equal(jstr(steps, "1.status"), "awaiting_approval"); /* withdrawn */
    assert_string_equal(jstr(steps, "2.status"), "failed");
    assert_string_equal(jstr(steps, "2.error"), "timeout");
    json_decref(run);
    assert_null(run_json(fx, STEP)); /* not a run */

    /* approvals: one granted, one rejected, one withdrawn; nothing pending */
    fg_store_reader_t *r = open_reader(fx);
    fg_buf_t b;
    fg_buf_init(&b, 0);
    fg_approvals_query_t aq = {.limit = 10};
    assert_int_equal(fg_runview_approvals(r, &aq, FIXED_NOW, &b), FG_OK);
    assert_non_null(strstr(b.data, "{\"approvals\":[],"));
    b.len = 0;
    aq.states = 15;
    assert_int_equal(fg_runview_approvals(r, &aq, FIXED_NOW, &b), FG_OK);
    json_t *ap = json_loadb(b.data, b.len, 0, NULL);
    assert_string_equal(jstr(ap, "approvals.0.status"), "granted");
    assert_string_equal(jstr(ap, "approvals.0.decided_by"), "ana");
    assert_string_equal(jstr(ap, "approvals.0.step_name"), "null");
    assert_string_equal(jstr(ap, "approvals.1.status"), "rejected");
    assert_string_equal(jstr(ap, "approvals.1.decided_by"), "bo");
    assert_string_equal(jstr(ap, "approvals.2.status"), "withdrawn");
    assert_int_equal(json_integer_value(json_object_get(ap, "last_seq")), 21);
    json_decref(ap);

    /* the runs list: newest first, filters, pages */
    b.len = 0;
    fg_runs_query_t rq = {.limit = 1};
    assert_int_equal(fg_runview_list(r, &rq, &b), FG_OK);
    json_t *list = json_loadb(b.data, b.len, 0, NULL);
    assert_string_equal(jstr(list, "runs.0.run_id"), RUN2);
    json_int_t next = json_integer_value(json_object_get(list, "next_after"));
    assert_true(next > 0);
    json_decref(list);
    b.len = 0;
    rq.before = (uint64_t)next;
    assert_int_equal(fg_runview_list(r, &rq, &b), FG_OK);
    list = json_loadb(b.data, b.len, 0, NULL);
    assert_string_equal(jstr(list, "runs.0.run_id"), RUN);
    assert_true(json_is_null(json_object_get(list, "next_after")));
    json_decref(list);
    b.len = 0;
    fg_runs_query_t by_status = {.limit = 10, .statuses = 1u << FG_RUN_FAILED};
    assert_int_equal(fg_runview_list(r, &by_status, &b), FG_OK);
    assert_non_null(strstr(b.data, RUN2));
    assert_null(strstr(b.data, RUN "\""));
    b.len = 0;
    const char *flows[] = {"deploy"};
    fg_runs_query_t by_flow = {.limit = 10, .flows = flows, .nflows = 1};
    assert_int_equal(fg_runview_list(r, &by_flow, &b), FG_OK);
    assert_non_null(strstr(b.data, RUN));
    assert_null(strstr(b.data, RUN2));
    fg_buf_dispose(&b);
    fg_store_reader_close(r);
}

/* Sets meta values and runs SQL on the closed store. */
static void tamper(fixture_t *fx, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_run_views_are_rebuilt_when_missing_stale_or_foreign(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, true, 0);
    publish_all(fx, recorded, NRECORDED);
    char *want = views_text(fx);
    stop_writer(fx);

    const char *cases[] = {
        /* made by another version: rebuilt */
        "UPDATE meta SET value = 99 WHERE key = 'runview_version'",
        /* behind the log (as after an older flowgate wrote events): caught up */
        "DELETE FROM rv_runs; DELETE FROM rv_history; DELETE FROM rv_steps;"
        " DELETE FROM rv_approvals; UPDATE meta SET value = 0 WHERE key = 'runview_seq'",
        /* missing altogether */
        "DROP TABLE rv_runs; DROP TABLE rv_history; DROP TABLE rv_steps; DROP TABLE rv_approvals;"
        " DELETE FROM meta WHERE key LIKE 'runview_%'",
        /* ahead of the log (a restored older database): rebuilt */
        "UPDATE meta SET value = 1000 WHERE key = 'runview_seq'; DELETE FROM rv_steps",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tamper(fx, cases[i]);
        start_writer(fx, true, 0);
        char *got = views_text(fx);
        assert_string_equal(got, want);
        free(got);
        stop_writer(fx);
    }
    /* asked for (store.rebuild_views), over views that look current but are not */
    tamper(fx, "UPDATE rv_runs SET status = 0; DELETE FROM rv_history");
    fx->rebuild_views = true;
    start_writer(fx, true, 0);
    char *got = views_text(fx);
    assert_string_equal(got, want);
    free(got);
    free(want);
}

static void test_run_views_catch_up_from_the_middle(void **state)
{
    fixture_t *fx = *state;
    /* The first half with views, the second half stored as an older flowgate would have: the
     * events only. The views must come out as if everything had been folded in live. */
    start_writer(fx, true, 0);
    publish_all(fx, recorded, 10);
    stop_writer(fx);
    tamper(fx, "CREATE TABLE keep AS SELECT * FROM meta WHERE key LIKE 'runview_%';"
               " CREATE TABLE keep_runs AS SELECT * FROM rv_runs;"
               " CREATE TABLE keep_hist AS SELECT * FROM rv_history;"
               " CREATE TABLE keep_steps AS SELECT * FROM rv_steps;"
               " CREATE TABLE keep_appr AS SELECT * FROM rv_approvals;");
    start_writer(fx, true, 0);
    publish_all(fx, recorded + 10, NRECORDED - 10);
    char *want = views_text(fx);
    stop_writer(fx);
    tamper(fx, "DELETE FROM rv_runs; INSERT INTO rv_runs SELECT * FROM keep_runs;"
               " DELETE FROM rv_history; INSERT INTO rv_history SELECT * FROM keep_hist;"
               " DELETE FROM rv_steps; INSERT INTO rv_steps SELECT * FROM keep_steps;"
               " DELETE FROM rv_approvals; INSERT INTO rv_approvals SELECT * FROM keep_appr;"
               " INSERT OR REPLACE INTO meta SELECT * FROM keep;");
    assert_int_equal(count_rows(fx, "SELECT value FROM meta WHERE key = 'runview_seq'"), 10);
    start_writer(fx, true, 0);
    char *got = views_text(fx);
    assert_string_equal(got, want);
    free(got);
    free(want);
}

static void test_run_views_forget_a_rolled_back_job(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, true, 0);
    const char *first[] = {recorded[0], recorded[1]};
    publish_all(fx, first, 2);
    /* A new step's line, then an illegal transition: the job is refused as a whole. */
    const char *bad[] = {recorded[2], status("pending", "completed", NULL)};
    job_t *j = publish(fx, bad, 2);
    assert_int_equal(j->job.status, FG_ERR_CONFLICT);
    free_job(j);
    json_t *run = run_json(fx, RUN);
    assert_int_equal(json_array_size(json_object_get(run, "steps")), 0);
    json_decref(run);
    /* The same step's next line must create it: nothing of the refused job is remembered. */
    const char *again[] = {recorded[3]};
    publish_all(fx, again, 1);
    run = run_json(fx, RUN);
    assert_int_equal(json_array_size(json_object_get(run, "steps")), 1);
    assert_string_equal(jstr(run, "steps.0.status"), "running");
    json_decref(run);
}

static void test_run_log_pages(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, true, 0);
    publish_all(fx, recorded, NRECORDED);
    fg_store_reader_t *r = open_reader(fx);
    fg_buf_t b;
    fg_buf_init(&b, 0);
    uint64_t next;
    fg_logs_query_t q = {.run_id = RUN, .limit = 2};
    assert_int_equal(fg_runview_logs(r, &q, &b, &next), FG_OK);
    json_t *page = json_loadb(b.data, b.len, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(page, "lines")), 2);
    assert_string_equal(jstr(page, "lines.1.line"), "warning: x\ny");
    assert_int_equal(next, 4); /* a full page goes on after its last line */
    json_decref(page);
    b.len = 0;
    q.after = next;
    assert_int_equal(fg_runview_logs(r, &q, &b, &next), FG_OK);
    page = json_loadb(b.data, b.len, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(page, "lines")), 1);
    assert_string_equal(jstr(page, "lines.0.stream"), "system");
    assert_int_equal(next, 21); /* short page: the log examined to its end */
    json_decref(page);
    /* filters and text */
    b.len = 0;
    fg_logs_query_t t = {.run_id = RUN, .limit = 100, .text = true, .streams = 2 | 4};
    assert_int_equal(fg_runview_logs(r, &t, &b, &next), FG_OK);
    assert_string_equal(b.data, "[build] [stderr] warning: x\n[build] [stderr] y\n"
                                "[deploy] [system] rolling out\n");
    b.len = 0;
    t.streams = 0;
    t.step_id = STEP3;
    assert_int_equal(fg_runview_logs(r, &t, &b, &next), FG_OK);
    assert_string_equal(b.data, "[deploy] [system] rolling out\n");
    fg_logs_query_t none = {.run_id = "0b7d2e51-9999-4c1e-9f2a-1b2c3d4e5f69", .limit = 1};
    assert_int_equal(fg_runview_logs(r, &none, &b, &next), FG_ERR_NOT_FOUND);
    fg_buf_dispose(&b);
    fg_store_reader_close(r);
}

static void test_run_log_pages_stop_at_their_byte_cap(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, true, 0);
    /* 80 lines of 60 KB: 4.7 MB, more than one page may hold */
    static char texts[8][61440 + 256];
    const char *batch[8];
    char *big = malloc(61441);
    memset(big, 'x', 61440);
    big[61440] = '\0';
    for (int j = 0; j < 10; j++) {
        for (int i = 0; i < 8; i++) {
            snprintf(texts[i], sizeof(texts[i]),
                     "{\"type\":\"log_line\",\"run_id\":\"" RUN "\",\"step_id\":\"" STEP "\","
                     "\"step_name\":\"build\",\"stream\":\"stdout\",\"line\":\"%d %s\"}",
                     j * 8 + i, big);
            batch[i] = texts[i];
        }
        publish_all(fx, batch, 8);
    }
    free(big);
    fg_store_reader_t *r = open_reader(fx);
    fg_buf_t b;
    fg_buf_init(&b, 0);
    uint64_t next, after = 0;
    size_t total = 0, pages = 0;
    for (;;) {
        b.len = 0;
        fg_logs_query_t q = {.run_id = RUN, .limit = 1000, .after = after};
        assert_int_equal(fg_runview_logs(r, &q, &b, &next), FG_OK);
        assert_true(b.len < FG_RUNVIEW_PAGE_BYTES + 70000);
        json_t *page = json_loadb(b.data, b.len, 0, NULL);
        size_t n = json_array_size(json_object_get(page, "lines"));
        if (n > 0) /* every line once, in order */
            assert_int_equal(json_integer_value(json_object_get(
                                 json_array_get(json_object_get(page, "lines"), 0), "seq")),
                             total + 1);
        json_decref(page);
        total += n;
        pages++;
        if (next == after || n == 0)
            break;
        after = next;
    }
    assert_int_equal(total, 80);
    assert_true(pages >= 2);
    fg_buf_dispose(&b);
    fg_store_reader_close(r);
}

static void test_retention_drops_views_of_finished_runs(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, true, 0);
    publish_all(fx, recorded, NRECORDED);
    stop_writer(fx);
    /* keep 1 event: RUN and RUN2 both finished and every change of their views is gone */
    start_writer(fx, true, 1);
    const char *live[] = {"{\"type\":\"run_created\",\"run_id\":\"" STEP2 "\","
                          "\"workflow_name\":\"nightly\"}"};
    publish_all(fx, live, 1);
    for (int i = 0; i < 200 && count_rows(fx, "SELECT count(*) FROM rv_runs") != 1; i++)
        usleep(20000);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM rv_runs"), 1);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM rv_steps"), 0);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM rv_approvals"), 0);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM rv_history"), 0);
    json_t *run = run_json(fx, STEP2);
    assert_string_equal(jstr(run, "status"), "pending");
    json_decref(run);
}

int run_store_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sequences_and_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transitions_enforced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transitions_warned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_by_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_by_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_prunes_settled_deliveries_and_finished_runs,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_since_is_kept_until_enabled_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_producers_get_contiguous_sequences, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_rejects_a_corrupt_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_views_follow_a_recorded_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_views_are_rebuilt_when_missing_stale_or_foreign,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_views_catch_up_from_the_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_views_forget_a_rolled_back_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_log_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_log_pages_stop_at_their_byte_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_drops_views_of_finished_runs, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
