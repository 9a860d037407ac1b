/* pq factoring and the Diffie-Hellman checks of the handshake (see mt_dh.h). */
#include <string.h>
#include <openssl/bn.h>
#include "mt_buf.h"
#include "mt_crypto.h"
#include "mt_dh.h"

const uint8_t mt_dh_known_prime[256] = {
    0xc7, 0x1c, 0xae, 0xb9, 0xc6, 0xb1, 0xc9, 0x04, 0x8e, 0x6c, 0x52, 0x2f, 0x70, 0xf1, 0x3f, 0x73,
    0x98, 0x0d, 0x40, 0x23, 0x8e, 0x3e, 0x21, 0xc1, 0x49, 0x34, 0xd0, 0x37, 0x56, 0x3d, 0x93, 0x0f,
    0x48, 0x19, 0x8a, 0x0a, 0xa7, 0xc1, 0x40, 0x58, 0x22, 0x94, 0x93, 0xd2, 0x25, 0x30, 0xf4, 0xdb,
    0xfa, 0x33, 0x6f, 0x6e, 0x0a, 0xc9, 0x25, 0x13, 0x95, 0x43, 0xae, 0xd4, 0x4c, 0xce, 0x7c, 0x37,
    0x20, 0xfd, 0x51, 0xf6, 0x94, 0x58, 0x70, 0x5a, 0xc6, 0x8c, 0xd4, 0xfe, 0x6b, 0x6b, 0x13, 0xab,
    0xdc, 0x97, 0x46, 0x51, 0x29, 0x69, 0x32, 0x84, 0x54, 0xf1, 0x8f, 0xaf, 0x8c, 0x59, 0x5f, 0x64,
    0x24, 0x77, 0xfe, 0x96, 0xbb, 0x2a, 0x94, 0x1d, 0x5b, 0xcd, 0x1d, 0x4a, 0xc8, 0xcc, 0x49, 0x88,
    0x07, 0x08, 0xfa, 0x9b, 0x37, 0x8e, 0x3c, 0x4f, 0x3a, 0x90, 0x60, 0xbe, 0xe6, 0x7c, 0xf9, 0xa4,
    0xa4, 0xa6, 0x95, 0x81, 0x10, 0x51, 0x90, 0x7e, 0x16, 0x27, 0x53, 0xb5, 0x6b, 0x0f, 0x6b, 0x41,
    0x0d, 0xba, 0x74, 0xd8, 0xa8, 0x4b, 0x2a, 0x14, 0xb3, 0x14, 0x4e, 0x0e, 0xf1, 0x28, 0x47, 0x54,
    0xfd, 0x17, 0xed, 0x95, 0x0d, 0x59, 0x65, 0xb4, 0xb9, 0xdd, 0x46, 0x58, 0x2d, 0xb1, 0x17, 0x8d,
    0x16, 0x9c, 0x6b, 0xc4, 0x65, 0xb0, 0xd6, 0xff, 0x9c, 0xa3, 0x92, 0x8f, 0xef, 0x5b, 0x9a, 0xe4,
    0xe4, 0x18, 0xfc, 0x15, 0xe8, 0x3e, 0xbe, 0xa0, 0xf8, 0x7f, 0xa9, 0xff, 0x5e, 0xed, 0x70, 0x05,
    0x0d, 0xed, 0x28, 0x49, 0xf4, 0x7b, 0xf9, 0x59, 0xd9, 0x56, 0x85, 0x0c, 0xe9, 0x29, 0x85, 0x1f,
    0x0d, 0x81, 0x15, 0xf6, 0x35, 0xb1, 0x05, 0xee, 0x2e, 0x4e, 0x15, 0xd0, 0x4b, 0x24, 0x54, 0xbf,
    0x6f, 0x4f, 0xad, 0xf0, 0x34, 0xb1, 0x04, 0x03, 0x11, 0x9c, 0xd8, 0xe3, 0xb9, 0x2f, 0xcc, 0x5b,
};

/* ---- 64-bit arithmetic ---------------------------------------------------------------------- */

static uint64_t mulmod(uint64_t a, uint64_t b, uint64_t m)
{
    return (uint64_t)((unsigned __int128)a * b % m);
}

static uint64_t powmod(uint64_t a, uint64_t e, uint64_t m)
{
    uint64_t r = 1 % m;
    a %= m;
    while (e) {
        if (e & 1) r = mulmod(r, a, m);
        a = mulmod(a, a, m);
        e >>= 1;
    }
    return r;
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) { uint64_t t = a % b; a = b; b = t; }
    return a;
}

