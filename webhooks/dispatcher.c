/*
 * dispatcher.c - the webhook dispatcher thread (see dispatcher.h): its subscriptions, its rounds
 * of due deliveries, its loop, start and stop (dispatch_internal.h lists the other files).
 * Everything here runs on that thread, except poke and mark (any thread: a flag or the marks list,
 * then the eventfd) and the result op's apply/done (the writer thread), which touch only the op and
 * the list of finished ops.
 */
#include "webhooks/dispatch_internal.h"
#include "events/log.h"
#include "events/store_db.h"
#include "events/text.h"
#include "events/timefmt.h"
#include "webhooks/sign.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* --- subscriptions -------------------------------------------------------------------------- */

dsub_t *fg_wd_find_sub(struct fg_wh_dispatcher *d, const char *id)
{
    if (d->nslots == 0)
        return NULL;
    size_t mask = d->nslots - 1;
    for (size_t i = (size_t)fg_fnv1a(id, strlen(id)) & mask; d->sub_slots[i] != 0;
         i = (i + 1) & mask)
        if (strcmp(d->subs[d->sub_slots[i] - 1].sub.id, id) == 0)
            return &d->subs[d->sub_slots[i] - 1];
    return NULL;
}

/* Indexes d->subs by id (after each reload: every outcome and mark looks its subscription up). */
static void index_subs(struct fg_wh_dispatcher *d)
{
    size_t n = 16;
    while (n < 2 * d->nsubs + 1)
        n *= 2;
    free(d->sub_slots);
    if ((d->sub_slots = calloc(n, sizeof(*d->sub_slots))) == NULL)
        abort();
    d->nslots = n;
    for (size_t k = 0; k < d->nsubs; k++) {
        const char *id = d->subs[k].sub.id;
        size_t i = (size_t)fg_fnv1a(id, strlen(id)) & (n - 1);
        while (d->sub_slots[i] != 0)
            i = (i + 1) & (n - 1);
        d->sub_slots[i] = k + 1;
    }
}

static void dsub_dispose(dsub_t *ds)
{
    fg_wh_sub_dispose(&ds->sub);
    fg_wd_hdrset_unref(ds->hdrs);
    ds->hdrs = NULL;
    fg_wh_signer_free(ds->signer);
    fg_wh_signer_free(ds->old_signer);
    ds->signer = ds->old_signer = NULL;
}

/* A signer for a stored secret, or NULL when it does not decode (nothing is signed with it). */
static fg_wh_signer_t *signer_of(const char *secret)
{
    unsigned char key[FG_WH_KEY_MAX];
    size_t keylen;
    if (fg_wh_secret_decode(secret, key, &keylen) != FG_OK)
        return NULL;
    fg_wh_signer_t *s = fg_wh_signer_new(key, keylen);
    OPENSSL_cleanse(key, sizeof(key));
    if (s == NULL)
        abort(); /* never send unsigned what should be signed */
    return s;
}

typedef struct {
    struct fg_wh_dispatcher *d;
    dsub_t *subs;
    size_t n;
} reload_t;

static void reload_row(void *ctx, const fg_wh_sub_row_t *row)
{
    reload_t *r = ctx;
    dsub_t ds;
    memset(&ds, 0, sizeof(ds));
    fg_verr_t err;
    if (fg_wh_sub_from_row(&ds.sub, row, r->d->cfg.cat, r->d->cfg.allow, r->d->cfg.nallow, &err) !=
        FG_OK)
        return; /* the outbox logged it when it loaded the set */
    /* keep the sending side of a subscription already known */
    dsub_t *old = fg_wd_find_sub(r->d, row->id);
    if (old != NULL && old->ep != NULL) {
        ds.ep = old->ep;
        old->ep = NULL;
        if (!old->sub.enabled && ds.sub.enabled)
            ds.ep->first_failure_us = 0; /* enabled again: the failing period starts over */
        /* enabled again, or pointed elsewhere: whatever failed before says nothing now */
        if ((!old->sub.enabled && ds.sub.enabled) || strcmp(old->sub.url, ds.sub.url) != 0) {
            if (ds.ep->breaker.state != FG_WH_BREAKER_CLOSED)
                atomic_fetch_sub(&r->d->stats.breakers_open, 1);
            fg_wh_breaker_init(&ds.ep->breaker);
        }
    } else {
        ds.ep = fg_wd_endpoint_new(r->d);
        ds.ep->first_failure_us = row->failing_since_us;
    }
    ds.ep->check = true;
    ds.ep->cfg_gen++; /* its easy handles take the options of the subscription as it is now */
    fg_wd_endpoint_size_pool(ds.ep, ds.sub.max_in_flight);
    ds.hdrs = fg_wd_hdrset_new(&ds.sub);
    ds.signer = signer_of(ds.sub.secret);
    ds.old_signer = ds.sub.old_secret[0] ? signer_of(ds.sub.old_secret) : NULL;
    dsub_t *grown = realloc(r->subs, (r->n + 1) * sizeof(*grown));
    if (grown == NULL)
        abort();
    r->subs = grown;
    r->subs[r->n++] = ds;
}

