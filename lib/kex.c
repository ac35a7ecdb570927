/*
 * kex: KEXINIT (RFC 4253 section 7.1), the key agreement methods
 * curve25519-sha256[@libssh.org] (RFC 8731), ecdh-sha2-nistp256
 * (RFC 5656), diffie-hellman-group14-sha256 and -group16-sha512
 * (RFC 8268 over the RFC 3526 groups) and the hybrids
 * mlkem768x25519-sha256 (draft-ietf-sshm-mlkem-hybrid-kex) and
 * sntrup761x25519-sha512[@openssh.com] (draft-josefsson-ntruprime-ssh,
 * OpenSSH's PROTOCOL), the exchange
 * hash (RFC 4253 section 8) and key derivation (section 7.2).
 *
 * Every shared secret leaves this module already encoded (mpint or
 * string) and enters the hash and the KDF exactly as encoded.
 */
#include "kex.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "mlkem.h"
#include "sntrup761.h"

enum {
    KEX_X25519 = 1,
    KEX_P256,
    KEX_DH14,
    KEX_DH16,
    KEX_MLKEM768X25519,
    KEX_SNTRUP761X25519
};

static const wk_kex_alg algs[] = {
    {"mlkem768x25519-sha256", "SHA256", 0, KEX_MLKEM768X25519},
    {"sntrup761x25519-sha512", "SHA512", 0, KEX_SNTRUP761X25519},
    {"sntrup761x25519-sha512@openssh.com", "SHA512", 0, KEX_SNTRUP761X25519},
    {"curve25519-sha256", "SHA256", 0, KEX_X25519},
    {"curve25519-sha256@libssh.org", "SHA256", 0, KEX_X25519},
    {"ecdh-sha2-nistp256", "SHA256", 0, KEX_P256},
    {"diffie-hellman-group16-sha512", "SHA512", 1, KEX_DH16},
    {"diffie-hellman-group14-sha256", "SHA256", 1, KEX_DH14},
};

const char wk_kex_default_list[] =
    "mlkem768x25519-sha256,sntrup761x25519-sha512,"
    "sntrup761x25519-sha512@openssh.com,"
    "curve25519-sha256,curve25519-sha256@libssh.org,"
    "ecdh-sha2-nistp256,diffie-hellman-group16-sha512,"
    "diffie-hellman-group14-sha256";

const wk_kex_alg *wk_kex_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(algs) / sizeof(*algs); i++)
        if (strlen(algs[i].name) == len && memcmp(algs[i].name, name, len) == 0)
            return &algs[i];
    return NULL;
}

/* ------------------------------------------------------------------------
 * KEXINIT.
 */

#define MAX_LIST 4096

int wk_kexinit_parse(const uint8_t *payload, size_t len, wk_kexinit *out)
{
    wk_reader r;
    uint8_t type;
    const uint8_t *cookie;
    uint32_t reserved;
    wk_reader_init(&r, payload, len);
    int rc = wk_get_u8(&r, &type);
    if (!rc && type != 20) return WHELK_ERR_PROTO;
    if (!rc) rc = wk_get_bytes(&r, &cookie, 16);
    if (rc) return rc;
    memcpy(out->cookie, cookie, 16);
    for (int i = 0; i < WK_KEXL_COUNT; i++) {
        rc = wk_get_string(&r, &out->list[i], &out->list_len[i], MAX_LIST);
        if (rc) return rc;
    }
    if ((rc = wk_get_bool(&r, &out->first_kex_follows)) != 0) return rc;
    return wk_get_u32(&r, &reserved);
}

int wk_kexinit_build(wk_buf *out, const char *const lists[WK_KEXL_COUNT],
                     whelk_rand_cb rand, void *rand_user)
{
    uint8_t cookie[16];
    int rc = rand(cookie, sizeof(cookie), rand_user);
    if (!rc) rc = wk_buf_put_u8(out, 20);
    if (!rc) rc = wk_buf_put(out, cookie, sizeof(cookie));
    for (int i = 0; i < WK_KEXL_COUNT && !rc; i++)
        rc = wk_buf_put_cstring(out, lists[i]);
    if (!rc) rc = wk_buf_put_bool(out, 0);
    if (!rc) rc = wk_buf_put_u32(out, 0);
    return rc;
}