/* Deterministic Miller-Rabin: these 7 bases decide every n < 2^64. */
static int is_prime64(uint64_t n)
{
    static const uint64_t bases[] = { 2, 325, 9375, 28178, 450775, 9780504, 1795265022 };
    static const uint64_t small[] = { 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37 };
    if (n < 2) return 0;
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        if (n == small[i]) return 1;
        if (n % small[i] == 0) return 0;
    }
    uint64_t d = n - 1;
    int s = 0;
    while (!(d & 1)) { d >>= 1; s++; }
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        uint64_t a = bases[i] % n;
        if (a == 0) continue;
        uint64_t x = powmod(a, d, n);
        if (x == 1 || x == n - 1) continue;
        int comp = 1;
        for (int r = 1; r < s; r++) {
            x = mulmod(x, x, n);
            if (x == n - 1) { comp = 0; break; }
        }
        if (comp) return 0;
    }
    return 1;
}

/* Montgomery arithmetic mod an odd n < 2^63 (so t + m*n cannot overflow 128 bits): the rho
 * loop then needs no 128-bit division, which is most of its cost otherwise. Values stay in
 * Montgomery form; gcds are unaffected because R = 2^64 is prime to n. */
typedef struct { uint64_t n, ninv; } mont;

static mont mont_init(uint64_t n)
{
    uint64_t inv = n; /* Newton: inv = n^-1 mod 2^64 (n odd), 5 steps from 3 correct bits */
    for (int i = 0; i < 5; i++) inv *= 2 - n * inv;
    mont m = { n, (uint64_t)0 - inv };
    return m;
}

static inline uint64_t mont_mul(const mont *m, uint64_t a, uint64_t b)
{
    unsigned __int128 t = (unsigned __int128)a * b;
    uint64_t k = (uint64_t)t * m->ninv;
    uint64_t u = (uint64_t)((t + (unsigned __int128)k * m->n) >> 64);
    return u >= m->n ? u - m->n : u;
}

static inline uint64_t addmod(uint64_t a, uint64_t c, uint64_t n) /* a, c < n < 2^63 */
{
    uint64_t v = a + c;
    return v >= n ? v - n : v;
}

/* Brent's variant of Pollard's rho, batching gcds over 128 steps. Returns a factor or n. */
static uint64_t brent(uint64_t n, uint64_t c, uint64_t y0)
{
    const int fast = n < (1ull << 63);
    const mont M = mont_init(n | 1);
#define F(v) (fast ? addmod(mont_mul(&M, v, v), c, n) : (mulmod(v, v, n) + c) % n)
#define MUL(a, b) (fast ? mont_mul(&M, a, b) : mulmod(a, b, n))
    uint64_t y = y0 % n, x = y, ys = y, g = 1, q = 1;
    const uint64_t m = 128;
    for (uint64_t r = 1; g == 1 && r < (1ull << 40); r <<= 1) {
        x = y;
        for (uint64_t i = 0; i < r; i++) y = F(y);
        for (uint64_t k = 0; k < r && g == 1; k += m) {
            ys = y;
            uint64_t lim = r - k < m ? r - k : m;
            for (uint64_t i = 0; i < lim; i++) {
                y = F(y);
                q = MUL(q, x > y ? x - y : y - x);
            }
            g = gcd64(q, n);
        }
    }
    if (g == n) { /* the batch overshot: step back one at a time */
        do {
            ys = F(ys);
            g = gcd64(x > ys ? x - ys : ys - x, n);
        } while (g == 1);
    }
#undef F
#undef MUL
    return g;
}

int mt_dh_factor_pq(uint64_t pq, uint64_t *p, uint64_t *q)
{
    /* A prime pq would send rho around a cycle of ~2^32 steps: refuse it up front. */
    if (pq < 4 || is_prime64(pq)) return MT_ERR_HANDSHAKE;
    uint64_t f = 0;
    if (!(pq & 1)) {
        f = 2;
    } else {
        for (uint64_t c = 1; c < 64 && (f == 0 || f == pq); c++) f = brent(pq, c, c + 1);
        if (f == 0 || f == pq) return MT_ERR_HANDSHAKE;
    }
    uint64_t a = f, b = pq / f;
    if (a > b) { uint64_t t = a; a = b; b = t; }
    if (a < 2 || a * b != pq || !is_prime64(a) || !is_prime64(b)) return MT_ERR_HANDSHAKE;
    *p = a;
    *q = b;
    return MT_OK;
}

