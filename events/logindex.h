/*
 * logindex.h - searching a run's log lines (GET /v1/runs/{run_id}/logs?q=&regex=&exclude=…).
 *
 * Writer side (logindex.c), a thread of its own: a full-text index of every stored log line's
 * text as people read it (escape sequences removed) in a file beside the store (logindex.db),
 * SQLite FTS5 with the trigram tokenizer, so a substring of three characters or more is found
 * without reading the run's lines. It follows what the log has committed, a chunk at a time at
 * the lowest CPU priority, removes what retention removed, and is made anew when missing,
 * damaged, of another version or of another store. Publishing never waits for it.
 *
 * Read side (logsearch.c), on a loop's store reader: one snapshot per page. The index only finds
 * candidates up to the last event it covers, and the lines past that are read; every line shown
 * is checked against the whole query, so the answer is the same with or without it (a needle
 * under three characters, a regex without a literal, or the index switched off read the run's
 * lines instead). Matching is case-insensitive for ASCII letters unless asked.
 */
#ifndef FG_EVENTS_LOGINDEX_H
#define FG_EVENTS_LOGINDEX_H

#include "events/buf.h"
#include "events/runview.h"
#include "events/store.h"

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- writer side ---------------------------------------------------------------------------- */

typedef struct fg_logindex fg_logindex_t;

#define FG_LOGINDEX_VERSION 1 /* another one in the file means rebuild */

/** Starts indexing store's log lines into the file at path (force: made anew). The store must
 * outlive fg_logindex_stop. FG_OK, FG_ERR_NOMEM or FG_ERR_IO. */
int fg_logindex_start(fg_store_t *store, const char *path, bool force, fg_logindex_t **out);

/** Stops the thread and closes the file (NULL: nothing). */
void fg_logindex_stop(fg_logindex_t *li);

/** The last event the index has looked at (committed in it). Any thread. */
uint64_t fg_logindex_covered(const fg_logindex_t *li);

/** The index file's path once it is open and known to be this store's, else NULL. Any thread. */
const char *fg_logindex_ready(const fg_logindex_t *li);

/** Deletes the index file (logs.search_index off: searches read the lines). FG_OK/FG_ERR_IO. */
int fg_logindex_remove(const char *path);

/* --- read side ------------------------------------------------------------------------------ */

#define FG_LOGSEARCH_MAX_EXCLUDES 8
#define FG_LOGSEARCH_BUDGET_MS 150 /* a page stops looking after this; next_after goes on */

typedef struct {
    fg_logs_query_t logs; /* run, step, streams, after, limit, text, strip_ansi */
    const char *q;        /* substring, or NULL */
    size_t q_len;
    const regex_t *regex;   /* compiled by the caller (REG_ICASE unless case-sensitive), or NULL */
    const char *regex_text; /* its source: a literal every match holds is looked up (or NULL) */
    const char *exclude[FG_LOGSEARCH_MAX_EXCLUDES]; /* lines holding any of these are left out */
    size_t nexclude;
    bool case_sensitive;
    uint64_t upto;              /* the last seq to look at (time bounds); 0: no bound */
    const fg_logindex_t *index; /* the index, or NULL: none */
} fg_logsearch_t;

/**
 * Appends the run's lines after s->logs.after that match, in order, at most s->logs.limit, in
 * the shape fg_runview_logs uses. *next is where to go on: the last match after a full page, the
 * last line looked at when the page stopped at its time budget, else the end of the run as it
 * was. There is more to look at while next_after < last_seq (and, with upto, next_after < upto).
 * FG_ERR_NOT_FOUND for an unknown run.
 */
int fg_logsearch(fg_store_reader_t *r, const fg_logsearch_t *s, fg_buf_t *out, uint64_t *next);

/** The line a search looks at: escape sequences removed. True when text (len bytes) holds
 * needle (ASCII letters folded unless case_sensitive). */
bool fg_logsearch_contains(const char *text, size_t len, const char *needle, size_t nlen,
                           bool case_sensitive);

/** The longest run of characters every match of the POSIX extended regex re must hold (outside
 * groups, not made optional by a quantifier), copied to out (NUL-terminated, at most cap - 1
 * bytes); its length, 0 when it cannot be sure of one (an alternation anywhere). What the index
 * looks up for a regex; the regex still decides. */
size_t fg_logsearch_regex_literal(const char *re, char *out, size_t cap);

#endif
