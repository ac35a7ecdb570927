/*
 * Fixed vectors for mlkem768x25519-sha256 (lib/kex.c): both messages (as
 * SHA-256 of their exact bytes), the encoded K, the exchange hash H and
 * the six derived keys, for one exchange whose X25519 secret starts with
 * 0x00 and one where it starts with a byte >= 0x80 — the two cases where
 * implementations that pass secrets through a bignum go wrong.
 *
 * The expected values were computed independently in JavaScript with
 * @noble/post-quantum 0.7.1 (ML-KEM-768), @noble/curves (X25519) and
 * @noble/hashes (SHA-256), from the same seeds, with V_C = "SSH-2.0-c",
 * V_S = "SSH-2.0-s", I_C = "ic", I_S = "is", K_S = "ks" and the session
 * id equal to H.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "kex.h"

typedef struct vec {
    uint8_t seed;      /* dz = seed, client X25519 = seed+1, m = seed+2,
                          server X25519 = seed+3 (all bytes) */
    unsigned t;        /* the first two bytes of the client X25519 key */
    const char *qc, *qs, *kenc, *h, *keys[6];
} vec;

static const vec vectors[] = {
    {0x11, 520,
     "73ae619e464880bfe89ed3658545dcb9e3c702ba033bf95b9749d7ce7305754d",
     "1a0b20cab5d728a25d9216244bba1017ff03400db65bd802ba391d188a8c5791",
     "00000020c4b1c3de74ee461f00127f00fc80ec5fd1b0adfbe1e29c040df5edda749562c8",
     "47560fa7fb789f883df4ebd83f4156b6f8861106db93b974a9427ed290342f37",
     {"8f9fab848117a61276d1975df6975e742540cfcd4501fc8d043e2ad71c9e6b3f",
      "f14a0513c04778004d30b48d9517dfabecf38013d390ac498f3ac58a77d7c029",
      "f95236cc86d628d07fe4a02f7e497f4cb10fa5b669880484a046d388308ad657",
      "3eb0a6f08d1d37d9d0c83c2f32b2e68525177ede81d030088e44b8838039dde0",
      "ee9656a6eaf6ec224fa33546c02a919452345d2a5a020c9bf964eb6fb90a0d63",
      "3d09f4bc6217cfb67193dd00099844443cf41dbb1f12c71bd357802386e20e74"}},
    {0x21, 0,
     "5ff0e01d136260a91b88d5e465316876a85d29853b2b5241282070f8b3245e05",
     "aa33c094c39915c99f9cbdc51933ea9f2218270f8ef1db96358e780d8619e2f5",
     "000000203e49026cf70debf687e6fc787d69a4ee1cc7a8c4f725e85ab15d98eef3e641a2",
     "63e3ba4ff2fb10abc0de2a00264f685581e92598b432db2c00e1ece840bd0edc",
     {"ea8aac0423a4edc1b2e8d90b06859e516f4b3bbc2a43aacfcc5be6213e04a231",
      "badea7c0109311aeb3a8d35225636d6c80fd9392402fbf81577b1511e88da25e",
      "81c85f14ea154ccb9fd23bf5463a92a89bef64c61b380a6b43b76ac98cd6a57b",
      "2d5d4e6900d92961214bf33f7b42db657f15ea16265f9cd457f6376f9ab4bb3e",
      "e8c475e5937deb00402060db3493644f5aa41460d6f4c2433aa62c8fe937c25f",
      "b8bb1a483df16ac2b26d067607628ad453d86796e31625406ee2f39117052ea8"}},
};

/* Hands out the pinned random requests in the order the code makes them:
 * client (d||z, then X25519), then server (m, then X25519). */
static const vec *cur;
static int step;
static int seq_rand(uint8_t *out, size_t len, void *user)
{
    uint8_t fill = (uint8_t)(cur->seed + step);
    memset(out, fill, len);
    if (step == 1) {
        out[0] = (uint8_t)(cur->t & 0xff);
        out[1] = (uint8_t)(cur->t >> 8);
    }
    step++;
    return 0;
}

