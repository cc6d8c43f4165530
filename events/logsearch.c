/*
 * logsearch.c - the log search's read side (logindex.h). On a loop's store reader; one read
 * transaction per page, so the lines and the cursors come from the same snapshot.
 *
 * Candidates come from the trigram index when the needle has three characters or more and the
 * index covers the range, else from the run's lines in order (events_run). Each candidate is
 * parsed and checked against the whole query (step, streams, needle, regex, excludes) on its
 * text with escape sequences removed, so the index can only make a search faster, never change
 * what it finds.
 */
#include "events/logindex.h"
#include "events/ansi.h"
#include "events/log.h"
#include "events/store_db.h"
#include "events/timefmt.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool fg_logsearch_contains(const char *text, size_t len, const char *needle, size_t nlen,
                           bool case_sensitive)
{
    if (nlen == 0)
        return true;
    if (nlen > len)
        return false;
    if (case_sensitive)
        return memmem(text, len, needle, nlen) != NULL;
    int first = tolower((unsigned char)needle[0]), upper = toupper(first);
    for (size_t i = 0; i + nlen <= len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c == first || c == upper) && strncasecmp(text + i, needle, nlen) == 0)
            return true;
    }
    return false;
}

/* A page being built. */
typedef struct {
    const fg_logsearch_t *s;
    sqlite3 *db;
    fg_buf_t *out;
    char *text; /* the candidate's line, stripped, NUL-terminated */
    size_t cap;
    size_t n; /* matches written */
    int rc;
} page_t;

/* Copies the line into p->text with escape sequences removed; its length, or -1. */
static long stripped(page_t *p, const char *s, size_t n)
{
    if (n + 1 > p->cap) {
        size_t cap = n + 1 > 2 * p->cap ? n + 1 : 2 * p->cap;
        char *t = realloc(p->text, cap);
        if (t == NULL)
            return -1;
        p->text = t;
        p->cap = cap;
    }
    memcpy(p->text, s, n);
    n = fg_ansi_strip(p->text, n);
    p->text[n] = '\0';
    return (long)n;
}

/* True when the stored log_line event matches the whole query. */
static bool matches(page_t *p, const char *body, size_t blen)
{
    const fg_logsearch_t *s = p->s;
    json_t *obj = json_loadb(body, blen, 0, NULL);
    const char *step = json_string_value(json_object_get(obj, "step_id"));
    json_t *stream = json_object_get(obj, "stream"), *line = json_object_get(obj, "line");
    bool ok =
        json_is_string(stream) && json_is_string(line) &&
        (s->logs.step_id == NULL || (step && strcasecmp(step, s->logs.step_id) == 0)) &&
        (s->logs.streams == 0 || (s->logs.streams & fg_log_stream_bit(json_string_value(stream),
                                                                      json_string_length(stream))));
    long n = ok ? stripped(p, json_string_value(line), json_string_length(line)) : 0;
    json_decref(obj);
    if (n < 0) {
        p->rc = FG_ERR_NOMEM;
        return false;
    }
    if (!ok)
        return false;
    if (s->q != NULL &&
        !fg_logsearch_contains(p->text, (size_t)n, s->q, s->q_len, s->case_sensitive))
        return false;
    if (s->regex != NULL && regexec(s->regex, p->text, 0, NULL, 0) != 0)
        return false;
    for (size_t i = 0; i < s->nexclude; i++)
        if (fg_logsearch_contains(p->text, (size_t)n, s->exclude[i], strlen(s->exclude[i]),
                                  s->case_sensitive))
            return false;
    return true;
}

/* The first column of a one-row query with ?1 = text (0 when none). */
static uint64_t one_u64(page_t *p, const char *sql, const char *text)
{
    sqlite3_stmt *st = NULL;
    uint64_t v = 0;
    if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK) {
        p->rc = FG_ERR_IO;
        return 0;
    }
    if (text != NULL)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = (uint64_t)sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        p->rc = FG_ERR_IO;
    sqlite3_finalize(st);
    return v;
}

#define MAX_TRIGRAMS 24 /* of the needle's, asked of the index (more narrow little further) */

/* What to ask the index for the needle: its trigrams, each an FTS5 string ("…", quotes doubled),
 * joined by AND (with detail=none FTS5 has no phrases; a line holding the needle holds all of
 * them, and the lines that hold them all are checked). NULL when the index cannot help: under
 * three characters (UTF-8), or holding a NUL. */
