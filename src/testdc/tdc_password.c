/* The test DC's two-step verification: the password accounts (test numbers 99966X2YYY, see
 * tdc_login.c) and the methods around their cloud password.
 *
 *   auth.signIn with the right code     401 SESSION_PASSWORD_NEEDED; the auth key now waits for
 *                                       the password of that account
 *   account.getPassword                 account.password: has_recovery, hint, current_algo (the
 *                                       known 2048-bit prime, g = 3, fixed salts), a fresh srp_B
 *                                       and srp_id (each getPassword replaces the previous one)
 *   auth.checkPassword                  the SRP check on the server side (mt_srp_server_check):
 *                                       auth.authorization, or PASSWORD_HASH_INVALID; a srp_id
 *                                       is good for one check (SRP_ID_INVALID after, or when it is
 *                                       not the latest); inputCheckPasswordEmpty: PASSWORD_HASH_INVALID
 *   auth.requestPasswordRecovery        auth.passwordRecovery{email_pattern = TDC_PW_EMAIL_PATTERN}
 *   auth.checkRecoveryPassword code     boolTrue, or CODE_INVALID
 *   auth.recoverPassword code [new_settings]  auth.authorization, or CODE_INVALID (or
 *                                       PASSWORD_RECOVERY_NA before requestPasswordRecovery);
 *                                       new_settings must keep the server's salt1 as the prefix of
 *                                       new_algo.salt1 (NEW_SALT_INVALID) with a 256-byte
 *                                       new_password_hash (NEW_SETTINGS_INVALID); they are checked,
 *                                       not kept: the documented password stays
 * The password of every password account is TDC_PASSWORD ("testpass"); the recovery code is the
 * number's login code (X five times). These methods on a key that is not waiting for a password
 * (and not signed in) answer 401 AUTH_KEY_UNREGISTERED; account.getPassword on a signed-in key
 * describes that account (has_password only for a password account). */
#include <stdio.h>
#include <string.h>
#include "mt_dh.h"
#include "mt_srp.h"
#include "tdc.h"
#include "mt_ids.h"

#define TDC_PASSWORD "testpass"
#define TDC_PW_HINT "testpass"
#define TDC_PW_EMAIL_PATTERN "t***@example.com"

/* The account's algorithm: the server's 8 bytes of salt1 and the 32 a client added when the
 * password was set (fixed here, so the verifier is computed once per server). */
static const uint8_t salt1[40] = {
    0x74, 0x65, 0x73, 0x74, 0x64, 0x63, 0x73, 0x31, /* server part: "testdcs1" */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};
#define SALT1_SERVER 8
static const uint8_t salt2[16] = "testdc-salt2-x16";

static mt_srp_algo algo(void)
{
    mt_srp_algo a = { salt1, sizeof salt1, salt2, sizeof salt2, 3, mt_dh_known_prime, 256 };
    return a;
}

static void put_algo(mt_buf *out, size_t salt1_len)
{
    mt_buf_put_u32(out, MT_ID_PASSWORD_KDF_ALGO_MOD_POW);
    mt_buf_put_tlbytes(out, salt1, salt1_len);
    mt_buf_put_tlbytes(out, salt2, sizeof salt2);
    mt_buf_put_i32(out, 3);
    mt_buf_put_tlbytes(out, mt_dh_known_prime, 256);
}

/* v = g^x of TDC_PASSWORD, made on first use (one PBKDF2 of 100,000 iterations). */
static const uint8_t *verifier(tdc_server *srv)
{
    if (!srv->pw_v_ready) {
        mt_srp_algo a = algo();
        if (mt_srp_verifier(&a, (const uint8_t *)TDC_PASSWORD, strlen(TDC_PASSWORD), srv->pw_v) != MT_OK) return NULL;
        srv->pw_v_ready = 1;
    }
    return srv->pw_v;
}

int tdc_password_needed(tdc_call *c, const char *phone)
{
    tdc_pw_state *pw = &c->key->pw;
    mt_wipe(pw, sizeof *pw);
    snprintf(pw->phone, sizeof pw->phone, "%s", phone);
    return tdc_fail(c, 401, "SESSION_PASSWORD_NEEDED");
}

