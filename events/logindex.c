/*
 * logindex.c - the log search index's writer side (logindex.h): one thread of its own.
 *
 * The index is a file beside the store (logindex.db), derived from it and never needed to
 * answer: FTS5's trigram tokenizer over each log line's text as people read it (escape
 * sequences removed), rowid = the event's seq, with detail=none (which rows hold each trigram,
 * not where: about half the size, cheaper writes; the read side checks every candidate). meta
 * holds the format version, the store's epoch and seq, the last event looked at.
 *
 * Why a thread and a file of its own: indexing a line costs ~25 µs (tokenising ~100 trigrams,
 * merging segments), 2-3 times what storing it costs, and a transaction on the index costs more
 * than one on the log. Done in the writer's commits it took a publish of lines from 66,000 to
 * 25,000 events/s. Here it reads what the log has committed, a chunk per transaction on its own
 * file (no lock shared with the writer), at the lowest CPU priority (SCHED_IDLE: it uses what
 * the gateway leaves), so publishing does not wait for it; searches look the indexed part up and
 * read the lines past it.
 */
#include "events/logindex.h"
#include "events/ansi.h"
#include "events/buf.h"
#include "events/err.h"
#include "events/log.h"
#include "events/store_db.h"
#include "events/timefmt.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_LINES 2000   /* lines indexed per transaction */
#define CHUNK_EVENTS 50000 /* events looked at per transaction (other types are skipped) */
#define TRIM_CHUNK 5000    /* index rows removed per transaction after retention */
#define IDLE_MS 100        /* the wait for new events when caught up */

static const char *schema =
    "CREATE VIRTUAL TABLE IF NOT EXISTS log_fts USING fts5(line, tokenize='trigram',"
    " detail='none');"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('version', 0), ('epoch', 0), ('seq', 0);";

struct fg_logindex {
    fg_store_t *store;    /* immutable after start; its accessors are any-thread */
    char path[4200];      /* immutable after start */
    bool force;           /* immutable after start: rebuild */
    pthread_t thread;     /* start/stop only */
    pthread_mutex_t lock; /* guards stop (with cond) */
    pthread_cond_t cond;
    bool stop;                /* lock */
    _Atomic uint64_t covered; /* the last event looked at (committed to the index) */
    atomic_bool ready;        /* the file is open and this store's: searches may use it */
    /* the thread's own */
    sqlite3 *db;                  /* the index file */
    fg_store_reader_t *reader;    /* the log, read */
    sqlite3_stmt *ins, *mark;     /* INSERT INTO log_fts; UPDATE meta seq */
    uint64_t seqs[CHUNK_LINES];   /* the chunk being indexed: its events' seqs, */
    size_t offs[CHUNK_LINES + 1]; /* where each one's JSON begins in bodies */
    fg_buf_t bodies;
    size_t nchunk;
    char *text; /* the line being indexed, stripped */
    size_t text_cap;
    uint64_t trimmed; /* retention's point already applied */
};

