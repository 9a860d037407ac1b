/* Lua binding: mtproto.core.auth -- the handshake client and server objects, RSA key helpers
 * and plain-message framing.
 *
 *   local c = core.auth.client{ rsa_keys = { pem, ... } | nil, dc_id = 2, expires_in = 0,
 *                               random = "<bytes fed in order>" | nil,
 *                               dh_cache = core.auth.dh_cache() | nil (share verified primes),
 *                               split_modexp = true | nil (each modexp in MT_DH_PARTS pieces) }
 *   c:step(body | nil, now) --> "send", out | "done" | nil, err
 *   c:input(body | nil, now) --> "work" | "send", out | "done" | nil, err   (the same step
 *   c:work()                --> "work" | "send", out | nil, err     in bounded pieces)
 *   c:ops()                 --> pieces of math done so far (each work() call is one)
 *   c:result()              --> { auth_key=, auth_key_id=, server_salt=, time_offset= } | nil, err
 *   local s = core.auth.server{ key_pem = pem | nil (generate), random = ... }
 *   s:step(body, now)       --> "send", out | "done", out | nil, err
 *   s:result()              --> { auth_key=, auth_key_id=, server_salt=, dc_id=, expires_in= }
 *   s:public_pem(), s:private_pem(), s:fingerprint()
 *   core.auth.rsa_generate() --> private_pem, public_pem, fingerprint
 *   core.auth.rsa_fingerprint(pem) --> fingerprint | nil, err
 *   core.auth.rsa_unpad(private_pem, encrypted_data) --> 192 bytes | nil, err   (spec helper)
 *   core.auth.rsa_pad(public_pem, data [, random]) --> 256 bytes | nil, err          (spec helper)
 *   core.auth.factor_pq(pq) --> p, q | nil, err                                  (spec helper)
 *   core.auth.plain_wrap(msg_id, body) --> bytes | nil, err; core.auth.plain_unwrap(bytes) --> msg_id, body | nil, err
 * Temporary-key binding (mt_pfs.h); b = { nonce=, temp_auth_key_id=, temp_session_id=, expires_at=,
 * msg_id= } (perm_auth_key_id: the permanent key's own id), random as above:
 *   core.auth.bind_request(perm_key, b [, random]) --> auth.bindTempAuthKey body | nil, err
 *   core.auth.bind_encrypt(perm_key, b [, random]) --> encrypted_message | nil, err
 *   core.auth.bind_parse(body) --> { perm_auth_key_id=, nonce=, expires_at=, encrypted_message= } | nil, err
 *   core.auth.bind_verify(perm_key, encrypted_message, b) --> true | nil, err
 * `err` is the bindings' one error table (lmt_fail): { code = MT_ERR_*, message = its name
 * (mt_err_name, or HANDSHAKE_INCOMPLETE, RSA_KEY_INVALID), detail = the check that failed }.
 * The client's temporary-key policy (mt_pfs.h):
 *   core.auth.pfs_renew_at(expires_at, expires_in) --> server time from which the key is replaced
 *   core.auth.pfs_bind_refused(perm_age, attempt, remade) --> "give_up" | "new_temp" | "new_both"
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lmt.h"
#include "mt_auth.h"
#include "mt_dh.h"
#include "mt_pfs.h"

#define CLIENT_MT "mtproto.auth.client"
#define SERVER_MT "mtproto.auth.server"
#define CACHE_MT "mtproto.auth.dh_cache"

typedef struct lclient {
    mt_auth_client *c;
    mt_rsa_keys *keys;
    mt_dh_cache cache;
    lmt_replay rep; /* options.random, anchored as user value 1 */
} lclient;

typedef struct lserver {
    mt_auth_server *s;
    mt_rsa_priv *key;
    lmt_replay rep; /* options.random, anchored as user value 1 */
} lserver;

static int opt_field_int(lua_State *L, int t, const char *k, lua_Integer def, lua_Integer lo, lua_Integer hi)
{
    int ty = lua_getfield(L, t, k);
    lua_Integer v = def;
    if (ty != LUA_TNIL) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok || v < lo || v > hi) {
            lua_pushfstring(L, "options.%s must be an integer in %I..%I", k, lo, hi);
            return luaL_argerror(L, 1, lua_tostring(L, -1));
        }
    }
    lua_pop(L, 1);
    return (int)v;
}

