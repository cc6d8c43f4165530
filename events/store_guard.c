/*
 * store_guard.c - the store's mark, its start-up check and its sequence high-water file (see
 * store_guard.h). Main thread at open; fg_seqfile_write on the writer thread.
 */
#include "events/store_guard.h"
#include "events/err.h"
#include "events/timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The first column of the first row of sql as an integer; SQLite's code in *rc. */
static int64_t one_int(sqlite3 *db, const char *sql, int *rc)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    *rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (*rc == SQLITE_OK) {
        *rc = sqlite3_step(st);
        if (*rc == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        *rc = *rc == SQLITE_ROW || *rc == SQLITE_DONE ? SQLITE_OK : *rc;
    }
    sqlite3_finalize(st);
    return v;
}

/* Tables a flowgate store holds (and the run views' rv_*, and SQLite's own sqlite_*). */
static bool own_table(const char *name)
{
    static const char *const own[] = {"meta",       "events",   "runs",    "subscriptions",
                                      "deliveries", "attempts", "seq_gaps"};
    if (strncmp(name, "rv_", 3) == 0 || strncmp(name, "sqlite_", 7) == 0)
        return true;
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (strcmp(name, own[i]) == 0)
            return true;
    return false;
}

/* An unmarked database is an earlier flowgate's store when every table is one of ours, with
 * events and meta among them, meta saying schema version 1 and events holding flowgate's
 * columns. Otherwise why says what is not flowgate's (cap bytes). */
