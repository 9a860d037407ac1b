/* gzip_packed: RFC 1952 gzip through zlib, with a cap on the inflated size. */
#include <zlib.h>
#include "mt_gzip.h"

/* Inflates one stream of the framing `window_bits` selects (zlib's inflateInit2 convention). */
static int inflate_capped(const uint8_t *in, size_t len, size_t max_out, mt_buf *out, int window_bits)
{
    if (len > UINT32_MAX) return MT_ERR_GZIP;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, window_bits) != Z_OK) return MT_ERR_NOMEM;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    size_t start = out->len, produced = 0;
    int rc = MT_ERR_GZIP;
    for (;;) {
        size_t room = max_out - produced;
        if (room == 0) {
            /* Full: only a clean end of stream is acceptable now. */
            uint8_t probe;
            z.next_out = &probe; z.avail_out = 1;
            int zr = inflate(&z, Z_NO_FLUSH);
            if (zr == Z_STREAM_END && z.avail_out == 1) rc = MT_OK;
            break;
        }
        size_t chunk = room < 65536 ? room : 65536;
        if (produced == 0 && len * 4 < chunk && len * 4 >= 256) chunk = len * 4;
        if (mt_buf_reserve(out, chunk) != MT_OK) { rc = MT_ERR_NOMEM; break; }
        z.next_out = out->data + out->len;
        z.avail_out = (uInt)chunk;
        int zr = inflate(&z, Z_NO_FLUSH);
        size_t got = chunk - z.avail_out;
        out->len += got;
        produced += got;
        if (zr == Z_STREAM_END) { rc = MT_OK; break; }
        if (zr != Z_OK && !(zr == Z_BUF_ERROR && got)) break;
        if (got == 0 && z.avail_in == 0) break; /* truncated */
    }
    /* Trailing bytes after the gzip member are not allowed. */
    if (rc == MT_OK && z.avail_in != 0) rc = MT_ERR_GZIP;
    inflateEnd(&z);
    if (rc != MT_OK) {
        mt_wipe(out->data + start, out->len - start);
        out->len = start;
        return rc;
    }
    return (int)(produced > INT32_MAX ? INT32_MAX : produced);
}

int mt_gunzip(const uint8_t *in, size_t len, size_t max_out, mt_buf *out)
{
    return inflate_capped(in, len, max_out, out, 16 + MAX_WBITS);   /* 16: gzip only */
}

int mt_inflate_any(const uint8_t *in, size_t len, size_t max_out, mt_buf *out)
{
    if (len >= 2 && in[0] == 0x1f && in[1] == 0x8b) return mt_gunzip(in, len, max_out, out);
    /* zlib: method 8 (deflate), window <= 32 KiB, no preset dictionary, CMF*256+FLG % 31 == 0.
     * A raw stream from zlib cannot start so: its first block would be a stored one with
     * non-zero padding bits. */
    if (len >= 2 && (in[0] & 0x0f) == 8 && (in[0] >> 4) <= 7 && !(in[1] & 0x20) && ((in[0] << 8) | in[1]) % 31 == 0)
        return inflate_capped(in, len, max_out, out, MAX_WBITS);
    return inflate_capped(in, len, max_out, out, -MAX_WBITS);
}

int mt_gzip(const uint8_t *in, size_t len, mt_buf *out)
{
    if (len > UINT32_MAX / 2) return MT_ERR_RANGE;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return MT_ERR_NOMEM;
    size_t bound = deflateBound(&z, (uLong)len);
    size_t start = out->len;
    if (mt_buf_reserve(out, bound) != MT_OK) { deflateEnd(&z); return MT_ERR_NOMEM; }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = out->data + out->len;
    z.avail_out = (uInt)bound;
    int zr = deflate(&z, Z_FINISH);
    size_t got = bound - z.avail_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END) { out->len = start; return MT_ERR_GZIP; }
    out->len += got;
    return (int)(got > INT32_MAX ? INT32_MAX : got);
}
