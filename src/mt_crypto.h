/* MTProto 2.0 cryptography over byte buffers (OpenSSL libcrypto).
 *
 * Everything here is pure: no sockets, no clock.
 * Randomness comes from an mt_random source so specs can replay published
 * exchanges with fixed random input. */
#ifndef MT_CRYPTO_H
#define MT_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* A source of random bytes: fills out[0..n) and returns 0, or a negative MT_ERR_*. */
typedef int (*mt_random_fn)(void *ud, uint8_t *out, size_t n);
typedef struct mt_random {
    mt_random_fn fn;
    void *ud;
} mt_random;

/* The system CSPRNG (RAND_bytes); `ud` unused. */
int mt_random_system(void *ud, uint8_t *out, size_t n);
static inline int mt_random_fill(const mt_random *r, uint8_t *out, size_t n)
{
    return r && r->fn ? r->fn(r->ud, out, n) : mt_random_system(NULL, out, n);
}

/* A pool of random bytes refilled from `src` a pool at a time: one CSPRNG call per ~13
 * small packets (2 KiB, mt_random_pool_init) or ~100 (16 KiB, a shared pool) instead of one
 * or more per packet. A refill costs about 2 us however small (OpenSSL's RAND_bytes also
 * calls getpid), plus 0.15 ns a byte. Bytes handed out are wiped from the pool.
 * Pass `&pool->rnd` wherever an mt_random is wanted; the pool must not move
 * after mt_random_pool_init (it points to itself). */
#define MT_RANDOM_POOL_SMALL 2048
#define MT_RANDOM_POOL_SHARED 16384
typedef struct mt_random_pool {
    mt_random src;   /* refills come from here (NULL fn: the system CSPRNG) */
    mt_random rnd;   /* draws from the pool */
    size_t pos, size;
    unsigned refs;   /* mt_random_pool_new/_ref/_free only */
    uint8_t *bytes;  /* `small`, or the block after the struct (mt_random_pool_new) */
    uint8_t small[MT_RANDOM_POOL_SMALL];
} mt_random_pool;
void mt_random_pool_init(mt_random_pool *p, const mt_random *src);
/* Wipes what is left in the pool; it refills on the next draw. */
void mt_random_pool_wipe(mt_random_pool *p);
/* A pool on the heap that several owners share (the sessions of one thread: every byte is
 * still handed out once) of `size` bytes (at least MT_RANDOM_POOL_SMALL): new() gives one
 * reference (NULL on allocation failure), ref() one more, free() drops one and the last one
 * wipes and frees (NULL is fine). */
mt_random_pool *mt_random_pool_new(const mt_random *src, size_t size);
mt_random_pool *mt_random_pool_ref(mt_random_pool *p);
void mt_random_pool_free(mt_random_pool *p);

/* MT_OK, or MT_ERR_CRYPTO with `out` zeroed when OpenSSL cannot hash (no provider with
 * the digest): never bytes left over in `out`. */
int mt_sha1(const void *p, size_t n, uint8_t out[20]);
int mt_sha256(const void *p, size_t n, uint8_t out[32]);
/* SHA256 over the concatenation of up to 4 parts (NULL parts are skipped); fails as mt_sha256. */
int mt_sha256_parts(uint8_t out[32], const void *a, size_t an, const void *b, size_t bn,
                    const void *c, size_t cn, const void *d, size_t dn);

/* AES-256-IGE; len must be a multiple of 16 (at most INT32_MAX); in and out may be the same.
 * iv is 32 bytes (iv1 || iv2 as in MTProto, the layout of OpenSSL's AES_ige_encrypt).
 * On a CPU with AES-NI the chain runs on the AES instructions directly (mt_aesni.h). Otherwise
 * encryption runs as one AES-256-CBC pass (OpenSSL's serial loop) between two XOR passes, and
 * decryption block by block over one ECB context; each call then sets up its own OpenSSL
 * context: a caller with many messages should keep an mt_aes_ige (below).
 * Returns 0 or MT_ERR_ARG / MT_ERR_NOMEM / MT_ERR_CRYPTO. */
int mt_aes_ige_encrypt(const uint8_t key[32], const uint8_t iv[32], const uint8_t *in, uint8_t *out, size_t len);
int mt_aes_ige_decrypt(const uint8_t key[32], const uint8_t iv[32], const uint8_t *in, uint8_t *out, size_t len);

/* The same with reusable OpenSSL contexts: a session that encrypts many messages keeps one
 * mt_aes_ige and skips the per-call context set-up (and the key schedule when the key repeats;
 * the last key is kept inside, wiped by mt_aes_ige_free). `enc` is 1 to encrypt, 0 to decrypt.
 * Not for concurrent use from several threads. */
