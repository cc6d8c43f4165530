/*
 * sink.c - a webhook receiver for the benchmarks (never part of a build's pass/fail).
 *
 * Listens on 127.0.0.1 (ephemeral port, printed as "port N" on stdout), answers every POST
 * with 204 over keep-alive HTTP/1.1, and timestamps each arrival (CLOCK_REALTIME, µs) together
 * with the body's "line" field. Requests to paths starting with /hang are read and never
 * answered. On SIGTERM it writes "line arrival_us" lines to the file given as its argument and
 * exits. One thread, epoll: a fan-out burst is answered in microseconds, not in the
 * milliseconds a single-threaded Node server needs, so the figures measure flowgate.
 *
 *   fg_sink OUTFILE
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536

typedef struct {
    int fd;
    bool hang; /* a /hang request was seen: never answer on this connection */
    size_t len;
    char buf[BUF];
} conn_t;

typedef struct {
    char line[32];
    int64_t us;
} arrival_t;

static arrival_t *arrivals;
static size_t narrivals, caparrivals;
static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void record(const char *body, size_t len, int64_t at)
{
    static const char key[] = "\"line\":\"";
    const char *p = memmem(body, len, key, sizeof(key) - 1);
    if (p == NULL)
        return;
    p += sizeof(key) - 1;
    const char *end = memchr(p, '"', (size_t)(body + len - p));
    if (end == NULL || end - p >= 32)
        return;
    if (narrivals == caparrivals) {
        caparrivals = caparrivals ? caparrivals * 2 : 65536;
        arrivals = realloc(arrivals, caparrivals * sizeof(*arrivals));
        if (arrivals == NULL)
            abort();
    }
    arrival_t *a = &arrivals[narrivals++];
    memcpy(a->line, p, (size_t)(end - p));
    a->line[end - p] = '\0';
    a->us = at;
}

/* Handles every complete request in the buffer. False when the connection should close. */
static bool serve(conn_t *c)
{
    for (;;) {
        char *hend = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (hend == NULL)
            return c->len < BUF;
        size_t hlen = (size_t)(hend - c->buf) + 4, clen = 0;
        for (char *l = memchr(c->buf, '\n', hlen); l != NULL && l < hend;
             l = memchr(l + 1, '\n', (size_t)(hend - l))) {
            if (strncasecmp(l + 1, "content-length:", 15) == 0)
                clen = strtoul(l + 16, NULL, 10);
        }
        if (hlen + clen > BUF)
            return false;
        if (c->len < hlen + clen)
            return true;
        int64_t at = now_us();
        if (strncmp(c->buf, "POST /hang", 10) == 0)
            c->hang = true;
        if (!c->hang) {
            record(c->buf + hlen, clen, at);
            static const char ok[] = "HTTP/1.1 204 No Content\r\n\r\n";
            if (write(c->fd, ok, sizeof(ok) - 1) != (ssize_t)sizeof(ok) - 1)
                return false;
        }
        memmove(c->buf, c->buf + hlen + clen, c->len - hlen - clen);
        c->len -= hlen + clen;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fg_sink OUTFILE\n");
        return 2;
    }
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 4096) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &alen) != 0) {
        perror("fg_sink: listen");
        return 1;
    }
    printf("port %d\n", ntohs(a.sin_port));
    fflush(stdout);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event evs[256];
    while (!stop) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    conn_t *nc = calloc(1, sizeof(*nc));
                    if (nc == NULL)
                        abort();
                    nc->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            ssize_t r = read(c->fd, c->buf + c->len, BUF - c->len);
            if (r > 0) {
                c->len += (size_t)r;
                if (serve(c))
                    continue;
            } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
                continue;
            }
            close(c->fd);
            free(c);
        }
    }
    FILE *f = fopen(argv[1], "w");
    if (f == NULL) {
        perror("fg_sink: output");
        return 1;
    }
    for (size_t i = 0; i < narrivals; i++)
        fprintf(f, "%s %lld\n", arrivals[i].line, (long long)arrivals[i].us);
    fclose(f);
    return 0;
}
