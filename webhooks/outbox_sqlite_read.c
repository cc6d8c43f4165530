/*
 * outbox_sqlite_read.c - what the outbox's tables answer on a reader connection
 * (outbox_store.h): the subscriptions, the deliveries due for the dispatcher, the delivery log
 * for the API, and the counts for metrics.
 */
#include "webhooks/outbox_sqlite.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUE_WINDOW 512 /* pending rows looked at per round for per-run ordering */

/* with the trace context its event was published with (the event may be gone: NULL) */
#define DELIVERY_COLUMNS                                                                           \
    "id, sub_id, seq, status, attempts, next_at_us, created_us, updated_us,"                       \
    " (SELECT traceparent FROM events WHERE events.seq = deliveries.seq)"

int fg_wh_store_read_subs(fg_store_reader_t *r, const char *id,
                          void (*cb)(void *ctx, const fg_wh_sub_row_t *sub), void *ctx)
{
    int count;
    int rc = fg_wh_store_sub_rows(fg_store_reader_db(r), id, cb, ctx, &count);
    if (rc == FG_OK && id != NULL && count == 0)
        return FG_ERR_NOT_FOUND;
    return rc;
}

/* Reads rows of one of the two due queries into out (at most cap). */
static int due_rows(fg_store_reader_t *r, const char *sql, const char *sub_id, int64_t bound,
                    size_t cap, fg_wh_due_t *out, bool *due_flags, int64_t now_us, size_t *n)
{
    sqlite3 *db = fg_store_reader_db(r);
    sqlite3_stmt *st = fg_store_reader_stmt(r, sql);
    *n = 0;
    if (st == NULL)
        return fg_store_db_error(db, "due");
    sqlite3_bind_text(st, 1, sub_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, bound);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)cap);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap) {
        fg_wh_due_t *d = &out[*n];
        snprintf(d->id, sizeof(d->id), "%s", (const char *)sqlite3_column_text(st, 0));
        d->seq = (uint64_t)sqlite3_column_int64(st, 1);
        snprintf(d->run_id, sizeof(d->run_id), "%s", (const char *)sqlite3_column_text(st, 2));
        d->attempts = (unsigned)sqlite3_column_int(st, 3);
        if (due_flags != NULL)
            due_flags[*n] = sqlite3_column_int64(st, 4) <= now_us;
        (*n)++;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? FG_OK : fg_store_db_error(db, "due");
}

static int cmp_due_seq(const void *a, const void *b)
{
    uint64_t x = ((const fg_wh_due_t *)a)->seq, y = ((const fg_wh_due_t *)b)->seq;
    return x < y ? -1 : x > y;
}

