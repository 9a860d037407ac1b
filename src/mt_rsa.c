/* RSA of the handshake: server key sets, fingerprints, RSA_PAD, server private keys.
 * See mt_rsa.h. Raw RSA (no OpenSSL padding): MTProto brings its own, RSA_PAD. */
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include "mt_rsa.h"

/* The two keys of TELEGRAM.md (production, test), exponent 65537. */
static const char *const builtin_moduli[] = {
    "e8bb3305c0b52c6cf2afdf7637313489e63e05268e5badb601af417786472e5f"
    "93b85438968e20e6729a301c0afc121bf7151f834436f7fda680847a66bf64ac"
    "cec78ee21c0b316f0edafe2f41908da7bd1f4a5107638eeb67040ace472a14f9"
    "0d9f7c2b7def99688ba3073adb5750bb02964902a359fe745d8170e36876d4fd"
    "8a5d41b2a76cbff9a13267eb9580b2d06d10357448d20d9da2191cb5d8c93982"
    "961cdfdeda629e37f1fb09a0722027696032fe61ed663db7a37f6f263d370f69"
    "db53a0dc0a1748bdaaff6209d5645485e6e001d1953255757e4b8e42813347b1"
    "1da6ab500fd0ace7e6dfa3736199ccaf9397ed0745a427dcfa6cd67bcb1acff3",
    "c8c11d635691fac091dd9489aedced2932aa8a0bcefef05fa800892d9b52ed03"
    "200865c9e97211cb2ee6c7ae96d3fb0e15aeffd66019b44a08a240cfdd2868a8"
    "5e1f54d6fa5deaa041f6941ddf302690d61dc476385c2fa655142353cb4e4b59"
    "f6e5b6584db76fe8b1370263246c010c93d011014113ebdf987d093f9d37c2be"
    "48352d69a1683f8f6e6c2167983c761e3ab169fde5daaa12123fa1beab621e4d"
    "a5935e9c198f82f35eae583a99386d8110ea6bd1abb0f568759f62694419ea5f"
    "69847c43462abef858b4cb5edc84e7b9226cd7bd7e183aa974a712c079dde85b"
    "9dc063b8a5c08e8f859c0ee5dcd824c7807f20153361a7f63cfd2a433a1be7f5",
};

typedef struct rsa_pub {
    BIGNUM *n, *e;
    int64_t fp;
} rsa_pub;

struct mt_rsa_keys {
    rsa_pub *k;
    int n, cap;
    unsigned refs;
};

/* Fingerprint: low 64 bits of SHA1(TL bare rsa_public_key n:bytes e:bytes). */
static int fingerprint(const BIGNUM *n, const BIGNUM *e, int64_t *out)
{
    uint8_t nb[1024], eb[1024], h[20];
    int nl = BN_num_bytes(n), el = BN_num_bytes(e);
    if (nl <= 0 || el <= 0 || nl > (int)sizeof nb || el > (int)sizeof eb) return MT_ERR_ARG;
    BN_bn2bin(n, nb);
    BN_bn2bin(e, eb);
    mt_buf b;
    mt_buf_init(&b);
    mt_buf_put_tlbytes(&b, nb, (size_t)nl);
    mt_buf_put_tlbytes(&b, eb, (size_t)el);
    if (b.oom) { mt_buf_free(&b); return MT_ERR_NOMEM; }
    int rc = mt_sha1(b.data, b.len, h);
    mt_buf_free(&b);
    *out = (int64_t)mt_le64(h + 12);
    return rc;
}

static int keys_add(mt_rsa_keys *ks, BIGNUM *n, BIGNUM *e)
{
    int64_t fp;
    /* RSA_PAD produces exactly 256 bytes: only 2048-bit moduli fit the protocol. */
    if (BN_num_bits(n) != 2048 || BN_is_zero(e) || fingerprint(n, e, &fp) != MT_OK) {
        BN_free(n); BN_free(e);
        return MT_ERR_ARG;
    }
    for (int i = 0; i < ks->n; i++)
        if (ks->k[i].fp == fp) { BN_free(n); BN_free(e); return MT_OK; }
    if (ks->n == ks->cap) {
        int cap = ks->cap ? ks->cap * 2 : 4;
        rsa_pub *k = realloc(ks->k, (size_t)cap * sizeof *k);
        if (!k) { BN_free(n); BN_free(e); return MT_ERR_NOMEM; }
        ks->k = k; ks->cap = cap;
    }
    ks->k[ks->n].n = n; ks->k[ks->n].e = e; ks->k[ks->n].fp = fp;
    ks->n++;
    return MT_OK;
}

