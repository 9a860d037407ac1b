/* The link: a client connection to one DC as a sans-IO state machine (see mt_link.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mt_link.h"
#include "mt_transport.h"
#include "mt_auth.h"
#include "mt_msg.h"
#include "mt_rsa.h"

#define ACK_DELAY    0.2        /* seconds of quiet before owed acks go out alone */
#define ACK_BATCH    64         /* owed acks that go out at once */
#define BACKOFF_MAX  3.0
#define OUT_SLICE    ((size_t)4 << 20) /* pack at most this much ahead of the writes */
#define ERR_MSG_SIZE    40      /* the short error message ("TIMEOUT", ...) */
#define ERR_DETAIL_SIZE 200     /* its detail text */

/* Phases; state() folds them into DOWN / CONNECTING / OPEN. */
enum { P_DOWN, P_BACKOFF, P_TCP, P_STAGE, P_HANDSHAKE, P_READY };

struct mt_link {
    int phase;
    unsigned epoch, connections;
    int32_t dc_id;
    int32_t expires_in;         /* temporary keys (PFS): their lifetime; 0 for permanent keys */
    int kind;
    double timeout, connect_timeout, wall_offset;
    double attempt_deadline;    /* P_TCP, P_STAGE, P_HANDSHAKE */
    double retry_at;            /* P_BACKOFF */
    double want_until;          /* mt_link_connect */
    double ack_at;              /* 0: no delayed acks */
    int want_acks;
    int failures;               /* connection attempts since the last good packet */
    int need_key;               /* -404: the server forgot our key */
    int auth_work;              /* the handshake has math left before its next message */
    double work_at;             /* when that work became due (the deadline: at once) */
    unsigned work_done;         /* pieces of handshake math done (each one tick) */
    mt_rsa_keys *keys;
    mt_session *sess;
    mt_transport *tr;
    mt_auth_client *auth;
    mt_msgid_gen plain_gen;
    mt_random rnd;
    int has_stage;
    mt_link_stage stage;
    int mtproxy, mtproxy_inner, mtproxy_tls;
    int split_modexp;           /* cfg.split_modexp */
    uint8_t mtproxy_secret[16];
    size_t rx_conn;             /* bytes received on the current connection */
    char *peer;
    mt_log_fn log;
    void *log_ud;
    int log_level;
    mt_buf out, body, evdata;
    mt_scratch *work;           /* cfg.scratch or its own, shared with the session */
    mt_buf *pkt;                /* a packet between the session and the transport (scratch) */
    mt_link_event *ev;
    size_t nev, ev_cap;
    int err_code;
    char err_msg[ERR_MSG_SIZE];
    char *err_detail;           /* ERR_DETAIL_SIZE bytes, allocated by the first error (many
                                 * links never fail; without memory the detail is lost) */
};

static void llog(mt_link *l, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mt_log_vsend(l->log, l->log_ud, l->log_level, level, fmt, ap);
    va_end(ap);
}

static const char *detail_of(const mt_link *l) { return l->err_detail ? l->err_detail : ""; }

static int vfail(mt_link *l, int code, const char *msg, const char *fmt, va_list ap)
{
    l->err_code = code;
    snprintf(l->err_msg, sizeof l->err_msg, "%s", msg);
    if (!l->err_detail) l->err_detail = malloc(ERR_DETAIL_SIZE);
    if (l->err_detail) vsnprintf(l->err_detail, ERR_DETAIL_SIZE, fmt, ap);
    llog(l, MT_LOG_INFO, "%s: %s", l->err_msg, detail_of(l));
    return code;
}

int mt_link_fail(mt_link *l, int code, const char *msg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(l, code, msg, fmt, ap);
    va_end(ap);
    return code;
}

const char *mt_link_error(const mt_link *l, const char **detail)
{
    if (detail) *detail = detail_of(l);
    return l->err_msg;
}
int mt_link_error_code(const mt_link *l) { return l->err_code; }
mt_session *mt_link_session(mt_link *l) { return l->sess; }
unsigned mt_link_connections(const mt_link *l) { return l->connections; }
unsigned mt_link_epoch(const mt_link *l) { return l->epoch; }

