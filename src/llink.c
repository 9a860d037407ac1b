/* Lua binding: mtproto.core.link, the sans-IO connection object (src/mt_link.h), and the
 * option parsing core.conn shares with it.
 *
 *   local l = core.link.new{ dc_id=, transport=, rsa_keys=, auth_key=, salt=, time_offset=,
 *                            timeout=, connect_timeout=, init=, wall_offset=, split_modexp= }
 *   l:send(body, now [, deadline]) -> id          l:take(id) -> bytes | nil, err | false
 *   l:release(id)   l:connect(now, deadline)       l:disconnect(now)
 *   l:connected(now)   l:lost(now, "closed"|"io"|"timeout" [, detail])
 *   l:feed(bytes, now)  l:output(now) -> bytes (all of it, taken as written)
 *   l:tick(now)   l:deadline() -> time | nil   l:state() -> "down"|"connecting"|"open"|"ready"
 *   l:epoch()     l:events() -> { { type = "connected"|"answer"|"update"|"lost"|"key",
 *                                   id =, bytes =, code = }, ... } (emptied)
 *   l:error() -> message, detail, code            l:info() -> state table   l:close()
 * `now` is any monotonic clock in seconds (specs use a fake one). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "lmt.h"
#include "mt_ids.h"
#include "mt_transport.h"

static lua_Integer int_field(lua_State *L, int t, const char *k, lua_Integer def, lua_Integer lo, lua_Integer hi)
{
    int ok;
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); return def; }
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok || v < lo || v > hi) {
        lua_pushfstring(L, "field '%s' must be an integer in %I..%I", k, lo, hi);
        luaL_argerror(L, t, lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

static double num_field(lua_State *L, int t, const char *k, double def)
{
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); return def; }
    int ok;
    lua_Number v = lua_tonumberx(L, -1, &ok);
    if (!ok || !(v > 0) || v > 1e6) {
        lua_pushfstring(L, "field '%s' must be a number of seconds > 0", k);
        luaL_argerror(L, t, lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

static const char *init_str(lua_State *L, int t, int it, const char *k, const char *def)
{
    lua_getfield(L, it, k);
    const char *v = def;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pushfstring(L, "field 'init.%s' must be a string", k);
            luaL_argerror(L, t, lua_tostring(L, -1));
        }
        v = lua_tostring(L, -1);
    }
    lua_pop(L, 1); /* still referenced by the init table */
    return v;
}

static int32_t init_int(lua_State *L, int t, int it, const char *k, int32_t def, lua_Integer lo, const char *msg)
{
    lua_getfield(L, it, k);
    int32_t v = def;
    if (!lua_isnil(L, -1)) {
        int ok;
        lua_Integer i = lua_tointegerx(L, -1, &ok);
        if (!ok || i < lo || i > INT32_MAX) luaL_argerror(L, t, msg);
        v = (int32_t)i;
    }
    lua_pop(L, 1);
    return v;
}

int lmt_init_options(lua_State *L, int t, mt_session_init *init)
{
    memset(init, 0, sizeof *init);
    init->enabled = 1;
    init->layer = MT_LAYER;
    init->device_model = "lua-mtproto";
    init->system_version = LUA_VERSION;
    init->app_version = MTPROTO_VERSION;
    init->system_lang_code = "en";
    init->lang_pack = "";
    init->lang_code = "en";
    if (lua_getfield(L, t, "init") == LUA_TNIL) { lua_pop(L, 1); return 0; }
    if (!lua_istable(L, -1)) luaL_argerror(L, t, "field 'init' must be a table");
    int it = lua_gettop(L);
    init->api_id = init_int(L, t, it, "api_id", 0, INT32_MIN, "field 'init.api_id' must be an integer");
    init->layer = init_int(L, t, it, "layer", init->layer, 1, "field 'init.layer' must be a positive integer");
    init->device_model = init_str(L, t, it, "device_model", init->device_model);
    init->system_version = init_str(L, t, it, "system_version", init->system_version);
    init->app_version = init_str(L, t, it, "app_version", init->app_version);
    init->system_lang_code = init_str(L, t, it, "system_lang_code", init->system_lang_code);
    init->lang_pack = init_str(L, t, it, "lang_pack", init->lang_pack);
    init->lang_code = init_str(L, t, it, "lang_code", init->lang_code);
    lua_pop(L, 1); /* the init table stays referenced by the options table */
    return 1;
}

