/* The test DC's sockets: the listeners of every DC (and of the MTProxy) and the loop that
 * moves bytes between them and the connections, with the timers (answers a fault delays, the
 * push timer). No protocol here: a connection (tdc_conn.c) takes the bytes read and leaves
 * the bytes to write in its buffer, as the client's core does.
 *
 * Two ways to wait, the same rounds: with io_uring (tdc_ring.c) where the system has it, the
 * connections' receives and sends are queued on the ring and one system call per round hands
 * them over and waits (a request answered at once: one call, where epoll takes three);
 * elsewhere (or --no-io-uring) epoll says which connection to read and the loop writes with
 * send. The listeners, the signalfd and stdin are watched by epoll in both: the ring polls the
 * epoll descriptor. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "tdc.h"
#include "tdc_ring.h"

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int listen_on(const char *host, int port, int v6, uint16_t *bound)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) return -1;
        sl = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return -1;
        sl = sizeof *a;
    }
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 4096) < 0) { close(fd); return -1; }
    sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) { close(fd); return -1; }
    *bound = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

#define MAX_UNREAD ((size_t)64 << 20)   /* answers a client may leave unread before it is dropped */

/* Connections are edge-triggered: epoll reports new bytes once, and a read that fills the
 * buffer leaves `more` set so the loop reads again on its next round (one buffer per
 * connection and round, as level-triggered would, without epoll polling the socket again
 * at every wait). */
#define CONN_EVENTS (EPOLLIN | EPOLLET)

typedef struct slot {
    int fd;
    int id;
    tdc_conn *conn;          /* NULL: dropped, waiting for the ring to give its buffers back */
    uint32_t events;         /* epoll: what it watches for it */
    int more;                /* epoll: the last read filled the buffer: bytes may be waiting */
    mt_buf sending;          /* ring: the bytes of the send in flight (the connection's wbuf
                              * takes new answers meanwhile) */
    int receiving, writing;  /* ring: the (multishot) receive on, a send in flight */
    int watching;            /* ring: the multishot poll for room is on */
    int full;                /* ring: the socket had no room for all of `sending`: the next send
                              * waits for that poll */
} slot;

/* epoll and ring tags: the kind in the top bits, an index, fd or connection id below */
enum { TAG_SIG = 1, TAG_STDIN = 2, TAG_LISTEN = 3, TAG_CONN = 4, TAG_EPOLL = 5, TAG_RECV = 6, TAG_SEND = 7,
       TAG_ROOM = 8, TAG_CANCEL = 9 };
#define TAG(kind, v) ((uint64_t)(kind) << 32 | (uint32_t)(v))

struct tdc_net {
    int epfd;
    tdc_ring *ring;          /* NULL: the epoll loop */
    int ring_polls_epfd;     /* the ring's poll on epfd is in flight */
    tdc_server *srv;
    slot *conns;
    size_t nconns, cap;
    int next_id;
    int lfds[2 * TDC_MAX_DCS + 3];   /* listeners: every DC on IPv4 and IPv6, the MTProxy */
    int ldc[2 * TDC_MAX_DCS + 3];    /* their DC (0: the MTProxy's) */
    int nl;
};

static void free_slot(tdc_net *lp, size_t i)
{
    mt_buf_free(&lp->conns[i].sending);
    lp->conns[i] = lp->conns[--lp->nconns];
}

/* Closes connection i. On the ring, its receive and poll are cancelled, and the slot (with the
 * bytes of a send the kernel may still read) stays until every request of it is back. */
