/*
 * cursor.c - cursor parsing. Pure function.
 */
#include "events/cursor.h"
#include "events/err.h"

int fg_cursor_parse(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
        return FG_ERR_INVALID;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return FG_ERR_INVALID;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return FG_ERR_INVALID;
    *out = v;
    return FG_OK;
}
