/* The auth-key handshake, client and server state machines (see mt_auth.h).
 *
 *   client                                   server
 *   req_pq_multi(nonce)                 ->
 *                                        <-  resPQ(nonce, server_nonce, pq, fingerprints)
 *   req_DH_params(p, q, fp, RSA_PAD(p_q_inner_data_*))  ->
 *                                        <-  server_DH_params_ok(IGE(SHA1 + server_DH_inner_data))
 *   set_client_DH_params(IGE(SHA1 + client_DH_inner_data(retry_id, g_b)))  ->
 *                                        <-  dh_gen_ok | dh_gen_retry | dh_gen_fail
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mt_auth.h"
#include "mt_dh.h"
#include "mt_ids.h"

#define MAX_RETRIES 5

/* tmp_aes_key/iv from new_nonce and server_nonce (auth_key step 6). */
static void tmp_key_iv(const uint8_t new_nonce[32], const uint8_t server_nonce[16], uint8_t key[32], uint8_t iv[32])
{
    uint8_t buf[64], a[20], b[20], c[20];
    memcpy(buf, new_nonce, 32); memcpy(buf + 32, server_nonce, 16);
    mt_sha1(buf, 48, a);
    memcpy(buf, server_nonce, 16); memcpy(buf + 16, new_nonce, 32);
    mt_sha1(buf, 48, b);
    memcpy(buf, new_nonce, 32); memcpy(buf + 32, new_nonce, 32);
    mt_sha1(buf, 64, c);
    memcpy(key, a, 20); memcpy(key + 20, b, 12);
    memcpy(iv, b + 12, 8); memcpy(iv + 8, c, 20); memcpy(iv + 28, new_nonce, 4);
    mt_wipe(buf, sizeof buf); mt_wipe(a, 20); mt_wipe(b, 20); mt_wipe(c, 20);
}

/* new_nonce_hashN = SHA1(new_nonce + N + SHA1(auth_key)[0:8])[4:20] */
static void new_nonce_hash(const uint8_t new_nonce[32], int n, const uint8_t auth_key[256], uint8_t out[16])
{
    uint8_t buf[41], h[20];
    memcpy(buf, new_nonce, 32);
    buf[32] = (uint8_t)n;
    mt_sha1(auth_key, 256, h);
    memcpy(buf + 33, h, 8);
    mt_sha1(buf, 41, h);
    memcpy(out, h + 4, 16);
    mt_wipe(buf, sizeof buf);
}

static int64_t first_salt(const uint8_t new_nonce[32], const uint8_t server_nonce[16])
{
    uint8_t s[8];
    for (int i = 0; i < 8; i++) s[i] = new_nonce[i] ^ server_nonce[i];
    return (int64_t)mt_le64(s);
}

/* Big-endian minimal bytes of a 64-bit number (TL bytes for pq, p, q). */
static size_t be_bytes(uint64_t v, uint8_t out[8])
{
    size_t n = 0;
    for (int i = 7; i >= 0; i--) {
        uint8_t b = (uint8_t)(v >> (i * 8));
        if (n || b) out[n++] = b;
    }
    if (!n) out[n++] = 0;
    return n;
}

static int be_value(const uint8_t *p, size_t n, uint64_t *v)
{
    if (n == 0 || n > 8) return 0;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) x = x << 8 | p[i];
    *v = x;
    return 1;
}

/* Encrypts SHA1(data) + data + random padding (to 16) with tmp key/iv, as TL bytes into out. */
static int seal_tl(const uint8_t *data, size_t len, const uint8_t key[32], const uint8_t iv[32],
                   const mt_random *rnd, mt_buf *out)
{
    size_t tot = 20 + len, padn = (16 - tot % 16) % 16;
    uint8_t *buf = malloc(tot + padn);
    if (!buf) return MT_ERR_NOMEM;
    mt_sha1(data, len, buf);
    memcpy(buf + 20, data, len);
    int rc = mt_random_fill(rnd, buf + tot, padn);
    if (rc >= 0) rc = mt_aes_ige_encrypt(key, iv, buf, buf, tot + padn);
    if (rc >= 0) {
        mt_buf_put_tlbytes(out, buf, tot + padn);
        rc = out->oom ? MT_ERR_NOMEM : MT_OK;
    }
    mt_wipe(buf, tot + padn);
    free(buf);
    return rc;
}

/* Decrypts an encrypted answer into a fresh heap copy; the caller frees (wiping) it. */
static uint8_t *unseal(const uint8_t *enc, size_t len, const uint8_t key[32], const uint8_t iv[32])
{
    uint8_t *p = malloc(len ? len : 1);
    if (!p) return NULL;
    if (mt_aes_ige_decrypt(key, iv, enc, p, len) < 0) { mt_wipe(p, len ? len : 1); free(p); return NULL; }
    return p;
}

static void free_wiped(uint8_t *p, size_t n)
{
    if (p) { mt_wipe(p, n); free(p); }
}

/* ================================== client ================================================= */

