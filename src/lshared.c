/* State the connections of one Lua state share (declared in lmt.h): a program may hold
 * thousands of clients, and each one used to carry its own copies of what is the same for
 * all of them:
 *   - the OpenSSL contexts of the per-message work (mt_crypto_ctx, ~1.3 KiB): each message
 *     has its own AES key, so one context serves every session in turn;
 *   - the pool of padding bytes (mt_random_pool, 16 KiB: one CSPRNG call per ~100 calls):
 *     every byte is still handed out once;
 *   - the scratch buffers a packet is packed, framed and decrypted in (mt_scratch, ~1 KiB):
 *     emptied (and wiped) before each call on a link returns;
 *   - the parsed RSA keys of the servers (mt_rsa_keys, ~0.6 KiB per set), one per set of PEMs.
 * They live in one userdata kept in the registry (made on first use, never a C global), and
 * are reference-counted in C: every link takes its own references, so the objects stay valid
 * whatever order connections are closed or collected in, the registry's holder included (at
 * lua_close all of them are finalized in some order). A Lua state runs in one thread at a
 * time, which is all mt_crypto_ctx and mt_random_pool ask. */
#include <string.h>
#include "lmt.h"

#define SHARED_MT   "mtproto.shared"
#define RSA_KEYS_MT "mtproto.rsa_keys"
/* Sets of RSA keys kept by their PEMs; past this many the cache starts over (links keep
 * their own references, so only sharing with later links is lost). */
#define RSA_CACHE_MAX 16

static const char shared_key = 0;   /* its address is the registry key of the holder */

typedef struct lshared {
    mt_crypto_ctx *cc;
    mt_random_pool *pool;
    mt_scratch *scratch;
    int nkeys;                      /* entries in the RSA cache (user value 1) */
} lshared;

typedef struct lrsa_keys { mt_rsa_keys *ks; } lrsa_keys;

static int shared_gc(lua_State *L)
{
    lshared *sh = luaL_checkudata(L, 1, SHARED_MT);
    mt_crypto_ctx_free(sh->cc);
    mt_random_pool_free(sh->pool);
    mt_scratch_free(sh->scratch);
    sh->cc = NULL;
    sh->pool = NULL;
    sh->scratch = NULL;
    return 0;
}

static int rsa_keys_gc(lua_State *L)
{
    lrsa_keys *k = luaL_checkudata(L, 1, RSA_KEYS_MT);
    mt_rsa_keys_free(k->ks);
    k->ks = NULL;
    return 0;
}

static int shared_tostring(lua_State *L)
{
    lua_pushfstring(L, SHARED_MT ": %p", luaL_checkudata(L, 1, SHARED_MT));
    return 1;
}

static int rsa_keys_tostring(lua_State *L)
{
    lrsa_keys *k = luaL_checkudata(L, 1, RSA_KEYS_MT);
    lua_pushfstring(L, RSA_KEYS_MT " (%d keys): %p", mt_rsa_keys_count(k->ks), (void *)k);
    return 1;
}

/* Pushes the state's holder, made on first use; NULL (nothing pushed) when libcrypto cannot
 * hash (see mt_crypto_ctx_new): a holder is made again on the next try. */
static lshared *push_shared(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &shared_key) == LUA_TUSERDATA) return lua_touserdata(L, -1);
    lua_pop(L, 1);
    lmt_new_type(L, SHARED_MT, NULL, shared_gc, shared_tostring);
    lua_pop(L, 1);
    lshared *sh = lmt_new_object(L, sizeof *sh, 1, SHARED_MT);
    int err = MT_ERR_NOMEM;
    sh->cc = mt_crypto_ctx_new(&err);
    if (!sh->cc && err == MT_ERR_CRYPTO) {
        lua_pop(L, 1);
        return NULL;
    }
    sh->pool = mt_random_pool_new(NULL, MT_RANDOM_POOL_SHARED);
    sh->scratch = mt_scratch_new();
    if (!sh->cc || !sh->pool || !sh->scratch) luaL_error(L, "out of memory");
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &shared_key);
    return sh;
}

