/*
 * cipher: the binary packet protocol (RFC 4253 section 6) with
 * chacha20-poly1305@openssh.com (OpenSSH PROTOCOL.chacha20poly1305),
 * aes128/256-gcm@openssh.com (RFC 5647 with OpenSSH's PROTOCOL 1.6 rules:
 * the length is additional data, in clear), aes128/192/256-ctr (RFC 4344)
 * with hmac-sha2-256/512 (RFC 6668) and their -etm@openssh.com variants.
 *
 * Packets are sealed and opened in place. On receipt the MAC or tag is
 * verified, in constant time, before any byte of the payload is handed
 * out; for the classic MAC-then-encrypt mode the first block must be
 * decrypted first to learn the length, and that block is remembered across
 * calls that return WK_ERR_AGAIN.
 */
#include "cipher.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "ssh.h"

static const wk_cipher_alg ciphers[] = {
    {"chacha20-poly1305@openssh.com", 64, 0, 8, 16, WK_CIPHER_CHACHAPOLY},
    {"aes128-gcm@openssh.com", 16, 12, 16, 16, WK_CIPHER_AESGCM},
    {"aes256-gcm@openssh.com", 32, 12, 16, 16, WK_CIPHER_AESGCM},
    {"aes128-ctr", 16, 16, 16, 0, WK_CIPHER_AESCTR},
    {"aes192-ctr", 24, 16, 16, 0, WK_CIPHER_AESCTR},
    {"aes256-ctr", 32, 16, 16, 0, WK_CIPHER_AESCTR},
};

static const wk_mac_alg macs[] = {
    {"hmac-sha2-256-etm@openssh.com", 32, 32, 1, "SHA256"},
    {"hmac-sha2-512-etm@openssh.com", 64, 64, 1, "SHA512"},
    {"hmac-sha2-256", 32, 32, 0, "SHA256"},
    {"hmac-sha2-512", 64, 64, 0, "SHA512"},
};

/* AES-GCM first: with AES-NI it is the cheapest per byte here, and the
 * AEADs need one pass instead of cipher plus MAC. */
const char wk_cipher_default_list[] =
    "aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,"
    "aes256-gcm@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr";
const char wk_mac_default_list[] =
    "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,"
    "hmac-sha2-256,hmac-sha2-512";

const wk_cipher_alg *wk_cipher_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(ciphers) / sizeof(*ciphers); i++)
        if (strlen(ciphers[i].name) == len &&
            memcmp(ciphers[i].name, name, len) == 0)
            return &ciphers[i];
    return NULL;
}

const wk_mac_alg *wk_mac_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(macs) / sizeof(*macs); i++)
        if (strlen(macs[i].name) == len && memcmp(macs[i].name, name, len) == 0)
            return &macs[i];
    return NULL;
}

struct wk_pkt_dir {
    const wk_cipher_alg *cipher; /* NULL: not encrypted yet */
    const wk_mac_alg *mac;
    int encrypt;
    EVP_CIPHER_CTX *ctx;     /* main cipher (K_2 for chacha) */
    EVP_CIPHER_CTX *len_ctx; /* chacha: K_1 for the length */
    EVP_MAC *mac_alg;
    EVP_MAC_CTX *mac_ctx;    /* HMAC (keyed once) or Poly1305 */
    uint8_t mac_key[64];
    uint8_t iv[16];          /* GCM: fixed 4 + counter 8 */
    uint32_t seq;
    uint64_t bytes;
    /* Receive state kept across WK_ERR_AGAIN. */
    int have_len;
    uint32_t pkt_len;
    uint8_t first[16];       /* decrypted first block (classic MAC mode) */
    /* Padding bytes drawn from the rand callback 256 at a time: a
     * RAND_priv_bytes call per packet cost 5-8% of a tunnel's CPU. */
    uint8_t pad_pool[256];
    size_t pad_left;         /* unused bytes at the pool's end */
};

wk_pkt_dir *wk_pkt_dir_new(void)
{
    return calloc(1, sizeof(wk_pkt_dir));
}

static void clear_keys(wk_pkt_dir *d)
{
    EVP_CIPHER_CTX_free(d->ctx);
    EVP_CIPHER_CTX_free(d->len_ctx);
    EVP_MAC_CTX_free(d->mac_ctx);
    EVP_MAC_free(d->mac_alg);
    d->ctx = d->len_ctx = NULL;
    d->mac_ctx = NULL;
    d->mac_alg = NULL;
    OPENSSL_cleanse(d->mac_key, sizeof(d->mac_key));
    OPENSSL_cleanse(d->iv, sizeof(d->iv));
    OPENSSL_cleanse(d->first, sizeof(d->first));
}

