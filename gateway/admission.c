/*
 * admission.c - the limits of config "limits.*" applied to HTTP: connections in total, the shape
 * of a request (URL length, header bytes, query parameters, filter items), streams per
 * credential and per client address, and the publish rate per credential (per address when
 * auth is off). A refusal is a 4xx in the error shape (429 with Retry-After for rates and
 * counts; 414, 431, 400 for shapes), or for connections over the cap a 503 written before
 * closing. HTTP loop threads.
 */
#include "events/log.h"
#include "events/timefmt.h"
#include "gateway/gateway_internal.h"
#include "gateway/http_util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* The client's address as text ("127.0.0.1", "::1"), or "-" when unknown. */
static void peer_of(h2o_req_t *req, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t n = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    snprintf(out, cap, "-");
    if (n == 0)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)cap);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)cap);
}

static void too_many(h2o_req_t *req, const char *code, const char *message, const char *limit,
                     int64_t value, int64_t retry_ms)
{
    char ra[24];
    snprintf(ra, sizeof(ra), "%lld", (long long)((retry_ms + 999) / 1000));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, ra, strlen(ra));
    fg_http_limit_error(req, 429, code, message, limit, value, -1);
}

int fg_admit_request(h2o_req_t *req)
{
    const fg_config_t *cfg = fg_loop_of(req)->server->cfg;
    if (req->path.len > (size_t)cfg->max_url_bytes) {
        fg_http_limit_error(req, 414, "url_too_long",
                            "the request URL exceeds limits.max_url_bytes", "max_url_bytes",
                            cfg->max_url_bytes, -1);
        return -1;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < req->headers.size; i++)
        bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    if (bytes > (size_t)cfg->max_header_bytes) {
        fg_http_limit_error(req, 431, "headers_too_large",
                            "the request headers exceed limits.max_header_bytes",
                            "max_header_bytes", cfg->max_header_bytes, -1);
        return -1;
    }
    if (req->query_at != SIZE_MAX) {
        size_t params = 1, items = 0;
        const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
        for (const char *p = q; p < end; p++)
            params += *p == '&';
        /* filter items: one per value of types, run_id and workflow, plus one per comma */
        for (const char *p = q; p < end;) {
            const char *amp = memchr(p, '&', (size_t)(end - p));
            const char *e = amp ? amp : end;
            if ((e - p > 6 && memcmp(p, "types=", 6) == 0) ||
                (e - p > 7 && memcmp(p, "run_id=", 7) == 0) ||
                (e - p > 9 && memcmp(p, "workflow=", 9) == 0)) {
                items++;
                for (const char *c = p; c < e; c++)
                    items += *c == ',' || (c + 2 < e && c[0] == '%' && c[1] == '2' &&
                                           (c[2] == 'C' || c[2] == 'c'));
            }
            p = e + 1;
        }
        if (params > (size_t)cfg->max_query_params) {
            fg_http_limit_error(req, 400, "too_many_params",
                                "the query string has more parameters than limits.max_query_params",
                                "max_query_params", cfg->max_query_params, -1);
            return -1;
        }
        if (items > (size_t)cfg->max_filter_items) {
            fg_http_limit_error(req, 400, "invalid_filter",
                                "the filter lists more items than limits.max_filter_items",
                                "max_filter_items", cfg->max_filter_items, -1);
            return -1;
        }
    }
    return 0;
}

/* The keys a stream counts against. */
static void stream_keys(h2o_req_t *req, const fg_principal_t *who, char *addr, char *cred)
{
    char peer[INET6_ADDRSTRLEN + 1];
    peer_of(req, peer, sizeof(peer));
    snprintf(addr, FG_LIMITS_KEY_MAX, "a:%s", peer);
    snprintf(cred, FG_LIMITS_KEY_MAX, "c:%s", who ? who->name : "");
}

