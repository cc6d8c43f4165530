/*
 * test_outbox.c - webhook subscriptions (defaults, filters, PATCH, validation), the outbox
 * against a real store and writer, the dispatcher's stop, and the endpoint breaker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "events/store.h"
#include "webhooks/outbox_store.h"
#include "events/writer.h"
#include "webhooks/addr.h"
#include "webhooks/breaker.h"
#include "webhooks/chat.h"
#include "webhooks/dispatcher.h"
#include "webhooks/outbox.h"
#include "webhooks/retry.h"
#include "webhooks/sign.h"
#include "webhooks/subscription.h"
#include "webhooks/url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int run_outbox_tests(void);

/* --- subscriptions --------------------------------------------------------------------- */

#define RUN "3f1c2a4e-8b9d-4c1e-9f2a-1b2c3d4e5f60"

static int apply_text(fg_wh_sub_t *sub, const char *text, bool create, const fg_catalog_t *cat,
                      const fg_cidr_t *allow, size_t nallow, fg_verr_t *err)
{
    json_t *obj = json_loads(text, 0, NULL);
    assert_non_null(obj);
    int rc = fg_wh_sub_apply_json(sub, obj, create, cat, allow, nallow, err);
    json_decref(obj);
    return rc;
}

static fg_event_t *event(const fg_catalog_t *cat, int type, const char *run, const char *wf)
{
    return fg_event_create(1, type, fg_catalog_type(cat, (size_t)type)->name, "i", run, wf, "{}",
                           2);
}

static void test_subscription_defaults_and_rendering(void **state)
{
    fg_catalog_t *cat = fg_catalog_create();
    fg_wh_sub_t sub;
    fg_wh_sub_init(&sub);
    fg_verr_t err;
    assert_int_equal(
        apply_text(&sub, "{\"url\":\"https://hooks.example.com/in\"}", true, cat, NULL, 0, &err),
        FG_OK);
    assert_memory_equal(sub.id, "wh_", 3);
    assert_true(sub.enabled);
    assert_int_equal(sub.max_in_flight, 4);
    assert_int_equal(sub.ordering, FG_WH_ORDER_NONE);
    assert_int_equal(sub.signature, FG_WH_SIG_STANDARD);
    unsigned char key[FG_WH_KEY_MAX];
    size_t keylen;
    assert_int_equal(fg_wh_secret_decode(sub.secret, key, &keylen), FG_OK);
    fg_event_t *ev = event(cat, FG_EV_USER_SIGNED_IN, NULL, NULL);
    assert_true(fg_wh_sub_matches(&sub, ev)); /* no event_types: everything */
    fg_event_release(ev);
    json_t *shown = fg_wh_sub_to_json(&sub, false);
    assert_null(json_object_get(shown, "secret"));
    assert_string_equal(json_string_value(json_array_get(json_object_get(shown, "event_types"), 0)),
                        "*");
    json_decref(shown);
    shown = fg_wh_sub_to_json(&sub, true);
    assert_string_equal(json_string_value(json_object_get(shown, "secret")), sub.secret);
    json_decref(shown);
    fg_wh_sub_dispose(&sub);
    fg_catalog_destroy(cat);
}

