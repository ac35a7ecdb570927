/*
 * Fuzz target: sntrup761 on hostile input (lib/sntrup761.c) and the hybrid
 * sntrup761x25519-sha512 values (lib/kex.c). Every byte string of the
 * right length is a valid sntrup761 public key or ciphertext, so the
 * properties are: encapsulation to any key succeeds; decapsulation of any
 * ciphertext yields a key and, unless the bytes are the honest ciphertext,
 * exactly the implicit-rejection key (checked here independently); the
 * server side accepts a client value only at 1190 bytes, and the client
 * side a reply only at 1071.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "kex.h"
#include "sntrup761.h"

static int fixed_rand(uint8_t *out, size_t len, void *user)
{
    static uint8_t next = 0x3c;
    for (size_t i = 0; i < len; i++) out[i] = next++;
    return 0;
}

/* Hash0(Hash3(rho) || ct), each SHA-512 cut to 32 bytes. */
static void rejection_key(const uint8_t *sk, const uint8_t *ct, uint8_t k[32])
{
    uint8_t inner[64], full[64], prefix = 3;
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    EVP_DigestInit_ex(h, EVP_sha512(), NULL);
    EVP_DigestUpdate(h, &prefix, 1);
    EVP_DigestUpdate(h, sk + 382 + WK_SNTRUP761_PK_LEN, 191);
    EVP_DigestFinal_ex(h, inner, NULL);
    prefix = 0;
    EVP_DigestInit_ex(h, EVP_sha512(), NULL);
    EVP_DigestUpdate(h, &prefix, 1);
    EVP_DigestUpdate(h, inner, 32);
    EVP_DigestUpdate(h, ct, WK_SNTRUP761_CT_LEN);
    EVP_DigestFinal_ex(h, full, NULL);
    EVP_MD_CTX_free(h);
    memcpy(k, full, 32);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    static uint8_t pk[WK_SNTRUP761_PK_LEN], sk[WK_SNTRUP761_SK_LEN],
        honest[WK_SNTRUP761_CT_LEN];
    static int have_keys;
    uint8_t k[32], want[32];
    if (!have_keys) {
        if (wk_sntrup761_keygen(pk, sk, fixed_rand, NULL) ||
            wk_sntrup761_encaps(pk, honest, k, fixed_rand, NULL))
            __builtin_trap();
        have_keys = 1;
    }
    uint8_t key[WK_SNTRUP761_PK_LEN], ct[WK_SNTRUP761_CT_LEN];
    memset(key, 0, sizeof(key));
    memcpy(key, in, len < sizeof(key) ? len : sizeof(key));
    if (wk_sntrup761_encaps(key, ct, k, fixed_rand, NULL) != 0)
        __builtin_trap();
    memset(ct, 0, sizeof(ct));
    memcpy(ct, in, len < sizeof(ct) ? len : sizeof(ct));
    if (wk_sntrup761_decaps(sk, ct, k) != 0) __builtin_trap();
    rejection_key(sk, ct, want);
    if (memcmp(ct, honest, sizeof(ct)) != 0 && memcmp(k, want, 32) != 0)
        __builtin_trap();

    const char *name = len && (in[0] & 1) ? "sntrup761x25519-sha512"
                                          : "sntrup761x25519-sha512@openssh.com";
    const wk_kex_alg *alg = wk_kex_find(name, strlen(name));
    wk_buf sv, kenc;
    wk_buf_init(&sv, 4096);
    wk_buf_init(&kenc, 256);
    int rc = wk_kex_server(alg, fixed_rand, NULL, in, len, &sv, &kenc);
    if (rc == 0 && len != 1190) __builtin_trap();
    /* One client state serves every run: finishing does not consume it,
     * and key generation is the slow part. */
    static wk_kex_client *st;
    if (!st) {
        wk_buf cv;
        wk_buf_init(&cv, 4096);
        if (wk_kex_client_start(alg, fixed_rand, NULL, &st, &cv) != 0)
            __builtin_trap();
        wk_buf_free(&cv);
    }
    wk_buf_reset(&kenc);
    rc = wk_kex_client_finish(st, in, len, &kenc);
    if (rc == 0 && len != 1071) __builtin_trap();
    wk_buf_free(&sv);
    wk_buf_free_secret(&kenc);
    return 0;
}
