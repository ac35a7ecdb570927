/*
 * Unit tests of lib/buf.c, lib/cipher.c, lib/kex.c and lib/key.c:
 * wire types, the packet codec for every cipher and MAC, known answers
 * (RFC 7748 X25519, an OpenSSH chacha20-poly1305 packet, RFC 4253 key
 * derivation), and keys.
 *
 * Expected bytes that are not from an RFC were computed independently:
 * the chacha20-poly1305@openssh.com packet with a pure-Python ChaCha20
 * and Poly1305 written from RFC 8439 and OpenSSH's
 * PROTOCOL.chacha20poly1305 (no OpenSSL involved), the key derivation
 * with Python's hashlib.
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

#include "buf.h"
#include "cipher.h"
#include "kex.h"
#include "key.h"

static void unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static int const_rand(uint8_t *out, size_t len, void *user)
{
    memset(out, user ? *(uint8_t *)user : 0xa5, len);
    return 0;
}

/* ------------------------------------------------------------------------
 * buf
 */

static void test_wire_roundtrip(void **state)
{
    wk_buf b;
    wk_buf_init(&b, 4096);
    static const uint8_t high[] = {0x80, 1};
    static const uint8_t zeros[] = {0, 0, 5};
    assert_int_equal(wk_buf_put_u8(&b, 7), 0);
    assert_int_equal(wk_buf_put_bool(&b, 42), 0);
    assert_int_equal(wk_buf_put_u32(&b, 0xdeadbeef), 0);
    assert_int_equal(wk_buf_put_u64(&b, 0x0102030405060708ull), 0);
    assert_int_equal(wk_buf_put_cstring(&b, "name,list"), 0);
    assert_int_equal(wk_buf_put_mpint(&b, high, 2), 0);  /* 00 80 01 */
    assert_int_equal(wk_buf_put_mpint(&b, zeros, 3), 0); /* 05 */
    assert_int_equal(wk_buf_put_mpint(&b, zeros, 2), 0); /* empty */
    wk_reader r;
    wk_reader_init(&r, wk_buf_data(&b), wk_buf_used(&b));
    uint8_t u8;
    int bo;
    uint32_t u32;
    uint64_t u64;
    char s[16];
    const uint8_t *m;
    size_t ml;
    assert_int_equal(wk_get_u8(&r, &u8), 0);
    assert_int_equal(u8, 7);
    assert_int_equal(wk_get_bool(&r, &bo), 0);
    assert_int_equal(bo, 1);
    assert_int_equal(wk_get_u32(&r, &u32), 0);
    assert_int_equal(u32, 0xdeadbeef);
    assert_int_equal(wk_get_u64(&r, &u64), 0);
    assert_true(u64 == 0x0102030405060708ull);
    assert_int_equal(wk_get_cstring(&r, s, sizeof(s)), 0);
    assert_string_equal(s, "name,list");
    assert_int_equal(wk_get_mpint(&r, &m, &ml, 64), 0);
    assert_int_equal(ml, 2);
    assert_memory_equal(m, high, 2);
    assert_int_equal(wk_get_mpint(&r, &m, &ml, 64), 0);
    assert_int_equal(ml, 1);
    assert_int_equal(m[0], 5);
    assert_int_equal(wk_get_mpint(&r, &m, &ml, 64), 0);
    assert_int_equal(ml, 0);
    assert_int_equal(wk_reader_end(&r), 0);
    assert_int_equal(wk_get_u8(&r, &u8), WK_ERR_TRUNCATED);
    assert_true(wk_namelist_has((const uint8_t *)"a,bc,d", 6, "bc"));
    assert_false(wk_namelist_has((const uint8_t *)"a,bc,d", 6, "b"));
    wk_buf_free(&b);
}

