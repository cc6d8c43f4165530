/*
 * config.c - the configuration table and its three sources (file, environment, flags).
 * Main thread only, before any other thread starts.
 */
#include "gateway/config.h"
#include "events/err.h"
#include "events/redis.h"
#include "events/text.h"
#include "webhooks/addr.h"
#include "webhooks/retry.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { K_STRING, K_INT, K_OBJECT, K_ARRAY, K_LIST } key_kind_t;

typedef struct {
    const char *key; /* dotted path in the file */
    key_kind_t kind;
    size_t offset;                /* of the field in fg_config_t */
    size_t size;                  /* for strings: the field's capacity */
    int64_t min, max;             /* for integers */
    const char *choices;          /* for strings: "a|b|c", or NULL for free text */
    bool (*check)(const char *v); /* extra check for strings and each list item, or NULL */
} key_t_;

static bool listen_ok(const char *v)
{
    char host[256];
    uint16_t port;
    return fg_config_listen_addr(v, host, sizeof(host), &port) == FG_OK;
}

static bool redis_url_ok(const char *v)
{
    char host[256];
    int port, db;
    return v[0] == '\0' || fg_redis_parse_url(v, host, sizeof(host), &port, &db) == FG_OK;
}

static bool nonempty(const char *v)
{
    return v[0] != '\0';
}

static bool cidr_ok(const char *v)
{
    fg_cidr_t c;
    return fg_cidr_parse(v, &c) == FG_OK;
}

/* An exact origin: scheme://host[:port], nothing after. */
static bool origin_ok(const char *v)
{
    const char *rest = strncmp(v, "https://", 8) == 0  ? v + 8
                       : strncmp(v, "http://", 7) == 0 ? v + 7
                                                       : NULL;
    if (rest == NULL || *rest == '\0')
        return false;
    for (const char *p = rest; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == ':' || *p == '[' ||
              *p == ']'))
            return false;
    return true;
}

/* "" or an http(s) URL */
static bool url_or_empty(const char *v)
{
    return v[0] == '\0' || strncmp(v, "https://", 8) == 0 || strncmp(v, "http://", 7) == 0;
}

static bool schedule_ok(const char *v)
{
    fg_wh_schedule_t s;
    fg_wh_schedule_default(&s);
    return fg_wh_schedule_parse(v, &s) == FG_OK;
}

#define S(k, f, ch, chk)                                                                           \
    {                                                                                              \
        k, K_STRING, offsetof(fg_config_t, f), sizeof(((fg_config_t *)0)->f), 0, 0, ch, chk        \
    }
#define J(k, kind, f)                                                                              \
    {                                                                                              \
        k, kind, offsetof(fg_config_t, f), 0, 0, 0, NULL, NULL                                     \
    }
#define L(k, f, chk)                                                                               \
    {                                                                                              \
        k, K_LIST, offsetof(fg_config_t, f), sizeof(((fg_config_t *)0)->f), 0, 0, NULL, chk        \
    }
#define I(k, f, lo, hi)                                                                            \
    {                                                                                              \
        k, K_INT, offsetof(fg_config_t, f), 0, lo, hi, NULL, NULL                                  \
    }

