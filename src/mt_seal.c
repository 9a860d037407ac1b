/* Sealed session files (layout in mt_seal.h).
 *
 * Why scrypt with N = 2^16, r = 8, p = 1: the passphrase is stretched once per client open,
 * so a fraction of a second is affordable, while every guess of an offline attacker costs
 * the same 64 MiB of memory, which is what makes GPU and ASIC guessing expensive. 2^17 would
 * double both (128 MiB per open is a lot on small devices); 2^15 halves them. A file keeps
 * its own parameters, so a later default can change without breaking older files.
 *
 * Why AES-256-GCM: OpenSSL runs it with AES-NI and CLMUL everywhere this client runs, a
 * 96-bit random nonce per save is safe for far more saves than a session ever makes, and
 * the whole header goes in as associated data. */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include "mt_seal.h"

int mt_seal_is_sealed(const uint8_t *p, size_t n)
{
    return n >= MT_SEAL_MAGIC_LEN && memcmp(p, MT_SEAL_MAGIC, MT_SEAL_MAGIC_LEN) == 0;
}

/* The scrypt parameters a file may carry: sane, and within MT_SEAL_MAX_MEM. */
static int params_ok(uint8_t log2_n, uint8_t r, uint8_t p)
{
    if (log2_n < 10 || log2_n > 24 || r < 1 || r > 32 || p < 1 || p > 4) return 0;
    return (uint64_t)128 * r * ((uint64_t)1 << log2_n) <= MT_SEAL_MAX_MEM;
}

int mt_seal_parse(const uint8_t *p, size_t n, mt_seal_header *h)
{
    if (!mt_seal_is_sealed(p, n)) return MT_ERR_PROTO;
    if (n < MT_SEAL_HEADER_LEN + MT_SEAL_TAG_LEN) return MT_ERR_TRUNCATED;
    memset(h, 0, sizeof *h);
    h->version = p[16];
    if (h->version != MT_SEAL_VERSION) return MT_ERR_RANGE;
    h->kdf = p[17];
    h->aead = p[18];
    h->log2_n = p[19];
    h->r = p[20];
    h->p = p[21];
    memcpy(h->salt, p + 24, 16);
    memcpy(h->check, p + 40, 16);
    memcpy(h->nonce, p + 56, 12);
    if (h->aead != 1 || p[22] != 0 || p[23] != 0) return MT_ERR_PROTO;
    if (h->kdf == MT_SEAL_KDF_SCRYPT) return params_ok(h->log2_n, h->r, h->p) ? MT_OK : MT_ERR_PROTO;
    if (h->kdf == MT_SEAL_KDF_KEY) {
        static const uint8_t zero[16];
        if (h->log2_n || h->r || h->p || memcmp(h->salt, zero, 16) != 0) return MT_ERR_PROTO;
        return MT_OK;
    }
    return MT_ERR_PROTO;
}

static void write_header(const mt_seal_header *h, uint8_t out[MT_SEAL_HEADER_LEN])
{
    memset(out, 0, MT_SEAL_HEADER_LEN);
    memcpy(out, MT_SEAL_MAGIC, MT_SEAL_MAGIC_LEN);
    out[16] = h->version;
    out[17] = h->kdf;
    out[18] = h->aead;
    out[19] = h->log2_n;
    out[20] = h->r;
    out[21] = h->p;
    memcpy(out + 24, h->salt, 16);
    memcpy(out + 40, h->check, 16);
    memcpy(out + 56, h->nonce, 12);
}

int mt_scrypt(const uint8_t *pass, size_t pn, const uint8_t *salt, size_t sn, uint64_t N, uint32_t r,
              uint32_t p, uint8_t *out, size_t outn)
{
    const uint64_t limit = (uint64_t)1 << 30;
    if (N < 2 || (N & (N - 1)) || r == 0 || p == 0 || N > limit || r > limit / 128 || p > limit / 128
        || (uint64_t)128 * r * (N + p + 2) > limit)
        return MT_ERR_RANGE;
    /* OpenSSL wants a non-NULL pointer even for an empty passphrase or salt */
    static const uint8_t none[1];
    if (EVP_PBE_scrypt((const char *)(pn ? pass : none), pn, sn ? salt : none, sn, N, r, p,
                       limit + ((uint64_t)1 << 20), out, outn) != 1) {
        mt_wipe(out, outn);
        return MT_ERR_CRYPTO;
    }
    return MT_OK;
}

static int hmac_label(const uint8_t master[32], const char *label, uint8_t out[32])
{
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), master, 32, (const unsigned char *)label, strlen(label), out, &len) || len != 32)
        return MT_ERR_CRYPTO;
    return MT_OK;
}

void mt_seal_key_wipe(mt_seal_key *k)
{
    mt_wipe(k, sizeof *k);
}

