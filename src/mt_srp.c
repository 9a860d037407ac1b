/* Telegram's SRP for two-step verification (see mt_srp.h for the formulas). */
#include <limits.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include "mt_buf.h"
#include "mt_dh.h"
#include "mt_srp.h"

const char *mt_srp_why(int why)
{
    switch (why) {
    case MT_SRP_G_RANGE: return "g is out of range (2..7)";
    case MT_SRP_P_SIZE: return "p is not a 2048-bit number";
    case MT_SRP_P_NOT_PRIME: return "p is not prime";
    case MT_SRP_P_NOT_SAFE: return "p is not a safe prime";
    case MT_SRP_G_RESIDUE: return "g fails the quadratic residue condition for p";
    case MT_SRP_B_RANGE: return "srp_B is out of range";
    case MT_SRP_A_RANGE: return "A = g^a is out of range";
    case MT_SRP_T_RANGE: return "B - k*v is out of range";
    case MT_SRP_U_ZERO: return "u = H(A | B) is zero";
    case MT_SRP_M1: return "M1 does not match";
    default: return "no failure";
    }
}

int mt_srp_check_algo(const mt_srp_algo *algo, int *why)
{
    static const int from_dh[] = {
        [MT_DH_G_RANGE] = MT_SRP_G_RANGE, [MT_DH_P_SIZE] = MT_SRP_P_SIZE,
        [MT_DH_P_NOT_PRIME] = MT_SRP_P_NOT_PRIME, [MT_DH_P_NOT_SAFE] = MT_SRP_P_NOT_SAFE,
        [MT_DH_G_RESIDUE] = MT_SRP_G_RESIDUE,
    };
    int fail = 0;
    int rc = mt_dh_check_group(algo->p, algo->p_len, algo->g, NULL, &fail);
    if (rc == MT_ERR_HANDSHAKE) *why = from_dh[fail];
    return rc;
}

/* SH(d, s) = H(s | d | s) */
static int sh(uint8_t out[32], const uint8_t *d, size_t dn, const uint8_t *s, size_t sn)
{
    return mt_sha256_parts(out, s, sn, d, dn, s, sn, NULL, 0);
}

int mt_srp_ph2(const mt_srp_algo *algo, const uint8_t *pw, size_t pwlen, uint8_t x[32])
{
    if (algo->salt1_len > INT_MAX || pwlen > SIZE_MAX / 2) return MT_ERR_ARG;
    uint8_t h[32], ph1[32], dk[64];
    int ok = sh(h, pw, pwlen, algo->salt1, algo->salt1_len) == MT_OK &&
             sh(ph1, h, 32, algo->salt2, algo->salt2_len) == MT_OK &&
             PKCS5_PBKDF2_HMAC((const char *)ph1, 32, algo->salt1, (int)algo->salt1_len,
                               MT_SRP_PBKDF2_ITERATIONS, EVP_sha512(), 64, dk) == 1 &&
             sh(x, dk, 64, algo->salt2, algo->salt2_len) == MT_OK;
    mt_wipe(h, sizeof h);
    mt_wipe(ph1, sizeof ph1);
    mt_wipe(dk, sizeof dk);
    return ok ? MT_OK : MT_ERR_CRYPTO;
}

/* ---- the group: p, g, k and what every step hashes ------------------------------------------ */

typedef struct grp {
    BN_CTX *ctx;                /* secure: temporaries of secret exponents are cleared */
    BN_MONT_CTX *mont;
    BIGNUM *p, *g, *k;
    uint8_t p_pad[256], g_pad[256];
} grp;

static void grp_free(grp *G)
{
    BN_MONT_CTX_free(G->mont);
    BN_free(G->p);
    BN_free(G->g);
    BN_free(G->k);
    BN_CTX_free(G->ctx);
}

/* MT_ERR_ARG unless p is odd, > 1 and at most 256 bytes and g >= 0 (the checked paths have
 * vetted both already; the unchecked one gets any vector). */