typedef struct mt_aes_ige mt_aes_ige;
mt_aes_ige *mt_aes_ige_new(void);
int mt_aes_ige_run(mt_aes_ige *c, int enc, const uint8_t key[32], const uint8_t iv[32],
                   const uint8_t *in, uint8_t *out, size_t len);
void mt_aes_ige_free(mt_aes_ige *c);
/* "aesni" or "openssl": the code c runs IGE on. */
const char *mt_aes_ige_backend(const mt_aes_ige *c);

/* AES-256-CTR stream state for obfuscated2 (one per direction). */
typedef struct mt_aes_ctr mt_aes_ctr;
mt_aes_ctr *mt_aes_ctr_new(const uint8_t key[32], const uint8_t iv[16]);
void mt_aes_ctr_apply(mt_aes_ctr *c, const uint8_t *in, uint8_t *out, size_t len);
void mt_aes_ctr_free(mt_aes_ctr *c);

/* MTProto 2.0 message keys. x = 0 client->server, 8 server->client.
 * msg_key = SHA256(auth_key[88+x .. 120+x) || plain)[8..24). */
int mt_msg_key(const uint8_t auth_key[256], int x, const uint8_t *plain, size_t len, uint8_t msg_key[16]);
/* aes_key/aes_iv from auth_key and msg_key (the SHA256 KDF of MTProto 2.0). Both: MT_OK or
 * MT_ERR_CRYPTO with the outputs wiped. */
int mt_msg_kdf(const uint8_t auth_key[256], const uint8_t msg_key[16], int x, uint8_t aes_key[32], uint8_t aes_iv[32]);
/* auth_key_id: the last 8 bytes of SHA1(auth_key), little-endian. */
uint64_t mt_auth_key_id(const uint8_t auth_key[256]);

/* Reusable OpenSSL state for the per-message work of sessions and connections: the SHA-256
 * and AES implementations fetched once, one digest context and one mt_aes_ige. OpenSSL 3's
 * one-shot calls fetch the implementation from the provider store on every call, which costs
 * more than the hashing and AES of a small message. Nothing in it outlives a message but the
 * last AES key schedule, so the sessions of one thread can share one (no global state; not
 * for concurrent use from several threads). new(): one reference, or NULL with *err (err may
 * be NULL) MT_ERR_NOMEM, or MT_ERR_CRYPTO when libcrypto has no SHA-256 or no SHA-1 (a
 * configuration without the default provider: every message and handshake would fail);
 * ref(): one more; free(): drops one (NULL is fine): the last one frees it, any other
 * forgets the last key schedule, so an owner that leaves leaves no key behind. */
typedef struct mt_crypto_ctx mt_crypto_ctx;
mt_crypto_ctx *mt_crypto_ctx_new(int *err);
mt_crypto_ctx *mt_crypto_ctx_ref(mt_crypto_ctx *c);
void mt_crypto_ctx_free(mt_crypto_ctx *c);
/* mt_msg_key, mt_msg_kdf and AES-256-IGE (mt_aes_ige_run) over a context; cc may be NULL (then
 * one-shot contexts, as the functions above). MT_OK, or MT_ERR_CRYPTO (the outputs are then
 * zeros) / the IGE errors. */
int mt_msg_key_ctx(mt_crypto_ctx *cc, const uint8_t auth_key[256], int x, const uint8_t *plain, size_t len,
                   uint8_t msg_key[16]);
int mt_msg_kdf_ctx(mt_crypto_ctx *cc, const uint8_t auth_key[256], const uint8_t msg_key[16], int x,
                   uint8_t aes_key[32], uint8_t aes_iv[32]);
int mt_crypto_ige(mt_crypto_ctx *cc, int enc, const uint8_t key[32], const uint8_t iv[32],
                  const uint8_t *in, uint8_t *out, size_t len);
/* AES-256-IGE decryption (as mt_crypto_ige) of len bytes from in to out (not the same
 * buffer), and SHA256(prefix[0..32) || out[0..len)) into digest: a message's decryption and
 * the hash its msg_key is checked against, in one pass. MT_OK or as mt_crypto_ige (the digest
 * is then zeros). */
int mt_crypto_ige_decrypt_sha256(mt_crypto_ctx *cc, const uint8_t key[32], const uint8_t iv[32], const uint8_t *in,
                                 uint8_t *out, size_t len, const uint8_t prefix[32], uint8_t digest[32]);

/* Constant-time comparison; 0 when equal. */
int mt_ct_memcmp(const void *a, const void *b, size_t n);

#endif
