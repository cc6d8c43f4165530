/*
 * cluster.c - cluster mode's part of the server's start (cluster.redis_url): Redis checked and
 * the log joined before anything starts, then the sequencer and the follower (events/).
 * Main thread.
 */
#include "events/log.h"
#include "events/redis_log.h"
#include "gateway/gateway_internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* Cluster mode, before anything starts: Redis takes the function library and has an epoch, and
 * keeps what it acknowledges (cluster.durability strict refuses to start when it does not).
 * Redis unreachable is not fatal: the sequencer and the follower keep trying, /readyz says so. */
int fg_cluster_check(fg_server_t *srv, char *err, size_t errcap)
{
    const fg_config_t *cfg = srv->cfg;
    fg_redis_t *r;
    char why[320];
    int rc =
        fg_redis_open(cfg->cluster_redis_url, cfg->cluster_redis_timeout_ms, &r, why, sizeof(why));
    if (rc == FG_ERR_INVALID || rc == FG_ERR_NOMEM) {
        snprintf(err, errcap, "%s", why);
        return rc;
    }
    uint64_t epoch = 0;
    bool created = false;
    if (rc == FG_OK)
        rc = fg_rlog_load(r, why, sizeof(why));
    if (rc == FG_OK)
        rc = fg_rlog_join(r, fg_store_last_seq(srv->store), &epoch, &created, why, sizeof(why));
    if (rc != FG_OK) {
        fg_health_commit_failed(&srv->cluster_health, why);
        fg_log(FG_LOG_ERROR, "cluster_redis_down",
               "error=\"%s\" starting anyway: publishes get 503 "
               "until Redis answers",
               why);
        fg_redis_close(r);
        return FG_OK;
    }
    rc = fg_rlog_check_durability(r, why, sizeof(why));
    bool strict = strcmp(cfg->cluster_durability, "strict") == 0;
    if (rc == FG_ERR_INVALID && strict) {
        snprintf(err, errcap, "config key cluster.durability: strict, and Redis %s", why);
        fg_redis_close(r);
        return FG_ERR_INVALID;
    }
    if (rc != FG_OK)
        fg_log(FG_LOG_WARN, "cluster_redis_not_durable", "problem=\"%s\"", why);
    uint64_t head = 0;
    fg_rlog_head(r, &head);
    if (fg_follower_position(srv->store, &srv->cluster_ctl_seq, &srv->cluster_ctl_sub) != FG_OK) {
        snprintf(err, errcap, "cannot read the cluster position from %s",
                 fg_store_path(srv->store));
        fg_redis_close(r);
        return FG_ERR_IO;
    }
    atomic_store(&srv->cluster_head, head);
    atomic_store(&srv->cluster_epoch, epoch);
    fg_log(FG_LOG_INFO, "cluster_joined",
           "redis=%s node=%s log_epoch=%016" PRIx64 " log_head=%" PRIu64 " applied=%" PRIu64,
           cfg->cluster_redis_url, cfg->cluster_node_id[0] ? cfg->cluster_node_id : "-", epoch,
           head, fg_store_last_seq(srv->store));
    fg_redis_close(r);
    return FG_OK;
}

int fg_cluster_start(fg_server_t *srv)
{
    const fg_config_t *cfg = srv->cfg;
    if ((srv->repl = fg_repl_create(cfg->cluster_node_id)) == NULL)
        return FG_ERR_NOMEM;
    srv->repl_kinds[0] = fg_wh_op_kind(srv->outbox);
    srv->repl_kinds[1] = fg_wh_result_kind(srv->outbox);
    for (size_t i = 0; i < 2; i++)
        fg_repl_add_kind(srv->repl, &srv->repl_kinds[i]);
    fg_sequencer_config_t sc = {.redis_url = cfg->cluster_redis_url,
                                .cat = srv->cat,
                                .timeout_ms = cfg->cluster_redis_timeout_ms,
                                .enforce_transitions = cfg->r.enforce_transitions,
                                .min_replicas = (int)cfg->cluster_min_replicas,
                                .health = &srv->cluster_health,
                                .head = &srv->cluster_head,
                                .epoch = &srv->cluster_epoch,
                                .epoch_changes = &srv->cluster_epoch_changes,
                                .repl = srv->repl};
    fg_wh_owner_config_t oc = {.redis_url = cfg->cluster_redis_url,
                               .timeout_ms = cfg->cluster_redis_timeout_ms,
                               .node_id = cfg->cluster_node_id,
                               .lease_ms = cfg->cluster_lease_ms,
                               .store = srv->store};
    if (fg_sequencer_start(&sc, &srv->sequencer) != FG_OK ||
        fg_wh_owner_start(&oc, &srv->owner) != FG_OK)
        return FG_ERR_IO;
    return FG_OK;
}

