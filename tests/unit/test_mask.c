/*
 * test_mask.c - logs.mask: literals and regexes replaced with *** in an event's string values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "events/err.h"
#include "events/mask.h"

#include <stdlib.h>
#include <string.h>

int run_mask_tests(void);

static fg_mask_t *make(const char *spec_json)
{
    json_error_t jerr;
    json_t *spec = json_loads(spec_json, 0, &jerr);
    assert_non_null(spec);
    fg_mask_t *m = NULL;
    char err[256] = "";
    assert_int_equal(fg_mask_create(spec, &m, err, sizeof(err)), FG_OK);
    json_decref(spec);
    return m;
}

static void expect_text(const fg_mask_t *m, const char *in, size_t len, const char *want,
                        size_t want_len)
{
    char *out;
    size_t n;
    assert_int_equal(fg_mask_text(m, in, len, &out, &n), FG_OK);
    assert_int_equal(n, want_len);
    assert_memory_equal(out, want, n);
    assert_int_equal(out[n], '\0');
    free(out);
}

#define TEXT(m, in, want) expect_text(m, in, strlen(in), want, strlen(want))

static void test_literals_and_regexes(void **state)
{
    (void)state;
    fg_mask_t *m = make("[\"s3cr3t\", {\"regex\": \"ghp_[A-Za-z0-9]{36}\"},"
                        " {\"regex\": \"AKIA[0-9A-Z]{16}\"}]");
    TEXT(m, "nothing here", "nothing here");
    TEXT(m, "s3cr3t", "***");
    TEXT(m, "pw=s3cr3t and again s3cr3ts3cr3t.", "pw=*** and again ******.");
    TEXT(m, "token ghp_abcdefghijklmnopqrstuvwxyz0123456789 used", "token *** used");
    TEXT(m, "ghp_short stays", "ghp_short stays");
    TEXT(m, "AKIAABCDEFGHIJKLMNOP,AKIAABCDEFGHIJKLMNOP", "***,***");
    TEXT(m, "", "");
    /* a NUL does not hide what follows it */
    expect_text(m, "a\0s3cr3t\0AKIAABCDEFGHIJKLMNOP", 29, "a\0***\0***", 9);
    fg_mask_destroy(m);
}

static void test_anchors_and_boundaries(void **state)
{
    (void)state;
    /* ^ anchors at the start only; a pattern with empty matches inside moves on */
    fg_mask_t *m = make("[{\"regex\": \"^key=[a-z]+\"}, {\"regex\": \"x\\\\>\"}]");
    TEXT(m, "key=abc key=def", "*** key=def");
    TEXT(m, "box fox", "bo*** fo***");
    fg_mask_destroy(m);
    /* only empty matches (a word start): nothing replaced, and the scan ends */
    m = make("[{\"regex\": \"\\\\<\"}]");
    TEXT(m, "ab cd", "ab cd");
    fg_mask_destroy(m);
}

static void test_event_values_masked_identifiers_kept(void **state)
{
    (void)state;
    fg_mask_t *m = make("[\"hunter2\", {\"regex\": \"[0-9a-f]{8}-[0-9a-f]{4}\"}]");
    json_error_t jerr;
    json_t *ev = json_loads(
        "{\"type\":\"log_line\",\"run_id\":\"3f1c2a4e-8b9d-4c1e-9f2a-1b2c3d4e5f60\","
        "\"step_id\":\"0b7d2e51-1111-4c1e-9f2a-1b2c3d4e5f61\",\"line\":\"login hunter2 ok\","
        "\"labels\":{\"env\":\"hunter2\",\"list\":[\"hunter2\",1,\"id 3f1c2a4e-8b9d\"]}}",
        0, &jerr);
    assert_non_null(ev);
    assert_int_equal(fg_mask_event(m, ev), FG_OK);
    char *s = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"labels\":{\"env\":\"***\",\"list\":[\"***\",1,\"id ***\"]},"
                           "\"line\":\"login *** ok\","
                           "\"run_id\":\"3f1c2a4e-8b9d-4c1e-9f2a-1b2c3d4e5f60\","
                           "\"step_id\":\"0b7d2e51-1111-4c1e-9f2a-1b2c3d4e5f61\","
                           "\"type\":\"log_line\"}");
    free(s);
    json_decref(ev);
    assert_int_equal(fg_mask_event(NULL, NULL), FG_OK); /* no masks: nothing to do */
    fg_mask_destroy(m);
}

static void test_bad_specs_name_the_item(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *says;
    } bad[] = {
        {"[\"ok\", 42]", "logs.mask[1]: each mask is a literal string or {\"regex\": \"…\"}"},
        {"[\"\"]", "logs.mask[0]: empty"},
        {"[{\"regex\": \"a(\"}]", "logs.mask[0]: the regex does not compile: "},
        {"[\"x\", {\"regex\": \"a*\"}]", "logs.mask[1]: the regex matches the empty string"},
        {"[{\"regex\": \"a\", \"flags\": \"i\"}]", "logs.mask[0]: each mask is"},
        {"[{\"pattern\": \"a\"}]", "logs.mask[0]: each mask is"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_error_t jerr;
        json_t *spec = json_loads(bad[i].spec, 0, &jerr);
        assert_non_null(spec);
        fg_mask_t *m = (fg_mask_t *)1;
        char err[256] = "";
        assert_int_equal(fg_mask_create(spec, &m, err, sizeof(err)), FG_ERR_INVALID);
        assert_null(m);
        assert_non_null(strstr(err, bad[i].says));
        json_decref(spec);
    }
    fg_mask_t *m = (fg_mask_t *)1;
    char err[64];
    assert_int_equal(fg_mask_create(NULL, &m, err, sizeof(err)), FG_OK);
    assert_null(m);
}

int run_mask_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals_and_regexes),
        cmocka_unit_test(test_anchors_and_boundaries),
        cmocka_unit_test(test_event_values_masked_identifiers_kept),
        cmocka_unit_test(test_bad_specs_name_the_item),
    };
    return cmocka_run_group_tests_name("mask", tests, NULL, NULL);
}