static const key_t_ keys[] = {
    S("listen", listen, NULL, listen_ok),
    S("data_dir", data_dir, NULL, nonempty),
    I("threads", threads, 0, 64),
    S("log_level", log_level, "debug|info|warn|error", NULL),
    I("limits.max_body_bytes", max_body_bytes, 1024, 64 << 20),
    I("limits.max_event_bytes", max_event_bytes, 256, 16 << 20),
    I("limits.max_batch_events", max_batch_events, 1, 100000),
    I("limits.max_connections", max_connections, 0, 10000000),
    I("limits.max_streams_per_address", max_streams_per_address, 0, 10000000),
    I("limits.max_streams_per_credential", max_streams_per_credential, 0, 10000000),
    I("limits.publish_rate", publish_rate, 0, 100000000),
    I("limits.publish_burst", publish_burst, 1, 100000000),
    I("limits.max_header_bytes", max_header_bytes, 1024, 1 << 20),
    I("limits.max_url_bytes", max_url_bytes, 256, 1 << 20),
    I("limits.max_query_params", max_query_params, 1, 10000),
    I("limits.max_filter_items", max_filter_items, 1, 100000),
    I("limits.request_timeout_ms", http_request_timeout_ms, 100, 600000),
    S("store.synchronous", synchronous, "off|normal|full", NULL),
    I("store.retention.max_age_s", retention_max_age_s, 0, INT64_C(100) * 365 * 86400),
    I("store.retention.max_events", retention_max_events, 0, INT64_MAX / 2),
    I("store.retention.interval_s", retention_interval_s, 1, 86400),
    I("store.rebuild_views", rebuild_views, 0, 1),
    I("store.integrity_check_ms", integrity_check_ms, 0, 3600000),
    S("events.transitions", transitions, "warn|enforce", NULL),
    J("events.custom_types", K_OBJECT, custom_types),
    I("sse.heartbeat_ms", heartbeat_ms, 100, 3600000),
    I("sse.retry_ms", retry_ms, 0, 3600000),
    I("sse.drain_spread_ms", drain_spread_ms, 0, 600000),
    I("sse.queue_max_bytes", queue_max_bytes, 4096, INT64_C(1) << 32),
    I("sse.queue_max_events", queue_max_events, 16, 10000000),
    I("sse.replay_page", replay_page, 1, 10000),
    I("server.shutdown_grace_ms", shutdown_grace_ms, 0, 600000),
    S("webhooks.retry_schedule", retry_schedule, NULL, schedule_ok),
    I("webhooks.connect_timeout_ms", connect_timeout_ms, 100, 600000),
    I("webhooks.request_timeout_ms", request_timeout_ms, 100, 3600000),
    I("webhooks.retry_after_max_s", retry_after_max_s, 0, 86400 * 7),
    I("webhooks.disable_after_s", disable_after_s, 0, 86400 * 365),
    I("webhooks.breaker.failures", breaker_failures, 0, 1000000),
    I("webhooks.breaker.probe_ms", breaker_probe_ms, 10, 86400000),
    I("webhooks.breaker.probe_max_ms", breaker_probe_max_ms, 10, 86400000),
    J("webhooks.subscriptions", K_ARRAY, subscriptions),
    S("webhooks.console_url", console_url, NULL, url_or_empty),
    L("webhooks.allow_networks", allow_networks, cidr_ok),
    S("auth.mode", auth_mode, "auto|none|required", NULL),
    J("auth.keys", K_ARRAY, auth_keys),
    J("logs.mask", K_ARRAY, logs_mask),
    I("logs.search_index", logs_search_index, 0, 1),
    S("auth.jwt.hs256_secret", jwt_secret, NULL, NULL),
    S("ingest.ironflow.secret", ingest_ironflow_secret, NULL, NULL),
    S("ingest.github.secret", ingest_github_secret, NULL, NULL),
    S("auth.jwt.public_key_file", jwt_public_key_file, NULL, NULL),
    S("auth.cookie", auth_cookie, NULL, nonempty),
    L("cors.origins", cors_origins, origin_ok),
    S("tls.cert_file", tls_cert_file, NULL, NULL),
    S("tls.key_file", tls_key_file, NULL, NULL),
    S("cluster.redis_url", cluster_redis_url, NULL, redis_url_ok),
    S("cluster.node_id", cluster_node_id, NULL, NULL),
    S("cluster.advertise_url", cluster_advertise_url, NULL, url_or_empty),
    S("cluster.peer_token", cluster_peer_token, NULL, NULL),
    I("cluster.min_replicas", cluster_min_replicas, 0, 16),
    I("cluster.redis_timeout_ms", cluster_redis_timeout_ms, 100, 60000),
    I("cluster.lease_ms", cluster_lease_ms, 300, 3600000),
    S("cluster.durability", cluster_durability, "warn|strict", NULL),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

void fg_config_defaults(fg_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:8080");
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./data");
    cfg->threads = 0;
    snprintf(cfg->log_level, sizeof(cfg->log_level), "info");
    cfg->max_body_bytes = 1 << 20;
    cfg->max_event_bytes = 256 << 10;
    cfg->max_batch_events = 1000;
    cfg->max_connections = 15000;
    cfg->max_streams_per_address = 1000;
    cfg->max_streams_per_credential = 10000;
    cfg->publish_rate = 50000;
    cfg->publish_burst = 100000;
    cfg->max_header_bytes = 8192;
    cfg->max_url_bytes = 4096;
    cfg->max_query_params = 32;
    cfg->max_filter_items = 256;
    cfg->http_request_timeout_ms = 10000;
    cfg->retention_max_age_s = 7 * 86400;
    cfg->retention_max_events = 0;
    cfg->retention_interval_s = 60;
    cfg->integrity_check_ms = 2000;
    cfg->logs_search_index = 1;
    snprintf(cfg->transitions, sizeof(cfg->transitions), "warn");
    cfg->heartbeat_ms = 15000;
    cfg->retry_ms = 2000;
    cfg->drain_spread_ms = 5000;
    cfg->queue_max_bytes = 4 << 20;
    cfg->queue_max_events = 65536;
    cfg->replay_page = 512;
    cfg->shutdown_grace_ms = 5000;
    cfg->allow_networks[0] = '\0';
    snprintf(cfg->retry_schedule, sizeof(cfg->retry_schedule), "5s,5m,30m,2h,5h,10h,10h");
    cfg->connect_timeout_ms = 5000;
    cfg->request_timeout_ms = 15000;
    cfg->retry_after_max_s = 3600;
    cfg->disable_after_s = 5 * 86400;
    cfg->breaker_failures = 5;
    cfg->breaker_probe_ms = 10000;
    cfg->breaker_probe_max_ms = 120000;
    snprintf(cfg->auth_mode, sizeof(cfg->auth_mode), "auto");
    snprintf(cfg->cluster_durability, sizeof(cfg->cluster_durability), "warn");
    cfg->cluster_redis_timeout_ms = 2000;
    cfg->cluster_lease_ms = 30000;
    snprintf(cfg->auth_cookie, sizeof(cfg->auth_cookie), "flowgate_token");
}

void fg_config_dispose(fg_config_t *cfg)
{
    json_decref(cfg->custom_types);
    json_decref(cfg->subscriptions);
    json_decref(cfg->auth_keys);
    json_decref(cfg->logs_mask);
    cfg->logs_mask = NULL;
    cfg->custom_types = NULL;
    cfg->subscriptions = NULL;
    cfg->auth_keys = NULL;
    free(cfg->r.jwt_public_key_pem);
    cfg->r.jwt_public_key_pem = NULL;
}

static const key_t_ *find_key(const char *key)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].key, key) == 0)
            return &keys[i];
    }
    return NULL;
}