int lmt_link_options(lua_State *L, int t, mt_link_config *cfg, mt_session_init *init)
{
    cfg->dc_id = (int32_t)int_field(L, t, "dc_id", 2, -32768, 32767);
    lua_getfield(L, t, "transport");
    const char *tname = lua_isnil(L, -1) ? "padded" : lua_tostring(L, -1);
    int kind = tname ? mt_transport_kind_from_name(tname) : MT_ERR_ARG;
    if (kind < 0 || lua_type(L, -1) == LUA_TNUMBER)
        luaL_argerror(L, t, "field 'transport' must be \"abridged\", \"intermediate\", \"padded\", \"full\" or \"obfuscated\"");
    lua_pop(L, 1);
    cfg->transport = kind;

    /* rsa_keys: copied into arrays on the Lua stack (userdata) for the call */
    if (lua_getfield(L, t, "rsa_keys") != LUA_TNIL) {
        if (!lua_istable(L, -1)) luaL_argerror(L, t, "field 'rsa_keys' must be a list of PEM strings");
        int kt = lua_gettop(L);
        lua_Integer n = luaL_len(L, kt);
        if (n < 1 || n > 64) luaL_argerror(L, t, "field 'rsa_keys' must hold 1..64 PEM strings");
        const char **pems = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
        size_t *lens = lua_newuserdatauv(L, sizeof(size_t) * (size_t)(n + 1), 0);
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_geti(L, kt, i) != LUA_TSTRING) luaL_argerror(L, t, "field 'rsa_keys' must be a list of PEM strings");
            pems[i - 1] = lua_tolstring(L, -1, &lens[i - 1]);
            lua_pop(L, 1); /* anchored by the rsa_keys table */
        }
        pems[n] = NULL;
        cfg->rsa_pems = pems;
        cfg->rsa_pem_lens = lens;
    } else {
        lua_pop(L, 1);
    }
    if (lua_getfield(L, t, "auth_key") != LUA_TNIL) {
        size_t kn = 0;
        if (lua_type(L, -1) != LUA_TSTRING || (lua_tolstring(L, -1, &kn), kn != 256))
            luaL_argerror(L, t, "field 'auth_key' must be a 256-byte string");
        cfg->auth_key = (const uint8_t *)lua_tostring(L, -1);
    }
    lua_pop(L, 1); /* anchored by the options table */
    cfg->salt = (int64_t)int_field(L, t, "salt", 0, LUA_MININTEGER, LUA_MAXINTEGER);
    cfg->time_offset = (int32_t)int_field(L, t, "time_offset", 0, INT32_MIN, INT32_MAX);
    cfg->expires_in = (int32_t)int_field(L, t, "expires_in", 0, 0, INT32_MAX);
    cfg->timeout = num_field(L, t, "timeout", 10);
    cfg->connect_timeout = num_field(L, t, "connect_timeout", 5);
    int ty = lua_getfield(L, t, "split_modexp");
    if (ty != LUA_TNIL && ty != LUA_TBOOLEAN) luaL_argerror(L, t, "field 'split_modexp' must be a boolean");
    cfg->split_modexp = lua_toboolean(L, -1);
    lua_pop(L, 1);

    lmt_init_options(L, t, init);
    cfg->init = init;
    return lmt_link_shared(L, t, cfg);
}

int lmt_push_answer(lua_State *L, int st, const uint8_t *d, size_t n, int32_t code)
{
    if (st == MT_REQ_PENDING) { lua_pushboolean(L, 0); return 1; }
    if (st == MT_REQ_DONE) { lua_pushlstring(L, (const char *)d, n); return 1; }
    char detail[240];
    if (code >= 0) {
        snprintf(detail, sizeof detail, "rpc_error %d %.*s", (int)code, (int)(n > 100 ? 100 : n), (const char *)d);
        return lmt_fail_l(L, code, (const char *)d, n, detail);
    }
    /* a local failure: "MESSAGE" or "MESSAGE: detail" (a connection error, see mt_link.c) */
    const char *sep = memchr(d, ':', n);
    if (sep && (size_t)(sep - (const char *)d) + 2 <= n && sep[1] == ' ') {
        size_t m = (size_t)(sep - (const char *)d);
        snprintf(detail, sizeof detail, "%.*s", (int)(n - m - 2), sep + 2);
        return lmt_fail_l(L, code, (const char *)d, m, detail);
    }
    snprintf(detail, sizeof detail, "%.*s: %s", (int)(n > 100 ? 100 : n), (const char *)d, mt_strerror(code));
    return lmt_fail_l(L, code, (const char *)d, n, detail);
}

