/*
 * ids.h - uuids (ironflow's lowercase hyphenated form) and producer-supplied event ids.
 */
#ifndef FG_EVENTS_IDS_H
#define FG_EVENTS_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define FG_UUID_LEN 36      /* characters of a hyphenated uuid, without NUL */
#define FG_EVENT_ID_MAX 128 /* longest accepted event id */

/** True when s is a hyphenated uuid (either case) and not the nil uuid. */
bool fg_uuid_valid(const char *s, size_t len);

/**
 * Writes a new UUIDv7 (RFC 9562: 48-bit Unix milliseconds, 12 bits of the millisecond's
 * fraction, then 62 random bits), lowercase, NUL-terminated, into out[37]. Ids made by one
 * thread strictly increase, so a batch's events (and their deliveries, keyed by event id) sort
 * in the order they were published: the store's id indexes append at their end, and a drain's
 * outcomes touch neighbouring rows instead of a random page each.
 */
void fg_uuid_new(char out[FG_UUID_LEN + 1]);

/**
 * True when s may be an event id: 1..FG_EVENT_ID_MAX printable ASCII characters, no space and
 * no '.' (Standard Webhooks ids must not contain a dot).
 */
bool fg_event_id_valid(const char *s, size_t len);

#endif
