/*
 * err.h - the one error enum of flowgate, shared by every module.
 *
 * Functions return 0 (FG_OK) or a negative fg_err_t. Library errors (sqlite codes, jansson
 * errors, errno) are translated at the module boundary; context goes in an fg_verr_t or the log.
 */
#ifndef FG_EVENTS_ERR_H
#define FG_EVENTS_ERR_H

typedef enum {
    FG_OK = 0,             /* success */
    FG_ERR_NOMEM = -1,     /* an allocation failed */
    FG_ERR_INVALID = -2,   /* the input is malformed; fg_verr_t says where */
    FG_ERR_TOO_LARGE = -3, /* the input exceeds a configured limit */
    FG_ERR_NOT_FOUND = -4, /* no such object */
    FG_ERR_CONFLICT = -5,  /* the input contradicts stored state (e.g. illegal transition) */
    FG_ERR_IO = -6,        /* storage or system I/O failed */
    FG_ERR_CORRUPT = -7,   /* the store is corrupt or not a flowgate database */
    FG_ERR_CLOSED = -8,    /* the component is shutting down */
    FG_ERR_FORBIDDEN = -9, /* the caller may not do or see this */
    FG_ERR_STALE = -10,    /* the shared log is not the one joined (cluster: Redis lost it) */
} fg_err_t;

/** Returns a static, human-readable text for an error code; never NULL. */
const char *fg_strerror(int err);

/*
 * A client-facing validation error: a machine code ("invalid_run_id"), a sentence, and the
 * field and value at fault. Index is the position inside a batch, or -1.
 */
typedef struct {
    char code[64];     /* snake_case code, the "error" member of the error reply */
    char message[192]; /* one sentence for humans */
    char field[64];    /* offending field name, "" if none */
    char value[96];    /* offending value (truncated), "" if none */
    long index;        /* position in a batch, -1 when not in a batch */
} fg_verr_t;

/** Fills err (when not NULL) and returns FG_ERR_INVALID. Value may be NULL. */
int fg_verr_set(fg_verr_t *err, const char *code, const char *field, const char *value,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
