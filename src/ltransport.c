/* Lua binding: mtproto.core.transport.
 *
 *   core.transport.client(kind [, { inner = "intermediate", dc_id = 2, random = bytes,
 *                                   secret = 16 bytes, tls = false }])
 *   core.transport.server([{ random = bytes, secret = 16 bytes, tls = false }])
 *     (secret: an MTProxy's obfuscated2 keyed with it; tls: inside fake-TLS records)
 *     t:start() -> bytes        t:encode(payload) -> bytes      t:feed(bytes) -> true
 *     t:next() -> frame | nil (need more) | nil, err            t:kind(), t:inner(), t:dc_id()
 *     t:close() (also __gc, __close)
 *   core.transport.msg_encrypt(auth_key, x, { salt, session_id, msg_id, seqno, body [, random] })
 *   core.transport.msg_decrypt(auth_key, x, packet) -> { salt, session_id, msg_id, seqno, body, padding }
 *   core.transport.msgid_next(last, time_offset, now_ns, mod4) -> id
 *   core.transport.container_pack({ { msg_id, seqno, body }, ... }) -> bytes
 *   core.transport.container_unpack(bytes) -> { { msg_id, seqno, body }, ... }
 *
 * Runtime failures return nil, err with err = { code = MT_ERR_*, message = text
 * [, transport_code = -404] }. `random` replaces the CSPRNG with fixed bytes
 * (for specs); running out of them is an error. */
#include <stdio.h>
#include <string.h>
#include "lmt.h"
#include "mt_transport.h"
#include "mt_msg.h"

#define TRANSPORT_MT "mtproto.transport"

typedef struct ltransport {
    mt_transport *t;
    lmt_replay fr; /* options.random, anchored as user value 1 */
    int server;
} ltransport;

/* nil, err (lmt_fail); a transport error code (-404) also as err.transport_code and in the
 * message as the link names it (TRANSPORT_ERROR_404). */
static int push_err(lua_State *L, int code, int32_t transport_code)
{
    if (code != MT_ERR_TRANSPORT) return lmt_fail(L, code, NULL, NULL);
    char name[32];
    snprintf(name, sizeof name, "TRANSPORT_ERROR_%d", (int)(transport_code < 0 ? -transport_code : transport_code));
    lmt_fail(L, code, name, lua_pushfstring(L, "transport error %d", (int)transport_code));
    lua_pushinteger(L, transport_code);
    lua_setfield(L, -2, "transport_code");
    return 2;
}

/* opts.random (a string) replaces the CSPRNG of the transport at index ud. */
static int opt_random(lua_State *L, int opts, int ud, lmt_replay *fr, mt_random *r)
{
    if (lua_isnoneornil(L, opts)) return 0;
    return lmt_opt_random(L, opts, ud, fr, r, opts, "'random' must be a string of bytes");
}

/* opts.secret / opts.tls: MTProxy mode (mt_transport_set_proxy). */
static void opt_proxy(lua_State *L, int opts, ltransport *lt)
{
    if (lua_isnoneornil(L, opts)) return;
    int tls = lua_getfield(L, opts, "tls") != LUA_TNIL && lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, opts, "secret") == LUA_TNIL) {
        lua_pop(L, 1);
        if (tls) luaL_argerror(L, opts, "'tls' needs a 'secret'");
        return;
    }
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    if (!s || n != 16) luaL_argerror(L, opts, "'secret' must be 16 bytes");
    if (mt_transport_set_proxy(lt->t, (const uint8_t *)s, tls) != MT_OK)
        luaL_argerror(L, opts, "'secret' needs the obfuscated transport");
    lua_pop(L, 1);
}

static ltransport *check_tr(lua_State *L)
{
    ltransport *lt = luaL_checkudata(L, 1, TRANSPORT_MT);
    if (!lt->t) luaL_error(L, "attempt to use a closed transport");
    return lt;
}

static ltransport *new_ud(lua_State *L)
{
    return lmt_new_object(L, sizeof(ltransport), 1, TRANSPORT_MT);
}

