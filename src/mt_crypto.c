/* MTProto 2.0 primitives over OpenSSL libcrypto (see mt_crypto.h). */
/* SHA256_Init/Update/Final: deprecated in OpenSSL 3 but kept there, and the only SHA-256
 * without an allocation and a provider context per hash (see sha256_2); a build of OpenSSL
 * without them (OPENSSL_NO_DEPRECATED_3_0) gets the EVP path. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include "mt_aesni.h"
#include "mt_shani.h"
#include "mt_buf.h"
#include "mt_crypto.h"

int mt_random_system(void *ud, uint8_t *out, size_t n)
{
    (void)ud;
    while (n) {
        int k = n > 1 << 20 ? 1 << 20 : (int)n;
        if (RAND_bytes(out, k) != 1) return MT_ERR_CRYPTO;
        out += k;
        n -= (size_t)k;
    }
    return MT_OK;
}

static int pool_draw(void *ud, uint8_t *out, size_t n)
{
    mt_random_pool *p = ud;
    while (n) {
        if (p->pos == p->size) {
            int rc = mt_random_fill(&p->src, p->bytes, p->size);
            if (rc) return rc;
            p->pos = 0;
        }
        size_t k = p->size - p->pos;
        if (k > n) k = n;
        memcpy(out, p->bytes + p->pos, k);
        mt_wipe(p->bytes + p->pos, k);
        p->pos += k; out += k; n -= k;
    }
    return MT_OK;
}

static void pool_setup(mt_random_pool *p, const mt_random *src, uint8_t *bytes, size_t size)
{
    p->src.fn = src ? src->fn : NULL;
    p->src.ud = src ? src->ud : NULL;
    p->rnd.fn = pool_draw;
    p->rnd.ud = p;
    p->bytes = bytes;
    p->size = p->pos = size;
}

void mt_random_pool_init(mt_random_pool *p, const mt_random *src)
{
    pool_setup(p, src, p->small, sizeof p->small);
}

void mt_random_pool_wipe(mt_random_pool *p)
{
    mt_wipe(p->bytes, p->size);
    p->pos = p->size;
}

mt_random_pool *mt_random_pool_new(const mt_random *src, size_t size)
{
    if (size < MT_RANDOM_POOL_SMALL) size = MT_RANDOM_POOL_SMALL;
    size_t extra = size > MT_RANDOM_POOL_SMALL ? size : 0;
    mt_random_pool *p = malloc(sizeof *p + extra);
    if (!p) return NULL;
    pool_setup(p, src, extra ? (uint8_t *)(p + 1) : p->small, size);
    p->refs = 1;
    return p;
}

mt_random_pool *mt_random_pool_ref(mt_random_pool *p)
{
    p->refs++;
    return p;
}

void mt_random_pool_free(mt_random_pool *p)
{
    if (!p || --p->refs) return;
    if (p->bytes != p->small) mt_wipe(p->bytes, p->size);
    mt_wipe(p, sizeof *p);
    free(p);
}

int mt_sha1(const void *p, size_t n, uint8_t out[20])
{
    if (SHA1(p, n, out)) return MT_OK;
    memset(out, 0, 20);
    return MT_ERR_CRYPTO;
}

int mt_sha256(const void *p, size_t n, uint8_t out[32])
{
    if (SHA256(p, n, out)) return MT_OK;
    memset(out, 0, 32);
    return MT_ERR_CRYPTO;
}

int mt_sha256_parts(uint8_t out[32], const void *a, size_t an, const void *b, size_t bn,
                    const void *c, size_t cn, const void *d, size_t dn)
{
    /* One buffer on the stack for the common small case; EVP_MD_CTX otherwise. */
    uint8_t small[512];
    size_t tot = (a ? an : 0) + (b ? bn : 0) + (c ? cn : 0) + (d ? dn : 0);
    if (tot <= sizeof small) {
        size_t o = 0;
        if (a && an) { memcpy(small + o, a, an); o += an; }
        if (b && bn) { memcpy(small + o, b, bn); o += bn; }
        if (c && cn) { memcpy(small + o, c, cn); o += cn; }
        if (d && dn) { memcpy(small + o, d, dn); o += dn; }
        int rc = mt_sha256(small, o, out);
        mt_wipe(small, o);
        return rc;
    }
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    int ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 &&
             (!a || EVP_DigestUpdate(h, a, an) == 1) && (!b || EVP_DigestUpdate(h, b, bn) == 1) &&
             (!c || EVP_DigestUpdate(h, c, cn) == 1) && (!d || EVP_DigestUpdate(h, d, dn) == 1) &&
             EVP_DigestFinal_ex(h, out, NULL) == 1;
    EVP_MD_CTX_free(h);
    if (ok) return MT_OK;
    memset(out, 0, 32);
    return MT_ERR_CRYPTO;
}

