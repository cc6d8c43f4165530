/*
 * fuzz_config.c - configuration loading: any bytes as the JSON config file, then the same
 * bytes as one environment value of a few keys.
 */
#include "gateway/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fg_config_t cfg;
    char err[512];
    fg_config_defaults(&cfg);
    if (fg_config_apply_json(&cfg, (const char *)data, size, err, sizeof(err)) == FG_OK)
        fg_config_resolve(&cfg, err, sizeof(err));
    fg_config_dispose(&cfg);
    static const char *keys[] = {"listen",       "webhooks.allow_networks",
                                 "cors.origins", "webhooks.retry_schedule",
                                 "auth.keys",    "threads"};
    char *v = malloc(size + 1);
    memcpy(v, data, size);
    v[size] = '\0';
    fg_config_defaults(&cfg);
    fg_config_set(&cfg, keys[size % 6], v, err, sizeof(err));
    fg_config_dispose(&cfg);
    free(v);
    return 0;
}
