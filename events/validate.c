/*
 * validate.c - per-type validation of producer events. Runs on HTTP loop threads; uses only the
 * read-only catalog.
 */
#include "events/validate.h"
#include "events/timefmt.h"
#include "events/transitions.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool decimal_string(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    size_t d0 = i;
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    if (i == d0)
        return false;
    if (i < n && s[i] == '.') {
        i++;
        size_t f0 = i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == f0)
            return false;
    }
    return i == n && n <= 64;
}

bool fg_field_value_valid(fg_field_kind_t kind, const json_t *v)
{
    switch (kind) {
    case FG_FK_STRING:
        return json_is_string(v);
    case FG_FK_NAME:
        return json_is_string(v) && json_string_length(v) > 0;
    case FG_FK_UUID:
        return json_is_string(v) && fg_uuid_valid(json_string_value(v), json_string_length(v));
    case FG_FK_TIME:
        return json_is_string(v) &&
               fg_time_parse(json_string_value(v), json_string_length(v), NULL);
    case FG_FK_DECIMAL:
        return json_is_number(v) ||
               (json_is_string(v) && decimal_string(json_string_value(v), json_string_length(v)));
    case FG_FK_UINT:
        return json_is_integer(v) && json_integer_value(v) >= 0;
    case FG_FK_INT:
        return json_is_integer(v);
    case FG_FK_NUMBER:
        return json_is_number(v);
    case FG_FK_BOOL:
        return json_is_boolean(v);
    case FG_FK_OBJECT:
        return json_is_object(v);
    case FG_FK_STRING_MAP: {
        if (!json_is_object(v))
            return false;
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            if (!json_is_string(m))
                return false;
        }
        return true;
    }
    case FG_FK_ARRAY:
        return json_is_array(v);
    case FG_FK_RUN_STATUS:
        return json_is_string(v) &&
               fg_run_status_parse(json_string_value(v), json_string_length(v)) >= 0;
    case FG_FK_LOG_STREAM: {
        if (!json_is_string(v))
            return false;
        const char *s = json_string_value(v);
        return strcmp(s, "stdout") == 0 || strcmp(s, "stderr") == 0 || strcmp(s, "system") == 0;
    }
    case FG_FK_ANY:
        return !json_is_null(v);
    }
    return false;
}

/* A short rendering of a bad value for the error details. */
static void describe(const json_t *v, char *out, size_t cap)
{
    if (json_is_string(v)) {
        snprintf(out, cap, "%s", json_string_value(v));
        return;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(out, cap, "%s", s ? s : "?");
    free(s);
}

static const char *kind_phrase(fg_field_kind_t k)
{
    switch (k) {
    case FG_FK_STRING:
        return "a string";
    case FG_FK_NAME:
        return "a non-empty string";
    case FG_FK_UUID:
        return "a uuid (not the nil uuid)";
    case FG_FK_TIME:
        return "an RFC 3339 timestamp";
    case FG_FK_DECIMAL:
        return "a decimal number or decimal string";
    case FG_FK_UINT:
        return "an integer >= 0";
    case FG_FK_INT:
        return "an integer";
    case FG_FK_NUMBER:
        return "a number";
    case FG_FK_BOOL:
        return "a boolean";
    case FG_FK_OBJECT:
        return "an object";
    case FG_FK_STRING_MAP:
        return "an object of strings";
    case FG_FK_ARRAY:
        return "an array";
    case FG_FK_RUN_STATUS:
        return "one of pending, running, completed, failed, retrying, cancelled, "
               "awaiting_approval";
    case FG_FK_LOG_STREAM:
        return "one of stdout, stderr, system";
    case FG_FK_ANY:
        return "a value";
    }
    return "a value";
}

#define STR_(x) #x
#define STR(x) STR_(x)

/* True when v nests no deeper than max levels (a scalar is one level). */
static bool depth_ok(const json_t *v, int max)
{
    if (max <= 0)
        return false;
    size_t i;
    const char *k;
    json_t *m;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, m)
        {
            if ((json_is_object(m) || json_is_array(m)) && !depth_ok(m, max - 1))
                return false;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, m)
        {
            if ((json_is_object(m) || json_is_array(m)) && !depth_ok(m, max - 1))
                return false;
        }
    }
    return true;
}

bool fg_traceparent_valid(const char *s, size_t n)
{
    if (n != FG_TRACEPARENT_LEN || s[0] != '0' || s[1] != '0' || s[2] != '-' || s[35] != '-' ||
        s[52] != '-')
        return false;
    bool trace_zero = true, parent_zero = true;
    for (size_t i = 3; i < n; i++) {
        if (i == 35 || i == 52)
            continue;
        bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
        if (!hex)
            return false;
        if (i < 35)
            trace_zero &= s[i] == '0';
        else if (i < 52)
            parent_zero &= s[i] == '0';
    }
    return !trace_zero && !parent_zero;
}

void fg_pub_event_dispose(fg_pub_event_t *ev)
{
    free(ev->workflow);
    free(ev->json);
    ev->workflow = NULL;
    ev->json = NULL;
}

