/* AES-256-IGE on the x86-64 AES instructions (AES-NI), used by mt_crypto.c when the CPU has
 * them. Every MTProto message has its own AES key, and IGE chains every block through the
 * cipher: through OpenSSL's EVP that is a context re-key (with provider parameter look-ups)
 * per message and, to decrypt, one EVP_Cipher call per block, which cost several times the
 * AES itself for the small messages of a call. Here the key schedule and the chain run
 * inline, in constant time (no tables), the round keys wiped after each run. */
#ifndef MT_AESNI_H
#define MT_AESNI_H

#include <stddef.h>
#include <stdint.h>

/* 1 when this build has the AES-NI code and the CPU runs it, else 0 (the caller uses
 * OpenSSL). MTPROTO_NO_AESNI set in the environment says 0 too: how the specs check the
 * OpenSSL path on a CPU that has the instructions. */
int mt_aesni_usable(void);

/* AES-256-IGE (enc 1: encrypt, 0: decrypt) of len bytes (a multiple of 16; in and out may
 * be the same); iv is iv1 || iv2 as in mt_aes_ige_encrypt. Only when mt_aesni_usable(). */
void mt_aesni_ige(int enc, const uint8_t key[32], const uint8_t iv[32], const uint8_t *in, uint8_t *out, size_t len);

/* The same chain over several runs (mt_aesni_ige is one begin, one run, one end): the key
 * schedule made once and the chain kept between runs, so that the caller can work on what a
 * run gave (hash it) while the next run's blocks go through the AES unit. */
typedef struct mt_aesni_chain {
    _Alignas(16) uint8_t rk[15][16]; /* round keys (to decrypt: the equivalent inverse cipher's) */
    _Alignas(16) uint8_t y[16];      /* the last ciphertext block (iv1 first) */
    _Alignas(16) uint8_t x[16];      /* the last plaintext block (iv2 first) */
    int enc;
} mt_aesni_chain;
void mt_aesni_begin(mt_aesni_chain *c, int enc, const uint8_t key[32], const uint8_t iv[32]);
/* The next len bytes (a multiple of 16; in and out may be the same). */
void mt_aesni_run(mt_aesni_chain *c, const uint8_t *in, uint8_t *out, size_t len);
/* Wipes the round keys and the chain. */
void mt_aesni_end(mt_aesni_chain *c);

#endif