static void drop_conn(tdc_net *lp, size_t i)
{
    slot *s = &lp->conns[i];
    if (!lp->ring) epoll_ctl(lp->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    tdc_conn_free(s->conn);
    s->conn = NULL;
    if (lp->ring && s->receiving) tdc_ring_cancel(lp->ring, TAG(TAG_RECV, s->id), TAG(TAG_CANCEL, 0));
    if (lp->ring && s->watching) tdc_ring_cancel(lp->ring, TAG(TAG_ROOM, s->id), TAG(TAG_CANCEL, 0));
    /* a send completes on its own (MSG_DONTWAIT), in the wait it was handed over in */
    if (!lp->ring || (!s->receiving && !s->writing && !s->watching)) free_slot(lp, i);
}

static void accept_all(tdc_net *lp, int lfd, int dc)
{
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) return;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (lp->nconns == lp->cap) {
            size_t nc = lp->cap ? lp->cap * 2 : 64;
            slot *s = realloc(lp->conns, nc * sizeof *s);
            if (!s) { close(fd); return; }
            lp->conns = s;
            lp->cap = nc;
        }
        tdc_conn *c = tdc_conn_new(lp->srv, dc, ++lp->next_id);
        if (!c) { close(fd); return; }
        if (!lp->ring) {
            struct epoll_event ev = { .events = CONN_EVENTS, .data.u64 = TAG(TAG_CONN, fd) };
            if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) { tdc_conn_free(c); close(fd); return; }
        }
        lp->conns[lp->nconns] = (slot){ .fd = fd, .id = lp->next_id, .conn = c, .events = CONN_EVENTS };
        mt_buf_init(&lp->conns[lp->nconns].sending);
        lp->nconns++;
        tdc_log(lp->srv, 2, "dc%d conn%d accepted", dc, lp->next_id);
    }
}

/* Writes what the connection has; -1 when it must be closed. */
static int write_out(slot *s)
{
    mt_buf *w = tdc_conn_wbuf(s->conn);
    while (w->len) {
        ssize_t n = send(s->fd, w->data, w->len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            if (errno == EINTR) continue;
            return -1;
        }
        mt_buf_consume(w, (size_t)n);
    }
    return tdc_conn_closing(s->conn) ? -1 : 0;
}

/* Gives n bytes the client sent to its connection; 1 when the connection must be closed. */
static int take_input(tdc_net *lp, slot *s, const uint8_t *in, size_t n, int64_t now)
{
    tdc_log(lp->srv, 2, "fd %d: %zu bytes in", s->fd, n);
    int rc = tdc_conn_input(s->conn, in, n, now);
    if (rc < 0) {
        tdc_log(lp->srv, 1, "fd %d: closing: %s", s->fd, mt_strerror(rc));
        return 1;
    }
    return 0;
}

/* Answers waiting past the limit: the client reads nothing. */
static int unread_too_long(tdc_net *lp, slot *s)
{
    size_t waiting = tdc_conn_wbuf(s->conn)->len + s->sending.len;
    if (waiting <= MAX_UNREAD) return 0;
    tdc_log(lp->srv, 1, "fd %d: the client reads nothing (%zu bytes waiting): closing", s->fd, waiting);
    return 1;
}

/* epoll: reads one buffer of what the client sent into its connection and writes the
 * answers; 1 when the connection must be closed. */
static int serve(tdc_net *lp, slot *s, int64_t now)
{
    uint8_t buf[65536];
    ssize_t n = recv(s->fd, buf, sizeof buf, 0);
    s->more = n == (ssize_t)sizeof buf || (n < 0 && errno == EINTR);
    if (n == 0) return 1;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    if (take_input(lp, s, buf, (size_t)n, now)) return 1;
    mt_buf *w = tdc_conn_wbuf(s->conn);
    if (w->len && write_out(s) < 0) return 1;
    return unread_too_long(lp, s);
}

/* The ring: a receive's completion (res: bytes in buf, or -errno); 1 when the connection must
 * be closed. */
static int ring_received(tdc_net *lp, slot *s, int res, const uint8_t *buf, int64_t now)
{
    if (res == -EINTR || res == -EAGAIN || res == -ENOBUFS) return 0;   /* on again next round */
    if (res <= 0 || !buf) return 1;
    return take_input(lp, s, buf, (size_t)res, now) || unread_too_long(lp, s);
}

/* The ring: a send's completion; what the socket did not take waits for room. */
static int ring_sent(slot *s, int res)
{
    if (res == -EINTR) return 0;                            /* sent again on the next round */
    if (res == -EAGAIN) { s->full = 1; return 0; }
    if (res < 0) return 1;
    mt_buf_consume(&s->sending, (size_t)res);
    s->full = s->sending.len > 0;
    return 0;
}

/* The ring, every round: a receive in flight for the connection, the poll for room on, and
 * a send of what it has to write (the connection's buffer becomes the send's; the emptied one
 * takes new answers). The send is counted (it does not end the wait) unless the connection
 * closes once it is written. 1 when the connection must be closed (its last bytes sent). */
