/*
 * key: ssh-ed25519 (RFC 8709), ecdsa-sha2-nistp256 (RFC 5656) and RSA
 * with rsa-sha2-256/512 signatures (RFC 8332): public key blobs,
 * signatures, SHA256 fingerprints, and OpenSSH's private key format
 * (PROTOCOL.key), read for every type and written for ed25519.
 *
 * All cryptography is OpenSSL 3 EVP; key material parsed from files is
 * wiped from every intermediate buffer.
 */
#include "key.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

struct whelk_key {
    whelk_key_type type;
    EVP_PKEY *pkey;
    int has_private;
    uint8_t *blob;
    size_t blob_len;
};

#define MAX_KEY_FILE (64 * 1024)
#define MAX_BLOB 8192

void whelk_free_secret(void *p, size_t len)
{
    if (!p) return;
    OPENSSL_cleanse(p, len);
    free(p);
}

void whelk_key_free(whelk_key *k)
{
    if (!k) return;
    EVP_PKEY_free(k->pkey);
    free(k->blob);
    free(k);
}

whelk_key_type whelk_key_type_of(const whelk_key *k) { return k->type; }
int whelk_key_has_private(const whelk_key *k) { return k->has_private; }

const char *whelk_key_type_name(const whelk_key *k)
{
    switch (k->type) {
    case WHELK_KEY_ED25519: return "ssh-ed25519";
    case WHELK_KEY_ECDSA_P256: return "ecdsa-sha2-nistp256";
    case WHELK_KEY_RSA: return "ssh-rsa";
    }
    return "unknown";
}

const char *whelk_key_short_name(const whelk_key *k)
{
    switch (k->type) {
    case WHELK_KEY_ED25519: return "ED25519";
    case WHELK_KEY_ECDSA_P256: return "ECDSA";
    case WHELK_KEY_RSA: return "RSA";
    }
    return "UNKNOWN";
}

int whelk_key_bits(const whelk_key *k)
{
    return k->type == WHELK_KEY_RSA ? EVP_PKEY_get_bits(k->pkey) : 256;
}

const uint8_t *whelk_key_blob(const whelk_key *k, size_t *len)
{
    *len = k->blob_len;
    return k->blob;
}

int whelk_key_equal_public(const whelk_key *a, const whelk_key *b)
{
    return a && b && a->blob_len == b->blob_len &&
           memcmp(a->blob, b->blob, a->blob_len) == 0;
}

const char *wk_key_sig_algs(const whelk_key *k)
{
    switch (k->type) {
    case WHELK_KEY_ED25519: return "ssh-ed25519";
    case WHELK_KEY_ECDSA_P256: return "ecdsa-sha2-nistp256";
    case WHELK_KEY_RSA: return "rsa-sha2-512,rsa-sha2-256";
    }
    return "";
}

int wk_key_sig_alg_ok(const whelk_key *k, const char *alg)
{
    const char *list = wk_key_sig_algs(k);
    return wk_namelist_has((const uint8_t *)list, strlen(list), alg);
}

/* ------------------------------------------------------------------------
 * Base64 (RFC 4648).
 */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t wk_base64_encode(const uint8_t *in, size_t len, char *out,
                        size_t outlen, int pad)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t n = len - i;
        if (n > 1) v |= (uint32_t)in[i + 1] << 8;
        if (n > 2) v |= in[i + 2];
        char q[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63],
                     n > 1 ? b64[(v >> 6) & 63] : '=',
                     n > 2 ? b64[v & 63] : '='};
        for (int j = 0; j < 4; j++) {
            if (q[j] == '=' && !pad) break;
            if (o + 1 >= outlen) return 0;
            out[o++] = q[j];
        }
    }
    if (o >= outlen) return 0;
    out[o] = 0;
    return o;
}

