/* The test DC's io_uring: see tdc_ring.h. The submission and completion rings are shared with
 * the kernel: the tails we write and the heads we read go through atomics (release/acquire),
 * as the kernel's side does. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tdc_ring.h"

#if defined(__linux__) && defined(__has_include)
#if __has_include(<linux/io_uring.h>)
#include <linux/io_uring.h>
#endif
#endif

#if defined(IORING_FEAT_EXT_ARG) && defined(IORING_SETUP_DEFER_TASKRUN)
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SQ_ENTRIES 256
#define CQ_ENTRIES 4096        /* completions beyond are kept by the kernel (IORING_FEAT_NODROP) */
#define NBUF 64                /* receive buffers the receives share (a power of 2) */
#define BUF_GROUP 0

struct tdc_ring {
    int fd;
    void *rings;               /* the submission and completion rings (one mapping) */
    size_t rings_len;
    struct io_uring_sqe *sqes;
    size_t sqes_len;
    unsigned *sq_head, *sq_tail, *sq_array, sq_mask, sq_entries;
    unsigned *cq_head, *cq_tail, cq_mask;
    struct io_uring_cqe *cqes;
    unsigned sends;            /* sends queued since the last wait, counted (see tdc_ring_wait) */
    struct io_uring_buf_ring *br;  /* the buffers the kernel may fill (a ring we add to) */
    uint8_t *bufs;             /* NBUF buffers of TDC_RING_BUF bytes */
    unsigned short br_tail;
};

/* Buffer `bid` back in the ring of those the receives take. */
static void give(tdc_ring *r, unsigned bid)
{
    struct io_uring_buf *b = &r->br->bufs[r->br_tail & (NBUF - 1)];
    b->addr = (uint64_t)(uintptr_t)(r->bufs + (size_t)bid * TDC_RING_BUF);
    b->len = TDC_RING_BUF;
    b->bid = (uint16_t)bid;
    r->br_tail++;
    __atomic_store_n(&r->br->tail, r->br_tail, __ATOMIC_RELEASE);
}

static int setup(unsigned flags, struct io_uring_params *p)
{
    memset(p, 0, sizeof *p);
    p->flags = flags | IORING_SETUP_CQSIZE;
    p->cq_entries = CQ_ENTRIES;
    return (int)syscall(SYS_io_uring_setup, SQ_ENTRIES, p);
}

