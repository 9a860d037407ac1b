/* Lua binding: mtproto.core.seal, encrypted session files (mt_seal.h).
 *
 *   seal.is_sealed(bytes)                        -> boolean
 *   seal.header(bytes)                           -> { version, kind = "passphrase" | "key",
 *                                                   log2_n, r, p } | nil, err
 *   seal.key(kind, secret [, file [, opts]])     -> key | nil, err
 *       kind "passphrase" (scrypt) or "key" (32 bytes); `file` is the sealed file the key is
 *       for (its salt and parameters), nil for a new file; opts.random (a string) replays
 *       the salt and nonces (specs only)
 *   key:seal(plain)                              -> file bytes | nil, err
 *   key:open(file)                               -> plain | nil, err
 *   key:info()                                   -> { kind =, log2_n =, r =, p = }
 *   key:close()                                  wipes the key (also __gc and __close)
 *   seal.scrypt(pass, salt, N, r, p, len)        -> bytes | nil, err   (test vectors)
 *   seal.gcm_encrypt(key, iv, aad, plain)        -> ciphertext, tag
 *   seal.gcm_decrypt(key, iv, aad, ct, tag)      -> plain | nil, err
 *
 * Every err is the table of lmt_fail; its message names the failure for the Lua layer:
 * SEAL_FORMAT_INVALID (not a sealed file, or a bad header), SEAL_VERSION_UNKNOWN,
 * SEAL_TRUNCATED, SEAL_KEY_INVALID (wrong passphrase or key), SEAL_ALTERED (the tag fails),
 * SEAL_KIND_MISMATCH (a passphrase for a key-sealed file, or the reverse), or the name of
 * the core's code (anything else). The
 * derived key lives only in the userdata and is wiped when it is closed or collected. */
#include <string.h>
#include "lmt.h"
#include "mt_seal.h"

#define KEY_MT "mtproto.seal.key"

typedef struct lseal_key {
    mt_seal_key k;
    lmt_replay rep;
    mt_random rnd; /* the system CSPRNG unless a spec replays fixed bytes */
    int open;
} lseal_key;

/* What went wrong with a sealed file, as the error's message. */
static const char *name_of(int rc)
{
    switch (rc) {
    case MT_ERR_PROTO: return "SEAL_FORMAT_INVALID";
    case MT_ERR_RANGE: return "SEAL_VERSION_UNKNOWN";
    case MT_ERR_TRUNCATED: return "SEAL_TRUNCATED";
    case MT_ERR_SEAL_KEY: return "SEAL_KEY_INVALID";
    case MT_ERR_SEAL_AUTH: return "SEAL_ALTERED";
    default: return mt_err_name(rc);
    }
}

static int fail(lua_State *L, int rc)
{
    return lmt_fail(L, rc, name_of(rc), NULL);
}

static const char *kind_name(int kdf)
{
    return kdf == MT_SEAL_KDF_SCRYPT ? "passphrase" : "key";
}

static void push_params(lua_State *L, const mt_seal_header *h)
{
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, h->version);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, kind_name(h->kdf));
    lua_setfield(L, -2, "kind");
    lua_pushinteger(L, h->log2_n);
    lua_setfield(L, -2, "log2_n");
    lua_pushinteger(L, h->r);
    lua_setfield(L, -2, "r");
    lua_pushinteger(L, h->p);
    lua_setfield(L, -2, "p");
}

static int l_is_sealed(lua_State *L)
{
    size_t n;
    const char *p = luaL_checklstring(L, 1, &n);
    lua_pushboolean(L, mt_seal_is_sealed((const uint8_t *)p, n));
    return 1;
}

static int l_header(lua_State *L)
{
    size_t n;
    const char *p = luaL_checklstring(L, 1, &n);
    mt_seal_header h;
    int rc = mt_seal_parse((const uint8_t *)p, n, &h);
    if (rc < 0) return fail(L, rc);
    push_params(L, &h);
    return 1;
}

