/* MTProto transports: framing, server-side detection, obfuscated2.
 * See mt_transport.h for the contract. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "mt_transport.h"
#include "mt_faketls.h"

struct mt_transport {
    int server;          /* 1: kind detected from the first bytes */
    int kind;            /* MT_TR_* as seen from outside */
    int inner;           /* the framing actually parsed/written */
    int started;         /* client: start() done; server: kind known */
    int err;             /* sticky MT_ERR_FRAME once the stream lost sync */
    int dc_id;
    mt_random rnd;
    mt_buf rx;           /* received (decrypted) bytes; [head, len) unparsed */
    size_t head;
    uint32_t tx_seq, rx_seq;   /* full transport */
    mt_aes_ctr *enc, *dec;     /* obfuscated2 */
    int keyed;                 /* MTProxy: obfuscated2 keys hashed with `secret` */
    uint8_t secret[16];
    int tls;                   /* MTProxy ee: TLS application-data records outside */
    mt_tls_reader tls_rx;
};

static const uint8_t TAG_ABRIDGED = 0xef;
static const uint8_t TAG_INTERMEDIATE[4] = { 0xee, 0xee, 0xee, 0xee };
static const uint8_t TAG_PADDED[4] = { 0xdd, 0xdd, 0xdd, 0xdd };
static const uint8_t TAG_OBF_ABRIDGED[4] = { 0xef, 0xef, 0xef, 0xef };

#define OBF_HEADER 64
#define FULL_OVERHEAD 12     /* len | seqno | ... | crc32 */
#define PADDED_MAX_PAD 15
/* Receive buffer room kept once every frame in it is parsed: enough for the small packets of
 * most calls; the room a bigger frame needed is given back (a program may hold thousands of
 * idle connections, each with the room of the largest answer it ever got otherwise). */
#define RX_KEEP ((size_t)512)
/* The smallest MTProto packet (a plain message with a 4-byte body) is 24 bytes,
 * so a padded frame under 4 + 16 bytes can only be a 4-byte error plus padding. */
#define PADDED_ERROR_BELOW 20

static int is_inner_kind(int k)
{
    return k == MT_TR_ABRIDGED || k == MT_TR_INTERMEDIATE || k == MT_TR_PADDED;
}

static mt_transport *alloc_transport(const mt_random *rnd)
{
    mt_transport *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    mt_buf_init(&t->rx);
    mt_transport_set_random(t, rnd);
    return t;
}

mt_transport *mt_transport_new_client(int kind, int inner_kind, int16_t dc_id, const mt_random *rnd)
{
    if (kind == MT_TR_OBFUSCATED) {
        if (inner_kind == 0) inner_kind = MT_TR_INTERMEDIATE;
        if (!is_inner_kind(inner_kind)) return NULL;
    } else if (is_inner_kind(kind) || kind == MT_TR_FULL) {
        inner_kind = kind;
        dc_id = 0;
    } else {
        return NULL;
    }
    mt_transport *t = alloc_transport(rnd);
    if (!t) return NULL;
    t->kind = kind;
    t->inner = inner_kind;
    t->dc_id = dc_id;
    return t;
}

mt_transport *mt_transport_new_server(void)
{
    mt_transport *t = alloc_transport(NULL);
    if (t) t->server = 1;
    return t;
}

void mt_transport_set_random(mt_transport *t, const mt_random *rnd)
{
    if (rnd) t->rnd = *rnd;
    else { t->rnd.fn = NULL; t->rnd.ud = NULL; }
}

int mt_transport_kind(const mt_transport *t) { return t->kind; }
int mt_transport_inner_kind(const mt_transport *t) { return t->inner; }
int mt_transport_dc_id(const mt_transport *t) { return t->dc_id; }

void mt_transport_free(mt_transport *t)
{
    if (!t) return;
    mt_buf_free(&t->rx);
    mt_aes_ctr_free(t->enc);
    mt_aes_ctr_free(t->dec);
    mt_wipe(t, sizeof *t);
    free(t);
}

static const char *const kind_names[] = {
    "unknown", "abridged", "intermediate", "padded", "full", "obfuscated",
};

int mt_transport_kind_from_name(const char *name)
{
    if (!name) return MT_ERR_ARG;
    for (int k = MT_TR_ABRIDGED; k <= MT_TR_OBFUSCATED; k++)
        if (strcmp(name, kind_names[k]) == 0) return k;
    return MT_ERR_ARG;
}

const char *mt_transport_kind_name(int kind)
{
    return kind >= MT_TR_ABRIDGED && kind <= MT_TR_OBFUSCATED ? kind_names[kind] : kind_names[0];
}

