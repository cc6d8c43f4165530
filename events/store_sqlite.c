/*
 * store_sqlite.c - the embedded store: one SQLite file in WAL mode.
 *
 * The writer connection (fg_store_t) is used only by the writer thread; each reader connection
 * by the one thread that opened it. SQLite runs in multi-thread mode (no connection is shared).
 *
 * Schema: events(seq PK, id UNIQUE, type, run_id, workflow, received_us, body),
 * runs(run_id PK, workflow, status, updated_seq), meta(key PK, value), seq_gaps(after PK, upto)
 * (sequence ranges lost with a write-ahead log), and the webhook tables. The file header carries
 * flowgate's application_id and the schema version (store_guard.h).
 */
#include "events/store.h"
#include "events/buf.h"
#include "events/log.h"
#include "events/store_db.h"
#include "events/store_guard.h"
#include "events/timefmt.h"

#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define SCHEMA_VERSION FG_STORE_SCHEMA_VERSION

typedef struct {
    uint64_t after, upto; /* the numbers after < seq <= upto were lost */
} gap_t;

struct fg_store {
    sqlite3 *db;
    char path[PATH_MAX]; /* immutable */
    sqlite3_stmt *find_id, *append, *run_get, *run_put, *begin, *commit, *rollback, *sp, *sp_rel,
        *sp_rb, *delivery_add, *attempt_add, *delivery_set;
    _Atomic uint64_t last_seq;       /* written by the writer thread, read anywhere */
    _Atomic uint64_t purged_through; /* written by the writer thread, read anywhere */
    uint64_t epoch;                  /* immutable after open */
    gap_t *gaps;                     /* immutable after open: lost ranges, in order */
    size_t ngaps;
    fg_seqfile_t seqfile; /* writer thread (open and close: main thread) */
    /* The outbox at a glance: deliveries pending and failed (waiting for a retry), counted once
     * at open and then kept by each change the writer makes, so a metrics scrape costs nothing
     * however large the backlog. tx_ is the open transaction's change, sp_ its value at the
     * savepoint; both are published on commit. */
    _Atomic int64_t pending, retrying; /* written by the writer thread at commit, read anywhere */
    int64_t tx_pending, tx_retrying, sp_pending, sp_retrying; /* writer thread */
    sqlite3_stmt *delivery_status;                            /* writer thread */
};

struct fg_store_reader {
    sqlite3 *db;
    sqlite3_stmt *bounds;    /* SELECT max(seq), purged_through */
    sqlite3_stmt *cached[8]; /* statements prepared on first use, by the text's slot */
};

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st);

/* A reader's persistent statement for sql (one of a few fixed texts), prepared on first use. */
static sqlite3_stmt *cached(fg_store_reader_t *r, int slot, const char *sql)
{
    if (r->cached[slot] == NULL && prepare(r->db, sql, &r->cached[slot]) != FG_OK)
        return NULL;
    sqlite3_reset(r->cached[slot]);
    sqlite3_clear_bindings(r->cached[slot]);
    return r->cached[slot];
}

enum { C_EVENT_JSON, C_PENDING, C_RETRY, C_SUBS_VERSION, C_OUTBOX_GAUGES };

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

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK
               ? FG_OK
               : FG_ERR_IO;
}

/* Runs a statement that returns no row (or ignores it) and resets it. */
int fg_store_db_step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? FG_OK : FG_ERR_IO;
}

/* Deliveries, clustered by subscription (see delivery_indexes). */
#define DELIVERIES_TABLE(name)                                                                     \
    "CREATE TABLE IF NOT EXISTS " name "(sub_id TEXT NOT NULL, id TEXT NOT NULL,"                  \
    " seq INTEGER NOT NULL, run_id TEXT, status INTEGER NOT NULL, attempts INTEGER NOT NULL,"      \
    " next_at_us INTEGER NOT NULL, created_us INTEGER NOT NULL, updated_us INTEGER NOT NULL,"      \
    " PRIMARY KEY(sub_id, id)) WITHOUT ROWID;"

static const char *schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events("
    " seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, run_id TEXT,"
    " workflow TEXT, received_us INTEGER NOT NULL, body TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_run ON events(run_id, seq);"
    "CREATE TABLE IF NOT EXISTS runs(run_id TEXT PRIMARY KEY, workflow TEXT, status INTEGER,"
    " updated_seq INTEGER) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS runs_updated ON runs(updated_seq);"
    "CREATE TABLE IF NOT EXISTS subscriptions(id TEXT PRIMARY KEY, spec TEXT NOT NULL,"
    " secret TEXT NOT NULL, old_secret TEXT, old_secret_until_us INTEGER, enabled INTEGER NOT NULL,"
    " created_us INTEGER NOT NULL, updated_us INTEGER NOT NULL,"
    " failing_since_us INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;" DELIVERIES_TABLE(
        "deliveries") "CREATE TABLE IF NOT EXISTS attempts(delivery_id TEXT NOT NULL, n INTEGER "
                      "NOT NULL,"
                      " at_us INTEGER NOT NULL, duration_us INTEGER NOT NULL, http_status INTEGER, "
                      "error TEXT,"
                      " response TEXT, PRIMARY KEY(delivery_id, n)) WITHOUT ROWID;"
                      "CREATE TABLE IF NOT EXISTS seq_gaps(after INTEGER PRIMARY KEY, upto INTEGER "
                      "NOT NULL);"
                      "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', 2), "
                      "('purged_through', 0), ('subs_version', 0);";

/* The indexes of the deliveries table (after a migration may have rebuilt it). A subscription's
 * rows sit together in the table (its key starts with sub_id, and ids grow with time), so
 * draining one endpoint's backlog touches that endpoint's pages only, however many other
 * subscriptions have rows beside it. */
static const char *delivery_indexes =
    "DROP INDEX IF EXISTS deliveries_due;"
    "DROP INDEX IF EXISTS deliveries_log;" /* schema 1: now the table's own key */
    "CREATE UNIQUE INDEX IF NOT EXISTS deliveries_id ON deliveries(id);"
    "CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries(sub_id, seq) WHERE status = 0;"
    "CREATE INDEX IF NOT EXISTS deliveries_retry ON deliveries(sub_id, next_at_us) WHERE status = "
    "3;"
    "CREATE INDEX IF NOT EXISTS deliveries_settled ON deliveries(seq) WHERE status IN (2, 4);";

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

/* Brings a store written by an earlier build up to date, inside the schema's transaction:
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
    return fg_store_db_exec(db, "UPDATE meta SET value = 2 WHERE key = 'schema_version';") ==
                       FG_OK &&
                   fg_store_db_exec(db, delivery_indexes) == FG_OK
               ? FG_OK
               : FG_ERR_IO;
}

/* A new random epoch: 63 bits, so it stays a positive SQLite integer. */
static uint64_t new_epoch(void)
{
    uint64_t e = 0;
    if (getrandom(&e, sizeof(e), 0) != (ssize_t)sizeof(e))
        e = (uint64_t)fg_time_now_us() * UINT64_C(0x9e3779b97f4a7c15);
    e &= INT64_MAX;
    return e ? e : 1;
}

/* Writes the schema, the file header's mark and the epoch (when the store has none), in one
 * transaction. */
static int create_schema(sqlite3 *db)
{
    char mark[256];
    snprintf(mark, sizeof(mark),
             "PRAGMA application_id=%d; PRAGMA user_version=%d;"
             " INSERT OR IGNORE INTO meta(key, value) VALUES ('epoch', %" PRIu64 ");",
             (int)FG_STORE_APPLICATION_ID, SCHEMA_VERSION, new_epoch());
    if (fg_store_db_exec(db, "BEGIN IMMEDIATE") != FG_OK)
        return FG_ERR_IO;
    if (fg_store_db_exec(db, schema) != FG_OK || migrate(db) != FG_OK ||
        fg_store_db_exec(db, mark) != FG_OK || fg_store_db_exec(db, "COMMIT") != FG_OK) {
        fg_store_db_exec(db, "ROLLBACK");
        return FG_ERR_IO;
    }
    return FG_OK;
}

/* Loads the lost ranges (few: one per loss ever detected). */
static int load_gaps(fg_store_t *s)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT after, upto FROM seq_gaps ORDER BY after", -1, &st,
                           NULL) != SQLITE_OK)
        return FG_ERR_IO;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        gap_t *g = realloc(s->gaps, (s->ngaps + 1) * sizeof(*g));
        if (g == NULL) {
            sqlite3_finalize(st);
            return FG_ERR_NOMEM;
        }
        s->gaps = g;
        s->gaps[s->ngaps].after = (uint64_t)sqlite3_column_int64(st, 0);
        s->gaps[s->ngaps++].upto = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FG_OK : FG_ERR_IO;
}

