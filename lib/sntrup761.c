/*
 * sntrup761: Streamlined NTRU Prime 761, written from the NTRU Prime
 * specification (round 3): the ring R = Z[x] / (x^p - x - 1), the
 * Streamlined key generation, encryption by rounding, the mixed-radix
 * encodings, and the KEM with a plaintext-confirmation hash and implicit
 * rejection. SHA-512 comes from libcrypto's EVP.
 *
 * Representation: elements of Z/q are int16_t centred in [-(q-1)/2,
 * (q-1)/2]; "small" coefficients are int8_t in {-1, 0, 1}.
 *
 * Constant time: no branch or memory index depends on secret data, and no
 * `/` or `%` touches it. Reductions mod q and mod 3 multiply by a
 * precomputed reciprocal; inversion runs a fixed 2p - 1 divsteps with
 * every choice made by mask; the short-polynomial sampler sorts with a
 * fixed comparator network; decapsulation compares the full re-encryption
 * with CRYPTO_memcmp and picks the session-key input by mask. The one
 * secret-derived branch is key generation's retry when a random g is not
 * invertible mod 3, which reveals nothing about the key that is kept.
 */
#include "sntrup761.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ct.h"

#define P 761
#define Q 4591
#define Q12 2295 /* (q - 1) / 2 */
#define W 286
#define SMALL_BYTES 191   /* four coefficients per byte */
#define RQ_BYTES 1158     /* WK_SNTRUP761_PK_LEN */
#define ROUNDED_BYTES 1007
#define CONFIRM_BYTES 32
#define ROUNDED_RADIX 1531 /* (q + 2) / 3 */

/* Secret key layout: f, 1/g mod 3, the public key, rho, Hash4(pk). */
#define SK_F 0
#define SK_GINV SMALL_BYTES
#define SK_PK (2 * SMALL_BYTES)
#define SK_RHO (SK_PK + RQ_BYTES)
#define SK_CACHE (SK_RHO + SMALL_BYTES)

typedef int16_t fq;
typedef int8_t small;

_Static_assert(SK_CACHE + 32 == WK_SNTRUP761_SK_LEN, "secret key layout");
_Static_assert(ROUNDED_BYTES + CONFIRM_BYTES == WK_SNTRUP761_CT_LEN,
               "ciphertext layout");

/* ------------------------------------------------------------------------
 * Arithmetic mod q and mod 3.
 */

/* x mod q, centred, for |x| < 2^26. Adding q * 2^14 (> 2^26) makes the
 * value positive without changing it mod q, and adding (q-1)/2 before the
 * reduction and removing it after centres the result. The quotient
 * estimate from floor(2^40 / q) is low by at most one. */
static inline fq fq_freeze(int32_t x)
{
    uint32_t u = (uint32_t)(x + Q * 16384 + Q12);
    uint32_t quot = (uint32_t)(((uint64_t)u * ((1ull << 40) / Q)) >> 40);
    uint32_t r = u - quot * Q;
    r -= Q & ct_mask_ge(r, Q);
    return (fq)((int32_t)r - Q12);
}

/* x mod 3 in {-1, 0, 1}, for |x| < 2^20: the same shift-and-centre, with
 * ceil(2^32 / 3) giving an exact quotient below 2^31. */
static inline small f3_freeze(int32_t x)
{
    uint32_t u = (uint32_t)(x + 3 * (1 << 20) + 1);
    uint32_t quot = (uint32_t)(((uint64_t)u * 0x55555556u) >> 32);
    return (small)((int32_t)(u - 3 * quot) - 1);
}

/* a^(q-2) = 1/a mod q; the exponent is public, so the sequence of
 * multiplications is fixed. */
static fq fq_recip(fq a)
{
    int32_t result = 1, base = a;
    for (unsigned e = Q - 2; e; e >>= 1) {
        if (e & 1) result = fq_freeze(result * base);
        base = fq_freeze(base * base);
    }
    return (fq)result;
}

/* All ones (as int32_t) when x != 0 or when x < 0. */
static inline int32_t mask_nonzero(int32_t x)
{
    return (int32_t)ct_mask_nonzero((uint32_t)x);
}

