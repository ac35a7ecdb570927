/*
 * key: host and user keys. ssh-ed25519 (RFC 8709), ecdsa-sha2-nistp256
 * (RFC 5656 section 3) and ssh-rsa keys with rsa-sha2-256/512 signatures
 * (RFC 8332; SHA-1 "ssh-rsa" signatures are neither made nor accepted).
 * Public key blobs (RFC 4253 section 6.6), signature blobs, SHA256
 * fingerprints as ssh-keygen -l prints them, public key lines, and
 * OpenSSH's private key file format (OpenSSH's PROTOCOL.key), read and
 * written unencrypted for every type.
 *
 * Blobs come from peers and key files may have been written by anyone, so
 * everything is parsed with the bounded readers of buf.h, and a public blob
 * is accepted only when re-encoding the key gives back the same bytes. All
 * cryptography is OpenSSL 3 EVP. Secret material lives only in buffers
 * sized once (a realloc would leave an unwiped copy behind) and is wiped
 * before it is freed.
 */
#include "key.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

struct whelk_key {
    whelk_key_type type;
    EVP_PKEY *pkey;
    int has_private;
    uint8_t *blob; /* the public key blob, made once from pkey */
    size_t blob_len;
};

#define MAX_KEY_TEXT    (64 * 1024) /* an armoured private key file */
#define MAX_BLOB        8192        /* a 16384-bit RSA blob is ~2.1 KiB */
#define MAX_NAME        64          /* key type and algorithm names */
#define MAX_COMMENT     4096
#define MAX_SIG         4096 /* signature inside a signature blob */
#define ED25519_LEN     32
#define P256_POINT_LEN  65 /* 0x04 || x || y */
#define P256_SCALAR_LEN 32
#define RSA_MIN_BITS    1024
#define RSA_MAX_BITS    16384 /* also OpenSSL's own limit */
#define RSA_MAX_E_LEN   32    /* SP 800-56B caps e below 2^256 */
#define PEM_COLUMNS     70    /* what ssh-keygen writes */
#define PRIV_BLOCK      8     /* padding block when ciphername is none */

#define ARMOR_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define ARMOR_END   "-----END OPENSSH PRIVATE KEY-----"
#define AUTH_MAGIC  "openssh-key-v1" /* written with its NUL */

static int name_is(const uint8_t *p, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(p, s, n) == 0;
}

/* A buffer for secrets: allocated once at its final size and bounded
 * there, so it can never be moved by realloc. */
static int secret_buf_init(wk_buf *b, size_t size)
{
    wk_buf_init(b, size);
    return wk_buf_reserve(b, size);
}

void whelk_free_secret(void *p, size_t len)
{
    if (!p) return;
    OPENSSL_cleanse(p, len);
    free(p);
}

/* ------------------------------------------------------------------------
 * Base64 (RFC 4648 section 4).
 */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static size_t b64_padded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

size_t wk_base64_encode(const uint8_t *in, size_t len, char *out, size_t outlen,
                        int pad)
{
    size_t need = b64_padded_len(len);
    if (!pad && len % 3) need -= 3 - len % 3;
    if (!out || outlen <= need) return 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        size_t left = len - i;
        uint32_t v = (uint32_t)in[i] << 16;
        if (left > 1) v |= (uint32_t)in[i + 1] << 8;
        if (left > 2) v |= in[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        if (left > 1)
            out[o++] = b64_alphabet[(v >> 6) & 63];
        else if (pad)
            out[o++] = '=';
        if (left > 2)
            out[o++] = b64_alphabet[v & 63];
        else if (pad)
            out[o++] = '=';
    }
    out[o] = 0;
    return o;
}

long wk_base64_decode(const char *in, size_t len, uint8_t *out, size_t outlen)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t digits = 0, pads = 0, o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        if (c == '=') {
            if (++pads > 2) return -1;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pads) return -1; /* bad character, data after '=' */
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        digits++;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outlen) return -1;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* One digit alone cannot make a byte; padding, when present, must
     * complete the last quantum; and the unused low bits must be zero so
     * that each byte string has exactly one encoding. */
    if (digits % 4 == 1) return -1;
    if (pads && (digits % 4 == 0 || digits % 4 + pads != 4)) return -1;
    if (acc != 0) return -1;
    return (long)o;
}

/* ------------------------------------------------------------------------
 * Basic accessors.
 */

static const char *type_name(whelk_key_type t)
{
    switch (t) {
    case WHELK_KEY_ED25519:
        return "ssh-ed25519";
    case WHELK_KEY_ECDSA_P256:
        return "ecdsa-sha2-nistp256";
    case WHELK_KEY_RSA:
        return "ssh-rsa";
    }
    return "unknown";
}

static int type_from_name(const uint8_t *p, size_t n, whelk_key_type *t)
{
    static const whelk_key_type all[] = {WHELK_KEY_ED25519,
                                         WHELK_KEY_ECDSA_P256, WHELK_KEY_RSA};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (name_is(p, n, type_name(all[i]))) {
            *t = all[i];
            return 0;
        }
    }
    return WHELK_ERR_UNSUPPORTED;
}

void whelk_key_free(whelk_key *k)
{
    if (!k) return;
    EVP_PKEY_free(k->pkey); /* OpenSSL wipes the private parts */
    free(k->blob);
    free(k);
}

whelk_key_type whelk_key_type_of(const whelk_key *k)
{
    return k ? k->type : (whelk_key_type)0;
}

int whelk_key_has_private(const whelk_key *k)
{
    return k ? k->has_private : 0;
}

