/* An open-addressing hash map from uint64 keys to uint64 values, shared by the
 * session (requests by msg_id, server msg_ids seen), the schema (combinators by
 * constructor id) and the test DC (auth keys by id).
 *
 * Key 0 is reserved (it marks an empty slot): callers whose keys may be 0 map
 * them first (e.g. set a bit above a 32-bit key). Linear probing, at most half
 * full, deletion by backward shift (no tombstones: lookups stay short after
 * many deletions). A key and its value share a slot, so a lookup in a cold map
 * costs one cache miss, not one per array. The map holds no secrets; it is not
 * wiped. */
#ifndef MT_MAP_H
#define MT_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct mt_map_slot { uint64_t key, val; } mt_map_slot;

typedef struct mt_map {
    mt_map_slot *slots;
    size_t cap, n;      /* cap is a power of two, or 0 */
    unsigned shift;     /* 64 - log2(cap): the hash's top bits pick the slot */
} mt_map;

/* An empty map; `{0}` is one too. */
void mt_map_init(mt_map *m);
void mt_map_free(mt_map *m);
/* 1 and *v (when v is not NULL) if key k is present, else 0. */
int mt_map_get(const mt_map *m, uint64_t k, uint64_t *v);
/* Sets k to v (adding or replacing). MT_OK, MT_ERR_ARG (k == 0), MT_ERR_NOMEM
 * (the map is unchanged). */
int mt_map_put(mt_map *m, uint64_t k, uint64_t v);
/* Removes k (absent: nothing happens). */
void mt_map_del(mt_map *m, uint64_t k);
static inline size_t mt_map_count(const mt_map *m) { return m->n; }

#endif
