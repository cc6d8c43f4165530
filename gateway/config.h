/*
 * config.h - flowgate's configuration: defaults, then a JSON file, then FLOWGATE_* environment
 * variables, then command-line flags (each overrides the one before).
 *
 * Every key of the file has an environment variable: FLOWGATE_ + the key upper-cased with dots
 * as underscores (sse.heartbeat_ms -> FLOWGATE_SSE_HEARTBEAT_MS). Keys are documented in
 * config/flowgate.example.json and config/README.md. Main thread only.
 */
#ifndef FG_GATEWAY_CONFIG_H
#define FG_GATEWAY_CONFIG_H

#include "events/catalog.h"
#include "events/log.h"
#include "events/store.h"
#include "webhooks/addr.h"

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    FG_AUTH_MODE_AUTO = 0, /* credentials when configured; open on loopback otherwise */
    FG_AUTH_MODE_NONE,     /* never (the operator said so) */
    FG_AUTH_MODE_REQUIRED, /* always; start-up fails without credentials */
} fg_auth_mode_t;

/* What the runtime uses, resolved from the keys by fg_config_resolve; read-only afterwards. */
typedef struct {
    bool done; /* fg_config_resolve succeeded */
    char host[256];
    uint16_t port;
    fg_sync_mode_t sync;
    bool enforce_transitions; /* events.transitions is enforce */
    fg_auth_mode_t auth_mode;
    bool tls;            /* tls.cert_file and tls.key_file are set */
    fg_cidr_t allow[64]; /* webhooks.allow_networks */
    size_t nallow;
    char *jwt_public_key_pem; /* auth.jwt.public_key_file's text (owned), NULL when none */
    bool cluster;             /* cluster.redis_url is set: the log is in Redis */
} fg_config_resolved_t;

typedef struct {
    char listen[300]; /* "host:port" */
    char data_dir[PATH_MAX - 32];
    int64_t threads; /* HTTP loops; 0 = number of cores */
    char log_level[16];
    int64_t max_body_bytes;             /* limits.max_body_bytes */
    int64_t max_event_bytes;            /* limits.max_event_bytes */
    int64_t max_batch_events;           /* limits.max_batch_events */
    int64_t max_connections;            /* limits.max_connections, 0 = none */
    int64_t max_streams_per_address;    /* limits.max_streams_per_address, 0 = none */
    int64_t max_streams_per_credential; /* limits.max_streams_per_credential, 0 = none */
    int64_t publish_rate;               /* limits.publish_rate: events/s per client, 0 = none */
    int64_t publish_burst;              /* limits.publish_burst */
    int64_t max_header_bytes;           /* limits.max_header_bytes */
    int64_t max_url_bytes;              /* limits.max_url_bytes */
    int64_t max_query_params;           /* limits.max_query_params */
    int64_t max_filter_items;           /* limits.max_filter_items */
    int64_t http_request_timeout_ms;    /* limits.request_timeout_ms: to send a request's head */
    char synchronous[16];               /* store.synchronous: off | normal | full */
    int64_t retention_max_age_s;        /* store.retention.max_age_s; 0 = forever */
    int64_t retention_max_events;       /* store.retention.max_events; 0 = unlimited */
    int64_t retention_interval_s;       /* store.retention.interval_s */
    int64_t rebuild_views;        /* store.rebuild_views: 1 = rebuild the run views on start */
    int64_t integrity_check_ms;   /* store.integrity_check_ms: budget of the start-up check */
    char transitions[16];         /* events.transitions: warn | enforce */
    json_t *custom_types;         /* events.custom_types (owned), NULL when none */
    int64_t heartbeat_ms;         /* sse.heartbeat_ms */
    int64_t retry_ms;             /* sse.retry_ms */
    int64_t drain_spread_ms;      /* sse.drain_spread_ms: reconnections spread at shutdown */
    int64_t queue_max_bytes;      /* sse.queue_max_bytes */
    int64_t queue_max_events;     /* sse.queue_max_events */
    int64_t replay_page;          /* sse.replay_page */
    int64_t shutdown_grace_ms;    /* server.shutdown_grace_ms */
    char retry_schedule[512];     /* webhooks.retry_schedule: "5s,5m,30m,2h,5h,10h,10h" */
    int64_t connect_timeout_ms;   /* webhooks.connect_timeout_ms */
    int64_t request_timeout_ms;   /* webhooks.request_timeout_ms */
    int64_t retry_after_max_s;    /* webhooks.retry_after_max_s */
    int64_t disable_after_s;      /* webhooks.disable_after_s, 0 = never */
    int64_t breaker_failures;     /* webhooks.breaker.failures: in a row open it, 0 = never */
    int64_t breaker_probe_ms;     /* webhooks.breaker.probe_ms: the first wait for a probe */
    int64_t breaker_probe_max_ms; /* webhooks.breaker.probe_max_ms: the longest wait */
    json_t *subscriptions;        /* webhooks.subscriptions (owned), NULL when none */
    char console_url[1024];       /* webhooks.console_url: where chat messages link runs */
    char allow_networks[4096];    /* webhooks.allow_networks: comma list of CIDRs, "" = none */
    char auth_mode[16];           /* auth.mode: auto | none | required */
    json_t *auth_keys;            /* auth.keys (owned), NULL when none */
    json_t *logs_mask;            /* logs.mask (owned): literals and {"regex"}, NULL when none */
    int64_t logs_search_index;    /* logs.search_index: 1 = keep the log lines' search index */
    char jwt_secret[512];         /* auth.jwt.hs256_secret, "" = none */
    char ingest_ironflow_secret[512]; /* ingest.ironflow.secret: its deliveries' HMAC key, "" = off
                                       */
    char
        ingest_github_secret[512]; /* ingest.github.secret: the GitHub webhook's secret, "" = off */
    char jwt_public_key_file[PATH_MAX]; /* auth.jwt.public_key_file, "" = none */
    char auth_cookie[64];               /* auth.cookie: the cookie a credential may come in */
    char cors_origins[4096];            /* cors.origins: comma list of exact origins */
    char tls_cert_file[PATH_MAX];       /* tls.cert_file: PEM chain; with tls.key_file, TLS is on */
    char tls_key_file[PATH_MAX];        /* tls.key_file */
    char cluster_redis_url[512];        /* cluster.redis_url: "" = single node (embedded log) */
    char cluster_node_id[64];           /* cluster.node_id: this node's name in logs and Redis */
    char cluster_advertise_url[512];    /* cluster.advertise_url: how peers reach this node */
    char cluster_peer_token[256];       /* cluster.peer_token: the bearer token shown to peers */
    int64_t cluster_min_replicas;       /* cluster.min_replicas: WAIT for them before a 202 */
    int64_t cluster_redis_timeout_ms;   /* cluster.redis_timeout_ms: a Redis command's wait */
    int64_t cluster_lease_ms; /* cluster.lease_ms: a webhook subscription's lease (> the timeout) */
    char cluster_durability[16]; /* cluster.durability: warn | strict */
    fg_config_resolved_t r;      /* fg_config_resolve's */
} fg_config_t;

