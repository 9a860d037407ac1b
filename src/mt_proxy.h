/* The proxy of a link: its pre-transport stage (mt_link_stage) and, for MTProxy, how the
 * transport is keyed. Sans-IO: the shell connects to the proxy's address, the link runs
 * the stage, then the transport.
 *
 *   SOCKS5            stage: mt_socks5 (CONNECT to the DC's host and port as given)
 *   MTProxy plain/dd  no stage; obfuscated2 keyed with the secret (intermediate or
 *                     abridged / padded inside)
 *   MTProxy ee        stage: the fake-TLS hellos (mt_faketls); then the same transport
 *                     inside TLS records, padded inside */
#ifndef MT_PROXY_H
#define MT_PROXY_H

#include <stdint.h>
#include "mt_crypto.h"
#include "mt_link.h"

enum { MT_PROXY_NONE = 0, MT_PROXY_SOCKS5 = 1, MT_PROXY_MTPROXY = 2 };
/* MTProxy secret kinds: the framing inside obfuscated2 and the disguise around it. */
enum {
    MT_SECRET_PLAIN = 0,  /* 16 bytes: intermediate (abridged when that is the transport) */
    MT_SECRET_DD = 1,     /* dd + 16 bytes: padded intermediate */
    MT_SECRET_EE = 2,     /* ee + 16 bytes + domain: fake TLS, padded intermediate inside */
};

typedef struct mt_proxy_config {
    int type;                   /* MT_PROXY_* */
    const char *host;           /* the proxy's address (copied) */
    int port;
    const char *username, *password; /* SOCKS5 login, both or neither (copied) */
    uint8_t secret[16];         /* MTProxy */
    int secret_kind;            /* MT_SECRET_* */
    const char *domain;         /* MT_SECRET_EE: the name in the ClientHello (copied) */
} mt_proxy_config;

typedef struct mt_proxy mt_proxy;

/* A proxy on the way to dc_host:dc_port. `rnd` (borrowed; NULL: system CSPRNG) feeds
 * the fake-TLS hello. NULL with *err = MT_ERR_ARG (bad settings) or MT_ERR_NOMEM. */
mt_proxy *mt_proxy_new(const mt_proxy_config *p, const char *dc_host, int dc_port, const mt_random *rnd, int *err);
/* Wipes the login and the secret and frees; NULL is fine. */
void mt_proxy_free(mt_proxy *x);

/* The stage for mt_link_config.stage, or NULL when none is needed. */
const mt_link_stage *mt_proxy_stage(mt_proxy *x);
/* Fills the MTProxy fields of a link config (nothing for SOCKS5); `transport` is the
 * configured MT_TR_* kind. */
void mt_proxy_link_config(const mt_proxy *x, mt_link_config *lc);
/* The Unix time the next fake-TLS hello carries (the shell sets it before each connect). */
void mt_proxy_set_time(mt_proxy *x, int64_t now);
/* The proxy's address. */
const char *mt_proxy_host(const mt_proxy *x);
int mt_proxy_port(const mt_proxy *x);

#endif
