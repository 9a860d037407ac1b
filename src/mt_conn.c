/* The blocking TCP driver (see mt_conn.h). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include "mt_conn.h"
#include "mt_transport.h"
#include "mt_auth.h"
#include "mt_msg.h"
#include "mt_rsa.h"

#define READ_CHUNK   (256 * 1024)
#define ACK_DELAY    0.2     /* seconds of quiet before owed acks go out alone */
#define ACK_BATCH    64      /* owed acks that go out at once */
#define BACKOFF_MAX  3.0

struct mt_conn {
    char *host;
    int port;
    int32_t dc_id;
    int kind;
    double timeout, connect_timeout;
    mt_rsa_keys *keys;
    mt_session *sess;
    mt_transport *tr;
    int fd;
    int rcvtimeo_ms;        /* the socket's SO_RCVTIMEO, -1 before it is set */
    int need_key;           /* the server forgot our key (-404): handshake on connect */
    unsigned connections;
    int failures;           /* consecutive failed connection attempts */
    mt_log_fn log;
    void *log_ud;
    int log_level;
    mt_buf wbuf, pkt, updates;
    uint8_t *rbuf;
    int err_code;
    char err_msg[40], err_detail[200];
};

double mt_clock_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double mt_clock_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void clog_(mt_conn *c, int level, const char *fmt, ...)
{
    if (!c->log || level > c->log_level) return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->log(c->log_ud, level, msg);
}

/* Records the error and returns its code. */
static int fail(mt_conn *c, int code, const char *msg, const char *fmt, ...)
{
    c->err_code = code;
    snprintf(c->err_msg, sizeof c->err_msg, "%s", msg);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err_detail, sizeof c->err_detail, fmt, ap);
    va_end(ap);
    clog_(c, MT_LOG_INFO, "%s: %s", c->err_msg, c->err_detail);
    return code;
}

const char *mt_conn_error(const mt_conn *c, const char **detail)
{
    if (detail) *detail = c->err_detail;
    return c->err_msg;
}

mt_buf *mt_conn_updates(mt_conn *c) { return &c->updates; }
mt_session *mt_conn_session(mt_conn *c) { return c->sess; }
unsigned mt_conn_connections(const mt_conn *c) { return c->connections; }

mt_conn *mt_conn_new(const mt_conn_config *cfg, int *err)
{
    *err = MT_ERR_ARG;
    if (!cfg->host || !*cfg->host || cfg->port <= 0 || cfg->port > 65535) return NULL;
    if (cfg->transport < MT_TR_ABRIDGED || cfg->transport > MT_TR_OBFUSCATED) return NULL;
    *err = MT_ERR_NOMEM;
    mt_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = -1;
    mt_buf_init(&c->wbuf); mt_buf_init(&c->pkt); mt_buf_init(&c->updates);
    c->port = cfg->port;
    c->dc_id = cfg->dc_id;
    c->kind = cfg->transport;
    c->timeout = cfg->timeout > 0 ? cfg->timeout : 10;
    c->connect_timeout = cfg->connect_timeout > 0 ? cfg->connect_timeout : 5;
    c->log = cfg->log; c->log_ud = cfg->log_ud; c->log_level = cfg->log_level;
    c->host = strdup(cfg->host);
    c->rbuf = malloc(READ_CHUNK);
    c->keys = mt_rsa_keys_new(cfg->rsa_pems == NULL);
    if (!c->host || !c->rbuf || !c->keys) goto fail;
    for (size_t i = 0; cfg->rsa_pems && cfg->rsa_pems[i]; i++) {
        size_t n = cfg->rsa_pem_lens ? cfg->rsa_pem_lens[i] : strlen(cfg->rsa_pems[i]);
        int rc = mt_rsa_keys_add_pem(c->keys, cfg->rsa_pems[i], n);
        if (rc) { *err = rc; goto fail; }
    }
    mt_session_config sc;
    memset(&sc, 0, sizeof sc);
    sc.auth_key = cfg->auth_key;
    sc.salt = cfg->salt;
    sc.time_offset = cfg->time_offset;
    sc.log = cfg->log; sc.log_ud = cfg->log_ud; sc.log_level = cfg->log_level;
    sc.init = cfg->init;
    c->sess = mt_session_new(&sc);
    if (!c->sess) goto fail;
    *err = MT_OK;
    return c;
fail:
    mt_conn_free(c);
    return NULL;
}

