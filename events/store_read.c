/*
 * store_read.c - reading the embedded store's event log: reader connections (one per thread,
 * read-only, in WAL mode so they never block the writer), a filtered range in sequence order,
 * one event's JSON, the log's bounds, and the walks and counts a webhook replay makes.
 */
#include "events/buf.h"
#include "events/log.h"
#include "events/store.h"
#include "events/store_db.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fg_store_reader {
    sqlite3 *db;
    sqlite3_stmt *bounds;  /* SELECT max(seq), purged_through */
    fg_stmt_cache_t cache; /* fg_store_reader_stmt's */
};

sqlite3_stmt *fg_store_reader_stmt(fg_store_reader_t *r, const char *sql)
{
    return fg_stmt_cache_get(&r->cache, r->db, sql);
}

/* Events after ?1, received between ?2 and ?3 (0: no bound), bound by bind_range. */
#define EVENT_RANGE                                                                                \
    " WHERE seq > ?1 AND (?2 = 0 OR received_us >= ?2) AND (?3 = 0 OR received_us <= ?3)"

static void bind_range(sqlite3_stmt *st, uint64_t after_seq, int64_t since_us, int64_t until_us)
{
    sqlite3_bind_int64(st, 1, (sqlite3_int64)after_seq);
    sqlite3_bind_int64(st, 2, since_us);
    sqlite3_bind_int64(st, 3, until_us);
}

int fg_store_events_each(fg_store_t *s, uint64_t after_seq, int64_t since_us, int64_t until_us,
                         size_t max, int (*cb)(void *ctx, const fg_store_event_ref_t *ev),
                         void *ctx, bool *more)
{
    sqlite3_stmt *st = NULL;
    *more = false;
    if (sqlite3_prepare_v2(fg_store_db(s),
                           "SELECT seq, type, coalesce(run_id,''), coalesce(workflow,''), body "
                           "FROM events" EVENT_RANGE " ORDER BY seq LIMIT ?4",
                           -1, &st, NULL) != SQLITE_OK)
        return fg_store_db_error(fg_store_db(s), "events_each");
    bind_range(st, after_seq, since_us, until_us);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)max + 1);
    int rc, err = FG_OK;
    size_t n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == max) {
            *more = true;
            break;
        }
        fg_store_event_ref_t ev = {.seq = (uint64_t)sqlite3_column_int64(st, 0),
                                   .type = (const char *)sqlite3_column_text(st, 1),
                                   .run_id = (const char *)sqlite3_column_text(st, 2),
                                   .workflow = (const char *)sqlite3_column_text(st, 3),
                                   .json = (const char *)sqlite3_column_text(st, 4),
                                   .json_len = (size_t)sqlite3_column_bytes(st, 4)};
        if ((err = cb(ctx, &ev)) != FG_OK)
            break;
    }
    sqlite3_finalize(st);
    if (err != FG_OK)
        return err;
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? FG_OK
                                                 : fg_store_db_error(fg_store_db(s), "events_each");
}

int fg_store_reader_count_events(fg_store_reader_t *r, uint64_t after_seq, int64_t since_us,
                                 int64_t until_us, uint64_t max, uint64_t *n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db,
                           "SELECT count(*) FROM (SELECT 1 FROM events" EVENT_RANGE " LIMIT ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        return fg_store_db_error(r->db, "count_events");
    bind_range(st, after_seq, since_us, until_us);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)max);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? FG_OK : fg_store_db_error(r->db, "count_events");
}

int fg_store_reader_open(const fg_store_t *s, fg_store_reader_t **out, char *errbuf, size_t errlen)
{
    const char *path = fg_store_path(s);
    fg_store_reader_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return FG_ERR_NOMEM;
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v3(r->db,
                           "SELECT (SELECT coalesce(max(seq),0) FROM events),"
                           " (SELECT value FROM meta WHERE key='purged_through')",
                           -1, SQLITE_PREPARE_PERSISTENT, &r->bounds, NULL) != SQLITE_OK) {
        snprintf(errbuf, errlen, "cannot open a reader on %s: %s", path,
                 r->db ? sqlite3_errmsg(r->db) : "out of memory");
        fg_store_reader_close(r);
        return FG_ERR_IO;
    }
    sqlite3_busy_timeout(r->db, 5000);
    fg_store_db_exec(r->db, "PRAGMA cache_size=-16384; PRAGMA mmap_size=268435456");
    *out = r;
    return FG_OK;
}

