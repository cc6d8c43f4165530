/*
 * store_checkpoint.c - WAL checkpoints on a thread of their own (store_checkpoint.h).
 */
#include "events/store_checkpoint.h"
#include "events/log.h"
#include "events/store_db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

/* Under a steady stream of commits a PASSIVE checkpoint is always behind the newest frames, so
 * the WAL is never wholly copied back and never starts over: it grew by ~100 MB/s while webhook
 * outcomes were recorded, every write extending the file. Past restart_pages (twice min_pages,
 * 256 at least) the writer, between its commits, copies what the thread has not yet (when that is
 * at most half as much, and 1024 pages; past four times restart_pages, all that is left): with
 * the WAL wholly copied back, its next transaction starts it over from the beginning. */
#define RESTART_MIN 256
#define CATCH_UP_MAX 1024

struct fg_checkpointer {
    sqlite3 *db;            /* the checkpointer thread's */
    _Atomic int frames;     /* the WAL's size in pages after the writer's last commit */
    _Atomic int backfilled; /* its pages copied back by the thread's last checkpoint */
    fg_store_t *store;      /* for its writer connection's setting, at start and stop */
    int64_t every_ms;       /* immutable */
    int min_pages;          /* immutable */
    int restart_pages;      /* immutable */
    int catch_up_pages;     /* immutable */
    pthread_t thread;
    pthread_mutex_t lock; /* guards stopping */
    pthread_cond_t cond;
    bool stopping;
};

/* After each commit, on the writer thread, in place of SQLite's automatic checkpoint: the WAL's
 * size, for the checkpointer to decide on. */
static int on_wal(void *ctx, sqlite3 *db, const char *name, int frames)
{
    (void)name;
    fg_checkpointer_t *c = ctx;
    atomic_store(&c->frames, frames);
    /* past four times the threshold, whatever is left (the thread is starved of CPU) */
    if (frames >= c->restart_pages && (frames - atomic_load(&c->backfilled) <= c->catch_up_pages ||
                                       frames >= 4 * c->restart_pages)) {
        int log = 0, done = 0; /* BUSY while the thread checkpoints: the next commit tries again */
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    }
    return SQLITE_OK;
}

static void *checkpoint_main(void *arg)
{
    fg_checkpointer_t *c = arg;
    pthread_setname_np(pthread_self(), "fg-checkpoint");
    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)(c->every_ms % 1000) * 1000000L;
        ts.tv_sec += c->every_ms / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&c->cond, &c->lock, &ts);
        if (c->stopping)
            break;
        pthread_mutex_unlock(&c->lock);
        if (atomic_load(&c->frames) < c->min_pages) {
            /* a page dirtied by many commits is written back once: wait for more */
            pthread_mutex_lock(&c->lock);
            continue;
        }
        int log = 0, done = 0;
        int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (rc == SQLITE_OK)
            atomic_store(&c->backfilled, done);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
            fg_log(FG_LOG_WARN, "store_checkpoint_failed", "code=%d error=\"%s\"", rc,
                   sqlite3_errmsg(c->db));
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int fg_checkpointer_start(fg_store_t *s, int64_t every_ms, int min_pages, fg_checkpointer_t **out)
{
    fg_checkpointer_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return FG_ERR_NOMEM;
    c->store = s;
    c->every_ms = every_ms > 0 ? every_ms : 200;
    c->min_pages = min_pages;
    c->restart_pages = 2 * min_pages > RESTART_MIN ? 2 * min_pages : RESTART_MIN;
    c->catch_up_pages = c->restart_pages / 2 < CATCH_UP_MAX ? c->restart_pages / 2 : CATCH_UP_MAX;
    if (sqlite3_open_v2(fg_store_path(s), &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        sqlite3_close(c->db);
        free(c);
        return FG_ERR_IO;
    }
    sqlite3_busy_timeout(c->db, 100);
    /* a connection knows the database is in WAL mode only once it has read it: until then a
     * checkpoint call does nothing (and says so only through its -1 counts) */
    if (fg_store_db_exec(c->db, "PRAGMA journal_mode=WAL") != FG_OK) {
        sqlite3_close(c->db);
        free(c);
        return FG_ERR_IO;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&c->thread, NULL, checkpoint_main, c) != 0) {
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
        sqlite3_close(c->db);
        free(c);
        return FG_ERR_IO;
    }
    /* from now on the writer's commits leave checkpoints to this thread */
    sqlite3_wal_hook(fg_store_db(s), on_wal, c);
    *out = c;
    return FG_OK;
}

void fg_checkpointer_stop(fg_checkpointer_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    sqlite3_close(c->db);
    /* the writer's connection checkpoints again (at its close, the last one does it whole) */
    sqlite3_wal_autocheckpoint(fg_store_db(c->store), 8192);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}
