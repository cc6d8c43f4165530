/*
 * store_sqlite.c - the embedded event log: one SQLite file in WAL mode, its writer connection.
 *
 * The writer connection (fg_store_t) is used only by the writer thread; each reader connection
 * (store_read.c) by the one thread that opened it. SQLite runs in multi-thread mode (no
 * connection is shared).
 *
 * Tables here: events(seq PK, id UNIQUE, type, run_id, workflow, received_us, body),
 * runs(run_id PK, workflow, status, updated_seq) (the transition check's run status),
 * meta(key PK, value) (shared: each module keeps its keys), seq_gaps(after PK, upto) (sequence
 * ranges lost with a write-ahead log). The run views (runview.c) and the webhook outbox
 * (webhooks/outbox_sqlite.c) keep their own tables in the same file. The file header carries
 * flowgate's application_id and the schema version (store_guard.h).
 */
#include "events/store.h"
#include "events/log.h"
#include "events/store_db.h"
#include "events/store_guard.h"
#include "events/timefmt.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define SCHEMA_VERSION FG_STORE_SCHEMA_VERSION
#define STORE_FILE "flowgate.db"

typedef struct {
    uint64_t after, upto; /* the numbers after < seq <= upto were lost */
} gap_t;

struct fg_store {
    sqlite3 *db;
    char path[PATH_MAX]; /* immutable */
    sqlite3_stmt *find_id, *append, *run_get, *run_put, *begin, *commit, *rollback, *sp, *sp_rel,
        *sp_rb;
    fg_stmt_cache_t cache;           /* writer thread: fg_store_stmt's */
    _Atomic uint64_t last_seq;       /* written by the writer thread, read anywhere */
    _Atomic uint64_t purged_through; /* written by the writer thread, read anywhere */
    uint64_t epoch;                  /* immutable after open */
    fg_sync_mode_t sync;             /* immutable after open: as configured */
    bool relaxed; /* writer thread: the connection commits as FG_SYNC_NORMAL for now */
    gap_t *gaps;  /* lost ranges, in order: behind gaps_lock (the writer adds, any thread reads) */
    size_t ngaps; /* behind gaps_lock */
    pthread_mutex_t gaps_lock;
    gap_t *tx_gaps; /* writer thread: ranges recorded in the open transaction */
    size_t ntx_gaps, captx_gaps, sp_ntx_gaps;
    fg_seqfile_t seqfile; /* writer thread (open and close: main thread) */
    /* Transactional gauges (store_db.h): gauge is published at commit and read anywhere; tx_ is
     * the open transaction's change, sp_ its value at the savepoint (writer thread). */
    _Atomic int64_t gauge[FG_STORE_GAUGES];
    int64_t tx_gauge[FG_STORE_GAUGES], sp_gauge[FG_STORE_GAUGES];
};

sqlite3_stmt *fg_store_stmt(fg_store_t *s, const char *sql)
{
    return fg_stmt_cache_get(&s->cache, s->db, sql);
}

void fg_store_gauge_add(fg_store_t *s, unsigned slot, int64_t delta)
{
    s->tx_gauge[slot] += delta;
}

void fg_store_gauge_set(fg_store_t *s, unsigned slot, int64_t value)
{
    atomic_store(&s->gauge[slot], value);
}

int64_t fg_store_gauge(const fg_store_t *s, unsigned slot)
{
    return atomic_load(&((fg_store_t *)s)->gauge[slot]);
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK
               ? FG_OK
               : FG_ERR_IO;
}

/* The schema version is the file's as a whole: a module that changes its tables migrates them
 * itself, idempotently, when it opens (webhooks/outbox_sqlite.c). */
