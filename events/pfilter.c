/*
 * pfilter.c - payload filters (pfilter.h): a tree of and/or/not nodes over conditions, each a
 * path into the event and one operator. Compiled once with every error named by its place in
 * the filter; matching walks the tree on the event's parsed JSON and allocates nothing.
 */
#include "events/pfilter.h"

#include "events/text.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { N_AND, N_OR, N_NOT, N_COND } kind_t;
typedef enum {
    OP_EQ,
    OP_NE,
    OP_IN,
    OP_NIN,
    OP_PREFIX,
    OP_GT,
    OP_GTE,
    OP_LT,
    OP_LTE,
    OP_EXISTS
} op_t;

typedef struct node {
    kind_t kind;
    size_t n; /* children (and/or/not) */
    struct node **kids;
    /* a condition */
    char **path; /* segments */
    size_t npath;
    uint64_t head_hash; /* of path[0] (fg_pfilter_view_t) */
    op_t op;
    json_t *value; /* $eq/$ne: the scalar; $in/$nin: the array; $prefix: the string */
    double num;    /* $gt…$lte */
    bool exists;   /* $exists */
} node_t;

/* Compiled filters are shared: the same filter (its members sorted, compact) compiled again is
 * the same object, so the streams that use one filter can share what it answered for an event
 * (filter.c). Shared ones sit in a hash table, under its lock; their trees are read-only. */
struct fg_pfilter {
    node_t *root;            /* immutable after compile */
    json_t *doc;             /* what it was compiled from; immutable */
    char *key;               /* the canonical text; immutable */
    uint64_t hash;           /* of key; immutable */
    uint64_t serial;         /* unique for the process's life; immutable */
    size_t refs;             /* interned's lock */
    struct fg_pfilter *next; /* in its bucket; interned's lock */
};

#define BUCKETS 1024
static struct {
    pthread_mutex_t lock;
    fg_pfilter_t *buckets[BUCKETS];
} interned = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const struct {
    const char *name;
    op_t op;
} ops[] = {{"$eq", OP_EQ},         {"$ne", OP_NE},        {"$in", OP_IN},   {"$nin", OP_NIN},
           {"$prefix", OP_PREFIX}, {"$gt", OP_GT},        {"$gte", OP_GTE}, {"$lt", OP_LT},
           {"$lte", OP_LTE},       {"$exists", OP_EXISTS}};

static void node_free(node_t *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n; i++)
        node_free(n->kids[i]);
    free(n->kids);
    for (size_t i = 0; i < n->npath; i++)
        free(n->path[i]);
    free(n->path);
    json_decref(n->value);
    free(n);
}

/* --- compiling ------------------------------------------------------------------------------- */

typedef struct {
    fg_verr_t *err;
    char at[160]; /* where in the filter, "$or[1].cost_usd.$gt" */
    size_t conditions;
    bool nomem;
} compile_t;

static int bad(compile_t *c, const char *why)
{
    const char *at = c->at[0] ? c->at : "the top";
    return fg_verr_set(c->err, "invalid_filter", "filter", c->at, "filter: at %s: %s", at, why);
}

/* Appends a step to the place (restored by the caller from the length it saved). */
static void at_push(compile_t *c, const char *fmt, const char *s, size_t i)
{
    size_t len = strlen(c->at);
    if (s != NULL)
        snprintf(c->at + len, sizeof(c->at) - len, fmt, len ? "." : "", s);
    else
        snprintf(c->at + len, sizeof(c->at) - len, fmt, i);
}

static node_t *node_new(compile_t *c, kind_t kind)
{
    node_t *n = calloc(1, sizeof(*n));
    if (n == NULL)
        c->nomem = true;
    else
        n->kind = kind;
    return n;
}

static int add_kid(compile_t *c, node_t *parent, node_t *kid)
{
    node_t **k = realloc(parent->kids, (parent->n + 1) * sizeof(*k));
    if (k == NULL) {
        node_free(kid);
        c->nomem = true;
        return FG_ERR_NOMEM;
    }
    parent->kids = k;
    parent->kids[parent->n++] = kid;
    return FG_OK;
}

static bool is_scalar(const json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v) || json_is_null(v);
}

static int compile_filter(compile_t *c, const json_t *doc, int depth, node_t **out);

