/*
 * dispatch_outcome.c - the outcome policy: what a finished attempt means (success; a failure
 * retried on the schedule, or dead when it is spent; 410 Gone or failing for too long disables the
 * subscription), the endpoint's breaker, and the outcomes handed to the writer as one op whose
 * commit releases their claims. Dispatcher thread, except the op's apply and done (the writer
 * thread), which touch only the op and the list of finished ops.
 */
#include "webhooks/dispatch_internal.h"
#include "events/log.h"
#include "events/text.h"
#include "events/timefmt.h"
#include "webhooks/sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

void fg_wd_results_free(result_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i].resp);
    free(r);
}

/* What went wrong with an attempt, in a few words: its error, else its HTTP status. */
static const char *describe(const result_t *r, char *buf, size_t cap)
{
    if (r->error[0] != '\0' || r->a.http_status == 0)
        return r->error;
    snprintf(buf, cap, "HTTP %d", r->a.http_status);
    return buf;
}

/* Feeds an attempt's outcome to its endpoint's breaker, and logs the breaker opening or closing
 * (once per change, never per attempt). error is the attempt's, or "". */
static void breaker_outcome(struct fg_wh_dispatcher *d, transfer_t *t, result_t *r, bool ok,
                            const char *error, int64_t not_before_ms)
{
    endpoint_t *ep = t->ep;
    int64_t now_ms = fg_time_mono_ms();
    fg_wh_breaker_t before = ep->breaker;
    fg_wh_breaker_change_t c = fg_wh_breaker_record(&ep->breaker, &d->cfg.breaker, ok, t->probe,
                                                    now_ms, not_before_ms, fg_rng_unit(&d->rng));
    dsub_t *ds = fg_wd_find_sub(d, t->sub_id);
    const char *host = ds != NULL ? ds->sub.target.host : "?";
    if (c == FG_WH_BREAKER_OPENED) {
        atomic_fetch_add(&d->stats.breakers_opened, 1);
        atomic_fetch_add(&d->stats.breakers_open, 1);
        fg_log(FG_LOG_WARN, "webhook_endpoint_failing",
               "id=%s host=%s failures=%u last_error=\"%s\" next_probe_ms=%lld its deliveries wait"
               " while one probe at a time goes out",
               t->sub_id, host, ep->breaker.consecutive, error,
               (long long)(ep->breaker.probe_at_ms - now_ms));
        json_t *ev = fg_wd_endpoint_event("webhook.endpoint_failing", t->sub_id, host);
        char what[32];
        json_object_set_new(ev, "error",
                            json_string(error[0] ? error : describe(r, what, sizeof(what))));
        json_object_set_new(ev, "failures", json_integer(ep->breaker.consecutive));
        fg_wd_emit(d, ev);
    } else if (c == FG_WH_BREAKER_CLOSED_AGAIN) {
        atomic_fetch_sub(&d->stats.breakers_open, 1);
        fg_log(FG_LOG_INFO, "webhook_endpoint_recovered",
               "id=%s host=%s down_ms=%lld failed_probes=%u its backlog drains now", t->sub_id,
               host, (long long)(now_ms - before.opened_at_ms), before.probes);
        json_t *ev = fg_wd_endpoint_event("webhook.endpoint_recovered", t->sub_id, host);
        json_object_set_new(ev, "down_ms", json_integer(now_ms - before.opened_at_ms));
        fg_wd_emit(d, ev);
        /* The backlog drains from its oldest once the writer has made what failed during the
         * outage due now (with this outcome): until then the endpoint waits. */
        r->recovered = true;
        ep->recovering = true;
    }
}

