/*
 * key: host and user keys (the internal side of whelk_key_*).
 *
 * Public key blobs and signature blobs follow RFC 4253 section 6.6,
 * RFC 8709 (ed25519), RFC 5656 (ecdsa-sha2-nistp256) and RFC 8332
 * (rsa-sha2-256/512). Private keys are read and written in OpenSSH's
 * format (PROTOCOL.key). All cryptography goes through OpenSSL EVP.
 */
#ifndef WHELK_KEY_H
#define WHELK_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Signature algorithm names a key can make, comma-separated, best first:
 * "ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512,rsa-sha2-256". */
const char *wk_key_sig_algs(const whelk_key *key);
/* Non-zero if |sigalg| is a signature algorithm this key type can use
 * (plain "ssh-rsa" SHA-1 is never accepted). */
int wk_key_sig_alg_ok(const whelk_key *key, const char *sigalg);
/* Signs |data| and appends the signature blob (string algorithm, string
 * signature) as an SSH string, length prefix included, to |out|. */
int wk_key_sign(const whelk_key *key, const char *sigalg, const uint8_t *data,
                size_t len, wk_buf *out);
/* Verifies a signature blob (the string's contents: string algorithm,
 * string signature) over |data|. The algorithm inside the blob must equal
 * |sigalg| and suit the key. Returns 0 or WHELK_ERR_SIGNATURE. */
int wk_key_verify(const whelk_key *key, const char *sigalg, const uint8_t *data,
                  size_t len, const uint8_t *sig, size_t siglen);

/* An ed25519 key from its 32-byte private seed (RFC 8032 section 5.1.5).
 * For known-answer tests and deterministic test keys. */
int wk_key_from_ed25519_seed(const uint8_t *seed, whelk_key **out);

/* Base64 (RFC 4648 section 4) for key files and lines. Encoding writes the
 * digits (with '=' padding when |pad|) and a NUL, and returns the number
 * of digits, or 0 when |outlen| cannot hold them and the NUL. */
size_t wk_base64_encode(const uint8_t *in, size_t len, char *out, size_t outlen,
                        int pad);
/* Decodes, skipping spaces, tabs and line breaks; padding may be left out
 * but must be right when present, and the unused low bits must be zero.
 * Returns the number of bytes, or -1 on bad input or a short |out|. */
long wk_base64_decode(const char *in, size_t len, uint8_t *out, size_t outlen);

#endif
