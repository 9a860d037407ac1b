/* The auth-key handshake of MTProto 2.0 (core.telegram.org/mtproto/auth_key), both sides,
 * sans-IO: each step takes the body of the peer's plain message and fills `out` with the body
 * of the next one. Time (`now`, unix seconds) and randomness come in from the caller.
 * Lua-free. */
#ifndef MT_AUTH_H
#define MT_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include "mt_buf.h"
#include "mt_crypto.h"
#include "mt_rsa.h"

enum { MT_AUTH_SEND = 1, MT_AUTH_DONE = 2, MT_AUTH_WORK = 3 };

typedef struct mt_auth_client mt_auth_client;
/* keys: the server keys to accept (borrowed; must outlive the client). expires_in = 0 for a
 * permanent key, else seconds (p_q_inner_data_temp_dc). rnd may be NULL (system CSPRNG); it is
 * copied, its ud borrowed. NULL on allocation failure. */
mt_auth_client *mt_auth_client_new(const mt_rsa_keys *keys, int32_t dc_id, int32_t expires_in, const mt_random *rnd);
/* in = NULL,0 on the first call; else the body of the server's plain message. out receives the
 * body of the next request (appended). Returns MT_AUTH_SEND, MT_AUTH_DONE or a negative
 * MT_ERR_* (MT_ERR_HANDSHAKE, MT_ERR_UNKNOWN_KEY, MT_ERR_PROTO, ...); on error
 * mt_auth_client_error() gives the detail text and the client is dead (further steps fail). */
/* Optional: share a cache of verified DH primes between clients (borrowed; NULL for none). */
struct mt_dh_cache;
void mt_auth_client_set_cache(mt_auth_client *c, struct mt_dh_cache *cache);
/* Optional: each 2048-bit modexp in MT_DH_PARTS pieces of mt_auth_client_work instead of one
 * (a host on an event loop wants every piece short; a blocking one the least CPU: the parts
 * cost about 1.9 times the whole). Off by default; set it before the first step. */
void mt_auth_client_split_modexp(mt_auth_client *c, int on);
int mt_auth_client_step(mt_auth_client *c, const uint8_t *in, size_t len, int32_t now, mt_buf *out);
/* The same step in pieces that each take a bounded amount of work, for hosts that must not
 * stall (an event loop): input() takes the server's answer (or NULL at the start) and only
 * parses and checks it; MT_AUTH_WORK then means "call work()", each call doing at most one
 * piece of the math (pq factoring, the RSA_PAD encryption, the dh_prime check, one 2048-bit
 * modexp) until it returns MT_AUTH_SEND with the next message in out. step() is input()
 * followed by work() until done. ops() counts the pieces done so far. */
int mt_auth_client_input(mt_auth_client *c, const uint8_t *in, size_t len, int32_t now, mt_buf *out);
int mt_auth_client_work(mt_auth_client *c, mt_buf *out);
unsigned mt_auth_client_ops(const mt_auth_client *c);
const char *mt_auth_client_error(const mt_auth_client *c);
/* After MT_AUTH_DONE: the key, first server salt, server_time - now. MT_ERR_ARG before. */
int mt_auth_client_result(const mt_auth_client *c, uint8_t auth_key[256], int64_t *server_salt, int32_t *time_offset);
void mt_auth_client_free(mt_auth_client *c);   /* wipes secrets */

typedef struct mt_auth_server mt_auth_server;
/* key borrowed (must outlive the server). */
mt_auth_server *mt_auth_server_new(const mt_rsa_priv *key, const mt_random *rnd);
/* MT_AUTH_SEND with the answer in out; MT_AUTH_DONE with dh_gen_ok in out; negative on error. */
int mt_auth_server_step(mt_auth_server *s, const uint8_t *in, size_t len, int32_t now, mt_buf *out);
const char *mt_auth_server_error(const mt_auth_server *s);
/* After MT_AUTH_DONE: key, salt, the dc from p_q_inner_data_* (0 for plain p_q_inner_data) and
 * expires_in (0 for a permanent key). */
int mt_auth_server_result(const mt_auth_server *s, uint8_t auth_key[256], int64_t *server_salt, int32_t *dc_id, int32_t *expires_in);
void mt_auth_server_free(mt_auth_server *s);

/* Plain (unencrypted) messages: auth_key_id 0 (8 bytes), msg_id (8), length (4), body.
 * wrap appends to out (MT_OK / MT_ERR_NOMEM); unwrap returns MT_OK with *body pointing into
 * in, or MT_ERR_TRUNCATED / MT_ERR_PROTO (non-zero auth_key_id, bad length). */
int mt_plain_wrap(mt_buf *out, int64_t msg_id, const uint8_t *body, size_t len);
int mt_plain_unwrap(const uint8_t *in, size_t len, int64_t *msg_id, const uint8_t **body, size_t *blen);

#endif