static bool earlier_store(sqlite3 *db, char *why, size_t cap)
{
    sqlite3_stmt *st = NULL;
    bool events = false, meta = false, ours = true;
    why[0] = '\0';
    if (sqlite3_prepare_v2(db,
                           "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
                           " ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        return false;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (name == NULL)
            continue;
        events = events || strcmp(name, "events") == 0;
        meta = meta || strcmp(name, "meta") == 0;
        if (ours && !own_table(name)) {
            ours = false;
            snprintf(why, cap, "its table \"%s\" is not flowgate's", name);
        }
    }
    sqlite3_finalize(st);
    if (!ours)
        return false;
    int rc;
    if (!events || !meta) {
        snprintf(why, cap, "it has no %s table", events ? "meta" : "events");
        return false;
    }
    if (one_int(db, "SELECT value FROM meta WHERE key = 'schema_version'", &rc) != 1 ||
        rc != SQLITE_OK) {
        snprintf(why, cap, "its meta table holds no flowgate schema version");
        return false;
    }
    if (sqlite3_prepare_v2(db,
                           "SELECT seq, id, type, run_id, workflow, received_us, body"
                           " FROM events LIMIT 0",
                           -1, &st, NULL) != SQLITE_OK) {
        snprintf(why, cap, "its events table is not flowgate's");
        return false;
    }
    sqlite3_finalize(st);
    return true;
}

int fg_store_guard_identify(sqlite3 *db, const char *path, bool *fresh, char *errbuf, size_t errlen)
{
    int rc;
    *fresh = false;
    /* The first read of the header: a file that is no database fails here. */
    int64_t app = one_int(db, "PRAGMA application_id", &rc);
    if (rc != SQLITE_OK) {
        snprintf(errbuf, errlen, "database %s is corrupt or not a flowgate database: %s", path,
                 sqlite3_errstr(rc));
        return rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT ? FG_ERR_CORRUPT : FG_ERR_IO;
    }
    if ((uint32_t)app == FG_STORE_APPLICATION_ID) {
        int64_t version = one_int(db, "PRAGMA user_version", &rc);
        if (rc == SQLITE_OK && version > FG_STORE_SCHEMA_VERSION) {
            snprintf(errbuf, errlen,
                     "database %s was written by a newer flowgate (schema version %" PRId64
                     "; this one knows %d)",
                     path, version, FG_STORE_SCHEMA_VERSION);
            return FG_ERR_INVALID;
        }
        return rc == SQLITE_OK ? FG_OK : FG_ERR_IO;
    }
    if (app != 0) {
        snprintf(errbuf, errlen,
                 "database %s belongs to another application (application_id 0x%08" PRIx32
                 "), not to flowgate; it was left as it is: give flowgate a data directory of "
                 "its own",
                 path, (uint32_t)app);
        return FG_ERR_INVALID;
    }
    int64_t tables = one_int(db, "SELECT count(*) FROM sqlite_master", &rc);
    if (rc != SQLITE_OK) {
        snprintf(errbuf, errlen, "database %s cannot be read: %s", path, sqlite3_errstr(rc));
        return rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT ? FG_ERR_CORRUPT : FG_ERR_IO;
    }
    if (tables == 0) {
        *fresh = true;
        return FG_OK;
    }
    char why[160];
    if (earlier_store(db, why, sizeof(why)))
        return FG_OK;
    snprintf(errbuf, errlen,
             "database %s is not a flowgate store (%s); it was left as it is: give flowgate a "
             "data directory of its own",
             path, why);
    return FG_ERR_INVALID;
}

typedef struct {
    int64_t deadline_us;
    bool stopped;
} budget_t;

static int over_budget(void *p)
{
    budget_t *b = p;
    if (fg_time_mono_us() < b->deadline_us)
        return 0;
    b->stopped = true;
    return 1; /* interrupts the statement */
}

int fg_store_guard_check(sqlite3 *db, int64_t budget_ms, bool *complete, char *why, size_t cap)
{
    *complete = false;
    why[0] = '\0';
    if (budget_ms <= 0)
        return FG_OK;
    budget_t b = {fg_time_mono_us() + budget_ms * 1000, false};
    sqlite3_progress_handler(db, 20000, over_budget, &b);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(8)", -1, &st, NULL), err = FG_OK;
    size_t used = 0;
    bool ok = false;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (line != NULL && strcmp(line, "ok") == 0) {
            ok = true;
            continue;
        }
        err = FG_ERR_CORRUPT;
        if (line != NULL && used + 3 < cap)
            used += (size_t)snprintf(why + used, cap - used, "%s%s", used ? "; " : "", line);
    }
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
        *complete = true;
    } else if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) {
        err = FG_ERR_CORRUPT;
        snprintf(why, cap, "%s", sqlite3_errmsg(db));
    } else if (!b.stopped && rc != SQLITE_OK) {
        /* another failure (I/O): the check says nothing either way */
        snprintf(why, cap, "%s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    sqlite3_progress_handler(db, 0, NULL, NULL);
    for (char *p = why; *p; p++) /* one line in the log */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (err == FG_OK && *complete && !ok)
        err = FG_ERR_CORRUPT;
    return err;
}

#define SEQFILE_BYTES 64

int fg_seqfile_open(fg_seqfile_t *f, const char *db_path, bool *found, char *errbuf, size_t errlen)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s-seq", db_path);
    *found = false;
    f->seq = f->epoch = 0;
    bool existed = access(path, F_OK) == 0;
    f->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        snprintf(errbuf, errlen, "cannot open %s: %s", path, strerror(errno));
        return FG_ERR_IO;
    }
    char buf[SEQFILE_BYTES + 1];
    ssize_t n = pread(f->fd, buf, SEQFILE_BYTES, 0);
    if (n > 0) {
        buf[n] = '\0';
        unsigned long long seq, epoch;
        if (sscanf(buf, "flowgate-seq 1 %llu %llx", &seq, &epoch) == 2) {
            f->seq = seq;
            f->epoch = epoch;
            *found = true;
        }
    }
    if (!existed) { /* the file must outlive a crash of the directory entry too */
        char dir[PATH_MAX + 8];
        snprintf(dir, sizeof(dir), "%s", path);
        int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return FG_OK;
}

int fg_seqfile_write(fg_seqfile_t *f, uint64_t seq, uint64_t epoch, bool sync)
{
    char buf[SEQFILE_BYTES];
    int n =
        snprintf(buf, sizeof(buf), "flowgate-seq 1 %020" PRIu64 " %016" PRIx64 "\n", seq, epoch);
    memset(buf + n, ' ', sizeof(buf) - (size_t)n - 1);
    buf[sizeof(buf) - 1] = '\n';
    if (f->fd < 0 || pwrite(f->fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
        (sync && fdatasync(f->fd) != 0))
        return FG_ERR_IO;
    f->seq = seq;
    f->epoch = epoch;
    return FG_OK;
}

void fg_seqfile_close(fg_seqfile_t *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}
