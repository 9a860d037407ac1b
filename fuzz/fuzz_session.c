/* libFuzzer target: decryption and parsing of encrypted server messages by
 * the client session. Byte 0 picks the mode:
 *   even: the rest is a raw packet (outer checks: auth_key_id, msg_key, lengths);
 *   odd:  the rest is the plaintext body of one server message, sealed here with
 *         the right key, session_id and a fresh msg_id, so the fuzzer reaches
 *         the service-message and rpc_result parsing behind the crypto.
 * One request is pending so rpc_result, bad_server_salt, acks etc. have a target. */
#include <string.h>
#include "fuzz_common.h"
#include "mt_msg.h"
#include "mt_session.h"

#define SESSION_ID 0x1122334455667788ll
#define NOW 1700000000.0

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t key[256];
    for (int i = 0; i < 256; i++) key[i] = (uint8_t)(i * 7 + 3);
    fuzz_rng rng = { 42 };
    mt_random rnd = { fuzz_random, &rng };
    mt_session_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.auth_key = key;
    cfg.salt = 77;
    cfg.session_id = SESSION_ID;
    cfg.rnd = &rnd;
    mt_session *s = mt_session_new(&cfg, NULL);
    if (!s) return 0;

    /* a pending ping (content-related, like any request) */
    static const uint8_t ping[12] = { 0xec, 0x77, 0xbe, 0x7a, 1, 2, 3, 4, 5, 6, 7, 8 };
    uint64_t id;
    mt_buf out, packet;
    mt_buf_init(&out);
    mt_buf_init(&packet);
    mt_session_send(s, ping, sizeof ping, &id);
    mt_session_pack(s, NOW, 0, &out);

    if (data[0] & 1) {
        size_t body_len = (size - 1) & ~(size_t)3;
        mt_msgid_gen gen = { 0, 0 };
        int64_t msg_id = mt_msgid_next(&gen, (int64_t)NOW * 1000000000ll + 5000000, 1);
        if (mt_msg_encrypt(key, 8, 77, SESSION_ID, msg_id, 1, data + 1, body_len, &rnd, &packet) >= 0)
            mt_session_receive(s, packet.data, packet.len, NOW);
    } else {
        mt_session_receive(s, data + 1, size - 1, NOW);
    }
    /* whatever happened, the session must still be usable */
    size_t nev;
    mt_session_events(s, &nev);
    const uint8_t *res; size_t rlen; int32_t code;
    mt_session_take(s, id, &res, &rlen, &code);
    out.len = 0;
    mt_session_pack(s, NOW, 1, &out);

    mt_buf_free(&out);
    mt_buf_free(&packet);
    mt_session_free(s);
    return 0;
}