/* Turns a finished transfer into an outcome. */
void fg_wd_finish(struct fg_wh_dispatcher *d, transfer_t *t, CURLcode code)
{
    endpoint_t *ep = t->ep;
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    result_t *r = fg_wd_new_result(d);
    snprintf(r->delivery_id, sizeof(r->delivery_id), "%.47s", t->delivery_id);
    snprintf(r->sub_id, sizeof(r->sub_id), "%.47s", t->sub_id);
    int64_t now = fg_time_now_us();
    r->a.attempt = t->attempt;
    r->a.at_us = t->started_us;
    r->a.duration_us = now - t->started_us;
    fg_hist_observe(&d->stats.attempt_latency, r->a.duration_us);
    if (t->resp_len > 0 && (r->resp = malloc(t->resp_len)) != NULL) {
        memcpy(r->resp, t->resp, t->resp_len);
        r->a.response_len = t->resp_len;
    }
    atomic_fetch_add(&d->stats.attempts, 1);
    bool ok = code == CURLE_OK && status >= 200 && status < 300;
    if (ep->in_flight > 0)
        ep->in_flight--;
    if (fg_wd_ep_more_due(ep)) { /* a slot is free for what is waiting */
        ep->check = true;
        d->slots_freed = true;
    }
    if (ok) {
        r->a.http_status = (int)status;
        r->a.new_status = FG_DELIVERY_SUCCEEDED;
        atomic_fetch_add(&d->stats.succeeded, 1);
        if (ep->first_failure_us != 0) {
            ep->first_failure_us = 0;
            r->failing_changed = true;
        }
        breaker_outcome(d, t, r, true, "", 0);
        return;
    }
    atomic_fetch_add(&d->stats.failed, 1);
    if (code != CURLE_OK) {
        if (t->refused[0]) {
            snprintf(r->error, sizeof(r->error), "%s", t->refused);
            atomic_fetch_add(&d->stats.refused, 1);
        } else {
            snprintf(r->error, sizeof(r->error), "%s", curl_easy_strerror(code));
        }
    } else {
        r->a.http_status = (int)status;
        if (status >= 300 && status < 400)
            snprintf(r->error, sizeof(r->error), "redirects are not followed (HTTP %ld)", status);
    }
    if (status == 410) {
        r->disable = true; /* the endpoint says it is gone */
        snprintf(r->error, sizeof(r->error), "410 Gone: the subscription was disabled");
    }
    if (ep->first_failure_us == 0) {
        ep->first_failure_us = now;
        r->failing_changed = true;
        r->failing_since_us = now;
    }
    if (d->cfg.disable_after_s > 0 &&
        now - ep->first_failure_us > d->cfg.disable_after_s * 1000000) {
        r->disable = true;
        fg_log(FG_LOG_WARN, "webhook_disabled", "id=%s reason=failing_since first_failure_us=%lld",
               t->sub_id, (long long)ep->first_failure_us);
    }
    if (r->disable) {
        /* disabled from now on (this thread sees it before the store does): a new failing
         * period starts if it is enabled again */
        dsub_t *ds = fg_wd_find_sub(d, t->sub_id);
        json_t *ev = fg_wd_endpoint_event("webhook.endpoint_disabled", t->sub_id,
                                          ds != NULL ? ds->sub.target.host : NULL);
        json_object_set_new(ev, "reason", json_string(status == 410 ? "gone" : "failing_too_long"));
        json_object_set_new(ev, "error", json_string(r->error));
        fg_wd_emit(d, ev);
        if (ds != NULL)
            ds->sub.enabled = false;
        ep->first_failure_us = 0;
        r->failing_changed = true;
        r->failing_since_us = 0;
    }
    double u = fg_rng_unit(&d->rng);
    int64_t delay_ms = fg_wh_retry_delay_ms(&d->cfg.schedule, t->attempt, u);
    if ((status == 429 || status == 503) && t->retry_after_s >= 0 && delay_ms >= 0) {
        int64_t ra = t->retry_after_s < d->cfg.retry_after_max_s ? t->retry_after_s
                                                                 : d->cfg.retry_after_max_s;
        delay_ms = ra * 1000;
    }
    if (delay_ms < 0) {
        r->a.new_status = FG_DELIVERY_DEAD;
        atomic_fetch_add(&d->stats.dead, 1);
        dsub_t *ds = fg_wd_find_sub(d, t->sub_id);
        json_t *ev = fg_wd_endpoint_event("webhook.delivery_dead", t->sub_id,
                                          ds != NULL ? ds->sub.target.host : NULL);
        json_object_set_new(ev, "delivery_id", json_string(t->delivery_id));
        json_object_set_new(ev, "attempts", json_integer(t->attempt));
        char what[32];
        json_object_set_new(ev, "error", json_string(describe(r, what, sizeof(what))));
        if (status > 0)
            json_object_set_new(ev, "http_status", json_integer(status));
        fg_wd_emit(d, ev);
    } else {
        r->a.new_status = FG_DELIVERY_FAILED;
        r->a.next_at_us = now + delay_ms * 1000;
    }
    int64_t not_before_ms = 0;
    if ((status == 429 || status == 503) && t->retry_after_s >= 0)
        not_before_ms = fg_time_mono_ms() + (t->retry_after_s < d->cfg.retry_after_max_s
                                                 ? t->retry_after_s
                                                 : d->cfg.retry_after_max_s) *
                                                1000;
    breaker_outcome(d, t, r, false, r->error, not_before_ms);
}