static int grp_init(grp *G, const mt_srp_algo *algo)
{
    memset(G, 0, sizeof *G);
    if (!algo->p || algo->p_len == 0 || algo->p_len > 256 || algo->g < 0) return MT_ERR_ARG;
    G->ctx = BN_CTX_secure_new();
    G->mont = BN_MONT_CTX_new();
    G->p = BN_bin2bn(algo->p, (int)algo->p_len, NULL);
    G->g = BN_new();
    G->k = BN_new();
    if (!G->ctx || !G->mont || !G->p || !G->g || !G->k) return MT_ERR_NOMEM;
    if (!BN_is_odd(G->p) || BN_is_one(G->p)) return MT_ERR_ARG;
    if (!BN_set_word(G->g, (BN_ULONG)algo->g) || !BN_MONT_CTX_set(G->mont, G->p, G->ctx)) return MT_ERR_CRYPTO;
    memset(G->p_pad, 0, 256);
    memcpy(G->p_pad + 256 - algo->p_len, algo->p, algo->p_len);
    memset(G->g_pad, 0, 256);
    for (int i = 0; i < 4; i++) G->g_pad[252 + i] = (uint8_t)((uint32_t)algo->g >> (24 - 8 * i));
    uint8_t k[32];
    if (mt_sha256_parts(k, G->p_pad, 256, G->g_pad, 256, NULL, 0, NULL, 0) != MT_OK) return MT_ERR_CRYPTO;
    return BN_bin2bn(k, 32, G->k) ? MT_OK : MT_ERR_NOMEM;
}

/* r = base^e mod p in constant time (e is secret); e gets BN_FLG_CONSTTIME. */
static int modexp_secret(grp *G, BIGNUM *r, const BIGNUM *base, BIGNUM *e)
{
    BN_set_flags(e, BN_FLG_CONSTTIME);
    return BN_mod_exp_mont_consttime(r, base, e, G->p, G->ctx, G->mont) ? MT_OK : MT_ERR_CRYPTO;
}

static int to_pad(const BIGNUM *v, uint8_t out[256])
{
    return BN_bn2binpad(v, out, 256) == 256 ? MT_OK : MT_ERR_CRYPTO;
}

/* 2^(2048-64) <= n <= p - 2^(2048-64) for a 256-byte n (the rule for g_a and g_b). */
static int good_exp(const grp *G, const uint8_t n[256])
{
    return mt_dh_check_ga(G->p_pad, 256, n, 256) == MT_OK;
}

/* M1 = H(H(p) xor H(g) | H(salt1) | H(salt2) | A | B | H(S)) */
static int put_m1(const grp *G, const mt_srp_algo *algo, const uint8_t A[256], const uint8_t B[256],
                  const BIGNUM *S, uint8_t M1[32])
{
    uint8_t buf[32 * 3 + 256 * 2 + 32], hg[32];
    uint8_t *o = buf;
    int rc = MT_ERR_CRYPTO;
    uint8_t s[256];
    if (mt_sha256(G->p_pad, 256, o) == MT_OK && mt_sha256(G->g_pad, 256, hg) == MT_OK &&
        mt_sha256(algo->salt1, algo->salt1_len, o + 32) == MT_OK &&
        mt_sha256(algo->salt2, algo->salt2_len, o + 64) == MT_OK && (rc = to_pad(S, s)) == MT_OK) {
        for (int i = 0; i < 32; i++) o[i] ^= hg[i];
        memcpy(o + 96, A, 256);
        memcpy(o + 352, B, 256);
        if (mt_sha256(s, 256, o + 608) != MT_OK || mt_sha256(buf, sizeof buf, M1) != MT_OK) rc = MT_ERR_CRYPTO;
    }
    mt_wipe(s, sizeof s);
    mt_wipe(buf, sizeof buf);
    return rc;
}

/* u = H(A | B) as a number. */
static int put_u(const uint8_t A[256], const uint8_t B[256], BIGNUM *u)
{
    uint8_t h[32];
    if (mt_sha256_parts(h, A, 256, B, 256, NULL, 0, NULL, 0) != MT_OK) return MT_ERR_CRYPTO;
    return BN_bin2bn(h, 32, u) ? MT_OK : MT_ERR_NOMEM;
}

