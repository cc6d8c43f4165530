/*
 * outbox_sqlite.c - the webhook outbox's tables in the store's SQLite file (outbox_store.h): their
 * schema and its migration, and what the writer thread writes in them.
 *
 * Tables: subscriptions(id PK, spec, secret, old_secret, old_secret_until_us, enabled,
 * created_us, updated_us, failing_since_us), deliveries(sub_id, id, seq, run_id, status,
 * attempts, next_at_us, created_us, updated_us; PK (sub_id, id), clustered by subscription),
 * attempts(delivery_id, n, at_us, duration_us, http_status, error, response; PK (delivery_id,
 * n)), and meta's 'subs_version'. The backlog (pending, failed) is kept in two of the store's
 * transactional gauges.
 */
#include "webhooks/outbox_sqlite.h"
#include "events/log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

/* Deliveries, clustered by subscription (see delivery_indexes). */
#define DELIVERIES_TABLE(name)                                                                     \
    "CREATE TABLE IF NOT EXISTS " name "(sub_id TEXT NOT NULL, id TEXT NOT NULL,"                  \
    " seq INTEGER NOT NULL, run_id TEXT, status INTEGER NOT NULL, attempts INTEGER NOT NULL,"      \
    " next_at_us INTEGER NOT NULL, created_us INTEGER NOT NULL, updated_us INTEGER NOT NULL,"      \
    " PRIMARY KEY(sub_id, id)) WITHOUT ROWID;"

static const char *schema =
    "CREATE TABLE IF NOT EXISTS subscriptions(id TEXT PRIMARY KEY, spec TEXT NOT NULL,"
    " secret TEXT NOT NULL, old_secret TEXT, old_secret_until_us INTEGER, enabled INTEGER NOT NULL,"
    " created_us INTEGER NOT NULL, updated_us INTEGER NOT NULL,"
    " failing_since_us INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;" DELIVERIES_TABLE(
        "deliveries") "CREATE TABLE IF NOT EXISTS attempts(delivery_id TEXT NOT NULL, n INTEGER "
                      "NOT NULL,"
                      " at_us INTEGER NOT NULL, duration_us INTEGER NOT NULL, http_status INTEGER, "
                      "error TEXT,"
                      " response TEXT, PRIMARY KEY(delivery_id, n)) WITHOUT ROWID;"
                      "INSERT OR IGNORE INTO meta(key, value) VALUES ('subs_version', 0);";

/* The indexes of the deliveries table (after a migration may have rebuilt it). A subscription's
 * rows sit together in the table (its key starts with sub_id, and ids grow with time), so
 * draining one endpoint's backlog touches that endpoint's pages only, however many other
 * subscriptions have rows beside it. */
static const char *delivery_indexes =
    "DROP INDEX IF EXISTS deliveries_due;"
    "DROP INDEX IF EXISTS deliveries_log;" /* schema 1: now the table's own key */
    "CREATE UNIQUE INDEX IF NOT EXISTS deliveries_id ON deliveries(id);"
    "CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries(sub_id, seq) WHERE status = 0;"
    "CREATE INDEX IF NOT EXISTS deliveries_retry ON deliveries(sub_id, next_at_us)"
    " WHERE status = 3;"
    "CREATE INDEX IF NOT EXISTS deliveries_settled ON deliveries(seq) WHERE status IN (2, 4);";

/* The hot statements, cached on the writer's connection (fg_store_stmt). */
static const char SQL_DELIVERY_ADD[] =
    "INSERT INTO deliveries(id,sub_id,seq,run_id,status,attempts,next_at_us,created_us,"
    "updated_us) VALUES(?1,?2,?3,?4,0,0,?5,?5,?5)";
static const char SQL_ATTEMPT_ADD[] =
    "INSERT OR REPLACE INTO attempts(delivery_id,n,at_us,duration_us,http_status,error,"
    "response) VALUES(?1,?2,?3,?4,?5,?6,?7)";
static const char SQL_DELIVERY_SET[] =
    "UPDATE deliveries SET status=?2, attempts=?3, next_at_us=?4, updated_us=?5"
    " WHERE sub_id=?6 AND id=?1";
static const char SQL_DELIVERY_STATUS[] = "SELECT status FROM deliveries WHERE sub_id=?1 AND id=?2";
/* The common case, a pending delivery's first attempt: its former status is known by the update
 * taking effect, without reading the row first. */
