/*
 * hangup.c - a loop's set of HTTP/1.1 stream sockets watched for their client's hangup
 * (hangup.h).
 */
#include "gateway/hangup.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

struct fg_hangup_watch {
    void *stream; /* NULL once unwatched */
    int fd;
    fg_hangup_watch_t *next_dead;
};

void fg_hangup_init(fg_hangup_t *h)
{
    h->epfd = epoll_create1(EPOLL_CLOEXEC);
    h->dead = NULL;
    h->nwatched = 0;
}

static void free_dead(fg_hangup_t *h)
{
    while (h->dead != NULL) {
        fg_hangup_watch_t *next = h->dead->next_dead;
        free(h->dead);
        h->dead = next;
    }
}

void fg_hangup_dispose(fg_hangup_t *h)
{
    free_dead(h);
    if (h->epfd >= 0)
        close(h->epfd);
    h->epfd = -1;
}

fg_hangup_watch_t *fg_hangup_watch(fg_hangup_t *h, int fd, void *stream)
{
    if (h->epfd < 0 || fd < 0)
        return NULL;
    fg_hangup_watch_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->stream = stream;
    w->fd = fd;
    struct epoll_event ev = {.events = EPOLLRDHUP, .data.ptr = w};
    if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        free(w);
        return NULL;
    }
    h->nwatched++;
    return w;
}

void fg_hangup_unwatch(fg_hangup_t *h, fg_hangup_watch_t *w)
{
    if (w == NULL)
        return;
    /* Fails harmlessly when the socket is closed already (its registration went with it). The
     * watch is freed at the next poll, never while a poll's events may still point at it. */
    epoll_ctl(h->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->stream = NULL;
    w->next_dead = h->dead;
    h->dead = w;
    h->nwatched--;
}

void fg_hangup_poll(fg_hangup_t *h, void (*gone)(void *stream))
{
    free_dead(h);
    if (h->epfd < 0 || h->nwatched == 0)
        return;
    struct epoll_event evs[256];
    int n;
    do {
        n = epoll_wait(h->epfd, evs, 256, 0);
        for (int i = 0; i < n; i++) {
            fg_hangup_watch_t *w = evs[i].data.ptr;
            if (w->stream == NULL)
                continue; /* unwatched while this batch was handled */
            void *s = w->stream;
            /* told once: it is out of the set from here on */
            epoll_ctl(h->epfd, EPOLL_CTL_DEL, w->fd, NULL);
            gone(s);
        }
    } while (n == 256);
}
