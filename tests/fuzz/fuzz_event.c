/*
 * fuzz_event.c - event validation: any bytes as a published JSON body (object, array or NDJSON
 * line), through the catalog's validation to the stored form and its SSE frame.
 */
#include "events/catalog.h"
#include "events/sse.h"
#include "events/validate.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void one(const fg_catalog_t *cat, json_t *obj)
{
    fg_pub_event_t ev;
    fg_verr_t err;
    if (fg_pub_event_prepare(cat, obj, "idem-key", 65536, 1, &ev, &err) != FG_OK)
        return;
    /* the stored form is valid JSON, and frames without a bare line break */
    json_t *back = json_loadb(ev.json, ev.json_len, 0, NULL);
    if (back == NULL)
        abort();
    json_decref(back);
    char *frame = malloc(ev.json_len * 2 + 256);
    size_t n = fg_sse_frame_write(frame, "1", "log_line", ev.json, ev.json_len);
    if (n < 4 || frame[n - 1] != '\n' || frame[n - 2] != '\n')
        abort();
    free(frame);
    fg_pub_event_dispose(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fg_catalog_t *cat;
    if (cat == NULL)
        cat = fg_catalog_create();
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_array(root)) {
        size_t i;
        json_t *item;
        json_array_foreach(root, i, item) one(cat, item);
    } else if (root != NULL) {
        one(cat, root);
    }
    json_decref(root);
    return 0;
}
