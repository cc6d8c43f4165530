/*
 * test_gateway.c - unit tests of the gateway's configuration: defaults, the JSON file and its
 * errors (each naming the key), environment overrides, custom types, listen addresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "events/event.h"
#include "events/filter.h"
#include "gateway/config.h"
#include "gateway/auth.h"
#include "gateway/hub.h"
#include "gateway/gateway_internal.h"
#include "gateway/routes.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int apply(fg_config_t *cfg, const char *json, char *err, size_t cap)
{
    return fg_config_apply_json(cfg, json, strlen(json), err, cap);
}

static void test_defaults(void **state)
{
    fg_config_t cfg;
    fg_config_defaults(&cfg);
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_string_equal(cfg.data_dir, "./data");
    assert_int_equal(cfg.max_body_bytes, 1 << 20);
    assert_int_equal(cfg.max_event_bytes, 256 << 10);
    assert_int_equal(cfg.max_batch_events, 1000);
    assert_int_equal(cfg.heartbeat_ms, 15000);
    assert_string_equal(cfg.transitions, "warn");
    assert_int_equal(fg_config_sync_mode(&cfg), FG_SYNC_FULL);
    /* in cluster mode the store is a projection of the Redis log: no fsync unless asked */
    snprintf(cfg.cluster_redis_url, sizeof(cfg.cluster_redis_url), "redis://127.0.0.1:1");
    assert_int_equal(fg_config_sync_mode(&cfg), FG_SYNC_NORMAL);
    snprintf(cfg.synchronous, sizeof(cfg.synchronous), "full");
    assert_int_equal(fg_config_sync_mode(&cfg), FG_SYNC_FULL);
    fg_config_dispose(&cfg);
}

static void test_file_values(void **state)
{
    fg_config_t cfg;
    fg_config_defaults(&cfg);
    char err[256];
    assert_int_equal(
        apply(&cfg,
              "{\"listen\":\"[::1]:9000\",\"threads\":3,"
              "\"limits\":{\"max_body_bytes\":2048},"
              "\"store\":{\"synchronous\":\"normal\",\"retention\":{\"max_events\":5}},"
              "\"events\":{\"transitions\":\"enforce\"},"
              "\"sse\":{\"heartbeat_ms\":500}}",
              err, sizeof(err)),
        FG_OK);
    assert_string_equal(cfg.listen, "[::1]:9000");
    assert_int_equal(cfg.threads, 3);
    assert_int_equal(cfg.max_body_bytes, 2048);
    assert_int_equal(cfg.retention_max_events, 5);
    assert_int_equal(fg_config_sync_mode(&cfg), FG_SYNC_NORMAL);
    assert_string_equal(cfg.transitions, "enforce");
    assert_int_equal(cfg.heartbeat_ms, 500);
    fg_config_dispose(&cfg);
}

static void test_file_errors_name_the_key(void **state)
{
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"listn\":\"x\"}", "config key listn: unknown key"},
        {"{\"limits\":{\"max_body\":1}}", "config key limits.max_body: unknown key"},
        {"{\"limits\":{\"max_body_bytes\":\"big\"}}", "limits.max_body_bytes: must be an integer"},
        {"{\"limits\":{\"max_body_bytes\":10}}", "limits.max_body_bytes: out of range"},
        {"{\"threads\":-1}", "config key threads: out of range"},
        {"{\"limits\":5}", "config key limits: must be an object"},
        {"{\"store\":{\"synchronous\":\"sometimes\"}}", "store.synchronous: must be one of"},
        {"{\"events\":{\"transitions\":true}}", "events.transitions: must be a string"},
        {"{\"listen\":\"nohostport\"}", "config key listen: invalid value"},
        {"{\"listen\":\"127.0.0.1:99999\"}", "config key listen: invalid value"},
        {"[1,2]", "top level must be a JSON object"},
        {"{\"threads\":1,\"threads\":2}", "invalid JSON"},
        {"{\"threads\":", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fg_config_t cfg;
        fg_config_defaults(&cfg);
        char err[256] = "";
        assert_int_equal(apply(&cfg, cases[i].json, err, sizeof(err)), FG_ERR_INVALID);
        if (strstr(err, cases[i].needle) == NULL)
            fail_msg("for %s expected '%s' in '%s'", cases[i].json, cases[i].needle, err);
        assert_null(strchr(err, '\n')); /* one line */
        fg_config_dispose(&cfg);
    }
}

