/* MTProto 2.0 encrypted messages, msg_id clock, containers.
 * See mt_msg.h for the contract. */
#include <string.h>
#include "mt_msg.h"
#include "mt_ids.h"

#define PACKET_HEAD 24  /* auth_key_id | msg_key */

/* Random padding: the least that makes 12+ bytes and a whole block, plus 0..15
 * extra blocks so packet sizes do not give the body length away exactly. */
static int pick_padding(const mt_random *rnd, size_t body, size_t *pad)
{
    uint8_t r;
    int rc = mt_random_fill(rnd, &r, 1);
    if (rc < 0) return rc;
    size_t p = MT_MSG_MIN_PAD + (16 - (MT_MSG_HEADER + body + MT_MSG_MIN_PAD) % 16) % 16;
    *pad = p + 16 * (size_t)(r % 16);   /* at most 27 + 240 < 1024 */
    return MT_OK;
}

int mt_msg_encrypt(const uint8_t auth_key[256], int x, int64_t salt, int64_t session_id, int64_t msg_id,
                   int32_t seqno, const uint8_t *body, size_t len, const mt_random *rnd, mt_buf *out)
{
    if (!auth_key) return MT_ERR_ARG;
    /* one temporary context costs less than OpenSSL 3's fetch inside each one-shot call */
    mt_crypto_ctx *cc = mt_crypto_ctx_new(NULL);
    int rc = mt_msg_encrypt_ctx(cc, auth_key, mt_auth_key_id(auth_key), x, salt, session_id, msg_id, seqno,
                                body, len, rnd, out);
    mt_crypto_ctx_free(cc);
    return rc;
}

int mt_msg_encrypt_ctx(mt_crypto_ctx *cc, const uint8_t auth_key[256], uint64_t auth_key_id, int x,
                       int64_t salt, int64_t session_id, int64_t msg_id, int32_t seqno,
                       const uint8_t *body, size_t len, const mt_random *rnd, mt_buf *out)
{
    if ((x != 0 && x != 8) || !auth_key || len % 4 || (len && !body)) return MT_ERR_ARG;
    if (len > MT_MSG_MAX_BODY) return MT_ERR_RANGE;
    size_t pad;
    int rc = pick_padding(rnd, len, &pad);
    if (rc < 0) return rc;
    size_t plen = MT_MSG_HEADER + len + pad, base = out->len;
    uint8_t *o = mt_buf_extend(out, PACKET_HEAD + plen);
    if (!o) return MT_ERR_NOMEM;
    uint8_t *pt = o + PACKET_HEAD;
    mt_wr64(pt, (uint64_t)salt);
    mt_wr64(pt + 8, (uint64_t)session_id);
    mt_wr64(pt + 16, (uint64_t)msg_id);
    mt_wr32(pt + 24, (uint32_t)seqno);
    mt_wr32(pt + 28, (uint32_t)len);
    if (len) memcpy(pt + MT_MSG_HEADER, body, len);
    rc = mt_random_fill(rnd, pt + MT_MSG_HEADER + len, pad);
    if (rc < 0) goto fail;

    uint8_t msg_key[16];
    struct { uint8_t key[32], iv[32]; } aes; /* one wipe for both */
    if ((rc = mt_msg_key_ctx(cc, auth_key, x, pt, plen, msg_key)) == MT_OK &&
        (rc = mt_msg_kdf_ctx(cc, auth_key, msg_key, x, aes.key, aes.iv)) == MT_OK)
        rc = mt_crypto_ige(cc, 1, aes.key, aes.iv, pt, pt, plen);
    mt_wipe(&aes, sizeof aes);
    if (rc < 0) goto fail;
    mt_wr64(o, auth_key_id);
    memcpy(o + 8, msg_key, 16);
    return MT_OK;
fail:
    mt_wipe(o, PACKET_HEAD + plen);
    out->len = base;
    return rc;
}

int mt_msg_decrypt(const uint8_t auth_key[256], int x, const uint8_t *packet, size_t len,
                   mt_buf *plain, mt_msg *m)
{
    if (!auth_key) return MT_ERR_ARG;
    mt_crypto_ctx *cc = mt_crypto_ctx_new(NULL);
    int rc = mt_msg_decrypt_ctx(cc, auth_key, mt_auth_key_id(auth_key), x, packet, len, plain, m);
    mt_crypto_ctx_free(cc);
    return rc;
}