void wk_pkt_dir_free(wk_pkt_dir *d)
{
    if (!d) return;
    clear_keys(d);
    OPENSSL_cleanse(d, sizeof(*d));
    free(d);
}

uint32_t wk_pkt_dir_seq(const wk_pkt_dir *d) { return d->seq; }
void wk_pkt_dir_reset_seq(wk_pkt_dir *d) { d->seq = 0; }
void wk_pkt_dir_set_seq(wk_pkt_dir *d, uint32_t seq) { d->seq = seq; }
uint64_t wk_pkt_dir_bytes(const wk_pkt_dir *d) { return d->bytes; }
int wk_pkt_dir_encrypted(const wk_pkt_dir *d) { return d->cipher != NULL; }

int wk_pkt_dir_set_keys(wk_pkt_dir *d, int encrypt, const wk_cipher_alg *c,
                        const wk_mac_alg *mac, const uint8_t *key,
                        const uint8_t *iv, const uint8_t *mac_key)
{
    clear_keys(d);
    d->cipher = NULL;
    d->mac = NULL;
    d->have_len = 0;
    d->bytes = 0;
    d->encrypt = encrypt;
    int ok = 1;
    const EVP_CIPHER *evp = NULL;
    d->ctx = EVP_CIPHER_CTX_new();
    if (!d->ctx) return WHELK_ERR_NOMEM;
    switch (c->kind) {
    case WK_CIPHER_CHACHAPOLY:
        /* K_2 (first half) for the payload, K_1 (second half) for the
         * length; the IV is set per packet. */
        d->len_ctx = EVP_CIPHER_CTX_new();
        d->mac_alg = EVP_MAC_fetch(NULL, "POLY1305", NULL);
        d->mac_ctx = d->mac_alg ? EVP_MAC_CTX_new(d->mac_alg) : NULL;
        ok = d->len_ctx && d->mac_ctx &&
             EVP_CipherInit_ex(d->ctx, EVP_chacha20(), NULL, key, NULL, 1) &&
             EVP_CipherInit_ex(d->len_ctx, EVP_chacha20(), NULL, key + 32,
                               NULL, 1);
        break;
    case WK_CIPHER_AESGCM:
        evp = c->key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
        memcpy(d->iv, iv, 12);
        ok = EVP_CipherInit_ex(d->ctx, evp, NULL, NULL, NULL, encrypt) &&
             EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) &&
             EVP_CipherInit_ex(d->ctx, NULL, NULL, key, NULL, encrypt);
        break;
    case WK_CIPHER_AESCTR:
        evp = c->key_len == 16   ? EVP_aes_128_ctr()
              : c->key_len == 24 ? EVP_aes_192_ctr()
                                 : EVP_aes_256_ctr();
        /* CTR is a stream: one context for the whole direction, always
         * in "encrypt" mode, used through EVP_CipherUpdate both ways. */
        ok = EVP_CipherInit_ex(d->ctx, evp, NULL, key, iv, 1);
        if (ok && mac) {
            OSSL_PARAM params[2] = {
                OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)mac->digest, 0),
                OSSL_PARAM_construct_end()};
            d->mac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
            d->mac_ctx = d->mac_alg ? EVP_MAC_CTX_new(d->mac_alg) : NULL;
            ok = d->mac_ctx &&
                 EVP_MAC_init(d->mac_ctx, mac_key, mac->key_len, params);
        } else if (!mac) {
            ok = 0;
        }
        break;
    default:
        ok = 0;
    }
    if (!ok) {
        clear_keys(d);
        return WHELK_ERR_CRYPTO;
    }
    d->cipher = c;
    d->mac = c->tag_len ? NULL : mac;
    return 0;
}

/* ------------------------------------------------------------------------
 * Helpers per construction.
 */

static void chacha_iv(uint8_t iv[16], uint64_t counter, uint32_t seq)
{
    /* OpenSSL's ChaCha20 IV: 32-bit little-endian block counter then a
     * 96-bit nonce. OpenSSH's 64-bit counter and 64-bit big-endian
     * sequence number fit that layout: counter low word, then the high
     * counter word (0), then the sequence number. */
    memset(iv, 0, 16);
    iv[0] = (uint8_t)counter;
    wk_store_u32(iv + 12, seq);
}

