/* The socket shell around a link (see mt_conn.h). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include "mt_conn.h"
#include "mt_resolve.h"

/* Bytes read per recv, into a buffer on the stack: a connection keeps no read buffer of its
 * own (the transport holds what a frame still misses), so thousands of idle connections
 * cost no read buffers. */
#define READ_CHUNK (16 * 1024)

struct mt_conn {
    mt_link *link;
    char *host;                 /* where the socket goes: the DC, or the proxy */
    int port;
    mt_proxy *proxy;
    int fd;
    unsigned fd_epoch;          /* the link epoch the socket belongs to */
    int connecting;             /* a non-blocking connect is in progress */
    int blocked;                /* the last write stopped at EAGAIN */
    int lost;                   /* a LOST event came since the caller last looked */
    unsigned key_changes;       /* KEY events so far */
    int rcvtimeo_ms;            /* the socket's SO_RCVTIMEO, -1 before it is set */
    struct addrinfo *ai, *ai_next;
    mt_resolve *lookup;         /* a host name being looked up (fd < 0 meanwhile) */
    mt_resolve *old_lookup;     /* one given up while still running: the next attempt takes
                                 * it over, so a silent resolver holds one thread, not one
                                 * per attempt */
    int last_errno;
    mt_buf updates;
    size_t nupdates, max_updates; /* records in `updates` (valid while it is not emptied), cap */
    uint64_t updates_dropped;
    mt_log_fn log;
    void *log_ud;
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

const char *mt_conn_error(const mt_conn *c, const char **detail) { return mt_link_error(c->link, detail); }
mt_buf *mt_conn_updates(mt_conn *c) { return &c->updates; }
uint64_t mt_conn_updates_dropped(const mt_conn *c) { return c->updates_dropped; }
mt_link *mt_conn_link(mt_conn *c) { return c->link; }
mt_session *mt_conn_session(mt_conn *c) { return mt_link_session(c->link); }
unsigned mt_conn_connections(const mt_conn *c) { return mt_link_connections(c->link); }
int mt_conn_fd(const mt_conn *c) { return c->lookup ? mt_resolve_fd(c->lookup) : c->fd; }
unsigned mt_conn_key_changes(const mt_conn *c) { return c->key_changes; }

mt_conn *mt_conn_new(const mt_conn_config *cfg, int *err)
{
    *err = MT_ERR_ARG;
    if (!cfg->host || !*cfg->host || cfg->port <= 0 || cfg->port > 65535) return NULL;
    *err = MT_ERR_NOMEM;
    mt_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = -1;
    mt_buf_init(&c->updates);
    c->max_updates = cfg->max_updates > 0 ? cfg->max_updates : MT_CONN_MAX_UPDATES;
    c->log = cfg->link.log;
    c->log_ud = cfg->link.log_ud;
    char peer[300];
    snprintf(peer, sizeof peer, "%s:%d", cfg->host, cfg->port);
    mt_link_config lc = cfg->link;
    lc.peer = peer;
    lc.wall_offset = mt_clock_wall() - mt_clock_monotonic();
    if (cfg->proxy && cfg->proxy->type != MT_PROXY_NONE) {
        /* the socket goes to the proxy; the link runs its stage and keys the transport */
        if (!(c->proxy = mt_proxy_new(cfg->proxy, cfg->host, cfg->port, lc.rnd, err))) {
            mt_conn_free(c);
            return NULL;
        }
        lc.stage = mt_proxy_stage(c->proxy);
        mt_proxy_link_config(c->proxy, &lc);
        c->port = mt_proxy_port(c->proxy);
        c->host = strdup(mt_proxy_host(c->proxy));
    } else {
        c->port = cfg->port;
        c->host = strdup(cfg->host);
    }
    if (!c->host || !(c->link = mt_link_new(&lc, err))) {
        if (*err == MT_OK) *err = MT_ERR_NOMEM;
        mt_conn_free(c);
        return NULL;
    }
    return c;
}

static void close_socket(mt_conn *c)
{
    if (c->fd >= 0) { close(c->fd); c->fd = -1; }
    if (c->ai) { freeaddrinfo(c->ai); c->ai = c->ai_next = NULL; }
    if (c->lookup) {
        mt_resolve_free(c->old_lookup);
        c->old_lookup = c->lookup;
        c->lookup = NULL;
    }
    c->connecting = c->blocked = 0;
}

void mt_conn_free(mt_conn *c)
{
    if (!c) return;
    close_socket(c);
    mt_resolve_free(c->old_lookup);
    mt_link_free(c->link);
    mt_proxy_free(c->proxy);
    mt_buf_free(&c->updates);
    /* only what reads wrote: wiping all of it would make every untouched page resident */
    free(c->host);
    free(c);
}

/* Queues an update for the reader. Updates nobody reads must not grow without bound: at
 * max_updates records (or MT_CONN_UPDATES_BYTES) the oldest quarter is dropped, logged. */
static void keep_update(mt_conn *c, const uint8_t *p, size_t n)
{
    mt_buf *u = &c->updates;
    if (u->len == 0) c->nupdates = 0; /* the reader emptied it */
    if (c->nupdates >= c->max_updates || u->len + 4 + n > MT_CONN_UPDATES_BYTES) {
        size_t drop = c->nupdates / 4 + 1, off = 0, k = 0;
        while (k < drop && off + 4 <= u->len) { off += 4 + mt_le32(u->data + off); k++; }
        mt_buf_consume(u, off);
        c->nupdates -= k;
        c->updates_dropped += k;
        if (c->log) {
            char msg[120];
            snprintf(msg, sizeof msg, "%zu unread update(s) dropped, the oldest (at most %zu are kept)", k, c->max_updates);
            c->log(c->log_ud, MT_LOG_WARN, msg);
        }
    }
    mt_buf_put_u32(u, (uint32_t)n);
    mt_buf_put(u, p, n);
    c->nupdates++;
}

/* Keeps the updates, notes losses, drops the rest (answers are looked up by id). */
static void drain_events(mt_conn *c)
{
    size_t n;
    const mt_link_event *ev = mt_link_events(c->link, &n);
    if (!n) return;
    const uint8_t *data = mt_link_event_data(c->link);
    for (size_t i = 0; i < n; i++) {
        if (ev[i].kind == MT_LINK_EV_LOST) c->lost = 1;
        if (ev[i].kind == MT_LINK_EV_KEY) c->key_changes++;
        if (ev[i].kind == MT_LINK_EV_UPDATE) keep_update(c, data + ev[i].off, ev[i].len);
    }
    mt_link_events_clear(c->link);
}

static void lost_errno(mt_conn *c, int code, const char *what, int e)
{
    char d[200];
    snprintf(d, sizeof d, "%s: %s", what, strerror(e));
    mt_link_lost(c->link, mt_clock_monotonic(), code, d);
}

static void connect_done(mt_conn *c);

/* Starts a non-blocking connect to the next address; reports the end of the list. A connect
 * that ends at once (a refused one on loopback) is finished here, so no event loop waits on
 * a socket that already failed. */
static void try_next_address(mt_conn *c)
{
    for (; c->ai_next; c->ai_next = c->ai_next->ai_next) {
        struct addrinfo *ai = c->ai_next;
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) { c->last_errno = errno; continue; }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            c->fd = fd;
            c->rcvtimeo_ms = -1;
            c->connecting = 1;
            c->ai_next = ai->ai_next;
            struct pollfd p = { fd, POLLOUT, 0 };
            if (poll(&p, 1, 0) > 0) connect_done(c);
            return;
        }
        c->last_errno = errno;
        close(fd);
    }
    int e = c->last_errno;
    close_socket(c);
    char d[200];
    snprintf(d, sizeof d, "cannot connect to %s:%d: %s", c->host, c->port, e ? strerror(e) : "no address");
    mt_link_lost(c->link, mt_clock_monotonic(), MT_ERR_IO, d);
}

