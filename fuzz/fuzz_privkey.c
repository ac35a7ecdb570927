/*
 * Fuzz target: the key parsers of lib/key.c: OpenSSH private key files,
 * public key blobs and public key lines, and signature verification of
 * arbitrary signature blobs against a parsed key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "key.h"

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    whelk_key *k = NULL;
    if (whelk_key_parse_private((const char *)in, len, &k) == 0)
        whelk_key_free(k);
    k = NULL;
    if (whelk_key_parse_public_blob(in, len, &k) == 0) {
        wk_key_verify(k, "ssh-ed25519", in, len / 2, in + len / 2,
                      len - len / 2);
        whelk_key_free(k);
    }
    k = NULL;
    if (whelk_key_parse_public_line((const char *)in, len, &k) == 0)
        whelk_key_free(k);
    /* A private key wrapped in armour, so the inner parser gets reached
     * more often than by chance. */
    size_t cap = len * 2 + 128;
    char *text = malloc(cap);
    uint8_t *raw = malloc(len + 15);
    if (text && raw) {
        memcpy(raw, "openssh-key-v1", 15);
        memcpy(raw + 15, in, len);
        size_t o = (size_t)snprintf(text, cap,
                                    "-----BEGIN OPENSSH PRIVATE KEY-----\n");
        o += wk_base64_encode(raw, len + 15, text + o, cap - o, 1);
        o += (size_t)snprintf(text + o, cap - o,
                              "\n-----END OPENSSH PRIVATE KEY-----\n");
        k = NULL;
        if (whelk_key_parse_private(text, o, &k) == 0) whelk_key_free(k);
    }
    free(text);
    free(raw);
    return 0;
}
