/*
 * log.c - the stderr logger. Any thread; one write(2) per line so lines never interleave.
 */
#include "events/log.h"
#include "events/err.h"
#include "events/timefmt.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_int min_level = FG_LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void fg_log_set_level(fg_log_level_t level)
{
    atomic_store(&min_level, (int)level);
}

bool fg_log_enabled(fg_log_level_t level)
{
    return (int)level >= atomic_load_explicit(&min_level, memory_order_relaxed);
}

int fg_log_parse_level(const char *s, fg_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (fg_log_level_t)i;
            return FG_OK;
        }
    }
    return FG_ERR_INVALID;
}

void fg_log(fg_log_level_t level, const char *event, const char *fmt, ...)
{
    if (!fg_log_enabled(level))
        return;
    char line[2048];
    char ts[40];
    fg_time_format(fg_time_now_us(), ts, 3);
    int n = snprintf(line, sizeof(line), "%s level=%s event=%s", ts, level_names[level], event);
    if (n < 0 || (size_t)n >= sizeof(line))
        n = (int)sizeof(line) - 1;
    if (fmt[0] != '\0' && (size_t)n < sizeof(line) - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
        if (m < 0)
            m = 0;
        n += m;
        if ((size_t)n >= sizeof(line) - 1)
            n = (int)sizeof(line) - 2;
    }
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