/* ---- AES-256-IGE ---------------------------------------------------------------------------
 * IGE: y_i = E(x_i ^ y_{i-1}) ^ x_{i-1}, with y_{-1} = iv[0..16), x_{-1} = iv[16..32).
 *
 * Encryption is rewritten as one CBC pass so that OpenSSL's serial AES-NI CBC loop does the
 * chaining with no per-block call: let z_i = E(x_i ^ y_{i-1}); since y_{i-1} = z_{i-1} ^ x_{i-2},
 * z_i = E((x_i ^ x_{i-2}) ^ z_{i-1}), i.e. z = CBC_E(p) with p_i = x_i ^ x_{i-2}, CBC IV = iv1 and
 * x_{-2} = 0; then y_i = z_i ^ x_{i-1}. Decryption has the inverse cipher inside the chain, which
 * no OpenSSL mode offers, so it runs block by block over one ECB context.
 * Both go through EVP_Cipher, the provider's cipher function itself: whole blocks, no padding,
 * so EVP_EncryptUpdate/EVP_DecryptUpdate's partial-block buffering (which cost more than the
 * AES of a block, once per block when decrypting) has nothing to do. */

struct mt_aes_ige {
    EVP_CIPHER_CTX *cbc, *ecb;
    EVP_CIPHER *cbc_impl, *ecb_impl;     /* fetched once: no provider look-up per message */
    int have_cbc, have_ecb;              /* the contexts hold the key below */
    int aesni;                           /* mt_aesni_ige instead (asked once, at _new) */
    uint8_t key_cbc[32], key_ecb[32];
};

typedef struct { uint64_t a, b; } blk;

static inline blk ld(const uint8_t *p) { blk v; memcpy(&v, p, 16); return v; }
static inline void st(uint8_t *p, blk v) { memcpy(p, &v, 16); }
static inline blk bx(blk x, blk y) { blk r = { x.a ^ y.a, x.b ^ y.b }; return r; }

#define IGE_CHUNK 4096

/* (Re)keys ctx for cipher c. A context already set up with the same cipher and key only gets
 * the new iv: no cipher fetch and no key schedule (`have`/`last` is that cache, may be NULL). */
static int ctx_init(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *c, int enc, const uint8_t key[32],
                    const uint8_t *iv, int *have, uint8_t last[32])
{
    if (have && *have) {
        if (mt_ct_memcmp(last, key, 32) == 0)
            return EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc) == 1 ? MT_OK : MT_ERR_CRYPTO;
        /* same cipher, new key: the padding setting stays (a key change keeps it) */
        if (EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc) != 1) { *have = 0; return MT_ERR_CRYPTO; }
        memcpy(last, key, 32);
        return MT_OK;
    }
    if (EVP_CipherInit_ex(ctx, c, NULL, key, iv, enc) != 1) return MT_ERR_CRYPTO;
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    if (have) { *have = 1; memcpy(last, key, 32); }
    return MT_OK;
}

