/* The client side of an encrypted MTProto 2.0 session, sans-IO.
 *
 * Bytes and the clock go in, bytes and events come out; there is no socket
 * here (mt_conn drives it). The session owns:
 *   - the auth key, the server salt, a random session_id, the seq_no counter
 *     and the msg_id clock (corrected by the server's time);
 *   - the requests: each gets a stable handle (the `id` callers see) that
 *     maps to the msg_id it was last sent under; a request is kept until it
 *     is answered so that it can be re-sent (salt change, clock fix,
 *     reconnect, msg_resend_req);
 *   - the acknowledgements owed to the server, the service answers
 *     (msgs_state_info, msg_resend_req) and the queue of updates.
 *
 * Outgoing: mt_session_pack() encrypts what is queued (requests, acks,
 * service messages) into one packet, several messages in a msg_container.
 * Incoming: mt_session_receive() decrypts one packet, checks it (msg_key,
 * auth_key_id, session_id, msg_id parity, age, replay, lengths), handles
 * every service message and records events. A message that fails a check
 * is dropped and logged, never trusted.
 *
 * Results stay attached to their request until mt_session_take(): a driver
 * can wait for one id while answers to others arrive and are kept. */
#ifndef MT_SESSION_H
#define MT_SESSION_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "mt_buf.h"
#include "mt_crypto.h"

enum { MT_LOG_ERROR = 0, MT_LOG_WARN = 1, MT_LOG_INFO = 2, MT_LOG_DEBUG = 3 };
typedef void (*mt_log_fn)(void *ud, int level, const char *msg);
/* Formats and hands one line to `fn` (NULL: nothing) when `level` <= `max_level`; lines are cut
 * at 255 bytes. Shared by the session and the link. */
void mt_log_vsend(mt_log_fn fn, void *ud, int max_level, int level, const char *fmt, va_list ap);

/* The values of initConnection; the first request of each connection is
 * wrapped as invokeWithLayer(layer, initConnection(...)) when `enabled`. */
typedef struct mt_session_init {
    int enabled;
    int32_t layer, api_id;
    const char *device_model, *system_version, *app_version,
               *system_lang_code, *lang_pack, *lang_code;
} mt_session_init;

typedef struct mt_session_config {
    const uint8_t *auth_key;    /* 256 bytes (copied), or NULL: none yet (mt_session_set_key) */
    int64_t salt;
    int32_t time_offset;        /* server time - local time, seconds */
    int64_t session_id;         /* 0: random */
    const mt_random *rnd;       /* copied; NULL = system CSPRNG */
    /* State sessions may share when they are used from one thread at a time (the session
     * takes a reference), or NULL: the session makes its own: the OpenSSL contexts of its
     * packets, the pool its padding bytes come from (its own one refills from rnd), and
     * scratch buffers. */
    mt_crypto_ctx *cc;
    mt_random_pool *pool;
    mt_scratch *scratch;        /* the buffers a packet is packed and decrypted in */
    mt_log_fn log;              /* may be NULL */
    void *log_ud;
    int log_level;              /* messages above this level are not formatted */
    const mt_session_init *init; /* copied (strings too); NULL: no wrapping */
} mt_session_config;

typedef struct mt_session mt_session;

/* Event kinds (mt_session_events). */
enum { MT_EV_RESULT = 1, MT_EV_ERROR = 2, MT_EV_UPDATE = 3 };
typedef struct mt_session_event {
    int kind;
    uint64_t id;                /* RESULT/ERROR: the request handle */
    size_t off, len;            /* UPDATE: bytes in mt_session_update_data() */
} mt_session_event;

/* Request states (mt_session_take). */
enum { MT_REQ_PENDING = 0, MT_REQ_DONE = 1, MT_REQ_FAILED = 2 };

/* NULL on allocation failure or a failing random source (*err MT_ERR_NOMEM), or when it makes
 * its own crypto context (cfg->cc NULL) on a libcrypto that cannot hash (MT_ERR_CRYPTO); err
 * may be NULL. */
mt_session *mt_session_new(const mt_session_config *cfg, int *err);
/* Wipes the key and every buffer and frees; NULL is fine. */
void mt_session_free(mt_session *s);

/* A new auth key (after a handshake): new session_id, seq_no from zero, the
 * given salt and time offset; requests waiting for an answer are queued again
 * under new msg_ids. MT_OK or MT_ERR_NOMEM/MT_ERR_ARG. */
int mt_session_set_key(mt_session *s, const uint8_t auth_key[256], int64_t salt, int32_t time_offset);
int mt_session_has_key(const mt_session *s);

/* A new connection starts: every request sent and not yet answered is queued
 * again under its old msg_id (the server answers each only once), and the
 * next request packed is wrapped in initConnection. */
void mt_session_new_connection(mt_session *s);

/* Queues a request (a serialized TL function, len % 4 == 0; copied) and sets
 * *id to its handle (> 0). Nothing is sent until mt_session_pack().
 * MT_OK, MT_ERR_ARG (len), MT_ERR_RANGE (too large), MT_ERR_NOMEM. */
int mt_session_send(mt_session *s, const uint8_t *body, size_t len, uint64_t *id);

