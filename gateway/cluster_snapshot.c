/*
 * cluster_snapshot.c - a node that joins after the shared log was trimmed starts from a live
 * peer's copy of its store (cluster mode):
 * - every node lists itself in Redis (fg:peers: node id -> cluster.advertise_url) and serves
 *   GET /v1/cluster/snapshot (admin scope): a consistent copy of its store (one read transaction:
 *   events, run views, subscriptions, deliveries, and its place in the log), made on a thread of
 *   its own so no loop waits for it;
 * - at start, before the store opens, a node whose store ends below the log's floor (events it
 *   never applied are gone from the log) fetches a peer's copy, installs it as its store, and
 *   follows the log from the copy's place: its views are the peer's, then the same log's.
 * Without a peer to copy from it starts on what it has, and says so: the numbers it lacks are
 * lost ranges (clients resuming in them are told).
 */
#include "events/log.h"
#include "events/redis_log.h"
#include "events/timefmt.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"
#include "gateway/pending.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEERS "fg:peers"

/* --- serving a copy --------------------------------------------------------------------- */

typedef struct {
    fg_pending_t pending;
    fg_writer_job_t job; /* done by the copying thread */
    const fg_store_t *store;
    char path[PATH_MAX];
    char err[256];
} snap_t;

static void *copy_main(void *arg)
{
    snap_t *c = arg;
    pthread_setname_np(pthread_self(), "fg-snapshot");
    c->job.status = fg_store_snapshot(c->store, c->path, c->err, sizeof(c->err));
    c->job.done(&c->job);
    return NULL;
}

static int start_copy(void *ctx, fg_writer_job_t *job)
{
    (void)ctx;
    snap_t *c = (snap_t *)((char *)job - offsetof(snap_t, job));
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, copy_main, c) == 0 ? FG_OK : FG_ERR_IO;
    pthread_attr_destroy(&attr);
    return rc;
}

static void snap_answer(fg_pending_t *p, h2o_req_t *req)
{
    snap_t *c = (snap_t *)p;
    if (c->job.status != FG_OK) {
        fg_log(FG_LOG_ERROR, "cluster_snapshot_failed", "error=\"%s\"", c->err);
        fg_http_fail(req, FG_ERR_IO, "the store could not be copied");
        return;
    }
    fg_log(FG_LOG_INFO, "cluster_snapshot_served", "file=%s", c->path);
    /* h2o opens the file now; once it is open the name can go */
    if (h2o_file_send(req, 200, "OK", c->path,
                      h2o_iovec_init(H2O_STRLIT("application/vnd.sqlite3")), 0) != 0)
        fg_http_fail(req, FG_ERR_IO, "the copy could not be sent");
}

static void snap_release(fg_pending_t *p)
{
    snap_t *c = (snap_t *)p;
    unlink(c->path);
    free(c);
}

int fg_cluster_snapshot_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param)
{
    (void)who;
    (void)param;
    fg_server_t *srv = fg_loop_of(req)->server;
    if (!srv->cfg->r.cluster) {
        fg_http_error(req, 404, "not_found", "this node is not in cluster mode", NULL, NULL, -1);
        return 0;
    }
    snap_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        fg_http_fail(req, FG_ERR_NOMEM, "out of memory");
        return 0;
    }
    static _Atomic unsigned counter;
    snprintf(c->path, sizeof(c->path), "%s/snapshot-%d-%u.db", srv->cfg->data_dir, (int)getpid(),
             atomic_fetch_add(&counter, 1));
    c->store = srv->store;
    c->pending.answer = snap_answer;
    c->pending.release = snap_release;
    if (fg_pending_submit_to(&c->pending, req, &c->job, start_copy, NULL) != FG_OK) {
        fg_http_fail(req, FG_ERR_IO, "cannot start the copy");
        free(c);
    }
    return 0;
}

/* --- starting from a copy ----------------------------------------------------------------- */

void fg_cluster_advertise(const fg_config_t *cfg, uint16_t port)
{
    fg_redis_t *r = NULL;
    char url[600];
    if (fg_redis_open(cfg->cluster_redis_url, cfg->cluster_redis_timeout_ms, &r, url,
                      sizeof(url)) == FG_OK) {
        if (cfg->cluster_advertise_url[0] != '\0')
            snprintf(url, sizeof(url), "%s", cfg->cluster_advertise_url);
        else
            snprintf(url, sizeof(url), "%s://%s:%u", cfg->r.tls ? "https" : "http", cfg->r.host,
                     port);
        redisReply *rep = fg_redis_cmdf(r, "HSET " PEERS " %s %s", cfg->cluster_node_id, url);
        if (rep != NULL)
            freeReplyObject(rep);
    }
    fg_redis_close(r);
}

static size_t to_file(char *p, size_t size, size_t n, void *ud)
{
    return fwrite(p, size, n, ud);
}