int lmt_push_link_error(lua_State *L, const mt_link *l, int rc)
{
    const char *detail;
    const char *msg = mt_link_error(l, &detail);
    if (!*msg) { msg = "PROTOCOL_ERROR"; detail = mt_strerror(rc); }
    return lmt_fail(L, rc, msg, detail);
}

void lmt_push_link_state(lua_State *L, mt_link *l)
{
    mt_session *s = mt_link_session(l);
    mt_session_state st;
    mt_session_get_state(s, &st);
    lua_createtable(L, 0, 9);
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
    lua_pushinteger(L, (lua_Integer)mt_link_connections(l)); lua_setfield(L, -2, "connections");
    lua_pushinteger(L, (lua_Integer)st.dropped); lua_setfield(L, -2, "dropped");
    lua_pushinteger(L, (lua_Integer)mt_link_work_done(l)); lua_setfield(L, -2, "handshake_work");
}

/* ---- core.link ---- */

#define LINK_MT "mtproto.link"

typedef struct llink { mt_link *l; } llink;

static mt_link *check_link(lua_State *L)
{
    llink *ll = luaL_checkudata(L, 1, LINK_MT);
    if (!ll->l) luaL_error(L, "attempt to use a closed link");
    return ll->l;
}

static double check_now(lua_State *L, int i)
{
    lua_Number n = luaL_checknumber(L, i);
    luaL_argcheck(L, n == n && n >= 0, i, "expected a time in seconds >= 0");
    return n;
}

static int l_link_new(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    mt_link_config cfg;
    mt_session_init init;
    memset(&cfg, 0, sizeof cfg);
    int crypto = lmt_link_options(L, 1, &cfg, &init);
    lua_getfield(L, 1, "wall_offset");
    cfg.wall_offset = luaL_optnumber(L, -1, 1.7e9);
    lua_pop(L, 1);
    if (crypto) return lmt_crypto_failed(L);
    cfg.peer = "DC";
    llink *ll = lmt_new_object(L, sizeof *ll, 0, LINK_MT);
    int err;
    ll->l = mt_link_new(&cfg, &err);
    if (!ll->l) {
        if (err == MT_ERR_NOMEM) return luaL_error(L, "core.link.new: out of memory");
        return luaL_argerror(L, 1, "bad field 'rsa_keys' (not an RSA public key PEM)");
    }
    return 1;
}

