/*
 * outbox.h - the webhook outbox. The writer thread owns the set of subscriptions; after each
 * event is appended, its projection hook writes one pending delivery row for every subscription
 * the event matches, in the event's own transaction (so an acknowledged event always has its
 * deliveries, and a kill -9 loses none). Disabled subscriptions keep collecting (paused).
 *
 * Subscription changes are writer ops (fg_wh_op_t), ordered with event commits: an event
 * committed after a subscription's creation is delivered to it. Everything here runs on the
 * writer thread, except create/destroy/load, which run before the writer starts or after it stops.
 */
#ifndef FG_WEBHOOKS_OUTBOX_H
#define FG_WEBHOOKS_OUTBOX_H

#include "events/catalog.h"
#include "events/projection.h"
#include "events/replicated.h"
#include "events/store.h"
#include "events/writer.h"
#include "webhooks/addr.h"
#include "webhooks/sign.h"

#include <jansson.h>

#define FG_WH_MAX_SUBSCRIPTIONS 10000

typedef struct fg_wh_outbox fg_wh_outbox_t;

/** Creates an empty outbox. cat and allow must outlive it. NULL when out of memory. */
fg_wh_outbox_t *fg_wh_outbox_create(const fg_catalog_t *cat, const fg_cidr_t *allow, size_t nallow);

void fg_wh_outbox_destroy(fg_wh_outbox_t *o);

/**
 * (Re)loads the subscription set from the store. A stored subscription that no longer validates
 * (a custom type removed from the config, a network no longer allowed) is kept out of the set and
 * logged. FG_OK or FG_ERR_IO.
 */
int fg_wh_outbox_load(fg_wh_outbox_t *o, fg_store_t *s);

/** Subscriptions in the set. */
size_t fg_wh_outbox_count(const fg_wh_outbox_t *o);

/**
 * The writer's hooks for the outbox (projection.h): each stored event gets a pending delivery
 * per subscription it matches, in its own transaction; a rolled-back transaction reloads the
 * set from the store; retention removes settled deliveries of events gone from the log.
 */
fg_projection_t fg_wh_outbox_projection(fg_wh_outbox_t *o);

/**
 * Writer thread, after a commit: calls cb with the id of every subscription that got deliveries
 * in it (so the dispatcher looks at those), and forgets them.
 */
void fg_wh_outbox_take_fresh(fg_wh_outbox_t *o, void (*cb)(void *ctx, const char *sub_id),
                             void *ctx);

#define FG_WH_SECRET_GRACE_US (INT64_C(24) * 3600 * 1000000) /* old secret signs this long */

/**
 * Creates or updates a subscription declared in the configuration, before the writer starts
 * (main thread). Its id is "wh_cfg_" + 16 hex digits of SHA-256(url), so a restart updates it
 * instead of adding another. The declared fields replace the stored ones; the secret is kept
 * unless the declaration gives one. FG_OK, FG_ERR_INVALID (err) or FG_ERR_IO.
 */
int fg_wh_outbox_declare(fg_wh_outbox_t *o, fg_store_t *s, const json_t *spec, fg_verr_t *err);

/** Writer thread, inside a job: enables or disables a subscription (set and store). */
int fg_wh_outbox_set_enabled(fg_wh_outbox_t *o, fg_store_t *s, const char *id, bool enabled,
                             int64_t now_us);

#define FG_WH_DELIVERY_ID_MAX 48

/**
 * A delivery's id (its webhook-id): "msg_" and a UUIDv7 whose time is at_us (ids grow with
 * time), then the seq's low 12 bits (one fan-out's ids grow with seq), and whose other bits come
 * from SHA-256 of the subscription, the event's seq, at_us and salt ("" for a live event, the
 * replay's own for a replay): every node of a cluster makes the
 * same id for the same delivery, so a delivery taken over by another node keeps its webhook-id.
 */
void fg_wh_delivery_id(char out[FG_WH_DELIVERY_ID_MAX], const char *sub_id, uint64_t seq,
                       int64_t at_us, const char *salt);