int mt_dh_random_prime(const struct mt_random *rnd, int bits, uint64_t *out)
{
    if (bits < 3 || bits > 32) return MT_ERR_ARG;
    for (int tries = 0; tries < 100000; tries++) {
        uint8_t b[4];
        int rc = mt_random_fill(rnd, b, 4);
        if (rc < 0) return rc;
        uint64_t v = mt_le32(b) & ((bits == 32 ? 0xffffffffull : (1ull << bits) - 1));
        v |= 1ull << (bits - 1) | 1;
        if (is_prime64(v)) { *out = v; return MT_OK; }
    }
    return MT_ERR_CRYPTO;
}

/* ---- 2048-bit checks ------------------------------------------------------------------------ */

/* auth_key 4.5: g must generate the subgroup of order (p-1)/2, which for each g in 2..7 is a
 * condition on p modulo a small number (quadratic reciprocity). */
static int g_residue_ok(const BIGNUM *p, int32_t g)
{
    BN_ULONG r;
    switch (g) {
    case 2: r = BN_mod_word(p, 8); return r == 7;
    case 3: r = BN_mod_word(p, 3); return r == 2;
    case 4: return 1;
    case 5: r = BN_mod_word(p, 5); return r == 1 || r == 4;
    case 6: r = BN_mod_word(p, 24); return r == 19 || r == 23;
    case 7: r = BN_mod_word(p, 7); return r == 3 || r == 5 || r == 6;
    default: return 0;
    }
}

int mt_dh_check_group(const uint8_t *prime, size_t len, int32_t g, mt_dh_cache *cache, int *fail)
{
    if (g < 2 || g > 7) { *fail = MT_DH_G_RANGE; return MT_ERR_HANDSHAKE; }
    if (len != 256 || !(prime[0] & 0x80)) { *fail = MT_DH_P_SIZE; return MT_ERR_HANDSHAKE; }
    int known = mt_ct_memcmp(prime, mt_dh_known_prime, 256) == 0;
    if (!known && cache)
        for (int i = 0; i < cache->n && i < 4; i++)
            if (memcmp(prime, cache->good[i], 256) == 0) known = 1;
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *p = BN_bin2bn(prime, 256, NULL), *h = BN_new();
    int rc = MT_ERR_NOMEM;
    if (!ctx || !p || !h) goto done;
    if (!known) {
        /* A safe prime: p and (p-1)/2 both prime. */
        int r1 = BN_check_prime(p, ctx, NULL);
        if (r1 < 0) { rc = MT_ERR_CRYPTO; goto done; }
        if (r1 == 0) { *fail = MT_DH_P_NOT_PRIME; rc = MT_ERR_HANDSHAKE; goto done; }
        if (!BN_rshift1(h, p)) { rc = MT_ERR_CRYPTO; goto done; }
        int r2 = BN_check_prime(h, ctx, NULL);
        if (r2 < 0) { rc = MT_ERR_CRYPTO; goto done; }
        if (r2 == 0) { *fail = MT_DH_P_NOT_SAFE; rc = MT_ERR_HANDSHAKE; goto done; }
    }
    if (!g_residue_ok(p, g)) { *fail = MT_DH_G_RESIDUE; rc = MT_ERR_HANDSHAKE; goto done; }
    if (!known && cache) {
        int slot = cache->n < 4 ? cache->n++ : 3;
        memcpy(cache->good[slot], prime, 256);
    }
    rc = MT_OK;
done:
    BN_free(p);
    BN_free(h);
    BN_CTX_free(ctx);
    return rc;
}

int mt_dh_check_prime_g(const uint8_t *prime, size_t len, int32_t g, mt_dh_cache *cache, const char **why)
{
    static const char *const texts[] = {
        [MT_DH_G_RANGE] = "g is out of range (2..7)",
        [MT_DH_P_SIZE] = "dh_prime is not a 2048-bit number",
        [MT_DH_P_NOT_PRIME] = "dh_prime is not prime",
        [MT_DH_P_NOT_SAFE] = "dh_prime is not a safe prime",
        [MT_DH_G_RESIDUE] = "g fails the quadratic residue condition for dh_prime",
    };
    int fail = 0;
    int rc = mt_dh_check_group(prime, len, g, cache, &fail);
    if (rc == MT_ERR_HANDSHAKE) *why = texts[fail];
    return rc;
}

