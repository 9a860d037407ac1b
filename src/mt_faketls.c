/* Fake TLS for MTProxy `ee` secrets (see mt_faketls.h). */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "mt_faketls.h"
#include "mt_err.h"

#define REC_HANDSHAKE 0x16
#define REC_CCS 0x14
#define REC_APP 0x17
#define HELLO_MIN_RECORD 512          /* Telegram's MTProxy: ClientHello record 512..767 bytes */
#define ANSWER_MAX_RECORDS 16         /* handshake records before ChangeCipherSpec */
#define GREASE_N 7

static int hmac256(const uint8_t *key, size_t klen, const uint8_t *p, size_t n, uint8_t out[32])
{
    unsigned int olen = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, p, n, out, &olen) || olen != 32) return MT_ERR_CRYPTO;
    return MT_OK;
}

/* A valid X25519 public key (from a random private one), as a browser sends in its
 * key share: 32 random bytes would not all be points a real stack could produce. */
static int x25519_public(const mt_random *rnd, uint8_t out[32])
{
    uint8_t priv[32];
    int rc = mt_random_fill(rnd, priv, sizeof priv);
    if (rc < 0) return rc;
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, sizeof priv);
    size_t n = 32;
    rc = k && EVP_PKEY_get_raw_public_key(k, out, &n) == 1 && n == 32 ? MT_OK : MT_ERR_CRYPTO;
    EVP_PKEY_free(k);
    mt_wipe(priv, sizeof priv);
    return rc;
}

int mt_faketls_sign(const uint8_t *secret, size_t slen, uint8_t *hello, size_t n, int64_t now)
{
    if (n < MT_FAKETLS_RANDOM_AT + 32) return MT_ERR_ARG;
    uint8_t *d = hello + MT_FAKETLS_RANDOM_AT;
    int rc = hmac256(secret, slen, hello, n, d);
    if (rc < 0) return rc;
    mt_wr32(d + 28, mt_le32(d + 28) ^ (uint32_t)now);
    return MT_OK;
}

/* ---- building the ClientHello ---------------------------------------------------- */

/* A 2-byte big-endian length that covers what is appended after it. */
static size_t scope_open(mt_buf *b)
{
    size_t at = b->len;
    mt_buf_put(b, "\0\0", 2);
    return at;
}

static void scope_close(mt_buf *b, size_t at)
{
    if (b->oom) return;
    size_t n = b->len - at - 2;
    b->data[at] = (uint8_t)(n >> 8);
    b->data[at + 1] = (uint8_t)n;
}

static void put_grease(mt_buf *b, const uint8_t *g, int i)
{
    uint8_t v[2] = { g[i], g[i] };
    mt_buf_put(b, v, 2);
}

#define PUT(b, s) mt_buf_put((b), (s), sizeof(s) - 1)

/* What both hellos start with: a handshake record (16 03 `minor`), the handshake `type`
 * (01 ClientHello, 02 ServerHello) with a 24-bit length whose top byte is 0, version
 * 03 03, the random (zero here: the digest goes there last) and the 32-byte session id.
 * *rec and *hs are the two length scopes the caller closes. */
static void hello_head(mt_buf *b, uint8_t minor, uint8_t type, const uint8_t session_id[32],
                       size_t *rec, size_t *hs)
{
    static const uint8_t zero[32];
    uint8_t h[3] = { REC_HANDSHAKE, 3, minor }, t[2] = { type, 0 };
    mt_buf_put(b, h, 3);
    *rec = scope_open(b);
    mt_buf_put(b, t, 2);
    *hs = scope_open(b);
    PUT(b, "\x03\x03");
    mt_buf_put(b, zero, 32);
    PUT(b, "\x20");
    mt_buf_put(b, session_id, 32);
}

/* The extensions a browser sends in a random order (Chrome shuffles them). */
enum { NEXT = 15 };