int fg_wh_store_read_due(fg_store_reader_t *r, const char *sub_id, int64_t now_us, bool per_run,
                         uint64_t from_seq, size_t limit, fg_wh_due_t *out, size_t *n)
{
    /* Each walk follows a partial index: pending rows in sequence order, failed rows by when
     * they are due; neither looks at more rows than it returns (per-run: a fixed window). */
    static const char pending_sql[] = "SELECT id, seq, coalesce(run_id,''), attempts, next_at_us"
                                      " FROM deliveries WHERE sub_id=?1 AND status = 0"
                                      " AND seq >= ?2 ORDER BY seq LIMIT ?3";
    static const char retry_sql[] = "SELECT id, seq, coalesce(run_id,''), attempts, next_at_us"
                                    " FROM deliveries WHERE sub_id=?1 AND status = 3"
                                    " AND next_at_us <= ?2 ORDER BY next_at_us LIMIT ?3";
    *n = 0;
    if (limit == 0)
        return FG_OK;
    if (!per_run) {
        fg_wh_due_t *tmp = malloc(2 * limit * sizeof(*tmp));
        size_t np = 0, nf = 0;
        int rc =
            tmp ? due_rows(r, pending_sql, sub_id, (int64_t)from_seq, limit, tmp, NULL, now_us, &np)
                : FG_ERR_NOMEM;
        if (rc == FG_OK)
            rc = due_rows(r, retry_sql, sub_id, now_us, limit, tmp + np, NULL, now_us, &nf);
        if (rc == FG_OK) {
            qsort(tmp, np + nf, sizeof(*tmp), cmp_due_seq);
            *n = np + nf < limit ? np + nf : limit;
            memcpy(out, tmp, *n * sizeof(*tmp));
        }
        free(tmp);
        return rc;
    }
    /* Per run: a failed delivery is its run's head (nothing later of the run goes before it
     * succeeds or dies); among pending ones, the first of each run in sequence order is. */
    size_t cap_f = 1024;
    fg_wh_due_t *failed = malloc(cap_f * sizeof(*failed));
    bool *failed_due = malloc(cap_f * sizeof(*failed_due));
    fg_wh_due_t *pend = malloc(DUE_WINDOW * sizeof(*pend));
    size_t nf = 0, np = 0;
    int rc = failed && failed_due && pend ? FG_OK : FG_ERR_NOMEM;
    if (rc == FG_OK)
        rc = due_rows(r, retry_sql, sub_id, INT64_MAX, cap_f, failed, failed_due, now_us, &nf);
    if (rc == FG_OK)
        rc = due_rows(r, pending_sql, sub_id, 0, DUE_WINDOW, pend, NULL, now_us, &np);
    if (rc == FG_OK) {
        fg_wh_due_t *cand = malloc((nf + np) * sizeof(*cand) + 1);
        size_t nc = 0;
        for (size_t i = 0; cand && i < nf; i++)
            if (failed_due[i])
                cand[nc++] = failed[i];
        for (size_t i = 0; cand && i < np; i++) {
            bool blocked = false;
            if (pend[i].run_id[0] != '\0') {
                for (size_t k = 0; k < nf && !blocked; k++)
                    blocked = strcmp(failed[k].run_id, pend[i].run_id) == 0;
                for (size_t k = 0; k < i && !blocked; k++)
                    blocked = strcmp(pend[k].run_id, pend[i].run_id) == 0;
            }
            if (!blocked)
                cand[nc++] = pend[i];
        }
        if (cand != NULL) {
            qsort(cand, nc, sizeof(*cand), cmp_due_seq);
            *n = nc < limit ? nc : limit;
            memcpy(out, cand, *n * sizeof(*cand));
            free(cand);
        } else {
            rc = FG_ERR_NOMEM;
        }
    }
    free(failed);
    free(failed_due);
    free(pend);
    return rc;
}

int fg_wh_store_read_retry_due(fg_store_reader_t *r, const char *sub_id, int64_t now_us, bool *due)
{
    sqlite3_stmt *st = fg_store_reader_stmt(r, "SELECT 1 FROM deliveries WHERE sub_id=?1"
                                               " AND status = 3 AND next_at_us <= ?2 LIMIT 1");
    *due = false;
    if (st == NULL)
        return fg_store_db_error(fg_store_reader_db(r), "retry_due");
    sqlite3_bind_text(st, 1, sub_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_us);
    int rc = sqlite3_step(st);
    *due = rc == SQLITE_ROW;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE
               ? FG_OK
               : fg_store_db_error(fg_store_reader_db(r), "retry_due");
}

static void delivery_row(sqlite3_stmt *st, fg_wh_delivery_row_t *d)
{
    d->id = (const char *)sqlite3_column_text(st, 0);
    d->sub_id = (const char *)sqlite3_column_text(st, 1);
    d->seq = (uint64_t)sqlite3_column_int64(st, 2);
    d->status = sqlite3_column_int(st, 3);
    d->attempts = (unsigned)sqlite3_column_int(st, 4);
    d->next_at_us = sqlite3_column_int64(st, 5);
    d->created_us = sqlite3_column_int64(st, 6);
    d->updated_us = sqlite3_column_int64(st, 7);
    d->traceparent = (const char *)sqlite3_column_text(st, 8);
}

