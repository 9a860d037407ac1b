/* The accounts of the test DC and their updates: updates.getState, updates.getDifference,
 * messages.sendMessage, and the push timer (--push-updates N) with its gap fault
 * (--fault skip_pts=N).
 *
 * An account (a user id signed in on some key) is made when an update method or the push
 * timer first needs it. Each has pts, qts, seq and date,
 * as Telegram keeps them, and a log of its last TDC_UPD_LOG updates (all new messages, one
 * pts each), which updates.getDifference reads: from an older pts than the log holds it
 * answers differenceTooLong; more than --diff-slice updates come as differenceSlice.
 * Updates are pushed (msg_id 3 mod 4, a content message) to every connection whose key is
 * signed in as the account, except the session whose request caused them, which gets
 * the result instead (updateShortSentMessage), as Telegram does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tdc.h"
#include "mt_ids.h"

#define SERVICE_USER 777000     /* the sender of the pushed messages ("Telegram") */
#define TEXT_MAX 4096           /* message_length_max of help.getConfig */

/* ---- accounts ------------------------------------------------------------------ */

static tdc_account *account_find(tdc_server *srv, int64_t user_id)
{
    for (tdc_account *a = srv->accounts; a; a = a->next)
        if (a->user_id == user_id) return a;
    return NULL;
}

void tdc_accounts_free(tdc_server *srv)
{
    tdc_account *a = srv->accounts;
    while (a) {
        tdc_account *n = a->next;
        for (int i = 0; i < TDC_UPD_LOG; i++) free(a->log[i].text);
        free(a);
        a = n;
    }
    srv->accounts = NULL;
    srv->naccounts = 0;
}

/* The account of user_id, made when new; NULL when there are too many or out of memory. */
static tdc_account *account_get(tdc_server *srv, int64_t user_id, int64_t now_ms)
{
    tdc_account *a = account_find(srv, user_id);
    if (a) return a;
    if (srv->naccounts >= TDC_ACCOUNTS_MAX || !(a = calloc(1, sizeof *a))) return NULL;
    a->user_id = user_id;
    a->pts = 1;            /* an account without updates, as Telegram counts */
    a->seq = 1;
    a->date = (int32_t)(now_ms / 1000);
    a->next = srv->accounts;
    srv->accounts = a;
    srv->naccounts++;
    return a;
}

/* The logged update with this pts, or NULL when the log no longer (or never) held it. */
static tdc_upd *logged(tdc_account *a, int32_t pts)
{
    if (pts <= 1 || pts > a->pts || a->pts - pts >= TDC_UPD_LOG) return NULL;
    tdc_upd *u = &a->log[pts % TDC_UPD_LOG];
    return u->pts == pts ? u : NULL;
}

/* Logs a new message of the account (pts + 1); returns it, or NULL on allocation failure. */
static tdc_upd *add_message(tdc_account *a, int64_t peer, int out, const uint8_t *text, size_t n, int32_t date)
{
    char *t = malloc(n + 1);
    if (!t) return NULL;
    memcpy(t, text, n);
    t[n] = 0;
    tdc_upd *u = &a->log[(a->pts + 1) % TDC_UPD_LOG];
    free(u->text);
    a->pts++;
    if (date > a->date) a->date = date;
    *u = (tdc_upd){ .pts = a->pts, .date = date, .id = ++a->last_msg_id, .peer = peer, .out = out,
                    .text = t, .len = n };
    return u;
}

/* ---- encoding ------------------------------------------------------------------- */

static void put_peer_user(mt_buf *out, int64_t id)
{
    mt_buf_put_u32(out, MT_ID_PEER_USER);
    mt_buf_put_i64(out, id);
}

/* message#3ae56482 of a private chat (no from_id: the peer says who) */
static void put_message(mt_buf *out, const tdc_upd *u)
{
    mt_buf_put_u32(out, MT_ID_MESSAGE);
    mt_buf_put_u32(out, u->out ? 2u : 0u);      /* flags: out */
    mt_buf_put_u32(out, 0);                     /* flags2 */
    mt_buf_put_i32(out, u->id);
    put_peer_user(out, u->peer);
    mt_buf_put_i32(out, u->date);
    mt_buf_put_tlbytes(out, u->text, u->len);
}

