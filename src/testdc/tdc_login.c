/* The login states of the test DC: every auth.* login method, the login-email methods of
 * account.*, future auth tokens, QR login tokens, and who is signed in on each auth key.
 *
 * Test numbers are 99966XKYYY. X is their DC (another DC answers 303 PHONE_MIGRATE_X) and
 * every code of the number (SMS, email, email setup) is X repeated five times; every other
 * valid number uses 12345. K, the 7th digit, picks the path:
 *   0 1 5 9  ordinary: App -> Sms -> Call -> FlashCall, then SEND_CODE_UNAVAILABLE
 *   2        password account (two-step verification, tdc_password.c): the right code answers
 *            401 SESSION_PASSWORD_NEEDED, then account.getPassword and auth.checkPassword with
 *            the password "testpass", or auth.requestPasswordRecovery and auth.recoverPassword
 *            with the number's code (so does a QR token such an account accepted)
 *   3        unregistered: auth.signIn answers auth.authorizationSignUpRequired (with terms of
 *            service), then auth.signUp (FIRSTNAME_INVALID for an empty or long name)
 *   4        email setup required (sentCodeTypeSetUpEmailRequired): account.sendVerifyEmailCode
 *            (EMAIL_INVALID), account.verifyEmail (CODE_INVALID), whose sent_code asks for the
 *            email code (sentCodeTypeEmailCode), then auth.signIn with email_verification
 *   6        email code (sentCodeTypeEmailCode, reset_available_period = --resend-timeout):
 *            auth.signIn with email_verification (EMAIL_CODE_INVALID), or auth.resetLoginEmail:
 *            the reset is pending that long (reset_pending_date), then the code goes by SMS
 *   7        paid number: auth.sentCodePaymentRequired
 *   8        missed call first (sentCodeTypeMissedCall: prefix and length), then Sms ...
 * Every auth.authorization and auth.loggedOut carries a future_auth_token; auth.sendCode with
 * one of the number's tokens in settings.logout_tokens answers auth.sentCodeSuccess.
 * QR login: auth.exportLoginToken gives a token valid --qr-lifetime seconds; a signed-in key
 * accepts it (auth.acceptLoginToken), or the --qr-auto-accept account does at once; the
 * exporting session is then sent updateLoginToken, and its next export answers
 * loginTokenSuccess, or loginTokenMigrateTo when the account lives on another DC (then
 * auth.importLoginToken there). Methods that need a signed-in key answer AUTH_KEY_UNREGISTERED. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tdc.h"
#include "mt_ids.h"

/* ids of older layers, not in schema/ (clients of those layers still call the test DC) */
enum {
    ID_RESEND_CODE_OLD = 0x3ef1a9bfu, /* auth.resendCode before the reason parameter */
    ID_USER_L198 = 0x4b46c37eu,       /* user: the same fields up to flags2.5 */
};

enum { KIND_PASSWORD = 2, KIND_SIGN_UP = 3, KIND_EMAIL_SETUP = 4, KIND_EMAIL_CODE = 6, KIND_PAID = 7, KIND_MISSED_CALL = 8 };

/* ---- phone numbers -------------------------------------------------------- */

/* Normalises "+15550001111" to digits; 0 on success, -1 when not 5..15 digits. */
static int phone_norm(const uint8_t *p, size_t n, char out[TDC_PHONE_MAX + 1])
{
    if (n && p[0] == '+') { p++; n--; }
    if (n < 5 || n > TDC_PHONE_MAX) return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        out[i] = (char)p[i];
    }
    out[n] = 0;
    return 0;
}

/* The DC of a test number 99966XKYYY, or 0 for an ordinary number. */
static int test_dc(const char *phone)
{
    if (strlen(phone) != 10 || memcmp(phone, "99966", 5) != 0) return 0;
    return phone[5] - '0';
}

/* K of a test number 99966XKYYY, or 0. */
static int test_kind(const char *phone)
{
    return test_dc(phone) ? phone[6] - '0' : 0;
}

static void login_code(const char *phone, char code[TDC_CODE_LEN + 1])
{
    int x = test_dc(phone);
    if (x > 0) memset(code, '0' + x, TDC_CODE_LEN);
    else memcpy(code, "12345", TDC_CODE_LEN);
    code[TDC_CODE_LEN] = 0;
}

int tdc_code_ok(const char *phone, const uint8_t *code, size_t n)
{
    char want[TDC_CODE_LEN + 1];
    login_code(phone, want);
    return n == TDC_CODE_LEN && memcmp(code, want, TDC_CODE_LEN) == 0;
}

int tdc_is_password_account(const char *phone)
{
    return test_kind(phone) == KIND_PASSWORD;
}

static int64_t phone_id(const char *phone)
{
    return strtoll(phone, NULL, 10) % 1000000000000ll + 1;
}

/* ---- answers ----------------------------------------------------------------- */

