/* The client side of an encrypted MTProto 2.0 session (see mt_session.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mt_session.h"
#include "mt_msg.h"
#include "mt_gzip.h"
#include "mt_map.h"
#include "mt_ids.h"
#include "mt_pfs.h"

#define REQ_INLINE     56
#define SLOT_BITS      24
#define SLOT_MASK      ((1u << SLOT_BITS) - 1)
#define SEEN_WINDOW    4096          /* server msg_ids remembered for replay checks */
#define PACK_MAX_MSGS  1020          /* first try; halved when a server refuses (BAD_MSG 64) */
#define PACK_MIN_MSGS  16
#define PACK_MAX_BYTES ((size_t)1044448) /* the payload size Telegram accepts in a container */
#define MAX_ACKS       8192          /* ids in one msgs_ack */
#define MAX_VECTOR     8192          /* ids accepted in one incoming vector */
#define MAX_SALTS      64
/* First capacities of the per-session arrays: small, since a client may hold thousands of
 * sessions that mostly have a call or two in flight; each doubles as it fills. */
#define FIRST_CAP      2
#define MAX_TIME_BEHIND 300
#define MAX_TIME_AHEAD  30

/* ---- the session ---- */
typedef struct req {
    uint64_t handle;        /* 0: free slot */
    int64_t msg_id;         /* last msg_id sent under (0: never sent) */
    int64_t container_id;   /* container it last went in (0: alone) */
    int32_t seqno;
    int32_t code;           /* FAILED: the error code */
    double deadline;        /* 0: none (mt_session_set_deadline) */
    uint32_t len, heap_cap;
    uint8_t state, queued, keep_id, wrapped;
    uint8_t packed;         /* went into a packet at least once (it may have reached the server) */
    uint8_t *heap;          /* body, then result, when > REQ_INLINE */
    uint8_t small[REQ_INLINE];
} req;

struct mt_session {
    uint8_t key[256];
    int has_key;
    uint64_t key_id;
    int64_t salt, session_id;
    mt_msgid_gen gen;
    uint32_t seq;
    mt_random rnd;
    mt_log_fn log;
    void *log_ud;
    int log_level;

    mt_session_init init;
    char *init_str;         /* one block holding the init strings */
    int need_init;

    req *reqs;
    size_t reqs_cap, reqs_used;
    uint32_t *free_slots;
    size_t nfree;
    uint64_t handle_seq;
    size_t pending;
    double min_deadline;    /* at most the earliest deadline of a pending request (0: none) */
    mt_map by_msgid;        /* msg_id -> slot for requests sent */

    uint64_t *queue;        /* ring of handles to pack */
    size_t qcap, qhead, qlen;

    int64_t *acks;
    size_t nacks, acks_cap;
    mt_buf svc;             /* service messages to send: u32 len | body ... */
    size_t nsvc;

    mt_session_event *ev;
    size_t nev, ev_cap;
    mt_buf upd;

    int64_t *seen_ring;     /* grows to SEEN_WINDOW as messages come (idle sessions stay small) */
    size_t seen_pos, seen_n, seen_cap;
    int64_t seen_max, evicted_max;
    mt_map seen;

    struct future_salt { int32_t since, until; int64_t salt; } *salts; /* MAX_SALTS, once some came */
    size_t nsalts;

    mt_buf inflated;
    mt_scratch *work;       /* cfg.scratch, or its own: the buffers below */
    mt_buf *plain, *body, *scratch; /* a packet decrypted; the container being packed; one message */
    mt_crypto_ctx *cc;      /* OpenSSL state reused for every packet */
    uint64_t dropped;
    size_t max_msgs;        /* messages per container */
    uint32_t *packed;       /* slots of the requests in the packet being packed */
    size_t packed_cap;
    mt_random_pool *pool;   /* padding bytes (cfg.pool, or its own refilled from rnd) */

    /* the auth.bindTempAuthKey request waiting (handle 0: none): its body is built when packed */
    uint64_t bind_handle;
    int64_t bind_nonce;
    int32_t bind_expires_at;
    uint8_t *bind_perm_key; /* 256 bytes, allocated by the first bind (few sessions bind) */
};

void mt_log_vsend(mt_log_fn fn, void *ud, int max_level, int level, const char *fmt, va_list ap)
{
    if (!fn || level > max_level) return;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fn(ud, level, msg);
}

static void slog(mt_session *s, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt_log_vsend(s->log, s->log_ud, s->log_level, level, fmt, ap);
    va_end(ap);
}

static uint8_t *req_data(req *r) { return r->heap && r->len > REQ_INLINE ? r->heap : r->small; }

static int req_store(req *r, const uint8_t *p, size_t n)
{
    if (n > REQ_INLINE) {
        if (r->heap_cap < n) {
            uint8_t *h = malloc(n);
            if (!h) return MT_ERR_NOMEM;
            free(r->heap);
            r->heap = h; r->heap_cap = (uint32_t)n;
        }
        memmove(r->heap, p, n);
    } else if (n) {
        memmove(r->small, p, n);
    }
    r->len = (uint32_t)n;
    return MT_OK;
}

static req *req_by_handle(const mt_session *s, uint64_t h)
{
    size_t slot = (size_t)(h & SLOT_MASK);
    if (!h || slot >= s->reqs_used || s->reqs[slot].handle != h) return NULL;
    return &s->reqs[slot];
}

static req *req_by_msgid(const mt_session *s, int64_t id)
{
    uint64_t slot;
    if (!mt_map_get(&s->by_msgid, (uint64_t)id, &slot)) return NULL;
    req *r = &s->reqs[slot];
    return r->state == MT_REQ_PENDING && r->msg_id == id ? r : NULL;
}

/* The one walk over the requests still waiting for an answer:
 *     for (size_t i = 0; (r = next_pending(s, &i));) ...
 * Handling a request (requeue, fail) never moves the others. */
static req *next_pending(const mt_session *s, size_t *i)
{
    while (*i < s->reqs_used) {
        req *r = &s->reqs[(*i)++];
        if (r->handle && r->state == MT_REQ_PENDING) return r;
    }
    return NULL;
}

/* The requests a notification about bad_id concerns, with the same walk: the one last sent
 * as bad_id, else every one last sent inside container bad_id. */
static req *next_sent_as(const mt_session *s, int64_t bad_id, size_t *i)
{
    req *r;
    if (*i == 0 && (r = req_by_msgid(s, bad_id))) {
        *i = SIZE_MAX;
        return r;
    }
    while ((r = next_pending(s, i)))
        if (r->msg_id && r->container_id == bad_id) return r;
    return NULL;
}

static int push_event(mt_session *s, int kind, uint64_t id, size_t off, size_t len)
{
    if (s->nev == s->ev_cap) {
        size_t nc = s->ev_cap ? s->ev_cap * 2 : FIRST_CAP;
        mt_session_event *e = realloc(s->ev, nc * sizeof *e);
        if (!e) return MT_ERR_NOMEM;
        s->ev = e; s->ev_cap = nc;
    }
    s->ev[s->nev++] = (mt_session_event){ kind, id, off, len };
    return MT_OK;
}

