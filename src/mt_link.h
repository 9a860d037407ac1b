/* The link: one client connection to one DC as a sans-IO state machine.
 *
 * It owns every decision about the connection: when to open a TCP connection,
 * the handshake, reconnecting after a loss (with a growing pause), re-keying
 * after a -404, re-sending what was not answered, acks, and every deadline
 * (each call's, the TCP connect's, the handshake's). It never touches a socket
 * or a clock: the host (src/mt_conn.c blocking, or a Lua event loop through
 * src/lconn.c) moves bytes and time in and out:
 *
 *   host                                  link
 *   state() == CONNECTING, epoch() ->     wants a TCP connection (one per epoch)
 *   connected(now) / lost(now, ...)  ->   the TCP connect of this epoch succeeded / failed
 *   feed(bytes, now)                 ->   bytes read from the socket
 *   output(now, &p, &n); written(n)  <-   bytes to write (packed on demand)
 *   tick(now) at deadline()          ->   timers: call deadlines, connect/handshake
 *                                         deadlines, backoff, delayed acks
 *   events()                         <-   CONNECTED, ANSWER(id), UPDATE(bytes),
 *                                         LOST (connection error), KEY (new auth key)
 *
 * `now` is monotonic seconds; the link adds cfg.wall_offset to get unix time
 * for msg_ids and the handshake. When state() is DOWN, or epoch() differs from
 * the epoch of the host's socket, the host closes its socket.
 *
 * A pre-transport stage (a proxy's handshake: SOCKS5, HTTP CONNECT; anything
 * that exchanges bytes after the TCP connect and before the MTProto transport
 * starts) plugs in as an mt_link_stage: see below. */
#ifndef MT_LINK_H
#define MT_LINK_H

#include <stddef.h>
#include <stdint.h>
#include "mt_buf.h"
#include "mt_crypto.h"
#include "mt_rsa.h"
#include "mt_session.h"

/* A sans-IO step run on each new TCP connection before the MTProto transport.
 * start(): append the first bytes to send to `out` (may be none).
 * feed(): bytes received; append any answer to `out`; set *used to the bytes
 *   consumed. Returns 0 (more needed), 1 (done: bytes after *used belong to the
 *   MTProto transport) or a negative MT_ERR_* (the connection attempt fails;
 *   set a detail text in `detail`, 160 bytes).
 * reset(): forget a connection (called before each start and on free). */
typedef struct mt_link_stage {
    void *ud;
    int (*start)(void *ud, mt_buf *out);
    int (*feed)(void *ud, const uint8_t *in, size_t n, size_t *used, mt_buf *out, char *detail);
    void (*reset)(void *ud);
} mt_link_stage;

typedef struct mt_link_config {
    int32_t dc_id;              /* for p_q_inner_data_dc */
    int transport;              /* MT_TR_*; for MT_TR_OBFUSCATED the inner framing is intermediate */
    const char *const *rsa_pems; /* NULL-terminated PEM keys, or NULL: the built-in keys */
    const size_t *rsa_pem_lens;
    mt_rsa_keys *rsa_keys;      /* parsed keys shared with other links (a reference is taken;
                                 * rsa_pems is then unused), or NULL */
    /* Per-packet state shared with other links (a reference is taken; NULL: their own), as
     * in mt_session_config; links that share it are used from one thread at a time. */
    mt_crypto_ctx *cc;
    mt_random_pool *pool;
    mt_scratch *scratch;
    const uint8_t *auth_key;    /* 256 bytes or NULL: handshake on connect */
    int64_t salt;
    int32_t time_offset;
    int32_t expires_in;         /* > 0: handshakes make temporary keys living this many seconds
                                 * (PFS); a -404 then fails the calls (TRANSPORT_ERROR_404) for
                                 * the caller to bind a new key, instead of a silent new key */
    double timeout;             /* a call's default time, and the handshake's */
    double connect_timeout;     /* one TCP connect (and pre-transport stage) */
    double wall_offset;         /* unix time - now */
    const mt_random *rnd;       /* NULL: the system CSPRNG (copied, ud borrowed) */
    const mt_link_stage *stage; /* NULL: none (copied, ud borrowed) */
    const uint8_t *mtproxy_secret; /* 16 bytes (copied) or NULL: MTProxy's obfuscated2 keyed
                                * with it (mt_transport_set_proxy) replaces `transport` */
    int mtproxy_inner;          /* its framing: MT_TR_ABRIDGED, _INTERMEDIATE or _PADDED */
    int mtproxy_tls;            /* inside fake-TLS records (the stage did the hellos) */
    int split_modexp;           /* handshakes do their modexps in parts, one per tick
                                 * (mt_auth_client_split_modexp: for a host on an event loop) */
    const char *peer;           /* "host:port" for log lines (copied; may be NULL) */
    const mt_session_init *init;
    mt_log_fn log;
    void *log_ud;
    int log_level;
} mt_link_config;

typedef struct mt_link mt_link;

/* DOWN: no socket wanted (idle, or pausing before a reconnect); CONNECTING: open a TCP
 * connection; OPEN: connected, proxy stage or handshake running; READY: calls flow. */
enum { MT_LINK_DOWN = 0, MT_LINK_CONNECTING = 1, MT_LINK_OPEN = 2, MT_LINK_READY = 3 };

