/*
 * test_logsearch.c - the log search (events/logindex.h): the substring test, the index thread
 * following the log, made anew when forced or stale, trimmed by retention, and searches that
 * find the same lines with the index as by reading the run (the index is really used up to the
 * seq it covers: a line taken out of it is no longer found; lines past it are read).
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
#include <regex.h>
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

static void test_regex_literal_is_what_every_match_holds(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"file_004[0-9]\\.c", "file_004"},
        {"colou?r", "colo"},
        {"(foo)?barbaz", "barbaz"},
        {"x{2,3}abc", "abc"},
        {"\\bword\\b", "word"},
        {"[]abc]xyzw", "xyzw"},
        {"[[:digit:]]+ms elapsed", "ms elapsed"},
        {"errors+ found", "errors"},
        {"ab\\.cd", "ab.cd"},
        {"\\(paren", "(paren"},
        {"^npm (ERR|WARN)", ""}, /* an alternation: nothing is sure */
        {"a|bcdef", ""},
        {"ab*cd", "cd"},
        {"a.b.c", "a"},
        {"(abc)(def)", ""},
        {"^\\[[0-9]+/[0-9]+\\] Linking", "] Linking"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        size_t n = fg_logsearch_regex_literal(cases[i][0], out, sizeof(out));
        if (strcmp(out, cases[i][1]) != 0 || n != strlen(cases[i][1]))
            fail_msg("%s: \"%s\", want \"%s\"", cases[i][0], out, cases[i][1]);
        /* the cases are regexes glibc takes */
        regex_t re;
        assert_int_equal(regcomp(&re, cases[i][0], REG_EXTENDED | REG_NOSUB), 0);
        regfree(&re);
    }
    char small[4];
    assert_int_equal(fg_logsearch_regex_literal("abcdefgh", small, sizeof(small)), 0);
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
static void search_seqs(fg_store_reader_t *r, const fg_logindex_t *li, const char *q, char *out,
                        size_t cap)
{
    fg_logsearch_t s = {
        .logs = {.run_id = RUN, .limit = 7}, .q = q, .q_len = strlen(q), .index = li};
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

static void index_path(fixture_t *fx, char *path, size_t cap)
{
    snprintf(path, cap, "%s/logindex.db", fx->dir);
}

/* Runs sql on the index file (the indexer idle meanwhile). */
static void exec_index(fixture_t *fx, const char *sql)
{
    char path[128];
    index_path(fx, path, sizeof(path));
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static int64_t index_rows(fixture_t *fx)
{
    char path[128];
    index_path(fx, path, sizeof(path));
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM log_fts", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Starts the indexer and waits (bounded) until it has looked at every event. */
static fg_logindex_t *start_index(fixture_t *fx, bool force)
{
    char path[128];
    index_path(fx, path, sizeof(path));
    fg_logindex_t *li = NULL;
    assert_int_equal(fg_logindex_start(fx->store, path, force, &li), FG_OK);
    for (int i = 0; i < 500; i++) {
        if (fg_logindex_ready(li) != NULL &&
            fg_logindex_covered(li) >= fg_store_last_seq(fx->store))
            return li;
        usleep(10000);
    }
    fail_msg("the index did not catch up");
    return NULL;
}

static void test_search_finds_the_same_with_and_without_the_index(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, true, 0);
    publish_mixed(fx, 60);
    fg_logindex_t *li = start_index(fx, false);
    /* every line indexed, colours removed */
    assert_int_equal(index_rows(fx), 60);
    fg_store_reader_t *r = open_reader(fx);
    char indexed[2048], scanned[2048];
    const char *queries[] = {"error: build", "DEPRECATED", "ok: compiled 5", "d 1", "no such"};
    for (size_t k = 0; k < sizeof(queries) / sizeof(queries[0]); k++) {
        search_seqs(r, li, queries[k], indexed, sizeof(indexed));
        search_seqs(r, NULL, queries[k], scanned, sizeof(scanned));
        assert_string_equal(indexed, scanned);
    }
    /* "error: build": every third line from the first (seq 2, after the run_created) */
    search_seqs(r, li, "error: build", indexed, sizeof(indexed));
    assert_string_equal(indexed, "2,5,8,11,14,17,20,23,26,29,32,35,38,41,44,47,50,53,56,59,");
    /* The index is what finds them up to the seq it covers, and the lines after it are read: with
     * line 5 and line 35 taken out of it, and it said to cover up to 31, 5 is not found (its
     * absence shows the index was asked) and 35 is (read). */
    exec_index(fx, "DELETE FROM log_fts WHERE rowid IN (5, 35); UPDATE meta SET value = 31"
                   " WHERE key = 'seq'");
    search_seqs(r, li, "error: build", indexed, sizeof(indexed));
    assert_string_equal(indexed, "2,8,11,14,17,20,23,26,29,32,35,38,41,44,47,50,53,56,59,");
    search_seqs(r, NULL, "error: build", scanned, sizeof(scanned));
    assert_non_null(strstr(scanned, ",5,"));
    /* a needle under three characters reads the lines, with the index's text where it has it */
    search_seqs(r, li, "d ", scanned, sizeof(scanned));
    assert_non_null(strstr(scanned, ",5,"));
    fg_store_reader_close(r);
    fg_logindex_stop(li);
    /* made anew when forced (store.rebuild_views), or of another version */
    li = start_index(fx, true);
    assert_int_equal(index_rows(fx), 60);
    fg_logindex_stop(li);
    exec_index(fx, "DELETE FROM log_fts WHERE rowid < 30; UPDATE meta SET value = 99 WHERE key ="
                   " 'version'");
    li = start_index(fx, false);
    assert_int_equal(index_rows(fx), 60);
    /* lines stored later are indexed as they come */
    publish_mixed(fx, 3);
    for (int i = 0; i < 500 && fg_logindex_covered(li) < fg_store_last_seq(fx->store); i++)
        usleep(10000);
    assert_int_equal(index_rows(fx), 63);
    fg_logindex_stop(li);
}

static void test_retention_trims_the_index(void **state)
{
    fixture_t *fx = *state;
    start_writer(fx, true, 10);
    fg_logindex_t *li = start_index(fx, false);
    publish_mixed(fx, 100);
    int64_t indexed = -1, lines = -2;
    for (int i = 0; i < 300; i++) {
        indexed = index_rows(fx);
        lines = count_rows(fx, "SELECT count(*) FROM events WHERE type = 'log_line'");
        if (indexed == lines && lines <= 11)
            break;
        usleep(20000);
    }
    fg_logindex_stop(li);
    assert_true(lines <= 11);
    assert_int_equal(indexed, lines);
}

int run_logsearch_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contains_folds_ascii_only_when_asked),
        cmocka_unit_test(test_regex_literal_is_what_every_match_holds),
        cmocka_unit_test_setup_teardown(test_search_finds_the_same_with_and_without_the_index,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_trims_the_index, setup, teardown),
    };
    return cmocka_run_group_tests_name("logsearch", tests, NULL, NULL);
}
