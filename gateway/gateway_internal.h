/*
 * gateway_internal.h - what the gateway's files share: the server, its per-thread loops, and the
 * handlers each file provides. Not a public interface (server.h is).
 */
#ifndef FG_GATEWAY_INTERNAL_H
#define FG_GATEWAY_INTERNAL_H

#include "events/buf.h"
#include "events/catalog.h"
#include "events/follower.h"
#include "events/rng.h"
#include "gateway/hangup.h"
#include "events/store_checkpoint.h"
#include "events/redis.h"
#include "events/health.h"
#include "events/mask.h"
#include "events/sequencer.h"
#include "events/histogram.h"
#include "events/logindex.h"
#include "events/runview.h"
#include "events/store.h"
#include "events/writer.h"
#include "gateway/auth.h"
#include "gateway/config.h"
#include "gateway/hub.h"
#include "gateway/limits.h"
#include "gateway/pipeline.h"
#include "gateway/routes.h"
#include "gateway/tls.h"
#include "webhooks/dispatcher.h"
#include "webhooks/outbox.h"

#include <h2o.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct fg_pending fg_pending_t;

typedef struct fg_server fg_server_t;

#define FG_STREAM_MAX_IOV 256 /* event frames per h2o_send */
#define FG_FLUSH_SLICE_US 250 /* a loop's streams are flushed in slices of this much time */

/* One HTTP thread: an h2o evloop with its own listener, store reader and stream hub. Everything
 * here is created, touched and freed only by that thread (h2o keeps per-thread buffer pools),
 * except the receivers, which other threads post to through h2o's thread-safe queue. */
typedef struct fg_loop {
    fg_server_t *server;
    int index;
    pthread_t thread;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    _Atomic(SSL_CTX *) tls_next; /* a reloaded TLS context, taken at the next accept */
    h2o_socket_t *listener;      /* NULL once closed */
    int listen_fd;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t batch_rx; /* committed batches from the writer */
    h2o_multithread_receiver_t reply_rx; /* answered publish jobs from the writer */
    h2o_multithread_receiver_t ctl_rx;   /* shutdown from the main thread */
    fg_store_reader_t *reader;           /* replay and paging */
    h2o_timeout_t hb_timeout;            /* ticks a few times per heartbeat interval */
    h2o_timeout_entry_t hb_entry;
    fg_hangup_t hangup;           /* its HTTP/1.1 streams' sockets, watched for hangups */
    fg_rng_t rng;                 /* jitter (retry hints); the loop's thread */
    h2o_socket_t *hangup_sock;    /* the set's fd (a dup), watched by the loop */
    h2o_timeout_t hangup_timeout; /* polls them every FG_HANGUP_POLL_MS too */
    h2o_timeout_entry_t hangup_entry;
    fg_hub_t hub;
    fg_pipeline_t pipeline;       /* publishes read ahead on its HTTP/1.1 connections */
    h2o_linklist_t dirty_streams; /* streams with frames to send, oldest first (stream.c) */
    uint64_t batch_gen;           /* counts the writer's batches taken by this loop */
    /* One h2o_send's vector (stream.c): h2o copies the array (only the buffers it points to must
     * live until proceed), so one per loop serves every stream. */
    h2o_iovec_t send_iov[FG_STREAM_MAX_IOV + 1];
    size_t pending_publishes; /* jobs submitted and not yet answered */
    /* Set by the writer's threads with each answer they send this loop, cleared by the loop as
     * it takes them: a flush slice ends early so a publisher is answered at once. Atomic. */
    _Atomic bool replies_waiting;
    _Atomic size_t nstreams; /* SSE responses started and not yet disposed (metrics read it) */
    bool stopping;
    bool drained; /* every connection closed before the loop ended */
    _Atomic bool running;
} fg_loop_t;

