/*
 * curlbase.c - libcurl's own ceiling on this machine (benchmarks only): POSTs the same small
 * body to a URL as fast as one thread with one multi handle can, reusing easy handles and
 * keep-alive connections, with nothing else (no signing, no store, no per-request headers
 * beyond Content-Type). The dispatcher's deliveries per second are read against this figure.
 * With --webhook, each request is the size and shape of a flowgate delivery of the bench's
 * log_line event (the same work): its 245-byte body as stored, and the Standard Webhooks headers
 * and User-Agent flowgate sends (fixed values here: libcurl alone signs nothing).
 *
 * With --endpoints N, it does the work of N subscriptions: each of N endpoints (paths URL/s0 ..
 * URL/sN-1) has PARALLEL in flight and its own multi handle (its own connection pool), as in the
 * dispatcher, all in one epoll loop. With one multi handle for everything, curl_multi_perform
 * would walk every transfer on every call, and 100 x 32 in flight fall to 12k requests/s here.
 * Two ways to drive the endpoints:
 *   perform (default, the faster here): each socket is in the epoll set, edge-triggered, from
 *     its opening to its closing; a batch of events runs each endpoint concerned once, with
 *     curl_multi_perform;
 *   --socket-action: libcurl's socket interface, as its documentation and examples use it (a
 *     socket callback changing the epoll set, curl_multi_socket_action per ready socket).
 *
 * With --neighbour ON_US/PERIOD_US, a second thread of the process computes for ON_US of every
 * PERIOD_US (sleeping the rest) while the requests go: the size and rhythm of flowgate's writer
 * beside its dispatcher (7 of every 20 ms in bench/cpushare.py), to see what any such neighbour
 * on the sink's side of a two-vCPU machine costs libcurl alone.
 *
 *   fg_curlbase PARALLEL REQUESTS URL [--webhook] [--endpoints N [--socket-action]]
 *               [--neighbour ON_US/PERIOD_US]
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    return size * n;
}

static int64_t mono_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static long neighbour_on_us, neighbour_period_us;

/* --neighbour: computes for neighbour_on_us of every neighbour_period_us, until the exit. */
static void *neighbour(void *arg)
{
    volatile uint64_t x = 1;
    (void)arg;
    for (;;) {
        int64_t start = mono_us();
        while (mono_us() - start < neighbour_on_us)
            x = x * 6364136223846793005u + 1;
        struct timespec rest = {0, (neighbour_period_us - neighbour_on_us) * 1000};
        nanosleep(&rest, NULL);
    }
    return NULL;
}

static int64_t mono_ms(void)
{
    return mono_us() / 1000;
}

/* One endpoint of --endpoints: its multi handle and what is left to send to it. */
typedef struct {
    CURLM *multi;
    uint32_t index;
    int epfd;
    bool perform;   /* driven with curl_multi_perform, else with curl_multi_socket_action */
    bool ready;     /* perform: one of its sockets changed in this batch */
    int64_t due_ms; /* libcurl's timeout for it (monotonic), or -1 */
    int left;       /* requests not started yet */
    int done, failed;
} endpoint_t;

/* An epoll entry names the endpoint (by index) and the socket. */
static uint64_t tag(const endpoint_t *ep, curl_socket_t s)
{
    return (uint64_t)ep->index << 32 | (uint32_t)s;
}

/* socket: libcurl's socket callback keeps the epoll set in step with what it waits for. */
static int on_socket(CURL *e, curl_socket_t s, int what, void *ud, void *sockp)
{
    endpoint_t *ep = ud;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(ep->epfd, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign(ep->multi, s, NULL);
        return 0;
    }
    struct epoll_event ev = {.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) |
                                       (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
                             .data.u64 = tag(ep, s)};
    if (sockp == NULL) {
        epoll_ctl(ep->epfd, EPOLL_CTL_ADD, s, &ev);
        curl_multi_assign(ep->multi, s, ep);
    } else {
        epoll_ctl(ep->epfd, EPOLL_CTL_MOD, s, &ev);
    }
    return 0;
}

/* perform: each socket is watched from its opening, edge-triggered, and never changed (its
 * close takes it out of the set). */
