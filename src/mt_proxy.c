/* The proxy of a link (see mt_proxy.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mt_proxy.h"
#include "mt_faketls.h"
#include "mt_socks5.h"
#include "mt_transport.h"

struct mt_proxy {
    mt_proxy_config cfg;        /* its strings are our copies */
    char *dc_host;
    int dc_port;
    mt_random rnd;
    int64_t now;
    mt_link_stage stage;
    mt_socks5 *socks;           /* the current connection's SOCKS5 exchange */
    uint8_t client_random[32];  /* the current fake-TLS hello's digest */
    mt_buf answer;              /* the fake-TLS answer gathered so far */
};

static char *dup_opt(const char *s, int *oom)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = 1;
    return d;
}

static void free_str(char *s, int wipe)
{
    if (!s) return;
    if (wipe) mt_wipe(s, strlen(s));
    free(s);
}

static const char *proxy_msg(int rc)
{
    switch (rc) {
    case MT_ERR_PROXY_AUTH: return "refused the username and password, or wants them";
    case MT_ERR_PROXY_PROTO: return "does not answer as a SOCKS5 proxy";
    default: return mt_strerror(rc);
    }
}

/* ---- SOCKS5 ---- */

static void socks_reset(void *ud)
{
    mt_proxy *x = ud;
    mt_socks5_free(x->socks);
    x->socks = NULL;
}

static int socks_start(void *ud, mt_buf *out)
{
    mt_proxy *x = ud;
    int err;
    socks_reset(x);
    x->socks = mt_socks5_new(x->dc_host, x->dc_port, x->cfg.username, x->cfg.password, &err);
    if (!x->socks) return err;
    return mt_socks5_start(x->socks, out);
}

static int socks_feed(void *ud, const uint8_t *in, size_t n, size_t *used, mt_buf *out, char *detail)
{
    mt_proxy *x = ud;
    if (!x->socks) return MT_ERR_ARG;
    int rc = mt_socks5_feed(x->socks, in, n, out, used);
    if (rc == MT_ERR_PROXY_AUTH)
        snprintf(detail, 160, "the SOCKS5 proxy %s:%d %s", x->cfg.host, x->cfg.port,
                 x->cfg.username ? "refused the username and password" : "wants a username and password");
    else if (rc == MT_ERR_PROXY_REFUSED)
        snprintf(detail, 160, "the SOCKS5 proxy did not connect to %s:%d: reply %d (%s)", x->dc_host, x->dc_port,
                 mt_socks5_reply(x->socks), mt_socks5_reply_text(mt_socks5_reply(x->socks)));
    else if (rc < 0)
        snprintf(detail, 160, "%s:%d %s", x->cfg.host, x->cfg.port, proxy_msg(rc));
    return rc;
}

/* ---- fake TLS ---- */

static void tls_reset(void *ud)
{
    mt_proxy *x = ud;
    mt_buf_free(&x->answer);
}

static int tls_start(void *ud, mt_buf *out)
{
    mt_proxy *x = ud;
    tls_reset(x);
    return mt_faketls_client_hello(x->cfg.secret, x->cfg.domain, strlen(x->cfg.domain), x->now,
                                   x->rnd.fn ? &x->rnd : NULL, out, x->client_random);
}

static int tls_feed(void *ud, const uint8_t *in, size_t n, size_t *used, mt_buf *out, char *detail)
{
    mt_proxy *x = ud;
    size_t before = x->answer.len, whole = 0;
    mt_buf_put(&x->answer, in, n);
    if (x->answer.oom) return MT_ERR_NOMEM;
    int rc = mt_faketls_client_check(x->cfg.secret, 16, x->client_random, x->answer.data, x->answer.len, &whole);
    if (rc == 1) *used = whole - before;          /* the answer ends inside this piece */
    else *used = n;
    if (rc == MT_ERR_PROXY_SECRET)
        snprintf(detail, 160, "the MTProxy %s:%d answered a TLS hello not signed with our secret: "
                 "the secret is wrong, or this is not an MTProxy", x->cfg.host, x->cfg.port);
    else if (rc == MT_ERR_PROXY_PROTO)
        snprintf(detail, 160, "the MTProxy %s:%d did not answer the fake-TLS hello with a TLS server hello",
                 x->cfg.host, x->cfg.port);
    return rc;
}