struct fg_server {
    const fg_config_t *cfg;
    const fg_catalog_t *cat;
    int lock_fd;             /* data_dir/flowgate.lock, held while the server lives */
    fg_store_t *store;       /* the event log: opened before the threads, closed after them */
    fg_runview_t *runview;   /* the run views' writer side: the writer's from start to stop
                                (NULL when the store is damaged); loops query on their reader */
    fg_logindex_t *logindex; /* the log lines' search index, its own thread from start to stop
                                (NULL when logs.search_index is 0 or the store is damaged);
                                immutable while the loops run */
    fg_writer_t *writer;
    fg_checkpointer_t *checkpointer; /* the store's checkpoints, off the writer's commits */
    fg_wh_outbox_t *outbox;          /* webhook subscriptions; the writer's from start to stop */
    fg_wh_dispatcher_t *dispatcher;  /* sends the deliveries; set after the writer starts and
                                        cleared before it stops, under dispatcher_lock (the
                                        writer's fan-out reads it under the lock) */
    pthread_mutex_t dispatcher_lock; /* guards dispatcher between the main and writer threads */
    fg_auth_t *auth;                 /* credentials (auth.keys, auth.jwt.*) */
    bool auth_on;                    /* every route but health needs a credential */
    fg_mask_t *mask;     /* logs.mask, applied to every event published here; immutable, or NULL */
    fg_limits_t *limits; /* per-client stream counts and publish buckets */
    _Atomic int64_t connections;          /* open client connections */
    _Atomic uint64_t connections_refused; /* over limits.max_connections */
    fg_loop_t *loops;
    size_t nloops;
    h2o_globalconf_t h2o_config;
    h2o_hostconf_t *hostconf;
    _Atomic bool stopping;
    pthread_mutex_t phase_lock;       /* guards the three phase fields below */
    pthread_cond_t phase_cond;        /* signalled when one of them changes */
    size_t loops_ready;               /* loops whose h2o objects exist (start waits for all) */
    bool serving;                     /* writer and dispatcher started: loops may accept */
    size_t loops_drained;             /* loops done serving (stop waits for all) */
    bool writer_stopped;              /* loops free their queues only after this */
    _Atomic uint64_t streams_opened;  /* SSE streams started */
    _Atomic int64_t streams_open;     /* SSE streams started and not yet disposed */
    _Atomic uint64_t streams_slow;    /* SSE streams closed for not keeping up */
    _Atomic uint64_t streams_hung_up; /* SSE streams whose client went away (seen at once) */
    _Atomic uint64_t requests;        /* HTTP requests handled */
    _Atomic uint64_t frames_sent;     /* SSE event frames written to streams */
    fg_hist_t publish_latency;        /* request taken -> 202 (the commit included) */
    fg_health_t health;               /* whether the store takes writes (its own lock) */
    /* cluster mode (cfg->r.cluster); NULL and unused on a single node */
    fg_sequencer_t *sequencer;                 /* numbers publishes in the Redis log */
    fg_follower_t *follower;                   /* applies the Redis log to the store */
    fg_repl_t *repl;                           /* control entries' kinds and waiting jobs */
    fg_repl_kind_t repl_kinds[2];              /* subscription changes, delivery outcomes */
    fg_wh_owner_t *owner;                      /* the webhook leases this node holds */
    uint64_t cluster_ctl_seq, cluster_ctl_sub; /* the store's last control entry (at start) */
    fg_health_t cluster_health;                /* whether Redis answers (its own lock) */
    _Atomic uint64_t cluster_head;             /* highest seq known to be in the Redis log */
    _Atomic uint64_t cluster_epoch;            /* the Redis log's epoch this node joined */
    _Atomic uint64_t cluster_epoch_changes;    /* times Redis was found to have lost the log */
};

/* Waits on the server's phase condition until pred holds. */
#define PHASE_WAIT(srv, pred)                                                                      \
    do {                                                                                           \
        pthread_mutex_lock(&(srv)->phase_lock);                                                    \
        while (!(pred))                                                                            \
            pthread_cond_wait(&(srv)->phase_cond, &(srv)->phase_lock);                             \
        pthread_mutex_unlock(&(srv)->phase_lock);                                                  \
    } while (0)

static inline void fg_phase_step(fg_server_t *srv, size_t *counter)
{
    pthread_mutex_lock(&srv->phase_lock);
    (*counter)++;
    pthread_cond_broadcast(&srv->phase_cond);
    pthread_mutex_unlock(&srv->phase_lock);
}

/* cluster.c: before anything starts, Redis checked and the log joined (FG_OK also when Redis
 * does not answer yet; FG_ERR_INVALID when cluster.durability strict refuses it); then, once the
 * writer runs, the sequencer and the follower started. */
