/*
 * addr.c - address classification and CIDR matching for the webhook address guard.
 */
#include "webhooks/addr.h"
#include "events/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static fg_addr_class_t classify_v4(const unsigned char *a)
{
    uint32_t v = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
#define IN(net, bits) ((v >> (32 - (bits))) == ((uint32_t)(net) >> (32 - (bits))))
    if (IN(0x00000000, 8))
        return FG_ADDR_UNSPECIFIED;
    if (IN(0x7f000000, 8))
        return FG_ADDR_LOOPBACK;
    if (IN(0x0a000000, 8) || IN(0xac100000, 12) || IN(0xc0a80000, 16))
        return FG_ADDR_PRIVATE;
    if (IN(0xa9fe0000, 16))
        return FG_ADDR_LINK_LOCAL;
    if (IN(0x64400000, 10))
        return FG_ADDR_CGNAT;
    if (IN(0xe0000000, 4))
        return FG_ADDR_MULTICAST;
    if (IN(0xf0000000, 4) || IN(0xc0000000, 24) || IN(0xc0000200, 24) || IN(0xc6120000, 15) ||
        IN(0xc6336400, 24) || IN(0xcb007100, 24))
        return FG_ADDR_RESERVED; /* 240/4 + broadcast, IETF, TEST-NETs, benchmarking */
#undef IN
    return FG_ADDR_PUBLIC;
}

fg_addr_class_t fg_addr_classify(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return classify_v4((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family != AF_INET6)
        return FG_ADDR_RESERVED;
    const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const unsigned char zero[16] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(a, zero, 16) == 0)
        return FG_ADDR_UNSPECIFIED;
    if (memcmp(a, zero, 15) == 0 && a[15] == 1)
        return FG_ADDR_LOOPBACK;
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0 || memcmp(a, zero, 12) == 0)
        return classify_v4(a + 12);
    if ((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0))
        return FG_ADDR_PRIVATE; /* fc00::/7 ULA, fec0::/10 site-local */
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return FG_ADDR_LINK_LOCAL;
    if (a[0] == 0xff)
        return FG_ADDR_MULTICAST;
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
        return FG_ADDR_RESERVED; /* 2001:db8::/32 documentation */
    return FG_ADDR_PUBLIC;
}

const char *fg_addr_class_name(fg_addr_class_t c)
{
    static const char *names[] = {"public", "loopback",  "private",     "link-local",
                                  "cgnat",  "multicast", "unspecified", "reserved"};
    return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "reserved";
}

int fg_cidr_parse(const char *s, fg_cidr_t *out)
{
    char host[64];
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    if (hl == 0 || hl >= sizeof(host))
        return FG_ERR_INVALID;
    memcpy(host, s, hl);
    host[hl] = '\0';
    fg_cidr_t c;
    memset(&c, 0, sizeof(c));
    unsigned max;
    if (inet_pton(AF_INET, host, c.addr) == 1) {
        c.family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, c.addr) == 1) {
        c.family = AF_INET6;
        max = 128;
    } else {
        return FG_ERR_INVALID;
    }
    c.prefix = max;
    if (slash) {
        char *end;
        errno = 0;
        long p = strtol(slash + 1, &end, 10);
        if (errno || end == slash + 1 || *end != '\0' || p < 0 || p > (long)max)
            return FG_ERR_INVALID;
        c.prefix = (unsigned)p;
    }
    *out = c;
    return FG_OK;
}

static bool prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

bool fg_cidr_contains(const fg_cidr_t *c, const struct sockaddr *sa)
{
    const unsigned char *a;
    int family = sa->sa_family;
    if (family == AF_INET) {
        a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (family == AF_INET6) {
        a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (c->family == AF_INET && memcmp(a, mapped, 12) == 0) {
            a += 12;
            family = AF_INET;
        }
    } else {
        return false;
    }
    return family == c->family && prefix_equal(a, c->addr, c->prefix);
}

bool fg_addr_allowed(const struct sockaddr *sa, const fg_cidr_t *allow, size_t nallow,
                     const char **why)
{
    fg_addr_class_t cls = fg_addr_classify(sa);
    if (cls == FG_ADDR_PUBLIC)
        return true;
    for (size_t i = 0; i < nallow; i++)
        if (fg_cidr_contains(&allow[i], sa))
            return true;
    if (why != NULL)
        *why = fg_addr_class_name(cls);
    return false;
}