/*
 * Squares the log with the high-water file. Numbers up to the file's were given out; when the
 * log ends below (its write-ahead log was lost or cut short, or an older copy of the database was
 * put back), the missing range is recorded, numbering goes on above it, and the store gets a new
 * epoch. Then the file is brought up to date, durably.
 */
static int square_with_seqfile(fg_store_t *s, char *errbuf, size_t errlen)
{
    bool found;
    if (fg_seqfile_open(&s->seqfile, s->path, &found, errbuf, errlen) != FG_OK)
        return FG_ERR_IO;
    uint64_t last = atomic_load(&s->last_seq);
    if (found && s->seqfile.seq > last) {
        uint64_t epoch = new_epoch();
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "BEGIN IMMEDIATE; INSERT OR REPLACE INTO seq_gaps(after, upto)"
                 " VALUES (%" PRIu64 ", %" PRIu64 "); INSERT OR REPLACE INTO meta(key, value)"
                 " VALUES ('epoch', %" PRIu64 "); COMMIT",
                 last, s->seqfile.seq, epoch);
        if (fg_store_db_exec(s->db, sql) != FG_OK) {
            fg_store_db_exec(s->db, "ROLLBACK");
            snprintf(errbuf, errlen, "cannot record the lost sequence range in %s: %s", s->path,
                     sqlite3_errmsg(s->db));
            return FG_ERR_IO;
        }
        gap_t *g = realloc(s->gaps, (s->ngaps + 1) * sizeof(*g));
        if (g == NULL)
            return FG_ERR_NOMEM;
        s->gaps = g;
        s->gaps[s->ngaps++] = (gap_t){last, s->seqfile.seq};
        fg_log(FG_LOG_ERROR, "store_lost_events",
               "file=%s last_seq=%" PRIu64 " given_out=%" PRIu64 " epoch=%016" PRIx64
               " the log ends below numbers already given out (its write-ahead log was lost or"
               " cut short, or an older copy was put back): events %" PRIu64 "..%" PRIu64
               " are gone, numbering goes on above them, and clients resuming inside that range"
               " get event: reset",
               s->path, last, s->seqfile.seq, epoch, last + 1, s->seqfile.seq);
        s->epoch = epoch;
        atomic_store(&s->last_seq, s->seqfile.seq);
    }
    if (fg_seqfile_write(&s->seqfile, atomic_load(&s->last_seq), s->epoch, true) != FG_OK) {
        snprintf(errbuf, errlen, "cannot write %s-seq", s->path);
        return FG_ERR_IO;
    }
    return FG_OK;
}

