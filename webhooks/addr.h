/*
 * addr.h - the address guard of webhook targets (SSRF): which addresses are not public, and
 * the operator's allow-list of networks that may be reached anyway (webhooks.allow_networks).
 * Applied to literal IPs when a subscription is created and to the address actually connected
 * to at each attempt. Pure functions, any thread.
 */
#ifndef FG_WEBHOOKS_ADDR_H
#define FG_WEBHOOKS_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

typedef enum {
    FG_ADDR_PUBLIC = 0,  /* reachable on the internet: allowed */
    FG_ADDR_LOOPBACK,    /* 127.0.0.0/8, ::1 */
    FG_ADDR_PRIVATE,     /* RFC 1918, fc00::/7 (ULA), fec0::/10 */
    FG_ADDR_LINK_LOCAL,  /* 169.254.0.0/16 (cloud metadata), fe80::/10 */
    FG_ADDR_CGNAT,       /* 100.64.0.0/10 */
    FG_ADDR_MULTICAST,   /* 224.0.0.0/4, ff00::/8 */
    FG_ADDR_UNSPECIFIED, /* 0.0.0.0/8, :: */
    FG_ADDR_RESERVED,    /* 240.0.0.0/4 and broadcast, documentation and benchmark ranges */
} fg_addr_class_t;

/**
 * Classifies an AF_INET or AF_INET6 address. IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible and
 * NAT64 (64:ff9b::/96) addresses are classified by the IPv4 address they carry. Any other
 * family is FG_ADDR_RESERVED.
 */
fg_addr_class_t fg_addr_classify(const struct sockaddr *sa);

/** A short name for logs and error messages ("loopback", "link-local", …). */
const char *fg_addr_class_name(fg_addr_class_t c);

typedef struct {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network address, 4 or 16 bytes used */
    unsigned prefix;        /* prefix length in bits */
} fg_cidr_t;

/** Parses "10.0.0.0/8", "127.0.0.1" (a /32), "::1/128", "fd00::/8". FG_OK or FG_ERR_INVALID. */
int fg_cidr_parse(const char *s, fg_cidr_t *out);

/** True when the address lies in the network (IPv4-mapped IPv6 matches IPv4 networks). */
bool fg_cidr_contains(const fg_cidr_t *c, const struct sockaddr *sa);

/**
 * The guard's decision: public addresses pass; others pass only inside one of the allowed
 * networks. When refused and why is not NULL, *why names the class.
 */
bool fg_addr_allowed(const struct sockaddr *sa, const fg_cidr_t *allow, size_t nallow,
                     const char **why);

#endif
