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

#endif
