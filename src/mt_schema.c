/* TL schema parser and registry. See mt_schema.h. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "mt_schema.h"
#include "mt_err.h"

/* Generated at build time from the schema/ texts (scripts/embed_schema.lua). */
extern const char mt_schema_text_mtproto[];
extern const size_t mt_schema_text_mtproto_len;
extern const char mt_schema_text_api[];
extern const size_t mt_schema_text_api_len;

void mt_schema_init(mt_schema *s)
{
    memset(s, 0, sizeof *s);
}

void mt_schema_free(mt_schema *s)
{
    for (size_t i = 0; i < s->ntypes; i++) free(s->types[i].ctors);
    free(s->combs); free(s->params); free(s->trefs); free(s->types);
    free(s->pool); free(s->noff); free(s->nhash);
    free(s->ctor_by_name); free(s->method_by_name); free(s->type_by_name);
    mt_map_free(&s->ids);
    memset(s, 0, sizeof *s);
}

/* Grows an array to hold at least `need` elements of size `sz`. */
static int grow(void **p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap) return MT_OK;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    if (c > SIZE_MAX / sz) return MT_ERR_NOMEM;
    void *q = realloc(*p, c * sz);
    if (!q) return MT_ERR_NOMEM;
    *p = q;
    *cap = c;
    return MT_OK;
}

static uint32_t hash_bytes(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) { h ^= (uint8_t)p[i]; h *= 16777619u; }
    return h;
}

/* p[0..n) may hold NUL bytes (a Lua string): the stored name must be exactly n bytes long
 * (strnlen never reads past its terminator) and equal byte for byte. */
static int name_eq(const mt_schema *s, uint32_t id, const char *p, size_t n)
{
    const char *q = s->pool + s->noff[id];
    return strnlen(q, n + 1) == n && memcmp(q, p, n) == 0;
}

int mt_schema_name_id(const mt_schema *s, const char *p, size_t n)
{
    if (!s->nhashcap) return -1;
    size_t mask = s->nhashcap - 1;
    for (size_t i = hash_bytes(p, n) & mask;; i = (i + 1) & mask) {
        uint32_t v = s->nhash[i];
        if (!v) return -1;
        if (name_eq(s, v - 1, p, n)) return (int)(v - 1);
    }
}

static int rehash_names(mt_schema *s, size_t cap)
{
    uint32_t *h = calloc(cap, sizeof *h);
    if (!h) return MT_ERR_NOMEM;
    for (size_t id = 0; id < s->nnames; id++) {
        const char *q = s->pool + s->noff[id];
        size_t i = hash_bytes(q, strlen(q)) & (cap - 1);
        while (h[i]) i = (i + 1) & (cap - 1);
        h[i] = (uint32_t)id + 1;
    }
    free(s->nhash);
    s->nhash = h;
    s->nhashcap = cap;
    return MT_OK;
}

/* Returns the name id of p[0..n), interning it if new; negative on failure. */
static int intern(mt_schema *s, const char *p, size_t n)
{
    int id = mt_schema_name_id(s, p, n);
    if (id >= 0) return id;
    if (s->nnames >= INT32_MAX / 2) return MT_ERR_NOMEM;
    if ((s->nnames + 1) * 2 > s->nhashcap && rehash_names(s, s->nhashcap ? s->nhashcap * 2 : 4096) < 0)
        return MT_ERR_NOMEM;
    if (grow((void **)&s->pool, &s->cappool, s->npool + n + 1, 1) < 0 ||
        grow((void **)&s->noff, &s->capnames, s->nnames + 1, sizeof *s->noff) < 0)
        return MT_ERR_NOMEM;
    size_t cap = s->capbyname;
    if (s->nnames + 1 > cap) {
        size_t c = cap ? cap * 2 : 4096;
        while (c < s->nnames + 1) c *= 2;
        int32_t *a = realloc(s->ctor_by_name, c * sizeof *a);
        if (!a) return MT_ERR_NOMEM;
        s->ctor_by_name = a;
        a = realloc(s->method_by_name, c * sizeof *a);
        if (!a) return MT_ERR_NOMEM;
        s->method_by_name = a;
        a = realloc(s->type_by_name, c * sizeof *a);
        if (!a) return MT_ERR_NOMEM;
        s->type_by_name = a;
        for (size_t i = cap; i < c; i++) s->ctor_by_name[i] = s->method_by_name[i] = s->type_by_name[i] = 0;
        s->capbyname = c;
    }
    memcpy(s->pool + s->npool, p, n);
    s->pool[s->npool + n] = 0;
    id = (int)s->nnames++;
    s->noff[id] = (uint32_t)s->npool;
    s->npool += n + 1;
    size_t mask = s->nhashcap - 1, i = hash_bytes(p, n) & mask;
    while (s->nhash[i]) i = (i + 1) & mask;
    s->nhash[i] = (uint32_t)id + 1;
    return id;
}