static int queue_push(mt_session *s, uint64_t h)
{
    if (s->qlen == s->qcap) {
        size_t nc = s->qcap ? s->qcap * 2 : FIRST_CAP;
        uint64_t *q = malloc(nc * sizeof *q);
        if (!q) return MT_ERR_NOMEM;
        for (size_t i = 0; i < s->qlen; i++) q[i] = s->queue[(s->qhead + i) % s->qcap];
        free(s->queue);
        s->queue = q; s->qcap = nc; s->qhead = 0;
    }
    s->queue[(s->qhead + s->qlen) % s->qcap] = h;
    s->qlen++;
    return MT_OK;
}

/* Queues a request again: under its old msg_id (keep) or a new one. */
static int requeue(mt_session *s, req *r, int keep)
{
    if (r->state != MT_REQ_PENDING) return MT_OK;
    if (!keep && r->msg_id) {
        mt_map_del(&s->by_msgid, (uint64_t)r->msg_id);
        r->msg_id = 0;
    }
    r->keep_id = keep && r->msg_id;
    if (r->queued) return MT_OK;
    r->queued = 1;
    return queue_push(s, r->handle);
}

static void finish(mt_session *s, req *r, int state, int32_t code, const uint8_t *p, size_t n)
{
    if (r->state != MT_REQ_PENDING) return;
    if (r->msg_id) mt_map_del(&s->by_msgid, (uint64_t)r->msg_id);
    if (req_store(r, p, n) != MT_OK) {
        static const char oom[] = "OUT_OF_MEMORY";
        state = MT_REQ_FAILED; code = MT_ERR_NOMEM;
        req_store(r, (const uint8_t *)oom, sizeof oom - 1);
    }
    r->state = (uint8_t)state;
    r->code = code;
    s->pending--;
    push_event(s, state == MT_REQ_DONE ? MT_EV_RESULT : MT_EV_ERROR, r->handle, 0, 0);
}

static void fail_msg(mt_session *s, req *r, int32_t code, const char *text)
{
    finish(s, r, MT_REQ_FAILED, code, (const uint8_t *)text, strlen(text));
}

static int random_i64(mt_session *s, int64_t *v)
{
    uint8_t b[8];
    int rc = mt_random_fill(&s->rnd, b, 8);
    if (rc) return rc;
    *v = (int64_t)mt_le64(b);
    return MT_OK;
}

/* A fresh session: new id, seq_no from zero, msg_ids restart; every request
 * not answered goes out again under a new msg_id. Acks owed to the old
 * session are dropped. */
static int new_session(mt_session *s)
{
    int64_t id = 0;
    int rc;
    do {
        if ((rc = random_i64(s, &id)) != MT_OK) return rc;
    } while (!id);
    s->session_id = id;
    s->seq = 0;
    s->gen.last = 0;
    s->nacks = 0;
    s->need_init = s->init.enabled;
    req *r;
    for (size_t i = 0; (r = next_pending(s, &i));)
        if ((rc = requeue(s, r, 0)) != MT_OK) return rc;
    return MT_OK;
}

static int copy_init(mt_session *s, const mt_session_init *in)
{
    const char *src[6] = { in->device_model, in->system_version, in->app_version,
                           in->system_lang_code, in->lang_pack, in->lang_code };
    size_t total = 0;
    for (int i = 0; i < 6; i++) total += (src[i] ? strlen(src[i]) : 0) + 1;
    char *blk = malloc(total), *p = blk;
    if (!blk) return MT_ERR_NOMEM;
    const char **dst[6] = { &s->init.device_model, &s->init.system_version, &s->init.app_version,
                            &s->init.system_lang_code, &s->init.lang_pack, &s->init.lang_code };
    s->init.enabled = in->enabled;
    s->init.layer = in->layer;
    s->init.api_id = in->api_id;
    for (int i = 0; i < 6; i++) {
        size_t n = src[i] ? strlen(src[i]) : 0;
        if (n) memcpy(p, src[i], n);
        p[n] = 0;
        *dst[i] = p;
        p += n + 1;
    }
    s->init_str = blk;
    return MT_OK;
}

mt_session *mt_session_new(const mt_session_config *cfg, int *err)
{
    int e = MT_ERR_NOMEM;
    if (err) *err = e;
    mt_session *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (cfg->rnd) s->rnd = *cfg->rnd;
    s->log = cfg->log; s->log_ud = cfg->log_ud; s->log_level = cfg->log_level;
    mt_buf_init(&s->svc); mt_buf_init(&s->upd); mt_buf_init(&s->inflated);
    s->gen.time_offset = cfg->time_offset;
    s->salt = cfg->salt;
    s->max_msgs = PACK_MAX_MSGS;
    s->pool = cfg->pool ? mt_random_pool_ref(cfg->pool) : mt_random_pool_new(&s->rnd, MT_RANDOM_POOL_SMALL);
    s->cc = cfg->cc ? mt_crypto_ctx_ref(cfg->cc) : mt_crypto_ctx_new(&e);
    s->work = cfg->scratch ? mt_scratch_ref(cfg->scratch) : mt_scratch_new();
    if (!s->pool || !s->cc || !s->work) goto fail;
    s->plain = mt_scratch_buf(s->work, MT_SCRATCH_PLAIN);
    s->body = mt_scratch_buf(s->work, MT_SCRATCH_BODY);
    s->scratch = mt_scratch_buf(s->work, MT_SCRATCH_MSG);
    if (cfg->init && cfg->init->enabled && copy_init(s, cfg->init) != MT_OK) goto fail;
    if (cfg->auth_key) {
        memcpy(s->key, cfg->auth_key, 256);
        s->has_key = 1;
        s->key_id = mt_auth_key_id(s->key);
    }
    if (new_session(s) != MT_OK) goto fail;
    if (cfg->session_id) s->session_id = cfg->session_id;
    return s;
fail:
    mt_session_free(s);
    if (err) *err = e;
    return NULL;
}

void mt_session_free(mt_session *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->reqs_used; i++) {
        if (s->reqs[i].heap) {
            mt_wipe(s->reqs[i].heap, s->reqs[i].heap_cap);
            free(s->reqs[i].heap);
        }
    }
    if (s->reqs) mt_wipe(s->reqs, s->reqs_cap * sizeof *s->reqs);
    free(s->reqs); free(s->free_slots); free(s->queue); free(s->acks); free(s->ev); free(s->seen_ring);
    free(s->init_str); free(s->packed); free(s->salts);
    mt_map_free(&s->by_msgid); mt_map_free(&s->seen);
    mt_buf_free(&s->svc); mt_buf_free(&s->upd); mt_buf_free(&s->inflated);
    mt_scratch_free(s->work);
    mt_crypto_ctx_free(s->cc);
    mt_random_pool_free(s->pool);
    if (s->bind_perm_key) {
        mt_wipe(s->bind_perm_key, 256);
        free(s->bind_perm_key);
    }
    mt_wipe(s, sizeof *s);
    free(s);
}

