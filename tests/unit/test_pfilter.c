/*
 * test_pfilter.c - payload filters (events/pfilter.h): every operator on a table of events,
 * and/or/not, paths into objects and arrays, numbers as strings, and each kind of bad filter
 * refused with its position.
 */
#include "events/err.h"
#include "events/pfilter.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

static const char *event =
    "{\"type\":\"run_failed\",\"run_id\":\"3f1c2a4e-8b9d-4c1e-9f2a-1b2c3d4e5f60\","
    "\"workflow_name\":\"deploy-api\",\"cost_usd\":\"2.50\",\"duration_ms\":91000,"
    "\"labels\":{\"env\":\"prod\",\"team\":\"core\"},\"steps\":[{\"name\":\"build\"},"
    "{\"name\":\"test\"}],\"error\":null,\"retried\":true}";

static bool matches(const char *filter)
{
    fg_pfilter_t *f = NULL;
    fg_verr_t err;
    if (fg_pfilter_compile(filter, strlen(filter), &f, &err) != FG_OK)
        fail_msg("%s: %s", filter, err.message);
    json_t *ev = json_loads(event, 0, NULL);
    bool m = fg_pfilter_match(f, ev);
    json_decref(ev);
    fg_pfilter_free(f);
    return m;
}

static void test_operators(void **state)
{
    (void)state;
    static const struct {
        const char *filter;
        bool want;
    } cases[] = {
        {"{}", true},
        {"{\"workflow_name\":\"deploy-api\"}", true},
        {"{\"workflow_name\":\"deploy\"}", false},
        {"{\"workflow_name\":{\"$in\":[\"deploy\",\"deploy-api\"]},\"labels.env\":\"prod\"}", true},
        {"{\"workflow_name\":{\"$in\":[\"deploy\",\"release\"]},\"labels.env\":\"prod\"}", false},
        {"{\"workflow_name\":{\"$nin\":[\"deploy\"]}}", true},
        {"{\"missing\":{\"$nin\":[\"x\"]}}", true},
        {"{\"missing\":{\"$ne\":\"x\"}}", true},
        {"{\"labels.team\":{\"$ne\":\"core\"}}", false},
        {"{\"workflow_name\":{\"$prefix\":\"deploy-\"}}", true},
        {"{\"workflow_name\":{\"$prefix\":\"deploy-api-x\"}}", false},
        {"{\"duration_ms\":{\"$prefix\":\"9\"}}", false}, /* a number is no string */
        {"{\"duration_ms\":91000}", true},
        {"{\"duration_ms\":91000.0}", true},
        {"{\"duration_ms\":{\"$gt\":90000,\"$lte\":91000}}", true},
        {"{\"duration_ms\":{\"$gt\":91000}}", false},
        {"{\"cost_usd\":{\"$gt\":1}}", true}, /* a decimal string compares as a number */
        {"{\"cost_usd\":{\"$lt\":2.5}}", false},
        {"{\"cost_usd\":{\"$gte\":2.5}}", true},
        {"{\"workflow_name\":{\"$gt\":0}}", false}, /* not a number */
        {"{\"error\":null}", true},
        {"{\"error\":{\"$exists\":true}}", true},
        {"{\"nothing\":{\"$exists\":false}}", true},
        {"{\"labels.env\":{\"$exists\":false}}", false},
        {"{\"retried\":true}", true},
        {"{\"retried\":false}", false},
        {"{\"steps.1.name\":\"test\"}", true},
        {"{\"steps.2.name\":{\"$exists\":false}}", true},
        {"{\"labels.env.deeper\":\"prod\"}", false},
        {"{\"$or\":[{\"labels.env\":\"staging\"},{\"cost_usd\":{\"$gt\":2}}]}", true},
        {"{\"$or\":[{\"labels.env\":\"staging\"},{\"cost_usd\":{\"$gt\":3}}]}", false},
        {"{\"$and\":[{\"labels.env\":\"prod\"},{\"labels.team\":\"core\"}]}", true},
        {"{\"$not\":{\"labels.env\":\"prod\"}}", false},
        {"{\"$not\":{\"$or\":[{\"type\":\"run_created\"},{\"type\":\"log_line\"}]}}", true},
        {"{\"type\":{\"$eq\":\"run_failed\"},\"$not\":{\"labels.team\":\"web\"}}", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (matches(cases[i].filter) != cases[i].want)
            fail_msg("%s: want %s", cases[i].filter, cases[i].want ? "a match" : "none");
}

static void test_bad_filters_name_their_position(void **state)
{
    (void)state;
    static const struct {
        const char *filter, *at; /* at: the message's "at …" */
    } cases[] = {
        {"{\"a\":", "at character 5"},
        {"[1]", "at the top"},
        {"{\"a\":{\"$gt\":\"x\"}}", "at a.$gt: must be a number"},
        {"{\"a\":{\"$in\":[]}}", "at a.$in"},
        {"{\"a\":{\"$in\":[{\"x\":1}]}}", "at a.$in"},
        {"{\"a\":{\"$regex\":\"x\"}}", "at a.$regex: not an operator"},
        {"{\"a\":{}}", "at a:"},
        {"{\"a\":[1]}", "at a:"},
        {"{\"$or\":[{\"b\":1},{\"c\":{\"$lt\":true}}]}", "at $or[1].c.$lt"},
        {"{\"$or\":{}}", "at $or:"},
        {"{\"$xor\":[]}", "at $xor: not a filter operator"},
        {"{\"a..b\":1}", "at a..b:"},
        {"{\"a\":{\"$exists\":1}}", "at a.$exists"},
        {"{\"a\":{\"$prefix\":\"\"}}", "at a.$prefix"},
        {"{\"a\":1,\"a\":2}", "duplicate"},
        {"{\"$not\":{\"$not\":{\"$not\":{\"$not\":{\"$not\":{\"$not\":{\"$not\":{\"$not\":{\"a\":1}"
         "}"
         "}}}}}}}",
         "nested more than 8"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fg_pfilter_t *f = NULL;
        fg_verr_t err;
        if (fg_pfilter_compile(cases[i].filter, strlen(cases[i].filter), &f, &err) !=
            FG_ERR_INVALID)
            fail_msg("%s: taken", cases[i].filter);
        assert_null(f);
        assert_string_equal(err.code, "invalid_filter");
        assert_string_equal(err.field, "filter");
        if (strstr(err.message, cases[i].at) == NULL)
            fail_msg("%s: \"%s\" does not say \"%s\"", cases[i].filter, err.message, cases[i].at);
    }
    /* 64 conditions, not 65 */
    char big[2048] = "{";
    for (int i = 0; i < 65; i++)
        snprintf(big + strlen(big), sizeof(big) - strlen(big), "%s\"f%d\":1", i ? "," : "", i);
    strcat(big, "}");
    fg_pfilter_t *f = NULL;
    fg_verr_t err;
    assert_int_equal(fg_pfilter_compile(big, strlen(big), &f, &err), FG_ERR_INVALID);
    assert_non_null(strstr(err.message, "at most 64"));
    size_t cut = strlen(big) - strlen(",\"f64\":1}"); /* drop the 65th */
    big[cut] = '}';
    big[cut + 1] = '\0';
    assert_int_equal(fg_pfilter_compile(big, strlen(big), &f, &err), FG_OK);
    json_t *back = fg_pfilter_json(f);
    assert_int_equal(json_object_size(back), 64);
    json_decref(back);
    fg_pfilter_free(f);
}

int run_pfilter_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_bad_filters_name_their_position),
    };
    return cmocka_run_group_tests_name("pfilter", tests, NULL, NULL);
}