static const uint8_t *opt_input(lua_State *L, int i, size_t *n)
{
    *n = 0;
    if (lua_isnoneornil(L, i)) return NULL;
    return (const uint8_t *)luaL_checklstring(L, i, n);
}

/* The options table at 1 (nil: an empty one) and, on top, a new closed object of type tname. */
static void *new_object(lua_State *L, size_t size, int nuv, const char *tname)
{
    if (lua_isnoneornil(L, 1)) { lua_settop(L, 0); lua_newtable(L); }
    luaL_checktype(L, 1, LUA_TTABLE);
    return lmt_new_object(L, size, nuv, tname);
}

/* options.random: replayed through rep, anchored in the object at ud; none: the CSPRNG. */
static mt_random opt_random(lua_State *L, int ud, lmt_replay *rep)
{
    mt_random rnd = { NULL, NULL };
    lmt_opt_random(L, 1, ud, rep, &rnd, 1, "options.random must be a string of bytes");
    return rnd;
}

/* A step's outcome: "send", bytes | "done" [, bytes if done_sends] | nil, err (the check
 * that failed in err.detail). Frees out. */
static int push_step(lua_State *L, int rc, mt_buf *out, int done_sends, const char *detail)
{
    if (rc == MT_AUTH_SEND || (rc == MT_AUTH_DONE && done_sends)) {
        lua_pushstring(L, rc == MT_AUTH_SEND ? "send" : "done");
        lmt_push_buf(L, out);
        return 2;
    }
    mt_buf_free(out);
    if (rc == MT_AUTH_DONE) {
        lua_pushliteral(L, "done");
        return 1;
    }
    return lmt_fail(L, rc, NULL, detail);
}

static int32_t opt_now(lua_State *L, int i)
{
    if (lua_isnoneornil(L, i)) return (int32_t)time(NULL);
    lua_Integer v = luaL_checkinteger(L, i);
    if (v < INT32_MIN || v > INT32_MAX) luaL_argerror(L, i, "now must fit in 32 bits");
    return (int32_t)v;
}

/* ---- client ---------------------------------------------------------------------------------- */

static lclient *check_client(lua_State *L)
{
    lclient *u = luaL_checkudata(L, 1, CLIENT_MT);
    if (!u->c) luaL_error(L, "attempt to use a closed auth client");
    return u;
}

static int client_close(lua_State *L)
{
    lclient *u = luaL_checkudata(L, 1, CLIENT_MT);
    mt_auth_client_free(u->c);
    u->c = NULL;
    mt_rsa_keys_free(u->keys);
    u->keys = NULL;
    mt_wipe(&u->cache, sizeof u->cache);
    return 0;
}