int fg_pub_event_prepare(const fg_catalog_t *cat, json_t *obj, const char *idem_key,
                         size_t max_event_bytes, int64_t now_us, fg_pub_event_t *out,
                         fg_verr_t *err)
{
    memset(out, 0, sizeof(*out));
    out->from = out->to = -1;
    if (!json_is_object(obj))
        return fg_verr_set(err, "invalid_event", NULL, NULL, "an event must be a JSON object");
    if (!depth_ok(obj, FG_MAX_JSON_DEPTH))
        return fg_verr_set(err, "json_too_deep", "max_json_depth", STR(FG_MAX_JSON_DEPTH),
                           "the event nests deeper than %d levels", FG_MAX_JSON_DEPTH);

    json_t *type = json_object_get(obj, "type");
    if (type == NULL || json_is_null(type))
        return fg_verr_set(err, "missing_type", "type", NULL, "the event has no type");
    if (!json_is_string(type))
        return fg_verr_set(err, "invalid_type", "type", NULL, "type must be a string");
    int idx = fg_catalog_find(cat, json_string_value(type), json_string_length(type));
    if (idx < 0)
        return fg_verr_set(err, "unknown_type", "type", json_string_value(type),
                           "unknown event type");
    out->type_idx = idx;
    const fg_type_spec_t *spec = fg_catalog_type(cat, (size_t)idx);

    for (size_t i = 0; i < spec->nfields; i++) {
        const fg_field_spec_t *f = &spec->fields[i];
        json_t *v = json_object_get(obj, f->name);
        if (v == NULL || json_is_null(v)) {
            if (f->optional)
                continue;
            char code[96];
            snprintf(code, sizeof(code), "missing_%s", f->name);
            return fg_verr_set(err, code, f->name, NULL, "%s requires %s", spec->name, f->name);
        }
        if (!fg_field_value_valid(f->kind, v)) {
            char code[96], shown[96];
            snprintf(code, sizeof(code), "invalid_%s", f->name);
            describe(v, shown, sizeof(shown));
            return fg_verr_set(err, code, f->name, shown, "%s must be %s", f->name,
                               kind_phrase(f->kind));
        }
    }

    /* The event id: the producer's, else the idempotency key, else a new uuid. */
    json_t *id = json_object_get(obj, "id");
    if (id != NULL && !json_is_null(id)) {
        if (!json_is_string(id) ||
            !fg_event_id_valid(json_string_value(id), json_string_length(id)))
            return fg_verr_set(
                err, "invalid_id", "id", json_is_string(id) ? json_string_value(id) : "",
                "id must be 1-128 printable ASCII characters without spaces or dots");
        if (idx == FG_EV_LOG_LINE && !fg_uuid_valid(json_string_value(id), json_string_length(id)))
            return fg_verr_set(err, "invalid_id", "id", json_string_value(id),
                               "a log_line id must be a uuid");
        memcpy(out->id, json_string_value(id), json_string_length(id) + 1);
    } else {
        if (idem_key != NULL) {
            if (!fg_event_id_valid(idem_key, strlen(idem_key)))
                return fg_verr_set(err, "invalid_idempotency_key", "Idempotency-Key", idem_key,
                                   "Idempotency-Key must be 1-128 printable ASCII characters "
                                   "without spaces or dots");
            snprintf(out->id, sizeof(out->id), "%s", idem_key);
        } else {
            fg_uuid_new(out->id);
        }
        if (json_object_set_new(obj, "id", json_string(out->id)) != 0)
            return FG_ERR_NOMEM;
    }

    json_t *at = json_object_get(obj, "at");
    if (at == NULL || json_is_null(at)) {
        char ts[40];
        fg_time_format(now_us, ts, 6);
        if (json_object_set_new(obj, "at", json_string(ts)) != 0)
            return FG_ERR_NOMEM;
    } else if (!fg_field_value_valid(FG_FK_TIME, at)) {
        char shown[96];
        describe(at, shown, sizeof(shown));
        return fg_verr_set(err, "invalid_at", "at", shown, "at must be an RFC 3339 timestamp");
    }

    json_t *run_id = json_object_get(obj, "run_id");
    if (json_is_string(run_id) &&
        fg_uuid_valid(json_string_value(run_id), json_string_length(run_id))) {
        for (size_t i = 0; i < FG_UUID_LEN; i++)
            out->run_id[i] = (char)tolower((unsigned char)json_string_value(run_id)[i]);
        out->run_id[FG_UUID_LEN] = '\0';
    }
    json_t *step_id = json_object_get(obj, "step_id");
    if (json_is_string(step_id) &&
        fg_uuid_valid(json_string_value(step_id), json_string_length(step_id))) {
        for (size_t i = 0; i < FG_UUID_LEN; i++)
            out->step_id[i] = (char)tolower((unsigned char)json_string_value(step_id)[i]);
        out->step_id[FG_UUID_LEN] = '\0';
    }
    json_t *wf = json_object_get(obj, "workflow_name");
    if (json_is_string(wf) && json_string_length(wf) > 0) {
        out->workflow = strdup(json_string_value(wf));
        if (out->workflow == NULL)
            return FG_ERR_NOMEM;
    }
    if (idx == FG_EV_RUN_STATUS_CHANGED) {
        json_t *from = json_object_get(obj, "from"), *to = json_object_get(obj, "to");
        out->from = fg_run_status_parse(json_string_value(from), json_string_length(from));
        out->to = fg_run_status_parse(json_string_value(to), json_string_length(to));
    }

    out->json = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (out->json == NULL) {
        fg_pub_event_dispose(out);
        return FG_ERR_NOMEM;
    }
    out->json_len = strlen(out->json);
    if (out->json_len > max_event_bytes) {
        fg_pub_event_dispose(out);
        fg_verr_set(err, "event_too_large", NULL, NULL, "the event is larger than %zu bytes",
                    max_event_bytes);
        return FG_ERR_TOO_LARGE;
    }
    return FG_OK;
}
