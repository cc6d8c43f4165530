/*
 * err.c - texts of fg_err_t and the helper that fills a validation error. Any thread.
 */
#include "events/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *fg_strerror(int err)
{
    switch (err) {
    case FG_OK:
        return "success";
    case FG_ERR_NOMEM:
        return "out of memory";
    case FG_ERR_INVALID:
        return "invalid input";
    case FG_ERR_TOO_LARGE:
        return "too large";
    case FG_ERR_NOT_FOUND:
        return "not found";
    case FG_ERR_CONFLICT:
        return "conflict";
    case FG_ERR_IO:
        return "I/O error";
    case FG_ERR_CORRUPT:
        return "store is corrupt or not a flowgate database";
    case FG_ERR_CLOSED:
        return "shutting down";
    case FG_ERR_FORBIDDEN:
        return "forbidden";
    case FG_ERR_STALE:
        return "the shared log changed";
    }
    return "unknown error";
}

int fg_verr_set(fg_verr_t *err, const char *code, const char *field, const char *value,
                const char *fmt, ...)
{
    if (err == NULL)
        return FG_ERR_INVALID;
    snprintf(err->code, sizeof(err->code), "%s", code);
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    snprintf(err->value, sizeof(err->value), "%s", value ? value : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    err->index = -1;
    return FG_ERR_INVALID;
}