int mt_dh_check_ga(const uint8_t *prime, size_t plen, const uint8_t *x, size_t xlen)
{
    int rc = MT_ERR_NOMEM;
    BIGNUM *p = BN_bin2bn(prime, (int)plen, NULL), *v = BN_bin2bn(x, (int)xlen, NULL);
    BIGNUM *lo = BN_new(), *hi = BN_new();
    if (!p || !v || !lo || !hi) goto done;
    /* lo = 2^(2048-64) (which also gives 1 < x); hi = p - lo (which also gives x < p - 1). */
    if (!BN_set_bit(lo, 2048 - 64) || !BN_sub(hi, p, lo)) { rc = MT_ERR_CRYPTO; goto done; }
    rc = BN_cmp(v, lo) >= 0 && BN_cmp(v, hi) <= 0 ? MT_OK : MT_ERR_HANDSHAKE;
done:
    BN_free(p); BN_free(v); BN_free(lo); BN_free(hi);
    return rc;
}

int mt_dh_modexp(const uint8_t *base, size_t blen, const uint8_t *exp, size_t elen,
                 const uint8_t *prime, size_t plen, uint8_t out[256])
{
    int rc = MT_ERR_NOMEM;
    BN_CTX *ctx = BN_CTX_secure_new(); /* temporaries of a secret exponent: cleared on free */
    BIGNUM *b = BN_bin2bn(base, (int)blen, NULL), *e = BN_secure_new(), *p = BN_bin2bn(prime, (int)plen, NULL);
    BIGNUM *r = BN_new();
    if (!ctx || !b || !e || !p || !r) goto done;
    if (!BN_bin2bn(exp, (int)elen, e)) goto done;
    BN_set_flags(e, BN_FLG_CONSTTIME);
    if (BN_is_zero(p) || BN_num_bytes(p) > 256) { rc = MT_ERR_ARG; goto done; }
    if (!BN_mod_exp_mont_consttime(r, b, e, p, ctx, NULL) || BN_bn2binpad(r, out, 256) != 256) {
        rc = MT_ERR_CRYPTO;
        goto done;
    }
    rc = MT_OK;
done:
    BN_clear_free(e);
    BN_clear_free(r);
    BN_free(b);
    BN_free(p);
    BN_CTX_free(ctx);
    return rc;
}

/* out = a * b mod prime (all big-endian, out left-padded to 256 bytes). */
static int modmul(const uint8_t a[256], const uint8_t b[256], const uint8_t *prime, size_t plen, uint8_t out[256])
{
    int rc = MT_ERR_NOMEM;
    BN_CTX *ctx = BN_CTX_secure_new();
    BIGNUM *x = BN_secure_new(), *y = BN_secure_new(), *p = BN_bin2bn(prime, (int)plen, NULL);
    if (!ctx || !x || !y || !p || !BN_bin2bn(a, 256, x) || !BN_bin2bn(b, 256, y)) goto done;
    BN_set_flags(x, BN_FLG_CONSTTIME);
    BN_set_flags(y, BN_FLG_CONSTTIME);
    rc = BN_mod_mul(x, x, y, p, ctx) && BN_bn2binpad(x, out, 256) == 256 ? MT_OK : MT_ERR_CRYPTO;
done:
    BN_clear_free(x);
    BN_clear_free(y);
    BN_free(p);
    BN_CTX_free(ctx);
    return rc;
}

int mt_dh_modexp_part(const uint8_t *base, size_t blen, const uint8_t exp[256],
                      const uint8_t *prime, size_t plen, int part, uint8_t acc[256], uint8_t tmp[256])
{
    enum { LIMB = 256 / MT_DH_LIMBS };
    static const uint8_t SHIFT[LIMB + 1] = { 1 }; /* 2^(8 * LIMB), big-endian */
    if (part < 0 || part >= MT_DH_PARTS) return MT_ERR_ARG;
    if (part == 0) return mt_dh_modexp(base, blen, exp, LIMB, prime, plen, acc);
    /* odd parts: the next limb's power */
    if (part % 2) return mt_dh_modexp(base, blen, exp + (part + 1) / 2 * LIMB, LIMB, prime, plen, tmp);
    /* even ones: acc^(2^512), a public exponent over a secret base, constant time all the
     * same, times that power */
    uint8_t sq[256];
    int rc = mt_dh_modexp(acc, 256, SHIFT, sizeof SHIFT, prime, plen, sq);
    if (rc == MT_OK) rc = modmul(sq, tmp, prime, plen, acc);
    mt_wipe(sq, sizeof sq);
    return rc;
}
