/*
 * runview_query.c - the run views' read side (see runview.h). Runs on a loop's store reader;
 * each query is one read transaction, so the rows and the "last_seq" cursor it returns come
 * from the same snapshot of the log.
 */
#include "events/log.h"
#include "events/money.h"
#include "events/runview.h"
#include "events/store_db.h"
#include "events/transitions.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const approval_states[] = {"pending", "granted", "rejected", "withdrawn"};
static const char *const log_streams[] = {"stdout", "stderr", "system"};

int fg_approval_state_parse(const char *s, size_t len)
{
    for (int i = 0; i < 4; i++)
        if (strlen(approval_states[i]) == len && memcmp(approval_states[i], s, len) == 0)
            return i;
    return -1;
}

unsigned fg_log_stream_bit(const char *s, size_t len)
{
    for (unsigned i = 0; i < 3; i++)
        if (strlen(log_streams[i]) == len && memcmp(log_streams[i], s, len) == 0)
            return 1u << i;
    return 0;
}

/* --- snapshot and output helpers ------------------------------------------------------------ */

typedef struct {
    sqlite3 *db;
    int rc; /* the first error: FG_ERR_IO from SQLite, or the buffer's */
} snap_t;

static void snap_begin(snap_t *q, fg_store_reader_t *r)
{
    q->db = fg_store_reader_db(r);
    q->rc = sqlite3_exec(q->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? FG_OK : FG_ERR_IO;
}

static int snap_end(snap_t *q)
{
    sqlite3_exec(q->db, q->rc == FG_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    if (q->rc == FG_ERR_IO)
        fg_log(FG_LOG_ERROR, "store_error", "op=runview_read error=\"%s\"", sqlite3_errmsg(q->db));
    return q->rc;
}

static sqlite3_stmt *snap_prepare(snap_t *q, const char *text)
{
    sqlite3_stmt *st = NULL;
    if (q->rc == FG_OK && sqlite3_prepare_v2(q->db, text, -1, &st, NULL) != SQLITE_OK)
        q->rc = FG_ERR_IO;
    return st;
}

/* Steps st: true for a row; false at the end (or on an error, recorded). */
static bool snap_row(snap_t *q, sqlite3_stmt *st)
{
    if (q->rc != FG_OK || st == NULL)
        return false;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return true;
    if (rc != SQLITE_DONE)
        q->rc = FG_ERR_IO;
    return false;
}

static void put(snap_t *q, int rc)
{
    if (q->rc == FG_OK && rc != FG_OK)
        q->rc = rc;
}

/* "name":<text column as a JSON string, or null> */
static void put_text(snap_t *q, fg_buf_t *b, const char *name, sqlite3_stmt *st, int col)
{
    put(q, fg_buf_printf(b, ",\"%s\":", name));
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        put(q, fg_buf_puts(b, "null"));
    else
        put(q, fg_buf_json_string(b, (const char *)sqlite3_column_text(st, col),
                                  (size_t)sqlite3_column_bytes(st, col)));
}

static void put_int(snap_t *q, fg_buf_t *b, const char *name, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        put(q, fg_buf_printf(b, ",\"%s\":null", name));
    else
        put(q, fg_buf_printf(b, ",\"%s\":%lld", name, (long long)sqlite3_column_int64(st, col)));
}

static void put_money(snap_t *q, fg_buf_t *b, const char *name, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        put(q, fg_buf_printf(b, ",\"%s\":null", name));
        return;
    }
    char m[40];
    fg_money_format(sqlite3_column_int64(st, col), m, sizeof(m));
    put(q, fg_buf_printf(b, ",\"%s\":\"%s\"", name, m));
}

static void put_status(snap_t *q, fg_buf_t *b, const char *name, int st)
{
    if (st >= 0 && st < FG_RUN_STATUS_COUNT)
        put(q, fg_buf_printf(b, ",\"%s\":\"%s\"", name, fg_run_status_name((fg_run_status_t)st)));
    else
        put(q, fg_buf_printf(b, ",\"%s\":null", name));
}

/* The log's newest sequence number in this snapshot. */
static uint64_t snap_last_seq(snap_t *q)
{
    sqlite3_stmt *st = snap_prepare(q, "SELECT coalesce(max(seq), 0) FROM events");
    uint64_t v = snap_row(q, st) ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return v;
}

/* " AND col IN (?,?,…)" for n values (nothing when n is 0). */
static void sql_in(fg_buf_t *sql, const char *col, size_t n)
{
    if (n == 0)
        return;
    fg_buf_printf(sql, " AND %s IN (", col);
    for (size_t i = 0; i < n; i++)
        fg_buf_puts(sql, i ? ",?" : "?");
    fg_buf_puts(sql, ")");
}

/* --- runs ----------------------------------------------------------------------------------- */

/* The summary columns (SUMMARY_COLS of them), for `FROM rv_runs r`. */
#define SUMMARY_SQL                                                                                \
    "SELECT r.run_id, r.workflow, r.status, r.created_at, r.updated_at, r.error,"                  \
    " coalesce(r.cost_nano, (SELECT sum(s.cost_nano) FROM rv_steps s WHERE s.run_id = r.run_id))," \
    " r.duration_ms, r.labels, (SELECT count(*) FROM rv_approvals a WHERE a.run_id = r.run_id"     \
    " AND a.status = 'pending'), (SELECT count(*) FROM rv_steps s WHERE s.run_id = r.run_id),"     \
    " r.created_seq FROM rv_runs r"

/* Writes the summary members of the current row (without the closing brace). */
static void put_summary(snap_t *q, fg_buf_t *b, sqlite3_stmt *st)
{
    put(q, fg_buf_puts(b, "{\"run_id\":"));
    put(q, fg_buf_json_string(b, (const char *)sqlite3_column_text(st, 0),
                              (size_t)sqlite3_column_bytes(st, 0)));
    put_text(q, b, "workflow_name", st, 1);
    put_status(q, b, "status", sqlite3_column_int(st, 2));
    put_text(q, b, "created_at", st, 3);
    put_text(q, b, "updated_at", st, 4);
    put_text(q, b, "error", st, 5);
    put_money(q, b, "cost_usd", st, 6);
    put_int(q, b, "duration_ms", st, 7);
    put(q, fg_buf_puts(b, ",\"labels\":"));
    if (sqlite3_column_type(st, 8) == SQLITE_NULL)
        put(q, fg_buf_puts(b, "{}"));
    else /* stored as compact JSON by the writer */
        put(q, fg_buf_append(b, sqlite3_column_text(st, 8), (size_t)sqlite3_column_bytes(st, 8)));
    put_int(q, b, "pending_approval_count", st, 9);
    put_int(q, b, "step_count", st, 10);
}

int fg_runview_list(fg_store_reader_t *r, const fg_runs_query_t *rq, fg_buf_t *out)
{
    snap_t q;
    snap_begin(&q, r);
    fg_buf_t sql;
    fg_buf_init(&sql, 0);
    fg_buf_puts(&sql, SUMMARY_SQL " WHERE r.created_seq < ?1");
    size_t nst = 0;
    for (int i = 0; i < FG_RUN_STATUS_COUNT; i++)
        nst += (rq->statuses >> i) & 1;
    sql_in(&sql, "r.status", nst);
    sql_in(&sql, "r.workflow", rq->nflows);
    sql_in(&sql, "r.run_id", rq->nruns);
    fg_buf_puts(&sql, " ORDER BY r.created_seq DESC LIMIT ?");
    sqlite3_stmt *st = snap_prepare(&q, sql.data);
    fg_buf_dispose(&sql);
    if (st != NULL) {
        int k = 1;
        sqlite3_bind_int64(st, k++, rq->before ? (sqlite3_int64)rq->before : INT64_MAX);
        for (int i = 0; i < FG_RUN_STATUS_COUNT; i++)
            if ((rq->statuses >> i) & 1)
                sqlite3_bind_int(st, k++, i);
        for (size_t i = 0; i < rq->nflows; i++)
            sqlite3_bind_text(st, k++, rq->flows[i], -1, SQLITE_STATIC);
        for (size_t i = 0; i < rq->nruns; i++)
            sqlite3_bind_text(st, k++, rq->runs[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, k, (sqlite3_int64)rq->limit + 1); /* one more: is there a next? */
    }
    put(&q, fg_buf_puts(out, "{\"runs\":["));
    size_t n = 0;
    uint64_t last = 0;
    bool more = false;
    while (snap_row(&q, st)) {
        if (n == rq->limit) {
            more = true; /* the extra row: there is a next page */
            break;
        }
        put_summary(&q, out, st);
        put(&q, fg_buf_puts(out, "},"));
        last = (uint64_t)sqlite3_column_int64(st, 11);
        n++;
    }
    if (n > 0)
        out->data[--out->len] = '\0'; /* the last comma */
    sqlite3_finalize(st);
    /* The cursor is the last run's created_seq: the next page holds the runs created before. */
    if (more)
        put(&q, fg_buf_printf(out, "],\"next_after\":%" PRIu64, last));
    else
        put(&q, fg_buf_puts(out, "],\"next_after\":null"));
    put(&q, fg_buf_printf(out, ",\"last_seq\":%" PRIu64 "}", snap_last_seq(&q)));
    return snap_end(&q);
}

static void put_approval_rows(snap_t *q, fg_buf_t *b, sqlite3_stmt *st, int64_t now_us,
                              size_t limit, uint64_t *next);

#define APPROVAL_SQL                                                                               \
    "SELECT a.run_id, r.workflow, a.step_id, s.name, a.message, a.status, a.requested_at,"         \
    " a.seq, a.requested_us, a.decided_by, a.decided_at FROM rv_approvals a"                       \
    " LEFT JOIN rv_runs r ON r.run_id = a.run_id"                                                  \
    " LEFT JOIN rv_steps s ON s.run_id = a.run_id AND s.step_id = a.step_id"

int fg_runview_get(fg_store_reader_t *r, const char *run_id, int64_t now_us, fg_buf_t *out)
{
    snap_t q;
    snap_begin(&q, r);
    sqlite3_stmt *st = snap_prepare(&q, SUMMARY_SQL " WHERE r.run_id = ?1");
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    if (!snap_row(&q, st)) {
        sqlite3_finalize(st);
        if (q.rc == FG_OK)
            q.rc = FG_ERR_NOT_FOUND;
        return snap_end(&q);
    }
    put_summary(&q, out, st);
    sqlite3_finalize(st);

    put(&q, fg_buf_puts(out, ",\"status_history\":["));
    st = snap_prepare(&q, "SELECT from_status, to_status, at, seq FROM rv_history"
                          " WHERE run_id = ?1 ORDER BY seq");
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    for (size_t n = 0; snap_row(&q, st); n++) {
        put(&q, fg_buf_printf(out, "%s{\"seq\":%lld", n ? "," : "",
                              (long long)sqlite3_column_int64(st, 3)));
        put_status(&q, out, "from", sqlite3_column_int(st, 0));
        put_status(&q, out, "to", sqlite3_column_int(st, 1));
        put_text(&q, out, "at", st, 2);
        put(&q, fg_buf_puts(out, "}"));
    }
    sqlite3_finalize(st);

    put(&q, fg_buf_puts(out, "],\"steps\":["));
    st = snap_prepare(&q, "SELECT step_id, name, kind, status, started_at, finished_at,"
                          " duration_ms, cost_nano, error, seq FROM rv_steps WHERE run_id = ?1"
                          " ORDER BY seq");
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    for (size_t n = 0; snap_row(&q, st); n++) {
        put(&q, fg_buf_puts(out, n ? ",{\"step_id\":" : "{\"step_id\":"));
        put(&q, fg_buf_json_string(out, (const char *)sqlite3_column_text(st, 0),
                                   (size_t)sqlite3_column_bytes(st, 0)));
        put_text(&q, out, "name", st, 1);
        put_text(&q, out, "kind", st, 2);
        put_text(&q, out, "status", st, 3);
        put_text(&q, out, "started_at", st, 4);
        put_text(&q, out, "finished_at", st, 5);
        put_int(&q, out, "duration_ms", st, 6);
        put_money(&q, out, "cost_usd", st, 7);
        put_text(&q, out, "error", st, 8);
        put(&q, fg_buf_puts(out, "}"));
    }
    sqlite3_finalize(st);

    put(&q, fg_buf_puts(out, "],\"pending_approvals\":["));
    st = snap_prepare(&q, APPROVAL_SQL " WHERE a.run_id = ?1 AND a.status = 'pending'"
                                       " ORDER BY a.seq");
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    uint64_t unused;
    put_approval_rows(&q, out, st, now_us, SIZE_MAX, &unused);
    sqlite3_finalize(st);

    /* The run's newest event: everything up to it is in this view, so a stream from it
     * continues with no gap and no duplicate. */
    st = snap_prepare(&q, "SELECT max(seq) FROM events WHERE run_id = ?1");
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    uint64_t last = 0;
    if (snap_row(&q, st))
        last = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (last == 0)
        last = snap_last_seq(&q); /* its events are gone: any later cursor is as good */
    put(&q, fg_buf_printf(out, "],\"last_seq\":%" PRIu64 "}", last));
    return snap_end(&q);
}

/* --- approvals ------------------------------------------------------------------------------ */

/* Writes up to limit rows of APPROVAL_SQL as array members; *next is the cursor for the rest
 * (0: none). */
static void put_approval_rows(snap_t *q, fg_buf_t *b, sqlite3_stmt *st, int64_t now_us,
                              size_t limit, uint64_t *next)
{
    size_t n = 0;
    *next = 0;
    uint64_t last = 0;
    while (snap_row(q, st)) {
        if (n == limit) {
            *next = last;
            break;
        }
        put(q, fg_buf_puts(b, n++ ? ",{\"run_id\":" : "{\"run_id\":"));
        put(q, fg_buf_json_string(b, (const char *)sqlite3_column_text(st, 0),
                                  (size_t)sqlite3_column_bytes(st, 0)));
        put_text(q, b, "workflow_name", st, 1);
        put_text(q, b, "step_id", st, 2);
        put_text(q, b, "step_name", st, 3);
        put_text(q, b, "message", st, 4);
        put_text(q, b, "status", st, 5);
        put_text(q, b, "requested_at", st, 6);
        put_int(q, b, "requested_seq", st, 7);
        if (sqlite3_column_type(st, 8) == SQLITE_NULL) {
            put(q, fg_buf_puts(b, ",\"age_ms\":null"));
        } else {
            int64_t age = (now_us - sqlite3_column_int64(st, 8)) / 1000;
            put(q, fg_buf_printf(b, ",\"age_ms\":%lld", (long long)(age > 0 ? age : 0)));
        }
        put_text(q, b, "decided_by", st, 9);
        put_text(q, b, "decided_at", st, 10);
        put(q, fg_buf_puts(b, "}"));
        last = (uint64_t)sqlite3_column_int64(st, 7);
    }
}

int fg_runview_approvals(fg_store_reader_t *r, const fg_approvals_query_t *aq, int64_t now_us,
                         fg_buf_t *out)
{
    snap_t q;
    snap_begin(&q, r);
    unsigned states = aq->states ? aq->states : 1;
    size_t nstates = 0;
    for (int i = 0; i < 4; i++)
        nstates += (states >> i) & 1;
    fg_buf_t sql;
    fg_buf_init(&sql, 0);
    fg_buf_puts(&sql, APPROVAL_SQL " WHERE a.seq > ?");
    sql_in(&sql, "a.status", nstates);
    sql_in(&sql, "a.run_id", aq->nruns);
    fg_buf_puts(&sql, " ORDER BY a.seq LIMIT ?");
    sqlite3_stmt *st = snap_prepare(&q, sql.data);
    fg_buf_dispose(&sql);
    if (st != NULL) {
        int k = 1;
        sqlite3_bind_int64(st, k++, (sqlite3_int64)aq->after);
        for (int i = 0; i < 4; i++)
            if ((states >> i) & 1)
                sqlite3_bind_text(st, k++, approval_states[i], -1, SQLITE_STATIC);
        for (size_t i = 0; i < aq->nruns; i++)
            sqlite3_bind_text(st, k++, aq->runs[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, k, (sqlite3_int64)aq->limit + 1);
    }
    put(&q, fg_buf_puts(out, "{\"approvals\":["));
    uint64_t next;
    put_approval_rows(&q, out, st, now_us, aq->limit, &next);
    sqlite3_finalize(st);
    if (next)
        put(&q, fg_buf_printf(out, "],\"next_after\":%" PRIu64, next));
    else
        put(&q, fg_buf_puts(out, "],\"next_after\":null"));
    put(&q, fg_buf_printf(out, ",\"last_seq\":%" PRIu64 "}", snap_last_seq(&q)));
    return snap_end(&q);
}

/* --- logs ----------------------------------------------------------------------------------- */

static int snap_run_known(snap_t *q, const char *run_id)
{
    sqlite3_stmt *st = snap_prepare(q, "SELECT 1 FROM rv_runs WHERE run_id = ?1");
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    bool known = snap_row(q, st);
    sqlite3_finalize(st);
    if (!known && q->rc == FG_OK)
        q->rc = FG_ERR_NOT_FOUND;
    return q->rc;
}

int fg_runview_run_known(fg_store_reader_t *r, const char *run_id)
{
    snap_t q;
    snap_begin(&q, r);
    snap_run_known(&q, run_id);
    return snap_end(&q);
}

int fg_runview_run_status(fg_store_reader_t *r, const char *run_id, int *status)
{
    snap_t q;
    snap_begin(&q, r);
    *status = -1;
    sqlite3_stmt *st = snap_prepare(&q, "SELECT status FROM rv_runs WHERE run_id = ?1");
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    if (snap_row(&q, st))
        *status = sqlite3_column_int(st, 0);
    else if (q.rc == FG_OK)
        q.rc = FG_ERR_NOT_FOUND;
    sqlite3_finalize(st);
    return snap_end(&q);
}

int fg_runview_log_version(fg_store_reader_t *r, const char *run_id, uint64_t upto, uint64_t *last,
                           uint64_t *purged)
{
    snap_t q;
    snap_begin(&q, r);
    sqlite3_stmt *st = snap_prepare(&q, "SELECT coalesce(max(seq), 0) FROM events WHERE run_id = ?1"
                                        " AND seq <= ?2");
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)upto);
    *last = snap_row(&q, st) ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    st = snap_prepare(&q, "SELECT value FROM meta WHERE key = 'purged_through'");
    *purged = snap_row(&q, st) ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return snap_end(&q);
}

int fg_runview_logs(fg_store_reader_t *r, const fg_logs_query_t *lq, fg_buf_t *out, uint64_t *next)
{
    snap_t q;
    snap_begin(&q, r);
    if (snap_run_known(&q, lq->run_id) != FG_OK)
        return snap_end(&q);
    sqlite3_stmt *st;
    size_t nstreams = 0;
    for (int i = 0; i < 3; i++)
        nstreams += (lq->streams >> i) & 1;
    fg_buf_t sql;
    fg_buf_init(&sql, 0);
    fg_buf_puts(&sql, "SELECT seq, body FROM events"
                      " WHERE run_id = ? AND seq > ? AND type = 'log_line'");
    if (lq->step_id != NULL)
        fg_buf_puts(&sql, " AND lower(json_extract(body, '$.step_id')) = ?");
    sql_in(&sql, "json_extract(body, '$.stream')", nstreams);
    if (lq->upto > 0)
        fg_buf_puts(&sql, " AND seq <= ?");
    fg_buf_puts(&sql, " ORDER BY seq LIMIT ?");
    st = snap_prepare(&q, sql.data);
    fg_buf_dispose(&sql);
    if (st != NULL) {
        int k = 1;
        sqlite3_bind_text(st, k++, lq->run_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, k++, (sqlite3_int64)lq->after);
        if (lq->step_id != NULL)
            sqlite3_bind_text(st, k++, lq->step_id, -1, SQLITE_STATIC);
        for (int i = 0; i < 3; i++)
            if ((lq->streams >> i) & 1)
                sqlite3_bind_text(st, k++, log_streams[i], -1, SQLITE_STATIC);
        if (lq->upto > 0)
            sqlite3_bind_int64(st, k++, (sqlite3_int64)lq->upto);
        sqlite3_bind_int64(st, k, (sqlite3_int64)lq->limit);
    }
    if (!lq->text)
        put(&q, fg_buf_puts(out, "{\"lines\":["));
    size_t n = 0;
    uint64_t last = lq->after;
    bool full = false;
    while (snap_row(&q, st)) {
        if (out->len >= FG_RUNVIEW_PAGE_BYTES) {
            full = true; /* a page of long lines stops early; the rest is on the next page */
            break;
        }
        last = (uint64_t)sqlite3_column_int64(st, 0);
        const char *body = (const char *)sqlite3_column_text(st, 1);
        size_t blen = (size_t)sqlite3_column_bytes(st, 1);
        put(&q, fg_runview_log_entry(out, n, last, body, blen, lq->text, lq->strip_ansi));
        n++;
    }
    sqlite3_finalize(st);
    uint64_t top = snap_last_seq(&q);
    /* A full page goes on after its last line; a short one examined the log to its end. */
    *next = full || n == lq->limit ? last : (top > lq->after ? top : lq->after);
    if (!lq->text)
        put(&q, fg_buf_printf(out, "],\"next_after\":%" PRIu64 ",\"last_seq\":%" PRIu64 "}", *next,
                              top));
    return snap_end(&q);
}

/* --- gauges --------------------------------------------------------------------------------- */

int fg_runview_gauges(fg_store_reader_t *r, fg_runview_gauges_t *g)
{
    memset(g, 0, sizeof(*g));
    snap_t q;
    snap_begin(&q, r);
    sqlite3_stmt *st = snap_prepare(&q, "SELECT status, count(*) FROM rv_runs GROUP BY status");
    while (snap_row(&q, st)) {
        int s = sqlite3_column_int(st, 0);
        uint64_t n = (uint64_t)sqlite3_column_int64(st, 1);
        if (s >= 0 && s < FG_RUN_STATUS_COUNT)
            g->runs[s] = n;
        else
            g->runs_unknown += n;
    }
    sqlite3_finalize(st);
    st = snap_prepare(&q, "SELECT count(*) FROM rv_approvals WHERE status = 'pending'");
    if (snap_row(&q, st))
        g->approvals_pending = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return snap_end(&q);
}