static const char SQL_DELIVERY_SET_PENDING[] =
    "UPDATE deliveries SET status=?2, attempts=?3, next_at_us=?4, updated_us=?5"
    " WHERE sub_id=?6 AND id=?1 AND status=0";

/* Counts a change to the subscription set, in the change's transaction: readers reload when the
 * count moves (fg_wh_store_read_subs_version). */
static int subs_changed(fg_store_t *s)
{
    if (fg_store_db_exec(fg_store_db(s),
                         "UPDATE meta SET value = value + 1 WHERE key = 'subs_version'") != FG_OK)
        return fg_store_db_error(fg_store_db(s), "subs_version");
    return FG_OK;
}

int fg_wh_store_sub_put(fg_store_t *s, const fg_wh_sub_row_t *sub, int64_t now_us)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            fg_store_db(s),
            "INSERT INTO subscriptions(id,spec,secret,old_secret,old_secret_until_us,"
            "enabled,created_us,updated_us) VALUES(?1,?2,?3,?4,?5,?6,?7,?7)"
            " ON CONFLICT(id) DO UPDATE SET spec=?2, secret=?3, old_secret=?4,"
            " old_secret_until_us=?5, enabled=?6, updated_us=?7,"
            " failing_since_us=CASE WHEN ?6 AND NOT enabled THEN 0 ELSE failing_since_us END",
            -1, &st, NULL) != SQLITE_OK)
        return fg_store_db_error(fg_store_db(s), "sub_put");
    sqlite3_bind_text(st, 1, sub->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sub->spec, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, sub->secret, -1, SQLITE_STATIC);
    if (sub->old_secret != NULL) {
        sqlite3_bind_text(st, 4, sub->old_secret, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, sub->old_secret_until_us);
    }
    sqlite3_bind_int(st, 6, sub->enabled);
    sqlite3_bind_int64(st, 7, now_us);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? subs_changed(s) : fg_store_db_error(fg_store_db(s), "sub_put");
}

int fg_wh_store_sub_set_failing(fg_store_t *s, const char *id, int64_t since_us)
{
    sqlite3_stmt *st = NULL;
    /* updated_us stays: this is the dispatcher's bookkeeping, not a change to reload for */
    if (sqlite3_prepare_v2(fg_store_db(s),
                           "UPDATE subscriptions SET failing_since_us=?2 WHERE id=?1", -1, &st,
                           NULL) != SQLITE_OK)
        return fg_store_db_error(fg_store_db(s), "sub_set_failing");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, since_us);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FG_OK : fg_store_db_error(fg_store_db(s), "sub_set_failing");
}

int fg_wh_store_sub_delete(fg_store_t *s, const char *id)
{
    /* its backlog leaves the outbox gauges (each count walks a partial index) */
    sqlite3_stmt *count = NULL;
    if (sqlite3_prepare_v2(fg_store_db(s),
                           "SELECT (SELECT count(*) FROM deliveries WHERE sub_id=?1 AND status=0),"
                           " (SELECT count(*) FROM deliveries WHERE sub_id=?1 AND status=3)",
                           -1, &count, NULL) != SQLITE_OK)
        return fg_store_db_error(fg_store_db(s), "sub_delete");
    sqlite3_bind_text(count, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(count) != SQLITE_ROW) {
        sqlite3_finalize(count);
        return fg_store_db_error(fg_store_db(s), "sub_delete");
    }
    int64_t pending = sqlite3_column_int64(count, 0), retrying = sqlite3_column_int64(count, 1);
    sqlite3_finalize(count);
    static const char *sql[] = {
        "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE sub_id=?1)",
        "DELETE FROM deliveries WHERE sub_id=?1", "DELETE FROM subscriptions WHERE id=?1"};
    int changed = 0;
    for (size_t i = 0; i < 3; i++) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(fg_store_db(s), sql[i], -1, &st, NULL) != SQLITE_OK)
            return fg_store_db_error(fg_store_db(s), "sub_delete");
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return fg_store_db_error(fg_store_db(s), "sub_delete");
        changed = sqlite3_changes(fg_store_db(s));
    }
    fg_store_gauge_add(s, G_PENDING, -pending);
    fg_store_gauge_add(s, G_RETRYING, -retrying);
    return changed > 0 ? subs_changed(s) : FG_ERR_NOT_FOUND;
}