int wk_negotiate(const uint8_t *client, size_t clen, const uint8_t *server,
                 size_t slen, char *out, size_t outlen)
{
    size_t pos = 0, nl;
    const uint8_t *name;
    while (wk_namelist_next(client, clen, &pos, &name, &nl)) {
        if (nl == 0 || nl >= outlen) continue;
        size_t spos = 0, snl;
        const uint8_t *sname;
        while (wk_namelist_next(server, slen, &spos, &sname, &snl)) {
            if (snl == nl && memcmp(sname, name, nl) == 0) {
                memcpy(out, name, nl);
                out[nl] = 0;
                return 0;
            }
        }
    }
    return WHELK_ERR_NEGOTIATION;
}

/* ------------------------------------------------------------------------
 * X25519 (RFC 7748) through EVP with raw keys, so the private key can be
 * drawn from the configured random source.
 */

static int x25519_keypair(whelk_rand_cb rand, void *ru, EVP_PKEY **key,
                          uint8_t pub[32])
{
    uint8_t priv[32];
    size_t n = 32;
    int rc = rand(priv, 32, ru);
    if (rc) return rc;
    *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
    OPENSSL_cleanse(priv, sizeof(priv));
    if (!*key || !EVP_PKEY_get_raw_public_key(*key, pub, &n) || n != 32)
        return WHELK_ERR_CRYPTO;
    return 0;
}

static int derive(EVP_PKEY *mine, EVP_PKEY *peer, uint8_t *out,
                  size_t *outlen)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(mine, NULL);
    int ok = ctx && EVP_PKEY_derive_init(ctx) > 0 &&
             EVP_PKEY_derive_set_peer(ctx, peer) > 0 &&
             EVP_PKEY_derive(ctx, out, outlen) > 0;
    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : WHELK_ERR_KEX;
}

static int x25519_shared(EVP_PKEY *mine, const uint8_t *peer_pub,
                         size_t peer_len, uint8_t secret[32])
{
    static const uint8_t zero[32];
    if (peer_len != 32) return WHELK_ERR_KEX;
    EVP_PKEY *peer =
        EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer_pub, 32);
    if (!peer) return WHELK_ERR_KEX;
    size_t n = 32;
    int rc = derive(mine, peer, secret, &n);
    EVP_PKEY_free(peer);
    /* An all-zero result means a low-order point (RFC 7748 section 6.1). */
    if (!rc && (n != 32 || CRYPTO_memcmp(secret, zero, 32) == 0))
        rc = WHELK_ERR_KEX;
    return rc;
}

/* ------------------------------------------------------------------------
 * NIST P-256 (RFC 5656).
 */

static int p256_keypair(EVP_PKEY **key, wk_buf *pub)
{
    uint8_t q[65];
    size_t n = 0;
    *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!*key ||
        !EVP_PKEY_get_octet_string_param(*key,
                                         OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                         q, sizeof(q), &n) ||
        n != 65)
        return WHELK_ERR_CRYPTO;
    return wk_buf_put(pub, q, n);
}

static int p256_shared(EVP_PKEY *mine, const uint8_t *peer_pub,
                       size_t peer_len, wk_buf *k_enc)
{
    /* Only uncompressed points; fromdata rejects points off the curve. */
    if (peer_len != 65 || peer_pub[0] != 0x04) return WHELK_ERR_KEX;
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *peer = NULL;
    OSSL_PARAM params[3] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                         "prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                          (void *)peer_pub, peer_len),
        OSSL_PARAM_construct_end()};
    int rc = WHELK_ERR_KEX;
    if (pctx && EVP_PKEY_fromdata_init(pctx) > 0 &&
        EVP_PKEY_fromdata(pctx, &peer, EVP_PKEY_PUBLIC_KEY, params) > 0) {
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new(peer, NULL);
        if (check && EVP_PKEY_public_check(check) > 0) {
            uint8_t x[32];
            size_t n = sizeof(x);
            rc = derive(mine, peer, x, &n);
            if (!rc && n != 32) rc = WHELK_ERR_KEX;
            if (!rc) rc = wk_buf_put_mpint(k_enc, x, n);
            OPENSSL_cleanse(x, sizeof(x));
        }
        EVP_PKEY_CTX_free(check);
    }
    EVP_PKEY_free(peer);
    EVP_PKEY_CTX_free(pctx);
    return rc;
}

