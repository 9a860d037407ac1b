/* The temporary-key binding message (see mt_pfs.h). */
#include <string.h>
#include "mt_pfs.h"
#include "mt_err.h"
#include "mt_ids.h"

#define PLAIN_LEN 72 /* random 16 | msg_id 8 | seqno 4 | length 4 | bind_auth_key_inner 40 */
#define PADDED_LEN 80

static void sha1_2(const uint8_t *a, size_t an, const uint8_t *b, size_t bn, uint8_t out[20])
{
    uint8_t buf[64];
    memcpy(buf, a, an);
    memcpy(buf + an, b, bn);
    mt_sha1(buf, an + bn, out);
    mt_wipe(buf, sizeof buf);
}

/* The MTProto v1 KDF for client-to-server messages (x = 0): four SHA1s of msg_key and slices of
 * the key. */
static void kdf_v1(const uint8_t k[256], const uint8_t mk[16], uint8_t key[32], uint8_t iv[32])
{
    uint8_t a[20], b[20], c[20], d[20], mid[48];
    sha1_2(mk, 16, k, 32, a);
    memcpy(mid, k + 32, 16); memcpy(mid + 16, mk, 16); memcpy(mid + 32, k + 48, 16);
    mt_sha1(mid, 48, b);
    sha1_2(k + 64, 32, mk, 16, c);
    sha1_2(mk, 16, k + 96, 32, d);
    memcpy(key, a, 8); memcpy(key + 8, b + 8, 12); memcpy(key + 20, c + 4, 12);
    memcpy(iv, a + 8, 12); memcpy(iv + 12, b, 8); memcpy(iv + 20, c + 16, 4); memcpy(iv + 24, d, 8);
    mt_wipe(a, 20); mt_wipe(b, 20); mt_wipe(c, 20); mt_wipe(d, 20); mt_wipe(mid, sizeof mid);
}

static void v1_msg_key(const uint8_t *plain, uint8_t mk[16])
{
    uint8_t h[20];
    mt_sha1(plain, PLAIN_LEN, h);
    memcpy(mk, h + 4, 16);
}

int mt_bind_encrypt(const uint8_t perm_key[256], const mt_bind *b, const mt_random *rnd, mt_buf *out)
{
    if (!perm_key || !b || !out) return MT_ERR_ARG;
    uint8_t p[PADDED_LEN], mk[16], key[32], iv[32];
    int rc = mt_random_fill(rnd, p, 16);
    if (rc >= 0) rc = mt_random_fill(rnd, p + PLAIN_LEN, PADDED_LEN - PLAIN_LEN);
    if (rc >= 0) {
        mt_wr64(p + 16, (uint64_t)b->msg_id);
        mt_wr32(p + 24, 0);
        mt_wr32(p + 28, 40);
        mt_wr32(p + 32, MT_ID_BIND_AUTH_KEY_INNER);
        mt_wr64(p + 36, (uint64_t)b->nonce);
        mt_wr64(p + 44, b->temp_auth_key_id);
        mt_wr64(p + 52, b->perm_auth_key_id);
        mt_wr64(p + 60, (uint64_t)b->temp_session_id);
        mt_wr32(p + 68, (uint32_t)b->expires_at);
        v1_msg_key(p, mk);
        kdf_v1(perm_key, mk, key, iv);
        rc = mt_aes_ige_encrypt(key, iv, p, p, PADDED_LEN);
    }
    if (rc >= 0) {
        mt_buf_put_u64(out, mt_auth_key_id(perm_key));
        mt_buf_put(out, mk, 16);
        mt_buf_put(out, p, PADDED_LEN);
        rc = out->oom ? MT_ERR_NOMEM : MT_OK;
    }
    mt_wipe(p, sizeof p); mt_wipe(key, 32); mt_wipe(iv, 32);
    return rc;
}

int mt_bind_request(const uint8_t perm_key[256], const mt_bind *b, const mt_random *rnd, mt_buf *out)
{
    if (!perm_key || !b || !out) return MT_ERR_ARG;
    mt_buf enc;
    mt_buf_init(&enc);
    int rc = mt_bind_encrypt(perm_key, b, rnd, &enc);
    if (rc >= 0) {
        mt_buf_put_u32(out, MT_ID_AUTH_BIND_TEMP_AUTH_KEY);
        mt_buf_put_u64(out, b->perm_auth_key_id);
        mt_buf_put_i64(out, b->nonce);
        mt_buf_put_i32(out, b->expires_at);
        mt_buf_put_tlbytes(out, enc.data, enc.len);
        rc = out->oom ? MT_ERR_NOMEM : MT_OK;
    }
    mt_buf_free(&enc);
    return rc;
}

