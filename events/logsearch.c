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
#include <unistd.h>

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
    size_t n;      /* matches written */
    size_t looked; /* lines looked at */
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

/* True when the line's text (escape sequences removed, NUL-terminated) passes q, regex and the
 * excludes. */
static bool text_ok(const fg_logsearch_t *s, const char *text, size_t n)
{
    if (s->q != NULL && !fg_logsearch_contains(text, n, s->q, s->q_len, s->case_sensitive))
        return false;
    if (s->regex != NULL && regexec(s->regex, text, 0, NULL, 0) != 0)
        return false;
    for (size_t i = 0; i < s->nexclude; i++)
        if (fg_logsearch_contains(text, n, s->exclude[i], strlen(s->exclude[i]), s->case_sensitive))
            return false;
    return true;
}

/* True when the stored log_line event matches the whole query. plain: its text as the index
 * keeps it (checked before the event is parsed), or NULL. */
static bool matches(page_t *p, const char *body, size_t blen, const char *plain, size_t plen)
{
    const fg_logsearch_t *s = p->s;
    if (plain != NULL && !text_ok(s, plain, plen))
        return false;
    json_t *obj = json_loadb(body, blen, 0, NULL);
    const char *step = json_string_value(json_object_get(obj, "step_id"));
    json_t *stream = json_object_get(obj, "stream"), *line = json_object_get(obj, "line");
    bool ok =
        json_is_string(stream) && json_is_string(line) &&
        (s->logs.step_id == NULL || (step && strcasecmp(step, s->logs.step_id) == 0)) &&
        (s->logs.streams == 0 || (s->logs.streams & fg_log_stream_bit(json_string_value(stream),
                                                                      json_string_length(stream))));
    long n =
        ok && plain == NULL ? stripped(p, json_string_value(line), json_string_length(line)) : 0;
    json_decref(obj);
    if (n < 0) {
        p->rc = FG_ERR_NOMEM;
        return false;
    }
    return ok && (plain != NULL || text_ok(s, p->text, (size_t)n));
}

typedef struct {
    char cur[256], *best; /* the literal being read; the longest so far (best_cap bytes) */
    size_t ncur, nbest, best_cap;
} literal_t;

/* Ends the literal being read, kept when it is the longest so far. */
static void literal_end(literal_t *l)
{
    if (l->ncur > l->nbest && l->ncur < l->best_cap) {
        memcpy(l->best, l->cur, l->ncur);
        l->nbest = l->ncur;
    }
    l->ncur = 0;
}

