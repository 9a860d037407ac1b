/* The uint64 -> uint64 hash map (see mt_map.h). */
#include <stdlib.h>
#include <string.h>
#include "mt_map.h"
#include "mt_err.h"

/* Fibonacci hashing: the high bits of k * 2^64/phi spread sequential keys
 * (msg_ids, handles) over the whole table. */
static size_t slot_of(const mt_map *m, uint64_t k)
{
    return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 17) & (m->cap - 1);
}

void mt_map_init(mt_map *m) { memset(m, 0, sizeof *m); }

void mt_map_free(mt_map *m)
{
    free(m->keys); free(m->vals);
    memset(m, 0, sizeof *m);
}

int mt_map_get(const mt_map *m, uint64_t k, uint64_t *v)
{
    if (!m->cap || !k) return 0;
    for (size_t i = slot_of(m, k);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == k) { if (v) *v = m->vals[i]; return 1; }
        if (!m->keys[i]) return 0;
    }
}

static int grow(mt_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 8; /* small: a session holds a few ids at a time */
    uint64_t *k = calloc(ncap, sizeof *k);
    uint64_t *v = malloc(ncap * sizeof *v);
    if (!k || !v) { free(k); free(v); return MT_ERR_NOMEM; }
    mt_map nm = { k, v, ncap, 0 };
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = slot_of(&nm, m->keys[i]);
        while (nm.keys[j]) j = (j + 1) & (ncap - 1);
        nm.keys[j] = m->keys[i]; nm.vals[j] = m->vals[i]; nm.n++;
    }
    free(m->keys); free(m->vals);
    *m = nm;
    return MT_OK;
}

int mt_map_put(mt_map *m, uint64_t k, uint64_t v)
{
    if (!k) return MT_ERR_ARG;
    if ((m->n + 1) * 2 > m->cap && grow(m) != MT_OK) return MT_ERR_NOMEM;
    size_t i = slot_of(m, k);
    while (m->keys[i] && m->keys[i] != k) i = (i + 1) & (m->cap - 1);
    if (!m->keys[i]) m->n++;
    m->keys[i] = k; m->vals[i] = v;
    return MT_OK;
}

void mt_map_del(mt_map *m, uint64_t k)
{
    if (!m->cap || !k) return;
    size_t mask = m->cap - 1, i = slot_of(m, k);
    while (m->keys[i] != k) {
        if (!m->keys[i]) return;
        i = (i + 1) & mask;
    }
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->keys[j]) break;
        size_t h = slot_of(m, m->keys[j]);
        /* move j back to i unless its home lies cyclically in (i, j] */
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            m->keys[i] = m->keys[j]; m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->keys[i] = 0;
    m->n--;
}