static curl_socket_t on_open(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    endpoint_t *ep = ud;
    (void)purpose;
    curl_socket_t s = socket(a->family, a->socktype, a->protocol);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u64 = tag(ep, s)};
    if (s != CURL_SOCKET_BAD)
        epoll_ctl(ep->epfd, EPOLL_CTL_ADD, s, &ev);
    return s;
}

static int on_timer(CURLM *m, long ms, void *ud)
{
    endpoint_t *ep = ud;
    (void)m;
    ep->due_ms = ms < 0 ? -1 : mono_ms() + ms;
    return 0;
}

/* Lets libcurl act on fd (socket driving) or on everything of the endpoint (perform driving, or
 * fd CURL_SOCKET_TIMEOUT), then restarts each finished transfer while requests are left. */
static void act(endpoint_t *ep, curl_socket_t fd, int mask)
{
    int running, left;
    if (ep->perform)
        curl_multi_perform(ep->multi, &running);
    else
        curl_multi_socket_action(ep->multi, fd, mask, &running);
    long ms;
    curl_multi_timeout(ep->multi, &ms);
    ep->due_ms = ms < 0 ? -1 : mono_ms() + ms;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(ep->multi, &left)) != NULL) {
        CURL *e = msg->easy_handle;
        ep->failed += msg->data.result != CURLE_OK;
        ep->done++;
        curl_multi_remove_handle(ep->multi, e);
        if (ep->left > 0) {
            ep->left--;
            curl_multi_add_handle(ep->multi, e);
        } else {
            curl_easy_cleanup(e);
        }
    }
}

/* --endpoints: n endpoints x parallel in flight, total requests shared out; returns the count
 * done. */
