/*
 * runview.c - the run views' writer side: schema, folding events in, sync at start, retention
 * (see runview.h). Writer thread only.
 *
 * Tables (all keyed by run):
 *   rv_runs       one row per run: workflow, status (-1 until known), created/updated seq and
 *                 time, error, cost (nano-units), duration, labels
 *   rv_history    each run_status_changed: from, to, at, seq
 *   rv_steps      each step seen: name, kind, status, times, duration, cost, error
 *   rv_approvals  each approval asked: message, state, who decided and when
 * meta holds runview_version (RV_VERSION: a different one means rebuild) and runview_seq (the
 * last event folded in).
 *
 * log_line is the hot path: a line of a step already known changes nothing, and a small cache
 * of (run, step) pairs answers that without touching SQLite.
 */
#include "events/runview.h"
#include "events/log.h"
#include "events/money.h"
#include "events/store_db.h"
#include "events/text.h"
#include "events/timefmt.h"
#include "events/transitions.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define RV_VERSION 1
#define CACHE_SLOTS 8192 /* (run, step) pairs remembered */
#define RUN_SLOTS 4096   /* runs remembered */
#define SYNC_CHUNK 5000  /* events per transaction while syncing */

static const char *schema =
    "CREATE TABLE IF NOT EXISTS rv_runs(run_id TEXT PRIMARY KEY, workflow TEXT,"
    " status INTEGER NOT NULL, created_seq INTEGER NOT NULL, updated_seq INTEGER NOT NULL,"
    " created_at TEXT, updated_at TEXT, error TEXT, cost_nano INTEGER, duration_ms INTEGER,"
    " labels TEXT) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS rv_runs_created ON rv_runs(created_seq);"
    "CREATE INDEX IF NOT EXISTS rv_runs_status ON rv_runs(status, created_seq);"
    "CREATE INDEX IF NOT EXISTS rv_runs_workflow ON rv_runs(workflow, created_seq);"
    "CREATE INDEX IF NOT EXISTS rv_runs_updated ON rv_runs(updated_seq);"
    "CREATE TABLE IF NOT EXISTS rv_history(run_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " from_status INTEGER NOT NULL, to_status INTEGER NOT NULL, at TEXT,"
    " PRIMARY KEY(run_id, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rv_steps(run_id TEXT NOT NULL, step_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL, name TEXT, kind TEXT, status TEXT NOT NULL, started_at TEXT,"
    " finished_at TEXT, duration_ms INTEGER, cost_nano INTEGER, error TEXT,"
    " PRIMARY KEY(run_id, step_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rv_approvals(run_id TEXT NOT NULL, step_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL, message TEXT, status TEXT NOT NULL, requested_at TEXT,"
    " requested_us INTEGER, decided_by TEXT, decided_at TEXT, decided_seq INTEGER,"
    " PRIMARY KEY(run_id, step_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS rv_approvals_status ON rv_approvals(status, seq);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('runview_version', 0), ('runview_seq', 0);";

enum {
    S_RUN_TOUCH,     /* insert the run or move its updated_* */
    S_RUN_CREATED,   /* created_at, and pending when no status yet */
    S_RUN_STATUS,    /* status, error, cost, duration, labels (each kept when NULL) */
    S_HISTORY,       /* one status change */
    S_STEP_AWAITS,   /* an approval is asked for a step: awaiting_approval unless it ended */
    S_STEP_DONE,     /* step_completed / step_failed */
    S_STEP_DECIDED,  /* an approval step granted or rejected */
    S_APPROVAL_ASK,  /* approval_requested */
    S_APPROVAL_ONE,  /* decide the pending approval of one step */
    S_APPROVAL_ALL,  /* decide every pending approval of the run */
    S_STEPS_DECIDED, /* the steps of the approvals S_APPROVAL_ALL decided */
    S_WITHDRAW,      /* the run ended: pending approvals are withdrawn */
    S_MARK,          /* meta runview_seq */
    S_LINE_RUN,      /* a log line's run, when new (reads the event JSON in SQL) */
    S_LINE_STEP,     /* a log line's step, when new */
    S_COUNT
};