tdc_ring *tdc_ring_new(void)
{
    struct io_uring_params p;
    /* completions' work (a receive's copy) done in our own wait, not in interrupts of other
     * tasks: kernel 6.1 or later, which also has everything else used (a send with
     * MSG_DONTWAIT never parked, multishot polls, waits with a timeout) */
    int fd = setup(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, &p);
    if (fd < 0) return NULL;
    unsigned need = IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL | IORING_FEAT_EXT_ARG;
    tdc_ring *r = calloc(1, sizeof *r);
    if (!r || (p.features & need) != need) { free(r); close(fd); return NULL; }
    r->fd = fd;
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    r->rings_len = sq_len > cq_len ? sq_len : cq_len;
    r->rings = mmap(NULL, r->rings_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    r->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
    r->sqes = r->rings == MAP_FAILED ? MAP_FAILED
            : mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (r->rings == MAP_FAILED || r->sqes == MAP_FAILED) {
        if (r->rings != MAP_FAILED) munmap(r->rings, r->rings_len);
        close(fd);
        free(r);
        return NULL;
    }
    uint8_t *m = r->rings;
    r->sq_head = (unsigned *)(m + p.sq_off.head);
    r->sq_tail = (unsigned *)(m + p.sq_off.tail);
    r->sq_array = (unsigned *)(m + p.sq_off.array);
    r->sq_mask = *(unsigned *)(m + p.sq_off.ring_mask);
    r->sq_entries = p.sq_entries;
    r->cq_head = (unsigned *)(m + p.cq_off.head);
    r->cq_tail = (unsigned *)(m + p.cq_off.tail);
    r->cq_mask = *(unsigned *)(m + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(m + p.cq_off.cqes);
    /* the receive buffers, shared by every connection: a receive takes one per completion
     * and the loop gives it back once the connection has the bytes */
    r->br = mmap(NULL, NBUF * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    r->bufs = malloc((size_t)NBUF * TDC_RING_BUF);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)r->br;
    reg.ring_entries = NBUF;
    reg.bgid = BUF_GROUP;
    if (r->br == MAP_FAILED || !r->bufs || syscall(SYS_io_uring_register, fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
        if (r->br == MAP_FAILED) r->br = NULL;
        tdc_ring_free(r);
        return NULL;
    }
    for (unsigned i = 0; i < NBUF; i++) give(r, i);
    return r;
}

void tdc_ring_free(tdc_ring *r)
{
    if (!r) return;
    munmap(r->sqes, r->sqes_len);
    munmap(r->rings, r->rings_len);
    close(r->fd);                       /* the kernel lets go of the buffers */
    if (r->br) munmap(r->br, NBUF * sizeof(struct io_uring_buf));
    free(r->bufs);
    free(r);
}

static unsigned queued(const tdc_ring *r)
{
    return *r->sq_tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
}

static int enter(tdc_ring *r, unsigned submit, unsigned wait, unsigned flags, void *arg, size_t argsz)
{
    return (int)syscall(SYS_io_uring_enter, r->fd, submit, wait, flags, arg, argsz);
}

/* A free submission entry, zeroed, with its tag; NULL when the queue stays full. */
static struct io_uring_sqe *sqe(tdc_ring *r, uint8_t op, int fd, uint64_t tag)
{
    if (queued(r) == r->sq_entries) {
        enter(r, r->sq_entries, 0, 0, NULL, 0);
        if (queued(r) == r->sq_entries) return NULL;
    }
    unsigned tail = *r->sq_tail, i = tail & r->sq_mask;
    struct io_uring_sqe *e = &r->sqes[i];
    memset(e, 0, sizeof *e);
    e->opcode = op;
    e->fd = fd;
    e->user_data = tag;
    r->sq_array[i] = i;
    __atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
    return e;
}

int tdc_ring_recv(tdc_ring *r, int fd, uint64_t tag)
{
    struct io_uring_sqe *e = sqe(r, IORING_OP_RECV, fd, tag);
    if (!e) return -1;
    e->flags = IOSQE_BUFFER_SELECT;
    e->buf_group = BUF_GROUP;
    e->ioprio = IORING_RECV_MULTISHOT;
    return 0;
}

void tdc_ring_give(tdc_ring *r, const uint8_t *buf)
{
    if (buf) give(r, (unsigned)((size_t)(buf - r->bufs) / TDC_RING_BUF));
}

int tdc_ring_send(tdc_ring *r, int fd, const void *buf, size_t n, int counted, uint64_t tag)
{
    struct io_uring_sqe *e = sqe(r, IORING_OP_SEND, fd, tag);
    if (!e) return -1;
    e->addr = (uint64_t)(uintptr_t)buf;
    e->len = (uint32_t)(n > 0x7fffffff ? 0x7fffffff : n);
    /* MSG_DONTWAIT: never parked until the socket has room (it completes with what it sent,
     * or -EAGAIN), so the wait knows it has completed */
    e->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
    r->sends += counted != 0;
    return 0;
}

int tdc_ring_poll(tdc_ring *r, int fd, int out, int multishot, uint64_t tag)
{
    struct io_uring_sqe *e = sqe(r, IORING_OP_POLL_ADD, fd, tag);
    if (!e) return -1;
    e->poll32_events = out ? POLLOUT : POLLIN;
    if (multishot) e->len = IORING_POLL_ADD_MULTI;
    return 0;
}

int tdc_ring_cancel(tdc_ring *r, uint64_t tag, uint64_t own_tag)
{
    struct io_uring_sqe *e = sqe(r, IORING_OP_ASYNC_CANCEL, -1, own_tag);
    if (!e) return -1;
    e->addr = tag;
    return 0;
}

int tdc_ring_wait(tdc_ring *r, int timeout_ms)
{
    /* the completions of the sends queued come during the hand-over: wait for one more */
    unsigned want = 1 + r->sends;
    r->sends = 0;
    struct __kernel_timespec ts;
    struct io_uring_getevents_arg arg;
    memset(&arg, 0, sizeof arg);
    unsigned flags = IORING_ENTER_GETEVENTS;
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
        arg.ts = (uint64_t)(uintptr_t)&ts;
        flags |= IORING_ENTER_EXT_ARG;
    }
    int rc = enter(r, queued(r), want, flags, timeout_ms >= 0 ? &arg : NULL, timeout_ms >= 0 ? sizeof arg : 0);
    if (rc < 0 && errno != ETIME && errno != EINTR && errno != EAGAIN && errno != EBUSY) return -1;
    return 0;
}

int tdc_ring_next(tdc_ring *r, uint64_t *tag, int *res, int *more, const uint8_t **buf)
{
    unsigned head = *r->cq_head;
    if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) return 0;
    const struct io_uring_cqe *c = &r->cqes[head & r->cq_mask];
    *tag = c->user_data;
    *res = c->res;
    *more = (c->flags & IORING_CQE_F_MORE) != 0;
    *buf = c->flags & IORING_CQE_F_BUFFER
         ? r->bufs + (size_t)(c->flags >> IORING_CQE_BUFFER_SHIFT) % NBUF * TDC_RING_BUF : NULL;
    __atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
    return 1;
}

#else   /* no io_uring headers, or too old for what the loop needs */

tdc_ring *tdc_ring_new(void) { return NULL; }
void tdc_ring_free(tdc_ring *r) { (void)r; }
int tdc_ring_recv(tdc_ring *r, int fd, uint64_t tag) { (void)r; (void)fd; (void)tag; return -1; }
void tdc_ring_give(tdc_ring *r, const uint8_t *buf) { (void)r; (void)buf; }
int tdc_ring_send(tdc_ring *r, int fd, const void *buf, size_t n, int counted, uint64_t tag) { (void)r; (void)fd; (void)buf; (void)n; (void)counted; (void)tag; return -1; }
int tdc_ring_poll(tdc_ring *r, int fd, int out, int multishot, uint64_t tag) { (void)r; (void)fd; (void)out; (void)multishot; (void)tag; return -1; }
int tdc_ring_cancel(tdc_ring *r, uint64_t tag, uint64_t own_tag) { (void)r; (void)tag; (void)own_tag; return -1; }
int tdc_ring_wait(tdc_ring *r, int timeout_ms) { (void)r; (void)timeout_ms; return -1; }
int tdc_ring_next(tdc_ring *r, uint64_t *tag, int *res, int *more, const uint8_t **buf) { (void)r; (void)tag; (void)res; (void)more; (void)buf; return 0; }

#endif
