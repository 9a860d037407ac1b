/* MTProto transports: the framing of MTProto packets on a TCP stream.
 *
 * Sans-IO and symmetric: one object frames outgoing packets (encode) and
 * parses incoming bytes (feed + next). The same object serves a client
 * (kind chosen up front) and a server (kind detected from the first bytes
 * the client sends), so the test DC and the driver share the code.
 *
 * Kinds (https://core.telegram.org/mtproto/mtproto-transports):
 *   abridged      tag 0xef;       len/4 as 1 byte, or 0x7f + 3 bytes LE; payload
 *   intermediate  tag 0xeeeeeeee; len (4 bytes LE); payload
 *   padded        tag 0xdddddddd; len (4 bytes LE); payload; 0..15 random bytes
 *   full          no tag;         len (4) | seqno (4) | payload | crc32 (4)
 *   obfuscated    64-byte header; then abridged/intermediate/padded under AES-256-CTR
 *
 * A received 4-byte payload is a transport error (an int32 such as -404): next()
 * answers MT_ERR_TRANSPORT with *transport_code set, whatever the kind (padded:
 * any payload under 20 bytes, the smallest MTProto packet being 24, and the
 * code is its first 4 bytes). A client
 * of the intermediate, padded or full transport also takes a small negative
 * int32 (-65535..-1) in place of a length as an unframed transport error (the
 * servers do send -429 that way on the full transport) and consumes 4 bytes.
 * Frames claiming more than MT_TRANSPORT_MAX_FRAME bytes are rejected as soon
 * as the length is read, before any of their body is buffered.
 *
 * Quick ACK: a server accepts frames whose length carries a client's quick-ACK
 * request bit (and sends no quick ACK); a client never asks for one, so a
 * quick-ACK token arriving there is MT_ERR_FRAME.
 *
 * Errors MT_ERR_FRAME (and a failed obfuscation header) are sticky: the stream
 * has lost sync, every later feed() and next() returns the same error. */
#ifndef MT_TRANSPORT_H
#define MT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include "mt_buf.h"
#include "mt_crypto.h"

enum {
    MT_TR_UNKNOWN = 0,      /* a server transport before detection */
    MT_TR_ABRIDGED = 1,
    MT_TR_INTERMEDIATE = 2,
    MT_TR_PADDED = 3,
    MT_TR_FULL = 4,
    MT_TR_OBFUSCATED = 5,
};

#define MT_TRANSPORT_MAX_FRAME ((size_t)16 << 20) /* 16 MiB: the largest payload accepted */

typedef struct mt_transport mt_transport;

/* A client transport. `kind` is MT_TR_*; for MT_TR_OBFUSCATED, `inner_kind` is
 * MT_TR_ABRIDGED, MT_TR_INTERMEDIATE or MT_TR_PADDED (0 means intermediate) and
 * `dc_id` goes into bytes 60..62 of the header (0: none). Other kinds ignore
 * both. `rnd` (copied; its `ud` must outlive the transport; NULL = system
 * CSPRNG) feeds the obfuscation header and the padded transport's padding.
 * Returns NULL on a bad kind or out of memory. */
mt_transport *mt_transport_new_client(int kind, int inner_kind, int16_t dc_id, const mt_random *rnd);

/* A server transport: the kind is detected from the first bytes fed
 * (0xef abridged; 0xeeeeeeee intermediate; 0xdddddddd padded; bytes 4..8 zero:
 * full; otherwise a 64-byte obfuscated2 header whose decrypted tag must be one
 * of the three). Padding uses the system CSPRNG unless mt_transport_set_random. */
mt_transport *mt_transport_new_server(void);

/* Replaces the random source (copied; NULL = system CSPRNG). */
void mt_transport_set_random(mt_transport *t, const mt_random *rnd);

/* MTProxy: obfuscated2 keyed with the 16-byte `secret` (each direction's key is
 * SHA-256(key || secret)); with `tls`, everything both ways also travels inside TLS
 * application-data records (the fake-TLS hellos come first and are the caller's
 * business: mt_faketls.h; a client's stream then opens with a ChangeCipherSpec
 * record). A client must be MT_TR_OBFUSCATED; a server then accepts obfuscated2
 * only. Call before start/feed. MT_OK or MT_ERR_ARG. */
int mt_transport_set_proxy(mt_transport *t, const uint8_t secret[16], int tls);

/* Appends to `out` the bytes a client must send before its first packet: the
 * tag, or the 64-byte obfuscation header (this also sets up the AES-CTR
 * streams); nothing for full and for servers. Call it once, before encode.
 * Returns MT_OK, MT_ERR_NOMEM, MT_ERR_ARG (called twice) or the random
 * source's error. */
int mt_transport_start(mt_transport *t, mt_buf *out);

/* Frames one packet into `out` (appended; encrypted when obfuscated). The
 * payload is not retained. Returns MT_OK, or MT_ERR_ARG (client not started,
 * server kind not yet known, abridged payload not a multiple of 4), MT_ERR_RANGE
 * (longer than MT_TRANSPORT_MAX_FRAME), MT_ERR_NOMEM, the random source's error. */
int mt_transport_encode(mt_transport *t, const uint8_t *payload, size_t len, mt_buf *out);

/* Feeds received bytes: they are copied (and decrypted exactly once when
 * obfuscated) into the transport's own receive buffer. A server detects its
 * kind here. Returns MT_OK, MT_ERR_NOMEM, or MT_ERR_FRAME (an unrecognisable
 * start; sticky). Invalidates the pointer given by the last next(). */
int mt_transport_feed(mt_transport *t, const uint8_t *in, size_t len);

/* The next complete frame. Returns 1 with *p and *n set to the payload (inside the
 * transport's buffer, valid until the next call of next/feed/free; padded gives
 * the payload with its random tail: the message layer finds the real length),
 * 0 when more bytes are needed, or a negative code:
 *   MT_ERR_TRANSPORT  a 4-byte frame: *transport_code = its int32 (e.g. -404);
 *                     the frame is consumed, the stream stays usable
 *   MT_ERR_FRAME      malformed: bad length (0, over MT_TRANSPORT_MAX_FRAME, not
 *                     a multiple of 4 where required), full seqno or CRC32 wrong
 * `transport_code` may be NULL; it is set to 0 unless MT_ERR_TRANSPORT. */
int mt_transport_next(mt_transport *t, const uint8_t **p, size_t *n, int32_t *transport_code);

/* MT_TR_* (for servers MT_TR_UNKNOWN until detected). For an obfuscated
 * transport kind() is MT_TR_OBFUSCATED and inner_kind() the wrapped framing;
 * otherwise inner_kind() equals kind(). */
int mt_transport_kind(const mt_transport *t);
int mt_transport_inner_kind(const mt_transport *t);
/* The DC id from an obfuscation header (server side: as received; client: as
 * given); 0 for other kinds. */
int mt_transport_dc_id(const mt_transport *t);

/* Wipes keys and buffers and frees; NULL is fine. */
void mt_transport_free(mt_transport *t);

/* "abridged", "intermediate", "padded", "full", "obfuscated" -> MT_TR_*;
 * MT_ERR_ARG for anything else. */
int mt_transport_kind_from_name(const char *name);
/* MT_TR_* -> the name above ("unknown" for others). Static string. */
const char *mt_transport_kind_name(int kind);

#endif