static int l_client(lua_State *L)
{
    lclient *u = new_object(L, sizeof *u, 2, CLIENT_MT);
    int ud = lua_gettop(L);
    mt_dh_cache *cache = &u->cache;
    if (lua_getfield(L, 1, "dh_cache") != LUA_TNIL) {
        cache = luaL_testudata(L, -1, CACHE_MT);
        if (!cache) return luaL_argerror(L, 1, "options.dh_cache must come from core.auth.dh_cache()");
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, ud, 2); /* keep the shared cache alive as long as the client */
    }
    lua_pop(L, 1);
    int dc = opt_field_int(L, 1, "dc_id", 2, -32768 - 10000, 32767 + 10000);
    int exp = opt_field_int(L, 1, "expires_in", 0, 0, INT32_MAX);
    mt_random rnd = opt_random(L, ud, &u->rep);
    int ty = lua_getfield(L, 1, "rsa_keys");
    u->keys = mt_rsa_keys_new(ty == LUA_TNIL);
    if (!u->keys) return luaL_error(L, "out of memory");
    if (ty != LUA_TNIL) {
        if (ty != LUA_TTABLE) return luaL_argerror(L, 1, "options.rsa_keys must be a list of PEM strings");
        lua_Integer n = luaL_len(L, -1);
        if (n == 0) return luaL_argerror(L, 1, "options.rsa_keys is empty");
        for (lua_Integer i = 1; i <= n; i++) {
            size_t len;
            lua_geti(L, -1, i);
            const char *pem = lua_tolstring(L, -1, &len);
            if (!pem || mt_rsa_keys_add_pem(u->keys, pem, len) != MT_OK) {
                lua_pushfstring(L, "options.rsa_keys[%I] is not a 2048-bit RSA public key in PEM", i);
                return luaL_argerror(L, 1, lua_tostring(L, -1));
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    u->c = mt_auth_client_new(u->keys, dc, exp, rnd.fn ? &rnd : NULL);
    if (!u->c) return luaL_error(L, "out of memory");
    mt_auth_client_set_cache(u->c, cache);
    ty = lua_getfield(L, 1, "split_modexp");
    if (ty != LUA_TNIL && ty != LUA_TBOOLEAN) return luaL_argerror(L, 1, "options.split_modexp must be a boolean");
    mt_auth_client_split_modexp(u->c, lua_toboolean(L, -1));
    lua_settop(L, ud);
    return 1;
}

/* step() and input(): the server's answer in, by `fn`. */
static int client_feed(lua_State *L, int (*fn)(mt_auth_client *, const uint8_t *, size_t, int32_t, mt_buf *))
{
    lclient *u = check_client(L);
    size_t n;
    const uint8_t *in = opt_input(L, 2, &n);
    int32_t now = opt_now(L, 3);
    mt_buf out;
    mt_buf_init(&out);
    int rc = fn(u->c, in, n, now, &out);
    if (rc == MT_AUTH_WORK) {
        mt_buf_free(&out);
        lua_pushliteral(L, "work");
        return 1;
    }
    return push_step(L, rc, &out, 0, mt_auth_client_error(u->c));
}

static int client_step(lua_State *L) { return client_feed(L, mt_auth_client_step); }
static int client_input(lua_State *L) { return client_feed(L, mt_auth_client_input); }

static int client_work(lua_State *L)
{
    lclient *u = check_client(L);
    mt_buf out;
    mt_buf_init(&out);
    int rc = mt_auth_client_work(u->c, &out);
    if (rc == MT_AUTH_WORK) {
        mt_buf_free(&out);
        lua_pushliteral(L, "work");
        return 1;
    }
    return push_step(L, rc, &out, 0, mt_auth_client_error(u->c));
}

static int client_ops(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)mt_auth_client_ops(check_client(L)->c));
    return 1;
}

/* The table of a finished handshake: the fields both sides share, `extra` slots left for
 * the caller's; the key is wiped once copied into Lua. */
static void push_key_result(lua_State *L, uint8_t key[256], int64_t salt, int extra)
{
    lua_createtable(L, 0, 3 + extra);
    lua_pushlstring(L, (const char *)key, 256);
    lua_setfield(L, -2, "auth_key");
    lua_pushinteger(L, (lua_Integer)mt_auth_key_id(key));
    lua_setfield(L, -2, "auth_key_id");
    lua_pushinteger(L, salt);
    lua_setfield(L, -2, "server_salt");
    mt_wipe(key, 256);
}

static int client_result(lua_State *L)
{
    lclient *u = check_client(L);
    uint8_t key[256];
    int64_t salt;
    int32_t off;
    if (mt_auth_client_result(u->c, key, &salt, &off) != MT_OK)
        return lmt_fail(L, MT_ERR_AGAIN, "HANDSHAKE_INCOMPLETE", "the handshake is not complete");
    push_key_result(L, key, salt, 1);
    lua_pushinteger(L, off);
    lua_setfield(L, -2, "time_offset");
    return 1;
}

static int client_tostring(lua_State *L)
{
    lclient *u = luaL_checkudata(L, 1, CLIENT_MT);
    lua_pushfstring(L, "mtproto.auth.client (%s%p)", u->c ? "" : "closed, ", (void *)u);
    return 1;
}

/* ---- server ---------------------------------------------------------------------------------- */