int mt_bind_parse_request(const uint8_t *body, size_t len, uint64_t *perm_auth_key_id, int64_t *nonce,
                          int32_t *expires_at, const uint8_t **enc, size_t *enc_len)
{
    if (!body && len) return MT_ERR_ARG;
    mt_reader r;
    mt_rd_init(&r, body, len);
    uint32_t id = mt_rd_u32(&r);
    if (r.err) return MT_ERR_TRUNCATED;
    if (id != MT_ID_AUTH_BIND_TEMP_AUTH_KEY) return MT_ERR_PROTO;
    uint64_t perm = (uint64_t)mt_rd_i64(&r);
    int64_t n = mt_rd_i64(&r);
    int32_t exp = mt_rd_i32(&r);
    const uint8_t *e = NULL;
    size_t el = 0;
    if (r.err || mt_rd_tlbytes(&r, &e, &el) < 0) return MT_ERR_TRUNCATED;
    if (perm_auth_key_id) *perm_auth_key_id = perm;
    if (nonce) *nonce = n;
    if (expires_at) *expires_at = exp;
    if (enc) *enc = e;
    if (enc_len) *enc_len = el;
    return MT_OK;
}

static int bad(const char **why, const char *text)
{
    if (why) *why = text;
    return MT_ERR_HANDSHAKE;
}

int mt_bind_verify(const uint8_t perm_key[256], const uint8_t *enc, size_t len, const mt_bind *want,
                   const char **why)
{
    if (why) *why = NULL;
    if (!perm_key || !want || (!enc && len)) return MT_ERR_ARG;
    if (len != MT_BIND_ENCRYPTED_LEN) return bad(why, "encrypted_message has a bad length");
    if (mt_le64(enc) != mt_auth_key_id(perm_key) || mt_le64(enc) != want->perm_auth_key_id)
        return bad(why, "encrypted_message is not under the permanent key");
    uint8_t p[PADDED_LEN], mk[16], key[32], iv[32];
    kdf_v1(perm_key, enc + 8, key, iv);
    int rc = mt_aes_ige_decrypt(key, iv, enc + 24, p, PADDED_LEN);
    mt_wipe(key, 32); mt_wipe(iv, 32);
    if (rc < 0) { mt_wipe(p, sizeof p); return rc; }
    const char *t = NULL;
    v1_msg_key(p, mk);
    if (mt_ct_memcmp(mk, enc + 8, 16)) t = "msg_key mismatch";
    else if ((int64_t)mt_le64(p + 16) != want->msg_id) t = "msg_id differs from the request's";
    else if (mt_le32(p + 24) != 0) t = "seqno is not 0";
    else if (mt_le32(p + 28) != 40) t = "message length is not 40";
    else if (mt_le32(p + 32) != MT_ID_BIND_AUTH_KEY_INNER) t = "expected bind_auth_key_inner";
    else if ((int64_t)mt_le64(p + 36) != want->nonce) t = "nonce mismatch";
    else if (mt_le64(p + 44) != want->temp_auth_key_id) t = "temp_auth_key_id mismatch";
    else if (mt_le64(p + 52) != want->perm_auth_key_id) t = "perm_auth_key_id mismatch";
    else if ((int64_t)mt_le64(p + 60) != want->temp_session_id) t = "temp_session_id mismatch";
    else if ((int32_t)mt_le32(p + 68) != want->expires_at) t = "expires_at mismatch";
    mt_wipe(p, sizeof p);
    return t ? bad(why, t) : MT_OK;
}

/* ---- the client's policy ------------------------------------------------------------------- */

double mt_pfs_renew_at(int64_t expires_at, int64_t expires_in)
{
    double before = expires_in > 0 ? (double)expires_in / 10 : 0;
    if (before > MT_PFS_RENEW_MAX) before = MT_PFS_RENEW_MAX;
    return (double)expires_at - before;
}

int mt_pfs_bind_refused(double perm_age, int attempt, int remade)
{
    if (attempt >= MT_PFS_MAX_BINDS) return MT_PFS_GIVE_UP;
    if (remade) return MT_PFS_NEW_TEMP;      /* just made: young by definition */
    if (perm_age < 0 || perm_age >= MT_PFS_PERM_SETTLE) return MT_PFS_NEW_BOTH;
    return attempt == 1 ? MT_PFS_NEW_TEMP : MT_PFS_NEW_BOTH;
}