int fg_store_open(const char *path, fg_sync_mode_t sync, fg_store_t **out, char *errbuf,
                  size_t errlen)
{
    fg_store_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return FG_ERR_NOMEM;
    s->seqfile.fd = -1;
    snprintf(s->path, sizeof(s->path), "%s", path);
    int err = FG_ERR_IO;
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(errbuf, errlen, "cannot open database %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* Nothing is written before the file is known to be flowgate's (or empty). */
    bool fresh;
    if ((err = fg_store_guard_identify(s->db, path, &fresh, errbuf, errlen)) != FG_OK)
        goto fail;
    err = FG_ERR_IO;
    rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        err = rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT ? FG_ERR_CORRUPT : FG_ERR_IO;
        snprintf(errbuf, errlen, "cannot use database %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    static const char *sync_sql[] = {"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL",
                                     "PRAGMA synchronous=FULL"};
    /* A 64 MiB page cache and mmap'd reads keep index pages off pread(2); a larger checkpoint
     * interval writes a page dirtied by many commits back once. */
    if (fg_store_db_exec(s->db, sync_sql[sync]) != FG_OK ||
        fg_store_db_exec(s->db,
                         "PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456;"
                         " PRAGMA wal_autocheckpoint=8192; PRAGMA journal_size_limit=134217728;"
                         " PRAGMA temp_store=MEMORY") != FG_OK ||
        create_schema(s->db) != FG_OK) {
        rc = sqlite3_errcode(s->db);
        err = (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) ? FG_ERR_CORRUPT : FG_ERR_IO;
        snprintf(errbuf, errlen, "cannot create the schema in %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    uint64_t version =
        fg_store_db_u64(s->db, "SELECT value FROM meta WHERE key='schema_version'", &rc);
    if (rc != SQLITE_OK || version != SCHEMA_VERSION) {
        snprintf(errbuf, errlen, "database %s has schema version %llu, expected %d", path,
                 (unsigned long long)version, SCHEMA_VERSION);
        err = FG_ERR_CORRUPT;
        goto fail;
    }
    uint64_t purged =
        fg_store_db_u64(s->db, "SELECT value FROM meta WHERE key='purged_through'", &rc);
    uint64_t max_seq =
        rc == SQLITE_OK ? fg_store_db_u64(s->db, "SELECT max(seq) FROM events", &rc) : 0;
    if (rc == SQLITE_OK)
        s->epoch = fg_store_db_u64(s->db, "SELECT value FROM meta WHERE key='epoch'", &rc);
    if (rc == SQLITE_OK) /* the outbox gauges' start: each count walks a partial index */
        atomic_store(&s->pending,
                     (int64_t)fg_store_db_u64(
                         s->db, "SELECT count(*) FROM deliveries WHERE status = 0", &rc));
    if (rc == SQLITE_OK)
        atomic_store(&s->retrying,
                     (int64_t)fg_store_db_u64(
                         s->db, "SELECT count(*) FROM deliveries WHERE status = 3", &rc));
    if (rc != SQLITE_OK || load_gaps(s) != FG_OK) {
        err = rc == SQLITE_CORRUPT ? FG_ERR_CORRUPT : FG_ERR_IO;
        snprintf(errbuf, errlen, "cannot read database %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    atomic_store(&s->last_seq, max_seq > purged ? max_seq : purged);
    atomic_store(&s->purged_through, purged);
    if (s->ngaps > 0 && s->gaps[s->ngaps - 1].upto > atomic_load(&s->last_seq))
        atomic_store(&s->last_seq, s->gaps[s->ngaps - 1].upto);
    if ((err = square_with_seqfile(s, errbuf, errlen)) != FG_OK)
        goto fail;
    err = FG_ERR_IO;

    if (prepare(s->db, "SELECT seq FROM events WHERE id=?1", &s->find_id) ||
        prepare(s->db,
                "INSERT INTO events(seq,id,type,run_id,workflow,received_us,body)"
                " VALUES(?1,?2,?3,?4,?5,?6,?7)",
                &s->append) ||
        prepare(s->db, "SELECT status, workflow FROM runs WHERE run_id=?1", &s->run_get) ||
        prepare(s->db,
                "INSERT INTO runs(run_id,workflow,status,updated_seq) VALUES(?1,?2,?3,?4)"
                " ON CONFLICT(run_id) DO UPDATE SET workflow=coalesce(?2,workflow),"
                " status=coalesce(?3,status), updated_seq=?4",
                &s->run_put) ||
        prepare(s->db, "BEGIN IMMEDIATE", &s->begin) || prepare(s->db, "COMMIT", &s->commit) ||
        prepare(s->db, "ROLLBACK", &s->rollback) || prepare(s->db, "SAVEPOINT pub", &s->sp) ||
        prepare(s->db, "RELEASE pub", &s->sp_rel) || prepare(s->db, "ROLLBACK TO pub", &s->sp_rb) ||
        prepare(s->db,
                "INSERT INTO deliveries(id,sub_id,seq,run_id,status,attempts,next_at_us,created_us,"
                "updated_us) VALUES(?1,?2,?3,?4,0,0,?5,?5,?5)",
                &s->delivery_add) ||
        prepare(s->db,
                "INSERT OR REPLACE INTO attempts(delivery_id,n,at_us,duration_us,http_status,error,"
                "response) VALUES(?1,?2,?3,?4,?5,?6,?7)",
                &s->attempt_add) ||
        prepare(s->db,
                "UPDATE deliveries SET status=?2, attempts=?3, next_at_us=?4, updated_us=?5"
                " WHERE sub_id=?6 AND id=?1",
                &s->delivery_set) ||
        prepare(s->db, "SELECT status FROM deliveries WHERE sub_id=?1 AND id=?2",
                &s->delivery_status)) {
        snprintf(errbuf, errlen, "cannot prepare statements on %s: %s", path,
                 sqlite3_errmsg(s->db));
        goto fail;
    }
    *out = s;
    return FG_OK;
fail:
    fg_store_close(s);
    return err;
}

void fg_store_close(fg_store_t *s)
{
    if (s == NULL)
        return;
    sqlite3_stmt *all[] = {s->find_id,      s->append,         s->run_get,      s->run_put,
                           s->begin,        s->commit,         s->rollback,     s->sp,
                           s->sp_rel,       s->sp_rb,          s->delivery_add, s->attempt_add,
                           s->delivery_set, s->delivery_status};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        sqlite3_finalize(all[i]);
    if (s->db != NULL)
        sqlite3_close(s->db);
    if (s->seqfile.fd >= 0)
        fg_seqfile_write(&s->seqfile, atomic_load(&s->last_seq), s->epoch, true);
    fg_seqfile_close(&s->seqfile);
    free(s->gaps);
    free(s);
}

uint64_t fg_store_last_seq(const fg_store_t *s)
{
    return atomic_load(&((fg_store_t *)s)->last_seq);
}

int fg_store_failure(fg_store_t *s, char *why, size_t cap)
{
    int code = sqlite3_extended_errcode(s->db);
    snprintf(why, cap, "%s", code != SQLITE_OK ? sqlite3_errmsg(s->db) : "unknown error");
    return (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB ? FG_ERR_CORRUPT
                                                                             : FG_ERR_IO;
}

int fg_store_probe(fg_store_t *s, int64_t now_us)
{
    char sql[128];
    snprintf(sql, sizeof(sql),
             "INSERT OR REPLACE INTO meta(key, value) VALUES ('probe_us', %" PRId64 ")", now_us);
    char why[8];
    if (fg_store_begin(s) != FG_OK)
        return fg_store_failure(s, why, sizeof(why));
    if (fg_store_db_exec(s->db, sql) != FG_OK || fg_store_db_step(s->commit) != FG_OK) {
        int rc = fg_store_failure(s, why, sizeof(why));
        fg_store_rollback(s);
        return rc;
    }
    return FG_OK;
}

int fg_store_check(fg_store_t *s, int64_t budget_ms, bool *complete, char *why, size_t cap)
{
    return fg_store_guard_check(s->db, budget_ms, complete, why, cap);
}

uint64_t fg_store_epoch(const fg_store_t *s)
{
    return s->epoch;
}

fg_cursor_state_t fg_store_cursor_check(const fg_store_t *s, uint64_t cursor)
{
    if (cursor > fg_store_last_seq(s))
        return FG_CURSOR_AHEAD;
    for (size_t i = 0; i < s->ngaps; i++)
        if (cursor > s->gaps[i].after && cursor <= s->gaps[i].upto)
            return FG_CURSOR_LOST;
    return FG_CURSOR_OK;
}

const char *fg_store_path(const fg_store_t *s)
{
    return s->path;
}

uint64_t fg_store_purged_through(const fg_store_t *s)
{
    return atomic_load(&((fg_store_t *)s)->purged_through);
}

int fg_store_begin(fg_store_t *s)
{
    s->tx_pending = s->tx_retrying = 0;
    return fg_store_db_step(s->begin) == FG_OK ? FG_OK : fg_store_db_error(s->db, "begin");
}

int fg_store_commit(fg_store_t *s, uint64_t last_seq)
{
    if (fg_store_db_step(s->commit) != FG_OK)
        return fg_store_db_error(s->db, "commit");
    atomic_fetch_add(&s->pending, s->tx_pending);
    atomic_fetch_add(&s->retrying, s->tx_retrying);
    s->tx_pending = s->tx_retrying = 0;
    if (last_seq > atomic_load(&s->last_seq)) {
        atomic_store(&s->last_seq, last_seq);
        /* before the events are announced: no number a client saw is ever given out again */
        if (fg_seqfile_write(&s->seqfile, last_seq, s->epoch, false) != FG_OK)
            fg_log(FG_LOG_ERROR, "store_error", "op=seqfile file=%s-seq error=\"write failed\"",
                   s->path);
    }
    return FG_OK;
}

void fg_store_rollback(fg_store_t *s)
{
    s->tx_pending = s->tx_retrying = 0;
    if (sqlite3_get_autocommit(s->db) == 0)
        fg_store_db_step(s->rollback);
}

int fg_store_savepoint(fg_store_t *s)
{
    s->sp_pending = s->tx_pending;
    s->sp_retrying = s->tx_retrying;
    return fg_store_db_step(s->sp) == FG_OK ? FG_OK : fg_store_db_error(s->db, "savepoint");
}

int fg_store_savepoint_release(fg_store_t *s)
{
    return fg_store_db_step(s->sp_rel) == FG_OK ? FG_OK : fg_store_db_error(s->db, "release");
}

void fg_store_savepoint_rollback(fg_store_t *s)
{
    s->tx_pending = s->sp_pending;
    s->tx_retrying = s->sp_retrying;
    fg_store_db_step(s->sp_rb);
    fg_store_db_step(s->sp_rel);
}

int fg_store_find_id(fg_store_t *s, const char *id, uint64_t *seq)
{
    sqlite3_bind_text(s->find_id, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->find_id);
    if (rc == SQLITE_ROW)
        *seq = (uint64_t)sqlite3_column_int64(s->find_id, 0);
    sqlite3_reset(s->find_id);
    if (rc == SQLITE_ROW)
        return FG_OK;
    return rc == SQLITE_DONE ? FG_ERR_NOT_FOUND : fg_store_db_error(s->db, "find_id");
}

int fg_store_run_get(fg_store_t *s, const char *run_id, int *status, char *workflow, size_t cap)
{
    sqlite3_bind_text(s->run_get, 1, run_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->run_get);
    if (rc == SQLITE_ROW) {
        *status = sqlite3_column_type(s->run_get, 0) == SQLITE_NULL
                      ? -1
                      : sqlite3_column_int(s->run_get, 0);
        const unsigned char *wf = sqlite3_column_text(s->run_get, 1);
        snprintf(workflow, cap, "%s", wf ? (const char *)wf : "");
    }
    sqlite3_reset(s->run_get);
    if (rc == SQLITE_ROW)
        return FG_OK;
    return rc == SQLITE_DONE ? FG_ERR_NOT_FOUND : fg_store_db_error(s->db, "run_get");
}

int fg_store_run_put(fg_store_t *s, const char *run_id, const char *workflow, int status,
                     uint64_t seq)
{
    sqlite3_bind_text(s->run_put, 1, run_id, -1, SQLITE_STATIC);
    if (workflow != NULL)
        sqlite3_bind_text(s->run_put, 2, workflow, -1, SQLITE_STATIC);
    if (status >= 0)
        sqlite3_bind_int(s->run_put, 3, status);
    sqlite3_bind_int64(s->run_put, 4, (sqlite3_int64)seq);
    return fg_store_db_step(s->run_put) == FG_OK ? FG_OK : fg_store_db_error(s->db, "run_put");
}

int fg_store_append(fg_store_t *s, uint64_t seq, const fg_pub_event_t *ev, const char *type,
                    const char *workflow, int64_t received_us)
{
    sqlite3_bind_int64(s->append, 1, (sqlite3_int64)seq);
    sqlite3_bind_text(s->append, 2, ev->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->append, 3, type, -1, SQLITE_STATIC);
    if (ev->run_id[0] != '\0')
        sqlite3_bind_text(s->append, 4, ev->run_id, -1, SQLITE_STATIC);
    if (workflow != NULL && workflow[0] != '\0')
        sqlite3_bind_text(s->append, 5, workflow, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->append, 6, received_us);
    sqlite3_bind_text(s->append, 7, ev->json, (int)ev->json_len, SQLITE_STATIC);
    if (fg_store_db_step(s->append) != FG_OK)
        return fg_store_db_error(s->db, "append");
    return FG_OK;
}

/* Counts a change to the subscription set, in the change's transaction: readers reload when the
 * count moves (fg_store_reader_subs_version). */
static int subs_changed(fg_store_t *s)
{
    if (fg_store_db_exec(s->db, "UPDATE meta SET value = value + 1 WHERE key = 'subs_version'") !=
        FG_OK)
        return fg_store_db_error(s->db, "subs_version");
    return FG_OK;
}

int fg_store_sub_put(fg_store_t *s, const fg_store_sub_t *sub, int64_t now_us)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            s->db,
            "INSERT INTO subscriptions(id,spec,secret,old_secret,old_secret_until_us,"
            "enabled,created_us,updated_us) VALUES(?1,?2,?3,?4,?5,?6,?7,?7)"
            " ON CONFLICT(id) DO UPDATE SET spec=?2, secret=?3, old_secret=?4,"
            " old_secret_until_us=?5, enabled=?6, updated_us=?7,"
            " failing_since_us=CASE WHEN ?6 AND NOT enabled THEN 0 ELSE failing_since_us END",
            -1, &st, NULL) != SQLITE_OK)
        return fg_store_db_error(s->db, "sub_put");
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
    return rc == SQLITE_DONE ? subs_changed(s) : fg_store_db_error(s->db, "sub_put");
}

int fg_store_sub_set_failing(fg_store_t *s, const char *id, int64_t since_us)
{
    sqlite3_stmt *st = NULL;
    /* updated_us stays: this is the dispatcher's bookkeeping, not a change to reload for */
    if (sqlite3_prepare_v2(s->db, "UPDATE subscriptions SET failing_since_us=?2 WHERE id=?1", -1,
                           &st, NULL) != SQLITE_OK)
        return fg_store_db_error(s->db, "sub_set_failing");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, since_us);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FG_OK : fg_store_db_error(s->db, "sub_set_failing");
}

int fg_store_sub_delete(fg_store_t *s, const char *id)
{
    /* its backlog leaves the outbox gauges (each count walks a partial index) */
    sqlite3_stmt *count = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT (SELECT count(*) FROM deliveries WHERE sub_id=?1 AND status=0),"
                           " (SELECT count(*) FROM deliveries WHERE sub_id=?1 AND status=3)",
                           -1, &count, NULL) != SQLITE_OK)
        return fg_store_db_error(s->db, "sub_delete");
    sqlite3_bind_text(count, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(count) != SQLITE_ROW) {
        sqlite3_finalize(count);
        return fg_store_db_error(s->db, "sub_delete");
    }
    int64_t pending = sqlite3_column_int64(count, 0), retrying = sqlite3_column_int64(count, 1);
    sqlite3_finalize(count);
    static const char *sql[] = {
        "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE sub_id=?1)",
        "DELETE FROM deliveries WHERE sub_id=?1", "DELETE FROM subscriptions WHERE id=?1"};
    int changed = 0;
    for (size_t i = 0; i < 3; i++) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, sql[i], -1, &st, NULL) != SQLITE_OK)
            return fg_store_db_error(s->db, "sub_delete");
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return fg_store_db_error(s->db, "sub_delete");
        changed = sqlite3_changes(s->db);
    }
    s->tx_pending -= pending;
    s->tx_retrying -= retrying;
    return changed > 0 ? subs_changed(s) : FG_ERR_NOT_FOUND;
}