int mt_session_set_key(mt_session *s, const uint8_t auth_key[256], int64_t salt, int32_t time_offset)
{
    if (!auth_key) return MT_ERR_ARG;
    memcpy(s->key, auth_key, 256);
    s->has_key = 1;
    s->key_id = mt_auth_key_id(s->key);
    s->salt = salt;
    s->gen.time_offset = time_offset;
    s->nsalts = 0;
    return new_session(s);
}

int mt_session_has_key(const mt_session *s) { return s->has_key; }
const mt_random *mt_session_random(mt_session *s) { return &s->pool->rnd; }
void mt_session_set_salt(mt_session *s, int64_t salt) { s->salt = salt; s->nsalts = 0; }

int mt_session_get_key(const mt_session *s, uint8_t auth_key[256])
{
    if (!s->has_key) return MT_ERR_ARG;
    memcpy(auth_key, s->key, 256);
    return MT_OK;
}

void mt_session_get_state(const mt_session *s, mt_session_state *st)
{
    st->salt = s->salt;
    st->session_id = s->session_id;
    st->time_offset = s->gen.time_offset;
    st->auth_key_id = s->has_key ? s->key_id : 0;
    st->seq = s->seq;
    st->dropped = s->dropped;
}

void mt_session_new_connection(mt_session *s)
{
    s->need_init = s->init.enabled;
    req *r;
    for (size_t i = 0; (r = next_pending(s, &i));)
        if (r->msg_id && !r->queued) requeue(s, r, 1);
}

int mt_session_send(mt_session *s, const uint8_t *body, size_t len, uint64_t *id)
{
    if (len < 4 || len % 4) return MT_ERR_ARG;
    if (len > PACK_MAX_BYTES) return MT_ERR_RANGE;
    size_t slot;
    if (s->nfree) {
        slot = s->free_slots[--s->nfree];
    } else {
        if (s->reqs_used == s->reqs_cap) {
            size_t nc = s->reqs_cap ? s->reqs_cap * 2 : FIRST_CAP;
            if (nc > (size_t)SLOT_MASK + 1) return MT_ERR_RANGE;
            req *nr = realloc(s->reqs, nc * sizeof *nr);
            if (!nr) return MT_ERR_NOMEM;
            uint32_t *nf = realloc(s->free_slots, nc * sizeof *nf);
            if (!nf) { s->reqs = nr; return MT_ERR_NOMEM; }
            s->reqs = nr; s->free_slots = nf; s->reqs_cap = nc;
        }
        slot = s->reqs_used++;
        memset(&s->reqs[slot], 0, sizeof(req));
    }
    req *r = &s->reqs[slot];
    uint8_t *heap = r->heap;
    uint32_t heap_cap = r->heap_cap;
    memset(r, 0, offsetof(req, heap));
    r->heap = heap; r->heap_cap = heap_cap;
    if (req_store(r, body, len) != MT_OK || queue_push(s, 0) != MT_OK) {
        s->free_slots[s->nfree++] = (uint32_t)slot;
        return MT_ERR_NOMEM;
    }
    s->qlen--; /* room is reserved; now push the real handle */
    r->handle = (++s->handle_seq << SLOT_BITS) | slot;
    r->state = MT_REQ_PENDING;
    r->queued = 1;
    queue_push(s, r->handle);
    s->pending++;
    *id = r->handle;
    return MT_OK;
}

/* The size of an auth.bindTempAuthKey body: constructor, perm_auth_key_id, nonce, expires_at,
 * then encrypted_message as TL bytes (1 length byte, 104 bytes, 3 of padding). */
#define BIND_BODY_LEN (4 + 8 + 8 + 4 + 108)

int mt_session_send_bind(mt_session *s, const uint8_t perm_key[256], int64_t nonce, int32_t expires_at, uint64_t *id)
{
    if (!perm_key || !id) return MT_ERR_ARG;
    if (!s->bind_perm_key && !(s->bind_perm_key = malloc(256))) return MT_ERR_NOMEM;
    uint8_t placeholder[BIND_BODY_LEN];
    memset(placeholder, 0, sizeof placeholder);
    mt_wr32(placeholder, MT_ID_AUTH_BIND_TEMP_AUTH_KEY);
    int rc = mt_session_send(s, placeholder, sizeof placeholder, id);
    if (rc != MT_OK) return rc;
    s->bind_handle = *id;
    s->bind_nonce = nonce;
    s->bind_expires_at = expires_at;
    memcpy(s->bind_perm_key, perm_key, 256);
    return MT_OK;
}

int mt_session_want_write(const mt_session *s) { return s->qlen > 0 || s->nsvc > 0; }
size_t mt_session_acks_owed(const mt_session *s) { return s->nacks; }
size_t mt_session_pending(const mt_session *s) { return s->pending; }

/* ---- packing ---- */

static int32_t next_seqno(mt_session *s, int content)
{
    return content ? (int32_t)(s->seq++ * 2 + 1) : (int32_t)(s->seq * 2);
}

static int64_t now_ns(double now) { return (int64_t)(now * 1e9); }

static void put_str(mt_buf *b, const char *p) { mt_buf_put_tlbytes(b, p, strlen(p)); }

/* invokeWithLayer(layer, initConnection(..., query)) around a body. */
static void wrap_init(const mt_session *s, const uint8_t *body, size_t len, mt_buf *out)
{
    out->len = 0;
    mt_buf_put_u32(out, MT_ID_INVOKE_WITH_LAYER);
    mt_buf_put_i32(out, s->init.layer);
    mt_buf_put_u32(out, MT_ID_INIT_CONNECTION);
    mt_buf_put_u32(out, 0); /* flags: no proxy, no params */
    mt_buf_put_i32(out, s->init.api_id);
    put_str(out, s->init.device_model);
    put_str(out, s->init.system_version);
    put_str(out, s->init.app_version);
    put_str(out, s->init.system_lang_code);
    put_str(out, s->init.lang_pack);
    put_str(out, s->init.lang_code);
    mt_buf_put(out, body, len);
}

/* Switches to the newest future salt valid at the server's `now`. */
static void rotate_salt(mt_session *s, double now)
{
    if (!s->nsalts) return;
    int64_t t = (int64_t)now + s->gen.time_offset;
    int best = -1;
    for (size_t i = 0; i < s->nsalts; i++)
        if (s->salts[i].since <= t && t < s->salts[i].until && (best < 0 || s->salts[i].since > s->salts[best].since))
            best = (int)i;
    if (best >= 0) s->salt = s->salts[best].salt;
}

/* The packet being built: a msg_container body in s->body; the requests packed into it, by
 * slot, get the container's id once it is known (no re-reading of the container). */