mt_rsa_keys *mt_rsa_keys_new(int with_builtin)
{
    mt_rsa_keys *ks = calloc(1, sizeof *ks);
    if (!ks) return NULL;
    ks->refs = 1;
    for (size_t i = 0; with_builtin && i < sizeof builtin_moduli / sizeof builtin_moduli[0]; i++) {
        BIGNUM *n = NULL, *e = BN_new();
        if (!e || !BN_hex2bn(&n, builtin_moduli[i]) || !BN_set_word(e, 65537) || keys_add(ks, n, e) != MT_OK) {
            if (!n) BN_free(e);
            mt_rsa_keys_free(ks);
            return NULL;
        }
    }
    return ks;
}

static EVP_PKEY *decode_pem(const char *pem, size_t len, int selection)
{
    EVP_PKEY *pk = NULL;
    OSSL_DECODER_CTX *dc = OSSL_DECODER_CTX_new_for_pkey(&pk, "PEM", NULL, "RSA", selection, NULL, NULL);
    if (!dc) return NULL;
    const unsigned char *p = (const unsigned char *)pem;
    size_t left = len;
    if (!OSSL_DECODER_from_data(dc, &p, &left)) pk = NULL;
    OSSL_DECODER_CTX_free(dc);
    return pk;
}

int mt_rsa_keys_add_pem(mt_rsa_keys *ks, const char *pem, size_t len)
{
    if (!ks || !pem) return MT_ERR_ARG;
    EVP_PKEY *pk = decode_pem(pem, len, EVP_PKEY_PUBLIC_KEY);
    if (!pk) return MT_ERR_ARG;
    BIGNUM *n = NULL, *e = NULL;
    int ok = EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) && EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e);
    EVP_PKEY_free(pk);
    if (!ok) { BN_free(n); BN_free(e); return MT_ERR_ARG; }
    return keys_add(ks, n, e);
}

int mt_rsa_keys_count(const mt_rsa_keys *ks) { return ks ? ks->n : 0; }

static const rsa_pub *keys_find(const mt_rsa_keys *ks, int64_t fp)
{
    for (int i = 0; ks && i < ks->n; i++)
        if (ks->k[i].fp == fp) return &ks->k[i];
    return NULL;
}

int64_t mt_rsa_keys_fingerprint(const mt_rsa_keys *ks, int i)
{
    return ks && i >= 0 && i < ks->n ? ks->k[i].fp : 0;
}

int mt_rsa_keys_has(const mt_rsa_keys *ks, int64_t fp) { return keys_find(ks, fp) != NULL; }

mt_rsa_keys *mt_rsa_keys_ref(mt_rsa_keys *ks)
{
    ks->refs++;
    return ks;
}

void mt_rsa_keys_free(mt_rsa_keys *ks)
{
    if (!ks || --ks->refs) return;
    for (int i = 0; i < ks->n; i++) { BN_free(ks->k[i].n); BN_free(ks->k[i].e); }
    free(ks->k);
    free(ks);
}

/* RSA_PAD (auth_key 4.1):
 *   data_with_padding = data + random bytes to 192
 *   data_pad_reversed = reverse(data_with_padding)
 *   temp_key = 32 random bytes (fresh on each retry)
 *   data_with_hash = data_pad_reversed + SHA256(temp_key + data_with_padding)      224 bytes
 *   aes_encrypted = AES256_IGE(data_with_hash, temp_key, iv = 0)
 *   temp_key_xor = temp_key XOR SHA256(aes_encrypted)
 *   key_aes_encrypted = temp_key_xor + aes_encrypted                               256 bytes
 *   retry with a new temp_key while key_aes_encrypted >= n; then RSA(key_aes_encrypted). */
