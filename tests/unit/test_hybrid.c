/*
 * Fixed vectors for the hybrids mlkem768x25519-sha256 and
 * sntrup761x25519-sha512[@openssh.com] (lib/kex.c): both messages (as
 * SHA-256 of their exact bytes), the encoded K, the exchange hash H and
 * the six derived keys, for one exchange whose X25519 secret starts with
 * 0x00 and one where it starts with a byte >= 0x80 — the two cases where
 * implementations that pass secrets through a bignum go wrong.
 *
 * The expected values were computed independently in JavaScript by
 * tests/node/hybrid_vectors.mjs: ML-KEM-768 from @noble/post-quantum
 * 0.7.1, sntrup761 from @oqs/liboqs-js 0.15.1, X25519 and the hashes from
 * node:crypto, from the same seeds, with V_C = "SSH-2.0-c",
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
    uint8_t seed;      /* mlkem: dz = seed, client X25519 = seed+1,
                          m = seed+2, server X25519 = seed+3 (all bytes);
                          sntrup: the stream key's fill byte */
    unsigned t;        /* mlkem: the first two bytes of the client X25519
                          key; sntrup: of the client stream's key */
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

/* Runs one exchange engine to engine with |rand| and compares both
 * messages, K (both sides), H and the six keys with |want|. */
static void check_vector(const char *kex, const vec *want, size_t qc_len,
                         size_t qs_len, size_t hlen, whelk_rand_cb rand,
                         void (*side)(int server))
{
    const wk_kex_alg *alg = wk_kex_find(kex, strlen(kex));
    assert_non_null(alg);
    wk_kex_client *st;
    wk_buf qc, qs, k_srv, k_cli;
    wk_buf_init(&qc, 4096);
    wk_buf_init(&qs, 4096);
    wk_buf_init(&k_srv, 256);
    wk_buf_init(&k_cli, 256);
    side(0);
    assert_int_equal(wk_kex_client_start(alg, rand, NULL, &st, &qc), 0);
    assert_int_equal(wk_buf_used(&qc), qc_len);
    side(1);
    assert_int_equal(wk_kex_server(alg, rand, NULL, wk_buf_data(&qc),
                                   wk_buf_used(&qc), &qs, &k_srv),
                     0);
    assert_int_equal(wk_buf_used(&qs), qs_len);
    assert_int_equal(wk_kex_client_finish(st, wk_buf_data(&qs),
                                          wk_buf_used(&qs), &k_cli),
                     0);
    char got[512];
    sha256_hex(wk_buf_data(&qc), wk_buf_used(&qc), got);
    assert_string_equal(got, want->qc);
    sha256_hex(wk_buf_data(&qs), wk_buf_used(&qs), got);
    assert_string_equal(got, want->qs);
    assert_int_equal(wk_buf_used(&k_srv), 4 + hlen);
    to_hex(wk_buf_data(&k_srv), wk_buf_used(&k_srv), got);
    assert_string_equal(got, want->kenc);
    assert_memory_equal(wk_buf_data(&k_srv), wk_buf_data(&k_cli), 4 + hlen);
    uint8_t h[64], key[64];
    size_t got_hlen;
    assert_int_equal(wk_kex_hash(alg, "SSH-2.0-c", "SSH-2.0-s",
                                 (const uint8_t *)"ic", 2,
                                 (const uint8_t *)"is", 2,
                                 (const uint8_t *)"ks", 2, wk_buf_data(&qc),
                                 wk_buf_used(&qc), wk_buf_data(&qs),
                                 wk_buf_used(&qs), wk_buf_data(&k_srv),
                                 wk_buf_used(&k_srv), h, &got_hlen),
                     0);
    assert_int_equal(got_hlen, hlen);
    to_hex(h, hlen, got);
    assert_string_equal(got, want->h);
    for (int k = 0; k < 6; k++) {
        assert_int_equal(wk_kex_derive(alg, wk_buf_data(&k_srv),
                                       wk_buf_used(&k_srv), h, hlen,
                                       (char)('A' + k), h, hlen, key, hlen),
                         0);
        to_hex(key, hlen, got);
        assert_string_equal(got, want->keys[k]);
    }
    wk_kex_client_free(st);
    wk_buf_free(&qc);
    wk_buf_free(&qs);
    wk_buf_free(&k_srv);
    wk_buf_free(&k_cli);
}

static void seq_side(int server)
{
    (void)server; /* one sequence runs through both sides */
}