static int run_endpoints(int n, int parallel, int total, bool perform, const char *url,
                         const char *body, struct curl_slist *headers, int *failed)
{
    endpoint_t *eps = calloc((size_t)n, sizeof(endpoint_t));
    int epfd = epoll_create1(0), done = 0;
    if (eps == NULL || epfd < 0)
        return 0;
    for (int i = 0; i < n; i++) {
        endpoint_t *ep = &eps[i];
        *ep = (endpoint_t){.multi = curl_multi_init(),
                           .index = (uint32_t)i,
                           .epfd = epfd,
                           .perform = perform,
                           .due_ms = -1,
                           .left = total / n + (i < total % n)};
        curl_multi_setopt(ep->multi, CURLMOPT_MAXCONNECTS, (long)parallel);
        if (!perform) {
            curl_multi_setopt(ep->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
            curl_multi_setopt(ep->multi, CURLMOPT_SOCKETDATA, ep);
        }
        curl_multi_setopt(ep->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(ep->multi, CURLMOPT_TIMERDATA, ep);
        char u[1024];
        snprintf(u, sizeof(u), "%s/s%d", url, i);
        for (int k = 0; k < parallel && ep->left > 0; k++, ep->left--) {
            CURL *e = curl_easy_init();
            curl_easy_setopt(e, CURLOPT_URL, u);
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
            curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
            if (perform) {
                curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open);
                curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, ep);
            }
            curl_multi_add_handle(ep->multi, e);
        }
    }
    struct epoll_event evs[256];
    while (done < total) {
        int64_t now = mono_ms(), until = now + 100;
        for (int i = 0; i < n; i++)
            if (eps[i].due_ms >= 0 && eps[i].due_ms < until)
                until = eps[i].due_ms;
        int k = epoll_wait(epfd, evs, 256, until > now ? (int)(until - now) : 0);
        for (int i = 0; i < k; i++) {
            endpoint_t *ep = &eps[evs[i].data.u64 >> 32];
            if (perform) {
                ep->ready = true; /* runs once for the batch, below */
                continue;
            }
            int mask = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                       (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                       (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            act(ep, (curl_socket_t)(uint32_t)evs[i].data.u64, mask);
        }
        now = mono_ms();
        done = 0;
        for (int i = 0; i < n; i++) {
            endpoint_t *ep = &eps[i];
            if (ep->ready || (ep->due_ms >= 0 && ep->due_ms <= now)) {
                ep->ready = false;
                act(ep, CURL_SOCKET_TIMEOUT, 0);
            }
            done += ep->done;
        }
    }
    for (int i = 0; i < n; i++) {
        *failed += eps[i].failed;
        curl_multi_cleanup(eps[i].multi);
    }
    free(eps);
    return done;
}

int main(int argc, char **argv)
{
    bool webhook = false, socket_action = false;
    int endpoints = 0;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--webhook") == 0)
            webhook = true;
        else if (strcmp(argv[i], "--endpoints") == 0 && i + 1 < argc)
            endpoints = atoi(argv[++i]);
        else if (strcmp(argv[i], "--socket-action") == 0)
            socket_action = true;
        else if (strcmp(argv[i], "--neighbour") == 0 && i + 1 < argc &&
                 sscanf(argv[++i], "%ld/%ld", &neighbour_on_us, &neighbour_period_us) == 2 &&
                 neighbour_on_us > 0 && neighbour_period_us > neighbour_on_us &&
                 neighbour_period_us < 1000000)
            continue;
        else
            argc = 0;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: fg_curlbase PARALLEL REQUESTS URL [--webhook] [--endpoints N "
                        "[--socket-action]] [--neighbour ON_US/PERIOD_US]\n");
        return 2;
    }
    int parallel = atoi(argv[1]), total = atoi(argv[2]);
    static const char light[] = "{\"type\":\"log_line\",\"run_id\":\"3f1c2a4e-8b9d-4c1e-9f2a-"
                                "1b2c3d4e5f60\",\"line\":\"t1\"}";
    static const char delivery[] =
        "{\"type\":\"log_line\",\"run_id\":\"3f1c2a4e-8b9d-4c1e-9f2a-1b2c3d4e5f60\",\"step_id\":"
        "\"0b7d2e51-1111-4c1e-9f2a-1b2c3d4e5f61\",\"step_name\":\"bench\",\"stream\":\"stdout\","
        "\"line\":\"t1\",\"id\":\"01a23f45-9872-7c5b-85ba-99785857b604\",\"at\":"
        "\"2026-12-04T04:17:35.346485Z\"}";
    const char *body = webhook ? delivery : light;
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)parallel);
    struct curl_slist *headers = NULL;
    if (webhook) {
        headers =
            curl_slist_append(headers, "webhook-id: msg_01a23f45-9872-7c6c-b83e-4d58369bf89c");
        headers = curl_slist_append(headers, "webhook-timestamp: 1796357855");
        headers = curl_slist_append(
            headers, "webhook-signature: v1,qXWbLzQI0km0KDblEFHL+z6GnpcruMIJadZtGJuXJ4o=");
        headers = curl_slist_append(headers, "User-Agent: flowgate/0.1.0");
    }
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    int started = 0, done = 0, failed = 0;
    char beside[64] = "";
    if (neighbour_on_us > 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, neighbour, NULL) != 0) {
            fprintf(stderr, "fg_curlbase: no neighbour thread\n");
            return 2;
        }
        snprintf(beside, sizeof(beside), ", beside a thread busy %ld of every %ld us",
                 neighbour_on_us, neighbour_period_us);
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (endpoints > 0) {
        done = run_endpoints(endpoints, parallel, total, !socket_action, argv[3], body, headers,
                             &failed);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
        printf("libcurl alone%s, %d endpoint(s) x %d in parallel (a multi handle each, %s)%s: %d "
               "requests (%d failed) -> %.0f requests/s\n",
               webhook ? " (webhook-sized requests)" : "", endpoints, parallel,
               socket_action ? "curl_multi_socket_action" : "curl_multi_perform", beside, done,
               failed, done / secs);
        curl_slist_free_all(headers);
        curl_multi_cleanup(multi);
        return failed > 0;
    }
    for (int i = 0; i < parallel && started < total; i++, started++) {
        CURL *e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, argv[3]);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_multi_add_handle(multi, e);
    }
    while (done < total) {
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
            CURL *e = msg->easy_handle;
            failed += msg->data.result != CURLE_OK;
            done++;
            curl_multi_remove_handle(multi, e);
            if (started < total) {
                curl_multi_add_handle(multi, e);
                started++;
            } else {
                curl_easy_cleanup(e);
            }
        }
        curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("libcurl alone%s, %d in parallel%s: %d requests (%d failed) -> %.0f requests/s\n",
           webhook ? " (webhook-sized requests)" : "", parallel, beside, total, failed,
           total / secs);
    curl_slist_free_all(headers);
    curl_multi_cleanup(multi);
    return failed > 0;
}