static int chacha_crypt(EVP_CIPHER_CTX *ctx, uint64_t counter, uint32_t seq,
                        uint8_t *out, const uint8_t *in, size_t n)
{
    uint8_t iv[16];
    int outl;
    chacha_iv(iv, counter, seq);
    if (!EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1)) return 0;
    if (n > INT32_MAX) return 0;
    return EVP_CipherUpdate(ctx, out, &outl, in, (int)n);
}

static int poly1305_tag(wk_pkt_dir *d, const uint8_t *data, size_t n,
                        uint8_t tag[16])
{
    uint8_t poly_key[32] = {0};
    size_t tl = 0;
    int ok = chacha_crypt(d->ctx, 0, d->seq, poly_key, poly_key, 32) &&
             EVP_MAC_init(d->mac_ctx, poly_key, 32, NULL) &&
             EVP_MAC_update(d->mac_ctx, data, n) &&
             EVP_MAC_final(d->mac_ctx, tag, &tl, 16);
    OPENSSL_cleanse(poly_key, sizeof(poly_key));
    return ok;
}

static int hmac(wk_pkt_dir *d, const uint8_t *data, size_t n, uint8_t *out)
{
    uint8_t seq[4];
    /* The output length is known from the algorithm; OpenSSL 3.0 does not
     * always report it back through |ol|. */
    size_t ol = 0;
    wk_store_u32(seq, d->seq);
    /* Re-initialising with a NULL key keeps the key already set. */
    return EVP_MAC_init(d->mac_ctx, NULL, 0, NULL) &&
           EVP_MAC_update(d->mac_ctx, seq, 4) &&
           EVP_MAC_update(d->mac_ctx, data, n) &&
           EVP_MAC_final(d->mac_ctx, out, &ol, 64);
}

static void gcm_next_iv(wk_pkt_dir *d)
{
    /* The 64-bit invocation counter in the last 8 bytes grows by one. */
    for (int i = 11; i >= 4; i--)
        if (++d->iv[i] != 0) break;
}

/* ------------------------------------------------------------------------
 * Sending.
 */

size_t wk_pkt_begin(wk_buf *out)
{
    size_t start = wk_buf_used(out);
    /* Without its header the payload would be framed from its own first
     * bytes: the caller must stop at WK_PKT_NONE. */
    return wk_buf_extend(out, 5) ? start : WK_PKT_NONE;
}

/* Encrypts |len| bytes of |region| in place, except the |hole_len| bytes
 * at |hole|, which come encrypted from |src| instead (a channel's data,
 * sealed straight from the application's buffer: one copy fewer per
 * byte). Every cipher here carries a partial block from one update to
 * the next, but libcrypto's fastest paths (AES-GCM's stitched AES and
 * GHASH) want the bulk to start on a block boundary: the first bytes of
 * the hole, up to the next multiple of 64, are copied in and encrypted
 * with the header. |hole_len| 0 is the plain in-place case. */
static int crypt_around(EVP_CIPHER_CTX *ctx, uint8_t *region, size_t len,
                        size_t hole, const uint8_t *src, size_t hole_len)
{
    int outl;
    if (len > INT32_MAX) return 0;
    size_t lead = (64 - hole % 64) % 64;
    if (lead > hole_len) lead = hole_len;
    if (lead) memcpy(region + hole, src, lead); /* |src| NULL for none */
    hole += lead;
    src += lead;
    hole_len -= lead;
    if (!hole_len)
        return EVP_CipherUpdate(ctx, region, &outl, region, (int)len);
    return EVP_CipherUpdate(ctx, region, &outl, region, (int)hole) &&
           EVP_CipherUpdate(ctx, region + hole, &outl, src, (int)hole_len) &&
           (hole + hole_len == len ||
            EVP_CipherUpdate(ctx, region + hole + hole_len, &outl,
                             region + hole + hole_len,
                             (int)(len - hole - hole_len)));
}

/* The sealing of wk_pkt_end and wk_pkt_end_from; |hole| counts from the
 * packet's start (its length field). */
