/* Lua binding: mtproto.core.tl, the schema registry and the Lua <-> TL codec.
 *
 * One registry userdata per mt_open_tl call holds the parsed schema and a
 * reusable output buffer. Every function is a closure over:
 *   1 the registry userdata
 *   2 `lookup`: name string -> combinator index (by-hand ones negative)
 *   3 `keys`: name id + 1 -> the interned Lua string of that name
 *   4 the string "_"
 *   5 the module table (to update `layer` after tl.load)
 *   6 the address of core.conn's metatable (tl.call's check of its connection)
 * so the hot paths only do lua_rawget/lua_rawgeti on tables they already
 * hold, never a C-side string hash. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lmt.h"
#include "mt_buf.h"
#include "mt_err.h"
#include "mt_gzip.h"
#include "mt_schema.h"
#include "mt_ids.h"
#include <zlib.h>

#define TL_REG_MT "mtproto.tl.registry"
#define TL_MAX_DEPTH 64
#define TL_MAX_FLAGS 8
/* Stack slots one nesting level may use (object or vector table, key, value,
 * gzip text, container tables), with room for the error paths: reserved level by level as
 * the value nests (reserving the deepest case up front grew every calling coroutine's stack
 * to ~7 KiB, kept until the collector shrinks it: a client per coroutine paid it per call). */
#define TL_STACK_LEVEL (6 + 16)

#define UV_REG lua_upvalueindex(1)
#define UV_LOOKUP lua_upvalueindex(2)
#define UV_KEYS lua_upvalueindex(3)
#define UV_US lua_upvalueindex(4)
#define UV_MOD lua_upvalueindex(5)
#define UV_CONN_TYPE lua_upvalueindex(6)

/* By-hand combinators: negative values in `lookup`. */
enum { BH_MSG_CONTAINER = -1, BH_RPC_RESULT = -2, BH_GZIP_PACKED = -3, BH_MSG_COPY = -4 };
static const struct { const char *name; int code; uint32_t id; } by_hand[] = {
    { "msg_container", BH_MSG_CONTAINER, MT_ID_MSG_CONTAINER },
    { "rpc_result", BH_RPC_RESULT, MT_ID_RPC_RESULT },
    { "gzip_packed", BH_GZIP_PACKED, MT_ID_GZIP_PACKED },
    { "msg_copy", BH_MSG_COPY, MT_ID_MSG_COPY },
};

typedef struct tlreg {
    mt_schema s;
    mt_buf out;
    int open;
    size_t nkeys;  /* name ids already in `keys` */
    size_t ncombs; /* combinators already in `lookup` */
    /* message field names used by the by-hand codecs (name ids) */
    int32_t k_messages, k_msg_id, k_seqno, k_bytes, k_body, k_req_msg_id, k_result, k_packed_data,
        k_orig_message;
} tlreg;

static int reg_gc(lua_State *L)
{
    tlreg *r = luaL_checkudata(L, 1, TL_REG_MT);
    if (r->open) {
        r->open = 0;
        mt_schema_free(&r->s);
        mt_buf_free(&r->out);
    }
    return 0;
}

static int reg_tostring(lua_State *L)
{
    tlreg *r = luaL_checkudata(L, 1, TL_REG_MT);
    if (!r->open) lua_pushstring(L, "tl registry (closed)");
    else lua_pushfstring(L, "tl registry (layer %d, %d combinators)", r->s.layer, (int)r->s.ncombs);
    return 1;
}

static tlreg *get_reg(lua_State *L)
{
    tlreg *r = lua_touserdata(L, UV_REG);
    if (!r->open) luaL_error(L, "attempt to use a closed tl registry");
    return r;
}

/* Brings `keys` and `lookup` up to date with the C registry. */
static int sync_tables(lua_State *L, tlreg *r, int lookup, int keys)
{
    const mt_schema *s = &r->s;
    for (size_t i = r->nkeys; i < s->nnames; i++) {
        lua_pushstring(L, mt_schema_name(s, (int32_t)i));
        lua_rawseti(L, keys, (lua_Integer)i + 1);
    }
    r->nkeys = s->nnames;
    for (size_t i = r->ncombs; i < s->ncombs; i++) {
        lua_rawgeti(L, keys, s->combs[i].name + 1);
        lua_pushinteger(L, (lua_Integer)i);
        lua_rawset(L, lookup);
    }
    r->ncombs = s->ncombs;
    return 0;
}

static int32_t must_intern(lua_State *L, tlreg *r, const char *name)
{
    int id = mt_schema_intern(&r->s, name, strlen(name));
    if (id < 0) luaL_error(L, "mtproto.core.tl: out of memory");
    return id;
}

/* ------------------------------------------------------------------ */
/* Type names for messages and tl.info                                  */

static void push_tref_name(lua_State *L, const mt_schema *s, int tr)
{
    const mt_tl_tref *t = &s->trefs[tr];
    static const char *const basic[] = {
        [MT_TL_INT] = "int", [MT_TL_LONG] = "long", [MT_TL_DOUBLE] = "double", [MT_TL_INT128] = "int128",
        [MT_TL_INT256] = "int256", [MT_TL_STRING] = "string", [MT_TL_BYTES] = "bytes", [MT_TL_BOOL] = "Bool",
        [MT_TL_TRUE] = "true", [MT_TL_FLAGS] = "#", [MT_TL_ANY] = "!X",
    };
    switch (t->kind) {
    case MT_TL_VECTOR: case MT_TL_BVECTOR:
        lua_pushstring(L, t->kind == MT_TL_VECTOR ? "Vector<" : "vector<");
        push_tref_name(L, s, t->elem);
        lua_pushstring(L, ">");
        lua_concat(L, 3);
        break;
    case MT_TL_OBJECT: lua_pushstring(L, mt_schema_name(s, s->types[t->ref].name)); break;
    case MT_TL_BARET: lua_pushfstring(L, "%%%s", mt_schema_name(s, s->types[t->ref].name)); break;
    case MT_TL_BARE: lua_pushstring(L, mt_schema_name(s, t->ref)); break;
    default: lua_pushstring(L, basic[t->kind]); break;
    }
}

/* ------------------------------------------------------------------ */
/* Encoder                                                              */

typedef struct enc {
    lua_State *L;
    tlreg *r;
    const mt_schema *s;
    mt_buf *b;
    int depth;
    int npath;
    struct { const char *name; lua_Integer index; } path[2 * TL_MAX_DEPTH + 16];
} enc;

static void path_push(enc *e, const char *name, lua_Integer index)
{
    if (e->npath < (int)(sizeof e->path / sizeof e->path[0])) {
        e->path[e->npath].name = name;
        e->path[e->npath].index = index;
    }
    e->npath++;
}

/* Raises "a: b[2]: c: <message>". */
static int enc_error(enc *e, const char *fmt, ...)
{
    lua_State *L = e->L;
    luaL_Buffer B;
    luaL_buffinit(L, &B);
    int n = e->npath < (int)(sizeof e->path / sizeof e->path[0]) ? e->npath : (int)(sizeof e->path / sizeof e->path[0]);
    for (int i = 0; i < n; i++) {
        if (e->path[i].name) {
            if (i) luaL_addstring(&B, ": ");
            luaL_addstring(&B, e->path[i].name);
        } else {
            char t[32];
            snprintf(t, sizeof t, "[%lld]", (long long)e->path[i].index);
            luaL_addstring(&B, t);
        }
    }
    if (n) luaL_addstring(&B, ": ");
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    luaL_addvalue(&B);
    luaL_pushresult(&B);
    return lua_error(L);
}

