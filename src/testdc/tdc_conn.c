/* One client connection of the test DC: transport detection, the auth-key
 * handshake (server side), encrypted sessions and their service messages, and
 * the fault switches. Sans-IO like the core: bytes in, framed bytes out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mt_auth.h"
#include "mt_faketls.h"
#include "mt_gzip.h"
#include "mt_transport.h"
#include "tdc_conn.h"
#include "mt_ids.h"

int64_t tdc_server_ms(const tdc_server *srv, int64_t real_ms)
{
    return real_ms + srv->cfg.faults.clock_offset * 1000;
}

tdc_conn *tdc_conn_new(tdc_server *srv, int dc, int id)
{
    tdc_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->srv = srv;
    c->dc = dc;
    c->id = id;
    c->layer = 223;
    c->tr = mt_transport_new_server();
    if (!c->tr) { free(c); return NULL; }
    mt_transport_set_random(c->tr, &srv->pool->rnd);
    mt_buf_init(&c->wbuf);
    mt_buf_init(&c->plain);
    c->next = srv->conns;
    if (srv->conns) srv->conns->prev = c;
    srv->conns = c;
    mt_buf_init(&c->hello);
    c->proxy = dc == 0;
    return c;
}

tdc_conn *tdc_conn_next(const tdc_conn *c) { return c->next; }
const tdc_key *tdc_conn_key(const tdc_conn *c) { return c->key; }
const tdc_key *tdc_conn_account(const tdc_conn *c) { return c->key ? tdc_pfs_account(c->srv, c->key) : NULL; }
int64_t tdc_conn_session_id(const tdc_conn *c) { return c->sess ? c->sess->session_id : 0; }

static void clear_batch(tdc_conn *c)
{
    mt_wipe(c->bodies.data, c->bodies.len);
    c->bodies.len = 0;
    c->bodies.oom = 0;
    if (c->bodies.cap > ((size_t)1 << 20)) mt_buf_free(&c->bodies);  /* keep no big buffer around */
    c->nbatch = 0;
    c->answered = 0;
    c->nacks = 0;
}

void tdc_conn_free(tdc_conn *c)
{
    if (!c) return;
    if (c->prev) c->prev->next = c->next; else if (c->srv->conns == c) c->srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    clear_batch(c);
    mt_transport_free(c->tr);
    mt_auth_server_free(c->auth);
    mt_buf_free(&c->wbuf);
    mt_buf_free(&c->plain);
    mt_buf_free(&c->last);
    mt_buf_free(&c->pkt);
    mt_buf_free(&c->flat);
    mt_buf_free(&c->hello);
    mt_buf_free(&c->bodies);
    free(c->batch);
    free(c->acks);
    tdc_out *o = c->head;
    while (o) { tdc_out *n = o->next; mt_wipe(o->data, o->len); free(o); o = n; }
    mt_crypto_ctx_free(c->cc);
    free(c);
}

mt_buf *tdc_conn_wbuf(tdc_conn *c) { return &c->wbuf; }
int tdc_conn_closing(const tdc_conn *c) { return c->closing; }

int64_t tdc_conn_msg_id(tdc_conn *c, int64_t now_ms, int mod4)
{
    return mt_msgid_next(&c->srv->clock, now_ms * 1000000, mod4);
}

/* -v: one line per message (log_msg checks the level inline: messages pass here a few times
 * per request, and this function's frame costs more than the check) */
static void log_msg_line(tdc_conn *c, const char *dir, int64_t msg_id, int32_t seqno, const uint8_t *b, size_t n)
{
    uint32_t id = n >= 4 ? mt_le32(b) : 0;
    const char *name = tdc_name(id);
    char inner[64] = "";
    if (id == MT_ID_RPC_RESULT && n >= 16) {
        uint32_t r = mt_le32(b + 12);
        const char *rn = tdc_name(r);
        if (r == MT_ID_RPC_ERROR && n >= 21) {      /* rpc_error: show code and message */
            size_t ml = b[20] < n - 21 ? b[20] : n - 21;
            snprintf(inner, sizeof inner, "(rpc_error %d %.*s)", (int)mt_le32(b + 16), (int)(ml > 40 ? 40 : ml), (const char *)b + 21);
        } else if (rn) {
            snprintf(inner, sizeof inner, "(%s)", rn);
        } else {
            snprintf(inner, sizeof inner, "(#%08x)", r);
        }
    } else if (name && (id == MT_ID_INVOKE_WITH_LAYER || id == MT_ID_INIT_CONNECTION
                        || id == MT_ID_INVOKE_WITHOUT_UPDATES || id == MT_ID_GZIP_PACKED)) {
        uint32_t q = tdc_inner_id(b, n);
        const char *qn = tdc_name(q);
        if (qn) snprintf(inner, sizeof inner, "(%s)", qn);
        else snprintf(inner, sizeof inner, "(#%08x)", q);
    }
    /* -vv: the first bytes of the body too */
    char dump[2 * 48 + 32] = "";
    if (c->srv->cfg.verbose >= 2) {
        size_t k = n < 48 ? n : 48, at = (size_t)snprintf(dump, sizeof dump, " (%zu bytes) ", n);
        for (size_t i = 0; i < k && at + 3 < sizeof dump; i++) at += (size_t)snprintf(dump + at, 3, "%02x", b[i]);
        if (n > k && at + 4 < sizeof dump) memcpy(dump + at, "...", 4);
    }
    if (name) tdc_log(c->srv, 1, "dc%d conn%d %s msg_id=%lld seq=%d %s%s%s", c->dc, c->id, dir,
                      (long long)msg_id, (int)seqno, name, inner, dump);
    else tdc_log(c->srv, 1, "dc%d conn%d %s msg_id=%lld seq=%d #%08x%s", c->dc, c->id, dir,
                 (long long)msg_id, (int)seqno, id, dump);
}

