/* Temporary auth keys on the test DC (core.telegram.org/api/pfs): a key made with
 * p_q_inner_data_temp_dc lives until its expiry (expires_in, capped by --temp-key-ttl, and the
 * bind's expires_at), is then forgotten (-404), and serves only auth.bindTempAuthKey,
 * help.getConfig and help.getNearestDc until it is bound to a permanent key. Once bound, calls
 * act for the permanent key's account. */
#include "tdc.h"
#include "mt_pfs.h"
#include "mt_ids.h"

static int bind_invalid(tdc_call *c, const char *why)
{
    tdc_log(c->srv, 1, "dc%d auth.bindTempAuthKey refused: %s", c->dc, why);
    return tdc_fail(c, 400, "ENCRYPTED_MESSAGE_INVALID");
}

static int bind(tdc_call *c, mt_reader *r)
{
    tdc_key *k = c->key;
    if (!k->expires_ms) return tdc_fail(c, 400, "TEMP_AUTH_KEY_EMPTY");
    mt_bind want;
    const uint8_t *enc;
    size_t elen;
    if (mt_bind_parse_request(r->p, r->len, &want.perm_auth_key_id, &want.nonce, &want.expires_at, &enc, &elen) < 0)
        return tdc_fail(c, 400, "INPUT_REQUEST_INVALID");
    tdc_key *perm = tdc_keys_find(&c->srv->keys, c->dc, want.perm_auth_key_id);
    if (!perm || perm->expires_ms) return bind_invalid(c, "perm_auth_key_id is no permanent key of this DC");
    want.temp_auth_key_id = k->id;
    want.temp_session_id = c->sess->session_id;
    want.msg_id = c->msg_id;
    const char *why = NULL;
    int rc = mt_bind_verify(perm->key, enc, elen, &want, &why);
    if (rc == MT_ERR_NOMEM) return rc;
    if (rc < 0) return bind_invalid(c, why ? why : mt_strerror(rc));
    if ((int64_t)want.expires_at * 1000 <= c->now_ms) return bind_invalid(c, "expires_at is in the past");
    if (k->perm_id && k->perm_id != want.perm_auth_key_id) return tdc_fail(c, 400, "TEMP_AUTH_KEY_ALREADY_BOUND");
    k->perm_id = want.perm_auth_key_id;
    if ((int64_t)want.expires_at * 1000 < k->expires_ms) k->expires_ms = (int64_t)want.expires_at * 1000;
    tdc_log(c->srv, 1, "dc%d temporary key %016llx bound to %016llx", c->dc, (unsigned long long)k->id,
            (unsigned long long)k->perm_id);
    mt_buf_put_u32(c->out, MT_ID_BOOL_TRUE);
    return 1;
}

int tdc_pfs_answer(tdc_call *c, uint32_t id, mt_reader *r)
{
    if (id == MT_ID_AUTH_BIND_TEMP_AUTH_KEY) return bind(c, r);
    if (!c->key->expires_ms || c->key->perm_id || id == MT_ID_HELP_GET_CONFIG || id == MT_ID_HELP_GET_NEAREST_DC) return TDC_NOT_MINE;
    return tdc_fail(c, 401, "AUTH_KEY_PERM_EMPTY");
}

tdc_key *tdc_pfs_account(tdc_server *srv, tdc_key *k)
{
    if (!k->perm_id) return k;
    tdc_key *perm = tdc_keys_find(&srv->keys, k->dc, k->perm_id);
    return perm ? perm : k;
}

int tdc_pfs_expire(tdc_key *k, int64_t now_ms)
{
    if (!k->expires_ms || now_ms < k->expires_ms) return 0;
    k->dead = 1;
    mt_wipe(k->key, sizeof k->key);
    return 1;
}