int fg_cluster_follow(fg_server_t *srv)
{
    const fg_config_t *cfg = srv->cfg;
    fg_follower_config_t fc = {.redis_url = cfg->cluster_redis_url,
                               .timeout_ms = cfg->cluster_redis_timeout_ms,
                               .writer = srv->writer,
                               .store = srv->store,
                               .cat = srv->cat,
                               .health = &srv->cluster_health,
                               .head = &srv->cluster_head,
                               .epoch = &srv->cluster_epoch,
                               .epoch_changes = &srv->cluster_epoch_changes,
                               .node_id = cfg->cluster_node_id,
                               .retention_max_events = (uint64_t)cfg->retention_max_events,
                               .retention_max_age_ms = cfg->retention_max_age_s * 1000,
                               .retention_interval_ms = cfg->retention_interval_s * 1000,
                               .repl = srv->repl,
                               .ctl_seq = srv->cluster_ctl_seq,
                               .ctl_sub = srv->cluster_ctl_sub};
    return fg_follower_start(&fc, &srv->follower);
}

/* One declared subscription on its way through the log; the main thread waits for it. */
typedef struct {
    fg_wh_op_t op;
    fg_repl_op_t repl;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
} declare_t;

static void declare_done(fg_writer_job_t *job)
{
    declare_t *d = (declare_t *)job;
    pthread_mutex_lock(&d->lock);
    d->done = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

void fg_cluster_declare(fg_server_t *srv)
{
    size_t i;
    json_t *spec;
    json_array_foreach(srv->cfg->subscriptions, i, spec)
    {
        declare_t *d = calloc(1, sizeof(*d));
        if (d == NULL)
            return;
        fg_wh_op_init(&d->op, srv->outbox, FG_WH_OP_DECLARE, NULL, spec);
        d->repl.kind = &srv->repl_kinds[0];
        d->repl.body = fg_wh_op_encode(&d->op);
        d->op.job.repl = &d->repl;
        d->op.job.done = declare_done;
        pthread_mutex_init(&d->lock, NULL);
        pthread_cond_init(&d->cond, NULL);
        /* answered once applied here, or at once when it cannot be written: never left */
        if (d->repl.body != NULL && fg_sequencer_submit(srv->sequencer, &d->op.job) == FG_OK) {
            pthread_mutex_lock(&d->lock);
            while (!d->done)
                pthread_cond_wait(&d->cond, &d->lock);
            pthread_mutex_unlock(&d->lock);
        } else {
            d->op.job.status = FG_ERR_CLOSED;
        }
        if (d->op.job.status == FG_OK)
            fg_log(FG_LOG_INFO, "webhook_declared", "index=%zu through=shared_log", i);
        else
            fg_log(FG_LOG_ERROR, "webhook_declare_failed",
                   "index=%zu error=\"%s\" the declared subscription is not in the shared log "
                   "yet: it is declared again at this node's next start",
                   i, d->op.err.message[0] ? d->op.err.message : fg_strerror(d->op.job.status));
        fg_wh_op_dispose(&d->op);
        json_decref(d->repl.body);
        pthread_mutex_destroy(&d->lock);
        pthread_cond_destroy(&d->cond);
        free(d);
    }
}