const char *whelk_key_type_name(const whelk_key *k)
{
    return k ? type_name(k->type) : "unknown";
}

const char *whelk_key_short_name(const whelk_key *k)
{
    switch (k ? k->type : (whelk_key_type)0) {
    case WHELK_KEY_ED25519:
        return "ED25519";
    case WHELK_KEY_ECDSA_P256:
        return "ECDSA";
    case WHELK_KEY_RSA:
        return "RSA";
    }
    return "UNKNOWN";
}

int whelk_key_bits(const whelk_key *k)
{
    if (!k) return 0;
    return k->type == WHELK_KEY_RSA ? EVP_PKEY_get_bits(k->pkey) : 256;
}

const uint8_t *whelk_key_blob(const whelk_key *k, size_t *len)
{
    if (!k) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = k->blob_len;
    return k->blob;
}

int whelk_key_equal_public(const whelk_key *a, const whelk_key *b)
{
    return a && b && a->blob_len == b->blob_len &&
           memcmp(a->blob, b->blob, a->blob_len) == 0;
}

const char *wk_key_sig_algs(const whelk_key *k)
{
    switch (k ? k->type : (whelk_key_type)0) {
    case WHELK_KEY_ED25519:
        return "ssh-ed25519";
    case WHELK_KEY_ECDSA_P256:
        return "ecdsa-sha2-nistp256";
    case WHELK_KEY_RSA:
        return "rsa-sha2-512,rsa-sha2-256";
    }
    return "";
}

int wk_key_sig_alg_ok(const whelk_key *k, const char *alg)
{
    if (!k || !alg || !*alg) return 0;
    const char *list = wk_key_sig_algs(k);
    return wk_namelist_has((const uint8_t *)list, strlen(list), alg);
}

/* ------------------------------------------------------------------------
 * Building keys and their blobs.
 */

/* Appends |bn| as an mpint; the staging copy is wiped since |bn| may be a
 * private value. */
static int put_bn(wk_buf *b, const BIGNUM *bn)
{
    int n = BN_num_bytes(bn);
    uint8_t *tmp = NULL;
    if (n > 0) {
        tmp = OPENSSL_malloc((size_t)n);
        if (!tmp) return WHELK_ERR_NOMEM;
        if (BN_bn2bin(bn, tmp) != n) {
            OPENSSL_clear_free(tmp, (size_t)n);
            return WHELK_ERR_CRYPTO;
        }
    }
    int rc = wk_buf_put_mpint(b, tmp, (size_t)n);
    OPENSSL_clear_free(tmp, (size_t)n);
    return rc;
}

/* Appends the named BIGNUM parameter of |pkey| as an mpint. */
static int put_bn_param(wk_buf *b, const EVP_PKEY *pkey, const char *name)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(pkey, name, &bn)) return WHELK_ERR_CRYPTO;
    int rc = put_bn(b, bn);
    BN_clear_free(bn);
    return rc;
}

/* The public fields after the type name, in blob order. */
static int put_public_fields(wk_buf *b, whelk_key_type type,
                             const EVP_PKEY *pkey)
{
    if (type == WHELK_KEY_ED25519) {
        uint8_t pub[ED25519_LEN];
        size_t n = sizeof(pub);
        if (!EVP_PKEY_get_raw_public_key(pkey, pub, &n) || n != sizeof(pub))
            return WHELK_ERR_CRYPTO;
        return wk_buf_put_string(b, pub, n);
    }
    if (type == WHELK_KEY_ECDSA_P256) {
        uint8_t q[P256_POINT_LEN];
        size_t n = 0;
        if (!EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, q,
                                             sizeof(q), &n) ||
            n != sizeof(q) || q[0] != 4)
            return WHELK_ERR_CRYPTO;
        int rc = wk_buf_put_cstring(b, "nistp256");
        return rc ? rc : wk_buf_put_string(b, q, n);
    }
    int rc = put_bn_param(b, pkey, OSSL_PKEY_PARAM_RSA_E);
    return rc ? rc : put_bn_param(b, pkey, OSSL_PKEY_PARAM_RSA_N);
}

/* Wraps |pkey| (always consumed) in a whelk_key with its blob. */
static int new_key(whelk_key_type type, EVP_PKEY *pkey, int priv,
                   whelk_key **out)
{
    if (!pkey) return WHELK_ERR_CRYPTO;
    whelk_key *k = calloc(1, sizeof(*k));
    if (!k) {
        EVP_PKEY_free(pkey);
        return WHELK_ERR_NOMEM;
    }
    k->type = type;
    k->pkey = pkey;
    k->has_private = priv;
    wk_buf b;
    wk_buf_init(&b, MAX_BLOB);
    int rc = wk_buf_put_cstring(&b, type_name(type));
    if (!rc) rc = put_public_fields(&b, type, pkey);
    if (!rc) {
        k->blob_len = wk_buf_used(&b);
        k->blob = malloc(k->blob_len);
        if (k->blob)
            memcpy(k->blob, wk_buf_data(&b), k->blob_len);
        else
            rc = WHELK_ERR_NOMEM;
    }
    wk_buf_free(&b);
    if (rc) {
        whelk_key_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

int wk_key_from_ed25519_seed(const uint8_t *seed, whelk_key **out)
{
    EVP_PKEY *pkey =
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, ED25519_LEN);
    return new_key(WHELK_KEY_ED25519, pkey, 1, out);
}

int whelk_key_generate_ed25519(whelk_key **out)
{
    if (!out) return WHELK_ERR_INVAL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "ED25519", NULL);
    EVP_PKEY *pkey = NULL;
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 ||
        EVP_PKEY_keygen(ctx, &pkey) <= 0) {
        EVP_PKEY_CTX_free(ctx);
        return WHELK_ERR_CRYPTO;
    }
    EVP_PKEY_CTX_free(ctx);
    return new_key(WHELK_KEY_ED25519, pkey, 1, out);
}

