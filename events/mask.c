/*
 * mask.c - secrets masked out of events before they are stored (mask.h).
 */
#include "events/mask.h"
#include "events/buf.h"
#include "events/err.h"

#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *literal; /* NULL for a pattern */
    size_t len;
    regex_t re;
} item_t;

struct fg_mask {
    item_t *items;
    size_t n;
};

void fg_mask_destroy(fg_mask_t *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++) {
        if (m->items[i].literal != NULL)
            free(m->items[i].literal);
        else
            regfree(&m->items[i].re);
    }
    free(m->items);
    free(m);
}

/* Compiles item i into it. FG_OK, or FG_ERR_INVALID with err. */
static int compile(const json_t *v, size_t i, item_t *it, char *err, size_t errcap)
{
    const json_t *re = json_is_object(v) ? json_object_get(v, "regex") : NULL;
    const json_t *text = json_is_string(v) ? v : re;
    if (!json_is_string(text) || (json_is_object(v) && json_object_size(v) != 1)) {
        snprintf(err, errcap, "logs.mask[%zu]: each mask is a literal string or {\"regex\": \"…\"}",
                 i);
        return FG_ERR_INVALID;
    }
    size_t len = json_string_length(text);
    if (len == 0 || len > FG_MASK_LITERAL_MAX) {
        snprintf(err, errcap, "logs.mask[%zu]: %s", i,
                 len == 0 ? "empty" : "longer than 4096 bytes");
        return FG_ERR_INVALID;
    }
    if (re == NULL) {
        if ((it->literal = malloc(len)) == NULL)
            return FG_ERR_NOMEM;
        memcpy(it->literal, json_string_value(text), len);
        it->len = len;
        return FG_OK;
    }
    if (strlen(json_string_value(text)) != len) {
        snprintf(err, errcap, "logs.mask[%zu]: the regex holds a NUL character", i);
        return FG_ERR_INVALID;
    }
    int rc = regcomp(&it->re, json_string_value(text), REG_EXTENDED);
    if (rc != 0) {
        char why[160];
        regerror(rc, &it->re, why, sizeof(why));
        snprintf(err, errcap, "logs.mask[%zu]: the regex does not compile: %s", i, why);
        return FG_ERR_INVALID;
    }
    regmatch_t m;
    if (regexec(&it->re, "", 1, &m, 0) == 0) {
        regfree(&it->re);
        snprintf(err, errcap, "logs.mask[%zu]: the regex matches the empty string", i);
        return FG_ERR_INVALID;
    }
    return FG_OK;
}

int fg_mask_create(const json_t *spec, fg_mask_t **out, char *err, size_t errcap)
{
    *out = NULL;
    if (spec == NULL || json_array_size(spec) == 0)
        return FG_OK;
    if (json_array_size(spec) > FG_MASK_MAX) {
        snprintf(err, errcap, "logs.mask: more than %d masks", FG_MASK_MAX);
        return FG_ERR_INVALID;
    }
    fg_mask_t *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->items = calloc(json_array_size(spec), sizeof(*m->items))) == NULL) {
        free(m);
        return FG_ERR_NOMEM;
    }
    for (size_t i = 0; i < json_array_size(spec); i++) {
        int rc = compile(json_array_get(spec, i), i, &m->items[i], err, errcap);
        if (rc != FG_OK) {
            fg_mask_destroy(m);
            return rc;
        }
        m->n++;
    }
    *out = m;
    return FG_OK;
}

