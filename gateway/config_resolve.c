/*
 * config_resolve.c - the configuration checked as a whole once every source is applied, and
 * turned into what the runtime uses (fg_config_resolved_t): the listen address split, the
 * modes as enums, the networks parsed, the JWT public key read. Whatever is wrong with the
 * configuration is found here, before anything starts. Main thread.
 */
#include "gateway/config.h"

#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

/* Reads a PEM public key file (at most 1 MiB) into *pem (malloc'd). */
static int read_public_key(const char *path, char **pem, char *err, size_t cap)
{
    FILE *f = fopen(path, "r");
    long n = -1;
    char *text = NULL;
    if (f != NULL && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < (1 << 20) &&
        fseek(f, 0, SEEK_SET) == 0 && (text = calloc(1, (size_t)n + 1)) != NULL &&
        fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        text = NULL;
    }
    if (f != NULL)
        fclose(f);
    if (text == NULL || strstr(text, "-----BEGIN PUBLIC KEY-----") == NULL) {
        free(text);
        snprintf(err, cap,
                 "config key auth.jwt.public_key_file: cannot read a PEM public key from %s", path);
        return FG_ERR_INVALID;
    }
    *pem = text;
    return FG_OK;
}

fg_sync_mode_t fg_config_sync_mode(const fg_config_t *cfg)
{
    if (strcmp(cfg->synchronous, "off") == 0)
        return FG_SYNC_OFF;
    if (strcmp(cfg->synchronous, "normal") == 0)
        return FG_SYNC_NORMAL;
    /* Unset in cluster mode: the store is a projection of the shared log, which keeps every
     * acknowledged event (Redis, before the 202). What a power cut takes from the store's last
     * commits is read again from the log; waiting for the disk at each commit would only delay
     * every node's streams (p50 2.5 -> 1.2 ms publish on A to frame on B, bench/README.md). */
    if (cfg->synchronous[0] == '\0' && cfg->cluster_redis_url[0] != '\0')
        return FG_SYNC_NORMAL;
    return FG_SYNC_FULL;
}

int fg_config_allow_networks(const fg_config_t *cfg, fg_cidr_t *out, size_t cap, size_t *n)
{
    *n = 0;
    char item[64];
    for (const char *p = cfg->allow_networks; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (*n == cap || len == 0 || len >= sizeof(item))
            return FG_ERR_TOO_LARGE;
        memcpy(item, p, len);
        item[len] = '\0';
        if (fg_cidr_parse(item, &out[(*n)++]) != FG_OK)
            return FG_ERR_INVALID;
        p += len + (comma != NULL);
    }
    return FG_OK;
}

int fg_config_resolve(fg_config_t *cfg, char *err, size_t cap)
{
    fg_config_resolved_t *r = &cfg->r;
    free(r->jwt_public_key_pem);
    memset(r, 0, sizeof(*r));
    if (fg_config_listen_addr(cfg->listen, r->host, sizeof(r->host), &r->port) != FG_OK) {
        snprintf(err, cap, "config key listen: invalid address %s", cfg->listen);
        return FG_ERR_INVALID;
    }
    r->sync = fg_config_sync_mode(cfg);
    r->enforce_transitions = strcmp(cfg->transitions, "enforce") == 0;
    r->auth_mode = strcmp(cfg->auth_mode, "none") == 0       ? FG_AUTH_MODE_NONE
                   : strcmp(cfg->auth_mode, "required") == 0 ? FG_AUTH_MODE_REQUIRED
                                                             : FG_AUTH_MODE_AUTO;
    if ((cfg->tls_cert_file[0] != '\0') != (cfg->tls_key_file[0] != '\0')) {
        snprintf(err, cap, "config key tls.cert_file: tls.cert_file and tls.key_file go together");
        return FG_ERR_INVALID;
    }
    r->tls = cfg->tls_cert_file[0] != '\0';
    if (fg_config_allow_networks(cfg, r->allow, sizeof(r->allow) / sizeof(r->allow[0]),
                                 &r->nallow) != FG_OK) {
        snprintf(err, cap, "config key webhooks.allow_networks: at most 64 networks");
        return FG_ERR_INVALID;
    }
    if (cfg->jwt_public_key_file[0] != '\0' &&
        read_public_key(cfg->jwt_public_key_file, &r->jwt_public_key_pem, err, cap) != FG_OK)
        return FG_ERR_INVALID;
    r->cluster = cfg->cluster_redis_url[0] != '\0';
    if (r->cluster && cfg->cluster_lease_ms <= cfg->connect_timeout_ms + cfg->request_timeout_ms) {
        snprintf(err, cap,
                 "config key cluster.lease_ms: %lld must be longer than a webhook attempt "
                 "(webhooks.connect_timeout_ms + webhooks.request_timeout_ms = %lld)",
                 (long long)cfg->cluster_lease_ms,
                 (long long)(cfg->connect_timeout_ms + cfg->request_timeout_ms));
        return FG_ERR_INVALID;
    }
    if (r->cluster && cfg->cluster_node_id[0] == '\0') {
        /* a name that stays the same across restarts: the host and the port */
        char host[48] = "node";
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        snprintf(cfg->cluster_node_id, sizeof(cfg->cluster_node_id), "%s:%u", host, r->port);
    }
    r->done = true;
    return FG_OK;
}