int fg_admit_stream(h2o_req_t *req, const fg_principal_t *who, char *addr_key, char *cred_key)
{
    fg_server_t *srv = fg_loop_of(req)->server;
    const fg_config_t *cfg = srv->cfg;
    stream_keys(req, who, addr_key, cred_key);
    if (!fg_limits_stream_open(srv->limits, addr_key, cfg->max_streams_per_address)) {
        cred_key[0] = addr_key[0] = '\0';
        too_many(req, "too_many_streams", "this client address has too many streams open",
                 "max_streams_per_address", cfg->max_streams_per_address, 1000);
        return -1;
    }
    if (who != NULL &&
        !fg_limits_stream_open(srv->limits, cred_key, cfg->max_streams_per_credential)) {
        fg_limits_stream_close(srv->limits, addr_key);
        cred_key[0] = addr_key[0] = '\0';
        too_many(req, "too_many_streams", "this credential has too many streams open",
                 "max_streams_per_credential", cfg->max_streams_per_credential, 1000);
        return -1;
    }
    if (who == NULL)
        cred_key[0] = '\0';
    return 0;
}

void fg_admit_stream_end(fg_server_t *srv, const char *addr_key, const char *cred_key)
{
    if (addr_key[0] != '\0')
        fg_limits_stream_close(srv->limits, addr_key);
    if (cred_key[0] != '\0')
        fg_limits_stream_close(srv->limits, cred_key);
}

/* Takes events from the publisher's bucket: 0, or how long (ms) until they would fit. */
static int64_t publish_take(h2o_req_t *req, const char *who, size_t events)
{
    fg_server_t *srv = fg_loop_of(req)->server;
    const fg_config_t *cfg = srv->cfg;
    if (cfg->publish_rate <= 0)
        return 0;
    char key[FG_LIMITS_KEY_MAX];
    if (who != NULL) {
        snprintf(key, sizeof(key), "p:c:%s", who);
    } else {
        char peer[INET6_ADDRSTRLEN + 1];
        peer_of(req, peer, sizeof(peer));
        snprintf(key, sizeof(key), "p:a:%s", peer);
    }
    return fg_limits_take(srv->limits, key, (int64_t)events, cfg->publish_rate, cfg->publish_burst,
                          fg_time_now_us());
}

int fg_admit_publish(h2o_req_t *req, const fg_principal_t *who, size_t events)
{
    int64_t wait = publish_take(req, who ? who->name : NULL, events);
    if (wait == 0)
        return 0;
    const fg_config_t *cfg = fg_loop_of(req)->server->cfg;
    too_many(req, "rate_limited", "publishing faster than limits.publish_rate allows",
             "publish_rate", cfg->publish_rate, wait);
    return -1;
}

bool fg_admit_publish_quiet(h2o_req_t *req, const char *who, size_t events)
{
    return publish_take(req, who, events) == 0;
}

/* --- connections -------------------------------------------------------------------------- */

static void on_conn_close(void *data)
{
    fg_server_t *srv = data;
    atomic_fetch_sub(&srv->connections, 1);
}

bool fg_admit_connection(fg_server_t *srv, h2o_socket_t *sock, bool tls)
{
    int64_t max = srv->cfg->max_connections;
    int64_t now = atomic_fetch_add(&srv->connections, 1) + 1;
    if (max > 0 && now > max) {
        atomic_fetch_sub(&srv->connections, 1);
        atomic_fetch_add(&srv->connections_refused, 1);
        /* One plain answer, best effort (the socket is new, so its buffer has room), then close. */
        static const char body[] =
            "{\"error\":\"too_many_connections\",\"message\":\"the server has "
            "limits.max_connections open\",\"details\":{\"limit\":\"max_connections\"}}";
        char reply[512];
        int n = snprintf(reply, sizeof(reply),
                         "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                         "Retry-After: 1\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                         sizeof(body) - 1, body);
        if (!tls) { /* a TLS client would read it as a broken handshake: it just gets closed */
            ssize_t w = send(h2o_socket_get_fd(sock), reply, (size_t)n, MSG_NOSIGNAL);
            (void)w;
        }
        h2o_socket_close(sock);
        return false;
    }
    sock->on_close.cb = on_conn_close;
    sock->on_close.data = srv;
    return true;
}
