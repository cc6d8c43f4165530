/*
 * test_webhooks.c - unit tests of the webhooks module: Standard Webhooks signing (the spec's
 * test vector), secrets and base64, the GitHub-style signature, the retry schedule and its
 * jitter bounds, Retry-After parsing, address classification (v4 and v6), CIDR allow-lists,
 * target URL validation and chat formats (subscriptions, the outbox, the dispatcher and the
 * breaker: test_outbox.c).
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

static void test_standard_webhooks_vector(void **state)
{
    unsigned char key[FG_WH_KEY_MAX];
    size_t keylen;
    assert_int_equal(fg_wh_secret_decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &keylen),
                     FG_OK);
    assert_int_equal(keylen, 24);
    const char *body = "{\"test\": 2432232314}";
    char sig[FG_WH_SIGNATURE_LEN];
    fg_wh_sign(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body), sig);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* any change to id, timestamp or body changes the signature */
    char other[FG_WH_SIGNATURE_LEN];
    fg_wh_sign(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body, strlen(body), other);
    assert_string_not_equal(sig, other);
    fg_wh_sign(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body) - 1,
               other);
    assert_string_not_equal(sig, other);
    /* a signer keyed once signs alike, message after message (each starts from the key alone) */
    fg_wh_signer_t *signer = fg_wh_signer_new(key, keylen);
    assert_non_null(signer);
    for (int i = 0; i < 3; i++) {
        fg_wh_signer_sign(signer, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body),
                          other);
        assert_string_equal(other, sig);
        fg_wh_signer_sign(signer, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body, strlen(body),
                          other);
        assert_string_not_equal(other, sig);
    }
    fg_wh_signer_free(signer);
    fg_wh_signer_free(NULL);
}

static void test_secrets(void **state)
{
    char a[FG_WH_SECRET_MAX], b[FG_WH_SECRET_MAX];
    assert_int_equal(fg_wh_secret_generate(a), FG_OK);
    assert_int_equal(fg_wh_secret_generate(b), FG_OK);
    assert_int_equal(strlen(a), 6 + 32);
    assert_memory_equal(a, "whsec_", 6);
    assert_string_not_equal(a, b);
    unsigned char key[FG_WH_KEY_MAX];
    size_t keylen;
    assert_int_equal(fg_wh_secret_decode(a, key, &keylen), FG_OK);
    assert_int_equal(keylen, 24);
    const char *bad[] = {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                         "whsec_",
                         "whsec_abc",
                         "whsec_Zm9vYmFy", /* 6 bytes: too short */
                         "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!",
                         "whsec_=fKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(fg_wh_secret_decode(bad[i], key, &keylen), FG_ERR_INVALID);
}

static void test_base64(void **state)
{
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        fg_base64_encode((const unsigned char *)plain[i], strlen(plain[i]), out);
        assert_string_equal(out, coded[i]); /* RFC 4648 section 10 */
        unsigned char back[16];
        size_t n;
        assert_int_equal(fg_base64_decode(coded[i], strlen(coded[i]), back, sizeof(back), &n),
                         FG_OK);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(back, plain[i], n);
    }
    unsigned char out[4];
    size_t n;
    assert_int_equal(fg_base64_decode("Zm9vYmFy", 8, out, sizeof(out), &n), FG_ERR_INVALID);
    assert_int_equal(fg_base64_decode("Zm9", 3, out, sizeof(out), &n), FG_ERR_INVALID);
    assert_int_equal(fg_base64_decode("Z=9v", 4, out, sizeof(out), &n), FG_ERR_INVALID);
}

/* --- chat formats ------------------------------------------------------------------------ */

#define RUN_ID "3f1c2a4e-8b9d-4c1e-9f2a-1b2c3d4e5f60"

