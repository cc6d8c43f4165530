/*
 * server.c - the server's lifecycle: the store and its projections opened and checked, the
 * listeners bound, the threads started in order (loops, writer, dispatcher), and the graceful
 * shutdown in reverse. What runs on the loops is in loop.c.
 *
 * Threads: fg_server_start/stop run on the main thread.
 */
#include "gateway/server.h"
#include "events/log.h"
#include "events/timefmt.h"
#include "gateway/body.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"
#include "gateway/pending.h"
#include "webhooks/outbox_store.h"
#include "webhooks/subscription.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* A server whose connections outlived the shutdown grace period, kept reachable until exit. */
static fg_server_t *abandoned_server;

/* --- start and stop ---------------------------------------------------------------------- */

/* Binds a listening socket. Returns the fd, or -1 with err filled. */
static int bind_listener(const char *host, uint16_t port, bool reuseport, char *err, size_t cap)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) {
        snprintf(err, cap, "cannot resolve listen address %s: %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        snprintf(err, cap, "cannot listen on %s:%u: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    freeaddrinfo(res);
    return fd;
}

static uint16_t fd_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* mkdir -p, then a write probe: a clear message beats SQLite's "unable to open". */
/* Creates the data directory when missing and takes its lock (flowgate.lock, holding the pid):
 * a second flowgate on the same directory is refused, the store being one process's. *lock_fd
 * stays open while the server lives. */
static int prepare_data_dir(const char *dir, int *lock_fd, char *err, size_t cap)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            goto fail;
        *p = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        goto fail;
    char lock[PATH_MAX + 32];
    snprintf(lock, sizeof(lock), "%s/flowgate.lock", dir);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        goto fail;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[24] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(err, cap,
                 "data directory %s is in use by another flowgate (pid %s): each process needs "
                 "its own",
                 dir, pid[0] ? pid : "unknown");
        close(fd);
        return FG_ERR_INVALID;
    }
    char pid[24];
    int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        close(fd);
        goto fail;
    }
    *lock_fd = fd;
    return FG_OK;
fail:
    snprintf(err, cap, "data directory %s is not usable: %s", dir, strerror(errno));
    return FG_ERR_IO;
}

static void server_free(fg_server_t *srv)
{
    for (size_t i = 0; i < srv->nloops; i++) {
        fg_loop_t *l = &srv->loops[i];
        if (l->reader)
            fg_store_reader_close(l->reader);
        if (l->listen_fd >= 0)
            close(l->listen_fd);
        fg_hub_dispose(&l->hub);
        SSL_CTX_free(atomic_exchange(&l->tls_next, NULL));
        SSL_CTX_free(l->accept_ctx.ssl_ctx);
        l->accept_ctx.ssl_ctx = NULL;
    }
    free(srv->loops);
    fg_runview_close(srv->runview);
    fg_logindex_stop(srv->logindex);
    fg_wh_outbox_destroy(srv->outbox);
    fg_repl_destroy(srv->repl);
    fg_auth_destroy(srv->auth);
    fg_mask_destroy(srv->mask);
    fg_limits_destroy(srv->limits);
    if (srv->store)
        fg_store_close(srv->store);
    fg_health_dispose(&srv->health);
    fg_health_dispose(&srv->cluster_health);
    close(srv->lock_fd); /* the data directory is free for the next process */
    free(srv);
}

static bool host_is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
}

/* Records a damaged store: flowgate still starts, serves what it can read, answers /readyz 503
 * and refuses writes. */
static void store_damaged(fg_server_t *srv, const char *why)
{
    char reason[320];
    snprintf(reason, sizeof(reason), "the store %.80s is damaged: %.160s",
             fg_store_path(srv->store), why);
    if (fg_health_corrupt(&srv->health, reason))
        fg_log(FG_LOG_ERROR, "store_corrupt",
               "file=%s problems=\"%s\" publishes are refused until the store is repaired "
               "(restore a backup, or move the file aside and restart)",
               fg_store_path(srv->store), why);
}

