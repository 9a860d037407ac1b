/* Lua binding: mtproto.core.proxy, the sans-IO proxy stages (for specs and other
 * event loops; the driver uses them through core.conn's `proxy` option).
 *
 *   core.proxy.socks5(host, port [, user, pass]) -> s
 *     s:start() -> bytes                    (the greeting)
 *     s:feed(bytes) -> out, done, used | nil, err   (err.reply: the CONNECT reply code)
 *     s:close() (also __gc, __close)
 *   core.proxy.faketls_hello(secret16, domain, now [, { random = bytes }]) -> hello, client_random
 *   core.proxy.faketls_sign(secret, hello, now) -> hello with its digest
 *   core.proxy.faketls_client_check(secret, client_random, bytes) -> used | false | nil, err
 *   core.proxy.faketls_server_check(secret16, bytes, now, max_skew [, max_record])
 *       (max_record: the largest hello record taken, 767 (Telegram's MTProxy) by default, up to 16384)
 *       -> used, client_random, session_id | false | nil, err
 *   core.proxy.faketls_server_hello(secret16, client_random, session_id [, { random = bytes }]) -> bytes
 *   core.proxy.tls_wrap(bytes) -> records
 *   core.proxy.tls_reader() -> r;  r:feed(bytes) -> payload | nil, err
 *
 * err = { code = MT_ERR_*, message = text [, reply = n] }. */
#include <string.h>
#include "lmt.h"
#include "mt_faketls.h"
#include "mt_socks5.h"

#define SOCKS5_MT "mtproto.socks5"
#define TLS_READER_MT "mtproto.tls_reader"

typedef struct lsocks5 { mt_socks5 *s; } lsocks5;
typedef struct ltls_reader { mt_tls_reader r; int open; } ltls_reader;

/* nil, err (lmt_fail); a SOCKS5 reply code also as err.reply, its text as the detail. */
static int push_err(lua_State *L, int code, int reply)
{
    lmt_fail(L, code, NULL, reply ? mt_socks5_reply_text(reply) : NULL);
    if (reply) {
        lua_pushinteger(L, reply);
        lua_setfield(L, -2, "reply");
    }
    return 2;
}

static const uint8_t *check_len(lua_State *L, int i, size_t want, const char *what)
{
    size_t n;
    const char *s = luaL_checklstring(L, i, &n);
    if (n != want) luaL_argerror(L, i, what);
    return (const uint8_t *)s;
}

/* ---- SOCKS5 ---- */

static lsocks5 *check_socks5(lua_State *L)
{
    lsocks5 *u = luaL_checkudata(L, 1, SOCKS5_MT);
    if (!u->s) luaL_error(L, "attempt to use a closed socks5 client");
    return u;
}

static int l_socks5(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    lua_Integer port = luaL_checkinteger(L, 2);
    const char *user = luaL_optstring(L, 3, NULL), *pass = luaL_optstring(L, 4, NULL);
    lsocks5 *u = lmt_new_object(L, sizeof *u, 0, SOCKS5_MT);
    int err;
    u->s = mt_socks5_new(host, (int)(port > 0 && port <= 65535 ? port : 0), user, pass, &err);
    if (err == MT_ERR_ARG) return luaL_error(L, "socks5: bad host, port or login (each 1..255 bytes, both or none)");
    if (!u->s) return luaL_error(L, "out of memory");
    return 1;
}

static int s_start(lua_State *L)
{
    lsocks5 *u = check_socks5(L);
    mt_buf out;
    mt_buf_init(&out);
    int rc = mt_socks5_start(u->s, &out);
    if (rc < 0) { mt_buf_free(&out); return push_err(L, rc, 0); }
    return lmt_push_buf(L, &out);
}

static int s_feed(lua_State *L)
{
    lsocks5 *u = check_socks5(L);
    size_t n, used;
    const char *in = luaL_checklstring(L, 2, &n);
    mt_buf out;
    mt_buf_init(&out);
    int rc = mt_socks5_feed(u->s, (const uint8_t *)in, n, &out, &used);
    if (rc < 0) { mt_buf_free(&out); return push_err(L, rc, mt_socks5_reply(u->s)); }
    lmt_push_buf(L, &out);
    lua_pushboolean(L, rc == 1);
    lua_pushinteger(L, (lua_Integer)used);
    return 3;
}