static int ige_enc(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *impl, int *have, uint8_t last[32], const uint8_t key[32],
                   const uint8_t iv[32], const uint8_t *in, uint8_t *out, size_t len)
{
    uint8_t tmp[IGE_CHUNK];
    blk xm1 = ld(iv + 16), xm2 = { 0, 0 }; /* x_{i-1}, x_{i-2} */
    int rc;
    if ((rc = ctx_init(ctx, impl ? impl : EVP_aes_256_cbc(), 1, key, iv, have, last)) < 0) return rc;
    rc = MT_OK;
    for (size_t off = 0; off < len; off += IGE_CHUNK) {
        size_t m = len - off < IGE_CHUNK ? len - off : IGE_CHUNK;
        blk a = xm1, b = xm2;
        for (size_t i = 0; i < m; i += 16) {
            blk x = ld(in + off + i);
            st(tmp + i, bx(x, b));
            b = a; a = x;
        }
        if (EVP_Cipher(ctx, tmp, tmp, (unsigned)m) <= 0) {
            rc = MT_ERR_CRYPTO;
            break;
        }
        /* in and out may alias: read x_i before writing y_i. */
        for (size_t i = 0; i < m; i += 16) {
            blk x = ld(in + off + i);
            st(out + off + i, bx(ld(tmp + i), xm1));
            xm2 = xm1; xm1 = x;
        }
    }
    /* tmp held z_i = y_i ^ x_{i-1}: plaintext-derived, so wiped (only the part used) */
    mt_wipe(tmp, len < IGE_CHUNK ? len : IGE_CHUNK);
    return rc;
}

static int ige_dec(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *impl, int *have, uint8_t last[32], const uint8_t key[32],
                   const uint8_t iv[32], const uint8_t *in, uint8_t *out, size_t len)
{
    blk ym1 = ld(iv), xm1 = ld(iv + 16);
    uint8_t t[16];
    int rc;
    if ((rc = ctx_init(ctx, impl ? impl : EVP_aes_256_ecb(), 0, key, NULL, have, last)) < 0) return rc;
    for (size_t i = 0; i < len; i += 16) {
        blk y = ld(in + i);
        st(t, bx(y, xm1));
        if (EVP_Cipher(ctx, t, t, 16) <= 0) {
            mt_wipe(t, sizeof t);
            return MT_ERR_CRYPTO;
        }
        xm1 = bx(ld(t), ym1);
        st(out + i, xm1);
        ym1 = y;
    }
    mt_wipe(t, sizeof t);
    return MT_OK;
}

mt_aes_ige *mt_aes_ige_new(void)
{
    mt_aes_ige *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->aesni = mt_aesni_usable();
    return c; /* each direction's OpenSSL objects are made on its first use */
}

void mt_aes_ige_free(mt_aes_ige *c)
{
    if (!c) return;
    EVP_CIPHER_CTX_free(c->cbc); /* frees (and cleanses) the key schedule */
    EVP_CIPHER_CTX_free(c->ecb);
    EVP_CIPHER_free(c->cbc_impl);
    EVP_CIPHER_free(c->ecb_impl);
    mt_wipe(c, sizeof *c);
    free(c);
}

const char *mt_aes_ige_backend(const mt_aes_ige *c) { return c->aesni ? "aesni" : "openssl"; }

/* Forgets the key schedules (EVP_CIPHER_CTX_reset cleanses them); the next run keys afresh. */
static void aes_ige_forget(mt_aes_ige *c)
{
    if (c->cbc) EVP_CIPHER_CTX_reset(c->cbc);
    if (c->ecb) EVP_CIPHER_CTX_reset(c->ecb);
    c->have_cbc = c->have_ecb = 0;
    mt_wipe(c->key_cbc, sizeof c->key_cbc);
    mt_wipe(c->key_ecb, sizeof c->key_ecb);
}

