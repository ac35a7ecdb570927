/*
 * Unit tests for lib/key.c: OpenSSH private key files made by ssh-keygen
 * (OpenSSH 9.2) for each key type, their fingerprints as ssh-keygen -lf
 * printed them, public blobs and lines, signatures for every algorithm
 * (checked against signatures OpenSSH made, RFC 8032 section 7.1 and an
 * independent OpenSSL signer), tampered files, blobs and signatures, and
 * base64 against RFC 4648 section 10.
 *
 * The keys below are test keys, made once with
 *   ssh-keygen -t ed25519|ecdsa|rsa -b 2048 -N '' -C test-TYPE -f FILE
 * and protect nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "buf.h"
#include "key.h"

static const char ed25519_priv[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACA6hgXBUV0A8g6KVSC+zTzXMOcY3iQoxoq1ZGVoTrRS9AAAAJDH2OLqx9ji\n"
    "6gAAAAtzc2gtZWQyNTUxOQAAACA6hgXBUV0A8g6KVSC+zTzXMOcY3iQoxoq1ZGVoTrRS9A\n"
    "AAAEAgNpahyG4pyYTsSW25O2Dp9LmMYMGFV+2JwalrHcilNjqGBcFRXQDyDopVIL7NPNcw\n"
    "5xjeJCjGirVkZWhOtFL0AAAADHRlc3QtZWQyNTUxOQE=\n"
    "-----END OPENSSH PRIVATE KEY-----\n";

static const char ecdsa_priv[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAaAAAABNlY2RzYS\n"
    "1zaGEyLW5pc3RwMjU2AAAACG5pc3RwMjU2AAAAQQQIGuejUIsyGhpCseDfSupAIq6Jp8jc\n"
    "NHg98QvjtmLcNLam52tMbFfoXPvW6bes2tBczzHp/0y2h6rnT2Duc9ElAAAAqBM3HfETNx\n"
    "3xAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAga56NQizIaGkKx\n"
    "4N9K6kAiromnyNw0eD3xC+O2Ytw0tqbna0xsV+hc+9bpt6za0FzPMen/TLaHqudPYO5z0S\n"
    "UAAAAgGd/CpN0b9x8GHpbD8QuP9Tufh0uaEnzz64kYy65RXvYAAAAKdGVzdC1lY2RzYQEC\n"
    "AwQFBg==\n"
    "-----END OPENSSH PRIVATE KEY-----\n";

static const char rsa_priv[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAABFwAAAAdzc2gtcn\n"
    "NhAAAAAwEAAQAAAQEAv6f+foMvVxRZ6+KHdHtNxvFDcjlPuTfqL9/ExvGOsIAvDJWEJVGP\n"
    "HY/omBmeQzrpEi7VwTtRBZ9w/RSuLj+C26BFB80asE40VV69k19FjhvvjYUt2XfflM+nav\n"
    "Wo88Ofb/rLDX4OgmNmAYsOPz1Ajs6JzouemUp9O15NhQIlsB2ZTHZagsqnP1Usg6vBqDF/\n"
    "Y+B2ZVz/rmUBtYsHx1ixkAuAovGP8dvw641IC2GQz403CDW5aBqQ4oBGIGix7rx8zU/3dx\n"
    "8NghTrZs8jQHb7Cd269e+dY0OvH6HFBjCgOMegCUsrF9e0XB+AGjkrlrtWeoZQGPLngfEi\n"
    "2mrLFJ2xXwAAA8A6hW1eOoVtXgAAAAdzc2gtcnNhAAABAQC/p/5+gy9XFFnr4od0e03G8U\n"
    "NyOU+5N+ov38TG8Y6wgC8MlYQlUY8dj+iYGZ5DOukSLtXBO1EFn3D9FK4uP4LboEUHzRqw\n"
    "TjRVXr2TX0WOG++NhS3Zd9+Uz6dq9ajzw59v+ssNfg6CY2YBiw4/PUCOzonOi56ZSn07Xk\n"
    "2FAiWwHZlMdlqCyqc/VSyDq8GoMX9j4HZlXP+uZQG1iwfHWLGQC4Ci8Y/x2/DrjUgLYZDP\n"
    "jTcINbloGpDigEYgaLHuvHzNT/d3Hw2CFOtmzyNAdvsJ3br1751jQ68focUGMKA4x6AJSy\n"
    "sX17RcH4AaOSuWu1Z6hlAY8ueB8SLaassUnbFfAAAAAwEAAQAAAQAxmKgvlgQorTAN7luu\n"
    "RYBdlK6m/vTGEhWs2OPjtbv+qdVDFOgS/jWiaUzAG5UMgdCxr2QKcq6nXVjQbUsb1byn2C\n"
    "Q0/htDd6FsXC2D1xo5SbpmrYmtZqt5p3kEIVlc54k5YbWtIqtfi5homtMPg2rS6djYleHv\n"
    "ekrJE8DMxD77gWKMa31kciLkn6xGhsURaVjdSkWIyfGguRZ4K3hpf/DGPMVjnDqgsJDG4C\n"
    "MhqLOHOR4tyI1loMHPOxAvn+TeGmB1DrL1Ka/Z4dSc5tTSopvCSvFCFTIp/U84SyfO44WJ\n"
    "jW7MDSDFJGms5XEdP3m9JLmZWT5pb+AexmfTbtG8xeLJAAAAgQCDjAwyi2lYGhsRA/x5+9\n"
    "ugkPrvA8noO+jslpiK5tPfHWXHEFlU8tkhpKCVygYwZYJHaF6i+sqkSmuR3PNk53+VU8G9\n"
    "7WXYiokiJCdYjtjq2YR0fJkJdMPA7q022Wfy4DweRAFNo4IuY0PlxIu99rUx72y0iPcgfL\n"
    "QA8jKEwHZpVQAAAIEA6dPOBq+YKZf9u2TZz5F813Grlqwk2Sf7QHZncI/96R2UrCwV278n\n"
    "kRbql7SjdNRDlkOkzU1OBnUfMrIZAkMvf3hkPYkktGEMv757VGJu5IF77s+pwlynRZ0Uq3\n"
    "pCUPhenL/X2aL0ZKtYXYYdL+UOpmiKW+uuoQ9bHN5HvtO6umkAAACBANHUeoCkcsBzpBRh\n"
    "8DlwYpTfLXFAXP+EggY9ssk/k3HWjphCske8V+1FBmelOwAviTdcyTVAVHClQxOGtAdmq2\n"
    "eXqubJLLYx49pBYby3YedRV+jcAdmPD4ly7//RHtNI2UCcFoaUH7NjDZUP5IpM22cIdEco\n"
    "XTX99K5mXUAzZcSHAAAACHRlc3QtcnNhAQI=\n"
    "-----END OPENSSH PRIVATE KEY-----\n";

/* ssh-keygen -t ed25519 -N pass: refused with its own error code. */
static const char encrypted_priv[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABAFovtIMt\n"
    "8eZ4sPCNk2e2WaAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIMxQlqXijuqDoPRP\n"
    "3UubqDJ3XCEVwf6ZbsnOLyCkLuxMAAAAkDNocujCIx/UvU4zUOL6eJmE3/fircBOaZFH6A\n"
    "QltoaZ7kadl+UX7vEPdbKlqH46VJSIUdCtQqjaIJP+c9KCM3p1RqLOF578PG4uLXcE+fw9\n"
    "lHeTPd3+RMtPqEWIyo46/Nj9z5gpI90ej9GAh68pfqyM/1L/vPRUbEVB0AxYbL4n5WODHy\n"
    "eJjFSzGe1qXPFSAw==\n"
    "-----END OPENSSH PRIVATE KEY-----\n";

/* Signatures made by `ssh-keygen -Y sign -n file` over the message below
 * (the signature blob of the SSHSIG file: string alg, string sig). */
static const char sshsig_message[] = "whelk test message\n";

static const uint8_t ed25519_sshsig[] =
    "\x00\x00\x00\x0b\x73\x73\x68\x2d\x65\x64\x32\x35\x35\x31\x39\x00"
    "\x00\x00\x40\xa5\xe6\xbb\x44\x85\x1f\x9c\xfb\xeb\xb0\x22\x45\xd6"
    "\x8a\xd9\xfc\x2f\x75\x24\x2b\x2c\xf7\xd7\x7d\x6f\x6a\xed\x3d\x1f"
    "\x23\x89\x4d\x86\x22\x18\x8e\xa1\xa9\x90\x63\x6a\xe4\xf4\x5d\xf4"
    "\xa2\xcc\xce\x99\x70\xa1\x48\x8c\xab\xb9\x1d\x2e\x22\x1c\x5f\x43"
    "\xe3\x49\x0e";

static const uint8_t ecdsa_sshsig[] =
    "\x00\x00\x00\x13\x65\x63\x64\x73\x61\x2d\x73\x68\x61\x32\x2d\x6e"
    "\x69\x73\x74\x70\x32\x35\x36\x00\x00\x00\x48\x00\x00\x00\x20\x44"
    "\xaf\x4b\x71\xb1\x98\x68\x4c\x89\x24\xca\x32\x60\x4e\x55\x19\x62"
    "\x38\xa4\x1f\x4b\xf3\xc0\x28\xaf\x3f\x95\x39\x10\x9f\xf7\x39\x00"
    "\x00\x00\x20\x09\x44\x8a\xb0\x46\x2d\x42\x45\xd5\xb2\x29\xe8\x1d"
    "\xb5\xe9\x8e\xd8\x76\x3c\xd3\x6c\x62\xaa\xb0\x89\x58\xb3\x45\xa1"
    "\xb5\x00\xa9";

static const uint8_t rsa_sshsig[] =
    "\x00\x00\x00\x0c\x72\x73\x61\x2d\x73\x68\x61\x32\x2d\x35\x31\x32"
    "\x00\x00\x01\x00\x11\x92\x0b\x36\x83\xa1\xec\xca\x20\x8e\xe2\xd7"
    "\xce\x80\xf9\x03\xf0\xb7\xa1\x97\xca\x7e\x54\x31\xce\xb9\x51\x9b"
    "\x53\xd8\x35\x8e\xd0\x5e\x6d\x70\xb6\x83\xea\xc9\x78\x24\x77\x7e"
    "\xa5\xef\xf5\x35\x40\x41\x9f\x24\x2a\x0b\x38\x11\x3d\x65\x86\x0d"
    "\xf7\x4d\x5c\x3e\x9b\x28\x9d\x35\x29\x48\x3b\x64\xf6\x9b\x39\x7a"
    "\xb1\x85\xd5\x93\xd8\x2f\x9e\xd3\x8f\x49\x44\x63\x49\xcd\xe5\xeb"
    "\x0f\x3b\xfa\x71\xed\x8c\x59\x9b\x9a\xdc\x7b\xbd\xd5\xf8\xcf\x51"
    "\xe8\x0e\x8e\x6c\x57\x2f\x8f\x76\x3a\x67\x9d\xbd\x3b\xbc\x10\x35"
    "\xd2\xad\xab\xc6\x3e\xef\xd5\xb7\x78\xcb\x1c\x4a\xe2\x86\x15\x9c"
    "\xb7\x7d\x5a\x50\xd7\xce\x4a\x92\x17\x14\x1c\xc5\x38\x62\x68\x40"
    "\x61\x70\x41\x74\x21\x9d\x79\x81\x76\xc2\xaa\x47\x29\x99\xd4\x21"
    "\x2d\x9e\xf0\xdf\xd3\x2e\xc8\x09\xb9\x61\xda\x08\xbc\xe1\x81\x98"
    "\x09\x47\x19\x93\xd7\x59\x64\x0b\x64\xa2\x8c\x69\xed\x08\xfc\xa4"
    "\x83\x23\x72\xdf\x15\xa0\x78\xd7\xb9\x46\xa7\x97\xf6\xda\xe1\x1a"
    "\x7c\xba\xe4\xde\xf5\x1b\x72\x73\xd6\x46\xac\x67\xae\xce\x6c\xfc"
    "\xe0\x31\x06\x96\x1a\xc8\xeb\x01\x33\x79\x88\x3c\xb5\xbb\x3c\xcd"
    "\x6b\x46\x68\xa3";

struct test_key {
    const char *priv;
    const char *pub_line; /* the .pub file ssh-keygen wrote */
    const char *fingerprint;
    const char *comment;
    whelk_key_type type;
    const char *type_name;
    const char *short_name;
    int bits;
    const uint8_t *sshsig;
    size_t sshsig_len;
    const char *sshsig_alg;
};

static const struct test_key test_keys[] = {
    {ed25519_priv,
     "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDqGBcFRXQDyDopVIL7NPNcw5xjeJCjGirV"
     "kZWhOtFL0 test-ed25519\n",
     "SHA256:1lO1HDCr64tcAHA635AaqPVRzc2FgXtKDVk4AggRC+E", "test-ed25519",
     WHELK_KEY_ED25519, "ssh-ed25519", "ED25519", 256, ed25519_sshsig,
     sizeof(ed25519_sshsig) - 1, "ssh-ed25519"},
    {ecdsa_priv,
     "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAA"
     "BBBAga56NQizIaGkKx4N9K6kAiromnyNw0eD3xC+O2Ytw0tqbna0xsV+hc+9bpt6za0FzP"
     "Men/TLaHqudPYO5z0SU= test-ecdsa\n",
     "SHA256:C4Z5pl5t22vMoyiQ6/uCyT9VXjYd7ZQLQz5GgNwqfBU", "test-ecdsa",
     WHELK_KEY_ECDSA_P256, "ecdsa-sha2-nistp256", "ECDSA", 256, ecdsa_sshsig,
     sizeof(ecdsa_sshsig) - 1, "ecdsa-sha2-nistp256"},
    {rsa_priv,
     "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC/p/5+gy9XFFnr4od0e03G8UNyOU+5N+"
     "ov38TG8Y6wgC8MlYQlUY8dj+iYGZ5DOukSLtXBO1EFn3D9FK4uP4LboEUHzRqwTjRVXr2T"
     "X0WOG++NhS3Zd9+Uz6dq9ajzw59v+ssNfg6CY2YBiw4/PUCOzonOi56ZSn07Xk2FAiWwHZ"
     "lMdlqCyqc/VSyDq8GoMX9j4HZlXP+uZQG1iwfHWLGQC4Ci8Y/x2/DrjUgLYZDPjTcINblo"
     "GpDigEYgaLHuvHzNT/d3Hw2CFOtmzyNAdvsJ3br1751jQ68focUGMKA4x6AJSysX17RcH4"
     "AaOSuWu1Z6hlAY8ueB8SLaassUnbFf test-rsa\n",
     "SHA256:uAc0sow1YuH0gOxYJhTBcHrY0B+nQfT+7tWAjINmOmw", "test-rsa",
     WHELK_KEY_RSA, "ssh-rsa", "RSA", 2048, rsa_sshsig, sizeof(rsa_sshsig) - 1,
     "rsa-sha2-512"},
};
#define NKEYS (sizeof(test_keys) / sizeof(test_keys[0]))

static whelk_key *load(const struct test_key *t)
{
    whelk_key *k = NULL;
    assert_int_equal(whelk_key_parse_private(t->priv, strlen(t->priv), &k), 0);
    assert_non_null(k);
    return k;
}

static void flip_bit(uint8_t *p, size_t bit)
{
    p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

/* ------------------------------------------------------------------------
 * Helpers to take a key file apart and put it back together.
 */

/* The decoded container of an armoured key. */
static size_t unarmor(const char *text, uint8_t *out, size_t cap)
{
    const char *b = strchr(text, '\n') + 1;
    const char *e = strstr(b, "-----END");
    assert_non_null(e);
    long n = wk_base64_decode(b, (size_t)(e - b), out, cap);
    assert_true(n > 0);
    return (size_t)n;
}

/* Parses a container wrapped in armour, returning the error code and
 * freeing the key if it parsed. */
static int parse_container(const uint8_t *bin, size_t len)
{
    size_t cap = len * 2 + 128;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t o = (size_t)snprintf(text, cap,
                                "-----BEGIN OPENSSH PRIVATE "
                                "KEY-----\n");
    o += wk_base64_encode(bin, len, text + o, cap - o, 1);
    o += (size_t)snprintf(text + o, cap - o,
                          "\n-----END OPENSSH PRIVATE KEY-----\n");
    whelk_key *k = NULL;
    int rc = whelk_key_parse_private(text, o, &k);
    if (rc == 0)
        assert_non_null(k);
    else
        assert_null(k);
    whelk_key_free(k);
    free(text);
    return rc;
}

/* Offset just past |n| SSH strings starting at |at|. */
static size_t skip_strings(const uint8_t *p, size_t at, int n)
{
    while (n-- > 0)
        at += 4 + wk_load_u32(p + at);
    return at;
}

/* Where things are in a container (offsets of the length fields). */
struct layout {
    size_t cipher, kdf, kdfopts, nkeys, pub, priv;
    size_t sec;    /* first byte of the private section */
    size_t fields; /* the type-specific fields, after the type name */
    size_t comment;
};

static void find_layout(const uint8_t *p, struct layout *l)
{
    l->cipher = 15; /* "openssh-key-v1\0" */
    l->kdf = skip_strings(p, l->cipher, 1);
    l->kdfopts = skip_strings(p, l->kdf, 1);
    l->nkeys = skip_strings(p, l->kdfopts, 1);
    l->pub = l->nkeys + 4;
    l->priv = skip_strings(p, l->pub, 1);
    l->sec = l->priv + 4;
    l->fields = skip_strings(p, l->sec + 8, 1);
}

/* Number of type-specific private fields (strings or mpints). */
static int field_count(whelk_key_type t)
{
    return t == WHELK_KEY_ED25519 ? 2 : t == WHELK_KEY_ECDSA_P256 ? 3 : 6;
}

/* ------------------------------------------------------------------------
 * Parsing what ssh-keygen wrote.
 */

static void test_parse_and_fingerprint(void **state)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const struct test_key *t = &test_keys[i];
        whelk_key *k = load(t);
        char fp[64];
        assert_int_equal(whelk_key_type_of(k), t->type);
        assert_string_equal(whelk_key_type_name(k), t->type_name);
        assert_string_equal(whelk_key_short_name(k), t->short_name);
        assert_int_equal(whelk_key_bits(k), t->bits);
        assert_true(whelk_key_has_private(k));
        assert_int_equal(whelk_key_fingerprint(k, fp, sizeof(fp)), 0);
        assert_string_equal(fp, t->fingerprint);
        /* 51 bytes is the least that holds it. */
        assert_int_equal(whelk_key_fingerprint(k, fp, 50), WHELK_ERR_INVAL);
        assert_int_equal(whelk_key_fingerprint(k, fp, 51), 0);
        assert_string_equal(fp, t->fingerprint);
        whelk_key_free(k);
    }
}