/* The start-up integrity check, bounded by store.integrity_check_ms. */
static void check_store(fg_server_t *srv)
{
    bool complete;
    char why[256];
    int64_t t0 = fg_time_mono_ms();
    int rc = fg_store_check(srv->store, srv->cfg->integrity_check_ms, &complete, why, sizeof(why));
    int64_t ms = fg_time_mono_ms() - t0;
    if (rc == FG_ERR_CORRUPT) {
        store_damaged(srv, why);
    } else if (srv->cfg->integrity_check_ms > 0 && !complete) {
        fg_log(FG_LOG_WARN, "store_check_incomplete",
               "file=%s ms=%lld the quick check did not finish within store.integrity_check_ms%s%s",
               fg_store_path(srv->store), (long long)ms, why[0] ? ": " : "", why);
    } else if (srv->cfg->integrity_check_ms > 0) {
        fg_log(FG_LOG_DEBUG, "store_checked", "file=%s ms=%lld", fg_store_path(srv->store),
               (long long)ms);
    }
}

/* What the writer keeps beside the log (projection.h): the outbox's tables, and the run views
 * caught up with the log before any job is taken; and the log lines' search index, which
 * follows the log on its own thread. A damaged store
 * gets neither: the writer then refuses every job, and the gateway still serves what it can read.
 */
static int open_projections(fg_server_t *srv, char *err, size_t errcap)
{
    if (fg_health_state(&srv->health) == FG_HEALTH_CORRUPT)
        return FG_OK;
    uint64_t applied = 0;
    bool rebuilt = false;
    int64_t t0 = fg_time_mono_ms();
    int rc = fg_wh_store_open(srv->store);
    if (rc == FG_OK)
        rc = fg_runview_open(srv->store, srv->cat, &srv->runview);
    if (rc == FG_OK)
        rc = fg_runview_sync(srv->runview, srv->cfg->rebuild_views != 0, &applied, &rebuilt);
    if (rc == FG_OK && applied > 0)
        fg_log(FG_LOG_INFO, "run_views_synced", "rebuilt=%d events=%llu ms=%lld", rebuilt,
               (unsigned long long)applied, (long long)(fg_time_mono_ms() - t0));
    /* the log lines' search index: a file of its own beside the store, kept by its own thread */
    char index_path[4200];
    snprintf(index_path, sizeof(index_path), "%s/logindex.db", srv->cfg->data_dir);
    if (rc == FG_OK && srv->cfg->logs_search_index == 0)
        rc = fg_logindex_remove(index_path);
    else if (rc == FG_OK)
        rc =
            fg_logindex_start(srv->store, index_path, srv->cfg->rebuild_views != 0, &srv->logindex);
    if (rc == FG_OK)
        return FG_OK;
    char why[192];
    bool damaged =
        fg_store_failure(srv->store, why, sizeof(why)) == FG_ERR_CORRUPT || rc == FG_ERR_CORRUPT;
    fg_runview_close(srv->runview);
    srv->runview = NULL;
    fg_logindex_stop(srv->logindex);
    srv->logindex = NULL;
    if (damaged) {
        store_damaged(srv, why);
        return FG_OK;
    }
    snprintf(err, errcap,
             "cannot open the run views, the log index and the webhook outbox in %s: %s",
             fg_store_path(srv->store), why);
    return FG_ERR_IO;
}

/* Builds the credentials and decides whether requests need one: auth.mode none never, required
 * always, auto when credentials are configured. Open on a non-loopback address only when the
 * operator said so (auth.mode none). */