static void test_subscription_filters_and_patch(void **state)
{
    fg_catalog_t *cat = fg_catalog_create();
    fg_wh_sub_t sub;
    fg_wh_sub_init(&sub);
    fg_verr_t err;
    const char *full = "{\"url\":\"https://chat.example.com/hook\","
                       "\"event_types\":[\"approval_*\",\"run_failed\"],\"run_id\":\"" RUN "\","
                       "\"workflow\":[\"deploy\",\"nightly\"],\"description\":\"ops channel\","
                       "\"enabled\":true,\"headers\":{\"X-Team\":\"ops\"},\"max_in_flight\":8,"
                       "\"ordering\":\"per_run\",\"signature\":\"github\",\"format\":\"slack\","
                       "\"secret\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}";
    assert_int_equal(apply_text(&sub, full, true, cat, NULL, 0, &err), FG_OK);
    assert_string_equal(sub.secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert_int_equal(sub.nheaders, 1);
    assert_string_equal(sub.header_names[0], "x-team");
    assert_int_equal(sub.ordering, FG_WH_ORDER_PER_RUN);
    assert_int_equal(sub.signature, FG_WH_SIG_GITHUB);
    assert_int_equal(sub.format, FG_WH_FORMAT_SLACK);
    fg_event_t *yes = event(cat, FG_EV_APPROVAL_REQUESTED, RUN, "deploy");
    fg_event_t *wrong_type = event(cat, FG_EV_LOG_LINE, RUN, "deploy");
    fg_event_t *wrong_wf = event(cat, FG_EV_RUN_FAILED, RUN, "weekly");
    assert_true(fg_wh_sub_matches(&sub, yes));
    assert_false(fg_wh_sub_matches(&sub, wrong_type));
    assert_false(fg_wh_sub_matches(&sub, wrong_wf));

    /* PATCH: only the given fields change; the rest, the id and the secret stay */
    char id[40];
    memcpy(id, sub.id, sizeof(id));
    assert_int_equal(apply_text(&sub, "{\"event_types\":[\"log_line\"],\"enabled\":false}", false,
                                cat, NULL, 0, &err),
                     FG_OK);
    assert_false(sub.enabled);
    assert_true(fg_wh_sub_matches(&sub, wrong_type));
    assert_false(fg_wh_sub_matches(&sub, yes));
    assert_string_equal(sub.id, id);
    assert_string_equal(sub.url, "https://chat.example.com/hook");
    assert_int_equal(sub.max_in_flight, 8);
    /* a failed PATCH changes nothing */
    assert_int_equal(
        apply_text(&sub, "{\"url\":\"ftp://x/\",\"enabled\":true}", false, cat, NULL, 0, &err),
        FG_ERR_INVALID);
    assert_string_equal(err.code, "invalid_url");
    assert_false(sub.enabled);
    assert_string_equal(sub.url, "https://chat.example.com/hook");
    assert_int_equal(apply_text(&sub, "{\"secret\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}",
                                false, cat, NULL, 0, &err),
                     FG_ERR_INVALID);
    fg_event_release(yes);
    fg_event_release(wrong_type);
    fg_event_release(wrong_wf);
    fg_wh_sub_dispose(&sub);
    fg_catalog_destroy(cat);
}

static void test_subscription_validation_errors(void **state)
{
    fg_catalog_t *cat = fg_catalog_create();
    static const struct {
        const char *json, *code;
    } cases[] = {
        {"{}", "missing_url"},
        {"{\"url\":42}", "invalid_field"},
        {"{\"url\":\"not a url\"}", "invalid_url"},
        {"{\"url\":\"http://10.0.0.1/hook\"}", "forbidden_target"},
        {"{\"url\":\"http://169.254.169.254/\"}", "forbidden_target"},
        {"{\"url\":\"http://[::1]/\"}", "forbidden_target"},
        {"{\"url\":\"http://localhost:9000/\"}", "forbidden_target"},
        {"{\"url\":\"https://h.example/\",\"event_types\":[\"nope\"]}", "unknown_type"},
        {"{\"url\":\"https://h.example/\",\"event_types\":[\"a*b\"]}", "invalid_filter"},
        {"{\"url\":\"https://h.example/\",\"event_types\":[]}", "invalid_field"},
        {"{\"url\":\"https://h.example/\",\"event_types\":[3]}", "invalid_field"},
        {"{\"url\":\"https://h.example/\",\"run_id\":\"xyz\"}", "invalid_run_id"},
        {"{\"url\":\"https://h.example/\",\"colour\":\"red\"}", "unknown_field"},
        {"{\"url\":\"https://h.example/\",\"id\":\"wh_mine\"}", "unknown_field"},
        {"{\"url\":\"https://h.example/\",\"headers\":{\"webhook-signature\":\"x\"}}",
         "invalid_field"},
        {"{\"url\":\"https://h.example/\",\"headers\":{\"Content-Type\":\"x\"}}", "invalid_field"},
        {"{\"url\":\"https://h.example/\",\"headers\":{\"X-A\":\"a\\r\\nb\"}}", "invalid_field"},
        {"{\"url\":\"https://h.example/\",\"headers\":{\"bad name\":\"x\"}}", "invalid_field"},
        {"{\"url\":\"https://h.example/\",\"headers\":{\"X-A\":1}}", "invalid_field"},
        {"{\"url\":\"https://h.example/\",\"max_in_flight\":0}", "invalid_field"},
        {"{\"url\":\"https://h.example/\",\"max_in_flight\":101}", "invalid_field"},
        {"{\"url\":\"https://h.example/\",\"max_in_flight\":\"4\"}", "invalid_field"},
        {"{\"url\":\"https://h.example/\",\"ordering\":\"random\"}", "invalid_field"},
        {"{\"url\":\"https://h.example/\",\"signature\":\"md5\"}", "invalid_field"},
        {"{\"url\":\"https://h.example/\",\"format\":\"teams\"}", "invalid_field"},
        {"{\"url\":\"https://h.example/\",\"enabled\":\"yes\"}", "invalid_field"},
        {"{\"url\":\"https://h.example/\",\"secret\":\"hunter2\"}", "invalid_secret"},
        {"{\"url\":\"https://h.example/\",\"description\":7}", "invalid_field"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fg_wh_sub_t sub;
        fg_wh_sub_init(&sub);
        fg_verr_t err;
        int rc = apply_text(&sub, cases[i].json, true, cat, NULL, 0, &err);
        if (rc != FG_ERR_INVALID || strcmp(err.code, cases[i].code) != 0)
            fail_msg("%s: expected %s, got rc=%d %s", cases[i].json, cases[i].code, rc,
                     rc == FG_OK ? "ok" : err.code);
        assert_null(sub.url); /* nothing was built */
        fg_wh_sub_dispose(&sub);
    }
    /* an allow-listed network makes a loopback receiver acceptable (tests, private setups) */
    fg_cidr_t lo;
    assert_int_equal(fg_cidr_parse("127.0.0.0/8", &lo), FG_OK);
    fg_wh_sub_t sub;
    fg_wh_sub_init(&sub);
    fg_verr_t err;
    assert_int_equal(
        apply_text(&sub, "{\"url\":\"http://127.0.0.1:9000/hook\"}", true, cat, &lo, 1, &err),
        FG_OK);
    fg_wh_sub_dispose(&sub);
    fg_catalog_destroy(cat);
}

/* --- the outbox, against a real store and writer ---------------------------------------- */

typedef struct {
    char dir[64], path[96];
    fg_catalog_t *cat;
    fg_cidr_t allow;
    fg_store_t *store;
    fg_writer_t *writer;
    fg_wh_outbox_t *outbox;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
} ofx_t;

static void job_done(fg_writer_job_t *job)
{
    ofx_t *fx = job->udata;
    pthread_mutex_lock(&fx->lock);
    fx->done++;
    pthread_cond_broadcast(&fx->cond);
    pthread_mutex_unlock(&fx->lock);
}

/* Submits a job and waits for its answer. */
static int run_job(ofx_t *fx, fg_writer_job_t *job)
{
    job->done = job_done;
    job->udata = fx;
    pthread_mutex_lock(&fx->lock);
    int before = fx->done;
    pthread_mutex_unlock(&fx->lock);
    assert_int_equal(fg_writer_submit(fx->writer, job), FG_OK);
    pthread_mutex_lock(&fx->lock);
    while (fx->done == before)
        pthread_cond_wait(&fx->cond, &fx->lock);
    pthread_mutex_unlock(&fx->lock);
    return job->status;
}

static void ofx_start(ofx_t *fx, bool enforce)
{
    char err[256];
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &fx->store, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(fx->store), FG_OK);
    fx->outbox = fg_wh_outbox_create(fx->cat, &fx->allow, 1);
    assert_int_equal(fg_wh_outbox_load(fx->outbox, fx->store), FG_OK);
    fg_projection_t outbox = fg_wh_outbox_projection(fx->outbox);
    fg_writer_config_t wc = {.store = fx->store,
                             .cat = fx->cat,
                             .enforce_transitions = enforce,
                             .projections = &outbox,
                             .nprojections = 1};
    assert_int_equal(fg_writer_start(&wc, &fx->writer), FG_OK);
}

static void ofx_stop(ofx_t *fx)
{
    fg_writer_stop(fx->writer);
    fg_wh_outbox_destroy(fx->outbox);
    fg_store_close(fx->store);
}

static int ofx_setup(void **state)
{
    ofx_t *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/fg-wh-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->path, sizeof(fx->path), "%s/flowgate.db", fx->dir);
    fx->cat = fg_catalog_create();
    fg_cidr_parse("127.0.0.0/8", &fx->allow);
    pthread_mutex_init(&fx->lock, NULL);
    pthread_cond_init(&fx->cond, NULL);
    *state = fx;
    return 0;
}

