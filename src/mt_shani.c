/* SHA-256 on SHA-NI (see mt_shani.h). FIPS 180-4's compression: SHA256RNDS2 does two rounds
 * on the state kept as ABEF and CDGH, SHA256MSG1/MSG2 the message schedule four words at a
 * time, as Intel's SHA extensions paper lays it out. */
#include <stdlib.h>
#include <string.h>
#include "mt_shani.h"
#include "mt_buf.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

#define SHANI __attribute__((target("sha,sse4.1,ssse3")))

int mt_shani_usable(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1)) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & bit_SHA)) return 0;
    return !getenv("MTPROTO_NO_SHANI");
}

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* Rounds 4j .. 4j+3 on state (s0 = ABEF, s1 = CDGH); from group 4 on, the group's message
 * words x0 are made from the four groups before (x0 the oldest: W[t-16]; x1, x2, x3 after). */
#define GROUP(j, x0, x1, x2, x3, s0, s1)                                                        \
    do {                                                                                         \
        if ((j) >= 4)                                                                            \
            x0 = _mm_sha256msg2_epu32(                                                           \
                _mm_add_epi32(_mm_sha256msg1_epu32(x0, x1), _mm_alignr_epi8(x3, x2, 4)), x3);    \
        __m128i m_ = _mm_add_epi32(x0, _mm_loadu_si128((const __m128i *)(const void *)(K + 4 * (j)))); \
        s1 = _mm_sha256rnds2_epu32(s1, s0, m_);                                                  \
        s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(m_, 0x0e));                         \
    } while (0)
#define BOTH(j)                                                                                   \
    GROUP(j, xa[(j) & 3], xa[((j) + 1) & 3], xa[((j) + 2) & 3], xa[((j) + 3) & 3], a0, a1);      \
    GROUP(j, xb[(j) & 3], xb[((j) + 1) & 3], xb[((j) + 2) & 3], xb[((j) + 3) & 3], b0, b1)

/* The digest (big-endian H0..H7) of a final state s0 = ABEF, s1 = CDGH. */
SHANI static void put_digest(uint8_t out[32], __m128i s0, __m128i s1, __m128i bswap)
{
    __m128i feba = _mm_shuffle_epi32(s0, 0x1b), dchg = _mm_shuffle_epi32(s1, 0xb1);
    _mm_storeu_si128((__m128i *)(void *)out, _mm_shuffle_epi8(_mm_blend_epi16(feba, dchg, 0xf0), bswap));
    _mm_storeu_si128((__m128i *)(void *)(out + 16), _mm_shuffle_epi8(_mm_alignr_epi8(dchg, feba, 8), bswap));
}

SHANI void mt_shani_sha256_two52(const uint8_t a[52], const uint8_t b[52], uint8_t da[32], uint8_t db[32])
{
    /* each input padded to its one block: 0x80, zeros, the length in bits (416) */
    uint8_t blk[2][64];
    memcpy(blk[0], a, 52);
    memcpy(blk[1], b, 52);
    for (int i = 0; i < 2; i++) {
        memset(blk[i] + 52, 0, 12);
        blk[i][52] = 0x80;
        blk[i][62] = (52 * 8) >> 8;
        blk[i][63] = (52 * 8) & 0xff;
    }
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    const __m128i i0 = _mm_set_epi32(0x6a09e667, (int)0xbb67ae85, 0x510e527f, (int)0x9b05688c); /* ABEF */
    const __m128i i1 = _mm_set_epi32(0x3c6ef372, (int)0xa54ff53a, 0x1f83d9ab, 0x5be0cd19);       /* CDGH */
    __m128i a0 = i0, a1 = i1, b0 = i0, b1 = i1, xa[4], xb[4];
    for (int j = 0; j < 4; j++) {
        xa[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(blk[0] + 16 * j)), bswap);
        xb[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(blk[1] + 16 * j)), bswap);
    }
    BOTH(0); BOTH(1); BOTH(2); BOTH(3); BOTH(4); BOTH(5); BOTH(6); BOTH(7);
    BOTH(8); BOTH(9); BOTH(10); BOTH(11); BOTH(12); BOTH(13); BOTH(14); BOTH(15);
    put_digest(da, _mm_add_epi32(a0, i0), _mm_add_epi32(a1, i1), bswap);
    put_digest(db, _mm_add_epi32(b0, i0), _mm_add_epi32(b1, i1), bswap);
    mt_wipe(blk, sizeof blk);
    mt_wipe(xa, sizeof xa);
    mt_wipe(xb, sizeof xb);
}

#else

int mt_shani_usable(void) { return 0; }

/* never called: mt_shani_usable() is 0 */
void mt_shani_sha256_two52(const uint8_t a[52], const uint8_t b[52], uint8_t da[32], uint8_t db[32]) { abort(); }

#endif