static void put_extension(mt_buf *b, int which, const uint8_t *g, const char *domain, size_t dlen,
                          const uint8_t key[32])
{
    size_t s1, s2, s3;
    switch (which) {
    case 0:                                               /* server_name */
        PUT(b, "\x00\x00");
        s1 = scope_open(b); s2 = scope_open(b);
        PUT(b, "\x00");
        s3 = scope_open(b);
        mt_buf_put(b, domain, dlen);
        scope_close(b, s3); scope_close(b, s2); scope_close(b, s1);
        break;
    case 1: PUT(b, "\x00\x05\x00\x05\x01\x00\x00\x00\x00"); break;      /* status_request */
    case 2:                                               /* supported_groups */
        PUT(b, "\x00\x0a\x00\x0a\x00\x08");
        put_grease(b, g, 4);
        PUT(b, "\x00\x1d\x00\x17\x00\x18");
        break;
    case 3: PUT(b, "\x00\x0b\x00\x02\x01\x00"); break;    /* ec_point_formats */
    case 4:                                               /* signature_algorithms */
        PUT(b, "\x00\x0d\x00\x12\x00\x10\x04\x03\x08\x04\x04\x01\x05\x03\x08\x05\x05\x01\x08\x06\x06\x01");
        break;
    case 5:                                               /* ALPN: h2, http/1.1 */
        PUT(b, "\x00\x10\x00\x0e\x00\x0c\x02h2\x08http/1.1");
        break;
    case 6: PUT(b, "\x00\x12\x00\x00"); break;            /* signed_certificate_timestamp */
    case 7: PUT(b, "\x00\x17\x00\x00"); break;            /* extended_master_secret */
    case 8: PUT(b, "\x00\x1b\x00\x03\x02\x00\x02"); break;/* compress_certificate: brotli */
    case 9: PUT(b, "\x00\x23\x00\x00"); break;            /* session_ticket */
    case 10:                                              /* supported_versions: 1.3, 1.2 */
        PUT(b, "\x00\x2b\x00\x07\x06");
        put_grease(b, g, 6);
        PUT(b, "\x03\x04\x03\x03");
        break;
    case 11: PUT(b, "\x00\x2d\x00\x02\x01\x01"); break;   /* psk_key_exchange_modes */
    case 12:                                              /* key_share: GREASE, x25519 */
        PUT(b, "\x00\x33\x00\x2b\x00\x29");
        put_grease(b, g, 4);
        PUT(b, "\x00\x01\x00\x00\x1d\x00\x20");
        mt_buf_put(b, key, 32);
        break;
    case 13: PUT(b, "\x44\x69\x00\x05\x00\x03\x02h2"); break;   /* application_settings */
    default: PUT(b, "\xff\x01\x00\x01\x00"); break;       /* renegotiation_info */
    }
}

int mt_faketls_client_hello(const uint8_t secret[16], const char *domain, size_t dlen, int64_t now,
                            const mt_random *rnd, mt_buf *out, uint8_t client_random[32])
{
    if (!domain || dlen == 0 || dlen > MT_FAKETLS_DOMAIN_MAX) return MT_ERR_ARG;
    /* one draw: GREASE values, session id, extension order */
    uint8_t r[GREASE_N + 32 + 2 * NEXT], key[32];
    int rc = mt_random_fill(rnd, r, sizeof r);
    if (rc >= 0) rc = x25519_public(rnd, key);
    if (rc < 0) return rc;
    uint8_t *g = r;
    for (int i = 0; i < GREASE_N; i++) g[i] = (uint8_t)((g[i] & 0xf0) | 0x0a);
    for (int i = 1; i < GREASE_N; i += 2)
        if (g[i] == g[i - 1]) g[i] ^= 0x10;
    int order[NEXT];
    for (int i = 0; i < NEXT; i++) order[i] = i;
    for (int i = NEXT - 1; i > 0; i--) {
        int j = (int)((r[GREASE_N + 32 + 2 * i] | r[GREASE_N + 32 + 2 * i + 1] << 8) % (i + 1));
        int t = order[i]; order[i] = order[j]; order[j] = t;
    }
    size_t base = out->len, rec, hs;
    hello_head(out, 1, 0x01, r + GREASE_N, &rec, &hs);
    PUT(out, "\x00\x20");
    put_grease(out, g, 0);
    PUT(out, "\x13\x01\x13\x02\x13\x03\xc0\x2b\xc0\x2f\xc0\x2c\xc0\x30\xcc\xa9\xcc\xa8\xc0\x13\xc0\x14"
             "\x00\x9c\x00\x9d\x00\x2f\x00\x35");
    PUT(out, "\x01\x00");
    size_t ext = scope_open(out);
    put_grease(out, g, 2);
    PUT(out, "\x00\x00");
    for (int i = 0; i < NEXT; i++) put_extension(out, order[i], g, domain, dlen, key);
    put_grease(out, g, 3);
    PUT(out, "\x00\x01\x00");
    /* padding (RFC 7685) to the 517 bytes every hello of this shape has */
    size_t at = out->len - base;
    if (at < MT_FAKETLS_HELLO_LEN - 4) {
        PUT(out, "\x00\x15");
        size_t pad = scope_open(out);
        uint8_t *z = mt_buf_extend(out, MT_FAKETLS_HELLO_LEN - 4 - at);
        if (z) memset(z, 0, MT_FAKETLS_HELLO_LEN - 4 - at);
        scope_close(out, pad);
    }
    scope_close(out, ext);
    scope_close(out, hs);
    scope_close(out, rec);
    mt_wipe(key, sizeof key);
    mt_wipe(r, sizeof r);
    if (out->oom) { out->len = base; return MT_ERR_NOMEM; }
    rc = mt_faketls_sign(secret, 16, out->data + base, out->len - base, now);
    if (rc < 0) { out->len = base; return rc; }
    memcpy(client_random, out->data + base + MT_FAKETLS_RANDOM_AT, 32);
    return MT_OK;
}

