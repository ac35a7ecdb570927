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
/* Sets coefficient |pos| (of the 768 in ek's three polynomials) to |v|. */
static void set_coefficient(uint8_t *ek, unsigned pos, uint16_t v)
{
    uint8_t *p = ek + (pos / 2) * 3;
    if (pos % 2 == 0) {
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)((p[1] & 0xf0) | (v >> 8));
    } else {
        p[1] = (uint8_t)((p[1] & 0x0f) | ((v & 0xf) << 4));
        p[2] = (uint8_t)(v >> 4);
    }
}

/* C2SP/CCTV's modulus sweep, regenerated (the published file is run by
 * tests/tools/cctv_mlkem.c): from a valid key, first coefficient 0 and
 * 255 of each polynomial set to q and to 4095 (12 keys), then one key
 * per position 0..767 with the value cycling through q..4095. Every one
 * of the 780 must be refused, and the untouched key accepted. */
static void test_modulus_sweep(void **state)
{
    static uint8_t ek[WK_MLKEM768_EK_LEN], dk[WK_MLKEM768_DK_LEN],
        bad[WK_MLKEM768_EK_LEN], ct[WK_MLKEM768_CT_LEN];
    uint8_t seed[64] = {0x5a}, m[32] = {0}, k[32];
    assert_int_equal(wk_mlkem768_keygen(seed, seed + 32, ek, dk), 0);
    assert_int_equal(wk_mlkem768_encaps(ek, m, ct, k), 0);
    unsigned tried = 0, refused = 0;
    for (unsigned poly = 0; poly < 3; poly++) {
        const uint16_t values[2] = {3329, 4095};
        const unsigned ends[2] = {0, 255};
        for (int v = 0; v < 2; v++)
            for (int e = 0; e < 2; e++) {
                memcpy(bad, ek, sizeof(bad));
                set_coefficient(bad, poly * 256 + ends[e], values[v]);
                tried++;
                refused += wk_mlkem768_encaps(bad, m, ct, k) == WHELK_ERR_KEX;
            }
    }
    uint16_t value = 3329;
    for (unsigned pos = 0; pos < 768; pos++) {
        memcpy(bad, ek, sizeof(bad));
        set_coefficient(bad, pos, value);
        value = value == 4095 ? 3329 : (uint16_t)(value + 1);
        tried++;
        refused += wk_mlkem768_check_ek(bad) == WHELK_ERR_KEX &&
                   wk_mlkem768_encaps(bad, m, ct, k) == WHELK_ERR_KEX;
    }
    assert_int_equal(tried, 780);
    assert_int_equal(refused, 780);
}

/* strcmp-style vectors, regenerated the way CCTV describes them: a valid
 * ciphertext whose first byte is 0, with its last byte changed. The change
 * is too small to alter the decrypted message, so the re-encryption is the
 * original ciphertext; a comparison that stops at the first zero byte
 * would call them equal and return the real key. Decaps must return
 * J(z || c) instead, computed here with SHAKE-256. */
static void test_strcmp_style(void **state)
{
    static uint8_t ek[WK_MLKEM768_EK_LEN], dk[WK_MLKEM768_DK_LEN],
        ct[WK_MLKEM768_CT_LEN];
    uint8_t seed[64] = {0x77}, m[32] = {0}, k[32], got[32], want[32];
    assert_int_equal(wk_mlkem768_keygen(seed, seed + 32, ek, dk), 0);
    int found = 0;
    for (unsigned t = 0; t < 4096 && found < 2; t++) {
        m[0] = (uint8_t)t;
        m[1] = (uint8_t)(t >> 8);
        assert_int_equal(wk_mlkem768_encaps(ek, m, ct, k), 0);
        if (ct[0] != 0) continue;
        found++;
        ct[WK_MLKEM768_CT_LEN - 1] ^= 1;
        assert_int_equal(wk_mlkem768_decaps(dk, ct, got), 0);
        EVP_MD_CTX *j = EVP_MD_CTX_new();
        assert_true(EVP_DigestInit_ex(j, EVP_shake256(), NULL));
        EVP_DigestUpdate(j, dk + WK_MLKEM768_DK_LEN - 32, 32); /* z */
        EVP_DigestUpdate(j, ct, sizeof(ct));
        assert_true(EVP_DigestFinalXOF(j, want, 32));
        EVP_MD_CTX_free(j);
        assert_memory_equal(got, want, 32);
        assert_memory_not_equal(got, k, 32);
    }
    assert_int_equal(found, 2);
}

/* The wrappers with fresh randomness (RAND_priv_bytes when no callback):
 * two key pairs differ, and encapsulation round-trips. */
static void test_random_wrappers(void **state)
{
    static uint8_t ek[WK_MLKEM768_EK_LEN], dk[WK_MLKEM768_DK_LEN],
        ek2[WK_MLKEM768_EK_LEN], dk2[WK_MLKEM768_DK_LEN],
        ct[WK_MLKEM768_CT_LEN], ct2[WK_MLKEM768_CT_LEN];
    uint8_t k[32], k2[32], k3[32];
    assert_int_equal(wk_mlkem768_keygen_rand(ek, dk, NULL, NULL), 0);
    assert_int_equal(wk_mlkem768_keygen_rand(ek2, dk2, NULL, NULL), 0);
    assert_memory_not_equal(ek, ek2, 64);
    assert_int_equal(wk_mlkem768_encaps_rand(ek, ct, k, NULL, NULL), 0);
    assert_int_equal(wk_mlkem768_encaps_rand(ek, ct2, k3, NULL, NULL), 0);
    assert_memory_not_equal(ct, ct2, 64);
    assert_int_equal(wk_mlkem768_decaps(dk, ct, k2), 0);
    assert_memory_equal(k, k2, 32);
}

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
        cmocka_unit_test(test_modulus_sweep),
        cmocka_unit_test(test_strcmp_style),
        cmocka_unit_test(test_implicit_rejection),
        cmocka_unit_test(test_random_wrappers),
        cmocka_unit_test(test_accumulated_10000),
    };
    return cmocka_run_group_tests_name("mlkem", tests, NULL, NULL);
}