static int setup_auth(fg_server_t *srv, char *err, size_t errcap)
{
    const fg_config_t *cfg = srv->cfg;
    fg_auth_config_t ac = {.keys = cfg->auth_keys,
                           .jwt_secret = cfg->jwt_secret,
                           .jwt_public_key = cfg->r.jwt_public_key_pem};
    int rc = fg_auth_create(&ac, srv->cat, &srv->auth, err, errcap);
    if (rc != FG_OK)
        return rc;
    bool creds = fg_auth_has_credentials(srv->auth), loopback = host_is_loopback(cfg->r.host);
    if (cfg->r.auth_mode == FG_AUTH_MODE_NONE) {
        srv->auth_on = false;
        fg_log(FG_LOG_WARN, "auth_disabled", "mode=none listen=%s", cfg->listen);
    } else if (creds) {
        srv->auth_on = true;
    } else if (cfg->r.auth_mode == FG_AUTH_MODE_REQUIRED || !loopback) {
        snprintf(err, errcap,
                 "config key auth.mode: no credentials are configured (auth.keys, auth.jwt.*) and "
                 "%s; set auth.mode to \"none\" to serve without authentication",
                 loopback ? "auth.mode is required" : "the listen address is not a loopback one");
        return FG_ERR_INVALID;
    } else {
        srv->auth_on = false;
        fg_log(FG_LOG_WARN, "auth_open",
               "no credentials configured: open to anyone who can reach %s (loopback only)",
               cfg->listen);
    }
    return FG_OK;
}

int fg_server_reload_tls(fg_server_t *srv, char *err, size_t errcap)
{
    const fg_config_t *cfg = srv->cfg;
    if (!cfg->r.tls) {
        snprintf(err, errcap, "TLS is not configured");
        return FG_ERR_INVALID;
    }
    SSL_CTX *ctx = fg_tls_context(cfg->tls_cert_file, cfg->tls_key_file, err, errcap);
    if (ctx == NULL)
        return FG_ERR_INVALID;
    for (size_t i = 0; i < srv->nloops; i++) {
        SSL_CTX_up_ref(ctx); /* each loop holds one */
        SSL_CTX_free(atomic_exchange(&srv->loops[i].tls_next, ctx));
    }
    SSL_CTX_free(ctx);
    return FG_OK;
}

