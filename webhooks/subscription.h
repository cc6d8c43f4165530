/*
 * subscription.h - a webhook subscription: where to deliver (url, extra headers), what
 * (event types, runs, workflows), and how (in-flight cap, per-run ordering, signature style,
 * secret). Built from the API's JSON (create and PATCH) or the config file, validated as a
 * whole, rendered back to JSON for the API. Owned by one thread at a time.
 */
#ifndef FG_WEBHOOKS_SUBSCRIPTION_H
#define FG_WEBHOOKS_SUBSCRIPTION_H

#include "events/catalog.h"
#include "events/err.h"
#include "events/event.h"
#include "events/filter.h"
#include "webhooks/sub_auth.h"
#include "webhooks/addr.h"
#include "webhooks/chat.h"
#include "webhooks/outbox_store.h"
#include "webhooks/sign.h"
#include "webhooks/url.h"

#include <jansson.h>
#include <stdbool.h>

#define FG_WH_MAX_HEADERS 32 /* extra headers per subscription */
#define FG_WH_MAX_HEADER_VALUE 1024
#define FG_WH_MAX_DESCRIPTION 1024
#define FG_WH_MAX_IN_FLIGHT 100
#define FG_WH_MAX_RATE 100000 /* rate_limit_per_s */

typedef enum { FG_WH_ORDER_NONE = 0, FG_WH_ORDER_PER_RUN } fg_wh_ordering_t;
typedef enum { FG_WH_SIG_STANDARD = 0, FG_WH_SIG_GITHUB } fg_wh_sigmode_t;

typedef struct {
    char id[40];        /* "wh_" + uuid, assigned at creation */
    char *url;          /* owned */
    fg_wh_url_t target; /* parsed url */
    json_t *spec;       /* the accepted fields as given (event_types, run_id, …) */
    fg_filter_t filter; /* compiled from event_types, run_id, workflow */
    char *description;  /* owned, "" when none */
    bool enabled;
    size_t nheaders;
    char *header_names[FG_WH_MAX_HEADERS];  /* owned, lower-case */
    char *header_values[FG_WH_MAX_HEADERS]; /* owned */
    int max_in_flight;                      /* 1..FG_WH_MAX_IN_FLIGHT, default 4 */
    double rate_per_s; /* rate_limit_per_s: attempts started per second at most; 0: no limit */
    fg_wh_auth_t auth; /* auth and tls: the Authorization header, client certificate, CA */
    fg_wh_ordering_t ordering;
    fg_wh_sigmode_t signature;
    fg_wh_format_t format;             /* json (the event as stored), slack or discord */
    char secret[FG_WH_SECRET_MAX];     /* "whsec_…" */
    char old_secret[FG_WH_SECRET_MAX]; /* the previous secret during a rotation, or "" */
    int64_t old_secret_until_us;       /* when old_secret stops signing */
    bool fresh_deliveries; /* outbox: deliveries added in the open transaction, not announced */
} fg_wh_sub_t;

/** Initialises an empty subscription with the defaults. */
void fg_wh_sub_init(fg_wh_sub_t *sub);

/** Frees what the subscription owns; it may be initialised again. */
void fg_wh_sub_dispose(fg_wh_sub_t *sub);

/**
 * Applies a JSON object to sub: all of it at creation (create = true: url is required, a secret
 * is generated unless given or already in sub, an id is assigned unless already in sub), or the
 * fields present for a PATCH. The result is validated as a whole; on error sub is unchanged and err
 * says which field (codes: invalid_url, forbidden_target, unknown_type, invalid_filter,
 * invalid_run_id, invalid_field, unknown_field, missing_url, invalid_secret). allow/nallow is
 * webhooks.allow_networks.
 */
int fg_wh_sub_apply_json(fg_wh_sub_t *sub, const json_t *obj, bool create, const fg_catalog_t *cat,
                         const fg_cidr_t *allow, size_t nallow, fg_verr_t *err);

/**
 * Builds sub (initialised here) from its stored row: the spec validated as at its creation, then
 * id, secrets and enabled. The one way a stored subscription comes back to life (outbox,
 * dispatcher, API). FG_OK; FG_ERR_INVALID with err when the spec no longer validates under this
 * configuration (a custom type removed, a network no longer allowed) or cannot be read; sub is
 * then empty (initialised, nothing to dispose).
 */
int fg_wh_sub_from_row(fg_wh_sub_t *sub, const fg_wh_sub_row_t *row, const fg_catalog_t *cat,
                       const fg_cidr_t *allow, size_t nallow, fg_verr_t *err);

/** The subscription as the API shows it (new reference); the secret only when asked. */
json_t *fg_wh_sub_to_json(const fg_wh_sub_t *sub, bool with_secret);

/** True when the event is one this subscription wants (enabled or not). */
bool fg_wh_sub_matches(const fg_wh_sub_t *sub, const fg_event_t *ev);

#endif