static inline void log_msg(tdc_conn *c, const char *dir, int64_t msg_id, int32_t seqno, const uint8_t *b, size_t n)
{
    if (c->srv->cfg.verbose >= 1) log_msg_line(c, dir, msg_id, seqno, b, n);
}

/* Queues one transport payload: framed now, or when the delay fault says. */
int tdc_conn_queue(tdc_conn *c, const uint8_t *p, size_t n, int64_t now_ms)
{
    int delay = c->srv->cfg.faults.delay_ms;
    if (delay <= 0 && !c->head) return mt_transport_encode(c->tr, p, n, &c->wbuf);
    tdc_out *o = malloc(sizeof *o + n);
    if (!o) return MT_ERR_NOMEM;
    o->next = NULL;
    o->due_ms = now_ms + (delay > 0 ? delay : 0);
    o->len = n;
    memcpy(o->data, p, n);
    if (c->tail) c->tail->next = o; else c->head = o;
    c->tail = o;
    return MT_OK;
}


int64_t tdc_conn_due(tdc_conn *c, int64_t now_ms)
{
    if (c->key && c->sess && c->sess->push && !c->closing && !c->stalled) {
        /* an update for this session from another connection (a QR token accepted) */
        unsigned push = c->sess->push;
        c->sess->push = 0;
        if (push & TDC_PUSH_LOGIN_TOKEN) {
            mt_buf u;
            mt_buf_init(&u);
            tdc_put_update_login_token(&u, tdc_server_ms(c->srv, now_ms) / 1000);
            int rc = u.oom ? MT_ERR_NOMEM : tdc_conn_send(c, tdc_conn_msg_id(c, now_ms, 3),
                                                          tdc_seqno(c->sess, 1), u.data, u.len, now_ms);
            mt_buf_free(&u);
            if (rc < 0) { c->closing = 1; return -1; }
        }
    }
    while (c->head && c->head->due_ms <= now_ms) {
        tdc_out *o = c->head;
        int rc = mt_transport_encode(c->tr, o->data, o->len, &c->wbuf);
        c->head = o->next;
        if (!c->head) c->tail = NULL;
        mt_wipe(o->data, o->len);
        free(o);
        if (rc < 0) { c->closing = 1; return -1; }
    }
    return c->head ? c->head->due_ms : -1;
}

/* A transport error (-404 and friends) and close. */
static int send_transport_error(tdc_conn *c, int32_t code)
{
    uint8_t b[4];
    mt_wr32(b, (uint32_t)code);
    c->closing = 1;
    return mt_transport_encode(c->tr, b, 4, &c->wbuf);
}

/* ---- the handshake ----------------------------------------------------------- */

