/*
 * store_guard.h - what keeps the embedded store honest (store_sqlite.c uses it; nothing else):
 * - its mark: SQLite's application_id and user_version in the file header say "a flowgate store
 *   of schema N", so a database of another application is refused before anything is written;
 * - a start-up integrity check bounded in time;
 * - the sequence high-water file ("<db>-seq" beside the database): the highest sequence number
 *   ever committed, rewritten after each commit before its events are announced, so a store
 *   whose write-ahead log was lost or cut short never gives a number out twice.
 * Main thread at open; the high-water file is written by the writer thread afterwards.
 */
#ifndef FG_EVENTS_STORE_GUARD_H
#define FG_EVENTS_STORE_GUARD_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FG_STORE_APPLICATION_ID 0x666c6777 /* "flgw" */
#define FG_STORE_SCHEMA_VERSION 2          /* 2: deliveries clustered by subscription */

/**
 * Decides, reading only, whether db (opened on path) is a flowgate store: marked as one, or an
 * empty file (*fresh = true: the caller creates the schema and the mark), or an unmarked store of
 * an earlier flowgate (its tables and meta.schema_version 1 and nothing else: the caller marks
 * it). Anything else is refused with a sentence naming the file in errbuf: FG_ERR_CORRUPT for a
 * damaged file or one that is not a database, FG_ERR_INVALID for another application's database
 * or a newer schema.
 */
int fg_store_guard_identify(sqlite3 *db, const char *path, bool *fresh, char *errbuf,
                            size_t errlen);

/**
 * PRAGMA quick_check, stopped after budget_ms (0: no check). FG_OK (*complete tells whether it
 * finished), or FG_ERR_CORRUPT with the first problems SQLite found in why.
 */
int fg_store_guard_check(sqlite3 *db, int64_t budget_ms, bool *complete, char *why, size_t cap);

/* The high-water file. */
typedef struct {
    int fd;         /* -1 when closed */
    uint64_t seq;   /* as last written */
    uint64_t epoch; /* the store's epoch, written beside it */
} fg_seqfile_t;

/**
 * Opens (creating) "<db_path>-seq" and reads it: *found is false for a new file (or one that
 * holds nothing readable). FG_OK or FG_ERR_IO (errbuf says why).
 */
int fg_seqfile_open(fg_seqfile_t *f, const char *db_path, bool *found, char *errbuf, size_t errlen);

/** Records seq and epoch (overwriting in place; durable with sync). FG_OK or FG_ERR_IO. */
int fg_seqfile_write(fg_seqfile_t *f, uint64_t seq, uint64_t epoch, bool sync);

void fg_seqfile_close(fg_seqfile_t *f);

#endif