int mt_link_state(const mt_link *l)
{
    switch (l->phase) {
    case P_DOWN: case P_BACKOFF: return MT_LINK_DOWN;
    case P_TCP: return MT_LINK_CONNECTING;
    case P_READY: return MT_LINK_READY;
    default: return MT_LINK_OPEN;
    }
}

static void push_event(mt_link *l, int kind, int32_t code, uint64_t id, size_t off, size_t len)
{
    if (l->nev == l->ev_cap) {
        size_t nc = l->ev_cap ? l->ev_cap * 2 : 4;
        mt_link_event *e = realloc(l->ev, nc * sizeof *e);
        if (!e) return; /* the answer stays in the session: mt_link_take still finds it */
        l->ev = e; l->ev_cap = nc;
    }
    l->ev[l->nev++] = (mt_link_event){ kind, code, id, off, len };
}

const mt_link_event *mt_link_events(const mt_link *l, size_t *n) { *n = l->nev; return l->ev; }
const uint8_t *mt_link_event_data(const mt_link *l) { return l->evdata.data; }
void mt_link_events_clear(mt_link *l)
{
    l->nev = 0;
    if (l->evdata.len) mt_wipe(l->evdata.data, l->evdata.len);
    l->evdata.len = 0;
}

/* Moves the session's events (answers, updates) to the link's. */
static void collect(mt_link *l)
{
    size_t n;
    const mt_session_event *ev = mt_session_events(l->sess, &n);
    const uint8_t *ud = mt_session_update_data(l->sess);
    for (size_t i = 0; i < n; i++) {
        if (ev[i].kind == MT_EV_UPDATE) {
            size_t off = l->evdata.len;
            mt_buf_put(&l->evdata, ud + ev[i].off, ev[i].len);
            if (l->evdata.oom) { l->evdata.oom = 0; l->evdata.len = off; continue; }
            push_event(l, MT_LINK_EV_UPDATE, 0, 0, off, ev[i].len);
        } else {
            push_event(l, MT_LINK_EV_ANSWER, 0, ev[i].id, 0, 0);
        }
    }
    mt_session_events_clear(l->sess);
}

mt_link *mt_link_new(const mt_link_config *cfg, int *err)
{
    *err = MT_ERR_ARG;
    if (cfg->transport < MT_TR_ABRIDGED || cfg->transport > MT_TR_OBFUSCATED) return NULL;
    *err = MT_ERR_NOMEM;
    mt_link *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    mt_buf_init(&l->out); mt_buf_init(&l->body); mt_buf_init(&l->evdata);
    l->dc_id = cfg->dc_id;
    l->expires_in = cfg->expires_in > 0 ? cfg->expires_in : 0;
    l->kind = cfg->transport;
    l->timeout = cfg->timeout > 0 ? cfg->timeout : 10;
    l->connect_timeout = cfg->connect_timeout > 0 ? cfg->connect_timeout : 5;
    l->wall_offset = cfg->wall_offset;
    if (cfg->rnd) l->rnd = *cfg->rnd;
    if (cfg->stage) { l->stage = *cfg->stage; l->has_stage = 1; }
    l->split_modexp = cfg->split_modexp;
    if (cfg->mtproxy_secret) {
        l->mtproxy = 1;
        memcpy(l->mtproxy_secret, cfg->mtproxy_secret, 16);
        l->mtproxy_inner = cfg->mtproxy_inner;
        l->mtproxy_tls = cfg->mtproxy_tls;
    }
    l->log = cfg->log; l->log_ud = cfg->log_ud; l->log_level = cfg->log_level;
    l->peer = strdup(cfg->peer ? cfg->peer : "DC");
    l->keys = cfg->rsa_keys ? mt_rsa_keys_ref(cfg->rsa_keys) : mt_rsa_keys_new(cfg->rsa_pems == NULL);
    l->work = cfg->scratch ? mt_scratch_ref(cfg->scratch) : mt_scratch_new();
    if (!l->peer || !l->keys || !l->work) goto fail;
    l->pkt = mt_scratch_buf(l->work, MT_SCRATCH_PACKET);
    for (size_t i = 0; !cfg->rsa_keys && cfg->rsa_pems && cfg->rsa_pems[i]; i++) {
        size_t n = cfg->rsa_pem_lens ? cfg->rsa_pem_lens[i] : strlen(cfg->rsa_pems[i]);
        int rc = mt_rsa_keys_add_pem(l->keys, cfg->rsa_pems[i], n);
        if (rc) { *err = rc; goto fail; }
    }
    mt_session_config sc;
    memset(&sc, 0, sizeof sc);
    sc.auth_key = cfg->auth_key;
    sc.salt = cfg->salt;
    sc.time_offset = cfg->time_offset;
    sc.rnd = cfg->rnd;
    sc.cc = cfg->cc;
    sc.pool = cfg->pool;
    sc.scratch = l->work;
    sc.log = cfg->log; sc.log_ud = cfg->log_ud; sc.log_level = cfg->log_level;
    sc.init = cfg->init;
    if (!(l->sess = mt_session_new(&sc, err))) goto fail;
    *err = MT_OK;
    return l;
fail:
    mt_link_free(l);
    return NULL;
}