static void test_wire_rejects(void **state)
{
    wk_reader r;
    const uint8_t *p;
    size_t n;
    char s[4];
    /* A string claiming more bytes than there are. */
    static const uint8_t trunc[] = {0, 0, 0, 9, 'a', 'b'};
    wk_reader_init(&r, trunc, sizeof(trunc));
    assert_int_equal(wk_get_string(&r, &p, &n, 100), WK_ERR_TRUNCATED);
    assert_int_equal(r.pos, 0);
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0};
    wk_reader_init(&r, huge, sizeof(huge));
    assert_int_equal(wk_get_string(&r, &p, &n, 1 << 20), WHELK_ERR_TOOBIG);
    /* A cstring too long for its buffer, and one with a NUL. */
    static const uint8_t long4[] = {0, 0, 0, 4, 'a', 'b', 'c', 'd'};
    wk_reader_init(&r, long4, sizeof(long4));
    assert_int_equal(wk_get_cstring(&r, s, sizeof(s)), WHELK_ERR_TOOBIG);
    static const uint8_t nul[] = {0, 0, 0, 2, 'a', 0};
    wk_reader_init(&r, nul, sizeof(nul));
    assert_int_equal(wk_get_cstring(&r, s, sizeof(s)), WHELK_ERR_PROTO);
    /* Negative and non-minimal mpints. */
    static const uint8_t neg[] = {0, 0, 0, 1, 0x80};
    wk_reader_init(&r, neg, sizeof(neg));
    assert_int_equal(wk_get_mpint(&r, &p, &n, 8), WHELK_ERR_PROTO);
    static const uint8_t pad[] = {0, 0, 0, 2, 0, 1};
    wk_reader_init(&r, pad, sizeof(pad));
    assert_int_equal(wk_get_mpint(&r, &p, &n, 8), WHELK_ERR_PROTO);
    /* A buffer never grows past its bound. */
    wk_buf b;
    wk_buf_init(&b, 10);
    assert_int_equal(wk_buf_put(&b, "0123456789", 10), 0);
    assert_int_equal(wk_buf_put_u8(&b, 1), WHELK_ERR_TOOBIG);
    wk_buf_consume(&b, 4);
    assert_int_equal(wk_buf_put(&b, "abcd", 4), 0);
    assert_memory_equal(wk_buf_data(&b), "456789abcd", 10);
    wk_buf_free(&b);
}

/* ------------------------------------------------------------------------
 * cipher
 */

static const char *const ciphers[] = {
    "chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr"};
static const char *const macs[] = {
    "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256", "hmac-sha2-512"};

static void keyed_pair(const char *c, const char *m, wk_pkt_dir **tx,
                       wk_pkt_dir **rx)
{
    uint8_t key[64], iv[32], mk[64];
    for (int i = 0; i < 64; i++) key[i] = (uint8_t)i, mk[i] = (uint8_t)~i;
    for (int i = 0; i < 32; i++) iv[i] = (uint8_t)(i * 3);
    const wk_cipher_alg *ca = wk_cipher_find(c, strlen(c));
    const wk_mac_alg *ma = wk_mac_find(m, strlen(m));
    *tx = wk_pkt_dir_new();
    *rx = wk_pkt_dir_new();
    assert_int_equal(wk_pkt_dir_set_keys(*tx, 1, ca, ma, key, iv, mk), 0);
    assert_int_equal(wk_pkt_dir_set_keys(*rx, 0, ca, ma, key, iv, mk), 0);
}

/* whelk_escape: the printable copy of a peer string for log lines. */
static void test_escape(void **state)
{
    char out[64];
    const char in[] = "a\nb\rc\033d\\e\x7f\xc3\xa9";
    size_t n = whelk_escape(out, sizeof(out), in, sizeof(in) - 1);
    assert_string_equal(out, "a\\x0ab\\x0dc\\x1bd\\x5ce\\x7f\\xc3\\xa9");
    assert_int_equal(n, strlen(out));
    /* A NUL inside the string is escaped too, not an early end. */
    whelk_escape(out, sizeof(out), "x\0y", 3);
    assert_string_equal(out, "x\\x00y");
    /* Cut short before an escape that does not fit, never inside it. */
    n = whelk_escape(out, 6, "ab\ncd", 5);
    assert_string_equal(out, "ab");
    assert_int_equal(n, 2);
    n = whelk_escape(out, 1, "ab", 2);
    assert_string_equal(out, "");
    assert_int_equal(whelk_escape(out, 0, "ab", 2), 0);
}