size_t fg_logsearch_regex_literal(const char *re, char *out, size_t cap)
{
    literal_t l = {.best = out, .best_cap = cap};
    size_t len = strlen(re);
    int depth = 0;
    for (size_t i = 0; i < len && strchr(re, '|') == NULL;) {
        char c = re[i];
        if (c == '[') { /* a bracket expression, to its closing ']' */
            size_t k = i + 1 + (i + 1 < len && re[i + 1] == '^');
            k += k < len && re[k] == ']';
            while (k < len && re[k] != ']') {
                if (re[k] == '[' && k + 1 < len && strchr(":.=", re[k + 1]) != NULL) {
                    const char close[3] = {re[k + 1], ']', '\0'};
                    const char *e = strstr(re + k + 2, close);
                    k = e != NULL ? (size_t)(e - re) + 2 : len;
                } else {
                    k++;
                }
            }
            literal_end(&l);
            i = k + 1;
        } else if (c == '*' || c == '?' || c == '{') { /* the atom before may be absent */
            while (l.ncur > 0 && ((unsigned char)l.cur[l.ncur - 1] & 0xC0) == 0x80)
                l.ncur--;
            l.ncur -= l.ncur > 0;
            literal_end(&l);
            const char *e = c == '{' ? strchr(re + i, '}') : NULL;
            i = c == '{' ? (e != NULL ? (size_t)(e - re) + 1 : len) : i + 1;
        } else if (c == '\\' && i + 1 < len && !isalnum((unsigned char)re[i + 1]) &&
                   strchr("<>`'", re[i + 1]) == NULL) { /* an escaped character is itself */
            if (depth == 0 && l.ncur + 1 < sizeof(l.cur))
                l.cur[l.ncur++] = re[i + 1];
            else
                literal_end(&l);
            i += 2;
        } else if (c == '\\' || c == '(' || c == ')' || c == '.' || c == '^' || c == '$' ||
                   c == '+' || depth > 0) {
            depth += c == '(' ? 1 : c == ')' ? -1 : 0;
            literal_end(&l);
            i += c == '\\' ? 2 : 1;
        } else {
            if (l.ncur + 1 < sizeof(l.cur))
                l.cur[l.ncur++] = c;
            i++;
        }
    }
    literal_end(&l);
    out[l.nbest] = '\0';
    return l.nbest;
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

/* Attaches the index file to the reader's connection as "li" (once; outside a transaction).
 * True when it is there to use. */
static bool attach_index(sqlite3 *db, const fg_logindex_t *index)
{
    const char *path = index != NULL ? fg_logindex_ready(index) : NULL;
    if (path == NULL)
        return false;
    sqlite3_stmt *st = NULL;
    bool have = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_database_list WHERE name = 'li'", -1, &st,
                           NULL) == SQLITE_OK)
        have = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (have || access(path, R_OK) != 0)
        return have;
    st = NULL;
    if (sqlite3_prepare_v2(db, "ATTACH DATABASE ?1 AS li", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
        have = sqlite3_step(st) == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    return have;
}

/* Looks at the run's lines in (from, to] in order, by the index (phrase: its query, or NULL for
 * every line with the index's text) or by reading them (index false), writing matches. False
 * when the page is full or its time is spent (*last: the last line looked at). */
static bool look(page_t *p, uint64_t from, uint64_t to, bool index, const char *phrase, int64_t t0,
                 uint64_t *last)
{
    /* candidates from the index */
    static const char by_index[] =
        "SELECT e.seq, e.body, c.c0 FROM li.log_fts f JOIN events e ON e.seq = f.rowid JOIN"
        " li.log_fts_content c ON c.id = f.rowid WHERE f.log_fts MATCH ?4 AND f.rowid > ?2 AND"
        " f.rowid <= ?3 AND e.run_id = ?1 AND e.type = 'log_line' ORDER BY f.rowid";
    /* every line of the run, with the index's plain text */
    static const char with_text[] =
        "SELECT e.seq, e.body, c.c0 FROM events e LEFT JOIN li.log_fts_content c ON c.id = e.seq"
        " WHERE e.run_id = ?1 AND e.seq > ?2 AND e.seq <= ?3 AND e.type = 'log_line'"
        " ORDER BY e.seq";
    /* every line of the run, read */
    static const char read_all[] =
        "SELECT seq, body, NULL FROM events WHERE run_id = ?1 AND seq > ?2 AND seq <= ?3 AND"
        " type = 'log_line' ORDER BY seq";
    const fg_logs_query_t *lq = &p->s->logs;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(p->db,
                           !index   ? read_all
                           : phrase ? by_index
                                    : with_text,
                           -1, &st, NULL) != SQLITE_OK) {
        p->rc = fg_store_db_error(p->db, "log_search");
        return false;
    }
    sqlite3_bind_text(st, 1, lq->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)from);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)to);
    if (index && phrase)
        sqlite3_bind_text(st, 4, phrase, -1, SQLITE_STATIC);
    bool go_on = true;
    int step;
    while (p->rc == FG_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        *last = (uint64_t)sqlite3_column_int64(st, 0);
        const char *body = (const char *)sqlite3_column_text(st, 1);
        size_t blen = (size_t)sqlite3_column_bytes(st, 1);
        const char *plain = (const char *)sqlite3_column_text(st, 2);
        if (matches(p, body, blen, plain, (size_t)sqlite3_column_bytes(st, 2))) {
            if (fg_runview_log_entry(p->out, p->n, *last, body, blen, lq->text, lq->strip_ansi) !=
                FG_OK)
                p->rc = FG_ERR_TOO_LARGE;
            if (++p->n == lq->limit || p->out->len >= FG_RUNVIEW_PAGE_BYTES) {
                go_on = false;
                break;
            }
        }
        if ((++p->looked & 255) == 0 && fg_time_mono_ms() - t0 >= FG_LOGSEARCH_BUDGET_MS) {
            go_on = false;
            break;
        }
    }
    if (p->rc == FG_OK && go_on && step != SQLITE_DONE)
        p->rc = fg_store_db_error(p->db, "log_search");
    sqlite3_finalize(st);
    return go_on && p->rc == FG_OK;
}

