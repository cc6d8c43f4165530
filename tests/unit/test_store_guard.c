/*
 * test_store_guard.c - what the store refuses and what it notices (issue #10): another
 * application's database is left untouched byte for byte, an earlier flowgate store is adopted
 * and marked, a damaged file is found by the start-up check, and a log that lost its write-ahead
 * log never gives a number out twice (the lost range is recorded, cursors inside it and beyond
 * the last number are told apart, the epoch changes). Also the outbox backlog the store keeps
 * by each change (the metrics' pending and retry gauges), checked against a count, and the
 * subscription set's version counter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "events/store.h"
#include "webhooks/outbox_store.h"
#include "events/store_guard.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int run_store_guard_tests(void);

typedef struct {
    char dir[64], path[96];
} gfx_t;

static int setup(void **state)
{
    gfx_t *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/fg-guard-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->path, sizeof(fx->path), "%s/flowgate.db", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    gfx_t *fx = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
    int rc = system(cmd);
    free(fx);
    return rc == 0 ? 0 : -1;
}

static void sql(const char *path, const char *text)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static int64_t sql_int(const char *path, const char *text)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, text, -1, &st, NULL), SQLITE_OK);
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The whole file, malloc'd. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(*len + 1);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

/* Opening a database that is not flowgate's fails naming the file, and changes no byte. */
static void refused_untouched(gfx_t *fx, int want, const char *says)
{
    size_t before_len, after_len;
    char *before = slurp(fx->path, &before_len);
    fg_store_t *s = NULL;
    char err[512];
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_FULL, &s, err, sizeof(err)), want);
    assert_null(s);
    assert_non_null(strstr(err, fx->path));
    assert_non_null(strstr(err, says));
    char *after = slurp(fx->path, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);
    char seq[128];
    snprintf(seq, sizeof(seq), "%s-seq", fx->path);
    assert_int_not_equal(access(seq, F_OK), 0); /* nothing written beside it either */
}

static void test_foreign_databases_are_refused_untouched(void **state)
{
    gfx_t *fx = *state;
    /* an application's own database */
    sql(fx->path, "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);"
                  "INSERT INTO customers(name) VALUES ('ana'), ('bo');");
    refused_untouched(fx, FG_ERR_INVALID, "\"customers\"");
    unlink(fx->path);
    /* one with an events table of its own: no meta table may be written into it */
    sql(fx->path, "CREATE TABLE events(id INTEGER PRIMARY KEY, what TEXT);");
    refused_untouched(fx, FG_ERR_INVALID, "not a flowgate store");
    assert_int_equal(sql_int(fx->path, "SELECT count(*) FROM sqlite_master WHERE name = 'meta'"),
                     0);
    unlink(fx->path);
    /* marked by another application */
    sql(fx->path, "PRAGMA application_id = 1234; CREATE TABLE t(x);");
    refused_untouched(fx, FG_ERR_INVALID, "another application");
    unlink(fx->path);
    /* a flowgate store of a newer schema */
    char newer[160];
    snprintf(newer, sizeof(newer),
             "PRAGMA application_id = %d; PRAGMA user_version = %d;"
             "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
             FG_STORE_APPLICATION_ID, FG_STORE_SCHEMA_VERSION + 1);
    sql(fx->path, newer);
    refused_untouched(fx, FG_ERR_INVALID, "newer flowgate");
}

static void test_new_stores_are_marked(void **state)
{
    gfx_t *fx = *state;
    fg_store_t *s;
    char err[512];
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &s, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(s), FG_OK);
    uint64_t epoch = fg_store_epoch(s);
    assert_true(epoch != 0);
    fg_store_close(s);
    assert_int_equal(sql_int(fx->path, "PRAGMA application_id"), FG_STORE_APPLICATION_ID);
    assert_int_equal(sql_int(fx->path, "PRAGMA user_version"), FG_STORE_SCHEMA_VERSION);
    /* the epoch belongs to the store: the same after a reopen */
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &s, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(s), FG_OK);
    assert_true(fg_store_epoch(s) == epoch);
    fg_store_close(s);
}