static lserver *check_server(lua_State *L)
{
    lserver *u = luaL_checkudata(L, 1, SERVER_MT);
    if (!u->s) luaL_error(L, "attempt to use a closed auth server");
    return u;
}

static int server_close(lua_State *L)
{
    lserver *u = luaL_checkudata(L, 1, SERVER_MT);
    mt_auth_server_free(u->s);
    u->s = NULL;
    mt_rsa_priv_free(u->key);
    u->key = NULL;
    return 0;
}

static int l_server(lua_State *L)
{
    lserver *u = new_object(L, sizeof *u, 1, SERVER_MT);
    int ud = lua_gettop(L);
    mt_random rnd = opt_random(L, ud, &u->rep);
    int ty = lua_getfield(L, 1, "key_pem");
    if (ty == LUA_TNIL) {
        u->key = mt_rsa_priv_generate(2048);
        if (!u->key) return luaL_error(L, "RSA key generation failed");
    } else {
        size_t len;
        const char *pem = lua_tolstring(L, -1, &len);
        if (ty != LUA_TSTRING || !(u->key = mt_rsa_priv_load_pem(pem, len)))
            return luaL_argerror(L, 1, "options.key_pem is not a 2048-bit RSA private key in PEM");
    }
    lua_pop(L, 1);
    u->s = mt_auth_server_new(u->key, rnd.fn ? &rnd : NULL);
    if (!u->s) return luaL_error(L, "out of memory");
    lua_settop(L, ud);
    return 1;
}

static int server_step(lua_State *L)
{
    lserver *u = check_server(L);
    size_t n;
    const uint8_t *in = opt_input(L, 2, &n);
    int32_t now = opt_now(L, 3);
    mt_buf out;
    mt_buf_init(&out);
    int rc = mt_auth_server_step(u->s, in, n, now, &out);
    return push_step(L, rc, &out, 1, mt_auth_server_error(u->s));
}

static int server_result(lua_State *L)
{
    lserver *u = check_server(L);
    uint8_t key[256];
    int64_t salt;
    int32_t dc, exp;
    if (mt_auth_server_result(u->s, key, &salt, &dc, &exp) != MT_OK)
        return lmt_fail(L, MT_ERR_AGAIN, "HANDSHAKE_INCOMPLETE", "the handshake is not complete");
    push_key_result(L, key, salt, 2);
    lua_pushinteger(L, dc);
    lua_setfield(L, -2, "dc_id");
    lua_pushinteger(L, exp);
    lua_setfield(L, -2, "expires_in");
    return 1;
}

/* The bytes built, or nil, err; fixed random bytes (argument `rarg`) that ran short are the
 * caller's misuse and raise. */
static int push_buf_result(lua_State *L, int rc, mt_buf *b, const lmt_replay *rep, int rarg)
{
    if (rc < 0 && rep && rep->exhausted) {
        mt_buf_free(b);
        return luaL_argerror(L, rarg, "the fixed random bytes ran short");
    }
    if (rc < 0) {
        mt_buf_free(b);
        return lmt_fail(L, rc, NULL, NULL);
    }
    return lmt_push_buf(L, b);
}

static int server_public_pem(lua_State *L)
{
    lserver *u = check_server(L);
    mt_buf b;
    mt_buf_init(&b);
    return push_buf_result(L, mt_rsa_priv_public_pem(u->key, &b), &b, NULL, 0);
}

static int server_private_pem(lua_State *L)
{
    lserver *u = check_server(L);
    mt_buf b;
    mt_buf_init(&b);
    return push_buf_result(L, mt_rsa_priv_save_pem(u->key, &b), &b, NULL, 0);
}

static int server_fingerprint(lua_State *L)
{
    lserver *u = check_server(L);
    lua_pushinteger(L, mt_rsa_priv_fingerprint(u->key));
    return 1;
}

static int server_tostring(lua_State *L)
{
    lserver *u = luaL_checkudata(L, 1, SERVER_MT);
    lua_pushfstring(L, "mtproto.auth.server (%s%p)", u->s ? "" : "closed, ", (void *)u);
    return 1;
}

/* ---- a cache of verified DH primes, shareable between clients ---- */