/* ---- the client -------------------------------------------------------------------------------- */

/* The part that depends on the password: x and v = g^x. */
static int password_x_v(grp *G, const mt_srp_algo *algo, const uint8_t *pw, size_t pwlen, BIGNUM *x, BIGNUM *v)
{
    uint8_t xb[32];
    int rc = mt_srp_ph2(algo, pw, pwlen, xb);
    if (rc == MT_OK) rc = BN_bin2bn(xb, 32, x) ? MT_OK : MT_ERR_NOMEM;
    mt_wipe(xb, sizeof xb);
    if (rc == MT_OK) rc = modexp_secret(G, v, G->g, x);
    return rc;
}

typedef struct client {
    grp G;
    BIGNUM *x, *v, *t, *a, *e, *S, *u, *A, *B;
    uint8_t Bp[256];
} client;

static void client_free(client *c)
{
    BN_clear_free(c->x); BN_clear_free(c->v); BN_clear_free(c->t); BN_clear_free(c->a);
    BN_clear_free(c->e); BN_clear_free(c->S); BN_free(c->u); BN_free(c->A); BN_free(c->B);
    grp_free(&c->G);
}

/* Everything up to t = (B - k*v) mod p, which does not depend on a. */
static int client_init(client *c, const mt_srp_algo *algo, const uint8_t *pw, size_t pwlen, const uint8_t *B,
                       size_t blen)
{
    memset(c, 0, sizeof *c);
    int rc = grp_init(&c->G, algo);
    if (rc != MT_OK) return rc;
    if (blen > 256) return MT_ERR_ARG;
    c->x = BN_secure_new(); c->v = BN_secure_new(); c->t = BN_secure_new(); c->a = BN_secure_new();
    c->e = BN_secure_new(); c->S = BN_secure_new(); c->u = BN_new(); c->A = BN_new();
    c->B = BN_bin2bn(B, (int)blen, NULL);
    if (!c->x || !c->v || !c->t || !c->a || !c->e || !c->S || !c->u || !c->A || !c->B) return MT_ERR_NOMEM;
    memset(c->Bp, 0, 256);
    memcpy(c->Bp + 256 - blen, B, blen);
    rc = password_x_v(&c->G, algo, pw, pwlen, c->x, c->v);
    if (rc != MT_OK) return rc;
    BN_CTX_start(c->G.ctx);
    BIGNUM *kv = BN_CTX_get(c->G.ctx);
    int ok = kv && BN_mod_mul(kv, c->G.k, c->v, c->G.p, c->G.ctx) && BN_mod_sub(c->t, c->B, kv, c->G.p, c->G.ctx);
    BN_CTX_end(c->G.ctx);
    return ok ? MT_OK : MT_ERR_CRYPTO;
}

/* A = g^a, u = H(A | B), S = t^(a + u*x), M1. With `check`, a bad A or u = 0 sets *why. */
static int client_answer(client *c, const mt_srp_algo *algo, int check, uint8_t A[256], uint8_t M1[32], int *why)
{
    int rc = modexp_secret(&c->G, c->A, c->G.g, c->a);
    if (rc == MT_OK) rc = to_pad(c->A, A);
    if (rc != MT_OK) return rc;
    if (check && !good_exp(&c->G, A)) { *why = MT_SRP_A_RANGE; return MT_ERR_HANDSHAKE; }
    if ((rc = put_u(A, c->Bp, c->u)) != MT_OK) return rc;
    if (check && BN_is_zero(c->u)) { *why = MT_SRP_U_ZERO; return MT_ERR_HANDSHAKE; }
    if (!BN_mul(c->e, c->u, c->x, c->G.ctx) || !BN_add(c->e, c->e, c->a)) return MT_ERR_CRYPTO;
    if ((rc = modexp_secret(&c->G, c->S, c->t, c->e)) != MT_OK) return rc;
    return put_m1(&c->G, algo, A, c->Bp, c->S, M1);
}

