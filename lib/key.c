/*
 * key: host and user keys. ssh-ed25519 (RFC 8709), ecdsa-sha2-nistp256
 * (RFC 5656 section 3) and ssh-rsa keys with rsa-sha2-256/512 signatures
 * (RFC 8332; SHA-1 "ssh-rsa" signatures are neither made nor accepted).
 * This module holds the table of key types, builds keys from their
 * fields, and reads and writes public key blobs (RFC 4253 section 6.6),
 * public key lines and SHA256 fingerprints as ssh-keygen -l prints them.
 * The private key file format is privkey.c's, signatures keysig.c's.
 *
 * Blobs come from peers and key files may have been written by anyone, so
 * everything is parsed with the bounded readers of buf.h, and a public blob
 * is accepted only when re-encoding the key gives back the same bytes. All
 * cryptography is OpenSSL 3 EVP.
 */
#include "key.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#define RSA_MIN_BITS    1024
#define RSA_MAX_BITS    16384 /* also OpenSSL's own limit */
#define RSA_MAX_E_LEN   32    /* SP 800-56B caps e below 2^256 */

static int read_ed25519(wk_reader *r, int priv, whelk_key **out);
static int read_ecdsa(wk_reader *r, int priv, whelk_key **out);
static int read_rsa(wk_reader *r, int priv, whelk_key **out);
static int put_ed25519_public(wk_buf *b, const EVP_PKEY *pkey);
static int put_ecdsa_public(wk_buf *b, const EVP_PKEY *pkey);
static int put_rsa_public(wk_buf *b, const EVP_PKEY *pkey);

/* Signature algorithms per kind, best first; each list is named once
 * so that the list of all of them is made from the same strings. */
#define ED25519_SIGS "ssh-ed25519"
#define ECDSA_SIGS "ecdsa-sha2-nistp256"
#define RSA_SIGS "rsa-sha2-512,rsa-sha2-256"

static const wk_key_kind kinds[] = {
    {WHELK_KEY_ED25519, "ssh-ed25519", "ED25519", ED25519_SIGS,
     read_ed25519, put_ed25519_public, wk_privkey_put_ed25519},
    {WHELK_KEY_ECDSA_P256, "ecdsa-sha2-nistp256", "ECDSA", ECDSA_SIGS,
     read_ecdsa, put_ecdsa_public, wk_privkey_put_ecdsa},
    {WHELK_KEY_RSA, "ssh-rsa", "RSA", RSA_SIGS, read_rsa, put_rsa_public,
     wk_privkey_put_rsa},
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

static const wk_key_kind *kind_of(whelk_key_type t)
{
    for (size_t i = 0; i < N_KINDS; i++)
        if (kinds[i].type == t) return &kinds[i];
    return NULL;
}

const wk_key_kind *wk_key_kind_find(const uint8_t *name, size_t len)
{
    for (size_t i = 0; i < N_KINDS; i++)
        if (len == strlen(kinds[i].name) &&
            memcmp(name, kinds[i].name, len) == 0)
            return &kinds[i];
    return NULL;
}

const char *wk_key_all_sig_algs(void)
{
    return ED25519_SIGS "," ECDSA_SIGS "," RSA_SIGS;
}

/* ------------------------------------------------------------------------
 * Basic accessors.
 */

void whelk_key_free(whelk_key *k)
{
    if (!k) return;
    EVP_PKEY_free(k->pkey); /* OpenSSL wipes the private parts */
    free(k->blob);
    free(k);
}

whelk_key_type whelk_key_type_of(const whelk_key *k)
{
    return k ? k->kind->type : (whelk_key_type)0;
}

int whelk_key_has_private(const whelk_key *k)
{
    return k ? k->has_private : 0;
}

const char *whelk_key_type_name(const whelk_key *k)
{
    return k ? k->kind->name : "unknown";
}

const char *whelk_key_short_name(const whelk_key *k)
{
    return k ? k->kind->short_name : "UNKNOWN";
}

int whelk_key_bits(const whelk_key *k)
{
    if (!k) return 0;
    return EVP_PKEY_get_bits(k->pkey);
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
    return k ? k->kind->sig_algs : "";
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

int wk_key_put_bn_param(wk_buf *b, const EVP_PKEY *pkey, const char *name)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(pkey, name, &bn)) return WHELK_ERR_CRYPTO;
    int rc = put_bn(b, bn);
    BN_clear_free(bn);
    return rc;
}

static int put_ed25519_public(wk_buf *b, const EVP_PKEY *pkey)
{
    uint8_t pub[WK_ED25519_LEN];
    size_t n = sizeof(pub);
    if (!EVP_PKEY_get_raw_public_key(pkey, pub, &n) || n != sizeof(pub))
        return WHELK_ERR_CRYPTO;
    return wk_buf_put_string(b, pub, n);
}

static int put_ecdsa_public(wk_buf *b, const EVP_PKEY *pkey)
{
    uint8_t q[WK_P256_POINT_LEN];
    size_t n = 0;
    if (!EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, q,
                                         sizeof(q), &n) ||
        n != sizeof(q) || q[0] != 4)
        return WHELK_ERR_CRYPTO;
    int rc = wk_buf_put_cstring(b, "nistp256");
    return rc ? rc : wk_buf_put_string(b, q, n);
}

