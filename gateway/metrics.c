/*
 * metrics.c - GET /metrics in the Prometheus text exposition format (version 0.0.4): counters
 * and gauges from the writer, the loops, the dispatcher and the store, and two latency
 * histograms (publish, webhook attempt) in seconds. HTTP loop threads; every value is read with
 * an atomic load, or from this loop's store reader.
 */
#include "events/buf.h"
#include "events/runview.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"
#include "webhooks/outbox_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void head(fg_buf_t *b, const char *name, const char *type, const char *help)
{
    fg_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(fg_buf_t *b, const char *name, const char *type, const char *help, double v)
{
    head(b, name, type, help);
    fg_buf_printf(b, "%s %.17g\n", name, v);
}

static void histogram(fg_buf_t *b, const char *name, const char *help, fg_hist_t *h)
{
    head(b, name, "histogram", help);
    uint64_t cumulative = 0;
    for (int i = 0; i <= FG_HIST_BUCKETS; i++) {
        cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < FG_HIST_BUCKETS)
            fg_buf_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
                          (double)fg_hist_bounds_us[i] / 1e6, cumulative);
        else
            fg_buf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cumulative);
    }
    fg_buf_printf(b, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name,
                  (double)atomic_load(&h->sum_us) / 1e6, name, cumulative);
}