static const char *type_desc(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TNUMBER && !lua_isinteger(L, idx)) return "non-integer number";
    return luaL_typename(L, idx);
}

static void enc_value(enc *e, int tr, int idx);
static void enc_fields(enc *e, int ci, int idx);

static void check_depth(enc *e)
{
    if (e->depth > TL_MAX_DEPTH) enc_error(e, "nesting deeper than %d", TL_MAX_DEPTH);
    luaL_checkstack(e->L, TL_STACK_LEVEL, "tl.encode");
}

/* The constructor or method a table names with `_` (pushes nothing).
 * Returns the combinator index (or a by-hand code), or raises. want_type >= 0
 * requires a constructor of that type; -1 accepts any constructor or method. */
static int enc_resolve(enc *e, int idx, int want_type)
{
    lua_State *L = e->L;
    lua_pushvalue(L, UV_US);
    int t = lua_rawget(L, idx);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        if (want_type >= 0) {
            int c = mt_schema_single_ctor(e->s, want_type);
            if (c >= 0) return c;
            enc_error(e, "missing _ (a constructor of %s)", mt_schema_name(e->s, e->s->types[want_type].name));
        }
        enc_error(e, "missing _ (a constructor or method name)");
    }
    if (t != LUA_TSTRING) enc_error(e, "_: expected string, got %s", luaL_typename(L, -1));
    lua_pushvalue(L, -1);
    if (lua_rawget(L, UV_LOOKUP) != LUA_TNUMBER) {
        enc_error(e, "unknown %s \"%s\"", want_type < 0 ? "constructor or method" : "constructor", lua_tostring(L, -2));
    }
    int ci = (int)lua_tointeger(L, -1);
    if (want_type >= 0) {
        if (ci < 0 || e->s->combs[ci].type != want_type) {
            const char *tn = ci < 0 ? "Object" : e->s->combs[ci].is_method ? "a method" :
                             mt_schema_name(e->s, e->s->types[e->s->combs[ci].type].name);
            enc_error(e, "expected %s, got %s (%s)", mt_schema_name(e->s, e->s->types[want_type].name),
                      lua_tostring(L, -2), tn);
        }
    }
    lua_pop(L, 2);
    return ci;
}

/* The by-hand codecs read fields by name id: field_enter pushes field `key` of the table at
 * idx and enters `name` in the error path (returns its Lua type); field_leave undoes both. */
static int field_enter(enc *e, int idx, const char *name, int32_t key)
{
    path_push(e, name, 0);
    lua_rawgeti(e->L, UV_KEYS, key + 1);
    return lua_rawget(e->L, idx);
}

static void field_leave(enc *e)
{
    lua_pop(e->L, 1);
    e->npath--;
}

/* An int (MT_TL_INT) or long field. */
static void enc_int_field(enc *e, int idx, const char *name, int32_t key, int kind)
{
    lua_State *L = e->L;
    field_enter(e, idx, name, key);
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok || lua_type(L, -1) != LUA_TNUMBER) enc_error(e, "expected integer, got %s", type_desc(L, -1));
    if (kind == MT_TL_INT) {
        if (v < INT32_MIN || v > INT32_MAX) enc_error(e, "int out of range (%I)", v);
        mt_buf_put_i32(e->b, (int32_t)v);
    } else {
        mt_buf_put_i64(e->b, (int64_t)v);
    }
    field_leave(e);
}

/* An Object field: a string is raw bytes already in TL (e.g. a Vector<int> answer), copied
 * as is; anything else is encoded as a boxed value. */
static void enc_object_field(enc *e, int idx, const char *name, int32_t key)
{
    lua_State *L = e->L;
    if (field_enter(e, idx, name, key) == LUA_TSTRING) {
        size_t n;
        const char *p = lua_tolstring(L, -1, &n);
        mt_buf_put(e->b, p, n);
    } else {
        enc_value(e, -1, lua_gettop(L));
    }
    field_leave(e);
}

/* A field that must be a table: returns its stack index (left there until field_leave). */
static int enc_table_field(enc *e, int idx, const char *name, int32_t key)
{
    if (field_enter(e, idx, name, key) != LUA_TTABLE)
        enc_error(e, "expected table, got %s", luaL_typename(e->L, -1));
    return lua_gettop(e->L);
}

/* message msg_id:long seqno:int bytes:int body:Object (bytes computed). */
static void enc_message(enc *e, int idx)
{
    tlreg *r = e->r;
    enc_int_field(e, idx, "msg_id", r->k_msg_id, MT_TL_LONG);
    enc_int_field(e, idx, "seqno", r->k_seqno, MT_TL_INT);
    size_t at = e->b->len;
    mt_buf_put_u32(e->b, 0);
    enc_object_field(e, idx, "body", r->k_body);
    if (!e->b->oom) mt_wr32(e->b->data + at, (uint32_t)(e->b->len - at - 4));
}

static void enc_by_hand(enc *e, int code, int idx)
{
    lua_State *L = e->L;
    tlreg *r = e->r;
    switch (code) {
    case BH_MSG_CONTAINER: {
        mt_buf_put_u32(e->b, MT_ID_MSG_CONTAINER);
        int v = enc_table_field(e, idx, "messages", r->k_messages);
        lua_Integer n = (lua_Integer)lua_rawlen(L, v);
        mt_buf_put_u32(e->b, (uint32_t)n);
        for (lua_Integer i = 1; i <= n; i++) {
            path_push(e, NULL, i);
            if (lua_rawgeti(L, v, i) != LUA_TTABLE) enc_error(e, "expected table, got %s", luaL_typename(L, -1));
            enc_message(e, lua_gettop(L));
            field_leave(e);
        }
        field_leave(e);
        break;
    }
    case BH_MSG_COPY:
        mt_buf_put_u32(e->b, MT_ID_MSG_COPY);
        enc_message(e, enc_table_field(e, idx, "orig_message", r->k_orig_message));
        field_leave(e);
        break;
    case BH_RPC_RESULT:
        mt_buf_put_u32(e->b, MT_ID_RPC_RESULT);
        enc_int_field(e, idx, "req_msg_id", r->k_req_msg_id, MT_TL_LONG);
        enc_object_field(e, idx, "result", r->k_result);
        break;
    case BH_GZIP_PACKED: {
        /* packed_data is the gzip stream itself (see tl.gzip) */
        mt_buf_put_u32(e->b, MT_ID_GZIP_PACKED);
        if (field_enter(e, idx, "packed_data", r->k_packed_data) != LUA_TSTRING)
            enc_error(e, "expected string, got %s", luaL_typename(L, -1));
        size_t n;
        const char *p = lua_tolstring(L, -1, &n);
        if (n > 0xffffff) enc_error(e, "string too long (%I bytes)", (lua_Integer)n);
        mt_buf_put_tlbytes(e->b, p, n);
        field_leave(e);
        break;
    }
    }
}

