/*
 * Floors for `make bench` (bench/run.lua builds this into build/bench/floor and runs it):
 *
 *   floor echo [N] [SIZE]   loopback TCP round trips/s of a trivial C echo pair: a forked
 *                           child echoes SIZE-byte messages (default 128, about one small
 *                           encrypted MTProto call each way), the parent sends one and waits
 *                           for it N times (default 20000). Run under `taskset -c 0` both
 *                           processes share one CPU, as a client and the test DC would.
 *   floor aes SIZE          serial AES-NI floor: AES-256-CBC encryption (each block waits
 *                           for the previous one, like IGE) of SIZE-byte messages, MB/s.
 *   floor ige SIZE          OpenSSL's AES_ige_encrypt on SIZE-byte messages, MB/s.
 *   floor srp [N]           the floor of one two-step verification check: OpenSSL's
 *                           PKCS5_PBKDF2_HMAC (SHA-512, 100,000 iterations, 64 bytes) plus the
 *                           two modexps with 2048-bit secret exponents (A = g^a and
 *                           S = t^(a + u*x), BN_mod_exp_mont_consttime, Montgomery context made
 *                           once); CPU ms, median of N (default 7).
 *
 * Prints `name value` lines. MB = 1e6 bytes. Not part of the library: no mt_* code here.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1 /* AES_ige_encrypt: the reference IGE of the table */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/aes.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int io_full(int fd, unsigned char *buf, size_t n, int writing)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = writing ? write(fd, buf + done, n - done) : read(fd, buf + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return 0;
}

static int run_echo(long n, size_t size)
{
    unsigned char *buf = calloc(1, size);
    int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    if (!buf || ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1) < 0 ||
        getsockname(ls, (struct sockaddr *)&a, &alen) < 0) {
        perror("echo: listen");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) { /* the echo server */
        int s = accept(ls, NULL, NULL);
        if (s < 0)
            _exit(1);
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        while (io_full(s, buf, size, 0) == 0 && io_full(s, buf, size, 1) == 0) {
        }
        _exit(0);
    }
    close(ls);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("echo: connect");
        kill(pid, SIGTERM);
        return 1;
    }
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (long i = 0; i < n / 10; i++) /* warm up */
        if (io_full(c, buf, size, 1) || io_full(c, buf, size, 0))
            return 1;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        buf[0] = (unsigned char)i;
        if (io_full(c, buf, size, 1) || io_full(c, buf, size, 0) || buf[0] != (unsigned char)i) {
            fprintf(stderr, "echo: lost the echo at %ld\n", i);
            return 1;
        }
    }
    double dt = now_s() - t0;
    close(c);
    waitpid(pid, NULL, 0);
    printf("echo.round_trips_per_s %.0f\n", (double)n / dt);
    free(buf);
    return 0;
}

/* Encrypts SIZE-byte messages for about half a second; returns MB/s. */
static double run_cipher(size_t size, int ige)
{
    unsigned char key[32], iv[32], *in = calloc(1, size), *out = calloc(1, size + 16);
    int outl = 0;
    long n = 0;
    AES_KEY aes;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!in || !out || !ctx)
        return -1;
    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)(i * 7 + 1), iv[i] = (unsigned char)(i * 13 + 5);
    AES_set_encrypt_key(key, 256, &aes);
    /* The key schedule is made once: the floor is the chained block cipher alone. */
    if (!EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv) || !EVP_CIPHER_CTX_set_padding(ctx, 0))
        return -1;
    double t0 = now_s(), dt;
    do {
        for (int k = 0; k < (size > 65536 ? 1 : 256); k++, n++) {
            if (ige) {
                unsigned char ivc[32];
                memcpy(ivc, iv, 32);
                AES_ige_encrypt(in, out, size, &aes, ivc, AES_ENCRYPT);
            } else if (!EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) ||
                       !EVP_EncryptUpdate(ctx, out, &outl, in, (int)size)) {
                return -1;
            }
            in[0] ^= out[0];
        }
        dt = now_s() - t0;
    } while (dt < 0.5);
    EVP_CIPHER_CTX_free(ctx);
    free(in);
    free(out);
    return (double)n * (double)size / dt / 1e6;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* CPU ms of PBKDF2 + the two 2048-bit-exponent modexps, median of n (n <= 64). */