long wk_base64_decode(const char *in, size_t len, uint8_t *out,
                      size_t outlen)
{
    uint32_t acc = 0;
    int bits = 0, pads = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = in[i];
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') continue;
        if (ch == '=') {
            pads++;
            continue;
        }
        if (pads) return -1; /* data after padding */
        const char *pos = ch ? strchr(b64, ch) : NULL;
        if (!pos) return -1;
        acc = (acc << 6) | (uint32_t)(pos - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outlen) return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (pads > 2) return -1;
    return (long)o;
}

/* ------------------------------------------------------------------------
 * Blobs.
 */

static int make_blob(whelk_key *k)
{
    wk_buf b;
    wk_buf_init(&b, MAX_BLOB);
    int rc = wk_buf_put_cstring(&b, whelk_key_type_name(k));
    if (rc) goto out;
    if (k->type == WHELK_KEY_ED25519) {
        uint8_t pub[32];
        size_t n = 32;
        if (!EVP_PKEY_get_raw_public_key(k->pkey, pub, &n) || n != 32) {
            rc = WHELK_ERR_CRYPTO;
            goto out;
        }
        rc = wk_buf_put_string(&b, pub, 32);
    } else if (k->type == WHELK_KEY_ECDSA_P256) {
        uint8_t q[65];
        size_t n = 0;
        if (!EVP_PKEY_get_octet_string_param(
                k->pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, q, sizeof(q),
                &n) ||
            n != 65) {
            rc = WHELK_ERR_CRYPTO;
            goto out;
        }
        rc = wk_buf_put_cstring(&b, "nistp256");
        if (!rc) rc = wk_buf_put_string(&b, q, n);
    } else {
        BIGNUM *e = NULL, *nn = NULL;
        uint8_t buf[2048];
        rc = WHELK_ERR_CRYPTO;
        if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, &e) &&
            EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &nn) &&
            BN_num_bytes(e) <= (int)sizeof(buf) &&
            BN_num_bytes(nn) <= (int)sizeof(buf)) {
            int l = BN_bn2bin(e, buf);
            rc = wk_buf_put_mpint(&b, buf, (size_t)l);
            l = BN_bn2bin(nn, buf);
            if (!rc) rc = wk_buf_put_mpint(&b, buf, (size_t)l);
        }
        BN_free(e);
        BN_free(nn);
    }
    if (rc) goto out;
    k->blob = malloc(wk_buf_used(&b));
    if (!k->blob) {
        rc = WHELK_ERR_NOMEM;
        goto out;
    }
    memcpy(k->blob, wk_buf_data(&b), wk_buf_used(&b));
    k->blob_len = wk_buf_used(&b);
out:
    wk_buf_free(&b);
    return rc;
}

static EVP_PKEY *ec_from(const uint8_t *q, size_t qlen, const uint8_t *d,
                         size_t dlen)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *priv = d ? BN_secure_new() : NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = NULL;
    if (!bld || !ctx || (d && (!priv || !BN_bin2bn(d, (int)dlen, priv))))
        goto out;
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                         "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, q,
                                          qlen) ||
        (priv && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)))
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    if (!params || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                          params) <= 0)
        pkey = NULL;
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(priv);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