static void test_public_blob_and_line(void **state)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const struct test_key *t = &test_keys[i];
        whelk_key *k = load(t), *pub = NULL, *line_key = NULL;
        size_t bl;
        const uint8_t *blob = whelk_key_blob(k, &bl);
        assert_int_equal(whelk_key_parse_public_blob(blob, bl, &pub), 0);
        assert_true(whelk_key_equal_public(k, pub));
        assert_false(whelk_key_has_private(pub));
        assert_int_equal(whelk_key_type_of(pub), t->type);
        assert_int_equal(whelk_key_bits(pub), t->bits);
        char fp[64];
        assert_int_equal(whelk_key_fingerprint(pub, fp, sizeof(fp)), 0);
        assert_string_equal(fp, t->fingerprint);
        /* Byte for byte the .pub file ssh-keygen wrote. */
        char *line = NULL;
        assert_int_equal(whelk_key_write_public(k, t->comment, &line), 0);
        assert_string_equal(line, t->pub_line);
        free(line);
        assert_int_equal(whelk_key_parse_public_line(
                             t->pub_line, strlen(t->pub_line), &line_key),
                         0);
        assert_true(whelk_key_equal_public(k, line_key));
        /* A public key cannot sign or be written as a private key. */
        wk_buf sig;
        wk_buf_init(&sig, 4096);
        assert_int_not_equal(
            wk_key_sign(pub, t->sshsig_alg, (const uint8_t *)"x", 1, &sig), 0);
        assert_int_equal(wk_buf_used(&sig), 0);
        char *text = NULL;
        size_t tl = 0;
        assert_int_not_equal(whelk_key_write_private(pub, "", &text, &tl), 0);
        assert_null(text);
        wk_buf_free(&sig);
        whelk_key_free(k);
        whelk_key_free(pub);
        whelk_key_free(line_key);
    }
}

