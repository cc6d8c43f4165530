/*
 * logindex.c - the log search index's writer side (logindex.h). Writer thread only.
 *
 * log_fts(line): one row per stored log_line, its rowid the event's seq, its text the line with
 * escape sequences removed (what a reader sees and searches). FTS5's trigram tokenizer, with
 * detail=none: the index keeps which rows hold each trigram and not where, which makes it about
 * half the size and the writes cheaper; the read side checks every candidate line anyway.
 */
#include "events/logindex.h"
#include "events/ansi.h"
#include "events/catalog.h"
#include "events/log.h"
#include "events/store_db.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNC_CHUNK 5000 /* lines per transaction while catching up */

static const char *schema =
    "CREATE VIRTUAL TABLE IF NOT EXISTS log_fts USING fts5(line, tokenize='trigram',"
    " detail='none');"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('logindex_version', 0),"
    " ('logindex_seq', 0);";

struct fg_logindex {
    fg_store_t *store;
    sqlite3 *db;        /* the writer's connection */
    sqlite3_stmt *ins;  /* INSERT INTO log_fts */
    sqlite3_stmt *mark; /* UPDATE meta logindex_seq */
    char *text;         /* the line being indexed, stripped */
    size_t text_cap;
};

static int exec_sql(fg_logindex_t *li, const char *text)
{
    return fg_store_db_exec(li->db, text) == FG_OK ? FG_OK : fg_store_db_error(li->db, "logindex");
}

/* Indexes one stored log_line event (JSON text) as seq. */
static int index_line(fg_logindex_t *li, uint64_t seq, const char *json, size_t len)
{
    json_t *obj = json_loadb(json, len, JSON_DISABLE_EOF_CHECK, NULL);
    json_t *line = json_object_get(obj, "line");
    const char *s = json_string_value(line);
    if (s == NULL) { /* validation requires it: an event stored by hand is skipped */
        json_decref(obj);
        return FG_OK;
    }
    size_t n = json_string_length(line);
    if (n + 1 > li->text_cap) {
        size_t cap = n + 1 > 2 * li->text_cap ? n + 1 : 2 * li->text_cap;
        char *t = realloc(li->text, cap);
        if (t == NULL) {
            json_decref(obj);
            return FG_ERR_IO;
        }
        li->text = t;
        li->text_cap = cap;
    }
    memcpy(li->text, s, n);
    json_decref(obj);
    n = fg_ansi_strip(li->text, n);
    sqlite3_bind_int64(li->ins, 1, (sqlite3_int64)seq);
    sqlite3_bind_text(li->ins, 2, li->text, (int)n, SQLITE_STATIC);
    return fg_store_db_step(li->ins) == FG_OK ? FG_OK : fg_store_db_error(li->db, "logindex_add");
}

static int mark(fg_logindex_t *li, uint64_t seq)
{
    sqlite3_bind_int64(li->mark, 1, (sqlite3_int64)seq);
    return fg_store_db_step(li->mark) == FG_OK ? FG_OK : fg_store_db_error(li->db, "logindex_mark");
}

int fg_logindex_open(fg_store_t *store, fg_logindex_t **out)
{
    fg_logindex_t *li = calloc(1, sizeof(*li));
    if (li == NULL)
        return FG_ERR_NOMEM;
    li->store = store;
    li->db = fg_store_db(store);
    if (sqlite3_exec(li->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(li->db, "INSERT INTO log_fts(rowid, line) VALUES (?1, ?2)", -1,
                           SQLITE_PREPARE_PERSISTENT, &li->ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(li->db, "UPDATE meta SET value = ?1 WHERE key = 'logindex_seq'", -1,
                           SQLITE_PREPARE_PERSISTENT, &li->mark, NULL) != SQLITE_OK) {
        fg_log(FG_LOG_ERROR, "store_error", "op=logindex_open error=\"%s\"",
               sqlite3_errmsg(li->db));
        fg_logindex_close(li);
        return FG_ERR_IO;
    }
    *out = li;
    return FG_OK;
}

void fg_logindex_close(fg_logindex_t *li)
{
    if (li == NULL)
        return;
    sqlite3_finalize(li->ins);
    sqlite3_finalize(li->mark);
    free(li->text);
    free(li);
}

/* Indexes up to SYNC_CHUNK stored lines after *seq (up to last), in one transaction. */
static int sync_chunk(fg_logindex_t *li, uint64_t *seq, uint64_t last, size_t *n)
{
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (exec_sql(li, "BEGIN IMMEDIATE") != FG_OK)
        return FG_ERR_IO;
    int rc = sqlite3_prepare_v2(li->db,
                                "SELECT seq, body FROM events WHERE seq > ?1 AND seq <= ?2"
                                " AND type = 'log_line' ORDER BY seq LIMIT ?3",
                                -1, &st, NULL) == SQLITE_OK
                 ? FG_OK
                 : FG_ERR_IO;
    uint64_t at = last; /* a short chunk looked at everything up to last */
    if (rc == FG_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)*seq);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)last);
        sqlite3_bind_int(st, 3, SYNC_CHUNK);
        int step;
        while (rc == FG_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
            uint64_t s = (uint64_t)sqlite3_column_int64(st, 0);
            rc = index_line(li, s, (const char *)sqlite3_column_text(st, 1),
                            (size_t)sqlite3_column_bytes(st, 1));
            if (++*n == SYNC_CHUNK)
                at = s;
        }
        if (rc == FG_OK && step != SQLITE_DONE)
            rc = FG_ERR_IO;
    }
    sqlite3_finalize(st);
    if (rc == FG_OK)
        rc = mark(li, at);
    if (rc == FG_OK && exec_sql(li, "COMMIT") == FG_OK) {
        *seq = at;
        return FG_OK;
    }
    exec_sql(li, "ROLLBACK");
    return FG_ERR_IO;
}