/* RSA from its parts; the CRT exponents are derived when |d| is given. */
static EVP_PKEY *rsa_from(const uint8_t *n, size_t nl, const uint8_t *e,
                          size_t el, const uint8_t *d, size_t dl,
                          const uint8_t *iqmp, size_t il, const uint8_t *p,
                          size_t pl, const uint8_t *q, size_t ql)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    BN_CTX *bctx = BN_CTX_new();
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    BIGNUM *bd = NULL, *bp = NULL, *bq = NULL, *bi = NULL, *dp = NULL,
           *dq = NULL, *t = NULL;
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = NULL;
    if (!bld || !ctx || !bctx || !bn || !be) goto out;
    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        goto out;
    if (d) {
        bd = BN_secure_new();
        bp = BN_secure_new();
        bq = BN_secure_new();
        bi = BN_secure_new();
        dp = BN_secure_new();
        dq = BN_secure_new();
        t = BN_secure_new();
        if (!bd || !bp || !bq || !bi || !dp || !dq || !t ||
            !BN_bin2bn(d, (int)dl, bd) || !BN_bin2bn(p, (int)pl, bp) ||
            !BN_bin2bn(q, (int)ql, bq) || !BN_bin2bn(iqmp, (int)il, bi) ||
            !BN_sub(t, bp, BN_value_one()) || !BN_mod(dp, bd, t, bctx) ||
            !BN_sub(t, bq, BN_value_one()) || !BN_mod(dq, bd, t, bctx))
            goto out;
        if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, bd) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, bp) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, bq) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, bi))
            goto out;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (!params || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                          params) <= 0)
        pkey = NULL;
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_CTX_free(bctx);
    BN_free(bn);
    BN_free(be);
    BN_clear_free(bd);
    BN_clear_free(bp);
    BN_clear_free(bq);
    BN_clear_free(bi);
    BN_clear_free(dp);
    BN_clear_free(dq);
    BN_clear_free(t);
    return pkey;
}

static whelk_key *key_wrap(whelk_key_type type, EVP_PKEY *pkey, int priv)
{
    if (!pkey) return NULL;
    whelk_key *k = calloc(1, sizeof(*k));
    if (!k) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    k->type = type;
    k->pkey = pkey;
    k->has_private = priv;
    if (make_blob(k) != 0) {
        whelk_key_free(k);
        return NULL;
    }
    return k;
}

/* Reads the public part that follows the type name in a blob or in the
 * private section; |priv| says whether private fields follow. */
static int read_key_fields(wk_reader *r, const uint8_t *type, size_t tl,
                           int priv, whelk_key **out)
{
#define TYPE_IS(s) (tl == strlen(s) && memcmp(type, s, tl) == 0)
    whelk_key *k = NULL;
    if (TYPE_IS("ssh-ed25519")) {
        const uint8_t *pub, *sk;
        size_t pl, sl;
        if (wk_get_string(r, &pub, &pl, 64) || pl != 32)
            return WHELK_ERR_KEY_FORMAT;
        if (priv) {
            /* 64 bytes: the seed, then the public key again. */
            if (wk_get_string(r, &sk, &sl, 64) || sl != 64 ||
                memcmp(sk + 32, pub, 32) != 0)
                return WHELK_ERR_KEY_FORMAT;
            k = key_wrap(WHELK_KEY_ED25519,
                         EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
                                                      sk, 32),
                         1);
        } else {
            k = key_wrap(WHELK_KEY_ED25519,
                         EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
                                                     pub, 32),
                         0);
        }
    } else if (TYPE_IS("ecdsa-sha2-nistp256")) {
        const uint8_t *curve, *q, *d = NULL;
        size_t cl, ql, dl = 0;
        if (wk_get_string(r, &curve, &cl, 32) || cl != 8 ||
            memcmp(curve, "nistp256", 8) != 0 ||
            wk_get_string(r, &q, &ql, 133) || ql != 65 || q[0] != 4)
            return WHELK_ERR_KEY_FORMAT;
        if (priv && (wk_get_mpint(r, &d, &dl, 32) || dl == 0))
            return WHELK_ERR_KEY_FORMAT;
        k = key_wrap(WHELK_KEY_ECDSA_P256, ec_from(q, ql, d, dl), priv);
    } else if (TYPE_IS("ssh-rsa")) {
        const uint8_t *n, *e, *d = NULL, *iq = NULL, *p = NULL, *q = NULL;
        size_t nl, el, dl = 0, il = 0, pl = 0, ql = 0;
        if (priv) {
            if (wk_get_mpint(r, &n, &nl, 2048) ||
                wk_get_mpint(r, &e, &el, 64) || wk_get_mpint(r, &d, &dl, 2048) ||
                wk_get_mpint(r, &iq, &il, 1024) ||
                wk_get_mpint(r, &p, &pl, 1024) || wk_get_mpint(r, &q, &ql, 1024))
                return WHELK_ERR_KEY_FORMAT;
        } else if (wk_get_mpint(r, &e, &el, 64) ||
                   wk_get_mpint(r, &n, &nl, 2048)) {
            return WHELK_ERR_KEY_FORMAT;
        }
        /* Moduli below 1024 bits are refused outright. */
        if (nl < 128 || el == 0) return WHELK_ERR_KEY_FORMAT;
        k = key_wrap(WHELK_KEY_RSA,
                     rsa_from(n, nl, e, el, d, dl, iq, il, p, pl, q, ql),
                     priv);
    } else {
        return WHELK_ERR_UNSUPPORTED;
    }