static inline int32_t mask_negative(int32_t x)
{
    return (int32_t)(0u - value_barrier((uint32_t)x >> 31));
}

/* ------------------------------------------------------------------------
 * Multiplication in R/q and R/3: schoolbook, then x^p = x + 1 folds the
 * top half down. Products accumulate unreduced: 761 terms of at most
 * 2295 stay below 2^21, and each low coefficient receives at most two
 * folds, so one reduction at the end is enough.
 */

/* prod = f * g as a plain polynomial product of degree 2p - 2, then
 * folded: x^p = x + 1 moves each coefficient i >= p onto i - p and
 * i - p + 1, both below p, so one pass from the top suffices. */
static void mul_and_fold(int32_t prod[2 * P - 1], const small *g,
                         const int16_t *f16, const small *f8)
{
    memset(prod, 0, (2 * P - 1) * sizeof(prod[0]));
    for (int i = 0; i < P; i++) {
        int32_t fi = f16 ? f16[i] : f8[i];
        for (int j = 0; j < P; j++) prod[i + j] += fi * g[j];
    }
    for (int i = 2 * P - 2; i >= P; i--) {
        prod[i - P] += prod[i];
        prod[i - P + 1] += prod[i];
    }
}

/* h = f * g in R/q, g small. */
static void rq_mul_small(fq h[P], const fq f[P], const small g[P])
{
    int32_t prod[2 * P - 1];
    mul_and_fold(prod, g, f, NULL);
    for (int i = 0; i < P; i++) h[i] = fq_freeze(prod[i]);
    OPENSSL_cleanse(prod, sizeof(prod));
}

/* h = f * g in R/3. */
static void r3_mul(small h[P], const small f[P], const small g[P])
{
    int32_t prod[2 * P - 1];
    mul_and_fold(prod, g, NULL, f);
    for (int i = 0; i < P; i++) h[i] = f3_freeze(prod[i]);
    OPENSSL_cleanse(prod, sizeof(prod));
}

/* ------------------------------------------------------------------------
 * Inversion by divsteps (Bernstein and Yang, "Fast constant-time gcd
 * computation and modular inversion", section 6). Both polynomials are
 * held reversed: f is x^p - x - 1, g the input, each with coefficient 0
 * the top one. Every step multiplies v by x, swaps (f, v) with (g, r)
 * when delta > 0 and g has a nonzero constant term, eliminates g's
 * constant term with f's, and divides g by x. After 2p - 1 steps delta is
 * 0 exactly when the input was invertible, and v holds the inverse
 * (reversed) up to the factor f[0].
 */

static void cswap16(int16_t *a, int16_t *b, int n, int32_t mask)
{
    for (int i = 0; i < n; i++) {
        int16_t t = (int16_t)(mask & (a[i] ^ b[i]));
        a[i] ^= t;
        b[i] ^= t;
    }
}

static void cswap8(int8_t *a, int8_t *b, int n, int32_t mask)
{
    for (int i = 0; i < n; i++) {
        int8_t t = (int8_t)(mask & (a[i] ^ b[i]));
        a[i] ^= t;
        b[i] ^= t;
    }
}

/* One divstep's bookkeeping: returns the swap mask and updates delta. */
static int32_t divstep_swap(int32_t *delta, int32_t g0)
{
    int32_t swap = mask_negative(-*delta) & mask_nonzero(g0);
    *delta ^= swap & (*delta ^ -*delta);
    *delta += 1;
    return swap;
}

/* out = 1 / (3 a) in R/q. R/q is a field, so every nonzero a has one;
 * starting r at 1/3 folds in the factor 3 that key generation needs. */