static int l_client(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    int kind = mt_transport_kind_from_name(name);
    if (kind < 0) luaL_argerror(L, 1, "unknown transport (abridged, intermediate, padded, full, obfuscated)");
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
    int inner = 0;
    lua_Integer dc = 0;
    if (!lua_isnoneornil(L, 2)) {
        if (lua_getfield(L, 2, "inner") != LUA_TNIL) {
            const char *in = lua_tostring(L, -1);
            inner = in ? mt_transport_kind_from_name(in) : MT_ERR_ARG;
            if (inner != MT_TR_ABRIDGED && inner != MT_TR_INTERMEDIATE && inner != MT_TR_PADDED)
                luaL_argerror(L, 2, "'inner' must be abridged, intermediate or padded");
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 2, "dc_id") != LUA_TNIL) {
            int ok;
            dc = lua_tointegerx(L, -1, &ok);
            if (!ok || dc < -32768 || dc > 32767) luaL_argerror(L, 2, "'dc_id' must be an int16");
        }
        lua_pop(L, 1);
    }
    ltransport *lt = new_ud(L);
    int ud = lua_gettop(L);
    mt_random r;
    int fixed = opt_random(L, 2, ud, &lt->fr, &r);
    lt->t = mt_transport_new_client(kind, inner, (int16_t)dc, fixed ? &r : NULL);
    if (!lt->t) return luaL_error(L, "out of memory");
    opt_proxy(L, 2, lt);
    return 1;
}

static int l_server(lua_State *L)
{
    if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TTABLE);
    ltransport *lt = new_ud(L);
    int ud = lua_gettop(L);
    lt->server = 1;
    mt_random r;
    int fixed = opt_random(L, 1, ud, &lt->fr, &r);
    lt->t = mt_transport_new_server();
    if (!lt->t) return luaL_error(L, "out of memory");
    if (fixed) mt_transport_set_random(lt->t, &r);
    opt_proxy(L, 1, lt);
    return 1;
}

/* Raises if a spec's fixed random bytes ran out (the core only saw MT_ERR_ARG); frees out. */
static void check_random_left(lua_State *L, const lmt_replay *fr, mt_buf *out)
{
    if (!fr->exhausted) return;
    mt_buf_free(out);
    luaL_error(L, "the fixed random bytes ran out");
}

static int t_start(lua_State *L)
{
    ltransport *lt = check_tr(L);
    mt_buf out;
    mt_buf_init(&out);
    int rc = mt_transport_start(lt->t, &out);
    check_random_left(L, &lt->fr, &out);
    if (rc == MT_ERR_ARG) {
        mt_buf_free(&out);
        return luaL_error(L, "transport already started");
    }
    if (rc < 0) { mt_buf_free(&out); return push_err(L, rc, 0); }
    return lmt_push_buf(L, &out);
}

static int t_encode(lua_State *L)
{
    ltransport *lt = check_tr(L);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    int k = mt_transport_inner_kind(lt->t);
    if (k == MT_TR_ABRIDGED && n % 4) luaL_argerror(L, 2, "abridged payload length must be a multiple of 4");
    if (n > MT_TRANSPORT_MAX_FRAME) luaL_argerror(L, 2, "payload longer than 16 MiB");
    mt_buf out;
    mt_buf_init(&out);
    int rc = mt_transport_encode(lt->t, (const uint8_t *)s, n, &out);
    if (rc < 0) {
        check_random_left(L, &lt->fr, &out);
        mt_buf_free(&out);
        if (rc == MT_ERR_ARG && k == MT_TR_UNKNOWN) return luaL_error(L, "transport kind not detected yet");
        if (rc == MT_ERR_ARG && !lt->server) return luaL_error(L, "transport not started (call start first)");
        return push_err(L, rc, 0);
    }
    return lmt_push_buf(L, &out);
}

static int t_feed(lua_State *L)
{
    ltransport *lt = check_tr(L);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    int rc = mt_transport_feed(lt->t, (const uint8_t *)s, n);
    if (rc < 0) return push_err(L, rc, 0);
    lua_pushboolean(L, 1);
    return 1;
}

static int t_next(lua_State *L)
{
    ltransport *lt = check_tr(L);
    const uint8_t *p;
    size_t n;
    int32_t code;
    int rc = mt_transport_next(lt->t, &p, &n, &code);
    if (rc < 0) return push_err(L, rc, code);
    if (rc == 0) { lua_pushnil(L); return 1; }
    lua_pushlstring(L, (const char *)p, n);
    return 1;
}

/* A kind's name, or nil while the server side has not detected it. */
static int push_kind(lua_State *L, int k)
{
    if (k == MT_TR_UNKNOWN) lua_pushnil(L);
    else lua_pushstring(L, mt_transport_kind_name(k));
    return 1;
}

static int t_kind(lua_State *L) { return push_kind(L, mt_transport_kind(check_tr(L)->t)); }
static int t_inner(lua_State *L) { return push_kind(L, mt_transport_inner_kind(check_tr(L)->t)); }

