/*
 * dispatch_internal.h - what the dispatcher's files share (not an interface: dispatcher.h is).
 * The dispatcher is one thread, split by concept:
 *   dispatcher.c        the loop: subscriptions, scheduling rounds, the thread's start and stop;
 *   dispatch_io.c       the epoll/libcurl plumbing: sockets, timers, endpoints and their pools,
 *                       the claimed set, finished transfers;
 *   dispatch_request.c  building and signing a request, and starting it;
 *   dispatch_outcome.c  the outcome policy (retry, disable, dead, the breaker) and handing the
 *                       outcomes to the writer.
 * Everything here is the dispatcher thread's, except where a field's comment says otherwise.
 */
#ifndef FG_WEBHOOKS_DISPATCH_INTERNAL_H
#define FG_WEBHOOKS_DISPATCH_INTERNAL_H

#include "events/rng.h"
#include "events/store.h"
#include "webhooks/dispatcher.h"
#include "webhooks/outbox_store.h"
#include "webhooks/sign.h"
#include "webhooks/subscription.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_DUE 256        /* deliveries asked for per subscription per round */
#define RESPONSE_KEEP 4096 /* bytes of a response body kept with its attempt */
#define TICK_MS 250        /* due retries are looked for this often */
#define JSON_CACHE 256     /* recent event bodies kept: a fan-out reads each event once */
#define PREFETCH 64        /* event bodies read in one walk ahead of the attempts that send them */

typedef struct transfer transfer_t;
typedef struct endpoint endpoint_t;

/* A socket libcurl asked the loop to watch (the epoll entry points at it). */
typedef struct sockref {
    endpoint_t *ep; /* NULL while parked */
    curl_socket_t fd;
    uint32_t events;             /* what the epoll entry asks for */
    bool dead;                   /* libcurl is done with it: events still queued are ignored */
    bool parked;                 /* libcurl let go of it (an idle connection): see d->parked */
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
    int claimed;       /* its deliveries in flight or awaiting their commit */
    bool check;        /* may have due deliveries: query it in the next round */
    bool more;         /* its last query filled the page: more may be due */
    uint64_t from_seq; /* pending ones below are in hand (started, claimed or queued) */
    /* Due deliveries read ahead and not started yet, in sequence order (without per-run
     * ordering): a query reads a page, the rounds after it start from the page until it is used
     * up, so the store is asked once per MAX_DUE deliveries rather than once per round. Dropped
     * whenever what is due may have changed otherwise (API change, a failed delivery come due
     * at a tick, a breaker closing). */
    fg_wh_due_t *ahead;
    size_t ahead_pos, ahead_len;
    int64_t first_failure_us; /* since when every attempt failed; 0 after a success */
    long max_conns;           /* the pool's size, as last set */
    fg_wh_breaker_t breaker;  /* closed, or open while the endpoint keeps failing */
    bool recovering; /* its breaker closed: hold until the failed ones are made due (in order) */
    /* rate_limit_per_s: a token bucket of attempts, refilled at the rate up to its burst */
    double tokens;
    int64_t tokens_at_us;   /* when tokens was brought up to date (monotonic) */
    int64_t paced_until_us; /* waiting for a token until then (monotonic), or -1 */
    unsigned cfg_gen;       /* bumped when its subscription is (re)loaded: easy handles set up
                               for an older one get every option again */
};

/*
 * The headers every attempt of a subscription sends (Content-Type, User-Agent, Expect, its
 * custom headers, Authorization), built once when the subscription is loaded. Each attempt links
 * its own few (webhook-id, -timestamp, -signature, traceparent) in front of them and holds a
 * reference: a reload makes a new set while attempts in flight keep the one they started with.
 */
typedef struct {
    int refs; /* dispatcher thread */
    struct curl_slist *list;
} hdrset_t;