int mt_srp_client_unchecked(const mt_srp_algo *algo, const uint8_t *pw, size_t pwlen, const uint8_t *B,
                            size_t blen, const uint8_t *a, size_t alen, uint8_t A[256], uint8_t M1[32])
{
    client c;
    int why = 0;
    int rc = client_init(&c, algo, pw, pwlen, B, blen);
    if (rc == MT_OK && alen > 256) rc = MT_ERR_ARG;
    if (rc == MT_OK && !BN_bin2bn(a, (int)alen, c.a)) rc = MT_ERR_NOMEM;
    if (rc == MT_OK) rc = client_answer(&c, algo, 0, A, M1, &why);
    client_free(&c);
    return rc;
}

int mt_srp_client(const mt_srp_algo *algo, const uint8_t *pw, size_t pwlen, const uint8_t *B, size_t blen,
                  const mt_random *rnd, uint8_t A[256], uint8_t M1[32], int *why)
{
    int rc = mt_srp_check_algo(algo, why);
    if (rc != MT_OK) return rc;
    if (blen > 256 || mt_dh_check_ga(algo->p, algo->p_len, B, blen) != MT_OK) {
        *why = MT_SRP_B_RANGE;
        return MT_ERR_HANDSHAKE;
    }
    client c;
    rc = client_init(&c, algo, pw, pwlen, B, blen);
    uint8_t tp[256], a[256];
    if (rc == MT_OK) rc = to_pad(c.t, tp);
    if (rc == MT_OK && !good_exp(&c.G, tp)) { *why = MT_SRP_T_RANGE; rc = MT_ERR_HANDSHAKE; }
    /* A bad A or u = 0 happens about once in 2^60 draws: draw again; a source that runs out
     * (a fixed a) reports the failure instead. */
    int last = 0;
    for (int tries = 0; rc == MT_OK; tries++) {
        int drawn = mt_random_fill(rnd, a, sizeof a);
        if (drawn != MT_OK) {
            if (last) { *why = last; rc = MT_ERR_HANDSHAKE; } else rc = drawn;
            break;
        }
        if (!BN_bin2bn(a, sizeof a, c.a)) { rc = MT_ERR_NOMEM; break; }
        rc = client_answer(&c, algo, 1, A, M1, &last);
        if (rc != MT_ERR_HANDSHAKE) break;
        if (tries == 64) { *why = last; break; }
        rc = MT_OK;
    }
    mt_wipe(a, sizeof a);
    mt_wipe(tp, sizeof tp);
    client_free(&c);
    return rc;
}

int mt_srp_verifier(const mt_srp_algo *algo, const uint8_t *pw, size_t pwlen, uint8_t v[256])
{
    grp G;
    BIGNUM *x = BN_secure_new(), *bv = BN_secure_new();
    int rc = grp_init(&G, algo);
    if (rc == MT_OK && (!x || !bv)) rc = MT_ERR_NOMEM;
    if (rc == MT_OK) rc = password_x_v(&G, algo, pw, pwlen, x, bv);
    if (rc == MT_OK) rc = to_pad(bv, v);
    BN_clear_free(x);
    BN_clear_free(bv);
    grp_free(&G);
    return rc;
}

int mt_srp_new_hash(const mt_srp_algo *algo, const uint8_t *pw, size_t pwlen, const mt_random *rnd,
                    uint8_t *new_salt1, uint8_t v[256], int *why)
{
    int rc = mt_srp_check_algo(algo, why);
    if (rc != MT_OK) return rc;
    if (algo->salt1_len > SIZE_MAX - MT_SRP_NEW_SALT_BYTES) return MT_ERR_ARG;
    if (algo->salt1_len) memcpy(new_salt1, algo->salt1, algo->salt1_len);
    rc = mt_random_fill(rnd, new_salt1 + algo->salt1_len, MT_SRP_NEW_SALT_BYTES);
    if (rc != MT_OK) return rc;
    mt_srp_algo next = *algo;
    next.salt1 = new_salt1;
    next.salt1_len = algo->salt1_len + MT_SRP_NEW_SALT_BYTES;
    return mt_srp_verifier(&next, pw, pwlen, v);
}