/* Appends s (len bytes, no NUL inside, s[len] == '\0') to b with it's matches replaced. */
static int apply(const item_t *it, const char *s, size_t len, fg_buf_t *b)
{
    size_t pos = 0;
    while (pos < len) {
        size_t at, end;
        if (it->literal != NULL) {
            const char *p = memmem(s + pos, len - pos, it->literal, it->len);
            if (p == NULL)
                break;
            at = (size_t)(p - s);
            end = at + it->len;
        } else {
            regmatch_t m;
            if (regexec(&it->re, s + pos, 1, &m, pos > 0 ? REG_NOTBOL : 0) != 0)
                break;
            at = pos + (size_t)m.rm_so;
            end = pos + (size_t)m.rm_eo;
            if (end == at) { /* an empty match (a boundary): step over one byte */
                if (fg_buf_append(b, s + pos, at - pos + 1) != FG_OK)
                    return FG_ERR_NOMEM;
                pos = at + 1;
                continue;
            }
        }
        if (fg_buf_append(b, s + pos, at - pos) != FG_OK ||
            fg_buf_append(b, FG_MASK_TEXT, sizeof(FG_MASK_TEXT) - 1) != FG_OK)
            return FG_ERR_NOMEM;
        pos = end;
    }
    return pos < len ? fg_buf_append(b, s + pos, len - pos) : FG_OK;
}

int fg_mask_text(const fg_mask_t *m, const char *text, size_t len, char **out, size_t *out_len)
{
    fg_buf_t cur, next;
    fg_buf_init(&cur, 0);
    fg_buf_init(&next, 0);
    /* an appended buffer is NUL-terminated: each piece between NULs is a C string in place */
    int rc = fg_buf_append(&cur, text, len) == FG_OK && fg_buf_append(&cur, "", 0) == FG_OK &&
                     cur.data != NULL
                 ? FG_OK
                 : FG_ERR_NOMEM;
    for (size_t i = 0; m != NULL && rc == FG_OK && i < m->n; i++) {
        next.len = 0;
        for (size_t p = 0; rc == FG_OK && p <= cur.len;) { /* piece by piece between NULs */
            const char *nul = memchr(cur.data + p, '\0', cur.len - p);
            size_t e = nul != NULL ? (size_t)(nul - cur.data) : cur.len;
            rc = apply(&m->items[i], cur.data + p, e - p, &next);
            if (rc == FG_OK && e < cur.len)
                rc = fg_buf_append(&next, "", 1);
            p = e + 1;
        }
        if (rc == FG_OK && fg_buf_append(&next, "", 0) == FG_OK && next.data == NULL)
            rc = FG_ERR_NOMEM;
        fg_buf_t t = cur;
        cur = next;
        next = t;
    }
    fg_buf_dispose(&next);
    if (rc != FG_OK) {
        fg_buf_dispose(&cur);
        return FG_ERR_NOMEM;
    }
    *out_len = cur.len;
    *out = cur.data; /* the buffer's memory is the caller's now */
    return FG_OK;
}

static bool identifier(const char *key)
{
    static const char *const keys[] = {"type", "id", "run_id", "step_id", "at"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

static int mask_value(const fg_mask_t *m, json_t *v, int depth);

static int mask_string(const fg_mask_t *m, json_t *v)
{
    char *out;
    size_t n;
    if (fg_mask_text(m, json_string_value(v), json_string_length(v), &out, &n) != FG_OK)
        return FG_ERR_NOMEM;
    int rc = FG_OK;
    if (n != json_string_length(v) || memcmp(out, json_string_value(v), n) != 0)
        rc = json_string_setn_nocheck(v, out, n) == 0 ? FG_OK : FG_ERR_NOMEM;
    free(out);
    return rc;
}

static int mask_value(const fg_mask_t *m, json_t *v, int depth)
{
    if (depth > 256)
        return FG_OK; /* deeper than any event may be: validation refuses it */
    if (json_is_string(v))
        return mask_string(m, v);
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (mask_value(m, json_array_get(v, i), depth + 1) != FG_OK)
                return FG_ERR_NOMEM;
        return FG_OK;
    }
    if (json_is_object(v)) {
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val)
        {
            if (depth == 0 && identifier(key))
                continue;
            if (mask_value(m, val, depth + 1) != FG_OK)
                return FG_ERR_NOMEM;
        }
    }
    return FG_OK;
}

int fg_mask_event(const fg_mask_t *m, json_t *obj)
{
    return m == NULL ? FG_OK : mask_value(m, obj, 0);
}