/* Lists subscriptions on any connection: all of them, or the one with id (when not NULL). */
static int sub_each(sqlite3 *db, const char *id, void (*cb)(void *ctx, const fg_store_sub_t *sub),
                    void *ctx, int *count)
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
        fg_store_sub_t sub = {
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

int fg_store_sub_each(fg_store_t *s, void (*cb)(void *ctx, const fg_store_sub_t *sub), void *ctx)
{
    int count;
    return sub_each(s->db, NULL, cb, ctx, &count);
}

int fg_store_reader_subs(fg_store_reader_t *r, const char *id,
                         void (*cb)(void *ctx, const fg_store_sub_t *sub), void *ctx)
{
    int count;
    int rc = sub_each(r->db, id, cb, ctx, &count);
    if (rc == FG_OK && id != NULL && count == 0)
        return FG_ERR_NOT_FOUND;
    return rc;
}

int fg_store_delivery_add(fg_store_t *s, const char *id, const char *sub_id, uint64_t seq,
                          const char *run_id, int64_t now_us)
{
    sqlite3_bind_text(s->delivery_add, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->delivery_add, 2, sub_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->delivery_add, 3, (sqlite3_int64)seq);
    if (run_id != NULL && run_id[0] != '\0')
        sqlite3_bind_text(s->delivery_add, 4, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->delivery_add, 5, now_us);
    if (fg_store_db_step(s->delivery_add) != FG_OK)
        return fg_store_db_error(s->db, "delivery_add");
    s->tx_pending++;
    return FG_OK;
}

int fg_store_attempt_record(fg_store_t *s, const fg_store_attempt_t *a, int64_t now_us)
{
    /* the status it leaves, for the outbox gauges (a delivery deleted meanwhile has none) */
    sqlite3_stmt *st = s->delivery_status;
    sqlite3_bind_text(st, 1, a->sub_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->delivery_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), was = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fg_store_db_error(s->db, "attempt_record");
    st = s->attempt_add;
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
        return fg_store_db_error(s->db, "attempt_record");
    st = s->delivery_set;
    sqlite3_bind_text(st, 1, a->delivery_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, a->new_status);
    sqlite3_bind_int(st, 3, (int)a->attempt);
    sqlite3_bind_int64(st, 4, a->next_at_us);
    sqlite3_bind_int64(st, 5, now_us);
    sqlite3_bind_text(st, 6, a->sub_id, -1, SQLITE_STATIC);
    if (fg_store_db_step(st) != FG_OK)
        return fg_store_db_error(s->db, "attempt_record");
    if (was >= 0) {
        s->tx_pending -= was == FG_DELIVERY_PENDING;
        s->tx_retrying -= was == FG_DELIVERY_FAILED;
        s->tx_pending += a->new_status == FG_DELIVERY_PENDING;
        s->tx_retrying += a->new_status == FG_DELIVERY_FAILED;
    }
    return FG_OK;
}

int fg_store_deliveries_due_now(fg_store_t *s, const char *sub_id, int64_t now_us)
{
    sqlite3_stmt *st = NULL;
    /* walks the retry index of this subscription only */
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE deliveries SET next_at_us = ?2 WHERE sub_id = ?1 AND status = 3"
                           " AND next_at_us > ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return fg_store_db_error(s->db, "due_now");
    sqlite3_bind_text(st, 1, sub_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_us);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FG_OK : fg_store_db_error(s->db, "due_now");
}

int fg_store_delivery_retry(fg_store_t *s, const char *id, int64_t now_us)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT status FROM deliveries WHERE id=?1", -1, &st, NULL) !=
        SQLITE_OK)
        return fg_store_db_error(s->db, "delivery_retry");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int status = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return FG_ERR_NOT_FOUND;
    if (rc != SQLITE_ROW)
        return fg_store_db_error(s->db, "delivery_retry");
    if (status != FG_DELIVERY_FAILED && status != FG_DELIVERY_DEAD)
        return FG_ERR_CONFLICT;
    if (sqlite3_prepare_v2(
            s->db, "UPDATE deliveries SET status=0, next_at_us=?2, updated_us=?2 WHERE id=?1", -1,
            &st, NULL) != SQLITE_OK)
        return fg_store_db_error(s->db, "delivery_retry");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_us);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fg_store_db_error(s->db, "delivery_retry");
    s->tx_retrying -= status == FG_DELIVERY_FAILED;
    s->tx_pending++;
    return FG_OK;
}