static double run_srp(int n)
{
    static const char p_hex[] =
        "c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f48198a0aa7c14058229493d22530f4db"
        "fa336f6e0ac925139543aed44cce7c3720fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f64"
        "2477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4a4a695811051907e162753b56b0f6b41"
        "0dba74d8a84b2a14b3144e0ef1284754fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4"
        "e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f0d8115f635b105ee2e4e15d04b2454bf"
        "6f4fadf034b10403119cd8e3b92fcc5b";
    BIGNUM *p = NULL, *g = BN_new(), *a = BN_new(), *e = BN_new(), *t = BN_new(), *r = BN_new();
    BN_CTX *ctx = BN_CTX_new();
    BN_MONT_CTX *mont = BN_MONT_CTX_new();
    unsigned char pass[32], salt[40], dk[64], rb[257];
    double times[64];
    if (n < 1 || n > 64 || !BN_hex2bn(&p, p_hex) || !g || !a || !e || !t || !r || !ctx || !mont
        || !BN_set_word(g, 3) || !BN_MONT_CTX_set(mont, p, ctx))
        return -1;
    RAND_bytes(pass, sizeof pass);
    RAND_bytes(salt, sizeof salt);
    for (int i = 0; i < n; i++) {
        RAND_bytes(rb, sizeof rb);
        BN_bin2bn(rb, 256, a);
        BN_bin2bn(rb, 257, e); /* a + u*x: one byte longer than a */
        BN_bin2bn(rb + 1, 256, t);
        BN_set_flags(a, BN_FLG_CONSTTIME);
        BN_set_flags(e, BN_FLG_CONSTTIME);
        double t0 = cpu_s();
        if (PKCS5_PBKDF2_HMAC((const char *)pass, sizeof pass, salt, sizeof salt, 100000, EVP_sha512(), 64, dk) != 1
            || !BN_mod_exp_mont_consttime(r, g, a, p, ctx, mont) || !BN_mod_exp_mont_consttime(r, t, e, p, ctx, mont))
            return -1;
        times[i] = (cpu_s() - t0) * 1000;
        pass[0] ^= dk[0];
    }
    qsort(times, (size_t)n, sizeof times[0], cmp_double);
    BN_free(p); BN_free(g); BN_free(a); BN_free(e); BN_free(t); BN_free(r);
    BN_CTX_free(ctx);
    BN_MONT_CTX_free(mont);
    return times[n / 2];
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "srp") == 0) {
        double ms = run_srp(argc > 2 ? atoi(argv[2]) : 7);
        if (ms < 0)
            return 1;
        printf("srp.floor_ms %.2f\n", ms);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "echo") == 0) {
        long n = argc > 2 ? atol(argv[2]) : 20000;
        long size = argc > 3 ? atol(argv[3]) : 128;
        if (n <= 0 || size <= 0 || size > (1L << 20))
            return 2;
        return run_echo(n, (size_t)size);
    }
    if (argc == 3 && (strcmp(argv[1], "aes") == 0 || strcmp(argv[1], "ige") == 0)) {
        long size = atol(argv[2]);
        if (size <= 0 || size % 16 || size > (64L << 20))
            return 2;
        int ige = strcmp(argv[1], "ige") == 0;
        double mbs = run_cipher((size_t)size, ige);
        if (mbs < 0)
            return 1;
        const char *tag = size == 1024 ? "1k" : size == 512 * 1024 ? "512k" : NULL;
        if (tag)
            printf("%s_%s %.2f\n", ige ? "ige.openssl" : "aes.cbc_floor", tag, mbs);
        else
            printf("%s_%ld %.2f\n", ige ? "ige.openssl" : "aes.cbc_floor", size, mbs);
        return 0;
    }
    fprintf(stderr, "usage: floor echo [N] [SIZE] | floor aes SIZE | floor ige SIZE | floor srp [N]\n");
    return 2;
}
