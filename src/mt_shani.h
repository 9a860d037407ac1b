/* SHA-256 on the x86-64 SHA extensions (SHA-NI), for the MTProto 2.0 KDF: two 52-byte inputs
 * hashed at once. Each is one SHA-256 block, and a block's rounds are one dependency chain
 * that leaves the SHA unit idle between its steps, so two interleaved chains take little more
 * than one: ~65 ns for both instead of ~115 ns through OpenSSL (one hash after the other,
 * each with its own init, padding and final). */
#ifndef MT_SHANI_H
#define MT_SHANI_H

#include <stdint.h>

/* 1 when this build has the SHA-NI code and the CPU runs it, else 0 (the caller uses
 * OpenSSL). MTPROTO_NO_SHANI set in the environment says 0 too: how the specs check the
 * OpenSSL path on a CPU that has the instructions. */
int mt_shani_usable(void);

/* SHA256(a) into da and SHA256(b) into db, a and b 52 bytes each. Only when mt_shani_usable(). */
void mt_shani_sha256_two52(const uint8_t a[52], const uint8_t b[52], uint8_t da[32], uint8_t db[32]);

#endif