static json_t *chat(fg_wh_format_t fmt, const char *event, const char *console)
{
    size_t n = 0;
    char *body = fg_wh_chat_body(fmt, event, strlen(event), console, &n);
    assert_non_null(body);
    assert_int_equal(n, strlen(body));
    json_t *j = json_loads(body, 0, NULL); /* valid JSON, valid UTF-8 */
    assert_non_null(j);
    free(body);
    return j;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* What Slack's incoming webhooks accept: "text", and blocks of known types whose section text
 * stays within 3,000 characters; a button's url within 3,000. */
static void check_slack(const json_t *m)
{
    assert_true(json_is_string(json_object_get(m, "text")));
    assert_true(json_string_length(json_object_get(m, "text")) > 0);
    const json_t *blocks = json_object_get(m, "blocks");
    assert_true(json_is_array(blocks) && json_array_size(blocks) >= 1 &&
                json_array_size(blocks) <= 50);
    size_t i;
    json_t *b;
    json_array_foreach(blocks, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        assert_non_null(type);
        assert_true(strcmp(type, "section") == 0 || strcmp(type, "context") == 0 ||
                    strcmp(type, "actions") == 0);
        if (strcmp(type, "section") == 0) {
            const json_t *t = json_object_get(b, "text");
            assert_string_equal(json_string_value(json_object_get(t, "type")), "mrkdwn");
            assert_true(utf8_chars(json_string_value(json_object_get(t, "text"))) <= 3000);
        }
    }
}

/* What Discord's webhooks accept: content within 2,000, at most 10 embeds, title 256,
 * description 4,096, at most 25 fields of name 256 and value 1,024, an integer colour. */
static void check_discord(const json_t *m)
{
    assert_true(utf8_chars(json_string_value(json_object_get(m, "content"))) <= 2000);
    const json_t *embeds = json_object_get(m, "embeds");
    assert_true(json_is_array(embeds) && json_array_size(embeds) == 1);
    const json_t *e = json_array_get(embeds, 0);
    assert_true(utf8_chars(json_string_value(json_object_get(e, "title"))) <= 256);
    const json_t *d = json_object_get(e, "description");
    assert_true(d == NULL || utf8_chars(json_string_value(d)) <= 4096);
    assert_true(json_is_integer(json_object_get(e, "color")));
    const json_t *fields = json_object_get(e, "fields");
    assert_true(json_is_array(fields) && json_array_size(fields) <= 25);
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        assert_true(utf8_chars(json_string_value(json_object_get(f, "name"))) <= 256);
        assert_true(utf8_chars(json_string_value(json_object_get(f, "value"))) <= 1024);
    }
    /* event text never pings anyone */
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(m, "allowed_mentions"), "parse")), 0);
}

static void test_chat_formats(void **state)
{
    static const char *events[] = {
        "{\"type\":\"run_failed\",\"run_id\":\"" RUN_ID "\",\"workflow_name\":\"deploy\","
        "\"error\":\"exit 1 <oops> & more\",\"cost_usd\":\"0.42\",\"duration_ms\":12,"
        "\"at\":\"2026-11-22T10:00:00Z\"}",
        "{\"type\":\"run_status_changed\",\"run_id\":\"" RUN_ID "\",\"workflow_name\":\"deploy\","
        "\"from\":\"running\",\"to\":\"awaiting_approval\",\"cost_usd\":0.1,\"duration_ms\":5}",
        "{\"type\":\"approval_requested\",\"run_id\":\"" RUN_ID "\",\"step_id\":\"" RUN_ID "\","
        "\"message\":\"ship it? @everyone\"}",
        "{\"type\":\"approval_granted\",\"run_id\":\"" RUN_ID "\",\"approved_by\":\"ana\"}",
        "{\"type\":\"user_signed_in\",\"user_id\":\"" RUN_ID "\",\"username\":\"ana\"}",
        "{\"type\":\"provider_account.updated\",\"x\":1}",
    };
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        json_t *m = chat(FG_WH_FORMAT_SLACK, events[i], NULL);
        check_slack(m);
        json_decref(m);
        m = chat(FG_WH_FORMAT_DISCORD, events[i], "https://flowgate.example/console/");
        check_discord(m);
        json_decref(m);
    }
    /* the run, workflow and error reach the message; Slack's &, <, > are escaped */
    json_t *m = chat(FG_WH_FORMAT_SLACK, events[0], "https://flowgate.example/console");
    const char *text = json_string_value(json_object_get(m, "text"));
    assert_non_null(strstr(text, "Run failed"));
    assert_non_null(strstr(text, RUN_ID));
    char *dump = json_dumps(m, 0);
    assert_non_null(strstr(dump, "exit 1 &lt;oops&gt; &amp; more"));
    assert_non_null(strstr(dump, "Workflow: `deploy`"));
    assert_non_null(strstr(dump, "\"url\": \"https://flowgate.example/console/runs/" RUN_ID "\""));
    free(dump);
    json_decref(m);
    m = chat(FG_WH_FORMAT_DISCORD, events[2], NULL);
    const json_t *e = json_array_get(json_object_get(m, "embeds"), 0);
    assert_string_equal(json_string_value(json_object_get(e, "title")), "Approval requested");
    assert_string_equal(json_string_value(json_object_get(e, "description")), "ship it? @everyone");
    assert_null(json_object_get(e, "url")); /* no console configured */
    json_decref(m);
    /* a very long line of multi-byte characters is cut within the limits, on a boundary */
    char *big = malloc(40000);
    strcpy(big, "{\"type\":\"log_line\",\"run_id\":\"" RUN_ID "\",\"step_id\":\"" RUN_ID
                "\",\"step_name\":\"");
    for (int i = 0; i < 300; i++)
        strcat(big, "\xC3\xA9");
    strcat(big, "\",\"stream\":\"stdout\",\"line\":\"");
    for (int i = 0; i < 9000; i++)
        strcat(big, "\xE2\x82\xAC");
    strcat(big, "\"}");
    m = chat(FG_WH_FORMAT_SLACK, big, NULL);
    check_slack(m);
    json_decref(m);
    m = chat(FG_WH_FORMAT_DISCORD, big, NULL);
    check_discord(m);
    json_decref(m);
    free(big);
    /* not an object: no chat body (the event goes as it is) */
    size_t n;
    assert_null(fg_wh_chat_body(FG_WH_FORMAT_SLACK, "[1]", 3, NULL, &n));
    assert_null(fg_wh_chat_body(FG_WH_FORMAT_DISCORD, "{", 1, NULL, &n));
}