/* Lists subscriptions on any connection: all of them, or the one with id (when not NULL). */
int fg_wh_store_sub_rows(sqlite3 *db, const char *id,
                         void (*cb)(void *ctx, const fg_wh_sub_row_t *sub), void *ctx, int *count)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            db,
            "SELECT id, spec, secret, old_secret, old_secret_until_us, enabled, failing_since_us"
            " FROM subscriptions WHERE ?1 IS NULL OR id = ?1 ORDER BY created_us, id",
            -1, &st, NULL) != SQLITE_OK)
        return fg_store_db_error(db, "sub_each");
    if (id != NULL)
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc;
    *count = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fg_wh_sub_row_t sub = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .spec = (const char *)sqlite3_column_text(st, 1),
            .secret = (const char *)sqlite3_column_text(st, 2),
            .old_secret = (const char *)sqlite3_column_text(st, 3),
            .old_secret_until_us = sqlite3_column_int64(st, 4),
            .enabled = sqlite3_column_int(st, 5) != 0,
            .failing_since_us = sqlite3_column_int64(st, 6),
        };
        cb(ctx, &sub);
        (*count)++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FG_OK : fg_store_db_error(db, "sub_each");
}

int fg_wh_store_sub_each(fg_store_t *s, void (*cb)(void *ctx, const fg_wh_sub_row_t *sub),
                         void *ctx)
{
    int count;
    return fg_wh_store_sub_rows(fg_store_db(s), NULL, cb, ctx, &count);
}

int fg_wh_store_delivery_add(fg_store_t *s, const char *id, const char *sub_id, uint64_t seq,
                             const char *run_id, int64_t now_us)
{
    sqlite3_stmt *st = fg_store_stmt(s, SQL_DELIVERY_ADD);
    if (st == NULL)
        return fg_store_db_error(fg_store_db(s), "delivery_add");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sub_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
    if (run_id != NULL && run_id[0] != '\0')
        sqlite3_bind_text(st, 4, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now_us);
    if (fg_store_db_step(st) != FG_OK)
        return fg_store_db_error(fg_store_db(s), "delivery_add");
    fg_store_gauge_add(s, G_PENDING, 1);
    return FG_OK;
}

/* Sets a delivery's status after an attempt (sql: SQL_DELIVERY_SET or SQL_DELIVERY_SET_PENDING);
 * *changed says whether a row took it. */
static int delivery_set(fg_store_t *s, const char *sql, const fg_wh_attempt_t *a, int64_t now_us,
                        bool *changed)
{
    sqlite3_stmt *st = fg_store_stmt(s, sql);
    if (st == NULL)
        return fg_store_db_error(fg_store_db(s), "attempt_record");
    sqlite3_bind_text(st, 1, a->delivery_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, a->new_status);
    sqlite3_bind_int(st, 3, (int)a->attempt);
    sqlite3_bind_int64(st, 4, a->next_at_us);
    sqlite3_bind_int64(st, 5, now_us);
    sqlite3_bind_text(st, 6, a->sub_id, -1, SQLITE_STATIC);
    if (fg_store_db_step(st) != FG_OK)
        return fg_store_db_error(fg_store_db(s), "attempt_record");
    *changed = sqlite3_changes(fg_store_db(s)) > 0;
    return FG_OK;
}