static char *fts_query(const char *q, size_t len)
{
    size_t starts[MAX_TRIGRAMS + 3], nstarts = 0; /* where each character begins */
    for (size_t i = 0; i < len && nstarts < MAX_TRIGRAMS + 2; i++)
        if (((unsigned char)q[i] & 0xC0) != 0x80)
            starts[nstarts++] = i;
    if (nstarts < 3 || memchr(q, '\0', len) != NULL)
        return NULL;
    starts[nstarts] = len;
    for (size_t i = starts[nstarts - 1] + 1; i < len; i++) /* the end of the last one */
        if (((unsigned char)q[i] & 0xC0) != 0x80) {
            starts[nstarts] = i;
            break;
        }
    char *out = malloc(nstarts * 32 + 1), *o = out; /* a trigram: at most 24 bytes quoted, + AND */
    if (out == NULL)
        return NULL;
    for (size_t t = 0; t + 3 <= nstarts; t++) {
        if (t > 0)
            o += sprintf(o, " AND ");
        *o++ = '"';
        for (size_t i = starts[t]; i < starts[t + 3]; i++) {
            if (q[i] == '"')
                *o++ = '"';
            *o++ = q[i];
        }
        *o++ = '"';
    }
    *o = '\0';
    return out;
}

int fg_logsearch(fg_store_reader_t *r, const fg_logsearch_t *s, fg_buf_t *out, uint64_t *next)
{
    page_t p = {.s = s, .db = fg_store_reader_db(r), .out = out};
    const fg_logs_query_t *lq = &s->logs;
    if (sqlite3_exec(p.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return FG_ERR_IO;
    uint64_t known = one_u64(&p, "SELECT count(*) FROM rv_runs WHERE run_id = ?1", lq->run_id);
    uint64_t top = one_u64(&p, "SELECT coalesce(max(seq), 0) FROM events", NULL);
    uint64_t hi =
        one_u64(&p, "SELECT coalesce(max(seq), 0) FROM events WHERE run_id = ?1", lq->run_id);
    if (s->upto > 0 && s->upto < hi)
        hi = s->upto;
    uint64_t indexed =
        one_u64(&p, "SELECT value FROM meta WHERE key = 'logindex_seq'", NULL) >= hi &&
                one_u64(&p, "SELECT value FROM meta WHERE key = 'logindex_version'", NULL) ==
                    FG_LOGINDEX_VERSION
            ? 1
            : 0;
    if (p.rc == FG_OK && known == 0)
        p.rc = FG_ERR_NOT_FOUND;
    char *phrase = s->q != NULL && indexed ? fts_query(s->q, s->q_len) : NULL;
    sqlite3_stmt *st = NULL;
    if (p.rc == FG_OK &&
        sqlite3_prepare_v2(p.db,
                           phrase ? "SELECT e.seq, e.body FROM log_fts f JOIN events e ON"
                                    " e.seq = f.rowid WHERE log_fts MATCH ?4 AND f.rowid > ?2"
                                    " AND f.rowid <= ?3 AND e.run_id = ?1 AND e.type ="
                                    " 'log_line' ORDER BY f.rowid"
                                  : "SELECT seq, body FROM events WHERE run_id = ?1 AND seq > ?2"
                                    " AND seq <= ?3 AND type = 'log_line' ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        p.rc = fg_store_db_error(p.db, "log_search");
    if (st != NULL) {
        sqlite3_bind_text(st, 1, lq->run_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)lq->after);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)hi);
        if (phrase)
            sqlite3_bind_text(st, 4, phrase, -1, SQLITE_STATIC);
    }
    if (!lq->text && p.rc == FG_OK && fg_buf_puts(out, "{\"lines\":[") != FG_OK)
        p.rc = FG_ERR_TOO_LARGE;
    int64_t t0 = fg_time_mono_ms();
    uint64_t last = lq->after;
    bool stopped = false; /* a full page, or the time budget spent */
    size_t looked = 0;
    int step = SQLITE_DONE;
    while (p.rc == FG_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        last = (uint64_t)sqlite3_column_int64(st, 0);
        const char *body = (const char *)sqlite3_column_text(st, 1);
        size_t blen = (size_t)sqlite3_column_bytes(st, 1);
        if (matches(&p, body, blen)) {
            if (fg_runview_log_entry(out, p.n, last, body, blen, lq->text, lq->strip_ansi) != FG_OK)
                p.rc = FG_ERR_TOO_LARGE;
            if (++p.n == lq->limit || out->len >= FG_RUNVIEW_PAGE_BYTES) {
                stopped = true;
                break;
            }
        }
        if ((++looked & 255) == 0 && fg_time_mono_ms() - t0 >= FG_LOGSEARCH_BUDGET_MS) {
            stopped = true;
            break;
        }
    }
    if (p.rc == FG_OK && !stopped && step != SQLITE_DONE)
        p.rc = fg_store_db_error(p.db, "log_search");
    sqlite3_finalize(st);
    free(phrase);
    free(p.text);
    /* stopped: go on after the last line looked at; else everything up to the end was seen */
    *next = stopped ? last : (top > lq->after ? top : lq->after);
    if (!lq->text && p.rc == FG_OK &&
        fg_buf_printf(out, "],\"next_after\":%" PRIu64 ",\"last_seq\":%" PRIu64 "}", *next, top) !=
            FG_OK)
        p.rc = FG_ERR_TOO_LARGE;
    sqlite3_exec(p.db, p.rc == FG_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    return p.rc;
}