/* Combinator ci (a constructor or method of the schema) with the fields of the table at idx,
 * its name in the error path. */
static void enc_comb(enc *e, int ci, int idx)
{
    path_push(e, mt_schema_name(e->s, e->s->combs[ci].name), 0);
    mt_buf_put_u32(e->b, e->s->combs[ci].id);
    enc_fields(e, ci, idx);
    e->npath--;
}

/* A boxed value whose `_` may name any constructor or method (!X, Object). */
static void enc_any(enc *e, int idx)
{
    lua_State *L = e->L;
    int t = lua_type(L, idx);
    if (t == LUA_TBOOLEAN) {
        mt_buf_put_u32(e->b, lua_toboolean(L, idx) ? MT_ID_BOOL_TRUE : MT_ID_BOOL_FALSE);
        return;
    }
    if (t == LUA_TSTRING) { /* bytes from an earlier tl.encode, e.g. a query to wrap */
        size_t n;
        const char *p = lua_tolstring(L, idx, &n);
        if (n < 4 || n % 4) enc_error(e, "expected encoded TL bytes (a multiple of 4 bytes), got %d bytes", (int)n);
        mt_buf_put(e->b, p, n);
        return;
    }
    if (t != LUA_TTABLE) enc_error(e, "expected table, got %s", luaL_typename(L, idx));
    e->depth++;
    check_depth(e);
    int ci = enc_resolve(e, idx, -1);
    if (ci < 0) {
        path_push(e, by_hand[-ci - 1].name, 0);
        enc_by_hand(e, ci, idx);
        e->npath--;
    } else {
        enc_comb(e, ci, idx);
    }
    e->depth--;
}

static void enc_int(enc *e, int idx, int is_long)
{
    lua_State *L = e->L;
    int ok;
    lua_Integer v = lua_tointegerx(L, idx, &ok);
    if (!ok || lua_type(L, idx) != LUA_TNUMBER)
        enc_error(e, "expected %s, got %s", is_long ? "long" : "int", type_desc(L, idx));
    if (is_long) {
        mt_buf_put_i64(e->b, (int64_t)v);
    } else {
        if (v < INT32_MIN || v > INT32_MAX) enc_error(e, "int out of range (%I)", v);
        mt_buf_put_i32(e->b, (int32_t)v);
    }
}

static void enc_value(enc *e, int tr, int idx)
{
    lua_State *L = e->L;
    const mt_schema *s = e->s;
    if (tr < 0) { enc_any(e, idx); return; }
    const mt_tl_tref *t = &s->trefs[tr];
    switch (t->kind) {
    case MT_TL_INT: enc_int(e, idx, 0); break;
    case MT_TL_LONG: enc_int(e, idx, 1); break;
    case MT_TL_DOUBLE: {
        if (lua_type(L, idx) != LUA_TNUMBER) enc_error(e, "expected double, got %s", luaL_typename(L, idx));
        double d = (double)lua_tonumber(L, idx);
        uint64_t u;
        memcpy(&u, &d, 8);
        mt_buf_put_u64(e->b, u);
        break;
    }
    case MT_TL_INT128: case MT_TL_INT256: {
        size_t want = t->kind == MT_TL_INT128 ? 16 : 32, n;
        if (lua_type(L, idx) != LUA_TSTRING)
            enc_error(e, "expected %s (a %d-byte string), got %s", want == 16 ? "int128" : "int256", (int)want,
                      luaL_typename(L, idx));
        const char *p = lua_tolstring(L, idx, &n);
        if (n != want) enc_error(e, "expected a %d-byte string, got %d bytes", (int)want, (int)n);
        mt_buf_put(e->b, p, n);
        break;
    }
    case MT_TL_STRING: case MT_TL_BYTES: {
        if (lua_type(L, idx) != LUA_TSTRING) enc_error(e, "expected string, got %s", luaL_typename(L, idx));
        size_t n;
        const char *p = lua_tolstring(L, idx, &n);
        if (n > 0xffffff) enc_error(e, "string too long (%I bytes)", (lua_Integer)n);
        mt_buf_put_tlbytes(e->b, p, n);
        break;
    }
    case MT_TL_BOOL:
        if (lua_type(L, idx) != LUA_TBOOLEAN) enc_error(e, "expected boolean, got %s", luaL_typename(L, idx));
        mt_buf_put_u32(e->b, lua_toboolean(L, idx) ? MT_ID_BOOL_TRUE : MT_ID_BOOL_FALSE);
        break;
    case MT_TL_TRUE:
        break;
    case MT_TL_FLAGS:
        break; /* written by enc_fields */
    case MT_TL_VECTOR: case MT_TL_BVECTOR: {
        if (lua_type(L, idx) != LUA_TTABLE) enc_error(e, "expected table (a sequence), got %s", luaL_typename(L, idx));
        if (t->kind == MT_TL_VECTOR) mt_buf_put_u32(e->b, MT_ID_VECTOR);
        lua_Unsigned n = lua_rawlen(L, idx);
        if (n > INT32_MAX) enc_error(e, "vector too long");
        mt_buf_put_u32(e->b, (uint32_t)n);
        e->depth++;
        check_depth(e);
        int elem = t->elem;
        for (lua_Integer i = 1; i <= (lua_Integer)n; i++) {
            path_push(e, NULL, i);
            lua_rawgeti(L, idx, i);
            enc_value(e, elem, lua_gettop(L));
            lua_pop(L, 1);
            e->npath--;
        }
        e->depth--;
        break;
    }
    case MT_TL_OBJECT: {
        if (lua_type(L, idx) != LUA_TTABLE) {
            enc_error(e, "expected %s (a table), got %s", mt_schema_name(s, s->types[t->ref].name),
                      luaL_typename(L, idx));
        }
        e->depth++;
        check_depth(e);
        int ci = enc_resolve(e, idx, t->ref);
        mt_buf_put_u32(e->b, s->combs[ci].id);
        enc_fields(e, ci, idx);
        e->depth--;
        break;
    }
    case MT_TL_BARE: case MT_TL_BARET: {
        int ci = t->kind == MT_TL_BARE ? s->ctor_by_name[t->ref] - 1 : mt_schema_single_ctor(s, t->ref);
        if (ci < 0) enc_error(e, "bare type %s has no single constructor", t->kind == MT_TL_BARE ?
                              mt_schema_name(s, t->ref) : mt_schema_name(s, s->types[t->ref].name));
        if (lua_type(L, idx) != LUA_TTABLE) enc_error(e, "expected table, got %s", luaL_typename(L, idx));
        e->depth++;
        check_depth(e);
        enc_fields(e, ci, idx);
        e->depth--;
        break;
    }
    case MT_TL_ANY:
        enc_any(e, idx);
        break;
    }
}

/* The fields of a combinator, the table at idx; flags computed on the way:
 * a `#` field is written as 0 and patched as its optional fields appear. */
