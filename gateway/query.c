/*
 * query.c - GET /v1/events?after=SEQ&limit=N&types=…&run_id=…&workflow=…: pages through the
 * stored events, for backfill and debugging. Runs on the HTTP loop, on its store reader.
 *
 * Answer: {"events":[{"seq":N,"type":"…","event":{…}}…],"next_after":N,"purged_through":N}.
 * Keep calling with after=next_after until "events" is empty. A response holds at most `limit`
 * events and stops early once it passes 4 MiB.
 */
#include "events/buf.h"
#include "events/cursor.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"
#include "gateway/params.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIMIT 1000
#define PAGE 100            /* events read from the store at a time */
#define SHORT_READS 64      /* reads a page with events ends after when few match */
#define MAX_BODY (4u << 20) /* a response stops growing past this */

int fg_query_handle(h2o_req_t *req, const fg_principal_t *who, h2o_iovec_t param)
{
    fg_loop_t *l = fg_loop_of(req);
    fg_server_t *srv = l->server;
    fg_filter_t f;
    fg_filter_init(&f);
    fg_verr_t err;
    uint64_t after = 0;
    size_t limit = 100;
    fg_params_t params = {.filter = &f, .after = &after, .limit = &limit, .max_limit = MAX_LIMIT};
    if (fg_params_walk(req, srv->cat, &params) != 0) {
        fg_filter_dispose(&f);
        return 0;
    }
    if (who != NULL && fg_auth_narrow(who, &f, srv->cat, &err) != FG_OK) {
        fg_filter_dispose(&f);
        fg_http_verr(req, 403, &err);
        return 0;
    }
    /* Read in pages and stop once the body passes MAX_BODY: a page of large events must not
     * become a response of hundreds of megabytes. next_after says where to go on. */
    fg_buf_t b;
    fg_buf_init(&b, 0);
    int brc = fg_buf_puts(&b, "{\"events\":[");
    /* Up to what this reader sees committed, whatever this loop has taken of the writer's
     * announcements yet: a publisher reads its own event right after its 202 on any loop. */
    uint64_t upto = l->hub.high_seq, cursor = after, left = limit, stored = 0, purged;
    if (fg_store_reader_bounds(l->reader, &stored, &purged) == FG_OK && stored > upto)
        upto = stored;
    size_t count = 0, short_reads = 0;
    while (left > 0 && b.len < MAX_BODY) {
        fg_event_t *evs[PAGE];
        size_t n = 0, want = left < PAGE ? (size_t)left : PAGE;
        uint64_t scanned = cursor;
        int rc = fg_store_read(l->reader, srv->cat, &f, cursor, upto, want, evs, &n, &scanned);
        if (rc != FG_OK) {
            fg_filter_dispose(&f);
            fg_buf_dispose(&b);
            fg_http_fail(req, rc, "the event store could not be read");
            return 0;
        }
        size_t i = 0;
        for (; i < n && b.len < MAX_BODY; i++) {
            brc |= fg_buf_printf(&b, "%s{\"seq\":%" PRIu64 ",\"type\":", count++ ? "," : "",
                                 evs[i]->seq);
            brc |= fg_buf_json_string(&b, evs[i]->type, strlen(evs[i]->type));
            brc |= fg_buf_puts(&b, ",\"event\":");
            brc |= fg_buf_append(&b, evs[i]->json, evs[i]->json_len);
            brc |= fg_buf_puts(&b, "}");
            cursor = evs[i]->seq;
        }
        for (size_t k = 0; k < n; k++)
            fg_event_release(evs[k]);
        left -= i;
        if (i == n && n < want) { /* read to scanned: fewer matched (a payload filter) */
            cursor = scanned > cursor ? scanned : cursor;
            /* the end of the log; or enough read for a page that has something to show (a
             * page comes back empty only at the end) */
            if (scanned >= upto || (count > 0 && ++short_reads >= SHORT_READS))
                break;
        }
    }
    fg_filter_dispose(&f);
    brc |= fg_buf_printf(&b, "],\"next_after\":%" PRIu64 ",\"purged_through\":%" PRIu64 "}", cursor,
                         fg_store_purged_through(srv->store));
    if (brc != FG_OK)
        fg_http_fail(req, FG_ERR_NOMEM, "out of memory");
    else
        fg_http_json(req, 200, b.data, b.len);
    fg_buf_dispose(&b);
    return 0;
}
