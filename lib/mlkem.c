/*
 * mlkem: ML-KEM-768, written from FIPS 203 (August 2024), sections 4 to 7.
 * SHA3-256, SHA3-512, SHAKE128 and SHAKE256 come from libcrypto's EVP.
 *
 * Constant time: no data-dependent branch or memory index on secret
 * values, and no `/` or `%` on them (KyberSlash): Compress divides by q
 * with a multiply-and-shift. The implicit-rejection choice in Decaps
 * compares the whole re-encryption with CRYPTO_memcmp and selects the key
 * through a mask hidden from the optimiser by a value barrier. Sampling
 * from the public seed rho (SampleNTT) branches only on public data.
 *
 * Coefficients are kept fully reduced in [0, q) as uint16_t.
 */
#include "mlkem.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ct.h"
#include "whelk/whelk.h"

#define Q 3329
#define N 256
#define K 3
#define ETA1 2
#define ETA2 2
#define DU 10
#define DV 4
#define POLY_BYTES 384 /* 256 coefficients of 12 bits */

typedef struct poly {
    uint16_t c[N];
} poly;

/* x mod q for x < 2^26, without division: floor(2^32 / q) = 1290167
 * makes the quotient estimate low by at most one. */
static inline uint16_t reduce(uint32_t x)
{
    uint32_t quot = (uint32_t)(((uint64_t)x * 1290167u) >> 32);
    uint32_t r = x - quot * Q;       /* in [0, 2q) */
    uint32_t over = ct_mask_ge(r, Q);
    return (uint16_t)(r - (Q & over));
}

static inline uint16_t add_q(uint16_t a, uint16_t b)
{
    return reduce((uint32_t)a + b);
}

static inline uint16_t sub_q(uint16_t a, uint16_t b)
{
    return reduce((uint32_t)a + Q - b);
}

static inline uint16_t mul_q(uint16_t a, uint16_t b)
{
    return reduce((uint32_t)a * b);
}

/* zetas[i] = 17^BitRev7(i) mod q and gammas[i] = 17^(2 BitRev7(i) + 1),
 * computed once; they are public constants. */
static uint16_t zetas[128], gammas[128];

static uint16_t pow17(unsigned e)
{
    uint32_t r = 1, b = 17;
    while (e) {
        if (e & 1) r = r * b % Q; /* public exponent: plain % is fine */
        b = b * b % Q;
        e >>= 1;
    }
    return (uint16_t)r;
}

static unsigned bitrev7(unsigned i)
{
    unsigned r = 0;
    for (int b = 0; b < 7; b++) r |= ((i >> b) & 1) << (6 - b);
    return r;
}

static void init_tables(void)
{
    static int done;
    if (done) return;
    for (unsigned i = 0; i < 128; i++) {
        zetas[i] = pow17(bitrev7(i));
        gammas[i] = pow17(2 * bitrev7(i) + 1);
    }
    done = 1;
}

/* Algorithm 9. */
static void ntt(poly *f)
{
    unsigned i = 1;
    for (unsigned len = 128; len >= 2; len /= 2) {
        for (unsigned start = 0; start < N; start += 2 * len) {
            uint16_t zeta = zetas[i++];
            for (unsigned j = start; j < start + len; j++) {
                uint16_t t = mul_q(zeta, f->c[j + len]);
                f->c[j + len] = sub_q(f->c[j], t);
                f->c[j] = add_q(f->c[j], t);
            }
        }
    }
}

/* Algorithm 10. */
static void ntt_inverse(poly *f)
{
    unsigned i = 127;
    for (unsigned len = 2; len <= 128; len *= 2) {
        for (unsigned start = 0; start < N; start += 2 * len) {
            uint16_t zeta = zetas[i--];
            for (unsigned j = start; j < start + len; j++) {
                uint16_t t = f->c[j];
                f->c[j] = add_q(t, f->c[j + len]);
                f->c[j + len] = mul_q(zeta, sub_q(f->c[j + len], t));
            }
        }
    }
    for (unsigned j = 0; j < N; j++) f->c[j] = mul_q(f->c[j], 3303);
}

/* Algorithms 11 and 12: h += f * g in the NTT domain. */
static void ntt_mul_acc(poly *h, const poly *f, const poly *g)
{
    for (unsigned i = 0; i < 128; i++) {
        uint16_t a0 = f->c[2 * i], a1 = f->c[2 * i + 1];
        uint16_t b0 = g->c[2 * i], b1 = g->c[2 * i + 1];
        uint16_t c0 = add_q(mul_q(a0, b0), mul_q(mul_q(a1, b1), gammas[i]));
        uint16_t c1 = add_q(mul_q(a0, b1), mul_q(a1, b0));
        h->c[2 * i] = add_q(h->c[2 * i], c0);
        h->c[2 * i + 1] = add_q(h->c[2 * i + 1], c1);
    }
}

