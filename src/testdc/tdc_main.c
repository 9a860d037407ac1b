/* mtproto-testdc: a local Telegram data centre for specs, demos and benchmarks.
 *
 *   mtproto-testdc [--host 127.0.0.1] [--host6 ::1|""] [--port P] [--dcs 3] [--key FILE]
 *                  [--code-lifetime S] [--resend-timeout S] [--flood N] [--no-flood]
 *                  [--qr-lifetime S] [--qr-auto-accept PHONE] [--temp-key-ttl S]
 *                  [--push-updates MS] [--diff-slice N]
 *                  [--fault NAME[=N]]... [--mtproxy SECRET [--mtproxy-any-hello]]
 *                  [--parent-pid PID] [--no-stdin] [--no-io-uring] [-v|-vv]
 *
 * Prints one JSON line on stdout once it listens (see docs/DESIGN.md), then serves
 * until SIGTERM/SIGINT, EOF on stdin (unless --no-stdin) or the end of --parent-pid. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tdc.h"

static void usage(FILE *f)
{
    fputs("usage: mtproto-testdc [--host ADDR] [--host6 ADDR|\"\"] [--port P] [--dcs N] [--key FILE]\n"
          "                      [--code-lifetime S] [--resend-timeout S] [--flood N] [--no-flood]\n"
          "                      [--qr-lifetime S] [--qr-auto-accept PHONE] [--temp-key-ttl S]\n"
          "                      [--push-updates MS] [--diff-slice N]\n"
          "                      [--fault NAME[=N]]... [--mtproxy SECRET [--mtproxy-any-hello]]\n"
          "                      [--parent-pid PID] [--no-stdin] [--no-io-uring] [-v|-vv]\n"
          "--mtproxy: an MTProxy listener too (its port in the JSON line) for the secret's 16 bytes\n"
          "           (hex; a dd or ee prefix and an ee domain may be given): plain, dd and ee clients\n"
          "--mtproxy-any-hello: fake-TLS hellos of 512..16384 bytes too, as other MTProxy servers take\n"
          "           (Telegram's takes a 16 03 01 02 record header only: 512..767 bytes)\n"
          "--no-io-uring: the epoll loop even where io_uring works (the JSON line's \"loop\" says which runs)\n"
          "faults: bad_salt new_session gzip update_first garbage clock_offset=S delay_ms=N drop_after=N\n"
          "        replay nested_container gzip_bomb huge_frame stall_after=N cut_after=N strict_seqno skip_pts=N\n"
          "test numbers 99966XYYYY live on DC X, their code is X five times; other numbers: 12345\n", f);
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_fault(tdc_faults *f, const char *arg)
{
    const char *eq = strchr(arg, '=');
    size_t nl = eq ? (size_t)(eq - arg) : strlen(arg);
    long v = 1;
    if (eq && parse_int(eq + 1, -86400 * 365L, 86400 * 365L, &v) < 0) return -1;
#define IS(name) (nl == strlen(name) && memcmp(arg, name, nl) == 0)
    if (IS("bad_salt")) f->bad_salt = v != 0;
    else if (IS("new_session")) f->new_session = v != 0;
    else if (IS("gzip")) f->gzip = v != 0;
    else if (IS("update_first")) f->update_first = v != 0;
    else if (IS("garbage")) f->garbage = v != 0;
    else if (IS("clock_offset") && eq) f->clock_offset = v;
    else if (IS("delay_ms") && eq && v >= 0 && v <= 600000) f->delay_ms = (int)v;
    else if (IS("drop_after") && eq && v >= 0) f->drop_after = (int)v;
    else if (IS("strict_seqno")) f->strict_seqno = v != 0;
    else if (IS("replay")) f->replay = v != 0;
    else if (IS("nested_container")) f->nested = v != 0;
    else if (IS("gzip_bomb")) f->gzip_bomb = v != 0;
    else if (IS("huge_frame")) f->huge_frame = v != 0;
    else if (IS("stall_after") && eq && v >= 0) f->stall_after = (int)v;
    else if (IS("cut_after") && eq && v >= 0) f->cut_after = (int)v;
    else if (IS("skip_pts") && eq && v >= 0) f->skip_pts = (int)v;
    else return -1;
#undef IS
    return 0;
}

/* The 16 bytes of an MTProxy secret in hex: plain, dd + 16 bytes, or ee + 16 bytes + domain. */
static int parse_secret(const char *h, uint8_t out[16])
{
    size_t n = strlen(h);
    if (n >= 34 && (!strncmp(h, "dd", 2) || !strncmp(h, "ee", 2)) && (n == 34 || h[0] == 'e')) h += 2, n -= 2;
    if (n < 32 || (n > 32 && n % 2)) return -1;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(h + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", h[2 * i]) ||
            !strchr("0123456789abcdefABCDEF", h[2 * i + 1]))
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

typedef struct opts {
    tdc_config cfg;
    const char *key_file;
    long parent_pid;
    int watch_stdin;
} opts;

static int parse_args(int argc, char **argv, opts *o)
{
    tdc_config *c = &o->cfg;
    c->host = "127.0.0.1";
    c->host6 = "::1";
    c->ndcs = 3;
    c->code_lifetime = 300;
    c->resend_timeout = 120;
    c->qr_lifetime = 30;
    c->flood_limit = 10;
    c->diff_slice = 100;
    o->watch_stdin = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
#define NEEDV() do { if (!v) { fprintf(stderr, "mtproto-testdc: %s needs a value\n", a); return -1; } i++; } while (0)
#define NUM(lo, hi) do { NEEDV(); if (parse_int(v, lo, hi, &n) < 0) { \
            fprintf(stderr, "mtproto-testdc: bad value for %s: %s\n", a, v); return -1; } } while (0)
        if (!strcmp(a, "--host")) { NEEDV(); c->host = v; }
        else if (!strcmp(a, "--host6")) { NEEDV(); c->host6 = v; }
        else if (!strcmp(a, "--port")) { NUM(0, 65535 - TDC_MAX_DCS); c->port = (int)n; }
        else if (!strcmp(a, "--dcs")) { NUM(1, TDC_MAX_DCS); c->ndcs = (int)n; }
        else if (!strcmp(a, "--key")) { NEEDV(); o->key_file = v; }
        else if (!strcmp(a, "--code-lifetime")) { NUM(1, 86400 * 365L); c->code_lifetime = (int)n; }
        else if (!strcmp(a, "--resend-timeout")) { NUM(0, 86400); c->resend_timeout = (int)n; }
        else if (!strcmp(a, "--flood")) { NUM(0, TDC_FLOOD_MAX); c->flood_limit = (int)n; }
        else if (!strcmp(a, "--no-flood")) c->flood_limit = 0;
        else if (!strcmp(a, "--qr-lifetime")) { NUM(1, 86400); c->qr_lifetime = (int)n; }
        else if (!strcmp(a, "--temp-key-ttl")) { NUM(1, 86400 * 365L); c->temp_key_ttl = (int)n; }
        else if (!strcmp(a, "--qr-auto-accept")) {
            NEEDV();
            if (strlen(v) != 10 || strncmp(v, "99966", 5) != 0 || strspn(v, "0123456789") != 10) {
                fprintf(stderr, "mtproto-testdc: --qr-auto-accept: expected a test number 99966XKYYY\n");
                return -1;
            }
            c->qr_auto_accept = v;
        }
        else if (!strcmp(a, "--push-updates")) { NUM(0, 3600000); c->push_ms = (int)n; }
        else if (!strcmp(a, "--diff-slice")) { NUM(1, TDC_UPD_LOG); c->diff_slice = (int)n; }
        else if (!strcmp(a, "--parent-pid")) { NUM(1, 0x7fffffffL); o->parent_pid = n; }
        else if (!strcmp(a, "--no-stdin")) o->watch_stdin = 0;
        else if (!strcmp(a, "--no-io-uring")) c->no_io_uring = 1;
        else if (!strcmp(a, "--mtproxy")) {
            NEEDV();
            if (parse_secret(v, c->mtproxy_secret) < 0) { fprintf(stderr, "mtproto-testdc: bad MTProxy secret: %s\n", v); return -1; }
            c->mtproxy = 1;
        }
        else if (!strcmp(a, "--mtproxy-any-hello")) c->mtproxy_any_hello = 1;
        else if (!strcmp(a, "--fault")) {
            NEEDV();
            if (parse_fault(&c->faults, v) < 0) { fprintf(stderr, "mtproto-testdc: bad fault: %s\n", v); return -1; }
        }
        else if (!strcmp(a, "-v")) c->verbose = 1;
        else if (!strcmp(a, "-vv")) c->verbose = 2;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); exit(0); }
        else { fprintf(stderr, "mtproto-testdc: unknown argument: %s\n", a); usage(stderr); return -1; }