/* Waiting for an answer: C_RES_PQ, C_DH_PARAMS, C_DH_GEN. Work to do before the next
 * message (one piece per mt_auth_client_work): C_FACTOR, C_RSA after resPQ; C_CHECK, C_GB,
 * C_GAB after server_DH_params_ok (C_GB, C_GAB again after dh_gen_retry). */
enum { C_START, C_RES_PQ, C_FACTOR, C_RSA, C_DH_PARAMS, C_CHECK, C_GB, C_GAB, C_DH_GEN, C_DONE, C_DEAD };

struct mt_auth_client {
    const mt_rsa_keys *keys;
    mt_dh_cache *cache;
    mt_random rnd;
    int32_t dc_id, expires_in, time_offset;
    int state, retries;
    int split;                  /* modexps in MT_DH_PARTS pieces (mt_auth_client_split_modexp) */
    int part;                   /* the next part of the modexp under way (C_GB, C_GAB) */
    unsigned ops;
    uint8_t nonce[16], server_nonce[16], new_nonce[32];
    uint8_t tmp_key[32], tmp_iv[32];
    uint8_t pqb[8];             /* resPQ's pq as the server wrote it */
    size_t pql;
    uint64_t pq, p, q;
    int64_t fp;
    int32_t g;
    uint8_t prime[256], g_a[256], auth_key[256];
    uint8_t b[256], g_b[256];   /* between C_GB and C_GAB */
    uint8_t limb_pow[256];      /* between two parts of a split modexp */
    int64_t retry_id;
    char err[160];
};

mt_auth_client *mt_auth_client_new(const mt_rsa_keys *keys, int32_t dc_id, int32_t expires_in, const mt_random *rnd)
{
    if (!keys || expires_in < 0) return NULL;
    mt_auth_client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->keys = keys;
    c->dc_id = dc_id;
    c->expires_in = expires_in;
    if (rnd) c->rnd = *rnd;
    return c;
}

void mt_auth_client_set_cache(mt_auth_client *c, struct mt_dh_cache *cache)
{
    if (c) c->cache = cache;
}

void mt_auth_client_split_modexp(mt_auth_client *c, int on)
{
    if (c) c->split = on != 0;
}

/* One piece of base^b into out: all of it, or (split) its next part. MT_OK when out is
 * complete, MT_AUTH_WORK when parts are left, or an error. */
static int modexp_piece(mt_auth_client *c, const uint8_t *base, size_t blen, uint8_t out[256])
{
    if (!c->split) return mt_dh_modexp(base, blen, c->b, 256, c->prime, 256, out);
    int rc = mt_dh_modexp_part(base, blen, c->b, c->prime, 256, c->part, out, c->limb_pow);
    if (rc >= 0 && ++c->part < MT_DH_PARTS) return MT_AUTH_WORK;
    c->part = 0;
    mt_wipe(c->limb_pow, sizeof c->limb_pow);
    return rc < 0 ? rc : MT_OK;
}

void mt_auth_client_free(mt_auth_client *c)
{
    if (!c) return;
    mt_wipe(c, sizeof *c);
    free(c);
}

const char *mt_auth_client_error(const mt_auth_client *c)
{
    return c && c->err[0] ? c->err : NULL;
}

static int cfail(mt_auth_client *c, int code, const char *why)
{
    snprintf(c->err, sizeof c->err, "%s", why);
    c->state = C_DEAD;
    mt_wipe(c->auth_key, sizeof c->auth_key);
    mt_wipe(c->b, sizeof c->b);
    mt_wipe(c->limb_pow, sizeof c->limb_pow);
    mt_wipe(c->new_nonce, sizeof c->new_nonce);
    mt_wipe(c->tmp_key, sizeof c->tmp_key);
    mt_wipe(c->tmp_iv, sizeof c->tmp_iv);
    return code;
}

/* Reads the constructor, nonce and server_nonce shared by every server answer. */
static int c_head(mt_auth_client *c, mt_reader *r, uint32_t *id, int check_server_nonce)
{
    *id = mt_rd_u32(r);
    const uint8_t *n = mt_rd_raw(r, 16), *sn = mt_rd_raw(r, 16);
    if (!n || !sn) return cfail(c, MT_ERR_TRUNCATED, "server answer is truncated");
    if (mt_ct_memcmp(n, c->nonce, 16)) return cfail(c, MT_ERR_HANDSHAKE, "nonce mismatch");
    if (check_server_nonce && mt_ct_memcmp(sn, c->server_nonce, 16))
        return cfail(c, MT_ERR_HANDSHAKE, "server_nonce mismatch");
    if (!check_server_nonce) memcpy(c->server_nonce, sn, 16);
    return MT_OK;
}

