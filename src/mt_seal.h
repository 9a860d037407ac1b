/* Sealed (encrypted at rest) session files: scrypt and AES-256-GCM over byte buffers
 * (OpenSSL libcrypto). Pure: no files, no clock; randomness comes from an mt_random.
 *
 * A sealed file is a fixed 68-byte header, the ciphertext of the whole plaintext, and the
 * 16-byte GCM tag. The header is the AEAD's associated data, so no field of it can be
 * changed without the tag failing.
 *
 *    0  16  magic "mtproto-sealed\n" and a NUL byte
 *   16   1  format version (1)
 *   17   1  key kind: 1 = scrypt of a passphrase, 2 = a 32-byte key given as is
 *   18   1  AEAD: 1 = AES-256-GCM
 *   19   3  scrypt log2(N), r, p (all zero for kind 2)
 *   22   2  zero
 *   24  16  scrypt salt (zero for kind 2)
 *   40  16  key check: HMAC-SHA256(master, "check")[0..16), tells a wrong passphrase from
 *           an altered file; it lets a guesser test a passphrase no faster than the tag does
 *   56  12  GCM nonce, fresh for every seal
 *   68   n  ciphertext
 * 68+n  16  GCM tag
 *
 * The master secret is the scrypt output (32 bytes) or the given key; the AEAD key is
 * HMAC-SHA256(master, "encrypt"). */
#ifndef MT_SEAL_H
#define MT_SEAL_H

#include <stddef.h>
#include <stdint.h>
#include "mt_buf.h"
#include "mt_crypto.h"

#define MT_SEAL_MAGIC "mtproto-sealed\n" /* with its NUL: 16 bytes */
#define MT_SEAL_MAGIC_LEN 16
#define MT_SEAL_HEADER_LEN 68
#define MT_SEAL_TAG_LEN 16
#define MT_SEAL_KEY_LEN 32
#define MT_SEAL_VERSION 1

enum { MT_SEAL_KDF_SCRYPT = 1, MT_SEAL_KDF_KEY = 2 };

/* scrypt parameters of new files: N = 2^16, r = 8, p = 1 (64 MiB, see mt_seal.c). */
#define MT_SEAL_LOG2_N 16
#define MT_SEAL_R 8
#define MT_SEAL_P 1
/* What a file may ask for when read: at most 256 MiB of scrypt memory, p at most 4. */
#define MT_SEAL_MAX_MEM ((uint64_t)256 << 20)

typedef struct mt_seal_header {
    uint8_t version, kdf, aead, log2_n, r, p;
    uint8_t salt[16];
    uint8_t check[16];
    uint8_t nonce[12];
} mt_seal_header;

/* 1 when p[0..n) starts with the magic (an encrypted session, whatever else it holds). */
int mt_seal_is_sealed(const uint8_t *p, size_t n);

/* Reads and checks the header of the sealed file p[0..n) into h. Returns 0, or
 * MT_ERR_PROTO (no magic, unknown key kind or AEAD, non-zero reserved bytes, scrypt
 * parameters out of range), MT_ERR_RANGE (another format version), MT_ERR_TRUNCATED
 * (shorter than a header and a tag). Lengths in the file are never trusted: there are none. */
int mt_seal_parse(const uint8_t *p, size_t n, mt_seal_header *h);

/* The keys of one sealed file: derived once, used for every seal and open of that file.
 * Wipe with mt_seal_key_wipe. */
typedef struct mt_seal_key {
    mt_seal_header h; /* kind, scrypt parameters, salt, key check (nonce unused) */
    uint8_t enc[MT_SEAL_KEY_LEN];
} mt_seal_key;

/* Derives k from a secret: a passphrase (kdf MT_SEAL_KDF_SCRYPT, with the parameters and
 * salt of `params`) or a 32-byte key (MT_SEAL_KDF_KEY). `params` is the header of the file
 * being opened, or NULL for a new file: default parameters and a fresh salt from rnd.
 * Returns 0, MT_ERR_ARG (a key not 32 bytes, an unknown kind), MT_ERR_RANGE (parameters
 * beyond MT_SEAL_MAX_MEM), MT_ERR_CRYPTO, or rnd's error. k is wiped on failure. */
int mt_seal_key_derive(mt_seal_key *k, int kdf, const mt_seal_header *params, const uint8_t *secret,
                       size_t n, const mt_random *rnd);
void mt_seal_key_wipe(mt_seal_key *k);

/* Seals plain[0..n) under k with a fresh nonce from rnd, appending the file to out.
 * Returns 0, MT_ERR_NOMEM, MT_ERR_RANGE (n > INT32_MAX), MT_ERR_CRYPTO or rnd's error. */
int mt_seal_seal(const mt_seal_key *k, const mt_random *rnd, const uint8_t *plain, size_t n, mt_buf *out);

/* Opens the sealed file p[0..n) with k, appending the plaintext to out (wiped and emptied on
 * failure). Returns 0, mt_seal_parse's errors, MT_ERR_SEAL_KEY (not the key of this file:
 * wrong passphrase or key, or another salt), MT_ERR_SEAL_AUTH (the right key, but the
 * ciphertext, tag or header was altered), MT_ERR_NOMEM, MT_ERR_CRYPTO. */
int mt_seal_open(const mt_seal_key *k, const uint8_t *p, size_t n, mt_buf *out);

/* The primitives, exposed for their published test vectors. */
/* RFC 7914 scrypt; N a power of two > 1, 128 * r * (N + p + 2) at most 1 GiB.
 * Returns 0, MT_ERR_RANGE or MT_ERR_CRYPTO. */
int mt_scrypt(const uint8_t *pass, size_t pn, const uint8_t *salt, size_t sn, uint64_t N, uint32_t r,
              uint32_t p, uint8_t *out, size_t outn);
/* AES-256-GCM with a 16-byte tag; iv of 1..128 bytes; in and out may be the same; n at most
 * INT32_MAX. Decryption returns MT_ERR_SEAL_AUTH when the tag does not match (out wiped). */
int mt_aes256gcm_encrypt(const uint8_t key[32], const uint8_t *iv, size_t ivn, const uint8_t *aad,
                         size_t an, const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[16]);
int mt_aes256gcm_decrypt(const uint8_t key[32], const uint8_t *iv, size_t ivn, const uint8_t *aad,
                         size_t an, const uint8_t *in, size_t n, uint8_t *out, const uint8_t tag[16]);

#endif