/* Fetches url's snapshot into path. True when a SQLite file came. */
static bool fetch(const char *url, const char *token, const char *path, char *why, size_t cap)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        snprintf(why, cap, "cannot write %.200s", path);
        return false;
    }
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    char auth[600], full[700];
    snprintf(full, sizeof(full), "%s/v1/cluster/snapshot", url);
    if (token[0] != '\0') {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hdr = curl_slist_append(hdr, auth);
    }
    long status = 0;
    CURLcode code = CURLE_FAILED_INIT;
    if (h != NULL) {
        curl_easy_setopt(h, CURLOPT_URL, full);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_file);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L); /* a copy that stalls is given up */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        code = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(h);
    }
    curl_slist_free_all(hdr);
    bool ok = fclose(f) == 0 && code == CURLE_OK && status == 200;
    char magic[16] = "";
    f = ok ? fopen(path, "rb") : NULL;
    ok = f != NULL && fread(magic, 1, 16, f) == 16 && memcmp(magic, "SQLite format 3", 16) == 0;
    if (f != NULL)
        fclose(f);
    if (!ok) {
        snprintf(why, cap, "%.200s: %.60s (HTTP %ld)", full,
                 code != CURLE_OK ? curl_easy_strerror(code) : "not a store copy", status);
        unlink(path);
    }
    return ok;
}

/* Puts the copy in place of the store's files (the store is closed). */
static int install(const char *dir, const char *copy)
{
    char path[PATH_MAX];
    static const char *const extra[] = {"-wal", "-shm", "-seq"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/flowgate.db%s", dir, extra[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/flowgate.db", dir);
    return rename(copy, path) == 0 ? FG_OK : FG_ERR_IO;
}

/* Copies left by a node that died while it served or fetched one (each a whole store). The data
 * directory is this process's (its lock is held), so none of them is in use. */
static void remove_stale_copies(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const char *db = strstr(e->d_name, ".db"); /* snapshot-….db, or its -journal */
        if (strncmp(e->d_name, "snapshot-", 9) != 0 || db == NULL ||
            (db[3] != '\0' && db[3] != '-'))
            continue;
        char path[PATH_MAX + 256];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (unlink(path) == 0)
            fg_log(FG_LOG_INFO, "cluster_snapshot_stale_removed", "file=%s", path);
    }
    closedir(d);
}

int fg_cluster_bootstrap(const fg_config_t *cfg, char *err, size_t errcap)
{
    remove_stale_copies(cfg->data_dir);
    fg_redis_t *r = NULL;
    char why[320];
    if (fg_redis_open(cfg->cluster_redis_url, cfg->cluster_redis_timeout_ms, &r, why,
                      sizeof(why)) != FG_OK) {
        fg_redis_close(r);
        return FG_OK; /* Redis away: started on what is here; the follower catches up */
    }
    redisReply *rep = fg_redis_cmdf(r, "GET fg:purged");
    uint64_t floor = rep && rep->type == REDIS_REPLY_STRING ? strtoull(rep->str, NULL, 10) : 0;
    if (rep != NULL)
        freeReplyObject(rep);
    fg_store_t *s;
    uint64_t last = 0;
    if (floor > 0 && fg_store_open(cfg->data_dir, cfg->r.sync, &s, err, errcap) == FG_OK) {
        last = fg_store_last_seq(s);
        fg_store_close(s);
    }
    if (floor == 0 || last >= floor) {
        fg_redis_close(r);
        return FG_OK; /* the log holds everything after this store */
    }
    rep = fg_redis_cmdf(r, "HGETALL " PEERS);
    char copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s/snapshot-incoming.db", cfg->data_dir);
    bool done = false;
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i + 1 < rep->elements && !done;
         i += 2) {
        const char *node = rep->element[i]->str, *url = rep->element[i + 1]->str;
        if (node == NULL || url == NULL || strcmp(node, cfg->cluster_node_id) == 0)
            continue;
        if (!fetch(url, cfg->cluster_peer_token, copy, why, sizeof(why))) {
            fg_log(FG_LOG_WARN, "cluster_snapshot_unavailable", "peer=%s error=\"%s\"", node, why);
            continue;
        }
        done = install(cfg->data_dir, copy) == FG_OK;
        fg_log(done ? FG_LOG_INFO : FG_LOG_ERROR, "cluster_snapshot_installed",
               "peer=%s url=%s ok=%d had=%" PRIu64 " log_floor=%" PRIu64, node, url, done, last,
               floor);
    }
    if (rep != NULL)
        freeReplyObject(rep);
    fg_redis_close(r);
    if (!done)
        fg_log(FG_LOG_ERROR, "cluster_snapshot_none",
               "had=%" PRIu64 " log_floor=%" PRIu64 " no live peer gave a copy of its store: "
               "starting on this one; events %" PRIu64 "..%" PRIu64 " are lost ranges here",
               last, floor, last + 1, floor);
    return FG_OK;
}