static int on_plain(tdc_conn *c, const uint8_t *p, size_t n, int64_t now_ms)
{
    int64_t msg_id;
    const uint8_t *body;
    size_t blen;
    int rc = mt_plain_unwrap(p, n, &msg_id, &body, &blen);
    if (rc < 0) return rc;
    log_msg(c, "in ", msg_id, 0, body, blen);
    if (!c->auth) {
        c->auth = mt_auth_server_new(c->srv->rsa, &c->srv->rnd);
        if (!c->auth) return MT_ERR_NOMEM;
    }
    int64_t srv_ms = tdc_server_ms(c->srv, now_ms);
    mt_buf ans;
    mt_buf_init(&ans);
    rc = mt_auth_server_step(c->auth, body, blen, (int32_t)(srv_ms / 1000), &ans);
    if (rc < 0) {
        tdc_log(c->srv, 1, "dc%d conn%d handshake failed: %s", c->dc, c->id, mt_auth_server_error(c->auth));
        mt_buf_free(&ans);
        return rc;
    }
    if (rc == MT_AUTH_DONE) {
        uint8_t key[256];
        int64_t salt;
        int32_t dc_id, expires_in;
        int r2 = mt_auth_server_result(c->auth, key, &salt, &dc_id, &expires_in);
        if (r2 >= 0) {
            if (c->srv->cfg.faults.bad_salt) mt_random_fill(&c->srv->rnd, (uint8_t *)&salt, sizeof salt);
            tdc_key *k = tdc_keys_find(&c->srv->keys, c->dc, mt_auth_key_id(key));
            if (!k && !(k = tdc_keys_add(&c->srv->keys, c->dc, key, salt))) r2 = MT_ERR_NOMEM;
            int ttl = c->srv->cfg.temp_key_ttl;
            if (k && expires_in > 0) k->expires_ms = srv_ms + (int64_t)(ttl && ttl < expires_in ? ttl : expires_in) * 1000;
            tdc_log(c->srv, 1, "dc%d conn%d new auth key %016llx (inner dc %d)%s", c->dc, c->id,
                    (unsigned long long)mt_auth_key_id(key), (int)dc_id, expires_in > 0 ? ", temporary" : "");
        }
        mt_wipe(key, sizeof key);
        mt_auth_server_free(c->auth);
        c->auth = NULL;
        if (r2 < 0) { mt_buf_free(&ans); return r2; }
    }
    mt_buf pkt;
    mt_buf_init(&pkt);
    int64_t id = tdc_conn_msg_id(c, now_ms, 1);
    log_msg(c, "out", id, 0, ans.data, ans.len);
    rc = mt_plain_wrap(&pkt, id, ans.data, ans.len);
    if (rc >= 0) rc = tdc_conn_queue(c, pkt.data, pkt.len, now_ms);
    mt_buf_free(&ans);
    mt_buf_free(&pkt);
    return rc;
}

/* ---- encrypted messages ---------------------------------------------------- */

/* Makes bodies[off..] (written there by the caller) the batch's next message; on failure
 * the bytes are dropped (wiped). */
static int batch_add(tdc_conn *c, size_t off, int content)
{
    int rc = c->bodies.oom ? MT_ERR_NOMEM : MT_OK;
    if (rc >= 0 && c->nbatch == c->capbatch) {
        int nc = c->capbatch ? c->capbatch * 2 : 16;
        out_msg *nb = c->capbatch >= MT_CONTAINER_MAX * 4 ? NULL : realloc(c->batch, (size_t)nc * sizeof *nb);
        if (nb) { c->batch = nb; c->capbatch = nc; }
        else rc = c->capbatch >= MT_CONTAINER_MAX * 4 ? MT_ERR_RANGE : MT_ERR_NOMEM;
    }
    if (rc < 0) {
        if (c->bodies.len > off) mt_wipe(c->bodies.data + off, c->bodies.len - off);
        c->bodies.len = off;
        c->bodies.oom = 0;
        return rc;
    }
    c->batch[c->nbatch].off = off;
    c->batch[c->nbatch].len = c->bodies.len - off;
    c->batch[c->nbatch].content = content;
    c->nbatch++;
    return MT_OK;
}

int32_t tdc_seqno(tdc_session *s, int content)
{
    return content ? (int32_t)(s->seq++ * 2 + 1) : (int32_t)(s->seq * 2);
}

/* The connection's crypto context, made at its first encrypted message: MT_OK or the error. */
static int need_cc(tdc_conn *c)
{
    int e = MT_ERR_NOMEM;
    return c->cc || (c->cc = mt_crypto_ctx_new(&e)) ? MT_OK : e;
}

/* Encrypts one message body of the current key and session and queues it (or frames it at
 * once, ahead of delayed answers, when `now` is set). */
static int send_encrypted_now(tdc_conn *c, int64_t msg_id, int32_t seqno, const uint8_t *body, size_t len,
                              int64_t now_ms, int now);
int tdc_conn_send(tdc_conn *c, int64_t msg_id, int32_t seqno, const uint8_t *body, size_t len, int64_t now_ms)
{
    return send_encrypted_now(c, msg_id, seqno, body, len, now_ms, 0);
}

static int send_encrypted_now(tdc_conn *c, int64_t msg_id, int32_t seqno, const uint8_t *body, size_t len,
                              int64_t now_ms, int now)
{
    mt_buf *pk = &c->pkt;
    pk->len = 0;
    pk->oom = 0;
    log_msg(c, "out", msg_id, seqno, body, len);
    int rc = need_cc(c);
    if (rc) return rc;
    rc = mt_msg_encrypt_ctx(c->cc, c->key->key, c->key->id, 8, c->key->salt, c->sess ? c->sess->session_id : 0,
                            msg_id, seqno, body, len, &c->srv->pool->rnd, pk);
    if (rc >= 0 && c->capture) {
        c->last.len = 0;
        mt_buf_put(&c->last, pk->data, pk->len);
    }
    if (rc >= 0) rc = now ? mt_transport_encode(c->tr, pk->data, pk->len, &c->wbuf) : tdc_conn_queue(c, pk->data, pk->len, now_ms);
    pk->len = 0;                                             /* ciphertext: nothing to wipe */
    if (pk->cap > ((size_t)1 << 20)) mt_buf_free(pk);        /* keep no big buffer around */
    return rc;
}

