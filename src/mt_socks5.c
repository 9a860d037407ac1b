/* SOCKS5 client, sans-IO (see mt_socks5.h). */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "mt_socks5.h"
#include "mt_err.h"

enum { ST_METHOD, ST_LOGIN, ST_REPLY, ST_DONE };

struct mt_socks5 {
    int state;
    int err;             /* sticky failure */
    int rep;             /* CONNECT reply code */
    uint8_t hdr[4 + 1 + 255 + 2]; /* reply bytes gathered so far: the longest is a CONNECT reply with a 255-byte name */
    size_t have;
    uint8_t request[4 + 1 + 255 + 2];
    size_t request_len;
    uint8_t login[3 + 255 + 255];
    size_t login_len;
};

mt_socks5 *mt_socks5_new(const char *host, int port, const char *user, const char *pass, int *err)
{
    *err = MT_ERR_ARG;
    size_t hl = host ? strlen(host) : 0;
    if (hl == 0 || hl > 255 || port <= 0 || port > 65535) return NULL;
    if ((user == NULL) != (pass == NULL)) return NULL;
    size_t ul = user ? strlen(user) : 0, pl = pass ? strlen(pass) : 0;
    if (user && (ul == 0 || ul > 255 || pl == 0 || pl > 255)) return NULL;
    mt_socks5 *s = calloc(1, sizeof *s);
    if (!s) { *err = MT_ERR_NOMEM; return NULL; }
    uint8_t *r = s->request;
    size_t n = 0;
    r[n++] = 5; r[n++] = 1; r[n++] = 0;           /* version, CONNECT, reserved */
    uint8_t a[16];
    if (inet_pton(AF_INET, host, a) == 1) {
        r[n++] = 1; memcpy(r + n, a, 4); n += 4;
    } else if (inet_pton(AF_INET6, host, a) == 1) {
        r[n++] = 4; memcpy(r + n, a, 16); n += 16;
    } else {
        r[n++] = 3; r[n++] = (uint8_t)hl; memcpy(r + n, host, hl); n += hl;
    }
    r[n++] = (uint8_t)(port >> 8);
    r[n++] = (uint8_t)port;
    s->request_len = n;
    if (user) {
        uint8_t *l = s->login;
        l[0] = 1;
        l[1] = (uint8_t)ul; memcpy(l + 2, user, ul);
        l[2 + ul] = (uint8_t)pl; memcpy(l + 3 + ul, pass, pl);
        s->login_len = 3 + ul + pl;
    }
    *err = MT_OK;
    return s;
}

void mt_socks5_free(mt_socks5 *s)
{
    if (!s) return;
    mt_wipe(s, sizeof *s);
    free(s);
}

int mt_socks5_reply(const mt_socks5 *s) { return s->rep; }

const char *mt_socks5_reply_text(int rep)
{
    static const char *const text[] = {
        "succeeded", "general SOCKS server failure", "connection not allowed by ruleset",
        "network unreachable", "host unreachable", "connection refused", "TTL expired",
        "command not supported", "address type not supported",
    };
    return rep >= 0 && rep <= 8 ? text[rep] : "unassigned reply code";
}

int mt_socks5_start(mt_socks5 *s, mt_buf *out)
{
    /* offer the login only when we have one: a proxy without passwords then picks 00 */
    static const uint8_t plain[] = { 5, 1, 0 }, login[] = { 5, 2, 0, 2 };
    if (s->login_len) mt_buf_put(out, login, sizeof login);
    else mt_buf_put(out, plain, sizeof plain);
    return out->oom ? MT_ERR_NOMEM : MT_OK;
}

static int fail(mt_socks5 *s, int code) { return s->err = code; }

/* Bytes the reply of the current state needs in total (it may grow as its
 * address type becomes known). */
static size_t need(const mt_socks5 *s)
{
    if (s->state != ST_REPLY) return 2;
    if (s->have < 5) return 5;
    switch (s->hdr[3]) {
    case 1: return 4 + 4 + 2;
    case 4: return 4 + 16 + 2;
    case 3: return 4 + 1 + (size_t)s->hdr[4] + 2;
    default: return 5;
    }
}

int mt_socks5_feed(mt_socks5 *s, const uint8_t *in, size_t n, mt_buf *out, size_t *used)
{
    *used = 0;
    if (s->err) return s->err;
    while (s->state != ST_DONE) {
        size_t want = need(s);
        while (s->have < want && *used < n) {
            s->hdr[s->have++] = in[(*used)++];
            want = need(s);
        }
        const uint8_t *h = s->hdr;
        /* a refusal is final whatever address follows it (some proxies close right after) */
        if (s->state == ST_REPLY && s->have >= 2 && h[0] == 5 && h[1] != 0) {
            s->rep = h[1];
            return fail(s, MT_ERR_PROXY_REFUSED);
        }
        if (s->have < want) return 0;
        switch (s->state) {
        case ST_METHOD:
            if (h[0] != 5) return fail(s, MT_ERR_PROXY_PROTO);
            if (h[1] == 0) {
                mt_buf_put(out, s->request, s->request_len);
                s->state = ST_REPLY;
            } else if (h[1] == 2 && s->login_len) {
                mt_buf_put(out, s->login, s->login_len);
                s->state = ST_LOGIN;
            } else if (h[1] == 0xff || h[1] == 2) {
                return fail(s, MT_ERR_PROXY_AUTH);   /* wants a login we lack, or none fits */
            } else {
                return fail(s, MT_ERR_PROXY_PROTO);
            }
            break;
        case ST_LOGIN:
            if (h[0] != 1 && h[0] != 5) return fail(s, MT_ERR_PROXY_PROTO);
            if (h[1] != 0) return fail(s, MT_ERR_PROXY_AUTH);
            mt_buf_put(out, s->request, s->request_len);
            s->state = ST_REPLY;
            break;
        case ST_REPLY:
            if (h[0] != 5 || h[2] != 0) return fail(s, MT_ERR_PROXY_PROTO);
            if (h[3] != 1 && h[3] != 3 && h[3] != 4) return fail(s, MT_ERR_PROXY_PROTO);
            s->state = ST_DONE;
            break;
        }
        if (out->oom) return fail(s, MT_ERR_NOMEM);
        s->have = 0;
    }
    return 1;
}