static void close_connection(mt_link *l)
{
    mt_transport_free(l->tr);
    l->tr = NULL;
    mt_auth_client_free(l->auth);
    l->auth = NULL;
    l->auth_work = 0;
    if (l->has_stage && l->stage.reset) l->stage.reset(l->stage.ud);
    if (l->out.len) mt_wipe(l->out.data, l->out.len);
    l->out.len = 0;
    l->ack_at = 0;
    l->want_acks = 0;
}

void mt_link_free(mt_link *l)
{
    if (!l) return;
    close_connection(l);
    mt_session_free(l->sess);
    mt_rsa_keys_free(l->keys);
    mt_buf_free(&l->out); mt_buf_free(&l->body); mt_buf_free(&l->evdata);
    mt_scratch_free(l->work);
    free(l->ev);
    free(l->peer);
    free(l->err_detail);
    mt_wipe(l->mtproxy_secret, sizeof l->mtproxy_secret);
    free(l);
}

int mt_link_busy(const mt_link *l, double now)
{
    return mt_session_pending(l->sess) > 0 || l->want_until > now;
}

static void start_attempt(mt_link *l, double now)
{
    close_connection(l);
    l->epoch++;
    l->phase = P_TCP;
    l->attempt_deadline = now + l->connect_timeout;
}

/* Down: connect now or, after a loss, after a pause that grows with the attempts made
 * since the last good packet (none before the first); not at all when nothing waits. */
static void schedule(mt_link *l, double now, int after_loss)
{
    if (!mt_link_busy(l, now)) { l->phase = P_DOWN; return; }
    int tries = after_loss ? l->failures++ : 0;
    if (tries == 0) { start_attempt(l, now); return; }
    double pause = 0.05 * (double)(1 << (tries < 7 ? tries : 7));
    l->retry_at = now + (pause > BACKOFF_MAX ? BACKOFF_MAX : pause);
    l->phase = P_BACKOFF;
}

/* The text a call failed by the connection error carries: its message and detail (the binding
 * splits them at the first ": "), made in the caller's buffer (not kept in every link). */
typedef struct err_text { char s[ERR_MSG_SIZE + 2 + ERR_DETAIL_SIZE]; } err_text;
static const char *err_text_of(const mt_link *l, err_text *t)
{
    snprintf(t->s, sizeof t->s, "%s: %s", l->err_msg, detail_of(l));
    return t->s;
}

/* Every call still waiting fails with the current error (a fatal one: retrying cannot help). */
static void fail_calls(mt_link *l)
{
    err_text t;
    mt_session_fail_all(l->sess, l->err_code, err_text_of(l, &t));
    l->want_until = 0;
    collect(l);
}

/* The connection (or attempt) ends with the error recorded last. Fatal errors fail every
 * call waiting; others reconnect. A call that went out on a connection may have reached the
 * server: it waits for the next one (re-sent under its msg_id). A failed attempt (connect,
 * proxy stage, handshake) fails the calls never sent: their callers learn at once that the
 * DC is unreachable, and a call whose caller got an error is never sent later. */
static void drop(mt_link *l, double now, int fatal)
{
    int attempt = l->phase >= P_TCP && l->phase < P_READY;
    if (l->phase >= P_TCP) {
        llog(l, MT_LOG_INFO, "connection to %s lost: %s", l->peer, detail_of(l));
        push_event(l, MT_LINK_EV_LOST, l->err_code, 0, 0, 0);
    }
    close_connection(l);
    l->phase = P_DOWN;
    err_text t;
    if (fatal) fail_calls(l);
    else if (attempt && mt_session_fail_unsent(l->sess, l->err_code, err_text_of(l, &t))) collect(l);
    schedule(l, now, 1);
}