static lseal_key *check_key(lua_State *L)
{
    lseal_key *k = luaL_checkudata(L, 1, KEY_MT);
    if (!k->open) luaL_error(L, "attempt to use a closed seal key");
    return k;
}

static int l_key_close(lua_State *L)
{
    lseal_key *k = luaL_checkudata(L, 1, KEY_MT);
    mt_seal_key_wipe(&k->k);
    k->open = 0;
    return 0;
}

static int l_key_tostring(lua_State *L)
{
    lseal_key *k = luaL_checkudata(L, 1, KEY_MT);
    if (!k->open) lua_pushliteral(L, "mtproto.seal.key (closed)");
    else lua_pushfstring(L, "mtproto.seal.key (%s)", kind_name(k->k.h.kdf));
    return 1;
}

static int l_key(lua_State *L)
{
    static const char *const kinds[] = { "passphrase", "key", NULL };
    int kdf = luaL_checkoption(L, 1, NULL, kinds) == 0 ? MT_SEAL_KDF_SCRYPT : MT_SEAL_KDF_KEY;
    size_t sn, fn = 0;
    const char *secret = luaL_checklstring(L, 2, &sn);
    const char *file = luaL_optlstring(L, 3, NULL, &fn);
    if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
    if (kdf == MT_SEAL_KDF_KEY && sn != MT_SEAL_KEY_LEN)
        luaL_argerror(L, 2, lua_pushfstring(L, "a key must be %d bytes, got %d", MT_SEAL_KEY_LEN, (int)sn));
    lseal_key *k = lmt_new_object(L, sizeof *k, 1, KEY_MT);
    int ud = lua_gettop(L);
    if (!lua_isnoneornil(L, 4))
        lmt_opt_random(L, 4, ud, &k->rep, &k->rnd, 4, "random: expected a string of bytes");
    mt_seal_header h;
    if (file) {
        int rc = mt_seal_parse((const uint8_t *)file, fn, &h);
        if (rc < 0) return fail(L, rc);
        if (h.kdf != kdf) {
            return lmt_fail(L, MT_ERR_SEAL_KEY, "SEAL_KIND_MISMATCH",
                            lua_pushfstring(L, "this file is encrypted with a %s, not a %s",
                                            kind_name(h.kdf), kind_name(kdf)));
        }
    }
    int rc = mt_seal_key_derive(&k->k, kdf, file ? &h : NULL, (const uint8_t *)secret, sn, &k->rnd);
    if (rc < 0) return fail(L, rc);
    k->open = 1;
    lua_settop(L, ud);
    return 1;
}

static int l_key_seal(lua_State *L)
{
    lseal_key *k = check_key(L);
    size_t n;
    const char *plain = luaL_checklstring(L, 2, &n);
    mt_buf out;
    mt_buf_init(&out);
    int rc = mt_seal_seal(&k->k, &k->rnd, (const uint8_t *)plain, n, &out);
    if (rc < 0) {
        mt_buf_free(&out);
        return fail(L, rc);
    }
    return lmt_push_buf(L, &out);
}

static int l_key_open(lua_State *L)
{
    lseal_key *k = check_key(L);
    size_t n;
    const char *file = luaL_checklstring(L, 2, &n);
    mt_buf out;
    mt_buf_init(&out);
    int rc = mt_seal_open(&k->k, (const uint8_t *)file, n, &out);
    if (rc < 0) {
        mt_buf_free(&out);
        return fail(L, rc);
    }
    return lmt_push_buf(L, &out);
}

static int l_key_info(lua_State *L)
{
    lseal_key *k = check_key(L);
    push_params(L, &k->k.h);
    return 1;
}