static void test_public_line_forms(void **state)
{
    const struct test_key *t = &test_keys[0];
    const char *b64 = strchr(t->pub_line, ' ') + 1;
    size_t b64_len = (size_t)(strchr(b64, ' ') - b64);
    char line[512];
    whelk_key *k = NULL;
    static const char *good[] = {"ssh-ed25519 %.*s", "  \tssh-ed25519\t%.*s",
                                 "ssh-ed25519 %.*s\r\n",
                                 "ssh-ed25519 %.*s  a comment with spaces\n"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(line, sizeof(line), good[i], (int)b64_len, b64);
        assert_int_equal(whelk_key_parse_public_line(line, strlen(line), &k),
                         0);
        whelk_key_free(k);
    }
    /* The type word must name the blob's type. */
    snprintf(line, sizeof(line), "ssh-rsa %.*s", (int)b64_len, b64);
    assert_int_equal(whelk_key_parse_public_line(line, strlen(line), &k),
                     WHELK_ERR_KEY_FORMAT);
    assert_null(k);
    /* Types we do not know are their own error, for authorized_keys. */
    snprintf(line, sizeof(line), "ssh-dss %.*s", (int)b64_len, b64);
    assert_int_equal(whelk_key_parse_public_line(line, strlen(line), &k),
                     WHELK_ERR_UNSUPPORTED);
    static const char *bad[] = {"",
                                "ssh-ed25519",
                                "ssh-ed25519 ",
                                "ssh-ed25519 !!!!",
                                "ssh-ed25519 AAAA",
                                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(
            whelk_key_parse_public_line(bad[i], strlen(bad[i]), &k),
            WHELK_ERR_KEY_FORMAT);
    /* Every truncation of the base64 fails. */
    for (size_t n = 0; n < b64_len; n++) {
        snprintf(line, sizeof(line), "ssh-ed25519 %.*s", (int)n, b64);
        assert_int_not_equal(
            whelk_key_parse_public_line(line, strlen(line), &k), 0);
    }
    /* A comment with a line break would split the line. */
    whelk_key *key = load(t);
    char *out = NULL;
    assert_int_equal(whelk_key_write_public(key, "a\nb", &out),
                     WHELK_ERR_INVAL);
    assert_int_equal(whelk_key_write_public(key, NULL, &out), 0);
    assert_int_equal(strlen(out), 12 + b64_len + 1);
    assert_int_equal(whelk_key_parse_public_line(out, strlen(out), &k), 0);
    assert_true(whelk_key_equal_public(k, key));
    whelk_key_free(k);
    free(out);
    whelk_key_free(key);
}

/* Public blobs that are not exactly what we would write are refused. */
static void test_public_blob_rejects(void **state)
{
    whelk_key *k = NULL, *ec = load(&test_keys[1]), *rsa = load(&test_keys[2]);
    size_t bl;
    const uint8_t *blob = whelk_key_blob(ec, &bl);
    uint8_t buf[1024];
    assert_true(bl + 1 <= sizeof(buf));
    /* Every truncation, and one byte too many. */
    for (size_t n = 0; n < bl; n++)
        assert_int_not_equal(whelk_key_parse_public_blob(blob, n, &k), 0);
    memcpy(buf, blob, bl);
    buf[bl] = 0;
    assert_int_equal(whelk_key_parse_public_blob(buf, bl + 1, &k),
                     WHELK_ERR_KEY_FORMAT);
    /* A point off the curve: the last bit of y flipped. */
    flip_bit(buf, bl * 8 - 8);
    assert_int_equal(whelk_key_parse_public_blob(buf, bl, &k),
                     WHELK_ERR_KEY_FORMAT);
    assert_null(k);
    /* A compressed point, another curve name. */
    memcpy(buf, blob, bl);
    buf[bl - 65] = 0x02;
    assert_int_equal(whelk_key_parse_public_blob(buf, bl, &k),
                     WHELK_ERR_KEY_FORMAT);
    memcpy(buf, blob, bl);
    memcpy(buf + 4 + 19 + 4, "nistp384", 8);
    assert_int_equal(whelk_key_parse_public_blob(buf, bl, &k),
                     WHELK_ERR_KEY_FORMAT);
    /* A type name we do not know, and a blob of another type's name. */
    memcpy(buf, blob, bl);
    memcpy(buf + 4, "ecdsa-sha2-nistp384", 19);
    assert_int_equal(whelk_key_parse_public_blob(buf, bl, &k),
                     WHELK_ERR_UNSUPPORTED);
    wk_buf b;
    wk_buf_init(&b, 1024);
    assert_int_equal(wk_buf_put_cstring(&b, "ssh-ed25519"), 0);
    assert_int_equal(wk_buf_put(&b, blob + 4 + 19, bl - 4 - 19), 0);
    assert_int_equal(
        whelk_key_parse_public_blob(wk_buf_data(&b), wk_buf_used(&b), &k),
        WHELK_ERR_KEY_FORMAT);

    /* RSA: moduli of 1024 bits are the least accepted. The 2048-bit
     * modulus cut down (and kept odd) stands in for a small key. */
    const uint8_t *rblob = whelk_key_blob(rsa, &bl);
    size_t n_at = skip_strings(rblob, skip_strings(rblob, 0, 1), 1);
    const uint8_t *n = rblob + n_at + 4 + 1; /* past the mpint's zero */
    size_t sizes[] = {128, 127, 125};
    int expect[] = {0, WHELK_ERR_KEY_FORMAT, WHELK_ERR_KEY_FORMAT};
    for (int i = 0; i < 3; i++) {
        uint8_t mod[256];
        memcpy(mod, n, sizes[i]);
        mod[sizes[i] - 1] |= 1;
        mod[0] |= 0x80; /* exactly 8 * size bits */
        wk_buf_reset(&b);
        assert_int_equal(wk_buf_put_cstring(&b, "ssh-rsa"), 0);
        assert_int_equal(
            wk_buf_put_mpint(&b, (const uint8_t *)"\x01\x00\x01", 3), 0);
        assert_int_equal(wk_buf_put_mpint(&b, mod, sizes[i]), 0);
        k = NULL;
        assert_int_equal(
            whelk_key_parse_public_blob(wk_buf_data(&b), wk_buf_used(&b), &k),
            expect[i]);
        if (expect[i] == 0) assert_int_equal(whelk_key_bits(k), 1024);
        whelk_key_free(k);
    }
    /* An even exponent; an mpint with a needless leading zero. */
    wk_buf_reset(&b);
    assert_int_equal(wk_buf_put_cstring(&b, "ssh-rsa"), 0);
    assert_int_equal(wk_buf_put_mpint(&b, (const uint8_t *)"\x01\x00\x00", 3),
                     0);
    assert_int_equal(wk_buf_put(&b, rblob + n_at, bl - n_at), 0);
    assert_int_equal(
        whelk_key_parse_public_blob(wk_buf_data(&b), wk_buf_used(&b), &k),
        WHELK_ERR_KEY_FORMAT);
    wk_buf_reset(&b);
    assert_int_equal(wk_buf_put_cstring(&b, "ssh-rsa"), 0);
    assert_int_equal(wk_buf_put(&b, "\x00\x00\x00\x04\x00\x01\x00\x01", 8), 0);
    assert_int_equal(wk_buf_put(&b, rblob + n_at, bl - n_at), 0);
    assert_int_equal(
        whelk_key_parse_public_blob(wk_buf_data(&b), wk_buf_used(&b), &k),
        WHELK_ERR_KEY_FORMAT);
    wk_buf_free(&b);
    whelk_key_free(ec);
    whelk_key_free(rsa);
}

/* ------------------------------------------------------------------------
 * Signatures.
 */

static void sign_verify_one(whelk_key *k, whelk_key *pub, const char *alg,
                            size_t sig_len)
{
    static const uint8_t data[] = "exchange hash or session data";
    uint8_t copy[sizeof(data)];
    wk_buf out;
    wk_buf_init(&out, 4096);
    /* Something already in the buffer stays in front of the string. */
    assert_int_equal(wk_buf_put(&out, "pre", 3), 0);
    assert_int_equal(wk_key_sign(k, alg, data, sizeof(data), &out), 0);
    const uint8_t *s = wk_buf_data(&out) + 3;
    size_t len = wk_buf_used(&out) - 3;
    assert_memory_equal(wk_buf_data(&out), "pre", 3);
    assert_int_equal(wk_load_u32(s), len - 4);
    uint8_t *sig = malloc(len - 4);
    assert_non_null(sig);
    memcpy(sig, s + 4, len - 4);
    size_t sl = len - 4;
    /* string alg, string signature. */
    assert_int_equal(wk_load_u32(sig), strlen(alg));
    assert_memory_equal(sig + 4, alg, strlen(alg));
    size_t inner = wk_load_u32(sig + 4 + strlen(alg));
    assert_int_equal(4 + strlen(alg) + 4 + inner, sl);
    if (sig_len) assert_int_equal(inner, sig_len);

    assert_int_equal(wk_key_verify(pub, alg, data, sizeof(data), sig, sl), 0);
    assert_int_equal(wk_key_verify(k, alg, data, sizeof(data), sig, sl), 0);
    /* One flipped bit anywhere in the data or the signature. */
    for (size_t bit = 0; bit < sizeof(data) * 8; bit += 13) {
        memcpy(copy, data, sizeof(data));
        flip_bit(copy, bit);
        assert_int_equal(wk_key_verify(pub, alg, copy, sizeof(data), sig, sl),
                         WHELK_ERR_SIGNATURE);
    }
    for (size_t bit = 0; bit < sl * 8; bit += 7) {
        flip_bit(sig, bit);
        assert_int_equal(wk_key_verify(pub, alg, data, sizeof(data), sig, sl),
                         WHELK_ERR_SIGNATURE);
        flip_bit(sig, bit);
    }
    /* Truncated, extended, or asked for as another algorithm. */
    assert_int_equal(wk_key_verify(pub, alg, data, sizeof(data), sig, sl - 1),
                     WHELK_ERR_SIGNATURE);
    assert_int_equal(wk_key_verify(pub, alg, data, sizeof(data) - 1, sig, sl),
                     WHELK_ERR_SIGNATURE);
    static const char *others[] = {"ssh-ed25519",  "ecdsa-sha2-nistp256",
                                   "rsa-sha2-256", "rsa-sha2-512",
                                   "ssh-rsa",      ""};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        if (strcmp(others[i], alg) == 0) continue;
        assert_int_equal(
            wk_key_verify(pub, others[i], data, sizeof(data), sig, sl),
            WHELK_ERR_SIGNATURE);
    }
    assert_int_equal(wk_key_verify(pub, alg, data, sizeof(data), sig, sl), 0);
    free(sig);
    wk_buf_free(&out);
}