static bool exec_ok(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

static uint64_t meta_get(sqlite3 *db, const char *key)
{
    sqlite3_stmt *st = NULL;
    uint64_t v = 0;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = (uint64_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

int fg_logindex_remove(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[4210];
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        if (unlink(p) != 0 && errno != ENOENT) {
            fg_log(FG_LOG_ERROR, "log_index_remove_failed", "file=%s error=\"%s\"", p,
                   strerror(errno));
            return FG_ERR_IO;
        }
    }
    return FG_OK;
}

/* Opens the index file as it is; FG_OK or FG_ERR_IO (FG_ERR_CORRUPT when it is not usable). */
static int open_file(fg_logindex_t *li)
{
    int rc = sqlite3_open_v2(
        li->path, &li->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(li->db, 5000);
        rc = sqlite3_exec(li->db,
                          "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                          " PRAGMA cache_size=-8192",
                          NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(li->db, schema, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return FG_OK;
    fg_log(FG_LOG_WARN, "log_index_unusable", "file=%s error=\"%s\"", li->path,
           li->db ? sqlite3_errmsg(li->db) : sqlite3_errstr(rc));
    sqlite3_close(li->db);
    li->db = NULL;
    return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? FG_ERR_CORRUPT : FG_ERR_IO;
}

/* Opens the index, made anew when asked, missing, damaged, of another version or of another
 * store (epoch), or ahead of the store. *rebuilt says whether it starts empty. */
static int open_index(fg_logindex_t *li, bool *rebuilt)
{
    *rebuilt = li->force;
    if (li->force && fg_logindex_remove(li->path) != FG_OK)
        return FG_ERR_IO;
    int rc = open_file(li);
    if (rc == FG_OK && !*rebuilt &&
        (meta_get(li->db, "version") != FG_LOGINDEX_VERSION ||
         meta_get(li->db, "epoch") != fg_store_epoch(li->store) ||
         meta_get(li->db, "seq") > fg_store_last_seq(li->store))) {
        sqlite3_close(li->db);
        li->db = NULL;
        rc = FG_ERR_CORRUPT; /* not this store's: made anew */
    }
    if (rc == FG_ERR_CORRUPT) {
        *rebuilt = true;
        if (fg_logindex_remove(li->path) != FG_OK || (rc = open_file(li)) != FG_OK)
            return rc;
    }
    if (rc != FG_OK)
        return rc;
    char meta[160];
    snprintf(meta, sizeof(meta),
             "UPDATE meta SET value = %d WHERE key = 'version'; UPDATE meta SET value = %lld"
             " WHERE key = 'epoch'",
             FG_LOGINDEX_VERSION, (long long)fg_store_epoch(li->store));
    if (!exec_ok(li->db, meta) ||
        sqlite3_prepare_v3(li->db, "INSERT INTO log_fts(rowid, line) VALUES (?1, ?2)", -1,
                           SQLITE_PREPARE_PERSISTENT, &li->ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(li->db, "UPDATE meta SET value = ?1 WHERE key = 'seq'", -1,
                           SQLITE_PREPARE_PERSISTENT, &li->mark, NULL) != SQLITE_OK)
        return FG_ERR_IO;
    atomic_store(&li->covered, meta_get(li->db, "seq"));
    return FG_OK;
}

/* Indexes one stored log_line event (its JSON text) as seq. */
static int index_line(fg_logindex_t *li, uint64_t seq, const char *json, size_t len)
{
    json_t *obj = json_loadb(json, len, JSON_DISABLE_EOF_CHECK, NULL);
    json_t *line = json_object_get(obj, "line");
    size_t n = json_string_length(line);
    if (!json_is_string(line)) { /* validation requires it: an event stored by hand */
        json_decref(obj);
        return FG_OK;
    }
    if (n + 1 > li->text_cap) {
        size_t cap = n + 1 > 2 * li->text_cap ? n + 1 : 2 * li->text_cap;
        char *t = realloc(li->text, cap);
        if (t == NULL) {
            json_decref(obj);
            return FG_ERR_NOMEM;
        }
        li->text = t;
        li->text_cap = cap;
    }
    memcpy(li->text, json_string_value(line), n);
    json_decref(obj);
    n = fg_ansi_strip(li->text, n);
    sqlite3_bind_int64(li->ins, 1, (sqlite3_int64)seq);
    sqlite3_bind_text(li->ins, 2, li->text, (int)n, SQLITE_STATIC);
    int rc = sqlite3_step(li->ins);
    sqlite3_reset(li->ins);
    return rc == SQLITE_DONE ? FG_OK : FG_ERR_IO;
}

/* Copies the next chunk of committed log lines after covered into li's chunk, in one short
 * read transaction (a long one would keep the store's checkpoints from resetting its log).
 * *at: the last event looked at; *top: the log's last committed event. */
static int read_chunk(fg_logindex_t *li, uint64_t *at, uint64_t *top)
{
    sqlite3 *rdb = fg_store_reader_db(li->reader);
    uint64_t from = atomic_load(&li->covered);
    *at = from;
    *top = from;
    li->nchunk = 0;
    li->bodies.len = 0;
    if (!exec_ok(rdb, "BEGIN"))
        return FG_ERR_IO;
    sqlite3_stmt *st = NULL;
    int rc = FG_ERR_IO;
    /* what the log holds committed in this snapshot (a number given out may still be in the
     * writer's transaction) */
    if (sqlite3_prepare_v2(rdb, "SELECT coalesce(max(seq), 0) FROM events", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        *top = (uint64_t)sqlite3_column_int64(st, 0);
        rc = FG_OK;
    }
    sqlite3_finalize(st);
    st = NULL;
    uint64_t upto = *top < from + CHUNK_EVENTS ? *top : from + CHUNK_EVENTS;
    if (rc == FG_OK && upto > from) {
        rc = sqlite3_prepare_v2(rdb,
                                "SELECT seq, body FROM events WHERE seq > ?1 AND seq <= ?2 AND"
                                " type = 'log_line' ORDER BY seq LIMIT ?3",
                                -1, &st, NULL) == SQLITE_OK
                 ? FG_OK
                 : FG_ERR_IO;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)upto);
        sqlite3_bind_int(st, 3, CHUNK_LINES);
        *at = upto; /* a short chunk looked at everything up to upto */
        int step = SQLITE_DONE;
        while (rc == FG_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
            uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
            li->seqs[li->nchunk] = seq;
            li->offs[li->nchunk] = li->bodies.len;
            if (fg_buf_append(&li->bodies, sqlite3_column_text(st, 1),
                              (size_t)sqlite3_column_bytes(st, 1)) != FG_OK)
                rc = FG_ERR_NOMEM;
            if (++li->nchunk == CHUNK_LINES)
                *at = seq;
        }
        if (rc == FG_OK && step != SQLITE_DONE)
            rc = FG_ERR_IO;
        li->offs[li->nchunk] = li->bodies.len;
    }
    sqlite3_finalize(st);
    exec_ok(rdb, "COMMIT");
    return rc;
}

/* Indexes the next chunk of committed lines; *lines counts them, *more says the log goes on. */
static int index_chunk(fg_logindex_t *li, size_t *lines, bool *more)
{
    *lines = 0;
    *more = false;
    uint64_t at, top;
    int rc = read_chunk(li, &at, &top);
    if (rc != FG_OK || at == atomic_load(&li->covered))
        return rc;
    if (!exec_ok(li->db, "BEGIN IMMEDIATE"))
        return FG_ERR_IO;
    for (size_t i = 0; i < li->nchunk && rc == FG_OK; i++)
        rc = index_line(li, li->seqs[i], li->bodies.data + li->offs[i],
                        li->offs[i + 1] - li->offs[i]);
    sqlite3_bind_int64(li->mark, 1, (sqlite3_int64)at);
    if (rc == FG_OK && (sqlite3_step(li->mark) != SQLITE_DONE || !exec_ok(li->db, "COMMIT")))
        rc = FG_ERR_IO;
    sqlite3_reset(li->mark);
    if (rc != FG_OK) {
        exec_ok(li->db, "ROLLBACK");
        return rc;
    }
    atomic_store(&li->covered, at);
    *lines = li->nchunk;
    *more = at < top;
    return FG_OK;
}

/* Lines gone from the log leave the index, a chunk per transaction; *more when some are left. */
static int trim(fg_logindex_t *li, bool *more)
{
    *more = false;
    uint64_t purged = fg_store_purged_through(li->store);
    if (purged <= li->trimmed)
        return FG_OK;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(li->db,
                                "DELETE FROM log_fts WHERE rowid IN (SELECT rowid FROM log_fts"
                                " WHERE rowid <= ?1 ORDER BY rowid LIMIT ?2)",
                                -1, &st, NULL) == SQLITE_OK
                 ? FG_OK
                 : FG_ERR_IO;
    if (rc == FG_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)purged);
        sqlite3_bind_int(st, 2, TRIM_CHUNK);
        rc = sqlite3_step(st) == SQLITE_DONE ? FG_OK : FG_ERR_IO;
    }
    sqlite3_finalize(st);
    if (rc == FG_OK && sqlite3_changes(li->db) == TRIM_CHUNK)
        *more = true;
    else if (rc == FG_OK)
        li->trimmed = purged;
    return rc;
}

static void *indexer_main(void *arg)
{
    fg_logindex_t *li = arg;
    /* the lowest priority: the CPU the gateway leaves (searches read past what is not indexed) */
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    int64_t t0 = fg_time_mono_ms();
    uint64_t applied = 0;
    bool rebuilt = false, reported = false, failed = false;
    char err[256];
    if (open_index(li, &rebuilt) != FG_OK ||
        fg_store_reader_open(li->store, &li->reader, err, sizeof(err)) != FG_OK ||
        !exec_ok(fg_store_reader_db(li->reader), "PRAGMA cache_size=-2048")) { /* read once */
        fg_log(FG_LOG_ERROR, "log_index_failed", "file=%s searches read the lines", li->path);
        failed = true;
    } else {
        atomic_store(&li->ready, true);
    }
    pthread_mutex_lock(&li->lock);
    while (!li->stop) {
        pthread_mutex_unlock(&li->lock);
        size_t lines = 0;
        bool more = false, more_trim = false;
        if (!failed && (index_chunk(li, &lines, &more) != FG_OK || trim(li, &more_trim) != FG_OK)) {
            fg_log(FG_LOG_ERROR, "log_index_failed", "file=%s error=\"%s\" searches read the lines",
                   li->path, sqlite3_errmsg(li->db));
            failed = true; /* made anew at the next start */
        }
        applied += lines;
        if (!failed && !more && !reported) {
            reported = true;
            fg_log(FG_LOG_INFO, "log_index_synced", "rebuilt=%d events=%llu ms=%lld", rebuilt,
                   (unsigned long long)applied, (long long)(fg_time_mono_ms() - t0));
        }
        pthread_mutex_lock(&li->lock);
        if (!li->stop && (failed || (!more && !more_trim))) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += IDLE_MS * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&li->cond, &li->lock, &until);
        }
    }
    pthread_mutex_unlock(&li->lock);
    return NULL;
}

int fg_logindex_start(fg_store_t *store, const char *path, bool force, fg_logindex_t **out)
{
    fg_logindex_t *li = calloc(1, sizeof(*li));
    if (li == NULL)
        return FG_ERR_NOMEM;
    li->store = store;
    li->force = force;
    snprintf(li->path, sizeof(li->path), "%s", path);
    pthread_mutex_init(&li->lock, NULL);
    pthread_cond_init(&li->cond, NULL);
    fg_buf_init(&li->bodies, 0);
    if (pthread_create(&li->thread, NULL, indexer_main, li) != 0) {
        pthread_mutex_destroy(&li->lock);
        pthread_cond_destroy(&li->cond);
        free(li);
        return FG_ERR_IO;
    }
    *out = li;
    return FG_OK;
}

void fg_logindex_stop(fg_logindex_t *li)
{
    if (li == NULL)
        return;
    pthread_mutex_lock(&li->lock);
    li->stop = true;
    pthread_cond_signal(&li->cond);
    pthread_mutex_unlock(&li->lock);
    pthread_join(li->thread, NULL);
    sqlite3_finalize(li->ins);
    sqlite3_finalize(li->mark);
    sqlite3_close(li->db);
    fg_store_reader_close(li->reader);
    pthread_mutex_destroy(&li->lock);
    pthread_cond_destroy(&li->cond);
    free(li->text);
    fg_buf_dispose(&li->bodies);
    free(li);
}

const char *fg_logindex_ready(const fg_logindex_t *li)
{
    return li != NULL && atomic_load(&li->ready) ? li->path : NULL;
}

uint64_t fg_logindex_covered(const fg_logindex_t *li)
{
    return atomic_load(&li->covered);
}
