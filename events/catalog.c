/*
 * catalog.c - the built-in ironflow event types (notes/event-catalog.md) and custom types.
 * Built at start-up on the main thread; read-only afterwards.
 */
#include "events/catalog.h"

#include <stdlib.h>
#include <string.h>

#define F(n, k)                                                                                    \
    {                                                                                              \
        n, FG_FK_##k, false                                                                        \
    }
#define OPT(n, k)                                                                                  \
    {                                                                                              \
        n, FG_FK_##k, true                                                                         \
    }

/* `at` is optional on input everywhere: flowgate adds it when missing. */
static const fg_field_spec_t f_run_created[] = {F("run_id", UUID), F("workflow_name", NAME),
                                                OPT("at", TIME)};
static const fg_field_spec_t f_run_status_changed[] = {
    F("run_id", UUID),      F("workflow_name", NAME),  F("from", RUN_STATUS),
    F("to", RUN_STATUS),    OPT("error", STRING),      F("cost_usd", DECIMAL),
    F("duration_ms", UINT), OPT("labels", STRING_MAP), OPT("at", TIME)};
static const fg_field_spec_t f_run_failed[] = {F("run_id", UUID),      F("workflow_name", NAME),
                                               OPT("error", STRING),   F("cost_usd", DECIMAL),
                                               F("duration_ms", UINT), OPT("at", TIME)};
static const fg_field_spec_t f_step_completed[] = {
    F("run_id", UUID),      F("step_id", UUID),     F("step_name", NAME), F("kind", NAME),
    F("duration_ms", UINT), F("cost_usd", DECIMAL), OPT("at", TIME)};
static const fg_field_spec_t f_step_failed[] = {F("run_id", UUID),    F("step_id", UUID),
                                                F("step_name", NAME), F("kind", NAME),
                                                F("error", STRING),   OPT("at", TIME)};
static const fg_field_spec_t f_approval_requested[] = {F("run_id", UUID), F("step_id", UUID),
                                                       F("message", STRING), OPT("at", TIME)};
static const fg_field_spec_t f_approval_granted[] = {F("run_id", UUID), F("approved_by", NAME),
                                                     OPT("step_id", UUID), OPT("at", TIME)};
static const fg_field_spec_t f_approval_rejected[] = {F("run_id", UUID), F("rejected_by", NAME),
                                                      OPT("step_id", UUID), OPT("at", TIME)};
static const fg_field_spec_t f_log_line[] = {F("run_id", UUID),    F("step_id", UUID),
                                             F("step_name", NAME), F("stream", LOG_STREAM),
                                             F("line", STRING),    OPT("at", TIME)};
static const fg_field_spec_t f_user_signed[] = {F("user_id", UUID), F("username", NAME),
                                                OPT("at", TIME)};
static const fg_field_spec_t f_user_signed_out[] = {F("user_id", UUID), OPT("at", TIME)};
/* operational: subscription_id, and the endpoint's host (never its url: a chat hook's path is its
 * secret) */
static const fg_field_spec_t f_wh_endpoint[] = {
    F("subscription_id", NAME), F("host", NAME),       OPT("error", STRING), OPT("failures", UINT),
    OPT("down_ms", UINT),       OPT("reason", STRING), OPT("at", TIME)};
static const fg_field_spec_t f_wh_dead[] = {F("subscription_id", NAME),
                                            F("host", NAME),
                                            F("delivery_id", NAME),
                                            F("attempts", UINT),
                                            OPT("error", STRING),
                                            OPT("http_status", UINT),
                                            OPT("at", TIME)};

#define T(n, f)                                                                                    \
    {                                                                                              \
        n, f, sizeof(f) / sizeof(f[0]), false                                                      \
    }
static const fg_type_spec_t builtin[FG_EV_BUILTIN_COUNT] = {
    T("run_created", f_run_created),
    T("run_status_changed", f_run_status_changed),
    T("run_failed", f_run_failed),
    T("step_completed", f_step_completed),
    T("step_failed", f_step_failed),
    T("approval_requested", f_approval_requested),
    T("approval_granted", f_approval_granted),
    T("approval_rejected", f_approval_rejected),
    T("log_line", f_log_line),
    T("user_signed_in", f_user_signed),
    T("user_signed_up", f_user_signed),
    T("user_signed_out", f_user_signed_out),
    T("webhook.endpoint_failing", f_wh_endpoint),
    T("webhook.endpoint_recovered", f_wh_endpoint),
    T("webhook.endpoint_disabled", f_wh_endpoint),
    T("webhook.delivery_dead", f_wh_dead),
};