/* ---- obfuscated2 ------------------------------------------------------------
 *
 *   0       8                     40              56      60   62    64
 *   | rand  | key (32)            | iv (16)       | tag   | dc | rand |
 *   |<------ sent in clear ---------------------->|<-- encrypted --->|
 *
 * The sender's AES-256-CTR stream uses key/iv as they are; the receiver of the
 * other direction uses bytes 8..56 reversed (key = rev[0..32), iv = rev[32..48)).
 * The stream starts at byte 0 of the header: its first 64 bytes of keystream are
 * spent on the header and the data continues from there. */

static void obf_drop_streams(mt_transport *t)
{
    mt_aes_ctr_free(t->enc);
    mt_aes_ctr_free(t->dec);
    t->enc = t->dec = NULL;
}

/* Both streams from header h: the side that sent h encrypts with its key/iv and
 * decrypts with the reversed ones, the side that received it the other way round. */
static int obf_streams(mt_transport *t, const uint8_t h[OBF_HEADER], int sender)
{
    uint8_t rev[48], kf[32], kb[32];
    for (int i = 0; i < 48; i++) rev[i] = h[55 - i];
    memcpy(kf, h + 8, 32);
    memcpy(kb, rev, 32);
    int hashed = 1;
    if (t->keyed) /* MTProxy: each key is SHA-256(key || secret) */
        hashed = mt_sha256_parts(kf, h + 8, 32, t->secret, 16, NULL, 0, NULL, 0) == MT_OK &&
                 mt_sha256_parts(kb, rev, 32, t->secret, 16, NULL, 0, NULL, 0) == MT_OK;
    mt_aes_ctr *fwd = hashed ? mt_aes_ctr_new(kf, h + 40) : NULL;
    mt_aes_ctr *back = hashed ? mt_aes_ctr_new(kb, rev + 32) : NULL;
    mt_wipe(rev, sizeof rev);
    mt_wipe(kf, sizeof kf);
    mt_wipe(kb, sizeof kb);
    t->enc = sender ? fwd : back;
    t->dec = sender ? back : fwd;
    if (!fwd || !back) { obf_drop_streams(t); return MT_ERR_CRYPTO; }
    return MT_OK;
}

/* A client header must not look like another transport (or HTTP/TLS) to the
 * server's detection: see the list in the transports page. */
static int obf_header_ok(const uint8_t h[OBF_HEADER])
{
    static const char *const bad[] = { "HEAD", "POST", "GET ", "OPTI", "\xdd\xdd\xdd\xdd",
                                       "\xee\xee\xee\xee", "\x16\x03\x01\x02" };
    if (h[0] == TAG_ABRIDGED) return 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (memcmp(h, bad[i], 4) == 0) return 0;
    return (h[4] | h[5] | h[6] | h[7]) != 0;
}

static const uint8_t *inner_tag4(int inner)
{
    return inner == MT_TR_ABRIDGED ? TAG_OBF_ABRIDGED
         : inner == MT_TR_PADDED ? TAG_PADDED : TAG_INTERMEDIATE;
}

static int obf_client_start(mt_transport *t, mt_buf *out)
{
    uint8_t h[OBF_HEADER], *o;
    int rc = MT_ERR_CRYPTO;
    /* Each try rejects with probability ~2^-8; 64 failures mean a broken source. */
    for (int tries = 0; tries < 64; tries++) {
        rc = mt_random_fill(&t->rnd, h, sizeof h);
        if (rc < 0) goto done;
        if (obf_header_ok(h)) { rc = MT_OK; break; }
        rc = MT_ERR_CRYPTO;
    }
    if (rc < 0) goto done;
    memcpy(h + 56, inner_tag4(t->inner), 4);
    h[60] = (uint8_t)(t->dc_id & 0xff);
    h[61] = (uint8_t)((t->dc_id >> 8) & 0xff);
    if ((rc = obf_streams(t, h, 1)) < 0) goto done;
    o = mt_buf_extend(out, OBF_HEADER);
    if (!o) { rc = MT_ERR_NOMEM; goto done; }
    mt_aes_ctr_apply(t->enc, h, o, OBF_HEADER);
    memcpy(o, h, 56);  /* only the tail travels encrypted */
    rc = MT_OK;
done:
    if (rc < 0) obf_drop_streams(t);
    mt_wipe(h, sizeof h);
    return rc;
}

/* Server side: rx holds at least 64 raw bytes from head on. Sets up both
 * streams, checks the tag, and decrypts whatever followed the header in place. */