/* msgs_ack for the requests of this packet, sent before their (delayed) answers. */
static int send_acks(tdc_conn *c, int64_t now_ms)
{
    if (c->nacks == 0) return MT_OK;
    mt_buf b;
    mt_buf_init(&b);
    mt_buf_put_u32(&b, MT_ID_MSGS_ACK);
    mt_buf_put_u32(&b, MT_ID_VECTOR);
    mt_buf_put_u32(&b, (uint32_t)c->nacks);
    for (int i = 0; i < c->nacks; i++) mt_buf_put_i64(&b, c->acks[i]);
    int rc = b.oom ? MT_ERR_NOMEM : send_encrypted_now(c, tdc_conn_msg_id(c, now_ms, 1),
                                                      tdc_seqno(c->sess, 0), b.data, b.len, now_ms, 1);
    mt_buf_free(&b);
    return rc;
}

int tdc_conn_push(tdc_conn *c, const uint8_t *body, size_t len, int64_t real_ms)
{
    if (!c->key || !c->sess || c->closing || c->stalled) return 0;
    int rc = tdc_conn_send(c, tdc_conn_msg_id(c, real_ms, 3), tdc_seqno(c->sess, 1),
                            body, len, real_ms);
    return rc < 0 ? rc : 1;
}

/* Sends a bad_msg_notification / bad_server_salt outside any session batch. */
static int send_bad_msg(tdc_conn *c, int64_t session_id, int64_t bad_id, int32_t bad_seq, int code, int64_t now_ms)
{
    mt_buf b;
    mt_buf_init(&b);
    if (code == 48) {
        mt_buf_put_u32(&b, MT_ID_BAD_SERVER_SALT);
        mt_buf_put_i64(&b, bad_id);
        mt_buf_put_i32(&b, bad_seq);
        mt_buf_put_i32(&b, code);
        mt_buf_put_i64(&b, c->key->salt);
    } else {
        mt_buf_put_u32(&b, MT_ID_BAD_MSG_NOTIFICATION);
        mt_buf_put_i64(&b, bad_id);
        mt_buf_put_i32(&b, bad_seq);
        mt_buf_put_i32(&b, code);
    }
    int rc = b.oom ? MT_ERR_NOMEM : MT_OK;
    if (rc >= 0) {
        tdc_session tmp = { .session_id = session_id };
        tdc_session *saved = c->sess;
        c->sess = c->sess ? c->sess : &tmp;
        uint32_t seq = c->sess->seq;
        rc = tdc_conn_send(c, tdc_conn_msg_id(c, now_ms, 1), (int32_t)(seq * 2), b.data, b.len, now_ms);
        c->sess = saved;
    }
    mt_buf_free(&b);
    return rc;
}

/* rpc_result#f35c6d01 req_msg_id result, written in place: rpc_result_begin puts the head
 * and returns where the result starts; the result is appended to `out` after it; then
 * rpc_result_end packs it in gzip_packed under the gzip fault (like Telegram, never an
 * rpc_error: clients such as GramJS look for the error unpacked). */
static size_t rpc_result_begin(mt_buf *out, int64_t req_msg_id)
{
    mt_buf_put_u32(out, MT_ID_RPC_RESULT);
    mt_buf_put_i64(out, req_msg_id);
    return out->len;
}

static int rpc_result_end(tdc_conn *c, mt_buf *out, size_t at)
{
    if (out->oom) return MT_ERR_NOMEM;
    size_t n = out->len - at;
    if (!c->srv->cfg.faults.gzip || (n >= 4 && mt_le32(out->data + at) == MT_ID_RPC_ERROR)) return MT_OK;
    mt_buf z;
    mt_buf_init(&z);
    int rc = mt_gzip(out->data + at, n, &z);
    if (rc >= 0) {
        mt_wipe(out->data + at, n);
        out->len = at;
        mt_buf_put_u32(out, MT_ID_GZIP_PACKED);
        mt_buf_put_tlbytes(out, z.data, z.len);
        rc = out->oom ? MT_ERR_NOMEM : MT_OK;
    }
    mt_buf_free(&z);
    return rc;
}