static int ofx_teardown(void **state)
{
    ofx_t *fx = *state;
    fg_catalog_destroy(fx->cat);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
    int rc = system(cmd);
    free(fx);
    return rc == 0 ? 0 : -1;
}

/* Runs a subscription op; returns its status, and the result or error through op. */
static int sub_op(ofx_t *fx, fg_wh_op_t *op, fg_wh_op_kind_t kind, const char *id, const char *body)
{
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    fg_wh_op_init(op, fx->outbox, kind, id, j);
    json_decref(j);
    return run_job(fx, &op->job);
}

/* Publishes events given as JSON texts in one job; returns the job status. */
static int publish_texts(ofx_t *fx, const char **texts, size_t n)
{
    fg_pub_event_t evs[8];
    fg_pub_result_t res[8];
    for (size_t i = 0; i < n; i++) {
        json_t *obj = json_loads(texts[i], 0, NULL);
        fg_verr_t err;
        assert_int_equal(fg_pub_event_prepare(fx->cat, obj, NULL, 65536, 1000, &evs[i], &err),
                         FG_OK);
        json_decref(obj);
    }
    fg_writer_job_t job;
    memset(&job, 0, sizeof(job));
    job.events = evs;
    job.results = res;
    job.n = n;
    int rc = run_job(fx, &job);
    for (size_t i = 0; i < n; i++)
        fg_pub_event_dispose(&evs[i]);
    return rc;
}

