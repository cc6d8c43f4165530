/*
 * fuzz_query.c - what a subscriber's URL carries: the query string (percent-decoding), the
 * types/run_id/workflow filter lists, and cursors, as the stream and paging handlers read them.
 */
#include "events/catalog.h"
#include "events/cursor.h"
#include "events/filter.h"
#include "gateway/http_util.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fg_catalog_t *cat;
    if (cat == NULL)
        cat = fg_catalog_create();
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    fg_query_iter_t it = {(const char *)data, (const char *)data + size};
    fg_filter_t f;
    fg_filter_init(&f);
    char *name, *value;
    size_t nlen, vlen;
    while (fg_query_next(&it, &pool, &name, &nlen, &value, &vlen) > 0) {
        fg_verr_t err;
        uint64_t c;
        if (strcmp(name, "types") == 0)
            fg_filter_add_types(&f, cat, value, vlen, &err);
        else if (strcmp(name, "run_id") == 0)
            fg_filter_add_runs(&f, value, vlen, &err);
        else if (strcmp(name, "workflow") == 0)
            fg_filter_add_workflows(&f, value, vlen, &err);
        else
            fg_cursor_parse(value, vlen, &c);
    }
    fg_filter_dispose(&f);
    h2o_mem_clear_pool(&pool);
    return 0;
}
