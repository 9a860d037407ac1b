/*
 * The client's CPU per small call, without sockets: `make` first, then
 *
 *   cc -O2 -g -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Isrc -o build/bench/callpath \
 *      bench/callpath.c build/obj/mt_*.o build/obj/schema_data.o -lcrypto -lz
 *   build/bench/callpath [N [calls]]     ("calls": only the call path, for perf record)
 *
 * One call = what the client does for one auth.resendCode-sized request: mt_session_send,
 * mt_session_pack (encrypt, with the acks owed), then, for the server's answer (an
 * rpc_result of ~120 bytes, made here outside the timed part), mt_session_receive (decrypt,
 * checks, result) and mt_session_take/release. Also the bare mt_msg_encrypt / mt_msg_decrypt
 * per small message (64-byte body), one-shot and over a reused mt_crypto_ctx with the padding
 * from a CSPRNG pool as a session draws it (client_crypto_us_per_small_msg_pair: one of each).
 * Prints `name value` lines (ns per operation; the best of 5 rounds). bench/run.lua runs it.
 * Instruction counts of the client's part (valgrind does not use SHA-NI, so SHA-256 weighs more):
 *   valgrind --tool=callgrind --toggle-collect=mt_session_pack --toggle-collect=mt_session_receive \
 *     --toggle-collect=mt_session_send --toggle-collect=mt_session_release build/bench/callpath 1000 calls
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mt_buf.h"
#include "mt_crypto.h"
#include "mt_msg.h"
#include "mt_session.h"
#include "mt_ids.h"

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The best of the rounds (as bench/gramjs_micro.js reports GramJS's): on a shared machine
 * other processes only ever add time to a CPU-bound loop. */
static double best5(double *v)
{
    qsort(v, 5, sizeof *v, cmp);
    return v[0];
}

/* The bench server's padding: not secret, only cheap, so that profiles show the client. */
static int cheap_random(void *ud, uint8_t *out, size_t n)
{
    uint64_t *x = ud;
    for (size_t i = 0; i < n; i++) {
        *x ^= *x << 13; *x ^= *x >> 7; *x ^= *x << 17;
        out[i] = (uint8_t)*x;
    }
    return 0;
}