#undef TYPE_IS
    if (!k) return WHELK_ERR_KEY_FORMAT;
    *out = k;
    return 0;
}

int whelk_key_parse_public_blob(const uint8_t *blob, size_t len,
                                whelk_key **out)
{
    wk_reader r;
    const uint8_t *type;
    size_t tl;
    whelk_key *k = NULL;
    if (len > MAX_BLOB) return WHELK_ERR_KEY_FORMAT;
    wk_reader_init(&r, blob, len);
    if (wk_get_string(&r, &type, &tl, 64)) return WHELK_ERR_KEY_FORMAT;
    int rc = read_key_fields(&r, type, tl, 0, &k);
    if (rc) return rc;
    /* The blob must be exactly what we would write ourselves. */
    if (wk_reader_end(&r) || k->blob_len != len ||
        memcmp(k->blob, blob, len) != 0) {
        whelk_key_free(k);
        return WHELK_ERR_KEY_FORMAT;
    }
    *out = k;
    return 0;
}

int whelk_key_parse_public_line(const char *line, size_t len,
                                whelk_key **out)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    size_t ts = i;
    while (i < len && line[i] != ' ' && line[i] != '\t') i++;
    size_t te = i;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    size_t bs = i;
    while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\n' &&
           line[i] != '\r')
        i++;
    if (te == ts || i == bs || i - bs > MAX_BLOB * 2) return WHELK_ERR_KEY_FORMAT;
    uint8_t *blob = malloc(MAX_BLOB);
    if (!blob) return WHELK_ERR_NOMEM;
    long n = wk_base64_decode(line + bs, i - bs, blob, MAX_BLOB);
    int rc = WHELK_ERR_KEY_FORMAT;
    whelk_key *k = NULL;
    if (n > 0 && whelk_key_parse_public_blob(blob, (size_t)n, &k) == 0) {
        const char *tn = whelk_key_type_name(k);
        if (strlen(tn) == te - ts && memcmp(tn, line + ts, te - ts) == 0) {
            *out = k;
            k = NULL;
            rc = 0;
        }
    }
    whelk_key_free(k);
    free(blob);
    return rc;
}

/* ------------------------------------------------------------------------
 * OpenSSH private key files (PROTOCOL.key).
 */

#define ARMOR_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define ARMOR_END "-----END OPENSSH PRIVATE KEY-----"
#define MAGIC "openssh-key-v1"