enum {
    MT_LINK_EV_CONNECTED = 1,   /* the connection is ready for calls */
    MT_LINK_EV_ANSWER = 2,      /* id answered or failed: mt_link_take */
    MT_LINK_EV_UPDATE = 3,      /* bytes at mt_link_event_data() + off, len */
    MT_LINK_EV_LOST = 4,        /* a connection (attempt) ended: code, mt_link_error */
    MT_LINK_EV_KEY = 5,         /* a new auth key (save it: mt_session_get_key) */
};
typedef struct mt_link_event {
    int kind;
    int32_t code;               /* LOST: MT_ERR_* */
    uint64_t id;                /* ANSWER */
    size_t off, len;            /* UPDATE */
} mt_link_event;

/* NULL with *err set (MT_ERR_ARG: bad transport or PEM; MT_ERR_NOMEM). */
mt_link *mt_link_new(const mt_link_config *cfg, int *err);
void mt_link_free(mt_link *l);   /* wipes secrets; NULL is fine */

/* Queues a request (a serialized TL function) answered by `deadline` (monotonic; <= 0:
 * now + cfg.timeout) and sets *id. Past its deadline a call fails with TIMEOUT (or the
 * connection error that kept it from being sent) and is never sent again. A request
 * makes the link connect when it is down. MT_OK or mt_session_send's errors. */
int mt_link_send(mt_link *l, const uint8_t *body, size_t len, double now, double deadline, uint64_t *id);
/* Queues auth.bindTempAuthKey over the link's (temporary) key, as mt_link_send
 * (mt_session_send_bind builds it when it is packed). */
int mt_link_send_bind(mt_link *l, const uint8_t perm_key[256], int64_t nonce, int32_t expires_at, double now,
                      double deadline, uint64_t *id);
/* Moves the deadline of a call still pending (MT_ERR_ARG: unknown or answered). */
int mt_link_set_deadline(mt_link *l, uint64_t id, double deadline);
/* The state of a call, as mt_session_take; release forgets it (a late answer is dropped). */
int mt_link_take(const mt_link *l, uint64_t id, const uint8_t **data, size_t *len, int32_t *code);
void mt_link_release(mt_link *l, uint64_t id);

/* Wants a connection (and a key) until `deadline` even without calls. */
void mt_link_connect(mt_link *l, double now, double deadline);
/* Drops the connection, keeps the session and the calls (they are re-sent under the same
 * msg_ids on the next connection, which opens at once when calls wait). */
void mt_link_disconnect(mt_link *l, double now);

/* The host's side of the TCP connection of the current epoch. lost(): the connect failed,
 * or the socket failed or was closed by the peer (code MT_ERR_IO, MT_ERR_CLOSED or
 * MT_ERR_TIMEOUT; detail is kept for the error text). */
void mt_link_connected(mt_link *l, double now);
void mt_link_lost(mt_link *l, double now, int code, const char *detail);
/* Bytes read from the socket. Handles every complete frame. MT_OK, or the error that
 * ended the connection (already handled: the link is then down or reconnecting). */
int mt_link_feed(mt_link *l, const uint8_t *p, size_t n, double now);
/* Bytes to write (packs the queued calls and owed acks first). The pointer is valid
 * until the next call on the link; written() consumes n of them. */
void mt_link_output(mt_link *l, double now, const uint8_t **p, size_t *n);
void mt_link_written(mt_link *l, size_t n);
/* Whether output() would give bytes (cheap; no packing). */
int mt_link_want_write(const mt_link *l);
/* Runs the timers due at `now`; deadline() is the next one (monotonic; HUGE_VAL: none). */
void mt_link_tick(mt_link *l, double now);
double mt_link_deadline(const mt_link *l);

int mt_link_state(const mt_link *l);
unsigned mt_link_epoch(const mt_link *l);
/* Events since the last clear. */
const mt_link_event *mt_link_events(const mt_link *l, size_t *n);
const uint8_t *mt_link_event_data(const mt_link *l);
void mt_link_events_clear(mt_link *l);

/* The last connection error: short message ("TIMEOUT", "CONNECTION_CLOSED",
 * "NETWORK_ERROR", "TRANSPORT_ERROR_404", "PROTOCOL_ERROR", "HANDSHAKE_FAILED"), detail
 * text, and its MT_ERR_* code (0: none). */
const char *mt_link_error(const mt_link *l, const char **detail);
int mt_link_error_code(const mt_link *l);
/* Records a connection error (for hosts: a failed DNS lookup, a socket error text). */
int mt_link_fail(mt_link *l, int code, const char *msg, const char *fmt, ...);

mt_session *mt_link_session(mt_link *l);
/* The handshake's math runs in pieces, one per tick(): while a piece is due, deadline() is
 * the time it became due (so a host runs it at once, after giving its loop a turn). The
 * number of pieces done so far, for hosts and specs that check a tick's work is bounded. */
unsigned mt_link_work_done(const mt_link *l);
unsigned mt_link_connections(const mt_link *l);   /* TCP connections opened */
/* Whether the link still wants its connection (calls wait, or a connect() is pending). */
int mt_link_busy(const mt_link *l, double now);

#endif