static const char *const sql[S_COUNT] = {
    [S_RUN_TOUCH] =
        "INSERT INTO rv_runs(run_id, workflow, status, created_seq, updated_seq, created_at,"
        " updated_at) VALUES (?1, ?2, -1, ?3, ?3, ?4, ?4) ON CONFLICT(run_id) DO UPDATE SET"
        " workflow = coalesce(excluded.workflow, workflow), updated_seq = excluded.updated_seq,"
        " updated_at = coalesce(excluded.updated_at, updated_at)",
    [S_RUN_CREATED] = "UPDATE rv_runs SET created_at = coalesce(?2, created_at),"
                      " status = CASE WHEN status < 0 THEN 0 ELSE status END WHERE run_id = ?1",
    [S_RUN_STATUS] =
        "UPDATE rv_runs SET status = coalesce(?2, status), error = coalesce(?3, error),"
        " cost_nano = coalesce(?4, cost_nano), duration_ms = coalesce(?5, duration_ms),"
        " labels = coalesce(?6, labels) WHERE run_id = ?1",
    [S_HISTORY] = "INSERT OR REPLACE INTO rv_history(run_id, seq, from_status, to_status, at)"
                  " VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_STEP_AWAITS] =
        "INSERT INTO rv_steps(run_id, step_id, seq, status, started_at)"
        " VALUES (?1, ?2, ?3, 'awaiting_approval', ?4) ON CONFLICT(run_id, step_id) DO UPDATE SET"
        " status = CASE WHEN status IN ('completed', 'failed') THEN status"
        " ELSE 'awaiting_approval' END",
    [S_STEP_DONE] =
        "INSERT INTO rv_steps(run_id, step_id, seq, name, kind, status, started_at, finished_at,"
        " duration_ms, cost_nano, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10)"
        " ON CONFLICT(run_id, step_id) DO UPDATE SET name = excluded.name, kind = excluded.kind,"
        " status = excluded.status, finished_at = excluded.finished_at,"
        " duration_ms = coalesce(excluded.duration_ms, duration_ms),"
        " cost_nano = coalesce(excluded.cost_nano, cost_nano), error = excluded.error",
    [S_STEP_DECIDED] = "UPDATE rv_steps SET status = ?3 WHERE run_id = ?1 AND step_id = ?2"
                       " AND status = 'awaiting_approval'",
    [S_APPROVAL_ASK] = "INSERT OR REPLACE INTO rv_approvals(run_id, step_id, seq, message, status,"
                       " requested_at, requested_us) VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6)",
    [S_APPROVAL_ONE] = "UPDATE rv_approvals SET status = ?3, decided_by = ?4, decided_at = ?5,"
                       " decided_seq = ?6 WHERE run_id = ?1 AND step_id = ?2 AND status ="
                       " 'pending'",
    [S_APPROVAL_ALL] = "UPDATE rv_approvals SET status = ?3, decided_by = ?4, decided_at = ?5,"
                       " decided_seq = ?6 WHERE run_id = ?1 AND status = 'pending'",
    [S_STEPS_DECIDED] = "UPDATE rv_steps SET status = ?3 WHERE run_id = ?1 AND status ="
                        " 'awaiting_approval' AND step_id IN (SELECT step_id FROM rv_approvals"
                        " WHERE run_id = ?1 AND decided_seq = ?2)",
    [S_WITHDRAW] = "UPDATE rv_approvals SET status = 'withdrawn', decided_at = ?2,"
                   " decided_seq = ?3 WHERE run_id = ?1 AND status = 'pending'",
    [S_MARK] = "UPDATE meta SET value = ?1 WHERE key = 'runview_seq'",
    [S_LINE_RUN] = "INSERT INTO rv_runs(run_id, workflow, status, created_seq, updated_seq,"
                   " created_at, updated_at) VALUES (?1, ?2, -1, ?3, ?3, json_extract(?4, '$.at'),"
                   " json_extract(?4, '$.at')) ON CONFLICT(run_id) DO NOTHING",
    [S_LINE_STEP] = "INSERT INTO rv_steps(run_id, step_id, seq, name, status, started_at)"
                    " VALUES (?1, ?2, ?3, json_extract(?4, '$.step_name'), 'running',"
                    " json_extract(?4, '$.at')) ON CONFLICT(run_id, step_id) DO NOTHING",
};