/* Events after ?1, received between ?2 and ?3 (0: no bound), bound by bind_range. */
#define EVENT_RANGE                                                                                \
    " WHERE seq > ?1 AND (?2 = 0 OR received_us >= ?2) AND (?3 = 0 OR received_us <= ?3)"

static void bind_range(sqlite3_stmt *st, uint64_t after_seq, int64_t since_us, int64_t until_us)
{
    sqlite3_bind_int64(st, 1, (sqlite3_int64)after_seq);
    sqlite3_bind_int64(st, 2, since_us);
    sqlite3_bind_int64(st, 3, until_us);
}

int fg_store_events_each(fg_store_t *s, uint64_t after_seq, int64_t since_us, int64_t until_us,
                         size_t max, int (*cb)(void *ctx, const fg_store_event_ref_t *ev),
                         void *ctx, bool *more)
{
    sqlite3_stmt *st = NULL;
    *more = false;
    if (sqlite3_prepare_v2(
            s->db,
            "SELECT seq, type, coalesce(run_id,''), coalesce(workflow,'') FROM events" EVENT_RANGE
            " ORDER BY seq LIMIT ?4",
            -1, &st, NULL) != SQLITE_OK)
        return fg_store_db_error(s->db, "events_each");
    bind_range(st, after_seq, since_us, until_us);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)max + 1);
    int rc, err = FG_OK;
    size_t n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == max) {
            *more = true;
            break;
        }
        fg_store_event_ref_t ev = {.seq = (uint64_t)sqlite3_column_int64(st, 0),
                                   .type = (const char *)sqlite3_column_text(st, 1),
                                   .run_id = (const char *)sqlite3_column_text(st, 2),
                                   .workflow = (const char *)sqlite3_column_text(st, 3)};
        if ((err = cb(ctx, &ev)) != FG_OK)
            break;
    }
    sqlite3_finalize(st);
    if (err != FG_OK)
        return err;
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? FG_OK : fg_store_db_error(s->db, "events_each");
}