int fg_metrics_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param)
{
    fg_loop_t *l = fg_loop_of(req);
    fg_server_t *srv = l->server;
    const fg_writer_stats_t *st = fg_writer_stats(srv->writer);
    fg_wh_dispatcher_stats_t *ds =
        (fg_wh_dispatcher_stats_t *)fg_wh_dispatcher_stats(srv->dispatcher);
    fg_buf_t b;
    fg_buf_init(&b, 0);

    head(&b, "flowgate_events_published_total", "counter", "Events stored, by type.");
    for (size_t i = 0; i < fg_catalog_count(srv->cat); i++)
        fg_buf_printf(&b, "flowgate_events_published_total{type=\"%s\"} %" PRIu64 "\n",
                      fg_catalog_type(srv->cat, i)->name, atomic_load(&st->by_type[i]));
    one(&b, "flowgate_publish_duplicates_total", "counter",
        "Published events answered from an earlier one with the same id.",
        (double)atomic_load(&st->duplicates));
    one(&b, "flowgate_commits_total", "counter", "Store transactions committed.",
        (double)atomic_load(&st->commits));
    one(&b, "flowgate_commit_failures_total", "counter", "Store transactions that failed.",
        (double)atomic_load(&st->failed_commits));
    one(&b, "flowgate_illegal_transitions_total", "counter",
        "Run status changes outside the state machine.",
        (double)atomic_load(&st->illegal_transitions));
    one(&b, "flowgate_retention_deleted_total", "counter", "Events removed by retention.",
        (double)atomic_load(&st->retained));
    one(&b, "flowgate_publish_queue", "gauge", "Publishes waiting for the writer.",
        (double)fg_writer_queued(srv->writer));
    histogram(&b, "flowgate_publish_duration_seconds",
              "From a publish request taken to its answer, commit included.",
              &srv->publish_latency);

    one(&b, "flowgate_store_last_seq", "gauge", "Highest stored sequence number.",
        (double)fg_store_last_seq(srv->store));
    one(&b, "flowgate_store_purged_through", "gauge", "Highest sequence number retention removed.",
        (double)fg_store_purged_through(srv->store));
    if (srv->logindex != NULL) /* searches read the lines past it */
        one(&b, "flowgate_log_index_covered_seq", "gauge",
            "The last event the log search index has looked at (logs.search_index).",
            (double)fg_logindex_covered(srv->logindex));
    head(&b, "flowgate_store_health", "gauge",
         "The store's state: 1 for the current one (ok, cannot_commit, store_corrupt).");
    fg_health_state_t hs = fg_health_state(&srv->health);
    for (int i = FG_HEALTH_OK; i <= FG_HEALTH_CORRUPT; i++)
        fg_buf_printf(&b, "flowgate_store_health{state=\"%s\"} %d\n",
                      fg_health_name((fg_health_state_t)i), hs == (fg_health_state_t)i);
    if (srv->follower != NULL && srv->sequencer != NULL) {
        const fg_follower_stats_t *fs = fg_follower_stats(srv->follower);
        const fg_sequencer_stats_t *ss = fg_sequencer_stats(srv->sequencer);
        uint64_t head_seq = atomic_load(&srv->cluster_head), mine = fg_store_last_seq(srv->store);
        one(&b, "flowgate_cluster_log_head", "gauge", "Highest seq known in the Redis log.",
            (double)head_seq);
        one(&b, "flowgate_cluster_follower_lag_events", "gauge",
            "Events in the Redis log not yet applied here.",
            (double)(head_seq > mine ? head_seq - mine : 0));
        one(&b, "flowgate_cluster_follower_lag_seconds", "gauge",
            "Publish to applied here, of the last applied event.",
            (double)atomic_load(&fs->lag_us) / 1e6);
        one(&b, "flowgate_cluster_log_floor", "gauge",
            "The shared log's retention floor, as last trimmed by this node.",
            (double)atomic_load(&fs->log_floor));
        one(&b, "flowgate_cluster_epoch_changes_total", "counter",
            "Times Redis was found to have lost the log (a new epoch).",
            (double)atomic_load(&srv->cluster_epoch_changes));
        one(&b, "flowgate_cluster_applied_total", "counter", "Log entries applied here.",
            (double)atomic_load(&fs->applied));
        one(&b, "flowgate_cluster_bad_entries_total", "counter", "Log entries skipped: unreadable.",
            (double)atomic_load(&fs->bad_entries));
        one(&b, "flowgate_cluster_reconnects_total", "counter",
            "Times the follower lost Redis and got it back.", (double)atomic_load(&fs->reconnects));
        one(&b, "flowgate_cluster_publish_calls_total", "counter",
            "Publish function calls Redis answered.", (double)atomic_load(&ss->calls));
        one(&b, "flowgate_cluster_publish_failures_total", "counter",
            "Publish jobs answered 503: Redis unreachable or refusing.",
            (double)atomic_load(&ss->failures));
        one(&b, "flowgate_cluster_redis_rtt_seconds", "gauge",
            "The last publish pipeline's round trip to Redis.",
            (double)atomic_load(&ss->rtt_us) / 1e6);
    }
    if (srv->owner != NULL) {
        const fg_wh_owner_stats_t *os = fg_wh_owner_stats(srv->owner);
        one(&b, "flowgate_cluster_webhook_leases_held", "gauge",
            "Webhook subscriptions this node delivers (their leases).",
            (double)atomic_load(&os->held));
        one(&b, "flowgate_cluster_webhook_leases_taken_total", "counter",
            "Webhook leases taken by this node.", (double)atomic_load(&os->taken));
        one(&b, "flowgate_cluster_webhook_leases_lost_total", "counter",
            "Webhook leases found held by another node at renewal.",
            (double)atomic_load(&os->lost));
        one(&b, "flowgate_cluster_live_nodes", "gauge", "Live nodes, as this node last saw them.",
            (double)atomic_load(&os->live_nodes));
        one(&b, "flowgate_cluster_webhook_outcomes_fenced_total", "counter",
            "Attempt outcomes refused: the subscription's lease had moved to another node.",
            (double)atomic_load(&fg_wh_dispatcher_stats(srv->dispatcher)->fenced));
    }
    one(&b, "flowgate_store_bytes", "gauge", "Size of the store file and its write-ahead log.",
        (double)fg_store_disk_bytes(srv->store));

    head(&b, "flowgate_sse_streams_open", "gauge", "SSE streams open, by HTTP loop.");
    for (size_t i = 0; i < srv->nloops; i++)
        fg_buf_printf(&b, "flowgate_sse_streams_open{loop=\"%zu\"} %zu\n", i,
                      atomic_load(&srv->loops[i].nstreams));
    one(&b, "flowgate_sse_streams_opened_total", "counter", "SSE streams started.",
        (double)atomic_load(&srv->streams_opened));
    one(&b, "flowgate_sse_frames_sent_total", "counter", "Event frames written to SSE streams.",
        (double)atomic_load(&srv->frames_sent));
    one(&b, "flowgate_sse_slow_consumers_dropped_total", "counter",
        "SSE streams cut off for not keeping up.", (double)atomic_load(&srv->streams_slow));
    one(&b, "flowgate_sse_streams_hung_up_total", "counter",
        "SSE streams whose client went away, seen at once (HTTP/1.1: a FIN or RST while "
        "streaming).",
        (double)atomic_load(&srv->streams_hung_up));
    one(&b, "flowgate_http_requests_total", "counter", "HTTP requests handled.",
        (double)atomic_load(&srv->requests));
    one(&b, "flowgate_connections_open", "gauge", "Client connections open.",
        (double)atomic_load(&srv->connections));
    one(&b, "flowgate_connections_refused_total", "counter",
        "Connections refused over limits.max_connections.",
        (double)atomic_load(&srv->connections_refused));

    head(&b, "flowgate_webhook_deliveries_total", "counter", "Webhook attempts, by result.");
    uint64_t ok = atomic_load(&ds->succeeded), all = atomic_load(&ds->attempts);
    uint64_t refused = atomic_load(&ds->refused);
    fg_buf_printf(&b,
                  "flowgate_webhook_deliveries_total{result=\"succeeded\"} %" PRIu64 "\n"
                  "flowgate_webhook_deliveries_total{result=\"failed\"} %" PRIu64 "\n"
                  "flowgate_webhook_deliveries_total{result=\"refused\"} %" PRIu64 "\n",
                  ok, all - ok - refused, refused);
    /* the same counts under the names earlier versions used (dashboards and tests read them) */
    one(&b, "flowgate_webhook_attempts_total", "counter", "Webhook attempts finished.",
        (double)all);
    one(&b, "flowgate_webhook_succeeded_total", "counter", "Webhook attempts answered 2xx.",
        (double)ok);
    one(&b, "flowgate_webhook_refused_total", "counter",
        "Webhook attempts stopped by the address guard.", (double)refused);
    one(&b, "flowgate_webhook_dead_total", "counter",
        "Webhook deliveries whose retry schedule ran out.", (double)atomic_load(&ds->dead));
    one(&b, "flowgate_webhook_endpoints_open", "gauge",
        "Webhook endpoints whose breaker is open: their deliveries wait, one probe goes out.",
        (double)atomic_load(&ds->breakers_open));
    one(&b, "flowgate_webhook_breaker_opened_total", "counter",
        "Times an endpoint's breaker opened after failures in a row.",
        (double)atomic_load(&ds->breakers_opened));
    one(&b, "flowgate_webhook_disabled_total", "counter",
        "Subscriptions disabled by a 410 or by failing too long.",
        (double)atomic_load(&ds->disabled));
    histogram(&b, "flowgate_webhook_attempt_duration_seconds",
              "One webhook attempt, from its start to its outcome.", &ds->attempt_latency);
    fg_runview_gauges_t rg;
    if (fg_runview_gauges(l->reader, &rg) == FG_OK) {
        head(&b, "flowgate_runs", "gauge", "Runs in the run views, by current status.");
        for (int i = 0; i < FG_RUN_STATUS_COUNT; i++)
            fg_buf_printf(&b, "flowgate_runs{status=\"%s\"} %" PRIu64 "\n",
                          fg_run_status_name((fg_run_status_t)i), rg.runs[i]);
        fg_buf_printf(&b, "flowgate_runs{status=\"unknown\"} %" PRIu64 "\n", rg.runs_unknown);
        one(&b, "flowgate_approvals_pending", "gauge",
            "Approvals requested and not yet granted, rejected or withdrawn.",
            (double)rg.approvals_pending);
    }
    uint64_t pending, retrying;
    fg_wh_store_backlog(srv->store, &pending, &retrying);
    one(&b, "flowgate_webhook_pending", "gauge", "Webhook deliveries not tried yet.",
        (double)pending);
    one(&b, "flowgate_webhook_retry_backlog", "gauge",
        "Failed webhook deliveries waiting for their next attempt.", (double)retrying);
    fg_wh_sub_counts_t g;
    if (fg_wh_store_read_counts(l->reader, &g) == FG_OK) {
        one(&b, "flowgate_webhook_subscriptions", "gauge", "Webhook subscriptions.",
            (double)g.subs);
        one(&b, "flowgate_webhook_subscriptions_disabled", "gauge",
            "Webhook subscriptions disabled.", (double)g.disabled_subs);
    }

    if (b.data == NULL) {
        fg_http_fail(req, FG_ERR_NOMEM, "out of memory");
        return 0;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    char *body = h2o_mem_alloc_pool(&req->pool, b.len);
    memcpy(body, b.data, b.len);
    req->res.content_length = b.len;
    h2o_send_inline(req, body, b.len);
    fg_buf_dispose(&b);
    return 0;
}