void mt_conn_close(mt_conn *c)
{
    if (c->fd >= 0) { close(c->fd); c->fd = -1; }
    mt_transport_free(c->tr);
    c->tr = NULL;
    c->wbuf.len = 0;
}

void mt_conn_free(mt_conn *c)
{
    if (!c) return;
    mt_conn_close(c);
    mt_session_free(c->sess);
    mt_rsa_keys_free(c->keys);
    mt_buf_free(&c->wbuf); mt_buf_free(&c->pkt); mt_buf_free(&c->updates);
    if (c->rbuf) { mt_wipe(c->rbuf, READ_CHUNK); free(c->rbuf); }
    free(c->host);
    free(c);
}

/* ---- socket I/O with deadlines (monotonic seconds) ---- */

static int ms_until(double deadline)
{
    double left = deadline - mt_clock_monotonic();
    if (left <= 0) return 0;
    if (left > 3600) return 3600 * 1000;
    return (int)(left * 1000) + 1;
}

static int tcp_connect(mt_conn *c, double deadline)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    char port[8];
    snprintf(port, sizeof port, "%d", c->port);
    int gai = getaddrinfo(c->host, port, &hints, &res);
    if (gai != 0) {
        hints.ai_flags = 0; /* loopback-only hosts: AI_ADDRCONFIG may hide ::1 */
        gai = getaddrinfo(c->host, port, &hints, &res);
    }
    if (gai != 0) return fail(c, MT_ERR_IO, "NETWORK_ERROR", "cannot resolve %s: %s", c->host, gai_strerror(gai));
    int last = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) { last = errno; continue; }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) { last = errno; close(fd); continue; }
            struct pollfd p = { fd, POLLOUT, 0 };
            int pr;
            do pr = poll(&p, 1, ms_until(deadline)); while (pr < 0 && errno == EINTR);
            if (pr == 0) {
                close(fd);
                freeaddrinfo(res);
                return fail(c, MT_ERR_TIMEOUT, "TIMEOUT", "connect to %s:%d timed out", c->host, c->port);
            }
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
                last = pr < 0 ? errno : soerr;
                close(fd);
                continue;
            }
        }
        freeaddrinfo(res);
        /* blocking from here on: a call's answer is waited for in one recv (SO_RCVTIMEO
         * bounds it); every other read and write says MSG_DONTWAIT */
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
            int e = errno;
            close(fd);
            return fail(c, MT_ERR_IO, "NETWORK_ERROR", "fcntl: %s", strerror(e));
        }
        c->fd = fd;
        c->rcvtimeo_ms = -1;
        return MT_OK;
    }
    freeaddrinfo(res);
    return fail(c, MT_ERR_IO, "NETWORK_ERROR", "cannot connect to %s:%d: %s", c->host, c->port,
                last ? strerror(last) : "no address");
}

static void drop(mt_conn *c, const char *why)
{
    if (c->fd >= 0) clog_(c, MT_LOG_INFO, "connection to %s:%d lost: %s", c->host, c->port, why);
    mt_conn_close(c);
}

/* Reads what is available into the transport. MT_OK, or a connection error
 * (the socket is then closed). */
static int read_some(mt_conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->rbuf, READ_CHUNK, MSG_DONTWAIT);
        if (n > 0) {
            int rc = mt_transport_feed(c->tr, c->rbuf, (size_t)n);
            if (rc) { drop(c, mt_strerror(rc)); return fail(c, rc, "PROTOCOL_ERROR", "transport: %s", mt_strerror(rc)); }
            if ((size_t)n < READ_CHUNK) return MT_OK;
            continue;
        }
        if (n == 0) { drop(c, "closed by the server"); return fail(c, MT_ERR_CLOSED, "CONNECTION_CLOSED", "the server closed the connection"); }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return MT_OK;
        int e = errno;
        drop(c, strerror(e));
        return fail(c, MT_ERR_IO, "NETWORK_ERROR", "read: %s", strerror(e));
    }
}