static int dropf(mt_link *l, double now, int fatal, int code, const char *msg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(l, code, msg, fmt, ap);
    va_end(ap);
    drop(l, now, fatal);
    return code;
}

void mt_link_lost(mt_link *l, double now, int code, const char *detail)
{
    if (l->phase < P_TCP) return;
    /* a proxy that hangs up on its own step, or an MTProxy that closes before a word: it
     * will not take us there (a wrong secret, a DC it does not serve); retrying cannot help */
    if (code == MT_ERR_CLOSED && (l->phase == P_STAGE || (l->mtproxy && l->rx_conn == 0))) {
        dropf(l, now, 1, MT_ERR_PROXY_REFUSED, "PROXY_REFUSED", "%s",
              l->phase == P_STAGE ? "the proxy closed the connection during its handshake"
                                  : "the MTProxy closed the connection without answering: a wrong secret, or a DC it does not serve");
        return;
    }
    const char *msg = code == MT_ERR_CLOSED ? "CONNECTION_CLOSED" : code == MT_ERR_TIMEOUT ? "TIMEOUT" : "NETWORK_ERROR";
    dropf(l, now, 0, code, msg, "%s", detail ? detail : mt_strerror(code));
}

void mt_link_connect(mt_link *l, double now, double deadline)
{
    if (deadline > l->want_until) l->want_until = deadline;
    if (l->phase == P_DOWN) schedule(l, now, 0);
}

void mt_link_disconnect(mt_link *l, double now)
{
    if (l->phase >= P_TCP) llog(l, MT_LOG_INFO, "disconnecting from %s", l->peer);
    close_connection(l);
    l->phase = P_DOWN;
    l->want_until = 0;
    schedule(l, now, 0);
}

int mt_link_send(mt_link *l, const uint8_t *body, size_t len, double now, double deadline, uint64_t *id)
{
    int rc = mt_session_send(l->sess, body, len, id);
    if (rc) return rc;
    mt_session_set_deadline(l->sess, *id, deadline > 0 ? deadline : now + l->timeout);
    if (l->phase == P_DOWN) schedule(l, now, 0);
    return MT_OK;
}

int mt_link_send_bind(mt_link *l, const uint8_t perm_key[256], int64_t nonce, int32_t expires_at, double now,
                      double deadline, uint64_t *id)
{
    int rc = mt_session_send_bind(l->sess, perm_key, nonce, expires_at, id);
    if (rc) return rc;
    mt_session_set_deadline(l->sess, *id, deadline > 0 ? deadline : now + l->timeout);
    if (l->phase == P_DOWN) schedule(l, now, 0);
    return MT_OK;
}

int mt_link_set_deadline(mt_link *l, uint64_t id, double deadline)
{
    return mt_session_set_deadline(l->sess, id, deadline);
}

int mt_link_take(const mt_link *l, uint64_t id, const uint8_t **data, size_t *len, int32_t *code)
{
    return mt_session_take(l->sess, id, data, len, code);
}

void mt_link_release(mt_link *l, uint64_t id)
{
    mt_session_release(l->sess, id);
}

/* ---- the connection ---- */

static void ready(mt_link *l, double now)
{
    mt_session_new_connection(l->sess);
    l->phase = P_READY;
    l->want_until = 0;
    push_event(l, MT_LINK_EV_CONNECTED, 0, 0, 0, 0);
    llog(l, MT_LOG_INFO, "connected to %s (%s)", l->peer, mt_transport_kind_name(l->kind));
}

/* What a step of the handshake returned: more math to do (one piece per tick, so that a
 * host's loop gets control back between two 2048-bit modexps), the next plain message to
 * send, the key, or the error that ends it. */