int mt_aes_ige_run(mt_aes_ige *c, int enc, const uint8_t key[32], const uint8_t iv[32],
                   const uint8_t *in, uint8_t *out, size_t len)
{
    if (!c || !key || !iv || (len && (!in || !out)) || len % 16 || len > (size_t)INT32_MAX)
        return MT_ERR_ARG;
    if (!len) return MT_OK;
    if (c->aesni) {
        mt_aesni_ige(enc, key, iv, in, out, len);
        return MT_OK;
    }
    /* the cipher is fetched once per context: no provider look-up per message */
    EVP_CIPHER **impl = enc ? &c->cbc_impl : &c->ecb_impl;
    EVP_CIPHER_CTX **ctx = enc ? &c->cbc : &c->ecb;
    if (!*impl && !(*impl = EVP_CIPHER_fetch(NULL, enc ? "AES-256-CBC" : "AES-256-ECB", NULL))) return MT_ERR_CRYPTO;
    if (!*ctx && !(*ctx = EVP_CIPHER_CTX_new())) return MT_ERR_NOMEM;
    return enc ? ige_enc(c->cbc, c->cbc_impl, &c->have_cbc, c->key_cbc, key, iv, in, out, len)
               : ige_dec(c->ecb, c->ecb_impl, &c->have_ecb, c->key_ecb, key, iv, in, out, len);
}

static int ige_once(int enc, const uint8_t key[32], const uint8_t iv[32], const uint8_t *in,
                    uint8_t *out, size_t len)
{
    if (!key || !iv || (len && (!in || !out)) || len % 16 || len > (size_t)INT32_MAX) return MT_ERR_ARG;
    if (!len) return MT_OK;
    if (mt_aesni_usable()) {
        mt_aesni_ige(enc, key, iv, in, out, len);
        return MT_OK;
    }
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx) return MT_ERR_NOMEM;
    int rc = enc ? ige_enc(ctx, NULL, NULL, NULL, key, iv, in, out, len)
                 : ige_dec(ctx, NULL, NULL, NULL, key, iv, in, out, len);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int mt_aes_ige_encrypt(const uint8_t key[32], const uint8_t iv[32], const uint8_t *in, uint8_t *out, size_t len)
{
    return ige_once(1, key, iv, in, out, len);
}

int mt_aes_ige_decrypt(const uint8_t key[32], const uint8_t iv[32], const uint8_t *in, uint8_t *out, size_t len)
{
    return ige_once(0, key, iv, in, out, len);
}

/* ---- AES-256-CTR ---------------------------------------------------------------------------- */

struct mt_aes_ctr {
    EVP_CIPHER_CTX *ctx;
};

mt_aes_ctr *mt_aes_ctr_new(const uint8_t key[32], const uint8_t iv[16])
{
    mt_aes_ctr *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ctx = EVP_CIPHER_CTX_new();
    if (!c->ctx || EVP_EncryptInit_ex(c->ctx, EVP_aes_256_ctr(), NULL, key, iv) != 1) {
        mt_aes_ctr_free(c);
        return NULL;
    }
    return c;
}

void mt_aes_ctr_apply(mt_aes_ctr *c, const uint8_t *in, uint8_t *out, size_t len)
{
    int n;
    while (len) {
        int k = len > 1 << 30 ? 1 << 30 : (int)len;
        /* CTR cannot fail once initialised with a valid key. */
        EVP_EncryptUpdate(c->ctx, out, &n, in, k);
        in += k; out += k; len -= (size_t)k;
    }
}

void mt_aes_ctr_free(mt_aes_ctr *c)
{
    if (!c) return;
    EVP_CIPHER_CTX_free(c->ctx);
    free(c);
}

/* ---- MTProto 2.0 keys ----------------------------------------------------------------------- */

/* A session's reusable OpenSSL state. OpenSSL 3's one-shot calls (SHA256(), EVP_Digest, a new
 * EVP_CIPHER_CTX per message) look the implementation up in the provider store on every call,
 * which cost more than the hashing and AES of a small message. */
struct mt_crypto_ctx {
    EVP_MD *sha256;
    EVP_MD_CTX *md;
    mt_aes_ige *ige;
    int shani;              /* the KDF's hashes on mt_shani (asked once, at _new) */
    unsigned refs;
};