/* Answers one (non-container) message; the answer joins the batch and the dedup store. */
static int on_message(tdc_conn *c, int64_t msg_id, int32_t seqno, const uint8_t *body, size_t len, int64_t now_ms)
{
    tdc_session *s = c->sess;
    log_msg(c, "in ", msg_id, seqno, body, len);
    if (len < 4) return MT_ERR_PROTO;
    uint32_t id = mt_le32(body);
    if (id == MT_ID_MSG_CONTAINER) return MT_ERR_PROTO;          /* nested */
    /* A content message carries an odd seqno (else bad_msg_notification 35), a msgs_ack, which
     * needs no answer, an even one (else 34). Telegram does not enforce the second: clients such
     * as mtcute put acks with odd seqnos in their containers. Only strict_seqno refuses them. */
    if (id == MT_ID_MSGS_ACK) {
        if ((seqno & 1) && c->srv->cfg.faults.strict_seqno)
            return send_bad_msg(c, s->session_id, msg_id, seqno, 34, now_ms);
        return MT_OK;
    }
    if (!(seqno & 1)) return send_bad_msg(c, s->session_id, msg_id, seqno, 35, now_ms);
    s->nrecv++;
    if (c->nacks == c->capacks) {
        int nc = c->capacks ? c->capacks * 2 : 16;
        int64_t *na = realloc(c->acks, (size_t)nc * sizeof *na);
        if (!na) return MT_ERR_NOMEM;
        c->acks = na;
        c->capacks = nc;
    }
    c->acks[c->nacks++] = msg_id;
    tdc_answer *seen = tdc_session_seen(s, msg_id);
    mt_buf *out = &c->bodies;                  /* the answer is written where the batch keeps it */
    size_t start = out->len;
    if (seen) {
        tdc_log(c->srv, 1, "dc%d conn%d re-sent msg_id=%lld: %s", c->dc, c->id, (long long)msg_id,
                seen->len ? "answer re-sent" : "still running, ignored");
        if (!seen->len) return MT_OK;
        mt_buf_put(out, seen->data, seen->len);
        int rc = batch_add(c, start, 1);
        if (rc >= 0) c->answered = 1;
        return rc;
    }
    tdc_answer *ans = tdc_session_remember(s, msg_id);
    int64_t srv_ms = tdc_server_ms(c->srv, now_ms);
    int rc = MT_OK;
    /* the query without its wrappers, gzip_packed inflated; service queries inside
     * invokeWithLayer & co (a connection's first request) are answered in an rpc_result */
    mt_buf *flat = &c->flat;
    tdc_query q;
    int ur = tdc_unwrap(body, len, flat, &q, &c->layer);
    if (ur < 0) {
        tdc_log(c->srv, 1, "dc%d conn%d msg_id=%lld: bad request (%s)", c->dc, c->id, (long long)msg_id, mt_strerror(ur));
    } else if (q.len >= 4) {
        uint32_t inner = mt_le32(q.p);
        if (!q.wrapped || inner == MT_ID_PING || inner == MT_ID_PING_DELAY_DISCONNECT || inner == MT_ID_GET_FUTURE_SALTS ||
            inner == MT_ID_DESTROY_SESSION || inner == MT_ID_RPC_DROP_ANSWER)
            id = inner;
    }
    int wrapped = ur >= 0 && q.wrapped;
    mt_reader r;
    if (ur < 0) mt_rd_init(&r, body + 4, len - 4);
    else mt_rd_init(&r, q.p + 4, q.len - 4);
    /* pong and future_salts: bare unless wrapped */
    size_t at = wrapped ? rpc_result_begin(out, msg_id) : 0;
    switch (id) {
    case MT_ID_PING:
    case MT_ID_PING_DELAY_DISCONNECT: {
        int64_t ping_id = mt_rd_i64(&r);
        if (r.err) { rc = r.err; break; }
        mt_buf_put_u32(out, MT_ID_PONG);
        mt_buf_put_i64(out, msg_id);
        mt_buf_put_i64(out, ping_id);
        if (wrapped) rc = rpc_result_end(c, out, at);
        break;
    }
    case MT_ID_GET_FUTURE_SALTS: {
        int32_t num = mt_rd_i32(&r);
        if (r.err) { rc = r.err; break; }
        if (num < 1) num = 1;
        if (num > 64) num = 64;
        int32_t now_s = (int32_t)(srv_ms / 1000);
        mt_buf_put_u32(out, MT_ID_FUTURE_SALTS);
        mt_buf_put_i64(out, msg_id);
        mt_buf_put_i32(out, now_s);
        mt_buf_put_u32(out, (uint32_t)num);                   /* bare vector of bare future_salt */
        for (int32_t i = 0; i < num; i++) {
            mt_buf_put_i32(out, now_s - 60 + i * 3600);
            mt_buf_put_i32(out, now_s - 60 + (i + 1) * 3600);
            mt_buf_put_i64(out, c->key->salt);               /* one salt stays valid throughout */
        }
        if (wrapped) rc = rpc_result_end(c, out, at);
        break;
    }
    case MT_ID_DESTROY_SESSION: {
        int64_t sid = mt_rd_i64(&r);
        if (r.err) { rc = r.err; break; }
        int known = 0;
        for (tdc_session *t = c->key->sessions; t; t = t->next) known |= t->session_id == sid && t != s;
        if (!wrapped) at = rpc_result_begin(out, msg_id);
        mt_buf_put_u32(out, known ? MT_ID_DESTROY_SESSION_OK : MT_ID_DESTROY_SESSION_NONE);
        mt_buf_put_i64(out, sid);
        rc = rpc_result_end(c, out, at);
        break;
    }
    case MT_ID_RPC_DROP_ANSWER:
        if (!wrapped) at = rpc_result_begin(out, msg_id);
        mt_buf_put_u32(out, MT_ID_RPC_ANSWER_UNKNOWN);
        rc = rpc_result_end(c, out, at);
        break;
    case MT_ID_MSGS_STATE_REQ:
    case MT_ID_MSG_RESEND_REQ: {
        /* msgs_state_info: 1 (nothing known) for each id asked about */
        if (mt_rd_u32(&r) != MT_ID_VECTOR) { rc = MT_ERR_PROTO; break; }
        uint32_t cnt = mt_rd_u32(&r);
        if (r.err || cnt > mt_rd_left(&r) / 8) { rc = MT_ERR_RANGE; break; }
        mt_buf_put_u32(out, MT_ID_MSGS_STATE_INFO);
        mt_buf_put_i64(out, msg_id);
        uint8_t *info = calloc(cnt ? cnt : 1, 1);
        if (!info) { rc = MT_ERR_NOMEM; break; }
        memset(info, 1, cnt);
        mt_buf_put_tlbytes(out, info, cnt);
        free(info);
        break;
    }
    default:
        if (!wrapped) at = rpc_result_begin(out, msg_id);
        if (ur < 0) tdc_put_rpc_error(out, 400, "INPUT_REQUEST_INVALID");
        else rc = tdc_api_answer(c->srv, c->key, c->sess, c->dc, c->layer, msg_id, q.p, q.len, srv_ms, out);
        if (rc >= 0) rc = rpc_result_end(c, out, at);
        break;
    }
    if (rc >= 0) rc = batch_add(c, start, 1);
    else if (out->len > start) {                   /* no answer: what was written goes */
        mt_wipe(out->data + start, out->len - start);
        out->len = start;
        out->oom = 0;
    }
    if (rc >= 0) {
        tdc_answer_keep(ans, out->data + start, out->len - start);
        c->answered = 1;
    }
    if (flat->len) {
        mt_wipe(flat->data, flat->len);
        flat->len = 0;
    }
    if (flat->cap > ((size_t)1 << 20)) mt_buf_free(flat);     /* keep no big buffer around */
    return rc;
}

