/* One test DC connection's state, shared by the protocol (tdc_conn.c) and the fault hooks
 * (tdc_fault.c); nothing else looks inside a tdc_conn (tdc.h has its interface). */
#ifndef TDC_CONN_H
#define TDC_CONN_H

#include "mt_transport.h"
#include "mt_auth.h"
#include "tdc.h"

/* A payload waiting for its time (the delay_ms fault), framed when due. */
typedef struct tdc_out {
    struct tdc_out *next;
    int64_t due_ms;
    size_t len;
    uint8_t data[];
} tdc_out;

/* One message to send in the current batch: its body is at `off` in the connection's
 * `bodies` (one buffer for the batch, kept between packets: no allocation per answer). */
typedef struct out_msg {
    size_t off, len;
    int content;
} out_msg;

#define BOX_MAX 1000          /* messages per outgoing container (MT_CONTAINER_MAX is the hard cap) */

struct tdc_conn {
    tdc_server *srv;
    tdc_conn *prev, *next;   /* srv->conns */
    int dc, id;
    int layer;               /* from invokeWithLayer; 223 until then */
    mt_transport *tr;
    mt_auth_server *auth;
    mt_buf wbuf;
    mt_buf plain;
    tdc_out *head, *tail;
    int closing;
    int stalled;             /* stall_after: input is ignored, nothing is answered */
    int capture;             /* keep the next encrypted packets in `last` (replay fault) */
    mt_buf last;             /* the last answer packet (replay fault) */
    /* the batch being built for one received packet */
    tdc_key *key;
    tdc_session *sess;
    out_msg *batch;
    int nbatch, capbatch;
    mt_buf bodies;           /* the batch's message bodies, back to back */
    int64_t *acks;           /* content messages of the packet (acked at once under delay_ms) */
    int nacks, capacks;
    int answered;            /* the batch holds an rpc_result */
    int64_t first_msg_id;
    mt_crypto_ctx *cc;       /* this connection's crypto context (lazily made) */
    mt_buf pkt;              /* reused per message: an answer's packet */
    mt_buf flat;             /* reused per message: a request with its gzip_packed inflated (tdc_unwrap) */
    int proxy;               /* 1: MTProxy listener, the front not passed yet */
    mt_buf hello;            /* MTProxy: the fake-TLS ClientHello gathered so far */
};

/* Queues one transport payload: framed now, or when the delay_ms fault says. */
int tdc_conn_queue(tdc_conn *c, const uint8_t *p, size_t n, int64_t now_ms);
/* Encrypts one message of the current key and session and queues it. */
int tdc_conn_send(tdc_conn *c, int64_t msg_id, int32_t seqno, const uint8_t *body, size_t len, int64_t now_ms);
/* The next server msg_id (mod4: 1 an answer, 3 a message of its own) and seqno. */
int64_t tdc_conn_msg_id(tdc_conn *c, int64_t now_ms, int mod4);
int32_t tdc_seqno(tdc_session *s, int content);

/* ---- the fault hooks (tdc_fault.c) ---- */
/* Before the answers of a packet: updatesTooLong (update_first), a packet failing msg_key
 * checks (garbage), the previous answer packet again (replay), a container nested in a
 * container (nested), a gzip bomb (gzip_bomb, once per session). < 0 on failure. */
int tdc_fault_before_answers(tdc_conn *c, int64_t now_ms);
/* After a packet was handled, before its answers go: 0 to send them (*cut: cut_after says
 * to send half of them, then close: call tdc_fault_cut after), 1 when a fault took over
 * (stall_after, huge_frame), < 0 to close (drop_after). */
int tdc_fault_packet(tdc_conn *c, int *cut);
/* cut_after: keeps half of the bytes written since `before`, then closes. */
void tdc_fault_cut(tdc_conn *c, size_t before);

#endif
