/* Lua binding: mtproto.core.conn, the socket shell of a link (the `core.conn` contract
 * of docs/DESIGN.md), plus the clocks and sleep the Lua client needs.
 *
 *   local c = core.conn.new{ host=, port=, <the core.link options>, log=, proxy= }
 *   proxy = { type = "socks5", host =, port = [, username =, password =] }
 *         | { type = "mtproxy", host =, port =, secret = <16 bytes>, mode = "plain"|"dd"|"ee",
 *             domain = <ee: the ClientHello's name> }   (mtproto.proxy.parse makes these)
 *   c:connect([timeout]) c:send(body [, timeout]) c:flush() c:wait(id [, timeout]) c:call(body [, timeout])
 *   c:send_bind(perm_key, nonce, expires_at) -> id: auth.bindTempAuthKey (expires_in = S among the
 *   link options makes temporary keys)
 *   c:state() c:updates() c:poll([timeout]) c:has_updates() c:connections() c:close()
 *   c:disconnect()  closes the socket only: the session and the requests waiting stay, the next
 *                   flush/wait reconnects and re-sends them under the same msg_ids
 *   c:release(id)   forgets a request (a late answer is ignored); unknown ids are fine
 * Event loops (never blocking): c:pump() c:check(id) -> bytes | nil, err | false (pending),
 *   and cqueues' pollable protocol: c:pollfd() c:events() ("r", "w", "rw" or nil) c:timeout()
 *   c:key_changes() -> auth keys made so far (a new one is to be saved), and whether updates
 *   wait (c:has_updates()): what a host looks at after each call, in one call
 * A wait that runs out returns nil, err with err.pending = true: the call goes on.
 * Runtime failures return nil, { code =, message =, detail = }. */
#include <errno.h>
#include <math.h>
#include <poll.h>
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

/* ---- the shell object ---- */

#define CONN_MT "mtproto.conn"

typedef struct lconn {
    mt_conn *c;
    lua_State *L;
    int log_ref;
    mt_buf logq;            /* log lines of the running C call: u8 level | u32 len | text */
} lconn;

/* The connection at index 1, its metatable known by its address `type` (lmt_push_conn_type;
 * the methods hold it as upvalue 1): luaL_checkudata looks the metatable up by its name in the
 * registry (the string cache, then a string key in the registry's hash), ~300 instructions,
 * most of a cheap method's cost. The metatable lives in the registry as long as the state, so
 * its address names it. Anything else gets luaL_checkudata's error. */
static lconn *check_conn_type(lua_State *L, const void *type)
{
    lconn *lc = lua_touserdata(L, 1);
    int ok = lc && lua_getmetatable(L, 1);
    if (ok) {
        ok = lua_topointer(L, -1) == type;
        lua_pop(L, 1);
    }
    if (!ok) lc = luaL_checkudata(L, 1, CONN_MT);
    if (!lc->c) luaL_error(L, "attempt to use a closed connection");
    lc->L = L;
    return lc;
}

#define check_conn(L) check_conn_type(L, lua_touserdata(L, lua_upvalueindex(1)))

/* The driver's log lines are queued, not handed to Lua at once: a logger may close the
 * connection, make a call on it or raise, and none of that may happen while the driver is
 * inside a wait (the connection would be freed or re-entered under its feet). The lines go
 * to the logger when the C call has returned (deliver_logs). */
static void conn_log(void *ud, int level, const char *msg)
{
    lconn *lc = ud;
    if (lc->log_ref == LUA_NOREF) return;
    size_t n = strlen(msg);
    uint8_t lv = (uint8_t)level;
    mt_buf_put(&lc->logq, &lv, 1);
    mt_buf_put_u32(&lc->logq, (uint32_t)n);
    mt_buf_put(&lc->logq, msg, n);
    if (lc->logq.oom) lc->logq.len = 0, lc->logq.oom = 0; /* lines are lost, never the call */
}

