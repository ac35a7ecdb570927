/*
 * privkey: OpenSSH's private key file format (PROTOCOL.key), read and
 * written unencrypted for every key type: armour, then base64 of
 *   "openssh-key-v1\0" string ciphername, string kdfname,
 *   string kdfoptions, uint32 N, N public key blobs, string private
 * where private is uint32 checkint twice, then per key its type, fields
 * and comment, padded with 1, 2, 3, ... to the cipher's block size.
 *
 * Key files may have been written by anyone: everything is parsed with
 * the bounded readers of buf.h. Secret material lives only in buffers
 * sized once (a realloc would leave an unwiped copy behind) and is wiped
 * before it is freed.
 */
#include "key.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#define MAX_COMMENT     4096
#define PEM_COLUMNS     70    /* what ssh-keygen writes */
#define PRIV_BLOCK      8     /* padding block when ciphername is none */

#define ARMOR_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define ARMOR_END   "-----END OPENSSH PRIVATE KEY-----"
#define AUTH_MAGIC  "openssh-key-v1" /* written with its NUL */

static int name_is(const uint8_t *p, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(p, s, n) == 0;
}

/* A buffer for secrets: allocated once at its final size and bounded
 * there, so it can never be moved by realloc. */
static int secret_buf_init(wk_buf *b, size_t size)
{
    wk_buf_init(b, size);
    return wk_buf_reserve(b, size);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Finds the base64 body between the armour lines. As with OpenSSH, the
 * end line must start a line and whatever follows it is ignored. */
static int find_body(const char *text, size_t len, const char **body,
                     size_t *body_len)
{
    static const char end_line[] = "\n" ARMOR_END;
    const size_t bl = strlen(ARMOR_BEGIN);
    size_t i = 0;
    while (i < len && is_space(text[i]))
        i++;
    if (len - i < bl || memcmp(text + i, ARMOR_BEGIN, bl) != 0)
        return WHELK_ERR_KEY_FORMAT;
    i += bl;
    const char *end = memmem(text + i, len - i, end_line, sizeof(end_line) - 1);
    if (!end) return WHELK_ERR_KEY_FORMAT;
    *body = text + i;
    *body_len = (size_t)(end - (text + i));
    return 0;
}

/* The private section; |sec| is wiped by the caller. */
static int parse_private_section(const uint8_t *sec, size_t len,
                                 whelk_key **out)
{
    wk_reader r;
    uint32_t check1, check2;
    const uint8_t *name, *comment;
    size_t nl, cl;
    const wk_key_kind *kind;
    whelk_key *k = NULL;
    if (len % PRIV_BLOCK) return WHELK_ERR_KEY_FORMAT;
    wk_reader_init(&r, sec, len);
    /* Unequal check integers are what a wrong passphrase gives; without
     * a cipher they mean the file is damaged. */
    if (wk_get_u32(&r, &check1) || wk_get_u32(&r, &check2) ||
        check1 != check2 || wk_get_string(&r, &name, &nl, WK_KEY_MAX_NAME) ||
        !(kind = wk_key_kind_find(name, nl)) ||
        wk_key_read_fields(&r, kind, 1, &k) != 0)
        return WHELK_ERR_KEY_FORMAT;
    size_t pad = 0;
    if (wk_get_string(&r, &comment, &cl, WK_KEY_MAX_TEXT)) goto bad;
    while (wk_reader_left(&r) > 0) {
        uint8_t v;
        if (wk_get_u8(&r, &v) || v != ++pad || pad >= PRIV_BLOCK) goto bad;
    }
    *out = k;
    return 0;
bad:
    whelk_key_free(k);
    return WHELK_ERR_KEY_FORMAT;
}

/* The decoded container; |raw| is wiped by the caller. */
static int parse_container(const uint8_t *raw, size_t len, whelk_key **out)
{
    wk_reader r;
    const uint8_t *magic, *cipher, *kdf, *kdfopts, *pub, *sec;
    size_t cl, kl, kol, pl, sl;
    uint32_t nkeys;
    wk_reader_init(&r, raw, len);
    if (wk_get_bytes(&r, &magic, sizeof(AUTH_MAGIC)) ||
        memcmp(magic, AUTH_MAGIC, sizeof(AUTH_MAGIC)) != 0 ||
        wk_get_string(&r, &cipher, &cl, WK_KEY_MAX_NAME))
        return WHELK_ERR_KEY_FORMAT;
    if (!name_is(cipher, cl, "none")) return WHELK_ERR_KEY_ENCRYPTED;
    if (wk_get_string(&r, &kdf, &kl, WK_KEY_MAX_NAME) || !name_is(kdf, kl, "none") ||
        wk_get_string(&r, &kdfopts, &kol, WK_KEY_MAX_TEXT) || kol != 0 ||
        wk_get_u32(&r, &nkeys) || nkeys != 1 ||
        wk_get_string(&r, &pub, &pl, WK_KEY_MAX_BLOB) ||
        wk_get_string(&r, &sec, &sl, WK_KEY_MAX_TEXT) || wk_reader_end(&r))
        return WHELK_ERR_KEY_FORMAT;
    whelk_key *outer = NULL, *k = NULL;
    int rc = whelk_key_parse_public_blob(pub, pl, &outer);
    if (!rc) rc = parse_private_section(sec, sl, &k);
    /* The unencrypted copy of the public key must be the private key's. */
    if (!rc && !whelk_key_equal_public(k, outer)) rc = WHELK_ERR_KEY_FORMAT;
    whelk_key_free(outer);
    if (rc) {
        whelk_key_free(k);
        return rc == WHELK_ERR_NOMEM ? rc : WHELK_ERR_KEY_FORMAT;
    }
    *out = k;
    return 0;
}

int whelk_key_parse_private(const char *text, size_t len, whelk_key **out)
{
    if (!out) return WHELK_ERR_INVAL;
    *out = NULL;
    if (!text || len > WK_KEY_MAX_TEXT) return WHELK_ERR_KEY_FORMAT;
    const char *body;
    size_t body_len;
    int rc = find_body(text, len, &body, &body_len);
    if (rc) return rc;
    size_t cap = body_len / 4 * 3 + 3;
    uint8_t *raw = malloc(cap);
    if (!raw) return WHELK_ERR_NOMEM;
    long n = wk_base64_decode(body, body_len, raw, cap);
    rc = n < 0 ? WHELK_ERR_KEY_FORMAT : parse_container(raw, (size_t)n, out);
    whelk_free_secret(raw, cap);
    if (rc) ERR_clear_error();
    return rc;
}

/* The private section's entries, type name included: ed25519 and ECDSA
 * repeat the public blob and add their secret; RSA lists its fields in an
 * order of its own. */
int wk_privkey_put_ed25519(wk_buf *b, const whelk_key *k)
{
    /* The public blob, then seed || public key. */
    uint8_t sk[2 * WK_ED25519_LEN];
    size_t sl = WK_ED25519_LEN, pl = WK_ED25519_LEN;
    int rc = WHELK_ERR_CRYPTO;
    if (EVP_PKEY_get_raw_private_key(k->pkey, sk, &sl) &&
        sl == WK_ED25519_LEN &&
        EVP_PKEY_get_raw_public_key(k->pkey, sk + WK_ED25519_LEN, &pl) &&
        pl == WK_ED25519_LEN) {
        rc = wk_buf_put(b, k->blob, k->blob_len);
        if (!rc) rc = wk_buf_put_string(b, sk, sizeof(sk));
    }
    OPENSSL_cleanse(sk, sizeof(sk));
    return rc;
}

int wk_privkey_put_ecdsa(wk_buf *b, const whelk_key *k)
{
    int rc = wk_buf_put(b, k->blob, k->blob_len);
    return rc ? rc
              : wk_key_put_bn_param(b, k->pkey, OSSL_PKEY_PARAM_PRIV_KEY);
}

int wk_privkey_put_rsa(wk_buf *b, const whelk_key *k)
{
    static const char *const rsa_fields[] = {
        OSSL_PKEY_PARAM_RSA_N,       OSSL_PKEY_PARAM_RSA_E,
        OSSL_PKEY_PARAM_RSA_D,       OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
        OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2};
    int rc = wk_buf_put_cstring(b, k->kind->name);
    for (size_t i = 0; !rc && i < sizeof(rsa_fields) / sizeof(*rsa_fields); i++)
        rc = wk_key_put_bn_param(b, k->pkey, rsa_fields[i]);
    return rc;
}

/* Wraps |bin| in the armour with 70-column base64 lines, into an
 * allocation of exactly the text's length plus its NUL. */
static int armor(const uint8_t *bin, size_t len, char **out, size_t *outlen)
{
    size_t enc_len = wk_base64_padded_len(len);
    size_t lines = (enc_len + PEM_COLUMNS - 1) / PEM_COLUMNS;
    size_t bl = strlen(ARMOR_BEGIN), el = strlen(ARMOR_END);
    size_t total = bl + 1 + enc_len + lines + el + 1;
    char *enc = malloc(enc_len + 1);
    char *text = malloc(total + 1);
    if (!enc || !text ||
        wk_base64_encode(bin, len, enc, enc_len + 1, 1) != enc_len) {
        whelk_free_secret(enc, enc_len + 1);
        free(text);
        return WHELK_ERR_NOMEM;
    }
    size_t o = 0;
    memcpy(text + o, ARMOR_BEGIN "\n", bl + 1);
    o += bl + 1;
    for (size_t i = 0; i < enc_len; i += PEM_COLUMNS) {
        size_t n = enc_len - i < PEM_COLUMNS ? enc_len - i : PEM_COLUMNS;
        memcpy(text + o, enc + i, n);
        o += n;
        text[o++] = '\n';
    }
    memcpy(text + o, ARMOR_END "\n", el + 2); /* with the NUL */
    o += el + 1;
    whelk_free_secret(enc, enc_len + 1);
    *out = text;
    *outlen = o;
    return 0;
}

int whelk_key_write_private(const whelk_key *k, const char *comment, char **out,
                            size_t *outlen)
{
    if (!k || !out || !outlen) return WHELK_ERR_INVAL;
    if (!k->has_private) return WHELK_ERR_INVAL;
    if (!comment) comment = "";
    size_t clen = strlen(comment);
    if (clen > MAX_COMMENT) return WHELK_ERR_INVAL;
    uint32_t check;
    if (RAND_bytes((uint8_t *)&check, sizeof(check)) != 1)
        return WHELK_ERR_CRYPTO;
    /* Each private field is at most the size of the modulus or the blob,
     * so eight blobs' worth bounds the section. */
    wk_buf sec, all;
    size_t sec_cap = 8 * k->blob_len + clen + 64;
    int rc = secret_buf_init(&sec, sec_cap);
    if (rc) return rc;
    rc = secret_buf_init(&all, sizeof(AUTH_MAGIC) + 64 + k->blob_len + sec_cap);
    if (!rc) rc = wk_buf_put_u32(&sec, check);
    if (!rc) rc = wk_buf_put_u32(&sec, check);
    if (!rc) rc = k->kind->put_private(&sec, k);
    if (!rc) rc = wk_buf_put_string(&sec, comment, clen);
    for (uint8_t i = 1; !rc && wk_buf_used(&sec) % PRIV_BLOCK; i++)
        rc = wk_buf_put_u8(&sec, i);
    if (!rc) rc = wk_buf_put(&all, AUTH_MAGIC, sizeof(AUTH_MAGIC));
    if (!rc) rc = wk_buf_put_cstring(&all, "none");
    if (!rc) rc = wk_buf_put_cstring(&all, "none");
    if (!rc) rc = wk_buf_put_string(&all, "", 0);
    if (!rc) rc = wk_buf_put_u32(&all, 1);
    if (!rc) rc = wk_buf_put_string(&all, k->blob, k->blob_len);
    if (!rc) rc = wk_buf_put_string(&all, wk_buf_data(&sec), wk_buf_used(&sec));
    if (!rc) rc = armor(wk_buf_data(&all), wk_buf_used(&all), out, outlen);
    wk_buf_free_secret(&sec);
    wk_buf_free_secret(&all);
    OPENSSL_cleanse(&check, sizeof(check));
    return rc;
}