int mt_schema_intern(mt_schema *s, const char *name, size_t len)
{
    return intern(s, name, len);
}

/* Constructor ids may be 0 (the map's empty key): bit 32 set keeps every key non-zero. */
static uint64_t id_key(uint32_t id) { return (uint64_t)id | (1ull << 32); }

int mt_schema_by_id(const mt_schema *s, uint32_t id)
{
    uint64_t comb;
    return mt_map_get(&s->ids, id_key(id), &comb) ? (int)comb : -1;
}

static int id_put(mt_schema *s, uint32_t id, int comb)
{
    return mt_map_put(&s->ids, id_key(id), (uint64_t)comb);
}

int mt_schema_ctor(const mt_schema *s, const char *name, size_t len)
{
    int id = mt_schema_name_id(s, name, len);
    return id < 0 ? -1 : s->ctor_by_name[id] - 1;
}

int mt_schema_method(const mt_schema *s, const char *name, size_t len)
{
    int id = mt_schema_name_id(s, name, len);
    return id < 0 ? -1 : s->method_by_name[id] - 1;
}

int mt_schema_type(const mt_schema *s, const char *name, size_t len)
{
    int id = mt_schema_name_id(s, name, len);
    return id < 0 ? -1 : s->type_by_name[id] - 1;
}

static int type_get(mt_schema *s, const char *p, size_t n)
{
    int nid = intern(s, p, n);
    if (nid < 0) return nid;
    if (s->type_by_name[nid]) return s->type_by_name[nid] - 1;
    if (grow((void **)&s->types, &s->captypes, s->ntypes + 1, sizeof *s->types) < 0) return MT_ERR_NOMEM;
    mt_tl_type *t = &s->types[s->ntypes];
    t->name = nid; t->ctors = NULL; t->n = t->cap = 0;
    s->type_by_name[nid] = (int32_t)++s->ntypes;
    return (int)s->ntypes - 1;
}

static int type_add_ctor(mt_schema *s, int type, int comb)
{
    mt_tl_type *t = &s->types[type];
    size_t cap = t->cap;
    if (grow((void **)&t->ctors, &cap, t->n + 1, sizeof *t->ctors) < 0) return MT_ERR_NOMEM;
    t->cap = (uint32_t)cap;
    t->ctors[t->n++] = comb;
    return MT_OK;
}

static void type_del_ctor(mt_schema *s, int type, int comb)
{
    mt_tl_type *t = &s->types[type];
    for (uint32_t i = 0; i < t->n; i++)
        if (t->ctors[i] == comb) {
            memmove(t->ctors + i, t->ctors + i + 1, (t->n - i - 1) * sizeof *t->ctors);
            t->n--;
            return;
        }
}

/* ---- parsing ---- */

typedef struct { const char *p; size_t n; } span;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int sp_eq(span a, const char *lit) { size_t n = strlen(lit); return a.n == n && memcmp(a.p, lit, n) == 0; }
static int is_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}
static int valid_ident(span a)
{
    if (!a.n) return 0;
    for (size_t i = 0; i < a.n; i++) if (!is_ident_char(a.p[i])) return 0;
    return 1;
}

typedef struct {
    span generics[4];
    int ngenerics;
} decl_ctx;

static int add_tref(mt_schema *s, uint8_t kind, int32_t ref, int32_t elem)
{
    if (grow((void **)&s->trefs, &s->captrefs, s->ntrefs + 1, sizeof *s->trefs) < 0) return MT_ERR_NOMEM;
    mt_tl_tref *t = &s->trefs[s->ntrefs];
    t->kind = kind; t->ref = ref; t->elem = elem;
    return (int)s->ntrefs++;
}