/* Forgets a claimed delivery of a subscription (its outcome is committed, or dropped). */
static void release_claim(struct fg_wh_dispatcher *d, const result_t *r)
{
    fg_wd_unclaim(d, r->delivery_id);
    dsub_t *ds = fg_wd_find_sub(d, r->sub_id);
    if (ds != NULL && ds->ep == NULL)
        return; /* stopped: its sending side is gone */
    if (ds != NULL && ds->ep->claimed > 0)
        ds->ep->claimed--;
    if (ds != NULL && r->recovered) { /* the backlog, from its oldest */
        ds->ep->recovering = false;
        ds->ep->check = true;
        fg_wd_ep_reread(ds->ep);
    }
    /* with per-run ordering, the run's next delivery is due now */
    if (ds != NULL && (fg_wd_ep_more_due(ds->ep) || ds->sub.ordering == FG_WH_ORDER_PER_RUN))
        ds->ep->check = true;
}

int fg_wd_result_apply(fg_writer_job_t *job, fg_store_t *s)
{
    result_op_t *op = (result_op_t *)job;
    int64_t now = op->now_us;
    for (size_t i = 0; i < op->n; i++) {
        result_t *r = &op->results[i];
        r->a.delivery_id = r->delivery_id;
        r->a.sub_id = r->sub_id;
        r->a.error = r->error[0] ? r->error : NULL;
        r->a.response = r->a.response_len ? r->resp : NULL;
        if (fg_wh_store_attempt_record(s, &r->a, now) != FG_OK)
            return FG_ERR_IO;
        if (r->failing_changed &&
            fg_wh_store_sub_set_failing(s, r->sub_id, r->failing_since_us) != FG_OK)
            return FG_ERR_IO;
        if (r->recovered && fg_wh_store_due_now(s, r->sub_id, now) != FG_OK)
            return FG_ERR_IO;
        if (r->disable) {
            int rc = fg_wh_outbox_set_enabled(op->outbox, s, r->sub_id, false, now);
            if (rc == FG_ERR_IO)
                return rc;
            if (op->d != NULL) /* the origin's (a node applying another's counts nothing) */
                atomic_fetch_add(&op->d->stats.disabled, 1);
        }
    }
    return FG_OK;
}

/* Writer thread: the op is committed (or failed); give it back to the dispatcher. */
static void result_done(fg_writer_job_t *job)
{
    result_op_t *op = (result_op_t *)job;
    struct fg_wh_dispatcher *d = op->d;
    pthread_mutex_lock(&d->done_lock);
    op->next_done = d->done;
    d->done = op;
    d->outstanding--;
    /* under the lock: once stop sees nothing outstanding, this thread is done with d */
    fg_wd_wake(d);
    pthread_cond_signal(&d->done_cond);
    pthread_mutex_unlock(&d->done_lock);
}

