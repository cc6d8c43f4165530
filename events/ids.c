/*
 * ids.c - uuid checks and generation (libuuid). Any thread.
 */
#include "events/ids.h"

#include <string.h>
#include <uuid/uuid.h>

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

void fg_uuid_new(char out[FG_UUID_LEN + 1])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
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