/* Waits for input until `until` (monotonic) and reads it: one blocking recv bounded by
 * SO_RCVTIMEO instead of poll + read. The timeout is set again only when it would overshoot
 * `until` or is below half of it, so sequential calls pay no setsockopt; a wait that ends
 * early returns 0 and the caller waits again. 1: bytes were fed to the transport; 0: nothing
 * yet; < 0: a connection error (the socket is then closed). */
static int recv_until(mt_conn *c, double until)
{
    int ms = ms_until(until), flags = 0;
    if (ms <= 0) flags = MSG_DONTWAIT;
    else if (c->rcvtimeo_ms < 0 || c->rcvtimeo_ms > ms || c->rcvtimeo_ms < ms / 2) {
        int t = ms - ms / 4;
        struct timeval tv = { t / 1000, (t % 1000) * 1000 };
        if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
            int e = errno;
            drop(c, strerror(e));
            return fail(c, MT_ERR_IO, "NETWORK_ERROR", "setsockopt: %s", strerror(e));
        }
        c->rcvtimeo_ms = t;
    }
    ssize_t n = recv(c->fd, c->rbuf, READ_CHUNK, flags);
    if (n > 0) {
        int rc = mt_transport_feed(c->tr, c->rbuf, (size_t)n);
        if (rc) { drop(c, mt_strerror(rc)); return fail(c, rc, "PROTOCOL_ERROR", "transport: %s", mt_strerror(rc)); }
        if ((size_t)n == READ_CHUNK && (rc = read_some(c)) != MT_OK) return rc;
        return 1;
    }
    if (n == 0) { drop(c, "closed by the server"); return fail(c, MT_ERR_CLOSED, "CONNECTION_CLOSED", "the server closed the connection"); }
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    int e = errno;
    drop(c, strerror(e));
    return fail(c, MT_ERR_IO, "NETWORK_ERROR", "read: %s", strerror(e));
}

static int transport_error(mt_conn *c, int32_t code)
{
    char msg[32];
    snprintf(msg, sizeof msg, "TRANSPORT_ERROR_%d", (int)(code < 0 ? -code : code));
    if (code == -404) c->need_key = 1;
    drop(c, msg);
    return fail(c, MT_ERR_TRANSPORT, msg, "the server sent transport error %d%s", (int)code,
                code == -404 ? " (auth key unknown)" : code == -429 ? " (too many connections or requests)"
                : code == -444 ? " (invalid DC)" : "");
}

/* Handles every complete frame buffered in the transport. */
static int process_frames(mt_conn *c)
{
    for (;;) {
        const uint8_t *p;
        size_t n;
        int32_t tcode = 0;
        int rc = mt_transport_next(c->tr, &p, &n, &tcode);
        if (rc == 0) return MT_OK;
        if (rc == MT_ERR_TRANSPORT) return transport_error(c, tcode);
        if (rc < 0) { drop(c, mt_strerror(rc)); return fail(c, rc, "PROTOCOL_ERROR", "transport: %s", mt_strerror(rc)); }
        if (n >= 8 && mt_le64(p) == 0) {
            clog_(c, MT_LOG_WARN, "plain message outside the handshake dropped");
            continue;
        }
        rc = mt_session_receive(c->sess, p, n, mt_clock_wall());
        if (rc == MT_ERR_NOMEM) return fail(c, rc, "PROTOCOL_ERROR", "out of memory");
        if (rc == MT_OK) c->failures = 0;
        size_t nev;
        const mt_session_event *ev = mt_session_events(c->sess, &nev);
        const uint8_t *ud = mt_session_update_data(c->sess);
        for (size_t i = 0; i < nev; i++) {
            if (ev[i].kind != MT_EV_UPDATE) continue;
            mt_buf_put_u32(&c->updates, (uint32_t)ev[i].len);
            mt_buf_put(&c->updates, ud + ev[i].off, ev[i].len);
        }
        mt_session_events_clear(c->sess);
        if (c->updates.oom) return fail(c, MT_ERR_NOMEM, "PROTOCOL_ERROR", "out of memory");
    }
}