static int handshake_result(mt_link *l, double now, int rc)
{
    double wall = now + l->wall_offset;
    l->auth_work = 0;
    if (rc < 0) {
        const char *why = mt_auth_client_error(l->auth);
        return dropf(l, now, 1, rc, "HANDSHAKE_FAILED", "%s", why && *why ? why : mt_strerror(rc));
    }
    if (rc == MT_AUTH_WORK) {
        l->auth_work = 1;
        l->work_at = now;
        return MT_OK;
    }
    if (rc == MT_AUTH_DONE) {
        uint8_t key[256];
        int64_t salt;
        int32_t off;
        rc = mt_auth_client_result(l->auth, key, &salt, &off);
        if (rc == MT_OK) rc = mt_session_set_key(l->sess, key, salt, off);
        mt_wipe(key, sizeof key);
        mt_auth_client_free(l->auth);
        l->auth = NULL;
        mt_buf_free(&l->body); /* the handshake's messages: nothing else uses it */
        if (rc) return dropf(l, now, 1, rc, "HANDSHAKE_FAILED", "%s", mt_strerror(rc));
        l->need_key = 0;
        llog(l, MT_LOG_INFO, "new auth key with %s", l->peer);
        push_event(l, MT_LINK_EV_KEY, 0, 0, 0, 0);
        ready(l, now);
        return MT_OK;
    }
    if ((rc = mt_plain_wrap(l->pkt, mt_msgid_next(&l->plain_gen, (int64_t)(wall * 1e9), 0), l->body.data, l->body.len)) == MT_OK)
        rc = mt_transport_encode(l->tr, l->pkt->data, l->pkt->len, &l->out);
    mt_scratch_done(l->pkt);
    if (rc != MT_OK) return dropf(l, now, 1, rc, "HANDSHAKE_FAILED", "%s", mt_strerror(rc));
    return MT_OK;
}

/* The server's answer (NULL at the start) into the handshake: parsing and checks only. */
static int handshake_step(mt_link *l, double now, const uint8_t *in, size_t inlen)
{
    l->body.len = 0;
    return handshake_result(l, now, mt_auth_client_input(l->auth, in, inlen, (int32_t)(now + l->wall_offset), &l->body));
}

/* One piece of the handshake's math. */
static void handshake_work(mt_link *l, double now)
{
    l->work_done++;
    handshake_result(l, now, mt_auth_client_work(l->auth, &l->body));
}

unsigned mt_link_work_done(const mt_link *l) { return l->work_done; }

/* After the TCP connect (and the pre-transport stage): the transport, then a handshake
 * when there is no key. */
static int start_transport(mt_link *l, double now)
{
    int rc = mt_transport_start(l->tr, &l->out);
    if (rc) return dropf(l, now, 0, rc, "NETWORK_ERROR", "transport start: %s", mt_strerror(rc));
    if (!l->need_key && mt_session_has_key(l->sess)) { ready(l, now); return MT_OK; }
    l->auth = mt_auth_client_new(l->keys, l->dc_id, l->expires_in, l->rnd.fn ? &l->rnd : NULL);
    if (!l->auth) return dropf(l, now, 1, MT_ERR_NOMEM, "HANDSHAKE_FAILED", "out of memory");
    mt_auth_client_split_modexp(l->auth, l->split_modexp);
    l->plain_gen = (mt_msgid_gen){ 0, 0 };
    l->phase = P_HANDSHAKE;
    /* the handshake may take longer than a TCP connect */
    l->attempt_deadline = now + (l->timeout > l->connect_timeout ? l->timeout : l->connect_timeout);
    return handshake_step(l, now, NULL, 0);
}

void mt_link_connected(mt_link *l, double now)
{
    if (l->phase != P_TCP) return;
    l->connections++;
    l->rx_conn = 0;
    /* the DC is reachable again: a loss from here on pauses the shortest time (not the
     * longest the outage reached); a good packet clears the count */
    if (l->failures > 1) l->failures = 1;
    /* padding and the obfuscated header draw from the session's CSPRNG pool */
    if (l->mtproxy) {
        l->tr = mt_transport_new_client(MT_TR_OBFUSCATED, l->mtproxy_inner, (int16_t)l->dc_id, mt_session_random(l->sess));
        if (l->tr && mt_transport_set_proxy(l->tr, l->mtproxy_secret, l->mtproxy_tls) != MT_OK) {
            mt_transport_free(l->tr);
            l->tr = NULL;
        }
    } else {
        l->tr = mt_transport_new_client(l->kind, 0, (int16_t)l->dc_id, mt_session_random(l->sess));
    }
    if (!l->tr) { dropf(l, now, 0, MT_ERR_NOMEM, "NETWORK_ERROR", "out of memory"); return; }
    l->out.len = 0;
    if (l->has_stage) {
        l->phase = P_STAGE;
        int rc = l->stage.start ? l->stage.start(l->stage.ud, &l->out) : MT_OK;
        if (rc) dropf(l, now, 0, rc, "NETWORK_ERROR", "proxy: %s", mt_strerror(rc));
        return;
    }
    start_transport(l, now);
}

