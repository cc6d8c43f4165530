/*
 * ingest.h - engines plugged in without code changes: POST /v1/ingest/{engine} takes an
 * engine's own webhook deliveries, checks their signature, maps them onto the catalog and
 * publishes the result through the normal path (logs.mask, validation, one commit, the 202).
 *
 * One adapter per engine, one file each (ingest_<engine>.c), behind this small interface; a
 * third engine is one more file and one line in ingest.c's table. ingest.c does the rest: the
 * route, the body, the signature (`sha256=<hex HMAC-SHA256(secret, body)>` in the adapter's
 * header, compared in constant time; the secret is config `ingest.<engine>.secret`), and what a
 * mapping gives: nothing to store (unknown or irrelevant deliveries) is a 204, never a 5xx.
 */
#ifndef FG_GATEWAY_INGEST_H
#define FG_GATEWAY_INGEST_H

#include "events/validate.h"

#include <jansson.h>
#include <stddef.h>

/* What a mapper is told besides the body. */
typedef struct {
    const char *event;    /* the value of the adapter's event_header, or NULL */
    const char *delivery; /* the value of its delivery_header, or NULL */
    /* The current status of a run (fg_run_status_t; -1 while none; -2 when no event of it is
     * stored) as this node's views have it, for mappings that must not move a run backwards. */
    int (*run_status)(void *ctx, const char *run_id);
    void *ctx;
} fg_ingest_meta_t;

typedef struct {
    const char *name;             /* the {engine} in the route, and ingest.<name>.secret */
    const char *signature_header; /* lowercase; holds "sha256=<hex>" */
    const char *event_header;     /* lowercase, or NULL: the delivery's kind */
    const char *delivery_header;  /* lowercase, or NULL: the delivery's id */
    /**
     * Maps a body whose signature was checked to catalog events. Pure (no I/O but meta's
     * run_status), fuzzed. FG_OK with *events, a new JSON array of event objects (maybe empty:
     * nothing to store, a 204), each with an id that makes the engine's retries of the same
     * delivery one event; or FG_ERR_INVALID with err (answered 400); FG_ERR_NOMEM.
     */
    int (*map)(const char *body, size_t len, const fg_ingest_meta_t *meta, json_t **events,
               fg_verr_t *err);
} fg_ingest_adapter_t;

extern const fg_ingest_adapter_t fg_ingest_ironflow; /* ingest_ironflow.c */
extern const fg_ingest_adapter_t fg_ingest_github;   /* ingest_github.c */

/** Parses a delivery's body as JSON: the value (a new reference), or NULL with err filled
 * (invalid_json with its position) for the adapter to return FG_ERR_INVALID. */
json_t *fg_ingest_parse(const char *body, size_t len, fg_verr_t *err);

/** The adapter named name (len bytes), or NULL. */
const fg_ingest_adapter_t *fg_ingest_find(const char *name, size_t len);

/** Writes into out (37 bytes) a UUID made from the SHA-256 of the parts (version 8, the RFC
 * 9562 custom version): the same parts, the same id. FG_OK or FG_ERR_NOMEM. */
int fg_ingest_derived_uuid(const char *ns, const char *data, size_t len, char out[37]);

#endif