/* ---- the server (the test DC) ------------------------------------------------------------------ */

/* B = (k*v + g^b) mod p into Bn. */
static int server_B(grp *G, const uint8_t v[256], const uint8_t b[256], BIGNUM *Bn)
{
    BN_CTX_start(G->ctx);
    BIGNUM *bv = BN_CTX_get(G->ctx), *bb = BN_CTX_get(G->ctx), *gb = BN_CTX_get(G->ctx);
    int rc = MT_ERR_NOMEM;
    if (bv && bb && gb && BN_bin2bn(v, 256, bv) && BN_bin2bn(b, 256, bb)) {
        rc = modexp_secret(G, gb, G->g, bb);
        if (rc == MT_OK && (!BN_mod_mul(bv, G->k, bv, G->p, G->ctx) || !BN_mod_add(Bn, bv, gb, G->p, G->ctx)))
            rc = MT_ERR_CRYPTO;
    }
    BN_CTX_end(G->ctx);
    return rc;
}

int mt_srp_server_B(const mt_srp_algo *algo, const uint8_t v[256], const uint8_t b[256], uint8_t B[256])
{
    grp G;
    BIGNUM *Bn = BN_new();
    int rc = grp_init(&G, algo);
    if (rc == MT_OK && !Bn) rc = MT_ERR_NOMEM;
    if (rc == MT_OK) rc = server_B(&G, v, b, Bn);
    if (rc == MT_OK) rc = to_pad(Bn, B);
    BN_free(Bn);
    grp_free(&G);
    return rc;
}

int mt_srp_server_check(const mt_srp_algo *algo, const uint8_t v[256], const uint8_t b[256], const uint8_t *A,
                        size_t alen, const uint8_t *M1, size_t m1len, int *why)
{
    grp G;
    uint8_t Ap[256], Bp[256], want[32];
    BIGNUM *Bn = BN_new(), *An = NULL, *S = BN_secure_new(), *bb = BN_secure_new(), *u = BN_new();
    int rc = grp_init(&G, algo);
    if (rc == MT_OK && (!Bn || !S || !bb || !u)) rc = MT_ERR_NOMEM;
    if (rc == MT_OK && alen > 256) { *why = MT_SRP_A_RANGE; rc = MT_ERR_HANDSHAKE; }
    if (rc == MT_OK) {
        memset(Ap, 0, 256);
        memcpy(Ap + 256 - alen, A, alen);
        if (!good_exp(&G, Ap)) { *why = MT_SRP_A_RANGE; rc = MT_ERR_HANDSHAKE; }
    }
    if (rc == MT_OK) rc = server_B(&G, v, b, Bn);
    if (rc == MT_OK) rc = to_pad(Bn, Bp);
    if (rc == MT_OK) rc = put_u(Ap, Bp, u);
    if (rc == MT_OK) {
        /* S = (A * v^u)^b */
        BN_CTX_start(G.ctx);
        BIGNUM *vn = BN_CTX_get(G.ctx);
        An = BN_CTX_get(G.ctx);
        if (!vn || !An || !BN_bin2bn(v, 256, vn) || !BN_bin2bn(Ap, 256, An) || !BN_bin2bn(b, 256, bb)
            || !BN_mod_exp(vn, vn, u, G.p, G.ctx) || !BN_mod_mul(vn, vn, An, G.p, G.ctx))
            rc = MT_ERR_CRYPTO;
        if (rc == MT_OK) rc = modexp_secret(&G, S, vn, bb);
        BN_CTX_end(G.ctx);
    }
    if (rc == MT_OK) rc = put_m1(&G, algo, Ap, Bp, S, want);
    if (rc == MT_OK && (m1len != 32 || mt_ct_memcmp(want, M1, 32) != 0)) { *why = MT_SRP_M1; rc = MT_ERR_HANDSHAKE; }
    mt_wipe(want, sizeof want);
    BN_free(Bn); BN_clear_free(S); BN_clear_free(bb); BN_free(u);
    grp_free(&G);
    return rc;
}