static void put_state(mt_buf *out, int32_t pts, int32_t qts, int32_t date, int32_t seq)
{
    mt_buf_put_u32(out, MT_ID_UPDATES_STATE);
    mt_buf_put_i32(out, pts);
    mt_buf_put_i32(out, qts);
    mt_buf_put_i32(out, date);
    mt_buf_put_i32(out, seq);
    mt_buf_put_i32(out, 0);                     /* unread_count */
}

/* The users a list of updates names: the service user, the account itself, other accounts. */
static void put_users(mt_buf *out, int layer, const tdc_account *a, tdc_upd *const *us, int n, int64_t now)
{
    int64_t ids[TDC_UPD_LOG];
    int k = 0;
    for (int i = 0; i < n; i++) {
        int dup = 0;
        for (int j = 0; j < k; j++) dup |= ids[j] == us[i]->peer;
        if (!dup) ids[k++] = us[i]->peer;
    }
    mt_buf_put_u32(out, MT_ID_VECTOR);
    mt_buf_put_u32(out, (uint32_t)k);
    for (int j = 0; j < k; j++) {
        tdc_user_desc d = { .id = ids[j], .first_name = ids[j] == SERVICE_USER ? "Telegram" : "Test",
                            .self = ids[j] == a->user_id };
        tdc_put_user(out, layer, &d, now);
    }
}

/* updateShortMessage for an update of the log */
static void put_short_message(mt_buf *out, const tdc_upd *u)
{
    mt_buf_put_u32(out, MT_ID_UPDATE_SHORT_MESSAGE);
    mt_buf_put_u32(out, u->out ? 2u : 0u);
    mt_buf_put_i32(out, u->id);
    mt_buf_put_i64(out, u->peer);
    mt_buf_put_tlbytes(out, u->text, u->len);
    mt_buf_put_i32(out, u->pts);
    mt_buf_put_i32(out, 1);                     /* pts_count */
    mt_buf_put_i32(out, u->date);
}

/* updates#74ae4240 { updateNewMessage } with the users it names, taking the next seq */
static void put_updates_one(mt_buf *out, tdc_account *a, tdc_upd *u, int64_t now)
{
    mt_buf_put_u32(out, MT_ID_UPDATES);
    mt_buf_put_u32(out, MT_ID_VECTOR);
    mt_buf_put_u32(out, 1);
    mt_buf_put_u32(out, MT_ID_UPDATE_NEW_MESSAGE);
    put_message(out, u);
    mt_buf_put_i32(out, u->pts);
    mt_buf_put_i32(out, 1);
    put_users(out, MT_LAYER, a, &u, 1, now);
    mt_buf_put_u32(out, MT_ID_VECTOR);
    mt_buf_put_u32(out, 0);                     /* chats */
    mt_buf_put_i32(out, u->date);
    mt_buf_put_i32(out, ++a->seq);
}

/* ---- pushing ------------------------------------------------------------------------- */

/* Sends `body` to every connection signed in as the account, except session `skip`
 * (0: none). Returns how many got it. */
static int push(tdc_server *srv, const tdc_account *a, const mt_buf *body, int64_t skip, int64_t real_ms)
{
    int n = 0;
    if (body->oom) return 0;
    for (tdc_conn *c = srv->conns; c; c = tdc_conn_next(c)) {
        const tdc_key *k = tdc_conn_account(c);
        if (!k || k->user_id != a->user_id || (skip && tdc_conn_session_id(c) == skip)) continue;
        if (tdc_conn_push(c, body->data, body->len, real_ms) > 0) n++;
    }
    return n;
}

/* The push timer: one new message from the service user for every account that has a
 * connection, as updateShortMessage or updates (alternately); under skip_pts=N every Nth
 * is logged but not pushed, which leaves a gap for the client to find. */
