/* RSA for the auth-key handshake: the servers' public keys (built-in + PEM), their
 * fingerprints, RSA_PAD (auth_key 4.1) and, for the test DC, a server private key.
 * Lua-free. */
#ifndef MT_RSA_H
#define MT_RSA_H

#include <stddef.h>
#include <stdint.h>
#include "mt_buf.h"
#include "mt_crypto.h"

/* A set of server public keys. */
typedef struct mt_rsa_keys mt_rsa_keys;
/* New set (one reference); with_builtin adds the production and test keys of the Telegram
 * servers. NULL on allocation failure. A set is never changed once links use it, so links
 * with the same keys can share one: ref() takes one more reference, free() drops one (the
 * last one frees the set; NULL is fine). */
mt_rsa_keys *mt_rsa_keys_new(int with_builtin);
mt_rsa_keys *mt_rsa_keys_ref(mt_rsa_keys *ks);
/* Adds a PEM public key ("BEGIN RSA PUBLIC KEY" PKCS#1 or "BEGIN PUBLIC KEY" SPKI).
 * Returns MT_OK, MT_ERR_ARG (not a parsable RSA public key) or MT_ERR_NOMEM. */
int mt_rsa_keys_add_pem(mt_rsa_keys *ks, const char *pem, size_t len);
/* Number of keys in the set. */
int mt_rsa_keys_count(const mt_rsa_keys *ks);
/* 1 when the set holds a key with this fingerprint. */
int mt_rsa_keys_has(const mt_rsa_keys *ks, int64_t fingerprint);
/* Fingerprint of the i-th key (0-based, in the order added); 0 when out of range. */
int64_t mt_rsa_keys_fingerprint(const mt_rsa_keys *ks, int i);
void mt_rsa_keys_free(mt_rsa_keys *ks);

/* RSA_PAD(data) with the key of `fingerprint` (auth_key 4.1): data (<= 144 bytes) -> 256 bytes
 * appended to out. Random bytes come from rnd. MT_ERR_UNKNOWN_KEY, MT_ERR_ARG, MT_ERR_CRYPTO. */
int mt_rsa_pad_encrypt(const mt_rsa_keys *ks, int64_t fingerprint, const uint8_t *data, size_t len,
                       const mt_random *rnd, mt_buf *out);

/* A server's private key (test DC). */
typedef struct mt_rsa_priv mt_rsa_priv;
mt_rsa_priv *mt_rsa_priv_generate(int bits);                     /* NULL on failure */
mt_rsa_priv *mt_rsa_priv_load_pem(const char *pem, size_t len);  /* PKCS#1 or PKCS#8, NULL on failure */
int mt_rsa_priv_save_pem(const mt_rsa_priv *k, mt_buf *out);      /* private PEM, for --key files */
int mt_rsa_priv_public_pem(const mt_rsa_priv *k, mt_buf *out);    /* PKCS#1 "BEGIN RSA PUBLIC KEY" */
int64_t mt_rsa_priv_fingerprint(const mt_rsa_priv *k);
/* Undoes RSA_PAD: 256 bytes of encrypted_data -> the inner data (with its zero padding to 192
 * bytes; TL parsing stops where the object ends) appended to out. MT_ERR_HANDSHAKE when the
 * value is not below the modulus or the hash inside does not match. */
int mt_rsa_priv_unpad_decrypt(const mt_rsa_priv *k, const uint8_t *enc, size_t len, mt_buf *out);
void mt_rsa_priv_free(mt_rsa_priv *k);

#endif