void fg_store_reader_close(fg_store_reader_t *r)
{
    if (r == NULL)
        return;
    sqlite3_finalize(r->bounds);
    fg_stmt_cache_dispose(&r->cache);
    sqlite3_close(r->db);
    free(r);
}

int fg_store_reader_event_json(fg_store_reader_t *r, uint64_t seq, char **json, size_t *len,
                               char traceparent[FG_TRACEPARENT_LEN + 1])
{
    sqlite3_stmt *st = fg_store_reader_stmt(r, "SELECT body, traceparent FROM events WHERE seq=?1");
    if (st == NULL)
        return fg_store_db_error(r->db, "event_json");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    int rc = sqlite3_step(st), err = FG_OK;
    if (rc == SQLITE_ROW) {
        *len = (size_t)sqlite3_column_bytes(st, 0);
        *json = malloc(*len + 1);
        if (*json == NULL) {
            err = FG_ERR_NOMEM;
        } else {
            memcpy(*json, sqlite3_column_text(st, 0), *len);
            (*json)[*len] = '\0';
        }
        const char *tp = (const char *)sqlite3_column_text(st, 1);
        snprintf(traceparent, FG_TRACEPARENT_LEN + 1, "%s", tp != NULL ? tp : "");
    } else {
        err = rc == SQLITE_DONE ? FG_ERR_NOT_FOUND : fg_store_db_error(r->db, "event_json");
    }
    sqlite3_reset(st);
    return err;
}

int fg_store_reader_events_json(fg_store_reader_t *r, uint64_t first, uint64_t last,
                                void (*cb)(void *ctx, uint64_t seq, const char *json, size_t len,
                                           const char *traceparent),
                                void *ctx)
{
    sqlite3_stmt *st = fg_store_reader_stmt(
        r, "SELECT seq, body, traceparent FROM events WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq");
    if (st == NULL)
        return fg_store_db_error(r->db, "events_json");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)first);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)last);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *body = (const char *)sqlite3_column_text(st, 1);
        const char *tp = (const char *)sqlite3_column_text(st, 2);
        cb(ctx, (uint64_t)sqlite3_column_int64(st, 0), body != NULL ? body : "",
           (size_t)sqlite3_column_bytes(st, 1), tp != NULL ? tp : "");
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? FG_OK : fg_store_db_error(r->db, "events_json");
}

int fg_store_reader_bounds(fg_store_reader_t *r, uint64_t *last_seq, uint64_t *purged_through)
{
    int rc = sqlite3_step(r->bounds);
    if (rc == SQLITE_ROW) {
        *last_seq = (uint64_t)sqlite3_column_int64(r->bounds, 0);
        *purged_through = (uint64_t)sqlite3_column_int64(r->bounds, 1);
    }
    sqlite3_reset(r->bounds);
    return rc == SQLITE_ROW ? FG_OK : fg_store_db_error(r->db, "bounds");
}

/* Appends " AND col IN (?k,…)" with n numbered placeholders starting at *next. */
static int in_list(fg_buf_t *sql, const char *col, size_t n, int *next)
{
    int rc = fg_buf_printf(sql, " AND %s IN (", col);
    for (size_t i = 0; i < n; i++)
        rc |= fg_buf_printf(sql, "%s?%d", i ? "," : "", (*next)++);
    return rc | fg_buf_puts(sql, n ? ")" : "NULL)");
}

typedef enum {
    Q_ROWS,        /* the events, oldest first, LIMIT ?3 */
    Q_NEWEST_SEQ,  /* the seq of the ?3-th newest but one */
    Q_NEWEST_ROWS, /* the events, newest first, LIMIT ?3 */
} query_t;

/* Builds "SELECT … WHERE seq > ?1 AND seq <= ?2 [AND type IN (…)] [AND run_id IN (…)]
 * [AND workflow IN (…)] ORDER BY seq …", the filter's values numbered from ?4 on in that order.
 * A payload filter is not SQL: the caller checks each event against it. */
