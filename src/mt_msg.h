/* MTProto 2.0 encrypted messages (both directions), the msg_id clock and
 * msg_container packing.
 *
 * Encrypted packet:  auth_key_id (8) | msg_key (16) | AES-256-IGE(plaintext)
 * Plaintext:         salt (8) | session_id (8) | msg_id (8) | seq_no (4) |
 *                    message_data_length (4) | body | padding (12..1024, total % 16 == 0)
 * x = 0 for client->server packets, 8 for server->client (msg_key and KDF).
 *
 * Pure functions over buffers: no clock, randomness through mt_random. The
 * session (mt_session) does the session_id, msg_id age and replay checks. */
#ifndef MT_MSG_H
#define MT_MSG_H

#include <stddef.h>
#include <stdint.h>
#include "mt_buf.h"
#include "mt_crypto.h"
#include "mt_ids.h"

#define MT_MSG_HEADER 32                 /* salt .. message_data_length */
#define MT_MSG_MIN_PAD 12
#define MT_MSG_MAX_PAD 1024
#define MT_MSG_MAX_BODY ((size_t)16 << 20) /* bodies above this are refused */
#define MT_CONTAINER_MAX 1024              /* messages per container */

typedef struct mt_msg {            /* a decrypted message */
    int64_t salt, session_id, msg_id;
    int32_t seqno;
    const uint8_t *body;           /* points into the caller's `plain` buffer */
    size_t len;
} mt_msg;

/* Encrypts one message: builds the plaintext with random padding (12..1024
 * bytes, total a multiple of 16), computes msg_key (x = 0 or 8), encrypts with
 * AES-256-IGE and appends auth_key_id | msg_key | ciphertext to `out` (the
 * plaintext is only ever held inside `out`, encrypted in place). `len` must be a
 * multiple of 4. Returns MT_OK, MT_ERR_ARG (x not 0/8, len % 4), MT_ERR_RANGE
 * (len > MT_MSG_MAX_BODY), MT_ERR_NOMEM, MT_ERR_CRYPTO, or the random source's error. */
int mt_msg_encrypt(const uint8_t auth_key[256], int x, int64_t salt, int64_t session_id, int64_t msg_id,
                   int32_t seqno, const uint8_t *body, size_t len, const mt_random *rnd, mt_buf *out);

/* Decrypts a packet (as given by the transport). Checks auth_key_id, decrypts
 * into `plain` (its previous contents are dropped; it keeps the plaintext, and
 * m->body points into it: free or wipe it when done), checks msg_key in
 * constant time, then the lengths: message_data_length a multiple of 4 and
 * within the plaintext, padding 12..1024. Up to 15 bytes after the last whole
 * AES block are ignored (the padded transport's random tail).
 * Returns MT_OK with *m filled, or MT_ERR_ARG (x), MT_ERR_TRUNCATED (shorter
 * than the smallest packet), MT_ERR_AUTH_KEY_ID, MT_ERR_MSG_KEY, MT_ERR_RANGE
 * (lengths), MT_ERR_NOMEM, MT_ERR_CRYPTO. On failure `plain` is wiped. */
int mt_msg_decrypt(const uint8_t auth_key[256], int x, const uint8_t *packet, size_t len,
                   mt_buf *plain, mt_msg *m);

/* The same two with reused OpenSSL state (cc, see mt_crypto.h; may be NULL) and the key's
 * auth_key_id computed once by the caller (mt_auth_key_id(auth_key); a wrong one gives packets
 * the peer drops, and MT_ERR_AUTH_KEY_ID on decryption): what a session or connection that
 * handles many messages with one key uses. Same buffers and return codes. */
int mt_msg_encrypt_ctx(mt_crypto_ctx *cc, const uint8_t auth_key[256], uint64_t auth_key_id, int x,
                       int64_t salt, int64_t session_id, int64_t msg_id, int32_t seqno,
                       const uint8_t *body, size_t len, const mt_random *rnd, mt_buf *out);
int mt_msg_decrypt_ctx(mt_crypto_ctx *cc, const uint8_t auth_key[256], uint64_t auth_key_id, int x,
                       const uint8_t *packet, size_t len, mt_buf *plain, mt_msg *m);

/* The msg_id clock. msg_id = (unix time + time_offset) * 2^32 + the fraction of
 * the second scaled to 2^32, its two low bits set to `mod4`, and strictly above
 * the last id given (bumped by steps that keep `mod4`). Clients use mod4 = 0,
 * servers 1 (answers) or 3 (own messages). `now_ns` is the caller's clock in
 * nanoseconds since the epoch. Initialise with {0, offset}; change
 * time_offset freely (ids stay increasing). mod4 outside 0..3 is taken & 3. */
typedef struct mt_msgid_gen {
    int64_t last;
    int32_t time_offset;           /* seconds: server time - local time */
} mt_msgid_gen;
int64_t mt_msgid_next(mt_msgid_gen *g, int64_t now_ns, int mod4);

/* Containers (msg_container#73f1f8dc messages:vector<%Message>).
 * Writer: record `size_t start = out->len`, call mt_container_begin (appends
 * the constructor and a count of 0), then mt_container_add for each message
 * (appends msg_id | seqno | bytes | body and bumps the count at start + 4).
 * The container's own msg_id/seqno are the caller's. Returns MT_OK,
 * MT_ERR_NOMEM, MT_ERR_ARG (len % 4, `start` not a container in `out`),
 * MT_ERR_RANGE (more than MT_CONTAINER_MAX messages or len > MT_MSG_MAX_BODY). */
int mt_container_begin(mt_buf *out);
int mt_container_add(mt_buf *out, size_t start, int64_t msg_id, int32_t seqno, const uint8_t *body, size_t len);

/* Reader over a container message body (starting with the constructor id).
 * init: MT_OK, MT_ERR_PROTO (not a msg_container), MT_ERR_TRUNCATED, MT_ERR_RANGE
 * (count larger than the bytes can hold, or above MT_CONTAINER_MAX).
 * next: 1 with the next item (*body points into the caller's bytes), 0 at the
 * end, or MT_ERR_TRUNCATED / MT_ERR_RANGE (a length past the end or not a
 * multiple of 4, bytes left after the last item). Refusing a nested container
 * (an item whose body starts with MT_ID_MSG_CONTAINER) is the caller's job. */
typedef struct mt_container_iter {
    mt_reader r;
    uint32_t left;
} mt_container_iter;
int mt_container_iter_init(mt_container_iter *it, const uint8_t *body, size_t len);
int mt_container_next(mt_container_iter *it, int64_t *msg_id, int32_t *seqno,
                      const uint8_t **body, size_t *len);

#endif
