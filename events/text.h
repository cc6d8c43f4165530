/*
 * text.h - small text helpers shared across modules: the value of a hex digit, membership in
 * a separated list ("a|b|c", "x,y"), and the FNV-1a hash of a string (for in-memory hash tables,
 * never for anything an attacker could exploit: the tables it serves are small or bounded). Pure,
 * header-only.
 */
#ifndef FG_EVENTS_TEXT_H
#define FG_EVENTS_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** 0..15 for a hex digit (either case), else -1. */
static inline int fg_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/** True when item (len bytes) is one of the sep-separated entries of list (exact bytes). */
static inline bool fg_list_has(const char *list, char sep, const char *item, size_t len)
{
    for (const char *p = list; *p;) {
        const char *end = strchr(p, sep);
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && memcmp(p, item, len) == 0)
            return true;
        p += n + (end != NULL);
    }
    return false;
}

/** FNV-1a of the first n bytes of s. */
static inline uint64_t fg_fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

#endif