static int c_res_pq(mt_auth_client *c, const uint8_t *in, size_t len)
{
    mt_reader r;
    mt_rd_init(&r, in, len);
    uint32_t id;
    if (len < 4 || mt_le32(in) != MT_ID_RES_PQ) return cfail(c, MT_ERR_PROTO, "expected resPQ");
    int rc = c_head(c, &r, &id, 0);
    if (rc < 0) return rc;
    const uint8_t *pqb;
    size_t pql;
    if (mt_rd_tlbytes(&r, &pqb, &pql) < 0) return cfail(c, MT_ERR_TRUNCATED, "resPQ is truncated");
    if (!be_value(pqb, pql, &c->pq)) return cfail(c, MT_ERR_HANDSHAKE, "pq is not a 64-bit number");
    memcpy(c->pqb, pqb, pql);
    c->pql = pql;
    if (mt_rd_u32(&r) != MT_ID_VECTOR) return cfail(c, MT_ERR_PROTO, "resPQ fingerprints are not a vector");
    uint32_t n = mt_rd_u32(&r);
    if (r.err || n > 64) return cfail(c, MT_ERR_PROTO, "resPQ fingerprint vector has a bad length");
    int found = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t f = mt_rd_i64(&r);
        if (r.err) return cfail(c, MT_ERR_TRUNCATED, "resPQ is truncated");
        if (!found && mt_rsa_keys_has(c->keys, f)) { c->fp = f; found = 1; }
    }
    if (!found) return cfail(c, MT_ERR_UNKNOWN_KEY, "no known RSA key matches the server's fingerprints");
    c->state = C_FACTOR;
    return MT_AUTH_WORK;
}

static int c_factor(mt_auth_client *c)
{
    if (mt_dh_factor_pq(c->pq, &c->p, &c->q) < 0) return cfail(c, MT_ERR_HANDSHAKE, "pq is not a product of two primes");
    c->state = C_RSA;
    return MT_AUTH_WORK;
}

/* p_q_inner_data_dc under RSA_PAD, in req_DH_params. */
static int c_req_dh(mt_auth_client *c, mt_buf *out)
{
    int rc = mt_random_fill(&c->rnd, c->new_nonce, 32);
    if (rc < 0) return cfail(c, rc, "random source failed");
    uint8_t pb[8], qb[8];
    size_t pl = be_bytes(c->p, pb), ql = be_bytes(c->q, qb);
    mt_buf inner;
    mt_buf_init(&inner);
    mt_buf_put_u32(&inner, c->expires_in ? MT_ID_P_Q_INNER_DATA_TEMP_DC : MT_ID_P_Q_INNER_DATA_DC);
    mt_buf_put_tlbytes(&inner, c->pqb, c->pql);
    mt_buf_put_tlbytes(&inner, pb, pl);
    mt_buf_put_tlbytes(&inner, qb, ql);
    mt_buf_put(&inner, c->nonce, 16);
    mt_buf_put(&inner, c->server_nonce, 16);
    mt_buf_put(&inner, c->new_nonce, 32);
    mt_buf_put_i32(&inner, c->dc_id);
    if (c->expires_in) mt_buf_put_i32(&inner, c->expires_in);
    if (inner.oom) { mt_buf_free(&inner); return cfail(c, MT_ERR_NOMEM, "out of memory"); }

    mt_buf_put_u32(out, MT_ID_REQ_DH_PARAMS);
    mt_buf_put(out, c->nonce, 16);
    mt_buf_put(out, c->server_nonce, 16);
    mt_buf_put_tlbytes(out, pb, pl);
    mt_buf_put_tlbytes(out, qb, ql);
    mt_buf_put_i64(out, c->fp);
    uint8_t hdr[4] = { 254, 0, 1, 0 }; /* TL bytes header of a 256-byte string */
    mt_buf_put(out, hdr, 4);
    rc = mt_rsa_pad_encrypt(c->keys, c->fp, inner.data, inner.len, &c->rnd, out);
    mt_buf_free(&inner);
    if (rc < 0) return cfail(c, rc, "RSA_PAD encryption failed");
    if (out->oom) return cfail(c, MT_ERR_NOMEM, "out of memory");
    tmp_key_iv(c->new_nonce, c->server_nonce, c->tmp_key, c->tmp_iv);
    c->state = C_DH_PARAMS;
    return MT_AUTH_SEND;
}

/* Picks b and computes g_b. */
static int c_gb(mt_auth_client *c)
{
    uint8_t gbuf[1] = { (uint8_t)c->g };
    int rc;
    if (c->part == 0 && (rc = mt_random_fill(&c->rnd, c->b, 256)) < 0) return cfail(c, rc, "random source failed");
    if ((rc = modexp_piece(c, gbuf, 1, c->g_b)) < 0) return cfail(c, rc, "modular exponentiation failed");
    if (rc == MT_AUTH_WORK) return rc;
    c->state = C_GAB;
    return MT_AUTH_WORK;
}