static uint64_t pending(ofx_t *fx, const char *sub_id)
{
    /* counted on a second connection: what is committed */
    fg_store_t *s;
    char err[256];
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &s, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(s), FG_OK);
    uint64_t n = 0;
    assert_int_equal(fg_wh_store_delivery_count(s, sub_id, 0, &n), FG_OK);
    fg_store_close(s);
    return n;
}

#define LOG_A                                                                                      \
    "{\"type\":\"log_line\",\"run_id\":\"" RUN "\",\"step_id\":\"" RUN                             \
    "\",\"step_name\":\"b\",\"stream\":\"stdout\",\"line\":\"x\"}"
#define APPROVAL                                                                                   \
    "{\"type\":\"approval_requested\",\"run_id\":\"" RUN "\",\"step_id\":\"" RUN                   \
    "\",\"message\":\"ok?\"}"
#define STATUS(from, to)                                                                           \
    "{\"type\":\"run_status_changed\",\"run_id\":\"" RUN                                           \
    "\",\"workflow_name\":\"w\",\"from\":\"" from "\",\"to\":\"" to                                \
    "\",\"cost_usd\":1,\"duration_ms\":1}"

/* Records the secrets of the subscription named in ctx (a {id, secret, old} struct). */
static void rotated_row(void *ctx, const fg_wh_sub_row_t *row)
{
    struct {
        const char *id;
        char secret[FG_WH_SECRET_MAX], old[FG_WH_SECRET_MAX];
    } *seen = ctx;
    if (strcmp(row->id, seen->id) != 0)
        return;
    snprintf(seen->secret, sizeof(seen->secret), "%s", row->secret);
    snprintf(seen->old, sizeof(seen->old), "%s", row->old_secret ? row->old_secret : "");
}

