/*
 * outbox.c - the writer-owned subscription set, the delivery outbox hook, and subscription
 * changes as writer ops. Writer thread (see outbox.h).
 */
#include "webhooks/outbox.h"
#include "webhooks/outbox_store.h"
#include "events/ids.h"
#include "events/log.h"
#include "events/timefmt.h"
#include "webhooks/subscription.h"

#include <inttypes.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fg_wh_outbox {
    const fg_catalog_t *cat;
    const fg_cidr_t *allow;
    size_t nallow;
    fg_wh_sub_t **subs; /* the set, in creation order; owned */
    size_t n, cap;
};

fg_wh_outbox_t *fg_wh_outbox_create(const fg_catalog_t *cat, const fg_cidr_t *allow, size_t nallow)
{
    fg_wh_outbox_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    o->cat = cat;
    o->allow = allow;
    o->nallow = nallow;
    return o;
}

static void clear(fg_wh_outbox_t *o)
{
    for (size_t i = 0; i < o->n; i++) {
        fg_wh_sub_dispose(o->subs[i]);
        free(o->subs[i]);
    }
    o->n = 0;
}

void fg_wh_outbox_destroy(fg_wh_outbox_t *o)
{
    if (o == NULL)
        return;
    clear(o);
    free(o->subs);
    free(o);
}

size_t fg_wh_outbox_count(const fg_wh_outbox_t *o)
{
    return o->n;
}

static int add(fg_wh_outbox_t *o, fg_wh_sub_t *sub)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        fg_wh_sub_t **subs = realloc(o->subs, cap * sizeof(*subs));
        if (subs == NULL)
            return FG_ERR_NOMEM;
        o->subs = subs;
        o->cap = cap;
    }
    o->subs[o->n++] = sub;
    return FG_OK;
}

static fg_wh_sub_t *find(fg_wh_outbox_t *o, const char *id, size_t *index)
{
    for (size_t i = 0; i < o->n; i++) {
        if (strcmp(o->subs[i]->id, id) == 0) {
            if (index)
                *index = i;
            return o->subs[i];
        }
    }
    return NULL;
}

/* Rebuilds one stored subscription; errors are logged and the row is left out of the set. */
static void load_one(void *ctx, const fg_wh_sub_row_t *row)
{
    fg_wh_outbox_t *o = ctx;
    fg_wh_sub_t *sub = calloc(1, sizeof(*sub));
    fg_verr_t err = {.message = "out of memory"};
    if (sub == NULL || fg_wh_sub_from_row(sub, row, o->cat, o->allow, o->nallow, &err) != FG_OK) {
        fg_log(FG_LOG_ERROR, "webhook_load_failed", "id=%s error=\"%s\"", row->id, err.message);
        free(sub);
        return;
    }
    if (add(o, sub) != FG_OK) {
        fg_wh_sub_dispose(sub);
        free(sub);
    }
}

int fg_wh_outbox_load(fg_wh_outbox_t *o, fg_store_t *s)
{
    clear(o);
    return fg_wh_store_sub_each(s, load_one, o);
}

/* After the group's transaction rolled back, the set is reloaded from the store (a change it
 * made in memory is gone from the store). A job's own savepoint rollback changes nothing here:
 * an op changes the set only after its store writes succeed. */
static void on_rolled_back(void *ctx, fg_store_t *s, bool whole)
{
    if (whole && fg_wh_outbox_load(ctx, s) != FG_OK)
        fg_log(FG_LOG_ERROR, "webhook_reload_failed", "after=rollback");
}

static int on_retain(void *ctx, fg_store_t *s, uint64_t purged_through, size_t chunk,
                     uint64_t *removed)
{
    return fg_wh_store_retain(s, purged_through, 4 * chunk, removed);
}

