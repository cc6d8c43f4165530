/*
 * test_logsearch.c - the log search (events/logindex.h): the substring test, the index written
 * with the lines and trimmed by retention, and searches that find the same lines with the index
 * as by reading the run (the index is really used: a line taken out of it is no longer found).
 */
#include "events/err.h"
#include "events/logindex.h"
#include "store_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

static void test_contains_folds_ascii_only_when_asked(void **state)
{
    (void)state;
    const char *t = "Build FAILED: exit 2";
    assert_true(fg_logsearch_contains(t, strlen(t), "failed", 6, false));
    assert_false(fg_logsearch_contains(t, strlen(t), "failed", 6, true));
    assert_true(fg_logsearch_contains(t, strlen(t), "FAILED", 6, true));
    assert_true(fg_logsearch_contains(t, strlen(t), "exit 2", 6, false));
    assert_false(fg_logsearch_contains(t, strlen(t), "exit 20", 7, false));
    assert_true(fg_logsearch_contains(t, strlen(t), "", 0, false));
    assert_false(fg_logsearch_contains("ab", 2, "abc", 3, false));
    /* bytes past the length are not looked at */
    assert_false(fg_logsearch_contains(t, 5, "build f", 7, false));
    /* non-ASCII bytes compare as they are */
    assert_true(fg_logsearch_contains("caf\xc3\xa9 ok", 7, "\xc3\xa9 o", 4, false));
    assert_false(fg_logsearch_contains("CAF\xc3\x89", 5, "caf\xc3\xa9", 5, false));
}

/* The lines of the test run: colours around some words, the three kinds. */
static void publish_mixed(fixture_t *fx, int n)
{
    const char *created[] = {"{\"type\":\"run_created\",\"run_id\":\"" RUN "\","
                             "\"workflow_name\":\"ci\"}"};
    free_job(publish(fx, created, 1));
    for (int i = 0; i < n; i++) {
        char text[320];
        const char *kind = i % 3 == 0   ? "\\u001b[1;31mERROR\\u001b[0m: build failed"
                           : i % 3 == 1 ? "warning: deprecated call"
                                        : "ok: compiled";
        snprintf(text, sizeof(text),
                 "{\"type\":\"log_line\",\"run_id\":\"" RUN "\",\"step_id\":\"" STEP "\","
                 "\"step_name\":\"build\",\"stream\":\"%s\",\"line\":\"%s %d\"}",
                 i % 2 ? "stderr" : "stdout", kind, i);
        const char *t[] = {text};
        free_job(publish(fx, t, 1));
    }
}

/* The seqs a search finds, page after page (limit 7), as a comma list. */
static void search_seqs(fg_store_reader_t *r, const char *q, char *out, size_t cap)
{
    fg_logsearch_t s = {.logs = {.run_id = RUN, .limit = 7}, .q = q, .q_len = strlen(q)};
    size_t len = 0;
    out[0] = '\0';
    for (int pages = 0; pages < 100; pages++) {
        fg_buf_t b;
        fg_buf_init(&b, 0);
        uint64_t next;
        assert_int_equal(fg_logsearch(r, &s, &b, &next), FG_OK);
        json_t *page = json_loadb(b.data, b.len, 0, NULL);
        assert_non_null(page);
        json_t *lines = json_object_get(page, "lines"), *line;
        size_t i;
        json_array_foreach(lines, i, line)
        {
            len += (size_t)snprintf(out + len, cap - len, "%lld,",
                                    (long long)json_integer_value(json_object_get(line, "seq")));
        }
        uint64_t last = (uint64_t)json_integer_value(json_object_get(page, "last_seq"));
        json_decref(page);
        fg_buf_dispose(&b);
        if (next >= last)
            return;
        s.logs.after = next;
    }
    fail_msg("the search never ended");
}

static void exec_db(fixture_t *fx, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_search_finds_the_same_with_and_without_the_index(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, true, 0);
    publish_mixed(fx, 60);
    /* every line indexed in the commit that stored it, colours removed */
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM log_fts"), 60);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM log_fts WHERE log_fts MATCH '\"err\"'"),
                     20);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM log_fts WHERE log_fts MATCH '\"1mE\"'"),
                     0);
    stop_writer(fx);
    char err[256], indexed[2048], scanned[2048], without[2048];
    const char *queries[] = {"error: build", "DEPRECATED", "ok: compiled 5", "d 1", "no such"};
    for (size_t k = 0; k < sizeof(queries) / sizeof(queries[0]); k++) {
        assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &fx->store, err, sizeof(err)),
                         FG_OK);
        fg_store_reader_t *r = open_reader(fx);
        search_seqs(r, queries[k], indexed, sizeof(indexed));
        fg_store_reader_close(r);
        fg_store_close(fx->store);
        /* the index said to be behind: the run's lines are read instead */
        exec_db(fx, "UPDATE meta SET value = 0 WHERE key = 'logindex_seq'");
        assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &fx->store, err, sizeof(err)),
                         FG_OK);
        r = open_reader(fx);
        search_seqs(r, queries[k], scanned, sizeof(scanned));
        fg_store_reader_close(r);
        fg_store_close(fx->store);
        fx->store = NULL;
        exec_db(fx, "UPDATE meta SET value = (SELECT max(seq) FROM events) WHERE key ="
                    " 'logindex_seq'");
        assert_string_equal(indexed, scanned);
    }
    /* "error: build": every third line from the first (seq 2, after the run_created) */
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &fx->store, err, sizeof(err)), FG_OK);
    fg_store_reader_t *r = open_reader(fx);
    search_seqs(r, "error: build", indexed, sizeof(indexed));
    assert_true(strncmp(indexed, "2,5,8,11,", 9) == 0);
    fg_store_reader_close(r);
    fg_store_close(fx->store);
    fx->store = NULL;
    /* the index is what finds them: a line taken out of it is not found while it covers the run */
    exec_db(fx, "DELETE FROM log_fts WHERE rowid = 5");
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &fx->store, err, sizeof(err)), FG_OK);
    r = open_reader(fx);
    search_seqs(r, "error: build", without, sizeof(without));
    assert_true(strncmp(without, "2,8,11,", 7) == 0);
    /* a needle under three characters reads the lines */
    search_seqs(r, "d ", scanned, sizeof(scanned));
    assert_non_null(strstr(scanned, ",5,"));
    fg_store_reader_close(r);
    fg_store_close(fx->store);
    fx->store = NULL;
    /* a start with store.rebuild_views rebuilds the index too */
    fx->rebuild_views = true;
    start_writer(fx, true, 0);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM log_fts"), 60);
}

static void test_retention_trims_the_index(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, true, 10);
    publish_mixed(fx, 100);
    int64_t indexed = -1, lines = -2;
    for (int i = 0; i < 200; i++) {
        indexed = count_rows(fx, "SELECT count(*) FROM log_fts");
        lines = count_rows(fx, "SELECT count(*) FROM events WHERE type = 'log_line'");
        if (indexed == lines && lines <= 11)
            break;
        usleep(20000);
    }
    assert_true(lines <= 11);
    assert_int_equal(indexed, lines);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM log_fts WHERE rowid <"
                                    " (SELECT min(seq) FROM events)"),
                     0);
}

int run_logsearch_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contains_folds_ascii_only_when_asked),
        cmocka_unit_test_setup_teardown(test_search_finds_the_same_with_and_without_the_index,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_trims_the_index, setup, teardown),
    };
    return cmocka_run_group_tests_name("logsearch", tests, NULL, NULL);
}