static int seal(wk_pkt_dir *d, wk_buf *out, size_t start, size_t hole,
                const uint8_t *src, size_t hole_len, whelk_rand_cb rand,
                void *rand_user)
{
    size_t total = wk_buf_used(out);
    if (start == WK_PKT_NONE || total < start + 5) return WHELK_ERR_NOMEM;
    size_t payload_len = total - start - 5;
    const wk_cipher_alg *c = d->cipher;
    /* Without a cipher, or with a MAC over the plaintext, the payload
     * has to lie in the buffer first. */
    if (hole_len && (!c || (!c->tag_len && !d->mac->etm))) {
        memcpy(wk_buf_data(out) + start + hole, src, hole_len);
        hole_len = 0;
    }
    size_t block = c ? c->block : 8;
    if (block < 8) block = 8;
    /* AEAD and EtM leave the length out of the padded region. */
    int len_clear = c && (c->tag_len || (d->mac && d->mac->etm));
    size_t covered = (len_clear ? 1 : 5) + payload_len;
    size_t pad = block - covered % block;
    if (pad < 4) pad += block;
    size_t packet_len = 1 + payload_len + pad;
    if (packet_len > WK_MAX_PACKET_LEN) return WHELK_ERR_TOOBIG;
    size_t maclen = c ? (c->tag_len ? c->tag_len : d->mac->mac_len) : 0;
    uint8_t *tail = wk_buf_extend(out, pad + maclen);
    if (!tail) {
        wk_buf_truncate(out, start);
        return WHELK_ERR_NOMEM;
    }
    uint8_t *p = wk_buf_data(out) + start;
    wk_store_u32(p, (uint32_t)packet_len);
    p[4] = (uint8_t)pad;
    if (pad > d->pad_left) {
        int rc = rand(d->pad_pool, sizeof(d->pad_pool), rand_user);
        if (rc) return rc;
        d->pad_left = sizeof(d->pad_pool);
    }
    /* Each pool byte goes out once (and is wiped from the pool). */
    uint8_t *from = d->pad_pool + sizeof(d->pad_pool) - d->pad_left;
    memcpy(p + 5 + payload_len, from, pad);
    OPENSSL_cleanse(from, pad);
    d->pad_left -= pad;
    size_t n = 4 + packet_len; /* bytes before the MAC */
    /* The hole counted from the encrypted region (after the length). */
    size_t h = hole >= 4 ? hole - 4 : 0;
    int ok = 1, outl;
    if (!c) {
        /* Before the first NEWKEYS: nothing to do. */
    } else if (c->kind == WK_CIPHER_CHACHAPOLY) {
        uint8_t iv[16];
        chacha_iv(iv, 1, d->seq);
        ok = chacha_crypt(d->len_ctx, 0, d->seq, p, p, 4) &&
             EVP_CipherInit_ex(d->ctx, NULL, NULL, NULL, iv, -1) &&
             crypt_around(d->ctx, p + 4, packet_len, h, src, hole_len) &&
             poly1305_tag(d, p, n, p + n);
    } else if (c->kind == WK_CIPHER_AESGCM) {
        ok = EVP_CipherInit_ex(d->ctx, NULL, NULL, NULL, d->iv, 1) &&
             EVP_EncryptUpdate(d->ctx, NULL, &outl, p, 4) &&
             crypt_around(d->ctx, p + 4, packet_len, h, src, hole_len) &&
             EVP_EncryptFinal_ex(d->ctx, p + n, &outl) &&
             EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_GCM_GET_TAG, 16, p + n);
        gcm_next_iv(d);
    } else if (d->mac->etm) {
        ok = crypt_around(d->ctx, p + 4, packet_len, h, src, hole_len) &&
             hmac(d, p, n, p + n);
    } else {
        ok = hmac(d, p, n, p + n) &&
             EVP_CipherUpdate(d->ctx, p, &outl, p, (int)n);
    }
    if (!ok) return WHELK_ERR_CRYPTO;
    d->seq++;
    d->bytes += n + maclen;
    return 0;
}

int wk_pkt_end(wk_pkt_dir *d, wk_buf *out, size_t start, whelk_rand_cb rand,
               void *rand_user)
{
    return seal(d, out, start, 0, NULL, 0, rand, rand_user);
}

int wk_pkt_end_from(wk_pkt_dir *d, wk_buf *out, size_t start, size_t hole,
                    const uint8_t *src, size_t len, whelk_rand_cb rand,
                    void *rand_user)
{
    size_t total = wk_buf_used(out);
    if (start == WK_PKT_NONE || hole < 5 || total < start + hole ||
        len > total - start - hole)
        return WHELK_ERR_INVAL;
    return seal(d, out, start, hole, src, len, rand, rand_user);
}

/* ------------------------------------------------------------------------
 * Receiving.
 */

static int check_len(const wk_pkt_dir *d, uint32_t len, int len_clear)
{
    size_t block = d->cipher ? d->cipher->block : 8;
    if (block < 8) block = 8;
    if (len > WK_MAX_PACKET_LEN || len < 5) return WHELK_ERR_TOOBIG;
    /* The padded region must be whole blocks (not checked for
     * chacha20-poly1305, whose "block" is only the padding unit). */
    size_t covered = len_clear ? len : len + 4;
    if (covered % block != 0) return WHELK_ERR_PROTO;
    return 0;
}