static void test_sign_verify(void **state)
{
    static const struct {
        size_t key;
        const char *alg;
        size_t sig_len; /* 0: varies */
    } cases[] = {{0, "ssh-ed25519", 64},
                 {1, "ecdsa-sha2-nistp256", 0},
                 {2, "rsa-sha2-256", 256},
                 {2, "rsa-sha2-512", 256}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        whelk_key *k = load(&test_keys[cases[i].key]), *pub = NULL;
        size_t bl;
        const uint8_t *blob = whelk_key_blob(k, &bl);
        assert_int_equal(whelk_key_parse_public_blob(blob, bl, &pub), 0);
        assert_true(wk_key_sig_alg_ok(k, cases[i].alg));
        sign_verify_one(k, pub, cases[i].alg, cases[i].sig_len);
        whelk_key_free(k);
        whelk_key_free(pub);
    }
}

static void test_sig_algs(void **state)
{
    whelk_key *ed = load(&test_keys[0]), *ec = load(&test_keys[1]),
              *rsa = load(&test_keys[2]);
    assert_string_equal(wk_key_sig_algs(ed), "ssh-ed25519");
    assert_string_equal(wk_key_sig_algs(ec), "ecdsa-sha2-nistp256");
    assert_string_equal(wk_key_sig_algs(rsa), "rsa-sha2-512,rsa-sha2-256");
    assert_false(wk_key_sig_alg_ok(rsa, "ssh-rsa"));
    assert_false(wk_key_sig_alg_ok(rsa, "rsa-sha2"));
    assert_false(wk_key_sig_alg_ok(ed, "ecdsa-sha2-nistp256"));
    assert_false(wk_key_sig_alg_ok(ec, "ssh-ed25519"));
    assert_false(wk_key_sig_alg_ok(ed, ""));
    wk_buf out;
    wk_buf_init(&out, 4096);
    /* No SHA-1 signatures are made, nor any the key type cannot make. */
    assert_int_not_equal(
        wk_key_sign(rsa, "ssh-rsa", (const uint8_t *)"x", 1, &out), 0);
    assert_int_not_equal(
        wk_key_sign(ed, "rsa-sha2-256", (const uint8_t *)"x", 1, &out), 0);
    assert_int_equal(wk_buf_used(&out), 0);
    /* A signature too big for the buffer leaves it as it was. */
    wk_buf small;
    wk_buf_init(&small, 100);
    assert_int_equal(wk_buf_put(&small, "abc", 3), 0);
    assert_int_not_equal(
        wk_key_sign(rsa, "rsa-sha2-256", (const uint8_t *)"x", 1, &small), 0);
    assert_int_equal(wk_buf_used(&small), 3);
    /* A signature by one key does not verify under another. */
    assert_int_equal(
        wk_key_sign(ed, "ssh-ed25519", (const uint8_t *)"x", 1, &out), 0);
    whelk_key *other = NULL;
    assert_int_equal(whelk_key_generate_ed25519(&other), 0);
    assert_int_equal(wk_key_verify(other, "ssh-ed25519", (const uint8_t *)"x",
                                   1, wk_buf_data(&out) + 4,
                                   wk_buf_used(&out) - 4),
                     WHELK_ERR_SIGNATURE);
    assert_int_equal(wk_key_verify(ed, "ssh-ed25519", (const uint8_t *)"x", 1,
                                   wk_buf_data(&out) + 4,
                                   wk_buf_used(&out) - 4),
                     0);
    wk_buf_free(&small);
    wk_buf_free(&out);
    whelk_key_free(other);
    whelk_key_free(ed);
    whelk_key_free(ec);
    whelk_key_free(rsa);
}