typedef struct packing {
    mt_buf *b;
    size_t n, bytes;
    int64_t last_id;        /* the last message added: sent alone when it is the only one */
    int32_t last_seq;
    size_t last_off, last_len;
} packing;

static int pack_add(packing *pk, int64_t id, int32_t seq, const uint8_t *p, size_t len)
{
    pk->last_off = pk->b->len + 16; pk->last_len = len; pk->last_id = id; pk->last_seq = seq;
    int rc = mt_container_add(pk->b, 0, id, seq, p, len);
    if (rc != MT_OK) return rc;
    pk->n++;
    pk->bytes += 16 + len;
    return MT_OK;
}

static int pack_fits(const packing *pk, size_t len)
{
    return !pk->n || pk->bytes + 16 + len <= PACK_MAX_BYTES;
}

static int pack(mt_session *s, double now, int with_acks, mt_buf *out)
{
    /* room for every request queued (at most max_msgs go in one packet) */
    size_t most = s->qlen < s->max_msgs ? s->qlen : s->max_msgs;
    if (s->packed_cap < most) {
        size_t nc = s->packed_cap ? s->packed_cap : FIRST_CAP;
        while (nc < most) nc *= 2;
        uint32_t *np = realloc(s->packed, nc * sizeof *np);
        if (!np) return MT_ERR_NOMEM;
        s->packed = np; s->packed_cap = nc;
    }
    rotate_salt(s, now);
    int64_t tns = now_ns(now);
    packing pk = { s->body, 0, 0, 0, 0, 0, 0 };
    s->body->len = 0;
    s->body->oom = 0;
    int rc = mt_container_begin(s->body);
    if (rc) return rc;
    size_t nreq = 0;

    /* service messages first: they are small and unblock the server */
    size_t svc_used = 0;
    while (s->nsvc && svc_used < s->svc.len && pk.n < s->max_msgs) {
        uint32_t l = mt_le32(s->svc.data + svc_used);
        if (!pack_fits(&pk, l)) break;
        rc = pack_add(&pk, mt_msgid_next(&s->gen, tns, 0), next_seqno(s, 1), s->svc.data + svc_used + 4, l);
        if (rc) return rc;
        svc_used += 4 + l;
        s->nsvc--;
    }
    mt_buf_consume(&s->svc, svc_used);

    while (s->qlen && pk.n < s->max_msgs) {
        uint64_t h = s->queue[s->qhead];
        req *r = req_by_handle(s, h);
        if (!r || r->state != MT_REQ_PENDING || !r->queued) {
            s->qhead = (s->qhead + 1) % s->qcap; s->qlen--;
            continue;
        }
        const uint8_t *p = req_data(r);
        size_t l = r->len;
        int is_bind = h == s->bind_handle;
        int wrap = !is_bind && s->init.enabled && (r->wrapped || s->need_init);
        if (wrap) {
            wrap_init(s, p, l, s->scratch);
            if (s->scratch->oom) return MT_ERR_NOMEM;
            p = s->scratch->data; l = s->scratch->len;
        }
        if (!pack_fits(&pk, l)) break;
        s->qhead = (s->qhead + 1) % s->qcap; s->qlen--;
        r->queued = 0;
        r->packed = 1;
        if (!r->keep_id || !r->msg_id) {
            if (r->msg_id) mt_map_del(&s->by_msgid, (uint64_t)r->msg_id);
            r->msg_id = mt_msgid_next(&s->gen, tns, 0);
            r->seqno = next_seqno(s, 1);
            if ((rc = mt_map_put(&s->by_msgid, (uint64_t)r->msg_id, h & SLOT_MASK)) != MT_OK) return rc;
        }
        r->keep_id = 0;
        if (wrap) { r->wrapped = 1; s->need_init = 0; }
        if (is_bind) {
            /* the binding message names this very msg_id and session; initConnection again
             * for what follows the bind */
            mt_bind b = { s->bind_nonce, s->key_id, mt_auth_key_id(s->bind_perm_key), s->session_id,
                          s->bind_expires_at, r->msg_id };
            s->scratch->len = 0;
            if ((rc = mt_bind_request(s->bind_perm_key, &b, &s->rnd, s->scratch)) != MT_OK) return rc;
            if (s->scratch->len != l) return MT_ERR_ARG;
            p = s->scratch->data;
            s->need_init = s->init.enabled;
        }
        r->container_id = 0;
        if ((rc = pack_add(&pk, r->msg_id, r->seqno, p, l)) != MT_OK) return rc;
        s->packed[nreq++] = (uint32_t)(h & SLOT_MASK);
    }

    if (s->nacks && (pk.n || with_acks) && pk.n < s->max_msgs) {
        size_t k = s->nacks < MAX_ACKS ? s->nacks : MAX_ACKS;
        mt_buf *a = s->scratch;
        a->len = 0;
        mt_buf_put_u32(a, MT_ID_MSGS_ACK);
        mt_buf_put_u32(a, MT_ID_VECTOR);
        mt_buf_put_u32(a, (uint32_t)k);
        for (size_t i = 0; i < k; i++) mt_buf_put_i64(a, s->acks[i]);
        if (a->oom) return MT_ERR_NOMEM;
        rc = pack_add(&pk, mt_msgid_next(&s->gen, tns, 0), next_seqno(s, 0), a->data, a->len);
        if (rc) return rc;
        memmove(s->acks, s->acks + k, (s->nacks - k) * sizeof *s->acks);
        s->nacks -= k;
    }
    if (!pk.n) return 0;

    int64_t cid = 0;
    size_t before = out->len;
    if (pk.n == 1) {
        rc = mt_msg_encrypt_ctx(s->cc, s->key, s->key_id, 0, s->salt, s->session_id, pk.last_id, pk.last_seq,
                                s->body->data + pk.last_off, pk.last_len, &s->pool->rnd, out);
    } else {
        cid = mt_msgid_next(&s->gen, tns, 0);
        rc = mt_msg_encrypt_ctx(s->cc, s->key, s->key_id, 0, s->salt, s->session_id, cid, next_seqno(s, 0),
                                s->body->data, s->body->len, &s->pool->rnd, out);
    }
    if (rc) return rc;
    for (size_t i = 0; i < nreq; i++) s->reqs[s->packed[i]].container_id = cid;
    slog(s, MT_LOG_DEBUG, "packed %zu message(s), %zu bytes, container %lld", pk.n, pk.bytes, (long long)cid);
    return (int)(out->len - before);
}

int mt_session_pack(mt_session *s, double now, int with_acks, mt_buf *out)
{
    if (!s->has_key) return MT_ERR_ARG;
    int rc = pack(s, now, with_acks, out);
    mt_scratch_done(s->body);
    mt_scratch_done(s->scratch);
    return rc;
}

/* ---- receiving ---- */

static int add_ack(mt_session *s, int64_t id)
{
    if (s->nacks == s->acks_cap) {
        size_t nc = s->acks_cap ? s->acks_cap * 2 : FIRST_CAP;
        int64_t *a = realloc(s->acks, nc * sizeof *a);
        if (!a) return MT_ERR_NOMEM;
        s->acks = a; s->acks_cap = nc;
    }
    s->acks[s->nacks++] = id;
    return MT_OK;
}