static void reload_subs(struct fg_wh_dispatcher *d)
{
    reload_t r = {d, NULL, 0};
    fg_wh_store_read_subs_version(d->reader, &d->subs_version);
    int rc = fg_wh_store_read_subs(d->reader, NULL, reload_row, &r);
    if (rc != FG_OK && rc != FG_ERR_NOT_FOUND) {
        /* keep the set as it was; endpoints moved to the new rows go back */
        for (size_t i = 0; i < r.n; i++) {
            dsub_t *old = fg_wd_find_sub(d, r.subs[i].sub.id);
            if (old != NULL && old->ep == NULL)
                old->ep = r.subs[i].ep;
            else
                fg_wd_endpoint_free(r.subs[i].ep);
            dsub_dispose(&r.subs[i]);
        }
        free(r.subs);
        return;
    }
    for (size_t i = 0; i < d->nsubs; i++) {
        if (d->subs[i].ep != NULL) /* deleted: stop sending to it */
            fg_wd_endpoint_free(d->subs[i].ep);
        dsub_dispose(&d->subs[i]);
    }
    free(d->subs);
    d->subs = r.subs;
    d->nsubs = r.n;
    index_subs(d);
}

/* --- the thread ----------------------------------------------------------------------------- */

/* Takes the marks posted by commits: those subscriptions got new deliveries. */
static void take_marks(struct fg_wh_dispatcher *d)
{
    pthread_mutex_lock(&d->marks_lock);
    for (size_t i = 0; i < d->nmarks; i++) {
        dsub_t *ds = fg_wd_find_sub(d, d->marks[i]);
        if (ds != NULL)
            ds->ep->check = true;
        else
            atomic_store(&d->poked, true); /* a subscription this thread has not loaded yet */
    }
    d->nmarks = 0;
    pthread_mutex_unlock(&d->marks_lock);
}

/* How many attempts a paced endpoint may start now (SIZE_MAX unpaced). The bucket holds at
 * most a 10 ms share of the rate (one at least), so attempts go out evenly spaced; when it is
 * empty, paced_until_us says when the next one may. */
static size_t pace_allowed(endpoint_t *ep, double rate, int64_t now_us)
{
    ep->paced_until_us = -1;
    if (rate <= 0)
        return SIZE_MAX;
    double burst = rate / 100 > 1 ? rate / 100 : 1;
    if (ep->tokens_at_us == 0)
        ep->tokens = burst;
    else
        ep->tokens += (double)(now_us - ep->tokens_at_us) * rate / 1e6;
    if (ep->tokens > burst)
        ep->tokens = burst;
    ep->tokens_at_us = now_us;
    if (ep->tokens >= 1)
        return (size_t)ep->tokens;
    ep->paced_until_us = now_us + (int64_t)((1 - ep->tokens) * 1e6 / rate) + 1;
    return 0;
}

/* Without per-run ordering: starts up to budget of the deliveries read ahead (probe: the
 * breaker's), reading the next page first when none is left. False when the store could not be
 * read. */