static int push_conn_err(lua_State *L, lconn *lc, int rc)
{
    return lmt_push_link_error(L, mt_conn_link(lc->c), rc);
}

/* Hands the queued lines to the logger (each call protected: a raising logger loses its own
 * line only). The queue is emptied first, so calls made by the logger queue their own lines.
 * Returns whether the connection is still open. */
static int deliver_logs(lua_State *L, lconn *lc)
{
    if (lc->logq.len == 0 || lc->log_ref == LUA_NOREF) { lc->logq.len = 0; return lc->c != NULL; }
    luaL_checkstack(L, 6, "log lines");
    lua_pushlstring(L, (const char *)lc->logq.data, lc->logq.len);
    lc->logq.len = 0;
    size_t n;
    const uint8_t *p = (const uint8_t *)lua_tolstring(L, -1, &n);
    lua_rawgeti(L, LUA_REGISTRYINDEX, lc->log_ref); /* held here: a close unrefs it */
    for (size_t off = 0; off + 5 <= n;) {
        size_t len = mt_le32(p + off + 1);
        lua_pushvalue(L, -1);
        lua_pushinteger(L, p[off]);
        lua_pushlstring(L, (const char *)p + off + 5, len);
        if (lua_pcall(L, 2, 0, 0) != LUA_OK) lua_pop(L, 1);
        off += 5 + len;
    }
    lua_pop(L, 2);
    return lc->c != NULL;
}

/* The end of every method that ran the driver: the results (nret values on the stack) stand
 * unless a logger closed the connection meanwhile; then the call reports CLOSED. */
static int deliver(lua_State *L, lconn *lc, int nret)
{
    if (deliver_logs(L, lc)) return nret;
    lua_pop(L, nret);
    return lmt_fail(L, MT_ERR_CLOSED, "CLOSED", "the connection was closed by a callback during the call");
}

static const char *proxy_str(lua_State *L, int t, const char *k, int required)
{
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1) && !required) { lua_pop(L, 1); return NULL; }
    if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pushfstring(L, "field 'proxy.%s' must be a string", k);
        luaL_argerror(L, 1, lua_tostring(L, -1));
    }
    const char *v = lua_tostring(L, -1);
    lua_pop(L, 1); /* anchored by the proxy table */
    return v;
}

/* options.proxy into *p; 0 when there is none. */
static int proxy_field(lua_State *L, mt_proxy_config *p)
{
    if (lua_getfield(L, 1, "proxy") == LUA_TNIL) { lua_pop(L, 1); return 0; }
    if (!lua_istable(L, -1)) luaL_argerror(L, 1, "field 'proxy' must be a table");
    int t = lua_gettop(L);
    const char *type = proxy_str(L, t, "type", 1);
    p->host = proxy_str(L, t, "host", 1);
    lua_getfield(L, t, "port");
    int ok;
    lua_Integer port = lua_tointegerx(L, -1, &ok);
    if (!ok || port < 1 || port > 65535) luaL_argerror(L, 1, "field 'proxy.port' must be an integer in 1..65535");
    lua_pop(L, 1);
    p->port = (int)port;
    if (strcmp(type, "socks5") == 0) {
        p->type = MT_PROXY_SOCKS5;
        p->username = proxy_str(L, t, "username", 0);
        p->password = proxy_str(L, t, "password", 0);
    } else if (strcmp(type, "mtproxy") == 0) {
        p->type = MT_PROXY_MTPROXY;
        size_t n;
        lua_getfield(L, t, "secret");
        const char *sec = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
        if (!sec || n != 16) luaL_argerror(L, 1, "field 'proxy.secret' must be 16 bytes");
        memcpy(p->secret, sec, 16);
        lua_pop(L, 1);
        const char *mode = proxy_str(L, t, "mode", 0);
        p->secret_kind = !mode || !strcmp(mode, "plain") ? MT_SECRET_PLAIN : !strcmp(mode, "dd") ? MT_SECRET_DD
                       : !strcmp(mode, "ee") ? MT_SECRET_EE : -1;
        if (p->secret_kind < 0) luaL_argerror(L, 1, "field 'proxy.mode' must be \"plain\", \"dd\" or \"ee\"");
        p->domain = proxy_str(L, t, "domain", p->secret_kind == MT_SECRET_EE);
    } else {
        luaL_argerror(L, 1, "field 'proxy.type' must be \"socks5\" or \"mtproxy\"");
    }
    return 1;
}