int whelk_key_parse_private(const char *text, size_t len, whelk_key **out)
{
    if (len > MAX_KEY_FILE) return WHELK_ERR_KEY_FORMAT;
    const char *b = memmem(text, len, ARMOR_BEGIN, strlen(ARMOR_BEGIN));
    if (!b) return WHELK_ERR_KEY_FORMAT;
    b += strlen(ARMOR_BEGIN);
    const char *e = memmem(b, len - (size_t)(b - text), ARMOR_END,
                           strlen(ARMOR_END));
    if (!e) return WHELK_ERR_KEY_FORMAT;
    size_t cap = (size_t)(e - b);
    uint8_t *raw = malloc(cap ? cap : 1);
    if (!raw) return WHELK_ERR_NOMEM;
    long n = wk_base64_decode(b, (size_t)(e - b), raw, cap);
    int rc = WHELK_ERR_KEY_FORMAT;
    whelk_key *k = NULL, *outer = NULL;
    wk_reader r, priv;
    const uint8_t *magic, *cipher, *kdf, *kdfopt, *pub, *sec, *type,
        *comment;
    size_t cl, kl, kol, publ, secl, tl, coml;
    uint32_t nkeys, check1, check2;
    if (n < (long)sizeof(MAGIC)) goto out;
    wk_reader_init(&r, raw, (size_t)n);
    if (wk_get_bytes(&r, &magic, sizeof(MAGIC)) ||
        memcmp(magic, MAGIC, sizeof(MAGIC)) != 0)
        goto out;
    if (wk_get_string(&r, &cipher, &cl, 64) ||
        wk_get_string(&r, &kdf, &kl, 64) ||
        wk_get_string(&r, &kdfopt, &kol, 1024) || wk_get_u32(&r, &nkeys))
        goto out;
    if (cl != 4 || memcmp(cipher, "none", 4) != 0) {
        rc = WHELK_ERR_KEY_ENCRYPTED;
        goto out;
    }
    if (nkeys != 1 || wk_get_string(&r, &pub, &publ, MAX_BLOB) ||
        wk_get_string(&r, &sec, &secl, MAX_KEY_FILE) || wk_reader_end(&r))
        goto out;
    if (whelk_key_parse_public_blob(pub, publ, &outer) != 0) goto out;
    wk_reader_init(&priv, sec, secl);
    if (wk_get_u32(&priv, &check1) || wk_get_u32(&priv, &check2) ||
        check1 != check2 || wk_get_string(&priv, &type, &tl, 64))
        goto out;
    if (read_key_fields(&priv, type, tl, 1, &k) != 0) goto out;
    if (wk_get_string(&priv, &comment, &coml, 4096)) goto out;
    /* Padding 1, 2, 3, ... up to the block size (8 without a cipher). */
    size_t padn = wk_reader_left(&priv);
    if (padn >= 8 || (secl % 8) != 0) goto out;
    for (size_t i = 0; i < padn; i++)
        if (sec[secl - padn + i] != (uint8_t)(i + 1)) goto out;
    if (!whelk_key_equal_public(k, outer)) goto out;
    *out = k;
    k = NULL;
    rc = 0;
out:
    whelk_key_free(k);
    whelk_key_free(outer);
    OPENSSL_cleanse(raw, cap ? cap : 1);
    free(raw);
    return rc;
}

int whelk_key_generate_ed25519(whelk_key **out)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    whelk_key *k = key_wrap(WHELK_KEY_ED25519, pkey, 1);
    if (!k) return WHELK_ERR_CRYPTO;
    *out = k;
    return 0;
}

