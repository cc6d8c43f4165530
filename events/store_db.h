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

#endif