int mt_rsa_pad_encrypt(const mt_rsa_keys *ks, int64_t fp, const uint8_t *data, size_t len,
                       const mt_random *rnd, mt_buf *out)
{
    const rsa_pub *k = keys_find(ks, fp);
    if (!k) return MT_ERR_UNKNOWN_KEY;
    if (len > 144) return MT_ERR_ARG;
    uint8_t pad[192], rev[224], temp_key[32], h[32], kae[256];
    static const uint8_t zero_iv[32];
    int rc;
    memcpy(pad, data, len);
    if ((rc = mt_random_fill(rnd, pad + len, 192 - len)) < 0) goto wipe;
    for (int i = 0; i < 192; i++) rev[i] = pad[191 - i];
    BIGNUM *x = BN_new(), *y = BN_new();
    BN_CTX *ctx = BN_CTX_secure_new(); /* its temporaries derive from x (new_nonce inside): cleared on free */
    rc = MT_ERR_NOMEM;
    if (!x || !y || !ctx) goto done;
    for (int tries = 0;; tries++) {
        if (tries == 64) { rc = MT_ERR_CRYPTO; goto done; }
        if ((rc = mt_random_fill(rnd, temp_key, 32)) < 0) goto done;
        if ((rc = mt_sha256_parts(rev + 192, temp_key, 32, pad, 192, NULL, 0, NULL, 0)) < 0) goto done;
        if ((rc = mt_aes_ige_encrypt(temp_key, zero_iv, rev, kae + 32, 224)) < 0) goto done;
        if ((rc = mt_sha256(kae + 32, 224, h)) < 0) goto done;
        for (int i = 0; i < 32; i++) kae[i] = temp_key[i] ^ h[i];
        if (!BN_bin2bn(kae, 256, x)) { rc = MT_ERR_NOMEM; goto done; }
        if (BN_cmp(x, k->n) < 0) break;
    }
    uint8_t *o = mt_buf_extend(out, 256);
    if (!o) { rc = MT_ERR_NOMEM; goto done; }
    if (!BN_mod_exp(y, x, k->e, k->n, ctx) || BN_bn2binpad(y, o, 256) != 256) { rc = MT_ERR_CRYPTO; goto done; }
    rc = MT_OK;
done:
    BN_clear_free(x);
    BN_free(y);
    BN_CTX_free(ctx);
wipe:
    mt_wipe(pad, sizeof pad); mt_wipe(rev, sizeof rev); mt_wipe(temp_key, sizeof temp_key);
    mt_wipe(kae, sizeof kae); mt_wipe(h, sizeof h);
    return rc;
}

/* ---- server private keys ---------------------------------------------------------------------- */

struct mt_rsa_priv {
    EVP_PKEY *pk;
    BIGNUM *n;
    int64_t fp;
};

static mt_rsa_priv *priv_wrap(EVP_PKEY *pk)
{
    if (!pk) return NULL;
    mt_rsa_priv *k = calloc(1, sizeof *k);
    BIGNUM *e = NULL;
    if (!k || !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &k->n) ||
        !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) || BN_num_bits(k->n) != 2048 ||
        fingerprint(k->n, e, &k->fp) != MT_OK) {
        BN_free(e);
        if (k) BN_free(k->n);
        free(k);
        EVP_PKEY_free(pk);
        return NULL;
    }
    BN_free(e);
    k->pk = pk;
    return k;
}

mt_rsa_priv *mt_rsa_priv_generate(int bits)
{
    if (bits != 2048) return NULL; /* RSA_PAD is defined for 2048-bit keys only */
    return priv_wrap(EVP_RSA_gen((unsigned)bits));
}

mt_rsa_priv *mt_rsa_priv_load_pem(const char *pem, size_t len)
{
    if (!pem) return NULL;
    return priv_wrap(decode_pem(pem, len, EVP_PKEY_KEYPAIR));
}

static int bio_to_buf(BIO *bio, mt_buf *out)
{
    char *p;
    long n = BIO_get_mem_data(bio, &p);
    if (n <= 0) return MT_ERR_CRYPTO;
    mt_buf_put(out, p, (size_t)n);
    return out->oom ? MT_ERR_NOMEM : MT_OK;
}