struct fg_catalog {
    fg_type_spec_t types[FG_MAX_TYPES]; /* [0, BUILTIN_COUNT) built-in, then custom */
    size_t count;
};

static const struct {
    const char *name;
    fg_field_kind_t kind;
} kind_names[] = {
    {"string", FG_FK_STRING},
    {"name", FG_FK_NAME},
    {"uuid", FG_FK_UUID},
    {"time", FG_FK_TIME},
    {"decimal", FG_FK_DECIMAL},
    {"uint", FG_FK_UINT},
    {"int", FG_FK_INT},
    {"number", FG_FK_NUMBER},
    {"bool", FG_FK_BOOL},
    {"object", FG_FK_OBJECT},
    {"string_map", FG_FK_STRING_MAP},
    {"array", FG_FK_ARRAY},
    {"run_status", FG_FK_RUN_STATUS},
    {"log_stream", FG_FK_LOG_STREAM},
    {"any", FG_FK_ANY},
};

bool fg_field_kind_parse(const char *s, fg_field_kind_t *out)
{
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
        if (strcmp(s, kind_names[i].name) == 0) {
            *out = kind_names[i].kind;
            return true;
        }
    }
    return false;
}

fg_catalog_t *fg_catalog_create(void)
{
    fg_catalog_t *cat = calloc(1, sizeof(*cat));
    if (cat == NULL)
        return NULL;
    memcpy(cat->types, builtin, sizeof(builtin));
    cat->count = FG_EV_BUILTIN_COUNT;
    return cat;
}

void fg_catalog_destroy(fg_catalog_t *cat)
{
    if (cat == NULL)
        return;
    for (size_t i = FG_EV_BUILTIN_COUNT; i < cat->count; i++)
        free((void *)cat->types[i].fields);
    free(cat);
}

static bool valid_type_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= FG_MAX_TYPE_NAME || !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return false;
    }
    return true;
}

int fg_catalog_add_custom(fg_catalog_t *cat, const char *name, const fg_field_spec_t *fields,
                          size_t nfields, fg_verr_t *err)
{
    if (!valid_type_name(name))
        return fg_verr_set(
            err, "invalid_type_name", "type", name,
            "type name must be 1-63 characters of [a-z0-9_.] starting with a letter");
    if (fg_catalog_find(cat, name, strlen(name)) >= 0)
        return fg_verr_set(err, "duplicate_type", "type", name, "type %s is already defined", name);
    if (cat->count >= FG_MAX_TYPES || nfields > FG_MAX_FIELDS) {
        fg_verr_set(err, "too_many", "type", name, "at most %d types of %d fields each",
                    FG_MAX_TYPES, FG_MAX_FIELDS);
        return FG_ERR_TOO_LARGE;
    }
    for (size_t i = 0; i < nfields; i++) {
        if (fields[i].name[0] == '\0' || strcmp(fields[i].name, "type") == 0 ||
            strcmp(fields[i].name, "id") == 0)
            return fg_verr_set(err, "invalid_field_name", "field", fields[i].name,
                               "field name must be non-empty and not 'type' or 'id'");
    }
    fg_field_spec_t *copy = calloc(nfields ? nfields : 1, sizeof(*copy));
    if (copy == NULL)
        return FG_ERR_NOMEM;
    if (nfields > 0)
        memcpy(copy, fields, nfields * sizeof(*copy));
    fg_type_spec_t *t = &cat->types[cat->count];
    memset(t, 0, sizeof(*t));
    memcpy(t->name, name, strlen(name) + 1);
    t->fields = copy;
    t->nfields = nfields;
    t->custom = true;
    cat->count++;
    return FG_OK;
}

size_t fg_catalog_count(const fg_catalog_t *cat)
{
    return cat->count;
}

const fg_type_spec_t *fg_catalog_type(const fg_catalog_t *cat, size_t idx)
{
    return &cat->types[idx];
}

int fg_catalog_find(const fg_catalog_t *cat, const char *name, size_t len)
{
    /* exact bytes: a name with a NUL inside, or longer than any type, matches nothing */
    for (size_t i = 0; i < cat->count; i++) {
        if (strlen(cat->types[i].name) == len && memcmp(cat->types[i].name, name, len) == 0)
            return (int)i;
    }
    return -1;
}