int whelk_key_write_private(const whelk_key *k, const char *comment,
                            char **out, size_t *outlen)
{
    if (k->type != WHELK_KEY_ED25519 || !k->has_private)
        return WHELK_ERR_UNSUPPORTED;
    uint8_t seed[64];
    size_t sl = 32, pl = 32;
    wk_buf sec, all;
    wk_buf_init(&sec, 8192);
    wk_buf_init(&all, 16384);
    uint32_t check;
    char *text = NULL;
    int rc = WHELK_ERR_CRYPTO;
    if (!EVP_PKEY_get_raw_private_key(k->pkey, seed, &sl) ||
        !EVP_PKEY_get_raw_public_key(k->pkey, seed + 32, &pl) ||
        RAND_bytes((uint8_t *)&check, 4) != 1)
        goto out;
    rc = wk_buf_put_u32(&sec, check);
    if (!rc) rc = wk_buf_put_u32(&sec, check);
    if (!rc) rc = wk_buf_put_cstring(&sec, "ssh-ed25519");
    if (!rc) rc = wk_buf_put_string(&sec, seed + 32, 32);
    if (!rc) rc = wk_buf_put_string(&sec, seed, 64);
    if (!rc) rc = wk_buf_put_cstring(&sec, comment ? comment : "");
    for (uint8_t i = 1; !rc && wk_buf_used(&sec) % 8; i++)
        rc = wk_buf_put_u8(&sec, i);
    if (!rc) rc = wk_buf_put(&all, MAGIC, sizeof(MAGIC));
    if (!rc) rc = wk_buf_put_cstring(&all, "none");
    if (!rc) rc = wk_buf_put_cstring(&all, "none");
    if (!rc) rc = wk_buf_put_cstring(&all, "");
    if (!rc) rc = wk_buf_put_u32(&all, 1);
    if (!rc) rc = wk_buf_put_string(&all, k->blob, k->blob_len);
    if (!rc) rc = wk_buf_put_string(&all, wk_buf_data(&sec), wk_buf_used(&sec));
    if (rc) goto out;
    size_t b64len = (wk_buf_used(&all) + 2) / 3 * 4 + 1;
    char *enc = malloc(b64len);
    size_t cap = b64len + b64len / 70 + 128;
    text = malloc(cap);
    if (!enc || !text) {
        free(enc);
        rc = WHELK_ERR_NOMEM;
        goto out;
    }
    size_t el = wk_base64_encode(wk_buf_data(&all), wk_buf_used(&all), enc,
                                 b64len, 1);
    size_t o = (size_t)snprintf(text, cap, "%s\n", ARMOR_BEGIN);
    for (size_t i = 0; i < el; i += 70) {
        size_t chunk = el - i < 70 ? el - i : 70;
        memcpy(text + o, enc + i, chunk);
        o += chunk;
        text[o++] = '\n';
    }
    o += (size_t)snprintf(text + o, cap - o, "%s\n", ARMOR_END);
    whelk_free_secret(enc, b64len);
    *out = text;
    *outlen = o;
    text = NULL;
    rc = 0;
out:
    OPENSSL_cleanse(seed, sizeof(seed));
    wk_buf_free_secret(&sec);
    wk_buf_free_secret(&all);
    free(text);
    return rc;
}

int whelk_key_write_public(const whelk_key *k, const char *comment,
                           char **out)
{
    size_t cap = k->blob_len * 2 + 256 + (comment ? strlen(comment) : 0);
    char *s = malloc(cap);
    if (!s) return WHELK_ERR_NOMEM;
    size_t o = (size_t)snprintf(s, cap, "%s ", whelk_key_type_name(k));
    o += wk_base64_encode(k->blob, k->blob_len, s + o, cap - o, 1);
    snprintf(s + o, cap - o, "%s%s\n", comment && *comment ? " " : "",
             comment ? comment : "");
    *out = s;
    return 0;
}

int whelk_key_fingerprint(const whelk_key *k, char *out, size_t outlen)
{
    uint8_t h[32];
    unsigned int n = 0;
    if (outlen < 52) return WHELK_ERR_INVAL;
    if (!EVP_Digest(k->blob, k->blob_len, h, &n, EVP_sha256(), NULL))
        return WHELK_ERR_CRYPTO;
    memcpy(out, "SHA256:", 7);
    wk_base64_encode(h, 32, out + 7, outlen - 7, 0);
    return 0;
}

/* ------------------------------------------------------------------------
 * Signatures.
 */

static const EVP_MD *sig_md(const whelk_key *k, const char *alg)
{
    if (k->type == WHELK_KEY_ED25519) return NULL;
    if (k->type == WHELK_KEY_ECDSA_P256) return EVP_sha256();
    return strcmp(alg, "rsa-sha2-512") == 0 ? EVP_sha512() : EVP_sha256();
}