static void test_github_signature(void **state)
{
    /* the well-known HMAC-SHA256 example: key "key", the quick brown fox */
    const char *body = "The quick brown fox jumps over the lazy dog";
    char sig[FG_WH_GITHUB_SIG_LEN];
    fg_wh_sign_github("key", body, strlen(body), sig);
    assert_string_equal(sig,
                        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}

static void test_schedule(void **state)
{
    fg_wh_schedule_t d, p;
    fg_wh_schedule_default(&d);
    assert_int_equal(d.n, 7);
    p.jitter = 0.2;
    assert_int_equal(fg_wh_schedule_parse("5s,5m,30m,2h,5h,10h,10h", &p), FG_OK);
    assert_int_equal(p.n, d.n);
    assert_memory_equal(p.delays_ms, d.delays_ms, d.n * sizeof(d.delays_ms[0]));
    assert_int_equal(fg_wh_schedule_parse("100ms,1s,1d", &p), FG_OK);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.delays_ms[0], 100);
    assert_int_equal(p.delays_ms[2], 86400000);
    assert_int_equal(fg_wh_schedule_parse("", &p), FG_OK);
    assert_int_equal(p.n, 0);
    const char *bad[] = {"5", "5x", "-1s", "0s", "5s,", ",5s", "5s,,5m", "5 s", "s", "1.5s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fg_wh_schedule_t keep = d;
        if (fg_wh_schedule_parse(bad[i], &keep) != FG_ERR_INVALID)
            fail_msg("accepted schedule '%s'", bad[i]);
        assert_int_equal(keep.n, d.n); /* unchanged on error */
    }
}

static void test_retry_delays_and_jitter_bounds(void **state)
{
    fg_wh_schedule_t s;
    fg_wh_schedule_default(&s);
    for (unsigned failed = 1; failed <= s.n; failed++) {
        double base = (double)s.delays_ms[failed - 1];
        for (int k = 0; k < 1000; k++) {
            double u = k / 1000.0;
            int64_t d = fg_wh_retry_delay_ms(&s, failed, u);
            assert_true((double)d >= base * 0.8 - 1 && (double)d < base * 1.2);
        }
        assert_int_equal(fg_wh_retry_delay_ms(&s, failed, 0.5), (int64_t)base);
    }
    assert_int_equal(fg_wh_retry_delay_ms(&s, 0, 0.5), -1);
    assert_int_equal(fg_wh_retry_delay_ms(&s, 8, 0.5), -1); /* exhausted: dead */
    s.jitter = 0;
    assert_int_equal(fg_wh_retry_delay_ms(&s, 1, 0.99), 5000);
}