static void lookup_failed(mt_conn *c, const char *why)
{
    char d[200];
    snprintf(d, sizeof d, "cannot resolve %s: %s", c->host, why);
    mt_link_lost(c->link, mt_clock_monotonic(), MT_ERR_IO, d);
}

/* Connects to the addresses found. */
static void addresses(mt_conn *c, struct addrinfo *ai)
{
    c->ai = c->ai_next = ai;
    c->last_errno = 0;
    try_next_address(c);
}

/* An address literal is converted at once; a host name is looked up on a thread (a resolver
 * that never answers must not hold a blocking wait past its deadline, nor an event loop). */
static void open_socket(mt_conn *c)
{
    c->fd_epoch = mt_link_epoch(c->link);
    unsigned char bin[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, c->host, bin) == 1 || inet_pton(AF_INET6, c->host, bin) == 1) {
        struct addrinfo hints, *ai = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICHOST;
        char port[8];
        snprintf(port, sizeof port, "%d", c->port);
        int gai = getaddrinfo(c->host, port, &hints, &ai);
        if (gai != 0) { lookup_failed(c, gai_strerror(gai)); return; }
        addresses(c, ai);
        return;
    }
    if (c->old_lookup) {
        /* done meanwhile: its answer is as good as a new one; running: wait on it */
        c->lookup = c->old_lookup;
        c->old_lookup = NULL;
        return;
    }
    int err;
    c->lookup = mt_resolve_start(c->host, c->port, &err);
    if (!c->lookup) lookup_failed(c, mt_strerror(err));
}