static bool start_ahead(struct fg_wh_dispatcher *d, dsub_t *ds, size_t budget, bool probe,
                        int64_t now, size_t *nstarted)
{
    endpoint_t *ep = ds->ep;
    if (ep->ahead_pos == ep->ahead_len) {
        if (ep->ahead == NULL && (ep->ahead = malloc(MAX_DUE * sizeof(*ep->ahead))) == NULL)
            abort();
        size_t n = 0;
        ep->ahead_pos = ep->ahead_len = 0;
        if (fg_wh_store_read_due(d->reader, ds->sub.id, now, false, ep->from_seq, MAX_DUE,
                                 ep->ahead, &n) != FG_OK)
            return false;
        ep->ahead_len = n;
        ep->more = n == MAX_DUE;
        /* the next query starts at the last pending one now in hand (the bound is inclusive: a
         * replay may add another delivery of the same event) */
        for (size_t k = 0; k < n; k++)
            if (ep->ahead[k].attempts == 0 && ep->ahead[k].seq > ep->from_seq)
                ep->from_seq = ep->ahead[k].seq;
    }
    if (budget > 1)
        fg_wd_prefetch(d, ep->ahead + ep->ahead_pos, ep->ahead_len - ep->ahead_pos, budget);
    while (*nstarted < budget && ep->ahead_pos < ep->ahead_len) {
        const fg_wh_due_t *due = &ep->ahead[ep->ahead_pos];
        if (!fg_wd_is_claimed(d, due->id)) { /* claimed: in flight, or awaiting its commit */
            if (!fg_wd_start(d, ds, due, probe))
                break; /* it stays first in the page for a later round */
            (*nstarted)++;
            if (probe)
                fg_wh_breaker_probe_sent(&ep->breaker);
        }
        ep->ahead_pos++;
    }
    return true;
}

/* With per-run ordering: each round asks the store which deliveries head their runs now (an
 * outcome's commit may have made the next of a run due), and starts up to budget of them. */
static bool start_per_run(struct fg_wh_dispatcher *d, dsub_t *ds, size_t budget, bool probe,
                          int64_t now, size_t *nstarted)
{
    endpoint_t *ep = ds->ep;
    fg_wh_due_t due[MAX_DUE];
    /* the claimed ones are still due in the store until their outcome commits */
    size_t want = (size_t)(ds->sub.max_in_flight - ep->in_flight + ep->claimed);
    size_t limit = want < MAX_DUE ? want : MAX_DUE, n = 0;
    if (fg_wh_store_read_due(d->reader, ds->sub.id, now, true, 0, limit, due, &n) != FG_OK)
        return false;
    for (size_t k = 0; k < n && *nstarted < budget; k++) {
        if (!fg_wd_is_claimed(d, due[k].id) && fg_wd_start(d, ds, &due[k], probe)) {
            (*nstarted)++;
            if (probe)
                fg_wh_breaker_probe_sent(&ep->breaker);
        }
    }
    ep->more = n == limit;
    return true;
}

static void schedule_round(struct fg_wh_dispatcher *d)
{
    if (d->cfg.health != NULL && fg_health_state(d->cfg.health) == FG_HEALTH_CORRUPT)
        return; /* an outcome could not be recorded: the deliveries wait in the store */
    int64_t now = fg_time_now_us();
    /* all: something may have made older deliveries due (an API change, a rolled-back outcome
     * group, in cluster mode any tick: another node's change arrives without a poke here), so
     * every page read ahead is dropped. A tick alone keeps the pages, and drops a subscription's
     * only when one of its failed deliveries has come due (re-reading every page each tick cost
     * 100 subscriptions 5 rows read per delivery). */
    bool tick = d->tick;
    d->tick = false;
    bool all = atomic_exchange(&d->poked, false) || (tick && d->cfg.owner != NULL);
    /* One read transaction for the round: SQLite drops a connection's page cache whenever a read
     * transaction starts after a commit, so each query on its own read the index pages again
     * (with 100 subscriptions, 1.8 preads per delivery). */
    sqlite3 *rdb = fg_store_reader_db(d->reader);
    fg_store_db_exec(rdb, "BEGIN");
    d->slots_freed = false;
    /* On full rounds (the API pokes after every subscription change, the retry tick every
     * TICK_MS): deliveries are signed with the secrets as they are now, so reload on any change. */
    uint64_t version;
    if ((all || tick) && fg_wh_store_read_subs_version(d->reader, &version) == FG_OK &&
        version != d->subs_version)
        reload_subs(d);
    int64_t now_ms = fg_time_mono_ms();
    for (size_t i = 0; i < d->nsubs; i++) {
        dsub_t *ds = &d->subs[i];
        endpoint_t *ep = ds->ep;
        bool retry_due = false;
        if (all)
            fg_wd_ep_reread(ep);
        else if (tick && ds->sub.enabled && ds->sub.ordering != FG_WH_ORDER_PER_RUN &&
                 fg_wh_store_read_retry_due(d->reader, ds->sub.id, now, &retry_due) == FG_OK &&
                 retry_due)
            fg_wd_ep_reread(ep);
        if (!(ep->check || all || tick) || !ds->sub.enabled || ep->recovering ||
            ep->in_flight >= ds->sub.max_in_flight)
            continue;
        /* cluster mode: another node delivers it (its check waits for the lease) */
        if (d->cfg.owner != NULL && !fg_wh_owner_holds(d->cfg.owner, ds->sub.id))
            continue;
        /* an open breaker lets one probe through when it is due, nothing else: the backlog
         * waits in the store, and is not even read */
        int admits = fg_wh_breaker_admits(&ep->breaker, now_ms);
        if (admits == 0)
            continue;
        size_t budget = admits < 0 ? (size_t)(ds->sub.max_in_flight - ep->in_flight) : 1;
        size_t paced = pace_allowed(ep, ds->sub.rate_per_s, fg_time_mono_us());
        if (paced == 0) {
            ep->check = true; /* looked at again when a token has come (wait_ms) */
            continue;
        }
        budget = paced < budget ? paced : budget;
        ep->check = false;
        size_t nstarted = 0;
        bool ok = ds->sub.ordering == FG_WH_ORDER_PER_RUN
                      ? start_per_run(d, ds, budget, admits > 0, now, &nstarted)
                      : start_ahead(d, ds, budget, admits > 0, now, &nstarted);
        if (!ok) {
            ep->check = true;
            continue;
        }
        bool started = nstarted > 0;
        if (ds->sub.rate_per_s > 0)
            ep->tokens -= (double)nstarted;
        if (fg_wd_ep_more_due(ep) && ep->in_flight < ds->sub.max_in_flight)
            ep->check = true; /* more is due than this round started: look again */
        if (started)          /* send now, before preparing the next subscription's */
            fg_wd_run_timer(ep, fg_time_mono_us());
    }
    if (fg_store_db_exec(rdb, "COMMIT") != FG_OK)
        fg_store_db_exec(rdb, "ROLLBACK");
}

