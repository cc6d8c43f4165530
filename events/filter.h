/*
 * filter.h - what a subscriber wants: event types (exact names, `approval_*` prefix wildcards,
 * `*`), run ids and workflow names, and a filter on the event's fields (pfilter.h). Empty
 * dimensions match everything; a dimension with values matches an event that has one of them
 * (types AND runs AND workflows AND the payload filter).
 *
 * Built on the thread that parses the request, then read-only: matching is lock-free.
 */
#ifndef FG_EVENTS_FILTER_H
#define FG_EVENTS_FILTER_H

#include "events/catalog.h"
#include "events/err.h"
#include "events/event.h"
#include "events/ids.h"
#include "events/pfilter.h"

#include <stdbool.h>
#include <stdint.h>

#define FG_FILTER_MAX_ITEMS 256    /* type names or patterns in one filter */
#define FG_FILTER_MAX_RUNS 64      /* run ids in one filter */
#define FG_FILTER_MAX_WORKFLOWS 32 /* workflow names in one filter */
#define FG_FILTER_MAX_NAME 256     /* longest workflow name */

typedef struct {
    bool any_type;                     /* no type restriction */
    uint64_t types[FG_MAX_TYPES / 64]; /* bitmap of catalog indexes, when !any_type */
    size_t nruns;
    char (*runs)[FG_UUID_LEN + 1]; /* nruns lowercase run ids; owned, NULL when none */
    size_t nworkflows;
    char **workflows;      /* nworkflows names; owned, NULL when none */
    fg_pfilter_t *payload; /* on the event's fields; owned, NULL when none */
} fg_filter_t;

/** Initialises a filter that matches every event. */
void fg_filter_init(fg_filter_t *f);

/** Frees what the filter owns. */
void fg_filter_dispose(fg_filter_t *f);

/**
 * Adds a comma list of types: exact names, prefix patterns ending in '*' ("approval_*"), or "*".
 * Every name must be in the catalog and every pattern must match at least one type. Returns
 * FG_OK, or FG_ERR_INVALID with err ("unknown_type" or "invalid_filter"); the filter may then
 * hold part of the list and should be disposed.
 */
int fg_filter_add_types(fg_filter_t *f, const fg_catalog_t *cat, const char *list, size_t len,
                        fg_verr_t *err);

/** Adds a comma list of run ids (uuids). Errors as above ("invalid_run_id", "invalid_filter"). */
int fg_filter_add_runs(fg_filter_t *f, const char *list, size_t len, fg_verr_t *err);

/** Adds a comma list of workflow names. Errors as above ("invalid_filter"). */
int fg_filter_add_workflows(fg_filter_t *f, const char *list, size_t len, fg_verr_t *err);

/** Sets the filter on the event's fields from its JSON text (pfilter.h; errors as there). */
int fg_filter_set_payload(fg_filter_t *f, const char *text, size_t len, fg_verr_t *err);

/** The same from a parsed document. */
int fg_filter_set_payload_json(fg_filter_t *f, const json_t *doc, fg_verr_t *err);

/** True when the type index passes the type dimension. */
static inline bool fg_filter_type_ok(const fg_filter_t *f, int type_idx)
{
    return f->any_type || (f->types[type_idx >> 6] >> (type_idx & 63) & 1);
}

/** True when the event passes every dimension. A payload filter reads the event's JSON parsed
 * once per thread: streams matched one after another against the same event share the parse. */
bool fg_filter_match(const fg_filter_t *f, const fg_event_t *ev);

#endif