int fg_logindex_sync(fg_logindex_t *li, bool force, uint64_t *applied, bool *rebuilt)
{
    *applied = 0;
    *rebuilt = false;
    int rc, rc2;
    uint64_t version =
        fg_store_db_u64(li->db, "SELECT value FROM meta WHERE key = 'logindex_version'", &rc);
    uint64_t seq =
        fg_store_db_u64(li->db, "SELECT value FROM meta WHERE key = 'logindex_seq'", &rc2);
    if (rc != SQLITE_OK || rc2 != SQLITE_OK)
        return fg_store_db_error(li->db, "logindex_meta");
    uint64_t last = fg_store_last_seq(li->store);
    if (force || version != FG_LOGINDEX_VERSION || seq > last) {
        char reset[256];
        snprintf(reset, sizeof(reset),
                 "BEGIN IMMEDIATE; DELETE FROM log_fts; UPDATE meta SET value = 0 WHERE key ="
                 " 'logindex_seq'; UPDATE meta SET value = %d WHERE key = 'logindex_version';"
                 " COMMIT",
                 FG_LOGINDEX_VERSION);
        if (exec_sql(li, reset) != FG_OK) {
            exec_sql(li, "ROLLBACK");
            return FG_ERR_IO;
        }
        seq = 0;
        *rebuilt = true;
    }
    while (seq < last) {
        size_t n;
        if (sync_chunk(li, &seq, last, &n) != FG_OK)
            return FG_ERR_IO;
        *applied += n;
    }
    return FG_OK;
}

int fg_logindex_drop(fg_store_t *store)
{
    sqlite3 *db = fg_store_db(store);
    if (fg_store_db_exec(db, "BEGIN IMMEDIATE; DROP TABLE IF EXISTS log_fts; DELETE FROM meta"
                             " WHERE key IN ('logindex_version', 'logindex_seq'); COMMIT") == FG_OK)
        return FG_OK;
    int rc = fg_store_db_error(db, "logindex_drop");
    fg_store_db_exec(db, "ROLLBACK");
    return rc;
}

/* --- the writer's hooks --------------------------------------------------------------------- */

static int proj_apply(void *ctx, fg_store_t *s, const fg_event_t *view, const char *step_id,
                      int64_t now_us)
{
    (void)s;
    (void)step_id;
    (void)now_us;
    if (view->type_idx != FG_EV_LOG_LINE)
        return FG_OK;
    return index_line(ctx, view->seq, view->json, view->json_len);
}

static int proj_mark(void *ctx, fg_store_t *s, uint64_t last_seq)
{
    (void)s;
    return mark(ctx, last_seq);
}

/* Lines gone from the log leave the index, the oldest first, a chunk per transaction. */
static int proj_retain(void *ctx, fg_store_t *s, uint64_t purged_through, size_t chunk,
                       uint64_t *removed)
{
    (void)s;
    fg_logindex_t *li = ctx;
    *removed = 0;
    if (purged_through == 0)
        return FG_OK;
    if (exec_sql(li, "BEGIN IMMEDIATE") == FG_OK &&
        fg_store_db_run2(li->db,
                         "DELETE FROM log_fts WHERE rowid IN (SELECT rowid FROM log_fts WHERE"
                         " rowid <= ?1 ORDER BY rowid LIMIT ?2)",
                         purged_through, chunk, removed) == FG_OK &&
        exec_sql(li, "COMMIT") == FG_OK)
        return FG_OK;
    exec_sql(li, "ROLLBACK");
    *removed = 0;
    return FG_ERR_IO;
}

fg_projection_t fg_logindex_projection(fg_logindex_t *li)
{
    return (fg_projection_t){.name = "log_index",
                             .ctx = li,
                             .apply = proj_apply,
                             .mark = proj_mark,
                             .retain = proj_retain};
}