static int l_conn_new(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    mt_conn_config cfg;
    mt_session_init init;
    memset(&cfg, 0, sizeof cfg);
    if (lua_getfield(L, 1, "host") != LUA_TSTRING) return luaL_argerror(L, 1, "field 'host' must be a string");
    cfg.host = lua_tostring(L, -1);
    lua_pop(L, 1); /* anchored by the options table */
    lua_getfield(L, 1, "port");
    int ok;
    lua_Integer port = lua_tointegerx(L, -1, &ok);
    if (lua_isnil(L, -1)) return luaL_argerror(L, 1, "field 'port' is required");
    if (!ok || port < 1 || port > 65535) return luaL_argerror(L, 1, "field 'port' must be an integer in 1..65535");
    lua_pop(L, 1);
    cfg.port = (int)port;
    int crypto = lmt_link_options(L, 1, &cfg.link, &init);
    lua_getfield(L, 1, "max_updates");
    if (!lua_isnil(L, -1)) {
        lua_Integer mu = lua_tointegerx(L, -1, &ok);
        if (!ok || mu < 1 || mu > 1000000) return luaL_argerror(L, 1, "field 'max_updates' must be an integer in 1..1000000");
        cfg.max_updates = (size_t)mu;
    }
    lua_pop(L, 1);
    mt_proxy_config proxy;
    memset(&proxy, 0, sizeof proxy);
    if (proxy_field(L, &proxy)) cfg.proxy = &proxy;
    lua_getfield(L, 1, "log");
    int has_log = !lua_isnil(L, -1);
    if (has_log && !lua_isfunction(L, -1)) return luaL_argerror(L, 1, "field 'log' must be a function");
    if (crypto) {
        mt_wipe(proxy.secret, sizeof proxy.secret);
        return lmt_crypto_failed(L);
    }

    lconn *lc = lua_newuserdatauv(L, sizeof *lc, 0);
    lc->c = NULL; lc->L = L; lc->log_ref = LUA_NOREF;
    mt_buf_init(&lc->logq);
    luaL_setmetatable(L, CONN_MT);
    if (has_log) {
        lua_pushvalue(L, -2);
        lc->log_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        cfg.link.log = conn_log; cfg.link.log_ud = lc; cfg.link.log_level = MT_LOG_DEBUG;
    }
    int err;
    lc->c = mt_conn_new(&cfg, &err);
    mt_wipe(proxy.secret, sizeof proxy.secret);
    if (!lc->c) {
        if (err == MT_ERR_NOMEM) return luaL_error(L, "core.conn.new: out of memory");
        return luaL_argerror(L, 1, cfg.link.rsa_pems ? "bad field 'rsa_keys' (not an RSA public key PEM) or host/port"
                                                     : "bad host, port or proxy");
    }
    return 1;
}

static int l_conn_connect(lua_State *L)
{
    lconn *lc = check_conn(L);
    double timeout = -1;
    if (!lua_isnoneornil(L, 2)) {
        timeout = luaL_checknumber(L, 2);
        luaL_argcheck(L, timeout > 0 && timeout < 1e6, 2, "expected a timeout in seconds > 0");
    }
    int rc = mt_conn_connect(lc->c, timeout);
    if (rc) return deliver(L, lc, push_conn_err(L, lc, rc));
    lua_pushboolean(L, 1);
    return deliver(L, lc, 1);
}

