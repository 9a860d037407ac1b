/* Lua binding: mtproto.core.crypto -- hashes, AES-256-IGE, MTProto 2.0 message keys, random.
 * Every function takes and returns Lua strings of raw bytes; wrong arguments raise, and what
 * OpenSSL fails to do (no provider for a digest or cipher, no entropy) is nil, err. */
#include <stdlib.h>
#include <string.h>
#include "lmt.h"
#include "mt_buf.h"
#include "mt_crypto.h"

/* OpenSSL's own (deprecated) AES_ige_encrypt, bound only as the bench baseline and as an
 * independent cross-check in the specs; the library itself never uses it. */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
#include <openssl/aes.h>
static int openssl_ige(const uint8_t *key, const uint8_t *iv, const uint8_t *in, uint8_t *out, size_t n, int enc)
{
    AES_KEY k;
    uint8_t ivc[32];
    memcpy(ivc, iv, 32);
    if ((enc ? AES_set_encrypt_key(key, 256, &k) : AES_set_decrypt_key(key, 256, &k)) != 0) return MT_ERR_CRYPTO;
    AES_ige_encrypt(in, out, n, &k, ivc, enc ? AES_ENCRYPT : AES_DECRYPT);
    mt_wipe(&k, sizeof k);
    return MT_OK;
}
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

static int hash(lua_State *L, int (*fn)(const void *, size_t, uint8_t *), size_t len)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    uint8_t h[32];
    int rc = fn(s, n, h);
    if (rc < 0) return lmt_fail(L, rc, NULL, "OpenSSL cannot compute the digest");
    lua_pushlstring(L, (const char *)h, len);
    return 1;
}

static int l_sha1(lua_State *L) { return hash(L, mt_sha1, 20); }
static int l_sha256(lua_State *L) { return hash(L, mt_sha256, 32); }

static int ige(lua_State *L, int enc, int openssl)
{
    const uint8_t *key = lmt_check_len(L, 1, 32, "key");
    const uint8_t *iv = lmt_check_len(L, 2, 32, "iv");
    size_t n;
    const char *in = luaL_checklstring(L, 3, &n);
    if (n % 16) luaL_argerror(L, 3, "data length must be a multiple of 16");
    mt_aes_ige **ctx = lua_touserdata(L, lua_upvalueindex(1));
    luaL_Buffer b;
    uint8_t *out = (uint8_t *)luaL_buffinitsize(L, &b, n ? n : 1);
    int rc = openssl ? openssl_ige(key, iv, (const uint8_t *)in, out, n, enc)
                     : mt_aes_ige_run(*ctx, enc, key, iv, (const uint8_t *)in, out, n);
    if (rc < 0) {
        luaL_pushresultsize(&b, 0);
        return lmt_fail(L, rc, NULL, NULL);
    }
    luaL_pushresultsize(&b, n);
    return 1;
}

static int l_ige_encrypt(lua_State *L) { return ige(L, 1, 0); }
static int l_ige_decrypt(lua_State *L) { return ige(L, 0, 0); }
static int l_openssl_ige_encrypt(lua_State *L) { return ige(L, 1, 1); }
static int l_openssl_ige_decrypt(lua_State *L) { return ige(L, 0, 1); }

/* ige_backend() -> "aesni" | "openssl": what ige_encrypt/ige_decrypt (and the sessions) run on */
static int l_ige_backend(lua_State *L)
{
    mt_aes_ige **ctx = lua_touserdata(L, lua_upvalueindex(1));
    lua_pushstring(L, mt_aes_ige_backend(*ctx));
    return 1;
}

/* msg_key(auth_key, x, plain_with_padding) */
static int l_msg_key(lua_State *L)
{
    const uint8_t *ak = lmt_check_len(L, 1, 256, "auth_key");
    int x = lmt_check_x(L, 2);
    size_t n;
    const char *p = luaL_checklstring(L, 3, &n);
    uint8_t mk[16];
    int rc = mt_msg_key(ak, x, (const uint8_t *)p, n, mk);
    if (rc != MT_OK) return lmt_fail(L, rc, NULL, NULL);
    lua_pushlstring(L, (const char *)mk, 16);
    return 1;
}

/* kdf(auth_key, msg_key, x) -> aes_key, aes_iv */
static int l_kdf(lua_State *L)
{
    const uint8_t *ak = lmt_check_len(L, 1, 256, "auth_key");
    const uint8_t *mk = lmt_check_len(L, 2, 16, "msg_key");
    int x = lmt_check_x(L, 3);
    uint8_t k[32], iv[32];
    int rc = mt_msg_kdf(ak, mk, x, k, iv);
    if (rc != MT_OK) return lmt_fail(L, rc, NULL, NULL);
    lua_pushlstring(L, (const char *)k, 32);
    lua_pushlstring(L, (const char *)iv, 32);
    mt_wipe(k, 32);
    mt_wipe(iv, 32);
    return 2;
}

