/* The test DC's io_uring (tdc_ring.c): receives, sends and polls queued in shared memory and
 * handed to the kernel together with the wait for the next completion, so a request answered
 * at once costs one system call (the answer's send, the wait for the next request and its
 * receive) instead of three (epoll_wait, recv, send). Raw system calls: no liburing. */
#ifndef TDC_RING_H
#define TDC_RING_H

#include <stddef.h>
#include <stdint.h>

typedef struct tdc_ring tdc_ring;

#define TDC_RING_BUF 16384     /* the most one receive's completion gives */

/* NULL when this system has no io_uring the loop can use (a kernel before 6.1, io_uring
 * disabled by sysctl or a seccomp filter, as container runtimes often do): epoll then. */
tdc_ring *tdc_ring_new(void);
/* Closes the ring (the kernel cancels what is still queued). NULL is fine. */
void tdc_ring_free(tdc_ring *r);
/* Queue one request; its completions carry `tag`. -1 when the queue is full even after
 * handing what it holds to the kernel (try again on the next round).
 * A receive stays on (multishot): each time bytes come, a completion with one of the ring's
 * buffers (give it back with tdc_ring_give once read), until one says no more comes (the
 * peer's end, an error, or no free buffer: queue it again then).
 * A send's bytes must stay as they are until its completion, which comes during the next
 * wait's hand-over with what the socket took (-EAGAIN: none; the socket has room again when a
 * poll for writability says so). A counted send does not end the wait (see tdc_ring_wait):
 * count those after which nothing is to be done at once. */
int tdc_ring_recv(tdc_ring *r, int fd, uint64_t tag);
void tdc_ring_give(tdc_ring *r, const uint8_t *buf);
int tdc_ring_send(tdc_ring *r, int fd, const void *buf, size_t n, int counted, uint64_t tag);
/* Completes once fd is readable (out: writable), at once when it already is; multishot: again
 * at every later wake-up that finds it so (for writability: once a send found no room, when
 * the peer has read some), until cancelled or a completion says no more comes. */
int tdc_ring_poll(tdc_ring *r, int fd, int out, int multishot, uint64_t tag);
/* Cancels the request queued with `tag` (it completes with -ECANCELED unless already done);
 * the cancel's own completion carries `own_tag`. */
int tdc_ring_cancel(tdc_ring *r, uint64_t tag, uint64_t own_tag);
/* Hands the queued requests to the kernel and waits until a completion other than those of
 * the counted sends queued since the last wait (they complete during the hand-over) is
 * there, or timeout_ms passed (< 0: no limit). 0, or -1 on a failure of the ring. */
int tdc_ring_wait(tdc_ring *r, int timeout_ms);
/* The next completion: 1 with its tag, result (bytes, a poll's events, or -errno), whether the
 * request goes on (multishot) and the receive buffer it filled (NULL: none), 0 when none is
 * left. */
int tdc_ring_next(tdc_ring *r, uint64_t *tag, int *res, int *more, const uint8_t **buf);

#endif
