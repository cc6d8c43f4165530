/*
 * filter.c - parsing and matching of subscriber filters. Any thread.
 */
#include "events/filter.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fg_filter_init(fg_filter_t *f)
{
    memset(f, 0, sizeof(*f));
    f->any_type = true;
}

void fg_filter_dispose(fg_filter_t *f)
{
    for (size_t i = 0; i < f->nworkflows; i++)
        free(f->workflows[i]);
    free(f->workflows);
    free(f->runs);
    fg_pfilter_free(f->payload);
    f->payload = NULL;
    f->workflows = NULL;
    f->runs = NULL;
    f->nworkflows = f->nruns = 0;
}

int fg_filter_set_payload_json(fg_filter_t *f, const json_t *doc, fg_verr_t *err)
{
    fg_pfilter_t *p = NULL;
    int rc = fg_pfilter_compile_json(doc, &p, err);
    if (rc != FG_OK)
        return rc;
    fg_pfilter_free(f->payload);
    f->payload = p;
    return FG_OK;
}

int fg_filter_set_payload(fg_filter_t *f, const char *text, size_t len, fg_verr_t *err)
{
    fg_pfilter_t *p = NULL;
    int rc = fg_pfilter_compile(text, len, &p, err);
    if (rc != FG_OK)
        return rc;
    fg_pfilter_free(f->payload);
    f->payload = p;
    return FG_OK;
}

/* The event last parsed on this thread: a stored event's JSON never changes, so its seq, text
 * and length name it. Freed with the thread. */
#define MEMO 8 /* filters whose answer for the event is remembered */

typedef struct {
    uint64_t seq;
    const char *json;
    size_t len;
    json_t *doc;            /* NULL when the text is not JSON */
    fg_pfilter_view_t view; /* of doc */
    /* what shared filters (pfilter.h) answered for it: streams using one filter ask once */
    uint64_t memo_filter[MEMO]; /* fg_pfilter_serial */
    bool memo_match[MEMO];
    size_t nmemo, next_memo;
} parsed_t;

static pthread_key_t parsed_key;
static pthread_once_t parsed_once = PTHREAD_ONCE_INIT;

static void parsed_free(void *p)
{
    parsed_t *c = p;
    json_decref(c->doc);
    free(c);
}

static void parsed_init(void)
{
    pthread_key_create(&parsed_key, parsed_free);
}

static parsed_t *parsed_event(const fg_event_t *ev)
{
    pthread_once(&parsed_once, parsed_init);
    parsed_t *c = pthread_getspecific(parsed_key);
    if (c == NULL) {
        if ((c = calloc(1, sizeof(*c))) == NULL)
            return NULL;
        pthread_setspecific(parsed_key, c);
    }
    if (c->json != ev->json || c->seq != ev->seq || c->len != ev->json_len) {
        json_decref(c->doc);
        c->doc = json_loadb(ev->json, ev->json_len, 0, NULL);
        fg_pfilter_view_init(&c->view, c->doc);
        c->json = ev->json;
        c->seq = ev->seq;
        c->len = ev->json_len;
        c->nmemo = c->next_memo = 0;
    }
    return c;
}

/* The payload filter's answer for the event, remembered for the next stream that shares it. */
static bool payload_match(const fg_pfilter_t *f, const fg_event_t *ev)
{
    parsed_t *c = parsed_event(ev);
    if (c == NULL)
        return false;
    uint64_t serial = fg_pfilter_serial(f);
    for (size_t i = 0; i < c->nmemo; i++)
        if (c->memo_filter[i] == serial)
            return c->memo_match[i];
    bool m = fg_pfilter_match_view(f, &c->view);
    size_t slot = c->next_memo++ % MEMO;
    c->memo_filter[slot] = serial;
    c->memo_match[slot] = m;
    if (c->nmemo < MEMO)
        c->nmemo++;
    return m;
}

typedef int (*item_fn)(fg_filter_t *f, const void *ctx, const char *s, size_t n, fg_verr_t *err);

/* Splits a comma list and calls fn for each item; empty items are an error. */
static int each_item(fg_filter_t *f, const void *ctx, const char *param, const char *list,
                     size_t len, size_t max_items, item_fn fn, fg_verr_t *err)
{
    if (len == 0)
        return fg_verr_set(err, "invalid_filter", param, "", "%s must not be empty", param);
    size_t start = 0, count = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && list[i] != ',')
            continue;
        if (i == start)
            return fg_verr_set(err, "invalid_filter", param, "", "%s has an empty item in its list",
                               param);
        if (++count > max_items)
            return fg_verr_set(err, "invalid_filter", param, NULL, "%s lists more than %zu items",
                               param, max_items);
        int rc = fn(f, ctx, list + start, i - start, err);
        if (rc != FG_OK)
            return rc;
        start = i + 1;
    }
    return FG_OK;
}

static void set_type(fg_filter_t *f, size_t idx)
{
    f->types[idx >> 6] |= (uint64_t)1 << (idx & 63);
}

