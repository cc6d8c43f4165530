/*
 * test_basics.c - the small pieces of events/: cursors, the run status transition table, time
 * parsing and formatting, ids, the random generator, and money.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "events/ansi.h"
#include "events/catalog.h"
#include "events/cursor.h"
#include "events/filter.h"
#include "events/ids.h"
#include "events/money.h"
#include "events/rng.h"
#include "events/sse.h"
#include "events/timefmt.h"
#include "events/transitions.h"
#include "events/validate.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int run_basics_tests(void);

/* --- cursors, transitions, time -------------------------------------------------------------- */

static void test_cursor_parse(void **state)
{
    uint64_t v = 99;
    assert_int_equal(fg_cursor_parse("0", 1, &v), FG_OK);
    assert_int_equal(v, 0);
    assert_int_equal(fg_cursor_parse("12345", 5, &v), FG_OK);
    assert_int_equal(v, 12345);
    assert_int_equal(fg_cursor_parse("9223372036854775807", 19, &v), FG_OK);
    assert_int_equal(v, INT64_MAX);
    v = 7;
    const char *bad[] = {"",
                         "-1",
                         "+1",
                         " 1",
                         "1 ",
                         "01",
                         "1a",
                         "1.0",
                         "9223372036854775808",
                         "18446744073709551616",
                         "abc",
                         "1\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(fg_cursor_parse(bad[i], strlen(bad[i]), &v), FG_ERR_INVALID);
    assert_int_equal(v, 7); /* untouched on error */
}

static void test_transition_table(void **state)
{
    static const struct {
        fg_run_status_t from, to;
        bool ok;
    } cases[] = {
        {FG_RUN_PENDING, FG_RUN_RUNNING, true},
        {FG_RUN_PENDING, FG_RUN_CANCELLED, true},
        {FG_RUN_PENDING, FG_RUN_COMPLETED, false},
        {FG_RUN_PENDING, FG_RUN_PENDING, false},
        {FG_RUN_RUNNING, FG_RUN_COMPLETED, true},
        {FG_RUN_RUNNING, FG_RUN_FAILED, true},
        {FG_RUN_RUNNING, FG_RUN_RETRYING, true},
        {FG_RUN_RUNNING, FG_RUN_CANCELLED, true},
        {FG_RUN_RUNNING, FG_RUN_AWAITING_APPROVAL, true},
        {FG_RUN_RUNNING, FG_RUN_PENDING, false},
        {FG_RUN_RETRYING, FG_RUN_RUNNING, true},
        {FG_RUN_RETRYING, FG_RUN_FAILED, true},
        {FG_RUN_RETRYING, FG_RUN_CANCELLED, true},
        {FG_RUN_RETRYING, FG_RUN_COMPLETED, false},
        {FG_RUN_AWAITING_APPROVAL, FG_RUN_RUNNING, true},
        {FG_RUN_AWAITING_APPROVAL, FG_RUN_FAILED, true},
        {FG_RUN_AWAITING_APPROVAL, FG_RUN_CANCELLED, true},
        {FG_RUN_AWAITING_APPROVAL, FG_RUN_COMPLETED, false},
        {FG_RUN_COMPLETED, FG_RUN_COMPLETED, true}, /* terminal no-op */
        {FG_RUN_FAILED, FG_RUN_FAILED, true},
        {FG_RUN_CANCELLED, FG_RUN_CANCELLED, true},
        {FG_RUN_COMPLETED, FG_RUN_RUNNING, false},
        {FG_RUN_FAILED, FG_RUN_RETRYING, false},
        {FG_RUN_CANCELLED, FG_RUN_RUNNING, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (fg_transition_allowed(cases[i].from, cases[i].to) != cases[i].ok)
            fail_msg("%s -> %s should be %s", fg_run_status_name(cases[i].from),
                     fg_run_status_name(cases[i].to), cases[i].ok ? "allowed" : "refused");
    }
    /* exactly 16 allowed pairs in the whole 7x7 table */
    int allowed = 0;
    for (int a = 0; a < FG_RUN_STATUS_COUNT; a++)
        for (int b = 0; b < FG_RUN_STATUS_COUNT; b++)
            allowed += fg_transition_allowed(a, b);
    assert_int_equal(allowed, 16);
    assert_int_equal(fg_run_status_parse("awaiting_approval", 17), FG_RUN_AWAITING_APPROVAL);
    assert_int_equal(fg_run_status_parse("awaiting", 8), -1);
    assert_true(fg_run_status_terminal(FG_RUN_CANCELLED));
    assert_false(fg_run_status_terminal(FG_RUN_RETRYING));
}

static void test_time_parse_and_format(void **state)
{
    int64_t us;
    assert_true(fg_time_parse("1970-01-01T00:00:00Z", 20, &us));
    assert_int_equal(us, 0);
    assert_true(fg_time_parse("2026-11-22T10:15:30.123456Z", 27, &us));
    char buf[32];
    fg_time_format(us, buf, 6);
    assert_string_equal(buf, "2026-11-22T10:15:30.123456Z");
    assert_true(fg_time_parse("2026-11-22T12:15:30+02:00", 25, &us));
    fg_time_format(us, buf, 0);
    assert_string_equal(buf, "2026-11-22T10:15:30Z");
    assert_true(fg_time_parse("2024-02-29t00:00:00.5z", 22, NULL)); /* leap year, lower case */
    const char *bad[] = {"2023-02-29T00:00:00Z",     "2026-13-01T00:00:00Z",
                         "2026-11-22 10:15:30Z",     "2026-11-22T24:00:00Z",
                         "2026-11-22T10:15:30",      "2026-11-22T10:15:30.Z",
                         "2026-11-22T10:15:30+0200", "2026-11-22",
                         "2026-11-22T10:15:30Zx",    "2026-04-31T10:15:30Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (fg_time_parse(bad[i], strlen(bad[i]), NULL))
            fail_msg("accepted %s", bad[i]);
    }
}

static void test_ids(void **state)
{
    char u[37], later[37];
    fg_uuid_new(u);
    assert_true(fg_uuid_valid(u, 36));
    assert_int_equal(u[14], '7');           /* version 7 */
    assert_non_null(strchr("89ab", u[19])); /* RFC 9562 variant */
    /* time-ordered: an id made a few milliseconds later sorts after */
    struct timespec ts = {0, 3 * 1000 * 1000};
    nanosleep(&ts, NULL);
    fg_uuid_new(later);
    assert_true(strcmp(u, later) < 0);
    /* ids made in a burst, many within one millisecond, still sort in the order they were made
     * (a published batch's deliveries then sit together in the store) */
    char prev[37], next[37];
    fg_uuid_new(prev);
    for (int i = 0; i < 20000; i++) {
        fg_uuid_new(next);
        if (strcmp(prev, next) >= 0)
            fail_msg("%s then %s", prev, next);
        memcpy(prev, next, sizeof(prev));
    }
    /* the leading 48 bits are the Unix time in milliseconds */
    char hex[13];
    memcpy(hex, u, 8);
    memcpy(hex + 8, u + 9, 4);
    hex[12] = '\0';
    int64_t ms = strtoll(hex, NULL, 16);
    int64_t now_ms = fg_time_now_us() / 1000;
    assert_true(ms <= now_ms && ms > now_ms - 10000);
    assert_false(fg_uuid_valid("00000000-0000-0000-0000-000000000000", 36));
    assert_false(fg_uuid_valid("3f1c2a4e-8b9d-4c1e-9f2a-1b2c3d4e5f6g", 36));
    assert_true(fg_event_id_valid("msg_abc-1", 9));
    assert_false(fg_event_id_valid("a b", 3));
    assert_false(fg_event_id_valid("a\x01", 2));
}

static void money_is(const char *json, bool ok, int64_t want)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    int64_t got = -7;
    assert_int_equal(fg_money_parse(v, &got), ok);
    assert_true(got == (ok ? want : -7));
    json_decref(v);
}

/* Two generators seeded apart draw different numbers (rand() without a seed drew the same in
 * every process), each in [0, 1), spread over the interval. */
static void test_rng(void **state)
{
    (void)state;
    fg_rng_t a, b;
    fg_rng_seed(&a);
    fg_rng_seed(&b);
    int same = 0, buckets[10] = {0};
    for (int i = 0; i < 10000; i++) {
        double x = fg_rng_unit(&a), y = fg_rng_unit(&b);
        assert_true(x >= 0.0 && x < 1.0);
        same += x == y;
        buckets[(int)(x * 10)]++;
    }
    assert_true(same < 2);
    for (int i = 0; i < 10; i++)
        assert_in_range(buckets[i], 800, 1200);
}

static void test_money(void **state)
{
    (void)state;
    money_is("\"0.42\"", true, 420000000);
    money_is("\"1\"", true, 1000000000);
    money_is("\"-1.5\"", true, -1500000000);
    money_is("\"+2.000000001\"", true, 2000000001);
    money_is("\"0.0000000015\"", true, 2); /* the tenth decimal rounds */
    money_is("\"0.0000000014\"", true, 1);
    money_is("0.1", true, 100000000);
    money_is("3", true, 3000000000);
    money_is("\"abc\"", false, 0);
    money_is("\"1.\"", false, 0);
    money_is("\".5\"", false, 0);
    money_is("\"99999999999\"", false, 0); /* beyond int64 nano-units */
    money_is("1e300", false, 0);
    money_is("null", false, 0);
    char buf[40];
    fg_money_format(420000000, buf, sizeof(buf));
    assert_string_equal(buf, "0.42");
    fg_money_format(1000000000, buf, sizeof(buf));
    assert_string_equal(buf, "1.00");
    fg_money_format(1000, buf, sizeof(buf));
    assert_string_equal(buf, "0.000001");
    fg_money_format(-1500000000, buf, sizeof(buf));
    assert_string_equal(buf, "-1.50");
    fg_money_format(0, buf, sizeof(buf));
    assert_string_equal(buf, "0.00");
}

/* --- terminal escape sequences ------------------------------------------------------------------
 */

static void expect_strip(const char *in, size_t len, const char *want)
{
    char buf[256];
    memcpy(buf, in, len);
    size_t n = fg_ansi_strip(buf, len);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
}

#define STRIP(in, want) expect_strip(in, sizeof(in) - 1, want)

static void test_ansi_strip(void **state)
{
    (void)state;
    STRIP("plain", "plain");
    STRIP("\x1b[32mok\x1b[0m", "ok");
    STRIP("\x1b[1;38;5;196mred\x1b[m and \x1b[38;2;255;0;0mtrue\x1b[39m", "red and true");
    STRIP("\x1b]8;;https://example.com\x07link\x1b]8;;\x07", "link");
    STRIP("\x1b]0;title\x1b\\after", "after");
    STRIP("a\x1b(Bb\x1b=c\x1b"
          "7d",
          "abcd"); /* charset, keypad, cursor save */
    STRIP("caf\xc3\xa9 \x1b[2Kdone", "caf\xc3\xa9 done");
    STRIP("cut\x1b[3", "cut");
    STRIP("end\x1b", "end");
    STRIP("\x1b]8;;unterminated", "");
}

int run_basics_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cursor_parse),
        cmocka_unit_test(test_transition_table),
        cmocka_unit_test(test_time_parse_and_format),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_money),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_ansi_strip),
    };
    return cmocka_run_group_tests_name("basics", tests, NULL, NULL);
}