static int bad(char *err, size_t cap, const char *key, const char *fmt, const char *detail)
{
    char msg[256];
    snprintf(msg, sizeof(msg), fmt, detail);
    snprintf(err, cap, "config key %s: %s", key, msg);
    return FG_ERR_INVALID;
}

static int set_string(fg_config_t *cfg, const key_t_ *k, const char *v, char *err, size_t cap)
{
    if (strlen(v) >= k->size)
        return bad(err, cap, k->key, "%s", "value is too long");
    if (k->choices && !fg_list_has(k->choices, '|', v, strlen(v)))
        return bad(err, cap, k->key, "must be one of %s", k->choices);
    if (k->check && !k->check(v))
        return bad(err, cap, k->key, "%s", "invalid value");
    memcpy((char *)cfg + k->offset, v, strlen(v) + 1);
    return FG_OK;
}

static int set_int(fg_config_t *cfg, const key_t_ *k, int64_t v, char *err, size_t cap)
{
    if (v < k->min || v > k->max) {
        char range[96];
        snprintf(range, sizeof(range), "%lld..%lld", (long long)k->min, (long long)k->max);
        return bad(err, cap, k->key, "out of range, must be within %s", range);
    }
    memcpy((char *)cfg + k->offset, &v, sizeof(v));
    return FG_OK;
}

/* A comma list ("127.0.0.0/8,::1/128"); "" is an empty list. Each item passes k->check. */
static int set_list(fg_config_t *cfg, const key_t_ *k, const char *value, char *err, size_t cap)
{
    if (strlen(value) >= k->size)
        return bad(err, cap, k->key, "%s", "the list is too long");
    char item[256];
    for (const char *p = value; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == 0 || n >= sizeof(item))
            return bad(err, cap, k->key, "%s", "an entry is empty or too long");
        memcpy(item, p, n);
        item[n] = '\0';
        if (!k->check(item))
            return bad(err, cap, k->key, "%.200s is not valid here", item);
        p += n + (comma != NULL);
    }
    memcpy((char *)cfg + k->offset, value, strlen(value) + 1);
    return FG_OK;
}

int fg_config_set(fg_config_t *cfg, const char *key, const char *value, char *err, size_t cap)
{
    const key_t_ *k = find_key(key);
    if (k == NULL)
        return bad(err, cap, key, "%s", "unknown key");
    if (k->kind == K_STRING)
        return set_string(cfg, k, value, err, cap);
    if (k->kind == K_LIST)
        return set_list(cfg, k, value, err, cap);
    if (k->kind == K_INT) {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0')
            return bad(err, cap, key, "%s", "must be an integer");
        return set_int(cfg, k, v, err, cap);
    }
    json_error_t jerr;
    json_t *obj = json_loads(value, JSON_REJECT_DUPLICATES, &jerr);
    bool list = k->kind == K_ARRAY;
    if (list ? !json_is_array(obj) : !json_is_object(obj)) {
        json_decref(obj);
        return bad(err, cap, key, "%s", list ? "must be a JSON array" : "must be a JSON object");
    }
    json_t **slot = (json_t **)((char *)cfg + k->offset);
    json_decref(*slot);
    *slot = obj;
    return FG_OK;
}