static int add_svc(mt_session *s, const mt_buf *body)
{
    mt_buf_put_u32(&s->svc, (uint32_t)body->len);
    mt_buf_put(&s->svc, body->data, body->len);
    if (s->svc.oom) return MT_ERR_NOMEM;
    s->nsvc++;
    return MT_OK;
}

static int seen_has(const mt_session *s, int64_t id)
{
    return mt_map_get(&s->seen, (uint64_t)id, NULL);
}

static int seen_add(mt_session *s, int64_t id)
{
    if (s->seen_n == SEEN_WINDOW) {
        int64_t old = s->seen_ring[s->seen_pos];
        mt_map_del(&s->seen, (uint64_t)old);
        if (old > s->evicted_max) s->evicted_max = old;
        s->seen_n--;
    } else if (s->seen_n == s->seen_cap) {
        /* not yet full: the ring is filled in order (seen_pos == seen_n), so it grows in place */
        size_t nc = s->seen_cap ? s->seen_cap * 2 : FIRST_CAP;
        if (nc > SEEN_WINDOW) nc = SEEN_WINDOW;
        int64_t *r = realloc(s->seen_ring, nc * sizeof *r);
        if (!r) return MT_ERR_NOMEM;
        s->seen_ring = r;
        s->seen_cap = nc;
    }
    int rc = mt_map_put(&s->seen, (uint64_t)id, 0);
    if (rc) return rc;
    s->seen_ring[s->seen_pos] = id;
    s->seen_pos = (s->seen_pos + 1) % SEEN_WINDOW;
    s->seen_n++;
    if (id > s->seen_max) s->seen_max = id;
    return MT_OK;
}

/* Whether `id` is a container of ours that requests still wait in (every request keeps the
 * container it last went in): a notification about another one has nothing left to act on. */
static int is_open_container(const mt_session *s, int64_t id)
{
    req *r;
    if (!id) return 0;
    for (size_t i = 0; (r = next_pending(s, &i));)
        if (r->msg_id && r->container_id == id) return 1;
    return 0;
}

/* A bad_msg_notification 16/17 about a message we really sent: let it past
 * the time check, since it is how a skewed clock gets corrected. */
static int is_clock_fix(const mt_session *s, const uint8_t *p, size_t n)
{
    if (n < 20 || mt_le32(p) != MT_ID_BAD_MSG_NOTIFICATION) return 0;
    int64_t bad = (int64_t)mt_le64(p + 4);
    int32_t code = (int32_t)mt_le32(p + 16);
    if (code != 16 && code != 17) return 0;
    if (mt_map_get(&s->by_msgid, (uint64_t)bad, NULL) || is_open_container(s, bad)) return 1;
    return 0;
}

/* Parity, age and replay checks on a server msg_id. */
static int check_msg_id(mt_session *s, int64_t id, double now, const uint8_t *p, size_t n)
{
    if ((id & 1) == 0) {
        slog(s, MT_LOG_WARN, "dropped message %lld: even msg_id from the server", (long long)id);
        return MT_ERR_MSG_ID;
    }
    int64_t t = (int64_t)((uint64_t)id >> 32), here = (int64_t)now + s->gen.time_offset;
    if ((t < here - MAX_TIME_BEHIND || t > here + MAX_TIME_AHEAD) && !is_clock_fix(s, p, n)) {
        slog(s, MT_LOG_WARN, "dropped message %lld: msg_id time %lld is %lld s away from ours",
             (long long)id, (long long)t, (long long)(t - here));
        return MT_ERR_MSG_ID;
    }
    if (seen_has(s, id) || (id <= s->evicted_max)) {
        slog(s, MT_LOG_WARN, "dropped message %lld: msg_id seen before", (long long)id);
        return MT_ERR_REPLAY;
    }
    return MT_OK;
}

/* Reads a Vector<long> (boxed) into ids pointing into the buffer. */
static int read_long_vector(mt_reader *r, const uint8_t **ids, uint32_t *count)
{
    if (mt_rd_u32(r) != MT_ID_VECTOR) return r->err ? r->err : MT_ERR_PROTO;
    uint32_t c = mt_rd_u32(r);
    if (r->err) return r->err;
    if (c > MAX_VECTOR || (size_t)c * 8 > mt_rd_left(r)) return MT_ERR_RANGE;
    *ids = mt_rd_raw(r, (size_t)c * 8);
    *count = c;
    return MT_OK;
}

/* Queues again the request sent as bad_id, or every request of the container
 * bad_id. Returns how many, or an MT_ERR_*. */
static int resend_for(mt_session *s, int64_t bad_id, int keep)
{
    int found = 0, rc;
    req *r;
    for (size_t i = 0; (r = next_sent_as(s, bad_id, &i)); found++)
        if ((rc = requeue(s, r, keep)) != MT_OK) return rc;
    if (!found) slog(s, MT_LOG_DEBUG, "notification about %lld: no request waiting in it", (long long)bad_id);
    return found;
}

static void fail_for(mt_session *s, int64_t bad_id, int32_t code, const char *text)
{
    req *r;
    for (size_t i = 0; (r = next_sent_as(s, bad_id, &i));) fail_msg(s, r, code, text);
}

/* rpc_result: the answer to one of our requests. */
static int take_result(mt_session *s, const uint8_t *p, size_t n)
{
    if (n < 16) return MT_ERR_TRUNCATED;
    int64_t req_id = (int64_t)mt_le64(p + 4);
    const uint8_t *obj = p + 12;
    size_t on = n - 12;
    req *r = req_by_msgid(s, req_id);
    if (!r) {
        slog(s, MT_LOG_INFO, "rpc_result for %lld: no such request waiting (ignored)", (long long)req_id);
        return MT_OK;
    }
    uint32_t ctor = mt_le32(obj);
    if (ctor == MT_ID_GZIP_PACKED) {
        mt_reader rd;
        const uint8_t *gz; size_t gn;
        mt_rd_init(&rd, obj + 4, on - 4);
        if (mt_rd_tlbytes(&rd, &gz, &gn) != MT_OK) return MT_ERR_TRUNCATED;
        s->inflated.len = 0;
        int rc = mt_gunzip(gz, gn, MT_GZIP_MAX_OUT, &s->inflated);
        if (rc < 0) {
            slog(s, MT_LOG_WARN, "rpc_result for %lld: bad gzip_packed (%s)", (long long)req_id, mt_strerror(rc));
            fail_msg(s, r, MT_ERR_GZIP, "PROTOCOL_ERROR");
            return MT_OK;
        }
        if (s->inflated.len < 4) { fail_msg(s, r, MT_ERR_PROTO, "PROTOCOL_ERROR"); return MT_OK; }
        obj = s->inflated.data; on = s->inflated.len;
        ctor = mt_le32(obj);
    }
    if (ctor == MT_ID_RPC_ERROR) {
        mt_reader rd;
        mt_rd_init(&rd, obj + 4, on - 4);
        int32_t code = mt_rd_i32(&rd);
        const uint8_t *msg; size_t mn;
        if (mt_rd_tlbytes(&rd, &msg, &mn) != MT_OK) return MT_ERR_TRUNCATED;
        finish(s, r, MT_REQ_FAILED, code, msg, mn);
        return MT_OK;
    }
    finish(s, r, MT_REQ_DONE, 0, obj, on);
    return MT_OK;
}