mt_crypto_ctx *mt_crypto_ctx_new(int *err)
{
    int e = MT_ERR_NOMEM;
    mt_crypto_ctx *c = calloc(1, sizeof *c);
    if (c) {
        c->refs = 1;
        c->shani = mt_shani_usable();
        c->md = EVP_MD_CTX_new();
        c->ige = mt_aes_ige_new();
        if (c->md && c->ige) {
            /* the handshake's SHA-1 goes through OpenSSL's one-shot calls: asked for here too,
             * so that a libcrypto without it fails where the caller can say why */
            EVP_MD *sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
            c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
            if (sha1 && c->sha256) e = MT_OK;
            else e = MT_ERR_CRYPTO;
            EVP_MD_free(sha1);
        }
    }
    if (e == MT_OK) return c;
    mt_crypto_ctx_free(c);
    if (err) *err = e;
    return NULL;
}

mt_crypto_ctx *mt_crypto_ctx_ref(mt_crypto_ctx *c)
{
    c->refs++;
    return c;
}

void mt_crypto_ctx_free(mt_crypto_ctx *c)
{
    if (!c) return;
    if (--c->refs) {
        if (c->ige) aes_ige_forget(c->ige);
        return;
    }
    EVP_MD_CTX_free(c->md); /* cleanses the hash state */
    EVP_MD_free(c->sha256);
    mt_aes_ige_free(c->ige);
    free(c);
}

int mt_crypto_ige(mt_crypto_ctx *cc, int enc, const uint8_t key[32], const uint8_t iv[32],
                  const uint8_t *in, uint8_t *out, size_t len)
{
    if (cc) return mt_aes_ige_run(cc->ige, enc, key, iv, in, out, len);
    return enc ? mt_aes_ige_encrypt(key, iv, in, out, len) : mt_aes_ige_decrypt(key, iv, in, out, len);
}

/* SHA256(a || b) over the context's digest; without a context, mt_sha256_parts. */
static int sha256_2(mt_crypto_ctx *cc, uint8_t out[32], const void *a, size_t an, const void *b, size_t bn)
{
#ifndef OPENSSL_NO_DEPRECATED_3_0
    /* OpenSSL 3.0's EVP_DigestInit_ex2 frees and allocates the provider's hash context each
     * time (a malloc, a free and a cleanse per hash, six hashes per round trip): the plain
     * SHA-256 state on the stack (the same SHA-NI/AVX2 block code) instead, wiped after use */
    (void)cc;
    SHA256_CTX h;
    int ok = SHA256_Init(&h) == 1 && SHA256_Update(&h, a, an) == 1 &&
             (!bn || SHA256_Update(&h, b, bn) == 1) && SHA256_Final(out, &h) == 1;
    mt_wipe(&h, sizeof h);
    if (!ok) { memset(out, 0, 32); return MT_ERR_CRYPTO; }
    return MT_OK;
#else
    if (!cc) return mt_sha256_parts(out, a, an, b, bn, NULL, 0, NULL, 0);
    if (EVP_DigestInit_ex2(cc->md, cc->sha256, NULL) != 1 || EVP_DigestUpdate(cc->md, a, an) != 1 ||
        (bn && EVP_DigestUpdate(cc->md, b, bn) != 1) || EVP_DigestFinal_ex(cc->md, out, NULL) != 1) {
        memset(out, 0, 32);
        return MT_ERR_CRYPTO;
    }
    return MT_OK;
#endif
}

/* With AES-NI and the plain SHA-256 state, the hash runs along the decryption: each 64 bytes
 * decrypted are hashed after the next 64 have started. IGE is one serial chain (each block
 * waits for the one before through 14 AES rounds) that leaves the CPU's other units idle, and
 * SHA-256 (SHA-NI) runs on them, so the two overlap: ~20% less than one after the other for
 * a 240-byte message (~100 ns, on each side of every call). */