static void test_vectors(void **state)
{
    for (size_t v = 0; v < 2; v++) {
        cur = &vectors[v];
        step = 0;
        check_vector("mlkem768x25519-sha256", cur, 1216, 1120, 32, seq_rand,
                     seq_side);
    }
}

/* sntrup761x25519-sha512 vectors, computed with @oqs/liboqs-js 0.15.1
 * (sntrup761, fed the same randomness) and node:crypto (X25519, SHA-512). The randomness is an AES-256-CTR
 * keystream with a zero IV per side, keyed by 32 bytes
 * [t & 255, t >> 8, fill, ...] for the client (KEM key generation, then
 * X25519) and fill + 1 for the server (encapsulation, then X25519). */
static const vec sntrup_vectors[] = {
    {0x31, 14,
     "1a758e5a7d5c9eb523408d0d5617c5af2c5e532fe5a8092ff0eb6e2c4c008653",
     "a21a1fa3b2d34426da80ad1e364dfd8b354089e1b8099282d365504ede11d1ce",
     "000000405edf8a5114610515b8d5ba0d9fceea5bf4073fe9312724015dc6c3ac"
     "2a3221f7f8f3f59fdd7ad1437eb1c10d33ee6ca0c748f618d127356c663c7167"
     "484aa731",
     "d696b46ed72cc15db90ad7fc5e396562b6b42dd7c3c455b8a55b2c275ca55ff2"
     "c05fedd1f210fffada50db4f00aeb317e2fe1f131e470fad416a1257c7140ec5",
     {"3fb90c88c696f78961fe7d837419d2090b08fb0d1ec44b1bd35d7a8d55d97fc3"
      "66778f311b81c1c5c7ba111fea9e8a9eda02d8b8f57dab41d93e6bf9feeb36e5",
      "9e8be17d357c24b49b2cf5ad56803c76479406ce9a491f80904d2c1a54dcff1e"
      "255fb02d72100d17f2fe41fd05af6838191c6229e790e3239ee1fdde8f2434ed",
      "3f13bddedcd49ffef9e1b69c89084fdd9ad91499a4695836de5a945ab1726b20"
      "2a821914c23e5bb88d7b496f8f60a927275dce155e8eb7f6a52c1f69094909ab",
      "aaac00525a4ae04d5d7b178e51b3919db9db3a3bf2831e0cfa87bcdedd70c3e5"
      "78b3cfd8ba2360f08e54b47776b0671f543dd06c2788e42bffbe7302d7227ab0",
      "748fad763f39a5560bfe1c102fb8b6efdea6cab90923b24a3d20027e75cd7d55"
      "33d6fa1663cc056c6d7a3ca7a5f548c26fd7f3f06b9cf91cfd571c58c4dd18c0",
      "f7e987a03b9131cfeba9693419337a3aba96eab8f5a11b01954a30d5a6ec8313"
      "a08b6d4ae3de2fb68d9e72af2bbace29be14cd7344722ab1240fa9c543540b12"}},
    {0x41, 0,
     "fabbdb173c9bb8651fc91e7ecdf6ccbe7bab416fa48a675180f71c805194fc1d",
     "2c615116a1dbc9ada605356fef9fbcf2ed358b2031bce649207af1dde1af879f",
     "000000403a8e7fcd1ade98cce7081db04de44007eb7b5617133d08e94f278abc"
     "824d394c22083685235dde232b4c0812488c25e031dc8278f37a32d087d26142"
     "236de531",
     "5c4261de1426f8ba9afd39c3b9e6524ae9081f78ab9fd6b47d732f4ad53855a5"
     "26c416f2a8c5d639a655d03bd9ee57d5b39b40ef01750852bab754474f28f838",
     {"fc2f6694699b809089328fdd746bf521c39af1100b66b0eb67d6988025dfb0ec"
      "b14542b7838fac6eadbf2ab163ab775a44629cb9e32b65d4af2e5e203837b1ca",
      "e74b05373b399606beb68da79f2de9a3e0d3965a0a78aac8dfad751c1c96d006"
      "0de41735bc8e4caed839341eb678785b173bdf4ae5b562fe7987f9e93cec2820",
      "2df326d7eddd436a77afa910e5d54246cf28da0d7360c9cf6afcd03d7abfcf55"
      "9b13c5da421eea1ccd4f735947f65e75cf3749d7ecc25f00ba4680591bfb03e7",
      "dcb8fcde7709cf348feb49fa8ab04b9f30bebe863a5062069e34f14496500e83"
      "5c34ba0822b04b5d957f004c811d19357f4dfc1d430a1bc7abe6fc131f0b3599",
      "a1b1d3f30ed24b48f7d3d050b5e60b9821255c1c56c05f8578478d240ff3b718"
      "99178a36514f492a836a2fbc58ba8f1e5a37d7bdecc3bdb95a9e31ecd0dd173c",
      "51c0241772d3d3799ec62543ba29ac02e5bccffd2dd2283b777ba8678b97caaf"
      "c65baa76e31ba9a3488e1c517cf709d44b1f3f6fb7050e5dee4b4f3a15d7f700"}},
};

