/*
 * logs_download.c - GET /v1/runs/{run_id}/logs/download[?step_id=&stream=&after=&ansi=]: a
 * run's whole log (or one step's) as a text file, as it is when the download begins.
 *
 * A page of DL_PAGE lines is read per send, so memory stays bounded whatever the log's size;
 * gzip'd (streamed zlib) when Accept-Encoding takes it. Range (one range of bytes; If-Range
 * with the ETag) is honoured on the plain text: the length is not known before the text is
 * made, so a counting pass reads the pages first, a few per turn of the loop (the loop's other
 * connections go on meanwhile), remembering where each page starts; the answer, 206 with its
 * Content-Range and Content-Length (or 416), then starts at the page holding the first byte.
 * Both passes read the same lines (up to the same seq), so they make the same bytes. The ETag
 * names what the text depends on: the run's newest event, the log's purge point, the filters.
 * Loop thread.
 */
#include "events/runview.h"
#include "events/text.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"
#include "gateway/logs_http.h"
#include "gateway/runs_http.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define DL_PAGE 1000  /* lines read per send */
#define COUNT_PAGES 4 /* pages counted per turn of the loop */

/* Where a page of the plain text starts: read it with after, its first byte is at offset. */
typedef struct {
    uint64_t after, offset;
} mark_t;

/* A download in progress. */
typedef struct {
    h2o_generator_t gen;
    h2o_req_t *req;
    fg_loop_t *loop;
    fg_logs_query_t q;
    char run_id[FG_UUID_LEN + 1], step_id[FG_UUID_LEN + 1];
    fg_buf_t page;    /* the text (or its compressed form) being sent */
    bool gzip, zinit; /* z is live */
    z_stream z;
    /* Range */
    bool ranged;
    uint64_t first, last; /* the range asked (suffix: last bytes, first unused) */
    bool suffix, open_end;
    uint64_t total, skip, left; /* the text's length; bytes to skip, then to send */
    uint64_t start_after;       /* q.after when the download began */
    mark_t *marks;
    size_t nmarks, capmarks;
    h2o_timeout_entry_t tick; /* the counting pass's next turn */
} dl_t;

static void dl_dispose(void *p)
{
    dl_t *d = p;
    if (h2o_timeout_is_linked(&d->tick))
        h2o_timeout_unlink(&d->tick);
    fg_buf_dispose(&d->page);
    free(d->marks);
    if (d->zinit)
        deflateEnd(&d->z);
}

/* Compresses in (len bytes; finish: the end) onto out. FG_OK or FG_ERR_NOMEM. */
static int dl_deflate(dl_t *d, const char *in, size_t len, bool finish, fg_buf_t *out)
{
    d->z.next_in = (Bytef *)in;
    d->z.avail_in = (uInt)len;
    for (;;) {
        char chunk[16384];
        d->z.next_out = (Bytef *)chunk;
        d->z.avail_out = sizeof(chunk);
        int zr = deflate(&d->z, finish ? Z_FINISH : Z_NO_FLUSH);
        if (zr == Z_STREAM_ERROR ||
            fg_buf_append(out, chunk, sizeof(chunk) - d->z.avail_out) != FG_OK)
            return FG_ERR_NOMEM;
        if (finish ? zr == Z_STREAM_END : d->z.avail_in == 0 && d->z.avail_out != 0)
            return FG_OK;
    }
}

/* Reads the next page of text after d->q.after into text and moves on; true when it was the
 * last (or the read failed: the caller ends short). */
static bool read_page(dl_t *d, fg_buf_t *text, int *rc)
{
    uint64_t next = d->q.after;
    *rc = fg_runview_logs(d->loop->reader, &d->q, text, &next);
    bool last = *rc != FG_OK || text->len == 0 || next <= d->q.after || next >= d->q.upto;
    d->q.after = next;
    return last;
}

/* Sends the next page, the final one when the log (as it was) is all sent. */
static void dl_next(h2o_generator_t *gen, h2o_req_t *req)
{
    dl_t *d = H2O_STRUCT_FROM_MEMBER(dl_t, gen, gen);
    fg_buf_t text;
    fg_buf_init(&text, FG_RUNS_MAX_BODY);
    int rc;
    bool last = read_page(d, &text, &rc);
    if (rc != FG_OK) /* the response has begun: end it short (the client sees a cut download) */
        fg_log(FG_LOG_WARN, "log_download_cut", "run=%s rc=%d", d->run_id, rc);
    d->page.len = 0;
    const char *from = text.data ? text.data : "";
    size_t len = text.len;
    if (d->ranged) {
        size_t skip = d->skip < len ? (size_t)d->skip : len;
        d->skip -= skip;
        from += skip;
        len -= skip;
        if (len >= d->left) {
            len = (size_t)d->left;
            last = true;
        }
        d->left -= len;
    }
    if (d->gzip) {
        if (dl_deflate(d, from, len, last, &d->page) != FG_OK)
            last = true;
    } else if (len > 0 && fg_buf_append(&d->page, from, len) != FG_OK) {
        last = true;
    }
    fg_buf_dispose(&text);
    h2o_iovec_t v = h2o_iovec_init(d->page.data ? d->page.data : "", d->page.len);
    h2o_send(req, &v, 1, last ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void dl_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)gen;
    (void)req;
}