/* Writes wbuf completely, reading (and handling) incoming data meanwhile so
 * that neither side blocks on a full socket buffer. */
static int write_all(mt_conn *c, double deadline, int handle_input)
{
    size_t off = 0;
    int rc = MT_OK;
    while (off < c->wbuf.len) {
        /* send(MSG_NOSIGNAL): a peer that closed must not raise SIGPIPE in the host process */
        ssize_t w = send(c->fd, c->wbuf.data + off, c->wbuf.len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) { off += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            int e = errno;
            drop(c, strerror(e));
            return fail(c, MT_ERR_IO, "NETWORK_ERROR", "write: %s", strerror(e));
        }
        struct pollfd p = { c->fd, (short)(POLLOUT | (handle_input ? POLLIN : 0)), 0 };
        int pr = poll(&p, 1, ms_until(deadline));
        if (pr < 0 && errno == EINTR) continue;
        if (pr == 0) { rc = fail(c, MT_ERR_TIMEOUT, "TIMEOUT", "write timed out"); break; }
        if (pr < 0) { int e = errno; drop(c, strerror(e)); return fail(c, MT_ERR_IO, "NETWORK_ERROR", "poll: %s", strerror(e)); }
        if (p.revents & POLLIN) {
            if ((rc = read_some(c)) != MT_OK) return rc;
            if ((rc = process_frames(c)) != MT_OK) return rc;
        } else if (p.revents & (POLLERR | POLLHUP)) {
            drop(c, "socket error");
            return fail(c, MT_ERR_IO, "NETWORK_ERROR", "the connection failed while writing");
        }
    }
    if (c->fd >= 0) mt_buf_consume(&c->wbuf, off);
    return rc;
}

/* Reads one frame for the handshake (blocking until the deadline). */
static int read_frame(mt_conn *c, double deadline, const uint8_t **p, size_t *n)
{
    for (;;) {
        int32_t tcode = 0;
        int rc = mt_transport_next(c->tr, p, n, &tcode);
        if (rc == 1) return MT_OK;
        if (rc == MT_ERR_TRANSPORT) return transport_error(c, tcode);
        if (rc < 0) { drop(c, mt_strerror(rc)); return fail(c, rc, "PROTOCOL_ERROR", "transport: %s", mt_strerror(rc)); }
        struct pollfd pf = { c->fd, POLLIN, 0 };
        int pr = poll(&pf, 1, ms_until(deadline));
        if (pr < 0 && errno == EINTR) continue;
        if (pr == 0) return fail(c, MT_ERR_TIMEOUT, "TIMEOUT", "no answer from %s:%d in time", c->host, c->port);
        if (pr < 0) { int e = errno; drop(c, strerror(e)); return fail(c, MT_ERR_IO, "NETWORK_ERROR", "poll: %s", strerror(e)); }
        if ((rc = read_some(c)) != MT_OK) return rc;
    }
}