/* Queues auth.bindTempAuthKey (core.telegram.org/api/pfs), binding the session's key (a
 * temporary one) to perm_key (copied, wiped with the session): the body, whose binding message
 * names the msg_id and session_id the request goes out under, is built when it is packed (again
 * under a new msg_id if it is re-sent). The bind itself is never wrapped in initConnection, and
 * the next request after it is (the connection is initialized again over the bound key).
 * Sets *id as mt_session_send. MT_OK, MT_ERR_ARG, MT_ERR_NOMEM. */
int mt_session_send_bind(mt_session *s, const uint8_t perm_key[256], int64_t nonce, int32_t expires_at, uint64_t *id);

/* Encrypts the next packet (auth_key_id | msg_key | data, without transport
 * framing) and appends it to `out`: queued requests and service messages,
 * plus the acks owed when `with_acks` (or when anything else goes out). More
 * than one message goes into a msg_container (at most ~1020 messages / 1 MiB
 * per packet: call again while it returns > 0). `now` is unix time in seconds.
 * Returns the number of bytes appended (0: nothing to send) or MT_ERR_*
 * (MT_ERR_ARG: no key). */
int mt_session_pack(mt_session *s, double now, int with_acks, mt_buf *out);

/* Whether requests or service messages are waiting to be packed; and how
 * many acks are owed. */
int mt_session_want_write(const mt_session *s);
size_t mt_session_acks_owed(const mt_session *s);

/* Decrypts and handles one packet (the transport payload). Returns MT_OK, or
 * the reason the packet was dropped (MT_ERR_AUTH_KEY_ID, MT_ERR_MSG_KEY,
 * MT_ERR_SESSION_ID, MT_ERR_MSG_ID, MT_ERR_REPLAY, MT_ERR_RANGE,
 * MT_ERR_TRUNCATED, MT_ERR_PROTO...): nothing of a dropped packet is used.
 * Bad messages inside a valid container are dropped one by one (logged).
 * MT_ERR_NOMEM is the only error that may leave a partly handled packet. */
int mt_session_receive(mt_session *s, const uint8_t *packet, size_t len, double now);

/* The events recorded since the last mt_session_events_clear(): results and
 * errors (by handle; fetch them with mt_session_take) and updates (bytes at
 * mt_session_update_data() + off). */
const mt_session_event *mt_session_events(const mt_session *s, size_t *n);
const uint8_t *mt_session_update_data(const mt_session *s);
void mt_session_events_clear(mt_session *s);

/* The state of request `id`: MT_REQ_PENDING; MT_REQ_DONE with *data, *len the
 * result (the object inside rpc_result, gzip_packed inflated; or a pong /
 * future_salts); MT_REQ_FAILED with *code and *data, *len the error message
 * (rpc_error's code and text, or a negative MT_ERR_* and "BAD_MSG_<n>").
 * The pointers stay valid until the next call of mt_session_send,
 * mt_session_receive or mt_session_release. MT_ERR_ARG when the id is
 * unknown (never sent, or released). */
int mt_session_take(const mt_session *s, uint64_t id, const uint8_t **data, size_t *len, int32_t *code);
/* Forgets request `id` (answered or not: a late answer is then ignored). A request not yet
 * packed is never packed; one already sent is not re-sent on a new connection or key. */
void mt_session_release(mt_session *s, uint64_t id);
/* Number of requests not yet answered. */
size_t mt_session_pending(const mt_session *s);
/* Fails every request not yet answered with (code, message), e.g. when the
 * connection is given up; they become MT_REQ_FAILED with error events. */
void mt_session_fail_all(mt_session *s, int32_t code, const char *message);
/* Fails the requests never packed (none of them can have reached the server), e.g. when a
 * connection attempt failed; returns how many. */
size_t mt_session_fail_unsent(mt_session *s, int32_t code, const char *message);

/* Deadlines (any monotonic clock; 0: none) for the host to enforce: expire() fails every
 * pending request whose deadline is <= now with (code, message) and returns how many;
 * next_deadline() is at most the earliest one (0: none; it may be early after answers:
 * an expire() at that time finds nothing and moves it on). */
int mt_session_set_deadline(mt_session *s, uint64_t id, double deadline);
size_t mt_session_expire(mt_session *s, double now, int32_t code, const char *message);
double mt_session_next_deadline(const mt_session *s);
/* Fails one pending request (MT_ERR_ARG: unknown or answered). */
int mt_session_fail(mt_session *s, uint64_t id, int32_t code, const char *message);

typedef struct mt_session_state {
    int64_t salt, session_id;
    int32_t time_offset;
    uint64_t auth_key_id;
    uint32_t seq;               /* content-related messages sent */
    uint64_t dropped;           /* messages dropped by the checks */
} mt_session_state;
void mt_session_get_state(const mt_session *s, mt_session_state *st);
/* Copies the auth key (MT_ERR_ARG when there is none). */
int mt_session_get_key(const mt_session *s, uint8_t auth_key[256]);
void mt_session_set_salt(mt_session *s, int64_t salt);
/* The session's pooled random source (cfg.pool, or its own pool of the configured source):
 * bytes drawn 2 KiB at a time, each handed out once (then wiped from the pool). For the
 * transport's padding and headers: one CSPRNG call per many packets instead of one per
 * packet. Valid as long as the session. */
const mt_random *mt_session_random(mt_session *s);

#endif