typedef struct {
    char key[2 * FG_UUID_LEN]; /* run_id then step_id, not NUL-terminated; [0] == 0: empty */
} cache_slot_t;

struct fg_runview {
    fg_store_t *store;
    sqlite3 *db;
    const fg_catalog_t *cat;
    sqlite3_stmt *st[S_COUNT];
    cache_slot_t *cache;       /* CACHE_SLOTS, direct-mapped */
    char (*runs)[FG_UUID_LEN]; /* RUN_SLOTS run ids known to have a row, direct-mapped */
};

/* --- small helpers -------------------------------------------------------------------------- */

static int run_stmt(fg_runview_t *rv, sqlite3_stmt *st)
{
    return fg_store_db_step(st) == FG_OK ? FG_OK : fg_store_db_error(rv->db, "runview");
}

/* Binds a JSON string member, or NULL when absent or not a string. */
static void bind_str(sqlite3_stmt *st, int i, const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    if (json_is_string(v))
        sqlite3_bind_text(st, i, json_string_value(v), (int)json_string_length(v),
                          SQLITE_TRANSIENT);
}

static void bind_money(sqlite3_stmt *st, int i, const json_t *obj, const char *name)
{
    int64_t nano;
    if (fg_money_parse(json_object_get(obj, name), &nano))
        sqlite3_bind_int64(st, i, nano);
}

static void bind_uint(sqlite3_stmt *st, int i, const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        sqlite3_bind_int64(st, i, (sqlite3_int64)json_integer_value(v));
}

/* A step id from the JSON, lowercased into out; false when it is missing or not a uuid. */
static bool step_of(const json_t *obj, char out[FG_UUID_LEN + 1])
{
    const json_t *v = json_object_get(obj, "step_id");
    if (!json_is_string(v) || !fg_uuid_valid(json_string_value(v), json_string_length(v)))
        return false;
    for (size_t i = 0; i < FG_UUID_LEN; i++) {
        char c = json_string_value(v)[i];
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[FG_UUID_LEN] = '\0';
    return true;
}

/* Statement `which` with ?1 run_id, ?2 step_id and ?3 seq bound: the key every step and
 * approval statement starts with. */
static sqlite3_stmt *keyed(fg_runview_t *rv, int which, const fg_event_t *ev, const char *step_id)
{
    sqlite3_stmt *st = rv->st[which];
    sqlite3_bind_text(st, 1, ev->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, step_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)ev->seq);
    return st;
}

static cache_slot_t *cache_slot(fg_runview_t *rv, const char *run_id, const char *step_id,
                                char key[2 * FG_UUID_LEN])
{
    memcpy(key, run_id, FG_UUID_LEN);
    memcpy(key + FG_UUID_LEN, step_id, FG_UUID_LEN);
    return &rv->cache[fg_fnv1a(key, 2 * FG_UUID_LEN) % CACHE_SLOTS];
}

/* --- folding events in ---------------------------------------------------------------------- */

/* Inserts the run when new, else moves its updated_seq/updated_at to this event. */
static int touch_run(fg_runview_t *rv, const fg_event_t *ev, const json_t *obj)
{
    sqlite3_stmt *st = rv->st[S_RUN_TOUCH];
    sqlite3_bind_text(st, 1, ev->run_id, -1, SQLITE_STATIC);
    if (ev->workflow != NULL && ev->workflow[0] != '\0')
        sqlite3_bind_text(st, 2, ev->workflow, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)ev->seq);
    bind_str(st, 4, obj, "at");
    return run_stmt(rv, st);
}