/* A store of the first schema (no mark, deliveries in insertion order) is adopted, marked, and
 * its deliveries rebuilt clustered by subscription, every row kept. */
static void test_an_earlier_store_is_adopted_and_migrated(void **state)
{
    gfx_t *fx = *state;
    sql(fx->path,
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "INSERT INTO meta VALUES ('schema_version', 1), ('purged_through', 0);"
        "CREATE TABLE events(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,"
        " run_id TEXT, workflow TEXT, received_us INTEGER NOT NULL, body TEXT NOT NULL);"
        "INSERT INTO events VALUES (1, 'e1', 'user_signed_in', NULL, NULL, 1, '{}'),"
        " (2, 'e2', 'user_signed_in', NULL, NULL, 2, '{}');"
        "CREATE TABLE subscriptions(id TEXT PRIMARY KEY, spec TEXT NOT NULL, secret TEXT NOT NULL,"
        " old_secret TEXT, old_secret_until_us INTEGER, enabled INTEGER NOT NULL,"
        " created_us INTEGER NOT NULL, updated_us INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE deliveries(id TEXT PRIMARY KEY, sub_id TEXT NOT NULL, seq INTEGER NOT NULL,"
        " run_id TEXT, status INTEGER NOT NULL, attempts INTEGER NOT NULL,"
        " next_at_us INTEGER NOT NULL, created_us INTEGER NOT NULL, updated_us INTEGER NOT NULL);"
        "CREATE INDEX deliveries_log ON deliveries(sub_id, id);"
        "INSERT INTO deliveries VALUES ('msg_1', 'wh_b', 1, NULL, 0, 0, 1, 1, 1),"
        " ('msg_2', 'wh_a', 1, NULL, 2, 1, 1, 1, 1), ('msg_3', 'wh_b', 2, NULL, 3, 1, 9, 1, 1);");
    fg_store_t *s;
    char err[512];
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &s, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(s), FG_OK);
    assert_int_equal(fg_store_last_seq(s), 2);
    /* events gained their trace context: stored, and read back with the event */
    fg_pub_event_t ev;
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.id, sizeof(ev.id), "e3");
    snprintf(ev.traceparent, sizeof(ev.traceparent), "%s",
             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    ev.json = "{\"type\":\"user_signed_in\"}";
    ev.json_len = strlen(ev.json);
    assert_int_equal(fg_store_begin(s), FG_OK);
    assert_int_equal(fg_store_append(s, 3, &ev, "user_signed_in", NULL, 3), FG_OK);
    assert_int_equal(fg_store_commit(s, 3), FG_OK);
    fg_store_reader_t *r;
    assert_int_equal(fg_store_reader_open(s, &r, err, sizeof(err)), FG_OK);
    char *json, tp[FG_TRACEPARENT_LEN + 1];
    size_t len;
    assert_int_equal(fg_store_reader_event_json(r, 3, &json, &len, tp), FG_OK);
    assert_string_equal(tp, ev.traceparent);
    free(json);
    assert_int_equal(fg_store_reader_event_json(r, 2, &json, &len, tp), FG_OK);
    assert_string_equal(tp, ""); /* one stored before has none */
    free(json);
    fg_store_reader_close(r);
    fg_store_close(s);
    assert_int_equal(sql_int(fx->path, "PRAGMA application_id"), FG_STORE_APPLICATION_ID);
    assert_int_equal(sql_int(fx->path, "PRAGMA user_version"), FG_STORE_SCHEMA_VERSION);
    assert_int_equal(sql_int(fx->path, "SELECT value FROM meta WHERE key = 'schema_version'"),
                     FG_STORE_SCHEMA_VERSION);
    assert_int_equal(sql_int(fx->path, "SELECT count(*) FROM pragma_table_info('deliveries')"
                                       " WHERE name = 'sub_id' AND pk = 1"),
                     1);
    assert_int_equal(sql_int(fx->path, "SELECT count(*) FROM deliveries"), 3);
    assert_int_equal(sql_int(fx->path, "SELECT next_at_us FROM deliveries WHERE id = 'msg_3'"), 9);
    assert_int_equal(sql_int(fx->path, "SELECT count(*) FROM subscriptions"), 0);
}