/* Runs OpenSSL's key checks: the point is on the curve, and with a private
 * scalar, that it is in range and matches the point. */
static int ec_checks(EVP_PKEY *pkey, int priv)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = ctx && EVP_PKEY_public_check(ctx) == 1 &&
             (!priv || EVP_PKEY_pairwise_check(ctx) == 1);
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* A P-256 key from its uncompressed point |q| and, if |d| is given, its
 * private scalar. */
static int ecdsa_build(const uint8_t *q, const uint8_t *d, size_t dl,
                       whelk_key **out)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pkey = NULL;
    /* A secure BIGNUM makes the parameter builder keep its copy in a
     * block that OSSL_PARAM_free wipes. */
    BIGNUM *priv = d ? BN_secure_new() : NULL;
    int rc = WHELK_ERR_NOMEM;
    if (!bld || !ctx || (d && !priv)) goto out;
    rc = WHELK_ERR_KEY_FORMAT;
    if ((d && !BN_bin2bn(d, (int)dl, priv)) ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                         "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, q,
                                          P256_POINT_LEN) ||
        (d && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)))
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    if (!params || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey,
                          d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                          params) <= 0 ||
        !ec_checks(pkey, d != NULL))
        goto out;
    rc = new_key(WHELK_KEY_ECDSA_P256, pkey, d != NULL, out);
    pkey = NULL;
out:
    EVP_PKEY_free(pkey);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_clear_free(priv);
    return rc;
}

/* RSA fields in the order of OpenSSH's private section. */
enum { R_N, R_E, R_D, R_IQMP, R_P, R_Q, R_COUNT };

struct rsa_parts {
    const uint8_t *v[R_COUNT];
    size_t len[R_COUNT];
};

/* Sets |dx| = d mod (x - 1) and checks that e * dx = 1 mod (x - 1): the
 * CRT exponent for prime x, which OpenSSH files leave for us to derive. */
static int crt_exponent(BIGNUM *dx, const BIGNUM *d, const BIGNUM *e,
                        const BIGNUM *x, BN_CTX *bctx)
{
    BN_CTX_start(bctx);
    BIGNUM *xm1 = BN_CTX_get(bctx), *chk = BN_CTX_get(bctx);
    int ok = chk && BN_sub(xm1, x, BN_value_one()) && BN_is_odd(x) &&
             BN_cmp(xm1, BN_value_one()) > 0 && BN_mod(dx, d, xm1, bctx) &&
             BN_mod_mul(chk, e, dx, xm1, bctx) && BN_is_one(chk);
    BN_CTX_end(bctx);
    return ok;
}

/* An RSA key from n and e, plus d, iqmp, p and q when |priv|. The private
 * parts must be consistent (n = pq, e d = 1 mod p-1 and mod q-1, q iqmp =
 * 1 mod p) so that a damaged file cannot make bad signatures. */
static int rsa_build(const struct rsa_parts *rp, int priv, whelk_key **out)
{
    BIGNUM *bn[R_COUNT] = {0}, *dp = NULL, *dq = NULL, *t = NULL;
    BN_CTX *bctx = BN_CTX_secure_new();
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pkey = NULL;
    int count = priv ? R_COUNT : R_D, rc = WHELK_ERR_NOMEM;
    if (!bctx || !bld || !ctx) goto out;
    for (int i = 0; i < count; i++) {
        bn[i] = i < R_D ? BN_new() : BN_secure_new();
        if (!bn[i]) goto out;
    }
    rc = WHELK_ERR_KEY_FORMAT;
    for (int i = 0; i < count; i++)
        if (!BN_bin2bn(rp->v[i], (int)rp->len[i], bn[i])) goto out;
    int bits = BN_num_bits(bn[R_N]);
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS || !BN_is_odd(bn[R_N]) ||
        !BN_is_odd(bn[R_E]) || BN_is_one(bn[R_E]) ||
        BN_cmp(bn[R_E], bn[R_N]) >= 0)
        goto out;
    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn[R_N]) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn[R_E]))
        goto out;
    if (priv) {
        dp = BN_secure_new();
        dq = BN_secure_new();
        t = BN_secure_new();
        if (!dp || !dq || !t || !BN_mul(t, bn[R_P], bn[R_Q], bctx) ||
            BN_cmp(t, bn[R_N]) != 0 ||
            !crt_exponent(dp, bn[R_D], bn[R_E], bn[R_P], bctx) ||
            !crt_exponent(dq, bn[R_D], bn[R_E], bn[R_Q], bctx) ||
            BN_cmp(bn[R_IQMP], bn[R_P]) >= 0 ||
            !BN_mod_mul(t, bn[R_Q], bn[R_IQMP], bn[R_P], bctx) || !BN_is_one(t))
            goto out;
        if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, bn[R_D]) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1,
                                    bn[R_P]) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2,
                                    bn[R_Q]) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
                                    bn[R_IQMP]))
            goto out;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (!params || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey,
                          priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                          params) <= 0)
        goto out;
    rc = new_key(WHELK_KEY_RSA, pkey, priv, out);
    pkey = NULL;
