/* Lua binding: mtproto.core.conn, the TCP driver (the `core.conn` contract
 * of docs/DESIGN.md), plus the clocks and sleep the Lua client needs.
 *
 *   local c = core.conn.new{ host=, port=, dc_id=, transport=, rsa_keys=, auth_key=,
 *                            salt=, time_offset=, timeout=, connect_timeout=, init=, log= }
 *   c:connect() c:send(body) c:flush() c:wait(id [, timeout]) c:call(body [, timeout])
 *   c:state() c:updates() c:close()
 *   c:disconnect()  closes the socket only: the session and the requests waiting stay, the next
 *                   flush/wait reconnects and re-sends them under the same msg_ids
 *   c:release(id)   forgets a request (a late answer is ignored); unknown ids are fine
 * Runtime failures return nil, { code =, message =, detail = }. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "lmt.h"
#include "mt_conn.h"
#include "mt_transport.h"

/* core.conn.monotonic() -> seconds (CLOCK_MONOTONIC) */
static int l_monotonic(lua_State *L)
{
    lua_pushnumber(L, mt_clock_monotonic());
    return 1;
}

/* core.conn.now() -> unix time (seconds, float) */
static int l_now(lua_State *L)
{
    lua_pushnumber(L, mt_clock_wall());
    return 1;
}

/* core.conn.sleep(seconds): restarts after signals until the time is over. */
static int l_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    luaL_argcheck(L, s >= 0 && s < 1e9 && s == s, 1, "expected a number of seconds >= 0");
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    return 0;
}

/* ---- the driver object ---- */

#define CONN_MT "mtproto.conn"

typedef struct lconn {
    mt_conn *c;
    lua_State *L;
    int log_ref;
} lconn;

static lconn *check_conn(lua_State *L)
{
    lconn *lc = luaL_checkudata(L, 1, CONN_MT);
    if (!lc->c) luaL_error(L, "attempt to use a closed connection");
    lc->L = L;
    return lc;
}

static void conn_log(void *ud, int level, const char *msg)
{
    lconn *lc = ud;
    lua_State *L = lc->L;
    if (!L || lc->log_ref == LUA_NOREF) return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, lc->log_ref);
    lua_pushinteger(L, level);
    lua_pushstring(L, msg);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) lua_pop(L, 1);
}

static int push_err_table(lua_State *L, lua_Integer code, const char *message, size_t mlen, const char *detail)
{
    lua_pushnil(L);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, code); lua_setfield(L, -2, "code");
    lua_pushlstring(L, message, mlen); lua_setfield(L, -2, "message");
    lua_pushstring(L, detail); lua_setfield(L, -2, "detail");
    return 2;
}

static int push_conn_err(lua_State *L, lconn *lc, int rc)
{
    const char *detail;
    const char *msg = mt_conn_error(lc->c, &detail);
    if (!*msg) { msg = "PROTOCOL_ERROR"; detail = mt_strerror(rc); }
    return push_err_table(L, rc, msg, strlen(msg), detail);
}