/* One condition on a path: its operator and value checked. */
static int compile_op(compile_t *c, node_t *cond, op_t op, const json_t *v)
{
    cond->op = op;
    switch (op) {
    case OP_EQ:
    case OP_NE:
        if (!is_scalar(v))
            return bad(c, "must be a string, a number, true, false or null");
        cond->value = json_deep_copy(v);
        break;
    case OP_IN:
    case OP_NIN: {
        size_t n = json_array_size(v);
        if (!json_is_array(v) || n == 0 || n > FG_PFILTER_MAX_IN)
            return bad(c, "must be an array of 1 to 256 values");
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item) if (!is_scalar(item)) return bad(
            c, "must hold strings, numbers, true, false or null");
        cond->value = json_deep_copy(v);
        break;
    }
    case OP_PREFIX:
        if (!json_is_string(v) || json_string_length(v) == 0)
            return bad(c, "must be a non-empty string");
        cond->value = json_deep_copy(v);
        break;
    case OP_EXISTS:
        if (!json_is_boolean(v))
            return bad(c, "must be true or false");
        cond->exists = json_is_true(v);
        return FG_OK;
    default: /* comparisons */
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            return bad(c, "must be a number");
        cond->num = json_number_value(v);
        return FG_OK;
    }
    if (cond->value == NULL) {
        c->nomem = true;
        return FG_ERR_NOMEM;
    }
    return FG_OK;
}

/* Splits a path into its segments. */
static int split_path(compile_t *c, const char *key, node_t *cond)
{
    if (key[0] == '\0' || key[0] == '.' || key[strlen(key) - 1] == '.' || strstr(key, "..") != NULL)
        return bad(c, "a path is member names joined by '.' (\"labels.env\")");
    for (const char *p = key;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (cond->npath == FG_PFILTER_MAX_SEGMENTS)
            return bad(c, "a path has at most 16 segments");
        char **segs = realloc(cond->path, (cond->npath + 1) * sizeof(*segs));
        char *seg = segs ? strndup(p, n) : NULL;
        if (segs != NULL)
            cond->path = segs;
        if (seg == NULL) {
            c->nomem = true;
            return FG_ERR_NOMEM;
        }
        cond->path[cond->npath++] = seg;
        if (cond->npath == 1)
            cond->head_hash = fg_fnv1a(seg, n);
        if (dot == NULL)
            return FG_OK;
        p = dot + 1;
    }
}

/* The conditions on one path: a scalar (equality) or an object of operators, under and. */
static int compile_path(compile_t *c, node_t *and, const char *key, const json_t *v)
{
    const char *k;
    const json_t *opv;
    size_t saved = strlen(c->at);
    if (json_is_object(v) && json_object_size(v) == 0)
        return bad(c, "an object of operators must hold one ($eq, $in, $gt, …)");
    if (!json_is_object(v) && !is_scalar(v))
        return bad(c, "must be a value to equal or an object of operators");
    if (!json_is_object(v)) { /* each operator (or the one equality) is a condition */
        if (++c->conditions > FG_PFILTER_MAX_CONDITIONS)
            return bad(c, "at most 64 conditions");
        node_t *cond = node_new(c, N_COND);
        int rc = cond ? split_path(c, key, cond) : FG_ERR_NOMEM;
        if (rc == FG_OK)
            rc = compile_op(c, cond, OP_EQ, v);
        if (rc != FG_OK) {
            node_free(cond);
            return rc;
        }
        return add_kid(c, and, cond);
    }
    json_object_foreach((json_t *)v, k, opv)
    {
        at_push(c, "%s%s", k, 0);
        size_t o = 0;
        while (o < sizeof(ops) / sizeof(ops[0]) && strcmp(ops[o].name, k) != 0)
            o++;
        if (o == sizeof(ops) / sizeof(ops[0]))
            return bad(c, "not an operator ($eq, $ne, $in, $nin, $prefix, $gt, $gte, $lt, $lte,"
                          " $exists)");
        if (++c->conditions > FG_PFILTER_MAX_CONDITIONS)
            return bad(c, "at most 64 conditions");
        node_t *cond = node_new(c, N_COND);
        int rc = cond ? split_path(c, key, cond) : FG_ERR_NOMEM;
        if (rc == FG_OK)
            rc = compile_op(c, cond, ops[o].op, opv);
        if (rc != FG_OK) {
            node_free(cond);
            return rc;
        }
        if ((rc = add_kid(c, and, cond)) != FG_OK)
            return rc;
        c->at[saved] = '\0';
    }
    return FG_OK;
}