int mt_crypto_ige_decrypt_sha256(mt_crypto_ctx *cc, const uint8_t key[32], const uint8_t iv[32], const uint8_t *in,
                                 uint8_t *out, size_t len, const uint8_t prefix[32], uint8_t digest[32])
{
#ifndef OPENSSL_NO_DEPRECATED_3_0
    if (cc && cc->ige->aesni && key && iv && in && out && len % 16 == 0) {
        mt_aesni_chain ch;
        SHA256_CTX h;
        mt_aesni_begin(&ch, 0, key, iv);
        int ok = SHA256_Init(&h) == 1 && SHA256_Update(&h, prefix, 32) == 1;
        /* 32 bytes first: with the prefix they make the hash's first block, then whole blocks */
        size_t done = 0, hashed = 0;
        while (done < len) {
            size_t n = done ? 64 : 32;
            if (n > len - done) n = len - done;
            mt_aesni_run(&ch, in + done, out + done, n);
            if (hashed < done) ok = ok && SHA256_Update(&h, out + hashed, done - hashed) == 1;
            hashed = done;
            done += n;
        }
        ok = ok && SHA256_Update(&h, out + hashed, len - hashed) == 1 && SHA256_Final(digest, &h) == 1;
        mt_aesni_end(&ch);
        mt_wipe(&h, sizeof h);
        if (!ok) { memset(digest, 0, 32); return MT_ERR_CRYPTO; }
        return MT_OK;
    }
#endif
    int rc = mt_crypto_ige(cc, 0, key, iv, in, out, len);
    if (rc == MT_OK) rc = sha256_2(cc, digest, prefix, 32, out, len);
    else memset(digest, 0, 32);
    return rc;
}

int mt_msg_key_ctx(mt_crypto_ctx *cc, const uint8_t auth_key[256], int x, const uint8_t *plain, size_t len,
                   uint8_t msg_key[16])
{
    uint8_t h[32];
    int rc = sha256_2(cc, h, auth_key + 88 + x, 32, plain, len);
    memcpy(msg_key, h + 8, 16);
    mt_wipe(h, sizeof h);
    return rc;
}

int mt_msg_kdf_ctx(mt_crypto_ctx *cc, const uint8_t auth_key[256], const uint8_t msg_key[16], int x,
                   uint8_t aes_key[32], uint8_t aes_iv[32])
{
    struct { uint8_t a[32], b[32], in_a[52], in_b[52]; } t; /* one wipe for all four */
    /* each input is 52 bytes: one SHA-256 block; on SHA-NI both at once */
    memcpy(t.in_a, msg_key, 16);
    memcpy(t.in_a + 16, auth_key + x, 36);
    memcpy(t.in_b, auth_key + 40 + x, 36);
    memcpy(t.in_b + 36, msg_key, 16);
    int rc = MT_OK, rc2 = MT_OK;
    if (cc && cc->shani) {
        mt_shani_sha256_two52(t.in_a, t.in_b, t.a, t.b);
    } else {
        rc = sha256_2(cc, t.a, t.in_a, 52, NULL, 0);
        rc2 = sha256_2(cc, t.b, t.in_b, 52, NULL, 0);
    }
    memcpy(aes_key, t.a, 8);
    memcpy(aes_key + 8, t.b + 8, 16);
    memcpy(aes_key + 24, t.a + 24, 8);
    memcpy(aes_iv, t.b, 8);
    memcpy(aes_iv + 8, t.a + 8, 16);
    memcpy(aes_iv + 24, t.b + 24, 8);
    mt_wipe(&t, sizeof t);
    if (rc < 0 || rc2 < 0) {
        mt_wipe(aes_key, 32);
        mt_wipe(aes_iv, 32);
        return MT_ERR_CRYPTO;
    }
    return MT_OK;
}

int mt_msg_key(const uint8_t auth_key[256], int x, const uint8_t *plain, size_t len, uint8_t msg_key[16])
{
    return mt_msg_key_ctx(NULL, auth_key, x, plain, len, msg_key);
}

int mt_msg_kdf(const uint8_t auth_key[256], const uint8_t msg_key[16], int x, uint8_t aes_key[32], uint8_t aes_iv[32])
{
    return mt_msg_kdf_ctx(NULL, auth_key, msg_key, x, aes_key, aes_iv);
}

uint64_t mt_auth_key_id(const uint8_t auth_key[256])
{
    uint8_t h[20];
    mt_sha1(auth_key, 256, h);
    return mt_le64(h + 12);
}

int mt_ct_memcmp(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++) d |= x[i] ^ y[i];
    return d != 0;
}