static void rq_recip3(fq out[P], const small a[P])
{
    fq f[P + 1] = {0}, g[P + 1] = {0}, v[P + 1] = {0}, r[P + 1] = {0};
    r[0] = fq_recip(3);
    f[0] = 1;
    f[P - 1] = -1;
    f[P] = -1;
    for (int i = 0; i < P; i++) g[P - 1 - i] = a[i];
    int32_t delta = 1;
    for (int step = 0; step < 2 * P - 1; step++) {
        memmove(v + 1, v, P * sizeof(v[0]));
        v[0] = 0;
        int32_t swap = divstep_swap(&delta, g[0]);
        cswap16(f, g, P + 1, swap);
        cswap16(v, r, P + 1, swap);
        int32_t f0 = f[0], g0 = g[0];
        for (int i = 0; i <= P; i++) g[i] = fq_freeze(f0 * g[i] - g0 * f[i]);
        for (int i = 0; i <= P; i++) r[i] = fq_freeze(f0 * r[i] - g0 * v[i]);
        memmove(g, g + 1, P * sizeof(g[0]));
        g[P] = 0;
    }
    int32_t scale = fq_recip(f[0]);
    for (int i = 0; i < P; i++) out[i] = fq_freeze(scale * v[P - 1 - i]);
    OPENSSL_cleanse(f, sizeof(f));
    OPENSSL_cleanse(g, sizeof(g));
    OPENSSL_cleanse(v, sizeof(v));
    OPENSSL_cleanse(r, sizeof(r));
}

/* out = 1 / a in R/3; returns 0 when a is invertible, all ones when not
 * (out is then meaningless). In F3 every nonzero element is its own
 * inverse, so eliminating g's constant term is g - g0 f0 f. */
static int32_t r3_recip(small out[P], const small a[P])
{
    small f[P + 1] = {0}, g[P + 1] = {0}, v[P + 1] = {0}, r[P + 1] = {0};
    r[0] = 1;
    f[0] = 1;
    f[P - 1] = -1;
    f[P] = -1;
    for (int i = 0; i < P; i++) g[P - 1 - i] = a[i];
    int32_t delta = 1;
    for (int step = 0; step < 2 * P - 1; step++) {
        memmove(v + 1, v, P * sizeof(v[0]));
        v[0] = 0;
        int32_t swap = divstep_swap(&delta, g[0]);
        cswap8(f, g, P + 1, swap);
        cswap8(v, r, P + 1, swap);
        int32_t factor = -g[0] * f[0];
        for (int i = 0; i <= P; i++) g[i] = f3_freeze(g[i] + factor * f[i]);
        for (int i = 0; i <= P; i++) r[i] = f3_freeze(r[i] + factor * v[i]);
        memmove(g, g + 1, P * sizeof(g[0]));
        g[P] = 0;
    }
    for (int i = 0; i < P; i++) out[i] = (small)(f[0] * v[P - 1 - i]);
    OPENSSL_cleanse(f, sizeof(f));
    OPENSSL_cleanse(g, sizeof(g));
    OPENSSL_cleanse(v, sizeof(v));
    OPENSSL_cleanse(r, sizeof(r));
    return mask_nonzero(delta);
}

/* ------------------------------------------------------------------------
 * Sampling. A random small polynomial takes each coefficient from the top
 * bits of a 30-bit random value times 3; a short one (exactly w nonzero
 * coefficients) tags w random words as +-1 and the rest as 0, sorts the
 * words, and keeps the tags: a uniformly random arrangement. The sort is
 * Batcher's merge exchange (Knuth, TAOCP 5.2.2, algorithm M), a
 * comparator network for any length whose comparisons do not depend on
 * the data.
 */

static inline void minmax(uint32_t *a, uint32_t *b)
{
    uint32_t x = *a, y = *b;
    uint32_t swap = value_barrier(0u - (uint32_t)(((uint64_t)y - x) >> 63));
    uint32_t t = (x ^ y) & swap;
    *a = x ^ t;
    *b = y ^ t;
}

static void sort_u32(uint32_t *x, int n)
{
    int top = 1;
    while (top < n) top <<= 1;
    for (int p = top >> 1; p > 0; p >>= 1) {
        int q = top >> 1, r = 0, d = p;
        for (;;) {
            for (int i = 0; i + d < n; i++)
                if ((i & p) == r) minmax(&x[i], &x[i + d]);
            if (q == p) break;
            d = q - p;
            q >>= 1;
            r = p;
        }
    }
}