/* The message of a proxy's refusal (these fail the calls: retrying cannot help), or NULL. */
static const char *proxy_error(int rc)
{
    int refusal = rc == MT_ERR_PROXY_AUTH || rc == MT_ERR_PROXY_REFUSED ||
                  rc == MT_ERR_PROXY_PROTO || rc == MT_ERR_PROXY_SECRET;
    return refusal ? mt_err_name(rc) : NULL;
}

static int transport_error(mt_link *l, double now, int32_t code)
{
    char msg[32];
    snprintf(msg, sizeof msg, "TRANSPORT_ERROR_%d", (int)(code < 0 ? -code : code));
    if (code == -404) l->need_key = 1;
    /* -404: a new key is made on the next connection and the calls are re-sent (a temporary
     * key: the calls fail, the caller binds a new key); other codes (-429 flood, -444 bad DC)
     * fail the calls waiting */
    return dropf(l, now, code != -404 || l->expires_in, MT_ERR_TRANSPORT, msg, "the server sent transport error %d%s", (int)code,
                 code == -404 ? " (auth key unknown)" : code == -429 ? " (too many connections or requests)"
                 : code == -444 ? " (invalid DC)" : "");
}

static int process_frames(mt_link *l, double now)
{
    unsigned epoch = l->epoch;
    while (l->epoch == epoch && (l->phase == P_HANDSHAKE || l->phase == P_READY)) {
        const uint8_t *p;
        size_t n;
        int32_t tcode = 0;
        int rc = mt_transport_next(l->tr, &p, &n, &tcode);
        if (rc == 0) return MT_OK;
        if (rc == MT_ERR_TRANSPORT) return transport_error(l, now, tcode);
        if (rc < 0) return dropf(l, now, 0, rc, "PROTOCOL_ERROR", "%s", mt_strerror(rc));
        if (l->phase == P_HANDSHAKE) {
            int64_t mid;
            const uint8_t *in;
            size_t inlen;
            if (mt_plain_unwrap(p, n, &mid, &in, &inlen) != MT_OK)
                return dropf(l, now, 1, MT_ERR_PROTO, "HANDSHAKE_FAILED", "the server's answer is not a plain message");
            if ((rc = handshake_step(l, now, in, inlen)) != MT_OK) return rc;
            continue;
        }
        if (n >= 8 && mt_le64(p) == 0) {
            llog(l, MT_LOG_WARN, "plain message outside the handshake dropped");
            continue;
        }
        rc = mt_session_receive(l->sess, p, n, now + l->wall_offset);
        collect(l);
        if (rc == MT_ERR_NOMEM) return dropf(l, now, 1, rc, "PROTOCOL_ERROR", "out of memory");
        if (rc == MT_OK) l->failures = 0;
        size_t owed = mt_session_acks_owed(l->sess);
        if (owed >= ACK_BATCH) l->want_acks = 1;
        else if (owed) l->ack_at = now + ACK_DELAY;
    }
    return MT_OK;
}

int mt_link_feed(mt_link *l, const uint8_t *p, size_t n, double now)
{
    if (l->phase < P_STAGE || !n) return MT_OK;
    l->rx_conn += n;
    if (l->phase == P_STAGE) {
        size_t used = 0;
        char detail[160] = "";
        int rc = l->stage.feed(l->stage.ud, p, n, &used, &l->out, detail);
        if (rc < 0) {
            const char *msg = proxy_error(rc);
            return dropf(l, now, msg != NULL, rc, msg ? msg : "NETWORK_ERROR", "proxy: %s", *detail ? detail : mt_strerror(rc));
        }
        if (rc == 0) return MT_OK;
        if (used > n) used = n;
        p += used; n -= used;
        if ((rc = start_transport(l, now)) != MT_OK || !n) return rc;
    }
    int rc = mt_transport_feed(l->tr, p, n);
    if (rc) return dropf(l, now, 0, rc, "PROTOCOL_ERROR", "%s", mt_strerror(rc));
    return process_frames(l, now);
}