static int l_dh_cache(lua_State *L)
{
    lmt_new_object(L, sizeof(mt_dh_cache), 0, CACHE_MT);
    return 1;
}

static int cache_count(lua_State *L)
{
    mt_dh_cache *c = luaL_checkudata(L, 1, CACHE_MT);
    lua_pushinteger(L, c->n);
    return 1;
}

static int cache_tostring(lua_State *L)
{
    mt_dh_cache *c = luaL_checkudata(L, 1, CACHE_MT);
    lua_pushfstring(L, "mtproto.auth.dh_cache (%d primes)", c->n);
    return 1;
}

/* ---- free functions -------------------------------------------------------------------------- */

static int l_rsa_generate(lua_State *L)
{
    mt_rsa_priv *k = mt_rsa_priv_generate(2048);
    if (!k) return luaL_error(L, "RSA key generation failed");
    mt_buf a, b;
    mt_buf_init(&a);
    mt_buf_init(&b);
    int rc = mt_rsa_priv_save_pem(k, &a);
    if (rc >= 0) rc = mt_rsa_priv_public_pem(k, &b);
    int64_t fp = mt_rsa_priv_fingerprint(k);
    mt_rsa_priv_free(k);
    if (rc < 0) { mt_buf_free(&a); mt_buf_free(&b); return luaL_error(L, "%s", mt_strerror(rc)); }
    lmt_push_buf(L, &a);
    lmt_push_buf(L, &b);
    lua_pushinteger(L, fp);
    return 3;
}

/* Fingerprint of a public PEM (PKCS#1 or SPKI), or of the built-in keys with no argument. */
static int l_rsa_fingerprint(lua_State *L)
{
    size_t len;
    const char *pem = luaL_checklstring(L, 1, &len);
    mt_rsa_keys *ks = mt_rsa_keys_new(0);
    if (!ks) return luaL_error(L, "out of memory");
    int rc = mt_rsa_keys_add_pem(ks, pem, len);
    if (rc < 0) {
        mt_rsa_keys_free(ks);
        return lmt_fail(L, rc, "RSA_KEY_INVALID", "not a 2048-bit RSA public key in PEM");
    }
    lua_pushinteger(L, mt_rsa_keys_fingerprint(ks, 0));
    mt_rsa_keys_free(ks);
    return 1;
}

/* rsa_unpad(private_pem, encrypted_data): undoes RSA_PAD (spec helper) -> the 192 padded bytes. */
static int l_rsa_unpad(lua_State *L)
{
    size_t plen, n;
    const char *pem = luaL_checklstring(L, 1, &plen);
    const char *enc = luaL_checklstring(L, 2, &n);
    mt_rsa_priv *k = mt_rsa_priv_load_pem(pem, plen);
    if (!k) return luaL_argerror(L, 1, "not a 2048-bit RSA private key in PEM");
    mt_buf b;
    mt_buf_init(&b);
    int rc = mt_rsa_priv_unpad_decrypt(k, (const uint8_t *)enc, n, &b);
    mt_rsa_priv_free(k);
    if (rc < 0) {
        mt_buf_free(&b);
        return lmt_fail(L, rc, NULL, rc == MT_ERR_HANDSHAKE ? "RSA_PAD hash mismatch" : NULL);
    }
    return lmt_push_buf(L, &b);
}

/* rsa_pad(public_pem, data [, random]) --> 256 bytes: RSA_PAD of auth_key 4.1 (spec helper; the
 * optional random string supplies the padding and temp_key bytes). */
static int l_rsa_pad(lua_State *L)
{
    size_t plen, n, rlen = 0;
    const char *pem = luaL_checklstring(L, 1, &plen);
    const char *data = luaL_checklstring(L, 2, &n);
    const char *rs = luaL_optlstring(L, 3, NULL, &rlen);
    if (n > 144) luaL_argerror(L, 2, "data must be at most 144 bytes");
    mt_rsa_keys *ks = mt_rsa_keys_new(0);
    if (!ks) return luaL_error(L, "out of memory");
    if (mt_rsa_keys_add_pem(ks, pem, plen) != MT_OK) {
        mt_rsa_keys_free(ks);
        return luaL_argerror(L, 1, "not a 2048-bit RSA public key in PEM");
    }
    lmt_replay rep;
    mt_random rnd = lmt_replay_init(&rep, rs, rlen);
    mt_buf b;
    mt_buf_init(&b);
    int rc = mt_rsa_pad_encrypt(ks, mt_rsa_keys_fingerprint(ks, 0), (const uint8_t *)data, n, rs ? &rnd : NULL, &b);
    mt_rsa_keys_free(ks);
    return push_buf_result(L, rc, &b, rs ? &rep : NULL, 3);
}

