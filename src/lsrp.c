/* Lua binding: mtproto.core.srp -- two-step verification (mt_srp.h).
 *
 *   srp.client(password, algo, B [, a])        --> A, M1 | nil, err   (every check)
 *   srp.client_unchecked(password, algo, B, a) --> A, M1 | nil, err   (known-answer tests)
 *   srp.new_hash(password, algo [, random32])  --> new_salt1, v | nil, err
 *   srp.verifier(password, algo)               --> v | nil, err
 *   srp.server_B(algo, v, b)                   --> B | nil, err
 *   srp.server_check(algo, v, b, A, M1)        --> true | nil, err
 *   srp.known_prime                            the 2048-bit prime Telegram's servers send
 *
 * `algo` is a passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow table
 * (salt1, salt2, g, p); byte strings are big-endian numbers. A given `a` (at most 256 bytes,
 * left-padded) is the only one drawn: a bad A is then reported, not drawn again. Wrong
 * argument types raise; failed checks return nil and the bindings' error table: message
 * SRP_PARAMS_INVALID (PASSWORD_HASH_INVALID for a wrong M1), the reason in detail. */
#include <string.h>
#include "lmt.h"
#include "mt_dh.h"
#include "mt_srp.h"

static const uint8_t *field_bytes(lua_State *L, int t, const char *name, size_t *n)
{
    if (lua_getfield(L, t, name) != LUA_TSTRING)
        luaL_error(L, "algo.%s: expected string, got %s", name, luaL_typename(L, -1));
    const uint8_t *p = (const uint8_t *)lua_tolstring(L, -1, n);
    lua_pop(L, 1); /* the algo table keeps the string alive */
    return p;
}

static mt_srp_algo check_algo(lua_State *L, int i)
{
    luaL_checktype(L, i, LUA_TTABLE);
    mt_srp_algo a;
    a.salt1 = field_bytes(L, i, "salt1", &a.salt1_len);
    a.salt2 = field_bytes(L, i, "salt2", &a.salt2_len);
    a.p = field_bytes(L, i, "p", &a.p_len);
    int isint = 0;
    lua_Integer g = lua_getfield(L, i, "g") == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
    if (!isint || g < 0 || g > INT32_MAX) luaL_error(L, "algo.g: expected int, got %s", luaL_typename(L, -1));
    lua_pop(L, 1);
    a.g = (int32_t)g;
    return a;
}

static const uint8_t *check_bytes(lua_State *L, int i, size_t max, size_t *n, const char *what)
{
    const uint8_t *p = (const uint8_t *)luaL_checklstring(L, i, n);
    if (*n > max) {
        lua_pushfstring(L, "%s must be at most %d bytes", what, (int)max);
        luaL_argerror(L, i, lua_tostring(L, -1));
    }
    return p;
}

/* nil, err: a safety check that refused the parameters is SRP_PARAMS_INVALID (a wrong M1 on
 * the server's side PASSWORD_HASH_INVALID) with the check's reason in detail; any other
 * failure takes the core's name. */
static int srp_fail(lua_State *L, int rc, int why)
{
    if (rc != MT_ERR_HANDSHAKE) return lmt_fail(L, rc, NULL, NULL);
    return lmt_fail(L, rc, why == MT_SRP_M1 ? "PASSWORD_HASH_INVALID" : "SRP_PARAMS_INVALID", mt_srp_why(why));
}

static int push_a_m1(lua_State *L, const uint8_t A[256], const uint8_t M1[32])
{
    lua_pushlstring(L, (const char *)A, 256);
    lua_pushlstring(L, (const char *)M1, 32);
    return 2;
}

static int l_client(lua_State *L)
{
    size_t pwlen, blen, alen = 0;
    const uint8_t *pw = (const uint8_t *)luaL_checklstring(L, 1, &pwlen);
    mt_srp_algo algo = check_algo(L, 2);
    const uint8_t *B = (const uint8_t *)luaL_checklstring(L, 3, &blen);
    const uint8_t *a = lua_isnoneornil(L, 4) ? NULL : check_bytes(L, 4, 256, &alen, "a");
    uint8_t A[256], M1[32], apad[256];
    lmt_replay rep;
    mt_random fixed, *rnd = NULL;
    if (a) {
        memset(apad, 0, 256);
        memcpy(apad + 256 - alen, a, alen);
        fixed = lmt_replay_init(&rep, (const char *)apad, 256);
        rnd = &fixed;
    }
    int why = 0;
    int rc = mt_srp_client(&algo, pw, pwlen, B, blen, rnd, A, M1, &why);
    mt_wipe(apad, sizeof apad);
    if (rc != MT_OK) return srp_fail(L, rc, why);
    return push_a_m1(L, A, M1);
}