void fg_wh_delivery_id(char out[FG_WH_DELIVERY_ID_MAX], const char *sub_id, uint64_t seq,
                       int64_t at_us, const char *salt)
{
    char in[160];
    int len = snprintf(in, sizeof(in), "%s|%" PRIu64 "|%" PRId64 "|%s", sub_id, seq, at_us, salt);
    unsigned char h[SHA256_DIGEST_LENGTH], b[16];
    SHA256((const unsigned char *)in, (size_t)len < sizeof(in) ? (size_t)len : sizeof(in) - 1, h);
    uint64_t ms = (uint64_t)(at_us / 1000);
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    /* the 12 bits after the time are the seq's low bits: a fan-out's deliveries (one at_us)
     * sort in seq order, the order they are sent and settled in, so a drain's outcomes touch a
     * few neighbouring rows of the store instead of a random page each (with 4096 and more in
     * one millisecond, the order wraps once per 4096) */
    b[6] = (unsigned char)(0x70 | ((seq >> 8) & 0x0f)); /* version 7 */
    b[7] = (unsigned char)(seq & 0xff);
    memcpy(b + 8, h, 8);
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f)); /* RFC 9562 variant */
    char *p = out + snprintf(out, FG_WH_DELIVERY_ID_MAX, "msg_");
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        p += snprintf(p, 3, "%02x", b[i]);
    }
}

/* Writes the deliveries of one stored event: one per subscription it matches. */
static int on_stored(void *ctx, fg_store_t *s, const fg_event_t *view, const char *step_id,
                     int64_t now_us)
{
    fg_wh_outbox_t *o = ctx;
    for (size_t i = 0; i < o->n; i++) {
        if (!fg_wh_sub_matches(o->subs[i], view))
            continue;
        char id[FG_WH_DELIVERY_ID_MAX];
        fg_wh_delivery_id(id, o->subs[i]->id, view->seq, now_us, "");
        if (fg_wh_store_delivery_add(s, id, o->subs[i]->id, view->seq, view->run_id, now_us) !=
            FG_OK)
            return FG_ERR_IO;
        o->subs[i]->fresh_deliveries = true;
    }
    return FG_OK;
}

fg_projection_t fg_wh_outbox_projection(fg_wh_outbox_t *o)
{
    return (fg_projection_t){.name = "deliveries",
                             .ctx = o,
                             .apply = on_stored,
                             .rolled_back = on_rolled_back,
                             .retain = on_retain};
}

void fg_wh_outbox_take_fresh(fg_wh_outbox_t *o, void (*cb)(void *ctx, const char *sub_id),
                             void *ctx)
{
    for (size_t i = 0; i < o->n; i++) {
        if (o->subs[i]->fresh_deliveries) {
            o->subs[i]->fresh_deliveries = false;
            cb(ctx, o->subs[i]->id);
        }
    }
}

/* Stores a subscription as it is now. */
static int persist(fg_store_t *s, const fg_wh_sub_t *sub, int64_t now_us)
{
    char *spec = json_dumps(sub->spec, JSON_COMPACT);
    if (spec == NULL)
        return FG_ERR_NOMEM;
    fg_wh_sub_row_t row = {.id = sub->id,
                           .spec = spec,
                           .secret = sub->secret,
                           .old_secret = sub->old_secret[0] ? sub->old_secret : NULL,
                           .old_secret_until_us = sub->old_secret_until_us,
                           .enabled = sub->enabled};
    int rc = fg_wh_store_sub_put(s, &row, now_us);
    free(spec);
    return rc;
}

typedef struct {
    fg_wh_outbox_t *o;
    fg_wh_sub_t *sub;
    fg_store_t *s;
    int64_t now_us;
    const char *salt;
    size_t enqueued;
    uint64_t first, last;
    uint64_t walked; /* the last event looked at */
} replay_t;

static int replay_one(void *ctx, const fg_store_event_ref_t *ev)
{
    replay_t *r = ctx;
    r->walked = ev->seq;
    int idx = fg_catalog_find(r->o->cat, ev->type, strlen(ev->type));
    if (idx < 0)
        return FG_OK;
    fg_event_t view = {.seq = ev->seq,
                       .type_idx = idx,
                       .type = ev->type,
                       .run_id = ev->run_id,
                       .workflow = ev->workflow,
                       .json = ev->json, /* payload filters read it */
                       .json_len = ev->json_len};
    if (!fg_wh_sub_matches(r->sub, &view))
        return FG_OK;
    char id[FG_WH_DELIVERY_ID_MAX];
    fg_wh_delivery_id(id, r->sub->id, ev->seq, r->now_us, r->salt);
    if (fg_wh_store_delivery_add(r->s, id, r->sub->id, ev->seq, ev->run_id, r->now_us) != FG_OK)
        return FG_ERR_IO;
    if (r->enqueued++ == 0)
        r->first = ev->seq;
    r->last = ev->seq;
    return FG_OK;
}