/* The lookup's pipe is readable: connect to what it found. */
static void lookup_done(mt_conn *c)
{
    struct addrinfo *ai;
    int gai;
    if (!mt_resolve_result(c->lookup, &ai, &gai)) return;
    mt_resolve_free(c->lookup);
    c->lookup = NULL;
    if (!ai) { lookup_failed(c, gai_strerror(gai)); return; }
    addresses(c, ai);
}

/* The socket follows the link: closed when the link is down or moved to a new epoch,
 * opened when it asks for a connection. */
static void sync_socket(mt_conn *c)
{
    for (int i = 0; i < 4; i++) {
        int st = mt_link_state(c->link);
        if ((c->fd >= 0 || c->lookup) && (st == MT_LINK_DOWN || c->fd_epoch != mt_link_epoch(c->link))) close_socket(c);
        if (st != MT_LINK_CONNECTING || c->fd >= 0 || c->lookup) return;
        open_socket(c);
    }
}

/* A connect in progress finished (the socket polled writable or failed). */
static void connect_done(mt_conn *c)
{
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) soerr = errno;
    if (soerr) {
        c->last_errno = soerr;
        close(c->fd);
        c->fd = -1;
        try_next_address(c);
        return;
    }
    /* blocking from here on: an awaited answer is read in one recv bounded by SO_RCVTIMEO;
     * every other read and write says MSG_DONTWAIT */
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close_socket(c);
        lost_errno(c, MT_ERR_IO, "fcntl", e);
        return;
    }
    freeaddrinfo(c->ai);
    c->ai = c->ai_next = NULL;
    c->connecting = 0;
    if (c->proxy) mt_proxy_set_time(c->proxy, (int64_t)mt_clock_wall());   /* for a fake-TLS hello */
    mt_link_connected(c->link, mt_clock_monotonic());
}

/* Feeds n bytes read into buf at `now` (0: the peer closed; < 0: errno e); wipes them once fed. */
static void got(mt_conn *c, uint8_t *buf, ssize_t n, int e, double now)
{
    if (n > 0) {
        mt_link_feed(c->link, buf, (size_t)n, now);
        mt_wipe(buf, (size_t)n);
    }
    else if (n == 0) mt_link_lost(c->link, now, MT_ERR_CLOSED, "the server closed the connection");
    else lost_errno(c, MT_ERR_IO, "read", e);
}