static void test_environment_overrides(void **state)
{
    fg_config_t cfg;
    fg_config_defaults(&cfg);
    char err[256];
    assert_int_equal(
        apply(&cfg, "{\"listen\":\"127.0.0.1:1000\",\"sse\":{\"retry_ms\":10}}", err, sizeof(err)),
        FG_OK);
    char *env[] = {"FLOWGATE_LISTEN=127.0.0.1:2000", "FLOWGATE_SSE_RETRY_MS=20",
                   "FLOWGATE_DATA_DIR=/tmp/x", "OTHER=1", NULL};
    assert_int_equal(fg_config_apply_env(&cfg, env, err, sizeof(err)), FG_OK);
    assert_string_equal(cfg.listen, "127.0.0.1:2000");
    assert_int_equal(cfg.retry_ms, 20);
    assert_string_equal(cfg.data_dir, "/tmp/x");
    char *bad[] = {"FLOWGATE_THREADS=many", NULL};
    assert_int_equal(fg_config_apply_env(&cfg, bad, err, sizeof(err)), FG_ERR_INVALID);
    assert_non_null(strstr(err, "threads"));
    assert_non_null(strstr(err, "FLOWGATE_THREADS"));
    /* a flag (fg_config_set) wins over both */
    assert_int_equal(fg_config_set(&cfg, "listen", "127.0.0.1:3000", err, sizeof(err)), FG_OK);
    assert_string_equal(cfg.listen, "127.0.0.1:3000");
    assert_int_equal(fg_config_set(&cfg, "log_level", "loud", err, sizeof(err)), FG_ERR_INVALID);
    fg_config_dispose(&cfg);
}

static void test_custom_types_from_config(void **state)
{
    fg_config_t cfg;
    fg_config_defaults(&cfg);
    char err[256];
    assert_int_equal(
        apply(&cfg,
              "{\"events\":{\"custom_types\":{\"run_budget_exceeded\":{\"run_id\":\"uuid\","
              "\"limit_usd\":\"decimal\",\"note?\":\"string\"},\"signal_received\":{}}}}",
              err, sizeof(err)),
        FG_OK);
    fg_catalog_t *cat = fg_catalog_create();
    assert_int_equal(fg_config_add_custom_types(&cfg, cat, err, sizeof(err)), FG_OK);
    int idx = fg_catalog_find(cat, "run_budget_exceeded", 19);
    assert_true(idx >= FG_EV_BUILTIN_COUNT);
    const fg_type_spec_t *t = fg_catalog_type(cat, (size_t)idx);
    assert_int_equal(t->nfields, 3);
    assert_string_equal(t->fields[2].name, "note");
    assert_true(t->fields[2].optional);
    assert_true(fg_catalog_find(cat, "signal_received", 15) >= 0);
    fg_catalog_destroy(cat);
    fg_config_dispose(&cfg);

    fg_config_defaults(&cfg);
    assert_int_equal(apply(&cfg, "{\"events\":{\"custom_types\":{\"x_y\":{\"a\":\"uuidd\"}}}}", err,
                           sizeof(err)),
                     FG_OK);
    cat = fg_catalog_create();
    assert_int_equal(fg_config_add_custom_types(&cfg, cat, err, sizeof(err)), FG_ERR_INVALID);
    assert_non_null(strstr(err, "events.custom_types.x_y"));
    fg_catalog_destroy(cat);
    fg_config_dispose(&cfg);

    fg_config_defaults(&cfg);
    assert_int_equal(
        apply(&cfg, "{\"events\":{\"custom_types\":{\"log_line\":{}}}}", err, sizeof(err)), FG_OK);
    cat = fg_catalog_create();
    assert_int_equal(fg_config_add_custom_types(&cfg, cat, err, sizeof(err)), FG_ERR_INVALID);
    assert_non_null(strstr(err, "events.custom_types.log_line"));
    fg_catalog_destroy(cat);
    fg_config_dispose(&cfg);
}

