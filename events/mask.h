/*
 * mask.h - secrets masked out of events before they are stored (logs.mask).
 *
 * A build log leaks a token now and then. The operator lists what must never be kept: literal
 * values (a deploy key, a password) and POSIX extended regular expressions (`ghp_[A-Za-z0-9]{36}`,
 * `AKIA[0-9A-Z]{16}`). Every match in an event's string values is replaced with "***" on the
 * loop that took the publish, before the event is validated, numbered, stored, streamed or
 * delivered: the secret never reaches the store, a stream, a webhook or a log.
 *
 * Identifier fields (type, id, run_id, step_id, at) are left as they are. Masks are applied in
 * the order given, each to what the previous ones left. A string with NUL characters is masked
 * piece by piece between them (a regex does not see past a NUL).
 *
 * Immutable after fg_mask_create: any thread may use it at the same time.
 */
#ifndef FG_EVENTS_MASK_H
#define FG_EVENTS_MASK_H

#include <jansson.h>
#include <stddef.h>

#define FG_MASK_MAX 256          /* masks at most */
#define FG_MASK_LITERAL_MAX 4096 /* bytes of a literal or a pattern at most */
#define FG_MASK_TEXT "***"

typedef struct fg_mask fg_mask_t;

/**
 * Compiles spec, a JSON array of literals (strings) and patterns ({"regex": "…"}). FG_OK with
 * *out (NULL when spec is NULL or empty: nothing to mask), or FG_ERR_INVALID with one line in
 * err naming the item (logs.mask[i]) and what is wrong: not a string or {"regex"}, empty, too
 * long, a pattern that does not compile (regerror's words) or that matches the empty string.
 */
int fg_mask_create(const json_t *spec, fg_mask_t **out, char *err, size_t errcap);

void fg_mask_destroy(fg_mask_t *m);

/** Masks the string values of obj in place (recursively; identifiers aside). m may be NULL.
 * Returns FG_OK or FG_ERR_NOMEM (obj then partly masked: refuse the event). */
int fg_mask_event(const fg_mask_t *m, json_t *obj);

/** Masks one text (len bytes, NULs allowed) into a new malloc'd string (*out, *out_len; NUL
 * terminated). FG_OK or FG_ERR_NOMEM. */
int fg_mask_text(const fg_mask_t *m, const char *text, size_t len, char **out, size_t *out_len);

#endif
