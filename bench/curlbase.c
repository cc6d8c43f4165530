/*
 * curlbase.c - libcurl's own ceiling on this machine (benchmarks only): POSTs the same small
 * body to a URL as fast as one thread with one multi handle can, reusing easy handles and
 * keep-alive connections, with nothing else (no signing, no store, no per-request headers
 * beyond Content-Type). The dispatcher's deliveries per second are read against this figure.
 * With --webhook, each request is the size and shape of a flowgate delivery of the bench's
 * log_line event (the same work): its 245-byte body as stored, and the Standard Webhooks headers
 * and User-Agent flowgate sends (fixed values here: libcurl alone signs nothing).
 *
 *   fg_curlbase PARALLEL REQUESTS URL [--webhook]
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    return size * n;
}

int main(int argc, char **argv)
{
    bool webhook = argc == 5 && strcmp(argv[4], "--webhook") == 0;
    if (argc != 4 && !webhook) {
        fprintf(stderr, "usage: fg_curlbase PARALLEL REQUESTS URL [--webhook]\n");
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
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
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
    printf("libcurl alone%s, %d in parallel: %d requests (%d failed) -> %.0f requests/s\n",
           webhook ? " (webhook-sized requests)" : "", parallel, total, failed, total / secs);
    curl_slist_free_all(headers);
    curl_multi_cleanup(multi);
    return failed > 0;
}
