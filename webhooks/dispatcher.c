/*
 * dispatcher.c - the webhook dispatcher thread (see dispatcher.h). Everything here runs on that
 * thread, except poke and mark (any thread: a flag or the marks list, then the eventfd) and the
 * result op's apply/done (the writer thread), which touch only the op and the list of finished ops.
 */
#include "webhooks/dispatcher.h"
#include "events/text.h"
#include "events/log.h"
#include "events/rng.h"
#include "events/store.h"
#include "events/timefmt.h"
#include "webhooks/sign.h"
#include "webhooks/subscription.h"
#include "webhooks/outbox_store.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_DUE 256        /* deliveries asked for per subscription per round */
#define RESPONSE_KEEP 4096 /* bytes of a response body kept with its attempt */
#define TICK_MS 250        /* due retries are looked for this often */
#define JSON_CACHE 64      /* recent event bodies kept: a fan-out reads each event once */

typedef struct transfer transfer_t;
typedef struct endpoint endpoint_t;

/* A socket libcurl asked the loop to watch (the epoll entry points at it). */
typedef struct sockref {
    endpoint_t *ep;
    curl_socket_t fd;
    bool dead;                   /* libcurl is done with it: events still queued are ignored */
    struct sockref *next_dead;   /* in d->dead_refs until the event batch is over */
    struct sockref *prev, *next; /* in ep->socks */
} sockref_t;

/*
 * A subscription's sending side. Each has its own multi handle and so its own connection pool:
 * a hanging endpoint's connections and timers are never walked when another's are served, and
 * libcurl's per-pool scans stay as short as the subscription's in-flight cap.
 */
struct endpoint {
    struct fg_wh_dispatcher *d;
    CURLM *multi;
    int64_t curl_due_us; /* when libcurl wants its timeout handled (monotonic), or -1 */
    bool touched;        /* libcurl ran for it: look for finished transfers */
    transfer_t *active;  /* its transfers in the multi handle */
    transfer_t *idle;    /* finished transfers kept for their easy handles */
    sockref_t *socks;
    int in_flight;
    int claimed;              /* its deliveries in flight or awaiting their commit */
    bool check;               /* may have due deliveries: query it in the next round */
    bool more;                /* its last query filled the page: more may be due */
    uint64_t from_seq;        /* pending ones below are in hand (started or claimed) */
    int64_t first_failure_us; /* since when every attempt failed; 0 after a success */
    long max_conns;           /* the pool's size, as last set */
    fg_wh_breaker_t breaker;  /* closed, or open while the endpoint keeps failing */
    bool recovering; /* its breaker closed: hold until the failed ones are made due (in order) */
};

typedef struct {
    fg_wh_sub_t sub;
    endpoint_t *ep;
} dsub_t;

struct transfer {
    CURL *easy; /* kept when the transfer is reused */
    struct curl_slist *headers;
    endpoint_t *ep;
    char sub_id[48], delivery_id[48];
    unsigned attempt;
    bool probe; /* the breaker's probe */
    char *body;
    size_t body_len;
    char resp[RESPONSE_KEEP];
    size_t resp_len;
    int64_t retry_after_s; /* -1 when absent */
    char refused[160];     /* why the address guard stopped it, or "" */
    int64_t started_us;
    CURLcode code;           /* when finished */
    transfer_t *prev, *next; /* in ep->active, or next in ep->idle */
};

/* An attempt's outcome, to be committed by the writer. */
typedef struct {
    fg_wh_attempt_t a;
    char delivery_id[48], sub_id[48];
    char error[256];
    char *resp;               /* the first bytes of the response body (malloc'd), or NULL */
    bool disable;             /* 410 Gone, or failing for too long */
    bool recovered;           /* it closed its endpoint's breaker: the failed ones are due now */
    bool failing_changed;     /* the subscription started or stopped failing with this one */
    int64_t failing_since_us; /* then: since when (0: recovered) */
} result_t;

static void results_free(result_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i].resp);
    free(r);
}

typedef struct result_op {
    fg_writer_job_t job;
    struct fg_wh_dispatcher *d;
    size_t n;
    result_t *results;
    struct result_op *next_done; /* in d->done while waiting for the dispatcher */
} result_op_t;