int fg_wh_replay_parse(const json_t *b, fg_wh_replay_range_t *range, fg_verr_t *err)
{
    uint64_t *after = &range->after;
    int64_t *since_us = &range->since_us, *until_us = &range->until_us;
    const json_t *seq = json_object_get(b, "since_seq"), *since = json_object_get(b, "since"),
                 *until = json_object_get(b, "until");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)b, key, v)
    {
        if (strcmp(key, "since_seq") != 0 && strcmp(key, "since") != 0 && strcmp(key, "until") != 0)
            return fg_verr_set(err, "unknown_field", key, NULL, "unknown field %s", key);
    }
    *after = 0;
    *since_us = *until_us = 0;
    if ((seq == NULL) == (since == NULL))
        return fg_verr_set(err, "invalid_field", "since_seq", NULL,
                           "give either since_seq or since");
    if (seq != NULL) {
        if (!json_is_integer(seq) || json_integer_value(seq) < 0)
            return fg_verr_set(err, "invalid_field", "since_seq", NULL,
                               "since_seq must be a sequence number");
        *after = (uint64_t)json_integer_value(seq) > 0 ? (uint64_t)json_integer_value(seq) - 1 : 0;
    }
    if (since != NULL &&
        (!json_is_string(since) ||
         !fg_time_parse(json_string_value(since), json_string_length(since), since_us)))
        return fg_verr_set(err, "invalid_field", "since", NULL,
                           "since must be an RFC 3339 timestamp");
    if (until != NULL &&
        (!json_is_string(until) ||
         !fg_time_parse(json_string_value(until), json_string_length(until), until_us)))
        return fg_verr_set(err, "invalid_field", "until", NULL,
                           "until must be an RFC 3339 timestamp");
    return FG_OK;
}

/* The subscription a declaration makes: its id from its url ("wh_cfg_" + 16 hex digits of
 * SHA-256), the secret of the one it replaces unless it gives one (else secret). NULL with
 * *rc when the spec does not validate (err) or memory is short. */
static fg_wh_sub_t *declared(fg_wh_outbox_t *o, const json_t *spec, const char *secret,
                             fg_verr_t *err, int *rc)
{
    fg_wh_sub_t *sub = calloc(1, sizeof(*sub));
    if (sub == NULL) {
        *rc = FG_ERR_NOMEM;
        return NULL;
    }
    fg_wh_sub_init(sub);
    snprintf(sub->secret, sizeof(sub->secret), "%s", secret);
    if ((*rc = fg_wh_sub_apply_json(sub, spec, true, o->cat, o->allow, o->nallow, err)) != FG_OK) {
        free(sub);
        return NULL;
    }
    unsigned char digest[32];
    SHA256((const unsigned char *)sub->url, strlen(sub->url), digest);
    snprintf(sub->id, sizeof(sub->id), "wh_cfg_");
    for (int i = 0; i < 8; i++)
        snprintf(sub->id + 7 + 2 * i, 3, "%02x", digest[i]);
    fg_wh_sub_t *old = find(o, sub->id, NULL);
    if (old != NULL && json_object_get(spec, "secret") == NULL) {
        memcpy(sub->secret, old->secret, sizeof(sub->secret));
        memcpy(sub->old_secret, old->old_secret, sizeof(sub->old_secret));
        sub->old_secret_until_us = old->old_secret_until_us;
    }
    return sub;
}

/* Puts a declared subscription (stored already) in the set, in place of the one with its id. */
static int adopt(fg_wh_outbox_t *o, fg_wh_sub_t *sub)
{
    size_t index;
    fg_wh_sub_t *old = find(o, sub->id, &index);
    if (old != NULL) {
        fg_wh_sub_dispose(old);
        free(old);
        o->subs[index] = sub;
        return FG_OK;
    }
    if (add(o, sub) != FG_OK) {
        fg_wh_sub_dispose(sub);
        free(sub);
        return FG_ERR_NOMEM;
    }
    return FG_OK;
}