int fg_store_reader_count_events(fg_store_reader_t *r, uint64_t after_seq, int64_t since_us,
                                 int64_t until_us, uint64_t max, uint64_t *n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db,
                           "SELECT count(*) FROM (SELECT 1 FROM events" EVENT_RANGE " LIMIT ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        return fg_store_db_error(r->db, "count_events");
    bind_range(st, after_seq, since_us, until_us);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)max);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? FG_OK : fg_store_db_error(r->db, "count_events");
}

int fg_store_sub_set_enabled(fg_store_t *s, const char *id, bool enabled, int64_t now_us)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "UPDATE subscriptions SET enabled=?2, updated_us=?3 WHERE id=?1",
                           -1, &st, NULL) != SQLITE_OK)
        return fg_store_db_error(s->db, "sub_set_enabled");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, enabled);
    sqlite3_bind_int64(st, 3, now_us);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fg_store_db_error(s->db, "sub_set_enabled");
    return sqlite3_changes(s->db) > 0 ? subs_changed(s) : FG_ERR_NOT_FOUND;
}

int fg_store_delivery_count(fg_store_t *s, const char *sub_id, int status, uint64_t *n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM deliveries WHERE sub_id=?1 AND status=?2",
                           -1, &st, NULL) != SQLITE_OK)
        return fg_store_db_error(s->db, "delivery_count");
    sqlite3_bind_text(st, 1, sub_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, status);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? FG_OK : fg_store_db_error(s->db, "delivery_count");
}

/* Runs sql with ?1 = floor and ?2 = limit (when it has one); adds the rows changed to *n. */
static int retain_step(sqlite3 *db, const char *sql, uint64_t floor, size_t limit, uint64_t *n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return FG_ERR_IO;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)floor);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return FG_ERR_IO;
    if (n != NULL)
        *n += (uint64_t)sqlite3_changes(db);
    return FG_OK;
}

int fg_store_retain(fg_store_t *s, int64_t min_received_us, uint64_t max_events, size_t chunk,
                    fg_store_retained_t *out)
{
    memset(out, 0, sizeof(*out));
    int rc;
    uint64_t first = fg_store_db_u64(s->db, "SELECT coalesce(min(seq), 0) FROM events", &rc);
    if (rc != SQLITE_OK)
        return fg_store_db_error(s->db, "retain");
    /* The newest sequence to delete: by count, then by age (seq grows with time). */
    uint64_t cut = 0;
    uint64_t last = atomic_load(&s->last_seq);
    if (first > 0 && max_events > 0 && last > max_events)
        cut = last - max_events;
    if (first > 0 && min_received_us > 0) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db,
                               "SELECT max(seq) FROM events WHERE seq < ?2 + ?3 AND "
                               "received_us < ?1",
                               -1, &st, NULL) != SQLITE_OK)
            return fg_store_db_error(s->db, "retain");
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
    uint64_t floor = atomic_load(&s->purged_through);
    if (first > 0 && cut >= first && cut > floor)
        floor = cut;
    if (floor == 0)
        return FG_OK;
    /* Below the floor: settled deliveries oldest first (attempts go with their delivery), and
     * finished runs (completed, failed, cancelled: FG_RUN_* 2, 3, 5) whose last status event is
     * gone; a run still going keeps its row. Both delivery statements pick the same rows. */
    if (fg_store_db_exec(s->db, "BEGIN IMMEDIATE") != FG_OK)
        return fg_store_db_error(s->db, "retain");
    if ((first > 0 && cut >= first &&
         (retain_step(s->db, "DELETE FROM events WHERE seq <= ?1", cut, 0, &out->events) != FG_OK ||
          retain_step(s->db, "UPDATE meta SET value = max(value, ?1) WHERE key = 'purged_through'",
                      cut, 0, NULL) != FG_OK)) ||
        retain_step(s->db,
                    "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries"
                    " WHERE seq <= ?1 AND status IN (2, 4) ORDER BY seq LIMIT ?2)",
                    floor, 4 * chunk, NULL) != FG_OK ||
        retain_step(s->db,
                    "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries"
                    " WHERE seq <= ?1 AND status IN (2, 4) ORDER BY seq LIMIT ?2)",
                    floor, 4 * chunk, &out->deliveries) != FG_OK ||
        retain_step(s->db,
                    "DELETE FROM runs WHERE run_id IN (SELECT run_id FROM runs"
                    " WHERE updated_seq <= ?1 AND status IN (2, 3, 5) LIMIT ?2)",
                    floor, chunk, &out->runs) != FG_OK ||
        fg_store_db_exec(s->db, "COMMIT") != FG_OK) {
        int err = fg_store_db_error(s->db, "retain");
        fg_store_rollback(s);
        return err;
    }
    if (out->events > 0 && cut > atomic_load(&s->purged_through))
        atomic_store(&s->purged_through, cut);
    return FG_OK;
}

int fg_store_reader_open(const char *path, fg_store_reader_t **out, char *errbuf, size_t errlen)
{
    fg_store_reader_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return FG_ERR_NOMEM;
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        prepare(r->db,
                "SELECT (SELECT coalesce(max(seq),0) FROM events),"
                " (SELECT value FROM meta WHERE key='purged_through')",
                &r->bounds) != FG_OK) {
        snprintf(errbuf, errlen, "cannot open a reader on %s: %s", path,
                 r->db ? sqlite3_errmsg(r->db) : "out of memory");
        fg_store_reader_close(r);
        return FG_ERR_IO;
    }
    sqlite3_busy_timeout(r->db, 5000);
    fg_store_db_exec(r->db, "PRAGMA cache_size=-16384; PRAGMA mmap_size=268435456");
    *out = r;
    return FG_OK;
}

void fg_store_reader_close(fg_store_reader_t *r)
{
    if (r == NULL)
        return;
    sqlite3_finalize(r->bounds);
    for (size_t i = 0; i < sizeof(r->cached) / sizeof(r->cached[0]); i++)
        sqlite3_finalize(r->cached[i]);
    sqlite3_close(r->db);
    free(r);
}

/* Reads rows of one of the two due queries into out (at most cap). */
static int due_rows(fg_store_reader_t *r, int slot, const char *sql, const char *sub_id,
                    int64_t bound, size_t cap, fg_store_due_t *out, bool *due_flags, int64_t now_us,
                    size_t *n)
{
    sqlite3 *db = r->db;
    sqlite3_stmt *st = cached(r, slot, sql);
    *n = 0;
    if (st == NULL)
        return fg_store_db_error(db, "due");
    sqlite3_bind_text(st, 1, sub_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, bound);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)cap);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap) {
        fg_store_due_t *d = &out[*n];
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
    uint64_t x = ((const fg_store_due_t *)a)->seq, y = ((const fg_store_due_t *)b)->seq;
    return x < y ? -1 : x > y;
}