struct fg_wh_dispatcher {
    fg_wh_dispatcher_config_t cfg;
    pthread_t thread;
    int epfd;             /* every endpoint's sockets, and wakefd */
    int wakefd;           /* eventfd: other threads wake the loop through it */
    sockref_t *dead_refs; /* freed after the current event batch */
    fg_store_reader_t *reader;
    struct {
        uint64_t seq;
        char *json;
        size_t len;
    } jcache[JSON_CACHE]; /* by seq % JSON_CACHE; events never change */
    dsub_t *subs;         /* enabled and disabled; dispatcher thread */
    size_t nsubs;
    uint64_t subs_version; /* of the subscriptions table when last loaded */
    bool slots_freed;      /* a transfer finished: schedule again before sleeping */
    char (*claimed)[48];   /* hash set: deliveries in flight or awaiting their commit */
    size_t nclaimed, ntombs, capclaimed;
    result_t *pending; /* outcomes not yet handed to the writer */
    size_t npending, cappending;
    fg_rng_t rng;       /* retry jitter; dispatcher thread */
    _Atomic bool poked; /* look at every subscription */
    _Atomic bool stopping;
    pthread_mutex_t marks_lock; /* guards marks */
    char (*marks)[48];          /* subscriptions with new deliveries since the last round */
    size_t nmarks, capmarks;
    pthread_mutex_t done_lock; /* guards done and outstanding */
    pthread_cond_t done_cond;  /* signalled when an op comes back (stop waits for the last) */
    result_op_t *done;         /* committed ops to release */
    size_t outstanding;        /* ops submitted to the writer and not yet back */
    fg_wh_dispatcher_stats_t stats;
};

/* --- the event loop's plumbing -------------------------------------------------------------- */

static void wake(struct fg_wh_dispatcher *d)
{
    uint64_t one = 1;
    ssize_t w = write(d->wakefd, &one, sizeof(one));
    (void)w; /* EAGAIN: the counter is already non-zero, the loop wakes anyway */
}

/* CURLMOPT_SOCKETFUNCTION: keeps the epoll set in step with what libcurl waits for. */
static int on_socket(CURL *e, curl_socket_t s, int what, void *ud, void *sockp)
{
    endpoint_t *ep = ud;
    sockref_t *ref = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (ref != NULL) {
            epoll_ctl(ep->d->epfd, EPOLL_CTL_DEL, s, NULL);
            curl_multi_assign(ep->multi, s, NULL);
            if (ref->prev)
                ref->prev->next = ref->next;
            else
                ep->socks = ref->next;
            if (ref->next)
                ref->next->prev = ref->prev;
            ref->dead = true;
            ref->next_dead = ep->d->dead_refs;
            ep->d->dead_refs = ref;
        }
        return 0;
    }
    struct epoll_event ev = {0};
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    if (ref == NULL) {
        if ((ref = calloc(1, sizeof(*ref))) == NULL)
            return -1;
        ref->ep = ep;
        ref->fd = s;
        ref->next = ep->socks;
        if (ep->socks)
            ep->socks->prev = ref;
        ep->socks = ref;
        curl_multi_assign(ep->multi, s, ref);
        ev.data.ptr = ref;
        if (epoll_ctl(ep->d->epfd, EPOLL_CTL_ADD, s, &ev) != 0)
            epoll_ctl(ep->d->epfd, EPOLL_CTL_MOD, s, &ev);
        return 0;
    }
    ev.data.ptr = ref;
    epoll_ctl(ep->d->epfd, EPOLL_CTL_MOD, s, &ev);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: libcurl's one timeout for the endpoint (-1 removes it). It tells of
 * changes only (a transfer added), and not every one: after each socket_action the loop asks
 * curl_multi_timeout instead (ep_action). */
static int on_timer(CURLM *m, long timeout_ms, void *ud)
{
    endpoint_t *ep = ud;
    ep->curl_due_us = timeout_ms < 0 ? -1 : fg_time_mono_us() + (int64_t)timeout_ms * 1000;
    return 0;
}

/* Lets libcurl act on a socket (or on its timeout: CURL_SOCKET_TIMEOUT), then reads back when
 * it next wants its timeout handled. */
static void ep_action(endpoint_t *ep, curl_socket_t fd, int mask)
{
    int running;
    long ms = -1;
    ep->touched = true;
    curl_multi_socket_action(ep->multi, fd, mask, &running);
    curl_multi_timeout(ep->multi, &ms);
    ep->curl_due_us = ms < 0 ? -1 : fg_time_mono_us() + (int64_t)ms * 1000;
}

static void free_dead_refs(struct fg_wh_dispatcher *d)
{
    while (d->dead_refs != NULL) {
        sockref_t *r = d->dead_refs;
        d->dead_refs = r->next_dead;
        free(r);
    }
}