/* run_status_changed and run_failed: the run's current state, and the history. */
static int fold_run_status(fg_runview_t *rv, const fg_event_t *ev, const json_t *obj)
{
    sqlite3_stmt *st = rv->st[S_RUN_STATUS];
    sqlite3_bind_text(st, 1, ev->run_id, -1, SQLITE_STATIC);
    int to = -1, from = -1;
    if (ev->type_idx == FG_EV_RUN_FAILED) {
        to = FG_RUN_FAILED;
    } else {
        const json_t *f = json_object_get(obj, "from"), *t = json_object_get(obj, "to");
        from = fg_run_status_parse(json_string_value(f), json_string_length(f));
        to = fg_run_status_parse(json_string_value(t), json_string_length(t));
    }
    if (to >= 0)
        sqlite3_bind_int(st, 2, to);
    bind_str(st, 3, obj, "error");
    bind_money(st, 4, obj, "cost_usd");
    bind_uint(st, 5, obj, "duration_ms");
    const json_t *labels = json_object_get(obj, "labels");
    char *ltext = json_is_object(labels) ? json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (ltext != NULL)
        sqlite3_bind_text(st, 6, ltext, -1, free);
    if (run_stmt(rv, st) != FG_OK)
        return FG_ERR_IO;
    if (ev->type_idx == FG_EV_RUN_STATUS_CHANGED && from >= 0 && to >= 0) {
        st = rv->st[S_HISTORY];
        sqlite3_bind_text(st, 1, ev->run_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)ev->seq);
        sqlite3_bind_int(st, 3, from);
        sqlite3_bind_int(st, 4, to);
        bind_str(st, 5, obj, "at");
        if (run_stmt(rv, st) != FG_OK)
            return FG_ERR_IO;
    }
    if (to >= 0 && fg_run_status_terminal((fg_run_status_t)to)) {
        st = rv->st[S_WITHDRAW];
        sqlite3_bind_text(st, 1, ev->run_id, -1, SQLITE_STATIC);
        bind_str(st, 2, obj, "at");
        sqlite3_bind_int64(st, 3, (sqlite3_int64)ev->seq);
        return run_stmt(rv, st);
    }
    return FG_OK;
}

static int fold_step_done(fg_runview_t *rv, const fg_event_t *ev, const char *step_id,
                          const json_t *obj)
{
    sqlite3_stmt *st = keyed(rv, S_STEP_DONE, ev, step_id);
    bool ok = ev->type_idx == FG_EV_STEP_COMPLETED;
    bind_str(st, 4, obj, "step_name");
    bind_str(st, 5, obj, "kind");
    sqlite3_bind_text(st, 6, ok ? "completed" : "failed", -1, SQLITE_STATIC);
    bind_str(st, 7, obj, "at");
    bind_uint(st, 8, obj, "duration_ms");
    bind_money(st, 9, obj, "cost_usd");
    if (!ok)
        bind_str(st, 10, obj, "error");
    return run_stmt(rv, st);
}

static int fold_approval_asked(fg_runview_t *rv, const fg_event_t *ev, const char *step_id,
                               const json_t *obj)
{
    sqlite3_stmt *st = keyed(rv, S_APPROVAL_ASK, ev, step_id);
    bind_str(st, 4, obj, "message");
    bind_str(st, 5, obj, "at");
    const json_t *at = json_object_get(obj, "at");
    int64_t us;
    if (json_is_string(at) && fg_time_parse(json_string_value(at), json_string_length(at), &us))
        sqlite3_bind_int64(st, 6, us);
    if (run_stmt(rv, st) != FG_OK)
        return FG_ERR_IO;
    /* the step waits for the decision, unless it has ended already */
    st = keyed(rv, S_STEP_AWAITS, ev, step_id);
    bind_str(st, 4, obj, "at");
    return run_stmt(rv, st);
}

/* approval_granted / approval_rejected: the step's approval, or without a step_id every
 * approval of the run still pending. */
static int fold_approval_decided(fg_runview_t *rv, const fg_event_t *ev, const json_t *obj)
{
    bool granted = ev->type_idx == FG_EV_APPROVAL_GRANTED;
    char step_id[FG_UUID_LEN + 1];
    bool one = step_of(obj, step_id);
    sqlite3_stmt *st = rv->st[one ? S_APPROVAL_ONE : S_APPROVAL_ALL];
    sqlite3_bind_text(st, 1, ev->run_id, -1, SQLITE_STATIC);
    if (one)
        sqlite3_bind_text(st, 2, step_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, granted ? "granted" : "rejected", -1, SQLITE_STATIC);
    bind_str(st, 4, obj, granted ? "approved_by" : "rejected_by");
    bind_str(st, 5, obj, "at");
    sqlite3_bind_int64(st, 6, (sqlite3_int64)ev->seq);
    if (run_stmt(rv, st) != FG_OK)
        return FG_ERR_IO;
    st = rv->st[one ? S_STEP_DECIDED : S_STEPS_DECIDED];
    sqlite3_bind_text(st, 1, ev->run_id, -1, SQLITE_STATIC);
    if (one)
        sqlite3_bind_text(st, 2, step_id, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 2, (sqlite3_int64)ev->seq);
    sqlite3_bind_text(st, 3, granted ? "running" : "rejected", -1, SQLITE_STATIC);
    return run_stmt(rv, st);
}