/* The inflate buffer may have grown to the 16 MiB cap (a big answer or a gzip bomb): the
 * answer is copied into its request by then, so a big buffer goes back to the system at
 * once instead of staying with the session until it is freed. */
#define INFLATED_KEEP (256 * 1024)
static int handle_result(mt_session *s, const uint8_t *p, size_t n)
{
    int rc = take_result(s, p, n);
    if (s->inflated.cap > INFLATED_KEEP) mt_buf_free(&s->inflated);
    return rc;
}

/* One incoming object and where it came from, as every handler gets it. */
typedef struct inmsg {
    int64_t msg_id;         /* the message carrying it */
    const uint8_t *p;       /* the object, constructor id first (n >= 4) */
    size_t n;
    double now;
    int depth;              /* 1 inside a gzip_packed */
} inmsg;

static int handle_object(mt_session *s, int64_t msg_id, const uint8_t *p, size_t n, double now, int depth);

/* A reader over the object after its constructor id. */
static mt_reader body_reader(const inmsg *m)
{
    mt_reader rd;
    mt_rd_init(&rd, m->p + 4, m->n - 4);
    return rd;
}

static int resent(int rc) { return rc < 0 ? rc : MT_OK; }

static int on_rpc_result(mt_session *s, const inmsg *m) { return handle_result(s, m->p, m->n); }

/* new_session_created and bad_server_salt: a msg_id at 4 and the salt to use from now at 20. */
static int64_t take_salt(mt_session *s, const inmsg *m)
{
    s->salt = (int64_t)mt_le64(m->p + 20);
    s->nsalts = 0;
    return (int64_t)mt_le64(m->p + 4);
}

static int on_new_session(mt_session *s, const inmsg *m)
{
    if (m->n < 28) return MT_ERR_TRUNCATED;
    int64_t first = take_salt(s, m);
    slog(s, MT_LOG_INFO, "new_session_created: first_msg_id %lld", (long long)first);
    /* requests sent before first_msg_id belong to the old session: again */
    req *r;
    for (size_t i = 0; (r = next_pending(s, &i));) {
        if (r->msg_id && r->msg_id < first && !r->queued) {
            int rc = requeue(s, r, 0);
            if (rc) return rc;
        }
    }
    return MT_OK;
}

static int on_msgs_ack(mt_session *s, const inmsg *m)
{
    mt_reader rd = body_reader(m);
    const uint8_t *ids; uint32_t c;
    return read_long_vector(&rd, &ids, &c);
}

static int on_bad_server_salt(mt_session *s, const inmsg *m)
{
    if (m->n < 28) return MT_ERR_TRUNCATED;
    int64_t bad_id = take_salt(s, m);
    slog(s, MT_LOG_INFO, "bad_server_salt for %lld: new salt, re-sending", (long long)bad_id);
    return resent(resend_for(s, bad_id, 0));
}

static int on_bad_msg(mt_session *s, const inmsg *m)
{
    if (m->n < 20) return MT_ERR_TRUNCATED;
    int64_t bad_id = (int64_t)mt_le64(m->p + 4);
    int32_t code = (int32_t)mt_le32(m->p + 16);
    slog(s, MT_LOG_INFO, "bad_msg_notification %d for %lld", (int)code, (long long)bad_id);
    switch (code) {
    case 16: case 17: {
        int64_t server = (int64_t)((uint64_t)m->msg_id >> 32);
        int64_t off = server - (int64_t)m->now;
        if (off > INT32_MAX || off < INT32_MIN) return MT_ERR_RANGE;
        s->gen.time_offset = (int32_t)off;
        /* ids must keep increasing inside a session: if the last id we sent
         * is well ahead of the corrected clock (the server accepts 30 s),
         * start a new session instead */
        if ((s->gen.last >> 32) > (int64_t)m->now + off + 10) return new_session(s);
        return resent(resend_for(s, bad_id, 0));
    }
    case 32:
        s->seq += 64;
        return resent(resend_for(s, bad_id, 0));
    case 33:
        return new_session(s);
    case 64:
        /* an invalid container: servers limit how many messages one may
         * hold; send them again in smaller ones */
        if (is_open_container(s, bad_id) && s->max_msgs > PACK_MIN_MSGS) {
            int rc = resend_for(s, bad_id, 0);
            if (rc < 0) return rc;
            size_t half = (size_t)rc / 2;
            if (half < s->max_msgs) s->max_msgs = half > PACK_MIN_MSGS ? half : PACK_MIN_MSGS;
            slog(s, MT_LOG_INFO, "container %lld refused: %d message(s) re-sent, now at most %zu per container",
                 (long long)bad_id, rc, s->max_msgs);
            return MT_OK;
        }
        /* fall through */
    default: {
        char text[32];
        snprintf(text, sizeof text, "BAD_MSG_%d", (int)code);
        fail_for(s, bad_id, MT_ERR_PROTO, text);
        return MT_OK;
    }
    }
}

/* pong and future_salts answer a request (ping, get_future_salts) by its msg_id. */
static int on_pong(mt_session *s, const inmsg *m)
{
    if (m->n < 12) return MT_ERR_TRUNCATED;
    req *r = req_by_msgid(s, (int64_t)mt_le64(m->p + 4));
    if (r) finish(s, r, MT_REQ_DONE, 0, m->p, m->n);
    return MT_OK;
}

static int on_future_salts(mt_session *s, const inmsg *m)
{
    mt_reader rd = body_reader(m);
    mt_rd_u64(&rd);             /* req_msg_id: on_pong */
    mt_rd_i32(&rd);             /* the server's now */
    uint32_t c = mt_rd_u32(&rd);
    if (rd.err) return rd.err;
    if ((size_t)c * 16 != mt_rd_left(&rd) || c > 1000) return MT_ERR_RANGE;
    if (!s->salts && !(s->salts = malloc(MAX_SALTS * sizeof *s->salts))) return MT_ERR_NOMEM;
    s->nsalts = 0;
    for (uint32_t i = 0; i < c && s->nsalts < MAX_SALTS; i++) {
        s->salts[s->nsalts].since = mt_rd_i32(&rd);
        s->salts[s->nsalts].until = mt_rd_i32(&rd);
        s->salts[s->nsalts].salt = mt_rd_i64(&rd);
        s->nsalts++;
    }
    return on_pong(s, m);
}

