/*
 * kemvec: prints deterministic ML-KEM-768 or sntrup761 vectors, one line
 * per seed, for comparison byte for byte with independent JavaScript
 * implementations (tests/node/kem_vectors.mjs; the comparison runs in
 * tests/interop/test_kem_vectors.py).
 *
 *   kemvec mlkem N    i ek dk ct K K_reject
 *   kemvec sntrup N   i pk sk ct K K_corrupted
 *
 * All randomness comes from one AES-256-CTR keystream (zero IV) keyed by
 * SHA-256 of "whelk mlkem768 vectors" or "whelk sntrup761 vectors", read
 * in order:
 *   mlkem:  d (32), z (32), m (32), a random ciphertext (1088) that
 *           exercises implicit rejection;
 *   sntrup: every random request of key generation and encapsulation, in
 *           the reference's sizes, then two bytes (little-endian, mod
 *           1039) choosing a ciphertext byte and one byte (ORed with 1)
 *           to XOR into it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "mlkem.h"
#include "sntrup761.h"

static EVP_CIPHER_CTX *stream;

static void stream_open(const char *label)
{
    uint8_t key[32], iv[16] = {0};
    unsigned int n;
    EVP_Digest(label, strlen(label), key, &n, EVP_sha256(), NULL);
    stream = EVP_CIPHER_CTX_new();
    if (!stream ||
        !EVP_EncryptInit_ex(stream, EVP_aes_256_ctr(), NULL, key, iv))
        abort();
}

static int take(uint8_t *out, size_t len, void *user)
{
    (void)user;
    int n = 0;
    memset(out, 0, len);
    if (!EVP_EncryptUpdate(stream, out, &n, out, (int)len) ||
        (size_t)n != len)
        abort();
    return 0;
}

static void hex(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    putchar(' ');
    for (size_t i = 0; i < n; i++) {
        putchar(digits[p[i] >> 4]);
        putchar(digits[p[i] & 15]);
    }
}

static void mlkem(int count)
{
    static uint8_t ek[WK_MLKEM768_EK_LEN], dk[WK_MLKEM768_DK_LEN],
        ct[WK_MLKEM768_CT_LEN], random_ct[WK_MLKEM768_CT_LEN];
    uint8_t d[32], z[32], m[32], k[32], k2[32], krej[32];
    stream_open("whelk mlkem768 vectors");
    for (int i = 0; i < count; i++) {
        take(d, 32, NULL);
        take(z, 32, NULL);
        take(m, 32, NULL);
        take(random_ct, sizeof(random_ct), NULL);
        if (wk_mlkem768_keygen(d, z, ek, dk) ||
            wk_mlkem768_encaps(ek, m, ct, k) ||
            wk_mlkem768_decaps(dk, ct, k2) || memcmp(k, k2, 32) ||
            wk_mlkem768_decaps(dk, random_ct, krej)) {
            fprintf(stderr, "kemvec: ML-KEM failed at %d\n", i);
            exit(1);
        }
        printf("%d", i);
        hex(ek, sizeof(ek));
        hex(dk, sizeof(dk));
        hex(ct, sizeof(ct));
        hex(k, 32);
        hex(krej, 32);
        putchar('\n');
    }
}

static void sntrup(int count)
{
    static uint8_t pk[WK_SNTRUP761_PK_LEN], sk[WK_SNTRUP761_SK_LEN],
        ct[WK_SNTRUP761_CT_LEN];
    uint8_t k[32], k2[32], kbad[32], pick[3];
    stream_open("whelk sntrup761 vectors");
    for (int i = 0; i < count; i++) {
        if (wk_sntrup761_keygen(pk, sk, take, NULL) ||
            wk_sntrup761_encaps(pk, ct, k, take, NULL) ||
            wk_sntrup761_decaps(sk, ct, k2) || memcmp(k, k2, 32)) {
            fprintf(stderr, "kemvec: sntrup761 failed at %d\n", i);
            exit(1);
        }
        take(pick, 3, NULL);
        size_t pos = (size_t)(pick[0] | pick[1] << 8) % WK_SNTRUP761_CT_LEN;
        printf("%d", i);
        hex(pk, sizeof(pk));
        hex(sk, sizeof(sk));
        hex(ct, sizeof(ct));
        hex(k, 32);
        ct[pos] ^= (uint8_t)(pick[2] | 1);
        if (wk_sntrup761_decaps(sk, ct, kbad)) exit(1);
        hex(kbad, 32);
        putchar('\n');
    }
}

int main(int argc, char **argv)
{
    int count = argc == 3 ? atoi(argv[2]) : 0;
    if (count <= 0 || (strcmp(argv[1], "mlkem") && strcmp(argv[1], "sntrup"))) {
        fprintf(stderr, "usage: kemvec mlkem|sntrup COUNT\n");
        return 2;
    }
    if (!strcmp(argv[1], "mlkem"))
        mlkem(count);
    else
        sntrup(count);
    EVP_CIPHER_CTX_free(stream);
    return 0;
}