static int handshake(mt_conn *c, double deadline)
{
    mt_auth_client *a = mt_auth_client_new(c->keys, c->dc_id, 0, NULL);
    if (!a) return fail(c, MT_ERR_NOMEM, "HANDSHAKE_FAILED", "out of memory");
    mt_msgid_gen gen = { 0, 0 };
    mt_buf body;
    mt_buf_init(&body);
    const uint8_t *in = NULL;
    size_t inlen = 0;
    int rc;
    for (;;) {
        body.len = 0;
        double now = mt_clock_wall();
        rc = mt_auth_client_step(a, in, inlen, (int32_t)now, &body);
        if (rc < 0) {
            const char *why = mt_auth_client_error(a);
            rc = fail(c, rc, "HANDSHAKE_FAILED", "%s", why && *why ? why : mt_strerror(rc));
            break;
        }
        if (rc == MT_AUTH_DONE) {
            uint8_t key[256];
            int64_t salt;
            int32_t off;
            rc = mt_auth_client_result(a, key, &salt, &off);
            if (rc == MT_OK) rc = mt_session_set_key(c->sess, key, salt, off);
            mt_wipe(key, sizeof key);
            if (rc) rc = fail(c, rc, "HANDSHAKE_FAILED", "%s", mt_strerror(rc));
            else { c->need_key = 0; clog_(c, MT_LOG_INFO, "new auth key with %s:%d", c->host, c->port); }
            break;
        }
        c->pkt.len = 0;
        if ((rc = mt_plain_wrap(&c->pkt, mt_msgid_next(&gen, (int64_t)(now * 1e9), 0), body.data, body.len)) != MT_OK ||
            (rc = mt_transport_encode(c->tr, c->pkt.data, c->pkt.len, &c->wbuf)) != MT_OK) {
            rc = fail(c, rc, "HANDSHAKE_FAILED", "%s", mt_strerror(rc));
            break;
        }
        if ((rc = write_all(c, deadline, 0)) != MT_OK) break;
        const uint8_t *p;
        size_t n;
        if ((rc = read_frame(c, deadline, &p, &n)) != MT_OK) break;
        int64_t mid;
        if (mt_plain_unwrap(p, n, &mid, &in, &inlen) != MT_OK) {
            rc = fail(c, MT_ERR_PROTO, "HANDSHAKE_FAILED", "the server's answer is not a plain message");
            break;
        }
    }
    mt_buf_free(&body);
    mt_auth_client_free(a);
    return rc;
}

/* Connects (TCP within connect_timeout, a handshake within timeout), never
 * past `limit` (a call's deadline). */
static int connect_until(mt_conn *c, double limit)
{
    if (c->fd >= 0) return MT_OK;
    double deadline = mt_clock_monotonic() + c->connect_timeout;
    if (deadline > limit) deadline = limit;
    int rc = tcp_connect(c, deadline);
    if (rc) return rc;
    c->connections++;
    /* padding and the obfuscated header draw from the session's CSPRNG pool */
    c->tr = mt_transport_new_client(c->kind, 0, (int16_t)c->dc_id, mt_session_random(c->sess));
    if (!c->tr) { mt_conn_close(c); return fail(c, MT_ERR_NOMEM, "NETWORK_ERROR", "out of memory"); }
    c->wbuf.len = 0;
    if ((rc = mt_transport_start(c->tr, &c->wbuf)) != MT_OK) {
        mt_conn_close(c);
        return fail(c, rc, "NETWORK_ERROR", "transport start: %s", mt_strerror(rc));
    }
    if (c->need_key || !mt_session_has_key(c->sess)) {
        /* the handshake may take longer than a TCP connect */
        double hd = mt_clock_monotonic() + (c->timeout > c->connect_timeout ? c->timeout : c->connect_timeout);
        if (hd > limit) hd = limit;
        if ((rc = handshake(c, hd)) != MT_OK) { mt_conn_close(c); return rc; }
    }
    mt_session_new_connection(c->sess);
    clog_(c, MT_LOG_INFO, "connected to %s:%d (%s)", c->host, c->port, mt_transport_kind_name(c->kind));
    return MT_OK;
}

int mt_conn_connect(mt_conn *c)
{
    return connect_until(c, mt_clock_monotonic() + 1e9);
}

/* Connects again after a loss, with a growing pause between attempts. */
static int reconnect(mt_conn *c, double deadline)
{
    if (c->failures > 0) {
        double pause = 0.05 * (double)(1 << (c->failures < 7 ? c->failures : 7));
        if (pause > BACKOFF_MAX) pause = BACKOFF_MAX;
        double left = deadline - mt_clock_monotonic();
        if (pause > left) pause = left > 0 ? left : 0;
        struct timespec ts = { (time_t)pause, (long)((pause - (double)(time_t)pause) * 1e9) };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    }
    c->failures++;
    return connect_until(c, deadline);
}