void tdc_updates_tick(tdc_server *srv, int64_t real_ms)
{
    int64_t now_ms = tdc_server_ms(srv, real_ms), now = now_ms / 1000;
    unsigned tick = ++srv->ticks;
    for (tdc_conn *c = srv->conns; c; c = tdc_conn_next(c)) {
        const tdc_key *k = tdc_conn_account(c);
        if (!k || !k->user_id || !tdc_conn_session_id(c)) continue;
        tdc_account *a = account_get(srv, k->user_id, now_ms);
        if (!a || a->tick == tick) continue;      /* one update per account and round */
        a->tick = tick;
        char text[32];
        int tn = snprintf(text, sizeof text, "update %u", a->made + 1);
        tdc_upd *u = add_message(a, SERVICE_USER, 0, (const uint8_t *)text, (size_t)tn, (int32_t)now);
        if (!u) return;
        a->made++;
        mt_buf b;
        mt_buf_init(&b);
        if (a->made % 2) put_short_message(&b, u);
        else put_updates_one(&b, a, u, now);
        int skip = srv->cfg.faults.skip_pts > 0 && a->made % (unsigned)srv->cfg.faults.skip_pts == 0;
        if (skip) {
            tdc_log(srv, 1, "push to user %lld: pts %d skipped (skip_pts)", (long long)a->user_id, (int)u->pts);
        } else {
            int sent = push(srv, a, &b, 0, real_ms);
            tdc_log(srv, 1, "push to user %lld: pts %d to %d connections", (long long)a->user_id, (int)u->pts, sent);
        }
        mt_buf_free(&b);
    }
}

/* ---- methods ---------------------------------------------------------------------------- */

/* The account the key of the call is signed in as, or NULL after 401 (500: too many). */
static tdc_account *account_of(tdc_call *c)
{
    if (!c->key || !c->key->user_id) return tdc_fail(c, 401, "AUTH_KEY_UNREGISTERED"), NULL;
    tdc_account *a = account_get(c->srv, c->key->user_id, c->now_ms);
    if (!a) tdc_fail(c, 500, "INTERNAL_SERVER_ERROR");
    return a;
}

/* Not signed in: 401 AUTH_KEY_UNREGISTERED, as Telegram answers: clients (GramJS, mtcute) call
 * it to learn whether their key is signed in. */
static int m_get_state(tdc_call *c)
{
    tdc_account *a = account_of(c);
    if (!a) return 0;
    int32_t now = (int32_t)(c->now_ms / 1000);
    put_state(c->out, a->pts, a->qts, now > a->date ? now : a->date, a->seq);
    return 1;
}