static int l_client_unchecked(lua_State *L)
{
    size_t pwlen, blen, alen;
    const uint8_t *pw = (const uint8_t *)luaL_checklstring(L, 1, &pwlen);
    mt_srp_algo algo = check_algo(L, 2);
    const uint8_t *B = check_bytes(L, 3, 256, &blen, "B");
    const uint8_t *a = check_bytes(L, 4, 256, &alen, "a");
    uint8_t A[256], M1[32];
    int rc = mt_srp_client_unchecked(&algo, pw, pwlen, B, blen, a, alen, A, M1);
    if (rc != MT_OK) return lmt_fail(L, rc, NULL, NULL);
    return push_a_m1(L, A, M1);
}

static int l_new_hash(lua_State *L)
{
    size_t pwlen;
    const uint8_t *pw = (const uint8_t *)luaL_checklstring(L, 1, &pwlen);
    mt_srp_algo algo = check_algo(L, 2);
    lmt_replay rep;
    mt_random fixed, *rnd = NULL;
    if (!lua_isnoneornil(L, 3)) {
        const uint8_t *r = lmt_check_len(L, 3, MT_SRP_NEW_SALT_BYTES, "random32");
        fixed = lmt_replay_init(&rep, (const char *)r, MT_SRP_NEW_SALT_BYTES);
        rnd = &fixed;
    }
    luaL_Buffer b;
    uint8_t *salt = (uint8_t *)luaL_buffinitsize(L, &b, algo.salt1_len + MT_SRP_NEW_SALT_BYTES);
    uint8_t v[256];
    int why = 0;
    int rc = mt_srp_new_hash(&algo, pw, pwlen, rnd, salt, v, &why);
    if (rc != MT_OK) {
        luaL_pushresultsize(&b, 0);
        return srp_fail(L, rc, why);
    }
    luaL_pushresultsize(&b, algo.salt1_len + MT_SRP_NEW_SALT_BYTES);
    lua_pushlstring(L, (const char *)v, 256);
    mt_wipe(v, sizeof v);
    return 2;
}

static int l_verifier(lua_State *L)
{
    size_t pwlen;
    const uint8_t *pw = (const uint8_t *)luaL_checklstring(L, 1, &pwlen);
    mt_srp_algo algo = check_algo(L, 2);
    uint8_t v[256];
    int rc = mt_srp_verifier(&algo, pw, pwlen, v);
    if (rc != MT_OK) return lmt_fail(L, rc, NULL, NULL);
    lua_pushlstring(L, (const char *)v, 256);
    mt_wipe(v, sizeof v);
    return 1;
}

static int l_server_B(lua_State *L)
{
    mt_srp_algo algo = check_algo(L, 1);
    const uint8_t *v = lmt_check_len(L, 2, 256, "v");
    const uint8_t *b = lmt_check_len(L, 3, 256, "b");
    uint8_t B[256];
    int rc = mt_srp_server_B(&algo, v, b, B);
    if (rc != MT_OK) return lmt_fail(L, rc, NULL, NULL);
    lua_pushlstring(L, (const char *)B, 256);
    return 1;
}

static int l_server_check(lua_State *L)
{
    mt_srp_algo algo = check_algo(L, 1);
    const uint8_t *v = lmt_check_len(L, 2, 256, "v");
    const uint8_t *b = lmt_check_len(L, 3, 256, "b");
    size_t alen, mlen;
    const uint8_t *A = (const uint8_t *)luaL_checklstring(L, 4, &alen);
    const uint8_t *M1 = (const uint8_t *)luaL_checklstring(L, 5, &mlen);
    int why = 0;
    int rc = mt_srp_server_check(&algo, v, b, A, alen, M1, mlen, &why);
    if (rc != MT_OK) return srp_fail(L, rc, why);
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg funcs[] = {
    { "client", l_client },
    { "client_unchecked", l_client_unchecked },
    { "new_hash", l_new_hash },
    { "verifier", l_verifier },
    { "server_B", l_server_B },
    { "server_check", l_server_check },
    { NULL, NULL },
};

int mt_open_srp(lua_State *L)
{
    luaL_newlib(L, funcs);
    lua_pushlstring(L, (const char *)mt_dh_known_prime, sizeof mt_dh_known_prime);
    lua_setfield(L, -2, "known_prime");
    return 1;
}