/* ------------------------------------------------------------------------
 * Finite-field Diffie-Hellman over the RFC 3526 groups, generator 2.
 */

typedef struct dh_state {
    BIGNUM *p, *x;
} dh_state;

static void dh_free(dh_state *d)
{
    BN_free(d->p);
    BN_clear_free(d->x);
    d->p = d->x = NULL;
}

static int dh_keypair(int id, whelk_rand_cb rand, void *ru, dh_state *d,
                      wk_buf *pub)
{
    /* The private exponent is twice the group's security strength. */
    size_t xbytes = id == KEX_DH16 ? 64 : 32;
    uint8_t xr[64];
    d->p = id == KEX_DH16 ? BN_get_rfc3526_prime_4096(NULL)
                          : BN_get_rfc3526_prime_2048(NULL);
    BN_CTX *bctx = BN_CTX_new();
    BIGNUM *g = BN_new(), *e = BN_new();
    int rc = WHELK_ERR_CRYPTO;
    if (!d->p || !bctx || !g || !e || !BN_set_word(g, 2)) goto out;
    if ((rc = rand(xr, xbytes, ru)) != 0) goto out;
    xr[0] |= 0x80; /* full size, never zero */
    rc = WHELK_ERR_CRYPTO;
    d->x = BN_secure_new();
    if (!d->x || !BN_bin2bn(xr, (int)xbytes, d->x)) goto out;
    BN_set_flags(d->x, BN_FLG_CONSTTIME);
    if (!BN_mod_exp_mont_consttime(e, g, d->x, d->p, bctx, NULL)) goto out;
    uint8_t buf[512];
    int n = BN_bn2bin(e, buf);
    rc = n > 0 ? wk_buf_put(pub, buf, (size_t)n) : WHELK_ERR_CRYPTO;
out:
    OPENSSL_cleanse(xr, sizeof(xr));
    BN_free(g);
    BN_free(e);
    BN_CTX_free(bctx);
    return rc;
}

static int dh_shared(dh_state *d, const uint8_t *peer, size_t peer_len,
                     wk_buf *k_enc)
{
    BN_CTX *bctx = BN_CTX_new();
    BIGNUM *f = BN_bin2bn(peer, (int)peer_len, NULL);
    BIGNUM *pm1 = BN_dup(d->p), *k = BN_secure_new();
    int rc = WHELK_ERR_CRYPTO;
    if (!bctx || !f || !pm1 || !k || !BN_sub_word(pm1, 1)) goto out;
    /* RFC 4253 section 8: 1 < f < p-1. */
    rc = WHELK_ERR_KEX;
    if (BN_cmp(f, BN_value_one()) <= 0 || BN_cmp(f, pm1) >= 0) goto out;
    rc = WHELK_ERR_CRYPTO;
    if (!BN_mod_exp_mont_consttime(k, f, d->x, d->p, bctx, NULL)) goto out;
    uint8_t buf[512];
    int n = BN_bn2bin(k, buf);
    rc = n > 0 ? wk_buf_put_mpint(k_enc, buf, (size_t)n) : WHELK_ERR_KEX;
    OPENSSL_cleanse(buf, sizeof(buf));
out:
    BN_free(f);
    BN_free(pm1);
    BN_clear_free(k);
    BN_CTX_free(bctx);
    return rc;
}

/* ------------------------------------------------------------------------
 * Hybrids: K = HASH(K_PQ || K_CL), both halves 32 bytes, carried as an
 * SSH string of the digest (32 bytes for SHA-256, 64 for SHA-512).
 */