int mt_link_want_write(const mt_link *l)
{
    if (l->out.len) return 1;
    return l->phase == P_READY && (mt_session_want_write(l->sess) || l->want_acks);
}

void mt_link_output(mt_link *l, double now, const uint8_t **p, size_t *n)
{
    if (l->phase == P_READY && l->out.len < OUT_SLICE &&
        (mt_session_want_write(l->sess) || l->want_acks)) {
        double wall = now + l->wall_offset;
        int with_acks = l->want_acks, rc;
        while ((rc = mt_session_pack(l->sess, wall, with_acks, l->pkt)) > 0) {
            rc = mt_transport_encode(l->tr, l->pkt->data, l->pkt->len, &l->out);
            mt_scratch_done(l->pkt);
            if (rc) break;
            with_acks = 0;
            if (l->out.len >= OUT_SLICE) break;
        }
        l->want_acks = 0;
        l->ack_at = 0;
        if (rc < 0) {
            /* a request that cannot be packed fails the connection's calls: nothing else would */
            dropf(l, now, 1, rc, "PROTOCOL_ERROR", "pack: %s", mt_strerror(rc));
        }
    }
    *p = l->out.data;
    *n = l->out.len;
}

void mt_link_written(mt_link *l, size_t n)
{
    if (n > l->out.len) n = l->out.len;
    mt_buf_consume(&l->out, n);
}

static int connection_error(const mt_link *l)
{
    return l->phase != P_READY && l->err_code != 0 && l->err_code != MT_ERR_TIMEOUT;
}

void mt_link_tick(mt_link *l, double now)
{
    /* calls past their deadline: TIMEOUT, or the error that kept them from being answered */
    if (mt_session_next_deadline(l->sess) > 0 && now >= mt_session_next_deadline(l->sess)) {
        int ce = connection_error(l);
        err_text t;
        if (mt_session_expire(l->sess, now, ce ? l->err_code : MT_ERR_TIMEOUT, ce ? err_text_of(l, &t) : "TIMEOUT"))
            collect(l);
    }
    switch (l->phase) {
    case P_BACKOFF:
        if (!mt_link_busy(l, now)) l->phase = P_DOWN;
        else if (now >= l->retry_at) start_attempt(l, now);
        break;
    case P_TCP: case P_STAGE: case P_HANDSHAKE:
        if (!mt_link_busy(l, now)) {
            /* nothing waits for this connection any more */
            mt_link_fail(l, MT_ERR_TIMEOUT, "TIMEOUT", "connecting to %s took too long", l->peer);
            close_connection(l);
            l->phase = P_DOWN;
        } else if (now >= l->attempt_deadline) {
            dropf(l, now, 0, MT_ERR_TIMEOUT, "TIMEOUT", "%s %s timed out",
                  l->phase == P_HANDSHAKE ? "handshake with" : "connect to", l->peer);
        } else if (l->phase == P_HANDSHAKE && l->auth_work) {
            handshake_work(l, now);
        }
        break;
    case P_READY:
        if (l->ack_at > 0 && now >= l->ack_at) { l->want_acks = mt_session_acks_owed(l->sess) > 0; l->ack_at = 0; }
        break;
    default:
        break;
    }
}

double mt_link_deadline(const mt_link *l)
{
    double d = HUGE_VAL, c = mt_session_next_deadline(l->sess);
    if (c > 0) d = c;
    switch (l->phase) {
    case P_BACKOFF: if (l->retry_at < d) d = l->retry_at; break;
    case P_TCP: case P_STAGE: case P_HANDSHAKE:
        if (l->attempt_deadline < d) d = l->attempt_deadline;
        if (l->phase == P_HANDSHAKE && l->auth_work && l->work_at < d) d = l->work_at;
        break;
    case P_READY: if (l->ack_at > 0 && l->ack_at < d) d = l->ack_at; break;
    default: break;
    }
    return d;
}