static int m_get_difference(tdc_call *c, mt_reader *r)
{
    mt_buf *out = c->out;
    uint32_t flags = mt_rd_u32(r);
    int32_t pts = mt_rd_i32(r), total_limit = -1;
    if (flags & 2) mt_rd_i32(r);                        /* pts_limit */
    if (flags & 1) total_limit = mt_rd_i32(r);
    mt_rd_i32(r);                                       /* date */
    mt_rd_i32(r);                                       /* qts */
    if (r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    tdc_account *a = account_of(c);
    if (!a) return 0;
    int32_t now = (int32_t)(c->now_ms / 1000);
    if (pts <= 0) return tdc_fail(c, 400, "PERSISTENT_TIMESTAMP_INVALID");
    if (pts >= a->pts) {
        mt_buf_put_u32(out, MT_ID_UPDATES_DIFFERENCE_EMPTY);
        mt_buf_put_i32(out, now > a->date ? now : a->date);
        mt_buf_put_i32(out, a->seq);
        return 1;
    }
    if ((total_limit > 0 && a->pts - pts > total_limit) || !logged(a, pts + 1)) {
        mt_buf_put_u32(out, MT_ID_UPDATES_DIFFERENCE_TOO_LONG);
        mt_buf_put_i32(out, a->pts);
        return 1;
    }
    int slice = c->srv->cfg.diff_slice > 0 ? c->srv->cfg.diff_slice : TDC_UPD_LOG;
    int n = a->pts - pts < slice ? a->pts - pts : slice;
    tdc_upd *us[TDC_UPD_LOG];
    for (int i = 0; i < n; i++) us[i] = logged(a, pts + 1 + i);
    int last = n == a->pts - pts;
    mt_buf_put_u32(out, last ? MT_ID_UPDATES_DIFFERENCE : MT_ID_UPDATES_DIFFERENCE_SLICE);
    mt_buf_put_u32(out, MT_ID_VECTOR);
    mt_buf_put_u32(out, (uint32_t)n);
    for (int i = 0; i < n; i++) put_message(out, us[i]);
    mt_buf_put_u32(out, MT_ID_VECTOR);
    mt_buf_put_u32(out, 0);                             /* new_encrypted_messages */
    mt_buf_put_u32(out, MT_ID_VECTOR);
    mt_buf_put_u32(out, 0);                             /* other_updates */
    mt_buf_put_u32(out, MT_ID_VECTOR);
    mt_buf_put_u32(out, 0);                             /* chats */
    put_users(out, c->layer, a, us, n, now);
    if (last) put_state(out, a->pts, a->qts, now > a->date ? now : a->date, a->seq);
    else put_state(out, us[n - 1]->pts, a->qts, us[n - 1]->date, a->seq);
    return 1;
}

/* messages.sendMessage to the account itself or to a user: updateShortSentMessage back,
 * updateShortMessage pushed to the sender's other sessions and, when the peer is an account
 * of this DC, to the peer's. Optional parts before `message` (reply_to) are not supported. */
static int m_send_message(tdc_call *c, mt_reader *r)
{
    mt_buf *out = c->out;
    uint32_t flags = mt_rd_u32(r);
    uint32_t peer_id = mt_rd_u32(r);
    int64_t peer = 0;
    if (peer_id == MT_ID_INPUT_PEER_USER) { peer = mt_rd_i64(r); mt_rd_i64(r); }
    const uint8_t *text = NULL; size_t n = 0;
    if (!(flags & 1)) mt_rd_tlbytes(r, &text, &n);
    mt_rd_i64(r);                                       /* random_id */
    if (r->err || (flags & 1)) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    tdc_account *a = account_of(c);
    if (!a) return 0;
    if (peer_id == MT_ID_INPUT_PEER_SELF) peer = a->user_id;
    else if (peer_id != MT_ID_INPUT_PEER_USER || peer <= 0) return tdc_fail(c, 400, "PEER_ID_INVALID");
    if (n == 0) return tdc_fail(c, 400, "MESSAGE_EMPTY");
    if (n > TEXT_MAX) return tdc_fail(c, 400, "MESSAGE_TOO_LONG");
    int32_t now = (int32_t)(c->now_ms / 1000);
    tdc_upd *u = add_message(a, peer, 1, text, n, now);
    if (!u) return tdc_fail(c, 500, "INTERNAL_SERVER_ERROR");
    /* pushes carry msg_ids of the real clock (the server's minus the clock_offset fault) */
    int64_t real_ms = c->now_ms - c->srv->cfg.faults.clock_offset * 1000;
    mt_buf b;
    mt_buf_init(&b);
    put_short_message(&b, u);
    push(c->srv, a, &b, c->sess ? c->sess->session_id : 0, real_ms);
    /* the peer, when it is a signed-in account of this DC, gets it as an incoming message */
    tdc_account *to = NULL;
    for (tdc_conn *k = c->srv->conns; k && peer != a->user_id && !to; k = tdc_conn_next(k))
        if (tdc_conn_account(k) && tdc_conn_account(k)->user_id == peer) to = account_get(c->srv, peer, c->now_ms);
    if (!to && peer != a->user_id) to = account_find(c->srv, peer);
    if (to) {
        tdc_upd *v = add_message(to, a->user_id, 0, text, n, now);
        b.len = 0;
        if (v) { put_short_message(&b, v); push(c->srv, to, &b, 0, real_ms); }
    }
    mt_buf_free(&b);
    mt_buf_put_u32(out, MT_ID_UPDATE_SHORT_SENT_MESSAGE);
    mt_buf_put_u32(out, 2u);                            /* flags: out */
    mt_buf_put_i32(out, u->id);
    mt_buf_put_i32(out, u->pts);
    mt_buf_put_i32(out, 1);
    mt_buf_put_i32(out, u->date);
    return 1;
}

int tdc_updates_answer(tdc_call *c, uint32_t id, mt_reader *r)
{
    switch (id) {
    case MT_ID_UPDATES_GET_STATE: return m_get_state(c);
    case MT_ID_UPDATES_GET_DIFFERENCE: return m_get_difference(c, r);
    case MT_ID_MESSAGES_SEND_MESSAGE: return m_send_message(c, r);
    default: return TDC_NOT_MINE;
    }
}