static void test_codec_every_pair(void **state)
{
    static const size_t sizes[] = {0, 1, 15, 16, 17, 32768, 200 * 1024};
    static uint8_t payload[200 * 1024];
    for (size_t i = 0; i < sizeof(payload); i++) payload[i] = (uint8_t)i;
    for (size_t c = 0; c < 6; c++) {
        for (size_t m = 0; m < 4; m++) {
            wk_pkt_dir *tx, *rx;
            keyed_pair(ciphers[c], macs[m], &tx, &rx);
            wk_buf out;
            wk_buf_init(&out, 1 << 20);
            for (size_t k = 0; k < sizeof(sizes) / sizeof(*sizes); k++) {
                size_t start = wk_pkt_begin(&out);
                wk_buf_put(&out, payload, sizes[k]);
                assert_int_equal(wk_pkt_end(tx, &out, start, const_rand,
                                            NULL),
                                 0);
                /* Byte by byte: AGAIN until the last byte. */
                size_t total = wk_buf_used(&out), used, pn;
                uint8_t *pl;
                if (sizes[k] == 17) {
                    for (size_t n = 1; n < total; n++)
                        assert_int_equal(wk_pkt_open(rx, wk_buf_data(&out),
                                                     n, &used, &pl, &pn),
                                         WK_ERR_AGAIN);
                }
                assert_int_equal(wk_pkt_open(rx, wk_buf_data(&out), total,
                                             &used, &pl, &pn),
                                 0);
                assert_int_equal(used, total);
                assert_int_equal(pn, sizes[k]);
                assert_memory_equal(pl, payload, sizes[k]);
                wk_buf_reset(&out);
            }
            /* A flipped bit in the body or the tag is refused. */
            size_t start = wk_pkt_begin(&out);
            wk_buf_put(&out, payload, 100);
            wk_pkt_end(tx, &out, start, const_rand, NULL);
            size_t total = wk_buf_used(&out), used, pn;
            uint8_t *pl;
            uint8_t *copy = malloc(total);
            for (size_t at = 8; at < total; at += 29) {
                wk_pkt_dir *t2, *r2;
                keyed_pair(ciphers[c], macs[m], &t2, &r2);
                wk_buf o2;
                wk_buf_init(&o2, 4096);
                size_t s2 = wk_pkt_begin(&o2);
                wk_buf_put(&o2, payload, 100);
                wk_pkt_end(t2, &o2, s2, const_rand, NULL);
                memcpy(copy, wk_buf_data(&o2), total);
                copy[at] ^= 0x01;
                int rc = wk_pkt_open(r2, copy, total, &used, &pl, &pn);
                assert_int_equal(rc, WHELK_ERR_MAC);
                wk_buf_free(&o2);
                wk_pkt_dir_free(t2);
                wk_pkt_dir_free(r2);
            }
            free(copy);
            wk_buf_free(&out);
            wk_pkt_dir_free(tx);
            wk_pkt_dir_free(rx);
        }
    }
}

/* wk_pkt_end_from (a payload sealed straight from the caller's bytes)
 * writes exactly what wk_pkt_end writes for the same payload copied in
 * first, for every cipher and MAC, with holes at odd offsets and of odd
 * sizes (the partial blocks the streaming updates carry over). */