int fg_wh_store_read_deliveries(fg_store_reader_t *r, const char *sub_id, int status,
                                const char *after, size_t limit,
                                void (*cb)(void *ctx, const fg_wh_delivery_row_t *d), void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(fg_store_reader_db(r),
                           "SELECT " DELIVERY_COLUMNS " FROM deliveries WHERE sub_id=?1"
                           " AND (?2 < 0 OR status=?2) AND id > ?3 ORDER BY id LIMIT ?4",
                           -1, &st, NULL) != SQLITE_OK)
        return fg_store_db_error(fg_store_reader_db(r), "deliveries");
    sqlite3_bind_text(st, 1, sub_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, status);
    sqlite3_bind_text(st, 3, after, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fg_wh_delivery_row_t d;
        delivery_row(st, &d);
        cb(ctx, &d);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FG_OK : fg_store_db_error(fg_store_reader_db(r), "deliveries");
}

int fg_wh_store_read_delivery(fg_store_reader_t *r, const char *id,
                              void (*cb)(void *ctx, const fg_wh_delivery_row_t *d),
                              void (*attempt_cb)(void *ctx, const fg_wh_attempt_row_t *a),
                              void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(fg_store_reader_db(r),
                           "SELECT " DELIVERY_COLUMNS " FROM deliveries WHERE id=?1", -1, &st,
                           NULL) != SQLITE_OK)
        return fg_store_db_error(fg_store_reader_db(r), "delivery");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        fg_wh_delivery_row_t d;
        delivery_row(st, &d);
        cb(ctx, &d);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return FG_ERR_NOT_FOUND;
    if (rc != SQLITE_ROW)
        return fg_store_db_error(fg_store_reader_db(r), "delivery");
    if (sqlite3_prepare_v2(fg_store_reader_db(r),
                           "SELECT n, at_us, duration_us, coalesce(http_status,0), error, response"
                           " FROM attempts WHERE delivery_id=?1 ORDER BY n",
                           -1, &st, NULL) != SQLITE_OK)
        return fg_store_db_error(fg_store_reader_db(r), "delivery");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fg_wh_attempt_row_t a = {.n = (unsigned)sqlite3_column_int(st, 0),
                                 .at_us = sqlite3_column_int64(st, 1),
                                 .duration_us = sqlite3_column_int64(st, 2),
                                 .http_status = sqlite3_column_int(st, 3),
                                 .error = (const char *)sqlite3_column_text(st, 4),
                                 .response = (const char *)sqlite3_column_text(st, 5)};
        attempt_cb(ctx, &a);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FG_OK : fg_store_db_error(fg_store_reader_db(r), "delivery");
}

int fg_wh_store_read_subs_version(fg_store_reader_t *r, uint64_t *version)
{
    int rc;
    uint64_t v = fg_store_db_u64(fg_store_reader_db(r),
                                 "SELECT value FROM meta WHERE key = 'subs_version'", &rc);
    if (rc != SQLITE_OK)
        return fg_store_db_error(fg_store_reader_db(r), "subs_version");
    *version = v;
    return FG_OK;
}

int fg_wh_store_read_counts(fg_store_reader_t *r, fg_wh_sub_counts_t *g)
{
    /* the small subscriptions table; the backlog comes from fg_wh_store_backlog */
    static const char sql[] = "SELECT (SELECT count(*) FROM subscriptions WHERE enabled = 0),"
                              " (SELECT count(*) FROM subscriptions)";
    sqlite3_stmt *st = fg_store_reader_stmt(r, sql);
    if (st == NULL)
        return fg_store_db_error(fg_store_reader_db(r), "outbox_gauges");
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        g->disabled_subs = (uint64_t)sqlite3_column_int64(st, 0);
        g->subs = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? FG_OK : fg_store_db_error(fg_store_reader_db(r), "outbox_gauges");
}