/* $and / $or: an array of filters. */
static int compile_list(compile_t *c, node_t *parent, kind_t kind, const json_t *v, int depth)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return bad(c, "must be a non-empty array of filters");
    node_t *list = node_new(c, kind);
    if (list == NULL || add_kid(c, parent, list) != FG_OK)
        return FG_ERR_NOMEM;
    size_t saved = strlen(c->at), i;
    const json_t *item;
    json_array_foreach(v, i, item)
    {
        at_push(c, "[%zu]", NULL, i);
        node_t *kid = NULL;
        int rc = compile_filter(c, item, depth + 1, &kid);
        if (rc != FG_OK || (rc = add_kid(c, list, kid)) != FG_OK)
            return rc;
        c->at[saved] = '\0';
    }
    return FG_OK;
}

static int compile_filter(compile_t *c, const json_t *doc, int depth, node_t **out)
{
    *out = NULL;
    if (depth > FG_PFILTER_MAX_DEPTH)
        return bad(c, "nested more than 8 levels");
    if (!json_is_object(doc))
        return bad(c, "a filter is an object ({\"workflow_name\": \"deploy\"})");
    node_t *and = node_new(c, N_AND);
    if (and == NULL)
        return FG_ERR_NOMEM;
    size_t saved = strlen(c->at);
    const char *key;
    const json_t *v;
    int rc = FG_OK;
    json_object_foreach((json_t *)doc, key, v)
    {
        at_push(c, "%s%s", key, 0);
        if (strcmp(key, "$and") == 0 || strcmp(key, "$or") == 0) {
            rc = compile_list(c, and, key[1] == 'a' ? N_AND : N_OR, v, depth);
        } else if (strcmp(key, "$not") == 0) {
            node_t *not = node_new(c, N_NOT), *kid = NULL;
            rc = not == NULL ? FG_ERR_NOMEM : add_kid(c, and, not );
            if (rc == FG_OK && (rc = compile_filter(c, v, depth + 1, &kid)) == FG_OK)
                rc = add_kid(c, not, kid);
        } else if (key[0] == '$') {
            rc = bad(c, "not a filter operator ($and, $or, $not) nor a path");
        } else {
            rc = compile_path(c, and, key, v);
        }
        if (rc != FG_OK)
            break;
        c->at[saved] = '\0';
    }
    if (rc != FG_OK) {
        node_free(and);
        return c->nomem ? FG_ERR_NOMEM : rc;
    }
    *out = and;
    return FG_OK;
}

static void destroy(fg_pfilter_t *f)
{
    node_free(f->root);
    json_decref(f->doc);
    free(f->key);
    free(f);
}

int fg_pfilter_compile_json(const json_t *doc, fg_pfilter_t **out, fg_verr_t *err)
{
    compile_t c = {.err = err};
    fg_pfilter_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return FG_ERR_NOMEM;
    int rc = compile_filter(&c, doc, 1, &f->root);
    if (rc == FG_OK && ((f->doc = json_deep_copy(doc)) == NULL ||
                        (f->key = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)) == NULL))
        rc = FG_ERR_NOMEM;
    if (rc != FG_OK) {
        destroy(f);
        return c.nomem ? FG_ERR_NOMEM : rc;
    }
    f->hash = fg_fnv1a(f->key, strlen(f->key));
    f->refs = 1;
    static _Atomic uint64_t serials;
    f->serial = atomic_fetch_add(&serials, 1) + 1;
    pthread_mutex_lock(&interned.lock);
    fg_pfilter_t **b = &interned.buckets[f->hash % BUCKETS], *same = *b;
    while (same != NULL && (same->hash != f->hash || strcmp(same->key, f->key) != 0))
        same = same->next;
    if (same != NULL) {
        same->refs++;
    } else {
        f->next = *b;
        *b = f;
    }
    pthread_mutex_unlock(&interned.lock);
    if (same != NULL)
        destroy(f);
    *out = same != NULL ? same : f;
    return FG_OK;
}

int fg_pfilter_compile(const char *text, size_t len, fg_pfilter_t **out, fg_verr_t *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        char pos[24];
        snprintf(pos, sizeof(pos), "%d", jerr.position);
        return fg_verr_set(err, "invalid_filter", "filter", pos, "filter: at character %d: %s",
                           jerr.position, jerr.text);
    }
    int rc = fg_pfilter_compile_json(doc, out, err);
    json_decref(doc);
    return rc;
}

void fg_pfilter_free(fg_pfilter_t *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&interned.lock);
    bool last = --f->refs == 0;
    if (last) {
        fg_pfilter_t **p = &interned.buckets[f->hash % BUCKETS];
        while (*p != f)
            p = &(*p)->next;
        *p = f->next;
    }
    pthread_mutex_unlock(&interned.lock);
    if (last)
        destroy(f);
}