/* Computes the key (g_a^b) and writes set_client_DH_params. */
static int c_gab(mt_auth_client *c, mt_buf *out)
{
    int rc = modexp_piece(c, c->g_a, 256, c->auth_key);
    if (rc == MT_AUTH_WORK) return rc;
    mt_wipe(c->b, sizeof c->b);
    if (rc < 0) return cfail(c, rc, "modular exponentiation failed");
    if (mt_dh_check_ga(c->prime, 256, c->g_b, 256) != MT_OK) return cfail(c, MT_ERR_HANDSHAKE, "g_b is out of range");
    mt_buf inner;
    mt_buf_init(&inner);
    mt_buf_put_u32(&inner, MT_ID_CLIENT_DH_INNER_DATA);
    mt_buf_put(&inner, c->nonce, 16);
    mt_buf_put(&inner, c->server_nonce, 16);
    mt_buf_put_i64(&inner, c->retry_id);
    mt_buf_put_tlbytes(&inner, c->g_b, 256);
    if (inner.oom) { mt_buf_free(&inner); return cfail(c, MT_ERR_NOMEM, "out of memory"); }
    mt_buf_put_u32(out, MT_ID_SET_CLIENT_DH_PARAMS);
    mt_buf_put(out, c->nonce, 16);
    mt_buf_put(out, c->server_nonce, 16);
    rc = seal_tl(inner.data, inner.len, c->tmp_key, c->tmp_iv, &c->rnd, out);
    mt_buf_free(&inner);
    if (rc < 0) return cfail(c, rc, "encrypting client_DH_inner_data failed");
    c->state = C_DH_GEN;
    return MT_AUTH_SEND;
}

static int c_dh_params(mt_auth_client *c, const uint8_t *in, size_t len, int32_t now)
{
    mt_reader r;
    mt_rd_init(&r, in, len);
    uint32_t id = len >= 4 ? mt_le32(in) : 0;
    if (id != MT_ID_SERVER_DH_PARAMS_OK && id != MT_ID_SERVER_DH_PARAMS_FAIL) return cfail(c, MT_ERR_PROTO, "expected server_DH_params_ok");
    int rc = c_head(c, &r, &id, 1);
    if (rc < 0) return rc;
    if (id == MT_ID_SERVER_DH_PARAMS_FAIL) return cfail(c, MT_ERR_HANDSHAKE, "server refused the DH exchange (server_DH_params_fail)");
    const uint8_t *enc;
    size_t elen;
    if (mt_rd_tlbytes(&r, &enc, &elen) < 0) return cfail(c, MT_ERR_TRUNCATED, "server_DH_params_ok is truncated");
    if (elen % 16 || elen < 20 + 16 || elen > 4096) return cfail(c, MT_ERR_HANDSHAKE, "encrypted_answer has a bad length");
    uint8_t *ans = unseal(enc, elen, c->tmp_key, c->tmp_iv);
    if (!ans) return cfail(c, MT_ERR_NOMEM, "out of memory");

    mt_reader a;
    mt_rd_init(&a, ans + 20, elen - 20);
    const char *why = NULL;
    int code = MT_ERR_HANDSHAKE;
    const uint8_t *n = NULL, *sn = NULL, *prime = NULL, *ga = NULL;
    size_t plen = 0, galen = 0;
    uint32_t aid = mt_rd_u32(&a);
    n = mt_rd_raw(&a, 16);
    sn = mt_rd_raw(&a, 16);
    int32_t g = mt_rd_i32(&a);
    mt_rd_tlbytes(&a, &prime, &plen);
    mt_rd_tlbytes(&a, &ga, &galen);
    int32_t server_time = mt_rd_i32(&a);
    if (a.err) {
        why = aid == MT_ID_SERVER_DH_INNER_DATA ? "server_DH_inner_data is truncated" : "expected server_DH_inner_data";
    } else if (elen - 20 - a.pos > 15) {
        why = "answer padding is longer than 15 bytes";
    } else {
        uint8_t h[20];
        mt_sha1(ans + 20, a.pos, h);
        if (mt_ct_memcmp(h, ans, 20)) why = "answer hash mismatch";
        else if (aid != MT_ID_SERVER_DH_INNER_DATA) why = "expected server_DH_inner_data";
        else if (mt_ct_memcmp(n, c->nonce, 16)) why = "nonce mismatch in server_DH_inner_data";
        else if (mt_ct_memcmp(sn, c->server_nonce, 16)) why = "server_nonce mismatch in server_DH_inner_data";
        else if (g < 2 || g > 7 || plen != 256 || !(prime[0] & 0x80))
            mt_dh_check_prime_g(prime, plen, g, NULL, &why); /* fails at once, without the heavy tests */
        else if (galen > 256) why = "g_a is out of range";
        else {
            c->g = g;
            memcpy(c->prime, prime, 256);
            memset(c->g_a, 0, 256);
            memcpy(c->g_a + 256 - galen, ga, galen);
            c->time_offset = (int32_t)((int64_t)server_time - now);
        }
    }
    free_wiped(ans, elen);
    if (why) return cfail(c, code, why);
    c->state = C_CHECK;
    return MT_AUTH_WORK;
}

/* dh_prime and g as auth_key 4.5 asks (a prime other than the known one costs two primality
 * tests, then the cache remembers it), then g_a's range. */
static int c_check(mt_auth_client *c)
{
    const char *why = NULL;
    int rc = mt_dh_check_prime_g(c->prime, 256, c->g, c->cache, &why);
    if (rc == MT_ERR_HANDSHAKE) return cfail(c, rc, why);
    if (rc != MT_OK) return cfail(c, rc, "checking dh_prime failed");
    if (mt_dh_check_ga(c->prime, 256, c->g_a, 256) != MT_OK) return cfail(c, MT_ERR_HANDSHAKE, "g_a is out of range");
    c->state = C_GB;
    return MT_AUTH_WORK;
}

