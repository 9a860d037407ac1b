/* Helpers shared by the Lua bindings (declared in lmt.h): the replayable random source of
 * the specs, metatable registration, and the `nil, err` / buffer return conventions. */
#include <string.h>
#include "lmt.h"

/* Hands out the bytes of rep in order; running short marks it exhausted and fails. */
static int replay_fill(void *ud, uint8_t *out, size_t n)
{
    lmt_replay *r = ud;
    if (r->len - r->pos < n) { r->exhausted = 1; return MT_ERR_ARG; }
    memcpy(out, r->p + r->pos, n);
    r->pos += n;
    return MT_OK;
}

mt_random lmt_replay_init(lmt_replay *rep, const char *p, size_t len)
{
    rep->p = (const uint8_t *)p;
    rep->len = len;
    rep->pos = 0;
    rep->exhausted = 0;
    mt_random r = { replay_fill, rep };
    return r;
}

int lmt_opt_random(lua_State *L, int opts, int ud, lmt_replay *rep, mt_random *rnd, int arg,
                   const char *msg)
{
    if (lua_getfield(L, opts, "random") == LUA_TNIL) { lua_pop(L, 1); return 0; }
    if (lua_type(L, -1) != LUA_TSTRING) return luaL_argerror(L, arg, msg);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    mt_random r = lmt_replay_init(rep, s, n);
    if (rnd) *rnd = r;
    lua_setiuservalue(L, ud, 1);
    return 1;
}

int lmt_new_type(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction close,
                 lua_CFunction tostring)
{
    if (!luaL_newmetatable(L, name)) return 0;
    if (methods) {
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
    }
    if (close) {
        lua_pushcfunction(L, close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, close);
        lua_setfield(L, -2, "__close");
    }
    lua_pushcfunction(L, tostring);
    lua_setfield(L, -2, "__tostring");
    return 1;
}

void *lmt_new_object(lua_State *L, size_t size, int nuv, const char *tname)
{
    void *u = lua_newuserdatauv(L, size, nuv);
    memset(u, 0, size);
    luaL_setmetatable(L, tname);
    return u;
}

int lmt_fail_l(lua_State *L, int code, const char *message, size_t mlen, const char *detail)
{
    lua_pushnil(L);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, code);
    lua_setfield(L, -2, "code");
    lua_pushlstring(L, message, mlen);
    lua_setfield(L, -2, "message");
    lua_pushstring(L, detail ? detail : mt_strerror(code));
    lua_setfield(L, -2, "detail");
    return 2;
}

int lmt_fail(lua_State *L, int code, const char *message, const char *detail)
{
    if (!message) message = mt_err_name(code);
    return lmt_fail_l(L, code, message, strlen(message), detail);
}

int lmt_crypto_failed(lua_State *L)
{
    return lmt_fail(L, MT_ERR_CRYPTO, NULL,
                    "libcrypto has no SHA-256 or no SHA-1 (no provider offers them: see OPENSSL_CONF)");
}

int lmt_push_buf(lua_State *L, mt_buf *b)
{
    lua_pushlstring(L, b->data ? (const char *)b->data : "", b->len);
    mt_buf_free(b);
    return 1;
}

int lmt_check_x(lua_State *L, int i)
{
    lua_Integer x = luaL_checkinteger(L, i);
    if (x != 0 && x != 8) luaL_argerror(L, i, "x must be 0 (client to server) or 8 (server to client)");
    return (int)x;
}

const uint8_t *lmt_check_len(lua_State *L, int i, size_t want, const char *what)
{
    size_t n;
    const char *s = luaL_checklstring(L, i, &n);
    if (n != want) {
        lua_pushfstring(L, "%s must be %d bytes, got %d", what, (int)want, (int)n);
        luaL_argerror(L, i, lua_tostring(L, -1));
    }
    return (const uint8_t *)s;
}
