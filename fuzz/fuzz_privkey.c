/*
 * Fuzz target for lib/key.c: the same bytes go to every key parser.
 *
 *  - as an OpenSSH private key file, and again as the body of one (the
 *    bytes after "openssh-key-v1\0", base64-encoded inside the armour), so
 *    that the container parser is reached without valid base64 by chance;
 *  - as a public key line;
 *  - as a public key blob, and as "string blob, string algorithm, string
 *    signature blob, data" to verify a hostile signature against a hostile
 *    key, as userauth and the client's host key check do.
 *
 * Whatever parses must survive a round trip: its blob parses back to the
 * same key, its public line too, a private key written out reads back as
 * the same key, and a signature it makes verifies. Any failure aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "key.h"

static void check(int ok)
{
    if (!ok) abort();
}

/* The round trips every parsed key must pass. */
static void exercise(const whelk_key *k)
{
    size_t bl;
    const uint8_t *blob = whelk_key_blob(k, &bl);
    whelk_key *again = NULL;
    check(whelk_key_parse_public_blob(blob, bl, &again) == 0);
    check(whelk_key_equal_public(k, again));
    whelk_key_free(again);

    char *line = NULL;
    check(whelk_key_write_public(k, "fuzz", &line) == 0);
    again = NULL;
    check(whelk_key_parse_public_line(line, strlen(line), &again) == 0);
    check(whelk_key_equal_public(k, again));
    whelk_key_free(again);
    free(line);

    char fp[64];
    check(whelk_key_fingerprint(k, fp, sizeof(fp)) == 0);
    check(strlen(fp) == 7 + 43);
    if (!whelk_key_has_private(k)) return;

    char *text = NULL;
    size_t tl = 0;
    check(whelk_key_write_private(k, "fuzz", &text, &tl) == 0);
    again = NULL;
    check(whelk_key_parse_private(text, tl, &again) == 0);
    check(whelk_key_equal_public(k, again));
    check(whelk_key_has_private(again));
    whelk_key_free(again);
    whelk_free_secret(text, tl);

    /* The first algorithm the key offers. */
    char alg[32];
    const char *algs = wk_key_sig_algs(k);
    size_t al = strcspn(algs, ",");
    check(al < sizeof(alg));
    memcpy(alg, algs, al);
    alg[al] = 0;
    wk_buf sig;
    wk_buf_init(&sig, 8192);
    check(wk_key_sign(k, alg, blob, bl, &sig) == 0);
    check(wk_key_verify(k, alg, blob, bl, wk_buf_data(&sig) + 4,
                        wk_buf_used(&sig) - 4) == 0);
    wk_buf_free(&sig);
}

static void try_private(const char *text, size_t len)
{
    whelk_key *k = NULL;
    int rc = whelk_key_parse_private(text, len, &k);
    check((rc == 0) == (k != NULL));
    if (rc == 0) exercise(k);
    whelk_key_free(k);
}

static void try_container_body(const uint8_t *in, size_t len)
{
    static const char magic[] = "openssh-key-v1"; /* and its NUL */
    size_t raw_len = sizeof(magic) + len;
    size_t cap = raw_len / 3 * 4 + 4 + 128;
    uint8_t *raw = malloc(raw_len);
    char *text = malloc(cap);
    if (raw && text) {
        memcpy(raw, magic, sizeof(magic));
        if (len) memcpy(raw + sizeof(magic), in, len);
        size_t o = (size_t)snprintf(text, cap,
                                    "-----BEGIN OPENSSH PRIVATE KEY-----\n");
        size_t n = wk_base64_encode(raw, raw_len, text + o, cap - o, 1);
        check(n > 0);
        o += n;
        o += (size_t)snprintf(text + o, cap - o,
                              "\n-----END OPENSSH PRIVATE KEY-----\n");
        try_private(text, o);
    }
    free(raw);
    free(text);
}

static void try_public(const uint8_t *in, size_t len)
{
    whelk_key *k = NULL;
    if (whelk_key_parse_public_line((const char *)in, len, &k) == 0) {
        check(!whelk_key_has_private(k));
        exercise(k);
    }
    whelk_key_free(k);

    k = NULL;
    if (whelk_key_parse_public_blob(in, len, &k) == 0) {
        size_t bl;
        const uint8_t *blob = whelk_key_blob(k, &bl);
        /* Only the canonical encoding parses. */
        check(bl == len && memcmp(blob, in, len) == 0);
        exercise(k);
    }
    whelk_key_free(k);

    wk_reader r;
    const uint8_t *blob, *alg, *sig;
    size_t bl, al, sl;
    wk_reader_init(&r, in, len);
    if (wk_get_string(&r, &blob, &bl, 16384) ||
        wk_get_string(&r, &alg, &al, 64) || wk_get_string(&r, &sig, &sl, 16384))
        return;
    char name[65];
    memcpy(name, alg, al);
    name[al] = 0;
    k = NULL;
    if (whelk_key_parse_public_blob(blob, bl, &k) == 0) {
        int rc =
            wk_key_verify(k, name, r.p + r.pos, wk_reader_left(&r), sig, sl);
        check(rc == 0 || rc == WHELK_ERR_SIGNATURE);
        /* SHA-1 RSA signatures never verify. */
        check(rc != 0 || strcmp(name, "ssh-rsa") != 0);
    }
    whelk_key_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    try_private((const char *)in, len);
    try_container_body(in, len);
    try_public(in, len);
    return 0;
}
