/*
 * test_runview.c - the run views the writer keeps: checked against a recorded event sequence,
 * rebuilt or caught up on start, forgetting rolled-back work, log pages, and retention.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/store_fixture.h"
#include "events/transitions.h"
#include "webhooks/outbox_store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int run_runview_tests(void);

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

int run_runview_tests(void)
{
    const struct CMUnitTest tests[] = {
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
    return cmocka_run_group_tests_name("runview", tests, NULL, NULL);
}
