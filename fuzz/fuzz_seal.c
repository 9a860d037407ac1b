/* libFuzzer target: sealed (encrypted) session files on hostile input. Byte 0 picks:
 *   0  the rest is a file: parsed, then opened with a fixed 32-byte key (never a scrypt
 *      derivation from the file's parameters: a valid header may ask for 256 MiB)
 *   1  the rest is a plaintext: sealed with the fixed key, opened back (must match), then
 *      byte 1 picks a byte to flip and the opening must fail */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_common.h"
#include "mt_seal.h"

static const uint8_t KEY[32] = { 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    unsigned sel = data[0] % 2, pick = data[1];
    data += 2; size -= 2;
    fuzz_rng rs = { 0x9e3779b97f4a7c15ull ^ size };
    mt_random rnd = { fuzz_random, &rs };
    mt_seal_key k;
    if (mt_seal_key_derive(&k, MT_SEAL_KDF_KEY, NULL, KEY, sizeof KEY, &rnd) != MT_OK) abort();
    mt_buf out;
    mt_buf_init(&out);
    if (sel == 0) {
        mt_seal_header h;
        mt_seal_parse(data, size, &h);
        mt_seal_open(&k, data, size, &out);
    } else if (mt_seal_seal(&k, &rnd, data, size, &out) == MT_OK) {
        mt_buf back;
        mt_buf_init(&back);
        if (mt_seal_open(&k, out.data, out.len, &back) != MT_OK || back.len != size
            || (size && memcmp(back.data, data, size) != 0))
            abort();
        mt_buf_free(&back);
        out.data[(pick * 7919u) % out.len] ^= (uint8_t)(1u << (pick % 8));
        mt_buf_init(&back);
        if (mt_seal_open(&k, out.data, out.len, &back) == MT_OK) abort();
        mt_buf_free(&back);
    }
    mt_buf_free(&out);
    mt_seal_key_wipe(&k);
    return 0;
}