static double opt_timeout(lua_State *L, int i)
{
    if (lua_isnoneornil(L, i)) return -1;
    double t = luaL_checknumber(L, i);
    luaL_argcheck(L, t >= 0 && t < 1e6, i, "expected a timeout in seconds >= 0");
    return t;
}

static const uint8_t *check_body(lua_State *L, size_t *n)
{
    const uint8_t *body = (const uint8_t *)luaL_checklstring(L, 2, n);
    luaL_argcheck(L, *n >= 4 && *n % 4 == 0, 2, "expected a TL-encoded request (length a non-zero multiple of 4)");
    return body;
}

/* A request the session refused (mt_conn_send's errors) raises; a too large one names
 * argument `arg`, the request's bytes or what they were encoded from. */
static void send_failed(lua_State *L, int rc, const char *what, int arg)
{
    if (rc == MT_ERR_RANGE) luaL_argerror(L, arg, "request larger than 1 MiB");
    luaL_error(L, "%s: %s", what, mt_strerror(rc));
}

static uint64_t send_body(lua_State *L, lconn *lc, const char *what)
{
    size_t n;
    const uint8_t *body = check_body(L, &n);
    double t = opt_timeout(L, 3);
    uint64_t id;
    int rc = mt_conn_send(lc->c, body, n, t, &id);
    if (rc) send_failed(L, rc, what, 2);
    return id;
}

static int l_conn_send(lua_State *L)
{
    lconn *lc = check_conn(L);
    lua_pushinteger(L, (lua_Integer)send_body(L, lc, "send"));
    return 1;
}

/* c:send_bind(perm_key, nonce, expires_at) -> id: auth.bindTempAuthKey over the connection's
 * (temporary) key, built when it is sent. */
static int l_conn_send_bind(lua_State *L)
{
    lconn *lc = check_conn(L);
    const uint8_t *perm = lmt_check_len(L, 2, 256, "perm_key");
    lua_Integer nonce = luaL_checkinteger(L, 3), exp = luaL_checkinteger(L, 4);
    luaL_argcheck(L, exp >= INT32_MIN && exp <= INT32_MAX, 4, "expires_at must fit in 32 bits");
    double now = mt_clock_monotonic();
    uint64_t id;
    int rc = mt_link_send_bind(mt_conn_link(lc->c), perm, (int64_t)nonce, (int32_t)exp, now, 0, &id);
    if (rc) return luaL_error(L, "send_bind: %s", mt_strerror(rc));
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

static int l_conn_flush(lua_State *L)
{
    lconn *lc = check_conn(L);
    int rc = mt_conn_flush(lc->c);
    if (rc) return deliver(L, lc, push_conn_err(L, lc, rc));
    lua_pushboolean(L, 1);
    return deliver(L, lc, 1);
}

/* Waits for id; an answer (or a failure of the call itself) releases it; a wait that runs
 * out leaves the call pending. */
static int waited(lua_State *L, lconn *lc, uint64_t id, int rc, const uint8_t *d, size_t n, int32_t code)
{
    if (rc == MT_ERR_ARG) return luaL_argerror(L, 2, "unknown request id (never sent, or already answered)");
    if (rc < 0) {
        /* the wait ran out, the call goes on */
        push_conn_err(L, lc, rc);
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "pending");
        return 2;
    }
    int nret = lmt_push_answer(L, rc, d, n, code);
    mt_conn_release(lc->c, id);
    return nret;
}

static int wait_id(lua_State *L, lconn *lc, uint64_t id, double timeout)
{
    const uint8_t *d;
    size_t n;
    int32_t code;
    int rc = mt_conn_wait(lc->c, id, timeout, &d, &n, &code);
    return waited(L, lc, id, rc, d, n, code);
}

static int l_conn_wait(lua_State *L)
{
    lconn *lc = check_conn(L);
    lua_Integer id = luaL_checkinteger(L, 2);
    return deliver(L, lc, wait_id(L, lc, (uint64_t)id, opt_timeout(L, 3)));
}