#define DUE_WINDOW 512 /* pending rows looked at per round for per-run ordering */

int fg_store_reader_due(fg_store_reader_t *r, const char *sub_id, int64_t now_us, bool per_run,
                        uint64_t from_seq, size_t limit, fg_store_due_t *out, size_t *n)
{
    /* Each walk follows a partial index: pending rows in sequence order, failed rows by when
     * they are due; neither looks at more rows than it returns (per-run: a fixed window). */
    static const char *pending_sql = "SELECT id, seq, coalesce(run_id,''), attempts, next_at_us"
                                     " FROM deliveries WHERE sub_id=?1 AND status = 0"
                                     " AND seq >= ?2 ORDER BY seq LIMIT ?3";
    static const char *retry_sql = "SELECT id, seq, coalesce(run_id,''), attempts, next_at_us"
                                   " FROM deliveries WHERE sub_id=?1 AND status = 3"
                                   " AND next_at_us <= ?2 ORDER BY next_at_us LIMIT ?3";
    *n = 0;
    if (limit == 0)
        return FG_OK;
    if (!per_run) {
        fg_store_due_t *tmp = malloc(2 * limit * sizeof(*tmp));
        size_t np = 0, nf = 0;
        int rc = tmp ? due_rows(r, C_PENDING, pending_sql, sub_id, (int64_t)from_seq, limit, tmp,
                                NULL, now_us, &np)
                     : FG_ERR_NOMEM;
        if (rc == FG_OK)
            rc =
                due_rows(r, C_RETRY, retry_sql, sub_id, now_us, limit, tmp + np, NULL, now_us, &nf);
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
    fg_store_due_t *failed = malloc(cap_f * sizeof(*failed));
    bool *failed_due = malloc(cap_f * sizeof(*failed_due));
    fg_store_due_t *pend = malloc(DUE_WINDOW * sizeof(*pend));
    size_t nf = 0, np = 0;
    int rc = failed && failed_due && pend ? FG_OK : FG_ERR_NOMEM;
    if (rc == FG_OK)
        rc = due_rows(r, C_RETRY, retry_sql, sub_id, INT64_MAX, cap_f, failed, failed_due, now_us,
                      &nf);
    if (rc == FG_OK)
        rc = due_rows(r, C_PENDING, pending_sql, sub_id, 0, DUE_WINDOW, pend, NULL, now_us, &np);
    if (rc == FG_OK) {
        fg_store_due_t *cand = malloc((nf + np) * sizeof(*cand) + 1);
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

static void delivery_row(sqlite3_stmt *st, fg_store_delivery_t *d)
{
    d->id = (const char *)sqlite3_column_text(st, 0);
    d->sub_id = (const char *)sqlite3_column_text(st, 1);
    d->seq = (uint64_t)sqlite3_column_int64(st, 2);
    d->status = sqlite3_column_int(st, 3);
    d->attempts = (unsigned)sqlite3_column_int(st, 4);
    d->next_at_us = sqlite3_column_int64(st, 5);
    d->created_us = sqlite3_column_int64(st, 6);
    d->updated_us = sqlite3_column_int64(st, 7);
}

#define DELIVERY_COLUMNS "id, sub_id, seq, status, attempts, next_at_us, created_us, updated_us"

int fg_store_reader_deliveries(fg_store_reader_t *r, const char *sub_id, int status,
                               const char *after, size_t limit,
                               void (*cb)(void *ctx, const fg_store_delivery_t *d), void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db,
                           "SELECT " DELIVERY_COLUMNS " FROM deliveries WHERE sub_id=?1"
                           " AND (?2 < 0 OR status=?2) AND id > ?3 ORDER BY id LIMIT ?4",
                           -1, &st, NULL) != SQLITE_OK)
        return fg_store_db_error(r->db, "deliveries");
    sqlite3_bind_text(st, 1, sub_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, status);
    sqlite3_bind_text(st, 3, after, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fg_store_delivery_t d;
        delivery_row(st, &d);
        cb(ctx, &d);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FG_OK : fg_store_db_error(r->db, "deliveries");
}

int fg_store_reader_delivery(fg_store_reader_t *r, const char *id,
                             void (*cb)(void *ctx, const fg_store_delivery_t *d),
                             void (*attempt_cb)(void *ctx, const fg_store_attempt_row_t *a),
                             void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT " DELIVERY_COLUMNS " FROM deliveries WHERE id=?1", -1,
                           &st, NULL) != SQLITE_OK)
        return fg_store_db_error(r->db, "delivery");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        fg_store_delivery_t d;
        delivery_row(st, &d);
        cb(ctx, &d);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return FG_ERR_NOT_FOUND;
    if (rc != SQLITE_ROW)
        return fg_store_db_error(r->db, "delivery");
    if (sqlite3_prepare_v2(r->db,
                           "SELECT n, at_us, duration_us, coalesce(http_status,0), error, response"
                           " FROM attempts WHERE delivery_id=?1 ORDER BY n",
                           -1, &st, NULL) != SQLITE_OK)
        return fg_store_db_error(r->db, "delivery");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fg_store_attempt_row_t a = {.n = (unsigned)sqlite3_column_int(st, 0),
                                    .at_us = sqlite3_column_int64(st, 1),
                                    .duration_us = sqlite3_column_int64(st, 2),
                                    .http_status = sqlite3_column_int(st, 3),
                                    .error = (const char *)sqlite3_column_text(st, 4),
                                    .response = (const char *)sqlite3_column_text(st, 5)};
        attempt_cb(ctx, &a);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? FG_OK : fg_store_db_error(r->db, "delivery");
}

int fg_store_reader_subs_version(fg_store_reader_t *r, uint64_t *version)
{
    int rc;
    uint64_t v = fg_store_db_u64(r->db, "SELECT value FROM meta WHERE key = 'subs_version'", &rc);
    if (rc != SQLITE_OK)
        return fg_store_db_error(r->db, "subs_version");
    *version = v;
    return FG_OK;
}

int fg_store_reader_event_json(fg_store_reader_t *r, uint64_t seq, char **json, size_t *len)
{
    sqlite3_stmt *st = cached(r, C_EVENT_JSON, "SELECT body FROM events WHERE seq=?1");
    if (st == NULL)
        return fg_store_db_error(r->db, "event_json");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    int rc = sqlite3_step(st), err = FG_OK;
    if (rc == SQLITE_ROW) {
        *len = (size_t)sqlite3_column_bytes(st, 0);
        *json = malloc(*len + 1);
        if (*json == NULL) {
            err = FG_ERR_NOMEM;
        } else {
            memcpy(*json, sqlite3_column_text(st, 0), *len);
            (*json)[*len] = '\0';
        }
    } else {
        err = rc == SQLITE_DONE ? FG_ERR_NOT_FOUND : fg_store_db_error(r->db, "event_json");
    }
    sqlite3_reset(st);
    return err;
}