static int obf_server_accept(mt_transport *t)
{
    uint8_t *h = t->rx.data + t->head;
    uint8_t d[OBF_HEADER];
    int rc = obf_streams(t, h, 0);
    if (rc < 0) return rc;
    mt_aes_ctr_apply(t->dec, h, d, OBF_HEADER);
    if (memcmp(d + 56, TAG_OBF_ABRIDGED, 4) == 0) t->inner = MT_TR_ABRIDGED;
    else if (memcmp(d + 56, TAG_INTERMEDIATE, 4) == 0) t->inner = MT_TR_INTERMEDIATE;
    else if (memcmp(d + 56, TAG_PADDED, 4) == 0) t->inner = MT_TR_PADDED;
    else { rc = MT_ERR_FRAME; goto done; }
    t->dc_id = (int16_t)(uint16_t)(d[60] | d[61] << 8);
    t->kind = MT_TR_OBFUSCATED;
    t->head += OBF_HEADER;
    if (t->rx.len > t->head)
        mt_aes_ctr_apply(t->dec, t->rx.data + t->head, t->rx.data + t->head, t->rx.len - t->head);
done:
    if (rc < 0) obf_drop_streams(t);
    mt_wipe(d, sizeof d);
    return rc;
}

/* Server detection over the raw bytes at rx[head..). Returns MT_OK (known now
 * or needs more bytes: check t->started) or MT_ERR_FRAME. */
static int detect(mt_transport *t)
{
    const uint8_t *p = t->rx.data + t->head;
    size_t n = t->rx.len - t->head;
    if (t->keyed) {
        /* an MTProxy speaks obfuscated2 only */
        if (n < OBF_HEADER) return MT_OK;
        int rc = obf_server_accept(t);
        if (rc < 0) return rc;
    } else if (n >= 1 && p[0] == TAG_ABRIDGED) {
        t->kind = t->inner = MT_TR_ABRIDGED;
        t->head += 1;
    } else if (n < 4) {
        return MT_OK;
    } else if (memcmp(p, TAG_INTERMEDIATE, 4) == 0) {
        t->kind = t->inner = MT_TR_INTERMEDIATE;
        t->head += 4;
    } else if (memcmp(p, TAG_PADDED, 4) == 0) {
        t->kind = t->inner = MT_TR_PADDED;
        t->head += 4;
    } else if (n < 8) {
        return MT_OK;
    } else if ((p[4] | p[5] | p[6] | p[7]) == 0) {
        /* full: a length, then seqno 0 (an obfuscated header never has zeros here) */
        t->kind = t->inner = MT_TR_FULL;
    } else if (n < OBF_HEADER) {
        return MT_OK;
    } else {
        int rc = obf_server_accept(t);
        if (rc < 0) return rc;
    }
    t->started = 1;
    return MT_OK;
}

int mt_transport_set_proxy(mt_transport *t, const uint8_t secret[16], int tls)
{
    if (t->started || t->rx.len || (!t->server && t->kind != MT_TR_OBFUSCATED)) return MT_ERR_ARG;
    memcpy(t->secret, secret, 16);
    t->keyed = 1;
    t->tls = tls != 0;
    return MT_OK;
}

/* MTProxy ee: the bytes appended to `out` since `base` leave as TLS records, made in
 * place (each chunk moves up by the headers before it, the last chunk first). */
static int tls_wrap_tail(mt_buf *out, size_t base)
{
    size_t n = out->len - base;
    if (n == 0) return MT_OK;
    size_t recs = (n + MT_TLS_RECORD_MAX - 1) / MT_TLS_RECORD_MAX;
    if (!mt_buf_extend(out, 5 * recs)) { out->len = base; return MT_ERR_NOMEM; }
    uint8_t *p = out->data + base;
    for (size_t i = recs; i-- > 0;) {
        size_t off = i * MT_TLS_RECORD_MAX, k = n - off < MT_TLS_RECORD_MAX ? n - off : MT_TLS_RECORD_MAX;
        uint8_t *dst = p + off + 5 * (i + 1);
        memmove(dst, p + off, k);
        dst[-5] = 0x17; dst[-4] = 3; dst[-3] = 3;
        dst[-2] = (uint8_t)(k >> 8); dst[-1] = (uint8_t)k;
    }
    return MT_OK;
}

