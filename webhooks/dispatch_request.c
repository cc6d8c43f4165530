/*
 * dispatch_request.c - one attempt built and started: the event body (from a small cache, so a
 * fan-out reads each event once), the Standard Webhooks (or GitHub-style) signature, the
 * subscription's headers, and the easy handle on its endpoint's pool. Dispatcher thread.
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

/* The subscription's client certificate and CA (copied by libcurl), or none. */
static void set_tls(CURL *e, const fg_wh_auth_t *a)
{
    struct curl_blob cert = {a->cert, a->cert_len, CURL_BLOB_COPY};
    struct curl_blob key = {a->key, a->key_len, CURL_BLOB_COPY};
    struct curl_blob ca = {a->ca, a->ca_len, CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, a->cert ? &cert : NULL);
    curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, a->key ? &key : NULL);
    curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, a->ca ? &ca : NULL);
    if (a->cert != NULL) {
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
}

static void add_header(struct curl_slist **h, const char *name, const char *value)
{
    char line[2048];
    snprintf(line, sizeof(line), "%s: %s", name, value);
    struct curl_slist *n = curl_slist_append(*h, line);
    if (n == NULL)
        abort();
    *h = n;
}

hdrset_t *fg_wd_hdrset_new(const fg_wh_sub_t *sub)
{
    hdrset_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        abort();
    h->refs = 1;
    add_header(&h->list, "Content-Type", "application/json");
    add_header(&h->list, "User-Agent", "flowgate/" FG_VERSION);
    if ((h->list = curl_slist_append(h->list, "Expect:")) == NULL)
        abort();
    for (size_t i = 0; i < sub->nheaders; i++)
        add_header(&h->list, sub->header_names[i], sub->header_values[i]);
    if (sub->auth.authorization != NULL)
        add_header(&h->list, "Authorization", sub->auth.authorization);
    return h;
}

void fg_wd_hdrset_unref(hdrset_t *h)
{
    if (h != NULL && --h->refs == 0) {
        curl_slist_free_all(h->list);
        free(h);
    }
}

/* Links one of the transfer's own headers in front of the list built so far. */
static struct curl_slist *own_header(transfer_t *t, size_t *used, struct curl_slist *next,
                                     const char *name, const char *value)
{
    size_t i = (*used)++;
    snprintf(t->own_text[i], sizeof(t->own_text[i]), "%s: %s", name, value);
    t->own[i].data = t->own_text[i];
    t->own[i].next = next;
    return &t->own[i];
}

/* Every option that depends on the subscription or the configuration, set when the handle is new
 * or its subscription was reloaded since; the rest persist on the handle between its uses. */
static void setup_handle(struct fg_wh_dispatcher *d, dsub_t *ds, transfer_t *t)
{
    CURL *e = t->easy;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, ds->sub.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)d->cfg.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)d->cfg.request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fg_wd_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, fg_wd_on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    /* Never through a proxy named in the environment (http_proxy, ALL_PROXY...): the address
     * guard would check the proxy's address, and the proxy would reach any target for us. */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, fg_wd_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    /* Wait to share a connection only where it can multiplex (HTTP/2 by ALPN); on plain
     * HTTP/1.1 waiting would serialise every request to the host. */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, ds->sub.target.https ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* A receive buffer of 4 KiB, not 16: an endpoint's answer is small, and only its first
     * RESPONSE_KEEP bytes are kept, while a dispatcher holds thousands of handles (100
     * subscriptions x 32 in flight: peak RSS of that drain 157-161 -> 132-134 MB; the same
     * deliveries/s). */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L);
    set_tls(e, &ds->sub.auth);
    t->cfg_gen = ds->ep->cfg_gen;
}

/* Puts one event into the cache, taking json (malloc'd, NUL-terminated) over; the slot's former
 * one goes. */
static void cache_set(struct fg_wh_dispatcher *d, uint64_t seq, char *json, size_t len,
                      const char *traceparent)
{
    size_t slot = seq % JSON_CACHE;
    free(d->jcache[slot].json);
    d->jcache[slot].json = json;
    d->jcache[slot].len = len;
    d->jcache[slot].seq = seq;
    snprintf(d->jcache[slot].traceparent, sizeof(d->jcache[slot].traceparent), "%s", traceparent);
}

/* fg_store_reader_events_json's callback: a copy of the event into the cache. */
static void cache_put(void *ctx, uint64_t seq, const char *json, size_t len,
                      const char *traceparent)
{
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return; /* left to the attempt's own read */
    memcpy(copy, json, len);
    copy[len] = '\0';
    cache_set(ctx, seq, copy, len, traceparent);
}

static bool cached(const struct fg_wh_dispatcher *d, uint64_t seq)
{
    return d->jcache[seq % JSON_CACHE].json != NULL && d->jcache[seq % JSON_CACHE].seq == seq;
}