static void test_seal_from_hole_matches_in_place(void **state)
{
    static const size_t holes[] = {5, 9, 13, 14};
    static const size_t sizes[] = {0, 1, 15, 16, 31, 32768, 100000};
    static uint8_t payload[100000];
    for (size_t i = 0; i < sizeof(payload); i++) payload[i] = (uint8_t)(i * 7);
    for (size_t c = 0; c < 6; c++) {
        for (size_t m = 0; m < 4; m++) {
            wk_pkt_dir *t1, *r1, *t2, *r2;
            keyed_pair(ciphers[c], macs[m], &t1, &r1);
            keyed_pair(ciphers[c], macs[m], &t2, &r2);
            wk_buf a, b;
            wk_buf_init(&a, 1 << 20);
            wk_buf_init(&b, 1 << 20);
            for (size_t h = 0; h < 4; h++) {
                for (size_t k = 0; k < 7; k++) {
                    size_t head = holes[h] - 5, n = sizes[k];
                    /* |a|: the data written in, sealed in place. */
                    size_t sa = wk_pkt_begin(&a);
                    wk_buf_put(&a, payload + 50000, head);
                    wk_buf_put(&a, payload, n);
                    assert_int_equal(wk_pkt_end(t1, &a, sa, const_rand, NULL),
                                     0);
                    /* |b|: the data left as a hole, sealed from
                     * |payload|. */
                    size_t sb = wk_pkt_begin(&b);
                    wk_buf_put(&b, payload + 50000, head);
                    uint8_t *hole = wk_buf_extend(&b, n);
                    assert_non_null(hole);
                    memset(hole, 0xAA, n);
                    assert_int_equal(wk_pkt_end_from(t2, &b, sb, holes[h],
                                                     payload, n, const_rand,
                                                     NULL),
                                     0);
                    assert_int_equal(wk_buf_used(&a), wk_buf_used(&b));
                    assert_memory_equal(wk_buf_data(&a), wk_buf_data(&b),
                                        wk_buf_used(&a));
                    size_t used, pn;
                    uint8_t *pl;
                    assert_int_equal(wk_pkt_open(r2, wk_buf_data(&b),
                                                 wk_buf_used(&b), &used, &pl,
                                                 &pn),
                                     0);
                    assert_int_equal(pn, head + n);
                    assert_memory_equal(pl + head, payload, n);
                    wk_buf_reset(&a);
                    wk_buf_reset(&b);
                }
            }
            /* A hole inside the header or past the payload is refused,
             * and nothing is sealed (the sequence number stays). */
            uint32_t seq = wk_pkt_dir_seq(t2);
            size_t sb = wk_pkt_begin(&b);
            wk_buf_extend(&b, 8);
            assert_int_equal(wk_pkt_end_from(t2, &b, sb, 4, payload, 8,
                                             const_rand, NULL),
                             WHELK_ERR_INVAL);
            assert_int_equal(wk_pkt_end_from(t2, &b, sb, 5, payload, 9,
                                             const_rand, NULL),
                             WHELK_ERR_INVAL);
            assert_int_equal(wk_pkt_end_from(t2, &b, sb, 14, payload, 0,
                                             const_rand, NULL),
                             WHELK_ERR_INVAL);
            assert_int_equal(wk_pkt_dir_seq(t2), seq);
            wk_buf_free(&a);
            wk_buf_free(&b);
            wk_pkt_dir_free(t1);
            wk_pkt_dir_free(r1);
            wk_pkt_dir_free(t2);
            wk_pkt_dir_free(r2);
        }
    }
}

static void test_codec_bad_lengths(void **state)
{
    wk_pkt_dir *rx = wk_pkt_dir_new();
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff};
    size_t used, pn;
    uint8_t *pl;
    assert_int_equal(wk_pkt_open(rx, huge, sizeof(huge), &used, &pl, &pn),
                     WHELK_ERR_TOOBIG);
    /* Just above the 256 KiB limit, and a misaligned length. */
    uint8_t big[8];
    wk_store_u32(big, 256 * 1024 + 4);
    assert_int_equal(wk_pkt_open(rx, big, sizeof(big), &used, &pl, &pn),
                     WHELK_ERR_TOOBIG);
    uint8_t odd[16] = {0, 0, 0, 13, 4};
    assert_int_equal(wk_pkt_open(rx, odd, sizeof(odd), &used, &pl, &pn),
                     WHELK_ERR_PROTO);
    /* Padding shorter than 4 bytes. */
    uint8_t shortpad[16] = {0, 0, 0, 12, 3};
    assert_int_equal(wk_pkt_open(rx, shortpad, 16, &used, &pl, &pn),
                     WHELK_ERR_PROTO);
    wk_pkt_dir_free(rx);
}

static void test_chacha_poly_known_answer(void **state)
{
    uint8_t key[64];
    for (int i = 0; i < 64; i++) key[i] = (uint8_t)i;
    const wk_cipher_alg *c = wk_cipher_find("chacha20-poly1305@openssh.com",
                                            29);
    wk_pkt_dir *tx = wk_pkt_dir_new();
    assert_int_equal(wk_pkt_dir_set_keys(tx, 1, c, NULL, key, NULL, NULL), 0);
    wk_buf out;
    wk_buf_init(&out, 4096);
    for (int i = 0; i < 7; i++) { /* sequence number 7 for the vector */
        size_t s = wk_pkt_begin(&out);
        wk_pkt_end(tx, &out, s, const_rand, NULL);
    }
    wk_buf_reset(&out);
    size_t s = wk_pkt_begin(&out);
    wk_buf_put(&out, "\x05\x00\x00\x00\x0cssh-userauth", 17);
    assert_int_equal(wk_pkt_end(tx, &out, s, const_rand, NULL), 0);
    uint8_t want[44];
    unhex("a39afcb22e4315434e8f592d0440ce83b2fdb25940da9593db469826"
          "6a41e4a7ffc3112a72d36f8dafaf1239",
          want, sizeof(want));
    assert_int_equal(wk_buf_used(&out), sizeof(want));
    assert_memory_equal(wk_buf_data(&out), want, sizeof(want));
    wk_buf_free(&out);
    wk_pkt_dir_free(tx);
}

