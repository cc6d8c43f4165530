/*
 * dispatch_io.c - the dispatcher's epoll/libcurl plumbing: each endpoint's multi handle and pool,
 * the sockets and timers libcurl asks the loop to watch, the claimed set (deliveries in flight or
 * awaiting their commit), and collecting finished transfers. Dispatcher thread, except
 * fg_wd_wake (any thread).
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

/* --- sockets and timers ---------------------------------------------------------------------- */

void fg_wd_wake(struct fg_wh_dispatcher *d)
{
    uint64_t one = 1;
    ssize_t w = write(d->wakefd, &one, sizeof(one));
    (void)w; /* EAGAIN: the counter is already non-zero, the loop wakes anyway */
}

static void retire_ref(struct fg_wh_dispatcher *d, sockref_t *ref)
{
    ref->dead = true;
    ref->next_dead = d->dead_refs;
    d->dead_refs = ref;
}

/* Keeps a socket libcurl let go of in the epoll set, parked under its fd. */
static void park(struct fg_wh_dispatcher *d, sockref_t *ref)
{
    size_t fd = (size_t)ref->fd;
    if (fd >= d->nparked_slots) {
        size_t n = d->nparked_slots ? d->nparked_slots : 256;
        while (n <= fd)
            n *= 2;
        sockref_t **grown = realloc(d->parked, n * sizeof(*grown));
        if (grown == NULL) { /* not parked: out of the set */
            epoll_ctl(d->epfd, EPOLL_CTL_DEL, ref->fd, NULL);
            retire_ref(d, ref);
            return;
        }
        memset(grown + d->nparked_slots, 0, (n - d->nparked_slots) * sizeof(*grown));
        d->parked = grown;
        d->nparked_slots = n;
    }
    if (d->parked[fd] != NULL) /* the fd was closed and reused while parked: stale */
        retire_ref(d, d->parked[fd]);
    ref->parked = true;
    ref->ep = NULL;
    d->parked[fd] = ref;
}

void fg_wd_unpark(struct fg_wh_dispatcher *d, sockref_t *ref)
{
    epoll_ctl(d->epfd, EPOLL_CTL_DEL, ref->fd, NULL); /* fails if closed since: nothing to do */
    d->parked[ref->fd] = NULL;
    retire_ref(d, ref);
}

void fg_wd_free_parked(struct fg_wh_dispatcher *d)
{
    for (size_t i = 0; i < d->nparked_slots; i++)
        free(d->parked[i]);
    free(d->parked);
    d->parked = NULL;
    d->nparked_slots = 0;
}

/* CURLMOPT_SOCKETFUNCTION: keeps the epoll set in step with what libcurl waits for. */
static int on_socket(CURL *e, curl_socket_t s, int what, void *ud, void *sockp)
{
    endpoint_t *ep = ud;
    struct fg_wh_dispatcher *d = ep->d;
    sockref_t *ref = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (ref != NULL) {
            curl_multi_assign(ep->multi, s, NULL);
            if (ref->prev)
                ref->prev->next = ref->next;
            else
                ep->socks = ref->next;
            if (ref->next)
                ref->next->prev = ref->prev;
            ref->prev = ref->next = NULL;
            park(d, ref);
        }
        return 0;
    }
    struct epoll_event ev = {0};
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    bool registered = true;
    if (ref == NULL) {
        if ((size_t)s < d->nparked_slots && d->parked[s] != NULL) {
            ref = d->parked[s]; /* the same fd again: its entry may still be in the set */
            d->parked[s] = NULL;
            ref->parked = false;
        } else {
            if ((ref = calloc(1, sizeof(*ref))) == NULL)
                return -1;
            ref->fd = s;
            registered = false;
        }
        ref->ep = ep;
        ref->next = ep->socks;
        if (ep->socks)
            ep->socks->prev = ref;
        ep->socks = ref;
        curl_multi_assign(ep->multi, s, ref);
    } else if (ref->events == ev.events) {
        return 0; /* already asked for */
    }
    ev.data.ptr = ref;
    ref->events = ev.events;
    if (registered && epoll_ctl(d->epfd, EPOLL_CTL_MOD, s, &ev) == 0)
        return 0;
    if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, s, &ev) != 0) /* closed while parked: a new socket */
        epoll_ctl(d->epfd, EPOLL_CTL_MOD, s, &ev);
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
void fg_wd_ep_action(endpoint_t *ep, curl_socket_t fd, int mask)
{
    int running;
    long ms = -1;
    ep->touched = true;
    curl_multi_socket_action(ep->multi, fd, mask, &running);
    curl_multi_timeout(ep->multi, &ms);
    ep->curl_due_us = ms < 0 ? -1 : fg_time_mono_us() + (int64_t)ms * 1000;
}