/* True when Accept-Encoding takes gzip (q=0 refuses it). */
static bool takes_gzip(h2o_req_t *req)
{
    size_t n;
    const char *a = fg_http_header(req, H2O_TOKEN_ACCEPT_ENCODING, &n);
    const char *g = a ? memmem(a, n, "gzip", 4) : NULL;
    if (g == NULL)
        return false;
    const char *end = a + n, *q = g + 4;
    while (q < end && *q == ' ')
        q++;
    return !(end - q >= 4 && memcmp(q, ";q=0", 4) == 0 &&
             (end - q == 4 || q[4] == ',' ||
              (end - q >= 6 && memcmp(q + 4, ".0", 2) == 0 && (end - q == 6 || q[6] == ','))));
}

/* Parses a decimal number at *p (advanced); false when there is none or it overflows. */
static bool number(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p;
    *v = 0;
    while (*p < end && **p >= '0' && **p <= '9') {
        if (*v > (UINT64_MAX - 9) / 10)
            return false;
        *v = *v * 10 + (uint64_t)(**p - '0');
        (*p)++;
    }
    return *p > s;
}

/* Takes "bytes=a-b", "bytes=a-" or "bytes=-n" (one range; anything else is ignored, as RFC 9110
 * lets a server do). */
static bool parse_range(dl_t *d, const char *s, size_t n)
{
    const char *p = s, *end = s + n;
    while (p < end && *p == ' ')
        p++;
    if ((size_t)(end - p) < 6 || strncasecmp(p, "bytes=", 6) != 0)
        return false;
    p += 6;
    while (end > p && end[-1] == ' ')
        end--;
    if (p < end && *p == '-') {
        p++;
        d->suffix = true;
        return number(&p, end, &d->last) && p == end;
    }
    if (!number(&p, end, &d->first) || p == end || *p++ != '-')
        return false;
    if (p == end) {
        d->open_end = true;
        return true;
    }
    return number(&p, end, &d->last) && p == end && d->last >= d->first;
}

/* Adds the common headers of a download answer. */
static void headers(dl_t *d, h2o_req_t *req, const char *etag)
{
    char disp[128];
    int dn = snprintf(disp, sizeof(disp), "attachment; filename=\"run-%s%s%.8s.log\"", d->run_id,
                      d->q.step_id ? "-step-" : "", d->q.step_id ? d->q.step_id : "");
    h2o_iovec_t dv = h2o_strdup(&req->pool, disp, (size_t)dn);
    h2o_iovec_t ev = h2o_strdup(&req->pool, etag, SIZE_MAX);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_DISPOSITION, NULL, dv.base,
                   dv.len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL,
                   H2O_STRLIT("Accept-Encoding"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCEPT_RANGES, NULL,
                   H2O_STRLIT("bytes"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, ev.base, ev.len);
}

static void start(dl_t *d, h2o_req_t *req)
{
    d->gen.proceed = dl_next;
    d->gen.stop = dl_stop;
    h2o_start_response(req, &d->gen);
    dl_next(&d->gen, req);
}

/* The counting pass is done: answer 206 from the page holding the first byte, or 416. */
static void ranged_answer(dl_t *d)
{
    h2o_req_t *req = d->req;
    uint64_t first = d->first, last = d->last;
    if (d->suffix) {
        first = d->last >= d->total ? 0 : d->total - d->last;
        last = d->total - 1;
    } else if (d->open_end || last >= d->total) {
        last = d->total - 1;
    }
    char cr[64];
    if (d->total == 0 || (d->suffix && d->last == 0) || first >= d->total) {
        int n = snprintf(cr, sizeof(cr), "bytes */%" PRIu64, d->total);
        memset(&req->res.headers, 0,
               sizeof(req->res.headers)); /* the file's headers: an error is JSON */
        h2o_iovec_t v = h2o_strdup(&req->pool, cr, (size_t)n);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_RANGE, NULL, v.base, v.len);
        fg_http_error(req, 416, "range_not_satisfiable", "the range starts past the end of the log",
                      "Range", cr + 8, -1);
        return;
    }
    size_t k = 0; /* the last page starting at or before the first byte */
    while (k + 1 < d->nmarks && d->marks[k + 1].offset <= first)
        k++;
    d->q.after = d->nmarks ? d->marks[k].after : d->start_after;
    d->skip = first - (d->nmarks ? d->marks[k].offset : 0);
    d->left = last - first + 1;
    int n =
        snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, d->total);
    h2o_iovec_t v = h2o_strdup(&req->pool, cr, (size_t)n);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_RANGE, NULL, v.base, v.len);
    req->res.status = 206;
    req->res.reason = "Partial Content";
    req->res.content_length = d->left;
    start(d, req);
}