/* Sequence numbers wrap at 2^32 and both sides agree (the MAC covers
 * the number, so a disagreement would fail the check). */
static void test_sequence_wrap(void **state)
{
    wk_pkt_dir *tx, *rx;
    keyed_pair("aes128-ctr", "hmac-sha2-256", &tx, &rx);
    wk_pkt_dir_set_seq(tx, UINT32_MAX - 1);
    wk_pkt_dir_set_seq(rx, UINT32_MAX - 1);
    wk_buf out;
    wk_buf_init(&out, 1 << 16);
    for (int i = 0; i < 4; i++) {
        size_t s = wk_pkt_begin(&out);
        wk_buf_put_u32(&out, (uint32_t)i);
        assert_int_equal(wk_pkt_end(tx, &out, s, const_rand, NULL), 0);
        size_t used, pn;
        uint8_t *pl;
        assert_int_equal(wk_pkt_open(rx, wk_buf_data(&out), wk_buf_used(&out),
                                     &used, &pl, &pn),
                         0);
        wk_buf_reset(&out);
    }
    assert_int_equal(wk_pkt_dir_seq(tx), 2);
    assert_int_equal(wk_pkt_dir_seq(rx), 2);
    wk_buf_free(&out);
    wk_pkt_dir_free(tx);
    wk_pkt_dir_free(rx);
}

/* ------------------------------------------------------------------------
 * kex
 */

static uint8_t pinned[32];
static int pinned_rand(uint8_t *out, size_t len, void *user)
{
    memcpy(out, pinned, len < 32 ? len : 32);
    return 0;
}

static void test_x25519_rfc7748(void **state)
{
    const wk_kex_alg *alg = wk_kex_find("curve25519-sha256", 17);
    uint8_t alice_pub[32], bob_pub[32], shared[32];
    unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
          alice_pub, 32);
    unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
          bob_pub, 32);
    unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
          shared, 32);
    /* Bob is the server; his private key comes from the pinned source. */
    unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
          pinned, 32);
    wk_buf sv, k;
    wk_buf_init(&sv, 256);
    wk_buf_init(&k, 256);
    assert_int_equal(wk_kex_server(alg, pinned_rand, NULL, alice_pub, 32, &sv,
                                   &k),
                     0);
    assert_memory_equal(wk_buf_data(&sv), bob_pub, 32);
    /* K = the shared secret as an mpint (no leading zero needed here). */
    assert_int_equal(wk_buf_used(&k), 4 + 32);
    assert_memory_equal(wk_buf_data(&k) + 4, shared, 32);
    /* Alice as the client with her private key. */
    unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
          pinned, 32);
    wk_kex_client *st;
    wk_buf cv, k2;
    wk_buf_init(&cv, 256);
    wk_buf_init(&k2, 256);
    assert_int_equal(wk_kex_client_start(alg, pinned_rand, NULL, &st, &cv), 0);
    assert_memory_equal(wk_buf_data(&cv), alice_pub, 32);
    assert_int_equal(wk_kex_client_finish(st, bob_pub, 32, &k2), 0);
    assert_memory_equal(wk_buf_data(&k2), wk_buf_data(&k), wk_buf_used(&k));
    wk_kex_client_free(st);
    /* Low-order points give an all-zero secret and are refused. */
    static const uint8_t zero[32];
    wk_buf_reset(&sv);
    wk_buf_reset(&k);
    assert_int_equal(wk_kex_server(alg, pinned_rand, NULL, zero, 32, &sv, &k),
                     WHELK_ERR_KEX);
    assert_int_equal(wk_kex_server(alg, pinned_rand, NULL, alice_pub, 31, &sv,
                                   &k),
                     WHELK_ERR_KEX);
    wk_buf_free(&sv);
    wk_buf_free(&k);
    wk_buf_free(&cv);
    wk_buf_free(&k2);
}