int fg_logsearch(fg_store_reader_t *r, const fg_logsearch_t *s, fg_buf_t *out, uint64_t *next)
{
    page_t p = {.s = s, .db = fg_store_reader_db(r), .out = out};
    const fg_logs_query_t *lq = &s->logs;
    bool attached = attach_index(p.db, s->index);
    if (sqlite3_exec(p.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return FG_ERR_IO;
    uint64_t known = one_u64(&p, "SELECT count(*) FROM rv_runs WHERE run_id = ?1", lq->run_id);
    uint64_t top = one_u64(&p, "SELECT coalesce(max(seq), 0) FROM events", NULL);
    uint64_t hi =
        one_u64(&p, "SELECT coalesce(max(seq), 0) FROM events WHERE run_id = ?1", lq->run_id);
    if (s->upto > 0 && s->upto < hi)
        hi = s->upto;
    /* the index covers the lines up to covered; those after are read */
    uint64_t covered = attached && one_u64(&p, "SELECT value FROM li.meta WHERE key = 'version'",
                                           NULL) == FG_LOGINDEX_VERSION
                           ? one_u64(&p, "SELECT value FROM li.meta WHERE key = 'seq'", NULL)
                           : 0;
    if (p.rc == FG_OK && known == 0)
        p.rc = FG_ERR_NOT_FOUND;
    /* The index finds candidates for q, else for the longest literal of the regex; without one
     * it still gives each line's plain text, checked before the event is parsed. */
    char lit[256];
    char *phrase = NULL;
    if (covered > lq->after && s->q != NULL)
        phrase = fts_query(s->q, s->q_len);
    if (covered > lq->after && phrase == NULL && s->regex_text != NULL &&
        fg_logsearch_regex_literal(s->regex_text, lit, sizeof(lit)) > 0)
        phrase = fts_query(lit, strlen(lit));
    if (!lq->text && p.rc == FG_OK && fg_buf_puts(out, "{\"lines\":[") != FG_OK)
        p.rc = FG_ERR_TOO_LARGE;
    int64_t t0 = fg_time_mono_ms();
    uint64_t last = lq->after, mid = covered < hi ? covered : hi;
    bool done = p.rc == FG_OK;
    if (done && mid > lq->after)
        done = look(&p, lq->after, mid, true, phrase, t0, &last);
    if (done && hi > (mid > lq->after ? mid : lq->after))
        done = look(&p, mid > lq->after ? mid : lq->after, hi, false, NULL, t0, &last);
    free(phrase);
    free(p.text);
    /* stopped: go on after the last line looked at; else everything up to the end was seen */
    *next = !done ? last : (top > lq->after ? top : lq->after);
    if (!lq->text && p.rc == FG_OK &&
        fg_buf_printf(out, "],\"next_after\":%" PRIu64 ",\"last_seq\":%" PRIu64 "}", *next, top) !=
            FG_OK)
        p.rc = FG_ERR_TOO_LARGE;
    sqlite3_exec(p.db, p.rc == FG_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    return p.rc;
}
