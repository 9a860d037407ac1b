/* Fake TLS: the disguise of an MTProxy `ee` secret, sans-IO, both sides.
 *
 * The client opens with a TLS 1.3 ClientHello shaped like a browser's (517 bytes,
 * record length 512: Telegram's MTProxy accepts only 512..767) whose 32-byte
 * `random` field carries HMAC-SHA256(secret, hello with that field zeroed), its
 * last 4 bytes XORed with the Unix time (LE). The proxy answers with a
 * ServerHello record, ChangeCipherSpec and one application-data record; the
 * ServerHello's random carries HMAC-SHA256(secret, client random || the whole
 * answer with that field zeroed), which proves the proxy knows the secret.
 * From then on both directions are TLS application-data records
 * (17 03 03 len16 payload); the client sends one ChangeCipherSpec record
 * (14 03 03 00 01 01) before its first one.
 *
 *   record:  | type (1) | 03 03 (or 03 01) | length (2, BE) | body |
 *   hello:   16 03 01 02 00 | 01 00 01 fc 03 03 | random (32) | 20 session_id (32) | ...
 *   answer:  16 03 03 len | 02 len24 03 03 | random (32) | 20 session_id | 13 01 00 | extensions
 *            14 03 03 00 01 01
 *            17 03 03 len | random bytes
 */
#ifndef MT_FAKETLS_H
#define MT_FAKETLS_H

#include <stddef.h>
#include <stdint.h>
#include "mt_buf.h"
#include "mt_crypto.h"

#define MT_FAKETLS_HELLO_LEN 517
#define MT_FAKETLS_DOMAIN_MAX 182         /* longer names do not fit the 517 bytes */
#define MT_FAKETLS_RANDOM_AT 11           /* offset of the digest in both hellos */
#define MT_TLS_RECORD_MAX 16384           /* payload bytes per record we send */
#define MT_TLS_RECORD_ACCEPT 0xffff         /* the largest record body accepted (gotd sends 20000) */

/* Appends a ClientHello for `domain` (SNI; 1..MT_FAKETLS_DOMAIN_MAX bytes), signed with
 * the 16-byte secret at Unix time `now`, to `out`; `client_random` gets its digest
 * field (kept to check the answer). Randomness (GREASE, session id, key share,
 * extension order) from `rnd` (NULL: the system CSPRNG). MT_OK, MT_ERR_ARG,
 * MT_ERR_NOMEM, MT_ERR_CRYPTO or the random source's error. */
int mt_faketls_client_hello(const uint8_t secret[16], const char *domain, size_t dlen, int64_t now,
                            const mt_random *rnd, mt_buf *out, uint8_t client_random[32]);

/* Writes the digest of hello[0..n) (whose bytes 11..43 must be zero) into those
 * bytes: HMAC-SHA256(secret, hello), last 4 bytes XOR `now` (LE). MT_OK or MT_ERR_ARG. */
int mt_faketls_sign(const uint8_t *secret, size_t slen, uint8_t *hello, size_t n, int64_t now);

/* Client: checks the proxy's answer in in[0..n) (all bytes received so far).
 * 1: complete and its digest right, *used = its length (what follows is records);
 * 0: more bytes needed; MT_ERR_PROXY_PROTO: not a fake-TLS answer;
 * MT_ERR_PROXY_SECRET: well formed but signed with another secret; MT_ERR_NOMEM. */
int mt_faketls_client_check(const uint8_t *secret, size_t slen, const uint8_t client_random[32],
                            const uint8_t *in, size_t n, size_t *used);

/* The largest ClientHello record a server takes: Telegram's MTProxy takes 512..767 bytes
 * (a record header of 16 03 01 02); other MTProxy servers take any TLS record, up to 2^14
 * bytes (browser-shaped hellos with a post-quantum key share are about 1.7 KB). */
#define MT_FAKETLS_HELLO_MAX 767
#define MT_FAKETLS_HELLO_MAX_ANY 16384

/* Server: checks a ClientHello in in[0..n) whose record is 512..max_record bytes.
 * 1: valid, *used = its length, client_random and session_id filled; 0: more bytes
 * needed; MT_ERR_PROXY_PROTO: not a ClientHello of the accepted shape;
 * MT_ERR_PROXY_SECRET: the digest is not ours or its time is more than max_skew seconds
 * from `now`. */
int mt_faketls_server_check(const uint8_t secret[16], const uint8_t *in, size_t n, size_t max_record,
                            int64_t now, int64_t max_skew, size_t *used, uint8_t client_random[32],
                            uint8_t session_id[32]);

/* Server: appends the signed answer to a hello. MT_OK, MT_ERR_NOMEM, MT_ERR_CRYPTO,
 * or the random source's error. */
int mt_faketls_server_hello(const uint8_t secret[16], const uint8_t client_random[32],
                            const uint8_t session_id[32], const mt_random *rnd, mt_buf *out);

/* ---- the record layer after the hellos ---- */

/* Appends in[0..n) as application-data records of at most MT_TLS_RECORD_MAX bytes. */
int mt_tls_wrap(const uint8_t *in, size_t n, mt_buf *out);

/* Streaming reader of records: zero it to start. */
typedef struct mt_tls_reader {
    uint8_t hdr[5];
    size_t nhdr;         /* header bytes gathered */
    size_t left;         /* body bytes of the current record still to come */
    int skip;            /* the current body is a ChangeCipherSpec: dropped */
} mt_tls_reader;

/* Appends the payload of the application-data records in in[0..n) to `out`
 * (ChangeCipherSpec records are skipped; a record may be split anywhere).
 * MT_OK, MT_ERR_NOMEM, or MT_ERR_FRAME (another record type, a bad version, a
 * length of 0 or over MT_TLS_RECORD_ACCEPT). */
int mt_tls_unwrap(mt_tls_reader *r, const uint8_t *in, size_t n, mt_buf *out);

#endif