static void test_kex_rejects_bad_values(void **state)
{
    const wk_kex_alg *p256 = wk_kex_find("ecdh-sha2-nistp256", 18);
    const wk_kex_alg *dh = wk_kex_find("diffie-hellman-group14-sha256", 29);
    wk_buf sv, k;
    wk_buf_init(&sv, 8192);
    wk_buf_init(&k, 8192);
    uint8_t pt[65] = {4};
    for (int i = 1; i < 65; i++) pt[i] = (uint8_t)i; /* not on the curve */
    assert_int_equal(wk_kex_server(p256, const_rand, NULL, pt, 65, &sv, &k),
                     WHELK_ERR_KEX);
    assert_int_equal(wk_kex_server(p256, const_rand, NULL, pt, 33, &sv, &k),
                     WHELK_ERR_KEX);
    /* DH: e = 0, 1, p - 1, and a value above p. */
    uint8_t one = 1, e[257];
    wk_buf_reset(&sv);
    assert_int_equal(wk_kex_server(dh, const_rand, NULL, &one, 1, &sv, &k),
                     WHELK_ERR_KEX);
    wk_buf_reset(&sv);
    assert_int_equal(wk_kex_server(dh, const_rand, NULL, &one, 0, &sv, &k),
                     WHELK_ERR_KEX);
    memset(e, 0xff, sizeof(e)); /* 2^2056 - 1 > p */
    wk_buf_reset(&sv);
    assert_int_equal(wk_kex_server(dh, const_rand, NULL, e, 257, &sv, &k),
                     WHELK_ERR_KEX);
    memset(e, 0xff, 256); /* p - 1 ends ...fe for the RFC 3526 group */
    e[255] = 0xfe;
    wk_buf_reset(&sv);
    assert_int_equal(wk_kex_server(dh, const_rand, NULL, e, 256, &sv, &k),
                     WHELK_ERR_KEX);
    wk_buf_free(&sv);
    wk_buf_free(&k);
}

static void test_kex_pairs_agree(void **state)
{
    static const char *const names[] = {
        "curve25519-sha256", "ecdh-sha2-nistp256",
        "diffie-hellman-group14-sha256", "diffie-hellman-group16-sha512",
        "mlkem768x25519-sha256"};
    for (size_t i = 0; i < 5; i++) {
        const wk_kex_alg *alg = wk_kex_find(names[i], strlen(names[i]));
        wk_kex_client *st;
        wk_buf cv, sv, k1, k2;
        wk_buf_init(&cv, 8192);
        wk_buf_init(&sv, 8192);
        wk_buf_init(&k1, 1024);
        wk_buf_init(&k2, 1024);
        uint8_t seed = (uint8_t)(i + 1);
        assert_int_equal(wk_kex_client_start(alg, const_rand, &seed, &st, &cv),
                         0);
        seed = (uint8_t)(i + 77);
        assert_int_equal(wk_kex_server(alg, const_rand, &seed,
                                       wk_buf_data(&cv), wk_buf_used(&cv),
                                       &sv, &k1),
                         0);
        assert_int_equal(wk_kex_client_finish(st, wk_buf_data(&sv),
                                              wk_buf_used(&sv), &k2),
                         0);
        assert_int_equal(wk_buf_used(&k1), wk_buf_used(&k2));
        assert_memory_equal(wk_buf_data(&k1), wk_buf_data(&k2),
                            wk_buf_used(&k1));
        wk_kex_client_free(st);
        wk_buf_free(&cv);
        wk_buf_free(&sv);
        wk_buf_free(&k1);
        wk_buf_free(&k2);
    }
}

static void test_kdf_known_answer(void **state)
{
    uint8_t k[4 + 33], h[32], sid[32], out[64], want[64];
    memcpy(k, "\x00\x00\x00\x21\x00", 5);
    for (int i = 0; i < 32; i++) k[5 + i] = (uint8_t)(0x80 + i);
    EVP_Digest("H", 1, h, NULL, EVP_sha256(), NULL);
    EVP_Digest("sid", 3, sid, NULL, EVP_sha256(), NULL);
    const wk_kex_alg *alg = wk_kex_find("curve25519-sha256", 17);
    assert_int_equal(wk_kex_derive(alg, k, sizeof(k), h, 32, 'C', sid, 32,
                                   out, 64),
                     0);
    unhex("831bc6ab94f0e287b42a71e10ab4b8769e37a45860e8507df613afd06404cebb"
          "d41ad411bef2b3645e364e75dca7bc9971a881c8dc13b235f8bf157c9cdec544",
          want, 64);
    assert_memory_equal(out, want, 64);
}