int fg_cluster_check(fg_server_t *srv, char *err, size_t errcap);
/* Cluster mode, after the writer started: the control entries' registry, the sequencer and the
 * webhook leases (before the dispatcher, which uses them). FG_OK or FG_ERR_IO/NOMEM. */
int fg_cluster_start(fg_server_t *srv);
/* Then, after the dispatcher: the follower (the log into this store). */
int fg_cluster_follow(fg_server_t *srv);
/* Then the subscriptions declared in the config, through the log (each one waited for). */
void fg_cluster_declare(fg_server_t *srv);
/* cluster_snapshot.c: before the store opens, a store that ends below the log's floor is
 * replaced by a live peer's copy (always FG_OK: without one the node starts on its own); this
 * node's url (cluster.advertise_url, else the one it listens on) in Redis for its peers; and the
 * route that serves this node's copy. */
int fg_cluster_bootstrap(const fg_config_t *cfg, char *err, size_t errcap);
void fg_cluster_advertise(const fg_config_t *cfg, uint16_t port);

/* loop.c: the loops' side of the server. */
int fg_loop_on_req(h2o_handler_t *self, h2o_req_t *req);        /* h2o's handler: routes */
void *fg_loop_main(void *arg);                                  /* a loop thread (fg_loop_t) */
void fg_loop_fan_out(void *ctx, fg_event_t **events, size_t n); /* writer's on_commit (srv) */
void fg_loop_stop(fg_loop_t *l); /* main thread: the loop drains and ends */

/* The loop a request runs on. */
static inline fg_loop_t *fg_loop_of(h2o_req_t *req)
{
    return (fg_loop_t *)((char *)req->conn->ctx - offsetof(fg_loop_t, ctx));
}

/* The OpenAPI document (gateway/openapi.json), built into the binary (openapi_data.c). */
extern const char fg_openapi_json[];
extern const size_t fg_openapi_json_len;

/* access.c: checks the request's credential for the scopes in need (0: none). Returns 0 when
 * allowed, with *p the principal (NULL when auth is off; it lives in the request pool), or -1
 * after answering 401 or 403. */
int fg_access_check(h2o_req_t *req, unsigned need, fg_principal_t **p);

/* access.c: adds CORS headers for a listed Origin; returns 1 when it answered the request (a
 * preflight, or a preflight from an unlisted origin: 403), else 0. */
int fg_cors_apply(h2o_req_t *req);

/* admission.c: limits.* (see there). Each returns 0 to go on, or -1 after answering. */
int fg_admit_request(h2o_req_t *req); /* URL, headers, query parameters, filter items */
/* A stream counted against its address and credential; the keys (FG_LIMITS_KEY_MAX each) are
 * what fg_admit_stream_end needs when the stream is gone. */
int fg_admit_stream(h2o_req_t *req, const fg_principal_t *who, char *addr_key, char *cred_key);
void fg_admit_stream_end(fg_server_t *srv, const char *addr_key, const char *cred_key);
int fg_admit_publish(h2o_req_t *req, const fg_principal_t *who, size_t events);
/* admission.c: the same bucket for a publish read ahead on req's connection (pipeline.c), by the
 * principal's name (NULL: by address), without an answer: true when it fits (taken), false when
 * it does not (nothing taken). */
bool fg_admit_publish_quiet(h2o_req_t *req, const char *who, size_t events);
/* A new connection: false when it was over limits.max_connections (answered 503 unless tls,
 * then closed). */
bool fg_admit_connection(fg_server_t *srv, h2o_socket_t *sock, bool tls);

/*
 * Handlers, one per route (routes.c holds the table; fg_handler_t in routes.h says what they
 * get). Each answers the request in every case and returns 0.
 * Convention for the gateway's helpers: one that may answer the request returns 0 to go on or
 * -1 after answering (an error in the one shape, http_util.h); one that does not answer returns
 * FG_OK or an fg_err_t, which its caller answers with fg_http_fail (5xx) or its own 4xx.
 */
int fg_publish_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param);
/* publish.c: publishes parsed event objects (taken over: objs and its references) for req, as a
 * POST /v1/events would (rate limit, logs.mask, validation, one commit, the 202 or the error);
 * batch: answer with an array. key: the Idempotency-Key or NULL. read_ahead: single-event POSTs
 * pipelined behind req may join (pipeline.h). Always answers req. */