static void put_sent_code(const tdc_server *srv, const tdc_login *l, mt_buf *out)
{
    if (l->email == TDC_EMAIL_SETUP || l->email == TDC_EMAIL_SETUP_SENT) {
        mt_buf_put_u32(out, MT_ID_AUTH_SENT_CODE);
        mt_buf_put_u32(out, 0);
        mt_buf_put_u32(out, MT_ID_AUTH_SENT_CODE_TYPE_SET_UP_EMAIL_REQUIRED);
        mt_buf_put_u32(out, 1u);                           /* apple_signin_allowed */
        mt_buf_put_tlbytes(out, l->hash, TDC_HASH_LEN);
        return;
    }
    if (l->email == TDC_EMAIL_CODE) {
        int first = test_kind(l->phone) == KIND_EMAIL_CODE;  /* a reset is offered on the first email */
        uint32_t flags = 2u;                               /* google_signin_allowed */
        if (first && !l->reset_ms) flags |= 8u;
        if (l->reset_ms) flags |= 16u;
        mt_buf_put_u32(out, MT_ID_AUTH_SENT_CODE);
        mt_buf_put_u32(out, 0);
        mt_buf_put_u32(out, MT_ID_AUTH_SENT_CODE_TYPE_EMAIL_CODE);
        mt_buf_put_u32(out, flags);
        tdc_put_str(out, l->email_addr[0] ? "t***@example.com" : "u***@example.com");
        mt_buf_put_i32(out, TDC_CODE_LEN);
        if (flags & 8u) mt_buf_put_i32(out, srv->cfg.resend_timeout);
        if (flags & 16u) mt_buf_put_i32(out, (int32_t)(l->reset_ms / 1000));
        mt_buf_put_tlbytes(out, l->hash, TDC_HASH_LEN);
        return;
    }
    static const uint32_t next_ids[] = { MT_ID_AUTH_CODE_TYPE_SMS, MT_ID_AUTH_CODE_TYPE_CALL, MT_ID_AUTH_CODE_TYPE_FLASH_CALL };
    int has_next = l->step < 3;
    mt_buf_put_u32(out, MT_ID_AUTH_SENT_CODE);
    mt_buf_put_u32(out, has_next ? (2u | 4u) : 0u);
    switch (l->step) {
    case 0:
        if (test_kind(l->phone) == KIND_MISSED_CALL) {
            /* the code is the last `length` digits of the number that calls */
            mt_buf_put_u32(out, MT_ID_AUTH_SENT_CODE_TYPE_MISSED_CALL);
            tdc_put_str(out, "+99966");
        } else {
            mt_buf_put_u32(out, MT_ID_AUTH_SENT_CODE_TYPE_APP);
        }
        mt_buf_put_i32(out, TDC_CODE_LEN);
        break;
    case 1: mt_buf_put_u32(out, MT_ID_AUTH_SENT_CODE_TYPE_SMS); mt_buf_put_i32(out, TDC_CODE_LEN); break;
    case 2: mt_buf_put_u32(out, MT_ID_AUTH_SENT_CODE_TYPE_CALL); mt_buf_put_i32(out, TDC_CODE_LEN); break;
    default: {
        /* the calling number's pattern: "+" and the first four digits (of at least five), then *** */
        char pat[8];
        pat[0] = '+';
        memcpy(pat + 1, l->phone, 4);
        memcpy(pat + 5, "***", 3);
        mt_buf_put_u32(out, MT_ID_AUTH_SENT_CODE_TYPE_FLASH_CALL);
        mt_buf_put_tlbytes(out, pat, sizeof pat);
    }
    }
    mt_buf_put_tlbytes(out, l->hash, TDC_HASH_LEN);
    if (has_next) {
        mt_buf_put_u32(out, next_ids[l->step]);
        mt_buf_put_i32(out, srv->cfg.resend_timeout);
    }
}

/* user#31774388 for the signed-in account or bot (layer 223). */
void tdc_put_user(mt_buf *out, int layer, const tdc_user_desc *u, int64_t now)
{
    uint32_t flags = 1u | 2u | (1u << 6);                  /* access_hash, first_name, status */
    if (u->self) flags |= 1u << 10;
    if (u->phone) flags |= 1u << 4;
    if (u->username) flags |= (1u << 3) | (1u << 14);      /* bot: bot_info_version is flags.14 too */
    mt_buf_put_u32(out, layer >= 223 ? MT_ID_USER : ID_USER_L198);
    mt_buf_put_u32(out, flags);
    mt_buf_put_u32(out, 0);                                /* flags2 */
    mt_buf_put_i64(out, u->id);
    mt_buf_put_i64(out, (int64_t)0x5eed5eed5eedull ^ u->id);  /* access_hash */
    tdc_put_str(out, u->first_name);
    if (u->username) tdc_put_str(out, u->username);
    if (u->phone) tdc_put_str(out, u->phone);
    mt_buf_put_u32(out, MT_ID_USER_STATUS_ONLINE);
    mt_buf_put_i32(out, (int32_t)(now + 300));
    if (u->username) mt_buf_put_i32(out, 1);               /* bot_info_version */
}