/* The password account this key asks about: waiting for its password, or signed in. */
static const char *account(tdc_call *c)
{
    if (c->key->pw.phone[0]) return c->key->pw.phone;
    if (c->key->user_id) return c->key->phone;
    return NULL;
}

static int m_get_password(tdc_call *c)
{
    const char *phone = account(c);
    if (!phone) return tdc_fail(c, 401, "AUTH_KEY_UNREGISTERED");
    uint8_t secure_random[32];
    if (mt_random_fill(&c->srv->rnd, secure_random, sizeof secure_random) < 0) return tdc_fail(c, 500, "INTERNAL");
    mt_buf *out = c->out;
    int has = tdc_is_password_account(phone);
    tdc_pw_state *pw = &c->key->pw;
    uint8_t B[256];
    if (has) {
        const uint8_t *v = verifier(c->srv);
        mt_srp_algo a = algo();
        uint64_t id = 0;
        int rc = v ? mt_random_fill(&c->srv->rnd, pw->b, sizeof pw->b) : MT_ERR_CRYPTO;
        if (rc == MT_OK) rc = mt_random_fill(&c->srv->rnd, (uint8_t *)&id, sizeof id);
        if (rc == MT_OK) rc = mt_srp_server_B(&a, v, pw->b, B);
        if (rc != MT_OK) return tdc_fail(c, 500, "INTERNAL");
        pw->srp_id = (int64_t)(id | 1);                    /* never 0: 0 means "none" */
    }
    mt_buf_put_u32(out, MT_ID_ACCOUNT_PASSWORD);
    mt_buf_put_u32(out, has ? (1u | 4u | 8u) : 0u);         /* has_recovery, has_password, hint */
    if (has) {
        put_algo(out, sizeof salt1);
        mt_buf_put_tlbytes(out, B, 256);
        mt_buf_put_i64(out, pw->srp_id);
        tdc_put_str(out, TDC_PW_HINT);
    }
    put_algo(out, SALT1_SERVER);                            /* new_algo: the server's salt1 alone */
    mt_buf_put_u32(out, MT_ID_SECURE_PASSWORD_KDF_ALGO_PBKDF2);
    mt_buf_put_tlbytes(out, salt1, SALT1_SERVER);
    mt_buf_put_tlbytes(out, secure_random, sizeof secure_random);
    return 1;
}

/* The key's pending password login, or NULL after answering the error. */
static tdc_pw_state *pending(tdc_call *c)
{
    if (!c->key->pw.phone[0]) return tdc_fail(c, 401, "AUTH_KEY_UNREGISTERED"), NULL;
    return &c->key->pw;
}

/* Signs the key in as the account whose password was proven. */
static int done(tdc_call *c, tdc_pw_state *pw)
{
    char phone[TDC_PHONE_MAX + 1];
    memcpy(phone, pw->phone, sizeof phone);
    mt_wipe(pw, sizeof *pw);
    return tdc_signed_in(c, phone, "Test");
}