static int build_query(const fg_catalog_t *cat, const fg_filter_t *f, query_t q, fg_buf_t *sql)
{
    int next = 4;
    int rc = fg_buf_puts(sql, q == Q_NEWEST_SEQ
                                  ? "SELECT seq FROM events WHERE seq > ?1 AND seq <= ?2"
                                  : "SELECT seq, type, id, run_id, workflow, body FROM events"
                                    " WHERE seq > ?1 AND seq <= ?2");
    if (!f->any_type) {
        size_t ntypes = 0;
        for (size_t i = 0; i < fg_catalog_count(cat); i++)
            ntypes += fg_filter_type_ok(f, (int)i);
        rc |= in_list(sql, "type", ntypes, &next);
    }
    if (f->nruns > 0)
        rc |= in_list(sql, "run_id", f->nruns, &next);
    if (f->nworkflows > 0)
        rc |= in_list(sql, "workflow", f->nworkflows, &next);
    rc |= fg_buf_puts(sql, q == Q_NEWEST_SEQ    ? " ORDER BY seq DESC LIMIT 1 OFFSET ?3"
                           : q == Q_NEWEST_ROWS ? " ORDER BY seq DESC LIMIT ?3"
                                                : " ORDER BY seq LIMIT ?3");
    return rc == FG_OK ? FG_OK : FG_ERR_NOMEM;
}

/* Prepares the filter's query (build_query) with its values bound. */
static int prepare_filtered(fg_store_reader_t *r, const fg_catalog_t *cat, const fg_filter_t *f,
                            query_t q, uint64_t after, uint64_t upto, int64_t n, sqlite3_stmt **out)
{
    fg_buf_t sql;
    fg_buf_init(&sql, 64 * 1024);
    if (build_query(cat, f, q, &sql) != FG_OK) {
        fg_buf_dispose(&sql);
        return FG_ERR_NOMEM;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db, sql.data, (int)sql.len, &st, NULL);
    fg_buf_dispose(&sql);
    if (rc != SQLITE_OK)
        return fg_store_db_error(r->db, "read_prepare");
    int p = 1;
    sqlite3_bind_int64(st, p++, (sqlite3_int64)after);
    sqlite3_bind_int64(st, p++, (sqlite3_int64)upto);
    sqlite3_bind_int64(st, p++, (sqlite3_int64)n);
    if (!f->any_type) {
        for (size_t i = 0; i < fg_catalog_count(cat); i++) {
            if (fg_filter_type_ok(f, (int)i))
                sqlite3_bind_text(st, p++, fg_catalog_type(cat, i)->name, -1, SQLITE_STATIC);
        }
    }
    for (size_t i = 0; i < f->nruns; i++)
        sqlite3_bind_text(st, p++, f->runs[i], -1, SQLITE_STATIC);
    for (size_t i = 0; i < f->nworkflows; i++)
        sqlite3_bind_text(st, p++, f->workflows[i], -1, SQLITE_STATIC);
    *out = st;
    return FG_OK;
}

/* The event from which the newest n matching a filter with a payload part begin, newest first:
 * each event is checked in C. */