/* Signatures made by OpenSSH verify here: SSHSIG's signed data is
 * "SSHSIG" string namespace, string reserved, string hash, string H(m). */
static void test_openssh_signatures(void **state)
{
    uint8_t h[64];
    unsigned int hl = 0;
    assert_true(EVP_Digest(sshsig_message, strlen(sshsig_message), h, &hl,
                           EVP_sha512(), NULL));
    wk_buf sd;
    wk_buf_init(&sd, 1024);
    assert_int_equal(wk_buf_put(&sd, "SSHSIG", 6), 0);
    assert_int_equal(wk_buf_put_cstring(&sd, "file"), 0);
    assert_int_equal(wk_buf_put_cstring(&sd, ""), 0);
    assert_int_equal(wk_buf_put_cstring(&sd, "sha512"), 0);
    assert_int_equal(wk_buf_put_string(&sd, h, hl), 0);
    for (size_t i = 0; i < NKEYS; i++) {
        const struct test_key *t = &test_keys[i];
        whelk_key *k = NULL;
        assert_int_equal(
            whelk_key_parse_public_line(t->pub_line, strlen(t->pub_line), &k),
            0);
        assert_int_equal(wk_key_verify(k, t->sshsig_alg, wk_buf_data(&sd),
                                       wk_buf_used(&sd), t->sshsig,
                                       t->sshsig_len),
                         0);
        uint8_t *bad = malloc(t->sshsig_len);
        assert_non_null(bad);
        memcpy(bad, t->sshsig, t->sshsig_len);
        flip_bit(bad, t->sshsig_len * 8 - 20);
        assert_int_equal(wk_key_verify(k, t->sshsig_alg, wk_buf_data(&sd),
                                       wk_buf_used(&sd), bad, t->sshsig_len),
                         WHELK_ERR_SIGNATURE);
        free(bad);
        whelk_key_free(k);
    }
    wk_buf_free(&sd);
}

/* RFC 8032 section 7.1, TEST 1 and TEST 2: key from seed, public key and
 * signature are fixed. */
static void test_ed25519_rfc8032(void **state)
{
    static const struct {
        const char *seed, *pub, *msg;
        size_t msg_len;
        const char *sig;
    } v[] = {
        {"\x9d\x61\xb1\x9d\xef\xfd\x5a\x60\xba\x84\x4a\xf4\x92\xec\x2c\xc4"
         "\x44\x49\xc5\x69\x7b\x32\x69\x19\x70\x3b\xac\x03\x1c\xae\x7f\x60",
         "\xd7\x5a\x98\x01\x82\xb1\x0a\xb7\xd5\x4b\xfe\xd3\xc9\x64\x07\x3a"
         "\x0e\xe1\x72\xf3\xda\xa6\x23\x25\xaf\x02\x1a\x68\xf7\x07\x51\x1a",
         "", 0,
         "\xe5\x56\x43\x00\xc3\x60\xac\x72\x90\x86\xe2\xcc\x80\x6e\x82\x8a"
         "\x84\x87\x7f\x1e\xb8\xe5\xd9\x74\xd8\x73\xe0\x65\x22\x49\x01\x55"
         "\x5f\xb8\x82\x15\x90\xa3\x3b\xac\xc6\x1e\x39\x70\x1c\xf9\xb4\x6b"
         "\xd2\x5b\xf5\xf0\x59\x5b\xbe\x24\x65\x51\x41\x43\x8e\x7a\x10\x0b"},
        {"\x4c\xcd\x08\x9b\x28\xff\x96\xda\x9d\xb6\xc3\x46\xec\x11\x4e\x0f"
         "\x5b\x8a\x31\x9f\x35\xab\xa6\x24\xda\x8c\xf6\xed\x4f\xb8\xa6\xfb",
         "\x3d\x40\x17\xc3\xe8\x43\x89\x5a\x92\xb7\x0a\xa7\x4d\x1b\x7e\xbc"
         "\x9c\x98\x2c\xcf\x2e\xc4\x96\x8c\xc0\xcd\x55\xf1\x2a\xf4\x66\x0c",
         "\x72", 1,
         "\x92\xa0\x09\xa9\xf0\xd4\xca\xb8\x72\x0e\x82\x0b\x5f\x64\x25\x40"
         "\xa2\xb2\x7b\x54\x16\x50\x3f\x8f\xb3\x76\x22\x23\xeb\xdb\x69\xda"
         "\x08\x5a\xc1\xe4\x3e\x15\x99\x6e\x45\x8f\x36\x13\xd0\xf1\x1d\x8c"
         "\x38\x7b\x2e\xae\xb4\x30\x2a\xee\xb0\x0d\x29\x16\x12\xbb\x0c\x00"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        whelk_key *k = NULL;
        assert_int_equal(
            wk_key_from_ed25519_seed((const uint8_t *)v[i].seed, &k), 0);
        size_t bl;
        const uint8_t *blob = whelk_key_blob(k, &bl);
        assert_int_equal(bl, 4 + 11 + 4 + 32);
        assert_memory_equal(blob + 19, v[i].pub, 32);
        wk_buf out;
        wk_buf_init(&out, 256);
        assert_int_equal(wk_key_sign(k, "ssh-ed25519",
                                     (const uint8_t *)v[i].msg, v[i].msg_len,
                                     &out),
                         0);
        assert_int_equal(wk_buf_used(&out), 4 + 4 + 11 + 4 + 64);
        assert_memory_equal(wk_buf_data(&out) + 4 + 4 + 11 + 4, v[i].sig, 64);
        assert_int_equal(wk_key_verify(k, "ssh-ed25519",
                                       (const uint8_t *)v[i].msg, v[i].msg_len,
                                       wk_buf_data(&out) + 4,
                                       wk_buf_used(&out) - 4),
                         0);
        wk_buf_free(&out);
        whelk_key_free(k);
    }
}

/* Puts a signature made directly with OpenSSL into an SSH signature blob
 * named |alg|. */
static void openssl_sig_blob(EVP_PKEY *pkey, const EVP_MD *md, const char *alg,
                             const uint8_t *data, size_t len, wk_buf *out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    uint8_t sig[512];
    size_t sl = sizeof(sig);
    assert_non_null(ctx);
    assert_int_equal(EVP_DigestSignInit(ctx, &pctx, md, NULL, pkey), 1);
    assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sl, data, len), 1);
    EVP_MD_CTX_free(ctx);
    wk_buf_reset(out);
    assert_int_equal(wk_buf_put_cstring(out, alg), 0);
    assert_int_equal(wk_buf_put_string(out, sig, sl), 0);
}

