/*
 * store_retain.c - retention of the embedded event log (fg_store_retain in store.h): the oldest
 * events past the count and age limits go, a chunk per call, with the runs that finished before
 * them; the floor (purged_through) only rises. Writer thread.
 */
#include "events/store.h"
#include "events/store_db.h"

#include <sqlite3.h>
#include <string.h>

int fg_store_retain(fg_store_t *s, int64_t min_received_us, uint64_t max_events, size_t chunk,
                    fg_store_retained_t *out)
{
    memset(out, 0, sizeof(*out));
    int rc;
    uint64_t first =
        fg_store_db_u64(fg_store_db(s), "SELECT coalesce(min(seq), 0) FROM events", &rc);
    if (rc != SQLITE_OK)
        return fg_store_db_error(fg_store_db(s), "retain");
    /* The newest sequence to delete: by count, then by age (seq grows with time). */
    uint64_t cut = 0;
    uint64_t last = fg_store_last_seq(s);
    if (first > 0 && max_events > 0 && last > max_events)
        cut = last - max_events;
    if (first > 0 && min_received_us > 0) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(fg_store_db(s),
                               "SELECT max(seq) FROM events WHERE seq < ?2 + ?3 AND "
                               "received_us < ?1",
                               -1, &st, NULL) != SQLITE_OK)
            return fg_store_db_error(fg_store_db(s), "retain");
        sqlite3_bind_int64(st, 1, min_received_us);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)first);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)chunk);
        if (sqlite3_step(st) == SQLITE_ROW) {
            uint64_t by_age = (uint64_t)sqlite3_column_int64(st, 0);
            if (by_age > cut)
                cut = by_age;
        }
        sqlite3_finalize(st);
    }
    if (cut >= first + chunk)
        cut = first + chunk - 1;
    uint64_t floor = fg_store_purged_through(s);
    if (first > 0 && cut >= first && cut > floor)
        floor = cut;
    if (floor == 0)
        return FG_OK;
    /* Below the floor: finished runs (completed, failed, cancelled: FG_RUN_* 2, 3, 5) whose
     * last status event is gone; a run still going keeps its row. */
    if (fg_store_db_exec(fg_store_db(s), "BEGIN IMMEDIATE") != FG_OK)
        return fg_store_db_error(fg_store_db(s), "retain");
    if ((first > 0 && cut >= first &&
         (fg_store_db_run2(fg_store_db(s), "DELETE FROM events WHERE seq <= ?1", cut, 0,
                           &out->events) != FG_OK ||
          fg_store_db_run2(fg_store_db(s),
                           "UPDATE meta SET value = max(value, ?1) WHERE key = 'purged_through'",
                           cut, 0, NULL) != FG_OK)) ||
        fg_store_db_run2(fg_store_db(s),
                         "DELETE FROM runs WHERE run_id IN (SELECT run_id FROM runs"
                         " WHERE updated_seq <= ?1 AND status IN (2, 3, 5) LIMIT ?2)",
                         floor, chunk, &out->runs) != FG_OK ||
        fg_store_db_exec(fg_store_db(s), "COMMIT") != FG_OK) {
        int err = fg_store_db_error(fg_store_db(s), "retain");
        fg_store_rollback(s);
        return err;
    }
    if (out->events > 0)
        fg_store_raise_purged_through(s, cut);
    return FG_OK;
}