static void test_retry_after(void **state)
{
    const int64_t at = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
    int64_t d = -1;
    assert_int_equal(fg_wh_retry_after_parse("120", 3, at, &d), FG_OK);
    assert_int_equal(d, 120);
    assert_int_equal(fg_wh_retry_after_parse(" 7 ", 3, at, &d), FG_OK);
    assert_int_equal(d, 7);
    const char *imf = "Sun, 06 Nov 1994 08:49:37 GMT";
    assert_int_equal(fg_wh_retry_after_parse(imf, strlen(imf), at - 30, &d), FG_OK);
    assert_int_equal(d, 30);
    const char *rfc850 = "Sunday, 06-Nov-94 08:49:37 GMT";
    assert_int_equal(fg_wh_retry_after_parse(rfc850, strlen(rfc850), at - 5, &d), FG_OK);
    assert_int_equal(d, 5);
    const char *asc = "Sun Nov  6 08:49:37 1994";
    assert_int_equal(fg_wh_retry_after_parse(asc, strlen(asc), at - 60, &d), FG_OK);
    assert_int_equal(d, 60);
    assert_int_equal(fg_wh_retry_after_parse(imf, strlen(imf), at + 100, &d), FG_OK);
    assert_int_equal(d, 0); /* in the past: now */
    const char *bad[] = {"",
                         "abc",
                         "-5",
                         "1.5",
                         "Sun, 06 Nov 1994 08:49:37",
                         "Sun, 32 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Foo 1994 08:49:37 GMT",
                         "1234567890123"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (fg_wh_retry_after_parse(bad[i], strlen(bad[i]), at, &d) != FG_ERR_INVALID)
            fail_msg("accepted Retry-After '%s'", bad[i]);
}

static struct sockaddr_storage ip(const char *s)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, s, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    else
        fail_msg("bad test address %s", s);
    return ss;
}