static int c_dh_gen(mt_auth_client *c, const uint8_t *in, size_t len)
{
    mt_reader r;
    mt_rd_init(&r, in, len);
    uint32_t id = len >= 4 ? mt_le32(in) : 0;
    int which = id == MT_ID_DH_GEN_OK ? 1 : id == MT_ID_DH_GEN_RETRY ? 2 : id == MT_ID_DH_GEN_FAIL ? 3 : 0;
    if (!which) return cfail(c, MT_ERR_PROTO, "expected dh_gen_ok, dh_gen_retry or dh_gen_fail");
    int rc = c_head(c, &r, &id, 1);
    if (rc < 0) return rc;
    const uint8_t *hash = mt_rd_raw(&r, 16);
    if (!hash) return cfail(c, MT_ERR_TRUNCATED, "dh_gen answer is truncated");
    uint8_t want[16];
    new_nonce_hash(c->new_nonce, which, c->auth_key, want);
    if (mt_ct_memcmp(want, hash, 16)) {
        static const char *const txt[] = { "", "new_nonce_hash1 mismatch", "new_nonce_hash2 mismatch", "new_nonce_hash3 mismatch" };
        return cfail(c, MT_ERR_HANDSHAKE, txt[which]);
    }
    if (which == 3) return cfail(c, MT_ERR_HANDSHAKE, "server answered dh_gen_fail");
    if (which == 2) {
        if (++c->retries > MAX_RETRIES) return cfail(c, MT_ERR_HANDSHAKE, "too many dh_gen_retry answers");
        uint8_t h[20];
        mt_sha1(c->auth_key, 256, h);
        c->retry_id = (int64_t)mt_le64(h); /* auth_key_aux_hash of the failed attempt */
        mt_wipe(c->auth_key, 256);
        c->state = C_GB;
        return MT_AUTH_WORK;
    }
    c->state = C_DONE;
    mt_wipe(c->tmp_key, sizeof c->tmp_key);
    mt_wipe(c->tmp_iv, sizeof c->tmp_iv);
    return MT_AUTH_DONE;
}

int mt_auth_client_input(mt_auth_client *c, const uint8_t *in, size_t len, int32_t now, mt_buf *out)
{
    if (!c || !out || (len && !in)) return MT_ERR_ARG;
    switch (c->state) {
    case C_START: {
        if (in && len) return cfail(c, MT_ERR_ARG, "the first step takes no input");
        int rc = mt_random_fill(&c->rnd, c->nonce, 16);
        if (rc < 0) return cfail(c, rc, "random source failed");
        mt_buf_put_u32(out, MT_ID_REQ_PQ_MULTI);
        mt_buf_put(out, c->nonce, 16);
        if (out->oom) return cfail(c, MT_ERR_NOMEM, "out of memory");
        c->state = C_RES_PQ;
        return MT_AUTH_SEND;
    }
    case C_RES_PQ: return c_res_pq(c, in, len);
    case C_DH_PARAMS: return c_dh_params(c, in, len, now);
    case C_DH_GEN: return c_dh_gen(c, in, len);
    case C_DONE:
        snprintf(c->err, sizeof c->err, "the handshake is already complete");
        return MT_ERR_ARG;
    case C_DEAD:
        return MT_ERR_HANDSHAKE; /* dead: the first error stays in c->err */
    default:
        return cfail(c, MT_ERR_ARG, "an answer came while work was left (mt_auth_client_work)");
    }
}

int mt_auth_client_work(mt_auth_client *c, mt_buf *out)
{
    if (!c || !out) return MT_ERR_ARG;
    int st = c->state;
    if (st == C_DEAD) return MT_ERR_HANDSHAKE;
    if (st != C_FACTOR && st != C_RSA && st != C_CHECK && st != C_GB && st != C_GAB) return MT_ERR_ARG;
    c->ops++;
    switch (st) {
    case C_FACTOR: return c_factor(c);
    case C_RSA: return c_req_dh(c, out);
    case C_CHECK: return c_check(c);
    case C_GB: return c_gb(c);
    default: return c_gab(c, out);
    }
}

unsigned mt_auth_client_ops(const mt_auth_client *c) { return c ? c->ops : 0; }

int mt_auth_client_step(mt_auth_client *c, const uint8_t *in, size_t len, int32_t now, mt_buf *out)
{
    int rc = mt_auth_client_input(c, in, len, now, out);
    while (rc == MT_AUTH_WORK) rc = mt_auth_client_work(c, out);
    return rc;
}

int mt_auth_client_result(const mt_auth_client *c, uint8_t auth_key[256], int64_t *server_salt, int32_t *time_offset)
{
    if (!c || c->state != C_DONE) return MT_ERR_ARG;
    if (auth_key) memcpy(auth_key, c->auth_key, 256);
    if (server_salt) *server_salt = first_salt(c->new_nonce, c->server_nonce);
    if (time_offset) *time_offset = c->time_offset;
    return MT_OK;
}

/* ================================== server ================================================= */

enum { S_START, S_REQ_DH, S_SET_CLIENT, S_DONE, S_DEAD };

