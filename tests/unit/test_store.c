/*
 * test_store.c - the SQLite store and the writer thread together: sequence numbers, group
 * commit from concurrent submitters, idempotency, the transition check in both modes, the
 * workflow of step events, retention and its floor, reopening (the run views: test_runview.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/store_fixture.h"
#include "events/store_checkpoint.h"
#include "events/timefmt.h"
#include "events/transitions.h"
#include "webhooks/outbox_store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where a stream's history starts: last=N on its filter, since=T by the receive times. */
static void test_history_starts(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, false, 0);
    publish_lines(fx, 0, 10); /* seqs 1..10 */
    usleep(3000);
    int64_t mark = fg_time_now_us();
    usleep(3000);
    publish_lines(fx, 10, 20); /* seqs 11..20 */
    fg_store_reader_t *r = open_reader(fx);
    fg_filter_t logs, runs;
    fg_filter_init(&logs);
    fg_filter_init(&runs);
    fg_verr_t err;
    assert_int_equal(fg_filter_add_types(&logs, fx->cat, "log_line", 8, &err), FG_OK);
    assert_int_equal(fg_filter_add_types(&runs, fx->cat, "run_created", 11, &err), FG_OK);
    uint64_t after = 99;
    assert_int_equal(fg_store_start_of_last(r, fx->cat, &logs, 20, 5, &after), FG_OK);
    assert_int_equal(after, 15); /* replays 16..20 */
    assert_int_equal(fg_store_start_of_last(r, fx->cat, &logs, 12, 5, &after), FG_OK);
    assert_int_equal(after, 7); /* of those up to 12 */
    assert_int_equal(fg_store_start_of_last(r, fx->cat, &logs, 20, 100, &after), FG_OK);
    assert_int_equal(after, 0); /* fewer than asked: all */
    assert_int_equal(fg_store_start_of_last(r, fx->cat, &runs, 20, 1, &after), FG_OK);
    assert_int_equal(after, 0);
    assert_int_equal(fg_store_start_of_last(r, fx->cat, &logs, 20, 0, &after), FG_OK);
    assert_int_equal(after, 20);
    assert_int_equal(fg_store_start_of_since(r, mark, 20, &after), FG_OK);
    assert_int_equal(after, 10);
    assert_int_equal(fg_store_start_of_since(r, mark, 15, &after), FG_OK);
    assert_int_equal(after, 10);
    assert_int_equal(fg_store_start_of_since(r, mark, 8, &after), FG_OK);
    assert_int_equal(after, 8); /* nothing since then up to 8: live from there */
    assert_int_equal(fg_store_start_of_since(r, 0, 20, &after), FG_OK);
    assert_int_equal(after, 0);
    assert_int_equal(fg_store_start_of_since(r, mark + 3600000000LL, 20, &after), FG_OK);
    assert_int_equal(after, 20);
    fg_filter_dispose(&logs);
    fg_filter_dispose(&runs);
    fg_store_reader_close(r);
}

int run_store_tests(void);

/* The checkpointer copies committed pages into the database file while the writer runs (the
 * writer's commits no longer do): without it the file stays at its first page. */
static void test_checkpoints_off_the_commit_path(void **state)
{
    fixture_t *fx = *state;
    fx->checkpoints = true;
    start_writer(fx, false, 0);
    struct stat before, after;
    assert_int_equal(stat(fx->path, &before), 0);
    publish_lines(fx, 0, 300);
    bool grew = false;
    for (int i = 0; i < 200 && !grew; i++) {
        usleep(10000);
        grew = stat(fx->path, &after) == 0 && after.st_size > before.st_size;
    }
    assert_true(grew);
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

/* --- redo-safe commits: a VFS that counts the fsyncs SQLite asks for ------------------------ */

static sqlite3_vfs counting_vfs, *real_vfs;
static _Atomic int syncs;
static struct {
    const sqlite3_io_methods *orig;
    sqlite3_io_methods copy;
} io_tables[4]; /* the real VFS's method tables seen so far, each with xSync counted */
static size_t nio_tables;

static int counting_sync(sqlite3_file *f, int flags)
{
    for (size_t i = 0; i < nio_tables; i++)
        if (f->pMethods == &io_tables[i].copy) {
            atomic_fetch_add(&syncs, 1);
            return io_tables[i].orig->xSync(f, flags);
        }
    return SQLITE_IOERR;
}

/* Opens the real file in place, then points it at a copy of its methods whose xSync counts. */
static int counting_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
                         int *out_flags)
{
    int rc = real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
    if (rc != SQLITE_OK || f->pMethods == NULL)
        return rc;
    size_t i = 0;
    while (i < nio_tables && io_tables[i].orig != f->pMethods)
        i++;
    if (i == nio_tables) {
        if (nio_tables == 4)
            return rc; /* not counted: the test fails on its counts */
        io_tables[i].orig = f->pMethods;
        io_tables[i].copy = *f->pMethods;
        io_tables[i].copy.xSync = counting_sync;
        nio_tables++;
    }
    f->pMethods = &io_tables[i].copy;
    return rc;
}

