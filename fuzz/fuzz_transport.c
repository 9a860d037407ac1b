/* libFuzzer target: every transport's framing, client and server side.
 * Byte 0 picks the transport and a split point; the rest is fed as received
 * bytes in two pieces and every frame is drained. */
#include <stdint.h>
#include <string.h>
#include "mt_transport.h"

static int fixed_random(void *ud, uint8_t *out, size_t n)
{
    (void)ud;
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(i * 37 + 11);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    static const int kinds[] = { MT_TR_ABRIDGED, MT_TR_INTERMEDIATE, MT_TR_PADDED, MT_TR_FULL, MT_TR_OBFUSCATED };
    unsigned sel = data[0] % 8, split = data[1];
    data += 2; size -= 2;
    mt_random rnd = { fixed_random, NULL };
    mt_transport *t = sel < 5 ? mt_transport_new_client(kinds[sel], sel == 4 ? MT_TR_PADDED : 0, 2, &rnd)
                              : mt_transport_new_server();
    if (!t) return 0;
    mt_buf scratch;
    mt_buf_init(&scratch);
    if (sel < 5) mt_transport_start(t, &scratch);
    size_t cut = size ? split % (size + 1) : 0;
    const uint8_t *pieces[2] = { data, data + cut };
    size_t lens[2] = { cut, size - cut };
    int dead = 0;
    for (int i = 0; i < 2 && !dead; i++) {
        if (mt_transport_feed(t, pieces[i], lens[i]) < 0) break;
        for (;;) {
            const uint8_t *p; size_t n; int32_t code = 0;
            int r = mt_transport_next(t, &p, &n, &code);
            if (r < 0) { dead = 1; break; }
            if (r == 0) break;
            /* a frame must lie inside memory we can read: touch every byte */
            volatile uint8_t sink = 0;
            for (size_t k = 0; k < n; k++) sink ^= p[k];
            (void)sink;
            /* answering on the same object must work too (servers echo) */
            scratch.len = 0;
            mt_transport_encode(t, p, n < 64 ? n & ~(size_t)3 : 64, &scratch);
        }
    }
    mt_buf_free(&scratch);
    mt_transport_free(t);
    return 0;
}