/* Sends the batch built for one packet: an update and garbage first when the
 * faults say, then the answers (in a container when more than one). */
static int send_batch(tdc_conn *c, int new_session, int64_t now_ms)
{
    int rc = MT_OK;
    if (c->nbatch == 0 && !new_session) return MT_OK;
    if (c->answered && (rc = tdc_fault_before_answers(c, now_ms)) < 0) return rc;
    c->capture = c->srv->cfg.faults.replay;
    mt_buf ns;
    mt_buf_init(&ns);
    if (new_session || (c->answered && c->srv->cfg.faults.new_session)) {
        uint64_t unique;
        mt_random_fill(&c->srv->rnd, (uint8_t *)&unique, sizeof unique);
        mt_buf_put_u32(&ns, MT_ID_NEW_SESSION_CREATED);
        mt_buf_put_i64(&ns, c->first_msg_id);
        mt_buf_put_u64(&ns, unique);
        mt_buf_put_i64(&ns, c->key->salt);
        if (ns.oom) { mt_buf_free(&ns); return MT_ERR_NOMEM; }
    }
    int total = c->nbatch + (ns.len ? 1 : 0);
    if (total == 1) {
        const uint8_t *b = ns.len ? ns.data : c->bodies.data + c->batch[0].off;
        size_t n = ns.len ? ns.len : c->batch[0].len;
        int content = ns.len ? 0 : c->batch[0].content;
        rc = tdc_conn_send(c, tdc_conn_msg_id(c, now_ms, 1), tdc_seqno(c->sess, content), b, n, now_ms);
    }
    /* more: containers of up to BOX_MAX messages, new_session_created first */
    for (int i = ns.len ? -1 : 0; total > 1 && rc >= 0 && i < c->nbatch;) {
        mt_buf box;
        mt_buf_init(&box);
        size_t start = box.len;
        rc = mt_container_begin(&box);
        for (int k = 0; rc >= 0 && k < BOX_MAX && i < c->nbatch; k++, i++) {
            const uint8_t *b = i < 0 ? ns.data : c->bodies.data + c->batch[i].off;
            size_t n = i < 0 ? ns.len : c->batch[i].len;
            int64_t id = tdc_conn_msg_id(c, now_ms, 1);
            int32_t seq = tdc_seqno(c->sess, i < 0 ? 0 : c->batch[i].content);
            log_msg(c, "out", id, seq, b, n);
            rc = mt_container_add(&box, start, id, seq, b, n);
        }
        if (rc >= 0)
            rc = tdc_conn_send(c, tdc_conn_msg_id(c, now_ms, 1), tdc_seqno(c->sess, 0),
                                box.data, box.len, now_ms);
        mt_buf_free(&box);
    }
    mt_buf_free(&ns);
    c->capture = 0;
    return rc;
}

