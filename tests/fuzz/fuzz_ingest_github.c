/*
 * fuzz_ingest_github.c - a GitHub delivery's body and event name, as POST /v1/ingest/github maps
 * them (after the signature was checked), against every current run status: any bytes give
 * events, a 400 or out-of-memory, never a crash; every status change it emits is one the run
 * status machine allows, from the status the run had.
 */
#include "events/err.h"
#include "events/transitions.h"
#include "gateway/ingest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int status_of(void *ctx, const char *run_id)
{
    (void)run_id;
    return *(int *)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const kinds[] = {"workflow_run", "workflow_job", "ping", "push"};
    int status = (int)(data[0] % (FG_RUN_STATUS_COUNT + 2)) - 2; /* -2 (no run), -1, statuses */
    fg_ingest_meta_t meta = {
        .event = kinds[(data[0] >> 4) & 3], .run_status = status_of, .ctx = &status};
    json_t *out = NULL;
    fg_verr_t err;
    int rc = fg_ingest_github.map((const char *)data + 1, size - 1, &meta, &out, &err);
    if (rc == FG_OK) {
        int cur = status < 0 ? FG_RUN_PENDING : status;
        for (size_t i = 0; i < json_array_size(out); i++) {
            json_t *ev = json_array_get(out, i);
            if (!json_is_string(json_object_get(ev, "id")))
                abort();
            if (strcmp(json_string_value(json_object_get(ev, "type")), "run_status_changed") != 0)
                continue;
            const char *from = json_string_value(json_object_get(ev, "from"));
            const char *to = json_string_value(json_object_get(ev, "to"));
            int f = fg_run_status_parse(from, strlen(from)),
                t = fg_run_status_parse(to, strlen(to));
            if (f != cur || t < 0 || !fg_transition_allowed((fg_run_status_t)f, (fg_run_status_t)t))
                abort();
            cur = t;
        }
    } else if (out != NULL) {
        abort();
    }
    json_decref(out);
    return 0;
}