/* --- claimed deliveries: an open-addressing hash set of ids --------------------------------- */

/* Slot of id, or of the empty slot where it would go. Slots hold "" when empty, "\x01" when
 * deleted. */
static size_t slot_of(struct fg_wh_dispatcher *d, const char *id, bool for_insert)
{
    size_t mask = d->capclaimed - 1, i = (size_t)fg_fnv1a(id, strlen(id)) & mask, tomb = SIZE_MAX;
    for (;;) {
        const char *c = d->claimed[i];
        if (c[0] == '\0')
            return for_insert && tomb != SIZE_MAX ? tomb : i;
        if (c[0] == '\x01') {
            if (tomb == SIZE_MAX)
                tomb = i;
        } else if (strcmp(c, id) == 0) {
            return i;
        }
        i = (i + 1) & mask;
    }
}

static bool is_claimed(struct fg_wh_dispatcher *d, const char *id)
{
    return d->capclaimed > 0 && d->claimed[slot_of(d, id, false)][0] > '\x01';
}

static void claim(struct fg_wh_dispatcher *d, const char *id)
{
    if ((d->nclaimed + d->ntombs + 1) * 2 > d->capclaimed) {
        /* grow (or just clean the tombstones) and rehash */
        size_t oldcap = d->capclaimed;
        char(*old)[48] = d->claimed;
        d->capclaimed = oldcap ? (d->nclaimed * 4 > oldcap ? oldcap * 2 : oldcap) : 256;
        d->claimed = calloc(d->capclaimed, sizeof(d->claimed[0]));
        if (d->claimed == NULL)
            abort();
        d->ntombs = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i][0] > '\x01')
                memcpy(d->claimed[slot_of(d, old[i], true)], old[i], 48);
        free(old);
    }
    size_t s = slot_of(d, id, true);
    if (d->claimed[s][0] == '\x01')
        d->ntombs--;
    snprintf(d->claimed[s], 48, "%s", id);
    d->nclaimed++;
}

static void unclaim(struct fg_wh_dispatcher *d, const char *id)
{
    if (d->capclaimed == 0)
        return;
    size_t s = slot_of(d, id, false);
    if (d->claimed[s][0] > '\x01') {
        d->claimed[s][0] = '\x01';
        d->claimed[s][1] = '\0';
        d->nclaimed--;
        d->ntombs++;
    }
}

/* --- endpoints ----------------------------------------------------------------------------- */

static endpoint_t *endpoint_new(struct fg_wh_dispatcher *d)
{
    endpoint_t *ep = calloc(1, sizeof(*ep));
    if (ep == NULL || (ep->multi = curl_multi_init()) == NULL)
        abort();
    ep->d = d;
    ep->curl_due_us = -1;
    ep->check = true;
    fg_wh_breaker_init(&ep->breaker);
    curl_multi_setopt(ep->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(ep->multi, CURLMOPT_SOCKETDATA, ep);
    curl_multi_setopt(ep->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(ep->multi, CURLMOPT_TIMERDATA, ep);
    return ep;
}

/* Keeps one idle connection per slot. (libcurl's default, four per easy handle still added,
 * shrinks as a burst drains and would close connections the next burst needs.) */
static void endpoint_size_pool(endpoint_t *ep, int max_in_flight)
{
    if (ep->max_conns != max_in_flight) {
        ep->max_conns = max_in_flight;
        curl_multi_setopt(ep->multi, CURLMOPT_MAXCONNECTS, (long)max_in_flight);
    }
}

static void transfer_drop(transfer_t *t)
{
    if (t->easy != NULL)
        curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    free(t->body);
    free(t);
}

static void endpoint_drop_idle(endpoint_t *ep)
{
    while (ep->idle != NULL) {
        transfer_t *t = ep->idle;
        ep->idle = t->next;
        transfer_drop(t);
    }
}

/* Frees an endpoint; its transfers in flight are abandoned (still due in the store, or gone
 * with their subscription). */
static void endpoint_free(endpoint_t *ep)
{
    if (ep->breaker.state != FG_WH_BREAKER_CLOSED)
        atomic_fetch_sub(&ep->d->stats.breakers_open, 1);
    while (ep->active != NULL) {
        transfer_t *t = ep->active;
        ep->active = t->next;
        curl_multi_remove_handle(ep->multi, t->easy);
        unclaim(ep->d, t->delivery_id);
        transfer_drop(t);
    }
    endpoint_drop_idle(ep);
    curl_multi_cleanup(ep->multi);
    while (ep->socks != NULL) { /* sockets libcurl did not report removed */
        sockref_t *r = ep->socks;
        ep->socks = r->next;
        epoll_ctl(ep->d->epfd, EPOLL_CTL_DEL, r->fd, NULL);
        r->dead = true;
        r->next_dead = ep->d->dead_refs;
        ep->d->dead_refs = r;
    }
    free(ep);
}

/* --- subscriptions -------------------------------------------------------------------------- */

static dsub_t *find_sub(struct fg_wh_dispatcher *d, const char *id)
{
    for (size_t i = 0; i < d->nsubs; i++)
        if (strcmp(d->subs[i].sub.id, id) == 0)
            return &d->subs[i];
    return NULL;
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
    dsub_t *old = find_sub(r->d, row->id);
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
        ds.ep = endpoint_new(r->d);
        ds.ep->first_failure_us = row->failing_since_us;
    }
    ds.ep->check = true;
    endpoint_size_pool(ds.ep, ds.sub.max_in_flight);
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
            dsub_t *old = find_sub(d, r.subs[i].sub.id);
            if (old != NULL && old->ep == NULL)
                old->ep = r.subs[i].ep;
            else
                endpoint_free(r.subs[i].ep);
            fg_wh_sub_dispose(&r.subs[i].sub);
        }
        free(r.subs);
        return;
    }
    for (size_t i = 0; i < d->nsubs; i++) {
        if (d->subs[i].ep != NULL) /* deleted: stop sending to it */
            endpoint_free(d->subs[i].ep);
        fg_wh_sub_dispose(&d->subs[i].sub);
    }
    free(d->subs);
    d->subs = r.subs;
    d->nsubs = r.n;
}