static void put_bn_param(wk_buf *b, EVP_PKEY *pkey, const char *name)
{
    BIGNUM *bn = NULL;
    uint8_t mag[512];
    assert_true(EVP_PKEY_get_bn_param(pkey, name, &bn));
    int n = BN_bn2bin(bn, mag);
    assert_int_equal(wk_buf_put_mpint(b, mag, (size_t)n), 0);
    BN_free(bn);
}

/* An RSA key and signatures from OpenSSL itself: RFC 8332's algorithms
 * verify, SHA-1 "ssh-rsa" is refused, and so is a signature whose
 * algorithm name does not say how it was made. */
static void test_rsa_independent_signer(void **state)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    assert_non_null(pkey);
    wk_buf blob, sig;
    wk_buf_init(&blob, 1024);
    wk_buf_init(&sig, 1024);
    assert_int_equal(wk_buf_put_cstring(&blob, "ssh-rsa"), 0);
    put_bn_param(&blob, pkey, OSSL_PKEY_PARAM_RSA_E);
    put_bn_param(&blob, pkey, OSSL_PKEY_PARAM_RSA_N);
    whelk_key *k = NULL;
    assert_int_equal(
        whelk_key_parse_public_blob(wk_buf_data(&blob), wk_buf_used(&blob), &k),
        0);
    assert_int_equal(whelk_key_bits(k), 1024);
    static const uint8_t data[] = "signed by someone else";
    size_t dl = sizeof(data);

    openssl_sig_blob(pkey, EVP_sha256(), "rsa-sha2-256", data, dl, &sig);
    assert_int_equal(wk_key_verify(k, "rsa-sha2-256", data, dl,
                                   wk_buf_data(&sig), wk_buf_used(&sig)),
                     0);
    /* A SHA-256 signature labelled as SHA-512 does not verify. */
    openssl_sig_blob(pkey, EVP_sha256(), "rsa-sha2-512", data, dl, &sig);
    assert_int_equal(wk_key_verify(k, "rsa-sha2-512", data, dl,
                                   wk_buf_data(&sig), wk_buf_used(&sig)),
                     WHELK_ERR_SIGNATURE);
    openssl_sig_blob(pkey, EVP_sha512(), "rsa-sha2-512", data, dl, &sig);
    assert_int_equal(wk_key_verify(k, "rsa-sha2-512", data, dl,
                                   wk_buf_data(&sig), wk_buf_used(&sig)),
                     0);
    /* A genuine SHA-1 signature is refused under its own name, and so is
     * a good SHA-256 signature renamed "ssh-rsa". */
    openssl_sig_blob(pkey, EVP_sha1(), "ssh-rsa", data, dl, &sig);
    assert_int_equal(wk_key_verify(k, "ssh-rsa", data, dl, wk_buf_data(&sig),
                                   wk_buf_used(&sig)),
                     WHELK_ERR_SIGNATURE);
    openssl_sig_blob(pkey, EVP_sha256(), "ssh-rsa", data, dl, &sig);
    assert_int_equal(wk_key_verify(k, "ssh-rsa", data, dl, wk_buf_data(&sig),
                                   wk_buf_used(&sig)),
                     WHELK_ERR_SIGNATURE);
    assert_int_equal(wk_key_verify(k, "rsa-sha2-256", data, dl,
                                   wk_buf_data(&sig), wk_buf_used(&sig)),
                     WHELK_ERR_SIGNATURE);

    /* A signature with its leading zero bytes stripped still verifies
     * (OpenSSH accepts those); find one whose first byte is zero. */
    uint8_t msg[4] = {0};
    int found = 0;
    for (int tries = 0; tries < 4096 && !found; tries++) {
        memcpy(msg, &tries, sizeof(tries));
        openssl_sig_blob(pkey, EVP_sha256(), "rsa-sha2-256", msg, sizeof(msg),
                         &sig);
        const uint8_t *s = wk_buf_data(&sig) + 4 + 12 + 4;
        if (s[0] != 0) continue;
        wk_buf shorter;
        wk_buf_init(&shorter, 1024);
        assert_int_equal(wk_buf_put_cstring(&shorter, "rsa-sha2-256"), 0);
        assert_int_equal(wk_buf_put_string(&shorter, s + 1, 127), 0);
        assert_int_equal(wk_key_verify(k, "rsa-sha2-256", msg, sizeof(msg),
                                       wk_buf_data(&shorter),
                                       wk_buf_used(&shorter)),
                         0);
        wk_buf_free(&shorter);
        found = 1;
    }
    assert_true(found);
    /* A signature longer than the modulus is refused. */
    wk_buf_reset(&sig);
    uint8_t long_sig[129] = {0};
    assert_int_equal(wk_buf_put_cstring(&sig, "rsa-sha2-256"), 0);
    assert_int_equal(wk_buf_put_string(&sig, long_sig, sizeof(long_sig)), 0);
    assert_int_equal(wk_key_verify(k, "rsa-sha2-256", data, dl,
                                   wk_buf_data(&sig), wk_buf_used(&sig)),
                     WHELK_ERR_SIGNATURE);
    wk_buf_free(&blob);
    wk_buf_free(&sig);
    whelk_key_free(k);
    EVP_PKEY_free(pkey);
}

/* ECDSA signatures must be two minimal, positive mpints of at most 32
 * bytes, and nothing else. */
static void test_ecdsa_signature_encoding(void **state)
{
    whelk_key *k = load(&test_keys[1]);
    static const uint8_t data[] = "d";
    wk_buf out, bad;
    wk_buf_init(&out, 1024);
    wk_buf_init(&bad, 1024);
    assert_int_equal(wk_key_sign(k, "ecdsa-sha2-nistp256", data, 1, &out), 0);
    const uint8_t *sig = wk_buf_data(&out) + 4;
    size_t sl = wk_buf_used(&out) - 4;
    wk_reader r, rs;
    const uint8_t *name, *inner, *rv, *sv;
    size_t nl, il, rl, svl;
    wk_reader_init(&r, sig, sl);
    assert_int_equal(wk_get_string(&r, &name, &nl, 64), 0);
    assert_int_equal(wk_get_string(&r, &inner, &il, 200), 0);
    wk_reader_init(&rs, inner, il);
    assert_int_equal(wk_get_mpint(&rs, &rv, &rl, 32), 0);
    assert_int_equal(wk_get_mpint(&rs, &sv, &svl, 32), 0);
    assert_int_equal(wk_reader_end(&rs), 0);
    assert_int_equal(wk_key_verify(k, "ecdsa-sha2-nistp256", data, 1, sig, sl),
                     0);
    /* r and s swapped; s replaced by zero; a trailing byte inside and
     * outside the inner string; r with a needless leading zero. */
    for (int variant = 0; variant < 5; variant++) {
        wk_buf rsbuf;
        wk_buf_init(&rsbuf, 256);
        if (variant == 0) {
            wk_buf_put_mpint(&rsbuf, sv, svl);
            wk_buf_put_mpint(&rsbuf, rv, rl);
        } else if (variant == 1) {
            wk_buf_put_mpint(&rsbuf, rv, rl);
            wk_buf_put_mpint(&rsbuf, NULL, 0);
        } else if (variant == 4) {
            wk_buf_put_u32(&rsbuf, (uint32_t)rl + 2);
            wk_buf_put(&rsbuf, "\x00\x00", 2);
            wk_buf_put(&rsbuf, rv, rl);
            wk_buf_put_mpint(&rsbuf, sv, svl);
        } else {
            wk_buf_put_mpint(&rsbuf, rv, rl);
            wk_buf_put_mpint(&rsbuf, sv, svl);
            if (variant == 2) wk_buf_put_u8(&rsbuf, 0);
        }
        wk_buf_reset(&bad);
        wk_buf_put_cstring(&bad, "ecdsa-sha2-nistp256");
        wk_buf_put_string(&bad, wk_buf_data(&rsbuf), wk_buf_used(&rsbuf));
        if (variant == 3) wk_buf_put_u8(&bad, 0);
        assert_int_equal(wk_key_verify(k, "ecdsa-sha2-nistp256", data, 1,
                                       wk_buf_data(&bad), wk_buf_used(&bad)),
                         WHELK_ERR_SIGNATURE);
        wk_buf_free(&rsbuf);
    }
    wk_buf_free(&out);
    wk_buf_free(&bad);
    whelk_key_free(k);
}

