/*
 * ingest_github.c - GitHub Actions' workflow_run and workflow_job webhooks (ingest.h).
 *
 *   X-GitHub-Event  action        what is stored
 *   workflow_run    requested     run_created (pending), unless the run is known
 *                   in_progress   run_status_changed → running
 *                   completed     → completed (conclusion success, neutral, skipped),
 *                                 → cancelled (cancelled, stale), → failed (any other), and
 *                                 run_failed with it
 *   workflow_job    completed     step_completed (success, neutral, skipped), else step_failed;
 *                                 the run is moved to running first when it was not yet
 *                   other         nothing
 *   ping, others    —             nothing (204)
 *
 * A run is one attempt of a workflow run: its run_id is a UUID derived from the repository, the
 * run id and the attempt; a job's step_id from the repository and the job id. GitHub does not
 * promise order (a completed may come before its in_progress): a status change is emitted only
 * along the run status machine from the run's current status, adding the missing step (pending
 * → running → completed), never backwards: what comes after a terminal status is ignored. Each
 * event's id is derived from what it records (the run and the status it reaches; the job's end),
 * so a redelivery (the same X-GitHub-Delivery) or two nodes mapping the same delivery give the
 * same ids: one event each.
 */
#include "events/err.h"
#include "events/timefmt.h"
#include "events/transitions.h"
#include "gateway/ingest.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define ID_NS "github"

typedef struct {
    json_t *out;
    const fg_ingest_meta_t *meta;
    char run_id[37];
    char run_key[96];
    const char *workflow;
} ctx_t;

static int derived(const char *what, const char *key, char out[37])
{
    char in[192];
    snprintf(in, sizeof(in), "%s|%s", what, key);
    return fg_ingest_derived_uuid(ID_NS, in, strlen(in), out);
}

/* Appends ev (taken) with the id derived from what and key. */
static int add(ctx_t *c, json_t *ev, const char *what, const char *key)
{
    char id[37];
    if (ev == NULL || derived(what, key, id) != FG_OK ||
        json_object_set_new(ev, "id", json_string(id)) != 0 ||
        json_array_append_new(c->out, ev) != 0) {
        json_decref(ev);
        return FG_ERR_NOMEM;
    }
    return FG_OK;
}

static const char *str(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Milliseconds from a to b (RFC 3339), 0 when either is missing or b is before a. */
static json_int_t span_ms(const char *a, const char *b)
{
    int64_t x, y;
    if (a == NULL || b == NULL || !fg_time_parse(a, strlen(a), &x) ||
        !fg_time_parse(b, strlen(b), &y) || y < x)
        return 0;
    return (json_int_t)((y - x) / 1000);
}

static int created(ctx_t *c, const char *at)
{
    json_t *ev = json_pack("{s:s, s:s, s:s}", "type", "run_created", "run_id", c->run_id,
                           "workflow_name", c->workflow);
    if (ev != NULL && at != NULL)
        json_object_set_new(ev, "at", json_string(at));
    return add(c, ev, "created", c->run_key);
}

/* One status change from → to, with the run's duration when it ends. */
static int change(ctx_t *c, int from, int to, const char *at, json_int_t duration_ms,
                  const char *conclusion)
{
    json_t *ev = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "type", "run_status_changed", "run_id", c->run_id,
        "workflow_name", c->workflow, "from", fg_run_status_name((fg_run_status_t)from), "to",
        fg_run_status_name((fg_run_status_t)to), "cost_usd", "0", "duration_ms", duration_ms);
    if (ev != NULL && at != NULL)
        json_object_set_new(ev, "at", json_string(at));
    if (ev != NULL && to == FG_RUN_FAILED && conclusion != NULL)
        json_object_set_new(ev, "error", json_string(conclusion));
    char key[128];
    snprintf(key, sizeof(key), "%s>%s", c->run_key, fg_run_status_name((fg_run_status_t)to));
    int rc = add(c, ev, "status", key);
    if (rc == FG_OK && to == FG_RUN_FAILED) {
        json_t *f =
            json_pack("{s:s, s:s, s:s, s:s, s:I}", "type", "run_failed", "run_id", c->run_id,
                      "workflow_name", c->workflow, "cost_usd", "0", "duration_ms", duration_ms);
        if (f != NULL && at != NULL)
            json_object_set_new(f, "at", json_string(at));
        if (f != NULL && conclusion != NULL)
            json_object_set_new(f, "error", json_string(conclusion));
        rc = add(c, f, "failed", c->run_key);
    }
    return rc;
}

