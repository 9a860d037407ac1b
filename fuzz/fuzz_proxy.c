/* libFuzzer target: the proxy stages on hostile input. Byte 0 picks the stage and byte 1
 * a split point; the rest is what the peer sent, fed in two pieces:
 *   0  SOCKS5 client (with a login) reading the proxy's answers
 *   1  fake-TLS client checking a server answer
 *   2  fake-TLS server checking a ClientHello
 *   3  TLS record reader
 *   4  MTProxy server transport (keyed obfuscated2 inside TLS records), frames drained */
#include <stdint.h>
#include <string.h>
#include "mt_faketls.h"
#include "mt_socks5.h"
#include "mt_transport.h"

static const uint8_t SECRET[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    unsigned sel = data[0] % 5, split = data[1];
    data += 2; size -= 2;
    size_t cut = size ? split % (size + 1) : 0;
    mt_buf out;
    mt_buf_init(&out);
    switch (sel) {
    case 0: {
        int err;
        mt_socks5 *s = mt_socks5_new("venus.example", 443, "user", "pass", &err);
        if (!s) break;
        mt_socks5_start(s, &out);
        size_t used;
        if (mt_socks5_feed(s, data, cut, &out, &used) == 0) mt_socks5_feed(s, data + cut, size - cut, &out, &used);
        mt_socks5_free(s);
        break;
    }
    case 1: {
        uint8_t cr[32] = { 0 };
        size_t used;
        mt_faketls_client_check(SECRET, 16, cr, data, cut, &used);
        mt_faketls_client_check(SECRET, 16, cr, data, size, &used);
        break;
    }
    case 2: {
        uint8_t cr[32], sid[32];
        size_t used;
        mt_faketls_server_check(SECRET, data, cut, MT_FAKETLS_HELLO_MAX, 1700000000, 120, &used, cr, sid);
        mt_faketls_server_check(SECRET, data, size, MT_FAKETLS_HELLO_MAX_ANY, 1700000000, 120, &used, cr, sid);
        break;
    }
    case 3: {
        mt_tls_reader r;
        memset(&r, 0, sizeof r);
        if (mt_tls_unwrap(&r, data, cut, &out) == MT_OK) mt_tls_unwrap(&r, data + cut, size - cut, &out);
        break;
    }
    default: {
        mt_transport *t = mt_transport_new_server();
        if (!t || mt_transport_set_proxy(t, SECRET, 1) < 0) { mt_transport_free(t); break; }
        const uint8_t *pieces[2] = { data, data + cut };
        size_t lens[2] = { cut, size - cut };
        for (int i = 0; i < 2; i++) {
            if (mt_transport_feed(t, pieces[i], lens[i]) < 0) break;
            const uint8_t *p; size_t n; int32_t code;
            int r;
            while ((r = mt_transport_next(t, &p, &n, &code)) == 1 || r == MT_ERR_TRANSPORT) {
                out.len = 0;
                if (r == 1) mt_transport_encode(t, p, n < 64 ? n & ~(size_t)3 : 64, &out);
            }
        }
        mt_transport_free(t);
        break;
    }
    }
    mt_buf_free(&out);
    return 0;
}