static int on_encrypted(tdc_conn *c, const uint8_t *p, size_t n, int64_t now_ms)
{
    tdc_server *srv = c->srv;
    uint64_t key_id = mt_le64(p);
    tdc_key *k = tdc_keys_find(&srv->keys, c->dc, key_id);
    if (k && tdc_pfs_expire(k, tdc_server_ms(srv, now_ms))) {
        tdc_log(srv, 1, "dc%d conn%d temporary auth key %016llx expired: -404", c->dc, c->id, (unsigned long long)key_id);
        k = NULL;
    }
    if (!k) {
        tdc_log(srv, 1, "dc%d conn%d unknown auth key %016llx: -404", c->dc, c->id, (unsigned long long)key_id);
        return send_transport_error(c, -404);
    }
    mt_msg m;
    int rc = need_cc(c);
    if (rc) return rc;
    rc = mt_msg_decrypt_ctx(c->cc, k->key, k->id, 0, p, n, &c->plain, &m);
    if (rc < 0) {
        tdc_log(srv, 1, "dc%d conn%d undecryptable packet (%s): -404", c->dc, c->id, mt_strerror(rc));
        return send_transport_error(c, -404);
    }
    c->key = k;
    c->sess = NULL;
    int64_t srv_s = tdc_server_ms(srv, now_ms) / 1000;
    int64_t t = (int64_t)((uint64_t)m.msg_id >> 32);
    int bad = (m.msg_id & 3) ? 18 : t < srv_s - 300 ? 16 : t > srv_s + 30 ? 17 : 0;
    if (bad) {
        log_msg(c, "in ", m.msg_id, m.seqno, m.body, m.len);
        tdc_log(srv, 1, "dc%d conn%d bad msg_id (time %lld, server %lld): %d", c->dc, c->id, (long long)t,
                (long long)srv_s, bad);
        return send_bad_msg(c, m.session_id, m.msg_id, m.seqno, bad, now_ms);
    }
    if (m.salt != k->salt) {
        log_msg(c, "in ", m.msg_id, m.seqno, m.body, m.len);
        return send_bad_msg(c, m.session_id, m.msg_id, m.seqno, 48, now_ms);
    }
    int created;
    c->sess = tdc_session_get(k, m.session_id, &created);
    if (!c->sess) return MT_ERR_NOMEM;
    c->first_msg_id = m.msg_id;
    clear_batch(c);
    if (m.len >= 4 && mt_le32(m.body) == MT_ID_MSG_CONTAINER) {
        log_msg(c, "in ", m.msg_id, m.seqno, m.body, m.len);
        mt_container_iter it;
        rc = mt_container_iter_init(&it, m.body, m.len);
        int first = 1;
        while (rc >= 0) {
            int64_t id; int32_t seq; const uint8_t *b; size_t bl;
            rc = mt_container_next(&it, &id, &seq, &b, &bl);
            if (rc <= 0) break;
            if (first && id < c->first_msg_id) c->first_msg_id = id;
            first = 0;
            rc = on_message(c, id, seq, b, bl, now_ms);
        }
        if (rc < 0) {
            clear_batch(c);
            return send_bad_msg(c, m.session_id, m.msg_id, m.seqno, 64, now_ms);
        }
    } else {
        rc = on_message(c, m.msg_id, m.seqno, m.body, m.len, now_ms);
        if (rc < 0) { clear_batch(c); return rc; }
    }
    mt_wipe(c->plain.data, c->plain.len);
    int cut = 0;
    if ((rc = tdc_fault_packet(c, &cut)) != 0) {
        clear_batch(c);
        return rc < 0 ? rc : MT_OK;
    }
    if (cut) tdc_conn_due(c, INT64_MAX);                     /* frame what waits, then cut */
    size_t before = c->wbuf.len;
    rc = srv->cfg.faults.delay_ms > 0 && !cut ? send_acks(c, now_ms) : MT_OK;
    if (rc >= 0) rc = send_batch(c, created, now_ms);
    clear_batch(c);
    if (rc >= 0 && cut) tdc_fault_cut(c, before);
    return rc;
}

/* ---- the MTProxy front ---------------------------------------------------------------
 *
 * Before the transport: a fake-TLS ClientHello (16 03 01 02..., or any 16 03 01 record of
 * 512..16384 bytes with --mtproxy-any-hello) is checked and answered here, then the
 * transport takes obfuscated2 keyed with the secret (inside TLS records after a hello).
 * Returns 1 when the transport is set up and (in, n) hold what is its, 0 when the hello
 * needs more bytes, < 0 to close. */
#define HELLO_MAX_SKEW 120   /* seconds between the client's clock in the hello and ours */