out:
    EVP_PKEY_free(pkey);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    for (int i = 0; i < R_COUNT; i++)
        BN_clear_free(bn[i]);
    BN_clear_free(dp);
    BN_clear_free(dq);
    BN_clear_free(t);
    BN_CTX_free(bctx);
    return rc;
}

/* ------------------------------------------------------------------------
 * Parsing key fields, shared by blobs (|priv| = 0) and the private
 * section of a key file (|priv| = 1). |r| is just past the type name.
 */

static int read_ed25519(wk_reader *r, int priv, whelk_key **out)
{
    const uint8_t *pub, *sk;
    size_t pl, sl;
    if (wk_get_string(r, &pub, &pl, ED25519_LEN) || pl != ED25519_LEN)
        return WHELK_ERR_KEY_FORMAT;
    if (!priv) {
        EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
                                                     pub, ED25519_LEN);
        if (!pkey) return WHELK_ERR_KEY_FORMAT;
        return new_key(WHELK_KEY_ED25519, pkey, 0, out);
    }
    /* The private string is the 32-byte seed followed by the public key
     * again; the key we derive from the seed must agree with both. */
    if (wk_get_string(r, &sk, &sl, 2 * ED25519_LEN) || sl != 2 * ED25519_LEN ||
        memcmp(sk + ED25519_LEN, pub, ED25519_LEN) != 0)
        return WHELK_ERR_KEY_FORMAT;
    whelk_key *k = NULL;
    int rc = wk_key_from_ed25519_seed(sk, &k);
    if (rc) return WHELK_ERR_KEY_FORMAT;
    if (memcmp(k->blob + k->blob_len - ED25519_LEN, pub, ED25519_LEN) != 0) {
        whelk_key_free(k);
        return WHELK_ERR_KEY_FORMAT;
    }
    *out = k;
    return 0;
}

static int read_ecdsa(wk_reader *r, int priv, whelk_key **out)
{
    const uint8_t *curve, *q, *d = NULL;
    size_t cl, ql, dl = 0;
    if (wk_get_string(r, &curve, &cl, MAX_NAME) ||
        !name_is(curve, cl, "nistp256") ||
        wk_get_string(r, &q, &ql, P256_POINT_LEN) || ql != P256_POINT_LEN ||
        q[0] != 4)
        return WHELK_ERR_KEY_FORMAT;
    if (priv && (wk_get_mpint(r, &d, &dl, P256_SCALAR_LEN) || dl == 0))
        return WHELK_ERR_KEY_FORMAT;
    return ecdsa_build(q, d, dl, out);
}

static int read_rsa(wk_reader *r, int priv, whelk_key **out)
{
    struct rsa_parts rp;
    memset(&rp, 0, sizeof(rp));
    /* Blobs carry e then n; the private section n, e, d, iqmp, p, q. */
    static const int pub_order[] = {R_E, R_N};
    static const int priv_order[] = {R_N, R_E, R_D, R_IQMP, R_P, R_Q};
    const int *order = priv ? priv_order : pub_order;
    int count = priv ? R_COUNT : 2;
    for (int i = 0; i < count; i++) {
        int f = order[i];
        size_t max = f == R_E ? RSA_MAX_E_LEN : RSA_MAX_BITS / 8;
        if (wk_get_mpint(r, &rp.v[f], &rp.len[f], max) || rp.len[f] == 0)
            return WHELK_ERR_KEY_FORMAT;
    }
    return rsa_build(&rp, priv, out);
}

static int read_key_fields(wk_reader *r, whelk_key_type type, int priv,
                           whelk_key **out)
{
    int rc;
    switch (type) {
    case WHELK_KEY_ED25519:
        rc = read_ed25519(r, priv, out);
        break;
    case WHELK_KEY_ECDSA_P256:
        rc = read_ecdsa(r, priv, out);
        break;
    case WHELK_KEY_RSA:
        rc = read_rsa(r, priv, out);
        break;
    default:
        rc = WHELK_ERR_UNSUPPORTED;
    }
    /* OpenSSL's many reasons to refuse a key all mean a malformed one. */
    if (rc == 0 || rc == WHELK_ERR_NOMEM || rc == WHELK_ERR_UNSUPPORTED)
        return rc;
    return WHELK_ERR_KEY_FORMAT;
}