/* Hands one op to the writer, or in cluster mode to the shared log. */
static void submit(struct fg_wh_dispatcher *d, result_op_t *op)
{
    op->d = d;
    op->outbox = d->cfg.outbox;
    op->now_us = fg_time_now_us();
    op->job.apply = fg_wd_result_apply;
    op->job.done = result_done;
    op->job.redo_safe = true; /* lost to a power cut, the attempts are sent again */
    if (d->cfg.owner != NULL) {
        op->repl.kind = d->cfg.result_kind;
        op->repl.body = fg_wd_result_encode(op);
        fg_wh_owner_fence(d->cfg.owner, op->results[0].sub_id, op->repl.fence_key,
                          op->repl.fence_value, sizeof(op->repl.fence_key));
        op->job.repl = &op->repl;
    }
    pthread_mutex_lock(&d->done_lock);
    d->outstanding++; /* before the writer can answer it */
    pthread_mutex_unlock(&d->done_lock);
    int rc = FG_ERR_CLOSED;
    if (op->job.repl != NULL)
        rc = op->repl.body != NULL ? fg_sequencer_submit(d->cfg.sequencer, &op->job) : rc;
    else
        rc = fg_writer_submit(d->cfg.writer, &op->job);
    if (rc != FG_OK) {
        pthread_mutex_lock(&d->done_lock);
        d->outstanding--;
        pthread_mutex_unlock(&d->done_lock);
        /* stopping: the deliveries stay due in the store and are sent after a restart */
        for (size_t i = 0; i < op->n; i++)
            release_claim(d, &op->results[i]);
        fg_wd_results_free(op->results, op->n);
        json_decref(op->repl.body);
        free(op);
    }
}

void fg_wd_flush_results(struct fg_wh_dispatcher *d)
{
    if (d->npending == 0)
        return;
    result_t *pending = d->pending;
    size_t n = d->npending;
    d->pending = NULL;
    d->npending = d->cappending = 0;
    if (d->cfg.owner == NULL) { /* one op for the round */
        result_op_t *op = calloc(1, sizeof(*op));
        if (op == NULL)
            abort();
        op->n = n;
        op->results = pending;
        submit(d, op);
        return;
    }
    /* cluster mode: one entry per subscription, fenced by its lease */
    bool *taken = calloc(n, sizeof(*taken));
    if (taken == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (taken[i])
            continue;
        size_t m = 0;
        for (size_t k = i; k < n; k++)
            m += !taken[k] && strcmp(pending[k].sub_id, pending[i].sub_id) == 0;
        result_op_t *op = calloc(1, sizeof(*op));
        result_t *res = calloc(m, sizeof(*res));
        if (op == NULL || res == NULL)
            abort();
        for (size_t k = i; k < n; k++) {
            if (!taken[k] && strcmp(pending[k].sub_id, pending[i].sub_id) == 0) {
                res[op->n++] = pending[k]; /* the response buffer moves with it */
                taken[k] = true;
            }
        }
        op->results = res;
        submit(d, op);
    }
    free(taken);
    free(pending);
}

void fg_wd_release_done(struct fg_wh_dispatcher *d)
{
    pthread_mutex_lock(&d->done_lock);
    result_op_t *op = d->done;
    d->done = NULL;
    pthread_mutex_unlock(&d->done_lock);
    while (op != NULL) {
        result_op_t *next = op->next_done;
        for (size_t i = 0; i < op->n; i++)
            release_claim(d, &op->results[i]);
        if (op->job.status == FG_ERR_CONFLICT) {
            /* fenced: the subscription's lease moved on; its new owner sends what is due */
            atomic_fetch_add(&d->stats.fenced, op->n);
            fg_log(FG_LOG_INFO, "webhook_outcomes_fenced", "id=%s attempts=%zu",
                   op->results[0].sub_id, op->n);
        } else if (op->job.status != FG_OK) {
            fg_log(FG_LOG_ERROR, "webhook_results_not_stored", "error=\"%s\" attempts=%zu",
                   fg_strerror(op->job.status), op->n);
            /* reload: what this thread assumed (disabling) did not happen */
            d->subs_version = UINT64_MAX;
            atomic_store(&d->poked, true); /* and its deliveries are still due */
        }
        fg_wd_results_free(op->results, op->n);
        json_decref(op->repl.body);
        free(op);
        op = next;
    }
}