/* ---- the answer ------------------------------------------------------------------- */

/* HMAC-SHA256(secret, client_random || p with its digest field zeroed) == the field? */
static int answer_digest(const uint8_t *secret, size_t slen, const uint8_t client_random[32],
                         const uint8_t *p, size_t n, uint8_t out[32])
{
    uint8_t *tmp = malloc(32 + n);
    if (!tmp) return MT_ERR_NOMEM;
    memcpy(tmp, client_random, 32);
    memcpy(tmp + 32, p, n);
    memset(tmp + 32 + MT_FAKETLS_RANDOM_AT, 0, 32);
    int rc = hmac256(secret, slen, tmp, 32 + n, out);
    free(tmp);
    return rc;
}

int mt_faketls_client_check(const uint8_t *secret, size_t slen, const uint8_t client_random[32],
                            const uint8_t *in, size_t n, size_t *used)
{
    size_t pos = 0;
    int ccs = 0;
    for (int i = 0; i < ANSWER_MAX_RECORDS + 2; i++) {
        if (n - pos < 5) return 0;
        const uint8_t *h = in + pos;
        size_t len = (size_t)h[3] << 8 | h[4];
        if (h[1] != 3 || len == 0 || len > MT_TLS_RECORD_ACCEPT) return MT_ERR_PROXY_PROTO;
        if (i == 0 && (h[0] != REC_HANDSHAKE || 5 + len < MT_FAKETLS_RANDOM_AT + 32)) return MT_ERR_PROXY_PROTO;
        if (ccs) {
            if (h[0] != REC_APP) return MT_ERR_PROXY_PROTO;
        } else if (h[0] == REC_CCS) {
            ccs = 1;
        } else if (h[0] != REC_HANDSHAKE) {
            return MT_ERR_PROXY_PROTO;
        }
        if (n - pos - 5 < len) return 0;
        pos += 5 + len;
        if (h[0] != REC_APP) continue;
        uint8_t d[32];
        int rc = answer_digest(secret, slen, client_random, in, pos, d);
        if (rc < 0) return rc;
        rc = mt_ct_memcmp(d, in + MT_FAKETLS_RANDOM_AT, 32) == 0 ? 1 : MT_ERR_PROXY_SECRET;
        if (rc == 1) *used = pos;
        return rc;
    }
    return MT_ERR_PROXY_PROTO;
}

int mt_faketls_server_check(const uint8_t secret[16], const uint8_t *in, size_t n, size_t max_record,
                            int64_t now, int64_t max_skew, size_t *used, uint8_t client_random[32],
                            uint8_t session_id[32])
{
    if (n >= 1 && in[0] != REC_HANDSHAKE) return MT_ERR_PROXY_PROTO;
    if (n < 5) return 0;
    size_t len = (size_t)in[3] << 8 | in[4];
    if (in[1] != 3 || in[2] != 1 || len < HELLO_MIN_RECORD || len > max_record) return MT_ERR_PROXY_PROTO;
    if (n - 5 < len) return 0;
    /* ClientHello, TLS 1.2 legacy version, a 32-byte session id */
    if (in[5] != 0x01 || in[9] != 3 || in[10] != 3 || in[43] != 32) return MT_ERR_PROXY_PROTO;
    uint8_t *tmp = malloc(5 + len), d[32];
    if (!tmp) return MT_ERR_NOMEM;
    memcpy(tmp, in, 5 + len);
    memset(tmp + MT_FAKETLS_RANDOM_AT, 0, 32);
    int rc = hmac256(secret, 16, tmp, 5 + len, d);
    free(tmp);
    if (rc < 0) return rc;
    const uint8_t *got = in + MT_FAKETLS_RANDOM_AT;
    int64_t t = (int64_t)(mt_le32(got + 28) ^ mt_le32(d + 28));
    int ok = mt_ct_memcmp(d, got, 28) == 0 && t >= now - max_skew && t <= now + max_skew;
    mt_wipe(d, sizeof d);
    if (!ok) return MT_ERR_PROXY_SECRET;
    memcpy(client_random, got, 32);
    memcpy(session_id, in + 44, 32);
    *used = 5 + len;
    return 1;
}