/* p little-endian 32-bit words, one request of 4p bytes. */
static int random_words(uint32_t words[P], whelk_rand_cb rand, void *ru)
{
    uint8_t bytes[4 * P];
    int rc = wk_kem_draw(bytes, sizeof(bytes), rand, ru);
    for (int i = 0; i < P; i++)
        words[i] = (uint32_t)bytes[4 * i] | (uint32_t)bytes[4 * i + 1] << 8 |
                   (uint32_t)bytes[4 * i + 2] << 16 |
                   (uint32_t)bytes[4 * i + 3] << 24;
    OPENSSL_cleanse(bytes, sizeof(bytes));
    return rc;
}

static int small_random(small out[P], whelk_rand_cb rand, void *ru)
{
    uint32_t words[P];
    int rc = random_words(words, rand, ru);
    for (int i = 0; i < P; i++)
        out[i] = (small)((((words[i] & 0x3fffffff) * 3) >> 30) - 1);
    OPENSSL_cleanse(words, sizeof(words));
    return rc;
}

static int short_random(small out[P], whelk_rand_cb rand, void *ru)
{
    uint32_t words[P];
    int rc = random_words(words, rand, ru);
    /* Low two bits become the coefficient plus one: 0 or 2 for the first
     * w words (-1 or +1), 1 for the rest (0). */
    for (int i = 0; i < W; i++) words[i] &= ~1u;
    for (int i = W; i < P; i++) words[i] = (words[i] & ~3u) | 1;
    sort_u32(words, P);
    for (int i = 0; i < P; i++) out[i] = (small)((words[i] & 3) - 1);
    OPENSSL_cleanse(words, sizeof(words));
    return rc;
}

/* All ones unless exactly w coefficients are nonzero. */
static int32_t weight_mask(const small r[P])
{
    int32_t weight = 0;
    for (int i = 0; i < P; i++) weight += r[i] & 1;
    return mask_nonzero(weight - W);
}

/* ------------------------------------------------------------------------
 * Encodings. Small polynomials pack four coefficients (plus one) per byte.
 * Elements of R/q and rounded elements use the specification's
 * mixed-radix code: values v[i] < m[i] are merged in pairs into
 * v[i] + v[i+1] m[i] below m[i] m[i+1], whose low bytes are written out
 * while the radix is at least 2^14; the halved list repeats until one
 * value remains, which is written whole. Radixes are public; only the
 * values are secret, and they are never branched on.
 */

static void small_encode(uint8_t out[SMALL_BYTES], const small f[P])
{
    for (int i = 0; i < P / 4; i++) {
        const small *c = f + 4 * i;
        out[i] = (uint8_t)((c[0] + 1) | (c[1] + 1) << 2 | (c[2] + 1) << 4 |
                           (c[3] + 1) << 6);
    }
    out[P / 4] = (uint8_t)(f[P - 1] + 1);
}

static void small_decode(small f[P], const uint8_t in[SMALL_BYTES])
{
    for (int i = 0; i < P / 4; i++)
        for (int k = 0; k < 4; k++)
            f[4 * i + k] = (small)(((in[i] >> (2 * k)) & 3) - 1);
    f[P - 1] = (small)((in[P / 4] & 3) - 1);
}

/* v and m are consumed. Returns the end of the output. */
static uint8_t *radix_encode(uint8_t *out, uint32_t *v, uint32_t *m, int len)
{
    while (len > 1) {
        int half = 0, i;
        for (i = 0; i + 1 < len; i += 2) {
            uint32_t val = v[i] + v[i + 1] * m[i], rad = m[i] * m[i + 1];
            while (rad >= 16384) {
                *out++ = (uint8_t)val;
                val >>= 8;
                rad = (rad + 255) >> 8;
            }
            v[half] = val;
            m[half++] = rad;
        }
        if (i < len) {
            v[half] = v[i];
            m[half++] = m[i];
        }
        len = half;
    }
    for (uint32_t val = v[0], rad = m[0]; rad > 1; rad = (rad + 255) >> 8) {
        *out++ = (uint8_t)val;
        val >>= 8;
    }
    return out;
}

/* x / m and x mod m for a public 1 <= m <= 2^14 and x < 2^31, by a
 * reciprocal estimate that is low by at most two, then masked fixes. */
