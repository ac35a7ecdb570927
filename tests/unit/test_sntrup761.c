/*
 * Unit tests of lib/sntrup761.c (Streamlined NTRU Prime 761).
 *
 * The known answer is liboqs's: its kat_kem program seeds NIST's AES-256
 * CTR_DRBG with the bytes 0..47, draws a 48-byte seed, reseeds with it,
 * runs keypair, encaps and decaps and prints them; SHA-256 of that text
 * for sntrup761 is published in liboqs's tests/KATs/kem/kats.json. It
 * reproduces only if every random request has the reference's size and
 * order, and every encoding, rounding and hash is exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "nist_drbg.h"
#include "sntrup761.h"

static void unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static int kat_keypair(uint8_t *pk, uint8_t *sk, nist_drbg *d)
{
    return wk_sntrup761_keygen(pk, sk, nist_drbg_rand, d);
}

static int kat_encaps(uint8_t *ct, uint8_t *ss, const uint8_t *pk,
                      nist_drbg *d)
{
    return wk_sntrup761_encaps(pk, ct, ss, nist_drbg_rand, d);
}

static int kat_decaps(uint8_t *ss, const uint8_t *ct, const uint8_t *sk)
{
    return wk_sntrup761_decaps(sk, ct, ss);
}

static void test_liboqs_kat(void **state)
{
    (void)state;
    kat_kem kem = {WK_SNTRUP761_PK_LEN, WK_SNTRUP761_SK_LEN,
                   WK_SNTRUP761_CT_LEN, WK_SNTRUP761_SS_LEN,
                   kat_keypair, kat_encaps, kat_decaps};
    uint8_t got[32], want[32];
    unhex("afc42c3a5b10f4ef69654250097ebda9b9564570f4086744b24a6daf2bd1f89a",
          want, 32);
    assert_int_equal(kat_single_sha256(&kem, got), 0);
    assert_memory_equal(got, want, 32);
}

/* SHA-512 of prefix || a || b, cut to 32 bytes: the spec's Hash_b. */
static void hash_b(uint8_t out[32], uint8_t prefix, const uint8_t *a,
                   size_t alen, const uint8_t *b, size_t blen)
{
    uint8_t full[64];
    unsigned int n;
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    EVP_DigestInit_ex(h, EVP_sha512(), NULL);
    EVP_DigestUpdate(h, &prefix, 1);
    EVP_DigestUpdate(h, a, alen);
    if (blen) EVP_DigestUpdate(h, b, blen);
    EVP_DigestFinal_ex(h, full, &n);
    EVP_MD_CTX_free(h);
    memcpy(out, full, 32);
}

/* The key an implicit rejection must give: Hash0(Hash3(rho) || ct), with
 * rho the 191 bytes after f, 1/g and the public key in the secret key. */
static void rejection_key(const uint8_t *sk, const uint8_t *ct, uint8_t k[32])
{
    uint8_t inner[32];
    hash_b(inner, 3, sk + 191 + 191 + WK_SNTRUP761_PK_LEN, 191, NULL, 0);
    hash_b(k, 0, inner, 32, ct, WK_SNTRUP761_CT_LEN);
}

static uint8_t pk[WK_SNTRUP761_PK_LEN], sk[WK_SNTRUP761_SK_LEN],
    ct[WK_SNTRUP761_CT_LEN], bad[WK_SNTRUP761_CT_LEN];

static void test_round_trip_and_rejection(void **state)
{
    (void)state;
    uint8_t k1[32], k2[32], kr[32], want[32], first_pk[8];
    for (int round = 0; round < 8; round++) {
        assert_int_equal(wk_sntrup761_keygen(pk, sk, NULL, NULL), 0);
        if (round == 0) memcpy(first_pk, pk, sizeof(first_pk));
        else assert_memory_not_equal(first_pk, pk, sizeof(first_pk));
        assert_memory_equal(sk + 382, pk, WK_SNTRUP761_PK_LEN);
        assert_int_equal(wk_sntrup761_encaps(pk, ct, k1, NULL, NULL), 0);
        assert_int_equal(wk_sntrup761_decaps(sk, ct, k2), 0);
        assert_memory_equal(k1, k2, 32);

        /* One flipped bit anywhere, in the rounded part or in the
         * confirmation hash, gives the rejection key. */
        size_t pos = (size_t)round * 131 % WK_SNTRUP761_CT_LEN;
        if (round == 7) pos = WK_SNTRUP761_CT_LEN - 1;
        memcpy(bad, ct, sizeof(bad));
        bad[pos] ^= (uint8_t)(1u << (round & 7));
        assert_int_equal(wk_sntrup761_decaps(sk, bad, kr), 0);
        rejection_key(sk, bad, want);
        assert_memory_equal(kr, want, 32);
        assert_memory_not_equal(kr, k1, 32);
    }
}

/* Bytes no encoder produced still decode (every value reduced below its
 * radix), and decapsulation rejects them rather than failing. */
static void test_hostile_bytes(void **state)
{
    (void)state;
    uint8_t k[32], want[32], k2[32];
    assert_int_equal(wk_sntrup761_keygen(pk, sk, NULL, NULL), 0);
    for (int fill = 0; fill < 256; fill += 85) {
        memset(bad, fill, sizeof(bad));
        assert_int_equal(wk_sntrup761_decaps(sk, bad, k), 0);
        rejection_key(sk, bad, want);
        assert_memory_equal(k, want, 32);
        uint8_t hostile_pk[WK_SNTRUP761_PK_LEN];
        memset(hostile_pk, fill, sizeof(hostile_pk));
        assert_int_equal(wk_sntrup761_encaps(hostile_pk, ct, k2, NULL, NULL),
                         0);
    }
}

/* The random requests: 4p bytes per polynomial, 191 for rho; a counting
 * source that returns zeros checks the sizes and that nothing else is
 * asked for. */
typedef struct {
    size_t sizes[8];
    int n;
} request_log;

static int logging_rand(uint8_t *out, size_t len, void *user)
{
    request_log *log = user;
    if (log->n < 8) log->sizes[log->n] = len;
    log->n++;
    for (size_t i = 0; i < len; i++) out[i] = (uint8_t)(i * 7 + log->n);
    return 0;
}

static void test_random_requests(void **state)
{
    (void)state;
    request_log log = {{0}, 0};
    uint8_t k[32];
    assert_int_equal(wk_sntrup761_keygen(pk, sk, logging_rand, &log), 0);
    assert_true(log.n >= 3);
    for (int i = 0; i < log.n - 1; i++) assert_int_equal(log.sizes[i], 3044);
    assert_int_equal(log.sizes[log.n - 1], 191);
    log.n = 0;
    assert_int_equal(wk_sntrup761_encaps(pk, ct, k, logging_rand, &log), 0);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.sizes[0], 3044);
}

static int failing_rand(uint8_t *out, size_t len, void *user)
{
    (void)out, (void)len, (void)user;
    return WHELK_ERR_CRYPTO;
}

static void test_rand_failure(void **state)
{
    (void)state;
    uint8_t k[32];
    assert_int_not_equal(wk_sntrup761_keygen(pk, sk, failing_rand, NULL), 0);
    assert_int_not_equal(wk_sntrup761_encaps(pk, ct, k, failing_rand, NULL),
                         0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_liboqs_kat),
        cmocka_unit_test(test_round_trip_and_rejection),
        cmocka_unit_test(test_hostile_bytes),
        cmocka_unit_test(test_random_requests),
        cmocka_unit_test(test_rand_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
