/* The test DC's fault hooks (--fault NAME[=N]): what a broken or hostile server does to
 * the answers of a connection. The protocol (tdc_conn.c) calls them at two points: before
 * a packet's answers, and once a packet is handled; the small switches that only change a
 * value (bad_salt, gzip, strict_seqno, delay_ms, clock_offset) stay where the value is made. */
#include <stdlib.h>
#include <string.h>
#include "mt_gzip.h"
#include "mt_ids.h"
#include "tdc_conn.h"

/* The hostile-server faults that come before an answer: the previous answer packet again
 * (replay), a container nested in a container, a gzip bomb (once per session). The last two carry an
 * rpc_result for the first request of the packet, so a client that accepts them shows it. */
static int send_hostile(tdc_conn *c, int64_t now_ms)
{
    const tdc_faults *f = &c->srv->cfg.faults;
    int rc = MT_OK;
    if (f->replay && c->last.len) {
        tdc_log(c->srv, 1, "dc%d conn%d out replayed packet (%zu bytes)", c->dc, c->id, c->last.len);
        rc = tdc_conn_queue(c, c->last.data, c->last.len, now_ms);
        if (rc < 0) return rc;
    }
    if (c->nacks == 0) return rc;
    int64_t req = c->acks[0];
    mt_buf b, inner, outer;
    mt_buf_init(&b);
    mt_buf_init(&inner);
    mt_buf_init(&outer);
    if (f->nested) {
        mt_buf_put_u32(&b, MT_ID_RPC_RESULT);
        mt_buf_put_i64(&b, req);
        tdc_put_rpc_error(&b, 500, "NESTED_CONTAINER_ACCEPTED");
        size_t s1 = inner.len, s2 = outer.len;
        rc = mt_container_begin(&inner);
        if (rc >= 0) rc = mt_container_add(&inner, s1, tdc_conn_msg_id(c, now_ms, 1),
                                           tdc_seqno(c->sess, 1), b.data, b.len);
        if (rc >= 0) rc = mt_container_begin(&outer);
        if (rc >= 0) rc = mt_container_add(&outer, s2, tdc_conn_msg_id(c, now_ms, 1),
                                           tdc_seqno(c->sess, 0), inner.data, inner.len);
        if (rc >= 0) {
            tdc_log(c->srv, 1, "dc%d conn%d out nested container", c->dc, c->id);
            rc = tdc_conn_send(c, tdc_conn_msg_id(c, now_ms, 1), tdc_seqno(c->sess, 0),
                                outer.data, outer.len, now_ms);
        }
    }
    if (rc >= 0 && f->gzip_bomb && !(c->sess->once & TDC_ONCE_BOMB)) {
        c->sess->once |= TDC_ONCE_BOMB;
        mt_buf *bomb = &c->srv->bomb;
        if (bomb->len == 0) {
            size_t n = MT_GZIP_MAX_OUT + ((size_t)1 << 20);
            uint8_t *zeros = calloc(n, 1);
            if (!zeros) rc = MT_ERR_NOMEM;
            else { rc = mt_gzip(zeros, n, bomb); free(zeros); }
        }
        if (rc >= 0) {
            b.len = 0;
            mt_buf_put_u32(&b, MT_ID_RPC_RESULT);
            mt_buf_put_i64(&b, req);
            mt_buf_put_u32(&b, MT_ID_GZIP_PACKED);
            mt_buf_put_tlbytes(&b, bomb->data, bomb->len);
            tdc_log(c->srv, 1, "dc%d conn%d out gzip bomb (%zu bytes inflating to %zu)", c->dc, c->id, bomb->len,
                    MT_GZIP_MAX_OUT + ((size_t)1 << 20));
            rc = b.oom ? MT_ERR_NOMEM : tdc_conn_send(c, tdc_conn_msg_id(c, now_ms, 1),
                                                      tdc_seqno(c->sess, 1), b.data, b.len, now_ms);
        }
    }
    mt_buf_free(&b);
    mt_buf_free(&inner);
    mt_buf_free(&outer);
    return rc;
}