int mt_transport_start(mt_transport *t, mt_buf *out)
{
    if (t->server) return MT_OK;
    if (t->started) return MT_ERR_ARG;
    int rc = MT_OK;
    /* fake TLS: a ChangeCipherSpec record opens the client's stream, as a browser's does */
    if (t->tls) mt_buf_put(out, "\x14\x03\x03\x00\x01\x01", 6);
    size_t base = out->len;
    switch (t->kind) {
    case MT_TR_ABRIDGED: mt_buf_put(out, &TAG_ABRIDGED, 1); break;
    case MT_TR_INTERMEDIATE: mt_buf_put(out, TAG_INTERMEDIATE, 4); break;
    case MT_TR_PADDED: mt_buf_put(out, TAG_PADDED, 4); break;
    case MT_TR_FULL: break;
    case MT_TR_OBFUSCATED: rc = obf_client_start(t, out); break;
    default: return MT_ERR_ARG;
    }
    if (rc == MT_OK && out->oom) rc = MT_ERR_NOMEM;
    if (rc == MT_OK && t->tls) rc = tls_wrap_tail(out, base);
    if (rc == MT_OK) t->started = 1;
    return rc;
}

/* ---- encode ------------------------------------------------------------------
 *
 * abridged:      | n/4 (1) | payload |               n/4 < 0x7f
 *                | 0x7f | n/4 (3, LE) | payload |    otherwise
 * intermediate:  | n (4, LE) | payload |
 * padded:        | n+k (4, LE) | payload | k random bytes (0..15) |
 * full:          | n+12 (4) | seqno (4) | payload | crc32 of all before (4) |
 */
int mt_transport_encode(mt_transport *t, const uint8_t *payload, size_t len, mt_buf *out)
{
    if (!t->started) return MT_ERR_ARG;
    if (len > MT_TRANSPORT_MAX_FRAME) return MT_ERR_RANGE;
    if (len && !payload) return MT_ERR_ARG;
    size_t base = out->len;
    int rc = MT_OK;
    switch (t->inner) {
    case MT_TR_ABRIDGED: {
        if (len % 4) return MT_ERR_ARG;
        size_t w = len / 4;
        if (w < 0x7f) {
            uint8_t b = (uint8_t)w;
            mt_buf_put(out, &b, 1);
        } else {
            uint8_t h[4] = { 0x7f, (uint8_t)w, (uint8_t)(w >> 8), (uint8_t)(w >> 16) };
            mt_buf_put(out, h, 4);
        }
        mt_buf_put(out, payload, len);
        break;
    }
    case MT_TR_INTERMEDIATE:
        mt_buf_put_u32(out, (uint32_t)len);
        mt_buf_put(out, payload, len);
        break;
    case MT_TR_PADDED: {
        /* One draw of 16 bytes: the first picks the length, the rest are the
         * padding. A bare 4-byte error code goes unpadded. */
        uint8_t r[1 + PADDED_MAX_PAD], k = 0;
        if (len != 4) {
            if ((rc = mt_random_fill(&t->rnd, r, sizeof r)) < 0) return rc;
            k = r[0] % (PADDED_MAX_PAD + 1);
        }
        mt_buf_put_u32(out, (uint32_t)(len + k));
        mt_buf_put(out, payload, len);
        mt_buf_put(out, r + 1, k);
        break;
    }
    case MT_TR_FULL:
        mt_buf_put_u32(out, (uint32_t)(len + FULL_OVERHEAD));
        mt_buf_put_u32(out, t->tx_seq);
        mt_buf_put(out, payload, len);
        if (!out->oom)
            mt_buf_put_u32(out, (uint32_t)crc32(0L, out->data + base, (uInt)(out->len - base)));
        break;
    default:
        return MT_ERR_ARG;
    }
    if (out->oom) { out->len = base; return MT_ERR_NOMEM; }
    if (t->inner == MT_TR_FULL) t->tx_seq++;
    if (t->enc) mt_aes_ctr_apply(t->enc, out->data + base, out->data + base, out->len - base);
    return t->tls ? tls_wrap_tail(out, base) : MT_OK;
}

/* ---- receive ----------------------------------------------------------------- */

int mt_transport_feed(mt_transport *t, const uint8_t *in, size_t len)
{
    if (t->err) return t->err;
    if (!len) return MT_OK;
    if (t->head == t->rx.len && t->rx.cap > RX_KEEP) {
        /* all parsed: drop the room a big frame left behind */
        mt_buf_free(&t->rx);
        t->head = 0;
    } else if (t->head) {
        mt_buf_consume(&t->rx, t->head);
        t->head = 0;
    }
    if (t->tls) {
        size_t before = t->rx.len;
        int rc = mt_tls_unwrap(&t->tls_rx, in, len, &t->rx);
        if (rc == MT_ERR_FRAME) t->err = rc;
        if (rc < 0) return rc;
        if (t->rx.len == before) return MT_OK;       /* only headers or a ChangeCipherSpec */
        if (t->dec) mt_aes_ctr_apply(t->dec, t->rx.data + before, t->rx.data + before, t->rx.len - before);
    } else {
        uint8_t *dst = mt_buf_extend(&t->rx, len);
        if (!dst) return MT_ERR_NOMEM;
        if (t->dec) mt_aes_ctr_apply(t->dec, in, dst, len);
        else memcpy(dst, in, len);
    }
    if (t->server && !t->started) {
        int rc = detect(t);
        if (rc < 0) { t->err = rc; return rc; }
    }
    return MT_OK;
}