void fg_wd_free_dead_refs(struct fg_wh_dispatcher *d)
{
    while (d->dead_refs != NULL) {
        sockref_t *r = d->dead_refs;
        d->dead_refs = r->next_dead;
        free(r);
    }
}

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

bool fg_wd_is_claimed(struct fg_wh_dispatcher *d, const char *id)
{
    return d->capclaimed > 0 && d->claimed[slot_of(d, id, false)][0] > '\x01';
}

void fg_wd_claim(struct fg_wh_dispatcher *d, const char *id)
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

void fg_wd_unclaim(struct fg_wh_dispatcher *d, const char *id)
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

endpoint_t *fg_wd_endpoint_new(struct fg_wh_dispatcher *d)
{
    endpoint_t *ep = calloc(1, sizeof(*ep));
    if (ep == NULL || (ep->multi = curl_multi_init()) == NULL)
        abort();
    ep->d = d;
    ep->curl_due_us = -1;
    ep->paced_until_us = -1;
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
void fg_wd_endpoint_size_pool(endpoint_t *ep, int max_in_flight)
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
    fg_wd_hdrset_unref(t->hdrs);
    free(t->body);
    free(t);
}

void fg_wd_ep_reread(endpoint_t *ep)
{
    ep->from_seq = 0;
    ep->ahead_pos = ep->ahead_len = 0;
}

void fg_wd_endpoint_drop_idle(endpoint_t *ep)
{
    if (ep->ahead_pos == ep->ahead_len) { /* nothing read ahead: its page goes too */
        free(ep->ahead);
        ep->ahead = NULL;
        ep->ahead_pos = ep->ahead_len = 0;
    }
    while (ep->idle != NULL) {
        transfer_t *t = ep->idle;
        ep->idle = t->next;
        transfer_drop(t);
    }
}

/* Frees an endpoint; its transfers in flight are abandoned (still due in the store, or gone
 * with their subscription). */
void fg_wd_endpoint_free(endpoint_t *ep)
{
    if (ep->breaker.state != FG_WH_BREAKER_CLOSED)
        atomic_fetch_sub(&ep->d->stats.breakers_open, 1);
    while (ep->active != NULL) {
        transfer_t *t = ep->active;
        ep->active = t->next;
        curl_multi_remove_handle(ep->multi, t->easy);
        fg_wd_unclaim(ep->d, t->delivery_id);
        transfer_drop(t);
    }
    fg_wd_endpoint_drop_idle(ep);
    free(ep->ahead);
    curl_multi_cleanup(ep->multi);
    while (ep->socks != NULL) { /* sockets libcurl did not report removed */
        sockref_t *r = ep->socks;
        ep->socks = r->next;
        epoll_ctl(ep->d->epfd, EPOLL_CTL_DEL, r->fd, NULL);
        retire_ref(ep->d, r);
    }
    free(ep);
}

size_t fg_wd_on_body(char *p, size_t size, size_t n, void *ud)
{
    transfer_t *t = ud;
    size_t len = size * n, room = RESPONSE_KEEP - t->resp_len;
    size_t take = len < room ? len : room;
    memcpy(t->resp + t->resp_len, p, take);
    t->resp_len += take;
    return len; /* the rest is read and dropped */
}

size_t fg_wd_on_header(char *p, size_t size, size_t n, void *ud)
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
curl_socket_t fg_wd_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *address)
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
    fg_wd_hdrset_unref(t->hdrs);
    t->hdrs = NULL;
    free(t->body);
    t->body = NULL;
    t->prev = NULL;
    t->next = ep->idle;
    ep->idle = t;
}

/* Takes the finished transfers off the endpoints libcurl ran for. */
void fg_wd_collect_finished(struct fg_wh_dispatcher *d)
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
            fg_wd_finish(d, t, t->code);
            transfer_retire(t);
        }
    }
}

/* Runs an endpoint's libcurl timeout if it is due (a transfer just added has one of 0). */
void fg_wd_run_timer(endpoint_t *ep, int64_t now_us)
{
    if (ep->curl_due_us >= 0 && ep->curl_due_us <= now_us)
        fg_wd_ep_action(ep, CURL_SOCKET_TIMEOUT, 0);
}

void fg_wd_run_timers(struct fg_wh_dispatcher *d)
{
    int64_t now = fg_time_mono_us();
    for (size_t i = 0; i < d->nsubs; i++)
        fg_wd_run_timer(d->subs[i].ep, now);
}