/* Parses a type expression; returns a tref index or a negative error. */
static int parse_type(mt_schema *s, const decl_ctx *dc, span t, int depth)
{
    if (!t.n || depth > 8) return MT_ERR_ARG;
    if (t.p[0] == '!') {
        t.p++; t.n--;
        if (!valid_ident(t)) return MT_ERR_ARG;
        return add_tref(s, MT_TL_ANY, -1, -1);
    }
    if (sp_eq(t, "#")) return add_tref(s, MT_TL_FLAGS, -1, -1);
    if (t.n > 8 && (memcmp(t.p, "Vector<", 7) == 0 || memcmp(t.p, "vector<", 7) == 0) && t.p[t.n - 1] == '>') {
        int e = parse_type(s, dc, (span){ t.p + 7, t.n - 8 }, depth + 1);
        if (e < 0) return e;
        return add_tref(s, t.p[0] == 'V' ? MT_TL_VECTOR : MT_TL_BVECTOR, -1, e);
    }
    int bare = 0;
    if (t.p[0] == '%') { bare = 1; t.p++; t.n--; }
    if (!valid_ident(t)) return MT_ERR_ARG;
    static const struct { const char *name; uint8_t kind; } basic[] = {
        { "int", MT_TL_INT }, { "long", MT_TL_LONG }, { "double", MT_TL_DOUBLE },
        { "int128", MT_TL_INT128 }, { "int256", MT_TL_INT256 }, { "string", MT_TL_STRING },
        { "bytes", MT_TL_BYTES }, { "Bool", MT_TL_BOOL }, { "true", MT_TL_TRUE },
    };
    for (size_t i = 0; i < sizeof basic / sizeof basic[0]; i++)
        if (sp_eq(t, basic[i].name)) return add_tref(s, basic[i].kind, -1, -1);
    if (sp_eq(t, "Object")) return add_tref(s, MT_TL_ANY, -1, -1);
    for (int i = 0; i < dc->ngenerics; i++)
        if (dc->generics[i].n == t.n && memcmp(dc->generics[i].p, t.p, t.n) == 0)
            return add_tref(s, MT_TL_ANY, -1, -1);
    size_t last = t.n;
    while (last > 0 && t.p[last - 1] != '.') last--;
    if (last == t.n) return MT_ERR_ARG;
    char c = t.p[last];
    if (c >= 'a' && c <= 'z') {
        int nid = intern(s, t.p, t.n);
        if (nid < 0) return nid;
        return add_tref(s, MT_TL_BARE, nid, -1);
    }
    int ty = type_get(s, t.p, t.n);
    if (ty < 0) return ty;
    return add_tref(s, bare ? MT_TL_BARET : MT_TL_OBJECT, ty, -1);
}

static int next_token(const char *d, size_t n, size_t *pos, span *tok)
{
    size_t i = *pos;
    while (i < n && is_space(d[i])) i++;
    if (i == n) return 0;
    size_t j = i;
    while (j < n && !is_space(d[j])) j++;
    tok->p = d + i; tok->n = j - i;
    *pos = j;
    return 1;
}