uint64_t fg_pfilter_serial(const fg_pfilter_t *f)
{
    return f->serial;
}

json_t *fg_pfilter_json(const fg_pfilter_t *f)
{
    return json_deep_copy(f->doc);
}

/* --- matching -------------------------------------------------------------------------------- */

void fg_pfilter_view_init(fg_pfilter_view_t *v, const json_t *doc)
{
    v->doc = doc;
    v->n = 0;
    if (!json_is_object(doc) || json_object_size(doc) > FG_PFILTER_VIEW_MAX)
        return; /* looked up in the document itself */
    const char *k;
    const json_t *val;
    json_object_foreach((json_t *)doc, k, val)
    {
        v->key[v->n] = k;
        v->hash[v->n] = fg_fnv1a(k, strlen(k));
        v->val[v->n++] = val;
    }
}

/* The value at the condition's path, or NULL: its first member found by hash in the view. */
static const json_t *lookup(const node_t *c, const fg_pfilter_view_t *view)
{
    const json_t *v = NULL;
    if (view->n > 0 || !json_is_object(view->doc) || json_object_size(view->doc) == 0) {
        for (size_t i = 0; i < view->n && v == NULL; i++)
            if (view->hash[i] == c->head_hash && strcmp(view->key[i], c->path[0]) == 0)
                v = view->val[i];
    } else {
        v = json_object_get(view->doc, c->path[0]);
    }
    for (size_t i = 1; i < c->npath && v != NULL; i++) {
        if (json_is_object(v)) {
            v = json_object_get(v, c->path[i]);
        } else if (json_is_array(v) && c->path[i][0] >= '0' && c->path[i][0] <= '9') {
            char *end;
            unsigned long k = strtoul(c->path[i], &end, 10);
            v = *end == '\0' ? json_array_get(v, k) : NULL;
        } else {
            v = NULL;
        }
    }
    return v;
}

/* The field as a number: a JSON number, or a string that is one whole decimal number. */
static bool as_number(const json_t *v, double *d)
{
    if (json_is_number(v)) {
        *d = json_number_value(v);
        return true;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 64)
        return false;
    const char *s = json_string_value(v);
    char *end;
    *d = strtod(s, &end);
    return *end == '\0' &&
           (s[0] == '-' || s[0] == '+' || s[0] == '.' || (s[0] >= '0' && s[0] <= '9')) &&
           isfinite(*d);
}

static bool same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal((json_t *)a, (json_t *)b) != 0;
}

static bool cond_match(const node_t *n, const fg_pfilter_view_t *event)
{
    const json_t *v = lookup(n, event);
    double d;
    switch (n->op) {
    case OP_EQ:
        return v != NULL && same(v, n->value);
    case OP_NE:
        return v == NULL || !same(v, n->value);
    case OP_IN:
    case OP_NIN: {
        bool in = false;
        for (size_t i = 0; v != NULL && !in && i < json_array_size(n->value); i++)
            in = same(v, json_array_get(n->value, i));
        return n->op == OP_IN ? in : !in;
    }
    case OP_PREFIX:
        return json_is_string(v) && json_string_length(v) >= json_string_length(n->value) &&
               memcmp(json_string_value(v), json_string_value(n->value),
                      json_string_length(n->value)) == 0;
    case OP_EXISTS:
        return (v != NULL) == n->exists;
    case OP_GT:
        return as_number(v, &d) && d > n->num;
    case OP_GTE:
        return as_number(v, &d) && d >= n->num;
    case OP_LT:
        return as_number(v, &d) && d < n->num;
    case OP_LTE:
        return as_number(v, &d) && d <= n->num;
    }
    return false;
}

static bool node_match(const node_t *n, const fg_pfilter_view_t *event)
{
    switch (n->kind) {
    case N_COND:
        return cond_match(n, event);
    case N_NOT:
        return !node_match(n->kids[0], event);
    case N_OR:
        for (size_t i = 0; i < n->n; i++)
            if (node_match(n->kids[i], event))
                return true;
        return false;
    case N_AND:
        for (size_t i = 0; i < n->n; i++)
            if (!node_match(n->kids[i], event))
                return false;
        return true;
    }
    return false;
}

bool fg_pfilter_match_view(const fg_pfilter_t *f, const fg_pfilter_view_t *event)
{
    return event->doc != NULL && node_match(f->root, event);
}

bool fg_pfilter_match(const fg_pfilter_t *f, const json_t *event)
{
    fg_pfilter_view_t view;
    fg_pfilter_view_init(&view, event);
    return fg_pfilter_match_view(f, &view);
}
