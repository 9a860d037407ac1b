/* libFuzzer target: the client side of the auth-key handshake, fed hostile
 * server answers. An in-memory server (deterministic random, fixed RSA key)
 * plays the exchange honestly; byte 0 of the input picks which of its three
 * answers (resPQ, server_DH_params, dh_gen_*) is replaced by the rest of the
 * input. The client must reject or accept, never crash or leak.
 * FUZZ_AUTH_SEEDS=dir writes the honest answers there as a seed corpus. */
#include <string.h>
#include "fuzz_common.h"
#include "mt_auth.h"
#include "mt_rsa.h"

#ifndef FUZZ_DIR
#define FUZZ_DIR "fuzz"
#endif

static mt_rsa_priv *server_key(mt_rsa_keys **pub)
{
    static mt_rsa_priv *priv; /* loaded once per fuzzing process */
    static mt_rsa_keys *keys;
    if (!priv) {
        size_t n;
        char *pem = fuzz_read_file(FUZZ_DIR "/fixtures/server_key.pem", &n);
        if (!pem) abort();
        priv = mt_rsa_priv_load_pem(pem, n);
        free(pem);
        mt_buf pubpem;
        mt_buf_init(&pubpem);
        if (!priv || mt_rsa_priv_public_pem(priv, &pubpem) < 0) abort();
        keys = mt_rsa_keys_new(0);
        if (!keys || mt_rsa_keys_add_pem(keys, (const char *)pubpem.data, pubpem.len) < 0) abort();
        mt_buf_free(&pubpem);
    }
    *pub = keys;
    return priv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *seed_dir = getenv("FUZZ_AUTH_SEEDS");
    unsigned target = data[0] % 3;
    mt_rsa_keys *keys;
    mt_rsa_priv *priv = server_key(&keys);
    fuzz_rng crng = { 0x1234567887654321ull }, srng = { 0x0fedcba987654321ull };
    mt_random crnd = { fuzz_random, &crng }, srnd = { fuzz_random, &srng };
    mt_auth_client *c = mt_auth_client_new(keys, 2, 0, &crnd);
    mt_auth_server *s = mt_auth_server_new(priv, &srnd);
    mt_buf c2s, s2c;
    mt_buf_init(&c2s);
    mt_buf_init(&s2c);
    const int32_t now = 1700000000;
    int r = c && s ? mt_auth_client_step(c, NULL, 0, now, &c2s) : -1;
    for (unsigned step = 0; r == MT_AUTH_SEND && step < 3; step++) {
        s2c.len = 0;
        if (mt_auth_server_step(s, c2s.data, c2s.len, now, &s2c) < 0) break;
        if (seed_dir) {
            char name[32];
            snprintf(name, sizeof name, "step%u", step);
            fuzz_write_seed(seed_dir, name, (uint8_t)step, s2c.data, s2c.len);
        }
        const uint8_t *answer = s2c.data;
        size_t alen = s2c.len;
        if (step == target && !seed_dir) { answer = data + 1; alen = size - 1; }
        c2s.len = 0;
        r = mt_auth_client_step(c, answer, alen, now, &c2s);
        if (step == target && !seed_dir) break;
    }
    if (r == MT_AUTH_DONE) {
        uint8_t key[256]; int64_t salt; int32_t off;
        mt_auth_client_result(c, key, &salt, &off);
    }
    mt_buf_free(&c2s);
    mt_buf_free(&s2c);
    mt_auth_client_free(c);
    mt_auth_server_free(s);
    return 0;
}