static void test_outbox_writes_deliveries_with_their_events(void **state)
{
    ofx_t *fx = *state;
    ofx_start(fx, true);
    fg_wh_op_t a, b;
    assert_int_equal(sub_op(fx, &a, FG_WH_OP_CREATE, NULL,
                            "{\"url\":\"http://127.0.0.1:9/a\",\"event_types\":[\"approval_*\"]}"),
                     FG_OK);
    assert_int_equal(sub_op(fx, &b, FG_WH_OP_CREATE, NULL, "{\"url\":\"http://127.0.0.1:9/b\"}"),
                     FG_OK);
    const char *id_a = json_string_value(json_object_get(a.result, "id"));
    const char *id_b = json_string_value(json_object_get(b.result, "id"));
    assert_non_null(json_object_get(a.result, "secret")); /* shown once, at creation */
    const char *batch[] = {LOG_A, APPROVAL, STATUS("pending", "running")};
    assert_int_equal(publish_texts(fx, batch, 3), FG_OK);
    assert_int_equal(pending(fx, id_a), 1); /* the approval only */
    assert_int_equal(pending(fx, id_b), 3); /* everything */

    /* a publish rejected (enforce mode) leaves no delivery behind either */
    const char *bad[] = {APPROVAL, STATUS("running", "pending")};
    assert_int_equal(publish_texts(fx, bad, 2), FG_ERR_CONFLICT);
    assert_int_equal(pending(fx, id_a), 1);
    assert_int_equal(pending(fx, id_b), 3);

    /* PATCH changes what matches from the next event on; a disabled one keeps collecting */
    fg_wh_op_t p;
    assert_int_equal(
        sub_op(fx, &p, FG_WH_OP_PATCH, id_a, "{\"event_types\":[\"log_line\"],\"enabled\":false}"),
        FG_OK);
    assert_false(json_is_true(json_object_get(p.result, "enabled")));
    assert_null(json_object_get(p.result, "secret"));
    const char *more[] = {LOG_A, APPROVAL};
    assert_int_equal(publish_texts(fx, more, 2), FG_OK);
    assert_int_equal(pending(fx, id_a), 2);
    assert_int_equal(pending(fx, id_b), 5);

    /* validation errors and unknown ids change nothing */
    fg_wh_op_t e1, e2, e3;
    assert_int_equal(sub_op(fx, &e1, FG_WH_OP_CREATE, NULL, "{\"url\":\"http://10.0.0.1/\"}"),
                     FG_ERR_INVALID);
    assert_string_equal(e1.err.code, "forbidden_target");
    assert_int_equal(sub_op(fx, &e2, FG_WH_OP_PATCH, "wh_nope", "{\"enabled\":true}"),
                     FG_ERR_NOT_FOUND);
    assert_int_equal(sub_op(fx, &e3, FG_WH_OP_PATCH, id_a, "{\"max_in_flight\":0}"),
                     FG_ERR_INVALID);
    assert_int_equal(fg_wh_outbox_count(fx->outbox), 2);

    /* the set survives a restart: it is reloaded from the store */
    char keep_a[40], keep_b[40];
    snprintf(keep_a, sizeof(keep_a), "%s", id_a);
    snprintf(keep_b, sizeof(keep_b), "%s", id_b);
    fg_wh_op_t *ops[] = {&a, &b, &p, &e1, &e2, &e3};
    for (size_t i = 0; i < 6; i++)
        fg_wh_op_dispose(ops[i]);
    ofx_stop(fx);
    ofx_start(fx, true);
    assert_int_equal(fg_wh_outbox_count(fx->outbox), 2);
    const char *after[] = {LOG_A};
    assert_int_equal(publish_texts(fx, after, 1), FG_OK);
    assert_int_equal(pending(fx, keep_a), 3); /* still log_line, still disabled, still collecting */
    assert_int_equal(pending(fx, keep_b), 6);

    /* rotation: a new secret, the old one kept (and stored) for the grace period */
    fg_wh_op_t r;
    assert_int_equal(sub_op(fx, &r, FG_WH_OP_ROTATE, keep_b, NULL), FG_OK);
    const char *fresh = json_string_value(json_object_get(r.result, "secret"));
    assert_non_null(fresh);
    assert_non_null(json_object_get(r.result, "previous_secret_valid_until"));
    char fresh_copy[FG_WH_SECRET_MAX];
    snprintf(fresh_copy, sizeof(fresh_copy), "%s", fresh);
    fg_wh_op_dispose(&r);
    ofx_stop(fx);
    ofx_start(fx, true); /* what was stored comes back */
    fg_store_t *s2;
    char open_err[256];
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &s2, open_err, sizeof(open_err)),
                     FG_OK);
    assert_int_equal(fg_wh_store_open(s2), FG_OK);
    struct {
        const char *id;
        char secret[FG_WH_SECRET_MAX], old[FG_WH_SECRET_MAX];
    } seen = {keep_b, "", ""};

    assert_int_equal(fg_wh_store_sub_each(s2, rotated_row, &seen), FG_OK);
    fg_store_close(s2);
    assert_string_equal(seen.secret, fresh_copy);
    assert_true(seen.old[0] != '\0' && strcmp(seen.old, fresh_copy) != 0);

    /* DELETE drops the subscription and its deliveries */
    fg_wh_op_t d;
    assert_int_equal(sub_op(fx, &d, FG_WH_OP_DELETE, keep_a, NULL), FG_OK);
    assert_int_equal(pending(fx, keep_a), 0);
    assert_int_equal(fg_wh_outbox_count(fx->outbox), 1);
    fg_wh_op_dispose(&d);
    assert_int_equal(sub_op(fx, &d, FG_WH_OP_DELETE, keep_a, NULL), FG_ERR_NOT_FOUND);
    fg_wh_op_dispose(&d);
    ofx_stop(fx);
}