/* --- transfers ------------------------------------------------------------------------------ */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    transfer_t *t = ud;
    size_t len = size * n, room = RESPONSE_KEEP - t->resp_len;
    size_t take = len < room ? len : room;
    memcpy(t->resp + t->resp_len, p, take);
    t->resp_len += take;
    return len; /* the rest is read and dropped */
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    transfer_t *t = ud;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        int64_t delay;
        size_t vlen = len - 12;
        while (vlen > 0 && (p[12 + vlen - 1] == '\r' || p[12 + vlen - 1] == '\n'))
            vlen--;
        if (fg_wh_retry_after_parse(p + 12, vlen, fg_time_now_us() / 1000000, &delay) == FG_OK)
            t->retry_after_s = delay;
    }
    return len;
}

/* The address guard, on the address libcurl is about to connect to. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *address)
{
    transfer_t *t = ud;
    const fg_wh_dispatcher_config_t *cfg = &t->ep->d->cfg;
    const char *why = NULL;
    if (!fg_addr_allowed(&address->addr, cfg->allow, cfg->nallow, &why)) {
        snprintf(t->refused, sizeof(t->refused),
                 "refused by the address guard: the target resolved to a %s address", why);
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype, address->protocol);
}

/* Takes a finished transfer out of its endpoint; its easy handle is kept for the next one. */
static void transfer_retire(transfer_t *t)
{
    endpoint_t *ep = t->ep;
    if (t->prev)
        t->prev->next = t->next;
    else
        ep->active = t->next;
    if (t->next)
        t->next->prev = t->prev;
    curl_multi_remove_handle(ep->multi, t->easy);
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    free(t->body);
    t->body = NULL;
    t->prev = NULL;
    t->next = ep->idle;
    ep->idle = t;
}

static struct curl_slist *add_header(struct curl_slist *h, const char *name, const char *value)
{
    char line[2048];
    snprintf(line, sizeof(line), "%s: %s", name, value);
    struct curl_slist *n = curl_slist_append(h, line);
    if (n == NULL)
        abort();
    return n;
}

/* The stored JSON of event seq (malloc'd copy), from the cache when a fan-out just read it. */
static int event_json(struct fg_wh_dispatcher *d, uint64_t seq, char **json, size_t *len)
{
    size_t slot = seq % JSON_CACHE;
    if (d->jcache[slot].json == NULL || d->jcache[slot].seq != seq) {
        char *j;
        size_t n;
        int rc = fg_store_reader_event_json(d->reader, seq, &j, &n);
        if (rc != FG_OK)
            return rc;
        free(d->jcache[slot].json);
        d->jcache[slot].json = j;
        d->jcache[slot].len = n;
        d->jcache[slot].seq = seq;
    }
    if ((*json = malloc(d->jcache[slot].len + 1)) == NULL)
        return FG_ERR_NOMEM;
    memcpy(*json, d->jcache[slot].json, d->jcache[slot].len + 1);
    *len = d->jcache[slot].len;
    return FG_OK;
}

