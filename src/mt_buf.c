#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "mt_buf.h"

void mt_buf_init(mt_buf *b)
{
    b->data = NULL; b->len = b->cap = 0; b->oom = 0;
}

void mt_buf_free(mt_buf *b)
{
    if (b->data) {
        mt_wipe(b->data, b->cap);
        free(b->data);
    }
    mt_buf_init(b);
}

int mt_buf_reserve(mt_buf *b, size_t n)
{
    if (b->cap - b->len >= n) return MT_OK;
    if (n > SIZE_MAX / 2 - b->len) { b->oom = 1; return MT_ERR_NOMEM; }
    size_t want = b->len + n, cap = b->cap ? b->cap : 64;
    while (cap < want) cap *= 2;
    /* Not realloc: the old block may hold secrets and must be wiped. */
    uint8_t *d = malloc(cap);
    if (!d) { b->oom = 1; return MT_ERR_NOMEM; }
    if (b->len) memcpy(d, b->data, b->len);
    if (b->data) { mt_wipe(b->data, b->cap); free(b->data); }
    b->data = d; b->cap = cap;
    return MT_OK;
}

void mt_buf_consume(mt_buf *b, size_t n)
{
    if (n >= b->len) { b->len = 0; return; }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

uint8_t *mt_buf_extend(mt_buf *b, size_t n)
{
    if (mt_buf_reserve(b, n) != MT_OK) return NULL;
    uint8_t *p = b->data + b->len;
    b->len += n;
    return p;
}

void mt_buf_put_tlbytes(mt_buf *b, const void *p, size_t n)
{
    size_t head;
    if (n < 254) {
        uint8_t c = (uint8_t)n;
        mt_buf_put(b, &c, 1);
        head = 1;
    } else {
        if (n > 0xffffff) { b->oom = 1; return; }
        uint8_t h[4] = { 254, (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16) };
        mt_buf_put(b, h, 4);
        head = 4;
    }
    mt_buf_put(b, p, n);
    static const uint8_t zero[4] = { 0, 0, 0, 0 };
    mt_buf_put(b, zero, (4 - (head + n) % 4) % 4);
}

int mt_rd_tlbytes(mt_reader *r, const uint8_t **p, size_t *n)
{
    const uint8_t *h = mt_rd_raw(r, 1);
    if (!h) return r->err;
    size_t len, head;
    if (h[0] < 254) {
        len = h[0]; head = 1;
    } else {
        const uint8_t *x = mt_rd_raw(r, 3);
        if (!x) return r->err;
        len = (size_t)x[0] | (size_t)x[1] << 8 | (size_t)x[2] << 16;
        head = 4;
        if (h[0] == 255) { r->err = MT_ERR_RANGE; return r->err; }
    }
    size_t pad = (4 - (head + len) % 4) % 4;
    const uint8_t *d = mt_rd_raw(r, len + pad);
    if (!d) return r->err;
    *p = d; *n = len;
    return MT_OK;
}

/* glibc's explicit_bzero is its vectorized memset behind a compiler barrier, with the same
 * guarantee as OPENSSL_cleanse, whose loop stores 8 bytes at a time: a round trip wipes about
 * 25 small buffers (hash states, round keys, padding drawn, the bytes read). */
void mt_wipe(void *p, size_t n)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 25))
    if (n) explicit_bzero(p, n); /* declared nonnull: mt_wipe(NULL, 0) is fine */
#else
    OPENSSL_cleanse(p, n);
#endif
}

struct mt_scratch {
    mt_buf b[MT_SCRATCH_COUNT];
    unsigned refs;
};

mt_scratch *mt_scratch_new(void)
{
    mt_scratch *s = calloc(1, sizeof *s);
    if (s) s->refs = 1;
    return s;
}

mt_scratch *mt_scratch_ref(mt_scratch *s)
{
    s->refs++;
    return s;
}

void mt_scratch_free(mt_scratch *s)
{
    if (!s) return;
    if (--s->refs) {
        for (int i = 0; i < MT_SCRATCH_COUNT; i++)
            if (s->b[i].cap) mt_wipe(s->b[i].data, s->b[i].cap);
        return;
    }
    for (int i = 0; i < MT_SCRATCH_COUNT; i++) mt_buf_free(&s->b[i]);
    free(s);
}

mt_buf *mt_scratch_buf(mt_scratch *s, int which) { return &s->b[which]; }

void mt_scratch_done(mt_buf *b)
{
    if (b->cap > MT_SCRATCH_KEEP) {
        mt_buf_free(b);
        return;
    }
    b->len = 0;
    b->oom = 0;
}