int fg_server_start(const fg_config_t *cfg, const fg_catalog_t *cat, fg_server_t **out, char *err,
                    size_t errcap)
{
    if (!cfg->r.done) {
        snprintf(err, errcap, "the configuration was not resolved (fg_config_resolve)");
        return FG_ERR_INVALID;
    }
    const char *host = cfg->r.host;
    uint16_t port = cfg->r.port;
    int lock_fd;
    int rc = prepare_data_dir(cfg->data_dir, &lock_fd, err, errcap);
    if (rc != FG_OK)
        return rc;
    fg_server_t *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        close(lock_fd);
        return FG_ERR_NOMEM;
    }
    srv->lock_fd = lock_fd;
    srv->cfg = cfg;
    srv->cat = cat;
    pthread_mutex_init(&srv->phase_lock, NULL);
    pthread_mutex_init(&srv->dispatcher_lock, NULL);
    pthread_cond_init(&srv->phase_cond, NULL);
    fg_health_init(&srv->health);
    fg_health_init(&srv->cluster_health);
    if (cfg->r.cluster)
        fg_cluster_bootstrap(cfg, err, errcap);
    rc = fg_store_open(cfg->data_dir, cfg->r.sync, &srv->store, err, errcap);
    if (rc != FG_OK) {
        fg_health_dispose(&srv->health);
        fg_health_dispose(&srv->cluster_health);
        close(srv->lock_fd);
        free(srv);
        return rc;
    }
    check_store(srv);
    if ((rc = open_projections(srv, err, errcap)) != FG_OK ||
        (cfg->r.cluster && (rc = fg_cluster_check(srv, err, errcap)) != FG_OK)) {
        server_free(srv);
        return rc;
    }
    if ((rc = setup_auth(srv, err, errcap)) != FG_OK ||
        (rc = fg_mask_create(cfg->logs_mask, &srv->mask, err, errcap)) != FG_OK) {
        server_free(srv);
        return rc;
    }
    if ((srv->limits = fg_limits_create()) == NULL) {
        server_free(srv);
        return FG_ERR_NOMEM;
    }
    srv->outbox = fg_wh_outbox_create(cat, cfg->r.allow, cfg->r.nallow);
    bool damaged = fg_health_state(&srv->health) == FG_HEALTH_CORRUPT;
    if (srv->outbox == NULL || (fg_wh_outbox_load(srv->outbox, srv->store) != FG_OK && !damaged)) {
        snprintf(err, errcap, "cannot load the webhook subscriptions from %s",
                 fg_store_path(srv->store));
        server_free(srv);
        return FG_ERR_IO;
    }
    size_t di;
    json_t *declared;
    json_array_foreach(cfg->subscriptions, di, declared)
    {
        if (damaged)
            break; /* nothing is written into a damaged store */
        fg_verr_t verr;
        if (cfg->r.cluster) { /* checked here, declared through the log once it runs */
            fg_wh_sub_t probe;
            fg_wh_sub_init(&probe);
            rc = fg_wh_sub_apply_json(&probe, declared, true, cat, cfg->r.allow, cfg->r.nallow,
                                      &verr);
            fg_wh_sub_dispose(&probe);
        } else {
            rc = fg_wh_outbox_declare(srv->outbox, srv->store, declared, &verr);
        }
        if (rc != FG_OK) {
            if (rc == FG_ERR_INVALID)
                snprintf(err, errcap, "config key webhooks.subscriptions[%zu]: %s", di,
                         verr.message);
            else
                snprintf(err, errcap, "cannot store webhooks.subscriptions[%zu]", di);
            server_free(srv);
            return rc;
        }
    }

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    srv->nloops = cfg->threads > 0 ? (size_t)cfg->threads : (size_t)(cores > 0 ? cores : 1);
    srv->loops = calloc(srv->nloops, sizeof(*srv->loops));
    if (srv->loops == NULL) {
        server_free(srv);
        return FG_ERR_NOMEM;
    }
    for (size_t i = 0; i < srv->nloops; i++)
        srv->loops[i].listen_fd = -1;
    if (cfg->r.tls && (rc = fg_server_reload_tls(srv, err, errcap)) != FG_OK) {
        server_free(srv);
        return rc;
    }

    /* A port already in use must stop start-up: SO_REUSEPORT alone would share it silently with
     * another process of the same user. Probe without it first. */
    if (port != 0) {
        int probe = bind_listener(host, port, false, err, errcap);
        if (probe < 0) {
            server_free(srv);
            return FG_ERR_IO;
        }
        close(probe);
    }
    for (size_t i = 0; i < srv->nloops; i++) {
        srv->loops[i].listen_fd = bind_listener(host, port, true, err, errcap);
        if (srv->loops[i].listen_fd < 0) {
            server_free(srv);
            return FG_ERR_IO;
        }
        if (port == 0)
            port = fd_port(srv->loops[i].listen_fd); /* the others join the chosen port */
    }

    h2o_config_init(&srv->h2o_config);
    srv->h2o_config.server_name = h2o_iovec_init(H2O_STRLIT("flowgate"));
    /* a client that does not finish its request in time (slowloris) is closed */
    srv->h2o_config.http1.req_timeout = (uint64_t)cfg->http_request_timeout_ms;
    /* h2o buffers whole bodies before a handler runs, and refuses what passes this ceiling by
     * itself: over HTTP/1.1 with a 413 (made JSON by the error filter), at once when the
     * Content-Length says so, but over HTTP/2 with a stream reset (REFUSED_STREAM, which clients
     * retry). So the ceiling sits well above limits.max_body_bytes: below it the handler answers
     * 413 on both protocols. h2o keeps a body past 32 MiB in a temporary file, not in memory. */
    size_t ceiling = (size_t)cfg->max_body_bytes * 4;
    srv->h2o_config.max_request_entity_size = ceiling > FG_BODY_CEILING ? ceiling : FG_BODY_CEILING;
    srv->hostconf =
        h2o_config_register_host(&srv->h2o_config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(srv->hostconf, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = fg_loop_on_req;
    fg_error_filter_register(pathconf);
    fg_error_filter_register(&srv->hostconf->fallback_path);

    uint64_t last_seq = fg_store_last_seq(srv->store);
    for (size_t i = 0; i < srv->nloops; i++) {
        fg_loop_t *l = &srv->loops[i];
        l->server = srv;
        l->index = (int)i;
        h2o_linklist_init_anchor(&l->dirty_streams);
        if (fg_hub_init(&l->hub, last_seq, fg_stream_deliver, l) != FG_OK ||
            fg_store_reader_open(srv->store, &l->reader, err, errcap) != FG_OK) {
            server_free(srv);
            return FG_ERR_IO;
        }
    }
    /* The loops first: the writer posts to their queues, which they create themselves. */
    for (size_t i = 0; i < srv->nloops; i++) {
        if (pthread_create(&srv->loops[i].thread, NULL, fg_loop_main, &srv->loops[i]) != 0) {
            fg_log(FG_LOG_ERROR, "thread_create_failed", "loop=%zu", i);
            abort();
        }
    }
    PHASE_WAIT(srv, srv->loops_ready == srv->nloops);

    /* the run views (when the store could open them), then the outbox */
    fg_projection_t projections[2];
    size_t nprojections = 0;
    if (srv->runview != NULL)
        projections[nprojections++] = fg_runview_projection(srv->runview);
    projections[nprojections++] = fg_wh_outbox_projection(srv->outbox);
    fg_writer_config_t wc = {
        .nprojections = nprojections,
        .store = srv->store,
        .cat = cat,
        .enforce_transitions = cfg->r.enforce_transitions,
        .retention_max_age_ms = cfg->retention_max_age_s * 1000,
        .retention_max_events = (uint64_t)cfg->retention_max_events,
        .retention_interval_ms = cfg->retention_interval_s * 1000,
        .max_group_events = 10000,
        .on_commit = fg_loop_fan_out,
        .on_commit_ctx = srv,
        .projections = projections,
        .health = &srv->health,
    };
    /* checkpoints off the commit path (a failure leaves them in the commits, as SQLite does) */
    if (fg_checkpointer_start(srv->store, 200, 4096, &srv->checkpointer) != FG_OK)
        fg_log(FG_LOG_WARN, "store_checkpointer_unavailable", "checkpoints stay in the commits");
    if (fg_writer_start(&wc, &srv->writer) != FG_OK) {
        fg_log(FG_LOG_ERROR, "thread_create_failed", "thread=writer");
        abort();
    }
    fg_wh_dispatcher_config_t dc = {
        .store = srv->store,
        .cat = cat,
        .allow = cfg->r.allow,
        .nallow = cfg->r.nallow,
        .writer = srv->writer,
        .outbox = srv->outbox,
        .connect_timeout_ms = cfg->connect_timeout_ms,
        .request_timeout_ms = cfg->request_timeout_ms,
        .retry_after_max_s = cfg->retry_after_max_s,
        .disable_after_s = cfg->disable_after_s,
        .breaker = {.failures = (unsigned)cfg->breaker_failures,
                    .probe_ms = cfg->breaker_probe_ms,
                    .probe_max_ms = cfg->breaker_probe_max_ms,
                    .jitter = 0.2},
        .console_url = cfg->console_url,
        .health = &srv->health,
    };
    if (cfg->r.cluster && fg_cluster_start(srv) != FG_OK) {
        fg_log(FG_LOG_ERROR, "thread_create_failed", "thread=cluster");
        abort();
    }
    dc.sequencer = srv->sequencer;
    dc.owner = srv->owner;
    dc.result_kind = srv->repl ? &srv->repl_kinds[1] : NULL;
    fg_wh_schedule_default(&dc.schedule);
    fg_wh_schedule_parse(cfg->retry_schedule, &dc.schedule); /* checked with the config */
    fg_wh_dispatcher_t *dispatcher;
    if (fg_wh_dispatcher_start(&dc, &dispatcher) != FG_OK) {
        fg_log(FG_LOG_ERROR, "thread_create_failed", "thread=webhook_dispatcher");
        abort();
    }
    pthread_mutex_lock(&srv->dispatcher_lock); /* the writer already commits */
    srv->dispatcher = dispatcher;
    pthread_mutex_unlock(&srv->dispatcher_lock);
    if (cfg->r.cluster && fg_cluster_follow(srv) != FG_OK) {
        fg_log(FG_LOG_ERROR, "thread_create_failed", "thread=cluster_follower");
        abort();
    }
    if (cfg->r.cluster) {
        fg_cluster_advertise(cfg, port);
        fg_cluster_declare(srv);
    }
    pthread_mutex_lock(&srv->phase_lock);
    srv->serving = true;
    pthread_cond_broadcast(&srv->phase_cond);
    pthread_mutex_unlock(&srv->phase_lock);
    fg_log(FG_LOG_INFO, "listening",
           "addr=%s:%u tls=%d threads=%zu db=%s last_seq=%" PRIu64 " epoch=%016" PRIx64
           " cluster=%d node=%s",
           host, port, cfg->r.tls, srv->nloops, fg_store_path(srv->store), last_seq,
           fg_store_epoch(srv->store), cfg->r.cluster,
           cfg->cluster_node_id[0] ? cfg->cluster_node_id : "-");
    *out = srv;
    return FG_OK;
}

void fg_server_stop(fg_server_t *srv)
{
    atomic_store(&srv->stopping, true);
    /* cluster mode: the webhook leases go at once, so other nodes take the deliveries over */
    fg_wh_owner_release_all(srv->owner);
    for (size_t i = 0; i < srv->nloops; i++)
        fg_loop_stop(&srv->loops[i]);
    /* Loops answer their publishes (the writer still runs), end their streams, then wait for
     * the writer to stop before they free their queues. */
    PHASE_WAIT(srv, srv->loops_drained == srv->nloops);
    /* The dispatcher before the writer: its last outcomes are committed by the writer. */
    pthread_mutex_lock(&srv->dispatcher_lock); /* the writer still commits (the follower's,
                                                  the dispatcher's last outcomes) */
    fg_wh_dispatcher_t *dispatcher = srv->dispatcher;
    srv->dispatcher = NULL;
    pthread_mutex_unlock(&srv->dispatcher_lock);
    fg_wh_dispatcher_stop(dispatcher);
    fg_wh_owner_stop(srv->owner);
    srv->owner = NULL;
    /* cluster mode: nothing more goes to Redis, and the follower's last batch is applied */
    fg_sequencer_stop(srv->sequencer);
    srv->sequencer = NULL;
    fg_follower_stop(srv->follower);
    srv->follower = NULL;
    fg_writer_stop(srv->writer);
    srv->writer = NULL;
    fg_checkpointer_stop(srv->checkpointer);
    srv->checkpointer = NULL;
    fg_runview_close(srv->runview); /* its statements go before the store closes */
    srv->runview = NULL;
    pthread_mutex_lock(&srv->phase_lock);
    srv->writer_stopped = true;
    pthread_cond_broadcast(&srv->phase_cond);
    pthread_mutex_unlock(&srv->phase_lock);
    for (size_t i = 0; i < srv->nloops; i++)
        pthread_join(srv->loops[i].thread, NULL);
    fg_logindex_stop(srv->logindex); /* the loops used it; its reader goes before the store */
    srv->logindex = NULL;
    bool all_drained = true;
    for (size_t i = 0; i < srv->nloops; i++)
        all_drained &= srv->loops[i].drained;
    if (!all_drained) {
        /* Connections outlived the grace period: h2o cannot free them, and the process is
         * about to exit. Close the store and keep the rest as it is. */
        fg_log(FG_LOG_INFO, "stopped", "last_seq=%" PRIu64 " connections_left=1",
               fg_store_last_seq(srv->store));
        fg_store_close(srv->store);
        srv->store = NULL;
        abandoned_server = srv;
        return;
    }
    h2o_config_dispose(&srv->h2o_config);
    fg_log(FG_LOG_INFO, "stopped", "last_seq=%" PRIu64, fg_store_last_seq(srv->store));
    server_free(srv);
}