/* Walks a JSON object, applying leaves whose dotted path is a key. */
static int apply_object(fg_config_t *cfg, json_t *obj, const char *prefix, char *err, size_t cap)
{
    const char *name;
    json_t *v;
    json_object_foreach(obj, name, v)
    {
        char key[256];
        snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", name);
        const key_t_ *k = find_key(key);
        if (k == NULL) {
            /* An intermediate object ("limits") is walked when some key lies below it. */
            size_t n = strlen(key);
            bool parent = false;
            for (size_t i = 0; i < NKEYS && !parent; i++)
                parent = strncmp(keys[i].key, key, n) == 0 && keys[i].key[n] == '.';
            if (!parent)
                return bad(err, cap, key, "%s", "unknown key");
            if (!json_is_object(v))
                return bad(err, cap, key, "%s", "must be an object");
            int rc = apply_object(cfg, v, key, err, cap);
            if (rc != FG_OK)
                return rc;
            continue;
        }
        int rc;
        switch (k->kind) {
        case K_STRING:
            if (!json_is_string(v))
                return bad(err, cap, key, "%s", "must be a string");
            rc = set_string(cfg, k, json_string_value(v), err, cap);
            break;
        case K_INT:
            if (!json_is_integer(v))
                return bad(err, cap, key, "%s", "must be an integer");
            rc = set_int(cfg, k, json_integer_value(v), err, cap);
            break;
        case K_LIST: {
            if (!json_is_array(v))
                return bad(err, cap, key, "%s", "must be an array of strings");
            char joined[4096] = "";
            size_t i, used = 0;
            json_t *item;
            json_array_foreach(v, i, item)
            {
                if (!json_is_string(item))
                    return bad(err, cap, key, "%s", "must be an array of strings");
                int w = snprintf(joined + used, sizeof(joined) - used, "%s%s", i ? "," : "",
                                 json_string_value(item));
                if (w < 0 || (size_t)w >= sizeof(joined) - used)
                    return bad(err, cap, key, "%s", "the list is too long");
                used += (size_t)w;
            }
            rc = set_list(cfg, k, joined, err, cap);
            break;
        }
        default: {
            if (k->kind == K_ARRAY ? !json_is_array(v) : !json_is_object(v))
                return bad(err, cap, key, "%s",
                           k->kind == K_ARRAY ? "must be an array" : "must be an object");
            json_t **slot = (json_t **)((char *)cfg + k->offset);
            json_decref(*slot);
            *slot = json_incref(v);
            rc = FG_OK;
        }
        }
        if (rc != FG_OK)
            return rc;
    }
    return FG_OK;
}

int fg_config_apply_json(fg_config_t *cfg, const char *text, size_t len, char *err, size_t cap)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, cap, "config: invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return FG_ERR_INVALID;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        snprintf(err, cap, "config: the top level must be a JSON object");
        return FG_ERR_INVALID;
    }
    int rc = apply_object(cfg, root, "", err, cap);
    json_decref(root);
    return rc;
}

