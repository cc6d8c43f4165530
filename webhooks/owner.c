/*
 * owner.c - leases on webhook subscriptions, shared out across the live nodes (owner.h).
 */
#include "webhooks/owner.h"
#include "events/log.h"
#include "events/redis_control.h"
#include "events/timefmt.h"
#include "webhooks/outbox_store.h"

#include <inttypes.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char id[48];
    uint64_t token;
    int64_t trusted_until_ms; /* monotonic: nothing new is sent for it after this */
} lease_t;

struct fg_wh_owner {
    fg_wh_owner_config_t cfg; /* immutable after start */
    pthread_t thread;
    fg_redis_t *redis;         /* owner thread */
    fg_store_reader_t *reader; /* owner thread */
    pthread_mutex_t lock;      /* guards leases, n, cap, stopping, release_now */
    pthread_cond_t cond;
    lease_t *leases;
    size_t n, cap;
    bool stopping, release_now;
    fg_wh_owner_stats_t stats;
};

static void lease_key(const char *id, char *key, size_t cap)
{
    snprintf(key, cap, "fg:lease:%s", id);
}

/* The lock held. */
static lease_t *find(fg_wh_owner_t *o, const char *id)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->leases[i].id, id) == 0)
            return &o->leases[i];
    return NULL;
}

bool fg_wh_owner_holds(fg_wh_owner_t *o, const char *sub_id)
{
    pthread_mutex_lock(&o->lock);
    lease_t *l = find(o, sub_id);
    bool held = l != NULL && fg_time_mono_ms() < l->trusted_until_ms;
    pthread_mutex_unlock(&o->lock);
    return held;
}

void fg_wh_owner_fence(fg_wh_owner_t *o, const char *sub_id, char *key, char *value, size_t cap)
{
    lease_key(sub_id, key, cap);
    pthread_mutex_lock(&o->lock);
    lease_t *l = find(o, sub_id);
    if (l != NULL)
        snprintf(value, cap, "%s:%" PRIu64, o->cfg.node_id, l->token);
    else
        value[0] = '\0';
    pthread_mutex_unlock(&o->lock);
}

const fg_wh_owner_stats_t *fg_wh_owner_stats(const fg_wh_owner_t *o)
{
    return &o->stats;
}

/* The subscriptions' ids, as the store has them. */
typedef struct {
    char (*ids)[48];
    size_t n, cap;
} idlist_t;

static void add_id(void *ctx, const fg_wh_sub_row_t *row)
{
    idlist_t *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char(*ids)[48] = realloc(l->ids, cap * sizeof(*ids));
        if (ids == NULL)
            return;
        l->ids = ids;
        l->cap = cap;
    }
    snprintf(l->ids[l->n++], 48, "%.47s", row->id);
}

static bool listed(const idlist_t *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->ids[i], id) == 0)
            return true;
    return false;
}

/* Where this node tries subscriptions first: nodes start at different places, so they rarely
 * race for the same free lease. */
static uint64_t rank(const char *node, const char *id)
{
    char in[160];
    unsigned char h[SHA256_DIGEST_LENGTH];
    int len = snprintf(in, sizeof(in), "%s|%s", node, id);
    SHA256((const unsigned char *)in, (size_t)len < sizeof(in) ? (size_t)len : sizeof(in) - 1, h);
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return v;
}

static int by_rank(const void *a, const void *b, void *node)
{
    uint64_t x = rank(node, a), y = rank(node, b);
    return x < y ? -1 : x > y;
}

/* Drops lease i (the lock held). */
static void forget(fg_wh_owner_t *o, size_t i)
{
    o->leases[i] = o->leases[--o->n];
    atomic_store(&o->stats.held, o->n);
}

/* Lets every lease go (the owner thread). */
static void release_all(fg_wh_owner_t *o)
{
    pthread_mutex_lock(&o->lock);
    lease_t *copy = o->n ? malloc(o->n * sizeof(*copy)) : NULL;
    size_t n = copy ? o->n : 0;
    if (copy)
        memcpy(copy, o->leases, n * sizeof(*copy));
    o->n = 0;
    atomic_store(&o->stats.held, 0);
    pthread_mutex_unlock(&o->lock);
    char key[96];
    for (size_t i = 0; i < n; i++) {
        lease_key(copy[i].id, key, sizeof(key));
        fg_rlease_drop(o->redis, key, o->cfg.node_id, copy[i].token);
    }
    free(copy);
    uint64_t live;
    fg_rnodes_beat(o->redis, o->cfg.node_id, 0, &live);
    /* the others look at this count between rounds: they take the freed leases at once */
    redisReply *rep = fg_redis_cmdf(o->redis, "INCR " FG_RLOG_NODES_LEFT);
    if (rep != NULL)
        freeReplyObject(rep);
    if (n > 0)
        fg_log(FG_LOG_INFO, "webhook_leases_released", "count=%zu", n);
}