static int hybrid_k(const EVP_MD *md, const uint8_t pq[32],
                    const uint8_t cl[32], wk_buf *k_enc)
{
    uint8_t both[64], k[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    memcpy(both, pq, 32);
    memcpy(both + 32, cl, 32);
    int ok = EVP_Digest(both, 64, k, &n, md, NULL);
    int rc = ok && n == (unsigned)EVP_MD_get_size(md)
                 ? wk_buf_put_string(k_enc, k, n)
                 : WHELK_ERR_CRYPTO;
    OPENSSL_cleanse(both, sizeof(both));
    OPENSSL_cleanse(k, sizeof(k));
    return rc;
}

/* The KEM half of each hybrid, so that the X25519 half and K are shared.
 * Lengths: client value = public key || X25519, server value = ciphertext
 * || X25519. */
typedef struct hybrid_kem {
    size_t pk_len, ct_len;
    const EVP_MD *(*md)(void);
} hybrid_kem;

static const hybrid_kem mlkem768 = {WK_MLKEM768_EK_LEN, WK_MLKEM768_CT_LEN,
                                    EVP_sha256};
static const hybrid_kem sntrup761 = {WK_SNTRUP761_PK_LEN,
                                     WK_SNTRUP761_CT_LEN, EVP_sha512};

static const hybrid_kem *hybrid_of(int id)
{
    return id == KEX_MLKEM768X25519    ? &mlkem768
           : id == KEX_SNTRUP761X25519 ? &sntrup761
                                       : NULL;
}

#define HYBRID_SK_MAX WK_MLKEM768_DK_LEN
_Static_assert(WK_SNTRUP761_SK_LEN <= HYBRID_SK_MAX, "hybrid secret key");

static int kem_encaps(int id, const uint8_t *pk, uint8_t *ct, uint8_t ss[32],
                      whelk_rand_cb rand, void *ru)
{
    if (id == KEX_SNTRUP761X25519)
        return wk_sntrup761_encaps(pk, ct, ss, rand, ru);
    return wk_mlkem768_encaps_rand(pk, ct, ss, rand, ru);
}

static int kem_keygen(int id, uint8_t *pk, uint8_t *sk, whelk_rand_cb rand,
                      void *ru)
{
    if (id == KEX_SNTRUP761X25519)
        return wk_sntrup761_keygen(pk, sk, rand, ru);
    return wk_mlkem768_keygen_rand(pk, sk, rand, ru);
}

static int kem_decaps(int id, const uint8_t *sk, const uint8_t *ct,
                      uint8_t ss[32])
{
    if (id == KEX_SNTRUP761X25519) return wk_sntrup761_decaps(sk, ct, ss);
    return wk_mlkem768_decaps(sk, ct, ss);
}

/* ------------------------------------------------------------------------
 * The two sides.
 */

int wk_kex_server(const wk_kex_alg *alg, whelk_rand_cb rand, void *ru,
                  const uint8_t *cv, size_t clen, wk_buf *server_value,
                  wk_buf *k_enc)
{
    EVP_PKEY *key = NULL;
    uint8_t pub[32], secret[32];
    int rc = WHELK_ERR_KEX;
    switch (alg->id) {
    case KEX_X25519:
        if (clen != 32) return WHELK_ERR_KEX;
        if ((rc = x25519_keypair(rand, ru, &key, pub)) != 0) break;
        if ((rc = x25519_shared(key, cv, clen, secret)) != 0) break;
        rc = wk_buf_put(server_value, pub, 32);
        if (!rc) rc = wk_buf_put_mpint(k_enc, secret, 32);
        break;
    case KEX_P256:
        if (clen != 65) return WHELK_ERR_KEX;
        if ((rc = p256_keypair(&key, server_value)) != 0) break;
        rc = p256_shared(key, cv, clen, k_enc);
        break;
    case KEX_DH14:
    case KEX_DH16: {
        dh_state d = {0};
        rc = dh_keypair(alg->id, rand, ru, &d, server_value);
        if (!rc) rc = dh_shared(&d, cv, clen, k_enc);
        dh_free(&d);
        break;
    }
    case KEX_MLKEM768X25519:
    case KEX_SNTRUP761X25519: {
        const hybrid_kem *kem = hybrid_of(alg->id);
        uint8_t ss[32];
        uint8_t *ct;
        if (clen != kem->pk_len + 32) return WHELK_ERR_KEX;
        if (!(ct = wk_buf_extend(server_value, kem->ct_len))) {
            rc = WHELK_ERR_NOMEM;
            break;
        }
        rc = kem_encaps(alg->id, cv, ct, ss, rand, ru);
        if (!rc) rc = x25519_keypair(rand, ru, &key, pub);
        if (!rc) rc = x25519_shared(key, cv + kem->pk_len, 32, secret);
        if (!rc) rc = wk_buf_put(server_value, pub, 32);
        if (!rc) rc = hybrid_k(kem->md(), ss, secret, k_enc);
        OPENSSL_cleanse(ss, sizeof(ss));
        break;
    }
    }
    EVP_PKEY_free(key);
    OPENSSL_cleanse(secret, sizeof(secret));
    return rc;
}

struct wk_kex_client {
    const wk_kex_alg *alg;
    EVP_PKEY *key;
    dh_state dh;
    uint8_t kem_sk[HYBRID_SK_MAX];
};

int wk_kex_client_start(const wk_kex_alg *alg, whelk_rand_cb rand, void *ru,
                        wk_kex_client **state, wk_buf *client_value)
{
    wk_kex_client *st = calloc(1, sizeof(*st));
    if (!st) return WHELK_ERR_NOMEM;
    st->alg = alg;
    uint8_t pub[32];
    int rc = WHELK_ERR_KEX;
    switch (alg->id) {
    case KEX_X25519:
        rc = x25519_keypair(rand, ru, &st->key, pub);
        if (!rc) rc = wk_buf_put(client_value, pub, 32);
        break;
    case KEX_P256:
        rc = p256_keypair(&st->key, client_value);
        break;
    case KEX_DH14:
    case KEX_DH16:
        rc = dh_keypair(alg->id, rand, ru, &st->dh, client_value);
        break;
    case KEX_MLKEM768X25519:
    case KEX_SNTRUP761X25519: {
        const hybrid_kem *kem = hybrid_of(alg->id);
        uint8_t *pk = wk_buf_extend(client_value, kem->pk_len);
        rc = pk ? kem_keygen(alg->id, pk, st->kem_sk, rand, ru)
                : WHELK_ERR_NOMEM;
        if (!rc) rc = x25519_keypair(rand, ru, &st->key, pub);
        if (!rc) rc = wk_buf_put(client_value, pub, 32);
        break;
    }
    }
    if (rc) {
        wk_kex_client_free(st);
        return rc;
    }
    *state = st;
    return 0;
}

int wk_kex_client_finish(wk_kex_client *st, const uint8_t *sv, size_t slen,
                         wk_buf *k_enc)
{
    uint8_t secret[32], ss[32];
    int rc = WHELK_ERR_KEX;
    switch (st->alg->id) {
    case KEX_X25519:
        rc = x25519_shared(st->key, sv, slen, secret);
        if (!rc) rc = wk_buf_put_mpint(k_enc, secret, 32);
        break;
    case KEX_P256:
        rc = p256_shared(st->key, sv, slen, k_enc);
        break;
    case KEX_DH14:
    case KEX_DH16:
        rc = dh_shared(&st->dh, sv, slen, k_enc);
        break;
    case KEX_MLKEM768X25519:
    case KEX_SNTRUP761X25519: {
        const hybrid_kem *kem = hybrid_of(st->alg->id);
        if (slen != kem->ct_len + 32) break;
        rc = kem_decaps(st->alg->id, st->kem_sk, sv, ss);
        if (!rc) rc = x25519_shared(st->key, sv + kem->ct_len, 32, secret);
        if (!rc) rc = hybrid_k(kem->md(), ss, secret, k_enc);
        break;
    }
    }
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(ss, sizeof(ss));
    return rc;
}

void wk_kex_client_free(wk_kex_client *st)
{
    if (!st) return;
    EVP_PKEY_free(st->key);
    dh_free(&st->dh);
    OPENSSL_cleanse(st, sizeof(*st));
    free(st);
}

/* ------------------------------------------------------------------------
 * Exchange hash and key derivation.
 */

static const EVP_MD *md_of(const wk_kex_alg *alg)
{
    return strcmp(alg->hash, "SHA512") == 0 ? EVP_sha512() : EVP_sha256();
}

static int put_string(EVP_MD_CTX *ctx, const void *p, size_t n)
{
    uint8_t len[4];
    wk_store_u32(len, (uint32_t)n);
    return EVP_DigestUpdate(ctx, len, 4) && EVP_DigestUpdate(ctx, p, n);
}

static int put_value(EVP_MD_CTX *ctx, const wk_kex_alg *alg, const uint8_t *p,
                     size_t n)
{
    if (!alg->value_is_mpint) return put_string(ctx, p, n);
    wk_buf b;
    wk_buf_init(&b, 1024);
    int ok = wk_buf_put_mpint(&b, p, n) == 0 &&
             EVP_DigestUpdate(ctx, wk_buf_data(&b), wk_buf_used(&b));
    wk_buf_free(&b);
    return ok;
}

int wk_kex_hash(const wk_kex_alg *alg, const char *v_c, const char *v_s,
                const uint8_t *i_c, size_t i_c_len, const uint8_t *i_s,
                size_t i_s_len, const uint8_t *k_s, size_t k_s_len,
                const uint8_t *q_c, size_t q_c_len, const uint8_t *q_s,
                size_t q_s_len, const uint8_t *k_enc, size_t k_enc_len,
                uint8_t *h, size_t *hlen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, md_of(alg), NULL) &&
             put_string(ctx, v_c, strlen(v_c)) &&
             put_string(ctx, v_s, strlen(v_s)) &&
             put_string(ctx, i_c, i_c_len) && put_string(ctx, i_s, i_s_len) &&
             put_string(ctx, k_s, k_s_len) &&
             put_value(ctx, alg, q_c, q_c_len) &&
             put_value(ctx, alg, q_s, q_s_len) &&
             EVP_DigestUpdate(ctx, k_enc, k_enc_len) &&
             EVP_DigestFinal_ex(ctx, h, &n);
    EVP_MD_CTX_free(ctx);
    *hlen = n;
    return ok ? 0 : WHELK_ERR_CRYPTO;
}