/* Reads what is there without blocking. */
static void read_some(mt_conn *c)
{
    unsigned epoch = c->fd_epoch;
    uint8_t buf[READ_CHUNK];
    while (c->fd >= 0 && !c->connecting && epoch == mt_link_epoch(c->link)) {
        ssize_t n = recv(c->fd, buf, READ_CHUNK, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        int e = errno;
        got(c, buf, n, e, mt_clock_monotonic());
        if (n < READ_CHUNK) return;
    }
}

/* Writes what the link has at `now`, without blocking (send(MSG_NOSIGNAL): a peer that
 * closed must not raise SIGPIPE in the host process). */
static void write_some(mt_conn *c, double now)
{
    c->blocked = 0;
    while (c->fd >= 0 && !c->connecting && mt_link_want_write(c->link)) {
        const uint8_t *p;
        size_t n;
        mt_link_output(c->link, now, &p, &n);
        sync_socket(c);
        if (!n || c->fd < 0) return;
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) { mt_link_written(c->link, (size_t)w); continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { c->blocked = 1; return; }
        lost_errno(c, MT_ERR_IO, "write", errno);
        sync_socket(c);
    }
}

/* Timers at `now`, then the socket to match, then the writes. One clock read serves a whole
 * round (a read costs ~50 ns on a paravirtual clock, and a call makes several rounds). */
static void settle_at(mt_conn *c, double now)
{
    mt_link_tick(c->link, now);
    sync_socket(c);
    write_some(c, now);
    sync_socket(c);
    drain_events(c);
}

static void settle(mt_conn *c) { settle_at(c, mt_clock_monotonic()); }

static void handle(mt_conn *c, short revents)
{
    if (c->lookup) {
        if (revents & (POLLIN | POLLERR | POLLHUP)) lookup_done(c);
    } else if (c->fd >= 0 && c->connecting) {
        if (revents & (POLLOUT | POLLERR | POLLHUP)) connect_done(c);
    } else if (c->fd >= 0 && (revents & (POLLIN | POLLERR | POLLHUP))) {
        read_some(c);
    }
}

void mt_conn_pump(mt_conn *c)
{
    if (mt_conn_fd(c) >= 0) {
        struct pollfd p = { mt_conn_fd(c), (short)mt_conn_events(c), 0 };
        if (poll(&p, 1, 0) > 0) handle(c, p.revents);
    }
    settle(c);
}

int mt_conn_events(const mt_conn *c)
{
    if (c->lookup) return POLLIN;
    if (c->fd < 0) return 0;
    if (c->connecting) return POLLOUT;
    return POLLIN | (c->blocked || mt_link_want_write(c->link) ? POLLOUT : 0);
}

double mt_conn_timeout(const mt_conn *c)
{
    double d = mt_link_deadline(c->link);
    if (d == HUGE_VAL) return -1;
    d -= mt_clock_monotonic();
    return d > 0 ? d : 0;
}

static int ms_until(double deadline, double now)
{
    double left = deadline - now;
    if (left <= 0) return 0;
    if (left > 3600) return 3600 * 1000;
    return (int)(left * 1000) + 1;
}

/* One blocking round until `until` (monotonic) at most: the link's timers, the socket's
 * events, or a pause without a socket. Only an answer awaited: one recv bounded by
 * SO_RCVTIMEO (set again only when it would overshoot or is under half the wait) instead
 * of poll + recv. `now` is the time the caller last read; returns the time read after the
 * round, which its feed and settle used. */
static double block(mt_conn *c, double until, double now)
{
    double d = mt_link_deadline(c->link);
    if (d < until) until = d;
    int ms = ms_until(until, now);
    if (mt_conn_fd(c) < 0) {
        if (ms > 0) {
            struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
        }
    } else if (!c->lookup && !c->connecting && !(mt_conn_events(c) & POLLOUT) && ms > 0) {
        if (c->rcvtimeo_ms < 0 || c->rcvtimeo_ms > ms || c->rcvtimeo_ms < ms / 2) {
            int t = ms - ms / 4;
            struct timeval tv = { t / 1000, (t % 1000) * 1000 };
            if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
                lost_errno(c, MT_ERR_IO, "setsockopt", errno);
                now = mt_clock_monotonic();
                settle_at(c, now);
                return now;
            }
            c->rcvtimeo_ms = t;
        }
        uint8_t buf[READ_CHUNK];
        ssize_t n = recv(c->fd, buf, READ_CHUNK, 0);
        int e = errno;
        now = mt_clock_monotonic();
        if (n >= 0 || (e != EINTR && e != EAGAIN && e != EWOULDBLOCK)) {
            got(c, buf, n, e, now);
            if (n == READ_CHUNK) { read_some(c); now = mt_clock_monotonic(); }
        }
        settle_at(c, now);
        return now;
    } else {
        struct pollfd p = { mt_conn_fd(c), (short)mt_conn_events(c), 0 };
        if (poll(&p, 1, ms) > 0) handle(c, p.revents);
    }
    now = mt_clock_monotonic();
    settle_at(c, now);
    return now;
}