/* A log line (the hot path): it adds its run and its step when they are new, and changes nothing
 * else. The caches answer "already there" without SQLite; what is new is read from the event
 * JSON by SQLite itself, so no JSON tree is built here. */
static int fold_line(fg_runview_t *rv, const fg_event_t *ev, const char *step_id)
{
    char key[2 * FG_UUID_LEN];
    cache_slot_t *slot = cache_slot(rv, ev->run_id, step_id, key);
    if (memcmp(slot->key, key, sizeof(key)) == 0)
        return FG_OK; /* a line of a step already in the view */
    char *run = rv->runs[fg_fnv1a(ev->run_id, FG_UUID_LEN) % RUN_SLOTS];
    sqlite3_stmt *st;
    if (memcmp(run, ev->run_id, FG_UUID_LEN) != 0) {
        st = rv->st[S_LINE_RUN];
        sqlite3_bind_text(st, 1, ev->run_id, FG_UUID_LEN, SQLITE_STATIC);
        if (ev->workflow != NULL && ev->workflow[0] != '\0')
            sqlite3_bind_text(st, 2, ev->workflow, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)ev->seq);
        sqlite3_bind_text(st, 4, ev->json, (int)ev->json_len, SQLITE_STATIC);
        if (run_stmt(rv, st) != FG_OK)
            return FG_ERR_IO;
        memcpy(run, ev->run_id, FG_UUID_LEN);
    }
    st = keyed(rv, S_LINE_STEP, ev, step_id);
    sqlite3_bind_text(st, 4, ev->json, (int)ev->json_len, SQLITE_STATIC);
    if (run_stmt(rv, st) != FG_OK)
        return FG_ERR_IO;
    memcpy(slot->key, key, sizeof(key));
    return FG_OK;
}

int fg_runview_apply(fg_runview_t *rv, const fg_event_t *ev, const char *step_id)
{
    if (ev->run_id == NULL || ev->run_id[0] == '\0' || ev->type_idx < 0 ||
        ev->type_idx > FG_EV_LOG_LINE)
        return FG_OK;
    if (ev->type_idx == FG_EV_LOG_LINE && step_id != NULL && step_id[0] != '\0')
        return fold_line(rv, ev, step_id);
    json_t *obj = json_loadb(ev->json, ev->json_len, 0, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return FG_OK; /* stored events were validated; nothing to fold */
    }
    char sid[FG_UUID_LEN + 1];
    bool has_step = step_of(obj, sid);
    int rc = ev->type_idx == FG_EV_LOG_LINE ? FG_OK : touch_run(rv, ev, obj);
    switch (ev->type_idx) {
    case FG_EV_RUN_CREATED: {
        sqlite3_stmt *st = rv->st[S_RUN_CREATED];
        sqlite3_bind_text(st, 1, ev->run_id, -1, SQLITE_STATIC);
        bind_str(st, 2, obj, "at");
        rc = rc ? rc : run_stmt(rv, st);
        break;
    }
    case FG_EV_RUN_STATUS_CHANGED:
    case FG_EV_RUN_FAILED:
        rc = rc ? rc : fold_run_status(rv, ev, obj);
        break;
    case FG_EV_STEP_COMPLETED:
    case FG_EV_STEP_FAILED:
        if (has_step)
            rc = rc ? rc : fold_step_done(rv, ev, sid, obj);
        break;
    case FG_EV_APPROVAL_REQUESTED:
        if (has_step)
            rc = rc ? rc : fold_approval_asked(rv, ev, sid, obj);
        break;
    case FG_EV_APPROVAL_GRANTED:
    case FG_EV_APPROVAL_REJECTED:
        rc = rc ? rc : fold_approval_decided(rv, ev, obj);
        break;
    case FG_EV_LOG_LINE: /* without the caller's step_id (a rebuild) */
        if (has_step)
            rc = rc ? rc : fold_line(rv, ev, sid);
        break;
    }
    json_decref(obj);
    return rc;
}

