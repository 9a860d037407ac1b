/* Lua binding: mtproto.core.session, the sans-IO client session.
 *
 *   local s = core.session.new{ auth_key = key256, salt = 0, session_id = nil,
 *                               time_offset = 0, init = { api_id = 1, ... } | nil,
 *                               log = function(level, msg) end | nil }
 *   s:send(body) -> id                    queue a request (nothing is written)
 *   s:pack(now [, with_acks]) -> packet | nil       (nil: nothing to send)
 *   s:receive(packet, now) -> events [, err]         err: why the packet was dropped (the
 *                                                    bindings' error table, as lmt_fail makes it)
 *       events: { kind="result", id=, bytes= } | { kind="error", id=, code=, message= }
 *               | { kind="update", bytes= }
 *   s:new_connection()     re-queue what waits for an answer under the same msg_ids
 *   s:set_key(key, salt, time_offset)
 *   s:state() -> { salt, session_id, time_offset, auth_key_id, seq, dropped, pending, acks }
 *   s:close() (also __gc and __close)
 * `now` is unix time in seconds (float). */
#include <string.h>
#include "lmt.h"
#include "mt_session.h"

#define SESSION_MT "mtproto.session"

typedef struct lsession {
    mt_session *s;
    lua_State *L;       /* set during a method call, for the log callback */
    int log_ref;
} lsession;

static lsession *check_open(lua_State *L)
{
    lsession *ls = luaL_checkudata(L, 1, SESSION_MT);
    if (!ls->s) luaL_error(L, "attempt to use a closed session");
    ls->L = L;
    return ls;
}

static void log_cb(void *ud, int level, const char *msg)
{
    lsession *ls = ud;
    lua_State *L = ls->L;
    if (!L || ls->log_ref == LUA_NOREF) return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls->log_ref);
    lua_pushinteger(L, level);
    lua_pushstring(L, msg);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) lua_pop(L, 1); /* a failing logger is ignored */
}

static lua_Integer opt_int_field(lua_State *L, int t, const char *k, lua_Integer def)
{
    int ok;
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); return def; }
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok) luaL_error(L, "bad argument #%d to 'new' (field '%s' must be an integer)", t, k);
    lua_pop(L, 1);
    return v;
}

static int l_new(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    mt_session_config cfg;
    memset(&cfg, 0, sizeof cfg);
    lua_getfield(L, 1, "auth_key");
    size_t kn = 0;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING || (lua_tolstring(L, -1, &kn), kn != 256))
            return luaL_argerror(L, 1, "field 'auth_key' must be a 256-byte string");
        cfg.auth_key = (const uint8_t *)lua_tostring(L, -1);
    }
    cfg.salt = (int64_t)opt_int_field(L, 1, "salt", 0);
    cfg.session_id = (int64_t)opt_int_field(L, 1, "session_id", 0);
    lua_Integer off = opt_int_field(L, 1, "time_offset", 0);
    if (off < INT32_MIN || off > INT32_MAX) return luaL_argerror(L, 1, "field 'time_offset' out of range");
    cfg.time_offset = (int32_t)off;

    mt_session_init init;
    if (lmt_init_options(L, 1, &init)) cfg.init = &init; /* no `init`: no initConnection */
    lua_getfield(L, 1, "log");
    int has_log = !lua_isnil(L, -1);
    if (has_log && !lua_isfunction(L, -1)) return luaL_argerror(L, 1, "field 'log' must be a function");

    lsession *ls = lmt_new_object(L, sizeof *ls, 0, SESSION_MT);
    ls->L = L;
    ls->log_ref = LUA_NOREF;
    if (has_log) {
        lua_pushvalue(L, -2);
        ls->log_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        cfg.log = log_cb; cfg.log_ud = ls; cfg.log_level = MT_LOG_DEBUG;
    }
    int err;
    ls->s = mt_session_new(&cfg, &err);
    if (!ls->s && err == MT_ERR_CRYPTO) return lmt_crypto_failed(L);
    if (!ls->s) return luaL_error(L, "cannot create a session (out of memory)");
    return 1;
}