/* One round: presence, renewals, then take or let go to reach this node's share. */
static void round_once(fg_wh_owner_t *o)
{
    int64_t start = fg_time_mono_ms(), trust = o->cfg.lease_ms - o->cfg.lease_ms / 5;
    uint64_t live = 0;
    if (fg_rnodes_beat(o->redis, o->cfg.node_id, o->cfg.lease_ms, &live) != FG_OK)
        return; /* Redis away: the leases lapse here by their own time */
    atomic_store(&o->stats.live_nodes, live);
    idlist_t subs = {0};
    if (fg_wh_store_read_subs(o->reader, NULL, add_id, &subs) != FG_OK) {
        free(subs.ids);
        return;
    }
    char key[96];
    /* renew what is held (or let go of what was deleted) */
    pthread_mutex_lock(&o->lock);
    size_t n = o->n;
    lease_t *held = n ? malloc(n * sizeof(*held)) : NULL;
    if (held == NULL)
        n = 0;
    else
        memcpy(held, o->leases, n * sizeof(*held));
    pthread_mutex_unlock(&o->lock);
    for (size_t i = 0; i < n; i++) {
        lease_key(held[i].id, key, sizeof(key));
        uint64_t token = held[i].token;
        int rc;
        if (!listed(&subs, held[i].id)) {
            rc = fg_rlease_drop(o->redis, key, o->cfg.node_id, token);
            token = 0;
        } else {
            rc = fg_rlease_take(o->redis, key, o->cfg.node_id, &token, o->cfg.lease_ms);
        }
        if (rc != FG_OK)
            continue; /* not renewed: trusted until its time runs out */
        pthread_mutex_lock(&o->lock);
        for (size_t k = 0; k < o->n; k++) {
            if (strcmp(o->leases[k].id, held[i].id) != 0)
                continue;
            if (token == 0) {
                if (listed(&subs, held[i].id)) {
                    atomic_fetch_add(&o->stats.lost, 1);
                    fg_log(FG_LOG_WARN, "webhook_lease_lost", "id=%s", held[i].id);
                }
                forget(o, k);
            } else {
                /* a renewal after the lease lapsed in Redis takes it anew, with a new token:
                 * the fence and the release must use that one */
                o->leases[k].token = token;
                o->leases[k].trusted_until_ms = start + trust;
            }
            break;
        }
        pthread_mutex_unlock(&o->lock);
    }
    free(held);
    /* this node's share */
    size_t share = live > 0 ? (subs.n + live - 1) / live : subs.n;
    pthread_mutex_lock(&o->lock);
    size_t have = o->n;
    pthread_mutex_unlock(&o->lock);
    bool took = false;
    if (have < share) {
        qsort_r(subs.ids, subs.n, sizeof(*subs.ids), by_rank, (void *)o->cfg.node_id);
        for (size_t i = 0; i < subs.n && have < share; i++) {
            pthread_mutex_lock(&o->lock);
            bool mine = find(o, subs.ids[i]) != NULL;
            pthread_mutex_unlock(&o->lock);
            if (mine)
                continue;
            uint64_t token = 0;
            lease_key(subs.ids[i], key, sizeof(key));
            if (fg_rlease_take(o->redis, key, o->cfg.node_id, &token, o->cfg.lease_ms) != FG_OK)
                break;
            if (token == 0)
                continue;
            pthread_mutex_lock(&o->lock);
            if (o->n == o->cap) {
                size_t cap = o->cap ? o->cap * 2 : 16;
                lease_t *l = realloc(o->leases, cap * sizeof(*l));
                if (l == NULL) {
                    pthread_mutex_unlock(&o->lock);
                    fg_rlease_drop(o->redis, key, o->cfg.node_id, token);
                    break;
                }
                o->leases = l;
                o->cap = cap;
            }
            lease_t *l = &o->leases[o->n++];
            snprintf(l->id, sizeof(l->id), "%s", subs.ids[i]);
            l->token = token;
            l->trusted_until_ms = start + trust;
            atomic_store(&o->stats.held, o->n);
            pthread_mutex_unlock(&o->lock);
            atomic_fetch_add(&o->stats.taken, 1);
            fg_log(FG_LOG_INFO, "webhook_lease_taken", "id=%s token=%" PRIu64, subs.ids[i], token);
            have++;
            took = true;
        }
    }
    /* more than the share (a node joined): the extra go to it */
    while (have > share) {
        pthread_mutex_lock(&o->lock);
        lease_t l = o->leases[o->n - 1];
        forget(o, o->n - 1);
        pthread_mutex_unlock(&o->lock);
        lease_key(l.id, key, sizeof(key));
        fg_rlease_drop(o->redis, key, o->cfg.node_id, l.token);
        fg_log(FG_LOG_INFO, "webhook_lease_handed_over", "id=%s live_nodes=%" PRIu64, l.id, live);
        have--;
    }
    free(subs.ids);
    if (took && o->cfg.changed != NULL)
        o->cfg.changed(o->cfg.ctx);
}

