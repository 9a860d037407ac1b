/* The blocking TCP driver of a client connection: the only part of the core
 * with sockets and clocks. It owns the socket (poll()-based, IPv4 and IPv6
 * through getaddrinfo), a transport (mt_transport), the handshake client
 * (mt_auth) and the encrypted session (mt_session).
 *
 * send() only queues; flush() packs queued requests into containers and
 * writes them (reading answers meanwhile, so large pipelines never deadlock);
 * wait() flushes and reads until one id is answered, keeping the other
 * answers. Lost connections are re-opened with a backoff and the requests
 * still waiting are re-sent in the same session under the same msg_ids (the
 * server answers each once). A -404 transport error means the server does
 * not know the key: a new key is made and the requests are re-sent.
 *
 * Errors: functions return a negative MT_ERR_*; mt_conn_error() gives the
 * matching short message ("TIMEOUT", "CONNECTION_CLOSED", "NETWORK_ERROR",
 * "TRANSPORT_ERROR_404", "PROTOCOL_ERROR", "HANDSHAKE_FAILED") and a detail. */
#ifndef MT_CONN_H
#define MT_CONN_H

#include <stddef.h>
#include <stdint.h>
#include "mt_buf.h"
#include "mt_session.h"

typedef struct mt_conn_config {
    const char *host;           /* IPv4/IPv6 literal or host name (copied) */
    int port;
    int32_t dc_id;              /* for p_q_inner_data_dc */
    int transport;              /* MT_TR_*; for MT_TR_OBFUSCATED the inner framing is intermediate */
    const char *const *rsa_pems; /* NULL-terminated PEM keys, or NULL: the built-in keys */
    const size_t *rsa_pem_lens;
    const uint8_t *auth_key;    /* 256 bytes or NULL: handshake on connect */
    int64_t salt;
    int32_t time_offset;
    double timeout, connect_timeout; /* seconds */
    const mt_session_init *init;
    mt_log_fn log;
    void *log_ud;
    int log_level;
} mt_conn_config;

typedef struct mt_conn mt_conn;

/* NULL with *err set (MT_ERR_ARG: bad host/port/transport/PEM, MT_ERR_NOMEM). */
mt_conn *mt_conn_new(const mt_conn_config *cfg, int *err);
/* Closes the socket, wipes secrets and frees; NULL is fine. */
void mt_conn_free(mt_conn *c);

/* TCP connect (connect_timeout) and a handshake when there is no key. */
int mt_conn_connect(mt_conn *c);
/* Closes the socket; requests stay queued (a later call reconnects). */
void mt_conn_close(mt_conn *c);

int mt_conn_send(mt_conn *c, const uint8_t *body, size_t len, uint64_t *id);
int mt_conn_flush(mt_conn *c);
/* Waits up to `timeout` seconds (< 0: the configured timeout) for `id`.
 * Returns MT_REQ_DONE or MT_REQ_FAILED (see mt_session_take for *data, *len,
 * *code: valid until mt_conn_release) or a negative MT_ERR_* (the connection
 * error, see mt_conn_error; MT_ERR_ARG for an unknown id). */
int mt_conn_wait(mt_conn *c, uint64_t id, double timeout, const uint8_t **data, size_t *len, int32_t *code);
void mt_conn_release(mt_conn *c, uint64_t id);

/* The last connection error: short message and detail text. */
const char *mt_conn_error(const mt_conn *c, const char **detail);

/* Updates received so far: `u32 length | bytes` records in one buffer; the
 * caller empties it (buf->len = 0) after reading. */
mt_buf *mt_conn_updates(mt_conn *c);

mt_session *mt_conn_session(mt_conn *c);
/* Number of TCP connections opened so far. */
unsigned mt_conn_connections(const mt_conn *c);
/* The driver's clocks, in seconds: CLOCK_MONOTONIC and Unix time (CLOCK_REALTIME). */
double mt_clock_monotonic(void);
double mt_clock_wall(void);

#endif