int mt_conn_send(mt_conn *c, const uint8_t *body, size_t len, double timeout, uint64_t *id)
{
    double now = mt_clock_monotonic();
    return mt_link_send(c->link, body, len, now, timeout > 0 ? now + timeout : 0, id);
}

/* Runs until `done` or a connection attempt fails (its error) or `deadline` (TIMEOUT). */
static int run_until(mt_conn *c, double deadline, int (*done)(mt_conn *))
{
    c->lost = 0;
    double now = mt_clock_monotonic();
    settle_at(c, now);
    for (;;) {
        if (done(c)) return MT_OK;
        if (c->lost) {
            int rc = mt_link_error_code(c->link);
            return rc ? rc : MT_ERR_IO;
        }
        if (now >= deadline)
            return mt_link_fail(c->link, MT_ERR_TIMEOUT, "TIMEOUT", "connect to %s:%d timed out", c->host, c->port);
        now = block(c, deadline, now);
    }
}

static int is_ready(mt_conn *c) { return mt_link_state(c->link) == MT_LINK_READY; }
static int is_flushed(mt_conn *c)
{
    if (mt_link_want_write(c->link)) return 0;
    return mt_link_state(c->link) == MT_LINK_READY || !mt_link_busy(c->link, mt_clock_monotonic());
}

int mt_conn_connect(mt_conn *c, double timeout)
{
    double now = mt_clock_monotonic(), deadline = timeout > 0 ? now + timeout : HUGE_VAL;
    mt_link_connect(c->link, now, timeout > 0 ? deadline : now + 1e9);
    int rc = run_until(c, deadline, is_ready);
    if (rc) {
        /* one attempt only: the caller decides whether to try again */
        close_socket(c);
        mt_link_disconnect(c->link, mt_clock_monotonic());
        sync_socket(c);
    }
    return rc;
}

void mt_conn_close(mt_conn *c)
{
    mt_link_disconnect(c->link, mt_clock_monotonic());
    close_socket(c);
}

int mt_conn_flush(mt_conn *c)
{
    return run_until(c, mt_clock_monotonic() + 3600, is_flushed);
}

/* mt_conn_wait from `now`, the time the caller read last. */
static int wait_at(mt_conn *c, uint64_t id, double now, double timeout, const uint8_t **data, size_t *len,
                   int32_t *code)
{
    double deadline = timeout >= 0 ? now + timeout : HUGE_VAL;
    for (int first = 1;; first = 0) {
        int st = mt_link_take(c->link, id, data, len, code);
        if (st != MT_REQ_PENDING) return st;
        if (!first && now >= deadline)
            return mt_link_fail(c->link, MT_ERR_TIMEOUT, "TIMEOUT", "no answer within %.3g s", timeout);
        if (first) settle_at(c, now);
        else now = block(c, deadline, now);
    }
}

int mt_conn_wait(mt_conn *c, uint64_t id, double timeout, const uint8_t **data, size_t *len, int32_t *code)
{
    return wait_at(c, id, mt_clock_monotonic(), timeout, data, len, code);
}

/* One clock read serves the send and the wait's first round (a read costs ~0.1 us here). */
int mt_conn_call(mt_conn *c, const uint8_t *body, size_t len, double timeout, uint64_t *id,
                 const uint8_t **data, size_t *dlen, int32_t *code)
{
    double now = mt_clock_monotonic();
    int rc = mt_link_send(c->link, body, len, now, timeout > 0 ? now + timeout : 0, id);
    if (rc) { *id = 0; return rc; }
    return wait_at(c, *id, now, -1, data, dlen, code);
}

int mt_conn_poll(mt_conn *c, double timeout)
{
    double now = mt_clock_monotonic(), deadline = now + (timeout > 0 ? timeout : 0);
    /* updates come only over an open connection: the link wants one for the whole wait */
    mt_link_connect(c->link, now, deadline);
    settle_at(c, now);
    while (!c->updates.len) {
        if (now >= deadline) return 0;
        now = block(c, deadline, now);
    }
    return 1;
}

void mt_conn_keep_open(mt_conn *c, double seconds)
{
    double now = mt_clock_monotonic();
    mt_link_connect(c->link, now, now + (seconds > 0 ? seconds : 0));
}

void mt_conn_release(mt_conn *c, uint64_t id)
{
    mt_link_release(c->link, id);
}