typedef enum {
    FG_WH_OP_CREATE,  /* body: the subscription */
    FG_WH_OP_PATCH,   /* body: the fields to change */
    FG_WH_OP_DELETE,  /* drops the subscription and its deliveries */
    FG_WH_OP_ROTATE,  /* new secret; the old one keeps signing for FG_WH_SECRET_GRACE_US */
    FG_WH_OP_RETRY,   /* id is a delivery: a failed or dead one is due again now */
    FG_WH_OP_REPLAY,  /* body {"since_seq":N} or {"since":time}, optional "until": new deliveries */
    FG_WH_OP_DECLARE, /* body: a subscription declared in the config (cluster mode; see
                         fg_wh_outbox_declare): created or replaced under its url's id */
} fg_wh_op_kind_t;    /* (numbers travel in the shared log: new kinds go last) */

#define FG_WH_REPLAY_MAX 100000 /* events one replay may cover */
#define FG_WH_REPLAY_CHUNK 1000 /* events one replay job walks: publishes go in between */

/* The events a replay covers: after seq `after`, received between since_us and until_us (0: no
 * bound). */
typedef struct {
    uint64_t after;
    int64_t since_us, until_us;
} fg_wh_replay_range_t;

/**
 * Parses a replay body: {"since_seq":N} or {"since":"RFC 3339"}, with an optional "until".
 * FG_OK, or FG_ERR_INVALID with err (invalid_field, unknown_field). Any thread.
 */
int fg_wh_replay_parse(const json_t *body, fg_wh_replay_range_t *range, fg_verr_t *err);

/* A subscription change, submitted as a writer job. */
typedef struct {
    fg_writer_job_t job; /* submit &op->job; job.status is the outcome */
    fg_wh_outbox_t *outbox;
    fg_wh_op_kind_t kind;
    char id[48];    /* the subscription (PATCH, DELETE, ROTATE, REPLAY) or the delivery (RETRY) */
    json_t *body;   /* the request's JSON for CREATE and PATCH (a reference is held) */
    json_t *result; /* on success: the subscription as shown (with its secret at
                       creation); owned by the op */
    fg_verr_t err;  /* job.status FG_ERR_INVALID or FG_ERR_NOT_FOUND: why */
    /* The op's inputs from chance and the clock, fixed by fg_wh_op_init (in cluster mode they
     * travel in the log entry, so every node applies the same): */
    int64_t now_us;
    char new_id[40];               /* CREATE: the subscription's id */
    char secret[FG_WH_SECRET_MAX]; /* CREATE (unless the body gives one), ROTATE: the secret */
    char salt[20];                 /* REPLAY: makes its delivery ids its own */
    /* REPLAY is done in chunks of FG_WH_REPLAY_CHUNK events, one writer job each: after a chunk
     * with more to walk, job.status is FG_OK, `more` is set and result is NULL; the submitter
     * submits the same op again. Each chunk commits on its own. */
    fg_wh_replay_range_t range; /* range.after moves on with each chunk */
    bool started, more;
    size_t enqueued;
    uint64_t first_seq, last_seq;
} fg_wh_op_t;

/**
 * Prepares an op. The caller sets op->job.done (and udata) and submits &op->job to the writer.
 * Statuses: FG_OK, FG_ERR_INVALID (err), FG_ERR_NOT_FOUND, FG_ERR_TOO_LARGE (too many
 * subscriptions), FG_ERR_IO, FG_ERR_CLOSED.
 */
void fg_wh_op_init(fg_wh_op_t *op, fg_wh_outbox_t *o, fg_wh_op_kind_t kind, const char *id,
                   json_t *body);

/** Frees what the op holds. */
void fg_wh_op_dispose(fg_wh_op_t *op);

/** The op (kind, target, body and its fixed inputs) as a control entry's body (cluster mode). */
json_t *fg_wh_op_encode(const fg_wh_op_t *op);

/**
 * The control entry kind of subscription changes (cluster mode, events/replicated.h): every
 * node applies them to its outbox o; the node that took the request answers it with its own
 * apply's outcome (result, err, status). A replay is applied whole there.
 */
fg_repl_kind_t fg_wh_op_kind(fg_wh_outbox_t *o);

#endif