static int newest_matching(fg_store_reader_t *r, const fg_catalog_t *cat, const fg_filter_t *f,
                           uint64_t upto, uint64_t n, uint64_t *after)
{
    sqlite3_stmt *st;
    int rc = prepare_filtered(r, cat, f, Q_NEWEST_ROWS, 0, upto, -1, &st);
    if (rc != FG_OK)
        return rc;
    uint64_t found = 0;
    *after = 0; /* fewer than n: all of them */
    while (found < n && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(st, 1);
        int idx = type ? fg_catalog_find(cat, type, strlen(type)) : -1;
        if (idx < 0)
            continue;
        uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
        fg_event_t *ev = fg_event_create(
            seq, idx, fg_catalog_type(cat, (size_t)idx)->name,
            (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
            (const char *)sqlite3_column_text(st, 4), (const char *)sqlite3_column_text(st, 5),
            (size_t)sqlite3_column_bytes(st, 5));
        if (ev == NULL) {
            sqlite3_finalize(st);
            return FG_ERR_NOMEM;
        }
        if (fg_filter_match(f, ev) && ++found == n)
            *after = seq - 1;
        fg_event_release(ev);
    }
    int err = found == n || rc == SQLITE_DONE ? FG_OK : fg_store_db_error(r->db, "last");
    sqlite3_finalize(st);
    return err;
}

int fg_store_start_of_last(fg_store_reader_t *r, const fg_catalog_t *cat, const fg_filter_t *f,
                           uint64_t upto, uint64_t n, uint64_t *after)
{
    *after = upto;
    if (n == 0)
        return FG_OK;
    if (f->payload != NULL)
        return newest_matching(r, cat, f, upto, n, after);
    sqlite3_stmt *st;
    int rc = prepare_filtered(r, cat, f, Q_NEWEST_SEQ, 0, upto, (int64_t)(n - 1), &st);
    if (rc != FG_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *after = (uint64_t)sqlite3_column_int64(st, 0) - 1;
    else if (rc == SQLITE_DONE)
        *after = 0; /* fewer than n: all of them */
    int err = rc == SQLITE_ROW || rc == SQLITE_DONE ? FG_OK : fg_store_db_error(r->db, "last");
    sqlite3_finalize(st);
    return err;
}

int fg_store_start_of_since(fg_store_reader_t *r, int64_t since_us, uint64_t upto, uint64_t *after)
{
    /* received_us grows with seq (the writer stamps each commit): bisect on the primary key */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            r->db, "SELECT seq, received_us FROM events WHERE seq >= ?1 ORDER BY seq LIMIT 1", -1,
            &st, NULL) != SQLITE_OK)
        return fg_store_db_error(r->db, "since_prepare");
    uint64_t lo = 0, hi = upto + 1; /* the answer is the first seq in (lo, hi] received >= since */
    int err = FG_OK;
    while (lo + 1 < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)mid);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
            int64_t at = sqlite3_column_int64(st, 1);
            if (seq > upto || at >= since_us)
                hi = mid;
            else
                lo = seq;
        } else if (rc == SQLITE_DONE) {
            hi = mid;
        } else {
            err = fg_store_db_error(r->db, "since");
            break;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    *after = hi - 1 < upto ? hi - 1 : upto;
    return err;
}

int fg_store_read(fg_store_reader_t *r, const fg_catalog_t *cat, const fg_filter_t *f,
                  uint64_t after, uint64_t upto, size_t limit, fg_event_t **out, size_t *n,
                  uint64_t *scanned_to)
{
    *n = 0;
    *scanned_to = upto;
    if (upto <= after || limit == 0)
        return FG_OK;
    sqlite3_stmt *st;
    int rc = prepare_filtered(r, cat, f, Q_ROWS, after, upto, (int64_t)limit, &st);
    if (rc != FG_OK)
        return rc;

    int err = FG_OK;
    size_t rows = 0;
    uint64_t last = after;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        last = (uint64_t)sqlite3_column_int64(st, 0);
        const char *type = (const char *)sqlite3_column_text(st, 1);
        int idx = type ? fg_catalog_find(cat, type, strlen(type)) : -1;
        if (idx < 0)
            continue;
        const char *body = (const char *)sqlite3_column_text(st, 5);
        size_t body_len = (size_t)sqlite3_column_bytes(st, 5);
        fg_event_t *ev = fg_event_create(last, idx, fg_catalog_type(cat, (size_t)idx)->name,
                                         (const char *)sqlite3_column_text(st, 2),
                                         (const char *)sqlite3_column_text(st, 3),
                                         (const char *)sqlite3_column_text(st, 4), body, body_len);
        if (ev == NULL) {
            err = FG_ERR_NOMEM;
            break;
        }
        if (f->payload != NULL && !fg_filter_match(f, ev)) { /* not SQL: checked here */
            fg_event_release(ev);
            continue;
        }
        out[(*n)++] = ev;
    }
    if (err == FG_OK && rc != SQLITE_DONE)
        err = fg_store_db_error(r->db, "read");
    sqlite3_finalize(st);
    if (err != FG_OK) {
        for (size_t i = 0; i < *n; i++)
            fg_event_release(out[i]);
        *n = 0;
        return err;
    }
    if (rows == limit)
        *scanned_to = last;
    return FG_OK;
}

sqlite3 *fg_store_reader_db(fg_store_reader_t *r)
{
    return r->db;
}

int fg_store_snapshot(const fg_store_t *s, const char *path, char *errbuf, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = FG_ERR_IO;
    unlink(path);
    if (sqlite3_open_v2(fg_store_path(s), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) ==
            SQLITE_OK &&
        sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_DONE)
        rc = FG_OK;
    else
        snprintf(errbuf, errlen, "cannot copy %s to %s: %s", fg_store_path(s), path,
                 db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (rc != FG_OK)
        unlink(path);
    return rc;
}