static int frame_error(mt_transport *t)
{
    t->err = MT_ERR_FRAME;
    return MT_ERR_FRAME;
}

int mt_transport_next(mt_transport *t, const uint8_t **p, size_t *n, int32_t *transport_code)
{
    if (transport_code) *transport_code = 0;
    if (t->err) return t->err;
    if (!t->started) return 0;
    size_t avail = t->rx.len - t->head, hdr, plen, tail = 0;
    if (avail == 0) { /* also: rx.data may still be NULL */
        if (t->rx.cap > RX_KEEP) {
            mt_buf_free(&t->rx);
            t->head = 0;
        }
        return 0;
    }
    const uint8_t *b = t->rx.data + t->head;
    /* Servers have been seen to send a transport error unframed in place of a
     * length (full transport: -429 repeated). A client never gets a negative
     * length otherwise; small negative values are taken as that error. */
    if (!t->server && t->inner != MT_TR_ABRIDGED && avail >= 4) {
        int32_t v = (int32_t)mt_le32(b);
        if (v < 0 && v >= -0xffff) {
            t->head += 4;
            if (t->head == t->rx.len) t->rx.len = t->head = 0;
            if (transport_code) *transport_code = v;
            return MT_ERR_TRANSPORT;
        }
    }
    switch (t->inner) {
    case MT_TR_ABRIDGED: {
        /* The top bit is a client's quick-ACK request: a server accepts the frame
         * (it sends no quick ACKs); a client never asks, so there it is garbage. */
        uint8_t l = b[0];
        if (l & 0x80) {
            if (!t->server) return frame_error(t);
            l &= 0x7f;
        }
        if (l < 0x7f) {
            hdr = 1;
            plen = (size_t)l * 4;
        } else {
            if (avail < 4) return 0;
            hdr = 4;
            plen = ((size_t)b[1] | (size_t)b[2] << 8 | (size_t)b[3] << 16) * 4;
        }
        if (plen == 0 || plen > MT_TRANSPORT_MAX_FRAME) return frame_error(t);
        break;
    }
    case MT_TR_INTERMEDIATE:
    case MT_TR_PADDED:
        if (avail < 4) return 0;
        hdr = 4;
        plen = mt_le32(b);
        if (t->server) plen &= 0x7fffffffu;   /* quick-ACK request, as above */
        if (plen < 4 || plen > MT_TRANSPORT_MAX_FRAME + PADDED_MAX_PAD) return frame_error(t);
        if (t->inner == MT_TR_INTERMEDIATE && (plen % 4 || plen > MT_TRANSPORT_MAX_FRAME))
            return frame_error(t);
        break;
    case MT_TR_FULL: {
        if (avail < 4) return 0;
        size_t flen = mt_le32(b);
        if (flen < FULL_OVERHEAD || flen % 4 || flen - FULL_OVERHEAD > MT_TRANSPORT_MAX_FRAME)
            return frame_error(t);
        hdr = 8;
        tail = 4;
        plen = flen - FULL_OVERHEAD;
        break;
    }
    default:
        return frame_error(t);
    }
    if (avail < hdr || avail - hdr < plen + tail) return 0;
    const uint8_t *payload = b + hdr;
    if (t->inner == MT_TR_FULL) {
        if (mt_le32(b + 4) != t->rx_seq) return frame_error(t);
        uint32_t crc = (uint32_t)crc32(0L, b, (uInt)(hdr + plen));
        if (mt_le32(payload + plen) != crc) return frame_error(t);
        t->rx_seq++;
    }
    t->head += hdr + plen + tail;
    if (t->head == t->rx.len) {
        /* nothing left: rewind without moving bytes (payload stays readable) */
        t->rx.len = 0;
        t->head = 0;
    }
    if (plen == 4 || (t->inner == MT_TR_PADDED && plen < PADDED_ERROR_BELOW)) {
        if (transport_code) *transport_code = (int32_t)mt_le32(payload);
        return MT_ERR_TRANSPORT;
    }
    *p = payload;
    *n = plen;
    return 1;
}