/* Pushes the cache key of cfg's set of PEMs (options table at t): true for the built-in keys,
 * the PEM string of the options itself when there is one (no new string per link: a program
 * making thousands of clients makes no garbage here), else "len:pem" joined. */
static void push_keys_name(lua_State *L, int t, const mt_link_config *cfg)
{
    size_t n = 0;
    while (cfg->rsa_pems && cfg->rsa_pems[n]) n++;
    if (n == 0) {
        lua_pushboolean(L, 1);
        return;
    }
    if (n == 1) {
        lua_getfield(L, t, "rsa_keys");
        lua_geti(L, -1, 1);
        lua_remove(L, -2);
        if (lua_type(L, -1) == LUA_TSTRING && lua_tostring(L, -1) == cfg->rsa_pems[0]) return;
        lua_pop(L, 1); /* not the string read before (a table with metamethods): joined below */
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++) {
        lua_pushfstring(L, "%I:", (lua_Integer)cfg->rsa_pem_lens[i]);
        luaL_addvalue(&b);
        luaL_addlstring(&b, cfg->rsa_pems[i], cfg->rsa_pem_lens[i]);
    }
    luaL_pushresult(&b);
}

/* The parsed set of cfg's PEMs (or the built-in keys) from the holder's cache at index h,
 * parsed and cached on first use; raises luaL_argerror(L, t, ...) on a bad PEM. */
static mt_rsa_keys *cached_keys(lua_State *L, int h, lshared *sh, int t, const mt_link_config *cfg)
{
    push_keys_name(L, t, cfg);
    int name = lua_gettop(L);
    lua_getiuservalue(L, h, 1);
    int cache = lua_gettop(L);
    lua_pushvalue(L, name);
    if (lua_rawget(L, cache) == LUA_TUSERDATA) {
        mt_rsa_keys *ks = ((lrsa_keys *)lua_touserdata(L, -1))->ks;
        lua_pop(L, 3);
        return ks;
    }
    lua_pop(L, 1);
    lmt_new_type(L, RSA_KEYS_MT, NULL, rsa_keys_gc, rsa_keys_tostring);
    lua_pop(L, 1);
    lrsa_keys *k = lmt_new_object(L, sizeof *k, 0, RSA_KEYS_MT);
    if (!(k->ks = mt_rsa_keys_new(cfg->rsa_pems == NULL))) luaL_error(L, "out of memory");
    for (size_t i = 0; cfg->rsa_pems && cfg->rsa_pems[i]; i++) {
        int rc = mt_rsa_keys_add_pem(k->ks, cfg->rsa_pems[i], cfg->rsa_pem_lens[i]);
        if (rc == MT_ERR_NOMEM) luaL_error(L, "out of memory");
        if (rc) luaL_argerror(L, t, "bad field 'rsa_keys' (not an RSA public key PEM)");
    }
    if (sh->nkeys >= RSA_CACHE_MAX) {
        lua_newtable(L);
        lua_replace(L, cache);
        lua_pushvalue(L, cache);
        lua_setiuservalue(L, h, 1);
        sh->nkeys = 0;
    }
    lua_pushvalue(L, name);
    lua_pushvalue(L, -2);
    lua_rawset(L, cache);
    sh->nkeys++;
    lua_pop(L, 3);
    return k->ks;
}

int lmt_link_shared(lua_State *L, int t, mt_link_config *cfg)
{
    t = lua_absindex(L, t);
    lshared *sh = push_shared(L);
    if (!sh) return MT_ERR_CRYPTO;
    cfg->cc = sh->cc;
    cfg->pool = sh->pool;
    cfg->scratch = sh->scratch;
    cfg->rsa_keys = cached_keys(L, lua_gettop(L), sh, t, cfg);
    lua_pop(L, 1);
    return MT_OK;
}
