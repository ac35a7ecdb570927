/*
 * nist_drbg: see nist_drbg.h. The construction is NIST SP 800-90A's
 * CTR_DRBG with AES-256 and no derivation function, as in the rng.c that
 * accompanied the NIST PQC submissions: the state is a key and a 128-bit
 * counter V; output is AES(key, ++V) blocks, and every request ends with
 * an update that replaces key and V with the next 48 bytes of keystream.
 */
#include "nist_drbg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static void increment(uint8_t v[16])
{
    for (int i = 15; i >= 0; i--)
        if (++v[i] != 0) break;
}

static void aes256_block(const uint8_t key[32], const uint8_t in[16],
                         uint8_t out[16])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    if (!ctx || !EVP_EncryptInit_ex(ctx, EVP_aes_256_ecb(), NULL, key, NULL) ||
        !EVP_CIPHER_CTX_set_padding(ctx, 0) ||
        !EVP_EncryptUpdate(ctx, out, &n, in, 16) || n != 16)
        abort();
    EVP_CIPHER_CTX_free(ctx);
}

static void update(nist_drbg *d, const uint8_t *provided)
{
    uint8_t temp[48];
    for (int i = 0; i < 3; i++) {
        increment(d->v);
        aes256_block(d->key, d->v, temp + 16 * i);
    }
    if (provided)
        for (int i = 0; i < 48; i++) temp[i] ^= provided[i];
    memcpy(d->key, temp, 32);
    memcpy(d->v, temp + 32, 16);
}

void nist_drbg_init(nist_drbg *d, const uint8_t entropy[48])
{
    memset(d, 0, sizeof(*d));
    update(d, entropy);
}

void nist_drbg_bytes(nist_drbg *d, uint8_t *out, size_t len)
{
    uint8_t block[16];
    while (len > 0) {
        increment(d->v);
        aes256_block(d->key, d->v, block);
        size_t n = len < 16 ? len : 16;
        memcpy(out, block, n);
        out += n;
        len -= n;
    }
    update(d, NULL);
}

int nist_drbg_rand(uint8_t *out, size_t len, void *user)
{
    nist_drbg_bytes(user, out, len);
    return 0;
}

static void put_hex(EVP_MD_CTX *h, const char *label, const uint8_t *p,
                    size_t n)
{
    char two[3];
    EVP_DigestUpdate(h, label, strlen(label));
    for (size_t i = 0; i < n; i++) {
        snprintf(two, sizeof(two), "%02X", p[i]);
        EVP_DigestUpdate(h, two, 2);
    }
    EVP_DigestUpdate(h, "\n", 1);
}

int kat_single_sha256(const kat_kem *kem, uint8_t digest[32])
{
    uint8_t entropy[48], seed[48];
    uint8_t *pk = malloc(kem->pk_len), *sk = malloc(kem->sk_len),
            *ct = malloc(kem->ct_len), *ss = malloc(kem->ss_len),
            *ss2 = malloc(kem->ss_len);
    nist_drbg d;
    unsigned int n = 0;
    int rc = -1;
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    if (!pk || !sk || !ct || !ss || !ss2 || !h) goto out;
    for (int i = 0; i < 48; i++) entropy[i] = (uint8_t)i;
    nist_drbg_init(&d, entropy);
    nist_drbg_bytes(&d, seed, sizeof(seed));
    nist_drbg_init(&d, seed);
    EVP_DigestInit_ex(h, EVP_sha256(), NULL);
    EVP_DigestUpdate(h, "count = 0\n", 10);
    put_hex(h, "seed = ", seed, sizeof(seed));
    if (kem->keypair(pk, sk, &d)) goto out;
    put_hex(h, "pk = ", pk, kem->pk_len);
    put_hex(h, "sk = ", sk, kem->sk_len);
    if (kem->encaps(ct, ss, pk, &d)) goto out;
    put_hex(h, "ct = ", ct, kem->ct_len);
    put_hex(h, "ss = ", ss, kem->ss_len);
    if (kem->decaps(ss2, ct, sk) || memcmp(ss, ss2, kem->ss_len)) goto out;
    rc = EVP_DigestFinal_ex(h, digest, &n) && n == 32 ? 0 : -1;
out:
    EVP_MD_CTX_free(h);
    free(pk);
    free(sk);
    free(ct);
    free(ss);
    free(ss2);
    return rc;
}