void fg_wd_prefetch(struct fg_wh_dispatcher *d, const fg_wh_due_t *due, size_t n, size_t next)
{
    size_t skip = 0; /* from the first of the next ones not in the cache */
    while (skip < next && skip < n && cached(d, due[skip].seq))
        skip++;
    if (skip == next || skip == n)
        return;
    due += skip;
    n -= skip;
    if (n < 2)
        return;
    /* the walk covers at most PREFETCH of them, and no more than JSON_CACHE sequence numbers
     * (more would evict its own); sparse ones (other runs' events between) are left to their
     * own reads rather than walked over */
    uint64_t first = due[0].seq, last = first;
    size_t wanted = 1;
    for (size_t i = 1; i < n && i < PREFETCH; i++)
        if (due[i].seq > last && due[i].seq - first < JSON_CACHE) {
            last = due[i].seq;
            wanted++;
        }
    if (wanted < 2 || last - first + 1 > 2 * wanted)
        return;
    fg_store_reader_events_json(d->reader, first, last, cache_put, d);
}

/* The stored JSON of event seq (malloc'd copy) and its trace context ("" when none; valid until
 * the next call), from the cache when a fan-out just read it. */
static int event_json(struct fg_wh_dispatcher *d, uint64_t seq, char **json, size_t *len,
                      const char **traceparent)
{
    size_t slot = seq % JSON_CACHE;
    if (!cached(d, seq)) {
        char *j;
        size_t n;
        char tp[FG_TRACEPARENT_LEN + 1];
        int rc = fg_store_reader_event_json(d->reader, seq, &j, &n, tp);
        if (rc != FG_OK)
            return rc;
        cache_set(d, seq, j, n, tp);
    }
    if ((*json = malloc(d->jcache[slot].len + 1)) == NULL)
        return FG_ERR_NOMEM;
    memcpy(*json, d->jcache[slot].json, d->jcache[slot].len + 1);
    *len = d->jcache[slot].len;
    *traceparent = d->jcache[slot].traceparent;
    return FG_OK;
}

result_t *fg_wd_new_result(struct fg_wh_dispatcher *d)
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
bool fg_wd_start(struct fg_wh_dispatcher *d, dsub_t *ds, const fg_wh_due_t *due, bool probe)
{
    endpoint_t *ep = ds->ep;
    char *json;
    size_t len;
    const char *trace = "";
    int rc = event_json(d, due->seq, &json, &len, &trace);
    if (rc != FG_OK && rc != FG_ERR_NOT_FOUND)
        return false;
    if (rc == FG_ERR_NOT_FOUND) {
        /* retention removed the event: the delivery can never be made */
        result_t *r = fg_wd_new_result(d);
        snprintf(r->delivery_id, sizeof(r->delivery_id), "%.47s", due->id);
        snprintf(r->sub_id, sizeof(r->sub_id), "%.40s", ds->sub.id);
        snprintf(r->error, sizeof(r->error), "the event was removed by retention");
        r->a.attempt = due->attempts + 1;
        r->a.at_us = fg_time_now_us();
        r->a.new_status = FG_DELIVERY_DEAD;
        fg_wd_claim(d, due->id);
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
        unsigned gen = t->cfg_gen;
        memset(t, 0, offsetof(transfer_t, resp));
        t->easy = keep;
        t->cfg_gen = gen;
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
    sigs[0] = '\0';
    if (ds->signer != NULL)
        fg_wh_signer_sign(ds->signer, t->delivery_id, ts, json, len, sigs);
    if (ds->old_signer != NULL && ds->sub.old_secret_until_us > t->started_us) {
        size_t used = strlen(sigs);
        sigs[used] = ' ';
        fg_wh_signer_sign(ds->old_signer, t->delivery_id, ts, json, len, sigs + used + 1);
    }
    t->hdrs = ds->hdrs;
    t->hdrs->refs++;
    size_t nown = 0;
    struct curl_slist *headers = t->hdrs->list;
    if (trace[0] != '\0') /* the publisher's trace goes on; none is invented */
        headers = own_header(t, &nown, headers, "traceparent", trace);
    if (ds->sub.signature == FG_WH_SIG_GITHUB) {
        char gh[FG_WH_GITHUB_SIG_LEN];
        fg_wh_sign_github(ds->sub.secret, json, len, gh);
        headers = own_header(t, &nown, headers, "X-Signature-256", gh);
    }
    headers = own_header(t, &nown, headers, "webhook-signature", sigs);
    headers = own_header(t, &nown, headers, "webhook-timestamp", tss);
    headers = own_header(t, &nown, headers, "webhook-id", t->delivery_id);

    CURL *e = t->easy;
    if (t->cfg_gen != ep->cfg_gen)
        setup_handle(d, ds, t);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    if (curl_multi_add_handle(ep->multi, e) != CURLM_OK) {
        fg_wd_hdrset_unref(t->hdrs);
        t->hdrs = NULL;
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
    fg_wd_claim(d, due->id);
    ep->claimed++;
    ep->in_flight++;
    return true;
}