static int m_check_password(tdc_call *c, mt_reader *r)
{
    uint32_t ctor = mt_rd_u32(r);
    if (ctor == MT_ID_INPUT_CHECK_PASSWORD_EMPTY && !r->err) return tdc_fail(c, 400, "PASSWORD_HASH_INVALID");
    int64_t srp_id = mt_rd_i64(r);
    const uint8_t *A, *M1; size_t an, mn;
    mt_rd_tlbytes(r, &A, &an);
    mt_rd_tlbytes(r, &M1, &mn);
    if (ctor != MT_ID_INPUT_CHECK_PASSWORD_SRP || r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    tdc_pw_state *pw = pending(c);
    if (!pw) return 0;
    if (pw->srp_id == 0 || srp_id != pw->srp_id) return tdc_fail(c, 400, "SRP_ID_INVALID");
    pw->srp_id = 0;                                         /* one check per srp_id */
    mt_srp_algo a = algo();
    int why = 0;
    const uint8_t *v = verifier(c->srv);
    int rc = v ? mt_srp_server_check(&a, v, pw->b, A, an, M1, mn, &why) : MT_ERR_CRYPTO;
    mt_wipe(pw->b, sizeof pw->b);
    if (rc == MT_ERR_HANDSHAKE) {
        tdc_log(c->srv, 1, "dc%d auth.checkPassword refused: %s", c->dc, mt_srp_why(why));
        return tdc_fail(c, 400, "PASSWORD_HASH_INVALID");
    }
    if (rc != MT_OK) return tdc_fail(c, 500, "INTERNAL");
    return done(c, pw);
}

static int m_request_recovery(tdc_call *c)
{
    tdc_pw_state *pw = pending(c);
    if (!pw) return 0;
    pw->recovery = 1;
    mt_buf_put_u32(c->out, MT_ID_AUTH_PASSWORD_RECOVERY);
    tdc_put_str(c->out, TDC_PW_EMAIL_PATTERN);
    return 1;
}

/* The recovery code: the one asked for with requestPasswordRecovery, X five times. */
static int recovery_code(tdc_call *c, tdc_pw_state *pw, mt_reader *r)
{
    const uint8_t *code; size_t n;
    mt_rd_tlbytes(r, &code, &n);
    if (r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    if (!pw->recovery) return tdc_fail(c, 400, "PASSWORD_RECOVERY_NA");
    if (n == 0) return tdc_fail(c, 400, "CODE_EMPTY");
    if (!tdc_code_ok(pw->phone, code, n)) return tdc_fail(c, 400, "CODE_INVALID");
    return 1;
}

static int m_check_recovery(tdc_call *c, mt_reader *r)
{
    tdc_pw_state *pw = pending(c);
    if (!pw || !recovery_code(c, pw, r)) return 0;
    mt_buf_put_u32(c->out, MT_ID_BOOL_TRUE);
    return 1;
}

/* account.passwordInputSettings: checked as the real server would, not kept. */
static int new_settings_ok(tdc_call *c, mt_reader *r)
{
    if (mt_rd_u32(r) != MT_ID_ACCOUNT_PASSWORD_INPUT_SETTINGS) return tdc_fail(c, 400, "NEW_SETTINGS_INVALID");
    uint32_t flags = mt_rd_u32(r);
    if (!(flags & 1)) return 1;                             /* no new password: it is removed */
    const uint8_t *s1, *s2, *p, *hash, *hint; size_t s1n, s2n, pn, hn, hintn;
    if (mt_rd_u32(r) != MT_ID_PASSWORD_KDF_ALGO_MOD_POW) return tdc_fail(c, 400, "NEW_SETTINGS_INVALID");
    mt_rd_tlbytes(r, &s1, &s1n);
    mt_rd_tlbytes(r, &s2, &s2n);
    int32_t g = mt_rd_i32(r);
    mt_rd_tlbytes(r, &p, &pn);
    mt_rd_tlbytes(r, &hash, &hn);
    mt_rd_tlbytes(r, &hint, &hintn);
    if (r->err) return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    if (s1n < SALT1_SERVER + 32 || memcmp(s1, salt1, SALT1_SERVER) != 0) return tdc_fail(c, 400, "NEW_SALT_INVALID");
    if (s2n != sizeof salt2 || memcmp(s2, salt2, sizeof salt2) != 0 || g != 3 || pn != 256
        || memcmp(p, mt_dh_known_prime, 256) != 0 || hn != 256)
        return tdc_fail(c, 400, "NEW_SETTINGS_INVALID");
    return 1;
}

static int m_recover_password(tdc_call *c, mt_reader *r)
{
    uint32_t flags = mt_rd_u32(r);
    tdc_pw_state *pw = pending(c);
    if (!pw || !recovery_code(c, pw, r)) return 0;
    if ((flags & 1) && !new_settings_ok(c, r)) return 0;
    return done(c, pw);
}

int tdc_password_answer(tdc_call *c, uint32_t id, mt_reader *r)
{
    switch (id) {
    case MT_ID_ACCOUNT_GET_PASSWORD: return m_get_password(c);
    case MT_ID_AUTH_CHECK_PASSWORD: return m_check_password(c, r);
    case MT_ID_AUTH_REQUEST_PASSWORD_RECOVERY: return m_request_recovery(c);
    case MT_ID_AUTH_CHECK_RECOVERY_PASSWORD: return m_check_recovery(c, r);
    case MT_ID_AUTH_RECOVER_PASSWORD: return m_recover_password(c, r);
    default: return TDC_NOT_MINE;
    }
}