struct mt_auth_server {
    const mt_rsa_priv *key;
    mt_random rnd;
    int state;
    uint64_t p, q;
    int32_t dc_id, expires_in;
    uint8_t nonce[16], server_nonce[16], new_nonce[32];
    uint8_t tmp_key[32], tmp_iv[32];
    uint8_t a[256], g_a[256], auth_key[256];
    char err[160];
};

mt_auth_server *mt_auth_server_new(const mt_rsa_priv *key, const mt_random *rnd)
{
    if (!key) return NULL;
    mt_auth_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->key = key;
    if (rnd) s->rnd = *rnd;
    return s;
}

void mt_auth_server_free(mt_auth_server *s)
{
    if (!s) return;
    mt_wipe(s, sizeof *s);
    free(s);
}

const char *mt_auth_server_error(const mt_auth_server *s)
{
    return s && s->err[0] ? s->err : NULL;
}

static int sfail(mt_auth_server *s, int code, const char *why)
{
    snprintf(s->err, sizeof s->err, "%s", why);
    s->state = S_DEAD;
    mt_wipe(s->a, sizeof s->a);
    mt_wipe(s->auth_key, sizeof s->auth_key);
    mt_wipe(s->new_nonce, sizeof s->new_nonce);
    return code;
}

static int s_head(mt_auth_server *s, mt_reader *r, uint32_t want, const char *what)
{
    if (mt_rd_u32(r) != want) return sfail(s, MT_ERR_PROTO, what);
    const uint8_t *n = mt_rd_raw(r, 16), *sn = mt_rd_raw(r, 16);
    if (!n || !sn) return sfail(s, MT_ERR_TRUNCATED, "client request is truncated");
    if (mt_ct_memcmp(n, s->nonce, 16)) return sfail(s, MT_ERR_HANDSHAKE, "nonce mismatch");
    if (mt_ct_memcmp(sn, s->server_nonce, 16)) return sfail(s, MT_ERR_HANDSHAKE, "server_nonce mismatch");
    return MT_OK;
}

static int s_req_pq(mt_auth_server *s, const uint8_t *in, size_t len, mt_buf *out)
{
    mt_reader r;
    mt_rd_init(&r, in, len);
    uint32_t id = mt_rd_u32(&r);
    const uint8_t *n = mt_rd_raw(&r, 16);
    if (id != MT_ID_REQ_PQ_MULTI && id != MT_ID_REQ_PQ) return sfail(s, MT_ERR_PROTO, "expected req_pq_multi");
    if (!n) return sfail(s, MT_ERR_TRUNCATED, "req_pq_multi is truncated");
    memcpy(s->nonce, n, 16);
    int rc = mt_random_fill(&s->rnd, s->server_nonce, 16);
    if (rc < 0) return sfail(s, rc, "random source failed");
    /* Two 31-bit primes: pq < 2^62, p < q. */
    do {
        if ((rc = mt_dh_random_prime(&s->rnd, 31, &s->p)) < 0 || (rc = mt_dh_random_prime(&s->rnd, 31, &s->q)) < 0)
            return sfail(s, rc, "generating pq failed");
    } while (s->p == s->q);
    if (s->p > s->q) { uint64_t t = s->p; s->p = s->q; s->q = t; }
    uint8_t pq[8];
    for (int i = 0; i < 8; i++) pq[i] = (uint8_t)((s->p * s->q) >> (56 - 8 * i));
    mt_buf_put_u32(out, MT_ID_RES_PQ);
    mt_buf_put(out, s->nonce, 16);
    mt_buf_put(out, s->server_nonce, 16);
    mt_buf_put_tlbytes(out, pq, 8);
    mt_buf_put_u32(out, MT_ID_VECTOR);
    mt_buf_put_u32(out, 1);
    mt_buf_put_i64(out, mt_rsa_priv_fingerprint(s->key));
    if (out->oom) return sfail(s, MT_ERR_NOMEM, "out of memory");
    s->state = S_REQ_DH;
    return MT_AUTH_SEND;
}

static int s_check_pq(mt_auth_server *s, mt_reader *r, int with_pq)
{
    const uint8_t *b;
    size_t n;
    uint64_t v[3], want[3] = { s->p * s->q, s->p, s->q };
    for (int i = with_pq ? 0 : 1; i < 3; i++) {
        if (mt_rd_tlbytes(r, &b, &n) < 0) return MT_ERR_TRUNCATED;
        if (!be_value(b, n, &v[i]) || v[i] != want[i]) return MT_ERR_HANDSHAKE;
    }
    return MT_OK;
}