static void enc_fields(enc *e, int ci, int idx)
{
    lua_State *L = e->L;
    const mt_schema *s = e->s;
    const mt_tl_comb *c = &s->combs[ci];
    const mt_tl_param *p = s->params + c->param0;
    int np = c->nparams;
    int fparam[TL_MAX_FLAGS];
    size_t foff[TL_MAX_FLAGS];
    uint32_t fset[TL_MAX_FLAGS], fneed[TL_MAX_FLAGS];
    int nf = 0;
    for (int k = 0; k < np; k++) {
        const mt_tl_param *pp = &p[k];
        uint8_t kind = s->trefs[pp->tref].kind;
        if (kind == MT_TL_FLAGS) {
            if (nf == TL_MAX_FLAGS) enc_error(e, "too many flags fields");
            fparam[nf] = k;
            foff[nf] = e->b->len;
            fset[nf] = fneed[nf] = 0;
            nf++;
            mt_buf_put_u32(e->b, 0);
            continue;
        }
        lua_rawgeti(L, UV_KEYS, pp->name + 1);
        int vt = lua_rawget(L, idx);
        if (pp->flag_param >= 0) {
            int f = 0;
            while (f < nf && fparam[f] != pp->flag_param) f++;
            if (f == nf) enc_error(e, "internal: no flags field for %s", mt_schema_name(s, pp->name));
            uint32_t bit = (uint32_t)1 << pp->bit;
            if (kind == MT_TL_TRUE) {
                if (vt != LUA_TNIL && vt != LUA_TBOOLEAN) {
                    path_push(e, mt_schema_name(s, pp->name), 0);
                    enc_error(e, "expected boolean, got %s", luaL_typename(L, -1));
                }
                if (lua_toboolean(L, -1)) fset[f] |= bit;
                lua_pop(L, 1);
                continue;
            }
            if (vt == LUA_TNIL) {
                fneed[f] |= bit;
                lua_pop(L, 1);
                continue;
            }
            fset[f] |= bit;
        }
        path_push(e, mt_schema_name(s, pp->name), 0);
        enc_value(e, pp->tref, lua_gettop(L));
        e->npath--;
        lua_pop(L, 1);
    }
    for (int f = 0; f < nf; f++) {
        if (fset[f] & fneed[f]) {
            /* a bit shared by several fields is set, but one of them is missing */
            for (int k = 0; k < np; k++) {
                if (p[k].flag_param == fparam[f] && (fneed[f] >> p[k].bit & 1) && (fset[f] >> p[k].bit & 1) &&
                    s->trefs[p[k].tref].kind != MT_TL_TRUE) {
                    lua_rawgeti(L, UV_KEYS, p[k].name + 1);
                    if (lua_rawget(L, idx) == LUA_TNIL) {
                        path_push(e, mt_schema_name(s, p[k].name), 0);
                        enc_error(e, "expected a value: %s.%d is set by another field", mt_schema_name(s, p[fparam[f]].name),
                                  (int)p[k].bit);
                    }
                    lua_pop(L, 1);
                }
            }
        }
        if (!e->b->oom) mt_wr32(e->b->data + foff[f], fset[f]);
    }
}

static void enc_init(enc *e, lua_State *L, tlreg *r)
{
    e->L = L; e->r = r; e->s = &r->s; e->b = &r->out; e->depth = 0; e->npath = 0;
    r->out.len = 0;
    r->out.oom = 0;
}

/* Pushes what was encoded into r->out. */
static void push_out(lua_State *L, tlreg *r)
{
    if (r->out.oom) luaL_error(L, "tl.encode: out of memory");
    lua_pushlstring(L, (const char *)r->out.data, r->out.len);
    if (r->out.cap > ((size_t)1 << 20)) mt_buf_free(&r->out); /* do not keep a big buffer around */
}

