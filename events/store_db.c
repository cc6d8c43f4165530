/*
 * store_db.c - the helpers store_db.h gives the storage files: a connection's statement cache,
 * errors logged and classified, and small statements run at once.
 */
#include "events/store_db.h"
#include "events/log.h"

#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

sqlite3_stmt *fg_stmt_cache_get(fg_stmt_cache_t *c, sqlite3 *db, const char *sql)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->sql[i] == sql) {
            sqlite3_reset(c->st[i]);
            sqlite3_clear_bindings(c->st[i]);
            return c->st[i];
        }
    }
    if (c->n == sizeof(c->st) / sizeof(c->st[0]) ||
        sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st[c->n], NULL) != SQLITE_OK)
        return NULL;
    c->sql[c->n] = sql;
    return c->st[c->n++];
}

void fg_stmt_cache_dispose(fg_stmt_cache_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        sqlite3_finalize(c->st[i]);
    c->n = 0;
}

int fg_store_db_error(sqlite3 *db, const char *what)
{
    int code = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
    fg_log(FG_LOG_ERROR, "store_error", "op=%s code=%d error=\"%s\"", what, code,
           db == NULL          ? "no connection"
           : code != SQLITE_OK ? sqlite3_errmsg(db)
                               : "unknown");
    return (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB ? FG_ERR_CORRUPT
                                                                             : FG_ERR_IO;
}

int fg_store_db_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? FG_OK : FG_ERR_IO;
}

/* Runs a statement that returns no row (or ignores it) and resets it. */
int fg_store_db_step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? FG_OK : FG_ERR_IO;
}

uint64_t fg_store_db_u64(sqlite3 *db, const char *sql, int *rc)
{
    sqlite3_stmt *st = NULL;
    uint64_t v = 0;
    *rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (*rc == SQLITE_OK) {
        *rc = sqlite3_step(st);
        if (*rc == SQLITE_ROW) {
            v = (uint64_t)sqlite3_column_int64(st, 0);
            *rc = SQLITE_OK;
        } else if (*rc == SQLITE_DONE) {
            *rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return v;
}

int fg_store_db_run2(sqlite3 *db, const char *sql, uint64_t a, uint64_t b, uint64_t *changes)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return FG_ERR_IO;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)a);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)b);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return FG_ERR_IO;
    if (changes != NULL)
        *changes += (uint64_t)sqlite3_changes(db);
    return FG_OK;
}

/* A file's size, 0 when it does not exist. */
static uint64_t file_bytes(const char *path, const char *suffix)
{
    char p[PATH_MAX + 8];
    struct stat st;
    snprintf(p, sizeof(p), "%s%s", path, suffix);
    return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

uint64_t fg_store_disk_bytes(const fg_store_t *s)
{
    return file_bytes(fg_store_path(s), "") + file_bytes(fg_store_path(s), "-wal");
}

static const char META_PUT[] = "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)";
static const char META_GET[] = "SELECT value FROM meta WHERE key = ?1";

int fg_store_meta_put(fg_store_t *s, const char *key, int64_t value)
{
    sqlite3_stmt *st = fg_store_stmt(s, META_PUT);
    if (st == NULL)
        return fg_store_db_error(fg_store_db(s), "meta_put");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, value);
    int rc = fg_store_db_step(st);
    sqlite3_reset(st);
    return rc == FG_OK ? FG_OK : fg_store_db_error(fg_store_db(s), "meta_put");
}

int fg_store_meta_get(fg_store_t *s, const char *key, int64_t *value)
{
    *value = 0;
    sqlite3_stmt *st = fg_store_stmt(s, META_GET);
    if (st == NULL)
        return fg_store_db_error(fg_store_db(s), "meta_get");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *value = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? FG_OK
                                                 : fg_store_db_error(fg_store_db(s), "meta_get");
}
