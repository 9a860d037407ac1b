/* The socket shell around a link (mt_link.h): the only part of the core with sockets and
 * clocks. Every decision (handshake, reconnects and their pauses, re-keying, re-sending,
 * acks, deadlines) is the link's; the shell resolves the host, opens the TCP connection
 * the link asks for, reads, writes and passes the time.
 *
 * Two ways to drive it:
 *   - blocking: connect(), flush() and wait() poll and sleep until done (the shell picks
 *     one blocking recv bounded by SO_RCVTIMEO when only an answer is awaited);
 *   - from an event loop: pump() never blocks; the loop waits for fd() to be ready for
 *     events() or for timeout() seconds, then pumps again.
 *
 * Errors: functions return a negative MT_ERR_*; mt_conn_error() gives the short message
 * ("TIMEOUT", "CONNECTION_CLOSED", "NETWORK_ERROR", "TRANSPORT_ERROR_404",
 * "PROTOCOL_ERROR", "HANDSHAKE_FAILED") and a detail. */
#ifndef MT_CONN_H
#define MT_CONN_H

#include <stddef.h>
#include <stdint.h>
#include "mt_buf.h"
#include "mt_link.h"
#include "mt_proxy.h"

typedef struct mt_conn_config {
    const char *host;           /* IPv4/IPv6 literal or host name (copied) */
    int port;
    const mt_proxy_config *proxy; /* NULL: connect to host:port directly (see mt_proxy.h) */
    mt_link_config link;        /* wall_offset and peer are set by the shell */
    size_t max_updates;         /* unread updates kept; 0: MT_CONN_MAX_UPDATES */
} mt_conn_config;

/* Unread updates kept per connection (the oldest quarter goes when full), and their bytes. */
#define MT_CONN_MAX_UPDATES   10000
#define MT_CONN_UPDATES_BYTES ((size_t)32 << 20)

typedef struct mt_conn mt_conn;

/* NULL with *err set (MT_ERR_ARG: bad host/port/transport/PEM, MT_ERR_NOMEM). */
mt_conn *mt_conn_new(const mt_conn_config *cfg, int *err);
/* Closes the socket, wipes secrets and frees; NULL is fine. */
void mt_conn_free(mt_conn *c);

/* Blocking: one TCP connect (connect_timeout) and a handshake when there is no key, all
 * within `timeout` seconds (<= 0: no bound but the link's own). */
int mt_conn_connect(mt_conn *c, double timeout);
/* Closes the socket; the calls stay (they are re-sent on the next connection). */
void mt_conn_close(mt_conn *c);

/* Queues a call ending at now + timeout (timeout <= 0: the configured one). */
int mt_conn_send(mt_conn *c, const uint8_t *body, size_t len, double timeout, uint64_t *id);
/* Blocking: writes what is queued (connecting first when needed). */
int mt_conn_flush(mt_conn *c);
/* Blocking: waits up to `timeout` seconds (< 0: until the call's own deadline) for `id`.
 * Returns MT_REQ_DONE or MT_REQ_FAILED (see mt_session_take for *data, *len, *code:
 * valid until the next call on c) or MT_ERR_TIMEOUT (the wait ran out, the call goes on)
 * or MT_ERR_ARG (unknown id). */
int mt_conn_wait(mt_conn *c, uint64_t id, double timeout, const uint8_t **data, size_t *len, int32_t *code);
/* mt_conn_send then mt_conn_wait until the call's deadline, on one clock read. A send that
 * fails leaves *id 0 and returns its error (MT_ERR_ARG, MT_ERR_RANGE, MT_ERR_NOMEM); else
 * *id is the call's and the result is mt_conn_wait's. */
int mt_conn_call(mt_conn *c, const uint8_t *body, size_t len, double timeout, uint64_t *id,
                 const uint8_t **data, size_t *dlen, int32_t *code);
void mt_conn_release(mt_conn *c, uint64_t id);
/* Blocking: keeps the connection open (connecting when needed) and reads for up to
 * `timeout` seconds until an update arrives. 1 when updates wait in mt_conn_updates(), 0
 * when none came in time. */
int mt_conn_poll(mt_conn *c, double timeout);

/* The link wants its connection (connecting, and reconnecting after a loss) for `seconds`
 * from now even without calls: updates come only over an open connection. Nothing happens
 * before the next pump() or blocking call. */
void mt_conn_keep_open(mt_conn *c, double seconds);

/* Event loops: pump() reads what is there, writes what it can, runs the link's timers and
 * connects as the link asks; it never blocks (but a host name is resolved with
 * getaddrinfo). fd() is -1 without a socket; events() is POLLIN and/or POLLOUT;
 * timeout() seconds until the next timer (< 0: none). */
void mt_conn_pump(mt_conn *c);
int mt_conn_fd(const mt_conn *c);
int mt_conn_events(const mt_conn *c);
double mt_conn_timeout(const mt_conn *c);

/* The last connection error: short message and detail text. */
const char *mt_conn_error(const mt_conn *c, const char **detail);

/* Updates received so far: `u32 length | bytes` records in one buffer; the
 * caller empties it (buf->len = 0) after reading. At most max_updates records
 * are kept: when full, the oldest quarter is dropped (counted, logged). */
mt_buf *mt_conn_updates(mt_conn *c);
uint64_t mt_conn_updates_dropped(const mt_conn *c);

mt_link *mt_conn_link(mt_conn *c);
mt_session *mt_conn_session(mt_conn *c);
/* Number of auth keys made so far (handshakes, including after a -404): save the new one. */
unsigned mt_conn_key_changes(const mt_conn *c);
/* Number of TCP connections opened so far. */
unsigned mt_conn_connections(const mt_conn *c);
/* The shell's clocks, in seconds: CLOCK_MONOTONIC and Unix time (CLOCK_REALTIME). */
double mt_clock_monotonic(void);
double mt_clock_wall(void);

#endif
