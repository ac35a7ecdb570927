/*
 * keysig: signature blobs, made and verified: string algorithm, string
 * signature, where the signature is 64 raw bytes for ed25519 (RFC 8709
 * section 6), string(mpint r, mpint s) for ECDSA (RFC 5656 section
 * 3.1.2, converted to and from OpenSSL's DER here) and the PKCS#1 v1.5
 * signature for RSA (RFC 8332 section 3). Signature blobs come from
 * peers: every field is read with the bounded readers of buf.h.
 */
#include "key.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#define MAX_SIG 4096 /* signature inside a signature blob */

/* NULL for ed25519, which hashes inside the algorithm. */
static const EVP_MD *sig_digest(const whelk_key *k, const char *alg)
{
    if (k->kind->type == WHELK_KEY_ED25519) return NULL;
    if (k->kind->type == WHELK_KEY_RSA && strcmp(alg, "rsa-sha2-512") == 0)
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
    if (ok && k->kind->type == WHELK_KEY_RSA)
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
    wk_buf_init(&b, 2 * (4 + 1 + WK_P256_SCALAR_LEN));
    int rc = 0;
    for (int i = 0; i < 2 && !rc; i++) {
        uint8_t mag[WK_P256_SCALAR_LEN];
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
    if (!rc && k->kind->type == WHELK_KEY_ECDSA_P256)
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
    if (wk_get_mpint(&r, &rv, &rl, WK_P256_SCALAR_LEN) ||
        wk_get_mpint(&r, &sv, &sl, WK_P256_SCALAR_LEN) || wk_reader_end(&r) ||
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
    if (wk_get_string(&r, &name, &nl, WK_KEY_MAX_NAME) ||
        wk_get_string(&r, &sig, &sl, MAX_SIG) || wk_reader_end(&r) ||
        nl != strlen(alg) || memcmp(name, alg, nl) != 0)
        return WHELK_ERR_SIGNATURE;
    uint8_t *tmp = NULL; /* a converted signature, if any */
    const uint8_t *vsig = sig;
    size_t vlen = sl;
    if (k->kind->type == WHELK_KEY_ED25519) {
        if (sl != 64) return WHELK_ERR_SIGNATURE;
    } else if (k->kind->type == WHELK_KEY_ECDSA_P256) {
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