int fg_config_load_file(fg_config_t *cfg, const char *path, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, cap, "config: cannot read %s: %s", path, strerror(errno));
        return FG_ERR_IO;
    }
    char *text = NULL;
    size_t len = 0, alloc = 0;
    int rc = FG_OK;
    for (;;) {
        if (len + 4096 > alloc) {
            alloc = alloc ? alloc * 2 : 8192;
            if (alloc > (16u << 20)) {
                snprintf(err, cap, "config: %s is larger than 16 MiB", path);
                rc = FG_ERR_TOO_LARGE;
                break;
            }
            char *p = realloc(text, alloc);
            if (p == NULL) {
                rc = FG_ERR_NOMEM;
                break;
            }
            text = p;
        }
        size_t n = fread(text + len, 1, alloc - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (rc == FG_OK && ferror(f)) {
        snprintf(err, cap, "config: cannot read %s: %s", path, strerror(errno));
        rc = FG_ERR_IO;
    }
    fclose(f);
    if (rc == FG_OK)
        rc = fg_config_apply_json(cfg, text, len, err, cap);
    free(text);
    return rc;
}

static const char *env_value(char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = env; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* FLOWGATE_WEBHOOK_URL (+ _SECRET, _TYPES): the simplest case, one more subscription. */
static int env_webhook(fg_config_t *cfg, char *const *env, char *err, size_t cap)
{
    const char *url = env_value(env, "FLOWGATE_WEBHOOK_URL");
    if (url == NULL || url[0] == '\0')
        return FG_OK;
    json_t *sub = json_pack("{s:s}", "url", url);
    const char *secret = env_value(env, "FLOWGATE_WEBHOOK_SECRET");
    if (secret != NULL && secret[0] != '\0')
        json_object_set_new(sub, "secret", json_string(secret));
    const char *types = env_value(env, "FLOWGATE_WEBHOOK_TYPES");
    if (types != NULL && types[0] != '\0') {
        json_t *list = json_array();
        for (const char *p = types; *p;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            json_array_append_new(list, json_stringn(p, len));
            p += len + (comma != NULL);
        }
        json_object_set_new(sub, "event_types", list);
    }
    if (cfg->subscriptions == NULL)
        cfg->subscriptions = json_array();
    json_array_append_new(cfg->subscriptions, sub);
    (void)err;
    (void)cap;
    return FG_OK;
}

int fg_config_apply_env(fg_config_t *cfg, char *const *env, char *err, size_t cap)
{
    int wrc = env_webhook(cfg, env, err, cap);
    if (wrc != FG_OK)
        return wrc;
    for (size_t i = 0; i < NKEYS; i++) {
        char name[128] = "FLOWGATE_";
        size_t n = strlen(name);
        for (const char *p = keys[i].key; *p && n < sizeof(name) - 1; p++)
            name[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
        name[n] = '\0';
        for (char *const *e = env; e && *e; e++) {
            if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
                int rc = fg_config_set(cfg, keys[i].key, *e + n + 1, err, cap);
                if (rc != FG_OK) {
                    size_t used = strlen(err);
                    snprintf(err + used, cap - used, " (from %s)", name);
                    return rc;
                }
            }
        }
    }
    return FG_OK;
}

int fg_config_add_custom_types(const fg_config_t *cfg, fg_catalog_t *cat, char *err, size_t cap)
{
    if (cfg->custom_types == NULL)
        return FG_OK;
    const char *tname;
    json_t *fields;
    json_object_foreach(cfg->custom_types, tname, fields)
    {
        char key[160];
        snprintf(key, sizeof(key), "events.custom_types.%s", tname);
        if (!json_is_object(fields))
            return bad(err, cap, key, "%s", "must be an object of field name to kind");
        fg_field_spec_t specs[FG_MAX_FIELDS];
        size_t n = 0;
        const char *fname;
        json_t *kind;
        json_object_foreach(fields, fname, kind)
        {
            if (n >= FG_MAX_FIELDS)
                return bad(err, cap, key, "%s", "too many fields");
            size_t flen = strlen(fname);
            bool optional = flen > 0 && fname[flen - 1] == '?';
            if (optional)
                flen--;
            if (flen == 0 || flen >= FG_MAX_TYPE_NAME)
                return bad(err, cap, key, "%s", "a field name must be 1-63 characters");
            memset(&specs[n], 0, sizeof(specs[n]));
            memcpy(specs[n].name, fname, flen);
            specs[n].optional = optional;
            if (!json_is_string(kind) ||
                !fg_field_kind_parse(json_string_value(kind), &specs[n].kind))
                return bad(err, cap, key,
                           "field kinds are string, name, uuid, time, decimal, uint, int, "
                           "number, bool, object, string_map, array, run_status, log_stream, "
                           "any%s",
                           "");
            n++;
        }
        fg_verr_t verr;
        int rc = fg_catalog_add_custom(cat, tname, specs, n, &verr);
        if (rc != FG_OK)
            return bad(err, cap, key, "%s", verr.message);
    }
    return FG_OK;
}

int fg_config_listen_addr(const char *listen, char *host, size_t hostcap, uint16_t *port)
{
    const char *colon;
    const char *h = listen;
    size_t hlen;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (close == NULL || close[1] != ':')
            return FG_ERR_INVALID;
        h = listen + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL)
            return FG_ERR_INVALID;
        hlen = (size_t)(colon - listen);
    }
    if (hlen == 0 || hlen >= hostcap)
        return FG_ERR_INVALID;
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end != '\0' || p < 0 || p > 65535)
        return FG_ERR_INVALID;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return FG_OK;
}
