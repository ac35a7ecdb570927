/*
 * key: host and user keys (the internal side of whelk_key_*).
 *
 * Three modules share this header:
 * - key.c: the table of key types, building keys from their fields,
 *   public key blobs (RFC 4253 section 6.6) and lines, fingerprints;
 * - privkey.c: OpenSSH's private key file format (PROTOCOL.key);
 * - keysig.c: signature blobs, made and verified: RFC 8709 (ed25519),
 *   RFC 5656 (ecdsa-sha2-nistp256) and RFC 8332 (rsa-sha2-256/512).
 * All cryptography goes through OpenSSL EVP.
 */
#ifndef WHELK_KEY_H
#define WHELK_KEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "buf.h"

#define WK_KEY_MAX_BLOB 8192   /* a 16384-bit RSA blob is ~2.1 KiB */
#define WK_KEY_MAX_NAME 64     /* key type and algorithm names */
#define WK_KEY_MAX_TEXT (64 * 1024) /* an armoured private key file */
#define WK_ED25519_LEN 32
#define WK_P256_POINT_LEN 65   /* 0x04 || x || y */
#define WK_P256_SCALAR_LEN 32

typedef struct wk_key_kind wk_key_kind;

struct whelk_key {
    const wk_key_kind *kind;
    EVP_PKEY *pkey;
    int has_private;
    uint8_t *blob; /* the public key blob, made once from pkey */
    size_t blob_len;
};

/* One entry per key type: what used to be a switch in every function. */
struct wk_key_kind {
    whelk_key_type type;
    const char *name;       /* in blobs, key lines and files */
    const char *short_name; /* as ssh-keygen -l prints it */
    const char *sig_algs;   /* signature algorithms, best first */
    /* The fields after the type name: public ones in blob order, or the
     * private section's (|priv|); |r| is just past the name. */
    int (*read_fields)(wk_reader *r, int priv, whelk_key **out);
    /* Appends the public fields after the type name, in blob order. */
    int (*put_public)(wk_buf *b, const EVP_PKEY *pkey);
    /* Appends the private section's entry, type name included
     * (privkey.c). */
    int (*put_private)(wk_buf *b, const whelk_key *k);
};

/* The kind named |name|, or NULL. */
const wk_key_kind *wk_key_kind_find(const uint8_t *name, size_t len);
/* Every signature algorithm of every kind, best first, comma-separated:
 * what a client offers for host keys and a server announces in
 * server-sig-algs. */
const char *wk_key_all_sig_algs(void);

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

/* Reads a key of |kind| from |r| (see wk_key_kind.read_fields); OpenSSL's
 * many reasons to refuse a key all become WHELK_ERR_KEY_FORMAT. */
int wk_key_read_fields(wk_reader *r, const wk_key_kind *kind, int priv,
                       whelk_key **out);
/* Appends the named BIGNUM parameter of |pkey| as an mpint; the staging
 * copy is wiped, since it may be a private value. */
int wk_key_put_bn_param(wk_buf *b, const EVP_PKEY *pkey, const char *name);

/* privkey.c: the private section entries of each kind. */
int wk_privkey_put_ed25519(wk_buf *b, const whelk_key *k);
int wk_privkey_put_ecdsa(wk_buf *b, const whelk_key *k);
int wk_privkey_put_rsa(wk_buf *b, const whelk_key *k);

#endif