static int t_dc_id(lua_State *L)
{
    ltransport *lt = check_tr(L);
    lua_pushinteger(L, mt_transport_dc_id(lt->t));
    return 1;
}

static int t_close(lua_State *L)
{
    ltransport *lt = luaL_checkudata(L, 1, TRANSPORT_MT);
    mt_transport_free(lt->t);
    lt->t = NULL;
    return 0;
}

static int t_tostring(lua_State *L)
{
    ltransport *lt = luaL_checkudata(L, 1, TRANSPORT_MT);
    if (!lt->t) lua_pushfstring(L, "mtproto.transport (closed): %p", (void *)lt);
    else lua_pushfstring(L, "mtproto.transport (%s %s): %p", lt->server ? "server" : "client",
                         mt_transport_kind_name(mt_transport_kind(lt->t)), (void *)lt);
    return 1;
}

/* ---- encrypted messages ---------------------------------------------------- */

static const uint8_t *check_key(lua_State *L, int i)
{
    size_t n;
    const char *s = luaL_checklstring(L, i, &n);
    if (n != 256) luaL_argerror(L, i, "auth_key must be 256 bytes");
    return (const uint8_t *)s;
}

static lua_Integer field_int(lua_State *L, int t, const char *k, int required)
{
    int ok;
    lua_getfield(L, t, k);
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok && (required || !lua_isnil(L, -1)))
        luaL_error(L, "bad argument #%d: field '%s' must be an integer", t, k);
    lua_pop(L, 1);
    return ok ? v : 0;
}

static int l_msg_encrypt(lua_State *L)
{
    const uint8_t *key = check_key(L, 1);
    int x = lmt_check_x(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_Integer salt = field_int(L, 3, "salt", 0);
    lua_Integer sid = field_int(L, 3, "session_id", 0);
    lua_Integer mid = field_int(L, 3, "msg_id", 1);
    lua_Integer seq = field_int(L, 3, "seqno", 0);
    if (lua_getfield(L, 3, "body") != LUA_TSTRING) luaL_argerror(L, 3, "field 'body' must be a string");
    size_t n;
    const uint8_t *body = (const uint8_t *)lua_tolstring(L, -1, &n);
    if (n % 4) luaL_argerror(L, 3, "body length must be a multiple of 4");
    lmt_replay fr;
    mt_random r = lmt_replay_init(&fr, NULL, 0);
    int fixed = 0;
    if (lua_getfield(L, 3, "random") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING) luaL_argerror(L, 3, "field 'random' must be a string");
        size_t rn;
        const char *rs = lua_tolstring(L, -1, &rn);
        r = lmt_replay_init(&fr, rs, rn);
        fixed = 1;
    }
    mt_buf out;
    mt_buf_init(&out);
    int rc = mt_msg_encrypt(key, x, (int64_t)salt, (int64_t)sid, (int64_t)mid, (int32_t)seq, body, n,
                            fixed ? &r : NULL, &out);
    check_random_left(L, &fr, &out);
    if (rc < 0) { mt_buf_free(&out); return push_err(L, rc, 0); }
    return lmt_push_buf(L, &out);
}

static int l_msg_decrypt(lua_State *L)
{
    const uint8_t *key = check_key(L, 1);
    int x = lmt_check_x(L, 2);
    size_t n;
    const uint8_t *pkt = (const uint8_t *)luaL_checklstring(L, 3, &n);
    mt_buf plain;
    mt_buf_init(&plain);
    mt_msg m;
    int rc = mt_msg_decrypt(key, x, pkt, n, &plain, &m);
    if (rc < 0) { mt_buf_free(&plain); return push_err(L, rc, 0); }
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, m.salt); lua_setfield(L, -2, "salt");
    lua_pushinteger(L, m.session_id); lua_setfield(L, -2, "session_id");
    lua_pushinteger(L, m.msg_id); lua_setfield(L, -2, "msg_id");
    lua_pushinteger(L, m.seqno); lua_setfield(L, -2, "seqno");
    lua_pushlstring(L, (const char *)m.body, m.len); lua_setfield(L, -2, "body");
    lua_pushinteger(L, (lua_Integer)(plain.len - MT_MSG_HEADER - m.len)); lua_setfield(L, -2, "padding");
    mt_buf_free(&plain);
    return 1;
}

