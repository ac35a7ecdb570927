/*
 * Unit tests of lib/mlkem.c (ML-KEM-768, FIPS 203).
 *
 * The accumulated test: a SHAKE-128 stream of the empty input supplies,
 * for each of 10,000 iterations, the key generation seed d || z, the
 * encapsulation message m and a random ciphertext; every output (ek,
 * dk, ct, K, and K of the random ciphertext, which exercises implicit
 * rejection) is absorbed into a running SHAKE-128 whose first 32 bytes
 * must be the published value for FIPS 203 final. Any error in NTT,
 * sampling, compression or encoding changes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "mlkem.h"
#include "nist_drbg.h"
#include "whelk/whelk.h"

static void hex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static void accumulated(unsigned iterations, const char *expect_hex)
{
    size_t per = 64 + 32 + WK_MLKEM768_CT_LEN;
    uint8_t *stream = malloc(per * iterations);
    EVP_MD_CTX *s = EVP_MD_CTX_new(), *o = EVP_MD_CTX_new();
    assert_true(EVP_DigestInit_ex(s, EVP_shake128(), NULL));
    assert_true(EVP_DigestFinalXOF(s, stream, per * iterations));
    assert_true(EVP_DigestInit_ex(o, EVP_shake128(), NULL));
    static uint8_t ek[WK_MLKEM768_EK_LEN], dk[WK_MLKEM768_DK_LEN],
        ct[WK_MLKEM768_CT_LEN];
    uint8_t k[32], k2[32];
    const uint8_t *p = stream;
    for (unsigned i = 0; i < iterations; i++) {
        assert_int_equal(wk_mlkem768_keygen(p, p + 32, ek, dk), 0);
        p += 64;
        EVP_DigestUpdate(o, ek, sizeof(ek));
        EVP_DigestUpdate(o, dk, sizeof(dk));
        assert_int_equal(wk_mlkem768_encaps(ek, p, ct, k), 0);
        p += 32;
        EVP_DigestUpdate(o, ct, sizeof(ct));
        EVP_DigestUpdate(o, k, sizeof(k));
        assert_int_equal(wk_mlkem768_decaps(dk, ct, k2), 0);
        assert_memory_equal(k, k2, 32);
        assert_int_equal(wk_mlkem768_decaps(dk, p, k2), 0);
        p += WK_MLKEM768_CT_LEN;
        EVP_DigestUpdate(o, k2, sizeof(k2));
    }
    uint8_t got[32], want[32];
    assert_true(EVP_DigestFinalXOF(o, got, 32));
    hex(expect_hex, want, 32);
    assert_memory_equal(got, want, 32);
    EVP_MD_CTX_free(s);
    EVP_MD_CTX_free(o);
    free(stream);
}

static void test_accumulated_10000(void **state)
{
    accumulated(10000, "f959d18d3d1180121433bf0e05f11e79"
                       "08cf9d03edc150b2b07cb90bef5bc1c1");
}

/* Encapsulation refuses a key with a coefficient >= q (section 7.2). */
static void test_modulus_check(void **state)
{
    static uint8_t ek[WK_MLKEM768_EK_LEN], dk[WK_MLKEM768_DK_LEN],
        ct[WK_MLKEM768_CT_LEN];
    uint8_t seed[64] = {1}, m[32] = {2}, k[32];
    assert_int_equal(wk_mlkem768_keygen(seed, seed + 32, ek, dk), 0);
    assert_int_equal(wk_mlkem768_check_ek(ek), 0);
    assert_int_equal(wk_mlkem768_encaps(ek, m, ct, k), 0);
    /* First coefficient := 3329 (0xD01), little-endian 12 bits. */
    ek[0] = 0x01;
    ek[1] = (uint8_t)((ek[1] & 0xf0) | 0x0d);
    assert_int_equal(wk_mlkem768_check_ek(ek), WHELK_ERR_KEX);
    assert_int_equal(wk_mlkem768_encaps(ek, m, ct, k), WHELK_ERR_KEX);
}

/* A flipped ciphertext bit yields the rejection key J(z || c), not the
 * real one, and the same wrong key every time. */
static void test_implicit_rejection(void **state)
{
    static uint8_t ek[WK_MLKEM768_EK_LEN], dk[WK_MLKEM768_DK_LEN],
        ct[WK_MLKEM768_CT_LEN];
    uint8_t seed[64] = {9}, m[32] = {7}, k[32], k1[32], k2[32];
    assert_int_equal(wk_mlkem768_keygen(seed, seed + 32, ek, dk), 0);
    assert_int_equal(wk_mlkem768_encaps(ek, m, ct, k), 0);
    ct[100] ^= 4;
    assert_int_equal(wk_mlkem768_decaps(dk, ct, k1), 0);
    assert_int_equal(wk_mlkem768_decaps(dk, ct, k2), 0);
    assert_memory_not_equal(k, k1, 32);
    assert_memory_equal(k1, k2, 32);
    /* A decapsulation key whose H(ek) was altered is refused. */
    dk[WK_MLKEM768_DK_LEN - 40] ^= 1;
    assert_int_equal(wk_mlkem768_decaps(dk, ct, k1), WHELK_ERR_KEX);
}

/* liboqs's single-vector KAT (see nist_drbg.h): keypair draws d || z in
 * one 64-byte request, encaps draws m in one 32-byte request. */
static int kat_keypair(uint8_t *ek, uint8_t *dk, nist_drbg *d)
{
    uint8_t dz[64];
    nist_drbg_bytes(d, dz, sizeof(dz));
    return wk_mlkem768_keygen(dz, dz + 32, ek, dk);
}

static int kat_encaps(uint8_t *ct, uint8_t *ss, const uint8_t *ek,
                      nist_drbg *d)
{
    uint8_t m[32];
    nist_drbg_bytes(d, m, sizeof(m));
    return wk_mlkem768_encaps(ek, m, ct, ss);
}

static int kat_decaps(uint8_t *ss, const uint8_t *ct, const uint8_t *dk)
{
    return wk_mlkem768_decaps(dk, ct, ss);
}

static void test_liboqs_kat(void **state)
{
    (void)state;
    kat_kem kem = {WK_MLKEM768_EK_LEN, WK_MLKEM768_DK_LEN, WK_MLKEM768_CT_LEN,
                   WK_MLKEM768_SS_LEN, kat_keypair, kat_encaps, kat_decaps};
    uint8_t got[32], want[32];
    hex("5352539586b6c3df58be6158a6250aeff402bd73060b0a3de68850ac074c17c3",
        want, 32);
    assert_int_equal(kat_single_sha256(&kem, got), 0);
    assert_memory_equal(got, want, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_liboqs_kat),
        cmocka_unit_test(test_modulus_check),
        cmocka_unit_test(test_implicit_rejection),
        cmocka_unit_test(test_accumulated_10000),
    };
    return cmocka_run_group_tests_name("mlkem", tests, NULL, NULL);
}