static int proxy_front(tdc_conn *c, const uint8_t **in, size_t *n, int64_t now_ms)
{
    const uint8_t *secret = c->srv->cfg.mtproxy_secret;
    mt_buf_put(&c->hello, *in, *n);
    if (c->hello.oom) return MT_ERR_NOMEM;
    int any = c->srv->cfg.mtproxy_any_hello;
    if (c->hello.len < (any ? 5u : 4u)) { *n = 0; return 0; }
    /* A hello's record header is 16 03 01 02 (512..767 bytes), which obfuscated2 clients
     * never start with; a first byte of 0x16 alone is one header in 256. Any size: an
     * obfuscated2 init starting 16 03 01 and a plausible length is one in 2^28 or so. */
    int tls;
    if (any) {
        size_t rec = (size_t)c->hello.data[3] << 8 | c->hello.data[4];
        tls = memcmp(c->hello.data, "\x16\x03\x01", 3) == 0 && rec >= 512 && rec <= MT_FAKETLS_HELLO_MAX_ANY;
    } else {
        tls = memcmp(c->hello.data, "\x16\x03\x01\x02", 4) == 0;
    }
    if (!tls) {
        c->proxy = 0;
        *in = c->hello.data;
        *n = c->hello.len;
        return mt_transport_set_proxy(c->tr, secret, 0) < 0 ? MT_ERR_ARG : 1;
    }
    size_t used = 0;
    uint8_t cr[32], sid[32];
    int rc = mt_faketls_server_check(secret, c->hello.data, c->hello.len,
                                     any ? MT_FAKETLS_HELLO_MAX_ANY : MT_FAKETLS_HELLO_MAX, now_ms / 1000,
                                     HELLO_MAX_SKEW, &used, cr, sid);
    if (rc == 0) { *n = 0; return 0; }
    if (rc == MT_ERR_PROXY_SECRET) {
        /* the answer of the site a real MTProxy fronts for: not signed with the client's secret */
        uint8_t other[16];
        mt_random_fill(&c->srv->rnd, other, sizeof other);
        mt_random_fill(&c->srv->rnd, cr, sizeof cr);
        tdc_log(c->srv, 1, "mtproxy conn%d: fake-TLS hello with another secret or clock", c->id);
        rc = mt_faketls_server_hello(other, cr, c->hello.data + 44, &c->srv->pool->rnd, &c->wbuf);
        c->closing = 1;
        *n = 0;
        return rc < 0 ? rc : 0;
    }
    if (rc < 0) {
        tdc_log(c->srv, 1, "mtproxy conn%d: not a fake-TLS hello: %s", c->id, mt_strerror(rc));
        return rc;
    }
    if ((rc = mt_faketls_server_hello(secret, cr, sid, &c->srv->pool->rnd, &c->wbuf)) < 0) return rc;
    if (mt_transport_set_proxy(c->tr, secret, 1) < 0) return MT_ERR_ARG;
    tdc_log(c->srv, 1, "mtproxy conn%d: fake-TLS hello answered", c->id);
    /* what came after the hello is the transport's: left at the end of `hello` */
    size_t rest = c->hello.len - used;
    *in = c->hello.data + used;
    *n = rest;
    c->proxy = 0;
    return 1;
}

/* The DC an MTProxy client asked for in its obfuscated2 init. */
static int proxy_dc(tdc_conn *c)
{
    int d = mt_transport_dc_id(c->tr);
    d = (d < 0 ? -d : d) % 10000;
    if (d < 1 || d > c->srv->cfg.ndcs) {
        tdc_log(c->srv, 1, "mtproxy conn%d: no DC %d here (init said %d)", c->id, d, mt_transport_dc_id(c->tr));
        return MT_ERR_PROTO;
    }
    c->dc = d;
    tdc_log(c->srv, 1, "mtproxy conn%d: to DC %d (init %d, %s)", c->id, d, mt_transport_dc_id(c->tr),
            mt_transport_kind_name(mt_transport_inner_kind(c->tr)));
    return MT_OK;
}

int tdc_conn_input(tdc_conn *c, const uint8_t *in, size_t n, int64_t now_ms)
{
    if (c->closing || c->stalled) return MT_OK;
    int rc;
    if (c->proxy && (rc = proxy_front(c, &in, &n, now_ms)) <= 0) return rc;
    rc = mt_transport_feed(c->tr, in, n);
    if (c->hello.data) mt_buf_free(&c->hello);            /* `in` may have pointed into it */
    if (rc < 0) return rc;
    if (c->dc == 0 && mt_transport_kind(c->tr) == MT_TR_OBFUSCATED && (rc = proxy_dc(c)) < 0) return rc;
    for (;;) {
        const uint8_t *p;
        size_t len;
        int32_t code;
        rc = mt_transport_next(c->tr, &p, &len, &code);
        if (rc == 0) return MT_OK;
        if (rc == MT_ERR_TRANSPORT) {
            tdc_log(c->srv, 1, "dc%d conn%d transport error %d from the client", c->dc, c->id, (int)code);
            continue;
        }
        if (rc < 0) return rc;
        if (len < 8) return MT_ERR_PROTO;
        rc = mt_le64(p) == 0 ? on_plain(c, p, len, now_ms) : on_encrypted(c, p, len, now_ms);
        if (rc < 0) return rc;
        if (c->closing) return MT_OK;
    }
}