static void test_allow_networks(void **state)
{
    fg_config_t cfg;
    fg_config_defaults(&cfg);
    char err[256];
    fg_cidr_t nets[8];
    size_t n;
    assert_int_equal(fg_config_allow_networks(&cfg, nets, 8, &n), FG_OK);
    assert_int_equal(n, 0);
    assert_int_equal(apply(&cfg,
                           "{\"webhooks\":{\"allow_networks\":[\"127.0.0.0/8\",\"::1/128\"]}}", err,
                           sizeof(err)),
                     FG_OK);
    assert_int_equal(fg_config_allow_networks(&cfg, nets, 8, &n), FG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(nets[1].prefix, 128);
    char *env[] = {"FLOWGATE_WEBHOOKS_ALLOW_NETWORKS=10.0.0.0/8", NULL};
    assert_int_equal(fg_config_apply_env(&cfg, env, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_config_allow_networks(&cfg, nets, 8, &n), FG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(
        apply(&cfg, "{\"webhooks\":{\"allow_networks\":[\"10.0.0.0/33\"]}}", err, sizeof(err)),
        FG_ERR_INVALID);
    assert_non_null(strstr(err, "webhooks.allow_networks"));
    assert_int_equal(
        apply(&cfg, "{\"webhooks\":{\"allow_networks\":\"10.0.0.0/8\"}}", err, sizeof(err)),
        FG_ERR_INVALID);
    fg_config_dispose(&cfg);
}

static void test_listen_addresses(void **state)
{
    char host[64];
    uint16_t port;
    assert_int_equal(fg_config_listen_addr("127.0.0.1:8080", host, sizeof(host), &port), FG_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(fg_config_listen_addr("[::1]:0", host, sizeof(host), &port), FG_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    assert_int_equal(fg_config_listen_addr("localhost:80", host, sizeof(host), &port), FG_OK);
    const char *bad[] = {"", ":80", "host", "host:", "host:x", "host:-1", "host:65536", "[::1]80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(fg_config_listen_addr(bad[i], host, sizeof(host), &port), FG_ERR_INVALID);
}

/* The configuration as a whole: modes resolved once, and what cannot start named by its key. */
static void test_config_resolves_as_a_whole(void **state)
{
    fg_config_t cfg;
    char err[512];
    fg_config_defaults(&cfg);
    assert_int_equal(fg_config_set(&cfg, "events.transitions", "enforce", err, sizeof(err)), FG_OK);
    assert_int_equal(fg_config_set(&cfg, "auth.mode", "required", err, sizeof(err)), FG_OK);
    assert_int_equal(fg_config_set(&cfg, "listen", "[::1]:9000", err, sizeof(err)), FG_OK);
    assert_int_equal(fg_config_resolve(&cfg, err, sizeof(err)), FG_OK);
    assert_true(cfg.r.done);
    assert_true(cfg.r.enforce_transitions);
    assert_int_equal(cfg.r.auth_mode, FG_AUTH_MODE_REQUIRED);
    assert_string_equal(cfg.r.host, "::1");
    assert_int_equal(cfg.r.port, 9000);
    assert_int_equal(cfg.r.sync, FG_SYNC_FULL);
    assert_false(cfg.r.tls);
    assert_null(cfg.r.jwt_public_key_pem);

    assert_int_equal(fg_config_set(&cfg, "tls.cert_file", "/nonexistent.crt", err, sizeof(err)),
                     FG_OK);
    assert_int_equal(fg_config_resolve(&cfg, err, sizeof(err)), FG_ERR_INVALID);
    assert_non_null(strstr(err, "tls.cert_file and tls.key_file go together"));
    assert_false(cfg.r.done);
    assert_int_equal(fg_config_set(&cfg, "tls.key_file", "/nonexistent.key", err, sizeof(err)),
                     FG_OK);
    assert_int_equal(fg_config_resolve(&cfg, err, sizeof(err)), FG_OK);
    assert_true(cfg.r.tls);

    assert_int_equal(
        fg_config_set(&cfg, "auth.jwt.public_key_file", "/nonexistent.pem", err, sizeof(err)),
        FG_OK);
    assert_int_equal(fg_config_resolve(&cfg, err, sizeof(err)), FG_ERR_INVALID);
    assert_non_null(strstr(err, "config key auth.jwt.public_key_file"));
    char pem[] = "/tmp/fg-unit-pem-XXXXXX";
    int fd = mkstemp(pem);
    assert_true(fd >= 0);
    static const char key[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    assert_int_equal(write(fd, key, sizeof(key) - 1), (ssize_t)(sizeof(key) - 1));
    close(fd);
    assert_int_equal(fg_config_set(&cfg, "auth.jwt.public_key_file", pem, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_config_resolve(&cfg, err, sizeof(err)), FG_OK);
    assert_string_equal(cfg.r.jwt_public_key_pem, key);
    unlink(pem);
    fg_config_dispose(&cfg);
    assert_null(cfg.r.jwt_public_key_pem);
}

/* --- the stream hub ---------------------------------------------------------------------- */

#define RUN_A "3f1c2a4e-8b9d-4c1e-9f2a-1b2c3d4e5f60"
#define RUN_B "11111111-2222-4333-8444-555555555555"

typedef struct {
    fg_hub_sub_t sub;
    fg_filter_t filter;
    int hits;
    bool detach_on_delivery; /* as a stream that is cut off while being delivered to */
} test_sub_t;

static fg_hub_t *the_hub;

static void record(fg_hub_sub_t *sub, fg_event_t *ev, void *ctx)
{
    test_sub_t *s = (test_sub_t *)((char *)sub - offsetof(test_sub_t, sub));
    s->hits++;
    (*(int *)ctx)++;
    if (s->detach_on_delivery)
        fg_hub_detach(the_hub, sub);
}

static void sub_init(test_sub_t *s, fg_catalog_t *cat, const char *types, const char *runs)
{
    memset(s, 0, sizeof(*s));
    fg_filter_init(&s->filter);
    fg_verr_t err;
    if (types)
        assert_int_equal(fg_filter_add_types(&s->filter, cat, types, strlen(types), &err), FG_OK);
    if (runs)
        assert_int_equal(fg_filter_add_runs(&s->filter, runs, strlen(runs), &err), FG_OK);
}

static fg_event_t *event_of(fg_catalog_t *cat, uint64_t seq, int type, const char *run)
{
    return fg_event_create(seq, type, fg_catalog_type(cat, (size_t)type)->name, "id", run, NULL,
                           "{}", 2);
}

static void test_hub_delivers_each_match_once(void **state)
{
    fg_catalog_t *cat = fg_catalog_create();
    fg_hub_t hub;
    int total = 0;
    assert_int_equal(fg_hub_init(&hub, 10, record, &total), FG_OK);
    the_hub = &hub;
    test_sub_t all, logs, approvals, run_a, runs_ab_logs;
    sub_init(&all, cat, NULL, NULL);
    sub_init(&logs, cat, "log_line", NULL);
    sub_init(&approvals, cat, "approval_*", NULL);
    sub_init(&run_a, cat, NULL, RUN_A);
    sub_init(&runs_ab_logs, cat, "log_line", RUN_A "," RUN_B);
    test_sub_t *subs[] = {&all, &logs, &approvals, &run_a, &runs_ab_logs};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(
            fg_hub_attach(&hub, &subs[i]->sub, &subs[i]->filter, fg_catalog_count(cat)), FG_OK);
    assert_int_equal(hub.nsubs, 5);

    fg_event_t *evs[] = {
        event_of(cat, 11, FG_EV_LOG_LINE, RUN_A),
        event_of(cat, 12, FG_EV_APPROVAL_GRANTED, RUN_B),
        event_of(cat, 13, FG_EV_USER_SIGNED_IN, NULL),
        event_of(cat, 14, FG_EV_LOG_LINE, RUN_B),
    };
    for (size_t i = 0; i < 4; i++)
        fg_hub_publish(&hub, evs[i]);
    assert_int_equal(hub.high_seq, 14);
    assert_int_equal(all.hits, 4);
    assert_int_equal(logs.hits, 2);
    assert_int_equal(approvals.hits, 1);
    assert_int_equal(run_a.hits, 1);
    assert_int_equal(runs_ab_logs.hits, 2); /* in two run buckets, yet each event once */
    assert_int_equal(total, 10);

    /* detached subscribers receive nothing more; the hub forgets empty run buckets */
    fg_hub_detach(&hub, &run_a.sub);
    fg_hub_detach(&hub, &run_a.sub); /* idempotent */
    fg_hub_publish(&hub, evs[0]);
    assert_int_equal(run_a.hits, 1);
    assert_int_equal(hub.nsubs, 4);

    for (size_t i = 0; i < 4; i++)
        fg_event_release(evs[i]);
    fg_hub_dispose(&hub); /* detaches the rest */
    for (size_t i = 0; i < 5; i++)
        fg_filter_dispose(&subs[i]->filter);
    fg_catalog_destroy(cat);
}

static void test_hub_detach_during_delivery(void **state)
{
    fg_catalog_t *cat = fg_catalog_create();
    fg_hub_t hub;
    int total = 0;
    assert_int_equal(fg_hub_init(&hub, 0, record, &total), FG_OK);
    the_hub = &hub;
    /* three subscribers in one run bucket, all detaching themselves when delivered to (so the
     * bucket is freed while it is being walked), and three in one type list, of which the first
     * and the last detach themselves */
    test_sub_t s[6];
    for (int i = 0; i < 6; i++) {
        sub_init(&s[i], cat, i < 3 ? NULL : "log_line", i < 3 ? RUN_A : NULL);
        s[i].detach_on_delivery = i != 4;
        assert_int_equal(fg_hub_attach(&hub, &s[i].sub, &s[i].filter, fg_catalog_count(cat)),
                         FG_OK);
    }
    fg_event_t *ev = event_of(cat, 1, FG_EV_LOG_LINE, RUN_A);
    fg_hub_publish(&hub, ev);
    for (int i = 0; i < 6; i++)
        assert_int_equal(s[i].hits, 1);
    assert_int_equal(hub.nsubs, 1);
    fg_hub_publish(&hub, ev); /* the run bucket is gone; only the one type subscriber is left */
    assert_int_equal(s[4].hits, 2);
    assert_int_equal(s[0].hits + s[1].hits + s[2].hits, 3);
    assert_int_equal(total, 7);
    fg_event_release(ev);
    fg_hub_dispose(&hub);
    for (int i = 0; i < 6; i++)
        fg_filter_dispose(&s[i].filter);
    fg_catalog_destroy(cat);
}

extern const char fg_openapi_json[];
extern const size_t fg_openapi_json_len;

/* The route table (what the server dispatches through) and the OpenAPI document served at
 * /v1/openapi.json (built from gateway/openapi.json) describe the same routes, both ways, with
 * the same scopes. */
static void test_openapi_matches_the_routes(void **state)
{
    json_error_t jerr;
    json_t *doc = json_loadb(fg_openapi_json, fg_openapi_json_len, 0, &jerr);
    if (doc == NULL)
        fail_msg("openapi.json: %s at line %d", jerr.text, jerr.line);
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    json_t *paths = json_object_get(doc, "paths");
    for (size_t i = 0; i < fg_nroutes; i++) {
        char method[16];
        size_t n = strlen(fg_routes[i].method);
        for (size_t k = 0; k <= n; k++)
            method[k] = (char)tolower((unsigned char)fg_routes[i].method[k]);
        json_t *op = json_object_get(json_object_get(paths, fg_routes[i].path), method);
        if (op == NULL)
            fail_msg("%s %s is served but not documented", fg_routes[i].method, fg_routes[i].path);
        const char *scope = json_string_value(json_object_get(op, "x-scope"));
        const char *want = fg_routes[i].scope == FG_SCOPE_PUBLISH     ? "publish"
                           : fg_routes[i].scope == FG_SCOPE_SUBSCRIBE ? "subscribe"
                           : fg_routes[i].scope == FG_SCOPE_ADMIN     ? "admin"
                                                                      : NULL;
        if ((want == NULL) != (scope == NULL) || (want && strcmp(want, scope) != 0))
            fail_msg("%s %s: documented scope %s, served %s", fg_routes[i].method,
                     fg_routes[i].path, scope ? scope : "none", want ? want : "none");
    }
    const char *path;
    json_t *item;
    size_t documented = 0;
    json_object_foreach(paths, path, item)
    {
        const char *m;
        json_t *op;
        json_object_foreach(item, m, op)
        {
            char upper[16];
            snprintf(upper, sizeof(upper), "%s", m);
            for (char *c = upper; *c; c++)
                *c = (char)toupper((unsigned char)*c);
            bool found = false;
            for (size_t i = 0; i < fg_nroutes && !found; i++)
                found =
                    strcmp(fg_routes[i].path, path) == 0 && strcmp(fg_routes[i].method, upper) == 0;
            if (!found)
                fail_msg("%s %s is documented but not served", upper, path);
            documented++;
        }
    }
    assert_int_equal(documented, fg_nroutes);
    json_decref(doc);
}

static void test_route_matching(void **state)
{
    bool known;
    char allow[64];
    h2o_iovec_t param;
    const fg_route_t *r =
        fg_route_match("GET", 3, "/v1/runs/abc/stream", 19, &param, &known, allow, sizeof(allow));
    assert_non_null(r);
    assert_ptr_equal(r->handle, fg_stream_handle);
    assert_true(h2o_memis(param.base, param.len, H2O_STRLIT("abc")));
    assert_null(
        fg_route_match("GET", 3, "/v1/runs//stream", 16, &param, &known, allow, sizeof(allow)));
    assert_false(known);
    assert_null(
        fg_route_match("GET", 3, "/v1/runs/a/b/stream", 19, &param, &known, allow, sizeof(allow)));
    assert_null(fg_route_match("PUT", 3, "/v1/events", 10, &param, &known, allow, sizeof(allow)));
    assert_true(known);
    assert_string_equal(allow, "POST, GET");
    r = fg_route_match("POST", 4, "/v1/webhooks/wh_1/secret/rotate", 31, &param, &known, allow,
                       sizeof(allow));
    assert_non_null(r);
    assert_int_equal(r->scope, FG_SCOPE_ADMIN);
    assert_ptr_equal(r->handle, fg_wh_rotate_handle);
    assert_true(h2o_memis(param.base, param.len, H2O_STRLIT("wh_1")));
    /* a route without a parameter gets none */
    r = fg_route_match("GET", 3, "/v1/events", 10, &param, &known, allow, sizeof(allow));
    assert_ptr_equal(r->handle, fg_query_handle);
    assert_int_equal(param.len, 0);
    assert_null(fg_route_match("GET", 3, "/v1/eventsx", 11, &param, &known, allow, sizeof(allow)));
    assert_false(known);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_values),
        cmocka_unit_test(test_file_errors_name_the_key),
        cmocka_unit_test(test_environment_overrides),
        cmocka_unit_test(test_custom_types_from_config),
        cmocka_unit_test(test_listen_addresses),
        cmocka_unit_test(test_config_resolves_as_a_whole),
        cmocka_unit_test(test_allow_networks),
        cmocka_unit_test(test_hub_delivers_each_match_once),
        cmocka_unit_test(test_hub_detach_during_delivery),
        cmocka_unit_test(test_openapi_matches_the_routes),
        cmocka_unit_test(test_route_matching),
    };
    return cmocka_run_group_tests_name("gateway", tests, NULL, NULL);
}