mt_proxy *mt_proxy_new(const mt_proxy_config *p, const char *dc_host, int dc_port, const mt_random *rnd, int *err)
{
    *err = MT_ERR_ARG;
    int type = p->type, kind = p->secret_kind;
    if (type != MT_PROXY_SOCKS5 && type != MT_PROXY_MTPROXY) return NULL;
    if (!p->host || !*p->host || p->port <= 0 || p->port > 65535 || !dc_host) return NULL;
    if (type == MT_PROXY_SOCKS5 && (!p->username) != (!p->password)) return NULL;
    if (type == MT_PROXY_MTPROXY) {
        if (kind != MT_SECRET_PLAIN && kind != MT_SECRET_DD && kind != MT_SECRET_EE) return NULL;
        size_t dl = p->domain ? strlen(p->domain) : 0;
        if (kind == MT_SECRET_EE && (dl == 0 || dl > MT_FAKETLS_DOMAIN_MAX)) return NULL;
    }
    *err = MT_ERR_NOMEM;
    mt_proxy *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    int oom = 0;
    x->cfg = *p;
    x->cfg.host = dup_opt(p->host, &oom);
    x->cfg.username = dup_opt(p->username, &oom);
    x->cfg.password = dup_opt(p->password, &oom);
    x->cfg.domain = dup_opt(p->domain, &oom);
    x->dc_host = dup_opt(dc_host, &oom);
    x->dc_port = dc_port;
    if (rnd) x->rnd = *rnd;
    mt_buf_init(&x->answer);
    if (oom) { mt_proxy_free(x); return NULL; }
    x->stage.ud = x;
    if (type == MT_PROXY_SOCKS5) {
        x->stage.start = socks_start; x->stage.feed = socks_feed; x->stage.reset = socks_reset;
    } else if (kind == MT_SECRET_EE) {
        x->stage.start = tls_start; x->stage.feed = tls_feed; x->stage.reset = tls_reset;
    }
    *err = MT_OK;
    return x;
}

void mt_proxy_free(mt_proxy *x)
{
    if (!x) return;
    mt_socks5_free(x->socks);
    mt_buf_free(&x->answer);
    free_str((char *)x->cfg.host, 0);
    free_str((char *)x->cfg.username, 1);
    free_str((char *)x->cfg.password, 1);
    free_str((char *)x->cfg.domain, 0);
    free_str(x->dc_host, 0);
    mt_wipe(x, sizeof *x);
    free(x);
}

const mt_link_stage *mt_proxy_stage(mt_proxy *x)
{
    return x->stage.feed ? &x->stage : NULL;
}

void mt_proxy_link_config(const mt_proxy *x, mt_link_config *lc)
{
    if (x->cfg.type != MT_PROXY_MTPROXY) return;
    lc->mtproxy_secret = x->cfg.secret;
    lc->mtproxy_tls = x->cfg.secret_kind == MT_SECRET_EE;
    lc->mtproxy_inner = x->cfg.secret_kind != MT_SECRET_PLAIN ? MT_TR_PADDED
                      : lc->transport == MT_TR_ABRIDGED ? MT_TR_ABRIDGED : MT_TR_INTERMEDIATE;
}

void mt_proxy_set_time(mt_proxy *x, int64_t now) { x->now = now; }
const char *mt_proxy_host(const mt_proxy *x) { return x->cfg.host; }
int mt_proxy_port(const mt_proxy *x) { return x->cfg.port; }
