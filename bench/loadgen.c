/*
 * loadgen.c - the flowgate load tool (benchmarks only; it never fails a build).
 *
 * Opens N SSE connections, publishes M log_line events (as fast as possible in batches over K
 * connections, or at a fixed rate), and prints: deliveries per second, publish-to-receive latency
 * p50/p99 (each event carries its send time from CLOCK_MONOTONIC in `line`), server RSS per
 * connection (with --pid), and publish throughput. One thread, epoll, raw HTTP/1.1 on loopback.
 *
 *   fg_loadgen --port P [--pid PID] [--streams N] [--events M] [--batch B] [--publishers K]
 *              [--rate EV_PER_S] [--settle-ms MS] [--spin] [--h2 K] [--steps S] [--build-log]
 *              [--pub-port P2] [--pub-path PATH] [--sub-path PATH] [--pipeline D]
 *
 * --pipeline D keeps up to D publish requests in flight per publisher connection (HTTP/1.1
 * pipelining: answers come back in order), as an engine that does not wait for each answer.
 *
 * --sub-path PATH: "{i}" in it becomes each stream's number (0…N-1), for streams that differ.
 *
 * --pub-port P2 publishes to another server than the one streamed from (cluster mode: publish
 * on node A, receive on node B).
 *
 * --steps S spreads the log lines over S steps (and S / 16 runs), so the run views see new
 * steps all the time instead of one step's lines (the default: one run, one step).
 *
 * --build-log makes each line read like a compiler's (about 90 bytes after the timestamp, the
 * numbers in it varying), for what indexing real lines costs; the default line is the number.
 *
 * --h2 K opens the N streams as HTTP/2 streams over K connections (prior knowledge; h2o
 * allows 100 concurrent streams per connection), as a browser with many tabs on one origin does.
 *
 * --spin busy-polls (epoll_wait with no timeout) instead of sleeping between reads. A sleeping
 * client is woken by every server write, one cross-CPU wake-up each; on a 2-vCPU VM those
 * wake-ups cost the server more than the writes themselves. Remote clients cost it nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#define RUN_ID "3f1c2a4e-8b9d-4c1e-9f2a-1b2c3d4e5f60"
#define STEP_ID "0b7d2e51-1111-4c1e-9f2a-1b2c3d4e5f61"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* --- options --------------------------------------------------------------------------- */
static int port = 8080, pub_port = 0, pid = 0, nstreams = 1000, nevents = 1000, batch = 100,
           npub = 4;
static double rate = 0;
static int settle_ms = 300;
static bool spin = false; /* busy-poll instead of sleeping in epoll_wait */
static int h2conns = 0;   /* 0: one HTTP/1.1 connection per stream; K: HTTP/2 over K */
/* --pub-path, --sub-path: another server's routes (nginx + Nchan: /pub takes one event as the
 * body, /sub is an EventSource whose first frame is a comment, as flowgate's is a retry) */
static const char *pub_path = "/v1/events", *sub_path = "/v1/stream?types=log_line";
static int depth = 1; /* --pipeline D: requests in flight per publisher connection */

/* --- latency samples ---------------------------------------------------------------------- */
static int64_t *lat;
static size_t nlat, lat_cap;
static size_t lat_every = 1; /* record one stream in lat_every */

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* --- SSE receivers ------------------------------------------------------------------------ */
typedef struct {
    int fd;
    int idx;
    bool headers_done;
    int chunk_state; /* 0 size, 1 size-ext/CR, 2 data, 3 data CR, 4 data LF */
    bool unchunked;  /* no Transfer-Encoding: chunked (the body ends with the connection) */
    size_t chunk_left;
    char *buf; /* decoded body not yet scanned */
    size_t len, cap;
    char hdr[1024];
    size_t hlen;
    uint64_t frames;
    bool sampled;    /* latency is parsed on this stream (1 in lat_every) */
    bool prev_nl;    /* the last body byte was LF (a frame ends at LF LF) */
    bool seen_retry; /* the first frame (retry:) is not an event */
} sse_conn_t;

