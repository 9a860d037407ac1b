/* Perfect forward secrecy (core.telegram.org/api/pfs): the binding of a temporary auth key to
 * the permanent one, both sides, sans-IO.
 *
 * The client proves it holds the permanent key by sending, over the temporary key,
 *   auth.bindTempAuthKey#cdd42a05 perm_auth_key_id:long nonce:long expires_at:int encrypted_message:bytes
 * where encrypted_message is one MTProto v1 message under the permanent key:
 *   perm_auth_key_id (8) | msg_key (16) | AES-256-IGE(plaintext + 0..15 random padding bytes)
 *   plaintext = random (16) | msg_id (8) | seqno 0 (4) | length 40 (4) |
 *               bind_auth_key_inner#75a3f765 nonce temp_auth_key_id perm_auth_key_id temp_session_id expires_at
 *   msg_key   = SHA1(plaintext)[4..20], key and iv from the SHA1 KDF of MTProto v1 (x = 0)
 * msg_id is the bind request's own msg_id, so the message cannot be replayed in another request.
 *
 * Lua-free; randomness from the caller. */
#ifndef MT_PFS_H
#define MT_PFS_H

#include <stddef.h>
#include <stdint.h>
#include "mt_buf.h"
#include "mt_crypto.h"

#define MT_BIND_ENCRYPTED_LEN (8 + 16 + 80) /* the only length encrypted_message can have */

typedef struct mt_bind {
    int64_t nonce;                /* random; also a parameter of the request */
    uint64_t temp_auth_key_id;
    uint64_t perm_auth_key_id;
    int64_t temp_session_id;      /* the session that sends the bind request */
    int32_t expires_at;           /* server time (unix seconds) the temporary key expires */
    int64_t msg_id;               /* the bind request's own msg_id */
} mt_bind;

/* Appends encrypted_message (MT_BIND_ENCRYPTED_LEN bytes) for b under perm_key; draws 16 + 8
 * random bytes (prefix, then padding). b->perm_auth_key_id must be perm_key's id.
 * MT_OK, MT_ERR_ARG, MT_ERR_NOMEM, MT_ERR_CRYPTO or the random source's error. */
int mt_bind_encrypt(const uint8_t perm_key[256], const mt_bind *b, const mt_random *rnd, mt_buf *out);

/* Appends the body of the whole auth.bindTempAuthKey request (constructor included): what the
 * client sends over the temporary key with msg_id b->msg_id in session b->temp_session_id.
 * Same return codes. */
int mt_bind_request(const uint8_t perm_key[256], const mt_bind *b, const mt_random *rnd, mt_buf *out);

/* Reads the parameters of an auth.bindTempAuthKey body (constructor included): *enc points into
 * body. MT_OK, MT_ERR_PROTO (another constructor) or MT_ERR_TRUNCATED. */
int mt_bind_parse_request(const uint8_t *body, size_t len, uint64_t *perm_auth_key_id, int64_t *nonce,
                          int32_t *expires_at, const uint8_t **enc, size_t *enc_len);

/* Server side: checks encrypted_message against what the server knows (`want`: the permanent
 * key's id, the request's nonce, expires_at and msg_id, the temporary key's id and the session
 * the request came in): the key id, the length, the v1 msg_key (constant time), msg_id, seqno 0,
 * length 40, the constructor and every field. MT_OK, or MT_ERR_HANDSHAKE with *why set to a
 * static text naming the first mismatch (MT_ERR_NOMEM / MT_ERR_CRYPTO on local failures).
 * The decrypted plaintext is wiped. */
int mt_bind_verify(const uint8_t perm_key[256], const uint8_t *enc, size_t len, const mt_bind *want,
                   const char **why);

/* ---- the client's policy for temporary keys (decisions only: the caller acts) ---------- */

#define MT_PFS_RENEW_MAX 600       /* a key is replaced at most this many seconds before expiry */
#define MT_PFS_PERM_SETTLE 60      /* a permanent key younger than this may not be known to every
                                    * server of its DC yet: a refused bind is then not proof that
                                    * the DC forgot it */
#define MT_PFS_MAX_BINDS 3         /* bind attempts (each with a new temporary key) per connection */

/* The server time (unix seconds) from which a temporary key expiring at `expires_at`, made to
 * live `expires_in` seconds, is replaced instead of used: a tenth of its life before the expiry,
 * at most MT_PFS_RENEW_MAX. */
double mt_pfs_renew_at(int64_t expires_at, int64_t expires_in);

/* What a client does after auth.bindTempAuthKey failed with ENCRYPTED_MESSAGE_INVALID (the
 * server could not check the binding message under the permanent key). */
enum {
    MT_PFS_GIVE_UP = 0,       /* report the error */
    MT_PFS_NEW_TEMP = 1,      /* drop the temporary key only, bind a new one */
    MT_PFS_NEW_BOTH = 2,      /* drop both keys (the DC forgot the permanent one), make both again */
};
/* perm_age: seconds since the permanent key was made (< 0: unknown, as for a key read from a
 * session file: counted as old); attempt: the binds that failed so far on this connection (1
 * for the first); remade: whether the permanent key was already made again for this connection.
 * An old key is dropped at once (the DC forgot it); a young one gets one more temporary key
 * first; after MT_PFS_MAX_BINDS failed binds the client gives up. */
int mt_pfs_bind_refused(double perm_age, int attempt, int remade);

#endif
