/*
 * subscription.c - building, validating and rendering webhook subscriptions. A subscription is
 * always rebuilt whole from its spec (the accepted JSON fields), so a PATCH is validated exactly
 * like a creation and a failed one changes nothing.
 */
#include "webhooks/subscription.h"
#include "events/ids.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *known_fields[] = {"url",         "event_types",      "run_id",  "workflow",
                                     "description", "enabled",          "headers", "max_in_flight",
                                     "ordering",    "signature",        "secret",  "format",
                                     "filter",      "rate_limit_per_s", "auth",    "tls"};

/* Headers flowgate sets itself, or that would break the request. */
static const char *reserved_headers[] = {"webhook-id",
                                         "webhook-timestamp",
                                         "webhook-signature",
                                         "x-signature-256",
                                         "content-type",
                                         "content-length",
                                         "host",
                                         "transfer-encoding",
                                         "connection",
                                         "expect",
                                         "upgrade",
                                         "te",
                                         "trailer",
                                         "keep-alive",
                                         "user-agent",
                                         "proxy-authorization",
                                         "traceparent"};

void fg_wh_sub_init(fg_wh_sub_t *sub)
{
    memset(sub, 0, sizeof(*sub));
    fg_filter_init(&sub->filter);
    sub->enabled = true;
    sub->max_in_flight = 4;
}

int fg_wh_sub_from_row(fg_wh_sub_t *sub, const fg_wh_sub_row_t *row, const fg_catalog_t *cat,
                       const fg_cidr_t *allow, size_t nallow, fg_verr_t *err)
{
    fg_wh_sub_init(sub);
    json_error_t jerr;
    json_t *spec = json_loads(row->spec, 0, &jerr);
    if (spec == NULL) {
        fg_verr_set(err, "invalid_field", "spec", NULL, "unreadable spec: %s", jerr.text);
        return FG_ERR_INVALID;
    }
    int rc = fg_wh_sub_apply_json(sub, spec, false, cat, allow, nallow, err);
    json_decref(spec);
    if (rc != FG_OK) {
        fg_wh_sub_dispose(sub);
        fg_wh_sub_init(sub);
        return FG_ERR_INVALID;
    }
    snprintf(sub->id, sizeof(sub->id), "%s", row->id);
    snprintf(sub->secret, sizeof(sub->secret), "%s", row->secret);
    if (row->old_secret != NULL) {
        snprintf(sub->old_secret, sizeof(sub->old_secret), "%s", row->old_secret);
        sub->old_secret_until_us = row->old_secret_until_us;
    }
    sub->enabled = row->enabled;
    return FG_OK;
}

void fg_wh_sub_dispose(fg_wh_sub_t *sub)
{
    free(sub->url);
    free(sub->description);
    json_decref(sub->spec);
    fg_filter_dispose(&sub->filter);
    fg_wh_auth_dispose(&sub->auth);
    for (size_t i = 0; i < sub->nheaders; i++) {
        free(sub->header_names[i]);
        free(sub->header_values[i]);
    }
    fg_wh_sub_init(sub);
}

static int bad_field(fg_verr_t *err, const char *field, const char *why)
{
    return fg_verr_set(err, "invalid_field", field, NULL, "%s %s", field, why);
}

static bool is_tchar(int c)
{
    return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Adds a string or an array of strings to a filter dimension. */
static int add_list(fg_filter_t *f, const fg_catalog_t *cat, const json_t *v, const char *field,
                    fg_verr_t *err)
{
    const json_t *items = v;
    json_t *single = NULL;
    if (json_is_string(v)) {
        single = json_array();
        json_array_append(single, (json_t *)v);
        items = single;
    }
    if (!json_is_array(items) || json_array_size(items) == 0) {
        json_decref(single);
        return bad_field(err, field, "must be a string or a non-empty array of strings");
    }
    int rc = FG_OK;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        if (!json_is_string(item)) {
            rc = bad_field(err, field, "must hold strings");
            break;
        }
        const char *s = json_string_value(item);
        size_t n = json_string_length(item);
        if (strcmp(field, "event_types") == 0)
            rc = fg_filter_add_types(f, cat, s, n, err);
        else if (strcmp(field, "run_id") == 0)
            rc = fg_filter_add_runs(f, s, n, err);
        else
            rc = fg_filter_add_workflows(f, s, n, err);
        if (rc != FG_OK)
            break;
    }
    json_decref(single);
    return rc;
}