static int type_item(fg_filter_t *f, const void *ctx, const char *s, size_t n, fg_verr_t *err)
{
    const fg_catalog_t *cat = ctx;
    char shown[FG_MAX_TYPE_NAME + 8];
    snprintf(shown, sizeof(shown), "%.*s", (int)(n < FG_MAX_TYPE_NAME ? n : FG_MAX_TYPE_NAME), s);
    if (memchr(s, '\0', n) != NULL) /* a decoded %00: no type name has one */
        return fg_verr_set(err, "unknown_type", "types", shown, "unknown event type");
    if (n == 1 && s[0] == '*') {
        f->any_type = true;
        return FG_OK;
    }
    if (s[n - 1] == '*') {
        size_t plen = n - 1;
        if (memchr(s, '*', plen) != NULL)
            return fg_verr_set(err, "invalid_filter", "types", shown,
                               "a wildcard may only end a type pattern");
        bool any = false;
        for (size_t i = 0; i < fg_catalog_count(cat); i++) {
            if (strncmp(fg_catalog_type(cat, i)->name, s, plen) == 0) {
                set_type(f, i);
                any = true;
            }
        }
        if (!any)
            return fg_verr_set(err, "unknown_type", "types", shown,
                               "the pattern matches no event type");
        return FG_OK;
    }
    if (memchr(s, '*', n) != NULL)
        return fg_verr_set(err, "invalid_filter", "types", shown,
                           "a wildcard may only end a type pattern");
    int idx = fg_catalog_find(cat, s, n);
    if (idx < 0)
        return fg_verr_set(err, "unknown_type", "types", shown, "unknown event type");
    set_type(f, (size_t)idx);
    return FG_OK;
}

int fg_filter_add_types(fg_filter_t *f, const fg_catalog_t *cat, const char *list, size_t len,
                        fg_verr_t *err)
{
    bool was_any = f->any_type;
    bool had_types = false;
    for (size_t i = 0; i < FG_MAX_TYPES / 64; i++)
        had_types |= f->types[i] != 0;
    /* A first list narrows "everything" to its items; "*" anywhere restores everything. */
    if (was_any && !had_types)
        f->any_type = false;
    int rc = each_item(f, cat, "types", list, len, FG_FILTER_MAX_ITEMS, type_item, err);
    if (was_any && had_types)
        f->any_type = true;
    return rc;
}

static int run_item(fg_filter_t *f, const void *ctx, const char *s, size_t n, fg_verr_t *err)
{
    (void)ctx;
    char shown[64];
    snprintf(shown, sizeof(shown), "%.*s", (int)(n < 60 ? n : 60), s);
    if (!fg_uuid_valid(s, n))
        return fg_verr_set(err, "invalid_run_id", "run_id", shown, "run_id must be a uuid");
    char lower[FG_UUID_LEN + 1];
    for (size_t i = 0; i < FG_UUID_LEN; i++)
        lower[i] = (char)tolower((unsigned char)s[i]);
    lower[FG_UUID_LEN] = '\0';
    for (size_t i = 0; i < f->nruns; i++) {
        if (memcmp(f->runs[i], lower, FG_UUID_LEN) == 0)
            return FG_OK;
    }
    if (f->nruns >= FG_FILTER_MAX_RUNS)
        return fg_verr_set(err, "invalid_filter", "run_id", NULL, "at most %d run ids",
                           FG_FILTER_MAX_RUNS);
    void *grown = realloc(f->runs, (f->nruns + 1) * sizeof(f->runs[0]));
    if (grown == NULL)
        return FG_ERR_NOMEM;
    f->runs = grown;
    memcpy(f->runs[f->nruns++], lower, FG_UUID_LEN + 1);
    return FG_OK;
}

int fg_filter_add_runs(fg_filter_t *f, const char *list, size_t len, fg_verr_t *err)
{
    return each_item(f, NULL, "run_id", list, len, FG_FILTER_MAX_RUNS, run_item, err);
}

static int workflow_item(fg_filter_t *f, const void *ctx, const char *s, size_t n, fg_verr_t *err)
{
    (void)ctx;
    if (n > FG_FILTER_MAX_NAME)
        return fg_verr_set(err, "invalid_filter", "workflow", NULL,
                           "a workflow name is at most %d bytes", FG_FILTER_MAX_NAME);
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20)
            return fg_verr_set(err, "invalid_filter", "workflow", NULL,
                               "a workflow name must not contain control characters");
    }
    if (f->nworkflows >= FG_FILTER_MAX_WORKFLOWS)
        return fg_verr_set(err, "invalid_filter", "workflow", NULL, "at most %d workflows",
                           FG_FILTER_MAX_WORKFLOWS);
    char **grown = realloc(f->workflows, (f->nworkflows + 1) * sizeof(f->workflows[0]));
    if (grown == NULL)
        return FG_ERR_NOMEM;
    f->workflows = grown;
    char *copy = strndup(s, n);
    if (copy == NULL)
        return FG_ERR_NOMEM;
    f->workflows[f->nworkflows++] = copy;
    return FG_OK;
}

int fg_filter_add_workflows(fg_filter_t *f, const char *list, size_t len, fg_verr_t *err)
{
    return each_item(f, NULL, "workflow", list, len, FG_FILTER_MAX_WORKFLOWS, workflow_item, err);
}

bool fg_filter_match(const fg_filter_t *f, const fg_event_t *ev)
{
    if (!fg_filter_type_ok(f, ev->type_idx))
        return false;
    if (f->nruns > 0) {
        bool hit = false;
        for (size_t i = 0; i < f->nruns && !hit; i++)
            hit = ev->run_id[0] != '\0' && memcmp(f->runs[i], ev->run_id, FG_UUID_LEN) == 0;
        if (!hit)
            return false;
    }
    if (f->nworkflows > 0) {
        bool hit = false;
        for (size_t i = 0; i < f->nworkflows && !hit; i++)
            hit = strcmp(f->workflows[i], ev->workflow) == 0;
        if (!hit)
            return false;
    }
    return f->payload == NULL || payload_match(f->payload, ev);
}
