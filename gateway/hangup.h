/*
 * hangup.h - noticing at once that an HTTP/1.1 client went away from its stream. h2o 2.2.5 does
 * not read an HTTP/1.1 connection while a response streams, so a FIN or an RST showed only when
 * a later write failed: a heartbeat 15 to 30 s on, the stream, the connection and the client's
 * per-address and per-credential slots held all that time (a reconnect storm was refused with
 * 429/503 although nobody was connected twice). HTTP/2 connections are read all along: h2o
 * notices there itself.
 *
 * Each loop keeps an epoll set of its HTTP/1.1 streams' sockets, watched for the peer's hangup
 * only (EPOLLRDHUP, EPOLLHUP, EPOLLERR: never for data). The set's own fd is watched by the loop,
 * which polls the set (without waiting) as soon as it is readable, and from a timer every
 * FG_HANGUP_POLL_MS should that watch be missing; the stream of a socket that hung up is handed
 * to the callback, which makes h2o close the connection. One loop's thread only.
 */
#ifndef FG_GATEWAY_HANGUP_H
#define FG_GATEWAY_HANGUP_H

#include <stddef.h>

#define FG_HANGUP_POLL_MS 200

typedef struct fg_hangup_watch fg_hangup_watch_t;

typedef struct {
    int epfd;                /* -1 when it could not be made: hangups show on writes */
    fg_hangup_watch_t *dead; /* unwatched, freed at the next poll */
    size_t nwatched;
} fg_hangup_t;

/** Makes the set (epfd -1 when the system refuses: nothing is watched then). */
void fg_hangup_init(fg_hangup_t *h);

/** Frees the set and every watch left. */
void fg_hangup_dispose(fg_hangup_t *h);

/** Watches fd for stream. NULL when it cannot (then the hangup shows on a write, as before). */
fg_hangup_watch_t *fg_hangup_watch(fg_hangup_t *h, int fd, void *stream);

/** Stops watching (the stream is going; the fd may be closed already). NULL is a no-op. */
void fg_hangup_unwatch(fg_hangup_t *h, fg_hangup_watch_t *w);

/** Hands each watched stream whose client hung up since the last poll to gone (once each). */
void fg_hangup_poll(fg_hangup_t *h, void (*gone)(void *stream));

#endif