/* Builds a whole subscription from a spec; on error nothing is left to free in out. */
static int build(fg_wh_sub_t *out, const json_t *spec, const fg_catalog_t *cat,
                 const fg_cidr_t *allow, size_t nallow, fg_verr_t *err)
{
    fg_wh_sub_init(out);
    int rc = FG_OK;
    const json_t *url = json_object_get(spec, "url");
    if (url == NULL) {
        rc = fg_verr_set(err, "missing_url", "url", NULL, "a subscription needs a url");
        goto fail;
    }
    if (!json_is_string(url)) {
        rc = bad_field(err, "url", "must be a string");
        goto fail;
    }
    if ((rc = fg_wh_url_parse(json_string_value(url), &out->target, err)) != FG_OK ||
        (rc = fg_wh_url_check_target(&out->target, allow, nallow, err)) != FG_OK)
        goto fail;
    if ((out->url = strdup(json_string_value(url))) == NULL) {
        rc = FG_ERR_NOMEM;
        goto fail;
    }
    if ((rc = fg_wh_auth_parse(&out->auth, json_object_get(spec, "auth"),
                               json_object_get(spec, "tls"), out->target.https, err)) != FG_OK)
        goto fail;

    const json_t *types = json_object_get(spec, "event_types");
    if (types != NULL && (rc = add_list(&out->filter, cat, types, "event_types", err)) != FG_OK)
        goto fail;
    const json_t *runs = json_object_get(spec, "run_id");
    if (runs != NULL && !json_is_null(runs) &&
        (rc = add_list(&out->filter, cat, runs, "run_id", err)) != FG_OK)
        goto fail;
    const json_t *wfs = json_object_get(spec, "workflow");
    if (wfs != NULL && !json_is_null(wfs) &&
        (rc = add_list(&out->filter, cat, wfs, "workflow", err)) != FG_OK)
        goto fail;

    const json_t *payload = json_object_get(spec, "filter");
    if (payload != NULL && !json_is_null(payload) &&
        (rc = fg_filter_set_payload_json(&out->filter, payload, err)) != FG_OK)
        goto fail;

    const json_t *desc = json_object_get(spec, "description");
    if (desc != NULL && !json_is_null(desc) &&
        (!json_is_string(desc) || json_string_length(desc) > FG_WH_MAX_DESCRIPTION)) {
        rc = bad_field(err, "description", "must be a string of at most 1024 bytes");
        goto fail;
    }
    if ((out->description = strdup(json_is_string(desc) ? json_string_value(desc) : "")) == NULL) {
        rc = FG_ERR_NOMEM;
        goto fail;
    }

    const json_t *enabled = json_object_get(spec, "enabled");
    if (enabled != NULL && !json_is_boolean(enabled)) {
        rc = bad_field(err, "enabled", "must be true or false");
        goto fail;
    }
    out->enabled = enabled == NULL || json_is_true(enabled);

    const json_t *mif = json_object_get(spec, "max_in_flight");
    if (mif != NULL && (!json_is_integer(mif) || json_integer_value(mif) < 1 ||
                        json_integer_value(mif) > FG_WH_MAX_IN_FLIGHT)) {
        rc = bad_field(err, "max_in_flight", "must be an integer from 1 to 100");
        goto fail;
    }
    out->max_in_flight = mif ? (int)json_integer_value(mif) : 4;

    const json_t *rate = json_object_get(spec, "rate_limit_per_s");
    if (rate != NULL && !json_is_null(rate) &&
        (!json_is_number(rate) || !(json_number_value(rate) >= 0.01) ||
         json_number_value(rate) > FG_WH_MAX_RATE)) {
        rc = bad_field(err, "rate_limit_per_s", "must be a number from 0.01 to 100000 (or null)");
        goto fail;
    }
    out->rate_per_s = rate != NULL && !json_is_null(rate) ? json_number_value(rate) : 0;

    const json_t *ord = json_object_get(spec, "ordering");
    if (ord != NULL) {
        const char *o = json_string_value(ord);
        if (o == NULL || (strcmp(o, "none") != 0 && strcmp(o, "per_run") != 0)) {
            rc = bad_field(err, "ordering", "must be none or per_run");
            goto fail;
        }
        out->ordering = strcmp(o, "per_run") == 0 ? FG_WH_ORDER_PER_RUN : FG_WH_ORDER_NONE;
    }
    const json_t *sig = json_object_get(spec, "signature");
    if (sig != NULL) {
        const char *s = json_string_value(sig);
        if (s == NULL || (strcmp(s, "standard") != 0 && strcmp(s, "github") != 0)) {
            rc = bad_field(err, "signature", "must be standard or github");
            goto fail;
        }
        out->signature = strcmp(s, "github") == 0 ? FG_WH_SIG_GITHUB : FG_WH_SIG_STANDARD;
    }

    const json_t *fmt = json_object_get(spec, "format");
    if (fmt != NULL) {
        const char *f = json_string_value(fmt);
        if (f == NULL ||
            (strcmp(f, "json") != 0 && strcmp(f, "slack") != 0 && strcmp(f, "discord") != 0)) {
            rc = bad_field(err, "format", "must be json, slack or discord");
            goto fail;
        }
        out->format = strcmp(f, "slack") == 0     ? FG_WH_FORMAT_SLACK
                      : strcmp(f, "discord") == 0 ? FG_WH_FORMAT_DISCORD
                                                  : FG_WH_FORMAT_JSON;
    }

    const json_t *headers = json_object_get(spec, "headers");
    if (headers != NULL && !json_is_null(headers)) {
        if (!json_is_object(headers) || json_object_size(headers) > FG_WH_MAX_HEADERS) {
            rc = bad_field(err, "headers", "must be an object of at most 32 string values");
            goto fail;
        }
        const char *name;
        json_t *value;
        json_object_foreach((json_t *)headers, name, value)
        {
            bool ok = name[0] != '\0' && json_is_string(value) &&
                      json_string_length(value) <= FG_WH_MAX_HEADER_VALUE;
            for (const char *p = name; ok && *p; p++)
                ok = is_tchar((unsigned char)*p);
            for (size_t i = 0; ok && i < json_string_length(value); i++) {
                unsigned char c = (unsigned char)json_string_value(value)[i];
                ok = c >= 0x20 && c != 0x7f;
            }
            if (!ok) {
                rc = fg_verr_set(err, "invalid_field", "headers", name,
                                 "header names must be tokens and values printable strings of at "
                                 "most 1024 bytes");
                goto fail;
            }
            if (out->auth.authorization != NULL && strcasecmp(name, "authorization") == 0) {
                rc = fg_verr_set(err, "invalid_field", "headers", name,
                                 "headers: authorization comes from auth; give one of them");
                goto fail;
            }
            for (size_t i = 0; i < sizeof(reserved_headers) / sizeof(reserved_headers[0]); i++) {
                if (strcasecmp(name, reserved_headers[i]) == 0) {
                    rc = fg_verr_set(err, "invalid_field", "headers", name,
                                     "header %s is set by flowgate", name);
                    goto fail;
                }
            }
            char *lower = strdup(name), *copy = strdup(json_string_value(value));
            if (lower == NULL || copy == NULL) {
                free(lower);
                free(copy);
                rc = FG_ERR_NOMEM;
                goto fail;
            }
            for (char *p = lower; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            out->header_names[out->nheaders] = lower;
            out->header_values[out->nheaders++] = copy;
        }
    }
    if ((out->spec = json_deep_copy(spec)) == NULL) {
        rc = FG_ERR_NOMEM;
        goto fail;
    }
    return FG_OK;
fail:
    fg_wh_sub_dispose(out);
    return rc;
}

int fg_wh_sub_apply_json(fg_wh_sub_t *sub, const json_t *obj, bool create, const fg_catalog_t *cat,
                         const fg_cidr_t *allow, size_t nallow, fg_verr_t *err)
{
    if (!json_is_object(obj))
        return fg_verr_set(err, "invalid_subscription", NULL, NULL,
                           "a subscription is a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof(known_fields) / sizeof(known_fields[0]) && !known; i++)
            known = strcmp(key, known_fields[i]) == 0;
        if (!known)
            return fg_verr_set(err, "unknown_field", key, NULL, "unknown field %s", key);
    }
    const json_t *secret = json_object_get(obj, "secret");
    if (secret != NULL && !create)
        return fg_verr_set(err, "invalid_field", "secret", NULL,
                           "the secret is changed with POST /v1/webhooks/{id}/secret/rotate");
    unsigned char key_bytes[FG_WH_KEY_MAX];
    size_t keylen;
    if (secret != NULL &&
        (!json_is_string(secret) || strlen(json_string_value(secret)) >= FG_WH_SECRET_MAX ||
         fg_wh_secret_decode(json_string_value(secret), key_bytes, &keylen) != FG_OK))
        return fg_verr_set(err, "invalid_secret", "secret", NULL,
                           "secret must be whsec_ followed by base64 of 24 to 64 bytes");

    /* The merged spec: the current one (for a PATCH) with the given fields over it. */
    json_t *spec = create || sub->spec == NULL ? json_object() : json_deep_copy(sub->spec);
    json_object_foreach((json_t *)obj, key, v)
    {
        if (strcmp(key, "secret") != 0)
            json_object_set(spec, key, v);
    }
    fg_wh_sub_t next;
    int rc = build(&next, spec, cat, allow, nallow, err);
    json_decref(spec);
    if (rc != FG_OK)
        return rc;
    if (create) {
        char uuid[FG_UUID_LEN + 1];
        fg_uuid_new(uuid);
        if (sub->id[0] != '\0') /* chosen by the caller (the same on every node) */
            memcpy(next.id, sub->id, sizeof(next.id));
        else
            snprintf(next.id, sizeof(next.id), "wh_%s", uuid);
        if (secret != NULL)
            snprintf(next.secret, sizeof(next.secret), "%s", json_string_value(secret));
        else if (sub->secret[0] != '\0')
            memcpy(next.secret, sub->secret, sizeof(next.secret));
        else if (fg_wh_secret_generate(next.secret) != FG_OK) {
            fg_wh_sub_dispose(&next);
            return FG_ERR_IO;
        }
    } else {
        memcpy(next.id, sub->id, sizeof(next.id));
        memcpy(next.secret, sub->secret, sizeof(next.secret));
        memcpy(next.old_secret, sub->old_secret, sizeof(next.old_secret));
        next.old_secret_until_us = sub->old_secret_until_us;
    }
    fg_wh_sub_dispose(sub);
    *sub = next;
    return FG_OK;
}

json_t *fg_wh_sub_to_json(const fg_wh_sub_t *sub, bool with_secret)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(sub->id));
    json_object_set_new(o, "url", json_string(sub->url));
    json_t *types = json_object_get(sub->spec, "event_types");
    json_object_set_new(o, "event_types", types ? json_deep_copy(types) : json_pack("[s]", "*"));
    static const char *const optional[] = {"run_id", "workflow", "filter"};
    for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
        json_t *v = json_object_get(sub->spec, optional[i]);
        if (v != NULL && !json_is_null(v))
            json_object_set_new(o, optional[i], json_deep_copy(v));
    }
    json_object_set_new(o, "description", json_string(sub->description));
    json_object_set_new(o, "enabled", json_boolean(sub->enabled));
    json_t *h = json_object();
    for (size_t i = 0; i < sub->nheaders; i++)
        json_object_set_new(h, sub->header_names[i], json_string(sub->header_values[i]));
    json_object_set_new(o, "headers", h);
    json_object_set_new(o, "max_in_flight", json_integer(sub->max_in_flight));
    json_t *auth = fg_wh_auth_view(json_object_get(sub->spec, "auth"));
    json_t *tls = fg_wh_tls_view(json_object_get(sub->spec, "tls"));
    if (auth != NULL) /* never the secrets */
        json_object_set_new(o, "auth", auth);
    if (tls != NULL)
        json_object_set_new(o, "tls", tls);
    json_object_set_new(o, "rate_limit_per_s",
                        sub->rate_per_s > 0 ? json_real(sub->rate_per_s) : json_null());
    json_object_set_new(o, "ordering",
                        json_string(sub->ordering == FG_WH_ORDER_PER_RUN ? "per_run" : "none"));
    json_object_set_new(o, "signature",
                        json_string(sub->signature == FG_WH_SIG_GITHUB ? "github" : "standard"));
    json_object_set_new(o, "format",
                        json_string(sub->format == FG_WH_FORMAT_SLACK     ? "slack"
                                    : sub->format == FG_WH_FORMAT_DISCORD ? "discord"
                                                                          : "json"));
    if (with_secret)
        json_object_set_new(o, "secret", json_string(sub->secret));
    return o;
}

bool fg_wh_sub_matches(const fg_wh_sub_t *sub, const fg_event_t *ev)
{
    if (!fg_filter_match(&sub->filter, ev))
        return false;
    if (ev->type_idx < FG_EV_WEBHOOK_ENDPOINT_FAILING || ev->type_idx > FG_EV_WEBHOOK_DELIVERY_DEAD)
        return true;
    /* an endpoint is not told about itself: no loop of failures about failures */
    json_t *obj = json_loadb(ev->json, ev->json_len, 0, NULL);
    const char *about = json_string_value(json_object_get(obj, "subscription_id"));
    bool other = about == NULL || strcmp(about, sub->id) != 0;
    json_decref(obj);
    return other;
}
