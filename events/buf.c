/*
 * buf.c - capped growable buffer. Any thread (a buffer is owned by one thread at a time).
 */
#include "events/buf.h"
#include "events/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fg_buf_init(fg_buf_t *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit ? limit : ((size_t)1 << 30);
}

void fg_buf_dispose(fg_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int reserve(fg_buf_t *b, size_t extra)
{
    if (extra > b->limit || b->len > b->limit - extra)
        return FG_ERR_TOO_LARGE;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return FG_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return FG_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return FG_OK;
}

int fg_buf_append(fg_buf_t *b, const void *p, size_t n)
{
    int rc = reserve(b, n);
    if (rc != FG_OK)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return FG_OK;
}

int fg_buf_puts(fg_buf_t *b, const char *s)
{
    return fg_buf_append(b, s, strlen(s));
}

int fg_buf_printf(fg_buf_t *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return FG_ERR_INVALID;
    if ((size_t)n < sizeof(small))
        return fg_buf_append(b, small, (size_t)n);
    int rc = reserve(b, (size_t)n);
    if (rc != FG_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return FG_OK;
}

int fg_buf_json_string(fg_buf_t *b, const char *s, size_t n)
{
    int rc = reserve(b, n + 2);
    if (rc != FG_OK)
        return rc;
    b->data[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        const char *rep = NULL;
        switch (c) {
        case '"':
            rep = "\\\"";
            break;
        case '\\':
            rep = "\\\\";
            break;
        case '\n':
            rep = "\\n";
            break;
        case '\r':
            rep = "\\r";
            break;
        case '\t':
            rep = "\\t";
            break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof(esc), "\\u%04x", c);
                rep = esc;
            }
        }
        if (rep != NULL) {
            if ((rc = fg_buf_append(b, rep, strlen(rep))) != FG_OK)
                return rc;
        } else if ((rc = fg_buf_append(b, &s[i], 1)) != FG_OK) {
            return rc;
        }
    }
    return fg_buf_append(b, "\"", 1);
}

char *fg_buf_steal(fg_buf_t *b, size_t *len)
{
    char *p = b->data;
    if (len)
        *len = b->len;
    if (p == NULL) {
        p = malloc(1);
        if (p)
            p[0] = '\0';
    }
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
