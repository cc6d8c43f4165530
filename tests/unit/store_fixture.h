/*
 * store_fixture.h - the unit tests' store and writer fixture (store_fixture.c), shared by
 * test_store.c (the log and the writer) and test_runview.c (the run views the writer keeps).
 */
#ifndef FG_TESTS_STORE_FIXTURE_H
#define FG_TESTS_STORE_FIXTURE_H

#include "events/runview.h"
#include "events/store.h"
#include "events/writer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define RUN "3f1c2a4e-8b9d-4c1e-9f2a-1b2c3d4e5f60"
#define STEP "0b7d2e51-1111-4c1e-9f2a-1b2c3d4e5f61"

typedef struct {
    char dir[64], path[96];
    fg_catalog_t *cat;
    fg_store_t *store;
    fg_writer_t *writer;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t announced[4096]; /* seqs handed to on_commit, in order */
    size_t nannounced;
    uint64_t announced_through; /* the highest seq announced (lock) */
    char workflows[4096][16];
    bool rebuild_views; /* the run views' sync at the next start */
    fg_runview_t *rv;   /* the run views, the writer's projection */
    bool checkpoints;   /* start_writer starts a checkpointer (store_checkpoint.h) too */
    bool full_sync;     /* the store opens with FG_SYNC_FULL (else NORMAL, for speed) */
    struct fg_checkpointer *checkpointer;
} fixture_t;

typedef struct {
    fg_writer_job_t job;
    fg_pub_event_t events[8];
    fg_pub_result_t results[8];
    fixture_t *fx;
    bool done;
} job_t;

void on_commit(void *ctx, fg_event_t **evs, size_t n);
void on_done(fg_writer_job_t *job);
void start_writer_aged(fixture_t *fx, bool enforce, uint64_t max_events, int64_t max_age_ms);
void start_writer(fixture_t *fx, bool enforce, uint64_t max_events);
void stop_writer(fixture_t *fx);
int setup(void **state);
int teardown(void **state);
job_t *make_job(fixture_t *fx, const char **texts, size_t n);
void wait_job(job_t *j);
void free_job(job_t *j);
job_t *publish(fixture_t *fx, const char **texts, size_t n);
const char *log_line(int i);
const char *status(const char *from, const char *to, const char *id);
fg_store_reader_t *open_reader(fixture_t *fx);
size_t read_all(fixture_t *fx, const fg_filter_t *f, uint64_t after, uint64_t *seqs);
void publish_lines(fixture_t *fx, int from, int to);
size_t expect_purged_through(fixture_t *fx, uint64_t floor);
int64_t count_rows(fixture_t *fx, const char *sql);

#endif
