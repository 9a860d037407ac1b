/* Byte buffers: a growable writer (mt_buf) and a bounds-checked reader
 * (mt_reader) for little-endian TL data.
 *
 * The writer sets a sticky `oom` flag on allocation failure; check it (or the
 * return of mt_buf_reserve) once after a series of puts. The reader keeps a
 * sticky error (MT_ERR_TRUNCATED/MT_ERR_RANGE) and never reads past `len`:
 * after the first failure every read returns zero values. */
#ifndef MT_BUF_H
#define MT_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "mt_err.h"

typedef struct mt_buf {
    uint8_t *data;
    size_t len, cap;
    int oom;
} mt_buf;

void mt_buf_init(mt_buf *b);
/* Wipes the contents (they may be secret) and frees them. */
void mt_buf_free(mt_buf *b);
/* Ensures room for n more bytes; MT_OK or MT_ERR_NOMEM. */
int mt_buf_reserve(mt_buf *b, size_t n);
/* Drops the first n bytes (n <= len), moving the rest to the front. */
void mt_buf_consume(mt_buf *b, size_t n);
/* Appends n uninitialised bytes and returns a pointer to them, or NULL. */
uint8_t *mt_buf_extend(mt_buf *b, size_t n);

static inline void mt_buf_put(mt_buf *b, const void *p, size_t n)
{
    if (b->cap - b->len < n && mt_buf_reserve(b, n) != MT_OK) return;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}
static inline void mt_buf_put_u32(mt_buf *b, uint32_t v)
{
    uint8_t t[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    mt_buf_put(b, t, 4);
}
static inline void mt_buf_put_i32(mt_buf *b, int32_t v) { mt_buf_put_u32(b, (uint32_t)v); }
static inline void mt_buf_put_u64(mt_buf *b, uint64_t v)
{
    mt_buf_put_u32(b, (uint32_t)v);
    mt_buf_put_u32(b, (uint32_t)(v >> 32));
}
static inline void mt_buf_put_i64(mt_buf *b, int64_t v) { mt_buf_put_u64(b, (uint64_t)v); }
/* TL string/bytes: 1-byte length (< 254) or 0xfe + 3-byte length, data, zero padding to 4. */
void mt_buf_put_tlbytes(mt_buf *b, const void *p, size_t n);

static inline uint32_t mt_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t mt_le64(const uint8_t *p)
{
    return (uint64_t)mt_le32(p) | (uint64_t)mt_le32(p + 4) << 32;
}
static inline void mt_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void mt_wr64(uint8_t *p, uint64_t v) { mt_wr32(p, (uint32_t)v); mt_wr32(p + 4, (uint32_t)(v >> 32)); }

typedef struct mt_reader {
    const uint8_t *p;
    size_t len, pos;
    int err; /* 0 or a negative MT_ERR_* */
} mt_reader;

static inline void mt_rd_init(mt_reader *r, const void *p, size_t len)
{
    r->p = (const uint8_t *)p; r->len = len; r->pos = 0; r->err = 0;
}
static inline size_t mt_rd_left(const mt_reader *r) { return r->err ? 0 : r->len - r->pos; }
/* Returns a pointer to the next n bytes and advances, or NULL (sticky error). */
static inline const uint8_t *mt_rd_raw(mt_reader *r, size_t n)
{
    if (r->err) return NULL;
    if (r->len - r->pos < n) { r->err = MT_ERR_TRUNCATED; return NULL; }
    const uint8_t *q = r->p + r->pos;
    r->pos += n;
    return q;
}
static inline uint32_t mt_rd_u32(mt_reader *r)
{
    const uint8_t *q = mt_rd_raw(r, 4);
    return q ? mt_le32(q) : 0;
}
static inline int32_t mt_rd_i32(mt_reader *r) { return (int32_t)mt_rd_u32(r); }
static inline uint64_t mt_rd_u64(mt_reader *r)
{
    const uint8_t *q = mt_rd_raw(r, 8);
    return q ? mt_le64(q) : 0;
}
static inline int64_t mt_rd_i64(mt_reader *r) { return (int64_t)mt_rd_u64(r); }
/* TL string/bytes: sets *p and *n to the data inside the buffer (not copied). */
int mt_rd_tlbytes(mt_reader *r, const uint8_t **p, size_t *n);

/* Overwrites n bytes with zeros in a way the compiler may not elide. */
void mt_wipe(void *p, size_t n);

/* Scratch buffers for the work on one packet (building, framing and decrypting it), which
 * the sessions and links of one thread can share: nothing in them is used after the call
 * that fills it, so an idle connection keeps none of this room. new(): one reference (NULL
 * on allocation failure); ref(): one more; free(): drops one (NULL is fine) and wipes the
 * buffers (what an owner that leaves put there may be secret, as a session's plaintext),
 * the last one also frees them. Not for concurrent use from several threads. */
enum { MT_SCRATCH_PLAIN, MT_SCRATCH_BODY, MT_SCRATCH_MSG, MT_SCRATCH_PACKET, MT_SCRATCH_COUNT };
typedef struct mt_scratch mt_scratch;
mt_scratch *mt_scratch_new(void);
mt_scratch *mt_scratch_ref(mt_scratch *s);
void mt_scratch_free(mt_scratch *s);
mt_buf *mt_scratch_buf(mt_scratch *s, int which);
/* A scratch buffer's work is done: empties it (the bytes stay until the next use or free:
 * wiping every packet's would cost ~2% of a call) and gives back room past MT_SCRATCH_KEEP
 * (a big packet's, wiped). */
#define MT_SCRATCH_KEEP ((size_t)256 << 10)
void mt_scratch_done(mt_buf *b);

#endif