static lua_Integer int_field(lua_State *L, const char *k, lua_Integer def, lua_Integer lo, lua_Integer hi)
{
    int ok;
    lua_getfield(L, 1, k);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); return def; }
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok || v < lo || v > hi) {
        lua_pushfstring(L, "field '%s' must be an integer in %I..%I", k, lo, hi);
        luaL_argerror(L, 1, lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

static double num_field(lua_State *L, const char *k, double def)
{
    lua_getfield(L, 1, k);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); return def; }
    int ok;
    lua_Number v = lua_tonumberx(L, -1, &ok);
    if (!ok || !(v > 0) || v > 1e6) {
        lua_pushfstring(L, "field '%s' must be a number of seconds > 0", k);
        luaL_argerror(L, 1, lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

static const char *init_str(lua_State *L, int t, const char *k, const char *def)
{
    lua_getfield(L, t, k);
    const char *v = def;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pushfstring(L, "field 'init.%s' must be a string", k);
            luaL_argerror(L, 1, lua_tostring(L, -1));
        }
        v = lua_tostring(L, -1);
    }
    lua_pop(L, 1); /* still referenced by the init table */
    return v;
}

static int l_conn_new(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    mt_conn_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (lua_getfield(L, 1, "host") != LUA_TSTRING) return luaL_argerror(L, 1, "field 'host' must be a string");
    cfg.host = lua_tostring(L, -1);
    lua_pop(L, 1); /* anchored by the options table */
    cfg.port = (int)int_field(L, "port", -1, 1, 65535);
    if (cfg.port < 0) return luaL_argerror(L, 1, "field 'port' is required");
    cfg.dc_id = (int32_t)int_field(L, "dc_id", 2, -32768, 32767);
    lua_getfield(L, 1, "transport");
    const char *tname = lua_isnil(L, -1) ? "padded" : lua_tostring(L, -1);
    int kind = tname ? mt_transport_kind_from_name(tname) : MT_ERR_ARG;
    if (kind < 0 || lua_type(L, -1) == LUA_TNUMBER)
        return luaL_argerror(L, 1, "field 'transport' must be \"abridged\", \"intermediate\", \"padded\", \"full\" or \"obfuscated\"");
    lua_pop(L, 1);
    cfg.transport = kind;

    /* rsa_keys: copied into arrays on the Lua stack (userdata) for the call */
    const char **pems = NULL;
    size_t *lens = NULL;
    if (lua_getfield(L, 1, "rsa_keys") != LUA_TNIL) {
        if (!lua_istable(L, -1)) return luaL_argerror(L, 1, "field 'rsa_keys' must be a list of PEM strings");
        int kt = lua_gettop(L);
        lua_Integer n = luaL_len(L, kt);
        if (n < 1 || n > 64) return luaL_argerror(L, 1, "field 'rsa_keys' must hold 1..64 PEM strings");
        pems = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
        lens = lua_newuserdatauv(L, sizeof(size_t) * (size_t)(n + 1), 0);
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_geti(L, kt, i) != LUA_TSTRING) return luaL_argerror(L, 1, "field 'rsa_keys' must be a list of PEM strings");
            pems[i - 1] = lua_tolstring(L, -1, &lens[i - 1]);
            lua_pop(L, 1); /* anchored by the rsa_keys table */
        }
        pems[n] = NULL;
        cfg.rsa_pems = pems;
        cfg.rsa_pem_lens = lens;
    }
    if (lua_getfield(L, 1, "auth_key") != LUA_TNIL) {
        size_t kn = 0;
        if (lua_type(L, -1) != LUA_TSTRING || (lua_tolstring(L, -1, &kn), kn != 256))
            return luaL_argerror(L, 1, "field 'auth_key' must be a 256-byte string");
        cfg.auth_key = (const uint8_t *)lua_tostring(L, -1);
    }
    cfg.salt = (int64_t)int_field(L, "salt", 0, LUA_MININTEGER, LUA_MAXINTEGER);
    cfg.time_offset = (int32_t)int_field(L, "time_offset", 0, INT32_MIN, INT32_MAX);
    cfg.timeout = num_field(L, "timeout", 10);
    cfg.connect_timeout = num_field(L, "connect_timeout", 5);

    mt_session_init init;
    memset(&init, 0, sizeof init);
    init.enabled = 1;
    init.layer = 223;
    init.api_id = 0;
    init.device_model = "lua-mtproto"; init.system_version = "Lua 5.4"; init.app_version = "0.1.0";
    init.system_lang_code = "en"; init.lang_pack = ""; init.lang_code = "en";
    if (lua_getfield(L, 1, "init") != LUA_TNIL) {
        if (!lua_istable(L, -1)) return luaL_argerror(L, 1, "field 'init' must be a table");
        int it = lua_gettop(L);
        lua_getfield(L, it, "api_id");
        if (!lua_isnil(L, -1)) {
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok || v < INT32_MIN || v > INT32_MAX) return luaL_argerror(L, 1, "field 'init.api_id' must be an integer");
            init.api_id = (int32_t)v;
        }
        lua_getfield(L, it, "layer");
        if (!lua_isnil(L, -1)) {
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok || v < 1 || v > INT32_MAX) return luaL_argerror(L, 1, "field 'init.layer' must be a positive integer");
            init.layer = (int32_t)v;
        }
        lua_pop(L, 2);
        init.device_model = init_str(L, it, "device_model", init.device_model);
        init.system_version = init_str(L, it, "system_version", init.system_version);
        init.app_version = init_str(L, it, "app_version", init.app_version);
        init.system_lang_code = init_str(L, it, "system_lang_code", init.system_lang_code);
        init.lang_pack = init_str(L, it, "lang_pack", init.lang_pack);
        init.lang_code = init_str(L, it, "lang_code", init.lang_code);
    }
    cfg.init = &init;
    lua_getfield(L, 1, "log");
    int has_log = !lua_isnil(L, -1);
    if (has_log && !lua_isfunction(L, -1)) return luaL_argerror(L, 1, "field 'log' must be a function");

    lconn *lc = lua_newuserdatauv(L, sizeof *lc, 0);
    lc->c = NULL; lc->L = L; lc->log_ref = LUA_NOREF;
    luaL_setmetatable(L, CONN_MT);
    if (has_log) {
        lua_pushvalue(L, -2);
        lc->log_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        cfg.log = conn_log; cfg.log_ud = lc; cfg.log_level = MT_LOG_DEBUG;
    }
    int err;
    lc->c = mt_conn_new(&cfg, &err);
    if (!lc->c) {
        if (err == MT_ERR_NOMEM) return luaL_error(L, "core.conn.new: out of memory");
        return luaL_argerror(L, 1, cfg.rsa_pems ? "bad field 'rsa_keys' (not an RSA public key PEM) or host/port"
                                                : "bad host or port");
    }
    return 1;
}