void fg_publish_objects(h2o_req_t *req, const fg_principal_t *who, json_t **objs, size_t n,
                        bool batch, const char *key, bool read_ahead);
/* publish.c: a request read ahead behind req (pipeline.h) whose body is one JSON event, by the
 * principal named who (NULL: none) with the Idempotency-Key key (NULL: none): validated, let
 * through the publish rate limit and submitted; its pending is answered once attached. NULL
 * when it does not qualify (nothing submitted, nothing taken): it takes the normal path. */
fg_pending_t *fg_publish_ahead(h2o_req_t *req, const char *body, size_t len, const char *who,
                               const char *key);
int fg_query_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param);
int fg_stream_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t run_id);
int fg_runs_list_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param);
int fg_run_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t run_id);
int fg_run_logs_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t run_id);
/* runs_api.c: GET /v1/runs/{run_id}/logs/download: the whole log (or a step's) as a text file,
 * a page at a time, gzip'd when the client takes it. */
int fg_run_logs_download_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t run);
int fg_approvals_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param);
int fg_console_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param);
int fg_metrics_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param);
/* probes.c: liveness, readiness, the OpenAPI document */
int fg_healthz_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param);
int fg_readyz_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param);
int fg_openapi_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param);
/* webhooks_api.c: /v1/webhooks[/{id}[/…]] and /v1/deliveries/{id}[/retry] */
int fg_wh_list_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param);
int fg_cluster_snapshot_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param);
/* ingest.c: POST /v1/ingest/{engine} (ingest.h); signed by the engine, no credential. */
int fg_ingest_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t engine);
int fg_wh_create_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param);
int fg_filters_test_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param);
int fg_wh_get_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id);
int fg_wh_patch_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id);
int fg_wh_delete_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id);
int fg_wh_secret_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id);
int fg_wh_rotate_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id);
int fg_wh_deliveries_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id);
int fg_wh_replay_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id);
int fg_delivery_get_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id);
int fg_delivery_retry_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t id);

/* error_filter.c: h2o's own text/plain error responses get the JSON error shape. */
void fg_error_filter_register(h2o_pathconf_t *conf);

/* A stream of plain text instead of SSE: render appends what one event shows (maybe nothing)
 * to out and returns 0 to go on, 1 when the stream ends after it, -1 on error. ctx lives as
 * long as the request. */
typedef struct {
    int (*render)(void *ctx, const fg_event_t *ev, fg_buf_t *out);
    void *ctx;
} fg_stream_text_t;

/* stream.c: a text stream of the events the filter (taken over) matches after `after`. */
int fg_stream_text(h2o_req_t *req, const fg_principal_t *p, fg_filter_t *filter, uint64_t after,
                   const fg_stream_text_t *text);

/* stream.c: live delivery from the hub (the hub's deliver callback). */
void fg_stream_deliver(fg_hub_sub_t *sub, fg_event_t *ev, void *ctx);

/* stream.c: sends what is queued on the loop's streams, in the order they were marked, for about
 * budget_us of this thread's time. Returns true when streams are left for the next slice or a
 * send was made (h2o then has completions to run): the loop polls without waiting. The
 * loop calls it after each turn of its event loop, so the requests and replies that came in
 * are handled between slices (a publisher is answered while a large fan-out goes out) and a
 * stream whose turn comes later takes every event queued meanwhile in one send.
 * (l->dirty_streams is initialised with the loop.) */
bool fg_stream_flush_slice(fg_loop_t *l, int64_t budget_us);

/* stream.c: a heartbeat comment to each stream idle for sse.heartbeat_ms. */
void fg_stream_heartbeat(fg_loop_t *l, int64_t now_ms);

/* stream.c: ends every stream of the loop cleanly (shutdown). */
void fg_stream_close_all(fg_loop_t *l);

/* stream.c: the stream's client hung up (hangup.h): its connection is closed now. */
void fg_stream_hangup(void *stream);

/* stream_params.c: a stream request's filter (into filter) and cursor. Replies 400 and returns
 * -1 on bad input. */
int fg_stream_parse(h2o_req_t *req, fg_filter_t *filter, const char *run_id, size_t run_id_len,
                    bool *has_cursor, uint64_t *cursor);

#endif