/* Delivery ids: the same inputs make the same id (every node of a cluster agrees), and one
 * fan-out's ids (one at_us) sort in seq order, the order the dispatcher settles them in. */
static void test_delivery_ids_follow_seq(void **state)
{
    (void)state;
    char prev[FG_WH_DELIVERY_ID_MAX], next[FG_WH_DELIVERY_ID_MAX], again[FG_WH_DELIVERY_ID_MAX];
    const int64_t at = 1796364951416583;
    fg_wh_delivery_id(prev, "wh_a", 1000, at, "");
    for (uint64_t seq = 1001; seq < 1000 + 3000; seq++) {
        fg_wh_delivery_id(next, "wh_a", seq, at, "");
        if (strcmp(prev, next) >= 0)
            fail_msg("seq %llu: %s after %s", (unsigned long long)seq, next, prev);
        memcpy(prev, next, sizeof(prev));
    }
    fg_wh_delivery_id(again, "wh_a", 3999, at, "");
    assert_string_equal(again, next);
    assert_int_equal(strncmp(again, "msg_", 4), 0);
    assert_true(fg_uuid_valid(again + 4, strlen(again + 4)));
    /* another subscription, another replay salt: other ids */
    fg_wh_delivery_id(again, "wh_b", 3999, at, "");
    assert_string_not_equal(again, next);
    fg_wh_delivery_id(again, "wh_a", 3999, at, "salt");
    assert_string_not_equal(again, next);
}