void tdc_put_update_login_token(mt_buf *out, int64_t now_s)
{
    mt_buf_put_u32(out, MT_ID_UPDATE_SHORT);
    mt_buf_put_u32(out, MT_ID_UPDATE_LOGIN_TOKEN);
    mt_buf_put_i32(out, (int32_t)now_s);
}

/* ---- future auth tokens ------------------------------------------------------- */

/* A new token for `phone`, remembered (the oldest is forgotten) and appended as TL bytes. */
static void put_future_token(tdc_call *c, const char *phone)
{
    tdc_future *f = &c->srv->future[c->srv->future_next++ % TDC_FUTURE_MAX];
    if (mt_random_fill(&c->srv->rnd, f->token, TDC_TOKEN_LEN) < 0) memset(f->token, 0, TDC_TOKEN_LEN);
    snprintf(f->phone, sizeof f->phone, "%s", phone);
    mt_buf_put_tlbytes(c->out, f->token, TDC_TOKEN_LEN);
}

static int future_valid(tdc_server *srv, const char *phone, const uint8_t *tok, size_t n)
{
    if (n != TDC_TOKEN_LEN) return 0;
    for (int i = 0; i < TDC_FUTURE_MAX; i++)
        if (srv->future[i].phone[0] && !strcmp(srv->future[i].phone, phone) &&
            !memcmp(srv->future[i].token, tok, TDC_TOKEN_LEN)) return 1;
    return 0;
}

/* ---- signing in ------------------------------------------------------------------ */

/* The key is now signed in as the account of `phone` (named first_name): auth.authorization
 * with a future auth token. */
int tdc_signed_in(tdc_call *c, const char *phone, const char *first_name)
{
    c->key->user_id = phone_id(phone);
    snprintf(c->key->phone, sizeof c->key->phone, "%s", phone);
    mt_buf_put_u32(c->out, MT_ID_AUTH_AUTHORIZATION);
    mt_buf_put_u32(c->out, 4u);                            /* future_auth_token */
    put_future_token(c, phone);
    tdc_user_desc u = { .id = phone_id(phone), .first_name = first_name, .phone = phone, .self = 1 };
    tdc_put_user(c->out, c->layer, &u, c->now_ms / 1000);
    return 1;
}

/* Checks the number: invalid -> 400, a test number of another DC -> 303. 1 when fine. */
static int check_phone(tdc_call *c, const uint8_t *p, size_t n, char phone[TDC_PHONE_MAX + 1])
{
    if (phone_norm(p, n, phone) < 0) return tdc_fail(c, 400, "PHONE_NUMBER_INVALID"), 0;
    int x = test_dc(phone);
    if (x != 0 && (x < 1 || x > c->srv->cfg.ndcs)) return tdc_fail(c, 400, "PHONE_NUMBER_INVALID"), 0;
    if (x != 0 && x != c->dc) {
        char m[32];
        snprintf(m, sizeof m, "PHONE_MIGRATE_%d", x);
        return tdc_fail(c, 303, m), 0;
    }
    return 1;
}

/* The login a (phone, hash) pair names, or NULL after answering the error. */
static tdc_login *find_login(tdc_call *c, const char *phone, const uint8_t *h, size_t hn)
{
    if (hn == 0) return tdc_fail(c, 400, "PHONE_CODE_HASH_EMPTY"), NULL;
    tdc_login *l = tdc_logins_find(&c->srv->logins, (const char *)h, hn);
    int64_t life = (int64_t)c->srv->cfg.code_lifetime * 1000;
    if (l && c->now_ms - l->sent_ms > life) {
        tdc_logins_remove(&c->srv->logins, l);
        l = NULL;
    }
    if (!l || strcmp(l->phone, phone) != 0) return tdc_fail(c, 400, "PHONE_CODE_EXPIRED"), NULL;
    return l;
}