static void sha256_hex(const uint8_t *p, size_t n, char out[65])
{
    uint8_t d[32];
    EVP_Digest(p, n, d, NULL, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

static void test_vectors(void **state)
{
    const wk_kex_alg *alg = wk_kex_find("mlkem768x25519-sha256", 21);
    assert_non_null(alg);
    for (size_t v = 0; v < 2; v++) {
        cur = &vectors[v];
        step = 0;
        wk_kex_client *st;
        wk_buf qc, qs, k_srv, k_cli;
        wk_buf_init(&qc, 4096);
        wk_buf_init(&qs, 4096);
        wk_buf_init(&k_srv, 256);
        wk_buf_init(&k_cli, 256);
        assert_int_equal(wk_kex_client_start(alg, seq_rand, NULL, &st, &qc),
                         0);
        assert_int_equal(wk_buf_used(&qc), 1216);
        assert_int_equal(wk_kex_server(alg, seq_rand, NULL, wk_buf_data(&qc),
                                       wk_buf_used(&qc), &qs, &k_srv),
                         0);
        assert_int_equal(wk_buf_used(&qs), 1120);
        assert_int_equal(wk_kex_client_finish(st, wk_buf_data(&qs),
                                              wk_buf_used(&qs), &k_cli),
                         0);
        char got[512];
        sha256_hex(wk_buf_data(&qc), wk_buf_used(&qc), got);
        assert_string_equal(got, cur->qc);
        sha256_hex(wk_buf_data(&qs), wk_buf_used(&qs), got);
        assert_string_equal(got, cur->qs);
        to_hex(wk_buf_data(&k_srv), wk_buf_used(&k_srv), got);
        assert_string_equal(got, cur->kenc);
        assert_memory_equal(wk_buf_data(&k_srv), wk_buf_data(&k_cli), 36);
        uint8_t h[64], key[32];
        size_t hlen;
        assert_int_equal(wk_kex_hash(alg, "SSH-2.0-c", "SSH-2.0-s",
                                     (const uint8_t *)"ic", 2,
                                     (const uint8_t *)"is", 2,
                                     (const uint8_t *)"ks", 2,
                                     wk_buf_data(&qc), wk_buf_used(&qc),
                                     wk_buf_data(&qs), wk_buf_used(&qs),
                                     wk_buf_data(&k_srv), wk_buf_used(&k_srv),
                                     h, &hlen),
                         0);
        assert_int_equal(hlen, 32);
        to_hex(h, 32, got);
        assert_string_equal(got, cur->h);
        for (int k = 0; k < 6; k++) {
            assert_int_equal(wk_kex_derive(alg, wk_buf_data(&k_srv),
                                           wk_buf_used(&k_srv), h, 32,
                                           (char)('A' + k), h, 32, key, 32),
                             0);
            to_hex(key, 32, got);
            assert_string_equal(got, cur->keys[k]);
        }
        wk_kex_client_free(st);
        wk_buf_free(&qc);
        wk_buf_free(&qs);
        wk_buf_free(&k_srv);
        wk_buf_free(&k_cli);
    }
}

/* Wrong lengths and a bad encapsulation key end the exchange. */
static void test_rejects(void **state)
{
    const wk_kex_alg *alg = wk_kex_find("mlkem768x25519-sha256", 21);
    static uint8_t value[1300];
    wk_buf qs, k;
    wk_buf_init(&qs, 4096);
    wk_buf_init(&k, 256);
    cur = &vectors[1];
    for (size_t len = 1215; len <= 1217; len += 2) {
        step = 0;
        wk_buf_reset(&qs);
        assert_int_equal(wk_kex_server(alg, seq_rand, NULL, value, len, &qs,
                                       &k),
                         WHELK_ERR_KEX);
    }
    memset(value, 0xff, 1216); /* coefficients of 4095 >= q */
    step = 0;
    wk_buf_reset(&qs);
    assert_int_equal(wk_kex_server(alg, seq_rand, NULL, value, 1216, &qs, &k),
                     WHELK_ERR_KEX);
    /* A valid key but an all-zero X25519 public value. */
    wk_kex_client *st;
    wk_buf qc;
    wk_buf_init(&qc, 4096);
    step = 0;
    assert_int_equal(wk_kex_client_start(alg, seq_rand, NULL, &st, &qc), 0);
    memset(wk_buf_data(&qc) + 1184, 0, 32);
    wk_buf_reset(&qs);
    assert_int_equal(wk_kex_server(alg, seq_rand, NULL, wk_buf_data(&qc),
                                   1216, &qs, &k),
                     WHELK_ERR_KEX);
    assert_int_equal(wk_kex_client_finish(st, value, 1119, &k), WHELK_ERR_KEX);
    wk_kex_client_free(st);
    wk_buf_free(&qc);
    wk_buf_free(&qs);
    wk_buf_free(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests_name("hybrid", tests, NULL, NULL);
}
