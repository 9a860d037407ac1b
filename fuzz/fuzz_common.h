/* Shared bits of the fuzz targets: a deterministic random source, so that an
 * input replays the same exchange every time, and file helpers. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "mt_crypto.h"

typedef struct { uint64_t s; } fuzz_rng;

static inline int fuzz_random(void *ud, uint8_t *out, size_t n)
{
    fuzz_rng *r = ud;
    for (size_t i = 0; i < n; i++) {
        r->s ^= r->s << 13; r->s ^= r->s >> 7; r->s ^= r->s << 17;
        out[i] = (uint8_t)(r->s >> 24);
    }
    return 0;
}

static inline char *fuzz_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 16);
    *len = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    if (buf) buf[*len] = 0;
    return buf;
}

static inline void fuzz_write_seed(const char *dir, const char *name, uint8_t tag,
                                   const uint8_t *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputc(tag, f);
    fwrite(p, 1, n, f);
    fclose(f);
}

#endif