static void test_address_classes(void **state)
{
    static const struct {
        const char *addr;
        fg_addr_class_t cls;
    } cases[] = {
        {"8.8.8.8", FG_ADDR_PUBLIC},
        {"93.184.216.34", FG_ADDR_PUBLIC},
        {"127.0.0.1", FG_ADDR_LOOPBACK},
        {"127.255.255.254", FG_ADDR_LOOPBACK},
        {"10.0.0.1", FG_ADDR_PRIVATE},
        {"172.16.0.1", FG_ADDR_PRIVATE},
        {"172.31.255.255", FG_ADDR_PRIVATE},
        {"172.32.0.1", FG_ADDR_PUBLIC},
        {"192.168.1.1", FG_ADDR_PRIVATE},
        {"169.254.169.254", FG_ADDR_LINK_LOCAL},
        {"100.64.0.1", FG_ADDR_CGNAT},
        {"100.127.255.255", FG_ADDR_CGNAT},
        {"100.128.0.1", FG_ADDR_PUBLIC},
        {"224.0.0.1", FG_ADDR_MULTICAST},
        {"0.0.0.0", FG_ADDR_UNSPECIFIED},
        {"255.255.255.255", FG_ADDR_RESERVED},
        {"192.0.2.1", FG_ADDR_RESERVED},
        {"2606:4700::1111", FG_ADDR_PUBLIC},
        {"::1", FG_ADDR_LOOPBACK},
        {"::", FG_ADDR_UNSPECIFIED},
        {"fd00::1", FG_ADDR_PRIVATE},
        {"fc00::1", FG_ADDR_PRIVATE},
        {"fe80::1", FG_ADDR_LINK_LOCAL},
        {"ff02::1", FG_ADDR_MULTICAST},
        {"::ffff:127.0.0.1", FG_ADDR_LOOPBACK},
        {"::ffff:169.254.169.254", FG_ADDR_LINK_LOCAL},
        {"::ffff:8.8.8.8", FG_ADDR_PUBLIC},
        {"64:ff9b::a00:1", FG_ADDR_PRIVATE},
        {"2001:db8::1", FG_ADDR_RESERVED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_storage ss = ip(cases[i].addr);
        fg_addr_class_t got = fg_addr_classify((struct sockaddr *)&ss);
        if (got != cases[i].cls)
            fail_msg("%s: expected %s, got %s", cases[i].addr, fg_addr_class_name(cases[i].cls),
                     fg_addr_class_name(got));
    }
}

static void test_cidr_allow_list(void **state)
{
    fg_cidr_t allow[2];
    assert_int_equal(fg_cidr_parse("127.0.0.0/8", &allow[0]), FG_OK);
    assert_int_equal(fg_cidr_parse("fd00::/8", &allow[1]), FG_OK);
    struct sockaddr_storage lo = ip("127.0.0.1"), lo6 = ip("::1"), mapped = ip("::ffff:127.0.0.9"),
                            ula = ip("fd12::1"), ten = ip("10.0.0.1"), pub = ip("8.8.8.8");
    const char *why = NULL;
    assert_true(fg_addr_allowed((struct sockaddr *)&lo, allow, 2, &why));
    assert_true(fg_addr_allowed((struct sockaddr *)&mapped, allow, 2, &why));
    assert_true(fg_addr_allowed((struct sockaddr *)&ula, allow, 2, &why));
    assert_true(fg_addr_allowed((struct sockaddr *)&pub, allow, 0, &why));
    assert_false(fg_addr_allowed((struct sockaddr *)&lo6, allow, 2, &why));
    assert_string_equal(why, "loopback");
    assert_false(fg_addr_allowed((struct sockaddr *)&ten, allow, 2, &why));
    assert_string_equal(why, "private");
    fg_cidr_t c;
    assert_int_equal(fg_cidr_parse("10.1.2.3", &c), FG_OK);
    assert_int_equal(c.prefix, 32);
    assert_int_equal(fg_cidr_parse("10.0.0.0/12", &c), FG_OK);
    struct sockaddr_storage in = ip("10.15.255.255"), out = ip("10.16.0.0");
    assert_true(fg_cidr_contains(&c, (struct sockaddr *)&in));
    assert_false(fg_cidr_contains(&c, (struct sockaddr *)&out));
    const char *bad[] = {"",    "10.0.0.0/33", "::/129",     "10.0.0/8",
                         "x/8", "10.0.0.0/",   "10.0.0.0/-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(fg_cidr_parse(bad[i], &c), FG_ERR_INVALID);
}

static void test_target_urls(void **state)
{
    fg_wh_url_t u;
    fg_verr_t err;
    assert_int_equal(fg_wh_url_parse("https://hooks.example.com/in?x=1", &u, &err), FG_OK);
    assert_true(u.https);
    assert_string_equal(u.host, "hooks.example.com");
    assert_int_equal(u.port, 443);
    assert_false(u.literal);
    assert_int_equal(fg_wh_url_parse("http://[::1]:8080/hook", &u, &err), FG_OK);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8080);
    assert_true(u.literal);
    const char *bad[] = {"ftp://example.com/",
                         "example.com/hook",
                         "http://user:pw@example.com/",
                         "http://example.com/#frag",
                         "http://exa mple.com/",
                         "http://",
                         "",
                         "javascript:alert(1)",
                         "http://example.com:99999/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (fg_wh_url_parse(bad[i], &u, &err) != FG_ERR_INVALID)
            fail_msg("accepted URL '%s'", bad[i]);
        assert_string_equal(err.code, "invalid_url");
    }
    char longurl[FG_WH_URL_MAX + 64] = "http://example.com/";
    memset(longurl + strlen(longurl), 'a', FG_WH_URL_MAX);
    longurl[FG_WH_URL_MAX + 40] = '\0';
    assert_int_equal(fg_wh_url_parse(longurl, &u, &err), FG_ERR_INVALID);

    /* the creation-time guard: literal non-public addresses and localhost */
    const char *refused[] = {"http://10.0.0.1/",      "http://169.254.169.254/latest/meta-data",
                             "http://[::1]/",         "http://localhost:9000/",
                             "http://api.localhost/", "http://[::ffff:127.0.0.1]/",
                             "http://0.0.0.0/"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        assert_int_equal(fg_wh_url_parse(refused[i], &u, &err), FG_OK);
        if (fg_wh_url_check_target(&u, NULL, 0, &err) != FG_ERR_INVALID)
            fail_msg("allowed %s", refused[i]);
        assert_string_equal(err.code, "forbidden_target");
    }
    fg_cidr_t lo;
    assert_int_equal(fg_cidr_parse("127.0.0.0/8", &lo), FG_OK);
    assert_int_equal(fg_wh_url_parse("http://localhost:9000/", &u, &err), FG_OK);
    assert_int_equal(fg_wh_url_check_target(&u, &lo, 1, &err), FG_OK);
    assert_int_equal(fg_wh_url_parse("http://93.184.216.34/", &u, &err), FG_OK);
    assert_int_equal(fg_wh_url_check_target(&u, NULL, 0, &err), FG_OK);
    assert_int_equal(fg_wh_url_parse("https://hooks.example.com/", &u, &err), FG_OK);
    assert_int_equal(fg_wh_url_check_target(&u, NULL, 0, &err), FG_OK); /* checked at connect */
}

int run_outbox_tests(void); /* test_outbox.c */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standard_webhooks_vector),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_github_signature),
        cmocka_unit_test(test_chat_formats),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_retry_delays_and_jitter_bounds),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_address_classes),
        cmocka_unit_test(test_cidr_allow_list),
        cmocka_unit_test(test_target_urls),
    };
    int failed = cmocka_run_group_tests_name("webhooks", tests, NULL, NULL);
    return failed | run_outbox_tests();
}