static EVP_CIPHER_CTX *streams[2];
static int stream_now;

static void stream_side(int server)
{
    stream_now = server;
}

static void streams_open(const vec *v)
{
    for (int side = 0; side < 2; side++) {
        uint8_t key[32], iv[16] = {0};
        memset(key, v->seed + side, sizeof(key));
        key[0] = (uint8_t)(v->t & 0xff);
        key[1] = (uint8_t)(v->t >> 8);
        streams[side] = EVP_CIPHER_CTX_new();
        assert_true(EVP_EncryptInit_ex(streams[side], EVP_aes_256_ctr(), NULL,
                                       key, iv));
    }
}

static int stream_rand(uint8_t *out, size_t len, void *user)
{
    (void)user;
    int n = 0;
    memset(out, 0, len);
    return EVP_EncryptUpdate(streams[stream_now], out, &n, out, (int)len) &&
                   (size_t)n == len
               ? 0
               : WHELK_ERR_CRYPTO;
}

static void test_sntrup_vectors(void **state)
{
    const char *names[] = {"sntrup761x25519-sha512",
                           "sntrup761x25519-sha512@openssh.com"};
    for (size_t n = 0; n < 2; n++) {
        for (size_t v = 0; v < 2; v++) {
            streams_open(&sntrup_vectors[v]);
            check_vector(names[n], &sntrup_vectors[v], 1190, 1071, 64,
                         stream_rand, stream_side);
            EVP_CIPHER_CTX_free(streams[0]);
            EVP_CIPHER_CTX_free(streams[1]);
        }
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

/* The same rejections for sntrup761x25519-sha512: every byte string of
 * the right length is a valid sntrup761 key, so only lengths and the
 * X25519 half can be wrong. */
static void test_sntrup_rejects(void **state)
{
    const wk_kex_alg *alg = wk_kex_find("sntrup761x25519-sha512", 22);
    static uint8_t value[1300];
    wk_buf qs, k, qc;
    wk_buf_init(&qs, 4096);
    wk_buf_init(&k, 256);
    wk_buf_init(&qc, 4096);
    streams_open(&sntrup_vectors[0]);
    stream_side(0);
    for (size_t len = 1189; len <= 1191; len += 2) {
        wk_buf_reset(&qs);
        assert_int_equal(wk_kex_server(alg, stream_rand, NULL, value, len,
                                       &qs, &k),
                         WHELK_ERR_KEX);
    }
    wk_kex_client *st;
    assert_int_equal(wk_kex_client_start(alg, stream_rand, NULL, &st, &qc), 0);
    memset(wk_buf_data(&qc) + 1158, 0, 32);
    wk_buf_reset(&qs);
    assert_int_equal(wk_kex_server(alg, stream_rand, NULL, wk_buf_data(&qc),
                                   1190, &qs, &k),
                     WHELK_ERR_KEX);
    assert_int_equal(wk_kex_client_finish(st, value, 1070, &k), WHELK_ERR_KEX);
    assert_int_equal(wk_kex_client_finish(st, value, 1072, &k), WHELK_ERR_KEX);
    memset(value, 0, 1071); /* an all-zero server X25519 value */
    assert_int_equal(wk_kex_client_finish(st, value, 1071, &k), WHELK_ERR_KEX);
    wk_kex_client_free(st);
    EVP_CIPHER_CTX_free(streams[0]);
    EVP_CIPHER_CTX_free(streams[1]);
    wk_buf_free(&qc);
    wk_buf_free(&qs);
    wk_buf_free(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_sntrup_vectors),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_sntrup_rejects),
    };
    return cmocka_run_group_tests_name("hybrid", tests, NULL, NULL);
}
