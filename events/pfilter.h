/*
 * pfilter.h - a filter on an event's fields (payload filter): a JSON document compiled once,
 * when the subscription or stream is made, then matched against events, read-only (any thread).
 *
 * Grammar. A filter is an object; all its members must hold:
 *   {"<path>": <scalar>}                         the field equals it (string, number, bool, null)
 *   {"<path>": {"<op>": <value>, …}}             every operator holds:
 *       $eq, $ne       a scalar ($ne also holds when the field is missing)
 *       $in, $nin      an array of scalars, 1 to 256 ($nin also holds when missing)
 *       $prefix        a string the field (a string) starts with
 *       $gt, $gte, $lt, $lte   a number; the field is a number or a decimal string ("0.10")
 *       $exists        true or false: the field is there (even as null) or not
 *   {"$and": [<filter>, …]}, {"$or": [<filter>, …]}, {"$not": <filter>}
 * A path is member names joined by "." ("labels.env"); a segment of digits indexes an array
 * ("steps.0.name"). Numbers compare as numbers (1 equals 1.0). At most 64 conditions, 8 levels
 * of nesting, 16 segments in a path.
 */
#ifndef FG_EVENTS_PFILTER_H
#define FG_EVENTS_PFILTER_H

#include "events/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fg_pfilter fg_pfilter_t;

#define FG_PFILTER_MAX_CONDITIONS 64
#define FG_PFILTER_MAX_DEPTH 8
#define FG_PFILTER_MAX_SEGMENTS 16
#define FG_PFILTER_MAX_IN 256

/**
 * Compiles a filter from JSON text. FG_OK, FG_ERR_NOMEM, or FG_ERR_INVALID with err (code
 * "invalid_filter", field "filter"): the message names the position, a character offset for
 * text that is not JSON, else the place in the filter ("$or[1].cost_usd.$gt"), also in value.
 */
int fg_pfilter_compile(const char *text, size_t len, fg_pfilter_t **out, fg_verr_t *err);

/** The same from a parsed document (not kept). The same filter compiled twice (members in any
 * order) is one shared object: fg_pfilter_free drops a reference. */
int fg_pfilter_compile_json(const json_t *doc, fg_pfilter_t **out, fg_verr_t *err);

/** Drops a reference (NULL: nothing). Any thread. */
void fg_pfilter_free(fg_pfilter_t *f);

/** True when the event (its parsed JSON object) matches. */
bool fg_pfilter_match(const fg_pfilter_t *f, const json_t *event);

/* An event prepared for many filters: its members with their names' hashes, so a filter finds
 * one by comparing numbers. Valid while the document lives. */
#define FG_PFILTER_VIEW_MAX 32 /* members; an event with more is looked up in the document */
typedef struct {
    const json_t *doc; /* NULL: not JSON (nothing matches) */
    size_t n;          /* 0 with more than FG_PFILTER_VIEW_MAX members */
    uint64_t hash[FG_PFILTER_VIEW_MAX];
    const char *key[FG_PFILTER_VIEW_MAX];
    const json_t *val[FG_PFILTER_VIEW_MAX];
} fg_pfilter_view_t;

void fg_pfilter_view_init(fg_pfilter_view_t *v, const json_t *doc);

/** fg_pfilter_match on a prepared event. */
bool fg_pfilter_match_view(const fg_pfilter_t *f, const fg_pfilter_view_t *event);

/** A number no other filter of this process has had (a freed one's address may come again). */
uint64_t fg_pfilter_serial(const fg_pfilter_t *f);

/** The filter as compiled from (a new reference to a copy of the document). */
json_t *fg_pfilter_json(const fg_pfilter_t *f);

#endif