static int s_req_dh(mt_auth_server *s, const uint8_t *in, size_t len, int32_t now, mt_buf *out)
{
    mt_reader r;
    mt_rd_init(&r, in, len);
    int rc = s_head(s, &r, MT_ID_REQ_DH_PARAMS, "expected req_DH_params");
    if (rc < 0) return rc;
    if ((rc = s_check_pq(s, &r, 0)) < 0)
        return sfail(s, rc, rc == MT_ERR_TRUNCATED ? "req_DH_params is truncated" : "p and q do not match pq");
    int64_t fp = mt_rd_i64(&r);
    const uint8_t *enc;
    size_t elen;
    if (mt_rd_tlbytes(&r, &enc, &elen) < 0) return sfail(s, MT_ERR_TRUNCATED, "req_DH_params is truncated");
    if (fp != mt_rsa_priv_fingerprint(s->key)) return sfail(s, MT_ERR_UNKNOWN_KEY, "unknown public_key_fingerprint");
    if (elen != 256) return sfail(s, MT_ERR_HANDSHAKE, "encrypted_data is not 256 bytes");
    mt_buf inner;
    mt_buf_init(&inner);
    rc = mt_rsa_priv_unpad_decrypt(s->key, enc, elen, &inner);
    if (rc < 0) {
        mt_buf_free(&inner);
        return sfail(s, rc, rc == MT_ERR_HANDSHAKE ? "RSA_PAD hash mismatch in encrypted_data" : "RSA decryption failed");
    }
    mt_reader ir;
    mt_rd_init(&ir, inner.data, inner.len);
    uint32_t id = mt_rd_u32(&ir);
    int has_dc = id == MT_ID_P_Q_INNER_DATA_DC || id == MT_ID_P_Q_INNER_DATA_TEMP_DC;
    int has_exp = id == MT_ID_P_Q_INNER_DATA_TEMP || id == MT_ID_P_Q_INNER_DATA_TEMP_DC;
    const char *why = NULL;
    if (!has_dc && !has_exp && id != MT_ID_P_Q_INNER_DATA) {
        why = "expected p_q_inner_data";
    } else if ((rc = s_check_pq(s, &ir, 1)) < 0) {
        why = "pq, p or q in p_q_inner_data do not match";
    } else {
        const uint8_t *n = mt_rd_raw(&ir, 16), *sn = mt_rd_raw(&ir, 16), *nn = mt_rd_raw(&ir, 32);
        int32_t dc = has_dc ? mt_rd_i32(&ir) : 0, exp = has_exp ? mt_rd_i32(&ir) : 0;
        if (ir.err) why = "p_q_inner_data is truncated";
        else if (mt_ct_memcmp(n, s->nonce, 16)) why = "nonce mismatch in p_q_inner_data";
        else if (mt_ct_memcmp(sn, s->server_nonce, 16)) why = "server_nonce mismatch in p_q_inner_data";
        else if (has_exp && exp <= 0) why = "expires_in must be positive";
        else { memcpy(s->new_nonce, nn, 32); s->dc_id = dc; s->expires_in = exp; }
    }
    mt_buf_free(&inner);
    if (why) return sfail(s, MT_ERR_HANDSHAKE, why);

    /* a, g_a = 3^a mod p (retry a fresh a until g_a is in the safe range). */
    static const uint8_t three[1] = { 3 };
    for (int tries = 0;; tries++) {
        if (tries == 16) return sfail(s, MT_ERR_CRYPTO, "could not pick a");
        if ((rc = mt_random_fill(&s->rnd, s->a, 256)) < 0) return sfail(s, rc, "random source failed");
        if ((rc = mt_dh_modexp(three, 1, s->a, 256, mt_dh_known_prime, 256, s->g_a)) < 0)
            return sfail(s, rc, "modular exponentiation failed");
        if (mt_dh_check_ga(mt_dh_known_prime, 256, s->g_a, 256) == MT_OK) break;
    }
    mt_buf ans;
    mt_buf_init(&ans);
    mt_buf_put_u32(&ans, MT_ID_SERVER_DH_INNER_DATA);
    mt_buf_put(&ans, s->nonce, 16);
    mt_buf_put(&ans, s->server_nonce, 16);
    mt_buf_put_i32(&ans, 3);
    mt_buf_put_tlbytes(&ans, mt_dh_known_prime, 256);
    mt_buf_put_tlbytes(&ans, s->g_a, 256);
    mt_buf_put_i32(&ans, now);
    if (ans.oom) { mt_buf_free(&ans); return sfail(s, MT_ERR_NOMEM, "out of memory"); }
    tmp_key_iv(s->new_nonce, s->server_nonce, s->tmp_key, s->tmp_iv);
    mt_buf_put_u32(out, MT_ID_SERVER_DH_PARAMS_OK);
    mt_buf_put(out, s->nonce, 16);
    mt_buf_put(out, s->server_nonce, 16);
    rc = seal_tl(ans.data, ans.len, s->tmp_key, s->tmp_iv, &s->rnd, out);
    mt_buf_free(&ans);
    if (rc < 0) return sfail(s, rc, "encrypting server_DH_inner_data failed");
    s->state = S_SET_CLIENT;
    return MT_AUTH_SEND;
}