/* Appends events seq first..last directly (what the writer does, without its thread). */
static void append(fg_store_t *s, uint64_t first, uint64_t last)
{
    assert_int_equal(fg_store_begin(s), FG_OK);
    for (uint64_t q = first; q <= last; q++) {
        fg_pub_event_t ev;
        memset(&ev, 0, sizeof(ev));
        snprintf(ev.id, sizeof(ev.id), "ev-%llu", (unsigned long long)q);
        char body[256];
        snprintf(body, sizeof(body), "{\"type\":\"user_signed_in\",\"n\":%llu,\"pad\":\"%0200d\"}",
                 (unsigned long long)q, 0);
        ev.json = body;
        ev.json_len = strlen(body);
        assert_int_equal(fg_store_append(s, q, &ev, "user_signed_in", NULL, 1), FG_OK);
    }
    assert_int_equal(fg_store_commit(s, last), FG_OK);
}

static void test_a_lost_log_never_reuses_a_number(void **state)
{
    gfx_t *fx = *state;
    fg_store_t *s;
    char err[512];
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &s, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(s), FG_OK);
    append(s, 1, 5);
    uint64_t epoch = fg_store_epoch(s);
    fg_store_close(s);
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &s, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(s), FG_OK);
    assert_int_equal(fg_store_cursor_check(s, 5), FG_CURSOR_OK);
    assert_int_equal(fg_store_cursor_check(s, 6), FG_CURSOR_AHEAD);
    append(s, 6, 10);
    fg_store_close(s);
    /* what a lost write-ahead log leaves: the log ends at 5, numbers to 10 were given out */
    sql(fx->path, "DELETE FROM events WHERE seq > 5");
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &s, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(s), FG_OK);
    assert_int_equal(fg_store_last_seq(s), 10);
    assert_true(fg_store_epoch(s) != epoch);
    assert_int_equal(fg_store_cursor_check(s, 3), FG_CURSOR_OK);
    assert_int_equal(fg_store_cursor_check(s, 5), FG_CURSOR_OK);
    assert_int_equal(fg_store_cursor_check(s, 6), FG_CURSOR_LOST);
    assert_int_equal(fg_store_cursor_check(s, 10), FG_CURSOR_LOST);
    assert_int_equal(fg_store_cursor_check(s, 11), FG_CURSOR_AHEAD);
    append(s, 11, 12); /* numbering goes on above the lost range */
    fg_store_close(s);
    /* the lost range is remembered, also when the high-water file is gone */
    char seq[128];
    snprintf(seq, sizeof(seq), "%s-seq", fx->path);
    unlink(seq);
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &s, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(s), FG_OK);
    assert_int_equal(fg_store_last_seq(s), 12);
    assert_int_equal(fg_store_cursor_check(s, 8), FG_CURSOR_LOST);
    assert_int_equal(fg_store_cursor_check(s, 12), FG_CURSOR_OK);
    fg_store_close(s);
}

static void test_the_start_check_finds_damage(void **state)
{
    gfx_t *fx = *state;
    fg_store_t *s;
    char err[512], why[256];
    bool complete;
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &s, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(s), FG_OK);
    for (uint64_t q = 1; q <= 2000; q += 100)
        append(s, q, q + 99);
    assert_int_equal(fg_store_check(s, 5000, &complete, why, sizeof(why)), FG_OK);
    assert_true(complete);
    /* no budget: no check */
    assert_int_equal(fg_store_check(s, 0, &complete, why, sizeof(why)), FG_OK);
    assert_false(complete);
    fg_store_close(s);
    /* overwrite pages in the middle of the events table */
    FILE *f = fopen(fx->path, "r+b");
    assert_non_null(f);
    char junk[4096];
    memset(junk, 0x5a, sizeof(junk));
    for (long page = 20; page < 60; page += 4) {
        fseek(f, page * 4096, SEEK_SET);
        fwrite(junk, 1, sizeof(junk), f);
    }
    fclose(f);
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &s, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(s), FG_OK);
    assert_int_equal(fg_store_check(s, 5000, &complete, why, sizeof(why)), FG_ERR_CORRUPT);
    assert_true(why[0] != '\0');
    assert_null(strchr(why, '\n'));
    fg_store_close(s);
}

