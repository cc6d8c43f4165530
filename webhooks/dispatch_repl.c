/*
 * dispatch_repl.c - delivery outcomes as the shared log's control entries (cluster mode,
 * events/replicated.h): the owner of a subscription encodes a round's outcomes of it, every
 * node decodes and records them alike (fg_wd_result_apply), the owner's dispatcher is answered
 * once its own store has them.
 */
#include "webhooks/dispatch_internal.h"
#include "events/log.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

json_t *fg_wd_result_encode(const result_op_t *op)
{
    json_t *list = json_array();
    for (size_t i = 0; i < op->n; i++) {
        const result_t *r = &op->results[i];
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:i, s:s, s:i, s:I, s:b, s:b, s:b, s:I}", "d",
                              r->delivery_id, "a", (json_int_t)r->a.attempt, "t",
                              (json_int_t)r->a.at_us, "u", (json_int_t)r->a.duration_us, "h",
                              r->a.http_status, "e", r->error, "s", r->a.new_status, "x",
                              (json_int_t)r->a.next_at_us, "dis", r->disable, "rec", r->recovered,
                              "fc", r->failing_changed, "fs", (json_int_t)r->failing_since_us);
        if (o != NULL && r->a.response_len > 0 && r->resp != NULL) {
            /* the response's first bytes may be anything: base64 in the entry */
            char *b64 = malloc(4 * ((r->a.response_len + 2) / 3) + 1);
            if (b64 != NULL) {
                EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)r->resp,
                                (int)r->a.response_len);
                json_object_set_new(o, "b", json_string(b64));
                free(b64);
            }
        }
        if (o == NULL || json_array_append_new(list, o) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return json_pack("{s:s, s:I, s:o}", "sub", op->results[0].sub_id, "now", (json_int_t)op->now_us,
                     "r", list);
}

static void decoded_done(fg_writer_job_t *job)
{
    result_op_t *op = (result_op_t *)job;
    fg_wd_results_free(op->results, op->n);
    free(op);
}

/* The response bytes of an encoded outcome (malloc'd into r->resp), when it has any. */
static void decode_response(const json_t *o, result_t *r)
{
    const char *b64 = json_string_value(json_object_get(o, "b"));
    size_t len = b64 ? strlen(b64) : 0;
    if (len == 0 || len % 4 != 0 || (r->resp = malloc(len / 4 * 3)) == NULL)
        return;
    int n = EVP_DecodeBlock((unsigned char *)r->resp, (const unsigned char *)b64, (int)len);
    if (n < 0) {
        free(r->resp);
        r->resp = NULL;
        return;
    }
    n -= (b64[len - 1] == '=') + (b64[len - 2] == '=');
    r->a.response_len = (size_t)n;
}

static fg_writer_job_t *result_decode(void *ctx, const json_t *body)
{
    const char *sub = json_string_value(json_object_get(body, "sub"));
    const json_t *list = json_object_get(body, "r");
    if (sub == NULL || strlen(sub) >= 48 || !json_is_array(list) || json_array_size(list) == 0)
        return NULL;
    result_op_t *op = calloc(1, sizeof(*op));
    result_t *res = calloc(json_array_size(list), sizeof(*res));
    if (op == NULL || res == NULL) {
        free(op);
        free(res);
        return NULL;
    }
    op->outbox = ctx;
    op->now_us = json_integer_value(json_object_get(body, "now"));
    op->results = res;
    op->job.apply = fg_wd_result_apply;
    op->job.done = decoded_done;
    size_t i;
    const json_t *o;
    json_array_foreach(list, i, o)
    {
        result_t *r = &res[op->n];
        const char *id = json_string_value(json_object_get(o, "d"));
        const char *err = json_string_value(json_object_get(o, "e"));
        if (id == NULL || strlen(id) >= sizeof(r->delivery_id)) {
            decoded_done(&op->job);
            return NULL;
        }
        op->n++;
        snprintf(r->delivery_id, sizeof(r->delivery_id), "%s", id);
        snprintf(r->sub_id, sizeof(r->sub_id), "%s", sub);
        snprintf(r->error, sizeof(r->error), "%s", err ? err : "");
        r->a.attempt = (unsigned)json_integer_value(json_object_get(o, "a"));
        r->a.at_us = json_integer_value(json_object_get(o, "t"));
        r->a.duration_us = json_integer_value(json_object_get(o, "u"));
        r->a.http_status = (int)json_integer_value(json_object_get(o, "h"));
        r->a.new_status = (int)json_integer_value(json_object_get(o, "s"));
        r->a.next_at_us = json_integer_value(json_object_get(o, "x"));
        r->disable = json_is_true(json_object_get(o, "dis"));
        r->recovered = json_is_true(json_object_get(o, "rec"));
        r->failing_changed = json_is_true(json_object_get(o, "fc"));
        r->failing_since_us = json_integer_value(json_object_get(o, "fs"));
        decode_response(o, r);
    }
    return &op->job;
}

static void result_answer(fg_writer_job_t *applied, fg_writer_job_t *origin)
{
    origin->status = applied->status;
}

fg_repl_kind_t fg_wh_result_kind(fg_wh_outbox_t *o)
{
    return (fg_repl_kind_t){
        .name = "wh_res", .decode = result_decode, .answer = result_answer, .ctx = o};
}