static void divmod14(uint32_t x, uint32_t m, uint32_t *quot, uint32_t *rem)
{
    uint32_t recip = 0x80000000u / m; /* public */
    uint32_t qt = (uint32_t)(((uint64_t)x * recip) >> 31);
    uint32_t r = x - qt * m;
    for (int k = 0; k < 3; k++) {
        uint32_t ge = ct_mask_ge(r, m);
        r -= m & ge;
        qt -= ge; /* ge is 0 or -1 */
    }
    *quot = qt;
    *rem = r;
}

static uint32_t mod14(uint32_t x, uint32_t m)
{
    uint32_t qt, r;
    divmod14(x, m, &qt, &r);
    return r;
}

/* Inverse of radix_encode. Any byte string decodes, every value reduced
 * below its radix. scratch holds 2 * len words for every level below. */
static void radix_decode(uint32_t *out, const uint8_t *in, const uint32_t *m,
                         int len, uint32_t *scratch)
{
    if (len == 1) {
        if (m[0] == 1)
            out[0] = 0;
        else if (m[0] <= 256)
            out[0] = mod14(in[0], m[0]);
        else
            out[0] = mod14(in[0] | (uint32_t)in[1] << 8, m[0]);
        return;
    }
    int half = (len + 1) / 2, i;
    uint32_t *m2 = scratch, *v2 = scratch + half;
    uint32_t *low = scratch + 2 * half, *low_radix = low + len / 2;
    for (i = 0; i + 1 < len; i += 2) {
        uint32_t rad = m[i] * m[i + 1];
        uint32_t *lo = &low[i / 2], *lr = &low_radix[i / 2];
        if (rad > 256 * 16383) {
            *lo = in[0] | (uint32_t)in[1] << 8;
            *lr = 65536;
            in += 2;
            m2[i / 2] = (((rad + 255) >> 8) + 255) >> 8;
        } else if (rad >= 16384) {
            *lo = in[0];
            *lr = 256;
            in += 1;
            m2[i / 2] = (rad + 255) >> 8;
        } else {
            *lo = 0;
            *lr = 1;
            m2[i / 2] = rad;
        }
    }
    if (i < len) m2[i / 2] = m[i];
    radix_decode(v2, in, m2, half, low_radix + len / 2);
    for (i = 0; i + 1 < len; i += 2) {
        uint32_t val = low[i / 2] + low_radix[i / 2] * v2[i / 2], hi;
        divmod14(val, m[i], &hi, &out[i]);
        out[i + 1] = mod14(hi, m[i + 1]); /* matters for hostile input */
    }
    if (i < len) out[i] = v2[i / 2];
}

/* Words of scratch radix_decode needs for length P: each level takes
 * 2 * ceil(len/2) + 2 * floor(len/2) <= 2 * len + 1. */
#define DECODE_SCRATCH (4 * P + 64)

static void rq_encode(uint8_t out[RQ_BYTES], const fq a[P])
{
    uint32_t v[P], m[P];
    for (int i = 0; i < P; i++) {
        v[i] = (uint32_t)(a[i] + Q12);
        m[i] = Q;
    }
    radix_encode(out, v, m, P);
}

static void rq_decode(fq a[P], const uint8_t in[RQ_BYTES])
{
    uint32_t v[P], m[P], scratch[DECODE_SCRATCH];
    for (int i = 0; i < P; i++) m[i] = Q;
    radix_decode(v, in, m, P, scratch);
    for (int i = 0; i < P; i++) a[i] = (fq)((int32_t)v[i] - Q12);
}

/* a holds multiples of 3 in [-(q-1)/2, (q-1)/2]; (a + (q-1)/2) / 3 by
 * multiplying with 10923 / 2^15, exact for multiples of 3 below 2^15. */
static void rounded_encode(uint8_t out[ROUNDED_BYTES], const fq a[P])
{
    uint32_t v[P], m[P];
    for (int i = 0; i < P; i++) {
        v[i] = ((uint32_t)(a[i] + Q12) * 10923) >> 15;
        m[i] = ROUNDED_RADIX;
    }
    radix_encode(out, v, m, P);
    OPENSSL_cleanse(v, sizeof(v));
}