int wk_pkt_open(wk_pkt_dir *d, uint8_t *in, size_t len, size_t *consumed,
                uint8_t **payload, size_t *payload_len)
{
    const wk_cipher_alg *c = d->cipher;
    int len_clear = !c || c->tag_len || (d->mac && d->mac->etm);
    size_t maclen = c ? (c->tag_len ? c->tag_len : d->mac->mac_len) : 0;
    int ok = 1, outl, rc;
    if (len < 4) return WK_ERR_AGAIN;

    if (!d->have_len) {
        uint32_t plen;
        if (c && c->kind == WK_CIPHER_CHACHAPOLY) {
            uint8_t l[4];
            if (!chacha_crypt(d->len_ctx, 0, d->seq, l, in, 4))
                return WHELK_ERR_CRYPTO;
            plen = wk_load_u32(l);
        } else if (c && !len_clear) {
            /* The length hides in the first encrypted block. */
            size_t b = c->block;
            if (len < b) return WK_ERR_AGAIN;
            if (!EVP_CipherUpdate(d->ctx, d->first, &outl, in, (int)b))
                return WHELK_ERR_CRYPTO;
            plen = wk_load_u32(d->first);
        } else {
            plen = wk_load_u32(in);
        }
        /* Alignment excludes the length field only for AEAD and EtM. */
        if ((rc = check_len(d, plen, c && len_clear)) != 0) return rc;
        d->pkt_len = plen;
        d->have_len = 1;
    }
    size_t n = 4 + (size_t)d->pkt_len;
    if (len < n + maclen) return WK_ERR_AGAIN;
    d->have_len = 0;

    uint8_t mac[64];
    if (!c) {
        /* Unencrypted. */
    } else if (c->kind == WK_CIPHER_CHACHAPOLY) {
        ok = poly1305_tag(d, in, n, mac);
        if (!ok) return WHELK_ERR_CRYPTO;
        if (CRYPTO_memcmp(mac, in + n, 16) != 0) return WHELK_ERR_MAC;
        ok = chacha_crypt(d->len_ctx, 0, d->seq, in, in, 4) &&
             chacha_crypt(d->ctx, 1, d->seq, in + 4, in + 4, d->pkt_len);
    } else if (c->kind == WK_CIPHER_AESGCM) {
        uint8_t tag[16];
        memcpy(tag, in + n, 16);
        ok = EVP_CipherInit_ex(d->ctx, NULL, NULL, NULL, d->iv, 0) &&
             EVP_DecryptUpdate(d->ctx, NULL, &outl, in, 4) &&
             EVP_DecryptUpdate(d->ctx, in + 4, &outl, in + 4,
                               (int)d->pkt_len) &&
             EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_GCM_SET_TAG, 16, tag);
        gcm_next_iv(d);
        if (!ok) return WHELK_ERR_CRYPTO;
        /* The tag check; on failure the decrypted bytes are never used. */
        if (EVP_DecryptFinal_ex(d->ctx, mac, &outl) != 1) {
            OPENSSL_cleanse(in + 4, d->pkt_len);
            return WHELK_ERR_MAC;
        }
    } else if (d->mac->etm) {
        if (!hmac(d, in, n, mac)) return WHELK_ERR_CRYPTO;
        if (CRYPTO_memcmp(mac, in + n, maclen) != 0) return WHELK_ERR_MAC;
        ok = EVP_CipherUpdate(d->ctx, in + 4, &outl, in + 4,
                              (int)d->pkt_len);
    } else {
        size_t b = c->block;
        memcpy(in, d->first, b);
        ok = EVP_CipherUpdate(d->ctx, in + b, &outl, in + b, (int)(n - b)) &&
             hmac(d, in, n, mac);
        if (!ok) return WHELK_ERR_CRYPTO;
        if (CRYPTO_memcmp(mac, in + n, maclen) != 0) return WHELK_ERR_MAC;
    }
    if (!ok) return WHELK_ERR_CRYPTO;

    uint8_t pad = in[4];
    if (pad < 4 || (size_t)pad + 1 > d->pkt_len) return WHELK_ERR_PROTO;
    *payload = in + 5;
    *payload_len = d->pkt_len - 1 - pad;
    *consumed = n + maclen;
    d->seq++;
    d->bytes += n + maclen;
    return 0;
}
