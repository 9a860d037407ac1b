/* Two-step verification: Telegram's SRP (core.telegram.org/api/srp), the algorithm
 * passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow. Lua-free, sans-IO.
 *
 *   H = SHA-256, SH(d, s) = H(s | d | s), PH1 = SH(SH(password, salt1), salt2)
 *   x = PH2 = SH(PBKDF2-HMAC-SHA512(PH1, salt1, 100000 iterations, 64 bytes), salt2)
 *   v = g^x, k = H(p | g), A = g^a, u = H(A | B), t = (B - k*v) mod p (kept positive)
 *   K = H(t^(a + u*x)), M1 = H(H(p) xor H(g) | H(salt1) | H(salt2) | A | B | K)
 * Numbers are hashed big-endian, left-padded to 256 bytes; all arithmetic is mod p.
 * The server side (for the test DC) keeps v and a secret b: B = (k*v + g^b) mod p and
 * checks the client's A and M1 with S = (A * v^u)^b.
 *
 * Big numbers cross this API as big-endian bytes. Secrets (x, a, b, v, the exponent
 * a + u*x, S, K, every intermediate hash) are wiped, OpenSSL's temporaries included. */
#ifndef MT_SRP_H
#define MT_SRP_H

#include <stddef.h>
#include <stdint.h>
#include "mt_crypto.h"

/* The algorithm's parameters: the fields of passwordKdfAlgoSHA256...ModPow. */
typedef struct mt_srp_algo {
    const uint8_t *salt1;
    size_t salt1_len;
    const uint8_t *salt2;
    size_t salt2_len;
    int32_t g;
    const uint8_t *p;
    size_t p_len;
} mt_srp_algo;

#define MT_SRP_PBKDF2_ITERATIONS 100000
#define MT_SRP_NEW_SALT_BYTES 32   /* random bytes a client appends to salt1 for a new password */

/* What a failed check found (*why of the functions below gets a fixed text for it). */
enum {
    MT_SRP_OK = 0,
    MT_SRP_G_RANGE,     /* g outside 2..7 */
    MT_SRP_P_SIZE,      /* p is not a 2048-bit number */
    MT_SRP_P_NOT_PRIME, /* p is not prime (and not the known prime) */
    MT_SRP_P_NOT_SAFE,  /* (p-1)/2 is not prime */
    MT_SRP_G_RESIDUE,   /* g does not generate the subgroup of order (p-1)/2 */
    MT_SRP_B_RANGE,     /* srp_B outside 2^(2048-64) .. p - 2^(2048-64) */
    MT_SRP_A_RANGE,     /* A = g^a outside that range (a fixed a; a random one is drawn again) */
    MT_SRP_T_RANGE,     /* t = B - k*v outside that range */
    MT_SRP_U_ZERO,      /* u = 0 for a fixed a */
    MT_SRP_M1,          /* server side: the client's M1 does not match */
};
const char *mt_srp_why(int why);

/* Checks p and g as for the handshake's DH (mt_dh_check_group: the known prime, or a proven
 * safe 2048-bit prime; g in 2..7 with its residue condition). MT_OK, or MT_ERR_HANDSHAKE with
 * *why set, or MT_ERR_NOMEM / MT_ERR_CRYPTO. */
int mt_srp_check_algo(const mt_srp_algo *algo, int *why);

/* x = PH2(password, salt1, salt2): the 32-byte private key. MT_OK or MT_ERR_CRYPTO. */
int mt_srp_ph2(const mt_srp_algo *algo, const uint8_t *pw, size_t pwlen, uint8_t x[32]);

/* The client's answer to account.password: A (256 bytes) and M1 (32 bytes) for inputCheckPasswordSRP.
 * Checks p and g (mt_srp_check_algo), B, then draws a (256 bytes from rnd; NULL: the system
 * CSPRNG) again while A is outside the range or u = 0, then checks t. A source that runs out of
 * bytes ends the draws: with exactly one a (known-answer tests) a bad A or u = 0 is reported
 * (MT_SRP_A_RANGE, MT_SRP_U_ZERO). MT_OK, MT_ERR_HANDSHAKE with *why, MT_ERR_NOMEM,
 * MT_ERR_CRYPTO, or the source's error. */
int mt_srp_client(const mt_srp_algo *algo, const uint8_t *pw, size_t pwlen, const uint8_t *B, size_t blen,
                  const mt_random *rnd, uint8_t A[256], uint8_t M1[32], int *why);

/* The same arithmetic with a given a and no check at all, for the published vectors (toy
 * primes, a = 1). p must be odd and at most 256 bytes, B and a at most 256 bytes
 * (MT_ERR_ARG otherwise). MT_OK, MT_ERR_ARG, MT_ERR_NOMEM or MT_ERR_CRYPTO. */
int mt_srp_client_unchecked(const mt_srp_algo *algo, const uint8_t *pw, size_t pwlen, const uint8_t *B,
                            size_t blen, const uint8_t *a, size_t alen, uint8_t A[256], uint8_t M1[32]);

/* The verifier v = g^x mod p (256 bytes), with no check: what the server stores. MT_OK,
 * MT_ERR_ARG (p as in mt_srp_client_unchecked), MT_ERR_NOMEM or MT_ERR_CRYPTO. */
int mt_srp_verifier(const mt_srp_algo *algo, const uint8_t *pw, size_t pwlen, uint8_t v[256]);

/* A new password for account.passwordInputSettings: new_salt1 = salt1 | 32 bytes from rnd
 * (the caller's buffer of salt1_len + 32 bytes) and v = g^x with that salt (new_password_hash).
 * Checks p and g first. Returns as mt_srp_check_algo, or the source's error. */
int mt_srp_new_hash(const mt_srp_algo *algo, const uint8_t *pw, size_t pwlen, const mt_random *rnd,
                    uint8_t *new_salt1, uint8_t v[256], int *why);

/* Server side. B = (k*v + g^b) mod p for the stored verifier v and a secret b (256 bytes). */
int mt_srp_server_B(const mt_srp_algo *algo, const uint8_t v[256], const uint8_t b[256], uint8_t B[256]);
/* Checks the client's A (range, as the client checks B) and M1 against v and b. MT_OK when the
 * client knew the password; MT_ERR_HANDSHAKE with *why (MT_SRP_A_RANGE, MT_SRP_M1) otherwise;
 * MT_ERR_ARG, MT_ERR_NOMEM or MT_ERR_CRYPTO. */
int mt_srp_server_check(const mt_srp_algo *algo, const uint8_t v[256], const uint8_t b[256], const uint8_t *A,
                        size_t alen, const uint8_t *M1, size_t m1len, int *why);

#endif