static sse_conn_t *conns;
static uint64_t total_frames, ready_streams;
static int64_t last_frame_ns;

static int connect_to(int to_port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)to_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        die("connect");
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    return fd;
}

static void body_bytes(sse_conn_t *c, const char *p, size_t n)
{
    if (c->len + n > c->cap) {
        c->cap = (c->len + n) * 2;
        c->buf = realloc(c->buf, c->cap);
    }
    memcpy(c->buf + c->len, p, n);
    c->len += n;
}

/* Counts complete frames ("\n\n"-terminated) and samples latency from "line":"<ns>". */
static void scan_frames(sse_conn_t *c, int64_t t)
{
    size_t start = 0;
    for (;;) {
        char *end = memmem(c->buf + start, c->len - start, "\n\n", 2);
        if (end == NULL)
            break;
        size_t flen = (size_t)(end - (c->buf + start));
        char *f = c->buf + start;
        if (flen > 6 && memmem(f, flen, "\ndata: ", 7) != NULL) {
            c->frames++;
            total_frames++;
            if (nlat < lat_cap) {
                char *l = memmem(f, flen, "\"line\":\"", 8);
                if (l != NULL)
                    lat[nlat++] = t - strtoll(l + 8, NULL, 10);
            }
        }
        start += flen + 2;
    }
    memmove(c->buf, c->buf + start, c->len - start);
    c->len -= start;
}

/* Counts frame ends (LF LF) without keeping the bytes: streams whose latency is not sampled. */
static void count_frames(sse_conn_t *c, const char *p, size_t n)
{
    const char *end = p + n;
    while (p < end) {
        if (c->prev_nl && *p == '\n') {
            if (c->seen_retry) {
                c->frames++;
                total_frames++;
            }
            c->seen_retry = true;
            c->prev_nl = false;
            p++;
            continue;
        }
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            c->prev_nl = false;
            return;
        }
        c->prev_nl = true;
        p = nl + 1;
    }
}

/* Decodes HTTP/1.1 chunked transfer coding. */
static void on_body(sse_conn_t *c, const char *p, size_t n)
{
    if (c->unchunked) { /* a body that runs until the connection closes (Nchan) */
        if (c->sampled)
            body_bytes(c, p, n);
        else
            count_frames(c, p, n);
        return;
    }
    for (size_t i = 0; i < n;) {
        char ch = p[i];
        switch (c->chunk_state) {
        case 0:
            if (ch == '\r' || ch == ';') {
                c->chunk_state = 1;
            } else {
                int v = (ch >= '0' && ch <= '9') ? ch - '0' : (ch | 32) - 'a' + 10;
                c->chunk_left = c->chunk_left * 16 + (size_t)v;
            }
            i++;
            break;
        case 1:
            if (ch == '\n')
                c->chunk_state = c->chunk_left ? 2 : 3;
            i++;
            break;
        case 2: {
            size_t take = n - i < c->chunk_left ? n - i : c->chunk_left;
            if (c->sampled)
                body_bytes(c, p + i, take);
            else
                count_frames(c, p + i, take);
            i += take;
            c->chunk_left -= take;
            if (c->chunk_left == 0)
                c->chunk_state = 3;
            break;
        }
        case 3:
            i++; /* CR */
            c->chunk_state = 4;
            break;
        case 4:
            i++; /* LF */
            c->chunk_state = 0;
            c->chunk_left = 0;
            break;
        }
    }
}

static void on_sse_readable(sse_conn_t *c)
{
    static char rb[256 * 1024];
    for (;;) {
        ssize_t r = read(c->fd, rb, sizeof(rb));
        if (r <= 0) {
            if (r == 0) {
                fprintf(stderr, "stream %d closed by the server\n", c->idx);
                close(c->fd);
                c->fd = -1;
            }
            return;
        }
        size_t off = 0;
        if (!c->headers_done) {
            size_t take =
                (size_t)r < sizeof(c->hdr) - c->hlen ? (size_t)r : sizeof(c->hdr) - c->hlen;
            memcpy(c->hdr + c->hlen, rb, take);
            c->hlen += take;
            char *e = memmem(c->hdr, c->hlen, "\r\n\r\n", 4);
            if (e == NULL)
                continue;
            size_t hl = (size_t)(e - c->hdr) + 4;
            off = hl - (c->hlen - take);
            c->headers_done = true;
            c->unchunked = memmem(c->hdr, hl, "hunked", 6) == NULL;
            ready_streams++;
        }
        uint64_t before = total_frames;
        on_body(c, rb + off, (size_t)r - off);
        int64_t t = now_ns();
        if (c->sampled)
            scan_frames(c, t);
        if (total_frames != before)
            last_frame_ns = t;
    }
}