typedef struct {
    fg_wh_sub_t sub;
    endpoint_t *ep;
    hdrset_t *hdrs; /* a reference */
    /* the secrets, decoded and keyed once (NULL: not decodable, nothing is signed with it) */
    fg_wh_signer_t *signer, *old_signer;
} dsub_t;

#define OWN_HEADERS 5 /* webhook-id, -timestamp, -signature, X-Signature-256, traceparent */

struct transfer {
    CURL *easy;       /* kept when the transfer is reused */
    unsigned cfg_gen; /* kept: the endpoint's cfg_gen its easy handle's options were set for */
    hdrset_t *hdrs;   /* the subscription's headers it links to (a reference), or NULL */
    struct curl_slist own[OWN_HEADERS]; /* its own headers, in front of hdrs->list */
    char own_text[OWN_HEADERS][160];
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

typedef struct result_op {
    fg_writer_job_t job;
    struct fg_wh_dispatcher *d; /* the dispatcher that made it; NULL when decoded from the log */
    fg_wh_outbox_t *outbox;     /* where disabling a subscription takes effect */
    int64_t now_us;             /* when the outcomes were handed over (their records' time) */
    fg_repl_op_t repl;          /* cluster mode: the log entry (job.repl points here) */
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
    /* Sockets libcurl stopped watching (a connection back in its pool), by fd, still in the
     * epoll set: when libcurl watches the fd again (the connection reused, or a new socket with
     * the same number) the entry is modified, or kept as it is, rather than deleted and added
     * for every attempt. An event on a parked socket (the peer closed it) deletes the entry. */
    sockref_t **parked;
    size_t nparked_slots;
    fg_store_reader_t *reader;
    struct {
        uint64_t seq;
        char *json;
        size_t len;
        char traceparent[FG_TRACEPARENT_LEN + 1];
    } jcache[JSON_CACHE]; /* by seq % JSON_CACHE; events never change */
    dsub_t *subs;         /* enabled and disabled; dispatcher thread */
    size_t nsubs;
    size_t *sub_slots;     /* hash of subs by id: index + 1, 0 when empty (open addressing) */
    size_t nslots;         /* a power of two above 2 * nsubs, or 0 */
    uint64_t subs_version; /* of the subscriptions table when last loaded */
    bool slots_freed;      /* a transfer finished: schedule again before sleeping */
    char (*claimed)[48];   /* hash set: deliveries in flight or awaiting their commit */
    size_t nclaimed, ntombs, capclaimed;
    result_t *pending; /* outcomes not yet handed to the writer */
    size_t npending, cappending;
    fg_rng_t rng;       /* retry jitter; dispatcher thread */
    _Atomic bool poked; /* look at every subscription, reading its deliveries again */
    bool tick;          /* the retry tick is due: look at every subscription; dispatcher thread */
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

/* --- dispatch_io.c ------------------------------------------------------------------------- */

/** Wakes the loop (any thread). */
void fg_wd_wake(struct fg_wh_dispatcher *d);
/** Lets libcurl act on an endpoint's socket (fd) or timeout (CURL_SOCKET_TIMEOUT). */
void fg_wd_ep_action(endpoint_t *ep, curl_socket_t fd, int mask);
/** Frees the sockets libcurl let go of during the last event batch. */
void fg_wd_free_dead_refs(struct fg_wh_dispatcher *d);
/** An event on a parked socket: its epoll entry goes (the ref after the batch). */
void fg_wd_unpark(struct fg_wh_dispatcher *d, sockref_t *ref);
/** Frees every parked socket's ref (stop). */
void fg_wd_free_parked(struct fg_wh_dispatcher *d);
/** The claimed set: deliveries in flight or awaiting their commit. */
bool fg_wd_is_claimed(struct fg_wh_dispatcher *d, const char *id);
void fg_wd_claim(struct fg_wh_dispatcher *d, const char *id);
void fg_wd_unclaim(struct fg_wh_dispatcher *d, const char *id);
/** Whether more of an endpoint's deliveries may be due than it has started: some are still in
 * the page read ahead, or its last query filled its page. */
static inline bool fg_wd_ep_more_due(const endpoint_t *ep)
{
    return ep->more || ep->ahead_pos < ep->ahead_len;
}
/** Forgets what an endpoint read ahead: its next query starts from its oldest due delivery. */
void fg_wd_ep_reread(endpoint_t *ep);
/** An endpoint's multi handle and pool (aborts when out of memory, as the loop cannot go on). */
endpoint_t *fg_wd_endpoint_new(struct fg_wh_dispatcher *d);
void fg_wd_endpoint_size_pool(endpoint_t *ep, int max_in_flight);
void fg_wd_endpoint_drop_idle(endpoint_t *ep);
void fg_wd_endpoint_free(endpoint_t *ep);
/** libcurl's callbacks for a transfer (ud is the transfer_t). */
size_t fg_wd_on_body(char *p, size_t size, size_t n, void *ud);
size_t fg_wd_on_header(char *p, size_t size, size_t n, void *ud);
curl_socket_t fg_wd_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *address);
/** Hands every finished transfer of the endpoints libcurl ran for to fg_wd_finish. */
void fg_wd_collect_finished(struct fg_wh_dispatcher *d);
/** Runs libcurl's timeouts that are due. */
void fg_wd_run_timer(endpoint_t *ep, int64_t now_us);
void fg_wd_run_timers(struct fg_wh_dispatcher *d);

/* --- dispatch_request.c -------------------------------------------------------------------- */

/** A subscription's header set (aborts when out of memory), and dropping a reference. */
hdrset_t *fg_wd_hdrset_new(const fg_wh_sub_t *sub);
void fg_wd_hdrset_unref(hdrset_t *h);
/** A new outcome slot in d->pending (aborts when out of memory). */
result_t *fg_wd_new_result(struct fg_wh_dispatcher *d);
/** Reads the bodies of deliveries of due[0..n) into the cache in one walk, when one of the
 * first `next` is not there (without it, each attempt reads its own). */
void fg_wd_prefetch(struct fg_wh_dispatcher *d, const fg_wh_due_t *due, size_t n, size_t next);
/** Starts one attempt of due (probe: the breaker's). False when it could not even be built. */
bool fg_wd_start(struct fg_wh_dispatcher *d, dsub_t *ds, const fg_wh_due_t *due, bool probe);

/* --- dispatch_outcome.c -------------------------------------------------------------------- */

void fg_wd_results_free(result_t *r, size_t n);
/** Decides a finished transfer's outcome (success, retry, dead, disable) into d->pending. */
void fg_wd_finish(struct fg_wh_dispatcher *d, transfer_t *t, CURLcode code);
/** An op's outcomes (all of one subscription) as a control entry's body. */
json_t *fg_wd_result_encode(const result_op_t *op);
/** Writer thread: records an op's outcomes (result_op_t's job.apply). */
int fg_wd_result_apply(fg_writer_job_t *job, fg_store_t *s);
/** Hands the pending outcomes to the writer as one op. */
void fg_wd_flush_results(struct fg_wh_dispatcher *d);
/** Releases the ops the writer has committed (their claims, recovered endpoints). */
void fg_wd_release_done(struct fg_wh_dispatcher *d);

/* --- opevents.c ---------------------------------------------------------------------------- */

/** {"type", "subscription_id", "host"}: an operational event to add fields to (new reference). */
json_t *fg_wd_endpoint_event(const char *type, const char *sub_id, const char *host);
/** Publishes an operational event (taken over), without waiting; logged when it cannot be. */
void fg_wd_emit(struct fg_wh_dispatcher *d, json_t *event);

/* --- dispatcher.c -------------------------------------------------------------------------- */

/** The subscription with id, or NULL. */
dsub_t *fg_wd_find_sub(struct fg_wh_dispatcher *d, const char *id);

#endif