#define LOOK_MS 200 /* how often the subscriptions' version is looked at between rounds */

/* How many nodes have left the cluster so far (FG_RLOG_NODES_LEFT); -1 when Redis is away. */
static long long nodes_left(fg_wh_owner_t *o)
{
    redisReply *rep = fg_redis_cmdf(o->redis, "GET " FG_RLOG_NODES_LEFT);
    long long n = rep == NULL ? -1 : rep->type == REDIS_REPLY_STRING ? atoll(rep->str) : 0;
    if (rep != NULL)
        freeReplyObject(rep);
    return n;
}

static void *owner_main(void *arg)
{
    fg_wh_owner_t *o = arg;
    pthread_setname_np(pthread_self(), "fg-leases");
    int64_t every = o->cfg.lease_ms / 3 > 50 ? o->cfg.lease_ms / 3 : 50;
    int64_t next_round = 0;
    uint64_t seen = UINT64_MAX, version = 0;
    long long left_seen = nodes_left(o);
    bool released = false; /* release_all ran (whatever stopped the loop, it runs once) */
    pthread_mutex_lock(&o->lock);
    while (!o->stopping) {
        bool drain = o->release_now;
        pthread_mutex_unlock(&o->lock);
        /* a round every third of the lease, and at once when a subscription came or went (so
         * a new one is delivered without waiting for the renewal) */
        bool changed =
            fg_wh_store_read_subs_version(o->reader, &version) == FG_OK && version != seen;
        long long left = nodes_left(o);
        changed |= left != left_seen; /* a node left: its share is free now, not at its lapse */
        left_seen = left;
        if (drain) {
            release_all(o);
            released = true;
        } else if (changed || fg_time_mono_ms() >= next_round) {
            seen = version;
            next_round = fg_time_mono_ms() + every;
            round_once(o);
        }
        pthread_mutex_lock(&o->lock);
        if (drain) { /* nothing more is taken: wait for stop */
            while (!o->stopping)
                pthread_cond_wait(&o->cond, &o->lock);
            break;
        }
        int64_t wait = every < LOOK_MS ? every : LOOK_MS;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!o->stopping && !o->release_now)
            pthread_cond_timedwait(&o->cond, &o->lock, &ts);
    }
    pthread_mutex_unlock(&o->lock);
    /* a stop can come before the thread saw release_now (it was in a round): the leases still
     * go now, never left to lapse */
    if (!released)
        release_all(o);
    return NULL;
}

int fg_wh_owner_start(const fg_wh_owner_config_t *cfg, fg_wh_owner_t **out)
{
    fg_wh_owner_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return FG_ERR_NOMEM;
    o->cfg = *cfg;
    char err[256];
    int rc = fg_redis_open(cfg->redis_url, cfg->timeout_ms, &o->redis, err, sizeof(err));
    if (rc == FG_ERR_NOMEM || rc == FG_ERR_INVALID) {
        free(o);
        return rc;
    }
    if (fg_store_reader_open(cfg->store, &o->reader, err, sizeof(err)) != FG_OK) {
        fg_redis_close(o->redis);
        free(o);
        return FG_ERR_IO;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&o->thread, NULL, owner_main, o) != 0) {
        fg_store_reader_close(o->reader);
        fg_redis_close(o->redis);
        pthread_mutex_destroy(&o->lock);
        pthread_cond_destroy(&o->cond);
        free(o);
        return FG_ERR_IO;
    }
    *out = o;
    return FG_OK;
}

void fg_wh_owner_release_all(fg_wh_owner_t *o)
{
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->lock);
    o->release_now = true;
    /* nothing new is sent from now on, whatever the thread is doing */
    for (size_t i = 0; i < o->n; i++)
        o->leases[i].trusted_until_ms = 0;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
}

void fg_wh_owner_stop(fg_wh_owner_t *o)
{
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->lock);
    o->stopping = true;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
    pthread_join(o->thread, NULL);
    fg_store_reader_close(o->reader);
    fg_redis_close(o->redis);
    pthread_mutex_destroy(&o->lock);
    pthread_cond_destroy(&o->cond);
    free(o->leases);
    free(o);
}