int fg_runview_mark(fg_runview_t *rv, uint64_t seq)
{
    sqlite3_bind_int64(rv->st[S_MARK], 1, (sqlite3_int64)seq);
    return run_stmt(rv, rv->st[S_MARK]);
}

void fg_runview_rolled_back(fg_runview_t *rv)
{
    memset(rv->cache, 0, CACHE_SLOTS * sizeof(*rv->cache));
    memset(rv->runs, 0, RUN_SLOTS * sizeof(*rv->runs));
}

/* --- open, sync, retention ------------------------------------------------------------------ */

int fg_runview_open(fg_store_t *store, const fg_catalog_t *cat, fg_runview_t **out)
{
    fg_runview_t *rv = calloc(1, sizeof(*rv));
    if (rv == NULL)
        return FG_ERR_NOMEM;
    rv->cache = calloc(CACHE_SLOTS, sizeof(*rv->cache));
    rv->runs = calloc(RUN_SLOTS, sizeof(*rv->runs));
    rv->store = store;
    rv->db = fg_store_db(store);
    rv->cat = cat;
    if (rv->cache == NULL || rv->runs == NULL ||
        sqlite3_exec(rv->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        fg_log(FG_LOG_ERROR, "store_error", "op=runview_schema error=\"%s\"",
               sqlite3_errmsg(rv->db));
        fg_runview_close(rv);
        return FG_ERR_IO;
    }
    for (int i = 0; i < S_COUNT; i++) {
        if (sqlite3_prepare_v3(rv->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &rv->st[i], NULL) !=
            SQLITE_OK) {
            fg_log(FG_LOG_ERROR, "store_error", "op=runview_prepare stmt=%d error=\"%s\"", i,
                   sqlite3_errmsg(rv->db));
            fg_runview_close(rv);
            return FG_ERR_IO;
        }
    }
    *out = rv;
    return FG_OK;
}

void fg_runview_close(fg_runview_t *rv)
{
    if (rv == NULL)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(rv->st[i]);
    free(rv->cache);
    free(rv->runs);
    free(rv);
}

static int exec_sql(fg_runview_t *rv, const char *text)
{
    return fg_store_db_exec(rv->db, text) == FG_OK ? FG_OK : fg_store_db_error(rv->db, "runview");
}

/* Folds in up to SYNC_CHUNK stored events after *seq, in one transaction; *n counts them. */
static int sync_chunk(fg_runview_t *rv, uint64_t *seq, size_t *n)
{
    sqlite3_stmt *st;
    *n = 0;
    if (exec_sql(rv, "BEGIN IMMEDIATE") != FG_OK)
        return FG_ERR_IO;
    if (sqlite3_prepare_v2(rv->db,
                           "SELECT seq, type, run_id, workflow, body FROM events WHERE seq > ?1"
                           " ORDER BY seq LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK) {
        exec_sql(rv, "ROLLBACK");
        return FG_ERR_IO;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)*seq);
    sqlite3_bind_int(st, 2, SYNC_CHUNK);
    int rc = FG_OK, step;
    uint64_t last = *seq;
    while (rc == FG_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(st, 1);
        fg_event_t view = {
            .seq = (uint64_t)sqlite3_column_int64(st, 0),
            .type_idx = fg_catalog_find(rv->cat, type, strlen(type)),
            .type = type,
            .run_id = (const char *)sqlite3_column_text(st, 2),
            .workflow = (const char *)sqlite3_column_text(st, 3),
            .json = (const char *)sqlite3_column_text(st, 4),
            .json_len = (size_t)sqlite3_column_bytes(st, 4),
        };
        last = view.seq;
        rc = fg_runview_apply(rv, &view, NULL);
        (*n)++;
    }
    if (rc == FG_OK && step != SQLITE_DONE)
        rc = FG_ERR_IO;
    sqlite3_finalize(st);
    if (rc == FG_OK && *n > 0)
        rc = fg_runview_mark(rv, last);
    if (rc == FG_OK && exec_sql(rv, "COMMIT") == FG_OK) {
        *seq = last;
        return FG_OK;
    }
    exec_sql(rv, "ROLLBACK");
    fg_runview_rolled_back(rv);
    return FG_ERR_IO;
}

int fg_runview_sync(fg_runview_t *rv, bool force, uint64_t *applied, bool *rebuilt)
{
    *applied = 0;
    *rebuilt = false;
    int rc, rc2;
    uint64_t version =
        fg_store_db_u64(rv->db, "SELECT value FROM meta WHERE key = 'runview_version'", &rc);
    uint64_t seq =
        fg_store_db_u64(rv->db, "SELECT value FROM meta WHERE key = 'runview_seq'", &rc2);
    if (rc != SQLITE_OK || rc2 != SQLITE_OK)
        return fg_store_db_error(rv->db, "runview_meta");
    uint64_t last = fg_store_last_seq(rv->store);
    if (force || version != RV_VERSION || seq > last) {
        char reset[320];
        snprintf(reset, sizeof(reset),
                 "BEGIN IMMEDIATE; DELETE FROM rv_runs; DELETE FROM rv_history;"
                 " DELETE FROM rv_steps; DELETE FROM rv_approvals; UPDATE meta SET value = 0"
                 " WHERE key = 'runview_seq'; UPDATE meta SET value = %d WHERE key ="
                 " 'runview_version'; COMMIT",
                 RV_VERSION);
        if (exec_sql(rv, reset) != FG_OK) {
            exec_sql(rv, "ROLLBACK");
            return FG_ERR_IO;
        }
        seq = 0;
        *rebuilt = true;
    }
    uint64_t at = seq;
    while (at < last) {
        size_t n;
        if (sync_chunk(rv, &at, &n) != FG_OK)
            return FG_ERR_IO;
        *applied += n;
        if (n < SYNC_CHUNK)
            break;
    }
    if (at < last) {
        /* Nothing stored past `at` (retention left a hole at the end): record it as seen. */
        if (exec_sql(rv, "BEGIN IMMEDIATE") != FG_OK || fg_runview_mark(rv, last) != FG_OK ||
            exec_sql(rv, "COMMIT") != FG_OK) {
            exec_sql(rv, "ROLLBACK");
            return FG_ERR_IO;
        }
    }
    return FG_OK;
}

int fg_runview_retain(fg_runview_t *rv, uint64_t purged_through, size_t chunk, uint64_t *removed)
{
    *removed = 0;
    if (purged_through == 0)
        return FG_OK;
    static const char *const del[] = {
        "DELETE FROM rv_history WHERE run_id IN (SELECT run_id FROM doomed)",
        "DELETE FROM rv_steps WHERE run_id IN (SELECT run_id FROM doomed)",
        "DELETE FROM rv_approvals WHERE run_id IN (SELECT run_id FROM doomed)",
        "DELETE FROM rv_runs WHERE run_id IN (SELECT run_id FROM doomed)",
    };
    if (exec_sql(rv, "BEGIN IMMEDIATE; CREATE TEMP TABLE IF NOT EXISTS doomed(run_id TEXT"
                     " PRIMARY KEY) WITHOUT ROWID; DELETE FROM doomed") != FG_OK)
        goto fail;
    if (fg_store_db_run2(rv->db,
                         "INSERT INTO doomed SELECT run_id FROM rv_runs WHERE updated_seq <= ?1"
                         " AND status IN (2, 3, 5) LIMIT ?2",
                         purged_through, chunk, removed) != FG_OK)
        goto fail;
    for (size_t i = 0; *removed > 0 && i < sizeof(del) / sizeof(del[0]); i++)
        if (exec_sql(rv, del[i]) != FG_OK)
            goto fail;
    if (exec_sql(rv, "DELETE FROM doomed; COMMIT") == FG_OK) {
        if (*removed > 0)
            fg_runview_rolled_back(rv); /* the caches may name removed rows */
        return FG_OK;
    }
fail:
    exec_sql(rv, "ROLLBACK");
    fg_runview_rolled_back(rv);
    *removed = 0;
    return FG_ERR_IO;
}