static void poly_add(poly *r, const poly *a)
{
    for (unsigned i = 0; i < N; i++) r->c[i] = add_q(r->c[i], a->c[i]);
}

static void poly_sub(poly *r, const poly *a)
{
    for (unsigned i = 0; i < N; i++) r->c[i] = sub_q(r->c[i], a->c[i]);
}

/* Compress_d (section 4.2.1): round(2^d x / q) mod 2^d, with the division
 * by q done by multiply-and-shift. */
static inline uint16_t compress(uint16_t x, unsigned d)
{
    uint32_t v = ((uint32_t)x << d) + Q / 2; /* < 2^23 */
    uint32_t quot = (uint32_t)(((uint64_t)v * 1290167u) >> 32);
    uint32_t r = v - quot * Q;
    quot += value_barrier(((r - Q) >> 31) ^ 1); /* one more if r >= q */
    return (uint16_t)(quot & ((1u << d) - 1));
}

static inline uint16_t decompress(uint16_t y, unsigned d)
{
    return (uint16_t)(((uint32_t)y * Q + (1u << (d - 1))) >> d);
}

/* Algorithm 5: 256 d-bit values, least significant bit first. */
static void byte_encode(uint8_t *out, const uint16_t *v, unsigned d)
{
    uint32_t acc = 0;
    unsigned bits = 0, o = 0;
    for (unsigned i = 0; i < N; i++) {
        acc |= (uint32_t)v[i] << bits;
        bits += d;
        while (bits >= 8) {
            out[o++] = (uint8_t)acc;
            acc >>= 8;
            bits -= 8;
        }
    }
}

/* Algorithm 6; for d = 12 the values are reduced mod q. */
static void byte_decode(uint16_t *v, const uint8_t *in, unsigned d)
{
    uint32_t acc = 0;
    unsigned bits = 0, o = 0;
    for (unsigned i = 0; i < N; i++) {
        while (bits < d) {
            acc |= (uint32_t)in[o++] << bits;
            bits += 8;
        }
        uint16_t x = (uint16_t)(acc & ((1u << d) - 1));
        acc >>= d;
        bits -= d;
        v[i] = d == 12 ? reduce(x) : x;
    }
}

/* ------------------------------------------------------------------------
 * Hashes through EVP. Any failure is reported; nothing continues on it.
 */

static int digest(const EVP_MD *md, const uint8_t *a, size_t alen,
                  const uint8_t *b, size_t blen, uint8_t *out, size_t outlen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) &&
             EVP_DigestUpdate(ctx, a, alen) &&
             (!blen || EVP_DigestUpdate(ctx, b, blen));
    if (ok) {
        if (EVP_MD_flags(md) & EVP_MD_FLAG_XOF)
            ok = EVP_DigestFinalXOF(ctx, out, outlen);
        else
            ok = EVP_DigestFinal_ex(ctx, out, NULL);
    }
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : WHELK_ERR_CRYPTO;
}

#define H(in, n, out) digest(EVP_sha3_256(), in, n, NULL, 0, out, 32)
#define G(a, al, b, bl, out) digest(EVP_sha3_512(), a, al, b, bl, out, 64)

/* PRF_eta(s, b) = SHAKE256(s || b, 64 eta). */
static int prf(const uint8_t s[32], uint8_t b, uint8_t *out, size_t len)
{
    return digest(EVP_shake256(), s, 32, &b, 1, out, len);
}

/* Algorithm 8 for eta = 2: 128 bytes to a polynomial. */
static void sample_cbd2(poly *f, const uint8_t *bytes)
{
    for (unsigned i = 0; i < N; i++) {
        unsigned bitpos = 4 * i;
        unsigned nib = (bytes[bitpos / 8] >> (bitpos % 8)) & 0xf;
        unsigned x = (nib & 1) + ((nib >> 1) & 1);
        unsigned y = ((nib >> 2) & 1) + ((nib >> 3) & 1);
        f->c[i] = reduce(x + Q - y);
    }
}

