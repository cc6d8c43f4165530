/*
 * fuzz_url.c - webhook target URLs and addresses: URL parsing and the creation-time guard, and
 * the same bytes as a CIDR of webhooks.allow_networks.
 */
#include "webhooks/addr.h"
#include "webhooks/url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    fg_wh_url_t u;
    fg_verr_t err;
    fg_cidr_t allow;
    bool have = fg_cidr_parse("10.0.0.0/8", &allow) == 0;
    if (fg_wh_url_parse(s, &u, &err) == 0) {
        fg_wh_url_check_target(&u, &allow, have, &err);
        if (u.literal) {
            const char *why;
            fg_addr_allowed((const struct sockaddr *)&u.ip, &allow, have, &why);
        }
    }
    fg_cidr_t c;
    fg_cidr_parse(s, &c);
    free(s);
    return 0;
}