static int ring_queue(tdc_net *lp, slot *s)
{
    mt_buf *w = tdc_conn_wbuf(s->conn);
    if (!s->watching && tdc_ring_poll(lp->ring, s->fd, 1, 1, TAG(TAG_ROOM, s->id)) == 0) s->watching = 1;
    if (!s->writing && !s->sending.len && w->len) {
        mt_buf t = s->sending;
        s->sending = *w;
        *w = t;
    }
    int closing = tdc_conn_closing(s->conn);
    if (!s->writing && !s->full && s->sending.len
        && tdc_ring_send(lp->ring, s->fd, s->sending.data, s->sending.len, !closing, TAG(TAG_SEND, s->id)) == 0)
        s->writing = 1;
    if (!s->writing && !s->sending.len && !w->len && closing) return 1;
    if (!s->receiving && tdc_ring_recv(lp->ring, s->fd, TAG(TAG_RECV, s->id)) == 0)
        s->receiving = 1;
    return 0;
}

tdc_net *tdc_net_listen(tdc_server *srv)
{
    tdc_net *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->epfd = -1;
    n->srv = srv;
    n->ring = srv->cfg.no_io_uring ? NULL : tdc_ring_new();
    for (int i = 1; i <= srv->cfg.ndcs; i++) {
        int port = srv->cfg.port ? srv->cfg.port + i - 1 : 0;
        int fd = -1;
        /* --port 0: a free port below 32768 (GramJS keeps ports as int16), else any */
        for (int tries = 0; !port && fd < 0 && tries < 64; tries++) {
            uint8_t r[2];
            mt_random_fill(&srv->rnd, r, 2);
            fd = listen_on(srv->cfg.host, 10000 + (r[0] | r[1] << 8) % 22000, 0, &srv->ports[i]);
        }
        if (fd < 0) fd = listen_on(srv->cfg.host, port, 0, &srv->ports[i]);
        if (fd < 0) {
            fprintf(stderr, "mtproto-testdc: cannot listen on %s port %d: %s\n", srv->cfg.host, port, strerror(errno));
            goto fail;
        }
        n->lfds[n->nl] = fd; n->ldc[n->nl++] = i;
        if (srv->cfg.host6[0]) {
            /* the same port number on ::1 when free; IPv6 may be missing altogether */
            int fd6 = listen_on(srv->cfg.host6, srv->ports[i], 1, &srv->ports6[i]);
            if (fd6 < 0 && !srv->cfg.port) fd6 = listen_on(srv->cfg.host6, 0, 1, &srv->ports6[i]);
            if (fd6 >= 0) { n->lfds[n->nl] = fd6; n->ldc[n->nl++] = i; }
            else srv->ports6[i] = 0;
        }
    }

    if (srv->cfg.mtproxy) {
        /* the MTProxy listener: its connections are DC 0 until their init names one */
        int fd = listen_on(srv->cfg.host, 0, 0, &srv->mtproxy_port);
        if (fd < 0) {
            fprintf(stderr, "mtproto-testdc: cannot listen on %s for the MTProxy: %s\n", srv->cfg.host, strerror(errno));
            goto fail;
        }
        n->lfds[n->nl] = fd; n->ldc[n->nl++] = 0;
    }
    return n;
fail:
    tdc_net_free(n);
    return NULL;
}

enum { MAX_EVENTS = 64 };

/* epoll's events: the signalfd, stdin, the listeners and (epoll loop) the connections. */
static void on_events(tdc_net *lp, const struct epoll_event *evs, int ne, int64_t now, int *running)
{
    for (int e = 0; e < ne && *running; e++) {
        uint32_t kind = (uint32_t)(evs[e].data.u64 >> 32), v = (uint32_t)evs[e].data.u64;
        uint32_t re = evs[e].events;
        if (kind == TAG_SIG) { *running = 0; break; }              /* SIGTERM / SIGINT */
        if (kind == TAG_STDIN) {
            char b[256];
            ssize_t n = read(0, b, sizeof b);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) { *running = 0; break; }
            continue;
        }
        if (kind == TAG_LISTEN) { accept_all(lp, lp->lfds[v], lp->ldc[v]); continue; }
        /* a connection: find its slot by fd (drop_conn moves slots) */
        size_t i = 0;
        while (i < lp->nconns && lp->conns[i].fd != (int)v) i++;
        if (i == lp->nconns) continue;
        int close_it = 0;
        if (re & (EPOLLIN | EPOLLHUP | EPOLLERR)) close_it = serve(lp, &lp->conns[i], now);
        else if (tdc_conn_wbuf(lp->conns[i].conn)->len) close_it = write_out(&lp->conns[i]) < 0;
        if (close_it) drop_conn(lp, i);
    }
}