/* factor_pq(pq) --> p, q (p < q) | nil, err: the client's Pollard-Brent (spec helper). */
static int l_factor_pq(lua_State *L)
{
    lua_Integer v = luaL_checkinteger(L, 1);
    uint64_t p, q;
    if (v < 0 || mt_dh_factor_pq((uint64_t)v, &p, &q) != MT_OK)
        return lmt_fail(L, MT_ERR_HANDSHAKE, NULL, "pq is not a product of two primes");
    lua_pushinteger(L, (lua_Integer)p);
    lua_pushinteger(L, (lua_Integer)q);
    return 2;
}

static int l_plain_wrap(lua_State *L)
{
    lua_Integer id = luaL_checkinteger(L, 1);
    size_t n;
    const char *body = luaL_checklstring(L, 2, &n);
    mt_buf b;
    mt_buf_init(&b);
    return push_buf_result(L, mt_plain_wrap(&b, id, (const uint8_t *)body, n), &b, NULL, 0);
}

static int l_plain_unwrap(lua_State *L)
{
    size_t n;
    const char *in = luaL_checklstring(L, 1, &n);
    int64_t id;
    const uint8_t *body;
    size_t blen;
    int rc = mt_plain_unwrap((const uint8_t *)in, n, &id, &body, &blen);
    if (rc < 0) return lmt_fail(L, rc, NULL, rc == MT_ERR_PROTO ? "not a plain message (auth_key_id is not 0)" : NULL);
    lua_pushinteger(L, id);
    lua_pushlstring(L, (const char *)body, blen);
    return 2;
}

/* ---- temporary-key binding ---------------------------------------------------------------- */

static lua_Integer bind_field(lua_State *L, int t, const char *k, lua_Integer lo, lua_Integer hi)
{
    int ok;
    lua_getfield(L, t, k);
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok || v < lo || v > hi) {
        lua_pushfstring(L, "binding.%s must be an integer in %I..%I", k, lo, hi);
        luaL_argerror(L, t, lua_tostring(L, -1));
    }
    return v;
}

/* The binding table at index t for the permanent key perm_key. */
static mt_bind check_bind(lua_State *L, int t, const uint8_t *perm_key)
{
    luaL_checktype(L, t, LUA_TTABLE);
    mt_bind b;
    b.nonce = (int64_t)bind_field(L, t, "nonce", LUA_MININTEGER, LUA_MAXINTEGER);
    b.temp_auth_key_id = (uint64_t)bind_field(L, t, "temp_auth_key_id", LUA_MININTEGER, LUA_MAXINTEGER);
    b.temp_session_id = (int64_t)bind_field(L, t, "temp_session_id", LUA_MININTEGER, LUA_MAXINTEGER);
    b.expires_at = (int32_t)bind_field(L, t, "expires_at", INT32_MIN, INT32_MAX);
    b.msg_id = (int64_t)bind_field(L, t, "msg_id", LUA_MININTEGER, LUA_MAXINTEGER);
    b.perm_auth_key_id = mt_auth_key_id(perm_key);
    return b;
}

static int bind_build(lua_State *L, int whole)
{
    const uint8_t *key = lmt_check_len(L, 1, 256, "perm_key");
    mt_bind b = check_bind(L, 2, key);
    size_t rl;
    const char *rs = luaL_optlstring(L, 3, NULL, &rl);
    lmt_replay rep;
    mt_random rnd = lmt_replay_init(&rep, rs, rl);
    mt_buf out;
    mt_buf_init(&out);
    int rc = whole ? mt_bind_request(key, &b, rs ? &rnd : NULL, &out) : mt_bind_encrypt(key, &b, rs ? &rnd : NULL, &out);
    return push_buf_result(L, rc, &out, rs ? &rep : NULL, 3);
}