static int redo_apply(fg_writer_job_t *job, fg_store_t *s)
{
    return fg_store_meta_put(s, "redo_test", 1);
}

/* A redo-safe op (a webhook outcome's kind): it writes a meta value. */
static job_t *redo_job(fixture_t *fx)
{
    job_t *j = calloc(1, sizeof(*j));
    j->fx = fx;
    j->job.apply = redo_apply;
    j->job.redo_safe = true;
    j->job.done = on_done;
    j->job.udata = j;
    return j;
}

/* Redo-safe ops commit without an fsync of their own under FG_SYNC_FULL, and their writes are
 * committed; a publish, alone or grouped with such ops, is synced before it is answered. */
static void test_redo_safe_ops_skip_their_fsync(void **state)
{
    fixture_t *fx = *state;
    real_vfs = sqlite3_vfs_find(NULL);
    counting_vfs = *real_vfs;
    counting_vfs.zName = "fg-counting";
    counting_vfs.xOpen = counting_open;
    assert_int_equal(sqlite3_vfs_register(&counting_vfs, 1), SQLITE_OK);
    fx->full_sync = true;
    start_writer(fx, true, 0);

    const char *line[] = {log_line(1)};
    int before = atomic_load(&syncs);
    free_job(publish(fx, line, 1));
    assert_true(atomic_load(&syncs) > before);

    for (int round = 0; round < 2; round++) { /* the mode switches back and forth */
        before = atomic_load(&syncs);
        job_t *op = redo_job(fx);
        assert_int_equal(fg_writer_submit(fx->writer, &op->job), FG_OK);
        wait_job(op);
        assert_int_equal(op->job.status, FG_OK);
        free(op);
        assert_int_equal(atomic_load(&syncs), before);
        assert_int_equal(count_rows(fx, "SELECT count(*) FROM meta WHERE key='redo_test'"), 1);

        before = atomic_load(&syncs);
        job_t *pub = make_job(fx, line, 1), *op2 = redo_job(fx);
        fg_writer_job_t *group[] = {&op2->job, &pub->job};
        assert_int_equal(fg_writer_submit_all(fx->writer, group, 2), FG_OK);
        wait_job(op2);
        wait_job(pub);
        assert_int_equal(op2->job.status, FG_OK);
        assert_true(atomic_load(&syncs) > before);
        free(op2);
        free_job(pub);
    }
    stop_writer(fx);
    sqlite3_vfs_unregister(&counting_vfs);
}

/* A reader that reads the newest event again and again until told to stop. */
typedef struct {
    fixture_t *fx;
    _Atomic bool stop;
    _Atomic long reads;
} busy_reader_t;

static void *busy_read(void *arg)
{
    busy_reader_t *b = arg;
    fg_store_reader_t *r = open_reader(b->fx);
    while (!atomic_load(&b->stop)) {
        uint64_t last = 0, purged = 0;
        char *json = NULL;
        size_t len;
        char tp[FG_TRACEPARENT_LEN + 1];
        if (fg_store_reader_bounds(r, &last, &purged) == FG_OK && last > 0 &&
            fg_store_reader_event_json(r, last, &json, &len, tp) == FG_OK)
            atomic_fetch_add(&b->reads, 1);
        free(json);
    }
    fg_store_reader_close(r);
    return NULL;
}

/* Under steady commits, with a reader always reading, the WAL is copied back whole now and then
 * and starts over: its file stays within some times the restart threshold (256 pages here)
 * while many times that is written. */
static void test_wal_stays_bounded_under_steady_commits(void **state)
{
    fixture_t *fx = *state;
    fx->checkpoints = true;
    start_writer(fx, false, 0);
    busy_reader_t b = {.fx = fx};
    pthread_t reader;
    assert_int_equal(pthread_create(&reader, NULL, busy_read, &b), 0);
    static char texts[8][8192];
    const char *batch[8];
    char wal[128];
    snprintf(wal, sizeof(wal), "%s-wal", fx->path);
    off_t largest = 0;
    for (int i = 0; i < 600; i++) { /* 600 x 8 events of 6 KB: ~29 MB of events */
        for (int k = 0; k < 8; k++) {
            snprintf(texts[k], sizeof(texts[k]),
                     "{\"type\":\"log_line\",\"run_id\":\"" RUN "\",\"step_id\":\"" STEP "\","
                     "\"step_name\":\"build\",\"stream\":\"stdout\",\"line\":\"%d %06000d\"}",
                     i, k);
            batch[k] = texts[k];
        }
        free_job(publish(fx, batch, 8));
        struct stat st;
        if (stat(wal, &st) == 0 && st.st_size > largest)
            largest = st.st_size;
    }
    atomic_store(&b.stop, true);
    pthread_join(reader, NULL);
    assert_true(atomic_load(&b.reads) > 0);
    assert_true(largest > 0);
    assert_true(largest < 16 << 20); /* without the restarts: 59 MB */
}

int run_store_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sequences_and_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints_off_the_commit_path, setup, teardown),
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
        cmocka_unit_test_setup_teardown(test_history_starts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redo_safe_ops_skip_their_fsync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_stays_bounded_under_steady_commits, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