static int parse_hex(span h, uint32_t *out)
{
    if (!h.n || h.n > 8) return MT_ERR_ARG;
    uint32_t v = 0;
    for (size_t i = 0; i < h.n; i++) {
        char c = h.p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
                c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return MT_ERR_ARG;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return MT_OK;
}

/* Parses one declaration (without ';'). Returns 1 if added, 0 if skipped. */
static int parse_decl(mt_schema *s, const char *d, size_t n, int is_method)
{
    size_t pos = 0;
    span tok, name;
    if (!next_token(d, n, &pos, &tok)) return 0;
    const char *hash = memchr(tok.p, '#', tok.n);
    uint32_t id;
    name.p = tok.p;
    name.n = hash ? (size_t)(hash - tok.p) : tok.n;
    if (!valid_ident(name)) return MT_ERR_ARG;
    if (hash) {
        if (parse_hex((span){ hash + 1, tok.n - name.n - 1 }, &id) < 0) return MT_ERR_ARG;
    } else {
        id = mt_schema_line_crc(d, n);
    }
    if (sp_eq(name, "vector")) return 0; /* built in: Vector<T> / vector<T> */

    decl_ctx dc = { .ngenerics = 0 };
    size_t p0 = s->nparams, np = 0, saved_trefs = s->ntrefs;
    int nflags = 0, rc = MT_ERR_ARG;
    for (;;) {
        if (!next_token(d, n, &pos, &tok)) goto fail;
        if (sp_eq(tok, "=")) break;
        if (tok.p[0] == '{') {
            const char *colon = memchr(tok.p, ':', tok.n);
            if (!colon || tok.p[tok.n - 1] != '}' || dc.ngenerics == 4) goto fail;
            dc.generics[dc.ngenerics++] = (span){ tok.p + 1, (size_t)(colon - tok.p - 1) };
            continue;
        }
        const char *colon = memchr(tok.p, ':', tok.n);
        if (!colon) { rc = 0; goto fail; } /* e.g. `# [ t ]`: a built-in form we do not model */
        span pname = { tok.p, (size_t)(colon - tok.p) }, ptype = { colon + 1, tok.n - pname.n - 1 };
        if (!valid_ident(pname) || np >= 0xffff) goto fail;
        int flag_param = -1, bit = 0;
        const char *q = memchr(ptype.p, '?', ptype.n);
        if (q) {
            const char *dot = memchr(ptype.p, '.', (size_t)(q - ptype.p));
            if (!dot) goto fail;
            span fname = { ptype.p, (size_t)(dot - ptype.p) };
            if (q - dot < 2 || q - dot > 3) goto fail;
            for (const char *c = dot + 1; c < q; c++) {
                if (*c < '0' || *c > '9') goto fail;
                bit = bit * 10 + (*c - '0');
            }
            if (bit > 31) goto fail;
            for (size_t k = 0; k < np; k++) {
                mt_tl_param *pp = &s->params[p0 + k];
                if (s->trefs[pp->tref].kind == MT_TL_FLAGS && name_eq(s, (uint32_t)pp->name, fname.p, fname.n))
                    flag_param = (int)k;
            }
            if (flag_param < 0) goto fail;
            ptype.n -= (size_t)(q + 1 - ptype.p);
            ptype.p = q + 1;
        }
        int nid = intern(s, pname.p, pname.n);
        if (nid < 0) { rc = nid; goto fail; }
        int tr = parse_type(s, &dc, ptype, 0);
        if (tr < 0) { rc = tr; goto fail; }
        if (s->trefs[tr].kind == MT_TL_FLAGS) {
            if (q) goto fail;
            nflags++;
        }
        if (grow((void **)&s->params, &s->capparams, s->nparams + 1, sizeof *s->params) < 0) {
            rc = MT_ERR_NOMEM; goto fail;
        }
        mt_tl_param *pp = &s->params[s->nparams++];
        pp->name = nid; pp->tref = tr; pp->flag_param = (int16_t)flag_param; pp->bit = (uint8_t)bit;
        np++;
    }
    /* The result: one token (a type), possibly `Vector<T>`. */
    span res;
    if (!next_token(d, n, &pos, &res)) goto fail;
    if (next_token(d, n, &pos, &tok)) { rc = 0; goto fail; } /* `Vector t` and the like */
    if (nflags > 255) goto fail;

    int nameid = intern(s, name.p, name.n);
    if (nameid < 0) { rc = nameid; goto fail; }
    if (grow((void **)&s->combs, &s->capcombs, s->ncombs + 1, sizeof *s->combs) < 0) { rc = MT_ERR_NOMEM; goto fail; }
    int ci = (int)s->ncombs;
    mt_tl_comb c = { .id = id, .name = nameid, .type = -1, .result = -1, .param0 = (uint32_t)p0,
                     .nparams = (uint16_t)np, .is_method = (uint8_t)is_method, .nflags = (uint8_t)nflags };
    if (is_method) {
        int tr = parse_type(s, &dc, res, 0);
        if (tr < 0) { rc = tr; goto fail; }
        c.result = tr;
        if (id_put(s, id, ci) < 0) { rc = MT_ERR_NOMEM; goto fail; }
        s->method_by_name[nameid] = ci + 1;
    } else {
        if (!valid_ident(res)) goto fail;
        int ty = type_get(s, res.p, res.n);
        if (ty < 0) { rc = ty; goto fail; }
        c.type = ty;
        int old = s->ctor_by_name[nameid] - 1;
        if (id_put(s, id, ci) < 0) { rc = MT_ERR_NOMEM; goto fail; }
        if (old >= 0) type_del_ctor(s, s->combs[old].type, old);
        if (type_add_ctor(s, ty, ci) < 0) { rc = MT_ERR_NOMEM; goto fail; }
        s->ctor_by_name[nameid] = ci + 1;
    }
    s->combs[s->ncombs++] = c;
    return 1;
fail:
    s->nparams = p0;
    s->ntrefs = saved_trefs;
    return rc;
}

/* Picks "layer N" out of a comment. */
static void scan_layer(mt_schema *s, const char *c, size_t n)
{
    for (size_t i = 0; i + 6 < n; i++) {
        if ((c[i] == 'l' || c[i] == 'L') && (c[i + 1] | 32) == 'a' && (c[i + 2] | 32) == 'y' &&
            (c[i + 3] | 32) == 'e' && (c[i + 4] | 32) == 'r' && c[i + 5] == ' ') {
            size_t j = i + 6;
            int v = 0, k = 0;
            while (j < n && c[j] >= '0' && c[j] <= '9' && k < 6) { v = v * 10 + (c[j] - '0'); j++; k++; }
            if (k) { s->layer = v; return; }
        }
    }
}

int mt_schema_parse(mt_schema *s, const char *text, size_t len, int *errline)
{
    char *buf = malloc(len + 1);
    if (!buf) return MT_ERR_NOMEM;
    size_t bn = 0, i = 0;
    int line = 1, decl_line = 1, is_method = 0, added = 0, rc = 0;
    while (i < len) {
        char c = text[i];
        if (c == '/' && i + 1 < len && text[i + 1] == '/') {
            size_t j = i;
            while (j < len && text[j] != '\n') j++;
            scan_layer(s, text + i, j - i);
            i = j;
            continue;
        }
        if (c == '-' && i + 2 < len && text[i + 1] == '-' && text[i + 2] == '-') {
            size_t j = i + 3;
            while (j < len && text[j] != '-' && text[j] != '\n') j++;
            span w = { text + i + 3, j - i - 3 };
            if (sp_eq(w, "functions")) is_method = 1;
            else if (sp_eq(w, "types")) is_method = 0;
            else { rc = MT_ERR_ARG; decl_line = line; break; }
            while (j < len && text[j] == '-') j++;
            i = j;
            continue;
        }
        if (c == ';') {
            rc = parse_decl(s, buf, bn, is_method);
            if (rc < 0) break;
            added += rc;
            bn = 0;
            i++;
            continue;
        }
        if (c == '\n') line++;
        if (bn == 0 && is_space(c)) { i++; continue; }
        if (bn == 0) decl_line = line;
        buf[bn++] = c;
        i++;
    }
    if (rc >= 0) {
        /* Trailing text without ';' is an error unless it is blank. */
        size_t k = 0;
        while (k < bn && is_space(buf[k])) k++;
        if (k < bn) rc = MT_ERR_ARG;
    }
    free(buf);
    if (rc < 0) {
        if (errline) *errline = decl_line;
        return rc;
    }
    return added;
}

int mt_schema_load_builtin(mt_schema *s)
{
    int a = mt_schema_parse(s, mt_schema_text_mtproto, mt_schema_text_mtproto_len, NULL);
    if (a < 0) return a;
    int b = mt_schema_parse(s, mt_schema_text_api, mt_schema_text_api_len, NULL);
    if (b < 0) return b;
    return a + b;
}

/* ---- canonical form ---- */

int mt_schema_canonical(const char *d, size_t n, char *out, size_t cap)
{
    size_t o = 0, pos = 0;
    span tok;
    int first = 1;
#define PUT(ch) do { if (o + 1 >= cap) return MT_ERR_RANGE; out[o++] = (ch); } while (0)
    while (next_token(d, n, &pos, &tok)) {
        if (tok.n && tok.p[tok.n - 1] == ';') tok.n--;
        if (!tok.n) continue;
        if (first) {
            const char *h = memchr(tok.p, '#', tok.n);
            if (h) tok.n = (size_t)(h - tok.p);
        } else {
            /* name:flags.N?true parameters do not count */
            const char *q = memchr(tok.p, '?', tok.n);
            if (q && memchr(tok.p, ':', tok.n) && (size_t)(tok.p + tok.n - q) == 5 && memcmp(q, "?true", 5) == 0)
                continue;
        }
        first = 0;
        if (o) PUT(' ');
        for (size_t i = 0; i < tok.n; i++) {
            char c = tok.p[i];
            if ((c == ':' || c == '?') && tok.n - i >= 6 && memcmp(tok.p + i + 1, "bytes", 5) == 0 &&
                (tok.n - i == 6 || !is_ident_char(tok.p[i + 6]))) {
                PUT(c);
                for (const char *w = "string"; *w; w++) PUT(*w);
                i += 5;
                continue;
            }
            if (c == '<') { if (o && out[o - 1] != ' ') PUT(' '); continue; }
            if (c == '>' || c == '{' || c == '}') continue;
            PUT(c);
        }
        while (o && out[o - 1] == ' ') o--;
    }
#undef PUT
    if (o >= cap) return MT_ERR_RANGE;
    out[o] = 0;
    return (int)o;
}

uint32_t mt_schema_line_crc(const char *d, size_t n)
{
    char small[1024], *buf = small;
    size_t cap = sizeof small;
    if (n + 2 > cap) {
        cap = n + 2;
        buf = malloc(cap);
        if (!buf) return 0;
    }
    int k = mt_schema_canonical(d, n, buf, cap);
    uint32_t crc = k < 0 ? 0 : (uint32_t)crc32(0L, (const Bytef *)buf, (uInt)k);
    if (buf != small) free(buf);
    return crc;
}