int fg_wh_store_attempt_record(fg_store_t *s, const fg_wh_attempt_t *a, int64_t now_us)
{
    sqlite3_stmt *st = fg_store_stmt(s, SQL_ATTEMPT_ADD);
    if (st == NULL)
        return fg_store_db_error(fg_store_db(s), "attempt_record");
    sqlite3_bind_text(st, 1, a->delivery_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)a->attempt);
    sqlite3_bind_int64(st, 3, a->at_us);
    sqlite3_bind_int64(st, 4, a->duration_us);
    if (a->http_status > 0)
        sqlite3_bind_int(st, 5, a->http_status);
    if (a->error != NULL)
        sqlite3_bind_text(st, 6, a->error, -1, SQLITE_STATIC);
    if (a->response != NULL)
        sqlite3_bind_text(st, 7, a->response, (int)a->response_len, SQLITE_STATIC);
    if (fg_store_db_step(st) != FG_OK)
        return fg_store_db_error(fg_store_db(s), "attempt_record");
    /* the status it leaves, for the outbox gauges (a delivery deleted meanwhile has none) */
    bool changed;
    int was = FG_DELIVERY_PENDING;
    if (delivery_set(s, SQL_DELIVERY_SET_PENDING, a, now_us, &changed) != FG_OK)
        return FG_ERR_IO;
    if (!changed) { /* a retry, or gone: read what it was */
        if ((st = fg_store_stmt(s, SQL_DELIVERY_STATUS)) == NULL)
            return fg_store_db_error(fg_store_db(s), "attempt_record");
        sqlite3_bind_text(st, 1, a->sub_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, a->delivery_id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        was = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return fg_store_db_error(fg_store_db(s), "attempt_record");
        if (was >= 0 && delivery_set(s, SQL_DELIVERY_SET, a, now_us, &changed) != FG_OK)
            return FG_ERR_IO;
    }
    if (was >= 0) {
        fg_store_gauge_add(s, G_PENDING,
                           (a->new_status == FG_DELIVERY_PENDING) - (was == FG_DELIVERY_PENDING));
        fg_store_gauge_add(s, G_RETRYING,
                           (a->new_status == FG_DELIVERY_FAILED) - (was == FG_DELIVERY_FAILED));
    }
    return FG_OK;
}

int fg_wh_store_due_now(fg_store_t *s, const char *sub_id, int64_t now_us)
{
    sqlite3_stmt *st = NULL;
    /* walks the retry index of this subscription only */
    if (sqlite3_prepare_v2(fg_store_db(s),
                           "UPDATE deliveries SET next_at_us = ?2 WHERE sub_id = ?1 AND status = 3"
                           " AND next_at_us > ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return fg_store_db_error(fg_store_db(s), "due_now");
    sqlite3_bind_text(st, 1, sub_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_us);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FG_OK : fg_store_db_error(fg_store_db(s), "due_now");
}

int fg_wh_store_delivery_retry(fg_store_t *s, const char *id, int64_t now_us)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(fg_store_db(s), "SELECT status FROM deliveries WHERE id=?1", -1, &st,
                           NULL) != SQLITE_OK)
        return fg_store_db_error(fg_store_db(s), "delivery_retry");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int status = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return FG_ERR_NOT_FOUND;
    if (rc != SQLITE_ROW)
        return fg_store_db_error(fg_store_db(s), "delivery_retry");
    if (status != FG_DELIVERY_FAILED && status != FG_DELIVERY_DEAD)
        return FG_ERR_CONFLICT;
    if (sqlite3_prepare_v2(
            fg_store_db(s),
            "UPDATE deliveries SET status=0, next_at_us=?2, updated_us=?2 WHERE id=?1", -1, &st,
            NULL) != SQLITE_OK)
        return fg_store_db_error(fg_store_db(s), "delivery_retry");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_us);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fg_store_db_error(fg_store_db(s), "delivery_retry");
    fg_store_gauge_add(s, G_RETRYING, -(status == FG_DELIVERY_FAILED));
    fg_store_gauge_add(s, G_PENDING, 1);
    return FG_OK;
}

int fg_wh_store_sub_set_enabled(fg_store_t *s, const char *id, bool enabled, int64_t now_us)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(fg_store_db(s),
                           "UPDATE subscriptions SET enabled=?2, updated_us=?3 WHERE id=?1", -1,
                           &st, NULL) != SQLITE_OK)
        return fg_store_db_error(fg_store_db(s), "sub_set_enabled");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, enabled);
    sqlite3_bind_int64(st, 3, now_us);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fg_store_db_error(fg_store_db(s), "sub_set_enabled");
    return sqlite3_changes(fg_store_db(s)) > 0 ? subs_changed(s) : FG_ERR_NOT_FOUND;
}

int fg_wh_store_delivery_count(fg_store_t *s, const char *sub_id, int status, uint64_t *n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(fg_store_db(s),
                           "SELECT count(*) FROM deliveries WHERE sub_id=?1 AND status=?2", -1, &st,
                           NULL) != SQLITE_OK)
        return fg_store_db_error(fg_store_db(s), "delivery_count");
    sqlite3_bind_text(st, 1, sub_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, status);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? FG_OK : fg_store_db_error(fg_store_db(s), "delivery_count");
}