int mt_rsa_priv_save_pem(const mt_rsa_priv *k, mt_buf *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return MT_ERR_NOMEM;
    int rc = PEM_write_bio_PrivateKey(bio, k->pk, NULL, NULL, 0, NULL, NULL) ? bio_to_buf(bio, out) : MT_ERR_CRYPTO;
    BIO_free(bio);
    return rc;
}

int mt_rsa_priv_public_pem(const mt_rsa_priv *k, mt_buf *out)
{
    OSSL_ENCODER_CTX *ec = OSSL_ENCODER_CTX_new_for_pkey(k->pk, EVP_PKEY_PUBLIC_KEY, "PEM", "type-specific", NULL);
    if (!ec) return MT_ERR_CRYPTO;
    unsigned char *p = NULL;
    size_t n = 0;
    int rc = MT_ERR_CRYPTO;
    if (OSSL_ENCODER_to_data(ec, &p, &n) && p) {
        mt_buf_put(out, p, n);
        rc = out->oom ? MT_ERR_NOMEM : MT_OK;
    }
    OPENSSL_free(p);
    OSSL_ENCODER_CTX_free(ec);
    return rc;
}

int64_t mt_rsa_priv_fingerprint(const mt_rsa_priv *k) { return k ? k->fp : 0; }

void mt_rsa_priv_free(mt_rsa_priv *k)
{
    if (!k) return;
    EVP_PKEY_free(k->pk); /* OpenSSL clears private key material on free */
    BN_free(k->n);
    free(k);
}

int mt_rsa_priv_unpad_decrypt(const mt_rsa_priv *k, const uint8_t *enc, size_t len, mt_buf *out)
{
    if (!k || !enc || len == 0 || len > 256) return MT_ERR_ARG;
    uint8_t in[256], kae[256], temp_key[32], h[32], dwh[224], pad[192];
    static const uint8_t zero_iv[32];
    int rc = MT_ERR_HANDSHAKE;
    memset(in, 0, sizeof in);
    memcpy(in + 256 - len, enc, len);
    BIGNUM *c = BN_bin2bn(in, 256, NULL);
    EVP_PKEY_CTX *pc = NULL;
    if (!c) { rc = MT_ERR_NOMEM; goto done; }
    if (BN_cmp(c, k->n) >= 0) goto done; /* not a valid RSA input */
    pc = EVP_PKEY_CTX_new(k->pk, NULL);
    size_t olen = sizeof kae;
    if (!pc || EVP_PKEY_decrypt_init(pc) <= 0 || EVP_PKEY_CTX_set_rsa_padding(pc, RSA_NO_PADDING) <= 0 ||
        EVP_PKEY_decrypt(pc, kae, &olen, in, 256) <= 0 || olen != 256) {
        rc = MT_ERR_CRYPTO;
        goto done;
    }
    if (mt_sha256(kae + 32, 224, h) != MT_OK) { rc = MT_ERR_CRYPTO; goto done; }
    for (int i = 0; i < 32; i++) temp_key[i] = kae[i] ^ h[i];
    if (mt_aes_ige_decrypt(temp_key, zero_iv, kae + 32, dwh, 224) < 0) { rc = MT_ERR_CRYPTO; goto done; }
    for (int i = 0; i < 192; i++) pad[i] = dwh[191 - i];
    if (mt_sha256_parts(h, temp_key, 32, pad, 192, NULL, 0, NULL, 0) != MT_OK) { rc = MT_ERR_CRYPTO; goto done; }
    if (mt_ct_memcmp(h, dwh + 192, 32) != 0) goto done; /* MT_ERR_HANDSHAKE: hash mismatch */
    mt_buf_put(out, pad, 192);
    rc = out->oom ? MT_ERR_NOMEM : MT_OK;
done:
    BN_clear_free(c);
    EVP_PKEY_CTX_free(pc);
    mt_wipe(kae, sizeof kae); mt_wipe(temp_key, sizeof temp_key); mt_wipe(dwh, sizeof dwh);
    mt_wipe(pad, sizeof pad); mt_wipe(in, sizeof in);
    return rc;
}
