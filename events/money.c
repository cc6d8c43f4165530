/*
 * money.c - exact decimal amounts (see money.h).
 */
#include "events/money.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define NANO INT64_C(1000000000)
#define MAX_UNITS INT64_C(9200000000) /* whole units that fit in int64 nano-units */

static bool parse_text(const char *s, size_t n, int64_t *nano)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    int64_t units = 0, frac = 0;
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        units = units * 10 + (s[i++] - '0');
        if (units > MAX_UNITS)
            return false;
    }
    if (i == d0)
        return false;
    if (i < n && s[i] == '.') {
        i++;
        size_t f0 = i;
        int64_t scale = NANO / 10;
        bool round_up = false;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (scale > 0)
                frac += (s[i] - '0') * scale;
            else if (i == f0 + 9)
                round_up = s[i] >= '5';
            scale /= 10;
            i++;
        }
        if (i == f0)
            return false;
        frac += round_up;
    }
    if (i != n)
        return false;
    int64_t v = units * NANO + frac;
    *nano = neg ? -v : v;
    return true;
}

bool fg_money_parse(const json_t *v, int64_t *nano)
{
    if (json_is_string(v))
        return parse_text(json_string_value(v), json_string_length(v), nano);
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i > MAX_UNITS || i < -MAX_UNITS)
            return false;
        *nano = (int64_t)i * NANO;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || fabs(d) > (double)MAX_UNITS)
            return false;
        *nano = (int64_t)llround(d * (double)NANO);
        return true;
    }
    return false;
}

void fg_money_format(int64_t nano, char *buf, size_t cap)
{
    uint64_t a = nano < 0 ? (uint64_t)0 - (uint64_t)nano : (uint64_t)nano;
    char frac[16];
    snprintf(frac, sizeof(frac), "%09" PRIu64, a % (uint64_t)NANO);
    size_t len = 9;
    while (len > 2 && frac[len - 1] == '0')
        len--;
    frac[len] = '\0';
    snprintf(buf, cap, "%s%" PRIu64 ".%s", nano < 0 ? "-" : "", a / (uint64_t)NANO, frac);
}