#undef NUM
#undef NEEDV
    }
    return 0;
}

/* ---- the RSA key ------------------------------------------------------------ */

static mt_rsa_priv *load_or_make_key(const char *file)
{
    if (file) {
        FILE *f = fopen(file, "rb");
        if (f) {
            char buf[16384];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            mt_rsa_priv *k = mt_rsa_priv_load_pem(buf, n);
            mt_wipe(buf, sizeof buf);
            if (!k) fprintf(stderr, "mtproto-testdc: %s: not an RSA private key\n", file);
            return k;
        }
    }
    mt_rsa_priv *k = mt_rsa_priv_generate(2048);
    if (!k) { fprintf(stderr, "mtproto-testdc: RSA key generation failed\n"); return NULL; }
    if (file) {
        /* written to a temporary name, then renamed: concurrent starts see a whole file */
        mt_buf pem;
        mt_buf_init(&pem);
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.%ld.tmp", file, (long)getpid());
        int fd = -1;
        if (mt_rsa_priv_save_pem(k, &pem) >= 0 && (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0) {
            ssize_t w = write(fd, pem.data, pem.len);
            close(fd);
            if (w != (ssize_t)pem.len || rename(tmp, file) != 0) unlink(tmp);
        } else {
            fprintf(stderr, "mtproto-testdc: cannot write %s: %s\n", file, strerror(errno));
        }
        mt_buf_free(&pem);
    }
    return k;
}

static void print_json(const tdc_server *srv, const char *loop, const char *pem, size_t pem_len)
{
    printf("{\"host\":\"%s\",\"ports\":{", srv->cfg.host);
    for (int i = 1; i <= srv->cfg.ndcs; i++) printf("%s\"%d\":%u", i > 1 ? "," : "", i, srv->ports[i]);
    printf("},\"ports6\":{");
    int first = 1;
    for (int i = 1; i <= srv->cfg.ndcs; i++) {
        if (!srv->ports6[i]) continue;
        printf("%s\"%d\":%u", first ? "" : ",", i, srv->ports6[i]);
        first = 0;
    }
    printf("},\"host6\":\"%s\",\"rsa_public_pem\":\"", srv->cfg.host6);
    for (size_t i = 0; i < pem_len; i++) {
        if (pem[i] == '\n') fputs("\\n", stdout);
        else if (pem[i] != '\r') putchar(pem[i]);
    }
    printf("\",\"fingerprint\":\"%lld\"", (long long)srv->rsa_fingerprint);
    if (srv->cfg.mtproxy) printf(",\"mtproxy_port\":%u", srv->mtproxy_port);
    printf(",\"loop\":\"%s\",\"pid\":%ld}\n", loop, (long)getpid());
    fflush(stdout);
}

int main(int argc, char **argv)
{
    opts o;
    memset(&o, 0, sizeof o);
    if (parse_args(argc, argv, &o) < 0) return 2;

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);
    /* a benchmark connects a thousand clients at once: as many descriptors as allowed (an
     * accept failing with EMFILE would leave them queued, unanswered) */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    tdc_server srv;
    memset(&srv, 0, sizeof srv);
    srv.cfg = o.cfg;
    srv.clock.time_offset = (int32_t)o.cfg.faults.clock_offset;
    if (tdc_logins_init(&srv.logins) < 0) return 1;
    srv.rsa = load_or_make_key(o.key_file);
    if (!srv.rsa) return 1;
    srv.rsa_fingerprint = mt_rsa_priv_fingerprint(srv.rsa);
    srv.pool = mt_random_pool_new(&srv.rnd, MT_RANDOM_POOL_SHARED);
    if (!srv.pool) return 1;

    tdc_net *net = tdc_net_listen(&srv);
    if (!net) return 1;

    mt_buf pem;
    mt_buf_init(&pem);
    if (mt_rsa_priv_public_pem(srv.rsa, &pem) < 0) { fprintf(stderr, "mtproto-testdc: no public PEM\n"); return 1; }
    print_json(&srv, tdc_net_loop(net), (const char *)pem.data, pem.len);
    mt_buf_free(&pem);
    for (int i = 1; i <= srv.cfg.ndcs; i++)
        tdc_log(&srv, 1, "DC %d on %s:%u and [%s]:%u", i, srv.cfg.host, srv.ports[i], srv.cfg.host6, srv.ports6[i]);

    int rc = tdc_net_run(net, sfd, o.watch_stdin, o.parent_pid);
    tdc_net_free(net);
    mt_random_pool_free(srv.pool);
    mt_buf_free(&srv.bomb);
    tdc_logins_free(&srv.logins);
    tdc_keys_free(&srv.keys);
    tdc_accounts_free(&srv);
    mt_rsa_priv_free(srv.rsa);
    if (sfd >= 0) close(sfd);
    return rc < 0 ? 1 : 0;
}