static int cbd_from_prf(poly *f, const uint8_t seed[32], uint8_t n)
{
    uint8_t buf[64 * 2];
    int rc = prf(seed, n, buf, sizeof(buf));
    if (!rc) sample_cbd2(f, buf);
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

/* Algorithm 7: rejection sampling from SHAKE128(rho || j || i). OpenSSL
 * 3.0 cannot squeeze twice, so when the first output runs out (rare) the
 * absorbed state is copied and finalised again, longer. */
/* Bytes squeezed before SampleNTT needs more: four SHAKE-128 blocks cover
 * all but a ~2^-70 fraction of seeds (CCTV's unlucky seeds need 576).
 * The unit tests build a variant with one block, so that the longer
 * re-squeeze below runs on every polynomial. */
#ifndef WK_MLKEM_XOF_FIRST
#define WK_MLKEM_XOF_FIRST (168 * 4)
#endif

static int sample_ntt(poly *a, const uint8_t rho[32], uint8_t j, uint8_t i)
{
    uint8_t seed[34];
    memcpy(seed, rho, 32);
    seed[32] = j;
    seed[33] = i;
    EVP_MD_CTX *absorbed = EVP_MD_CTX_new(), *tmp = EVP_MD_CTX_new();
    int rc = WHELK_ERR_CRYPTO;
    uint8_t buf[168 * 12];
    size_t have = WK_MLKEM_XOF_FIRST, pos = 0;
    unsigned n = 0;
    if (!absorbed || !tmp ||
        !EVP_DigestInit_ex(absorbed, EVP_shake128(), NULL) ||
        !EVP_DigestUpdate(absorbed, seed, sizeof(seed)) ||
        !EVP_MD_CTX_copy_ex(tmp, absorbed) ||
        !EVP_DigestFinalXOF(tmp, buf, have))
        goto out;
    while (n < N) {
        if (pos + 3 > have) {
            if (have == sizeof(buf)) goto out; /* ~2^-1000: give up */
            have = sizeof(buf);
            if (!EVP_MD_CTX_copy_ex(tmp, absorbed) ||
                !EVP_DigestFinalXOF(tmp, buf, have))
                goto out;
        }
        uint16_t d1 = (uint16_t)(buf[pos] | ((buf[pos + 1] & 0xf) << 8));
        uint16_t d2 = (uint16_t)((buf[pos + 1] >> 4) | (buf[pos + 2] << 4));
        pos += 3;
        if (d1 < Q) a->c[n++] = d1;
        if (d2 < Q && n < N) a->c[n++] = d2;
    }
    rc = 0;
out:
    EVP_MD_CTX_free(absorbed);
    EVP_MD_CTX_free(tmp);
    return rc;
}

static int gen_matrix(poly a[K][K], const uint8_t rho[32])
{
    for (uint8_t i = 0; i < K; i++)
        for (uint8_t j = 0; j < K; j++)
            if (sample_ntt(&a[i][j], rho, j, i)) return WHELK_ERR_CRYPTO;
    return 0;
}

/* ------------------------------------------------------------------------
 * K-PKE (section 5).
 */

/* Algorithm 13. */
static int pke_keygen(const uint8_t d[32], uint8_t ek[WK_MLKEM768_EK_LEN],
                      uint8_t dk_pke[K * POLY_BYTES])
{
    uint8_t rs[64], kbyte = K;
    poly a[K][K], s[K], e[K], t;
    int rc = G(d, 32, &kbyte, 1, rs);
    const uint8_t *rho = rs, *sigma = rs + 32;
    WK_CT_PUBLIC(rs, 32); /* rho becomes part of the public key */
    if (!rc) rc = gen_matrix(a, rho);
    uint8_t nonce = 0;
    for (unsigned i = 0; i < K && !rc; i++) rc = cbd_from_prf(&s[i], sigma,
                                                              nonce++);
    for (unsigned i = 0; i < K && !rc; i++) rc = cbd_from_prf(&e[i], sigma,
                                                              nonce++);
    if (!rc) {
        for (unsigned i = 0; i < K; i++) {
            ntt(&s[i]);
            ntt(&e[i]);
        }
        for (unsigned i = 0; i < K; i++) {
            t = e[i];
            for (unsigned j = 0; j < K; j++) ntt_mul_acc(&t, &a[i][j], &s[j]);
            byte_encode(ek + i * POLY_BYTES, t.c, 12);
            byte_encode(dk_pke + i * POLY_BYTES, s[i].c, 12);
        }
        memcpy(ek + K * POLY_BYTES, rho, 32);
        WK_CT_PUBLIC(ek, WK_MLKEM768_EK_LEN); /* the public key */
    }
    OPENSSL_cleanse(rs, sizeof(rs));
    OPENSSL_cleanse(s, sizeof(s));
    OPENSSL_cleanse(e, sizeof(e));
    OPENSSL_cleanse(&t, sizeof(t));
    return rc;
}

/* Algorithm 14. */
static int pke_encrypt(const uint8_t ek[WK_MLKEM768_EK_LEN],
                       const uint8_t m[32], const uint8_t r[32],
                       uint8_t ct[WK_MLKEM768_CT_LEN])
{
    poly a[K][K], t[K], y[K], e1[K], e2, u, v, mu;
    int rc = gen_matrix(a, ek + K * POLY_BYTES);
    uint8_t nonce = 0;
    for (unsigned i = 0; i < K && !rc; i++) rc = cbd_from_prf(&y[i], r,
                                                              nonce++);
    for (unsigned i = 0; i < K && !rc; i++) rc = cbd_from_prf(&e1[i], r,
                                                              nonce++);
    if (!rc) rc = cbd_from_prf(&e2, r, nonce++);
    if (!rc) {
        for (unsigned i = 0; i < K; i++) {
            byte_decode(t[i].c, ek + i * POLY_BYTES, 12);
            ntt(&y[i]);
        }
        uint16_t tmp[N];
        for (unsigned i = 0; i < K; i++) {
            memset(&u, 0, sizeof(u));
            for (unsigned j = 0; j < K; j++) ntt_mul_acc(&u, &a[j][i], &y[j]);
            ntt_inverse(&u);
            poly_add(&u, &e1[i]);
            for (unsigned k = 0; k < N; k++) tmp[k] = compress(u.c[k], DU);
            byte_encode(ct + i * 320, tmp, DU);
        }
        memset(&v, 0, sizeof(v));
        for (unsigned j = 0; j < K; j++) ntt_mul_acc(&v, &t[j], &y[j]);
        ntt_inverse(&v);
        poly_add(&v, &e2);
        for (unsigned k = 0; k < N; k++) {
            uint16_t bit = (m[k / 8] >> (k % 8)) & 1;
            mu.c[k] = decompress(bit, 1);
        }
        poly_add(&v, &mu);
        for (unsigned k = 0; k < N; k++) tmp[k] = compress(v.c[k], DV);
        byte_encode(ct + K * 320, tmp, DV);
        OPENSSL_cleanse(tmp, sizeof(tmp));
    }
    OPENSSL_cleanse(y, sizeof(y));
    OPENSSL_cleanse(e1, sizeof(e1));
    OPENSSL_cleanse(&e2, sizeof(e2));
    OPENSSL_cleanse(&u, sizeof(u));
    OPENSSL_cleanse(&v, sizeof(v));
    OPENSSL_cleanse(&mu, sizeof(mu));
    return rc;
}

/* Algorithm 15. */
static void pke_decrypt(const uint8_t dk_pke[K * POLY_BYTES],
                        const uint8_t ct[WK_MLKEM768_CT_LEN], uint8_t m[32])
{
    poly u, s, w, v;
    memset(&w, 0, sizeof(w));
    for (unsigned i = 0; i < K; i++) {
        byte_decode(u.c, ct + i * 320, DU);
        for (unsigned k = 0; k < N; k++) u.c[k] = decompress(u.c[k], DU);
        ntt(&u);
        byte_decode(s.c, dk_pke + i * POLY_BYTES, 12);
        ntt_mul_acc(&w, &s, &u);
    }
    ntt_inverse(&w);
    byte_decode(v.c, ct + K * 320, DV);
    for (unsigned k = 0; k < N; k++) v.c[k] = decompress(v.c[k], DV);
    poly_sub(&v, &w);
    memset(m, 0, 32);
    for (unsigned k = 0; k < N; k++)
        m[k / 8] |= (uint8_t)(compress(v.c[k], 1) << (k % 8));
    OPENSSL_cleanse(&s, sizeof(s));
    OPENSSL_cleanse(&w, sizeof(w));
    OPENSSL_cleanse(&v, sizeof(v));
}

/* ------------------------------------------------------------------------
 * ML-KEM (sections 6 and 7).
 */

int wk_mlkem768_check_ek(const uint8_t ek[WK_MLKEM768_EK_LEN])
{
    /* Section 7.2: every 12-bit value below q, i.e. ByteEncode12 of
     * ByteDecode12 gives the key back. Public data, so a plain loop. */
    for (unsigned i = 0; i < K * POLY_BYTES; i += 3) {
        uint16_t d1 = (uint16_t)(ek[i] | ((ek[i + 1] & 0xf) << 8));
        uint16_t d2 = (uint16_t)((ek[i + 1] >> 4) | (ek[i + 2] << 4));
        if (d1 >= Q || d2 >= Q) return WHELK_ERR_KEX;
    }
    return 0;
}

int wk_mlkem768_keygen(const uint8_t d[32], const uint8_t z[32],
                       uint8_t ek[WK_MLKEM768_EK_LEN],
                       uint8_t dk[WK_MLKEM768_DK_LEN])
{
    init_tables();
    int rc = pke_keygen(d, ek, dk);
    if (rc) return rc;
    memcpy(dk + K * POLY_BYTES, ek, WK_MLKEM768_EK_LEN);
    rc = H(ek, WK_MLKEM768_EK_LEN, dk + K * POLY_BYTES + WK_MLKEM768_EK_LEN);
    memcpy(dk + K * POLY_BYTES + WK_MLKEM768_EK_LEN + 32, z, 32);
    return rc;
}

int wk_mlkem768_encaps(const uint8_t ek[WK_MLKEM768_EK_LEN],
                       const uint8_t m[32], uint8_t ct[WK_MLKEM768_CT_LEN],
                       uint8_t ss[WK_MLKEM768_SS_LEN])
{
    init_tables();
    if (wk_mlkem768_check_ek(ek)) return WHELK_ERR_KEX;
    uint8_t h[32], kr[64];
    int rc = H(ek, WK_MLKEM768_EK_LEN, h);
    if (!rc) rc = G(m, 32, h, 32, kr);
    if (!rc) rc = pke_encrypt(ek, m, kr + 32, ct);
    if (!rc) memcpy(ss, kr, 32);
    OPENSSL_cleanse(kr, sizeof(kr));
    return rc;
}

int wk_mlkem768_decaps(const uint8_t dk[WK_MLKEM768_DK_LEN],
                       const uint8_t ct[WK_MLKEM768_CT_LEN],
                       uint8_t ss[WK_MLKEM768_SS_LEN])
{
    init_tables();
    const uint8_t *dk_pke = dk;
    const uint8_t *ek = dk + K * POLY_BYTES;
    const uint8_t *h = ek + WK_MLKEM768_EK_LEN;
    const uint8_t *z = h + 32;
    uint8_t check[32], m[32], kr[64], reject[32];
    uint8_t ct2[WK_MLKEM768_CT_LEN];
    /* The encapsulation key and its hash, inside dk, are public. */
    WK_CT_PUBLIC(ek, WK_MLKEM768_EK_LEN + 32);
    /* Section 7.3 hash check on the decapsulation key. */
    int rc = H(ek, WK_MLKEM768_EK_LEN, check);
    if (!rc && CRYPTO_memcmp(check, h, 32) != 0) rc = WHELK_ERR_KEX;
    if (!rc) {
        pke_decrypt(dk_pke, ct, m);
        rc = G(m, 32, h, 32, kr);
    }
    if (!rc) rc = digest(EVP_shake256(), z, 32, ct, WK_MLKEM768_CT_LEN,
                         reject, 32);
    if (!rc) rc = pke_encrypt(ek, m, kr + 32, ct2);
    if (!rc) {
        /* All-ones when the re-encryption differs anywhere. */
        uint32_t diff = (uint32_t)CRYPTO_memcmp(ct, ct2, sizeof(ct2));
        uint8_t bad = (uint8_t)ct_mask_nonzero(diff);
        for (unsigned i = 0; i < 32; i++)
            ss[i] = (uint8_t)((kr[i] & ~bad) | (reject[i] & bad));
    }
    OPENSSL_cleanse(m, sizeof(m));
    OPENSSL_cleanse(kr, sizeof(kr));
    OPENSSL_cleanse(reject, sizeof(reject));
    OPENSSL_cleanse(ct2, sizeof(ct2));
    return rc;
}

int wk_mlkem768_keygen_rand(uint8_t ek[WK_MLKEM768_EK_LEN],
                            uint8_t dk[WK_MLKEM768_DK_LEN],
                            whelk_rand_cb rand, void *rand_user)
{
    uint8_t dz[64];
    int rc = wk_kem_draw(dz, sizeof(dz), rand, rand_user);
    if (!rc) rc = wk_mlkem768_keygen(dz, dz + 32, ek, dk);
    OPENSSL_cleanse(dz, sizeof(dz));
    return rc;
}

int wk_mlkem768_encaps_rand(const uint8_t ek[WK_MLKEM768_EK_LEN],
                            uint8_t ct[WK_MLKEM768_CT_LEN],
                            uint8_t ss[WK_MLKEM768_SS_LEN],
                            whelk_rand_cb rand, void *rand_user)
{
    uint8_t m[32];
    int rc = wk_kem_draw(m, sizeof(m), rand, rand_user);
    if (!rc) rc = wk_mlkem768_encaps(ek, m, ct, ss);
    OPENSSL_cleanse(m, sizeof(m));
    return rc;
}