/* Hands socket readiness to the endpoints' multi handles. */
static void dispatch_events(struct fg_wh_dispatcher *d, const struct epoll_event *evs, int n)
{
    for (int i = 0; i < n; i++) {
        sockref_t *ref = evs[i].data.ptr;
        if (ref == NULL) { /* the wake-up eventfd */
            uint64_t v;
            ssize_t r = read(d->wakefd, &v, sizeof(v));
            (void)r;
            continue;
        }
        if (ref->dead)
            continue;      /* closed earlier in this batch */
        if (ref->parked) { /* libcurl does not watch it: the peer closed an idle connection */
            fg_wd_unpark(d, ref);
            continue;
        }
        int mask = ((evs[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                   ((evs[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                   ((evs[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
        fg_wd_ep_action(ref->ep, ref->fd, mask);
    }
    fg_wd_free_dead_refs(d);
}

/* Milliseconds the loop may sleep: until the next libcurl timeout or retry tick. */
static int wait_ms(struct fg_wh_dispatcher *d, int64_t next_tick_ms)
{
    if (d->slots_freed)
        return 0;
    int64_t now = fg_time_mono_us(), until = next_tick_ms * 1000;
    for (size_t i = 0; i < d->nsubs; i++) {
        int64_t due = d->subs[i].ep->curl_due_us, paced = d->subs[i].ep->paced_until_us;
        if (due >= 0 && due < until)
            until = due;
        if (paced >= 0 && d->subs[i].ep->check && paced < until)
            until = paced;
    }
    return until <= now ? 0 : (int)((until - now + 999) / 1000);
}

static void *dispatcher_main(void *arg)
{
    struct fg_wh_dispatcher *d = arg;
    pthread_setname_np(pthread_self(), "fg-webhooks");
    reload_subs(d);
    int64_t next_tick = 0;
    struct epoll_event evs[256];
    while (!atomic_load(&d->stopping)) {
        fg_wd_release_done(d);
        int64_t now_ms = fg_time_mono_ms();
        if (now_ms >= next_tick) {
            d->tick = true; /* retries may have come due */
            next_tick = now_ms + TICK_MS;
            for (size_t i = 0; i < d->nsubs; i++)
                if (d->subs[i].ep->in_flight == 0) /* quiet: give back its easy handles */
                    fg_wd_endpoint_drop_idle(d->subs[i].ep);
        }
        take_marks(d);
        schedule_round(d);
        fg_wd_run_timers(d);
        fg_wd_collect_finished(d);
        fg_wd_flush_results(d);
        int n = epoll_wait(d->epfd, evs, 256, wait_ms(d, next_tick));
        dispatch_events(d, evs, n);
        fg_wd_run_timers(d);
        fg_wd_collect_finished(d);
        fg_wd_flush_results(d);
    }
    /* abandon what is in flight: it is still due in the store */
    for (size_t i = 0; i < d->nsubs; i++) {
        fg_wd_endpoint_free(d->subs[i].ep);
        d->subs[i].ep = NULL;
    }
    fg_wd_free_dead_refs(d);
    fg_wd_free_parked(d);
    return NULL;
}

int fg_wh_dispatcher_start(const fg_wh_dispatcher_config_t *cfg, fg_wh_dispatcher_t **out)
{
    struct fg_wh_dispatcher *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return FG_ERR_NOMEM;
    d->cfg = *cfg;
    fg_rng_seed(&d->rng);
    char err[256];
    if (fg_store_reader_open(cfg->store, &d->reader, err, sizeof(err)) != FG_OK) {
        free(d);
        return FG_ERR_IO;
    }
    /* Its reads (a page of due deliveries, a walk of event bodies) follow commits closely:
     * SQLite drops a connection's whole map whenever the log changed (munmap, a TLB shootdown on
     * every core running one of our threads, then a fault per page), so this one reads. */
    fg_store_db_exec(fg_store_reader_db(d->reader), "PRAGMA mmap_size=0");
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    d->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&d->done_lock, NULL);
    pthread_cond_init(&d->done_cond, NULL);
    pthread_mutex_init(&d->marks_lock, NULL);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (d->epfd < 0 || d->wakefd < 0 || epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->wakefd, &ev) != 0 ||
        pthread_create(&d->thread, NULL, dispatcher_main, d) != 0) {
        if (d->epfd >= 0)
            close(d->epfd);
        if (d->wakefd >= 0)
            close(d->wakefd);
        pthread_mutex_destroy(&d->done_lock);
        pthread_cond_destroy(&d->done_cond);
        pthread_mutex_destroy(&d->marks_lock);
        fg_store_reader_close(d->reader);
        free(d);
        return FG_ERR_IO;
    }
    *out = d;
    return FG_OK;
}

void fg_wh_dispatcher_poke(fg_wh_dispatcher_t *d)
{
    atomic_store(&d->poked, true);
    fg_wd_wake(d);
}

void fg_wh_dispatcher_mark(fg_wh_dispatcher_t *d, const char *sub_id)
{
    pthread_mutex_lock(&d->marks_lock);
    bool known = false;
    for (size_t i = 0; i < d->nmarks && !known; i++)
        known = strcmp(d->marks[i], sub_id) == 0;
    if (!known) {
        if (d->nmarks == d->capmarks) {
            size_t cap = d->capmarks ? d->capmarks * 2 : 64;
            char(*m)[48] = realloc(d->marks, cap * sizeof(*m));
            if (m == NULL)
                abort();
            d->marks = m;
            d->capmarks = cap;
        }
        snprintf(d->marks[d->nmarks++], 48, "%.47s", sub_id);
    }
    pthread_mutex_unlock(&d->marks_lock);
    fg_wd_wake(d);
}

void fg_wh_dispatcher_stop(fg_wh_dispatcher_t *d)
{
    if (d == NULL)
        return;
    atomic_store(&d->stopping, true);
    fg_wd_wake(d);
    pthread_join(d->thread, NULL);
    /* Ops still with the writer come back when it answers them (it stops after the dispatcher
     * and answers every job it has): wait for the last, then release them all. */
    pthread_mutex_lock(&d->done_lock);
    while (d->outstanding > 0)
        pthread_cond_wait(&d->done_cond, &d->done_lock);
    pthread_mutex_unlock(&d->done_lock);
    fg_wd_release_done(d);
    for (size_t i = 0; i < d->nsubs; i++)
        dsub_dispose(&d->subs[i]);
    free(d->subs);
    free(d->sub_slots);
    free(d->claimed);
    for (size_t i = 0; i < JSON_CACHE; i++)
        free(d->jcache[i].json);
    fg_wd_results_free(d->pending, d->npending);
    close(d->epfd);
    close(d->wakefd);
    fg_store_reader_close(d->reader);
    pthread_mutex_destroy(&d->done_lock);
    pthread_cond_destroy(&d->done_cond);
    pthread_mutex_destroy(&d->marks_lock);
    free(d->marks);
    free(d);
}

const fg_wh_dispatcher_stats_t *fg_wh_dispatcher_stats(const fg_wh_dispatcher_t *d)
{
    return &d->stats;
}
