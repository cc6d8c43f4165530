/*
 * ingest_ironflow.c - ironflow's webhook subscriber (ingest.h).
 *
 * ironflow POSTs each event as the flat JSON object of its wire format (the catalog's own:
 * notes/event-catalog.md) to one URL, signed `X-Signature-256: sha256=<hex HMAC-SHA256(secret,
 * body)>`, without an event id for most types, and retries a failed delivery with the same body
 * a few times. So the mapping is the event itself, given an id derived from the body when it has
 * none: a retried body is the same event (a duplicate, answered with its first seq), two
 * different events are two (their `at` differs). A log line keeps the engine's own id when it
 * sends one (the persisted log entry).
 */
#include "gateway/ingest.h"
#include "events/err.h"

#include <stdio.h>
#include <string.h>

static int map(const char *body, size_t len, const fg_ingest_meta_t *meta, json_t **events,
               fg_verr_t *err)
{
    (void)meta;
    *events = NULL;
    json_t *ev = fg_ingest_parse(body, len, err);
    if (ev == NULL)
        return FG_ERR_INVALID;
    if (!json_is_object(ev)) {
        json_decref(ev);
        return fg_verr_set(err, "invalid_event", NULL, NULL, "an ironflow event is a JSON object");
    }
    json_t *id = json_object_get(ev, "id");
    if (id == NULL || json_is_null(id)) {
        char uuid[37];
        if (fg_ingest_derived_uuid("ironflow", body, len, uuid) != FG_OK ||
            json_object_set_new(ev, "id", json_string(uuid)) != 0) {
            json_decref(ev);
            return FG_ERR_NOMEM;
        }
    }
    *events = json_array();
    if (*events == NULL || json_array_append_new(*events, ev) != 0) {
        json_decref(*events);
        *events = NULL;
        return FG_ERR_NOMEM;
    }
    return FG_OK;
}

const fg_ingest_adapter_t fg_ingest_ironflow = {
    .name = "ironflow",
    .signature_header = "x-signature-256",
    .map = map,
};