/* The ring's completions: epoll's descriptor readable (not looked at without evs), the
 * connections' receives and sends. */
static void on_completions(tdc_net *lp, struct epoll_event *evs, int64_t now, int *running)
{
    uint64_t tag;
    int res, more;
    const uint8_t *buf;
    for (; *running && tdc_ring_next(lp->ring, &tag, &res, &more, &buf); tdc_ring_give(lp->ring, buf)) {
        uint32_t kind = (uint32_t)(tag >> 32), v = (uint32_t)tag;
        if (kind == TAG_EPOLL) {
            lp->ring_polls_epfd = 0;                /* polled again on the next round */
            if (!evs) continue;
            int ne = epoll_wait(lp->epfd, evs, MAX_EVENTS, 0);
            if (ne > 0) on_events(lp, evs, ne, now, running);
            continue;
        }
        if (kind != TAG_RECV && kind != TAG_SEND && kind != TAG_ROOM) continue;   /* a cancel's own */
        size_t i = 0;
        while (i < lp->nconns && lp->conns[i].id != (int)v) i++;
        if (i == lp->nconns) continue;
        slot *s = &lp->conns[i];
        if (kind == TAG_RECV) s->receiving = more;
        else if (kind == TAG_SEND) s->writing = 0;
        else if (!more) s->watching = 0;            /* the poll for room ended: on again next round */
        if (!s->conn) {                             /* dropped: the slot goes with its last request */
            if (!s->receiving && !s->writing && !s->watching) free_slot(lp, i);
            continue;
        }
        if (kind == TAG_ROOM) s->full = 0;          /* room again (or an error the receive sees) */
        else if (kind == TAG_RECV ? ring_received(lp, s, res, buf, now) : ring_sent(s, res)) drop_conn(lp, i);
    }
}