static void check_backlog(gfx_t *fx, fg_store_t *s)
{
    uint64_t pending, retrying;
    fg_wh_store_backlog(s, &pending, &retrying);
    assert_int_equal(pending,
                     sql_int(fx->path, "SELECT count(*) FROM deliveries WHERE status = 0"));
    assert_int_equal(retrying,
                     sql_int(fx->path, "SELECT count(*) FROM deliveries WHERE status = 3"));
}

static void attempt(fg_store_t *s, const char *sub, const char *id, unsigned n, int status)
{
    fg_wh_attempt_t a = {.delivery_id = id,
                         .sub_id = sub,
                         .attempt = n,
                         .at_us = 1,
                         .duration_us = 1,
                         .new_status = status,
                         .next_at_us = 5};
    assert_int_equal(fg_wh_store_attempt_record(s, &a, 2), FG_OK);
}

static void test_the_outbox_backlog_is_kept_by_each_change(void **state)
{
    gfx_t *fx = *state;
    fg_store_t *s;
    char err[512];
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &s, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(s), FG_OK);
    append(s, 1, 4);
    fg_wh_sub_row_t a = {.id = "wh_a", .spec = "{}", .secret = "whsec_x", .enabled = true};
    fg_wh_sub_row_t b = {.id = "wh_b", .spec = "{}", .secret = "whsec_x", .enabled = true};
    assert_int_equal(fg_store_begin(s), FG_OK);
    assert_int_equal(fg_wh_store_sub_put(s, &a, 1), FG_OK);
    assert_int_equal(fg_wh_store_sub_put(s, &b, 1), FG_OK);
    const char *ids[] = {"msg_a1", "msg_a2", "msg_a3", "msg_b1", "msg_b2"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(fg_wh_store_delivery_add(s, ids[i], i < 3 ? "wh_a" : "wh_b",
                                                  (uint64_t)(i % 3) + 1, NULL, 1),
                         FG_OK);
    assert_int_equal(fg_store_commit(s, 4), FG_OK);
    check_backlog(fx, s);
    /* attempts: succeeded, failed, failed again, dead */
    assert_int_equal(fg_store_begin(s), FG_OK);
    attempt(s, "wh_a", "msg_a1", 1, FG_DELIVERY_SUCCEEDED);
    attempt(s, "wh_a", "msg_a2", 1, FG_DELIVERY_FAILED);
    attempt(s, "wh_b", "msg_b1", 1, FG_DELIVERY_FAILED);
    attempt(s, "wh_b", "msg_b1", 2, FG_DELIVERY_FAILED);
    attempt(s, "wh_b", "msg_b2", 1, FG_DELIVERY_DEAD);
    attempt(s, "wh_b", "msg_gone", 1, FG_DELIVERY_FAILED); /* deleted meanwhile: no change */
    assert_int_equal(fg_store_commit(s, 4), FG_OK);
    check_backlog(fx, s);
    /* a retry by hand; a rolled-back savepoint and transaction change nothing */
    assert_int_equal(fg_store_begin(s), FG_OK);
    assert_int_equal(fg_wh_store_delivery_retry(s, "msg_a2", 3), FG_OK);
    assert_int_equal(fg_store_savepoint(s), FG_OK);
    assert_int_equal(fg_wh_store_delivery_add(s, "msg_x", "wh_a", 4, NULL, 1), FG_OK);
    fg_store_savepoint_rollback(s);
    assert_int_equal(fg_store_commit(s, 4), FG_OK);
    check_backlog(fx, s);
    assert_int_equal(fg_store_begin(s), FG_OK);
    assert_int_equal(fg_wh_store_delivery_add(s, "msg_y", "wh_a", 4, NULL, 1), FG_OK);
    fg_store_rollback(s);
    check_backlog(fx, s);
    /* a subscription deleted takes its backlog along */
    assert_int_equal(fg_store_begin(s), FG_OK);
    assert_int_equal(fg_wh_store_sub_delete(s, "wh_b"), FG_OK);
    assert_int_equal(fg_store_commit(s, 4), FG_OK);
    check_backlog(fx, s);
    fg_store_close(s);
    /* the count at open agrees */
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &s, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(s), FG_OK);
    check_backlog(fx, s);
    uint64_t pending, retrying;
    fg_wh_store_backlog(s, &pending, &retrying);
    assert_int_equal(pending, 2); /* a2 (retried by hand), a3 */
    assert_int_equal(retrying, 0);
    fg_store_close(s);
}

