/*
 * ids.c - uuid checks and generation (libuuid). Any thread.
 */
#include "events/ids.h"

#include "events/timefmt.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool fg_uuid_valid(const char *s, size_t len)
{
    if (len != FG_UUID_LEN)
        return false;
    bool nonzero = false;
    for (size_t i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else {
            if (!is_hex(s[i]))
                return false;
            if (s[i] != '0')
                nonzero = true;
        }
    }
    return nonzero;
}

/* Random bytes from a per-thread pool refilled by getrandom(2), one system call per 4 KiB. */
static void random_bytes(unsigned char *out, size_t n)
{
    static __thread unsigned char pool[4096];
    static __thread size_t avail;
    while (n > 0) {
        if (avail == 0) {
            size_t got = 0;
            while (got < sizeof(pool)) {
                ssize_t r = getrandom(pool + got, sizeof(pool) - got, 0);
                if (r > 0)
                    got += (size_t)r;
            }
            avail = sizeof(pool);
        }
        size_t take = n < avail ? n : avail;
        memcpy(out, pool + sizeof(pool) - avail, take);
        avail -= take;
        out += take;
        n -= take;
    }
}

void fg_uuid_new(char out[FG_UUID_LEN + 1])
{
    /* 60 bits of time: Unix milliseconds, then the millisecond's fraction in 1/4096ths (RFC 9562
     * section 6.2, method 3), kept strictly increasing within the thread (a clock that did not
     * move, or stepped back, gives the last value plus one). */
    static __thread uint64_t last;
    int64_t us = fg_time_now_us();
    uint64_t t = ((uint64_t)(us / 1000) << 12) | (uint64_t)((us % 1000) * 4096 / 1000);
    if (t <= last)
        t = last + 1;
    last = t;
    unsigned char u[16];
    random_bytes(u + 8, 8);
    uint64_t ms = t >> 12;
    for (int i = 0; i < 6; i++)
        u[i] = (unsigned char)(ms >> (40 - 8 * i));
    u[6] = (unsigned char)(0x70 | ((t >> 8) & 0x0f)); /* version 7, then the fraction */
    u[7] = (unsigned char)(t & 0xff);
    u[8] = (unsigned char)(0x80 | (u[8] & 0x3f)); /* RFC 9562 variant */
    snprintf(out, FG_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
}

bool fg_event_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > FG_EVENT_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '.')
            return false;
    }
    return true;
}