static int l_link_send(lua_State *L)
{
    mt_link *l = check_link(L);
    size_t n;
    const uint8_t *body = (const uint8_t *)luaL_checklstring(L, 2, &n);
    luaL_argcheck(L, n >= 4 && n % 4 == 0, 2, "expected a TL-encoded request (length a non-zero multiple of 4)");
    double now = check_now(L, 3), deadline = luaL_optnumber(L, 4, 0);
    uint64_t id;
    int rc = mt_link_send(l, body, n, now, deadline, &id);
    if (rc) return luaL_error(L, "send: %s", mt_strerror(rc));
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

static int l_link_take(lua_State *L)
{
    mt_link *l = check_link(L);
    const uint8_t *d;
    size_t n;
    int32_t code;
    int st = mt_link_take(l, (uint64_t)luaL_checkinteger(L, 2), &d, &n, &code);
    if (st == MT_ERR_ARG) return luaL_argerror(L, 2, "unknown request id (never sent, or released)");
    return lmt_push_answer(L, st, d, n, code);
}

static int l_link_release(lua_State *L) { mt_link_release(check_link(L), (uint64_t)luaL_checkinteger(L, 2)); return 0; }
static int l_link_connect(lua_State *L) { mt_link *l = check_link(L); mt_link_connect(l, check_now(L, 2), check_now(L, 3)); return 0; }
static int l_link_disconnect(lua_State *L) { mt_link *l = check_link(L); mt_link_disconnect(l, check_now(L, 2)); return 0; }
static int l_link_connected(lua_State *L) { mt_link *l = check_link(L); mt_link_connected(l, check_now(L, 2)); return 0; }
static int l_link_tick(lua_State *L) { mt_link *l = check_link(L); mt_link_tick(l, check_now(L, 2)); return 0; }

static int l_link_lost(lua_State *L)
{
    mt_link *l = check_link(L);
    static const char *const kinds[] = { "closed", "io", "timeout", NULL };
    static const int codes[] = { MT_ERR_CLOSED, MT_ERR_IO, MT_ERR_TIMEOUT };
    double now = check_now(L, 2);
    int k = luaL_checkoption(L, 3, NULL, kinds);
    mt_link_lost(l, now, codes[k], luaL_optstring(L, 4, NULL));
    return 0;
}

static int l_link_feed(lua_State *L)
{
    mt_link *l = check_link(L);
    size_t n;
    const uint8_t *p = (const uint8_t *)luaL_checklstring(L, 2, &n);
    mt_link_feed(l, p, n, check_now(L, 3));
    return 0;
}

static int l_link_output(lua_State *L)
{
    mt_link *l = check_link(L);
    const uint8_t *p;
    size_t n;
    mt_link_output(l, check_now(L, 2), &p, &n);
    lua_pushlstring(L, n ? (const char *)p : "", n);
    mt_link_written(l, n);
    return 1;
}

static int l_link_deadline(lua_State *L)
{
    double d = mt_link_deadline(check_link(L));
    if (d == HUGE_VAL) lua_pushnil(L); else lua_pushnumber(L, d);
    return 1;
}

static int l_link_state(lua_State *L)
{
    static const char *const names[] = { "down", "connecting", "open", "ready" };
    lua_pushstring(L, names[mt_link_state(check_link(L))]);
    return 1;
}

static int l_link_epoch(lua_State *L) { lua_pushinteger(L, mt_link_epoch(check_link(L))); return 1; }

static int l_link_events(lua_State *L)
{
    static const char *const names[] = { "", "connected", "answer", "update", "lost", "key" };
    mt_link *l = check_link(L);
    size_t n;
    const mt_link_event *ev = mt_link_events(l, &n);
    const uint8_t *data = mt_link_event_data(l);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, names[ev[i].kind]); lua_setfield(L, -2, "type");
        if (ev[i].kind == MT_LINK_EV_ANSWER) { lua_pushinteger(L, (lua_Integer)ev[i].id); lua_setfield(L, -2, "id"); }
        if (ev[i].kind == MT_LINK_EV_UPDATE) { lua_pushlstring(L, (const char *)data + ev[i].off, ev[i].len); lua_setfield(L, -2, "bytes"); }
        if (ev[i].kind == MT_LINK_EV_LOST) { lua_pushinteger(L, ev[i].code); lua_setfield(L, -2, "code"); }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    mt_link_events_clear(l);
    return 1;
}

static int l_link_error(lua_State *L)
{
    mt_link *l = check_link(L);
    const char *detail;
    lua_pushstring(L, mt_link_error(l, &detail));
    lua_pushstring(L, detail);
    lua_pushinteger(L, mt_link_error_code(l));
    return 3;
}

static int l_link_info(lua_State *L) { lmt_push_link_state(L, check_link(L)); return 1; }

static int l_link_close(lua_State *L)
{
    llink *ll = luaL_checkudata(L, 1, LINK_MT);
    mt_link_free(ll->l);
    ll->l = NULL;
    return 0;
}

static int l_link_tostring(lua_State *L)
{
    llink *ll = luaL_checkudata(L, 1, LINK_MT);
    if (!ll->l) lua_pushliteral(L, "mtproto.link (closed)");
    else lua_pushfstring(L, "mtproto.link (%d pending)", (int)mt_session_pending(mt_link_session(ll->l)));
    return 1;
}

static const luaL_Reg link_methods[] = {
    { "send", l_link_send }, { "take", l_link_take }, { "release", l_link_release },
    { "connect", l_link_connect }, { "disconnect", l_link_disconnect },
    { "connected", l_link_connected }, { "lost", l_link_lost }, { "feed", l_link_feed },
    { "output", l_link_output }, { "tick", l_link_tick }, { "deadline", l_link_deadline },
    { "state", l_link_state }, { "epoch", l_link_epoch }, { "events", l_link_events },
    { "error", l_link_error }, { "info", l_link_info }, { "close", l_link_close },
    { NULL, NULL },
};

int mt_open_link(lua_State *L)
{
    lmt_new_type(L, LINK_MT, link_methods, l_link_close, l_link_tostring);
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_link_new);
    lua_setfield(L, -2, "new");
    return 1;
}