static void test_kexinit_roundtrip(void **state)
{
    const char *lists[WK_KEXL_COUNT] = {"a,b", "c", "d", "d", "e", "e",
                                        "none", "none", "", ""};
    wk_buf b;
    wk_buf_init(&b, 4096);
    assert_int_equal(wk_kexinit_build(&b, lists, const_rand, NULL), 0);
    wk_kexinit ki;
    assert_int_equal(wk_kexinit_parse(wk_buf_data(&b), wk_buf_used(&b), &ki),
                     0);
    assert_int_equal(ki.list_len[0], 3);
    char out[16];
    assert_int_equal(wk_negotiate(ki.list[0], 3, (const uint8_t *)"x,b,a", 5,
                                  out, sizeof(out)),
                     0);
    assert_string_equal(out, "a"); /* the client's preference wins */
    assert_int_equal(wk_negotiate(ki.list[0], 3, (const uint8_t *)"x,y", 3,
                                  out, sizeof(out)),
                     WHELK_ERR_NEGOTIATION);
    for (size_t n = 0; n < wk_buf_used(&b); n++)
        assert_int_not_equal(wk_kexinit_parse(wk_buf_data(&b), n, &ki), 0);
    wk_buf_free(&b);
}

/* ------------------------------------------------------------------------
 * key
 */

static void test_key_generate_write_read(void **state)
{
    whelk_key *k, *k2, *pub;
    char *text, *line;
    size_t len;
    assert_int_equal(whelk_key_generate_ed25519(&k), 0);
    assert_int_equal(whelk_key_write_private(k, "c", &text, &len), 0);
    assert_int_equal(whelk_key_parse_private(text, len, &k2), 0);
    assert_true(whelk_key_equal_public(k, k2));
    assert_int_equal(whelk_key_write_public(k, "c", &line), 0);
    assert_int_equal(whelk_key_parse_public_line(line, strlen(line), &pub),
                     0);
    assert_true(whelk_key_equal_public(k, pub));
    char fp[80];
    assert_int_equal(whelk_key_fingerprint(k, fp, sizeof(fp)), 0);
    assert_int_equal(strlen(fp), 7 + 43);
    /* Sign, verify, and refuse a flipped bit or the wrong algorithm. */
    wk_buf sig;
    wk_buf_init(&sig, 1024);
    assert_int_equal(wk_key_sign(k2, "ssh-ed25519", (const uint8_t *)"data",
                                 4, &sig),
                     0);
    const uint8_t *blob = wk_buf_data(&sig) + 4;
    size_t bl = wk_buf_used(&sig) - 4;
    assert_int_equal(wk_key_verify(pub, "ssh-ed25519",
                                   (const uint8_t *)"data", 4, blob, bl),
                     0);
    assert_int_equal(wk_key_verify(pub, "ssh-ed25519",
                                   (const uint8_t *)"dата", 4, blob, bl),
                     WHELK_ERR_SIGNATURE);
    assert_int_equal(wk_key_verify(pub, "rsa-sha2-256",
                                   (const uint8_t *)"data", 4, blob, bl),
                     WHELK_ERR_SIGNATURE);
    /* Truncated and encrypted key files. */
    whelk_key_free(k2);
    assert_int_equal(whelk_key_parse_private(text, len / 2, &k2 /*unused*/),
                     WHELK_ERR_KEY_FORMAT);
    wk_buf_free(&sig);
    whelk_free_secret(text, len);
    free(line);
    whelk_key_free(k);
    whelk_key_free(pub);
}

