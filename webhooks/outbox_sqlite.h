/*
 * outbox_sqlite.h - what the two halves of the outbox's SQLite implementation share
 * (outbox_sqlite.c writes, outbox_sqlite_read.c reads). Storage files only.
 */
#ifndef FG_WEBHOOKS_OUTBOX_SQLITE_H
#define FG_WEBHOOKS_OUTBOX_SQLITE_H

#include "events/store_db.h"
#include "webhooks/outbox_store.h"

/* The store's transactional gauges the outbox keeps (store_db.h). */
enum { G_PENDING = 0, G_RETRYING = 1 };

/**
 * Calls cb for each subscription on any connection: all of them, or the one with id (when not
 * NULL); *count is how many. FG_OK or FG_ERR_IO.
 */
int fg_wh_store_sub_rows(sqlite3 *db, const char *id,
                         void (*cb)(void *ctx, const fg_wh_sub_row_t *sub), void *ctx, int *count);

#endif