static int s_set_client(mt_auth_server *s, const uint8_t *in, size_t len, mt_buf *out)
{
    mt_reader r;
    mt_rd_init(&r, in, len);
    int rc = s_head(s, &r, MT_ID_SET_CLIENT_DH_PARAMS, "expected set_client_DH_params");
    if (rc < 0) return rc;
    const uint8_t *enc;
    size_t elen;
    if (mt_rd_tlbytes(&r, &enc, &elen) < 0) return sfail(s, MT_ERR_TRUNCATED, "set_client_DH_params is truncated");
    if (elen % 16 || elen < 20 + 16 || elen > 4096) return sfail(s, MT_ERR_HANDSHAKE, "encrypted_data has a bad length");
    uint8_t *d = unseal(enc, elen, s->tmp_key, s->tmp_iv);
    if (!d) return sfail(s, MT_ERR_NOMEM, "out of memory");
    mt_reader a;
    mt_rd_init(&a, d + 20, elen - 20);
    uint32_t id = mt_rd_u32(&a);
    const uint8_t *n = mt_rd_raw(&a, 16), *sn = mt_rd_raw(&a, 16), *gb = NULL;
    int64_t retry_id = mt_rd_i64(&a);
    size_t gblen = 0;
    mt_rd_tlbytes(&a, &gb, &gblen);
    const char *why = NULL;
    if (a.err) why = id == MT_ID_CLIENT_DH_INNER_DATA ? "client_DH_inner_data is truncated" : "expected client_DH_inner_data";
    else if (elen - 20 - a.pos > 15) why = "client_DH_inner_data padding is longer than 15 bytes";
    else {
        uint8_t h[20];
        mt_sha1(d + 20, a.pos, h);
        if (mt_ct_memcmp(h, d, 20)) why = "client_DH_inner_data hash mismatch";
        else if (id != MT_ID_CLIENT_DH_INNER_DATA) why = "expected client_DH_inner_data";
        else if (mt_ct_memcmp(n, s->nonce, 16)) why = "nonce mismatch in client_DH_inner_data";
        else if (mt_ct_memcmp(sn, s->server_nonce, 16)) why = "server_nonce mismatch in client_DH_inner_data";
        else if (retry_id != 0) why = "unexpected retry_id";
        else if (gblen > 256 || mt_dh_check_ga(mt_dh_known_prime, 256, gb, gblen) != MT_OK) why = "g_b is out of range";
        else if (mt_dh_modexp(gb, gblen, s->a, 256, mt_dh_known_prime, 256, s->auth_key) < 0) why = "modular exponentiation failed";
    }
    free_wiped(d, elen);
    if (why) return sfail(s, MT_ERR_HANDSHAKE, why);
    mt_wipe(s->a, sizeof s->a);
    uint8_t h1[16];
    new_nonce_hash(s->new_nonce, 1, s->auth_key, h1);
    mt_buf_put_u32(out, MT_ID_DH_GEN_OK);
    mt_buf_put(out, s->nonce, 16);
    mt_buf_put(out, s->server_nonce, 16);
    mt_buf_put(out, h1, 16);
    if (out->oom) return sfail(s, MT_ERR_NOMEM, "out of memory");
    s->state = S_DONE;
    return MT_AUTH_DONE;
}

int mt_auth_server_step(mt_auth_server *s, const uint8_t *in, size_t len, int32_t now, mt_buf *out)
{
    if (!s || !out || (len && !in)) return MT_ERR_ARG;
    switch (s->state) {
    case S_START: return s_req_pq(s, in, len, out);
    case S_REQ_DH: return s_req_dh(s, in, len, now, out);
    case S_SET_CLIENT: return s_set_client(s, in, len, out);
    case S_DONE:
        snprintf(s->err, sizeof s->err, "the handshake is already complete");
        return MT_ERR_ARG;
    default:
        return MT_ERR_HANDSHAKE;
    }
}

int mt_auth_server_result(const mt_auth_server *s, uint8_t auth_key[256], int64_t *server_salt, int32_t *dc_id, int32_t *expires_in)
{
    if (!s || s->state != S_DONE) return MT_ERR_ARG;
    if (auth_key) memcpy(auth_key, s->auth_key, 256);
    if (server_salt) *server_salt = first_salt(s->new_nonce, s->server_nonce);
    if (dc_id) *dc_id = s->dc_id;
    if (expires_in) *expires_in = s->expires_in;
    return MT_OK;
}

/* ================================== plain messages ========================================= */

int mt_plain_wrap(mt_buf *out, int64_t msg_id, const uint8_t *body, size_t len)
{
    if (!out || (len && !body) || len > 0x7fffffff) return MT_ERR_ARG;
    mt_buf_put_u64(out, 0);
    mt_buf_put_i64(out, msg_id);
    mt_buf_put_u32(out, (uint32_t)len);
    mt_buf_put(out, body, len);
    return out->oom ? MT_ERR_NOMEM : MT_OK;
}

int mt_plain_unwrap(const uint8_t *in, size_t len, int64_t *msg_id, const uint8_t **body, size_t *blen)
{
    if (!in && len) return MT_ERR_ARG;
    if (len < 20) return MT_ERR_TRUNCATED;
    if (mt_le64(in) != 0) return MT_ERR_PROTO;
    uint32_t n = mt_le32(in + 16);
    if (n > len - 20) return MT_ERR_TRUNCATED;
    if (msg_id) *msg_id = (int64_t)mt_le64(in + 8);
    if (body) *body = in + 20;
    if (blen) *blen = n;
    return MT_OK;
}