static void rounded_decode(fq a[P], const uint8_t in[ROUNDED_BYTES])
{
    uint32_t v[P], m[P], scratch[DECODE_SCRATCH];
    for (int i = 0; i < P; i++) m[i] = ROUNDED_RADIX;
    radix_decode(v, in, m, P, scratch);
    for (int i = 0; i < P; i++) a[i] = (fq)((int32_t)v[i] * 3 - Q12);
}

/* ------------------------------------------------------------------------
 * Hashes: SHA-512 of a one-byte domain prefix and the input, cut to 32
 * bytes. Prefix 4 hashes the public key, 3 the plaintext, 2 the
 * confirmation, and 1 or 0 the session key (0 after a rejection).
 */

static int hash_prefix(uint8_t out[32], uint8_t prefix, const uint8_t *a,
                       size_t alen, const uint8_t *b, size_t blen)
{
    uint8_t full[64];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) &&
             EVP_DigestUpdate(ctx, &prefix, 1) &&
             EVP_DigestUpdate(ctx, a, alen) &&
             (!blen || EVP_DigestUpdate(ctx, b, blen)) &&
             EVP_DigestFinal_ex(ctx, full, &n) && n == 64;
    EVP_MD_CTX_free(ctx);
    memcpy(out, full, 32);
    OPENSSL_cleanse(full, sizeof(full));
    return ok ? 0 : WHELK_ERR_CRYPTO;
}

/* Hash2(Hash3(r_enc) || Hash4(pk)) */
static int hash_confirm(uint8_t out[32], const uint8_t r_enc[SMALL_BYTES],
                        const uint8_t cache[32])
{
    uint8_t inner[32];
    int rc = hash_prefix(inner, 3, r_enc, SMALL_BYTES, NULL, 0);
    if (!rc) rc = hash_prefix(out, 2, inner, 32, cache, 32);
    OPENSSL_cleanse(inner, sizeof(inner));
    return rc;
}

/* Hash_b(Hash3(r_enc) || ciphertext). b is secret in decapsulation; it is
 * only ever hashed. */
static int hash_session(uint8_t out[32], uint8_t b,
                        const uint8_t r_enc[SMALL_BYTES],
                        const uint8_t ct[WK_SNTRUP761_CT_LEN])
{
    uint8_t inner[32];
    int rc = hash_prefix(inner, 3, r_enc, SMALL_BYTES, NULL, 0);
    if (!rc) rc = hash_prefix(out, b, inner, 32, ct, WK_SNTRUP761_CT_LEN);
    OPENSSL_cleanse(inner, sizeof(inner));
    return rc;
}

/* ------------------------------------------------------------------------
 * The KEM.
 */

/* Deterministic encryption of the short r under public key h, with the
 * confirmation hash: the ciphertext, and r's encoding for the session
 * key. */
static int hide(uint8_t ct[WK_SNTRUP761_CT_LEN], uint8_t r_enc[SMALL_BYTES],
                const small r[P], const fq h[P], const uint8_t cache[32])
{
    fq c[P];
    small_encode(r_enc, r);
    rq_mul_small(c, h, r);
    for (int i = 0; i < P; i++) c[i] = (fq)(c[i] - f3_freeze(c[i])); /* Round */
    rounded_encode(ct, c);
    OPENSSL_cleanse(c, sizeof(c));
    return hash_confirm(ct + ROUNDED_BYTES, r_enc, cache);
}

int wk_sntrup761_keygen(uint8_t pk[WK_SNTRUP761_PK_LEN],
                        uint8_t sk[WK_SNTRUP761_SK_LEN], whelk_rand_cb rand,
                        void *rand_user)
{
    small g[P], f[P], ginv[P];
    fq finv[P], h[P];
    int rc;
    for (;;) {
        if ((rc = small_random(g, rand, rand_user)) != 0) goto out;
        int32_t not_invertible = r3_recip(ginv, g);
        /* Retrying reveals only that a discarded g was not invertible. */
        WK_CT_PUBLIC(&not_invertible, sizeof(not_invertible));
        if (!not_invertible) break;
    }
    if ((rc = short_random(f, rand, rand_user)) != 0) goto out;
    rq_recip3(finv, f);
    rq_mul_small(h, finv, g);
    WK_CT_PUBLIC(h, sizeof(h)); /* h is the public key */
    rq_encode(pk, h);
    small_encode(sk + SK_F, f);
    small_encode(sk + SK_GINV, ginv);
    memcpy(sk + SK_PK, pk, RQ_BYTES);
    rc = wk_kem_draw(sk + SK_RHO, SMALL_BYTES, rand, rand_user);
    if (rc != 0) goto out;
    rc = hash_prefix(sk + SK_CACHE, 4, pk, RQ_BYTES, NULL, 0);
out:
    OPENSSL_cleanse(g, sizeof(g));
    OPENSSL_cleanse(f, sizeof(f));
    OPENSSL_cleanse(ginv, sizeof(ginv));
    OPENSSL_cleanse(finv, sizeof(finv));
    return rc;
}

