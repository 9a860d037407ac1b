/* AES-256-IGE on AES-NI (see mt_aesni.h). The key schedule follows FIPS 197 as Intel's AES-NI
 * white paper lays it out: AESKEYGENASSIST gives SubWord (and RotWord ^ Rcon) of a round key's
 * last word; decryption uses the equivalent inverse cipher (AESIMC of the middle round keys). */
#include <stdlib.h>
#include "mt_aesni.h"
#include "mt_buf.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AESNI __attribute__((target("aes,sse2")))

int mt_aesni_usable(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("aes") && !getenv("MTPROTO_NO_AESNI");
}

/* The next round key from the one two steps back (k) and t, the word AESKEYGENASSIST made
 * from the key before, broadcast: w[i] = w[i-8] ^ t, then each word XORs the ones before. */
AESNI static inline __m128i next_key(__m128i k, __m128i t)
{
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    return _mm_xor_si128(k, t);
}

/* Round keys 2i (RotWord, SubWord, Rcon) and 2i+1 (SubWord only); rcon must be a constant. */
#define EVEN(i, rcon) rk[i] = next_key(rk[i - 2], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], rcon), 0xff))
#define ODD(i) rk[i] = next_key(rk[i - 2], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], 0), 0xaa))

AESNI static void expand(const uint8_t key[32], __m128i rk[15])
{
    rk[0] = _mm_loadu_si128((const __m128i *)(const void *)key);
    rk[1] = _mm_loadu_si128((const __m128i *)(const void *)(key + 16));
    EVEN(2, 0x01); ODD(3);
    EVEN(4, 0x02); ODD(5);
    EVEN(6, 0x04); ODD(7);
    EVEN(8, 0x08); ODD(9);
    EVEN(10, 0x10); ODD(11);
    EVEN(12, 0x20); ODD(13);
    EVEN(14, 0x40);
}

AESNI static inline __m128i encrypt_block(__m128i x, const __m128i rk[15])
{
    x = _mm_xor_si128(x, rk[0]);
    for (int r = 1; r < 14; r++) x = _mm_aesenc_si128(x, rk[r]);
    return _mm_aesenclast_si128(x, rk[14]);
}

AESNI static inline __m128i decrypt_block(__m128i x, const __m128i dk[15])
{
    x = _mm_xor_si128(x, dk[0]);
    for (int r = 1; r < 14; r++) x = _mm_aesdec_si128(x, dk[r]);
    return _mm_aesdeclast_si128(x, dk[14]);
}

static inline __m128i load(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)(const void *)p); }
static inline void store(uint8_t *p, __m128i v) { _mm_storeu_si128((__m128i *)(void *)p, v); }

/* IGE: y_i = E(x_i ^ y_{i-1}) ^ x_{i-1} and x_i = D(y_i ^ x_{i-1}) ^ y_{i-1}, with
 * y_{-1} = iv[0..16), x_{-1} = iv[16..32). Each block is read before its output is written
 * (in and out may be the same). */
AESNI void mt_aesni_begin(mt_aesni_chain *c, int enc, const uint8_t key[32], const uint8_t iv[32])
{
    __m128i *k = (__m128i *)(void *)c->rk;
    expand(key, k);
    if (!enc) { /* reversed in place, the middle ones through AESIMC */
        for (int r = 0; r < 7; r++) {
            __m128i lo = k[r], hi = k[14 - r];
            k[r] = r ? _mm_aesimc_si128(hi) : hi;
            k[14 - r] = r ? _mm_aesimc_si128(lo) : lo;
        }
        k[7] = _mm_aesimc_si128(k[7]);
    }
    store(c->y, load(iv));
    store(c->x, load(iv + 16));
    c->enc = enc;
}

AESNI void mt_aesni_run(mt_aesni_chain *c, const uint8_t *in, uint8_t *out, size_t len)
{
    const __m128i *k = (const __m128i *)(const void *)c->rk;
    __m128i y_prev = load(c->y), x_prev = load(c->x);
    if (c->enc) {
        for (size_t i = 0; i < len; i += 16) {
            __m128i x = load(in + i);
            y_prev = _mm_xor_si128(encrypt_block(_mm_xor_si128(x, y_prev), k), x_prev);
            store(out + i, y_prev);
            x_prev = x;
        }
    } else {
        for (size_t i = 0; i < len; i += 16) {
            __m128i y = load(in + i);
            x_prev = _mm_xor_si128(decrypt_block(_mm_xor_si128(y, x_prev), k), y_prev);
            store(out + i, x_prev);
            y_prev = y;
        }
    }
    store(c->y, y_prev);
    store(c->x, x_prev);
}

void mt_aesni_end(mt_aesni_chain *c) { mt_wipe(c, sizeof *c); }

void mt_aesni_ige(int enc, const uint8_t key[32], const uint8_t iv[32], const uint8_t *in, uint8_t *out, size_t len)
{
    mt_aesni_chain c;
    mt_aesni_begin(&c, enc, key, iv);
    mt_aesni_run(&c, in, out, len);
    mt_aesni_end(&c);
}

#else

int mt_aesni_usable(void) { return 0; }

/* never called: mt_aesni_usable() is 0 */
void mt_aesni_ige(int enc, const uint8_t key[32], const uint8_t iv[32], const uint8_t *in, uint8_t *out, size_t len)
{
    abort();
}
void mt_aesni_begin(mt_aesni_chain *c, int enc, const uint8_t key[32], const uint8_t iv[32]) { abort(); }
void mt_aesni_run(mt_aesni_chain *c, const uint8_t *in, uint8_t *out, size_t len) { abort(); }
void mt_aesni_end(mt_aesni_chain *c) { abort(); }

#endif