int tdc_net_run(tdc_net *lp, int sfd, int watch_stdin, long parent_pid)
{
    /* epoll, not poll: the signalfd, stdin and the listeners stay registered, so a round
     * trip costs no per-descriptor wait-queue setup for the idle ones */
    lp->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (lp->epfd < 0) { fprintf(stderr, "mtproto-testdc: epoll: %s\n", strerror(errno)); return -1; }
    {
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG(TAG_SIG, 0) };
        if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, sfd, &ev) < 0) { fprintf(stderr, "mtproto-testdc: epoll: %s\n", strerror(errno)); return -1; }
        for (int i = 0; i < lp->nl; i++) {
            ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = TAG(TAG_LISTEN, i) };
            if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, lp->lfds[i], &ev) < 0) { fprintf(stderr, "mtproto-testdc: epoll: %s\n", strerror(errno)); return -1; }
        }
    }
    int stdin_open = watch_stdin;
    if (stdin_open) {
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG(TAG_STDIN, 0) };
        if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, 0, &ev) < 0) {
            /* a regular file or /dev/null (epoll refuses them): always readable, so read it to
             * its end and stop there, as a poll on it would */
            char b[256];
            ssize_t n;
            while ((n = read(0, b, sizeof b)) > 0) {}
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) stdin_open = -1;
            else stdin_open = 0;
        }
    }
    int64_t next_parent_check = 0;
    int64_t next_push = lp->srv->cfg.push_ms > 0 ? real_ms() + lp->srv->cfg.push_ms : -1;
    int running = stdin_open >= 0;
    struct epoll_event evs[MAX_EVENTS];
    /* The clock is read after each wait; while something is timed (the last wait had a
     * timeout), again before the timers are looked at, the round's work having taken time. */
    int64_t now = 0;
    int timed = 1;
    while (running) {
        if (timed) now = real_ms();
        if (parent_pid && now >= next_parent_check) {
            if (getppid() != (pid_t)parent_pid && kill((pid_t)parent_pid, 0) < 0 && errno == ESRCH) break;
            next_parent_check = now + 250;
        }
        if (next_push >= 0 && now >= next_push) {
            tdc_updates_tick(lp->srv, now);
            next_push = now + lp->srv->cfg.push_ms;
        }
        /* answers that came due; write what can be written (epoll: watch for writability
         * while some answer bytes wait; the ring: queue the sends and receives) */
        int64_t next_due = -1;
        int more = 0;
        for (size_t i = 0; i < lp->nconns;) {
            slot *s = &lp->conns[i];
            if (!s->conn) { i++; continue; }        /* dropped, requests of it still on the ring */
            if (s->more && serve(lp, s, now)) { drop_conn(lp, i); continue; }
            more |= s->more;
            int64_t d = tdc_conn_due(s->conn, now);
            if (d >= 0 && (next_due < 0 || d < next_due)) next_due = d;
            if (lp->ring) {
                if (ring_queue(lp, s)) { drop_conn(lp, i); continue; }
                i++;
                continue;
            }
            if (tdc_conn_wbuf(s->conn)->len && write_out(s) < 0) { drop_conn(lp, i); continue; }
            if (tdc_conn_closing(s->conn) && !tdc_conn_wbuf(s->conn)->len) { drop_conn(lp, i); continue; }
            uint32_t want = CONN_EVENTS | (tdc_conn_wbuf(s->conn)->len ? EPOLLOUT : 0);
            if (want != s->events) {
                struct epoll_event ev = { .events = want, .data.u64 = TAG(TAG_CONN, s->fd) };
                if (epoll_ctl(lp->epfd, EPOLL_CTL_MOD, s->fd, &ev) < 0) { drop_conn(lp, i); continue; }
                s->events = want;
            }
            i++;
        }
        if (lp->ring && !lp->ring_polls_epfd && tdc_ring_poll(lp->ring, lp->epfd, 0, 0, TAG(TAG_EPOLL, 0)) == 0)
            lp->ring_polls_epfd = 1;
        int timeout = more ? 0 : parent_pid ? 250 : -1;
        if (next_push >= 0 && (next_due < 0 || next_push < next_due)) next_due = next_push;
        if (next_due >= 0) {
            int64_t t = next_due - now;
            if (t < 0) t = 0;
            if (timeout < 0 || t < timeout) timeout = (int)t;
        }
        timed = timeout >= 0;
        if (lp->ring) {
            if (tdc_ring_wait(lp->ring, timeout) < 0) {
                fprintf(stderr, "mtproto-testdc: io_uring: %s\n", strerror(errno));
                break;
            }
            now = real_ms();
            on_completions(lp, evs, now, &running);
            continue;
        }
        int ne = epoll_wait(lp->epfd, evs, MAX_EVENTS, timeout);
        if (ne < 0) {
            if (errno == EINTR) { timed = 1; continue; }
            break;
        }
        now = real_ms();
        on_events(lp, evs, ne, now, &running);
    }
    return 0;
}

const char *tdc_net_loop(const tdc_net *lp)
{
    return lp->ring ? "io_uring" : "epoll";
}

void tdc_net_free(tdc_net *lp)
{
    if (!lp) return;
    if (lp->ring) {
        /* A request on the ring holds its socket open: the clients see the connections close
         * only once the cancelled requests are back (closing the ring would cancel them too,
         * but later, in the kernel's own time). */
        for (size_t i = lp->nconns; i-- > 0;)
            if (lp->conns[i].conn) drop_conn(lp, i);
        int running = 1;
        for (int k = 0; k < 100 && lp->nconns && tdc_ring_wait(lp->ring, 10) == 0; k++)
            on_completions(lp, NULL, 0, &running);
        tdc_ring_free(lp->ring);
        lp->ring = NULL;
    }
    while (lp->nconns) {
        if (lp->conns[lp->nconns - 1].conn) drop_conn(lp, lp->nconns - 1);
        else free_slot(lp, lp->nconns - 1);
    }
    free(lp->conns);
    if (lp->epfd >= 0) close(lp->epfd);
    for (int i = 0; i < lp->nl; i++) close(lp->lfds[i]);
    free(lp);
}