/* ------------------------------------------------------------------------
 * Private key files: errors.
 */

static void test_encrypted_key(void **state)
{
    whelk_key *k = NULL;
    assert_int_equal(
        whelk_key_parse_private(encrypted_priv, strlen(encrypted_priv), &k),
        WHELK_ERR_KEY_ENCRYPTED);
    assert_null(k);
    /* Its public part is readable, but not this way. */
    uint8_t bin[1024];
    size_t n = unarmor(encrypted_priv, bin, sizeof(bin));
    assert_int_equal(parse_container(bin, n), WHELK_ERR_KEY_ENCRYPTED);
}

static void test_truncated_and_garbled_text(void **state)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const char *text = test_keys[i].priv;
        size_t len = strlen(text);
        const char *end = strstr(text, "-----END OPENSSH PRIVATE KEY-----");
        size_t complete = (size_t)(end - text) + 33;
        whelk_key *k = NULL;
        for (size_t n = 0; n < complete; n++) {
            assert_int_equal(whelk_key_parse_private(text, n, &k),
                             WHELK_ERR_KEY_FORMAT);
            assert_null(k);
        }
        /* The end line, whatever follows it, and leading blank space and
         * CRLF line ends are all fine. */
        assert_int_equal(whelk_key_parse_private(text, complete, &k), 0);
        whelk_key_free(k);
        char *copy = malloc(2 * len + 64);
        assert_non_null(copy);
        size_t o = (size_t)sprintf(copy, " \n\t");
        for (size_t j = 0; j < len; j++) {
            if (text[j] == '\n') copy[o++] = '\r';
            copy[o++] = text[j];
        }
        o += (size_t)sprintf(copy + o, "trailing junk\n");
        assert_int_equal(whelk_key_parse_private(copy, o, &k), 0);
        whelk_key_free(k);
        /* A character that is not base64 in the body. */
        memcpy(copy, text, len);
        copy[len / 2] = copy[len / 2] == '\n' ? '\n' : '!';
        copy[len / 2 + 1] = copy[len / 2 + 1] == '\n' ? '\n' : '!';
        assert_int_equal(whelk_key_parse_private(copy, len, &k),
                         WHELK_ERR_KEY_FORMAT);
        /* Wrong armour. */
        memcpy(copy, text, len);
        memcpy(copy + 11, "RSA", 3);
        assert_int_equal(whelk_key_parse_private(copy, len, &k),
                         WHELK_ERR_KEY_FORMAT);
        free(copy);
    }
    whelk_key *k = NULL;
    assert_int_equal(whelk_key_parse_private("", 0, &k), WHELK_ERR_KEY_FORMAT);
    assert_int_equal(whelk_key_parse_private(test_keys[0].pub_line,
                                             strlen(test_keys[0].pub_line), &k),
                     WHELK_ERR_KEY_FORMAT);
}

/* Any one base64 digit changed anywhere in the body is noticed, unless it
 * only touches the comment, which nothing checks. */
static void test_every_digit_change_detected(void **state)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < NKEYS; i++) {
        const char *text = test_keys[i].priv;
        size_t len = strlen(text);
        uint8_t bin[2048];
        size_t n = unarmor(text, bin, sizeof(bin));
        struct layout l;
        find_layout(bin, &l);
        size_t cstart =
            skip_strings(bin, l.fields, field_count(test_keys[i].type));
        size_t cend = skip_strings(bin, cstart, 1);
        cstart += 4;
        assert_true(cend <= n);
        char *copy = malloc(len + 1);
        assert_non_null(copy);
        const char *body = strchr(text, '\n') + 1;
        size_t body_at = (size_t)(body - text), digit = 0;
        for (size_t j = body_at; text[j] != '-'; j++) {
            if (text[j] == '\n') continue;
            /* The digit's lowest bit flipped, so one known byte changes. */
            size_t changed = (digit * 6 + 5) / 8;
            digit++;
            if (text[j] == '=') continue;
            memcpy(copy, text, len + 1);
            size_t v = (size_t)(strchr(digits, text[j]) - digits);
            copy[j] = digits[v ^ 1];
            whelk_key *k = NULL;
            int rc = whelk_key_parse_private(copy, len, &k);
            if (changed >= cstart && changed < cend) {
                assert_int_equal(rc, 0);
            } else {
                if (rc != WHELK_ERR_KEY_FORMAT && rc != WHELK_ERR_KEY_ENCRYPTED)
                    fail_msg("key %zu: digit %zu (byte %zu) gave %d", i,
                             digit - 1, changed, rc);
                assert_null(k);
            }
            whelk_key_free(k);
        }
        free(copy);
    }
}

/* Structural damage inside the container, one thing at a time. */
static void test_container_damage(void **state)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const struct test_key *t = &test_keys[i];
        uint8_t orig[2048], bin[2100];
        size_t n = unarmor(t->priv, orig, sizeof(orig));
        struct layout l;
        find_layout(orig, &l);
        assert_int_equal(l.priv + 4 + wk_load_u32(orig + l.priv), n);
        /* Unchanged, the re-armoured container parses. */
        assert_int_equal(parse_container(orig, n), 0);
#define DAMAGE(expect, stmt)                                                   \
    do {                                                                       \
        memcpy(bin, orig, n);                                                  \
        size_t len = n;                                                        \
        stmt;                                                                  \
        assert_int_equal(parse_container(bin, len), expect);                   \
    } while (0)
        /* Unequal check integers. */
        DAMAGE(WHELK_ERR_KEY_FORMAT, bin[l.sec + 7] ^= 1);
        /* A cipher other than none, whatever else is wrong. */
        DAMAGE(WHELK_ERR_KEY_ENCRYPTED, bin[l.cipher + 7] = 'f');
        DAMAGE(WHELK_ERR_KEY_ENCRYPTED,
               (bin[l.cipher + 7] = 'f', bin[l.sec] ^= 1));
        /* A kdf without a cipher; kdf options; two keys; the magic. */
        DAMAGE(WHELK_ERR_KEY_FORMAT, bin[l.kdf + 7] = 'f');
        DAMAGE(WHELK_ERR_KEY_FORMAT, bin[l.nkeys + 3] = 2);
        DAMAGE(WHELK_ERR_KEY_FORMAT, bin[l.nkeys + 3] = 0);
        DAMAGE(WHELK_ERR_KEY_FORMAT, bin[13] = '2');
        DAMAGE(WHELK_ERR_KEY_FORMAT, bin[14] = '\n');
        DAMAGE(WHELK_ERR_KEY_FORMAT, (void)(len = 14));
        /* Bytes after the private section. */
        DAMAGE(WHELK_ERR_KEY_FORMAT, bin[len++] = 0);
        /* The last padding byte wrong. */
        DAMAGE(WHELK_ERR_KEY_FORMAT, bin[len - 1] ^= 0x10);
        /* One more correct padding byte: no longer a whole block. */
        DAMAGE(WHELK_ERR_KEY_FORMAT,
               (bin[len] = (uint8_t)(bin[len - 1] + 1), len++,
                wk_store_u32(bin + l.priv, wk_load_u32(bin + l.priv) + 1)));
        /* The outer public key differs from the private key's: its last
         * bit (ed25519: another key; ECDSA: off the curve; RSA: another
         * modulus, kept odd) flipped. */
        DAMAGE(WHELK_ERR_KEY_FORMAT, bin[l.priv - 1] ^= 2);
        /* The type name inside the private section. */
        DAMAGE(WHELK_ERR_KEY_FORMAT, bin[l.sec + 8 + 4] ^= 1);
        /* The last byte of each private field. */
        for (int f = 0; f < field_count(t->type); f++) {
            size_t at = skip_strings(orig, l.fields, f + 1) - 1;
            DAMAGE(WHELK_ERR_KEY_FORMAT, bin[at] ^= 2);
        }
#undef DAMAGE
        if (t->type == WHELK_KEY_RSA) {
            /* The modulus changed alike in both copies (kept odd): no
             * longer the product of the primes. */
            memcpy(bin, orig, n);
            bin[l.priv - 1] ^= 2;
            bin[skip_strings(orig, l.fields, 1) - 1] ^= 2;
            assert_int_equal(parse_container(bin, n), WHELK_ERR_KEY_FORMAT);
        }
        if (t->type == WHELK_KEY_ED25519) {
            /* The seed itself (its public half unchanged). */
            memcpy(bin, orig, n);
            bin[skip_strings(orig, l.fields, 1) + 4] ^= 1;
            assert_int_equal(parse_container(bin, n), WHELK_ERR_KEY_FORMAT);
        }
    }
}