/* Moves the run from its current status towards `to` along the machine: the step itself when
 * allowed, through running when that is the way (pending → running → completed), else nothing. */
static int move(ctx_t *c, int to, const char *at, json_int_t duration_ms, const char *conclusion)
{
    int cur = c->meta->run_status ? c->meta->run_status(c->meta->ctx, c->run_id) : -2;
    int rc = FG_OK;
    if (cur == -2) { /* no event of the run yet: it starts here */
        rc = created(c, at);
        cur = FG_RUN_PENDING;
    }
    if (cur < 0)
        cur = FG_RUN_PENDING;
    if (cur >= FG_RUN_STATUS_COUNT)
        return rc; /* a status this build does not know: leave the run as it is */
    if (rc != FG_OK || cur == to || fg_run_status_terminal((fg_run_status_t)cur))
        return rc;
    if (!fg_transition_allowed((fg_run_status_t)cur, (fg_run_status_t)to)) {
        if (!fg_transition_allowed((fg_run_status_t)cur, FG_RUN_RUNNING) ||
            !fg_transition_allowed(FG_RUN_RUNNING, (fg_run_status_t)to))
            return FG_OK; /* no way forward from here: nothing */
        rc = change(c, cur, FG_RUN_RUNNING, at, 0, NULL);
        cur = FG_RUN_RUNNING;
    }
    return rc == FG_OK ? change(c, cur, to, at, duration_ms, conclusion) : rc;
}

/* The run of a payload: its UUID from the repository, the run id and the attempt. */
static int run_of(ctx_t *c, const json_t *repo, const json_t *run_id, const json_t *attempt,
                  fg_verr_t *err)
{
    if (!json_is_integer(run_id))
        return fg_verr_set(err, "invalid_payload", "run_id", NULL,
                           "the delivery has no workflow run id");
    const json_t *rid = json_object_get(repo, "id");
    snprintf(c->run_key, sizeof(c->run_key),
             "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
             json_is_integer(rid) ? json_integer_value(rid) : 0, json_integer_value(run_id),
             json_is_integer(attempt) ? json_integer_value(attempt) : 1);
    return derived("run", c->run_key, c->run_id);
}

static int workflow_run(ctx_t *c, const json_t *p, const char *action, fg_verr_t *err)
{
    const json_t *run = json_object_get(p, "workflow_run");
    if (!json_is_object(run))
        return fg_verr_set(err, "invalid_payload", "workflow_run", NULL,
                           "a workflow_run delivery carries a workflow_run object");
    int rc = run_of(c, json_object_get(p, "repository"), json_object_get(run, "id"),
                    json_object_get(run, "run_attempt"), err);
    if (rc != FG_OK)
        return rc;
    c->workflow = str(run, "name") ? str(run, "name") : "github-actions";
    if (c->workflow[0] == '\0')
        c->workflow = "github-actions";
    const char *at = str(run, "updated_at");
    if (strcmp(action, "requested") == 0) {
        int cur = c->meta->run_status ? c->meta->run_status(c->meta->ctx, c->run_id) : -2;
        return cur == -2 ? created(c, str(run, "created_at")) : FG_OK;
    }
    if (strcmp(action, "in_progress") == 0)
        return move(c, FG_RUN_RUNNING, at, 0, NULL);
    if (strcmp(action, "completed") != 0)
        return FG_OK;
    const char *concl = str(run, "conclusion");
    int to = FG_RUN_FAILED;
    if (concl != NULL && (strcmp(concl, "success") == 0 || strcmp(concl, "neutral") == 0 ||
                          strcmp(concl, "skipped") == 0))
        to = FG_RUN_COMPLETED;
    else if (concl != NULL && (strcmp(concl, "cancelled") == 0 || strcmp(concl, "stale") == 0))
        to = FG_RUN_CANCELLED;
    return move(c, to, at, span_ms(str(run, "run_started_at"), at), concl ? concl : "unknown");
}