static int l_send(lua_State *L)
{
    lsession *ls = check_open(L);
    size_t n;
    const uint8_t *body = (const uint8_t *)luaL_checklstring(L, 2, &n);
    luaL_argcheck(L, n >= 4 && n % 4 == 0, 2, "expected a TL body (length a non-zero multiple of 4)");
    uint64_t id;
    int rc = mt_session_send(ls->s, body, n, &id);
    if (rc == MT_ERR_RANGE) return luaL_argerror(L, 2, "request too large");
    if (rc) return luaL_error(L, "send: %s", mt_strerror(rc));
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

static int l_pack(lua_State *L)
{
    lsession *ls = check_open(L);
    double now = luaL_checknumber(L, 2);
    int with_acks = lua_toboolean(L, 3);
    if (!mt_session_has_key(ls->s)) return luaL_error(L, "pack: the session has no auth key");
    mt_buf out;
    mt_buf_init(&out);
    int rc = mt_session_pack(ls->s, now, with_acks, &out);
    if (rc < 0) { mt_buf_free(&out); return luaL_error(L, "pack: %s", mt_strerror(rc)); }
    if (rc > 0) return lmt_push_buf(L, &out);
    mt_buf_free(&out);
    lua_pushnil(L);
    return 1;
}

/* Turns the session's events into a Lua list; answered requests are released. */
static void push_events(lua_State *L, mt_session *s)
{
    size_t n;
    const mt_session_event *ev = mt_session_events(s, &n);
    const uint8_t *upd = mt_session_update_data(s);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 4);
        if (ev[i].kind == MT_EV_UPDATE) {
            lua_pushliteral(L, "update"); lua_setfield(L, -2, "kind");
            lua_pushlstring(L, (const char *)upd + ev[i].off, ev[i].len); lua_setfield(L, -2, "bytes");
        } else {
            const uint8_t *d; size_t dn; int32_t code;
            int st = mt_session_take(s, ev[i].id, &d, &dn, &code);
            lua_pushinteger(L, (lua_Integer)ev[i].id); lua_setfield(L, -2, "id");
            if (st == MT_REQ_DONE) {
                lua_pushliteral(L, "result"); lua_setfield(L, -2, "kind");
                lua_pushlstring(L, (const char *)d, dn); lua_setfield(L, -2, "bytes");
            } else if (st == MT_REQ_FAILED) {
                lua_pushliteral(L, "error"); lua_setfield(L, -2, "kind");
                lua_pushinteger(L, code); lua_setfield(L, -2, "code");
                lua_pushlstring(L, (const char *)d, dn); lua_setfield(L, -2, "message");
            }
            mt_session_release(s, ev[i].id);
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    mt_session_events_clear(s);
}

static int l_receive(lua_State *L)
{
    lsession *ls = check_open(L);
    size_t n;
    const uint8_t *p = (const uint8_t *)luaL_checklstring(L, 2, &n);
    double now = luaL_checknumber(L, 3);
    if (!mt_session_has_key(ls->s)) return luaL_error(L, "receive: the session has no auth key");
    int rc = mt_session_receive(ls->s, p, n, now);
    push_events(L, ls->s);
    if (rc == MT_ERR_NOMEM) return luaL_error(L, "receive: out of memory");
    if (rc < 0) {
        lmt_fail(L, rc, NULL, NULL); /* nil, err: keep err beside the events */
        lua_remove(L, -2);
        return 2;
    }
    return 1;
}

static int l_new_connection(lua_State *L)
{
    lsession *ls = check_open(L);
    mt_session_new_connection(ls->s);
    return 0;
}

static int l_set_key(lua_State *L)
{
    lsession *ls = check_open(L);
    size_t kn;
    const char *key = luaL_checklstring(L, 2, &kn);
    luaL_argcheck(L, kn == 256, 2, "expected a 256-byte auth key");
    lua_Integer salt = luaL_optinteger(L, 3, 0), off = luaL_optinteger(L, 4, 0);
    luaL_argcheck(L, off >= INT32_MIN && off <= INT32_MAX, 4, "time offset out of range");
    if (mt_session_set_key(ls->s, (const uint8_t *)key, (int64_t)salt, (int32_t)off) != MT_OK)
        return luaL_error(L, "set_key: out of memory");
    return 0;
}

static int l_state(lua_State *L)
{
    lsession *ls = check_open(L);
    mt_session_state st;
    mt_session_get_state(ls->s, &st);
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, st.salt); lua_setfield(L, -2, "salt");
    lua_pushinteger(L, st.session_id); lua_setfield(L, -2, "session_id");
    lua_pushinteger(L, st.time_offset); lua_setfield(L, -2, "time_offset");
    lua_pushinteger(L, (lua_Integer)st.auth_key_id); lua_setfield(L, -2, "auth_key_id");
    lua_pushinteger(L, st.seq); lua_setfield(L, -2, "seq");
    lua_pushinteger(L, (lua_Integer)st.dropped); lua_setfield(L, -2, "dropped");
    lua_pushinteger(L, (lua_Integer)mt_session_pending(ls->s)); lua_setfield(L, -2, "pending");
    lua_pushinteger(L, (lua_Integer)mt_session_acks_owed(ls->s)); lua_setfield(L, -2, "acks");
    return 1;
}

static int l_close(lua_State *L)
{
    lsession *ls = luaL_checkudata(L, 1, SESSION_MT);
    if (ls->s) { mt_session_free(ls->s); ls->s = NULL; }
    if (ls->log_ref != LUA_NOREF) { luaL_unref(L, LUA_REGISTRYINDEX, ls->log_ref); ls->log_ref = LUA_NOREF; }
    return 0;
}

static int l_tostring(lua_State *L)
{
    lsession *ls = luaL_checkudata(L, 1, SESSION_MT);
    if (!ls->s) { lua_pushliteral(L, "mtproto.session (closed)"); return 1; }
    mt_session_state st;
    mt_session_get_state(ls->s, &st);
    lua_pushfstring(L, "mtproto.session (session_id %I, %d pending)", (lua_Integer)st.session_id,
                    (int)mt_session_pending(ls->s));
    return 1;
}

static const luaL_Reg methods[] = {
    { "send", l_send },
    { "pack", l_pack },
    { "receive", l_receive },
    { "new_connection", l_new_connection },
    { "set_key", l_set_key },
    { "state", l_state },
    { "close", l_close },
    { NULL, NULL },
};

int mt_open_session(lua_State *L)
{
    lmt_new_type(L, SESSION_MT, methods, l_close, l_tostring);
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, l_new);
    lua_setfield(L, -2, "new");
    return 1;
}