static int s_close(lua_State *L)
{
    lsocks5 *u = luaL_checkudata(L, 1, SOCKS5_MT);
    mt_socks5_free(u->s);
    u->s = NULL;
    return 0;
}

static int s_tostring(lua_State *L)
{
    lsocks5 *u = luaL_checkudata(L, 1, SOCKS5_MT);
    lua_pushfstring(L, "mtproto.socks5 (%s)", u->s ? "open" : "closed");
    return 1;
}

/* ---- fake TLS ---- */

static int opt_rnd(lua_State *L, int opts, lmt_replay *rep, mt_random *rnd)
{
    if (lua_isnoneornil(L, opts)) return 0;
    luaL_checktype(L, opts, LUA_TTABLE);
    if (lua_getfield(L, opts, "random") == LUA_TNIL) { lua_pop(L, 1); return 0; }
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    if (!s) luaL_argerror(L, opts, "'random' must be a string of bytes");
    *rnd = lmt_replay_init(rep, s, n);   /* the string stays on the stack meanwhile */
    return 1;
}

static int l_faketls_hello(lua_State *L)
{
    const uint8_t *secret = check_len(L, 1, 16, "secret must be 16 bytes");
    size_t dlen;
    const char *domain = luaL_checklstring(L, 2, &dlen);
    lua_Integer now = luaL_checkinteger(L, 3);
    lmt_replay rep;
    mt_random r;
    int fixed = opt_rnd(L, 4, &rep, &r);
    mt_buf out;
    mt_buf_init(&out);
    uint8_t cr[32];
    int rc = mt_faketls_client_hello(secret, domain, dlen, now, fixed ? &r : NULL, &out, cr);
    if (fixed && rep.exhausted) { mt_buf_free(&out); return luaL_error(L, "the fixed random bytes ran out"); }
    if (rc == MT_ERR_ARG) luaL_argerror(L, 2, "domain must be 1..182 bytes");
    if (rc < 0) { mt_buf_free(&out); return push_err(L, rc, 0); }
    lmt_push_buf(L, &out);
    lua_pushlstring(L, (const char *)cr, 32);
    return 2;
}

static int l_faketls_sign(lua_State *L)
{
    size_t sl, n;
    const char *secret = luaL_checklstring(L, 1, &sl);
    const char *hello = luaL_checklstring(L, 2, &n);
    lua_Integer now = luaL_checkinteger(L, 3);
    if (n < MT_FAKETLS_RANDOM_AT + 32) luaL_argerror(L, 2, "hello too short");
    luaL_Buffer b;
    uint8_t *p = (uint8_t *)luaL_buffinitsize(L, &b, n);
    memcpy(p, hello, n);
    memset(p + MT_FAKETLS_RANDOM_AT, 0, 32);
    if (mt_faketls_sign((const uint8_t *)secret, sl, p, n, now) < 0) return luaL_error(L, "HMAC failed");
    luaL_pushresultsize(&b, n);
    return 1;
}

static int l_faketls_client_check(lua_State *L)
{
    size_t sl, n, used = 0;
    const char *secret = luaL_checklstring(L, 1, &sl);
    const uint8_t *cr = check_len(L, 2, 32, "client_random must be 32 bytes");
    const char *in = luaL_checklstring(L, 3, &n);
    int rc = mt_faketls_client_check((const uint8_t *)secret, sl, cr, (const uint8_t *)in, n, &used);
    if (rc < 0) return push_err(L, rc, 0);
    if (rc == 0) lua_pushboolean(L, 0);
    else lua_pushinteger(L, (lua_Integer)used);
    return 1;
}