static int l_conn_connect(lua_State *L)
{
    lconn *lc = check_conn(L);
    int rc = mt_conn_connect(lc->c);
    if (rc) return push_conn_err(L, lc, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_conn_send(lua_State *L)
{
    lconn *lc = check_conn(L);
    size_t n;
    const uint8_t *body = (const uint8_t *)luaL_checklstring(L, 2, &n);
    luaL_argcheck(L, n >= 4 && n % 4 == 0, 2, "expected a TL-encoded request (length a non-zero multiple of 4)");
    uint64_t id;
    int rc = mt_conn_send(lc->c, body, n, &id);
    if (rc == MT_ERR_RANGE) return luaL_argerror(L, 2, "request larger than 1 MiB");
    if (rc) return luaL_error(L, "send: %s", mt_strerror(rc));
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

static int l_conn_flush(lua_State *L)
{
    lconn *lc = check_conn(L);
    int rc = mt_conn_flush(lc->c);
    if (rc) return push_conn_err(L, lc, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int wait_id(lua_State *L, lconn *lc, uint64_t id, int tidx)
{
    double timeout = -1;
    if (!lua_isnoneornil(L, tidx)) {
        timeout = luaL_checknumber(L, tidx);
        luaL_argcheck(L, timeout >= 0 && timeout < 1e6, tidx, "expected a timeout in seconds >= 0");
    }
    const uint8_t *d;
    size_t n;
    int32_t code;
    int rc = mt_conn_wait(lc->c, id, timeout, &d, &n, &code);
    if (rc == MT_ERR_ARG) return luaL_argerror(L, 2, "unknown request id (never sent, or already answered)");
    if (rc < 0) return push_conn_err(L, lc, rc);
    int nret;
    if (rc == MT_REQ_DONE) {
        lua_pushlstring(L, (const char *)d, n);
        nret = 1;
    } else {
        char detail[160];
        if (code >= 0) snprintf(detail, sizeof detail, "rpc_error %d %.*s", (int)code, (int)(n > 100 ? 100 : n), (const char *)d);
        else snprintf(detail, sizeof detail, "%.*s: %s", (int)(n > 100 ? 100 : n), (const char *)d, mt_strerror(code));
        nret = push_err_table(L, code, (const char *)d, n, detail);
    }
    mt_conn_release(lc->c, id);
    return nret;
}

static int l_conn_wait(lua_State *L)
{
    lconn *lc = check_conn(L);
    lua_Integer id = luaL_checkinteger(L, 2);
    return wait_id(L, lc, (uint64_t)id, 3);
}

static int l_conn_call(lua_State *L)
{
    lconn *lc = check_conn(L);
    size_t n;
    const uint8_t *body = (const uint8_t *)luaL_checklstring(L, 2, &n);
    luaL_argcheck(L, n >= 4 && n % 4 == 0, 2, "expected a TL-encoded request (length a non-zero multiple of 4)");
    uint64_t id;
    int rc = mt_conn_send(lc->c, body, n, &id);
    if (rc == MT_ERR_RANGE) return luaL_argerror(L, 2, "request larger than 1 MiB");
    if (rc) return luaL_error(L, "call: %s", mt_strerror(rc));
    int nret = wait_id(L, lc, id, 3);
    if (lua_isnil(L, -nret)) mt_conn_release(lc->c, id); /* a timed-out call is given up */
    return nret;
}

/* For a server that stopped answering: a fresh TCP connection in the same session. */
static int l_conn_disconnect(lua_State *L)
{
    lconn *lc = check_conn(L);
    mt_conn_close(lc->c);
    return 0;
}

/* A request given up by its caller (e.g. after a timeout): its answer is not kept. */
static int l_conn_release(lua_State *L)
{
    lconn *lc = check_conn(L);
    mt_conn_release(lc->c, (uint64_t)luaL_checkinteger(L, 2));
    return 0;
}

static int l_conn_state(lua_State *L)
{
    lconn *lc = check_conn(L);
    mt_session *s = mt_conn_session(lc->c);
    mt_session_state st;
    mt_session_get_state(s, &st);
    lua_createtable(L, 0, 8);
    uint8_t key[256];
    if (mt_session_get_key(s, key) == MT_OK) {
        lua_pushlstring(L, (const char *)key, 256);
        lua_setfield(L, -2, "auth_key");
        mt_wipe(key, sizeof key);
        lua_pushinteger(L, (lua_Integer)st.auth_key_id); lua_setfield(L, -2, "auth_key_id");
    }
    lua_pushinteger(L, st.salt); lua_setfield(L, -2, "salt");
    lua_pushinteger(L, st.time_offset); lua_setfield(L, -2, "time_offset");
    lua_pushinteger(L, st.session_id); lua_setfield(L, -2, "session_id");
    lua_pushinteger(L, (lua_Integer)mt_session_pending(s)); lua_setfield(L, -2, "pending");
    lua_pushinteger(L, (lua_Integer)mt_conn_connections(lc->c)); lua_setfield(L, -2, "connections");
    lua_pushinteger(L, (lua_Integer)st.dropped); lua_setfield(L, -2, "dropped");
    return 1;
}

static int l_conn_updates(lua_State *L)
{
    lconn *lc = check_conn(L);
    mt_buf *u = mt_conn_updates(lc->c);
    lua_newtable(L);
    lua_Integer i = 0;
    for (size_t off = 0; off + 4 <= u->len;) {
        size_t n = mt_le32(u->data + off);
        if (n > u->len - off - 4) break;
        lua_pushlstring(L, (const char *)u->data + off + 4, n);
        lua_rawseti(L, -2, ++i);
        off += 4 + n;
    }
    u->len = 0;
    return 1;
}

static int l_conn_close(lua_State *L)
{
    lconn *lc = luaL_checkudata(L, 1, CONN_MT);
    if (lc->c) { mt_conn_free(lc->c); lc->c = NULL; }
    if (lc->log_ref != LUA_NOREF) { luaL_unref(L, LUA_REGISTRYINDEX, lc->log_ref); lc->log_ref = LUA_NOREF; }
    return 0;
}

static int l_conn_tostring(lua_State *L)
{
    lconn *lc = luaL_checkudata(L, 1, CONN_MT);
    if (!lc->c) lua_pushliteral(L, "mtproto.conn (closed)");
    else lua_pushfstring(L, "mtproto.conn (%d pending)", (int)mt_session_pending(mt_conn_session(lc->c)));
    return 1;
}

static const luaL_Reg conn_methods[] = {
    { "connect", l_conn_connect },
    { "send", l_conn_send },
    { "flush", l_conn_flush },
    { "wait", l_conn_wait },
    { "call", l_conn_call },
    { "state", l_conn_state },
    { "updates", l_conn_updates },
    { "close", l_conn_close },
    { "disconnect", l_conn_disconnect },
    { "release", l_conn_release },
    { NULL, NULL },
};

static const luaL_Reg conn_funcs[] = {
    { "new", l_conn_new },
    { "monotonic", l_monotonic },
    { "now", l_now },
    { "sleep", l_sleep },
    { NULL, NULL },
};

int mt_open_conn(lua_State *L)
{
    if (luaL_newmetatable(L, CONN_MT)) {
        luaL_newlib(L, conn_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_conn_close); lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_conn_close); lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, l_conn_tostring); lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    luaL_newlib(L, conn_funcs);
    return 1;
}