int mt_msg_decrypt_ctx(mt_crypto_ctx *cc, const uint8_t auth_key[256], uint64_t auth_key_id, int x,
                       const uint8_t *packet, size_t len, mt_buf *plain, mt_msg *m)
{
    if ((x != 0 && x != 8) || !auth_key || !packet || !plain || !m) return MT_ERR_ARG;
    /* the smallest plaintext: header + 12 bytes of padding, rounded to a block */
    if (len < PACKET_HEAD + 48) return MT_ERR_TRUNCATED;
    if (mt_le64(packet) != auth_key_id) return MT_ERR_AUTH_KEY_ID;
    size_t clen = (len - PACKET_HEAD) & ~(size_t)15;
    if (clen - MT_MSG_HEADER - MT_MSG_MIN_PAD > MT_MSG_MAX_BODY + MT_MSG_MAX_PAD) return MT_ERR_RANGE;

    const uint8_t *msg_key = packet + 8;
    struct { uint8_t key[32], iv[32], h[32]; } k; /* one wipe for all three */
    uint32_t mlen;
    size_t pad;
    int rc;
    plain->len = 0;
    uint8_t *pt = mt_buf_extend(plain, clen);
    if (!pt) return MT_ERR_NOMEM;
    /* the plaintext's msg_key is SHA256(auth_key[88+x .. 120+x) || plain)[8..24), hashed as it
     * is decrypted */
    if ((rc = mt_msg_kdf_ctx(cc, auth_key, msg_key, x, k.key, k.iv)) == MT_OK)
        rc = mt_crypto_ige_decrypt_sha256(cc, k.key, k.iv, packet + PACKET_HEAD, pt, clen, auth_key + 88 + x, k.h);
    if (rc == MT_OK && mt_ct_memcmp(k.h + 8, msg_key, 16) != 0) rc = MT_ERR_MSG_KEY;
    mt_wipe(&k, sizeof k);
    if (rc < 0) goto fail;

    mlen = mt_le32(pt + 28);
    if (mlen % 4 || mlen > clen - MT_MSG_HEADER) { rc = MT_ERR_RANGE; goto fail; }
    pad = clen - MT_MSG_HEADER - mlen;
    if (pad < MT_MSG_MIN_PAD || pad > MT_MSG_MAX_PAD) { rc = MT_ERR_RANGE; goto fail; }
    m->salt = (int64_t)mt_le64(pt);
    m->session_id = (int64_t)mt_le64(pt + 8);
    m->msg_id = (int64_t)mt_le64(pt + 16);
    m->seqno = (int32_t)mt_le32(pt + 24);
    m->body = pt + MT_MSG_HEADER;
    m->len = mlen;
    return MT_OK;
fail:
    mt_wipe(plain->data, plain->cap);
    plain->len = 0;
    return rc;
}

/* msg_id: the fraction of the second scales nanoseconds to 2^32 units. */
int64_t mt_msgid_next(mt_msgid_gen *g, int64_t now_ns, int mod4)
{
    mod4 &= 3;
    int64_t sec = now_ns / 1000000000 + g->time_offset;
    int64_t frac = now_ns % 1000000000;
    if (frac < 0) { frac += 1000000000; sec -= 1; }
    int64_t id = (int64_t)((uint64_t)sec << 32) + (int64_t)(((uint64_t)frac << 32) / 1000000000u);
    id = (id & ~(int64_t)3) | mod4;
    if (id <= g->last) {
        id = g->last + 1;
        id += (mod4 - (id & 3)) & 3;
    }
    g->last = id;
    return id;
}

int mt_container_begin(mt_buf *out)
{
    mt_buf_put_u32(out, MT_ID_MSG_CONTAINER);
    mt_buf_put_u32(out, 0);
    return out->oom ? MT_ERR_NOMEM : MT_OK;
}

int mt_container_add(mt_buf *out, size_t start, int64_t msg_id, int32_t seqno, const uint8_t *body, size_t len)
{
    if (len % 4 || (len && !body)) return MT_ERR_ARG;
    if (start > out->len || out->len - start < 8 || mt_le32(out->data + start) != MT_ID_MSG_CONTAINER)
        return MT_ERR_ARG;
    if (len > MT_MSG_MAX_BODY) return MT_ERR_RANGE;
    uint32_t count = mt_le32(out->data + start + 4);
    if (count >= MT_CONTAINER_MAX) return MT_ERR_RANGE;
    size_t base = out->len;
    mt_buf_put_i64(out, msg_id);
    mt_buf_put_i32(out, seqno);
    mt_buf_put_u32(out, (uint32_t)len);
    mt_buf_put(out, body, len);
    if (out->oom) { out->len = base; return MT_ERR_NOMEM; }
    mt_wr32(out->data + start + 4, count + 1);
    return MT_OK;
}

int mt_container_iter_init(mt_container_iter *it, const uint8_t *body, size_t len)
{
    mt_rd_init(&it->r, body, len);
    it->left = 0;
    uint32_t id = mt_rd_u32(&it->r);
    uint32_t count = mt_rd_u32(&it->r);
    if (it->r.err) return it->r.err;
    if (id != MT_ID_MSG_CONTAINER) return MT_ERR_PROTO;
    /* each item takes at least 16 bytes of header */
    if (count > MT_CONTAINER_MAX || (size_t)count > mt_rd_left(&it->r) / 16) return MT_ERR_RANGE;
    it->left = count;
    return MT_OK;
}

int mt_container_next(mt_container_iter *it, int64_t *msg_id, int32_t *seqno,
                      const uint8_t **body, size_t *len)
{
    if (it->r.err) return it->r.err;
    if (it->left == 0) {
        if (mt_rd_left(&it->r) != 0) { it->r.err = MT_ERR_RANGE; return MT_ERR_RANGE; }
        return 0;
    }
    int64_t id = mt_rd_i64(&it->r);
    int32_t sq = mt_rd_i32(&it->r);
    uint32_t n = mt_rd_u32(&it->r);
    if (it->r.err) return it->r.err;
    if (n % 4 || n > mt_rd_left(&it->r)) { it->r.err = MT_ERR_RANGE; return MT_ERR_RANGE; }
    const uint8_t *b = mt_rd_raw(&it->r, n);
    it->left--;
    *msg_id = id;
    *seqno = sq;
    *body = b;
    *len = n;
    return 1;
}