static const char *schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events("
    " seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, run_id TEXT,"
    " workflow TEXT, received_us INTEGER NOT NULL, body TEXT NOT NULL, traceparent TEXT);"
    "CREATE INDEX IF NOT EXISTS events_run ON events(run_id, seq);"
    "CREATE TABLE IF NOT EXISTS runs(run_id TEXT PRIMARY KEY, workflow TEXT, status INTEGER,"
    " updated_seq INTEGER) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS runs_updated ON runs(updated_seq);"
    "CREATE TABLE IF NOT EXISTS seq_gaps(after INTEGER PRIMARY KEY, upto INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('purged_through', 0);";

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
             " INSERT OR IGNORE INTO meta(key, value) VALUES ('epoch', %" PRIu64 ");"
             " INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', %d);",
             (int)FG_STORE_APPLICATION_ID, SCHEMA_VERSION, new_epoch(), SCHEMA_VERSION);
    if (fg_store_db_exec(db, "BEGIN IMMEDIATE") != FG_OK)
        return FG_ERR_IO;
    /* a store made before events had a trace context gets the column (older builds ignore it) */
    int rc;
    bool traced = fg_store_db_u64(db,
                                  "SELECT count(*) FROM pragma_table_info('events') WHERE name ="
                                  " 'traceparent'",
                                  &rc) > 0;
    bool had_events =
        fg_store_db_u64(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'events'", &rc) > 0;
    if (fg_store_db_exec(db, schema) != FG_OK || fg_store_db_exec(db, mark) != FG_OK ||
        (had_events && !traced &&
         fg_store_db_exec(db, "ALTER TABLE events ADD COLUMN traceparent TEXT") != FG_OK) ||
        fg_store_db_exec(db, "COMMIT") != FG_OK) {
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

int fg_store_open(const char *dir, fg_sync_mode_t sync, fg_store_t **out, char *errbuf,
                  size_t errlen)
{
    fg_store_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return FG_ERR_NOMEM;
    s->seqfile.fd = -1;
    s->sync = sync;
    pthread_mutex_init(&s->gaps_lock, NULL);
    if ((size_t)snprintf(s->path, sizeof(s->path), "%s/" STORE_FILE, dir) >= sizeof(s->path)) {
        snprintf(errbuf, errlen, "the data directory's path is too long: %.200s", dir);
        pthread_mutex_destroy(&s->gaps_lock);
        free(s);
        return FG_ERR_INVALID;
    }
    const char *path = s->path;
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
    /* mmap'd reads keep index pages off pread(2); the page cache stays at 8 MiB because SQLite
     * walks all of it at every commit (pcache truncation: at 64 MiB that walk was ~18 % of the
     * writer's time recording webhook outcomes; publish rates were the same either way). A larger
     * checkpoint interval writes a page dirtied by many commits back once. */
    if (fg_store_db_exec(s->db, sync_sql[sync]) != FG_OK ||
        fg_store_db_exec(s->db,
                         "PRAGMA cache_size=-8192; PRAGMA mmap_size=268435456;"
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
                "INSERT INTO events(seq,id,type,run_id,workflow,received_us,body,traceparent)"
                " VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
                &s->append) ||
        prepare(s->db, "SELECT status, workflow FROM runs WHERE run_id=?1", &s->run_get) ||
        prepare(s->db,
                "INSERT INTO runs(run_id,workflow,status,updated_seq) VALUES(?1,?2,?3,?4)"
                " ON CONFLICT(run_id) DO UPDATE SET workflow=coalesce(?2,workflow),"
                " status=coalesce(?3,status), updated_seq=?4",
                &s->run_put) ||
        prepare(s->db, "BEGIN IMMEDIATE", &s->begin) || prepare(s->db, "COMMIT", &s->commit) ||
        prepare(s->db, "ROLLBACK", &s->rollback) || prepare(s->db, "SAVEPOINT pub", &s->sp) ||
        prepare(s->db, "RELEASE pub", &s->sp_rel) || prepare(s->db, "ROLLBACK TO pub", &s->sp_rb)) {
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
    sqlite3_stmt *all[] = {s->find_id, s->append,   s->run_get, s->run_put, s->begin,
                           s->commit,  s->rollback, s->sp,      s->sp_rel,  s->sp_rb};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        sqlite3_finalize(all[i]);
    fg_stmt_cache_dispose(&s->cache);
    if (s->db != NULL)
        sqlite3_close(s->db);
    if (s->seqfile.fd >= 0)
        fg_seqfile_write(&s->seqfile, atomic_load(&s->last_seq), s->epoch, true);
    fg_seqfile_close(&s->seqfile);
    free(s->gaps);
    free(s->tx_gaps);
    pthread_mutex_destroy(&s->gaps_lock);
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
    fg_store_t *m = (fg_store_t *)s;
    fg_cursor_state_t st = FG_CURSOR_OK;
    pthread_mutex_lock(&m->gaps_lock);
    for (size_t i = 0; i < s->ngaps && st == FG_CURSOR_OK; i++)
        if (cursor > s->gaps[i].after && cursor <= s->gaps[i].upto)
            st = FG_CURSOR_LOST;
    pthread_mutex_unlock(&m->gaps_lock);
    return st;
}

/* Adds a lost range to the in-memory list (the table has it already). */
static int add_gap(fg_store_t *s, gap_t gap)
{
    pthread_mutex_lock(&s->gaps_lock);
    gap_t *g = realloc(s->gaps, (s->ngaps + 1) * sizeof(*g));
    if (g != NULL) {
        s->gaps = g;
        s->gaps[s->ngaps++] = gap;
    }
    pthread_mutex_unlock(&s->gaps_lock);
    return g != NULL ? FG_OK : FG_ERR_NOMEM;
}

int fg_store_record_gap(fg_store_t *s, uint64_t after, uint64_t upto)
{
    if (s->ntx_gaps == s->captx_gaps) {
        size_t cap = s->captx_gaps ? 2 * s->captx_gaps : 4;
        gap_t *g = realloc(s->tx_gaps, cap * sizeof(*g));
        if (g == NULL)
            return FG_ERR_NOMEM;
        s->tx_gaps = g;
        s->captx_gaps = cap;
    }
    sqlite3_stmt *st =
        fg_store_stmt(s, "INSERT OR REPLACE INTO seq_gaps(after, upto) VALUES (?1, ?2)");
    if (st == NULL)
        return fg_store_db_error(s->db, "record_gap");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)upto);
    if (fg_store_db_step(st) != FG_OK)
        return fg_store_db_error(s->db, "record_gap");
    s->tx_gaps[s->ntx_gaps++] = (gap_t){after, upto};
    return FG_OK;
}

const char *fg_store_path(const fg_store_t *s)
{
    return s->path;
}

uint64_t fg_store_purged_through(const fg_store_t *s)
{
    return atomic_load(&((fg_store_t *)s)->purged_through);
}

void fg_store_raise_purged_through(fg_store_t *s, uint64_t seq)
{
    if (seq > atomic_load(&s->purged_through))
        atomic_store(&s->purged_through, seq);
}

/* Under FG_SYNC_FULL, switches the connection between its own fsync at commit and none
 * (NORMAL: the WAL is synced at the next full commit or checkpoint, which covers what came
 * before it, as the log is append-only between checkpoints). Outside any transaction. Relaxed
 * only for a transaction begun with fg_store_begin_redo_safe: its commit or rollback sets FULL
 * again, so the connection's other transactions (retention passes, the outbox's and the run
 * views' own) keep their fsync. */
static int set_relaxed(fg_store_t *s, bool relaxed)
{
    if (s->sync != FG_SYNC_FULL || s->relaxed == relaxed)
        return FG_OK;
    if (fg_store_db_exec(s->db, relaxed ? "PRAGMA synchronous=NORMAL"
                                        : "PRAGMA synchronous=FULL") != FG_OK)
        return fg_store_db_error(s->db, "synchronous");
    s->relaxed = relaxed;
    return FG_OK;
}

static int begin(fg_store_t *s, bool relaxed)
{
    memset(s->tx_gauge, 0, sizeof(s->tx_gauge));
    if (set_relaxed(s, relaxed) != FG_OK)
        return FG_ERR_IO;
    return fg_store_db_step(s->begin) == FG_OK ? FG_OK : fg_store_db_error(s->db, "begin");
}

int fg_store_begin_redo_safe(fg_store_t *s)
{
    return begin(s, true);
}

int fg_store_begin(fg_store_t *s)
{
    return begin(s, false);
}

int fg_store_commit(fg_store_t *s, uint64_t last_seq)
{
    if (fg_store_db_step(s->commit) != FG_OK)
        return fg_store_db_error(s->db, "commit");
    set_relaxed(s, false); /* failing, the next fg_store_begin tries again */
    for (size_t i = 0; i < FG_STORE_GAUGES; i++)
        atomic_fetch_add(&s->gauge[i], s->tx_gauge[i]);
    memset(s->tx_gauge, 0, sizeof(s->tx_gauge));
    for (size_t i = 0; i < s->ntx_gaps; i++)
        if (add_gap(s, s->tx_gaps[i]) != FG_OK)
            fg_log(FG_LOG_ERROR, "out_of_memory",
                   "where=record_gap (in the table; known at restart)");
    s->ntx_gaps = 0;
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
    memset(s->tx_gauge, 0, sizeof(s->tx_gauge));
    s->ntx_gaps = 0;
    if (sqlite3_get_autocommit(s->db) == 0)
        fg_store_db_step(s->rollback);
    set_relaxed(s, false);
}

int fg_store_savepoint(fg_store_t *s)
{
    memcpy(s->sp_gauge, s->tx_gauge, sizeof(s->sp_gauge));
    s->sp_ntx_gaps = s->ntx_gaps;
    return fg_store_db_step(s->sp) == FG_OK ? FG_OK : fg_store_db_error(s->db, "savepoint");
}

int fg_store_savepoint_release(fg_store_t *s)
{
    return fg_store_db_step(s->sp_rel) == FG_OK ? FG_OK : fg_store_db_error(s->db, "release");
}

void fg_store_savepoint_rollback(fg_store_t *s)
{
    memcpy(s->tx_gauge, s->sp_gauge, sizeof(s->tx_gauge));
    s->ntx_gaps = s->sp_ntx_gaps;
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
    if (ev->traceparent[0] != '\0')
        sqlite3_bind_text(s->append, 8, ev->traceparent, -1, SQLITE_STATIC);
    if (fg_store_db_step(s->append) != FG_OK)
        return fg_store_db_error(s->db, "append");
    return FG_OK;
}

sqlite3 *fg_store_db(fg_store_t *s)
{
    return s->db;
}