static uint64_t subs_version(fg_store_t *s)
{
    fg_store_reader_t *r;
    char err[256];
    uint64_t v = 0;
    assert_int_equal(fg_store_reader_open(s, &r, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_read_subs_version(r, &v), FG_OK);
    fg_store_reader_close(r);
    return v;
}

/* Every change to the subscription set moves the version, also the one the earlier heuristic
 * (count * 1000003 + max(updated_us)) missed: one subscription deleted while another was
 * updated at just the time that kept the sum. Failure bookkeeping does not move it. */
static void test_the_subscription_version_moves_with_every_change(void **state)
{
    gfx_t *fx = *state;
    fg_store_t *s;
    char err[512];
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &s, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(s), FG_OK);
    fg_wh_sub_row_t a = {.id = "wh_a", .spec = "{}", .secret = "whsec_x", .enabled = true};
    fg_wh_sub_row_t b = {.id = "wh_b", .spec = "{}", .secret = "whsec_x", .enabled = true};
    uint64_t v0 = subs_version(s);
    assert_int_equal(fg_store_begin(s), FG_OK);
    assert_int_equal(fg_wh_store_sub_put(s, &a, 100), FG_OK);
    assert_int_equal(fg_wh_store_sub_put(s, &b, 200), FG_OK);
    assert_int_equal(fg_store_commit(s, 0), FG_OK);
    uint64_t v1 = subs_version(s);
    assert_true(v1 != v0);
    assert_int_equal(fg_store_begin(s), FG_OK);
    assert_int_equal(fg_wh_store_sub_delete(s, "wh_b"), FG_OK);
    assert_int_equal(fg_wh_store_sub_put(s, &a, 1000203), FG_OK); /* 1 * 1000003 + 1000203 */
    assert_int_equal(fg_store_commit(s, 0), FG_OK);               /* == 2 * 1000003 + 200 */
    uint64_t v2 = subs_version(s);
    assert_true(v2 != v1);
    assert_int_equal(fg_store_begin(s), FG_OK);
    assert_int_equal(fg_wh_store_sub_set_failing(s, "wh_a", 5), FG_OK);
    assert_int_equal(fg_store_commit(s, 0), FG_OK);
    assert_true(subs_version(s) == v2);
    assert_int_equal(fg_store_begin(s), FG_OK);
    assert_int_equal(fg_wh_store_sub_set_enabled(s, "wh_a", false, 7), FG_OK);
    assert_int_equal(fg_store_commit(s, 0), FG_OK);
    assert_true(subs_version(s) != v2);
    fg_store_close(s);
}

int run_store_guard_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_foreign_databases_are_refused_untouched, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_new_stores_are_marked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_earlier_store_is_adopted_and_migrated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_lost_log_never_reuses_a_number, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_start_check_finds_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_outbox_backlog_is_kept_by_each_change, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_subscription_version_moves_with_every_change,
                                        setup, teardown),
    };
    return cmocka_run_group_tests_name("store_guard", tests, NULL, NULL);
}