/* huge_frame: a frame header that claims 32 MiB, a few bytes of it, then the end. */
static int send_huge_frame(tdc_conn *c)
{
    uint8_t h[8];
    size_t n;
    const uint32_t claim = (uint32_t)32 << 20;
    switch (mt_transport_kind(c->tr)) {
    case MT_TR_ABRIDGED: h[0] = 0x7f; h[1] = 0; h[2] = 0; h[3] = (uint8_t)(claim / 4 >> 16); n = 4; break;
    case MT_TR_INTERMEDIATE: case MT_TR_PADDED: mt_wr32(h, claim); n = 4; break;
    case MT_TR_FULL: mt_wr32(h, claim + 12); mt_wr32(h + 4, 0); n = 8; break;
    default: return 0;                                     /* obfuscated: the stream is encrypted */
    }
    mt_buf_put(&c->wbuf, h, n);
    mt_buf_put(&c->wbuf, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    c->closing = 1;
    tdc_log(c->srv, 1, "dc%d conn%d out frame header claiming %u bytes, then close", c->dc, c->id, claim);
    return c->wbuf.oom ? MT_ERR_NOMEM : 1;
}

int tdc_fault_before_answers(tdc_conn *c, int64_t now_ms)
{
    const tdc_faults *f = &c->srv->cfg.faults;
    int rc = MT_OK;
    if (f->update_first) {
        uint8_t u[4];
        mt_wr32(u, MT_ID_UPDATES_TOO_LONG);
        rc = tdc_conn_send(c, tdc_conn_msg_id(c, now_ms, 3), tdc_seqno(c->sess, 1), u, 4, now_ms);
        if (rc < 0) return rc;
    }
    if (f->garbage) {
        /* right auth_key_id, random msg_key and data: the client's msg_key check drops it */
        uint8_t g[8 + 16 + 64];
        mt_wr64(g, c->key->id);
        rc = mt_random_fill(&c->srv->rnd, g + 8, sizeof g - 8);
        if (rc >= 0) rc = tdc_conn_queue(c, g, sizeof g, now_ms);
        if (rc < 0) return rc;
        tdc_log(c->srv, 1, "dc%d conn%d out garbage packet (%zu bytes)", c->dc, c->id, sizeof g);
    }
    if (f->replay || f->nested || f->gzip_bomb) {
        rc = send_hostile(c, now_ms);
        if (rc < 0) return rc;
    }
    return rc;
}

int tdc_fault_packet(tdc_conn *c, int *cut)
{
    tdc_server *srv = c->srv;
    tdc_session *s = c->sess;
    const tdc_faults *f = &srv->cfg.faults;
    *cut = 0;
    if (f->drop_after > 0 && !s->dropped && s->nrecv >= (unsigned)f->drop_after) {
        /* the answers stay in the dedup store: the client re-sends and gets them */
        s->dropped = 1;
        tdc_log(srv, 1, "dc%d conn%d drop_after=%d: closing", c->dc, c->id, f->drop_after);
        return MT_ERR_CLOSED;
    }
    if (f->stall_after > 0 && !(s->once & TDC_ONCE_STALL) && s->nrecv >= (unsigned)f->stall_after) {
        s->once |= TDC_ONCE_STALL;
        c->stalled = 1;
        tdc_log(srv, 1, "dc%d conn%d stall_after=%d: no more answers on this connection", c->dc, c->id, f->stall_after);
        return 1;
    }
    if (f->huge_frame && !(s->once & TDC_ONCE_HUGE) && c->answered) {
        int rc = send_huge_frame(c);
        if (rc != 0) {
            s->once |= TDC_ONCE_HUGE;
            return rc;
        }
    }
    *cut = f->cut_after > 0 && !(s->once & TDC_ONCE_CUT) && s->nrecv >= (unsigned)f->cut_after;
    return 0;
}

void tdc_fault_cut(tdc_conn *c, size_t before)
{
    tdc_conn_due(c, INT64_MAX);
    c->sess->once |= TDC_ONCE_CUT;
    size_t keep = before + (c->wbuf.len - before) / 2;
    tdc_log(c->srv, 1, "dc%d conn%d cut_after=%d: %zu of %zu answer bytes, then close", c->dc, c->id,
            c->srv->cfg.faults.cut_after, keep - before, c->wbuf.len - before);
    c->wbuf.len = keep;
    c->closing = 1;
}