int mt_conn_send(mt_conn *c, const uint8_t *body, size_t len, uint64_t *id)
{
    return mt_session_send(c->sess, body, len, id);
}

/* Packs everything queued and writes it. */
static int flush_until(mt_conn *c, double deadline, int with_acks)
{
    int rc;
    while (c->fd >= 0 && (mt_session_want_write(c->sess) || (with_acks && mt_session_acks_owed(c->sess)))) {
        double now = mt_clock_wall();
        c->pkt.len = 0;
        while ((rc = mt_session_pack(c->sess, now, with_acks, &c->pkt)) > 0) {
            rc = mt_transport_encode(c->tr, c->pkt.data, c->pkt.len, &c->wbuf);
            c->pkt.len = 0;
            if (rc) return fail(c, rc, "PROTOCOL_ERROR", "transport encode: %s", mt_strerror(rc));
            if (c->wbuf.len >= ((size_t)4 << 20)) break; /* write in slices of a few MiB */
        }
        if (rc < 0) return fail(c, rc, "PROTOCOL_ERROR", "pack: %s", mt_strerror(rc));
        if ((rc = write_all(c, deadline, 1)) != MT_OK) return rc;
        with_acks = 0;
    }
    return MT_OK;
}

int mt_conn_flush(mt_conn *c)
{
    double deadline = mt_clock_monotonic() + c->timeout;
    int rc;
    if (c->fd < 0 && (rc = mt_conn_connect(c)) != MT_OK) return rc;
    return flush_until(c, deadline, 0);
}

int mt_conn_wait(mt_conn *c, uint64_t id, double timeout, const uint8_t **data, size_t *len, int32_t *code)
{
    double start = mt_clock_monotonic(), deadline = start + (timeout >= 0 ? timeout : c->timeout);
    double quiet_since = start;
    for (;;) {
        int st = mt_session_take(c->sess, id, data, len, code);
        if (st != MT_REQ_PENDING) return st;
        if (mt_clock_monotonic() >= deadline) {
            if (c->fd < 0 && (c->err_code == MT_ERR_IO || c->err_code == MT_ERR_CLOSED)) return c->err_code;
            return fail(c, MT_ERR_TIMEOUT, "TIMEOUT", "no answer within %.3g s", deadline - start);
        }
        int rc;
        if (c->fd < 0) {
            if ((rc = reconnect(c, deadline)) != MT_OK) {
                if (rc == MT_ERR_HANDSHAKE || rc == MT_ERR_UNKNOWN_KEY || rc == MT_ERR_TIMEOUT) return rc;
                continue;
            }
        }
        if ((rc = flush_until(c, deadline, 0)) != MT_OK) {
            if (c->fd >= 0 || (rc == MT_ERR_TRANSPORT && !c->need_key)) return rc;
            continue; /* lost: reconnect and re-send */
        }
        if (mt_session_take(c->sess, id, data, len, code) != MT_REQ_PENDING) continue;
        /* wait for input; owed acks go out after a quiet moment */
        double until = deadline;
        int acks = mt_session_acks_owed(c->sess) > 0;
        if (acks && quiet_since + ACK_DELAY < until) until = quiet_since + ACK_DELAY;
        int got = recv_until(c, until);
        if (got < 0) continue;                     /* lost: reconnect and re-send */
        if (got == 0) {
            if (mt_clock_monotonic() < until) continue;          /* woke early: wait the rest */
            if (acks && (rc = flush_until(c, deadline, 1)) != MT_OK && c->fd >= 0) return rc;
            quiet_since = mt_clock_monotonic();
            continue;
        }
        rc = process_frames(c);
        if (rc == MT_ERR_NOMEM || (rc == MT_ERR_TRANSPORT && !c->need_key)) return rc;
        if (c->fd >= 0 && mt_session_acks_owed(c->sess) >= ACK_BATCH &&
            (rc = flush_until(c, deadline, 1)) != MT_OK && c->fd >= 0) return rc;
        quiet_since = mt_clock_monotonic();
    }
}

void mt_conn_release(mt_conn *c, uint64_t id)
{
    mt_session_release(c->sess, id);
}