static int op_apply(fg_writer_job_t *job, fg_store_t *s)
{
    fg_wh_op_t *op = (fg_wh_op_t *)((char *)job - offsetof(fg_wh_op_t, job));
    fg_wh_outbox_t *o = op->outbox;
    size_t index;
    fg_wh_sub_t *sub;
    int rc;
    switch (op->kind) {
    case FG_WH_OP_CREATE:
        if (o->n >= FG_WH_MAX_SUBSCRIPTIONS) {
            fg_verr_set(&op->err, "too_many_subscriptions", NULL, NULL, "at most %d subscriptions",
                        FG_WH_MAX_SUBSCRIPTIONS);
            return FG_ERR_TOO_LARGE;
        }
        sub = calloc(1, sizeof(*sub));
        if (sub == NULL)
            return FG_ERR_NOMEM;
        fg_wh_sub_init(sub);
        memcpy(sub->id, op->new_id, sizeof(sub->id));
        memcpy(sub->secret, op->secret, sizeof(sub->secret));
        rc = fg_wh_sub_apply_json(sub, op->body, true, o->cat, o->allow, o->nallow, &op->err);
        if (rc == FG_OK && find(o, sub->id, NULL) != NULL)
            rc = FG_ERR_CONFLICT; /* an entry applied twice: never two with one id */
        if (rc == FG_OK && (rc = persist(s, sub, op->now_us)) == FG_OK &&
            (rc = add(o, sub)) == FG_OK) {
            op->result = fg_wh_sub_to_json(sub, true);
            return FG_OK;
        }
        fg_wh_sub_dispose(sub);
        free(sub);
        return rc;
    case FG_WH_OP_PATCH:
        if ((sub = find(o, op->id, NULL)) == NULL)
            return FG_ERR_NOT_FOUND;
        rc = fg_wh_sub_apply_json(sub, op->body, false, o->cat, o->allow, o->nallow, &op->err);
        if (rc != FG_OK)
            return rc;
        /* A store failure fails the group; the rollback hook then reloads the set. */
        if ((rc = persist(s, sub, op->now_us)) != FG_OK)
            return rc;
        op->result = fg_wh_sub_to_json(sub, false);
        return FG_OK;
    case FG_WH_OP_ROTATE: {
        if ((sub = find(o, op->id, NULL)) == NULL)
            return FG_ERR_NOT_FOUND;
        if (op->secret[0] == '\0')
            return FG_ERR_IO;
        memcpy(sub->old_secret, sub->secret, sizeof(sub->old_secret));
        sub->old_secret_until_us = op->now_us + FG_WH_SECRET_GRACE_US;
        memcpy(sub->secret, op->secret, sizeof(sub->secret));
        if ((rc = persist(s, sub, op->now_us)) != FG_OK)
            return rc; /* the group fails and the rollback hook reloads the old secret */
        char until[40];
        fg_time_format(sub->old_secret_until_us, until, 0);
        op->result =
            json_pack("{s:s, s:s}", "secret", sub->secret, "previous_secret_valid_until", until);
        return FG_OK;
    }
    case FG_WH_OP_RETRY:
        rc = fg_wh_store_delivery_retry(s, op->id, op->now_us);
        if (rc == FG_ERR_CONFLICT)
            fg_verr_set(&op->err, "not_retryable", "id", op->id,
                        "only a failed or dead delivery can be sent again");
        if (rc == FG_OK)
            op->result = json_pack("{s:s, s:s}", "id", op->id, "status", "pending");
        return rc;
    case FG_WH_OP_REPLAY: {
        if ((sub = find(o, op->id, NULL)) == NULL)
            return FG_ERR_NOT_FOUND;
        if (!op->started && (rc = fg_wh_replay_parse(op->body, &op->range, &op->err)) != FG_OK)
            return rc;
        op->started = true;
        /* one chunk: the writer's other jobs (publishes) wait for at most this much */
        replay_t r = {.o = o, .sub = sub, .s = s, .now_us = op->now_us, .salt = op->salt};
        bool more = false;
        rc = fg_store_events_each(s, op->range.after, op->range.since_us, op->range.until_us,
                                  FG_WH_REPLAY_CHUNK, replay_one, &r, &more);
        if (rc != FG_OK)
            return rc;
        if (r.enqueued > 0 && op->enqueued == 0)
            op->first_seq = r.first;
        if (r.enqueued > 0)
            op->last_seq = r.last;
        op->enqueued += r.enqueued;
        if (r.walked > op->range.after)
            op->range.after = r.walked;
        op->more = more;
        if (!more)
            op->result =
                json_pack("{s:I, s:I, s:I}", "enqueued", (json_int_t)op->enqueued, "first_seq",
                          (json_int_t)op->first_seq, "last_seq", (json_int_t)op->last_seq);
        return FG_OK;
    }
    case FG_WH_OP_DECLARE:
        if ((sub = declared(o, op->body, op->secret, &op->err, &rc)) == NULL)
            return rc;
        if ((rc = persist(s, sub, op->now_us)) != FG_OK) {
            fg_wh_sub_dispose(sub);
            free(sub);
            return rc;
        }
        op->result = fg_wh_sub_to_json(sub, false);
        return adopt(o, sub);
    case FG_WH_OP_DELETE:
        if ((sub = find(o, op->id, &index)) == NULL)
            return FG_ERR_NOT_FOUND;
        if ((rc = fg_wh_store_sub_delete(s, op->id)) != FG_OK)
            return rc == FG_ERR_NOT_FOUND ? rc : FG_ERR_IO;
        fg_wh_sub_dispose(sub);
        free(sub);
        memmove(&o->subs[index], &o->subs[index + 1], (o->n - index - 1) * sizeof(o->subs[0]));
        o->n--;
        return FG_OK;
    }
    return FG_ERR_INVALID;
}