/* Made with ssh-keygen -t ed25519 -N secret: refused with its own code. */
static const char encrypted_key[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABDYA8rTDy\n"
    "sliqSAog6/m/qyAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAILtDepPGlLepTCTq\n"
    "m48WFXwGKCIStu7PGD/2vmkx3sK0AAAAkEzVtkecphBtewJTpyBEnreHn2K9HVqx9jKs/d\n"
    "rSIN/+bXO915cD8VK0ZYBdcsjxhYgQMvkC/eAnDdAM5nmMmBJcCG3JWI1oSu4snGiv8Gci\n"
    "WxLMFOMIA+PCfbKxGWXnP3iLo8jcu8j/OHNYG5GKHWqrTxYSRjwDjG/Z3CC90MUL3fzysK\n"
    "e5WDGVnbe73vVEUg==\n"
    "-----END OPENSSH PRIVATE KEY-----\n";

static void test_encrypted_key_refused(void **state)
{
    whelk_key *k;
    assert_int_equal(whelk_key_parse_private(encrypted_key,
                                             sizeof(encrypted_key) - 1, &k),
                     WHELK_ERR_KEY_ENCRYPTED);
}

/* A secret buffer's free wipes every byte that ever held data (its dirty
 * extent), however the readable part moved since: consumed, reset,
 * truncated, compacted, grown or read into behind its back. */
static void test_secret_buffer_dirty_extent(void **state)
{
    (void)state;
    wk_buf b;
    uint8_t data[5000];
    memset(data, 'k', sizeof(data));
    wk_buf_init_secret(&b, 1 << 20);
    assert_int_equal(wk_buf_put(&b, data, sizeof(data)), 0);
    size_t cap = b.cap;
    wk_buf_consume(&b, sizeof(data)); /* emptied: the bytes stay */
    assert_int_equal(wk_buf_put(&b, data, 10), 0);
    assert_true(b.dirty >= sizeof(data));
    wk_buf_reset(&b);
    assert_true(b.dirty >= sizeof(data));
    /* A read into reserved room, never committed. */
    assert_int_equal(wk_buf_reserve(&b, cap), 0);
    memset(b.p + b.len, 'r', 100);
    wk_buf_mark_dirty(&b, b.len + 100);
    assert_true(b.dirty >= sizeof(data));
    wk_buf_free(&b);
    assert_int_equal(b.dirty, 0);
    /* Grown: the new block holds only the copied bytes. */
    assert_int_equal(wk_buf_put(&b, data, 100), 0);
    wk_buf_consume(&b, 60);
    assert_int_equal(wk_buf_put(&b, data, 4000), 0);
    assert_true(b.cap > 256);
    assert_true(b.dirty <= b.len); /* the readable bytes are the rest */
    /* Truncated: the cut bytes stay inside the extent. */
    size_t end = b.len;
    wk_buf_truncate(&b, 10);
    assert_true(b.dirty >= end);
    /* A small buffer wipes little: one short packet, not the capacity. */
    wk_buf_free(&b);
    assert_int_equal(wk_buf_reserve(&b, 65536), 0);
    assert_int_equal(wk_buf_put(&b, data, 300), 0);
    wk_buf_consume(&b, 300);
    assert_int_equal(b.dirty, 300);
    wk_buf_free(&b);
}

/* Compaction of a secret buffer wipes what it vacates; with
 * wk_buf_wipe_at_free it leaves those bytes, inside the extent the free
 * wipes. */
static void test_secret_buffer_compaction_wipes(void **state)
{
    (void)state;
    uint8_t data[4096];
    memset(data, 'k', sizeof(data));
    for (int lazy = 0; lazy < 2; lazy++) {
        wk_buf b;
        wk_buf_init_secret(&b, 1 << 20);
        if (lazy) wk_buf_wipe_at_free(&b);
        assert_int_equal(wk_buf_reserve(&b, 8192), 0);
        size_t cap = b.cap;
        assert_int_equal(wk_buf_put(&b, data, sizeof(data)), 0);
        wk_buf_consume(&b, sizeof(data) - 16); /* 16 bytes left unread */
        /* Room for more than the tail holds: the 16 move to the front. */
        assert_int_equal(wk_buf_reserve(&b, cap - 16), 0);
        assert_int_equal(b.cap, cap);
        assert_int_equal(b.off, 0);
        int left = 0;
        for (size_t i = 16; i < sizeof(data); i++) left += b.p[i] == 'k';
        assert_int_equal(left, lazy ? (int)sizeof(data) - 16 : 0);
        assert_true(b.dirty >= sizeof(data));
        wk_buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_roundtrip),
        cmocka_unit_test(test_wire_rejects),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_secret_buffer_dirty_extent),
        cmocka_unit_test(test_secret_buffer_compaction_wipes),
        cmocka_unit_test(test_codec_every_pair),
        cmocka_unit_test(test_seal_from_hole_matches_in_place),
        cmocka_unit_test(test_codec_bad_lengths),
        cmocka_unit_test(test_chacha_poly_known_answer),
        cmocka_unit_test(test_sequence_wrap),
        cmocka_unit_test(test_x25519_rfc7748),
        cmocka_unit_test(test_kex_rejects_bad_values),
        cmocka_unit_test(test_kex_pairs_agree),
        cmocka_unit_test(test_kdf_known_answer),
        cmocka_unit_test(test_kexinit_roundtrip),
        cmocka_unit_test(test_key_generate_write_read),
        cmocka_unit_test(test_encrypted_key_refused),
    };
    return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