int mt_seal_key_derive(mt_seal_key *k, int kdf, const mt_seal_header *params, const uint8_t *secret,
                       size_t n, const mt_random *rnd)
{
    uint8_t master[32], check[32];
    int rc = MT_OK;
    mt_seal_key_wipe(k);
    if (params) {
        k->h = *params;
        if (params->kdf != kdf) return MT_ERR_ARG;
    } else {
        k->h.version = MT_SEAL_VERSION;
        k->h.kdf = (uint8_t)kdf;
        k->h.aead = 1;
        if (kdf == MT_SEAL_KDF_SCRYPT) {
            k->h.log2_n = MT_SEAL_LOG2_N;
            k->h.r = MT_SEAL_R;
            k->h.p = MT_SEAL_P;
            if ((rc = mt_random_fill(rnd, k->h.salt, sizeof k->h.salt)) < 0) goto out;
        }
    }
    memset(k->h.nonce, 0, sizeof k->h.nonce);
    if (kdf == MT_SEAL_KDF_SCRYPT) {
        if (!params_ok(k->h.log2_n, k->h.r, k->h.p)) { rc = MT_ERR_RANGE; goto out; }
        rc = mt_scrypt(secret, n, k->h.salt, sizeof k->h.salt, (uint64_t)1 << k->h.log2_n, k->h.r, k->h.p,
                       master, sizeof master);
    } else if (kdf == MT_SEAL_KDF_KEY && n == MT_SEAL_KEY_LEN) {
        memcpy(master, secret, sizeof master);
    } else {
        rc = MT_ERR_ARG;
    }
    if (rc < 0) goto out;
    if ((rc = hmac_label(master, "check", check)) < 0) goto out;
    memcpy(k->h.check, check, sizeof k->h.check);
    rc = hmac_label(master, "encrypt", k->enc);
out:
    mt_wipe(master, sizeof master);
    mt_wipe(check, sizeof check);
    if (rc < 0) mt_seal_key_wipe(k);
    return rc;
}

static int gcm(int enc, const uint8_t key[32], const uint8_t *iv, size_t ivn, const uint8_t *aad, size_t an,
               const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[16])
{
    if (ivn == 0 || ivn > 128 || n > INT32_MAX || an > INT32_MAX) return MT_ERR_RANGE;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c) return MT_ERR_NOMEM;
    int len = 0, ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1
        && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int)ivn, NULL) == 1
        && EVP_CipherInit_ex(c, NULL, NULL, key, iv, enc) == 1
        && (an == 0 || EVP_CipherUpdate(c, NULL, &len, aad, (int)an) == 1)
        && (n == 0 || EVP_CipherUpdate(c, out, &len, in, (int)n) == 1);
    int rc = ok ? MT_OK : MT_ERR_CRYPTO;
    if (ok && enc) {
        ok = EVP_CipherFinal_ex(c, out + n, &len) == 1
            && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
        rc = ok ? MT_OK : MT_ERR_CRYPTO;
    } else if (ok) {
        /* the tag is only an input here; OpenSSL's ctrl takes a non-const pointer */
        uint8_t want[16];
        memcpy(want, tag, 16);
        if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, want) != 1) rc = MT_ERR_CRYPTO;
        else if (EVP_CipherFinal_ex(c, out + n, &len) != 1) rc = MT_ERR_SEAL_AUTH;
    }
    EVP_CIPHER_CTX_free(c);
    if (rc < 0) mt_wipe(out, n);
    return rc;
}

int mt_aes256gcm_encrypt(const uint8_t key[32], const uint8_t *iv, size_t ivn, const uint8_t *aad,
                         size_t an, const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[16])
{
    return gcm(1, key, iv, ivn, aad, an, in, n, out, tag);
}

int mt_aes256gcm_decrypt(const uint8_t key[32], const uint8_t *iv, size_t ivn, const uint8_t *aad,
                         size_t an, const uint8_t *in, size_t n, uint8_t *out, const uint8_t tag[16])
{
    return gcm(0, key, iv, ivn, aad, an, in, n, out, (uint8_t *)(uintptr_t)tag);
}

int mt_seal_seal(const mt_seal_key *k, const mt_random *rnd, const uint8_t *plain, size_t n, mt_buf *out)
{
    if (n > INT32_MAX) return MT_ERR_RANGE;
    mt_seal_header h = k->h;
    int rc = mt_random_fill(rnd, h.nonce, sizeof h.nonce);
    if (rc < 0) return rc;
    size_t start = out->len;
    uint8_t *p = mt_buf_extend(out, MT_SEAL_HEADER_LEN + n + MT_SEAL_TAG_LEN);
    if (!p) return MT_ERR_NOMEM;
    write_header(&h, p);
    rc = mt_aes256gcm_encrypt(k->enc, h.nonce, sizeof h.nonce, p, MT_SEAL_HEADER_LEN, plain, n,
                              p + MT_SEAL_HEADER_LEN, p + MT_SEAL_HEADER_LEN + n);
    if (rc < 0) {
        mt_wipe(p, MT_SEAL_HEADER_LEN + n + MT_SEAL_TAG_LEN);
        out->len = start;
    }
    return rc;
}

int mt_seal_open(const mt_seal_key *k, const uint8_t *p, size_t n, mt_buf *out)
{
    mt_seal_header h;
    int rc = mt_seal_parse(p, n, &h);
    if (rc < 0) return rc;
    /* the key belongs to this file when kind, parameters, salt and check value agree */
    if (h.kdf != k->h.kdf || h.log2_n != k->h.log2_n || h.r != k->h.r || h.p != k->h.p
        || CRYPTO_memcmp(h.salt, k->h.salt, 16) != 0 || CRYPTO_memcmp(h.check, k->h.check, 16) != 0)
        return MT_ERR_SEAL_KEY;
    size_t clen = n - MT_SEAL_HEADER_LEN - MT_SEAL_TAG_LEN;
    size_t start = out->len;
    uint8_t *d = mt_buf_extend(out, clen ? clen : 1);
    if (!d) return MT_ERR_NOMEM;
    out->len = start + clen;
    rc = mt_aes256gcm_decrypt(k->enc, h.nonce, sizeof h.nonce, p, MT_SEAL_HEADER_LEN, p + MT_SEAL_HEADER_LEN,
                              clen, d, p + n - MT_SEAL_TAG_LEN);
    if (rc < 0) out->len = start;
    return rc;
}