/* A writer job that keeps the writer busy for a while. */
static int slow_apply(fg_writer_job_t *job, fg_store_t *s)
{
    (void)job;
    (void)s;
    usleep(1500 * 1000);
    return FG_OK;
}

static void ignore_done(fg_writer_job_t *job)
{
    (void)job;
}

/* Stopping the dispatcher waits for the outcomes still with the writer (a hand-shake): an
 * attempt's outcome queued behind a slow writer job is committed before stop returns (the
 * polling loop it replaced gave up after a second, and the writer later wrote into freed
 * memory). */
static void test_dispatcher_stop_waits_for_its_outcomes(void **state)
{
    ofx_t *fx = *state;
    ofx_start(fx, false);
    fg_wh_op_t op;
    assert_int_equal(
        sub_op(fx, &op, FG_WH_OP_CREATE, NULL,
               "{\"url\":\"http://127.0.0.1:1/closed\",\"event_types\":[\"log_line\"]}"),
        FG_OK);
    char id[48];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(op.result, "id")));
    fg_wh_op_dispose(&op);
    const char *texts[] = {LOG_A};
    assert_int_equal(publish_texts(fx, texts, 1), FG_OK);
    fg_writer_job_t slow;
    memset(&slow, 0, sizeof(slow));
    slow.apply = slow_apply;
    slow.done = ignore_done;
    assert_int_equal(fg_writer_submit(fx->writer, &slow), FG_OK);
    fg_wh_dispatcher_config_t dc = {.store = fx->store,
                                    .cat = fx->cat,
                                    .allow = &fx->allow,
                                    .nallow = 1,
                                    .writer = fx->writer,
                                    .outbox = fx->outbox,
                                    .connect_timeout_ms = 1000,
                                    .request_timeout_ms = 1000};
    fg_wh_schedule_default(&dc.schedule);
    fg_wh_dispatcher_t *d;
    assert_int_equal(fg_wh_dispatcher_start(&dc, &d), FG_OK);
    /* the attempt fails at once (nothing listens on port 1); its outcome waits for the writer */
    for (int i = 0; i < 200 && atomic_load(&fg_wh_dispatcher_stats(d)->attempts) == 0; i++)
        usleep(5000);
    assert_int_equal(atomic_load(&fg_wh_dispatcher_stats(d)->attempts), 1);
    fg_wh_dispatcher_stop(d);
    /* committed by the time stop returned */
    fg_store_t *s;
    char err[256];
    uint64_t failed = 0;
    assert_int_equal(fg_store_open(fx->dir, FG_SYNC_NORMAL, &s, err, sizeof(err)), FG_OK);
    assert_int_equal(fg_wh_store_open(s), FG_OK);
    assert_int_equal(fg_wh_store_delivery_count(s, id, FG_DELIVERY_FAILED, &failed), FG_OK);
    fg_store_close(s);
    assert_int_equal(failed, 1);
    ofx_stop(fx);
}

/* The breaker: opens after the failures in a row, lets one probe through when due, backs off
 * doubling to its cap (honouring a longer Retry-After), and closes on any success. */