static result_t *new_result(struct fg_wh_dispatcher *d)
{
    if (d->npending == d->cappending) {
        d->cappending = d->cappending ? d->cappending * 2 : 64;
        d->pending = realloc(d->pending, d->cappending * sizeof(*d->pending));
        if (d->pending == NULL)
            abort();
    }
    result_t *r = &d->pending[d->npending++];
    memset(r, 0, sizeof(*r));
    return r;
}

/* Starts one attempt (probe: the breaker's). On failure to even build it, records nothing and
 * leaves it due. */
static bool start(struct fg_wh_dispatcher *d, dsub_t *ds, const fg_wh_due_t *due, bool probe)
{
    endpoint_t *ep = ds->ep;
    char *json;
    size_t len;
    int rc = event_json(d, due->seq, &json, &len);
    if (rc != FG_OK && rc != FG_ERR_NOT_FOUND)
        return false;
    if (rc == FG_ERR_NOT_FOUND) {
        /* retention removed the event: the delivery can never be made */
        result_t *r = new_result(d);
        snprintf(r->delivery_id, sizeof(r->delivery_id), "%.47s", due->id);
        snprintf(r->sub_id, sizeof(r->sub_id), "%.40s", ds->sub.id);
        snprintf(r->error, sizeof(r->error), "the event was removed by retention");
        r->a.attempt = due->attempts + 1;
        r->a.at_us = fg_time_now_us();
        r->a.new_status = FG_DELIVERY_DEAD;
        claim(d, due->id);
        ep->claimed++;
        return true;
    }
    if (ds->sub.format != FG_WH_FORMAT_JSON) {
        /* a chat message made from the event; the signatures cover what is sent */
        size_t clen;
        char *chat = fg_wh_chat_body(ds->sub.format, json, len, d->cfg.console_url, &clen);
        if (chat != NULL) {
            free(json);
            json = chat;
            len = clen;
        }
    }
    transfer_t *t = ep->idle;
    if (t != NULL) {
        ep->idle = t->next;
        CURL *keep = t->easy;
        memset(t, 0, offsetof(transfer_t, resp));
        t->easy = keep;
    } else if ((t = calloc(1, sizeof(*t))) == NULL || (t->easy = curl_easy_init()) == NULL) {
        free(t);
        free(json);
        return false;
    }
    t->resp_len = 0;
    t->refused[0] = '\0';
    t->ep = ep;
    t->body = json;
    t->body_len = len;
    t->attempt = due->attempts + 1;
    t->probe = probe;
    t->retry_after_s = -1;
    t->started_us = fg_time_now_us();
    snprintf(t->sub_id, sizeof(t->sub_id), "%.40s", ds->sub.id);
    snprintf(t->delivery_id, sizeof(t->delivery_id), "%.47s", due->id);

    /* Standard Webhooks headers: one signature per valid secret. */
    int64_t ts = t->started_us / 1000000;
    char tss[24], sigs[2 * FG_WH_SIGNATURE_LEN + 2];
    snprintf(tss, sizeof(tss), "%lld", (long long)ts);
    unsigned char key[FG_WH_KEY_MAX];
    size_t keylen;
    sigs[0] = '\0';
    if (fg_wh_secret_decode(ds->sub.secret, key, &keylen) == FG_OK)
        fg_wh_sign(key, keylen, t->delivery_id, ts, json, len, sigs);
    if (ds->sub.old_secret[0] && ds->sub.old_secret_until_us > t->started_us &&
        fg_wh_secret_decode(ds->sub.old_secret, key, &keylen) == FG_OK) {
        size_t used = strlen(sigs);
        sigs[used] = ' ';
        fg_wh_sign(key, keylen, t->delivery_id, ts, json, len, sigs + used + 1);
    }
    t->headers = add_header(t->headers, "Content-Type", "application/json");
    t->headers = add_header(t->headers, "webhook-id", t->delivery_id);
    t->headers = add_header(t->headers, "webhook-timestamp", tss);
    t->headers = add_header(t->headers, "webhook-signature", sigs);
    t->headers = add_header(t->headers, "User-Agent", "flowgate/" FG_VERSION);
    t->headers = curl_slist_append(t->headers, "Expect:");
    if (ds->sub.signature == FG_WH_SIG_GITHUB) {
        char gh[FG_WH_GITHUB_SIG_LEN];
        fg_wh_sign_github(ds->sub.secret, json, len, gh);
        t->headers = add_header(t->headers, "X-Signature-256", gh);
    }
    for (size_t i = 0; i < ds->sub.nheaders; i++)
        t->headers = add_header(t->headers, ds->sub.header_names[i], ds->sub.header_values[i]);

    /* Every option is set on every use, so a reused handle carries nothing over. */
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, ds->sub.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)d->cfg.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)d->cfg.request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    /* Wait to share a connection only where it can multiplex (HTTP/2 by ALPN); on plain
     * HTTP/1.1 waiting would serialise every request to the host. */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, ds->sub.target.https ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (curl_multi_add_handle(ep->multi, e) != CURLM_OK) {
        curl_slist_free_all(t->headers);
        t->headers = NULL;
        free(t->body);
        t->body = NULL;
        t->next = ep->idle;
        ep->idle = t;
        return false;
    }
    t->next = ep->active;
    if (ep->active)
        ep->active->prev = t;
    ep->active = t;
    claim(d, due->id);
    ep->claimed++;
    ep->in_flight++;
    return true;
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
    dsub_t *ds = find_sub(d, t->sub_id);
    const char *host = ds != NULL ? ds->sub.target.host : "?";
    if (c == FG_WH_BREAKER_OPENED) {
        atomic_fetch_add(&d->stats.breakers_opened, 1);
        atomic_fetch_add(&d->stats.breakers_open, 1);
        fg_log(FG_LOG_WARN, "webhook_endpoint_failing",
               "id=%s host=%s failures=%u last_error=\"%s\" next_probe_ms=%lld its deliveries wait"
               " while one probe at a time goes out",
               t->sub_id, host, ep->breaker.consecutive, error,
               (long long)(ep->breaker.probe_at_ms - now_ms));
    } else if (c == FG_WH_BREAKER_CLOSED_AGAIN) {
        atomic_fetch_sub(&d->stats.breakers_open, 1);
        fg_log(FG_LOG_INFO, "webhook_endpoint_recovered",
               "id=%s host=%s down_ms=%lld failed_probes=%u its backlog drains now", t->sub_id,
               host, (long long)(now_ms - before.opened_at_ms), before.probes);
        /* The backlog drains from its oldest once the writer has made what failed during the
         * outage due now (with this outcome): until then the endpoint waits. */
        r->recovered = true;
        ep->recovering = true;
    }
}