/* --- HTTP/2 streams (--h2) ------------------------------------------------------------------ */
typedef struct {
    int fd;
    nghttp2_session *session;
} h2_conn_t;

static h2_conn_t *h2s;

static ssize_t h2_send(nghttp2_session *session, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    h2_conn_t *h = user;
    ssize_t w = write(h->fd, data, len);
    if (w < 0)
        return errno == EAGAIN ? NGHTTP2_ERR_WOULDBLOCK : NGHTTP2_ERR_CALLBACK_FAILURE;
    return w;
}

static int h2_data(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
                   size_t len, void *user)
{
    sse_conn_t *c = nghttp2_session_get_stream_user_data(session, stream_id);
    if (c == NULL)
        return 0;
    uint64_t before = total_frames;
    int64_t t = now_ns();
    if (c->sampled) {
        body_bytes(c, (const char *)data, len);
        scan_frames(c, t);
    } else {
        count_frames(c, (const char *)data, len);
    }
    if (total_frames != before)
        last_frame_ns = t;
    return 0;
}

static int h2_frame(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
        sse_conn_t *c = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (c != NULL && !c->headers_done) {
            c->headers_done = true;
            ready_streams++;
        }
    }
    return 0;
}

static void h2_open(h2_conn_t *h)
{
    h->fd = connect_to(port);
    fcntl(h->fd, F_SETFL, O_NONBLOCK);
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, h2_send);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_frame);
    if (nghttp2_session_client_new(&h->session, cbs, h) != 0)
        die("nghttp2_session_client_new");
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24},
                                   {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000}};
    nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(h->session, NGHTTP2_FLAG_NONE, 0, 1 << 30);
}

static void h2_stream(h2_conn_t *h, sse_conn_t *c)
{
    nghttp2_nv hdrs[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
        {(uint8_t *)":authority", (uint8_t *)"bench", 10, 5, 0},
        {(uint8_t *)":path", (uint8_t *)"/v1/stream?types=log_line", 5, 25, 0},
    };
    if (nghttp2_submit_request(h->session, NULL, hdrs, 4, NULL, c) < 0)
        die("nghttp2_submit_request");
}

static void h2_readable(h2_conn_t *h)
{
    static uint8_t rb[256 * 1024];
    for (;;) {
        ssize_t r = read(h->fd, rb, sizeof(rb));
        if (r <= 0) {
            if (r == 0)
                fprintf(stderr, "HTTP/2 connection closed by the server\n");
            break;
        }
        if (nghttp2_session_mem_recv(h->session, rb, (size_t)r) < 0)
            die("nghttp2_session_mem_recv");
    }
    nghttp2_session_send(h->session);
}

/* --- publishers --------------------------------------------------------------------------- */
#define MAX_PIPELINE 64
typedef struct {
    int fd;
    int inflight; /* requests sent and not answered (up to --pipeline) */
    char resp[256 * 1024];
    size_t rlen;
    int64_t sent_at[MAX_PIPELINE]; /* per request in flight, oldest at head */
    int events[MAX_PIPELINE];
    int head;
} pub_conn_t;

static pub_conn_t *pubs;
static uint64_t published, publish_requests;
static int64_t publish_ns_total;

static int nsteps = 1;  /* --steps */
static bool build_log;  /* --build-log */
static uint64_t nlines; /* lines written, for --build-log's varying text */