int wk_kex_derive(const wk_kex_alg *alg, const uint8_t *k_enc,
                  size_t k_enc_len, const uint8_t *h, size_t hlen,
                  char letter, const uint8_t *sid, size_t sid_len,
                  uint8_t *out, size_t need)
{
    const EVP_MD *md = md_of(alg);
    size_t dlen = (size_t)EVP_MD_get_size(md);
    uint8_t block[64 * 8];
    if (need > sizeof(block) - dlen) return WHELK_ERR_INVAL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t x = (uint8_t)letter;
    size_t have = 0;
    int ok = ctx != NULL;
    /* K1 = HASH(K || H || X || session_id); Kn = HASH(K || H || K1..). */
    ok = ok && EVP_DigestInit_ex(ctx, md, NULL) &&
         EVP_DigestUpdate(ctx, k_enc, k_enc_len) &&
         EVP_DigestUpdate(ctx, h, hlen) && EVP_DigestUpdate(ctx, &x, 1) &&
         EVP_DigestUpdate(ctx, sid, sid_len) &&
         EVP_DigestFinal_ex(ctx, block, NULL);
    have = dlen;
    while (ok && have < need) {
        ok = EVP_DigestInit_ex(ctx, md, NULL) &&
             EVP_DigestUpdate(ctx, k_enc, k_enc_len) &&
             EVP_DigestUpdate(ctx, h, hlen) &&
             EVP_DigestUpdate(ctx, block, have) &&
             EVP_DigestFinal_ex(ctx, block + have, NULL);
        have += dlen;
    }
    if (ok) memcpy(out, block, need);
    OPENSSL_cleanse(block, sizeof(block));
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : WHELK_ERR_CRYPTO;
}