#define CHECK(x) do { if (!(x)) { fprintf(stderr, "callpath: %s failed (line %d)\n", #x, __LINE__); exit(1); } } while (0)

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    int only_calls = argc > 2 && strcmp(argv[2], "calls") == 0; /* for profiling the call path alone */
    uint8_t key[256], body[64], answer[128];
    CHECK(mt_random_system(NULL, key, sizeof key) == 0);
    CHECK(mt_random_system(NULL, body, sizeof body) == 0);
    CHECK(mt_random_system(NULL, answer, sizeof answer) == 0);

    mt_session_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.auth_key = key;
    cfg.salt = 1234;
    mt_session *s = mt_session_new(&cfg, NULL);
    CHECK(s);
    mt_session_state st;
    mt_session_get_state(s, &st);

    mt_buf out, plain, srv, rbody;
    mt_buf_init(&out); mt_buf_init(&plain); mt_buf_init(&srv); mt_buf_init(&rbody);
    mt_msgid_gen sgen = { 0, 0 };
    mt_crypto_ctx *scc = mt_crypto_ctx_new(NULL); /* the server's side, outside the timed parts */
    CHECK(scc);
    uint64_t key_id = mt_auth_key_id(key), seed = 88172645463325252ull;
    mt_random srnd = { cheap_random, &seed };
    mt_random_pool cpool; /* padding drawn as mt_session draws it */
    mt_random_pool_init(&cpool, NULL);
    const mt_random prnd = cpool.rnd;
    double t_send[5], t_recv[5], t_enc[5], t_dec[5], t_encc[5], t_decc[5];

    for (int round = 0; round < 5; round++) {
        double ts = 0, tr = 0;
        for (long i = 0; i < n; i++) {
            uint64_t id;
            double now = wall();
            double t0 = mono();
            CHECK(mt_session_send(s, body, sizeof body, &id) == 0);
            out.len = 0;
            CHECK(mt_session_pack(s, now, 0, &out) > 0);
            double t1 = mono();
            ts += t1 - t0;

            /* the server: decrypt, find the request's msg_id, answer (not timed) */
            mt_msg m;
            CHECK(mt_msg_decrypt_ctx(scc, key, key_id, 0, out.data, out.len, &plain, &m) == 0);
            int64_t req_id = m.msg_id;
            if (m.len >= 4 && mt_le32(m.body) == MT_ID_MSG_CONTAINER) {
                mt_container_iter it;
                int64_t mid; int32_t sq; const uint8_t *bp; size_t bl;
                CHECK(mt_container_iter_init(&it, m.body, m.len) == 0);
                while (mt_container_next(&it, &mid, &sq, &bp, &bl) == 1)
                    if (sq & 1) req_id = mid;
            }
            rbody.len = 0;
            mt_buf_put_u32(&rbody, MT_ID_RPC_RESULT);
            mt_buf_put_i64(&rbody, req_id);
            mt_buf_put(&rbody, answer, sizeof answer);
            srv.len = 0;
            CHECK(mt_msg_encrypt_ctx(scc, key, key_id, 8, 1234, st.session_id, mt_msgid_next(&sgen, (int64_t)(now * 1e9), 1),
                                 (int32_t)(2 * i + 1), rbody.data, rbody.len, &srnd, &srv) == 0);

            double t2 = mono();
            CHECK(mt_session_receive(s, srv.data, srv.len, now) == 0);
            mt_session_events_clear(s);
            const uint8_t *d; size_t dl; int32_t code;
            CHECK(mt_session_take(s, id, &d, &dl, &code) == MT_REQ_DONE);
            mt_session_release(s, id);
            tr += mono() - t2;
        }
        t_send[round] = ts * 1e9 / (double)n;
        t_recv[round] = tr * 1e9 / (double)n;

        if (only_calls) continue;
        /* bare message encryption / decryption of one small message */
        double t0 = mono();
        for (long i = 0; i < n; i++) {
            out.len = 0;
            CHECK(mt_msg_encrypt(key, 0, 1, 2, 4 * i + 4, 1, body, sizeof body, NULL, &out) == 0);
        }
        t_enc[round] = (mono() - t0) * 1e9 / (double)n;
        t0 = mono();
        for (long i = 0; i < n; i++)
            CHECK(mt_msg_decrypt(key, 0, out.data, out.len, &plain, &(mt_msg){ 0 }) == 0);
        t_dec[round] = (mono() - t0) * 1e9 / (double)n;
        /* the same over a reused context, with the padding from a pool as a session does */
        t0 = mono();
        for (long i = 0; i < n; i++) {
            out.len = 0;
            CHECK(mt_msg_encrypt_ctx(scc, key, key_id, 0, 1, 2, 4 * i + 4, 1, body, sizeof body, &prnd, &out) == 0);
        }
        t_encc[round] = (mono() - t0) * 1e9 / (double)n;
        t0 = mono();
        for (long i = 0; i < n; i++)
            CHECK(mt_msg_decrypt_ctx(scc, key, key_id, 0, out.data, out.len, &plain, &(mt_msg){ 0 }) == 0);
        t_decc[round] = (mono() - t0) * 1e9 / (double)n;
    }
    double a = best5(t_send), b = best5(t_recv);
    printf("callpath.pack_ns %.0f\n", a);
    printf("callpath.receive_ns %.0f\n", b);
    printf("callpath.session_pack_receive_us_per_call %.3f\n", (a + b) / 1000);
    if (only_calls) goto done;
    printf("callpath.msg_encrypt_ns %.0f\n", best5(t_enc));
    printf("callpath.msg_decrypt_ns %.0f\n", best5(t_dec));
    printf("callpath.msg_encrypt_ctx_ns %.0f\n", best5(t_encc));
    printf("callpath.msg_decrypt_ctx_ns %.0f\n", best5(t_decc));
    printf("callpath.client_crypto_us_per_small_msg_pair %.3f\n", (best5(t_encc) + best5(t_decc)) / 1000);
done:
    mt_crypto_ctx_free(scc);
    mt_buf_free(&out); mt_buf_free(&plain); mt_buf_free(&srv); mt_buf_free(&rbody);
    mt_session_free(s);
    return 0;
}
