/*
 * store_db.h - the SQLite database behind the embedded store, for the storage files that keep
 * their own tables in it and write them in the writer's transactions: the run views
 * (runview.c, runview_query.c), the webhook outbox (webhooks/outbox_sqlite*.c) and the
 * checkpointer (store_checkpoint.c). Nothing else
 * includes this header or sqlite3.h.
 *
 * Each connection belongs to one thread: the writer's (fg_store_t) to the writer thread, a
 * reader's to the thread that opened it. The table meta(key TEXT PK, value INTEGER) is shared:
 * each module keeps its own keys in it.
 */
#ifndef FG_EVENTS_STORE_DB_H
#define FG_EVENTS_STORE_DB_H

#include "events/store.h"

#include <sqlite3.h>

sqlite3 *fg_store_db(fg_store_t *s);
sqlite3 *fg_store_reader_db(fg_store_reader_t *r);

/* A connection's persistent statements, keyed by their SQL text's address. */
typedef struct {
    const char *sql[32];
    sqlite3_stmt *st[32];
    size_t n;
} fg_stmt_cache_t;

/** The cached statement for sql on db (prepared on first use), reset with bindings cleared;
 * NULL when it cannot be prepared or the cache is full. */
sqlite3_stmt *fg_stmt_cache_get(fg_stmt_cache_t *c, sqlite3 *db, const char *sql);

/** Finalizes every cached statement. */
void fg_stmt_cache_dispose(fg_stmt_cache_t *c);

/**
 * The connection's persistent statement for sql, prepared on first use and reset (bindings
 * cleared) on each call. sql must be a string that lives as long as the program (a literal):
 * it is the cache's key. The caller resets it after stepping through its rows, so a reader holds
 * no snapshot between calls. NULL when it cannot be prepared (the connection has the error).
 */
sqlite3_stmt *fg_store_stmt(fg_store_t *s, const char *sql);
sqlite3_stmt *fg_store_reader_stmt(fg_store_reader_t *r, const char *sql);

/*
 * Transactional gauges: a few counters a module keeps beside its tables (the outbox's backlog),
 * so reading one costs an atomic load. Changes made inside the writer's transaction are
 * published when it commits, dropped when it (or the savepoint they were made under) rolls back.
 */
#define FG_STORE_GAUGES 4

/** Adds delta to gauge slot inside the open transaction. Writer thread. */
void fg_store_gauge_add(fg_store_t *s, unsigned slot, int64_t delta);

/** Sets a gauge outside any transaction (its start, counted at open). Writer or main thread. */
void fg_store_gauge_set(fg_store_t *s, unsigned slot, int64_t value);

/** A gauge's value as of the last commit. Any thread. */
int64_t fg_store_gauge(const fg_store_t *s, unsigned slot);

/** Writer thread: raises the store's purged_through to seq (never lowers it). */
void fg_store_raise_purged_through(fg_store_t *s, uint64_t seq);

/* Helpers for code on those connections. */

/** Logs a store error (op=what and SQLite's message) and returns FG_ERR_CORRUPT when SQLite
 * reported damage, else FG_ERR_IO. */
int fg_store_db_error(sqlite3 *db, const char *what);

/** Runs SQL text (one or more statements, no rows wanted). FG_OK or FG_ERR_IO, not logged. */
int fg_store_db_exec(sqlite3 *db, const char *sql);

/** Steps a prepared statement once, then resets it and clears its bindings. FG_OK/FG_ERR_IO. */
int fg_store_db_step(sqlite3_stmt *st);

/**
 * Runs sql (one statement, no rows wanted) with ?1 = a and ?2 = b (when it has them), and adds
 * the rows it changed to *changes (when not NULL): a retention step. FG_OK or FG_ERR_IO.
 */
int fg_store_db_run2(sqlite3 *db, const char *sql, uint64_t a, uint64_t b, uint64_t *changes);

/** The first column of the first row of sql (0 when no row); *rc is SQLITE_OK or the error. */
uint64_t fg_store_db_u64(sqlite3 *db, const char *sql, int *rc);

#endif