static void test_breaker(void **state)
{
    (void)state;
    fg_wh_breaker_config_t cfg = {.failures = 3, .probe_ms = 100, .probe_max_ms = 350, .jitter = 0};
    fg_wh_breaker_t b;
    fg_wh_breaker_init(&b);
    assert_int_equal(fg_wh_breaker_admits(&b, 0), -1);
    assert_int_equal(fg_wh_breaker_record(&b, &cfg, false, false, 0, 0, 0.5), FG_WH_BREAKER_SAME);
    assert_int_equal(fg_wh_breaker_record(&b, &cfg, true, false, 1, 0, 0.5), FG_WH_BREAKER_SAME);
    for (int i = 0; i < 2; i++) /* a success reset the count */
        assert_int_equal(fg_wh_breaker_record(&b, &cfg, false, false, 2, 0, 0.5),
                         FG_WH_BREAKER_SAME);
    assert_int_equal(fg_wh_breaker_record(&b, &cfg, false, false, 10, 0, 0.5),
                     FG_WH_BREAKER_OPENED);
    assert_int_equal(fg_wh_breaker_admits(&b, 10), 0);
    assert_int_equal(fg_wh_breaker_admits(&b, 109), 0);
    assert_int_equal(fg_wh_breaker_admits(&b, 110), 1);
    /* an attempt in flight when it opened fails: the probe schedule stands */
    assert_int_equal(fg_wh_breaker_record(&b, &cfg, false, false, 50, 0, 0.5), FG_WH_BREAKER_SAME);
    assert_int_equal(fg_wh_breaker_admits(&b, 110), 1);
    fg_wh_breaker_probe_sent(&b);
    assert_int_equal(fg_wh_breaker_admits(&b, 500), 0); /* one probe at a time */
    /* failed probes double the wait: 200, then the cap 350 */
    assert_int_equal(fg_wh_breaker_record(&b, &cfg, false, true, 120, 0, 0.5), FG_WH_BREAKER_SAME);
    assert_int_equal(fg_wh_breaker_admits(&b, 319), 0);
    assert_int_equal(fg_wh_breaker_admits(&b, 320), 1);
    fg_wh_breaker_probe_sent(&b);
    assert_int_equal(fg_wh_breaker_record(&b, &cfg, false, true, 400, 0, 0.5), FG_WH_BREAKER_SAME);
    assert_int_equal(fg_wh_breaker_admits(&b, 749), 0);
    assert_int_equal(fg_wh_breaker_admits(&b, 750), 1);
    fg_wh_breaker_probe_sent(&b);
    /* a Retry-After past the backoff is honoured */
    assert_int_equal(fg_wh_breaker_record(&b, &cfg, false, true, 800, 5000, 0.5),
                     FG_WH_BREAKER_SAME);
    assert_int_equal(fg_wh_breaker_admits(&b, 4999), 0);
    assert_int_equal(fg_wh_breaker_admits(&b, 5000), 1);
    assert_int_equal(b.probes, 3);
    fg_wh_breaker_probe_sent(&b);
    assert_int_equal(fg_wh_breaker_record(&b, &cfg, true, true, 5010, 0, 0.5),
                     FG_WH_BREAKER_CLOSED_AGAIN);
    assert_int_equal(fg_wh_breaker_admits(&b, 5010), -1);
    /* jitter stays within ±20 % */
    cfg.jitter = 0.2;
    for (double u = 0; u < 1; u += 0.125) {
        fg_wh_breaker_init(&b);
        for (int i = 0; i < 3; i++)
            fg_wh_breaker_record(&b, &cfg, false, false, 0, 0, u);
        assert_in_range(b.probe_at_ms, 80, 120);
    }
    /* failures 0: never opens */
    cfg.failures = 0;
    fg_wh_breaker_init(&b);
    for (int i = 0; i < 100; i++)
        assert_int_equal(fg_wh_breaker_record(&b, &cfg, false, false, i, 0, 0.5),
                         FG_WH_BREAKER_SAME);
    assert_int_equal(fg_wh_breaker_admits(&b, 1000), -1);
}

int run_outbox_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_breaker),
        cmocka_unit_test(test_delivery_ids_follow_seq),
        cmocka_unit_test(test_subscription_defaults_and_rendering),
        cmocka_unit_test(test_subscription_filters_and_patch),
        cmocka_unit_test(test_subscription_validation_errors),
    };
    const struct CMUnitTest store_tests[] = {
        cmocka_unit_test_setup_teardown(test_outbox_writes_deliveries_with_their_events, ofx_setup,
                                        ofx_teardown),
        cmocka_unit_test_setup_teardown(test_dispatcher_stop_waits_for_its_outcomes, ofx_setup,
                                        ofx_teardown),
    };
    int failed = cmocka_run_group_tests_name("subscriptions", tests, NULL, NULL);
    return failed | cmocka_run_group_tests_name("outbox", store_tests, NULL, NULL);
}
