/*
 * fuzz_retry_after.c - Retry-After values (delta-seconds and the three HTTP-date forms). A
 * parsed delay is never negative.
 */
#include "webhooks/retry.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t d;
    if (fg_wh_retry_after_parse((const char *)data, size, 1795000000, &d) == 0 && d < 0)
        abort();
    return 0;
}