int fg_store_reader_bounds(fg_store_reader_t *r, uint64_t *last_seq, uint64_t *purged_through)
{
    int rc = sqlite3_step(r->bounds);
    if (rc == SQLITE_ROW) {
        *last_seq = (uint64_t)sqlite3_column_int64(r->bounds, 0);
        *purged_through = (uint64_t)sqlite3_column_int64(r->bounds, 1);
    }
    sqlite3_reset(r->bounds);
    return rc == SQLITE_ROW ? FG_OK : fg_store_db_error(r->db, "bounds");
}

/* Appends " AND col IN (?k,…)" with n numbered placeholders starting at *next. */
static int in_list(fg_buf_t *sql, const char *col, size_t n, int *next)
{
    int rc = fg_buf_printf(sql, " AND %s IN (", col);
    for (size_t i = 0; i < n; i++)
        rc |= fg_buf_printf(sql, "%s?%d", i ? "," : "", (*next)++);
    return rc | fg_buf_puts(sql, n ? ")" : "NULL)");
}

/* Builds "SELECT … WHERE seq > ?1 AND seq <= ?2 [AND type IN (…)] [AND run_id IN (…)]
 * [AND workflow IN (…)] ORDER BY seq LIMIT ?3", the filter's values numbered from ?4 on in
 * that order. */
static int build_query(const fg_catalog_t *cat, const fg_filter_t *f, fg_buf_t *sql)
{
    int next = 4;
    int rc = fg_buf_puts(sql, "SELECT seq, type, id, run_id, workflow, body FROM events"
                              " WHERE seq > ?1 AND seq <= ?2");
    if (!f->any_type) {
        size_t ntypes = 0;
        for (size_t i = 0; i < fg_catalog_count(cat); i++)
            ntypes += fg_filter_type_ok(f, (int)i);
        rc |= in_list(sql, "type", ntypes, &next);
    }
    if (f->nruns > 0)
        rc |= in_list(sql, "run_id", f->nruns, &next);
    if (f->nworkflows > 0)
        rc |= in_list(sql, "workflow", f->nworkflows, &next);
    rc |= fg_buf_puts(sql, " ORDER BY seq LIMIT ?3");
    return rc == FG_OK ? FG_OK : FG_ERR_NOMEM;
}

int fg_store_read(fg_store_reader_t *r, const fg_catalog_t *cat, const fg_filter_t *f,
                  uint64_t after, uint64_t upto, size_t limit, fg_event_t **out, size_t *n,
                  uint64_t *scanned_to)
{
    *n = 0;
    *scanned_to = upto;
    if (upto <= after || limit == 0)
        return FG_OK;
    fg_buf_t sql;
    fg_buf_init(&sql, 64 * 1024);
    if (build_query(cat, f, &sql) != FG_OK) {
        fg_buf_dispose(&sql);
        return FG_ERR_NOMEM;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db, sql.data, (int)sql.len, &st, NULL);
    fg_buf_dispose(&sql);
    if (rc != SQLITE_OK)
        return fg_store_db_error(r->db, "read_prepare");
    int p = 1;
    sqlite3_bind_int64(st, p++, (sqlite3_int64)after);
    sqlite3_bind_int64(st, p++, (sqlite3_int64)upto);
    sqlite3_bind_int64(st, p++, (sqlite3_int64)limit);
    if (!f->any_type) {
        for (size_t i = 0; i < fg_catalog_count(cat); i++) {
            if (fg_filter_type_ok(f, (int)i))
                sqlite3_bind_text(st, p++, fg_catalog_type(cat, i)->name, -1, SQLITE_STATIC);
        }
    }
    for (size_t i = 0; i < f->nruns; i++)
        sqlite3_bind_text(st, p++, f->runs[i], -1, SQLITE_STATIC);
    for (size_t i = 0; i < f->nworkflows; i++)
        sqlite3_bind_text(st, p++, f->workflows[i], -1, SQLITE_STATIC);

    int err = FG_OK;
    size_t rows = 0;
    uint64_t last = after;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        last = (uint64_t)sqlite3_column_int64(st, 0);
        const char *type = (const char *)sqlite3_column_text(st, 1);
        int idx = type ? fg_catalog_find(cat, type, strlen(type)) : -1;
        if (idx < 0)
            continue;
        const char *body = (const char *)sqlite3_column_text(st, 5);
        size_t body_len = (size_t)sqlite3_column_bytes(st, 5);
        fg_event_t *ev = fg_event_create(last, idx, fg_catalog_type(cat, (size_t)idx)->name,
                                         (const char *)sqlite3_column_text(st, 2),
                                         (const char *)sqlite3_column_text(st, 3),
                                         (const char *)sqlite3_column_text(st, 4), body, body_len);
        if (ev == NULL) {
            err = FG_ERR_NOMEM;
            break;
        }
        out[(*n)++] = ev;
    }
    if (err == FG_OK && rc != SQLITE_DONE)
        err = fg_store_db_error(r->db, "read");
    sqlite3_finalize(st);
    if (err != FG_OK) {
        for (size_t i = 0; i < *n; i++)
            fg_event_release(out[i]);
        *n = 0;
        return err;
    }
    if (rows == limit)
        *scanned_to = last;
    return FG_OK;
}

void fg_store_outbox_backlog(const fg_store_t *s, uint64_t *pending, uint64_t *retrying)
{
    int64_t p = atomic_load(&((fg_store_t *)s)->pending);
    int64_t f = atomic_load(&((fg_store_t *)s)->retrying);
    *pending = p > 0 ? (uint64_t)p : 0;
    *retrying = f > 0 ? (uint64_t)f : 0;
}

int fg_store_reader_outbox_gauges(fg_store_reader_t *r, fg_store_outbox_gauges_t *g)
{
    /* the small subscriptions table; the backlog comes from fg_store_outbox_backlog */
    sqlite3_stmt *st = cached(r, C_OUTBOX_GAUGES,
                              "SELECT (SELECT count(*) FROM subscriptions WHERE enabled = 0),"
                              " (SELECT count(*) FROM subscriptions)");
    if (st == NULL)
        return fg_store_db_error(r->db, "outbox_gauges");
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        g->disabled_subs = (uint64_t)sqlite3_column_int64(st, 0);
        g->subs = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? FG_OK : fg_store_db_error(r->db, "outbox_gauges");
}

sqlite3 *fg_store_db(fg_store_t *s)
{
    return s->db;
}

sqlite3 *fg_store_reader_db(fg_store_reader_t *r)
{
    return r->db;
}