static int workflow_job(ctx_t *c, const json_t *p, const char *action, fg_verr_t *err)
{
    const json_t *job = json_object_get(p, "workflow_job");
    if (!json_is_object(job))
        return fg_verr_set(err, "invalid_payload", "workflow_job", NULL,
                           "a workflow_job delivery carries a workflow_job object");
    if (strcmp(action, "completed") != 0)
        return FG_OK;
    const json_t *repo = json_object_get(p, "repository"), *jid = json_object_get(job, "id");
    if (!json_is_integer(jid))
        return fg_verr_set(err, "invalid_payload", "workflow_job.id", NULL, "the job has no id");
    int rc =
        run_of(c, repo, json_object_get(job, "run_id"), json_object_get(job, "run_attempt"), err);
    if (rc != FG_OK)
        return rc;
    c->workflow = str(job, "workflow_name") ? str(job, "workflow_name") : "github-actions";
    if (c->workflow[0] == '\0')
        c->workflow = "github-actions";
    const char *started = str(job, "started_at"), *done = str(job, "completed_at");
    if ((rc = move(c, FG_RUN_RUNNING, started, 0, NULL)) != FG_OK)
        return rc;
    char job_key[96], step_id[37];
    const json_t *rid = json_object_get(repo, "id");
    snprintf(job_key, sizeof(job_key), "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
             json_is_integer(rid) ? json_integer_value(rid) : 0, json_integer_value(jid));
    if (derived("job", job_key, step_id) != FG_OK)
        return FG_ERR_NOMEM;
    const char *name = str(job, "name") && str(job, "name")[0] ? str(job, "name") : "job";
    const char *concl = str(job, "conclusion");
    bool ok = concl != NULL && (strcmp(concl, "success") == 0 || strcmp(concl, "neutral") == 0 ||
                                strcmp(concl, "skipped") == 0);
    json_t *ev = ok ? json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "type", "step_completed",
                                "run_id", c->run_id, "step_id", step_id, "step_name", name, "kind",
                                "job", "duration_ms", span_ms(started, done), "cost_usd", "0")
                    : json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "step_failed", "run_id",
                                c->run_id, "step_id", step_id, "step_name", name, "kind", "job",
                                "error", concl ? concl : "unknown");
    if (ev != NULL && done != NULL)
        json_object_set_new(ev, "at", json_string(done));
    return add(c, ev, "job_end", job_key);
}

static int map(const char *body, size_t len, const fg_ingest_meta_t *meta, json_t **events,
               fg_verr_t *err)
{
    *events = NULL;
    const char *kind = meta->event ? meta->event : "";
    if (strcmp(kind, "workflow_run") != 0 && strcmp(kind, "workflow_job") != 0) {
        *events = json_array(); /* ping and every other event: answered, nothing stored */
        return *events ? FG_OK : FG_ERR_NOMEM;
    }
    json_t *p = fg_ingest_parse(body, len, err);
    if (p == NULL)
        return FG_ERR_INVALID;
    const char *action = str(p, "action");
    if (!json_is_object(p) || action == NULL) {
        json_decref(p);
        return fg_verr_set(err, "invalid_payload", "action", NULL,
                           "a GitHub delivery is an object with an action");
    }
    ctx_t c = {.out = json_array(), .meta = meta};
    int rc = c.out == NULL                       ? FG_ERR_NOMEM
             : strcmp(kind, "workflow_run") == 0 ? workflow_run(&c, p, action, err)
                                                 : workflow_job(&c, p, action, err);
    json_decref(p);
    if (rc != FG_OK) {
        json_decref(c.out);
        return rc;
    }
    *events = c.out;
    return FG_OK;
}

const fg_ingest_adapter_t fg_ingest_github = {
    .name = "github",
    .signature_header = "x-hub-signature-256",
    .event_header = "x-github-event",
    .delivery_header = "x-github-delivery",
    .map = map,
};