static int l_auth_key_id(lua_State *L)
{
    const uint8_t *ak = lmt_check_len(L, 1, 256, "auth_key");
    lua_pushinteger(L, (lua_Integer)mt_auth_key_id(ak));
    return 1;
}

static int l_random(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    if (n < 0 || n > (1 << 24)) luaL_argerror(L, 1, "byte count must be 0..16777216");
    luaL_Buffer b;
    uint8_t *out = (uint8_t *)luaL_buffinitsize(L, &b, n ? (size_t)n : 1);
    int rc = mt_random_system(NULL, out, (size_t)n);
    if (rc < 0) {
        luaL_pushresultsize(&b, 0);
        return lmt_fail(L, rc, NULL, NULL);
    }
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
}

/* ctr(key, iv16, data): one-shot AES-256-CTR (the stream state lives in the transport). */
static int l_ctr(lua_State *L)
{
    const uint8_t *key = lmt_check_len(L, 1, 32, "key");
    const uint8_t *iv = lmt_check_len(L, 2, 16, "iv");
    size_t n;
    const char *in = luaL_checklstring(L, 3, &n);
    mt_aes_ctr *c = mt_aes_ctr_new(key, iv);
    if (!c) return lmt_fail(L, MT_ERR_CRYPTO, NULL, NULL);
    luaL_Buffer b;
    uint8_t *out = (uint8_t *)luaL_buffinitsize(L, &b, n ? n : 1);
    mt_aes_ctr_apply(c, (const uint8_t *)in, out, n);
    mt_aes_ctr_free(c);
    luaL_pushresultsize(&b, n);
    return 1;
}

/* Bench only: the serial AES-NI floor, AES-256-CBC encryption of `size`-byte messages in a C
 * loop with the key schedule made once (as bench/floor.c), for about `seconds`; -> MB/s. */
#include <time.h>
#include <openssl/evp.h>
static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time, like os.clock() in bench/crypto.lua */
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
static int l_bench_cbc_floor(lua_State *L)
{
    lua_Integer size = luaL_checkinteger(L, 1);
    double secs = luaL_optnumber(L, 2, 0.3);
    if (size <= 0 || size % 16 || size > (1 << 24)) luaL_argerror(L, 1, "size must be a positive multiple of 16");
    uint8_t key[32] = { 1 }, iv[16] = { 2 };
    uint8_t *buf = calloc(1, (size_t)size + 16);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl;
    long n = 0;
    if (!buf || !ctx || !EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv)) {
        free(buf);
        EVP_CIPHER_CTX_free(ctx);
        return luaL_error(L, "cannot set up AES-256-CBC");
    }
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    double t0 = mono(), dt;
    do {
        for (int k = 0; k < (size > 65536 ? 1 : 256); k++, n++) {
            EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv);
            EVP_EncryptUpdate(ctx, buf, &outl, buf, (int)size);
        }
        dt = mono() - t0;
    } while (dt < secs);
    EVP_CIPHER_CTX_free(ctx);
    free(buf);
    lua_pushnumber(L, (double)n * (double)size / dt / 1e6);
    return 1;
}

static int ctx_gc(lua_State *L)
{
    mt_aes_ige **c = lua_touserdata(L, 1);
    mt_aes_ige_free(*c);
    *c = NULL;
    return 0;
}

static const luaL_Reg funcs[] = {
    { "sha1", l_sha1 },
    { "sha256", l_sha256 },
    { "ige_encrypt", l_ige_encrypt },
    { "ige_decrypt", l_ige_decrypt },
    { "ige_backend", l_ige_backend },
    { "msg_key", l_msg_key },
    { "kdf", l_kdf },
    { "auth_key_id", l_auth_key_id },
    { "random", l_random },
    { "ctr", l_ctr },
    { "openssl_ige_encrypt", l_openssl_ige_encrypt },
    { "openssl_ige_decrypt", l_openssl_ige_decrypt },
    { "bench_cbc_floor", l_bench_cbc_floor },
    { NULL, NULL },
};

/* The IGE functions share one reusable pair of OpenSSL contexts, held as their upvalue (a
 * userdata freed by __gc): per-state, not global. */
int mt_open_crypto(lua_State *L)
{
    lua_newtable(L);
    mt_aes_ige **c = lua_newuserdatauv(L, sizeof *c, 0);
    *c = NULL;
    lua_newtable(L);
    lua_pushcfunction(L, ctx_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    if (!(*c = mt_aes_ige_new())) return luaL_error(L, "out of memory");
    luaL_setfuncs(L, funcs, 1);
    return 1;
}