int whelk_key_parse_public_blob(const uint8_t *blob, size_t len,
                                whelk_key **out)
{
    if (!out) return WHELK_ERR_INVAL;
    *out = NULL;
    if (!blob || len > MAX_BLOB) return WHELK_ERR_KEY_FORMAT;
    wk_reader r;
    const uint8_t *name;
    size_t nl;
    whelk_key_type type;
    whelk_key *k = NULL;
    wk_reader_init(&r, blob, len);
    if (wk_get_string(&r, &name, &nl, MAX_NAME)) return WHELK_ERR_KEY_FORMAT;
    int rc = type_from_name(name, nl, &type);
    if (!rc) rc = read_key_fields(&r, type, 0, &k);
    /* Only the one encoding we would write ourselves is accepted, so a
     * key has one blob and one fingerprint. */
    if (!rc && (wk_reader_end(&r) || k->blob_len != len ||
                memcmp(k->blob, blob, len) != 0))
        rc = WHELK_ERR_KEY_FORMAT;
    if (rc) {
        whelk_key_free(k);
        ERR_clear_error();
        return rc;
    }
    *out = k;
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int whelk_key_parse_public_line(const char *line, size_t len, whelk_key **out)
{
    if (!out) return WHELK_ERR_INVAL;
    *out = NULL;
    if (!line) return WHELK_ERR_KEY_FORMAT;
    size_t i = 0;
    while (i < len && is_blank(line[i]))
        i++;
    size_t type_at = i;
    while (i < len && !is_blank(line[i]) && line[i] != '\n' && line[i] != '\r')
        i++;
    size_t type_len = i - type_at;
    while (i < len && is_blank(line[i]))
        i++;
    size_t b64_at = i;
    while (i < len && !is_blank(line[i]) && line[i] != '\n' && line[i] != '\r')
        i++;
    size_t b64_len = i - b64_at;
    /* Whatever follows is the comment, which we do not keep. */
    if (type_len == 0 || type_len > MAX_NAME || b64_len == 0 ||
        b64_len > b64_padded_len(MAX_BLOB))
        return WHELK_ERR_KEY_FORMAT;
    whelk_key_type want;
    if (type_from_name((const uint8_t *)line + type_at, type_len, &want))
        return WHELK_ERR_UNSUPPORTED;
    size_t cap = b64_len / 4 * 3 + 3;
    uint8_t *blob = malloc(cap);
    if (!blob) return WHELK_ERR_NOMEM;
    long n = wk_base64_decode(line + b64_at, b64_len, blob, cap);
    whelk_key *k = NULL;
    int rc = n > 0 ? whelk_key_parse_public_blob(blob, (size_t)n, &k)
                   : WHELK_ERR_KEY_FORMAT;
    free(blob);
    if (rc == WHELK_ERR_UNSUPPORTED) rc = WHELK_ERR_KEY_FORMAT;
    if (!rc && k->type != want) rc = WHELK_ERR_KEY_FORMAT;
    if (rc) {
        whelk_key_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

/* ------------------------------------------------------------------------
 * OpenSSH private key files (PROTOCOL.key): armour, then base64 of
 *   "openssh-key-v1\0" string ciphername, string kdfname,
 *   string kdfoptions, uint32 N, N public key blobs, string private
 * where private is uint32 checkint twice, then per key its type, fields
 * and comment, padded with 1, 2, 3, ... to the cipher's block size.
 */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Finds the base64 body between the armour lines. As with OpenSSH, the
 * end line must start a line and whatever follows it is ignored. */
static int find_body(const char *text, size_t len, const char **body,
                     size_t *body_len)
{
    static const char end_line[] = "\n" ARMOR_END;
    const size_t bl = strlen(ARMOR_BEGIN);
    size_t i = 0;
    while (i < len && is_space(text[i]))
        i++;
    if (len - i < bl || memcmp(text + i, ARMOR_BEGIN, bl) != 0)
        return WHELK_ERR_KEY_FORMAT;
    i += bl;
    const char *end = memmem(text + i, len - i, end_line, sizeof(end_line) - 1);
    if (!end) return WHELK_ERR_KEY_FORMAT;
    *body = text + i;
    *body_len = (size_t)(end - (text + i));
    return 0;
}

/* The private section; |sec| is wiped by the caller. */
static int parse_private_section(const uint8_t *sec, size_t len,
                                 whelk_key **out)
{
    wk_reader r;
    uint32_t check1, check2;
    const uint8_t *name, *comment;
    size_t nl, cl;
    whelk_key_type type;
    whelk_key *k = NULL;
    if (len % PRIV_BLOCK) return WHELK_ERR_KEY_FORMAT;
    wk_reader_init(&r, sec, len);
    /* Unequal check integers are what a wrong passphrase gives; without
     * a cipher they mean the file is damaged. */
    if (wk_get_u32(&r, &check1) || wk_get_u32(&r, &check2) ||
        check1 != check2 || wk_get_string(&r, &name, &nl, MAX_NAME) ||
        type_from_name(name, nl, &type) ||
        read_key_fields(&r, type, 1, &k) != 0)
        return WHELK_ERR_KEY_FORMAT;
    size_t pad = 0;
    if (wk_get_string(&r, &comment, &cl, MAX_KEY_TEXT)) goto bad;
    while (wk_reader_left(&r) > 0) {
        uint8_t v;
        if (wk_get_u8(&r, &v) || v != ++pad || pad >= PRIV_BLOCK) goto bad;
    }
    *out = k;
    return 0;
bad:
    whelk_key_free(k);
    return WHELK_ERR_KEY_FORMAT;
}

/* The decoded container; |raw| is wiped by the caller. */
static int parse_container(const uint8_t *raw, size_t len, whelk_key **out)
{
    wk_reader r;
    const uint8_t *magic, *cipher, *kdf, *kdfopts, *pub, *sec;
    size_t cl, kl, kol, pl, sl;
    uint32_t nkeys;
    wk_reader_init(&r, raw, len);
    if (wk_get_bytes(&r, &magic, sizeof(AUTH_MAGIC)) ||
        memcmp(magic, AUTH_MAGIC, sizeof(AUTH_MAGIC)) != 0 ||
        wk_get_string(&r, &cipher, &cl, MAX_NAME))
        return WHELK_ERR_KEY_FORMAT;
    if (!name_is(cipher, cl, "none")) return WHELK_ERR_KEY_ENCRYPTED;
    if (wk_get_string(&r, &kdf, &kl, MAX_NAME) || !name_is(kdf, kl, "none") ||
        wk_get_string(&r, &kdfopts, &kol, MAX_KEY_TEXT) || kol != 0 ||
        wk_get_u32(&r, &nkeys) || nkeys != 1 ||
        wk_get_string(&r, &pub, &pl, MAX_BLOB) ||
        wk_get_string(&r, &sec, &sl, MAX_KEY_TEXT) || wk_reader_end(&r))
        return WHELK_ERR_KEY_FORMAT;
    whelk_key *outer = NULL, *k = NULL;
    int rc = whelk_key_parse_public_blob(pub, pl, &outer);
    if (!rc) rc = parse_private_section(sec, sl, &k);
    /* The unencrypted copy of the public key must be the private key's. */
    if (!rc && !whelk_key_equal_public(k, outer)) rc = WHELK_ERR_KEY_FORMAT;
    whelk_key_free(outer);
    if (rc) {
        whelk_key_free(k);
        return rc == WHELK_ERR_NOMEM ? rc : WHELK_ERR_KEY_FORMAT;
    }
    *out = k;
    return 0;
}

int whelk_key_parse_private(const char *text, size_t len, whelk_key **out)
{
    if (!out) return WHELK_ERR_INVAL;
    *out = NULL;
    if (!text || len > MAX_KEY_TEXT) return WHELK_ERR_KEY_FORMAT;
    const char *body;
    size_t body_len;
    int rc = find_body(text, len, &body, &body_len);
    if (rc) return rc;
    size_t cap = body_len / 4 * 3 + 3;
    uint8_t *raw = malloc(cap);
    if (!raw) return WHELK_ERR_NOMEM;
    long n = wk_base64_decode(body, body_len, raw, cap);
    rc = n < 0 ? WHELK_ERR_KEY_FORMAT : parse_container(raw, (size_t)n, out);
    whelk_free_secret(raw, cap);
    if (rc) ERR_clear_error();
    return rc;
}

/* Appends the type-specific private fields, type name included, as the
 * private section wants them. */
static int put_private_fields(wk_buf *b, const whelk_key *k)
{
    if (k->type == WHELK_KEY_ED25519) {
        /* The public blob, then seed || public key. */
        uint8_t sk[2 * ED25519_LEN];
        size_t sl = ED25519_LEN, pl = ED25519_LEN;
        int rc = WHELK_ERR_CRYPTO;
        if (EVP_PKEY_get_raw_private_key(k->pkey, sk, &sl) &&
            sl == ED25519_LEN &&
            EVP_PKEY_get_raw_public_key(k->pkey, sk + ED25519_LEN, &pl) &&
            pl == ED25519_LEN) {
            rc = wk_buf_put(b, k->blob, k->blob_len);
            if (!rc) rc = wk_buf_put_string(b, sk, sizeof(sk));
        }
        OPENSSL_cleanse(sk, sizeof(sk));
        return rc;
    }
    if (k->type == WHELK_KEY_ECDSA_P256) {
        int rc = wk_buf_put(b, k->blob, k->blob_len);
        return rc ? rc : put_bn_param(b, k->pkey, OSSL_PKEY_PARAM_PRIV_KEY);
    }
    static const char *const rsa_fields[] = {
        OSSL_PKEY_PARAM_RSA_N,       OSSL_PKEY_PARAM_RSA_E,
        OSSL_PKEY_PARAM_RSA_D,       OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
        OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2};
    int rc = wk_buf_put_cstring(b, type_name(k->type));
    for (size_t i = 0; !rc && i < sizeof(rsa_fields) / sizeof(*rsa_fields); i++)
        rc = put_bn_param(b, k->pkey, rsa_fields[i]);
    return rc;
}

/* Wraps |bin| in the armour with 70-column base64 lines, into an
 * allocation of exactly the text's length plus its NUL. */
static int armor(const uint8_t *bin, size_t len, char **out, size_t *outlen)
{
    size_t enc_len = b64_padded_len(len);
    size_t lines = (enc_len + PEM_COLUMNS - 1) / PEM_COLUMNS;
    size_t bl = strlen(ARMOR_BEGIN), el = strlen(ARMOR_END);
    size_t total = bl + 1 + enc_len + lines + el + 1;
    char *enc = malloc(enc_len + 1);
    char *text = malloc(total + 1);
    if (!enc || !text ||
        wk_base64_encode(bin, len, enc, enc_len + 1, 1) != enc_len) {
        whelk_free_secret(enc, enc_len + 1);
        free(text);
        return WHELK_ERR_NOMEM;
    }
    size_t o = 0;
    memcpy(text + o, ARMOR_BEGIN "\n", bl + 1);
    o += bl + 1;
    for (size_t i = 0; i < enc_len; i += PEM_COLUMNS) {
        size_t n = enc_len - i < PEM_COLUMNS ? enc_len - i : PEM_COLUMNS;
        memcpy(text + o, enc + i, n);
        o += n;
        text[o++] = '\n';
    }
    memcpy(text + o, ARMOR_END "\n", el + 2); /* with the NUL */
    o += el + 1;
    whelk_free_secret(enc, enc_len + 1);
    *out = text;
    *outlen = o;
    return 0;
}

int whelk_key_write_private(const whelk_key *k, const char *comment, char **out,
                            size_t *outlen)
{
    if (!k || !out || !outlen) return WHELK_ERR_INVAL;
    if (!k->has_private) return WHELK_ERR_INVAL;
    if (!comment) comment = "";
    size_t clen = strlen(comment);
    if (clen > MAX_COMMENT) return WHELK_ERR_INVAL;
    uint32_t check;
    if (RAND_bytes((uint8_t *)&check, sizeof(check)) != 1)
        return WHELK_ERR_CRYPTO;
    /* Each private field is at most the size of the modulus or the blob,
     * so eight blobs' worth bounds the section. */
    wk_buf sec, all;
    size_t sec_cap = 8 * k->blob_len + clen + 64;
    int rc = secret_buf_init(&sec, sec_cap);
    if (rc) return rc;
    rc = secret_buf_init(&all, sizeof(AUTH_MAGIC) + 64 + k->blob_len + sec_cap);
    if (!rc) rc = wk_buf_put_u32(&sec, check);
    if (!rc) rc = wk_buf_put_u32(&sec, check);
    if (!rc) rc = put_private_fields(&sec, k);
    if (!rc) rc = wk_buf_put_string(&sec, comment, clen);
    for (uint8_t i = 1; !rc && wk_buf_used(&sec) % PRIV_BLOCK; i++)
        rc = wk_buf_put_u8(&sec, i);
    if (!rc) rc = wk_buf_put(&all, AUTH_MAGIC, sizeof(AUTH_MAGIC));
    if (!rc) rc = wk_buf_put_cstring(&all, "none");
    if (!rc) rc = wk_buf_put_cstring(&all, "none");
    if (!rc) rc = wk_buf_put_string(&all, "", 0);
    if (!rc) rc = wk_buf_put_u32(&all, 1);
    if (!rc) rc = wk_buf_put_string(&all, k->blob, k->blob_len);
    if (!rc) rc = wk_buf_put_string(&all, wk_buf_data(&sec), wk_buf_used(&sec));
    if (!rc) rc = armor(wk_buf_data(&all), wk_buf_used(&all), out, outlen);
    wk_buf_free_secret(&sec);
    wk_buf_free_secret(&all);
    OPENSSL_cleanse(&check, sizeof(check));
    return rc;
}

int whelk_key_write_public(const whelk_key *k, const char *comment, char **out)
{
    if (!k || !out) return WHELK_ERR_INVAL;
    size_t clen = comment ? strlen(comment) : 0;
    /* A line break would turn one key line into two. */
    if (clen && strpbrk(comment, "\r\n")) return WHELK_ERR_INVAL;
    const char *tn = type_name(k->type);
    size_t tl = strlen(tn), enc_len = b64_padded_len(k->blob_len);
    size_t total = tl + 1 + enc_len + (clen ? 1 + clen : 0) + 1;
    char *s = malloc(total + 1);
    if (!s) return WHELK_ERR_NOMEM;
    size_t o = 0;
    memcpy(s, tn, tl);
    o += tl;
    s[o++] = ' ';
    o += wk_base64_encode(k->blob, k->blob_len, s + o, total + 1 - o, 1);
    if (clen) {
        s[o++] = ' ';
        memcpy(s + o, comment, clen);
        o += clen;
    }
    s[o++] = '\n';
    s[o] = 0;
    *out = s;
    return 0;
}

int whelk_key_fingerprint(const whelk_key *k, char *out, size_t outlen)
{
    uint8_t h[32];
    unsigned int hl = 0;
    /* "SHA256:" and 43 digits for 32 bytes without padding, and a NUL. */
    if (!k || !out || outlen < 7 + 43 + 1) return WHELK_ERR_INVAL;
    if (!EVP_Digest(k->blob, k->blob_len, h, &hl, EVP_sha256(), NULL) ||
        hl != sizeof(h))
        return WHELK_ERR_CRYPTO;
    memcpy(out, "SHA256:", 7);
    wk_base64_encode(h, sizeof(h), out + 7, outlen - 7, 0);
    return 0;
}

/* ------------------------------------------------------------------------
 * Signatures: string algorithm, string signature, where the signature is
 * 64 raw bytes for ed25519 (RFC 8709 section 6), string(mpint r, mpint s)
 * for ECDSA (RFC 5656 section 3.1.2) and the PKCS#1 v1.5 signature for
 * RSA (RFC 8332 section 3).
 */

/* NULL for ed25519, which hashes inside the algorithm. */
static const EVP_MD *sig_digest(const whelk_key *k, const char *alg)
{
    if (k->type == WHELK_KEY_ED25519) return NULL;
    if (k->type == WHELK_KEY_RSA && strcmp(alg, "rsa-sha2-512") == 0)
        return EVP_sha512();
    return EVP_sha256();
}

static EVP_MD_CTX *sig_ctx(const whelk_key *k, const char *alg, int sign)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = ctx != NULL;
    if (ok && sign)
        ok = EVP_DigestSignInit(ctx, &pctx, sig_digest(k, alg), NULL, k->pkey) >
             0;
    else if (ok)
        ok = EVP_DigestVerifyInit(ctx, &pctx, sig_digest(k, alg), NULL,
                                  k->pkey) > 0;
    if (ok && k->type == WHELK_KEY_RSA)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
    if (!ok) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Appends string(mpint r, mpint s) made from OpenSSL's DER signature. */
static int put_ecdsa_rs(wk_buf *out, const uint8_t *der, size_t len)
{
    const uint8_t *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
    if (!es) return WHELK_ERR_CRYPTO;
    const BIGNUM *bn[2] = {ECDSA_SIG_get0_r(es), ECDSA_SIG_get0_s(es)};
    wk_buf b;
    wk_buf_init(&b, 2 * (4 + 1 + P256_SCALAR_LEN));
    int rc = 0;
    for (int i = 0; i < 2 && !rc; i++) {
        uint8_t mag[P256_SCALAR_LEN];
        int n = BN_num_bytes(bn[i]);
        if (n > (int)sizeof(mag) || BN_bn2bin(bn[i], mag) != n)
            rc = WHELK_ERR_CRYPTO;
        else
            rc = wk_buf_put_mpint(&b, mag, (size_t)n);
    }
    ECDSA_SIG_free(es);
    if (!rc) rc = wk_buf_put_string(out, wk_buf_data(&b), wk_buf_used(&b));
    wk_buf_free(&b);
    return rc;
}

int wk_key_sign(const whelk_key *k, const char *alg, const uint8_t *data,
                size_t len, wk_buf *out)
{
    static const uint8_t empty[1];
    if (!k || !out || !k->has_private || !wk_key_sig_alg_ok(k, alg))
        return WHELK_ERR_INVAL;
    if (!data) {
        if (len) return WHELK_ERR_INVAL;
        data = empty;
    }
    int max = EVP_PKEY_get_size(k->pkey);
    if (max <= 0) return WHELK_ERR_CRYPTO;
    size_t sl = (size_t)max;
    uint8_t *sig = malloc(sl);
    EVP_MD_CTX *ctx = sig ? sig_ctx(k, alg, 1) : NULL;
    size_t start = wk_buf_used(out);
    int rc = sig ? WHELK_ERR_CRYPTO : WHELK_ERR_NOMEM;
    if (!ctx || EVP_DigestSign(ctx, sig, &sl, data, len) != 1) goto out;
    /* The outer length is patched in once the contents are known. */
    rc = wk_buf_put_u32(out, 0);
    if (!rc) rc = wk_buf_put_cstring(out, alg);
    if (!rc && k->type == WHELK_KEY_ECDSA_P256)
        rc = put_ecdsa_rs(out, sig, sl);
    else if (!rc)
        rc = wk_buf_put_string(out, sig, sl);
    if (!rc)
        wk_store_u32(wk_buf_data(out) + start,
                     (uint32_t)(wk_buf_used(out) - start - 4));
    else
        wk_buf_truncate(out, start);
out:
    EVP_MD_CTX_free(ctx);
    free(sig);
    if (rc) ERR_clear_error();
    return rc;
}

/* DER for OpenSSL from RFC 5656's (mpint r, mpint s); NULL if malformed.
 * The caller frees the result with OPENSSL_free. */
static uint8_t *ecdsa_der(const uint8_t *sig, size_t len, size_t *der_len)
{
    wk_reader r;
    const uint8_t *rv, *sv;
    size_t rl, sl;
    wk_reader_init(&r, sig, len);
    if (wk_get_mpint(&r, &rv, &rl, P256_SCALAR_LEN) ||
        wk_get_mpint(&r, &sv, &sl, P256_SCALAR_LEN) || wk_reader_end(&r) ||
        rl == 0 || sl == 0)
        return NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(rv, (int)rl, NULL),
           *bs = BN_bin2bn(sv, (int)sl, NULL);
    uint8_t *der = NULL;
    if (!es || !br || !bs || !ECDSA_SIG_set0(es, br, bs)) {
        BN_free(br);
        BN_free(bs);
    } else {
        int n = i2d_ECDSA_SIG(es, &der);
        if (n <= 0) {
            OPENSSL_free(der);
            der = NULL;
        }
        *der_len = n > 0 ? (size_t)n : 0;
    }
    ECDSA_SIG_free(es);
    return der;
}

int wk_key_verify(const whelk_key *k, const char *alg, const uint8_t *data,
                  size_t len, const uint8_t *blob, size_t blob_len)
{
    static const uint8_t empty[1];
    wk_reader r;
    const uint8_t *name, *sig;
    size_t nl, sl;
    if (!k || !blob || !wk_key_sig_alg_ok(k, alg) || (!data && len))
        return WHELK_ERR_SIGNATURE;
    if (!data) data = empty;
    wk_reader_init(&r, blob, blob_len);
    if (wk_get_string(&r, &name, &nl, MAX_NAME) ||
        wk_get_string(&r, &sig, &sl, MAX_SIG) || wk_reader_end(&r) ||
        !name_is(name, nl, alg))
        return WHELK_ERR_SIGNATURE;
    uint8_t *tmp = NULL; /* a converted signature, if any */
    const uint8_t *vsig = sig;
    size_t vlen = sl;
    if (k->type == WHELK_KEY_ED25519) {
        if (sl != 64) return WHELK_ERR_SIGNATURE;
    } else if (k->type == WHELK_KEY_ECDSA_P256) {
        tmp = ecdsa_der(sig, sl, &vlen);
        if (!tmp) return WHELK_ERR_SIGNATURE;
        vsig = tmp;
    } else {
        /* Some signers drop leading zero bytes (OpenSSH accepts that);
         * OpenSSL wants exactly the modulus length. */
        size_t mod = (size_t)EVP_PKEY_get_size(k->pkey);
        if (sl == 0 || sl > mod) return WHELK_ERR_SIGNATURE;
        if (sl < mod) {
            tmp = OPENSSL_zalloc(mod);
            if (!tmp) return WHELK_ERR_NOMEM;
            memcpy(tmp + mod - sl, sig, sl);
            vsig = tmp;
            vlen = mod;
        }
    }
    EVP_MD_CTX *ctx = sig_ctx(k, alg, 0);
    int ok = ctx && EVP_DigestVerify(ctx, vsig, vlen, data, len) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(tmp);
    if (!ok) ERR_clear_error();
    return ok ? 0 : WHELK_ERR_SIGNATURE;
}