/* msg_detailed_info / msg_new_detailed_info name an answer the server has: ask for it again
 * (msg_resend_req) when it is still needed, else acknowledge it. */
static int want_answer(mt_session *s, int64_t answer, int need)
{
    if (!need) return add_ack(s, answer);
    mt_buf *b = s->scratch;
    b->len = 0;
    mt_buf_put_u32(b, MT_ID_MSG_RESEND_REQ);
    mt_buf_put_u32(b, MT_ID_VECTOR);
    mt_buf_put_u32(b, 1);
    mt_buf_put_i64(b, answer);
    return b->oom ? MT_ERR_NOMEM : add_svc(s, b);
}

static int on_detailed_info(mt_session *s, const inmsg *m)
{
    mt_reader rd = body_reader(m);
    int64_t ours = mt_rd_i64(&rd), answer = mt_rd_i64(&rd);
    mt_rd_i32(&rd); mt_rd_i32(&rd);
    if (rd.err) return rd.err;
    return want_answer(s, answer, ours && req_by_msgid(s, ours));
}

static int on_new_detailed_info(mt_session *s, const inmsg *m)
{
    mt_reader rd = body_reader(m);
    int64_t answer = mt_rd_i64(&rd);
    mt_rd_i32(&rd); mt_rd_i32(&rd);
    if (rd.err) return rd.err;
    return want_answer(s, answer, !seen_has(s, answer));
}

static int on_resend_req(mt_session *s, const inmsg *m)
{
    mt_reader rd = body_reader(m);
    const uint8_t *ids; uint32_t c;
    int rc = read_long_vector(&rd, &ids, &c);
    if (rc) return rc;
    for (uint32_t i = 0; i < c; i++) {
        req *r = req_by_msgid(s, (int64_t)mt_le64(ids + 8 * i));
        if (r && (rc = requeue(s, r, 1)) != MT_OK) return rc;
    }
    return MT_OK;
}

static int on_state_req(mt_session *s, const inmsg *m)
{
    mt_reader rd = body_reader(m);
    const uint8_t *ids; uint32_t c;
    int rc = read_long_vector(&rd, &ids, &c);
    if (rc) return rc;
    mt_buf *b = s->scratch;
    b->len = 0;
    mt_buf_put_u32(b, MT_ID_MSGS_STATE_INFO);
    mt_buf_put_i64(b, m->msg_id);
    uint8_t *info = c ? malloc(c) : NULL;
    if (c && !info) return MT_ERR_NOMEM;
    for (uint32_t i = 0; i < c; i++) {
        int64_t id = (int64_t)mt_le64(ids + 8 * i);
        info[i] = seen_has(s, id) ? 4 : id > s->seen_max ? 3 : id <= s->evicted_max ? 1 : 2;
    }
    mt_buf_put_tlbytes(b, info, c);
    free(info);
    return b->oom ? MT_ERR_NOMEM : add_svc(s, b);
}

static int on_ignored(mt_session *s, const inmsg *m)
{
    slog(s, MT_LOG_DEBUG, "service message %08x ignored", (unsigned)mt_le32(m->p));
    return MT_OK;
}

static int on_gzip_packed(mt_session *s, const inmsg *m)
{
    if (m->depth > 0) return MT_ERR_DEPTH;
    mt_reader rd = body_reader(m);
    const uint8_t *gz; size_t gn;
    if (mt_rd_tlbytes(&rd, &gz, &gn) != MT_OK) return MT_ERR_TRUNCATED;
    mt_buf in;
    mt_buf_init(&in);
    int rc = mt_gunzip(gz, gn, MT_GZIP_MAX_OUT, &in);
    if (rc >= 0) rc = handle_object(s, m->msg_id, in.data, in.len, m->now, m->depth + 1);
    mt_buf_free(&in);
    return rc;
}

/* A container inside a container (or a gzip_packed one) is not allowed. */
static int on_nested_container(mt_session *s, const inmsg *m) { return MT_ERR_DEPTH; }

/* Anything else: an update when the server sent it on its own (msg_id % 4 == 3). */
static int on_other(mt_session *s, const inmsg *m)
{
    if ((m->msg_id & 3) == 3) {
        size_t off = s->upd.len;
        mt_buf_put(&s->upd, m->p, m->n);
        if (s->upd.oom) return MT_ERR_NOMEM;
        return push_event(s, MT_EV_UPDATE, 0, off, m->n);
    }
    slog(s, MT_LOG_WARN, "object %08x with answer msg_id %lld outside rpc_result: dropped",
         (unsigned)mt_le32(m->p), (long long)m->msg_id);
    return MT_OK;
}

/* One handler per service message; every other object goes to on_other. */
static const struct {
    uint32_t id;
    int (*fn)(mt_session *s, const inmsg *m);
} HANDLERS[] = {
    { MT_ID_RPC_RESULT, on_rpc_result },
    { MT_ID_MSGS_ACK, on_msgs_ack },
    { MT_ID_NEW_SESSION_CREATED, on_new_session },
    { MT_ID_BAD_SERVER_SALT, on_bad_server_salt },
    { MT_ID_BAD_MSG_NOTIFICATION, on_bad_msg },
    { MT_ID_PONG, on_pong },
    { MT_ID_FUTURE_SALTS, on_future_salts },
    { MT_ID_MSG_DETAILED_INFO, on_detailed_info },
    { MT_ID_MSG_NEW_DETAILED_INFO, on_new_detailed_info },
    { MT_ID_MSG_RESEND_REQ, on_resend_req },
    { MT_ID_MSGS_STATE_REQ, on_state_req },
    { MT_ID_MSGS_STATE_INFO, on_ignored },
    { MT_ID_MSGS_ALL_INFO, on_ignored },
    { MT_ID_DESTROY_SESSION_OK, on_ignored },
    { MT_ID_DESTROY_SESSION_NONE, on_ignored },
    { MT_ID_GZIP_PACKED, on_gzip_packed },
    { MT_ID_MSG_CONTAINER, on_nested_container },
};

static int handle_object(mt_session *s, int64_t msg_id, const uint8_t *p, size_t n, double now, int depth)
{
    if (n < 4) return MT_ERR_TRUNCATED;
    inmsg m = { msg_id, p, n, now, depth };
    uint32_t ctor = mt_le32(p);
    for (size_t i = 0; i < sizeof HANDLERS / sizeof HANDLERS[0]; i++)
        if (HANDLERS[i].id == ctor) return HANDLERS[i].fn(s, &m);
    return on_other(s, &m);
}

/* One message (top level or inside a container) that passed the checks. */
static int handle_message(mt_session *s, int64_t msg_id, int32_t seqno, const uint8_t *p, size_t n, double now)
{
    int rc = seen_add(s, msg_id);
    if (rc) return rc;
    if ((seqno & 1) && (rc = add_ack(s, msg_id)) != MT_OK) return rc;
    rc = handle_object(s, msg_id, p, n, now, 0);
    if (rc == MT_ERR_NOMEM) return rc;
    if (rc < 0) {
        s->dropped++;
        slog(s, MT_LOG_WARN, "message %lld (%08x) dropped: %s", (long long)msg_id,
             n >= 4 ? (unsigned)mt_le32(p) : 0u, mt_strerror(rc));
    }
    return MT_OK;
}