void fg_wh_store_backlog(const fg_store_t *s, uint64_t *pending, uint64_t *retrying)
{
    int64_t p = fg_store_gauge(s, G_PENDING), f = fg_store_gauge(s, G_RETRYING);
    *pending = p > 0 ? (uint64_t)p : 0;
    *retrying = f > 0 ? (uint64_t)f : 0;
}

/* Brings a store written by an earlier build up to date, inside the open transaction:
 * subscriptions without failing_since_us (schema 1, early), and schema 1's deliveries table (in
 * insertion order, every subscription's rows interleaved) rebuilt clustered by subscription. */
static int migrate(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT failing_since_us FROM subscriptions LIMIT 0", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_finalize(st);
    } else if (fg_store_db_exec(db, "ALTER TABLE subscriptions ADD COLUMN failing_since_us"
                                    " INTEGER NOT NULL DEFAULT 0") != FG_OK) {
        return FG_ERR_IO;
    }
    int rc;
    uint64_t clustered = fg_store_db_u64(
        db, "SELECT count(*) FROM pragma_table_info('deliveries') WHERE name = 'sub_id' AND pk = 1",
        &rc);
    if (rc != SQLITE_OK)
        return FG_ERR_IO;
    if (clustered == 0 &&
        fg_store_db_exec(db, DELIVERIES_TABLE("deliveries_v2") "INSERT INTO deliveries_v2"
                                                               " SELECT sub_id, id, seq, run_id,"
                                                               " status, attempts, next_at_us,"
                                                               " created_us, updated_us FROM"
                                                               " deliveries;"
                                                               "DROP TABLE deliveries;"
                                                               "ALTER TABLE deliveries_v2 RENAME TO"
                                                               " deliveries;") != FG_OK)
        return FG_ERR_IO;
    return fg_store_db_exec(db, delivery_indexes);
}

int fg_wh_store_open(fg_store_t *s)
{
    sqlite3 *db = fg_store_db(s);
    if (fg_store_db_exec(db, "BEGIN IMMEDIATE") != FG_OK)
        return fg_store_db_error(db, "outbox_schema");
    if (fg_store_db_exec(db, schema) != FG_OK || migrate(db) != FG_OK ||
        fg_store_db_exec(db, "COMMIT") != FG_OK) {
        int err = fg_store_db_error(db, "outbox_schema");
        fg_store_db_exec(db, "ROLLBACK");
        return err;
    }
    /* the gauges' start: each count walks a partial index */
    int rc;
    int64_t pending =
        (int64_t)fg_store_db_u64(db, "SELECT count(*) FROM deliveries WHERE status = 0", &rc);
    int64_t retrying =
        rc == SQLITE_OK
            ? (int64_t)fg_store_db_u64(db, "SELECT count(*) FROM deliveries WHERE status = 3", &rc)
            : 0;
    if (rc != SQLITE_OK)
        return fg_store_db_error(db, "outbox_gauges");
    fg_store_gauge_set(s, G_PENDING, pending);
    fg_store_gauge_set(s, G_RETRYING, retrying);
    return FG_OK;
}

int fg_wh_store_retain(fg_store_t *s, uint64_t floor, size_t limit, uint64_t *deleted)
{
    sqlite3 *db = fg_store_db(s);
    *deleted = 0;
    if (floor == 0)
        return FG_OK;
    /* Both statements pick the same rows: the attempts first, then their deliveries. */
    if (fg_store_db_exec(db, "BEGIN IMMEDIATE") != FG_OK)
        return fg_store_db_error(db, "outbox_retain");
    if (fg_store_db_run2(db,
                         "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries"
                         " WHERE seq <= ?1 AND status IN (2, 4) ORDER BY seq LIMIT ?2)",
                         floor, limit, NULL) != FG_OK ||
        fg_store_db_run2(db,
                         "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries"
                         " WHERE seq <= ?1 AND status IN (2, 4) ORDER BY seq LIMIT ?2)",
                         floor, limit, deleted) != FG_OK ||
        fg_store_db_exec(db, "COMMIT") != FG_OK) {
        int err = fg_store_db_error(db, "outbox_retain");
        fg_store_db_exec(db, "ROLLBACK");
        *deleted = 0;
        return err;
    }
    return FG_OK;
}