/* Reads phone_number and phone_code_hash and finds the login; NULL after answering. */
static tdc_login *read_login(tdc_call *c, mt_reader *r, char phone[TDC_PHONE_MAX + 1])
{
    const uint8_t *p, *h; size_t n, hn;
    mt_rd_tlbytes(r, &p, &n);
    mt_rd_tlbytes(r, &h, &hn);
    if (r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID"), NULL;
    if (hn == 0) return tdc_fail(c, 400, "PHONE_CODE_HASH_EMPTY"), NULL;
    if (!check_phone(c, p, n, phone)) return NULL;
    return find_login(c, phone, h, hn);
}

/* ---- the code ------------------------------------------------------------------ */

static int m_send_code(tdc_call *c, mt_reader *r)
{
    const uint8_t *p, *s; size_t n, sn;
    if (mt_rd_tlbytes(r, &p, &n) < 0) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    mt_rd_u32(r);                                          /* api_id */
    mt_rd_tlbytes(r, &s, &sn);                             /* api_hash */
    /* codeSettings: only logout_tokens (flags.6) matters here */
    const uint8_t *tokens = NULL;
    uint32_t ntokens = 0;
    if (mt_rd_u32(r) != MT_ID_CODE_SETTINGS) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    uint32_t flags = mt_rd_u32(r);
    if (flags & (1u << 6)) {
        if (mt_rd_u32(r) != MT_ID_VECTOR) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
        ntokens = mt_rd_u32(r);
        if (ntokens > mt_rd_left(r) / 4) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
        tokens = r->p + r->pos;
        for (uint32_t i = 0; i < ntokens; i++) mt_rd_tlbytes(r, &s, &sn);
    }
    if (r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    char phone[TDC_PHONE_MAX + 1];
    if (!check_phone(c, p, n, phone)) return 0;
    if (tokens) {
        mt_reader tr;
        mt_rd_init(&tr, tokens, (size_t)(r->p + r->pos - tokens));
        for (uint32_t i = 0; i < ntokens; i++) {
            if (mt_rd_tlbytes(&tr, &s, &sn) < 0) break;
            if (future_valid(c->srv, phone, s, sn)) {
                mt_buf_put_u32(c->out, MT_ID_AUTH_SENT_CODE_SUCCESS);
                return tdc_signed_in(c, phone, "Test");
            }
        }
    }
    tdc_login *l = tdc_logins_add(&c->srv->logins, phone, c->now_ms,
                                  (int64_t)c->srv->cfg.code_lifetime * 1000, &c->srv->rnd);
    if (!l) return tdc_fail(c, 500, "INTERNAL_SERVER_ERROR");
    int kind = test_kind(phone);
    if (kind == KIND_PAID) {
        mt_buf_put_u32(c->out, MT_ID_AUTH_SENT_CODE_PAYMENT_REQUIRED);
        tdc_put_str(c->out, "org.telegram.test.login_premium");
        mt_buf_put_tlbytes(c->out, l->hash, TDC_HASH_LEN);
        tdc_put_str(c->out, "login@example.com");
        tdc_put_str(c->out, "Test login");
        tdc_put_str(c->out, "USD");
        mt_buf_put_i64(c->out, 499);
        return 1;
    }
    if (kind == KIND_EMAIL_SETUP) l->email = TDC_EMAIL_SETUP;
    if (kind == KIND_EMAIL_CODE) l->email = TDC_EMAIL_CODE;
    put_sent_code(c->srv, l, c->out);
    return 1;
}

/* 1 when this resendCode is one too many for the hash within a second. */
static int flooded(tdc_call *c, tdc_login *l, int *wait_s)
{
    int lim = c->srv->cfg.flood_limit;
    if (lim <= 0) return 0;
    if (lim > TDC_FLOOD_MAX) lim = TDC_FLOOD_MAX;
    if (l->ncalls >= (unsigned)lim) {
        int64_t oldest = l->calls[(l->ncalls - (unsigned)lim) % TDC_FLOOD_MAX];
        if (c->now_ms - oldest < 1000) {
            *wait_s = (int)((1000 - (c->now_ms - oldest) + 999) / 1000);
            if (*wait_s < 1) *wait_s = 1;
            return 1;
        }
    }
    l->calls[l->ncalls++ % TDC_FLOOD_MAX] = c->now_ms;
    return 0;
}

static int m_resend_code(tdc_call *c, mt_reader *r, int has_flags)
{
    uint32_t flags = has_flags ? mt_rd_u32(r) : 0;
    const uint8_t *p, *h, *reason; size_t n, hn, rn;
    mt_rd_tlbytes(r, &p, &n);
    mt_rd_tlbytes(r, &h, &hn);
    if (flags & 1) mt_rd_tlbytes(r, &reason, &rn);
    if (r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    if (hn == 0) return tdc_fail(c, 400, "PHONE_CODE_HASH_EMPTY");
    char phone[TDC_PHONE_MAX + 1];
    if (!check_phone(c, p, n, phone)) return 0;
    tdc_login *l = find_login(c, phone, h, hn);
    if (!l) return 0;
    int wait_s;
    if (flooded(c, l, &wait_s)) {
        char m[32];
        snprintf(m, sizeof m, "FLOOD_WAIT_%d", wait_s);
        return tdc_fail(c, 420, m);
    }
    if (l->step >= 3 || l->email != TDC_EMAIL_NONE) return tdc_fail(c, 406, "SEND_CODE_UNAVAILABLE");
    l->step++;
    l->sent_ms = c->now_ms;
    put_sent_code(c->srv, l, c->out);
    return 1;
}

static int m_sign_in(tdc_call *c, mt_reader *r)
{
    uint32_t flags = mt_rd_u32(r);
    const uint8_t *p, *h, *code = NULL, *ecode = NULL; size_t n, hn, cn = 0, en = 0;
    mt_rd_tlbytes(r, &p, &n);
    mt_rd_tlbytes(r, &h, &hn);
    if (flags & 1) mt_rd_tlbytes(r, &code, &cn);
    if (flags & 2) {
        /* email_verification: only emailVerificationCode is offered here */
        if (mt_rd_u32(r) != MT_ID_EMAIL_VERIFICATION_CODE) return tdc_fail(c, 400, "EMAIL_VERIFICATION_INVALID");
        mt_rd_tlbytes(r, &ecode, &en);
    }
    if (r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    if (hn == 0) return tdc_fail(c, 400, "PHONE_CODE_HASH_EMPTY");
    char phone[TDC_PHONE_MAX + 1];
    if (!check_phone(c, p, n, phone)) return 0;
    tdc_login *l = find_login(c, phone, h, hn);
    if (!l) return 0;
    if (l->email == TDC_EMAIL_CODE) {
        if (!ecode || !tdc_code_ok(phone, ecode, en)) return tdc_fail(c, 400, "EMAIL_CODE_INVALID");
    } else if (l->email != TDC_EMAIL_NONE) {
        return tdc_fail(c, 400, "EMAIL_SETUP_REQUIRED");
    } else {
        if (!(flags & 1) || cn == 0) return tdc_fail(c, 400, "PHONE_CODE_EMPTY");
        if (!tdc_code_ok(phone, code, cn)) return tdc_fail(c, 400, "PHONE_CODE_INVALID");
    }
    if (test_kind(phone) == KIND_SIGN_UP) {
        l->verified = 1;
        mt_buf_put_u32(c->out, MT_ID_AUTH_AUTHORIZATION_SIGN_UP_REQUIRED);
        mt_buf_put_u32(c->out, 1u);                        /* terms_of_service */
        mt_buf_put_u32(c->out, MT_ID_HELP_TERMS_OF_SERVICE);
        mt_buf_put_u32(c->out, 1u | 2u);                   /* popup, min_age_confirm */
        mt_buf_put_u32(c->out, MT_ID_DATA_JSON);
        tdc_put_str(c->out, "{\"id\":\"test-tos-1\"}");
        tdc_put_str(c->out, "The test DC's terms of service: nothing here is real.");
        mt_buf_put_u32(c->out, MT_ID_VECTOR);
        mt_buf_put_u32(c->out, 0);                         /* entities */
        mt_buf_put_i32(c->out, 16);                        /* min_age_confirm */
        return 1;
    }
    tdc_logins_remove(&c->srv->logins, l);
    if (test_kind(phone) == KIND_PASSWORD) return tdc_password_needed(c, phone);
    return tdc_signed_in(c, phone, "Test");
}

static int m_sign_up(tdc_call *c, mt_reader *r)
{
    mt_rd_u32(r);                                          /* flags: no_joined_notifications */
    char phone[TDC_PHONE_MAX + 1];
    tdc_login *l = read_login(c, r, phone);
    if (!l) return 0;
    const uint8_t *f, *la; size_t fn, ln;
    mt_rd_tlbytes(r, &f, &fn);
    mt_rd_tlbytes(r, &la, &ln);
    if (r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    if (!l->verified) return tdc_fail(c, 400, "PHONE_NUMBER_UNOCCUPIED");
    if (fn == 0 || fn > 64 || memchr(f, 0, fn)) return tdc_fail(c, 400, "FIRSTNAME_INVALID");
    if (ln > 64 || memchr(la, 0, ln)) return tdc_fail(c, 400, "LASTNAME_INVALID");
    char first[65];
    memcpy(first, f, fn);
    first[fn] = 0;
    tdc_logins_remove(&c->srv->logins, l);
    return tdc_signed_in(c, phone, first);
}

static int m_cancel_code(tdc_call *c, mt_reader *r)
{
    char phone[TDC_PHONE_MAX + 1];
    tdc_login *l = read_login(c, r, phone);
    if (!l) return 0;
    tdc_logins_remove(&c->srv->logins, l);
    mt_buf_put_u32(c->out, MT_ID_BOOL_TRUE);
    return 1;
}

static int m_report_missing_code(tdc_call *c, mt_reader *r)
{
    char phone[TDC_PHONE_MAX + 1];
    tdc_login *l = read_login(c, r, phone);
    if (!l) return 0;
    const uint8_t *m; size_t mn;
    mt_rd_tlbytes(r, &m, &mn);
    if (r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    mt_buf_put_u32(c->out, MT_ID_BOOL_TRUE);
    return 1;
}

/* ---- the login email ------------------------------------------------------------- */

/* A plausible address: something@something.something, no spaces, at most TDC_EMAIL_MAX. */
static int email_ok(const uint8_t *e, size_t n)
{
    if (n < 5 || n > TDC_EMAIL_MAX) return 0;
    const uint8_t *at = memchr(e, '@', n);
    if (!at || at == e || at == e + n - 1 || memchr(at + 1, '@', (size_t)(e + n - at - 1))) return 0;
    for (size_t i = 0; i < n; i++) if (e[i] <= ' ' || e[i] >= 0x7f) return 0;
    const uint8_t *dot = memchr(at, '.', (size_t)(e + n - at));
    return dot && dot > at + 1 && dot < e + n - 1;
}

/* emailVerifyPurposeLoginSetup phone_number phone_code_hash -> the login, or NULL after answering. */
static tdc_login *read_purpose(tdc_call *c, mt_reader *r, char phone[TDC_PHONE_MAX + 1])
{
    uint32_t id = mt_rd_u32(r);
    if (r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID"), NULL;
    if (id != MT_ID_EMAIL_VERIFY_PURPOSE_LOGIN_SETUP) {
        /* the other purposes belong to a signed-in account */
        if (!c->key->user_id) return tdc_fail(c, 401, "AUTH_KEY_UNREGISTERED"), NULL;
        return tdc_fail(c, 400, "EMAIL_VERIFY_PURPOSE_INVALID"), NULL;
    }
    tdc_login *l = read_login(c, r, phone);
    if (l && l->email != TDC_EMAIL_SETUP && l->email != TDC_EMAIL_SETUP_SENT)
        return tdc_fail(c, 400, "EMAIL_NOT_SETUP"), NULL;
    return l;
}

static int m_send_verify_email_code(tdc_call *c, mt_reader *r)
{
    char phone[TDC_PHONE_MAX + 1];
    tdc_login *l = read_purpose(c, r, phone);
    if (!l) return 0;
    const uint8_t *e; size_t en;
    mt_rd_tlbytes(r, &e, &en);
    if (r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    if (!email_ok(e, en)) return tdc_fail(c, 400, "EMAIL_INVALID");
    memcpy(l->email_addr, e, en);
    l->email_addr[en] = 0;
    l->email = TDC_EMAIL_SETUP_SENT;
    const char *at = strchr(l->email_addr, '@');
    char pat[TDC_EMAIL_MAX + 8];
    snprintf(pat, sizeof pat, "%c***%s", l->email_addr[0], at);
    mt_buf_put_u32(c->out, MT_ID_ACCOUNT_SENT_EMAIL_CODE);
    tdc_put_str(c->out, pat);
    mt_buf_put_i32(c->out, TDC_CODE_LEN);
    return 1;
}

static int m_verify_email(tdc_call *c, mt_reader *r)
{
    char phone[TDC_PHONE_MAX + 1];
    tdc_login *l = read_purpose(c, r, phone);
    if (!l) return 0;
    const uint8_t *code; size_t cn;
    if (mt_rd_u32(r) != MT_ID_EMAIL_VERIFICATION_CODE) return tdc_fail(c, 400, "EMAIL_VERIFICATION_INVALID");
    mt_rd_tlbytes(r, &code, &cn);
    if (r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    if (l->email != TDC_EMAIL_SETUP_SENT) return tdc_fail(c, 400, "EMAIL_NOT_SETUP");
    if (!tdc_code_ok(phone, code, cn)) return tdc_fail(c, 400, "CODE_INVALID");
    /* the address is set: the login code now goes to it */
    l->email = TDC_EMAIL_CODE;
    l->sent_ms = c->now_ms;
    mt_buf_put_u32(c->out, MT_ID_ACCOUNT_EMAIL_VERIFIED_LOGIN);
    tdc_put_str(c->out, l->email_addr);
    put_sent_code(c->srv, l, c->out);
    return 1;
}

static int m_reset_login_email(tdc_call *c, mt_reader *r)
{
    char phone[TDC_PHONE_MAX + 1];
    tdc_login *l = read_login(c, r, phone);
    if (!l) return 0;
    if (l->email != TDC_EMAIL_CODE || test_kind(phone) != KIND_EMAIL_CODE) return tdc_fail(c, 400, "EMAIL_NOT_SETUP");
    if (!l->reset_ms) l->reset_ms = c->now_ms + (int64_t)c->srv->cfg.resend_timeout * 1000;
    if (c->now_ms < l->reset_ms) {
        put_sent_code(c->srv, l, c->out);                  /* the reset is pending */
        return 1;
    }
    /* the reset happened: the code goes by SMS */
    l->email = TDC_EMAIL_NONE;
    l->step = 1;
    l->sent_ms = c->now_ms;
    put_sent_code(c->srv, l, c->out);
    return 1;
}

/* ---- the account's own methods ------------------------------------------------------ */

static int m_log_out(tdc_call *c)
{
    if (!c->key->user_id) return tdc_fail(c, 401, "AUTH_KEY_UNREGISTERED");
    char phone[TDC_PHONE_MAX + 1];
    memcpy(phone, c->key->phone, sizeof phone);
    c->key->user_id = 0;
    c->key->phone[0] = 0;
    mt_buf_put_u32(c->out, MT_ID_AUTH_LOGGED_OUT);
    if (!phone[0]) { mt_buf_put_u32(c->out, 0); return 1; }  /* a bot: no token */
    mt_buf_put_u32(c->out, 1u);
    put_future_token(c, phone);
    return 1;
}

/* bot_auth_token "<digits>:<[A-Za-z0-9_-]{1,}>" -> a bot user with that id. */
static int m_import_bot(tdc_call *c, mt_reader *r)
{
    const uint8_t *p; size_t n;
    mt_rd_u32(r);                       /* flags */
    mt_rd_u32(r);                       /* api_id */
    mt_rd_tlbytes(r, &p, &n);           /* api_hash */
    mt_rd_tlbytes(r, &p, &n);           /* bot_auth_token */
    if (r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    size_t i = 0;
    int64_t id = 0;
    while (i < n && i < 15 && p[i] >= '0' && p[i] <= '9') id = id * 10 + (p[i++] - '0');
    if (i == 0 || i >= n || p[i] != ':' || i + 1 == n) return tdc_fail(c, 400, "ACCESS_TOKEN_INVALID");
    for (size_t j = i + 1; j < n; j++) {
        uint8_t ch = p[j];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == '-'))
            return tdc_fail(c, 400, "ACCESS_TOKEN_INVALID");
    }
    char uname[40];
    snprintf(uname, sizeof uname, "test%lld_bot", (long long)id);
    c->key->user_id = id;
    c->key->phone[0] = 0;
    mt_buf_put_u32(c->out, MT_ID_AUTH_AUTHORIZATION);
    mt_buf_put_u32(c->out, 0);
    tdc_user_desc u = { .id = id, .first_name = "Test Bot", .username = uname, .self = 1 };
    tdc_put_user(c->out, c->layer, &u, c->now_ms / 1000);
    return 1;
}

/* ---- QR login tokens ---------------------------------------------------------------- */

static tdc_qr *qr_find(tdc_server *srv, const uint8_t *tok, size_t n)
{
    if (n != TDC_TOKEN_LEN) return NULL;
    for (int i = 0; i < TDC_QR_MAX; i++)
        if (srv->qr[i].used && !memcmp(srv->qr[i].token, tok, TDC_TOKEN_LEN)) return &srv->qr[i];
    return NULL;
}

/* The account of `phone` (signed in on DC dc) accepts token q: the exporting session is told. */
static void qr_accept(tdc_server *srv, tdc_qr *q, const char *phone, int dc)
{
    q->user_id = phone_id(phone);
    q->user_dc = dc;
    snprintf(q->phone, sizeof q->phone, "%s", phone);
    tdc_key *k = tdc_keys_find(&srv->keys, q->dc, q->sess_key_id);
    for (tdc_session *s = k ? k->sessions : NULL; s; s = s->next)
        if (s->session_id == q->session_id) s->push |= TDC_PUSH_LOGIN_TOKEN;
}

/* The answer for a token the key holds: success (signed in here), a migration, or the token. */
static int put_token_state(tdc_call *c, tdc_qr *q)
{
    if (q->user_id && q->user_dc != c->dc) {
        mt_buf_put_u32(c->out, MT_ID_AUTH_LOGIN_TOKEN_MIGRATE_TO);
        mt_buf_put_i32(c->out, q->user_dc);
        mt_buf_put_tlbytes(c->out, q->token, TDC_TOKEN_LEN);
        return 1;
    }
    if (q->user_id) {
        char phone[TDC_PHONE_MAX + 1];
        memcpy(phone, q->phone, sizeof phone);
        memset(q, 0, sizeof *q);                           /* used up */
        if (tdc_is_password_account(phone)) return tdc_password_needed(c, phone);
        mt_buf_put_u32(c->out, MT_ID_AUTH_LOGIN_TOKEN_SUCCESS);
        return tdc_signed_in(c, phone, "Test");
    }
    mt_buf_put_u32(c->out, MT_ID_AUTH_LOGIN_TOKEN);
    mt_buf_put_i32(c->out, (int32_t)(q->expires_ms / 1000));
    mt_buf_put_tlbytes(c->out, q->token, TDC_TOKEN_LEN);
    return 1;
}

static int m_export_login_token(tdc_call *c, mt_reader *r)
{
    const uint8_t *s; size_t sn;
    mt_rd_u32(r);                                          /* api_id */
    mt_rd_tlbytes(r, &s, &sn);                             /* api_hash */
    if (mt_rd_u32(r) != MT_ID_VECTOR) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    uint32_t nex = mt_rd_u32(r);
    if (nex > mt_rd_left(r) / 8) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    mt_rd_raw(r, (size_t)nex * 8);                         /* except_ids */
    if (r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    /* the newest token this key exported here: accepted -> its outcome; alive -> again */
    tdc_qr *mine = NULL;
    for (int i = 0; i < TDC_QR_MAX; i++) {
        tdc_qr *q = &c->srv->qr[i];
        if (q->used && q->dc == c->dc && q->key_id == c->key->id && (!mine || q->expires_ms > mine->expires_ms))
            mine = q;
    }
    if (mine && (mine->user_id || c->now_ms < mine->expires_ms)) return put_token_state(c, mine);
    if (mine) memset(mine, 0, sizeof *mine);               /* expired unaccepted */
    tdc_qr *q = &c->srv->qr[c->srv->qr_next++ % TDC_QR_MAX];
    memset(q, 0, sizeof *q);
    if (mt_random_fill(&c->srv->rnd, q->token, TDC_TOKEN_LEN) < 0) return tdc_fail(c, 500, "INTERNAL_SERVER_ERROR");
    q->used = 1;
    q->dc = c->dc;
    q->key_id = c->key->id;
    q->sess_key_id = c->sess_key->id;
    q->session_id = c->sess ? c->sess->session_id : 0;
    q->expires_ms = c->now_ms + (int64_t)c->srv->cfg.qr_lifetime * 1000;
    int rc = put_token_state(c, q);
    const char *auto_phone = c->srv->cfg.qr_auto_accept;
    if (auto_phone) qr_accept(c->srv, q, auto_phone, test_dc(auto_phone) ? test_dc(auto_phone) : 1);
    return rc;
}

/* The token given, or NULL after answering AUTH_TOKEN_INVALID / AUTH_TOKEN_EXPIRED. */
static tdc_qr *read_token(tdc_call *c, mt_reader *r)
{
    const uint8_t *t; size_t tn;
    mt_rd_tlbytes(r, &t, &tn);
    if (r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID"), NULL;
    tdc_qr *q = qr_find(c->srv, t, tn);
    if (!q) return tdc_fail(c, 400, "AUTH_TOKEN_INVALID"), NULL;
    if (c->now_ms >= q->expires_ms && !q->user_id) return tdc_fail(c, 400, "AUTH_TOKEN_EXPIRED"), NULL;
    return q;
}

static int m_import_login_token(tdc_call *c, mt_reader *r)
{
    tdc_qr *q = read_token(c, r);
    return q ? put_token_state(c, q) : 0;
}

static int m_accept_login_token(tdc_call *c, mt_reader *r)
{
    if (!c->key->user_id || !c->key->phone[0]) return tdc_fail(c, 401, "AUTH_KEY_UNREGISTERED");
    tdc_qr *q = read_token(c, r);
    if (!q) return 0;
    if (c->now_ms >= q->expires_ms) return tdc_fail(c, 400, "AUTH_TOKEN_EXPIRED");
    if (q->user_id) return tdc_fail(c, 400, "AUTH_TOKEN_ALREADY_ACCEPTED");
    qr_accept(c->srv, q, c->key->phone, c->dc);
    /* the new session, as the accepting device lists it */
    mt_buf *o = c->out;
    int32_t now_s = (int32_t)(c->now_ms / 1000);
    mt_buf_put_u32(o, MT_ID_AUTHORIZATION);
    mt_buf_put_u32(o, 0);
    mt_buf_put_i64(o, (int64_t)q->key_id);                 /* hash */
    tdc_put_str(o, "lua-mtproto");                         /* device_model */
    tdc_put_str(o, "Lua");                                 /* platform */
    tdc_put_str(o, "test");                                /* system_version */
    mt_buf_put_i32(o, 0);                                  /* api_id */
    tdc_put_str(o, "QR login");                            /* app_name */
    tdc_put_str(o, "1.0");                                 /* app_version */
    mt_buf_put_i32(o, now_s);                              /* date_created */
    mt_buf_put_i32(o, now_s);                              /* date_active */
    tdc_put_str(o, "127.0.0.1");
    tdc_put_str(o, "ZZ");
    tdc_put_str(o, "");
    return 1;
}

int tdc_login_answer(tdc_call *c, uint32_t id, mt_reader *r)
{
    switch (id) {
    case MT_ID_AUTH_SEND_CODE: return m_send_code(c, r);
    case MT_ID_AUTH_RESEND_CODE: return m_resend_code(c, r, 1);
    case ID_RESEND_CODE_OLD: return m_resend_code(c, r, 0);
    case MT_ID_AUTH_SIGN_IN: return m_sign_in(c, r);
    case MT_ID_AUTH_SIGN_UP: return m_sign_up(c, r);
    case MT_ID_AUTH_CANCEL_CODE: return m_cancel_code(c, r);
    case MT_ID_AUTH_REPORT_MISSING_CODE: return m_report_missing_code(c, r);
    case MT_ID_AUTH_RESET_LOGIN_EMAIL: return m_reset_login_email(c, r);
    case MT_ID_ACCOUNT_SEND_VERIFY_EMAIL_CODE: return m_send_verify_email_code(c, r);
    case MT_ID_ACCOUNT_VERIFY_EMAIL: return m_verify_email(c, r);
    case MT_ID_AUTH_LOG_OUT: return m_log_out(c);
    case MT_ID_AUTH_IMPORT_BOT_AUTHORIZATION: return m_import_bot(c, r);
    case MT_ID_AUTH_EXPORT_LOGIN_TOKEN: return m_export_login_token(c, r);
    case MT_ID_AUTH_IMPORT_LOGIN_TOKEN: return m_import_login_token(c, r);
    case MT_ID_AUTH_ACCEPT_LOGIN_TOKEN: return m_accept_login_token(c, r);
    default: return TDC_NOT_MINE;
    }
}