static int l_faketls_server_check(lua_State *L)
{
    const uint8_t *secret = check_len(L, 1, 16, "secret must be 16 bytes");
    size_t n, used = 0;
    const char *in = luaL_checklstring(L, 2, &n);
    lua_Integer now = luaL_checkinteger(L, 3), skew = luaL_checkinteger(L, 4);
    lua_Integer max_record = luaL_optinteger(L, 5, MT_FAKETLS_HELLO_MAX);
    luaL_argcheck(L, max_record >= 512 && max_record <= MT_FAKETLS_HELLO_MAX_ANY, 5, "expected 512..16384");
    uint8_t cr[32], sid[32];
    int rc = mt_faketls_server_check(secret, (const uint8_t *)in, n, (size_t)max_record, now, skew, &used, cr, sid);
    if (rc < 0) return push_err(L, rc, 0);
    if (rc == 0) { lua_pushboolean(L, 0); return 1; }
    lua_pushinteger(L, (lua_Integer)used);
    lua_pushlstring(L, (const char *)cr, 32);
    lua_pushlstring(L, (const char *)sid, 32);
    return 3;
}

static int l_faketls_server_hello(lua_State *L)
{
    const uint8_t *secret = check_len(L, 1, 16, "secret must be 16 bytes");
    const uint8_t *cr = check_len(L, 2, 32, "client_random must be 32 bytes");
    const uint8_t *sid = check_len(L, 3, 32, "session_id must be 32 bytes");
    lmt_replay rep;
    mt_random r;
    int fixed = opt_rnd(L, 4, &rep, &r);
    mt_buf out;
    mt_buf_init(&out);
    int rc = mt_faketls_server_hello(secret, cr, sid, fixed ? &r : NULL, &out);
    if (fixed && rep.exhausted) { mt_buf_free(&out); return luaL_error(L, "the fixed random bytes ran out"); }
    if (rc < 0) { mt_buf_free(&out); return push_err(L, rc, 0); }
    return lmt_push_buf(L, &out);
}

static int l_tls_wrap(lua_State *L)
{
    size_t n;
    const char *in = luaL_checklstring(L, 1, &n);
    mt_buf out;
    mt_buf_init(&out);
    int rc = mt_tls_wrap((const uint8_t *)in, n, &out);
    if (rc < 0) { mt_buf_free(&out); return push_err(L, rc, 0); }
    return lmt_push_buf(L, &out);
}

static int l_tls_reader(lua_State *L)
{
    ltls_reader *u = lmt_new_object(L, sizeof *u, 0, TLS_READER_MT);
    u->open = 1;
    return 1;
}

static int r_feed(lua_State *L)
{
    ltls_reader *u = luaL_checkudata(L, 1, TLS_READER_MT);
    if (!u->open) return luaL_error(L, "attempt to use a closed tls reader");
    size_t n;
    const char *in = luaL_checklstring(L, 2, &n);
    mt_buf out;
    mt_buf_init(&out);
    int rc = mt_tls_unwrap(&u->r, (const uint8_t *)in, n, &out);
    if (rc < 0) { mt_buf_free(&out); return push_err(L, rc, 0); }
    return lmt_push_buf(L, &out);
}

static int r_close(lua_State *L)
{
    ltls_reader *u = luaL_checkudata(L, 1, TLS_READER_MT);
    u->open = 0;
    return 0;
}

static int r_tostring(lua_State *L)
{
    ltls_reader *u = luaL_checkudata(L, 1, TLS_READER_MT);
    lua_pushfstring(L, "mtproto.tls_reader (%s)", u->open ? "open" : "closed");
    return 1;
}

int mt_open_proxy(lua_State *L)
{
    static const luaL_Reg smethods[] = {
        { "start", s_start }, { "feed", s_feed }, { "close", s_close }, { NULL, NULL },
    };
    static const luaL_Reg rmethods[] = { { "feed", r_feed }, { "close", r_close }, { NULL, NULL } };
    lmt_new_type(L, SOCKS5_MT, smethods, s_close, s_tostring);
    lmt_new_type(L, TLS_READER_MT, rmethods, r_close, r_tostring);
    lua_pop(L, 2);
    static const luaL_Reg fns[] = {
        { "socks5", l_socks5 },
        { "faketls_hello", l_faketls_hello },
        { "faketls_sign", l_faketls_sign },
        { "faketls_client_check", l_faketls_client_check },
        { "faketls_server_check", l_faketls_server_check },
        { "faketls_server_hello", l_faketls_server_hello },
        { "tls_wrap", l_tls_wrap },
        { "tls_reader", l_tls_reader },
        { NULL, NULL },
    };
    luaL_newlib(L, fns);
    return 1;
}