static int put_rsa_public(wk_buf *b, const EVP_PKEY *pkey)
{
    int rc = wk_key_put_bn_param(b, pkey, OSSL_PKEY_PARAM_RSA_E);
    return rc ? rc : wk_key_put_bn_param(b, pkey, OSSL_PKEY_PARAM_RSA_N);
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
    k->kind = kind_of(type);
    k->pkey = pkey;
    k->has_private = priv;
    wk_buf b;
    wk_buf_init(&b, WK_KEY_MAX_BLOB);
    int rc = wk_buf_put_cstring(&b, k->kind->name);
    if (!rc) rc = k->kind->put_public(&b, pkey);
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
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, WK_ED25519_LEN);
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
                                          WK_P256_POINT_LEN) ||
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
    if (wk_get_string(r, &pub, &pl, WK_ED25519_LEN) || pl != WK_ED25519_LEN)
        return WHELK_ERR_KEY_FORMAT;
    if (!priv) {
        EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
                                                     pub, WK_ED25519_LEN);
        if (!pkey) return WHELK_ERR_KEY_FORMAT;
        return new_key(WHELK_KEY_ED25519, pkey, 0, out);
    }
    /* The private string is the 32-byte seed followed by the public key
     * again; the key we derive from the seed must agree with both. */
    if (wk_get_string(r, &sk, &sl, 2 * WK_ED25519_LEN) || sl != 2 * WK_ED25519_LEN ||
        memcmp(sk + WK_ED25519_LEN, pub, WK_ED25519_LEN) != 0)
        return WHELK_ERR_KEY_FORMAT;
    whelk_key *k = NULL;
    int rc = wk_key_from_ed25519_seed(sk, &k);
    if (rc) return WHELK_ERR_KEY_FORMAT;
    if (memcmp(k->blob + k->blob_len - WK_ED25519_LEN, pub, WK_ED25519_LEN) != 0) {
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
    if (wk_get_string(r, &curve, &cl, WK_KEY_MAX_NAME) ||
        cl != 8 || memcmp(curve, "nistp256", 8) != 0 ||
        wk_get_string(r, &q, &ql, WK_P256_POINT_LEN) || ql != WK_P256_POINT_LEN ||
        q[0] != 4)
        return WHELK_ERR_KEY_FORMAT;
    if (priv && (wk_get_mpint(r, &d, &dl, WK_P256_SCALAR_LEN) || dl == 0))
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

int wk_key_read_fields(wk_reader *r, const wk_key_kind *kind, int priv,
                       whelk_key **out)
{
    int rc = kind->read_fields(r, priv, out);
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
    if (!blob || len > WK_KEY_MAX_BLOB) return WHELK_ERR_KEY_FORMAT;
    wk_reader r;
    const uint8_t *name;
    size_t nl;
    whelk_key *k = NULL;
    wk_reader_init(&r, blob, len);
    if (wk_get_string(&r, &name, &nl, WK_KEY_MAX_NAME))
        return WHELK_ERR_KEY_FORMAT;
    const wk_key_kind *kind = wk_key_kind_find(name, nl);
    int rc = kind ? wk_key_read_fields(&r, kind, 0, &k)
                  : WHELK_ERR_UNSUPPORTED;
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
    if (type_len == 0 || type_len > WK_KEY_MAX_NAME || b64_len == 0 ||
        b64_len > wk_base64_padded_len(WK_KEY_MAX_BLOB))
        return WHELK_ERR_KEY_FORMAT;
    const wk_key_kind *want =
        wk_key_kind_find((const uint8_t *)line + type_at, type_len);
    if (!want) return WHELK_ERR_UNSUPPORTED;
    size_t cap = b64_len / 4 * 3 + 3;
    uint8_t *blob = malloc(cap);
    if (!blob) return WHELK_ERR_NOMEM;
    long n = wk_base64_decode(line + b64_at, b64_len, blob, cap);
    whelk_key *k = NULL;
    int rc = n > 0 ? whelk_key_parse_public_blob(blob, (size_t)n, &k)
                   : WHELK_ERR_KEY_FORMAT;
    free(blob);
    if (rc == WHELK_ERR_UNSUPPORTED) rc = WHELK_ERR_KEY_FORMAT;
    if (!rc && k->kind != want) rc = WHELK_ERR_KEY_FORMAT;
    if (rc) {
        whelk_key_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

int whelk_key_write_public(const whelk_key *k, const char *comment, char **out)
{
    if (!k || !out) return WHELK_ERR_INVAL;
    size_t clen = comment ? strlen(comment) : 0;
    /* A line break would turn one key line into two. */
    if (clen && strpbrk(comment, "\r\n")) return WHELK_ERR_INVAL;
    const char *tn = k->kind->name;
    size_t tl = strlen(tn), enc_len = wk_base64_padded_len(k->blob_len);
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