int mt_faketls_server_hello(const uint8_t secret[16], const uint8_t client_random[32],
                            const uint8_t session_id[32], const mt_random *rnd, mt_buf *out)
{
    uint8_t key[32], r[2];
    int rc = x25519_public(rnd, key);
    if (rc >= 0) rc = mt_random_fill(rnd, r, sizeof r);
    if (rc < 0) return rc;
    size_t base = out->len, rec, hs;
    hello_head(out, 3, 0x02, session_id, &rec, &hs);
    PUT(out, "\x13\x01\x00");
    size_t ext = scope_open(out);
    PUT(out, "\x00\x33\x00\x24\x00\x1d\x00\x20");
    mt_buf_put(out, key, 32);
    PUT(out, "\x00\x2b\x00\x02\x03\x04");
    scope_close(out, ext);
    scope_close(out, hs);
    scope_close(out, rec);
    PUT(out, "\x14\x03\x03\x00\x01\x01");
    /* the encrypted certificate and Finished of a real server: random bytes of a plausible size */
    size_t fake = 1024 + (size_t)((r[0] | r[1] << 8) % 3072);
    PUT(out, "\x17\x03\x03");
    uint8_t l[2] = { (uint8_t)(fake >> 8), (uint8_t)fake };
    mt_buf_put(out, l, 2);
    uint8_t *f = mt_buf_extend(out, fake);
    if (!f) { out->len = base; return MT_ERR_NOMEM; }
    if ((rc = mt_random_fill(rnd, f, fake)) < 0) { out->len = base; return rc; }
    if (out->oom) { out->len = base; return MT_ERR_NOMEM; }
    uint8_t d[32];
    rc = answer_digest(secret, 16, client_random, out->data + base, out->len - base, d);
    if (rc < 0) { out->len = base; return rc; }
    memcpy(out->data + base + MT_FAKETLS_RANDOM_AT, d, 32);
    return MT_OK;
}

/* ---- records ------------------------------------------------------------------------ */

int mt_tls_wrap(const uint8_t *in, size_t n, mt_buf *out)
{
    size_t base = out->len;
    while (n > 0) {
        size_t k = n < MT_TLS_RECORD_MAX ? n : MT_TLS_RECORD_MAX;
        uint8_t h[5] = { REC_APP, 3, 3, (uint8_t)(k >> 8), (uint8_t)k };
        mt_buf_put(out, h, 5);
        mt_buf_put(out, in, k);
        in += k;
        n -= k;
    }
    if (out->oom) { out->len = base; return MT_ERR_NOMEM; }
    return MT_OK;
}

int mt_tls_unwrap(mt_tls_reader *r, const uint8_t *in, size_t n, mt_buf *out)
{
    while (n > 0) {
        if (r->left == 0) {
            r->hdr[r->nhdr++] = *in++;
            n--;
            if (r->nhdr < 5) continue;
            r->nhdr = 0;
            r->left = (size_t)r->hdr[3] << 8 | r->hdr[4];
            if ((r->hdr[0] != REC_APP && r->hdr[0] != REC_CCS) || r->hdr[1] != 3 || r->left == 0 ||
                r->left > MT_TLS_RECORD_ACCEPT)
                return MT_ERR_FRAME;
            r->skip = r->hdr[0] == REC_CCS;
            continue;
        }
        size_t k = n < r->left ? n : r->left;
        if (!r->skip) {
            mt_buf_put(out, in, k);
            if (out->oom) return MT_ERR_NOMEM;
        }
        in += k;
        n -= k;
        r->left -= k;
    }
    return MT_OK;
}
