/*
 * store_checkpoint.h - the store's checkpoints off the commit path: a thread with its own
 * connection copies the write-ahead log back into the database once it holds enough pages (a
 * page dirtied by many commits is written back once; looked at every fraction of a second; PASSIVE:
 * it never waits for, nor blocks, the writer or a reader), and the writer's connection stops
 * checkpointing inside its commits. A commit then costs its own write (and, with store.synchronous
 * full, its own fsync) and never a checkpoint's flush of many pages: the tail of publish-to-stream
 * latency is not spent waiting for one.
 *
 * Threads: start and stop on the main thread (start before the writer starts, stop after it
 * stopped and before the store closes); the checkpointer's own thread between.
 */
#ifndef FG_EVENTS_STORE_CHECKPOINT_H
#define FG_EVENTS_STORE_CHECKPOINT_H

#include "events/store.h"

#include <stdint.h>

typedef struct fg_checkpointer fg_checkpointer_t;

/**
 * Starts checkpointing s, looking every every_ms whether the WAL holds min_pages pages or more.
 * Past twice that (256 pages at least), the writer's connection copies the last pages back
 * between its commits so that the WAL starts over: under steady commits it stays bounded.
 * FG_OK, FG_ERR_NOMEM or FG_ERR_IO (nothing changed).
 */
int fg_checkpointer_start(fg_store_t *s, int64_t every_ms, int min_pages, fg_checkpointer_t **out);

/** Stops the thread and closes its connection. NULL is a no-op. */
void fg_checkpointer_stop(fg_checkpointer_t *c);

#endif
