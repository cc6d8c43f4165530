/*
 * outbox_repl.c - subscription changes as the shared log's control entries (cluster mode,
 * events/replicated.h): the node that took the request encodes the op with its inputs (time,
 * new id, new secret, replay salt), every node decodes it and applies it to its own outbox, and
 * the request is answered with what its own node's apply said.
 */
#include "webhooks/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *fg_wh_op_encode(const fg_wh_op_t *op)
{
    json_t *o = json_pack("{s:i, s:s, s:I, s:s, s:s, s:s}", "k", (int)op->kind, "id", op->id, "now",
                          (json_int_t)op->now_us, "new_id", op->new_id, "secret", op->secret,
                          "salt", op->salt);
    if (o != NULL && op->body != NULL)
        json_object_set(o, "b", op->body);
    return o;
}

/* A decoded op: its own, applied whole (a replay's chunks in one go), freed when done. */
typedef struct {
    fg_wh_op_t op;
    int (*step)(fg_writer_job_t *job, fg_store_t *s);
} decoded_t;

static int apply_whole(fg_writer_job_t *job, fg_store_t *s)
{
    decoded_t *d = (decoded_t *)job;
    int rc;
    do {
        d->op.more = false;
        rc = d->step(job, s);
    } while (rc == FG_OK && d->op.more);
    return rc;
}

static void decoded_done(fg_writer_job_t *job)
{
    decoded_t *d = (decoded_t *)job;
    fg_wh_op_dispose(&d->op);
    free(d);
}

static bool copy(char *out, size_t cap, const json_t *v)
{
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) >= cap)
        return false;
    memcpy(out, s, strlen(s) + 1);
    return true;
}

static fg_writer_job_t *op_decode(void *ctx, const json_t *body)
{
    const json_t *k = json_object_get(body, "k");
    if (!json_is_integer(k) || json_integer_value(k) < FG_WH_OP_CREATE ||
        json_integer_value(k) > FG_WH_OP_DECLARE)
        return NULL;
    decoded_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    const char *id = json_string_value(json_object_get(body, "id"));
    fg_wh_op_init(&d->op, ctx, (fg_wh_op_kind_t)json_integer_value(k), id && id[0] ? id : NULL,
                  json_object_get(body, "b"));
    d->op.now_us = json_integer_value(json_object_get(body, "now"));
    if (!copy(d->op.new_id, sizeof(d->op.new_id), json_object_get(body, "new_id")) ||
        !copy(d->op.secret, sizeof(d->op.secret), json_object_get(body, "secret")) ||
        !copy(d->op.salt, sizeof(d->op.salt), json_object_get(body, "salt")) ||
        (id != NULL && strlen(id) >= sizeof(d->op.id))) {
        fg_wh_op_dispose(&d->op);
        free(d);
        return NULL;
    }
    d->step = d->op.job.apply;
    d->op.job.apply = apply_whole;
    d->op.job.done = decoded_done;
    return &d->op.job;
}

/* The origin's op gets the outcome of its own node's apply. */
static void op_answer(fg_writer_job_t *applied, fg_writer_job_t *origin)
{
    fg_wh_op_t *a = (fg_wh_op_t *)applied, *o = (fg_wh_op_t *)origin;
    o->job.status = a->job.status;
    o->err = a->err;
    json_decref(o->result);
    o->result = a->result;
    a->result = NULL;
    o->more = false;
    o->started = true;
    o->enqueued = a->enqueued;
    o->first_seq = a->first_seq;
    o->last_seq = a->last_seq;
}

fg_repl_kind_t fg_wh_op_kind(fg_wh_outbox_t *o)
{
    return (fg_repl_kind_t){.name = "wh_op", .decode = op_decode, .answer = op_answer, .ctx = o};
}