int wk_sntrup761_encaps(const uint8_t pk[WK_SNTRUP761_PK_LEN],
                        uint8_t ct[WK_SNTRUP761_CT_LEN],
                        uint8_t ss[WK_SNTRUP761_SS_LEN], whelk_rand_cb rand,
                        void *rand_user)
{
    small r[P];
    fq h[P];
    uint8_t cache[32], r_enc[SMALL_BYTES];
    int rc = short_random(r, rand, rand_user);
    if (!rc) rc = hash_prefix(cache, 4, pk, RQ_BYTES, NULL, 0);
    if (!rc) {
        rq_decode(h, pk);
        rc = hide(ct, r_enc, r, h, cache);
    }
    if (!rc) rc = hash_session(ss, 1, r_enc, ct);
    OPENSSL_cleanse(r, sizeof(r));
    OPENSSL_cleanse(r_enc, sizeof(r_enc));
    return rc;
}

int wk_sntrup761_decaps(const uint8_t sk[WK_SNTRUP761_SK_LEN],
                        const uint8_t ct[WK_SNTRUP761_CT_LEN],
                        uint8_t ss[WK_SNTRUP761_SS_LEN])
{
    small f[P], ginv[P], e[P], ev[P], r[P];
    fq c[P], cf[P], h[P];
    uint8_t cnew[WK_SNTRUP761_CT_LEN], r_enc[SMALL_BYTES];
    const uint8_t *rho = sk + SK_RHO;

    small_decode(f, sk + SK_F);
    small_decode(ginv, sk + SK_GINV);
    rounded_decode(c, ct);
    /* Decrypt: e = 3 c f mod q, then mod 3; e / g mod 3 is r when the
     * ciphertext is honest. */
    rq_mul_small(cf, c, f);
    for (int i = 0; i < P; i++) e[i] = f3_freeze(fq_freeze(3 * cf[i]));
    r3_mul(ev, e, ginv);
    /* A result of the wrong weight becomes the fixed (1,...,1,0,...,0),
     * which the re-encryption below will then reject. */
    int32_t bad = weight_mask(ev);
    for (int i = 0; i < W; i++) r[i] = (small)(((ev[i] ^ 1) & ~bad) ^ 1);
    for (int i = W; i < P; i++) r[i] = (small)(ev[i] & ~bad);

    rq_decode(h, sk + SK_PK);
    int rc = hide(cnew, r_enc, r, h, sk + SK_CACHE);
    if (!rc) {
        uint32_t diff = (uint32_t)CRYPTO_memcmp(ct, cnew, sizeof(cnew));
        int32_t reject = (int32_t)ct_mask_nonzero(diff);
        for (int i = 0; i < SMALL_BYTES; i++)
            r_enc[i] ^= (uint8_t)(reject & (r_enc[i] ^ rho[i]));
        rc = hash_session(ss, (uint8_t)(1 + reject), r_enc, ct);
    }
    OPENSSL_cleanse(f, sizeof(f));
    OPENSSL_cleanse(ginv, sizeof(ginv));
    OPENSSL_cleanse(e, sizeof(e));
    OPENSSL_cleanse(ev, sizeof(ev));
    OPENSSL_cleanse(r, sizeof(r));
    OPENSSL_cleanse(cf, sizeof(cf));
    OPENSSL_cleanse(r_enc, sizeof(r_enc));
    return rc;
}