int wk_key_sign(const whelk_key *k, const char *alg, const uint8_t *data,
                size_t len, wk_buf *out)
{
    if (!k->has_private || !wk_key_sig_alg_ok(k, alg)) return WHELK_ERR_INVAL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t sig[1024];
    size_t sl = sizeof(sig);
    int rc = WHELK_ERR_CRYPTO;
    EVP_PKEY_CTX *pctx = NULL;
    if (!ctx ||
        EVP_DigestSignInit(ctx, &pctx, sig_md(k, alg), NULL, k->pkey) <= 0)
        goto out;
    if (k->type == WHELK_KEY_RSA &&
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
        goto out;
    if (EVP_DigestSign(ctx, sig, &sl, data, len) <= 0) goto out;
    wk_buf inner;
    wk_buf_init(&inner, 4096);
    rc = wk_buf_put_cstring(&inner, alg);
    if (!rc && k->type == WHELK_KEY_ECDSA_P256) {
        /* DER from OpenSSL to RFC 5656's string(mpint r, mpint s). */
        const uint8_t *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
        wk_buf rs;
        wk_buf_init(&rs, 256);
        uint8_t num[66];
        if (!es) {
            rc = WHELK_ERR_CRYPTO;
        } else {
            int l = BN_bn2bin(ECDSA_SIG_get0_r(es), num);
            rc = wk_buf_put_mpint(&rs, num, (size_t)l);
            l = BN_bn2bin(ECDSA_SIG_get0_s(es), num);
            if (!rc) rc = wk_buf_put_mpint(&rs, num, (size_t)l);
            if (!rc) rc = wk_buf_put_string(&inner, wk_buf_data(&rs),
                                            wk_buf_used(&rs));
        }
        ECDSA_SIG_free(es);
        wk_buf_free(&rs);
    } else if (!rc) {
        rc = wk_buf_put_string(&inner, sig, sl);
    }
    if (!rc) rc = wk_buf_put_string(out, wk_buf_data(&inner),
                                    wk_buf_used(&inner));
    wk_buf_free(&inner);
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int wk_key_verify(const whelk_key *k, const char *alg, const uint8_t *data,
                  size_t len, const uint8_t *sigblob, size_t siglen)
{
    wk_reader r;
    const uint8_t *name, *sig;
    size_t nl, sl;
    if (!wk_key_sig_alg_ok(k, alg)) return WHELK_ERR_SIGNATURE;
    wk_reader_init(&r, sigblob, siglen);
    if (wk_get_string(&r, &name, &nl, 64) ||
        wk_get_string(&r, &sig, &sl, 2048) || wk_reader_end(&r) ||
        nl != strlen(alg) || memcmp(name, alg, nl) != 0)
        return WHELK_ERR_SIGNATURE;
    uint8_t der[160];
    const uint8_t *vsig = sig;
    size_t vlen = sl;
    if (k->type == WHELK_KEY_ED25519 && sl != 64) return WHELK_ERR_SIGNATURE;
    if (k->type == WHELK_KEY_ECDSA_P256) {
        wk_reader rs;
        const uint8_t *rr, *ss;
        size_t rl, sl2;
        wk_reader_init(&rs, sig, sl);
        if (wk_get_mpint(&rs, &rr, &rl, 32) || wk_get_mpint(&rs, &ss, &sl2, 32) ||
            wk_reader_end(&rs))
            return WHELK_ERR_SIGNATURE;
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *br = BN_bin2bn(rr, (int)rl, NULL), *bs = BN_bin2bn(ss, (int)sl2,
                                                                  NULL);
        if (!es || !br || !bs || !ECDSA_SIG_set0(es, br, bs)) {
            ECDSA_SIG_free(es);
            BN_free(br);
            BN_free(bs);
            return WHELK_ERR_SIGNATURE;
        }
        uint8_t *p = der;
        int dl = i2d_ECDSA_SIG(es, NULL);
        if (dl <= 0 || dl > (int)sizeof(der)) {
            ECDSA_SIG_free(es);
            return WHELK_ERR_SIGNATURE;
        }
        i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);
        vsig = der;
        vlen = (size_t)dl;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = ctx &&
             EVP_DigestVerifyInit(ctx, &pctx, sig_md(k, alg), NULL, k->pkey) >
                 0 &&
             (k->type != WHELK_KEY_RSA ||
              EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0) &&
             EVP_DigestVerify(ctx, vsig, vlen, data, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : WHELK_ERR_SIGNATURE;
}