/** Fills cfg with the defaults. */
void fg_config_defaults(fg_config_t *cfg);

/** Frees what the config owns. */
void fg_config_dispose(fg_config_t *cfg);

/**
 * Applies a JSON document (the config file's text). An unknown key, a wrong type or an
 * out-of-range value fails with FG_ERR_INVALID and one line naming the key in err.
 */
int fg_config_apply_json(fg_config_t *cfg, const char *text, size_t len, char *err, size_t cap);

/** Reads and applies a file. FG_ERR_IO when it cannot be read. */
int fg_config_load_file(fg_config_t *cfg, const char *path, char *err, size_t cap);

/** Applies FLOWGATE_* variables from environ (FLOWGATE_CONFIG is read by the caller). */
int fg_config_apply_env(fg_config_t *cfg, char *const *environ_, char *err, size_t cap);

/** Sets one key from its text form, as the environment and flags do. */
int fg_config_set(fg_config_t *cfg, const char *key, const char *value, char *err, size_t cap);

/**
 * Checks the configuration as a whole once every source is applied (TLS files given together,
 * the JWT public key readable, at most 64 networks, a valid listen address) and fills cfg->r.
 * FG_OK, or FG_ERR_INVALID with one line naming the key in err.
 */
int fg_config_resolve(fg_config_t *cfg, char *err, size_t cap);

/** Declares config's custom types in the catalog. */
int fg_config_add_custom_types(const fg_config_t *cfg, fg_catalog_t *cat, char *err, size_t cap);

/** Splits listen into host and port. FG_ERR_INVALID when malformed. */
int fg_config_listen_addr(const char *listen, char *host, size_t hostcap, uint16_t *port);

/** Parses webhooks.allow_networks into out (cap entries). FG_OK, FG_ERR_TOO_LARGE. */
int fg_config_allow_networks(const fg_config_t *cfg, fg_cidr_t *out, size_t cap, size_t *n);

/** The synchronous setting as a store mode. */
fg_sync_mode_t fg_config_sync_mode(const fg_config_t *cfg);

#endif