static int l_encode(lua_State *L)
{
    tlreg *r = get_reg(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_checkstack(L, TL_STACK_LEVEL, "tl.encode");
    enc e;
    enc_init(&e, L, r);
    enc_any(&e, 1);
    push_out(L, r);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Decoder: never raises for bad input; returns -1 with d->err set.     */

typedef struct dec {
    lua_State *L;
    tlreg *r;
    const mt_schema *s;
    mt_reader rd;
    int depth;
    size_t inflated;  /* total gzip output so far (capped) */
    size_t budget;    /* vector elements still allowed: the input's bytes, see BVECTOR */
    size_t gzoff;     /* offset of the innermost gzip_packed, for messages */
    int ingz;
    int keys, us;     /* stack copies of the upvalues */
    int code;         /* MT_ERR_* of the failure, with err its "offset N: ..." text */
    char err[200];
} dec;

static int dfail(dec *d, int code, const char *fmt, ...)
{
    if (d->err[0]) return -1;
    d->code = code;
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (d->ingz)
        snprintf(d->err, sizeof d->err, "offset %zu (in gzip_packed at offset %zu): %s", d->rd.pos, d->gzoff, msg);
    else
        snprintf(d->err, sizeof d->err, "offset %zu: %s", d->rd.pos, msg);
    return -1;
}

static int dtrunc(dec *d, size_t at, const char *what)
{
    d->rd.err = 0;
    d->rd.pos = at;
    return dfail(d, MT_ERR_TRUNCATED, "input ends inside %s", what);
}

static int dec_value(dec *d, int tr, int whole);
static int dec_fields(dec *d, int ci);
static int dec_boxed_id(dec *d, uint32_t id, int tr, int whole, size_t at);

static int dec_enter(dec *d)
{
    if (++d->depth > TL_MAX_DEPTH) return dfail(d, MT_ERR_DEPTH, "nesting deeper than %d", TL_MAX_DEPTH);
    if (!lua_checkstack(d->L, TL_STACK_LEVEL)) return dfail(d, MT_ERR_NOMEM, "out of memory for the Lua stack");
    return 0;
}

/* Inflates a gzip_packed at the reader and decodes tref `tr` from it. */
static int dec_gzip(dec *d, int tr, int whole, size_t at)
{
    lua_State *L = d->L;
    const uint8_t *p;
    size_t n;
    if (mt_rd_tlbytes(&d->rd, &p, &n) < 0) return dtrunc(d, at, "gzip_packed");
    size_t cap = MT_GZIP_MAX_OUT - d->inflated;
    mt_buf out;
    mt_buf_init(&out);
    int rc = mt_gunzip(p, n, cap, &out);
    if (rc < 0) {
        mt_buf_free(&out);
        d->rd.pos = at;
        if (rc == MT_ERR_GZIP)
            return dfail(d, MT_ERR_GZIP, "gzip_packed: corrupt, or inflates past %d MiB", (int)(MT_GZIP_MAX_OUT >> 20));
        return dfail(d, rc, "gzip_packed: %s", mt_strerror(rc));
    }
    d->inflated += out.len;
    d->budget += out.len;
    lua_pushlstring(L, (const char *)out.data, out.len); /* keeps the bytes alive while decoding */
    mt_buf_free(&out);
    size_t ilen;
    const char *ip = lua_tolstring(L, -1, &ilen);
    mt_reader saved = d->rd;
    size_t savedgz = d->gzoff;
    int savedin = d->ingz;
    mt_rd_init(&d->rd, ip, ilen);
    d->gzoff = at;
    d->ingz = 1;
    int r = dec_enter(d);
    if (r == 0) r = dec_value(d, tr, whole);
    d->depth--;
    if (r < 0) return -1;
    d->rd = saved;
    d->gzoff = savedgz;
    d->ingz = savedin;
    lua_remove(L, -2);
    return 0;
}

/* message msg_id:long seqno:int bytes:int body:Object -> table */
static int dec_message(dec *d)
{
    lua_State *L = d->L;
    tlreg *r = d->r;
    size_t at = d->rd.pos;
    const uint8_t *h = mt_rd_raw(&d->rd, 16);
    if (!h) return dtrunc(d, at, "message header");
    int64_t msg_id = (int64_t)mt_le64(h);
    int32_t seqno = (int32_t)mt_le32(h + 8);
    uint32_t bytes = mt_le32(h + 12);
    if (bytes > d->rd.len - d->rd.pos || bytes % 4) {
        d->rd.pos = at + 12;
        return dfail(d, MT_ERR_PROTO, "message length %u is bad (%zu bytes left)", bytes, d->rd.len - d->rd.pos - 4);
    }
    lua_createtable(L, 0, 4);
    lua_rawgeti(L, d->keys, r->k_msg_id + 1); lua_pushinteger(L, msg_id); lua_rawset(L, -3);
    lua_rawgeti(L, d->keys, r->k_seqno + 1); lua_pushinteger(L, seqno); lua_rawset(L, -3);
    lua_rawgeti(L, d->keys, r->k_bytes + 1); lua_pushinteger(L, bytes); lua_rawset(L, -3);
    lua_rawgeti(L, d->keys, r->k_body + 1);
    size_t savedlen = d->rd.len, end = d->rd.pos + bytes;
    d->rd.len = end;
    if (dec_value(d, -1, 1) < 0) return -1;
    d->rd.len = savedlen;
    d->rd.pos = end;
    lua_rawset(L, -3);
    return 0;
}

static int dec_by_hand(dec *d, uint32_t id, size_t at, int whole)
{
    lua_State *L = d->L;
    tlreg *r = d->r;
    if (dec_enter(d) < 0) return -1;
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, d->us);
    lua_pushstring(L, id == MT_ID_MSG_CONTAINER ? "msg_container" : id == MT_ID_RPC_RESULT ? "rpc_result" : "msg_copy");
    lua_rawset(L, -3);
    if (id == MT_ID_MSG_CONTAINER) {
        size_t cat = d->rd.pos;
        uint32_t n = mt_rd_u32(&d->rd);
        if (d->rd.err) return dtrunc(d, cat, "msg_container");
        if (n > (d->rd.len - d->rd.pos) / 16) { d->rd.pos = cat; return dfail(d, MT_ERR_TRUNCATED, "msg_container count %u exceeds the input", n); }
        lua_rawgeti(L, d->keys, r->k_messages + 1);
        lua_createtable(L, (int)n, 0);
        for (uint32_t i = 0; i < n; i++) {
            if (dec_message(d) < 0) return -1;
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_rawset(L, -3);
    } else if (id == MT_ID_MSG_COPY) {
        lua_rawgeti(L, d->keys, r->k_orig_message + 1);
        if (dec_message(d) < 0) return -1;
        lua_rawset(L, -3);
    } else {
        size_t rat = d->rd.pos;
        int64_t req = mt_rd_i64(&d->rd);
        if (d->rd.err) return dtrunc(d, rat, "rpc_result");
        lua_rawgeti(L, d->keys, r->k_req_msg_id + 1);
        lua_pushinteger(L, req);
        lua_rawset(L, -3);
        lua_rawgeti(L, d->keys, r->k_result + 1);
        if (dec_value(d, -1, 1) < 0) return -1;
        lua_rawset(L, -3);
    }
    (void)at; (void)whole;
    d->depth--;
    return 0;
}

/* A boxed value after its id has been read (at = offset of the id). */
static int dec_boxed_id(dec *d, uint32_t id, int tr, int whole, size_t at)
{
    lua_State *L = d->L;
    const mt_schema *s = d->s;
    uint8_t kind = tr < 0 ? MT_TL_ANY : s->trefs[tr].kind;
    if (id == MT_ID_GZIP_PACKED) return dec_gzip(d, tr, whole, at);
    if (kind == MT_TL_VECTOR) {
        if (id != MT_ID_VECTOR) { d->rd.pos = at; return dfail(d, MT_ERR_PROTO, "expected a Vector, got id 0x%08x", id); }
        return dec_value(d, -2 - s->trefs[tr].elem, whole); /* bare vector body */
    }
    if (id == MT_ID_BOOL_TRUE || id == MT_ID_BOOL_FALSE) {
        lua_pushboolean(L, id == MT_ID_BOOL_TRUE);
        return 0;
    }
    if (kind == MT_TL_BOOL) { d->rd.pos = at; return dfail(d, MT_ERR_PROTO, "expected a Bool, got id 0x%08x", id); }
    if (id == MT_ID_MSG_CONTAINER || id == MT_ID_RPC_RESULT || id == MT_ID_MSG_COPY) return dec_by_hand(d, id, at, whole);
    if (id == MT_ID_VECTOR) {
        if (whole) {
            /* The element type is unknown here: hand back the raw bytes
             * (see tl.decode_result). */
            lua_pushlstring(L, (const char *)d->rd.p + at, d->rd.len - at);
            d->rd.pos = d->rd.len;
            return 0;
        }
        d->rd.pos = at;
        return dfail(d, MT_ERR_PROTO, "a Vector needs its element type (use tl.decode_result)");
    }
    int ci = mt_schema_by_id(s, id);
    if (ci < 0) { d->rd.pos = at; return dfail(d, MT_ERR_PROTO, "unknown constructor 0x%08x", id); }
    return dec_fields(d, ci);
}

static uint32_t min_size(const mt_schema *s, int tr)
{
    switch (s->trefs[tr].kind) {
    case MT_TL_LONG: case MT_TL_DOUBLE: return 8;
    case MT_TL_INT128: return 16;
    case MT_TL_INT256: return 32;
    case MT_TL_BVECTOR: case MT_TL_INT: case MT_TL_STRING: case MT_TL_BYTES: case MT_TL_BOOL: case MT_TL_VECTOR:
    case MT_TL_OBJECT: case MT_TL_ANY: return 4;
    default: return 1; /* bare constructors: at least bounded by the input */
    }
}

/* Pushes one value of tref `tr` (-1: any boxed object; <= -2: the body of a
 * bare vector whose element tref is -2 - tr). */
static int dec_value(dec *d, int tr, int whole)
{
    lua_State *L = d->L;
    const mt_schema *s = d->s;
    size_t at = d->rd.pos;
    if (tr == -1) {
        uint32_t id = mt_rd_u32(&d->rd);
        if (d->rd.err) return dtrunc(d, at, "an object id");
        return dec_boxed_id(d, id, -1, whole, at);
    }
    int vec_elem = -1;
    uint8_t kind;
    if (tr <= -2) { kind = MT_TL_BVECTOR; vec_elem = -2 - tr; }
    else { kind = s->trefs[tr].kind; vec_elem = s->trefs[tr].elem; }
    switch (kind) {
    case MT_TL_INT: {
        int32_t v = mt_rd_i32(&d->rd);
        if (d->rd.err) return dtrunc(d, at, "an int");
        lua_pushinteger(L, v);
        return 0;
    }
    case MT_TL_LONG: {
        int64_t v = mt_rd_i64(&d->rd);
        if (d->rd.err) return dtrunc(d, at, "a long");
        lua_pushinteger(L, v);
        return 0;
    }
    case MT_TL_DOUBLE: {
        uint64_t u = mt_rd_u64(&d->rd);
        if (d->rd.err) return dtrunc(d, at, "a double");
        double v;
        memcpy(&v, &u, 8);
        lua_pushnumber(L, v);
        return 0;
    }
    case MT_TL_INT128: case MT_TL_INT256: {
        size_t n = kind == MT_TL_INT128 ? 16 : 32;
        const uint8_t *p = mt_rd_raw(&d->rd, n);
        if (!p) return dtrunc(d, at, n == 16 ? "an int128" : "an int256");
        lua_pushlstring(L, (const char *)p, n);
        return 0;
    }
    case MT_TL_STRING: case MT_TL_BYTES: {
        const uint8_t *p;
        size_t n;
        int rc = mt_rd_tlbytes(&d->rd, &p, &n);
        if (rc == MT_ERR_RANGE) { d->rd.err = 0; d->rd.pos = at; return dfail(d, MT_ERR_PROTO, "bad string length prefix 0xff"); }
        if (rc < 0) return dtrunc(d, at, "a string");
        lua_pushlstring(L, (const char *)p, n);
        return 0;
    }
    case MT_TL_TRUE:
        lua_pushboolean(L, 1);
        return 0;
    case MT_TL_FLAGS:
        return dfail(d, MT_ERR_PROTO, "internal: flags outside a combinator");
    case MT_TL_BVECTOR: {
        uint32_t n = mt_rd_u32(&d->rd);
        if (d->rd.err) return dtrunc(d, at, "a vector count");
        uint32_t ms = min_size(s, vec_elem);
        if (n > (d->rd.len - d->rd.pos) / ms) {
            d->rd.pos = at;
            return dfail(d, MT_ERR_TRUNCATED, "vector count %u exceeds the input (%zu bytes left)", n, d->rd.len - at - 4);
        }
        /* elements that take no bytes (Vector<true>, bare empty constructors) are bounded by the
         * count check alone per vector, not in total: Vector<Vector<true>> would turn 16 KB into
         * 64M elements. All the vectors of one decode share a budget of the input's size. */
        if (n > d->budget) {
            d->rd.pos = at;
            return dfail(d, MT_ERR_RANGE, "vector count %u exceeds the decoding budget (%zu elements left of the input's size)", n, d->budget);
        }
        d->budget -= n;
        if (dec_enter(d) < 0) return -1;
        lua_createtable(L, (int)n, 0);
        for (uint32_t i = 0; i < n; i++) {
            if (dec_value(d, vec_elem, 0) < 0) return -1;
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        d->depth--;
        return 0;
    }
    case MT_TL_VECTOR: case MT_TL_BOOL: case MT_TL_OBJECT: case MT_TL_ANY: {
        uint32_t id = mt_rd_u32(&d->rd);
        if (d->rd.err) return dtrunc(d, at, "an object id");
        return dec_boxed_id(d, id, kind == MT_TL_ANY ? -1 : tr, whole, at);
    }
    case MT_TL_BARE: case MT_TL_BARET: {
        const mt_tl_tref *t = &s->trefs[tr];
        int ci = kind == MT_TL_BARE ? s->ctor_by_name[t->ref] - 1 : mt_schema_single_ctor(s, t->ref);
        if (ci < 0) return dfail(d, MT_ERR_PROTO, "bare type without a single constructor");
        return dec_fields(d, ci);
    }
    }
    return dfail(d, MT_ERR_PROTO, "internal: unknown type kind");
}

static int dec_fields(dec *d, int ci)
{
    lua_State *L = d->L;
    const mt_schema *s = d->s;
    const mt_tl_comb *c = &s->combs[ci];
    const mt_tl_param *p = s->params + c->param0;
    int np = c->nparams;
    uint32_t fval[TL_MAX_FLAGS];
    int fparam[TL_MAX_FLAGS], nf = 0;
    if (dec_enter(d) < 0) return -1;
    lua_createtable(L, 0, np - c->nflags + 1);
    lua_pushvalue(L, d->us);
    lua_rawgeti(L, d->keys, c->name + 1);
    lua_rawset(L, -3);
    for (int k = 0; k < np; k++) {
        const mt_tl_param *pp = &p[k];
        const mt_tl_tref *t = &s->trefs[pp->tref];
        if (t->kind == MT_TL_FLAGS) {
            size_t at = d->rd.pos;
            uint32_t v = mt_rd_u32(&d->rd);
            if (d->rd.err) return dtrunc(d, at, mt_schema_name(s, pp->name));
            if (nf == TL_MAX_FLAGS) return dfail(d, MT_ERR_PROTO, "too many flags fields");
            fparam[nf] = k;
            fval[nf++] = v;
            continue;
        }
        if (pp->flag_param >= 0) {
            int f = 0;
            while (f < nf && fparam[f] != pp->flag_param) f++;
            if (f == nf) return dfail(d, MT_ERR_PROTO, "internal: no flags field for %s", mt_schema_name(s, pp->name));
            if (!(fval[f] >> pp->bit & 1)) continue;
        }
        lua_rawgeti(L, d->keys, pp->name + 1);
        if (dec_value(d, pp->tref, 0) < 0) return -1;
        lua_rawset(L, -3);
    }
    d->depth--;
    return 0;
}

static void dec_init(dec *d, lua_State *L, tlreg *r, const char *p, size_t n)
{
    luaL_checkstack(L, TL_STACK_LEVEL, "tl.decode");
    lua_pushvalue(L, UV_KEYS);
    d->keys = lua_gettop(L);
    lua_pushvalue(L, UV_US);
    d->us = lua_gettop(L);
    d->L = L; d->r = r; d->s = &r->s; d->depth = 0; d->inflated = 0; d->gzoff = 0; d->ingz = 0;
    d->budget = n + 64;
    d->err[0] = 0;
    d->code = MT_OK;
    mt_rd_init(&d->rd, p, n);
}

static size_t opt_offset(lua_State *L, int arg, size_t n)
{
    lua_Integer off = luaL_optinteger(L, arg, 0);
    luaL_argcheck(L, off >= 0 && (lua_Unsigned)off <= n, arg, "offset out of range");
    return (size_t)off;
}

/* tl.decode(bytes [, offset]) -> obj, bytes_read | nil, err */
static int l_decode(lua_State *L)
{
    tlreg *r = get_reg(L);
    size_t n;
    const char *p = luaL_checklstring(L, 1, &n);
    size_t off = opt_offset(L, 2, n);
    lua_settop(L, 2);
    dec d;
    dec_init(&d, L, r, p + off, n - off);
    if (dec_value(&d, -1, 0) < 0) {
        lua_settop(L, 2);
        return lmt_fail(L, d.code, NULL, d.err);
    }
    lua_pushinteger(L, (lua_Integer)d.rd.pos);
    return 2;
}

/* The answer to method ci (its result type; `!X` methods answer any boxed object). */
static int dec_result(dec *d, int ci)
{
    int tr = d->s->combs[ci].result;
    return dec_value(d, d->s->trefs[tr].kind == MT_TL_ANY ? -1 : tr, 0);
}

/* tl.decode_result(method, bytes [, offset]) -> value, bytes_read | nil, err */
static int l_decode_result(lua_State *L)
{
    tlreg *r = get_reg(L);
    size_t mn, n;
    const char *m = luaL_checklstring(L, 1, &mn);
    const char *p = luaL_checklstring(L, 2, &n);
    size_t off = opt_offset(L, 3, n);
    int ci = mt_schema_method(&r->s, m, mn);
    if (ci < 0) return luaL_argerror(L, 1, lua_pushfstring(L, "unknown method \"%s\"", m));
    lua_settop(L, 3);
    dec d;
    dec_init(&d, L, r, p + off, n - off);
    if (dec_result(&d, ci) < 0) {
        lua_settop(L, 3);
        return lmt_fail(L, d.code, NULL, d.err);
    }
    lua_pushinteger(L, (lua_Integer)d.rd.pos);
    return 2;
}

/* tl.call(conn, method, params [, timeout]) -> answer | nil, err, bytes | nil, err, nil, true
 * One blocking call on a core.conn in one C call: conn:call(tl.encode(params with _ = method),
 * timeout) and tl.decode_result(method, answer) (the client's calls, without the request's
 * bytes and the answer's made into strings). A failed call also returns the request's bytes
 * (to send them again); an answer that does not decode returns true in their place. */
static int l_call(lua_State *L)
{
    tlreg *r = get_reg(L);
    luaL_checktype(L, 2, LUA_TSTRING);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 4);
    lua_pushvalue(L, 2);
    int ci = lua_rawget(L, UV_LOOKUP) == LUA_TNUMBER ? (int)lua_tointeger(L, -1) : -1;
    lua_pop(L, 1);
    if (ci < 0 || !r->s.combs[ci].is_method) return luaL_argerror(L, 2, "expected a method name");
    luaL_checkstack(L, TL_STACK_LEVEL, "tl.call");
    enc e; /* as enc_any does with the method's name in `_` */
    enc_init(&e, L, r);
    e.depth = 1;
    enc_comb(&e, ci, 3);
    if (r->out.oom) return luaL_error(L, "tl.encode: out of memory");
    lmt_answer a;
    int st = lmt_conn_call(L, lua_touserdata(L, UV_CONN_TYPE), r->out.data, r->out.len, 3, 4, &a);
    if (st > 0) {
        push_out(L, r); /* nothing ran Lua code since the encoding: r->out holds the request */
        return lmt_conn_deliver(L, st + 1);
    }
    dec d;
    dec_init(&d, L, r, (const char *)a.p, a.n);
    if (dec_result(&d, ci) < 0) {
        lua_settop(L, 4);
        lmt_fail(L, d.code, NULL, d.err);
        lua_pushnil(L);
        lua_pushboolean(L, 1);
        return lmt_conn_deliver(L, 4);
    }
    return lmt_conn_deliver(L, 1);
}

/* ------------------------------------------------------------------ */
/* Registry functions                                                   */

static int load_text(lua_State *L, tlreg *r, const char *text, size_t len, const char *what)
{
    int line = 0;
    int rc = mt_schema_parse(&r->s, text, len, &line);
    sync_tables(L, r, UV_LOOKUP, UV_KEYS);
    lua_pushinteger(L, r->s.layer);
    lua_setfield(L, UV_MOD, "layer");
    if (rc < 0) {
        if (rc == MT_ERR_NOMEM) return lmt_fail(L, rc, NULL, lua_pushfstring(L, "%s: out of memory", what));
        return lmt_fail(L, rc, "SCHEMA_INVALID", lua_pushfstring(L, "%s:%d: malformed declaration", what, line));
    }
    lua_pushinteger(L, rc);
    return 1;
}

/* tl.load(path) -> number of combinators added | nil, err */
static int l_load(lua_State *L)
{
    tlreg *r = get_reg(L);
    const char *path = luaL_checkstring(L, 1);
    FILE *f = fopen(path, "rb");
    if (!f) return lmt_fail(L, MT_ERR_IO, "FILE_IO", lua_pushfstring(L, "%s: %s", path, strerror(errno)));
    luaL_Buffer B;
    luaL_buffinit(L, &B);
    size_t got;
    do {
        char *p = luaL_prepbuffer(&B);
        got = fread(p, 1, LUAL_BUFFERSIZE, f);
        luaL_addsize(&B, got);
    } while (got == LUAL_BUFFERSIZE);
    int bad = ferror(f);
    fclose(f);
    luaL_pushresult(&B);
    if (bad) return lmt_fail(L, MT_ERR_IO, "FILE_IO", lua_pushfstring(L, "%s: read error", path));
    size_t n;
    const char *t = lua_tolstring(L, -1, &n);
    return load_text(L, r, t, n, path);
}

/* tl.load_string(text [, chunkname]) -> number added | nil, err */
static int l_load_string(lua_State *L)
{
    tlreg *r = get_reg(L);
    size_t n;
    const char *t = luaL_checklstring(L, 1, &n);
    const char *what = luaL_optstring(L, 2, "=(string)");
    return load_text(L, r, t, n, what);
}

static void set_str(lua_State *L, const char *k, const char *v) { lua_pushstring(L, v); lua_setfield(L, -2, k); }

/* tl.info(name) -> nil | { kind=, id=, name=, type=, params={...} } | { kind="type", constructors={...} } */
static int l_info(lua_State *L)
{
    tlreg *r = get_reg(L);
    const mt_schema *s = &r->s;
    size_t n;
    const char *name = luaL_checklstring(L, 1, &n);
    int ci = mt_schema_method(s, name, n);
    if (ci < 0) ci = mt_schema_ctor(s, name, n);
    if (ci < 0) {
        int ty = mt_schema_type(s, name, n);
        if (ty < 0) { lua_pushnil(L); return 1; }
        const mt_tl_type *t = &s->types[ty];
        lua_createtable(L, 0, 3);
        set_str(L, "kind", "type");
        set_str(L, "name", mt_schema_name(s, t->name));
        lua_createtable(L, (int)t->n, 0);
        for (uint32_t i = 0; i < t->n; i++) {
            lua_pushstring(L, mt_schema_name(s, s->combs[t->ctors[i]].name));
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_setfield(L, -2, "constructors");
        return 1;
    }
    const mt_tl_comb *c = &s->combs[ci];
    lua_createtable(L, 0, 5);
    set_str(L, "kind", c->is_method ? "method" : "constructor");
    set_str(L, "name", mt_schema_name(s, c->name));
    lua_pushinteger(L, c->id);
    lua_setfield(L, -2, "id");
    if (c->is_method && s->trefs[c->result].kind == MT_TL_ANY) lua_pushstring(L, "X");
    else if (c->is_method) push_tref_name(L, s, c->result);
    else lua_pushstring(L, mt_schema_name(s, s->types[c->type].name));
    lua_setfield(L, -2, "type");
    lua_createtable(L, c->nparams, 0);
    for (int k = 0; k < c->nparams; k++) {
        const mt_tl_param *pp = &s->params[c->param0 + k];
        lua_createtable(L, 0, 4);
        set_str(L, "name", mt_schema_name(s, pp->name));
        push_tref_name(L, s, pp->tref);
        lua_setfield(L, -2, "type");
        if (pp->flag_param >= 0) {
            set_str(L, "flag", mt_schema_name(s, s->params[c->param0 + pp->flag_param].name));
            lua_pushinteger(L, pp->bit);
            lua_setfield(L, -2, "bit");
        }
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "params");
    return 1;
}

/* tl.methods() -> list of method names (schema order); tl.constructors() likewise */
static int list_combs(lua_State *L, int methods)
{
    tlreg *r = get_reg(L);
    const mt_schema *s = &r->s;
    lua_createtable(L, (int)s->ncombs, 0);
    lua_Integer k = 0;
    for (size_t i = 0; i < s->ncombs; i++) {
        const mt_tl_comb *c = &s->combs[i];
        if (c->is_method != methods) continue;
        /* only the current definition of each name */
        int cur = methods ? s->method_by_name[c->name] - 1 : s->ctor_by_name[c->name] - 1;
        if (cur != (int)i) continue;
        lua_rawgeti(L, UV_KEYS, c->name + 1);
        lua_rawseti(L, -2, ++k);
    }
    return 1;
}
static int l_methods(lua_State *L) { return list_combs(L, 1); }
static int l_constructors(lua_State *L) { return list_combs(L, 0); }

/* tl.crc32(s) -> integer (zlib CRC32) */
static int l_crc32(lua_State *L)
{
    size_t n;
    const char *p = luaL_checklstring(L, 1, &n);
    lua_pushinteger(L, (lua_Integer)crc32(0L, (const Bytef *)p, (uInt)n));
    return 1;
}

/* tl.canonical(declaration) -> canonical line, its CRC32 */
static int l_canonical(lua_State *L)
{
    size_t n;
    const char *p = luaL_checklstring(L, 1, &n);
    char *buf = lua_newuserdatauv(L, n + 2, 0);
    int k = mt_schema_canonical(p, n, buf, n + 2);
    if (k < 0) return luaL_error(L, "tl.canonical: %s", mt_strerror(k));
    lua_pushlstring(L, buf, (size_t)k);
    lua_pushinteger(L, (lua_Integer)mt_schema_line_crc(p, n));
    return 2;
}

/* tl.gzip(data) -> gzip bytes; tl.gunzip(data [, max]) -> bytes | nil, err */
static int l_gzip(lua_State *L)
{
    size_t n;
    const uint8_t *p = (const uint8_t *)luaL_checklstring(L, 1, &n);
    mt_buf b;
    mt_buf_init(&b);
    int rc = mt_gzip(p, n, &b);
    if (rc < 0) { mt_buf_free(&b); return luaL_error(L, "tl.gzip: %s", mt_strerror(rc)); }
    return lmt_push_buf(L, &b);
}

static int l_gunzip(lua_State *L)
{
    size_t n;
    const uint8_t *p = (const uint8_t *)luaL_checklstring(L, 1, &n);
    lua_Integer max = luaL_optinteger(L, 2, (lua_Integer)MT_GZIP_MAX_OUT);
    luaL_argcheck(L, max >= 0, 2, "negative limit");
    mt_buf b;
    mt_buf_init(&b);
    int rc = mt_gunzip(p, n, (size_t)max, &b);
    if (rc < 0) { mt_buf_free(&b); return lmt_fail(L, rc, NULL, NULL); }
    return lmt_push_buf(L, &b);
}

static const luaL_Reg tl_funcs[] = {
    { "encode", l_encode }, { "decode", l_decode }, { "decode_result", l_decode_result }, { "call", l_call },
    { "load", l_load }, { "load_string", l_load_string }, { "info", l_info },
    { "methods", l_methods }, { "constructors", l_constructors },
    { NULL, NULL },
};

int mt_open_tl(lua_State *L)
{
    lua_createtable(L, 0, 16);                  /* module */
    int mod = lua_gettop(L);
    tlreg *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    mt_schema_init(&r->s);
    mt_buf_init(&r->out);
    if (lmt_new_type(L, TL_REG_MT, NULL, reg_gc, reg_tostring)) {
        lua_pushliteral(L, "tl registry");
        lua_setfield(L, -2, "__name");
    }
    lua_setmetatable(L, -2);
    r->open = 1;
    int reg = lua_gettop(L);
    int rc = mt_schema_load_builtin(&r->s);
    if (rc < 0) return luaL_error(L, "mtproto.core.tl: cannot parse the built-in schema: %s", mt_strerror(rc));
    r->k_messages = must_intern(L, r, "messages");
    r->k_msg_id = must_intern(L, r, "msg_id");
    r->k_seqno = must_intern(L, r, "seqno");
    r->k_bytes = must_intern(L, r, "bytes");
    r->k_body = must_intern(L, r, "body");
    r->k_req_msg_id = must_intern(L, r, "req_msg_id");
    r->k_result = must_intern(L, r, "result");
    r->k_packed_data = must_intern(L, r, "packed_data");
    r->k_orig_message = must_intern(L, r, "orig_message");
    lua_createtable(L, 0, (int)r->s.ncombs + 8); /* lookup */
    int lookup = lua_gettop(L);
    lua_createtable(L, (int)r->s.nnames, 0);     /* keys */
    int keys = lua_gettop(L);
    sync_tables(L, r, lookup, keys);
    for (size_t i = 0; i < sizeof by_hand / sizeof by_hand[0]; i++) {
        lua_pushinteger(L, by_hand[i].code);
        lua_setfield(L, lookup, by_hand[i].name);
    }
    lmt_push_conn_type(L); /* held by the registry: its address stays its own */
    void *conn_type = (void *)lua_topointer(L, -1);
    lua_pop(L, 1);
    for (const luaL_Reg *f = tl_funcs; f->name; f++) {
        lua_pushvalue(L, reg);
        lua_pushvalue(L, lookup);
        lua_pushvalue(L, keys);
        lua_pushliteral(L, "_");
        lua_pushvalue(L, mod);
        lua_pushlightuserdata(L, conn_type);
        lua_pushcclosure(L, f->func, 6);
        lua_setfield(L, mod, f->name);
    }
    lua_pushcfunction(L, mt_open_tl); /* tl.new(): an independent registry */
    lua_setfield(L, mod, "new");
    lua_pushcfunction(L, l_crc32);
    lua_setfield(L, mod, "crc32");
    lua_pushcfunction(L, l_canonical);
    lua_setfield(L, mod, "canonical");
    lua_pushcfunction(L, l_gzip);
    lua_setfield(L, mod, "gzip");
    lua_pushcfunction(L, l_gunzip);
    lua_setfield(L, mod, "gunzip");
    lua_pushinteger(L, r->s.layer);
    lua_setfield(L, mod, "layer");
    lua_pushvalue(L, reg);
    lua_setfield(L, mod, "registry");
    lua_settop(L, mod);
    return 1;
}
