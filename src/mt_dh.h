/* Number theory of the handshake: pq factoring and the Diffie-Hellman checks.
 * Lua-free. Big numbers cross this API as big-endian bytes. */
#ifndef MT_DH_H
#define MT_DH_H

#include <stddef.h>
#include <stdint.h>

/* The 2048-bit safe prime the Telegram servers send (big-endian). */
extern const uint8_t mt_dh_known_prime[256];

/* Factors pq = p * q (p, q prime, p <= q) with Pollard-Brent. MT_OK, or MT_ERR_HANDSHAKE when
 * pq < 4 or no non-trivial factor is found. */
int mt_dh_factor_pq(uint64_t pq, uint64_t *p, uint64_t *q);

/* Checks dh_prime (len bytes, big-endian) and g as auth_key 4.5 asks: a 2048-bit safe prime
 * (the known prime passes at once; others get BN_check_prime on p and (p-1)/2, and a passing
 * prime is remembered in `cache`, which the caller owns), 2 <= g <= 7 and g's residue condition.
 * MT_OK or MT_ERR_HANDSHAKE with *why set to a fixed text. */
typedef struct mt_dh_cache {
    uint8_t good[4][256]; /* primes that passed the full check */
    int n;
} mt_dh_cache;
int mt_dh_check_prime_g(const uint8_t *prime, size_t len, int32_t g, mt_dh_cache *cache, const char **why);
/* The same checks, saying which one failed in *fail (one of MT_DH_*) instead of a text, for
 * callers with their own names for p and g (SRP). */
enum { MT_DH_G_RANGE = 1, MT_DH_P_SIZE, MT_DH_P_NOT_PRIME, MT_DH_P_NOT_SAFE, MT_DH_G_RESIDUE };
int mt_dh_check_group(const uint8_t *prime, size_t len, int32_t g, mt_dh_cache *cache, int *fail);

/* 1 < x < p - 1 and 2^(2048-64) <= x <= p - 2^(2048-64): MT_OK or MT_ERR_HANDSHAKE. */
int mt_dh_check_ga(const uint8_t *prime, size_t plen, const uint8_t *x, size_t xlen);

/* out[0..256) = base^exp mod prime, big-endian, left-padded with zeros. */
int mt_dh_modexp(const uint8_t *base, size_t blen, const uint8_t *exp, size_t elen,
                 const uint8_t *prime, size_t plen, uint8_t out[256]);

/* The same for a 256-byte exponent in MT_DH_PARTS calls, so that a host's event loop gets
 * its thread back between them (a whole 2048-bit modexp takes milliseconds): call it with
 * part = 0 .. MT_DH_PARTS - 1 in order and the same arguments; acc carries the partial result
 * and tmp a limb's power between two parts (both as secret as the exponent: the caller wipes
 * them); acc holds base^exp mod prime after the last part. Horner over the exponent's 512-bit
 * limbs, the top one first: acc = acc^(2^512) * base^limb, in two parts (base^limb into tmp,
 * then acc^(2^512) * tmp), so that each part is a 512-bit exponent's work: about 0.27 of the
 * whole modexp each, 1.9 times it in all. */
#define MT_DH_LIMBS 4
#define MT_DH_PARTS (2 * MT_DH_LIMBS - 1)
int mt_dh_modexp_part(const uint8_t *base, size_t blen, const uint8_t exp[256],
                      const uint8_t *prime, size_t plen, int part, uint8_t acc[256], uint8_t tmp[256]);

/* A random prime of exactly `bits` bits (2 < bits <= 32), from rnd: the server's p and q. */
struct mt_random;
int mt_dh_random_prime(const struct mt_random *rnd, int bits, uint64_t *out);

#endif