static int l_bind_request(lua_State *L) { return bind_build(L, 1); }
static int l_bind_encrypt(lua_State *L) { return bind_build(L, 0); }

static int l_bind_parse(lua_State *L)
{
    size_t n;
    const uint8_t *body = (const uint8_t *)luaL_checklstring(L, 1, &n);
    uint64_t perm;
    int64_t nonce;
    int32_t exp;
    const uint8_t *enc;
    size_t elen;
    int rc = mt_bind_parse_request(body, n, &perm, &nonce, &exp, &enc, &elen);
    if (rc < 0) return lmt_fail(L, rc, NULL, rc == MT_ERR_PROTO ? "not an auth.bindTempAuthKey request" : NULL);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)perm);
    lua_setfield(L, -2, "perm_auth_key_id");
    lua_pushinteger(L, nonce);
    lua_setfield(L, -2, "nonce");
    lua_pushinteger(L, exp);
    lua_setfield(L, -2, "expires_at");
    lua_pushlstring(L, (const char *)enc, elen);
    lua_setfield(L, -2, "encrypted_message");
    return 1;
}

static int l_bind_verify(lua_State *L)
{
    const uint8_t *key = lmt_check_len(L, 1, 256, "perm_key");
    size_t n;
    const uint8_t *enc = (const uint8_t *)luaL_checklstring(L, 2, &n);
    mt_bind b = check_bind(L, 3, key);
    const char *why = NULL;
    int rc = mt_bind_verify(key, enc, n, &b, &why);
    if (rc < 0) return lmt_fail(L, rc, NULL, why);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_pfs_renew_at(lua_State *L)
{
    lua_pushnumber(L, mt_pfs_renew_at((int64_t)luaL_checkinteger(L, 1), (int64_t)luaL_checkinteger(L, 2)));
    return 1;
}

static int l_pfs_bind_refused(lua_State *L)
{
    static const char *const what[] = { "give_up", "new_temp", "new_both" };
    int rc = mt_pfs_bind_refused(luaL_checknumber(L, 1), (int)luaL_checkinteger(L, 2), lua_toboolean(L, 3));
    lua_pushstring(L, what[rc]);
    return 1;
}

static const luaL_Reg client_methods[] = {
    { "step", client_step }, { "input", client_input }, { "work", client_work }, { "ops", client_ops },
    { "result", client_result }, { "close", client_close }, { NULL, NULL },
};
static const luaL_Reg server_methods[] = {
    { "step", server_step }, { "result", server_result }, { "close", server_close },
    { "public_pem", server_public_pem }, { "private_pem", server_private_pem },
    { "fingerprint", server_fingerprint }, { NULL, NULL },
};
static const luaL_Reg cache_methods[] = {
    { "count", cache_count }, { NULL, NULL },
};
static const luaL_Reg funcs[] = {
    { "client", l_client }, { "server", l_server }, { "dh_cache", l_dh_cache }, { "rsa_generate", l_rsa_generate },
    { "rsa_fingerprint", l_rsa_fingerprint }, { "rsa_unpad", l_rsa_unpad }, { "rsa_pad", l_rsa_pad }, { "factor_pq", l_factor_pq }, { "plain_wrap", l_plain_wrap },
    { "plain_unwrap", l_plain_unwrap }, { "bind_request", l_bind_request }, { "bind_encrypt", l_bind_encrypt },
    { "bind_parse", l_bind_parse }, { "bind_verify", l_bind_verify }, { "pfs_renew_at", l_pfs_renew_at },
    { "pfs_bind_refused", l_pfs_bind_refused }, { NULL, NULL },
};

int mt_open_auth(lua_State *L)
{
    lmt_new_type(L, CLIENT_MT, client_methods, client_close, client_tostring);
    lmt_new_type(L, SERVER_MT, server_methods, server_close, server_tostring);
    lmt_new_type(L, CACHE_MT, cache_methods, NULL, cache_tostring);
    lua_pop(L, 3);
    luaL_newlib(L, funcs);
    return 1;
}