/* Turns a finished transfer into an outcome. */
static void finish(struct fg_wh_dispatcher *d, transfer_t *t, CURLcode code)
{
    endpoint_t *ep = t->ep;
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    result_t *r = new_result(d);
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
    if (ep->more) { /* a slot is free for what is waiting */
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
        dsub_t *ds = find_sub(d, t->sub_id);
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
    unclaim(d, r->delivery_id);
    dsub_t *ds = find_sub(d, r->sub_id);
    if (ds != NULL && ds->ep == NULL)
        return; /* stopped: its sending side is gone */
    if (ds != NULL && ds->ep->claimed > 0)
        ds->ep->claimed--;
    if (ds != NULL && r->recovered) { /* the backlog, from its oldest */
        ds->ep->recovering = false;
        ds->ep->check = true;
        ds->ep->from_seq = 0;
    }
    /* with per-run ordering, the run's next delivery is due now */
    if (ds != NULL && (ds->ep->more || ds->sub.ordering == FG_WH_ORDER_PER_RUN))
        ds->ep->check = true;
}

/* Takes the finished transfers off the endpoints libcurl ran for. */
static void collect_finished(struct fg_wh_dispatcher *d)
{
    for (size_t i = 0; i < d->nsubs; i++) {
        endpoint_t *ep = d->subs[i].ep;
        if (!ep->touched)
            continue;
        ep->touched = false;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(ep->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            transfer_t *t = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            t->code = msg->data.result;
            finish(d, t, t->code);
            transfer_retire(t);
        }
    }
}

/* Runs an endpoint's libcurl timeout if it is due (a transfer just added has one of 0). */
static void run_timer(endpoint_t *ep, int64_t now_us)
{
    if (ep->curl_due_us >= 0 && ep->curl_due_us <= now_us)
        ep_action(ep, CURL_SOCKET_TIMEOUT, 0);
}

static void run_timers(struct fg_wh_dispatcher *d)
{
    int64_t now = fg_time_mono_us();
    for (size_t i = 0; i < d->nsubs; i++)
        run_timer(d->subs[i].ep, now);
}

/* --- outcomes through the writer ------------------------------------------------------------ */

static int result_apply(fg_writer_job_t *job, fg_store_t *s)
{
    result_op_t *op = (result_op_t *)job;
    int64_t now = fg_time_now_us();
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
            int rc = fg_wh_outbox_set_enabled(op->d->cfg.outbox, s, r->sub_id, false);
            if (rc == FG_ERR_IO)
                return rc;
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
    wake(d);
    pthread_cond_signal(&d->done_cond);
    pthread_mutex_unlock(&d->done_lock);
}

static void flush_results(struct fg_wh_dispatcher *d)
{
    if (d->npending == 0)
        return;
    result_op_t *op = calloc(1, sizeof(*op));
    if (op == NULL)
        abort();
    op->d = d;
    op->job.apply = result_apply;
    op->job.done = result_done;
    op->n = d->npending;
    op->results = d->pending;
    d->pending = NULL;
    d->npending = d->cappending = 0;
    pthread_mutex_lock(&d->done_lock);
    d->outstanding++; /* before the writer can answer it */
    pthread_mutex_unlock(&d->done_lock);
    if (fg_writer_submit(d->cfg.writer, &op->job) != FG_OK) {
        pthread_mutex_lock(&d->done_lock);
        d->outstanding--;
        pthread_mutex_unlock(&d->done_lock);
        /* stopping: the deliveries stay due in the store and are sent after a restart */
        for (size_t i = 0; i < op->n; i++)
            release_claim(d, &op->results[i]);
        results_free(op->results, op->n);
        free(op);
    }
}

static void release_done(struct fg_wh_dispatcher *d)
{
    pthread_mutex_lock(&d->done_lock);
    result_op_t *op = d->done;
    d->done = NULL;
    pthread_mutex_unlock(&d->done_lock);
    while (op != NULL) {
        result_op_t *next = op->next_done;
        for (size_t i = 0; i < op->n; i++)
            release_claim(d, &op->results[i]);
        if (op->job.status != FG_OK) {
            fg_log(FG_LOG_ERROR, "webhook_results_not_stored", "error=\"%s\" attempts=%zu",
                   fg_strerror(op->job.status), op->n);
            /* reload: what this thread assumed (disabling) did not happen */
            d->subs_version = UINT64_MAX;
            atomic_store(&d->poked, true); /* and its deliveries are still due */
        }
        results_free(op->results, op->n);
        free(op);
        op = next;
    }
}

/* --- the thread ----------------------------------------------------------------------------- */

/* Takes the marks posted by commits: those subscriptions got new deliveries. */
static void take_marks(struct fg_wh_dispatcher *d)
{
    pthread_mutex_lock(&d->marks_lock);
    for (size_t i = 0; i < d->nmarks; i++) {
        dsub_t *ds = find_sub(d, d->marks[i]);
        if (ds != NULL)
            ds->ep->check = true;
        else
            atomic_store(&d->poked, true); /* a subscription this thread has not loaded yet */
    }
    d->nmarks = 0;
    pthread_mutex_unlock(&d->marks_lock);
}

static void schedule_round(struct fg_wh_dispatcher *d)
{
    if (d->cfg.health != NULL && fg_health_state(d->cfg.health) == FG_HEALTH_CORRUPT)
        return; /* an outcome could not be recorded: the deliveries wait in the store */
    int64_t now = fg_time_now_us();
    fg_wh_due_t due[MAX_DUE];
    bool all = atomic_exchange(&d->poked, false);
    d->slots_freed = false;
    /* On full rounds (the API pokes after every subscription change, the retry tick every
     * TICK_MS): deliveries are signed with the secrets as they are now, so reload on any change. */
    uint64_t version;
    if (all && fg_wh_store_read_subs_version(d->reader, &version) == FG_OK &&
        version != d->subs_version)
        reload_subs(d);
    int64_t now_ms = fg_time_mono_ms();
    for (size_t i = 0; i < d->nsubs; i++) {
        dsub_t *ds = &d->subs[i];
        endpoint_t *ep = ds->ep;
        if (!(ep->check || all) || !ds->sub.enabled || ep->recovering ||
            ep->in_flight >= ds->sub.max_in_flight)
            continue;
        /* an open breaker lets one probe through when it is due, nothing else: the backlog
         * waits in the store, and is not even read */
        int admits = fg_wh_breaker_admits(&ep->breaker, now_ms);
        if (admits == 0)
            continue;
        size_t budget = admits < 0 ? (size_t)(ds->sub.max_in_flight - ep->in_flight) : 1;
        ep->check = false;
        /* the claimed ones are still due in the store until their outcome commits */
        size_t want = (size_t)(ds->sub.max_in_flight - ep->in_flight + ep->claimed);
        size_t limit = want < MAX_DUE ? want : MAX_DUE, n = 0;
        if (all)
            ep->from_seq = 0; /* an API change or a rollback may have made older ones due */
        if (fg_wh_store_read_due(d->reader, ds->sub.id, now,
                                 ds->sub.ordering == FG_WH_ORDER_PER_RUN, ep->from_seq, limit, due,
                                 &n) != FG_OK) {
            ep->check = true;
            continue;
        }
        bool started = false, in_hand = true;
        size_t nstarted = 0;
        for (size_t k = 0; k < n; k++) {
            bool ok = is_claimed(d, due[k].id);
            if (!ok && nstarted < budget && start(d, ds, &due[k], admits > 0)) {
                ok = started = true;
                nstarted++;
                if (admits > 0)
                    fg_wh_breaker_probe_sent(&ep->breaker);
            }
            /* the next query starts at the last pending one of an unbroken run in hand (the
             * bound is inclusive: a replay may add another delivery of the same event) */
            in_hand = in_hand && ok;
            if (in_hand && due[k].attempts == 0 && due[k].seq > ep->from_seq)
                ep->from_seq = due[k].seq;
        }
        ep->more = n == limit;
        if (ep->more && ep->in_flight < ds->sub.max_in_flight)
            ep->check = true; /* a full page of claimed ones: look again */
        if (started)          /* send now, before preparing the next subscription's */
            run_timer(ep, fg_time_mono_us());
    }
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
            continue; /* closed earlier in this batch */
        int mask = ((evs[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                   ((evs[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                   ((evs[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
        ep_action(ref->ep, ref->fd, mask);
    }
    free_dead_refs(d);
}

/* Milliseconds the loop may sleep: until the next libcurl timeout or retry tick. */
static int wait_ms(struct fg_wh_dispatcher *d, int64_t next_tick_ms)
{
    if (d->slots_freed)
        return 0;
    int64_t now = fg_time_mono_us(), until = next_tick_ms * 1000;
    for (size_t i = 0; i < d->nsubs; i++) {
        int64_t due = d->subs[i].ep->curl_due_us;
        if (due >= 0 && due < until)
            until = due;
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
        release_done(d);
        int64_t now_ms = fg_time_mono_ms();
        if (now_ms >= next_tick) {
            atomic_store(&d->poked, true); /* retries may have come due */
            next_tick = now_ms + TICK_MS;
            for (size_t i = 0; i < d->nsubs; i++)
                if (d->subs[i].ep->in_flight == 0) /* quiet: give back its easy handles */
                    endpoint_drop_idle(d->subs[i].ep);
        }
        take_marks(d);
        schedule_round(d);
        run_timers(d);
        collect_finished(d);
        flush_results(d);
        int n = epoll_wait(d->epfd, evs, 256, wait_ms(d, next_tick));
        dispatch_events(d, evs, n);
        run_timers(d);
        collect_finished(d);
        flush_results(d);
    }
    /* abandon what is in flight: it is still due in the store */
    for (size_t i = 0; i < d->nsubs; i++) {
        endpoint_free(d->subs[i].ep);
        d->subs[i].ep = NULL;
    }
    free_dead_refs(d);
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
    wake(d);
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
    wake(d);
}

void fg_wh_dispatcher_stop(fg_wh_dispatcher_t *d)
{
    if (d == NULL)
        return;
    atomic_store(&d->stopping, true);
    wake(d);
    pthread_join(d->thread, NULL);
    /* Ops still with the writer come back when it answers them (it stops after the dispatcher
     * and answers every job it has): wait for the last, then release them all. */
    pthread_mutex_lock(&d->done_lock);
    while (d->outstanding > 0)
        pthread_cond_wait(&d->done_cond, &d->done_lock);
    pthread_mutex_unlock(&d->done_lock);
    release_done(d);
    for (size_t i = 0; i < d->nsubs; i++)
        fg_wh_sub_dispose(&d->subs[i].sub);
    free(d->subs);
    free(d->claimed);
    for (size_t i = 0; i < JSON_CACHE; i++)
        free(d->jcache[i].json);
    results_free(d->pending, d->npending);
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