/* ------------------------------------------------------------------------
 * Writing private keys.
 */

/* What we write for a key ssh-keygen wrote is the same container but for
 * the random check integers, in the same text layout. */
static void test_write_matches_ssh_keygen(void **state)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const struct test_key *t = &test_keys[i];
        whelk_key *k = load(t), *k2 = NULL;
        char *text = NULL;
        size_t tl = 0;
        assert_int_equal(whelk_key_write_private(k, t->comment, &text, &tl), 0);
        assert_int_equal(strlen(text), tl);
        assert_int_equal(tl, strlen(t->priv));
        /* Line by line the same lengths: 70-column base64. */
        for (size_t j = 0; j < tl; j++)
            assert_int_equal(text[j] == '\n', t->priv[j] == '\n');
        uint8_t a[2048], b[2048];
        size_t an = unarmor(t->priv, a, sizeof(a));
        size_t bn = unarmor(text, b, sizeof(b));
        assert_int_equal(an, bn);
        struct layout l;
        find_layout(a, &l);
        assert_memory_equal(a, b, l.sec);
        assert_memory_equal(b + l.sec, b + l.sec + 4, 4);
        assert_memory_equal(a + l.sec + 8, b + l.sec + 8, an - l.sec - 8);
        assert_int_equal(whelk_key_parse_private(text, tl, &k2), 0);
        assert_true(whelk_key_equal_public(k, k2));
        assert_true(whelk_key_has_private(k2));
        whelk_key_free(k2);
        whelk_free_secret(text, tl);
        whelk_key_free(k);
    }
}

static void test_generate_write_read(void **state)
{
    whelk_key *k = NULL, *k2 = NULL, *pub = NULL;
    char *text = NULL, *line = NULL;
    size_t tl = 0;
    assert_int_equal(whelk_key_generate_ed25519(&k), 0);
    assert_int_equal(whelk_key_type_of(k), WHELK_KEY_ED25519);
    assert_true(whelk_key_has_private(k));
    assert_int_equal(whelk_key_write_private(k, "whelk@test", &text, &tl), 0);
    assert_int_equal(strlen(text), tl);
    assert_true(strncmp(text, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 36) ==
                0);
    assert_string_equal(text + tl - 34, "-----END OPENSSH PRIVATE KEY-----\n");
    /* Re-read identically: same public key, and the private half signs
     * what the original verifies. */
    assert_int_equal(whelk_key_parse_private(text, tl, &k2), 0);
    assert_true(whelk_key_equal_public(k, k2));
    char *text2 = NULL;
    size_t tl2 = 0;
    assert_int_equal(whelk_key_write_private(k2, "whelk@test", &text2, &tl2),
                     0);
    uint8_t a[1024], b[1024];
    size_t an = unarmor(text, a, sizeof(a)), bn = unarmor(text2, b, sizeof(b));
    struct layout l;
    find_layout(a, &l);
    assert_int_equal(an, bn);
    assert_memory_equal(a, b, l.sec);
    assert_memory_equal(a + l.sec + 8, b + l.sec + 8, an - l.sec - 8);
    wk_buf sig;
    wk_buf_init(&sig, 256);
    assert_int_equal(
        wk_key_sign(k2, "ssh-ed25519", (const uint8_t *)"m", 1, &sig), 0);
    assert_int_equal(wk_key_verify(k, "ssh-ed25519", (const uint8_t *)"m", 1,
                                   wk_buf_data(&sig) + 4,
                                   wk_buf_used(&sig) - 4),
                     0);
    assert_int_equal(whelk_key_write_public(k, "whelk@test", &line), 0);
    assert_true(strncmp(line, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 37) ==
                0);
    assert_string_equal(line + strlen(line) - 12, " whelk@test\n");
    assert_int_equal(whelk_key_parse_public_line(line, strlen(line), &pub), 0);
    assert_true(whelk_key_equal_public(k, pub));
    /* Two generated keys differ. */
    whelk_key *other = NULL;
    assert_int_equal(whelk_key_generate_ed25519(&other), 0);
    assert_false(whelk_key_equal_public(k, other));
    whelk_key_free(other);
    wk_buf_free(&sig);
    free(line);
    whelk_free_secret(text, tl);
    whelk_free_secret(text2, tl2);
    whelk_key_free(k);
    whelk_key_free(k2);
    whelk_key_free(pub);
}

/* ------------------------------------------------------------------------
 * Base64, RFC 4648 section 10.
 */

static void test_base64(void **state)
{
    static const char *plain[] = {"",     "f",     "fo",    "foo",
                                  "foob", "fooba", "foobar"};
    static const char *padded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                   "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *bare[] = {"",       "Zg",      "Zm8",     "Zm9v",
                                 "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    char enc[16];
    uint8_t dec[16];
    for (size_t i = 0; i < 7; i++) {
        size_t n = strlen(plain[i]);
        assert_int_equal(
            wk_base64_encode((const uint8_t *)plain[i], n, enc, sizeof(enc), 1),
            strlen(padded[i]));
        assert_string_equal(enc, padded[i]);
        assert_int_equal(
            wk_base64_encode((const uint8_t *)plain[i], n, enc, sizeof(enc), 0),
            strlen(bare[i]));
        assert_string_equal(enc, bare[i]);
        /* Exactly the room for the digits and the NUL is enough. */
        if (n) {
            assert_int_equal(wk_base64_encode((const uint8_t *)plain[i], n, enc,
                                              strlen(padded[i]), 1),
                             0);
            assert_int_equal(wk_base64_encode((const uint8_t *)plain[i], n, enc,
                                              strlen(padded[i]) + 1, 1),
                             strlen(padded[i]));
        }
        assert_int_equal(
            wk_base64_decode(padded[i], strlen(padded[i]), dec, sizeof(dec)),
            n);
        assert_memory_equal(dec, plain[i], n);
        assert_int_equal(
            wk_base64_decode(bare[i], strlen(bare[i]), dec, sizeof(dec)), n);
        assert_memory_equal(dec, plain[i], n);
        /* An output one byte short. */
        if (n)
            assert_int_equal(
                wk_base64_decode(padded[i], strlen(padded[i]), dec, n - 1), -1);
    }
    /* All 64 digits and whitespace between them. */
    static const char all[] =
        "ABCDEFGHIJKLMNOP QRSTUVWXYZabcdef\nghijklmnopqrstuv\r\n"
        "wxyz0123456789+/";
    assert_int_equal(wk_base64_decode(all, strlen(all), dec, 0), -1);
    uint8_t big[64];
    assert_int_equal(wk_base64_decode(all, strlen(all), big, sizeof(big)), 48);
    assert_int_equal(big[0], 0x00);
    assert_int_equal(big[1], 0x10);
    assert_int_equal(big[47], 0xbf);
    static const char *bad[] = {
        "Z",        "Zm9vY",  "Zg=",         "Zg===", "Zm8==",   "Z===",
        "=",        "Zg==Zg", "Zm9v=",       "Zh==",  "Zm9=",    "Zm-v",
        "Zm9v\x00", "Zm_v",   "Zm9v YQ=== ", "Zm9vA", "Zm9vA==="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(wk_base64_decode(bad[i],
                                          strlen(bad[i]) + (i == 12 ? 1 : 0),
                                          dec, sizeof(dec)),
                         -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_fingerprint),
        cmocka_unit_test(test_public_blob_and_line),
        cmocka_unit_test(test_public_line_forms),
        cmocka_unit_test(test_public_blob_rejects),
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_sig_algs),
        cmocka_unit_test(test_openssh_signatures),
        cmocka_unit_test(test_ed25519_rfc8032),
        cmocka_unit_test(test_rsa_independent_signer),
        cmocka_unit_test(test_ecdsa_signature_encoding),
        cmocka_unit_test(test_encrypted_key),
        cmocka_unit_test(test_truncated_and_garbled_text),
        cmocka_unit_test(test_every_digit_change_detected),
        cmocka_unit_test(test_container_damage),
        cmocka_unit_test(test_write_matches_ssh_keygen),
        cmocka_unit_test(test_generate_write_read),
        cmocka_unit_test(test_base64),
    };
    return cmocka_run_group_tests_name("key", tests, NULL, NULL);
}
