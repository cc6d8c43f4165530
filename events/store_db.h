/*
 * store_db.h - the SQLite connections behind the store, for the modules that keep their own
 * tables in the same database and transactions (runview.c). Not for the gateway.
 * The writer's connection belongs to the writer thread; a reader's to its loop's thread.
 */
#ifndef FG_EVENTS_STORE_DB_H
#define FG_EVENTS_STORE_DB_H

#include "events/store.h"

#include <sqlite3.h>

sqlite3 *fg_store_db(fg_store_t *s);
sqlite3 *fg_store_reader_db(fg_store_reader_t *r);

/* Helpers for code on those connections. */

/** Logs a store error (op=what and SQLite's message) and returns FG_ERR_IO. */
int fg_store_db_error(sqlite3 *db, const char *what);

/** Runs SQL text (one or more statements, no rows wanted). FG_OK or FG_ERR_IO, not logged. */
int fg_store_db_exec(sqlite3 *db, const char *sql);

/** Steps a prepared statement once, then resets it and clears its bindings. FG_OK/FG_ERR_IO. */
int fg_store_db_step(sqlite3_stmt *st);

/** The first column of the first row of sql (0 when no row); *rc is SQLITE_OK or the error. */
uint64_t fg_store_db_u64(sqlite3 *db, const char *sql, int *rc);

#endif