static int l_scrypt(lua_State *L)
{
    size_t pn, sn;
    const char *pass = luaL_checklstring(L, 1, &pn);
    const char *salt = luaL_checklstring(L, 2, &sn);
    lua_Integer N = luaL_checkinteger(L, 3), r = luaL_checkinteger(L, 4), p = luaL_checkinteger(L, 5);
    lua_Integer len = luaL_checkinteger(L, 6);
    luaL_argcheck(L, N > 1 && N <= ((lua_Integer)1 << 30), 3, "N must be 2..2^30");
    luaL_argcheck(L, r > 0 && r <= 0xffffff, 4, "r must be 1..2^24-1");
    luaL_argcheck(L, p > 0 && p <= 0xffffff, 5, "p must be 1..2^24-1");
    luaL_argcheck(L, len > 0 && len <= 4096, 6, "the output length must be 1..4096");
    luaL_Buffer b;
    uint8_t *out = (uint8_t *)luaL_buffinitsize(L, &b, (size_t)len);
    int rc = mt_scrypt((const uint8_t *)pass, pn, (const uint8_t *)salt, sn, (uint64_t)N, (uint32_t)r,
                       (uint32_t)p, out, (size_t)len);
    if (rc < 0) {
        luaL_pushresultsize(&b, 0);
        return lmt_fail(L, rc, NULL, NULL);
    }
    luaL_pushresultsize(&b, (size_t)len);
    return 1;
}

static int l_gcm(lua_State *L, int enc)
{
    const uint8_t *key = lmt_check_len(L, 1, 32, "key");
    size_t ivn, an, n;
    const char *iv = luaL_checklstring(L, 2, &ivn);
    const char *aad = luaL_checklstring(L, 3, &an);
    const char *in = luaL_checklstring(L, 4, &n);
    const uint8_t *tag = enc ? NULL : lmt_check_len(L, 5, 16, "tag");
    luaL_argcheck(L, ivn > 0 && ivn <= 128, 2, "the IV must be 1..128 bytes");
    luaL_Buffer b;
    uint8_t *out = (uint8_t *)luaL_buffinitsize(L, &b, n ? n : 1);
    uint8_t t[16];
    int rc = enc ? mt_aes256gcm_encrypt(key, (const uint8_t *)iv, ivn, (const uint8_t *)aad, an,
                                        (const uint8_t *)in, n, out, t)
                 : mt_aes256gcm_decrypt(key, (const uint8_t *)iv, ivn, (const uint8_t *)aad, an,
                                        (const uint8_t *)in, n, out, tag);
    if (rc < 0) {
        luaL_pushresultsize(&b, 0);
        return lmt_fail(L, rc, NULL, NULL);
    }
    luaL_pushresultsize(&b, n);
    if (!enc) return 1;
    lua_pushlstring(L, (const char *)t, 16);
    return 2;
}

static int l_gcm_encrypt(lua_State *L) { return l_gcm(L, 1); }
static int l_gcm_decrypt(lua_State *L) { return l_gcm(L, 0); }

static const luaL_Reg key_methods[] = {
    { "seal", l_key_seal },
    { "open", l_key_open },
    { "info", l_key_info },
    { "close", l_key_close },
    { NULL, NULL },
};

static const luaL_Reg seal_funcs[] = {
    { "is_sealed", l_is_sealed },
    { "header", l_header },
    { "key", l_key },
    { "scrypt", l_scrypt },
    { "gcm_encrypt", l_gcm_encrypt },
    { "gcm_decrypt", l_gcm_decrypt },
    { NULL, NULL },
};

int mt_open_seal(lua_State *L)
{
    lmt_new_type(L, KEY_MT, key_methods, l_key_close, l_key_tostring);
    lua_pop(L, 1);
    luaL_newlib(L, seal_funcs);
    lua_pushlstring(L, MT_SEAL_MAGIC, MT_SEAL_MAGIC_LEN);
    lua_setfield(L, -2, "MAGIC");
    lua_pushinteger(L, MT_SEAL_HEADER_LEN);
    lua_setfield(L, -2, "HEADER_LEN");
    lua_pushinteger(L, MT_SEAL_TAG_LEN);
    lua_setfield(L, -2, "TAG_LEN");
    return 1;
}
