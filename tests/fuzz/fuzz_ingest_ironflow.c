/*
 * fuzz_ingest_ironflow.c - an ironflow delivery's body, as POST /v1/ingest/ironflow maps it
 * (after its signature was checked): any bytes give events, a 400 or out-of-memory, never a
 * crash; the same body always gives the same event id (the engine's retries are one event).
 */
#include "events/err.h"
#include "gateway/ingest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *a = NULL, *b = NULL;
    fg_verr_t err;
    fg_ingest_meta_t meta = {0};
    int ra = fg_ingest_ironflow.map((const char *)data, size, &meta, &a, &err);
    int rb = fg_ingest_ironflow.map((const char *)data, size, &meta, &b, &err);
    if (ra != rb)
        abort();
    if (ra == FG_OK) {
        if (!json_is_array(a) || json_array_size(a) != json_array_size(b))
            abort();
        for (size_t i = 0; i < json_array_size(a); i++) {
            json_t *x = json_object_get(json_array_get(a, i), "id");
            json_t *y = json_object_get(json_array_get(b, i), "id");
            if (!json_equal(x, y))
                abort();
        }
    } else if (a != NULL || b != NULL) {
        abort();
    }
    json_decref(a);
    json_decref(b);
    return 0;
}