static int receive(mt_session *s, const uint8_t *packet, size_t len, double now)
{
    mt_msg m;
    int rc = mt_msg_decrypt_ctx(s->cc, s->key, s->key_id, 8, packet, len, s->plain, &m);
    if (rc == MT_OK && m.session_id != s->session_id) {
        slog(s, MT_LOG_WARN, "dropped packet: session_id %llx is not ours",
             (unsigned long long)m.session_id);
        rc = MT_ERR_SESSION_ID;
    } else if (rc != MT_OK) {
        slog(s, MT_LOG_WARN, "dropped packet of %zu bytes: %s", len, mt_strerror(rc));
    } else {
        rc = check_msg_id(s, m.msg_id, now, m.body, m.len);
    }
    if (rc != MT_OK) { s->dropped++; return rc; }

    if (m.len >= 4 && mt_le32(m.body) == MT_ID_MSG_CONTAINER) {
        mt_container_iter it;
        if ((rc = mt_container_iter_init(&it, m.body, m.len)) != MT_OK) {
            s->dropped++;
            slog(s, MT_LOG_WARN, "dropped container %lld: %s", (long long)m.msg_id, mt_strerror(rc));
            return rc;
        }
        if ((rc = seen_add(s, m.msg_id)) != MT_OK) return rc;
        int64_t id; int32_t sq; const uint8_t *bp; size_t bl;
        while ((rc = mt_container_next(&it, &id, &sq, &bp, &bl)) == 1) {
            if (bl >= 4 && mt_le32(bp) == MT_ID_MSG_CONTAINER) {
                s->dropped++;
                slog(s, MT_LOG_WARN, "dropped nested container %lld", (long long)id);
                continue;
            }
            if (check_msg_id(s, id, now, bp, bl) != MT_OK) { s->dropped++; continue; }
            if ((rc = handle_message(s, id, sq, bp, bl, now)) != MT_OK) return rc;
        }
        if (rc < 0) {
            s->dropped++;
            slog(s, MT_LOG_WARN, "container %lld: malformed tail dropped (%s)", (long long)m.msg_id, mt_strerror(rc));
        }
        return MT_OK;
    }
    return handle_message(s, m.msg_id, m.seqno, m.body, m.len, now);
}

/* The scratch buffers may be shared with other sessions: results and updates are copied out
 * of them before the call returns. */
int mt_session_receive(mt_session *s, const uint8_t *packet, size_t len, double now)
{
    if (!s->has_key) return MT_ERR_ARG;
    int rc = receive(s, packet, len, now);
    mt_scratch_done(s->plain);
    mt_scratch_done(s->scratch);
    return rc;
}

const mt_session_event *mt_session_events(const mt_session *s, size_t *n)
{
    *n = s->nev;
    return s->ev;
}

const uint8_t *mt_session_update_data(const mt_session *s) { return s->upd.data; }

void mt_session_events_clear(mt_session *s)
{
    s->nev = 0;
    s->upd.len = 0;
}

int mt_session_take(const mt_session *s, uint64_t id, const uint8_t **data, size_t *len, int32_t *code)
{
    req *r = req_by_handle(s, id);
    if (!r) return MT_ERR_ARG;
    if (r->state == MT_REQ_PENDING) return MT_REQ_PENDING;
    if (data) *data = req_data(r);
    if (len) *len = r->len;
    if (code) *code = r->code;
    return r->state;
}

/* Drops the handles of released requests from the send queue. A request released while
 * queued (its caller gave up while the connection was down) leaves a dead handle there; an
 * outage with many failed calls must not grow the queue, so it is compacted once more than
 * half of it is dead (live entries <= pending: amortized O(1) per release). */
static void queue_compact(mt_session *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->qlen; i++) {
        uint64_t h = s->queue[(s->qhead + i) % s->qcap];
        const req *r = req_by_handle(s, h);
        if (r && r->state == MT_REQ_PENDING && r->queued) s->queue[(s->qhead + n++) % s->qcap] = h;
    }
    s->qlen = n;
}

void mt_session_release(mt_session *s, uint64_t id)
{
    req *r = req_by_handle(s, id);
    if (!r) return;
    if (r->state == MT_REQ_PENDING) {
        if (r->msg_id) mt_map_del(&s->by_msgid, (uint64_t)r->msg_id);
        s->pending--;
    }
    int was_queued = r->queued;
    r->handle = 0;
    r->state = MT_REQ_DONE;
    r->queued = 0;
    if (r->heap && r->heap_cap > 4096) { /* keep small buffers for reuse */
        mt_wipe(r->heap, r->heap_cap);
        free(r->heap);
        r->heap = NULL; r->heap_cap = 0;
    }
    s->free_slots[s->nfree++] = (uint32_t)(id & SLOT_MASK);
    if (was_queued && s->qlen > 2 * s->pending + 64) queue_compact(s);
}

void mt_session_fail_all(mt_session *s, int32_t code, const char *message)
{
    req *r;
    for (size_t i = 0; (r = next_pending(s, &i));) fail_msg(s, r, code, message);
}

size_t mt_session_fail_unsent(mt_session *s, int32_t code, const char *message)
{
    size_t n = 0;
    for (size_t i = 0; i < s->reqs_used; i++) {
        req *r = &s->reqs[i];
        if (r->handle && r->state == MT_REQ_PENDING && !r->packed) { fail_msg(s, r, code, message); n++; }
    }
    return n;
}

int mt_session_set_deadline(mt_session *s, uint64_t id, double deadline)
{
    req *r = req_by_handle(s, id);
    if (!r || r->state != MT_REQ_PENDING) return MT_ERR_ARG;
    r->deadline = deadline;
    if (deadline > 0 && (s->min_deadline <= 0 || deadline < s->min_deadline)) s->min_deadline = deadline;
    return MT_OK;
}

double mt_session_next_deadline(const mt_session *s) { return s->min_deadline; }

size_t mt_session_expire(mt_session *s, double now, int32_t code, const char *message)
{
    if (s->min_deadline <= 0 || now < s->min_deadline) return 0;
    size_t n = 0;
    double next = 0;
    req *r;
    for (size_t i = 0; (r = next_pending(s, &i));) {
        if (r->deadline <= 0) continue;
        if (r->deadline <= now) { fail_msg(s, r, code, message); n++; }
        else if (next <= 0 || r->deadline < next) next = r->deadline;
    }
    s->min_deadline = next;
    return n;
}

int mt_session_fail(mt_session *s, uint64_t id, int32_t code, const char *message)
{
    req *r = req_by_handle(s, id);
    if (!r || r->state != MT_REQ_PENDING) return MT_ERR_ARG;
    fail_msg(s, r, code, message);
    return MT_OK;
}
