/* The test DC's shared state: pending login codes and auth keys with their sessions. */
#include <stdlib.h>
#include <string.h>
#include "tdc.h"

/* FNV-1a over 8-byte words (then the tail bytes), a final xor-shift mix so the low bits the
 * bucket index uses depend on every byte: 4 multiplications for a 32-character hash, not 32. */
static size_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { memcpy(&w, s + i, 8); h ^= w; h *= 1099511628211ull; }
    for (; i < n; i++) { h ^= (uint8_t)s[i]; h *= 1099511628211ull; }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (size_t)h;
}

int tdc_logins_init(tdc_logins *ls)
{
    ls->nbuckets = 1024;
    ls->count = 0;
    ls->buckets = calloc(ls->nbuckets, sizeof *ls->buckets);
    return ls->buckets ? MT_OK : MT_ERR_NOMEM;
}

void tdc_logins_free(tdc_logins *ls)
{
    if (!ls->buckets) return;
    for (size_t i = 0; i < ls->nbuckets; i++) {
        tdc_login *l = ls->buckets[i];
        while (l) { tdc_login *n = l->next; mt_wipe(l, sizeof *l); free(l); l = n; }
    }
    free(ls->buckets);
    ls->buckets = NULL;
    ls->count = 0;
}

tdc_login *tdc_logins_find(tdc_logins *ls, const char *hash, size_t hlen)
{
    if (hlen != TDC_HASH_LEN) return NULL;
    for (tdc_login *l = ls->buckets[hash_str(hash, hlen) % ls->nbuckets]; l; l = l->next)
        if (memcmp(l->hash, hash, hlen) == 0) return l;
    return NULL;
}

/* Drops codes older than the lifetime; called when the table has to grow. */
static void sweep(tdc_logins *ls, int64_t now_ms, int64_t lifetime_ms)
{
    for (size_t i = 0; i < ls->nbuckets; i++) {
        tdc_login **pp = &ls->buckets[i];
        while (*pp) {
            tdc_login *l = *pp;
            if (now_ms - l->sent_ms > lifetime_ms) {
                *pp = l->next; free(l); ls->count--;
            } else {
                pp = &l->next;
            }
        }
    }
}

static void grow(tdc_logins *ls)
{
    size_t nb = ls->nbuckets * 2;
    tdc_login **b = calloc(nb, sizeof *b);
    if (!b) return;                          /* keep the longer chains */
    for (size_t i = 0; i < ls->nbuckets; i++) {
        tdc_login *l = ls->buckets[i];
        while (l) {
            tdc_login *n = l->next;
            size_t j = hash_str(l->hash, TDC_HASH_LEN) % nb;
            l->next = b[j]; b[j] = l;
            l = n;
        }
    }
    free(ls->buckets);
    ls->buckets = b;
    ls->nbuckets = nb;
}

tdc_login *tdc_logins_add(tdc_logins *ls, const char *phone, int64_t now_ms, int64_t lifetime_ms,
                          const mt_random *rnd)
{
    /* at most one login per bucket on average: a lookup touches about one node */
    if (ls->count >= ls->nbuckets) {
        sweep(ls, now_ms, lifetime_ms);
        if (ls->count >= ls->nbuckets / 2) grow(ls);
    }
    tdc_login *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    uint8_t r[TDC_HASH_LEN / 2];
    do {
        if (mt_random_fill(rnd, r, sizeof r) != 0) { free(l); return NULL; }
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < sizeof r; i++) {
            l->hash[2 * i] = hex[r[i] >> 4];
            l->hash[2 * i + 1] = hex[r[i] & 15];
        }
        l->hash[TDC_HASH_LEN] = 0;
    } while (tdc_logins_find(ls, l->hash, TDC_HASH_LEN));
    size_t pn = strlen(phone);
    if (pn > TDC_PHONE_MAX) pn = TDC_PHONE_MAX;
    memcpy(l->phone, phone, pn);
    l->phone[pn] = 0;
    l->sent_ms = now_ms;
    size_t j = hash_str(l->hash, TDC_HASH_LEN) % ls->nbuckets;
    l->next = ls->buckets[j];
    ls->buckets[j] = l;
    ls->count++;
    return l;
}