int fg_wh_outbox_declare(fg_wh_outbox_t *o, fg_store_t *s, const json_t *spec, fg_verr_t *err)
{
    int rc;
    fg_wh_sub_t *sub = declared(o, spec, "", err, &rc);
    if (sub == NULL)
        return rc;
    rc = fg_store_begin(s);
    if (rc == FG_OK && (rc = persist(s, sub, fg_time_now_us())) == FG_OK)
        rc = fg_store_commit(s, fg_store_last_seq(s));
    if (rc != FG_OK) {
        fg_store_rollback(s);
        fg_wh_sub_dispose(sub);
        free(sub);
        return FG_ERR_IO;
    }
    return adopt(o, sub);
}

int fg_wh_outbox_set_enabled(fg_wh_outbox_t *o, fg_store_t *s, const char *id, bool enabled,
                             int64_t now_us)
{
    fg_wh_sub_t *sub = find(o, id, NULL);
    if (sub == NULL)
        return FG_ERR_NOT_FOUND;
    sub->enabled = enabled;
    json_object_set_new(sub->spec, "enabled", json_boolean(enabled));
    return persist(s, sub, now_us);
}

void fg_wh_op_init(fg_wh_op_t *op, fg_wh_outbox_t *o, fg_wh_op_kind_t kind, const char *id,
                   json_t *body)
{
    memset(op, 0, sizeof(*op));
    op->job.apply = op_apply;
    op->outbox = o;
    op->kind = kind;
    if (id != NULL)
        snprintf(op->id, sizeof(op->id), "%s", id);
    op->body = json_incref(body);
    op->err.index = -1;
    /* what the change needs of chance and the clock, fixed here: in cluster mode every node
     * applies the same (outbox_repl.c) */
    op->now_us = fg_time_now_us();
    char uuid[FG_UUID_LEN + 1];
    fg_uuid_new(uuid);
    snprintf(op->new_id, sizeof(op->new_id), "wh_%s", uuid);
    snprintf(op->salt, sizeof(op->salt), "%.16s", uuid + 19);
    if ((kind == FG_WH_OP_CREATE || kind == FG_WH_OP_ROTATE || kind == FG_WH_OP_DECLARE) &&
        fg_wh_secret_generate(op->secret) != FG_OK)
        op->secret[0] = '\0'; /* CREATE generates its own then; ROTATE fails */
}

void fg_wh_op_dispose(fg_wh_op_t *op)
{
    json_decref(op->body);
    json_decref(op->result);
    op->body = op->result = NULL;
}
