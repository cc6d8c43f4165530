/*
 * retry.c - retry schedule, jitter and Retry-After parsing. Pure functions.
 */
#include "webhooks/retry.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <strings.h>

void fg_wh_schedule_default(fg_wh_schedule_t *s)
{
    static const int64_t d[] = {5000, 300000, 1800000, 7200000, 18000000, 36000000, 36000000};
    memset(s, 0, sizeof(*s));
    memcpy(s->delays_ms, d, sizeof(d));
    s->n = sizeof(d) / sizeof(d[0]);
    s->jitter = 0.2;
}

int fg_wh_schedule_parse(const char *spec, fg_wh_schedule_t *out)
{
    fg_wh_schedule_t s;
    memset(&s, 0, sizeof(s));
    s.jitter = out->jitter;
    const char *p = spec;
    while (*p) {
        if (s.n == FG_WH_SCHEDULE_MAX)
            return FG_ERR_INVALID;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || end == p || v <= 0 || !isdigit((unsigned char)*p))
            return FG_ERR_INVALID;
        int64_t unit;
        if (strncmp(end, "ms", 2) == 0) {
            unit = 1;
            end += 2;
        } else if (*end == 's' || *end == 'm' || *end == 'h' || *end == 'd') {
            unit = *end == 's' ? 1000 : *end == 'm' ? 60000 : *end == 'h' ? 3600000 : 86400000;
            end++;
        } else {
            return FG_ERR_INVALID;
        }
        if (v > INT64_MAX / unit / 2)
            return FG_ERR_INVALID;
        s.delays_ms[s.n++] = v * unit;
        if (*end == ',' && end[1] != '\0')
            end++;
        else if (*end != '\0')
            return FG_ERR_INVALID;
        p = end;
    }
    *out = s;
    return FG_OK;
}

int64_t fg_wh_retry_delay_ms(const fg_wh_schedule_t *s, unsigned failed, double u)
{
    if (failed == 0 || failed > s->n)
        return -1;
    double base = (double)s->delays_ms[failed - 1];
    double factor = 1.0 + s->jitter * (2.0 * u - 1.0); /* [1-j, 1+j) */
    int64_t d = (int64_t)(base * factor);
    return d < 0 ? 0 : d;
}

static int month_of(const char *m)
{
    static const char *names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; i++)
        if (strncmp(m, names[i], 3) == 0)
            return i + 1;
    return 0;
}

static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* Parses the three HTTP-date forms of RFC 9110 section 5.6.7 into Unix seconds. */
static bool http_date(const char *s, int64_t *out)
{
    char wd[16], mon[4];
    int d, y, h, mi, sec;
    int n = 0;
    if (sscanf(s, "%15[A-Za-z], %2d %3s %4d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &h, &mi, &sec,
               &n) == 7 &&
        n > 0 && s[n] == '\0') {
        /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    } else if (sscanf(s, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &h, &mi,
                      &sec, &n) == 7 &&
               n > 0 && s[n] == '\0') {
        y += y < 70 ? 2000 : 1900; /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
    } else if (sscanf(s, "%3s %3s %2d %2d:%2d:%2d %4d%n", wd, mon, &d, &h, &mi, &sec, &y, &n) ==
                   7 &&
               n > 0 && s[n] == '\0') {
        /* asctime: Sun Nov  6 08:49:37 1994 */
    } else {
        return false;
    }
    int m = month_of(mon);
    if (m == 0 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    *out = days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + sec;
    return true;
}

int fg_wh_retry_after_parse(const char *v, size_t len, int64_t now_s, int64_t *delay_s)
{
    char buf[64];
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof(buf))
        return FG_ERR_INVALID;
    memcpy(buf, v, len);
    buf[len] = '\0';
    bool digits = true;
    for (size_t i = 0; i < len; i++)
        digits &= isdigit((unsigned char)buf[i]) != 0;
    if (digits) {
        if (len > 12)
            return FG_ERR_INVALID;
        *delay_s = strtoll(buf, NULL, 10);
        return FG_OK;
    }
    int64_t at;
    if (!http_date(buf, &at))
        return FG_ERR_INVALID;
    *delay_s = at > now_s ? at - now_s : 0;
    return FG_OK;
}