void tdc_logins_remove(tdc_logins *ls, tdc_login *l)
{
    tdc_login **pp = &ls->buckets[hash_str(l->hash, TDC_HASH_LEN) % ls->nbuckets];
    while (*pp && *pp != l) pp = &(*pp)->next;
    if (!*pp) return;
    *pp = l->next;
    ls->count--;
    free(l);
}

/* ---- keys and sessions ---------------------------------------------------- */

/* The map holds, per auth_key_id, the first of the keys with that id (one per DC at most). */
tdc_key *tdc_keys_find(tdc_keys *ks, int dc, uint64_t id)
{
    uint64_t head;
    if (!mt_map_get(&ks->by_id, id, &head)) return NULL;
    for (tdc_key *k = (tdc_key *)(uintptr_t)head; k; k = k->next)
        if (k->dc == dc && !k->dead) return k;
    return NULL;
}

tdc_key *tdc_keys_add(tdc_keys *ks, int dc, const uint8_t key[256], int64_t salt)
{
    tdc_key *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    memcpy(k->key, key, 256);
    k->id = mt_auth_key_id(key);
    k->dc = dc;
    k->salt = salt;
    uint64_t head = 0;
    mt_map_get(&ks->by_id, k->id, &head);
    k->next = (tdc_key *)(uintptr_t)head;
    if (mt_map_put(&ks->by_id, k->id, (uint64_t)(uintptr_t)k) != MT_OK) { /* id 0 or no memory */
        mt_wipe(k, sizeof *k);
        free(k);
        return NULL;
    }
    ks->count++;
    return k;
}

static void session_free(tdc_session *s)
{
    for (unsigned i = 0; i < TDC_DEDUP; i++) {
        if (s->dedup[i].data) { mt_wipe(s->dedup[i].data, s->dedup[i].cap); free(s->dedup[i].data); }
    }
    free(s);
}

void tdc_keys_free(tdc_keys *ks)
{
    for (size_t i = 0; i < ks->by_id.cap; i++) {
        if (!ks->by_id.slots[i].key) continue;
        tdc_key *k = (tdc_key *)(uintptr_t)ks->by_id.slots[i].val;
        while (k) {
            tdc_key *n = k->next;
            tdc_session *s = k->sessions;
            while (s) { tdc_session *sn = s->next; session_free(s); s = sn; }
            mt_wipe(k, sizeof *k);
            free(k);
            k = n;
        }
    }
    mt_map_free(&ks->by_id);
    ks->count = 0;
}

tdc_session *tdc_session_get(tdc_key *k, int64_t session_id, int *created)
{
    *created = 0;
    for (tdc_session *s = k->sessions; s; s = s->next)
        if (s->session_id == session_id) return s;
    tdc_session *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->session_id = session_id;
    s->next = k->sessions;
    k->sessions = s;
    *created = 1;
    return s;
}

tdc_answer *tdc_session_seen(tdc_session *s, int64_t msg_id)
{
    /* a new request's msg_id is above every remembered one: no scan of the ring */
    if (!s->dedup_any || msg_id > s->dedup_max) return NULL;
    for (unsigned i = 0; i < TDC_DEDUP; i++)
        if (s->dedup[i].req_msg_id == msg_id && msg_id != 0) return &s->dedup[i];
    return NULL;
}

tdc_answer *tdc_session_remember(tdc_session *s, int64_t msg_id)
{
    tdc_answer *a = &s->dedup[s->dedup_pos++ % TDC_DEDUP];
    if (a->len) mt_wipe(a->data, a->len);      /* the buffer stays for the next answer */
    a->len = 0;
    a->req_msg_id = msg_id;
    if (!s->dedup_any || msg_id > s->dedup_max) s->dedup_max = msg_id;
    s->dedup_any = 1;
    return a;
}

void tdc_answer_keep(tdc_answer *a, const uint8_t *body, size_t len)
{
    if (len > a->cap) {
        /* not realloc: the old block is wiped (answers may hold secrets) */
        size_t cap = len < 256 ? 256 : len;
        uint8_t *d = malloc(cap);
        if (!d) return;
        if (a->data) { mt_wipe(a->data, a->cap); free(a->data); }
        a->data = d;
        a->cap = cap;
    }
    memcpy(a->data, body, len);
    a->len = len;
}
