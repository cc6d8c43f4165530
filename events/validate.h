/*
 * validate.h - turns one producer JSON object into an event ready for the writer: checks it
 * against its type in the catalog, fills in `id` and `at` when missing, and serialises the
 * stored form once (compact JSON, member order kept).
 *
 * Runs on the HTTP loop that received the request; the result is handed to the writer thread.
 */
#ifndef FG_EVENTS_VALIDATE_H
#define FG_EVENTS_VALIDATE_H

#include "events/catalog.h"
#include "events/err.h"
#include "events/ids.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * How deep an event's JSON may nest (the event object is level 1). Every layer that reads an
 * event accepts this much with room to spare (jansson parses up to 2048 levels, SQLite's JSON
 * functions up to 2000 in Debian 12's 3.40); deeper events are refused with 400 json_too_deep.
 */
#define FG_MAX_JSON_DEPTH 128

#define FG_TRACEPARENT_LEN 55 /* "00-<32 hex>-<16 hex>-<2 hex>" */

/** True when s (n bytes) is a W3C traceparent of version 00: lowercase hex, a trace id and a
 * parent id that are not all zeros. */
bool fg_traceparent_valid(const char *s, size_t n);

/* A validated event waiting for its sequence number. Owned by whoever holds it; dispose frees. */
typedef struct {
    int type_idx;                  /* index in the catalog */
    char id[FG_EVENT_ID_MAX + 1];  /* event id: the producer's, the idempotency key, or new */
    char run_id[FG_UUID_LEN + 1];  /* lowercase run_id, "" when the type has none */
    char step_id[FG_UUID_LEN + 1]; /* lowercase step_id, "" when the event has none */
    char *workflow;                /* workflow_name when the event carries one, else NULL */
    int from, to;                  /* run status change (fg_run_status_t), -1 when none */
    char *json;                    /* stored form, NUL-terminated; owned */
    size_t json_len;               /* bytes of json */
    char traceparent[FG_TRACEPARENT_LEN + 1]; /* W3C trace context it came with, "" when none */
} fg_pub_event_t;

/**
 * Validates obj and prepares out. idem_key (may be NULL) is used as the id when the event has
 * none. now_us is the time written into `at` when missing. The object is modified (id, at).
 * Returns FG_OK; FG_ERR_INVALID with err filled (json_too_deep past FG_MAX_JSON_DEPTH);
 * FG_ERR_TOO_LARGE when the stored form exceeds max_event_bytes (err filled); FG_ERR_NOMEM. On
 * error out holds nothing to dispose.
 */
int fg_pub_event_prepare(const fg_catalog_t *cat, json_t *obj, const char *idem_key,
                         size_t max_event_bytes, int64_t now_us, fg_pub_event_t *out,
                         fg_verr_t *err);

/** Frees what prepare allocated; safe on a zeroed struct. */
void fg_pub_event_dispose(fg_pub_event_t *ev);

/** Checks one value against a field kind; true when it conforms. */
bool fg_field_value_valid(fg_field_kind_t kind, const json_t *v);

#endif