static int l_conn_call(lua_State *L)
{
    lconn *lc = check_conn(L);
    size_t n, dn;
    const uint8_t *body = check_body(L, &n), *d;
    double t = opt_timeout(L, 3);
    uint64_t id;
    int32_t code;
    int rc = mt_conn_call(lc->c, body, n, t, &id, &d, &dn, &code);
    if (!id) send_failed(L, rc, "call", 2);
    int nret = waited(L, lc, id, rc, d, dn, code);
    if (lua_isnil(L, -nret)) mt_conn_release(lc->c, id); /* a call that failed is given up */
    return deliver(L, lc, nret);
}

int lmt_conn_call(lua_State *L, const void *type, const uint8_t *body, size_t n, int body_arg, int timeout_arg,
                  lmt_answer *a)
{
    lconn *lc = check_conn_type(L, type);
    double timeout = opt_timeout(L, timeout_arg);
    uint64_t id;
    const uint8_t *d;
    size_t dn;
    int32_t code;
    int rc = mt_conn_call(lc->c, body, n, timeout, &id, &d, &dn, &code);
    if (!id) send_failed(L, rc, "call", body_arg);
    if (rc != MT_REQ_DONE) { /* as l_conn_call: nil, err, and the call is given up */
        int nret = waited(L, lc, id, rc, d, dn, code);
        mt_conn_release(lc->c, id);
        return nret;
    }
    /* copied before the request is released (that frees its answer) and before anything
     * runs Lua code (a finalizer could close the connection) */
    int pushed = 0;
    if (dn <= sizeof a->small) {
        memcpy(a->small, d, dn);
        a->p = a->small;
    } else {
        a->p = (const uint8_t *)lua_pushlstring(L, (const char *)d, dn);
        pushed = 1;
    }
    a->n = dn;
    mt_conn_release(lc->c, id);
    return pushed ? -1 : 0;
}