/* A few pages of the counting pass per turn of the loop. */
static void count_some(h2o_timeout_entry_t *entry)
{
    dl_t *d = H2O_STRUCT_FROM_MEMBER(dl_t, tick, entry);
    for (int i = 0; i < COUNT_PAGES; i++) {
        if (d->nmarks == d->capmarks) {
            size_t cap = d->capmarks ? 2 * d->capmarks : 64;
            mark_t *m = realloc(d->marks, cap * sizeof(*m));
            if (m == NULL) {
                fg_http_fail(d->req, FG_ERR_NOMEM, "out of memory");
                return;
            }
            d->marks = m;
            d->capmarks = cap;
        }
        d->marks[d->nmarks++] = (mark_t){.after = d->q.after, .offset = d->total};
        fg_buf_t text;
        fg_buf_init(&text, FG_RUNS_MAX_BODY);
        int rc;
        bool last = read_page(d, &text, &rc);
        d->total += text.len;
        fg_buf_dispose(&text);
        if (rc != FG_OK) {
            memset(&d->req->res.headers, 0, sizeof(d->req->res.headers));
            fg_runs_answer(d->req, rc, NULL, d->run_id);
            return;
        }
        if (last) {
            ranged_answer(d);
            return;
        }
    }
    h2o_timeout_link(d->loop->loop, &d->req->conn->ctx->zero_timeout, &d->tick);
}

int fg_run_logs_download_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t run)
{
    fg_loop_t *l = fg_loop_of(req);
    char run_id[FG_UUID_LEN + 1];
    if (fg_runs_path_run(req, run.base, run.len, run_id) != 0)
        return 0;
    dl_t *d = h2o_mem_alloc_shared(&req->pool, sizeof(*d), dl_dispose);
    memset(d, 0, sizeof(*d));
    fg_buf_init(&d->page, 0);
    d->tick.cb = count_some;
    d->req = req;
    memcpy(d->run_id, run_id, sizeof(run_id));
    d->q = (fg_logs_query_t){.run_id = d->run_id, .limit = DL_PAGE, .text = true};
    fg_logs_params_t params = {.q = &d->q, .ansi = -1};
    size_t limit = DL_PAGE;
    uint64_t after = 0;
    if (fg_runs_walk_query(req, &limit, &after, fg_logs_param, &params) != 0)
        return 0;
    if (fg_logs_searching(&params) || params.follow) {
        fg_http_error(req, 400, "invalid_parameter",
                      "a download is the whole log (or one step's): search and follow are for"
                      " /v1/runs/{run_id}/logs",
                      "query", "", -1);
        return 0;
    }
    d->q.after = d->start_after = after; /* a download may begin after a line already had */
    d->q.strip_ansi = params.ansi != 0;  /* a text file: stripped unless asked to keep them */
    if (params.step_id[0] != '\0') {
        memcpy(d->step_id, params.step_id, sizeof(d->step_id));
        d->q.step_id = d->step_id;
    }
    fg_filter_t f;
    fg_filter_init(&f);
    int bad = fg_runs_narrow(req, who, "log_line", run_id, &f);
    fg_filter_dispose(&f);
    if (bad != 0)
        return 0;
    uint64_t top = 0, purged = 0, newest = 0;
    int rc = fg_runview_run_known(l->reader, run_id);
    if (rc == FG_OK)
        rc = fg_store_reader_bounds(l->reader, &top, &purged);
    if (rc == FG_OK)
        rc = fg_runview_log_version(l->reader, run_id, top, &newest, &purged);
    if (rc != FG_OK) {
        fg_runs_answer(req, rc, NULL, run_id);
        return 0;
    }
    d->loop = l;
    d->q.upto = newest > 0 ? newest : 1; /* the log as it is now; nothing more */
    char key[160], etag[48];
    int kn = snprintf(key, sizeof(key), "%s|%s|%d|%" PRIu64 "|%" PRIu64 "|%" PRIu64 "|%u", run_id,
                      d->step_id, d->q.strip_ansi, after, newest, purged, d->q.streams);
    snprintf(etag, sizeof(etag), "\"%016llx\"", (unsigned long long)fg_fnv1a(key, (size_t)kn));
    size_t rn, ifn;
    const char *range = fg_http_header(req, H2O_TOKEN_RANGE, &rn);
    const char *if_range = fg_http_header(req, H2O_TOKEN_IF_RANGE, &ifn);
    d->ranged = range != NULL && parse_range(d, range, rn) &&
                (if_range == NULL || (ifn == strlen(etag) && memcmp(if_range, etag, ifn) == 0));
    d->gzip = !d->ranged && takes_gzip(req);
    if (d->gzip) {
        if (deflateInit2(&d->z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            fg_http_fail(req, FG_ERR_NOMEM, "out of memory");
            return 0;
        }
        d->zinit = true;
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_ENCODING, NULL,
                       H2O_STRLIT("gzip"));
        memcpy(etag + strlen(etag) - 1, "-gz\"", 5); /* another representation, another tag */
    }
    headers(d, req, etag);
    if (d->ranged) { /* the length first: counted over the next turns of the loop */
        h2o_timeout_link(l->loop, &req->conn->ctx->zero_timeout, &d->tick);
        return 0;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    start(d, req);
    return 0;
}
