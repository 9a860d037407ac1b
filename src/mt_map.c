/* The uint64 -> uint64 hash map (see mt_map.h). */
#include <stdlib.h>
#include <string.h>
#include "mt_map.h"
#include "mt_err.h"

/* Fibonacci hashing: the top bits of k * 2^64/phi, which depend on every bit of k, spread
 * sequential keys (msg_ids, handles) and keys alike in their low bits over the whole table. */
static size_t slot_of(const mt_map *m, uint64_t k)
{
    return (size_t)((k * 0x9E3779B97F4A7C15ull) >> m->shift);
}

void mt_map_init(mt_map *m) { memset(m, 0, sizeof *m); }

void mt_map_free(mt_map *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

int mt_map_get(const mt_map *m, uint64_t k, uint64_t *v)
{
    if (!m->cap || !k) return 0;
    for (size_t i = slot_of(m, k);; i = (i + 1) & (m->cap - 1)) {
        const mt_map_slot *s = &m->slots[i];
        if (s->key == k) { if (v) *v = s->val; return 1; }
        if (!s->key) return 0;
    }
}

static int grow(mt_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 8; /* small: a session holds a few ids at a time */
    mt_map_slot *s = calloc(ncap, sizeof *s);
    if (!s) return MT_ERR_NOMEM;
    unsigned shift = 64;
    for (size_t c = ncap; c > 1; c >>= 1) shift--;
    mt_map nm = { s, ncap, 0, shift };
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key) continue;
        size_t j = slot_of(&nm, m->slots[i].key);
        while (nm.slots[j].key) j = (j + 1) & (ncap - 1);
        nm.slots[j] = m->slots[i];
        nm.n++;
    }
    free(m->slots);
    *m = nm;
    return MT_OK;
}

int mt_map_put(mt_map *m, uint64_t k, uint64_t v)
{
    if (!k) return MT_ERR_ARG;
    if ((m->n + 1) * 2 > m->cap && grow(m) != MT_OK) return MT_ERR_NOMEM;
    size_t i = slot_of(m, k);
    while (m->slots[i].key && m->slots[i].key != k) i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].key) m->n++;
    m->slots[i].key = k;
    m->slots[i].val = v;
    return MT_OK;
}

void mt_map_del(mt_map *m, uint64_t k)
{
    if (!m->cap || !k) return;
    size_t mask = m->cap - 1, i = slot_of(m, k);
    while (m->slots[i].key != k) {
        if (!m->slots[i].key) return;
        i = (i + 1) & mask;
    }
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].key) break;
        size_t h = slot_of(m, m->slots[j].key);
        /* move j back to i unless its home lies cyclically in (i, j] */
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = 0;
    m->n--;
}