int lmt_conn_deliver(lua_State *L, int nret)
{
    lconn *lc = lua_touserdata(L, 1); /* lmt_conn_call checked it */
    return deliver(L, lc, nret);
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
    lmt_push_link_state(L, mt_conn_link(lc->c));
    lua_pushinteger(L, (lua_Integer)mt_conn_updates_dropped(lc->c)); lua_setfield(L, -2, "updates_dropped");
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

/* ---- event loops ---- */

static int l_conn_keep_open(lua_State *L)
{
    lconn *lc = check_conn(L);
    lua_Number t = luaL_checknumber(L, 2);
    if (!(t >= 0)) return luaL_argerror(L, 2, "expected seconds >= 0");
    mt_conn_keep_open(lc->c, (double)t);
    return 0;
}

static int l_conn_pump(lua_State *L)
{
    lconn *lc = check_conn(L);
    mt_conn_pump(lc->c);
    deliver_logs(L, lc);
    return 0;
}

/* The state of a call without any I/O: its answer (released), nil, err, or false. */
static int l_conn_check(lua_State *L)
{
    lconn *lc = check_conn(L);
    uint64_t id = (uint64_t)luaL_checkinteger(L, 2);
    const uint8_t *d;
    size_t n;
    int32_t code;
    int st = mt_link_take(mt_conn_link(lc->c), id, &d, &n, &code);
    if (st == MT_ERR_ARG) return luaL_argerror(L, 2, "unknown request id (never sent, or already answered)");
    int nret = lmt_push_answer(L, st, d, n, code);
    if (st != MT_REQ_PENDING) mt_conn_release(lc->c, id);
    return nret;
}

static int l_conn_pollfd(lua_State *L)
{
    lconn *lc = check_conn(L);
    lua_pushinteger(L, mt_conn_fd(lc->c));
    return 1;
}

static int l_conn_events(lua_State *L)
{
    lconn *lc = check_conn(L);
    int ev = mt_conn_events(lc->c);
    if (!ev) { lua_pushnil(L); return 1; }
    lua_pushstring(L, (ev & POLLIN) && (ev & POLLOUT) ? "rw" : (ev & POLLIN) ? "r" : "w");
    return 1;
}

static int l_conn_timeout(lua_State *L)
{
    lconn *lc = check_conn(L);
    double t = mt_conn_timeout(lc->c);
    if (t < 0) lua_pushnil(L); else lua_pushnumber(L, t);
    return 1;
}

static int l_conn_key_changes(lua_State *L)
{
    lconn *lc = check_conn(L);
    lua_pushinteger(L, mt_conn_key_changes(lc->c));
    lua_pushboolean(L, mt_conn_updates(lc->c)->len > 0);
    return 2;
}

/* conn:poll([timeout]) -> true when updates wait (read them with conn:updates()), false when
 * none came in time | nil, err */
static int l_conn_poll(lua_State *L)
{
    lconn *lc = check_conn(L);
    double timeout = -1;
    if (!lua_isnoneornil(L, 2)) {
        timeout = luaL_checknumber(L, 2);
        luaL_argcheck(L, timeout >= 0 && timeout < 1e6, 2, "expected a timeout in seconds >= 0");
    }
    int rc = mt_conn_poll(lc->c, timeout);
    if (rc < 0) return push_conn_err(L, lc, rc);
    lua_pushboolean(L, mt_conn_updates(lc->c)->len > 0);
    return 1;
}

/* conn:has_updates() -> boolean (cheap: no table is made) */
static int l_conn_has_updates(lua_State *L)
{
    lconn *lc = check_conn(L);
    lua_pushboolean(L, mt_conn_updates(lc->c)->len > 0);
    return 1;
}

/* conn:connections() -> TCP connections opened so far (a change means a reconnect) */
static int l_conn_connections(lua_State *L)
{
    lconn *lc = check_conn(L);
    lua_pushinteger(L, (lua_Integer)mt_conn_connections(lc->c));
    return 1;
}

static int l_conn_close(lua_State *L)
{
    lconn *lc = luaL_checkudata(L, 1, CONN_MT);
    if (lc->c) { mt_conn_free(lc->c); lc->c = NULL; }
    mt_buf_free(&lc->logq);
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
    { "send_bind", l_conn_send_bind },
    { "flush", l_conn_flush },
    { "wait", l_conn_wait },
    { "call", l_conn_call },
    { "state", l_conn_state },
    { "updates", l_conn_updates },
    { "poll", l_conn_poll },
    { "has_updates", l_conn_has_updates },
    { "connections", l_conn_connections },
    { "close", l_conn_close },
    { "disconnect", l_conn_disconnect },
    { "release", l_conn_release },
    { "pump", l_conn_pump },
    { "keep_open", l_conn_keep_open },
    { "check", l_conn_check },
    { "pollfd", l_conn_pollfd },
    { "events", l_conn_events },
    { "timeout", l_conn_timeout },
    { "key_changes", l_conn_key_changes },
    { NULL, NULL },
};

static const luaL_Reg conn_funcs[] = {
    { "new", l_conn_new },
    { "monotonic", l_monotonic },
    { "now", l_now },
    { "sleep", l_sleep },
    { NULL, NULL },
};

void lmt_push_conn_type(lua_State *L)
{
    if (lmt_new_type(L, CONN_MT, NULL, l_conn_close, l_conn_tostring)) {
        lua_createtable(L, 0, (int)(sizeof conn_methods / sizeof conn_methods[0]));
        lua_pushlightuserdata(L, (void *)lua_topointer(L, -2));
        luaL_setfuncs(L, conn_methods, 1);
        lua_setfield(L, -2, "__index");
    }
}

int mt_open_conn(lua_State *L)
{
    lmt_push_conn_type(L);
    lua_pop(L, 1);
    luaL_newlib(L, conn_funcs);
    return 1;
}
