/*
 * catalog.h - the event types flowgate accepts: the twelve ironflow types, plus custom types
 * declared in the configuration, each with its required and optional fields.
 *
 * A catalog is built at start-up (create, add custom types, then freeze by use) and is read-only
 * afterwards, so every thread may read it without a lock. Type indexes are dense, stable for the
 * life of the process, and below FG_MAX_TYPES (filters keep them in a bitmap).
 */
#ifndef FG_EVENTS_CATALOG_H
#define FG_EVENTS_CATALOG_H

#include "events/err.h"

#include <stdbool.h>
#include <stddef.h>

#define FG_MAX_TYPES 256    /* built-in + custom types */
#define FG_MAX_TYPE_NAME 64 /* longest type name */
#define FG_MAX_FIELDS 32    /* fields per custom type */

/* Kinds of field value. */
typedef enum {
    FG_FK_STRING,     /* any JSON string */
    FG_FK_NAME,       /* a non-empty JSON string */
    FG_FK_UUID,       /* a hyphenated, non-nil uuid string */
    FG_FK_TIME,       /* an RFC 3339 date-time string */
    FG_FK_DECIMAL,    /* a JSON number, or a string holding a decimal number ("0.42") */
    FG_FK_UINT,       /* a JSON integer >= 0 */
    FG_FK_INT,        /* a JSON integer */
    FG_FK_NUMBER,     /* any JSON number */
    FG_FK_BOOL,       /* true or false */
    FG_FK_OBJECT,     /* any JSON object */
    FG_FK_STRING_MAP, /* a JSON object whose values are all strings */
    FG_FK_ARRAY,      /* any JSON array */
    FG_FK_RUN_STATUS, /* one of the run statuses (transitions.h) */
    FG_FK_LOG_STREAM, /* stdout, stderr or system */
    FG_FK_ANY,        /* any JSON value but null */
} fg_field_kind_t;

typedef struct {
    char name[FG_MAX_TYPE_NAME]; /* the JSON member name */
    fg_field_kind_t kind;
    bool optional; /* absent or null is accepted */
} fg_field_spec_t;

typedef struct {
    char name[FG_MAX_TYPE_NAME]; /* snake_case (or dotted) type name, the `type` member */
    const fg_field_spec_t *fields;
    size_t nfields;
    bool custom; /* declared in the configuration */
} fg_type_spec_t;

/* Indexes of the built-in types, in catalog order. */
enum {
    FG_EV_RUN_CREATED = 0,
    FG_EV_RUN_STATUS_CHANGED,
    FG_EV_RUN_FAILED,
    FG_EV_STEP_COMPLETED,
    FG_EV_STEP_FAILED,
    FG_EV_APPROVAL_REQUESTED,
    FG_EV_APPROVAL_GRANTED,
    FG_EV_APPROVAL_REJECTED,
    FG_EV_LOG_LINE,
    FG_EV_USER_SIGNED_IN,
    FG_EV_USER_SIGNED_UP,
    FG_EV_USER_SIGNED_OUT,
    /* flowgate's own, about its webhook endpoints (webhooks/opevents.c): published by it only */
    FG_EV_WEBHOOK_ENDPOINT_FAILING,
    FG_EV_WEBHOOK_ENDPOINT_RECOVERED,
    FG_EV_WEBHOOK_ENDPOINT_DISABLED,
    FG_EV_WEBHOOK_DELIVERY_DEAD,
    FG_EV_BUILTIN_COUNT
};

typedef struct fg_catalog fg_catalog_t;

/** Creates a catalog holding the built-in types. Returns NULL only when out of memory. */
fg_catalog_t *fg_catalog_create(void);

/** Frees the catalog and its custom types. */
void fg_catalog_destroy(fg_catalog_t *cat);

/**
 * Declares a custom type. Name: 1..63 characters of [a-z0-9_.], starting with a letter, not a
 * built-in or already declared name. Fields are copied. Returns FG_OK, or FG_ERR_INVALID (err
 * says why) / FG_ERR_TOO_LARGE (too many types or fields) with the catalog unchanged.
 */
int fg_catalog_add_custom(fg_catalog_t *cat, const char *name, const fg_field_spec_t *fields,
                          size_t nfields, fg_verr_t *err);

/** Parses a field kind name ("uuid", "string", …). Returns false when unknown. */
bool fg_field_kind_parse(const char *s, fg_field_kind_t *out);

/** Number of types (indexes are 0 .. count-1). */
size_t fg_catalog_count(const fg_catalog_t *cat);

/** The type at an index (< count). */
const fg_type_spec_t *fg_catalog_type(const fg_catalog_t *cat, size_t idx);

/** Index of the type with this name, or -1. */
int fg_catalog_find(const fg_catalog_t *cat, const char *name, size_t len);

#endif
