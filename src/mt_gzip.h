/* gzip_packed support: RFC 1952 gzip in and out (zlib). */
#ifndef MT_GZIP_H
#define MT_GZIP_H

#include <stddef.h>
#include "mt_buf.h"

/* Inflates gzip data into out (appended). Fails with MT_ERR_GZIP when the
 * data is corrupt or would inflate past max_out bytes. */
int mt_gunzip(const uint8_t *in, size_t len, size_t max_out, mt_buf *out);
/* The same for a peer's deflate in any of zlib's three framings, told apart by the header:
 * gzip (RFC 1952, 1f 8b), zlib (RFC 1950, a valid CMF/FLG pair) or raw deflate (RFC 1951).
 * Telegram's gzip_packed is gzip, but clients may send zlib or raw deflate (the test DC
 * accepts all three in requests). */
int mt_inflate_any(const uint8_t *in, size_t len, size_t max_out, mt_buf *out);
/* Deflates data as gzip into out (appended). */
int mt_gzip(const uint8_t *in, size_t len, mt_buf *out);

#define MT_GZIP_MAX_OUT ((size_t)16 << 20)

#endif