/* The text after the timestamp in a line: nothing, or a compiler's progress line. */
static const char *line_tail(char *buf, size_t cap)
{
    if (!build_log)
        return "";
    uint64_t n = nlines++;
    snprintf(buf, cap,
             " [%3d%%] Building C object src/CMakeFiles/app.dir/module_%02d/file_%04d.c.o"
             " (gcc -O2 -Wall -fPIC)",
             (int)(n % 100), (int)(n % 97), (int)(n % 1009));
    return buf;
}
static uint64_t next_step; /* the step of the next event, cycling through nsteps */

static size_t build_request(char *out, size_t cap, int n, int64_t t)
{
    static char body[1 << 21];
    size_t bl = 0;
    if (n > 1)
        body[bl++] = '[';
    char tail[160];
    for (int i = 0; i < n; i++) {
        if (nsteps <= 1) {
            bl += (size_t)snprintf(
                body + bl, sizeof(body) - bl,
                "%s{\"type\":\"log_line\",\"run_id\":\"" RUN_ID "\",\"step_id\":\"" STEP_ID
                "\",\"step_name\":\"bench\",\"stream\":\"stdout\",\"line\":\"%lld%s\"}",
                i ? "," : "", (long long)t, line_tail(tail, sizeof(tail)));
            continue;
        }
        uint64_t step = next_step++ % (uint64_t)nsteps;
        bl += (size_t)snprintf(
            body + bl, sizeof(body) - bl,
            "%s{\"type\":\"log_line\",\"run_id\":\"3f1c2a4e-8b9d-4c1e-9f2a-%012llx\","
            "\"step_id\":\"0b7d2e51-1111-4c1e-9f2a-%012llx\",\"step_name\":\"bench\","
            "\"stream\":\"stdout\",\"line\":\"%lld%s\"}",
            i ? "," : "", (unsigned long long)(step / 16 + 1), (unsigned long long)(step + 1),
            (long long)t, line_tail(tail, sizeof(tail)));
    }
    if (n > 1)
        body[bl++] = ']';
    int hl = snprintf(out, cap,
                      "POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      pub_path, bl);
    memcpy(out + hl, body, bl);
    return (size_t)hl + bl;
}

static char req_buf[1 << 21];

static void pub_send(pub_conn_t *p, int n)
{
    int64_t t = now_ns();
    size_t len = build_request(req_buf, sizeof(req_buf), n, t);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(p->fd, req_buf + off, len - off);
        if (w < 0) {
            if (errno == EAGAIN)
                continue;
            die("write");
        }
        off += (size_t)w;
    }
    int k = (p->head + p->inflight) % MAX_PIPELINE;
    p->sent_at[k] = t;
    p->events[k] = n;
    p->inflight++;
}

/* Reads what arrived and accounts for every whole response in it (pipelined in order). */
static void pub_readable(pub_conn_t *p)
{
    for (;;) {
        ssize_t r = read(p->fd, p->resp + p->rlen, sizeof(p->resp) - p->rlen - 1);
        if (r <= 0)
            break;
        p->rlen += (size_t)r;
    }
    for (;;) {
        p->resp[p->rlen] = '\0';
        char *e = strstr(p->resp, "\r\n\r\n");
        if (e == NULL)
            return;
        *e = '\0'; /* the length is looked for in this response's head only */
        char *cl = strcasestr(p->resp, "content-length:");
        size_t body = cl ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
        *e = '\r';
        size_t whole = (size_t)(e - p->resp) + 4 + body;
        if (p->rlen < whole)
            return;
        if (strncmp(p->resp, "HTTP/1.1 20", 11) != 0) { /* 202 here, 201/202 from Nchan */
            fprintf(stderr, "publish failed: %.200s\n", p->resp);
            exit(1);
        }
        publish_ns_total += now_ns() - p->sent_at[p->head];
        published += (uint64_t)p->events[p->head];
        publish_requests++;
        p->head = (p->head + 1) % MAX_PIPELINE;
        p->inflight--;
        memmove(p->resp, p->resp + whole, p->rlen - whole);
        p->rlen -= whole;
    }
}

static long rss_kib(void)
{
    if (pid <= 0)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long v = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = strtol(line + 6, NULL, 10);
    fclose(f);
    return v;
}