static int l_msgid_next(lua_State *L)
{
    mt_msgid_gen g;
    g.last = (int64_t)luaL_checkinteger(L, 1);
    lua_Integer off = luaL_checkinteger(L, 2);
    if (off < INT32_MIN || off > INT32_MAX) luaL_argerror(L, 2, "time_offset must fit in 32 bits");
    g.time_offset = (int32_t)off;
    lua_Integer now = luaL_checkinteger(L, 3);
    lua_Integer mod4 = luaL_optinteger(L, 4, 0);
    if (mod4 < 0 || mod4 > 3) luaL_argerror(L, 4, "mod4 must be 0..3");
    lua_pushinteger(L, mt_msgid_next(&g, (int64_t)now, (int)mod4));
    return 1;
}

/* Every field is read (which may raise: a bad value, an __index that raises) into a plain
 * table first; the C buffer is built afterwards from that table, where nothing can raise,
 * so a raising item never leaks it. */
static int l_container_pack(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer count = luaL_len(L, 1);
    luaL_argcheck(L, count >= 0 && count <= INT32_MAX / 3, 1, "too many items");
    lua_createtable(L, (int)(count * 3), 0);
    int vals = lua_gettop(L);
    for (lua_Integer i = 1; i <= count; i++) {
        if (lua_geti(L, 1, i) != LUA_TTABLE) return luaL_error(L, "bad argument #1: item %d must be a table", (int)i);
        int item = lua_gettop(L);
        lua_pushinteger(L, field_int(L, item, "msg_id", 1));
        lua_rawseti(L, vals, 3 * i - 2);
        lua_pushinteger(L, field_int(L, item, "seqno", 0));
        lua_rawseti(L, vals, 3 * i - 1);
        lua_getfield(L, item, "body");
        size_t n;
        if (!lua_tolstring(L, -1, &n) || n % 4)
            return luaL_error(L, "bad argument #1: item %d needs a body whose length is a multiple of 4", (int)i);
        lua_rawseti(L, vals, 3 * i);
        lua_settop(L, vals);
    }
    mt_buf out;
    mt_buf_init(&out);
    int rc = mt_container_begin(&out);
    for (lua_Integer i = 1; rc == MT_OK && i <= count; i++) {
        lua_rawgeti(L, vals, 3 * i - 2);
        lua_rawgeti(L, vals, 3 * i - 1);
        lua_rawgeti(L, vals, 3 * i);
        size_t n;
        const char *b = lua_tolstring(L, -1, &n);
        rc = mt_container_add(&out, 0, (int64_t)lua_tointeger(L, -3), (int32_t)lua_tointeger(L, -2), (const uint8_t *)b, n);
        lua_settop(L, vals);
    }
    if (rc < 0) { mt_buf_free(&out); return push_err(L, rc, 0); }
    return lmt_push_buf(L, &out);
}

static int l_container_unpack(lua_State *L)
{
    size_t n;
    const uint8_t *s = (const uint8_t *)luaL_checklstring(L, 1, &n);
    mt_container_iter it;
    int rc = mt_container_iter_init(&it, s, n);
    if (rc < 0) return push_err(L, rc, 0);
    lua_createtable(L, (int)it.left, 0);
    int64_t mid;
    int32_t seq;
    const uint8_t *b;
    size_t len;
    lua_Integer i = 0;
    while ((rc = mt_container_next(&it, &mid, &seq, &b, &len)) == 1) {
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, mid); lua_setfield(L, -2, "msg_id");
        lua_pushinteger(L, seq); lua_setfield(L, -2, "seqno");
        lua_pushlstring(L, (const char *)b, len); lua_setfield(L, -2, "body");
        lua_seti(L, -2, ++i);
    }
    if (rc < 0) return push_err(L, rc, 0);
    return 1;
}

static const luaL_Reg methods[] = {
    { "start", t_start },
    { "encode", t_encode },
    { "feed", t_feed },
    { "next", t_next },
    { "kind", t_kind },
    { "inner", t_inner },
    { "dc_id", t_dc_id },
    { "close", t_close },
    { NULL, NULL },
};

static const luaL_Reg funcs[] = {
    { "client", l_client },
    { "server", l_server },
    { "msg_encrypt", l_msg_encrypt },
    { "msg_decrypt", l_msg_decrypt },
    { "msgid_next", l_msgid_next },
    { "container_pack", l_container_pack },
    { "container_unpack", l_container_unpack },
    { NULL, NULL },
};

int mt_open_transport(lua_State *L)
{
    lmt_new_type(L, TRANSPORT_MT, methods, t_close, t_tostring);
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    lua_pushinteger(L, (lua_Integer)MT_TRANSPORT_MAX_FRAME);
    lua_setfield(L, -2, "MAX_FRAME");
    return 1;
}