#define TAG_PUB (1ull << 62)
#define TAG_H2 (1ull << 61)

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"port", 1, 0, 'p'},
                                         {"pid", 1, 0, 'P'},
                                         {"streams", 1, 0, 's'},
                                         {"events", 1, 0, 'e'},
                                         {"batch", 1, 0, 'b'},
                                         {"publishers", 1, 0, 'k'},
                                         {"rate", 1, 0, 'r'},
                                         {"settle-ms", 1, 0, 'S'},
                                         {"spin", 0, 0, 'x'},
                                         {"h2", 1, 0, 'H'},
                                         {"steps", 1, 0, 'T'},
                                         {"pub-port", 1, 0, 'Q'},
                                         {"pub-path", 1, 0, 'U'},
                                         {"sub-path", 1, 0, 'V'},
                                         {"pipeline", 1, 0, 'D'},
                                         {"build-log", 0, 0, 'L'},
                                         {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'P':
            pid = atoi(optarg);
            break;
        case 's':
            nstreams = atoi(optarg);
            break;
        case 'e':
            nevents = atoi(optarg);
            break;
        case 'b':
            batch = atoi(optarg);
            break;
        case 'k':
            npub = atoi(optarg);
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'S':
            settle_ms = atoi(optarg);
            break;
        case 'x':
            spin = true;
            break;
        case 'H':
            h2conns = atoi(optarg);
            break;
        case 'T':
            nsteps = atoi(optarg);
            break;
        case 'L':
            build_log = true;
            break;
        case 'Q':
            pub_port = atoi(optarg);
            break;
        case 'U':
            pub_path = optarg;
            break;
        case 'V':
            sub_path = optarg;
            break;
        case 'D':
            depth = atoi(optarg);
            depth = depth < 1 ? 1 : depth > MAX_PIPELINE ? MAX_PIPELINE : depth;
            break;
        default:
            fprintf(stderr, "see the comment at the top of bench/loadgen.c\n");
            return 2;
        }
    }
    int ep = epoll_create1(0);
    uint64_t expected = (uint64_t)nstreams * (uint64_t)nevents;
    lat_cap = 2000000;
    /* Parse latency on one stream in ten (all of them below 100 streams). */
    lat_every = nstreams >= 100 ? 10 : 1;
    lat = malloc(lat_cap * sizeof(*lat));

    long rss0 = rss_kib();
    conns = calloc((size_t)nstreams, sizeof(*conns));
    char get[512];
    snprintf(get, sizeof(get),
             "GET %s HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n", sub_path);
    if (h2conns > 0) {
        h2s = calloc((size_t)h2conns, sizeof(*h2s));
        for (int k = 0; k < h2conns; k++) {
            h2_open(&h2s[k]);
            struct epoll_event e = {.events = EPOLLIN, .data.u64 = TAG_H2 | (uint64_t)k};
            epoll_ctl(ep, EPOLL_CTL_ADD, h2s[k].fd, &e);
        }
    }
    for (int i = 0; i < nstreams; i++) {
        sse_conn_t *c = &conns[i];
        c->idx = i;
        c->sampled = i % (int)lat_every == 0;
        if (h2conns > 0) {
            c->fd = -1;
            h2_stream(&h2s[i % h2conns], c);
            continue;
        }
        c->fd = connect_to(port);
        const char *at = strstr(sub_path, "{i}"); /* each stream its own: {i} is its number */
        if (at != NULL)
            snprintf(get, sizeof(get),
                     "GET %.*s%d%s HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n",
                     (int)(at - sub_path), sub_path, i, at + 3);
        if (write(c->fd, get, strlen(get)) != (ssize_t)strlen(get))
            die("write");
        fcntl(c->fd, F_SETFL, O_NONBLOCK);
        struct epoll_event e = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
    }
    for (int k = 0; k < h2conns; k++)
        nghttp2_session_send(h2s[k].session);
    struct epoll_event evs[512];
    int64_t deadline = now_ns() + 60LL * 1000000000;
    while (ready_streams < (uint64_t)nstreams && now_ns() < deadline) {
        int n = epoll_wait(ep, evs, 512, 100);
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag & TAG_H2)
                h2_readable(&h2s[tag & ~TAG_H2]);
            else
                on_sse_readable(&conns[tag]);
        }
    }
    usleep((useconds_t)settle_ms * 1000);
    long rss1 = rss_kib();
    printf("streams connected: %llu of %d\n", (unsigned long long)ready_streams, nstreams);
    if (rss0 > 0 && rss1 > 0)
        printf("server RSS: %ld KiB before, %ld KiB with %d idle streams -> %.2f KiB per stream\n",
               rss0, rss1, nstreams, nstreams ? (double)(rss1 - rss0) / nstreams : 0.0);

    pubs = calloc((size_t)npub, sizeof(*pubs));
    for (int i = 0; i < npub; i++) {
        pubs[i].fd = connect_to(pub_port ? pub_port : port);
        fcntl(pubs[i].fd, F_SETFL, O_NONBLOCK);
        struct epoll_event e = {.events = EPOLLIN, .data.u64 = TAG_PUB | (uint64_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, pubs[i].fd, &e);
    }

    int64_t t0 = now_ns();
    uint64_t to_send = (uint64_t)nevents, sent = 0;
    int per = rate > 0 ? 1 : batch;
    int64_t interval = rate > 0 ? (int64_t)(1e9 / rate) : 0;
    int64_t next_send = t0;
    deadline = t0 + 300LL * 1000000000;
    int64_t publish_done = 0;
    while ((published < to_send || total_frames < expected) && now_ns() < deadline) {
        int64_t t = now_ns();
        for (int i = 0; i < npub && sent < to_send; i++) {
            while (pubs[i].inflight < depth && sent < to_send && !(rate > 0 && t < next_send)) {
                int n = (int)(to_send - sent < (uint64_t)per ? to_send - sent : (uint64_t)per);
                pub_send(&pubs[i], n);
                sent += (uint64_t)n;
                if (rate > 0)
                    next_send += interval;
            }
        }
        int timeout = 1;
        if (rate > 0 && sent < to_send) {
            int64_t wait = (next_send - now_ns()) / 1000000;
            timeout = wait < 0 ? 0 : (int)(wait > 5 ? 5 : wait);
        }
        if (spin)
            timeout = 0;
        int n = epoll_wait(ep, evs, 512, timeout);
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag & TAG_PUB)
                pub_readable(&pubs[tag & ~TAG_PUB]);
            else if (tag & TAG_H2)
                h2_readable(&h2s[tag & ~TAG_H2]);
            else if (conns[tag].fd >= 0)
                on_sse_readable(&conns[tag]);
        }
        if (published >= to_send && publish_done == 0)
            publish_done = now_ns();
    }
    double pub_s = (double)((publish_done ? publish_done : now_ns()) - t0) / 1e9;
    double fan_s = (double)(last_frame_ns - t0) / 1e9;
    printf("published: %llu events in %llu requests in %.3f s -> %.0f events/s, %.0f requests/s"
           " (mean request %.2f ms)\n",
           (unsigned long long)published, (unsigned long long)publish_requests, pub_s,
           published / pub_s, publish_requests / pub_s,
           publish_requests ? publish_ns_total / 1e6 / (double)publish_requests : 0.0);
    if (nstreams > 0)
        printf("delivered: %llu of %llu frames in %.3f s -> %.0f deliveries/s\n",
               (unsigned long long)total_frames, (unsigned long long)expected, fan_s,
               fan_s > 0 ? total_frames / fan_s : 0.0);
    if (nlat > 0) {
        qsort(lat, nlat, sizeof(*lat), cmp64);
        printf("latency publish->receive (%zu samples): p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
               nlat, lat[nlat / 2] / 1e6, lat[(size_t)(nlat * 0.99)] / 1e6, lat[nlat - 1] / 1e6);
    }
    long rss2 = rss_kib();
    if (rss2 > 0)
        printf("server RSS after the run: %ld KiB\n", rss2);
    return total_frames == expected ? 0 : 1;
}
