/*
 * buf: bounded buffers, SSH wire types, base64, and the small helpers
 * that handle bytes from a peer or secrets. See buf.h for the contract.
 */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void wk_buf_init(wk_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void wk_buf_init_secret(wk_buf *b, size_t max)
{
    wk_buf_init(b, max);
    b->secret = 1;
}

/* Records that the bytes before the current end held data, before the
 * end moves back. */
static void note_dirty(wk_buf *b)
{
    if (b->len > b->dirty) b->dirty = b->len;
}

void wk_buf_mark_dirty(wk_buf *b, size_t end)
{
    if (end > b->cap) end = b->cap;
    if (end > b->dirty) b->dirty = end;
}

void wk_buf_free(wk_buf *b)
{
    /* Only what ever held data needs wiping: a 64 KiB input buffer that
     * carried one small packet costs a few hundred bytes, not 64 KiB. */
    note_dirty(b);
    if (b->p && b->secret)
        OPENSSL_cleanse(b->p, b->dirty < b->cap ? b->dirty : b->cap);
    free(b->p);
    b->p = NULL;
    b->off = b->len = b->cap = b->dirty = 0;
}

void wk_buf_free_secret(wk_buf *b)
{
    if (b->p) OPENSSL_cleanse(b->p, b->cap);
    wk_buf_free(b);
}

/* Moves the unread bytes to the front; a secret buffer's vacated tail is
 * wiped, since it still holds consumed or moved bytes. */
static void compact(wk_buf *b)
{
    note_dirty(b);
    size_t used = b->len - b->off;
    memmove(b->p, b->p + b->off, used);
    if (b->secret && !b->wipe_at_free)
        OPENSSL_cleanse(b->p + used, b->len - used);
    b->off = 0;
    b->len = used;
}

/* realloc may leave the old block's contents behind in freed memory. */
static uint8_t *grow_secret(wk_buf *b, size_t ncap)
{
    uint8_t *np = malloc(ncap);
    if (!np) return NULL;
    if (b->p) {
        memcpy(np, b->p, b->len);
        note_dirty(b);
        OPENSSL_cleanse(b->p, b->dirty < b->cap ? b->dirty : b->cap);
        free(b->p);
    }
    return np;
}

void wk_buf_reset(wk_buf *b)
{
    note_dirty(b);
    b->off = b->len = 0;
}

int wk_buf_reserve(wk_buf *b, size_t n)
{
    size_t used = b->len - b->off;
    if (n > b->max || used > b->max - n) return WHELK_ERR_TOOBIG;
    if (b->cap - b->len >= n) return 0;
    /* Moving the unread bytes to the front is cheaper than growing when
     * most of the buffer has already been consumed. */
    if (b->off > 0 && b->cap - used >= n && b->off >= used) {
        compact(b);
        return 0;
    }
    size_t want = used + n;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < want) ncap = ncap > SIZE_MAX / 2 ? want : ncap * 2;
    if (ncap > b->max) ncap = b->max;
    if (b->off > 0) compact(b);
    uint8_t *np = b->secret ? grow_secret(b, ncap) : realloc(b->p, ncap);
    if (!np) return WHELK_ERR_NOMEM;
    /* A secret buffer's new block holds the copied bytes only (the old
     * one was wiped whole); realloc's may hold the old ones anywhere. */
    if (b->secret) b->dirty = b->len;
    b->p = np;
    b->cap = ncap;
    return 0;
}

uint8_t *wk_buf_extend(wk_buf *b, size_t n)
{
    if (wk_buf_reserve(b, n) != 0) return NULL;
    uint8_t *p = b->p + b->len;
    b->len += n;
    return p;
}

void wk_buf_consume(wk_buf *b, size_t n)
{
    if (n >= b->len - b->off) {
        note_dirty(b);
        b->off = b->len = 0;
        return;
    }
    b->off += n;
}

void wk_buf_truncate(wk_buf *b, size_t n)
{
    note_dirty(b);
    if (n < b->len - b->off) b->len = b->off + n;
}

int wk_buf_put(wk_buf *b, const void *data, size_t n)
{
    int rc = wk_buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

int wk_buf_put_u8(wk_buf *b, uint8_t v)
{
    return wk_buf_put(b, &v, 1);
}

int wk_buf_put_bool(wk_buf *b, int v)
{
    return wk_buf_put_u8(b, v ? 1 : 0);
}

int wk_buf_put_u32(wk_buf *b, uint32_t v)
{
    uint8_t t[4];
    wk_store_u32(t, v);
    return wk_buf_put(b, t, 4);
}

int wk_buf_put_u64(wk_buf *b, uint64_t v)
{
    uint8_t t[8];
    wk_store_u32(t, (uint32_t)(v >> 32));
    wk_store_u32(t + 4, (uint32_t)v);
    return wk_buf_put(b, t, 8);
}

int wk_buf_put_string(wk_buf *b, const void *data, size_t n)
{
    if (n > UINT32_MAX) return WHELK_ERR_TOOBIG;
    int rc = wk_buf_reserve(b, 4 + n);
    if (rc) return rc;
    wk_store_u32(b->p + b->len, (uint32_t)n);
    b->len += 4;
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

int wk_buf_put_cstring(wk_buf *b, const char *s)
{
    return wk_buf_put_string(b, s, strlen(s));
}

int wk_buf_put_mpint(wk_buf *b, const uint8_t *mag, size_t n)
{
    while (n > 0 && mag[0] == 0) {
        mag++;
        n--;
    }
    int pad = n > 0 && (mag[0] & 0x80);
    if (n + pad > UINT32_MAX) return WHELK_ERR_TOOBIG;
    int rc = wk_buf_reserve(b, 4 + pad + n);
    if (rc) return rc;
    wk_store_u32(b->p + b->len, (uint32_t)(n + pad));
    b->len += 4;
    if (pad) b->p[b->len++] = 0;
    if (n) memcpy(b->p + b->len, mag, n);
    b->len += n;
    return 0;
}

void wk_reader_init(wk_reader *r, const void *data, size_t len)
{
    r->p = data;
    r->len = len;
    r->pos = 0;
}

int wk_reader_end(const wk_reader *r)
{
    return r->pos == r->len ? 0 : WHELK_ERR_PROTO;
}

int wk_get_bytes(wk_reader *r, const uint8_t **p, size_t n)
{
    if (n > r->len - r->pos) return WK_ERR_TRUNCATED;
    *p = r->p + r->pos;
    r->pos += n;
    return 0;
}

int wk_get_u8(wk_reader *r, uint8_t *v)
{
    const uint8_t *p;
    int rc = wk_get_bytes(r, &p, 1);
    if (rc == 0) *v = p[0];
    return rc;
}

int wk_get_bool(wk_reader *r, int *v)
{
    uint8_t t;
    int rc = wk_get_u8(r, &t);
    if (rc == 0) *v = t != 0;
    return rc;
}

int wk_get_u32(wk_reader *r, uint32_t *v)
{
    const uint8_t *p;
    int rc = wk_get_bytes(r, &p, 4);
    if (rc == 0) *v = wk_load_u32(p);
    return rc;
}

int wk_get_u64(wk_reader *r, uint64_t *v)
{
    const uint8_t *p;
    int rc = wk_get_bytes(r, &p, 8);
    if (rc == 0) *v = ((uint64_t)wk_load_u32(p) << 32) | wk_load_u32(p + 4);
    return rc;
}

int wk_get_string(wk_reader *r, const uint8_t **p, size_t *n, size_t max)
{
    size_t save = r->pos;
    uint32_t len;
    int rc = wk_get_u32(r, &len);
    if (rc) return rc;
    if (len > max) {
        r->pos = save;
        return WHELK_ERR_TOOBIG;
    }
    rc = wk_get_bytes(r, p, len);
    if (rc) {
        r->pos = save;
        return rc;
    }
    *n = len;
    return 0;
}

int wk_get_cstring(wk_reader *r, char *dst, size_t dstsize)
{
    const uint8_t *p;
    size_t n;
    if (dstsize == 0) return WHELK_ERR_INVAL;
    size_t save = r->pos;
    int rc = wk_get_string(r, &p, &n, dstsize - 1);
    if (rc) return rc;
    if (memchr(p, 0, n)) {
        r->pos = save;
        return WHELK_ERR_PROTO;
    }
    memcpy(dst, p, n);
    dst[n] = 0;
    return 0;
}

int wk_get_mpint(wk_reader *r, const uint8_t **mag, size_t *n, size_t max)
{
    const uint8_t *p;
    size_t len;
    size_t save = r->pos;
    int rc = wk_get_string(r, &p, &len, max + 1);
    if (rc) return rc;
    if (len > 0 && (p[0] & 0x80)) goto bad;            /* negative */
    if (len > 1 && p[0] == 0 && !(p[1] & 0x80)) goto bad; /* not minimal */
    if (len > 0 && p[0] == 0) {
        p++;
        len--;
    }
    if (len > max) {
        r->pos = save;
        return WHELK_ERR_TOOBIG;
    }
    *mag = p;
    *n = len;
    return 0;
bad:
    r->pos = save;
    return WHELK_ERR_PROTO;
}

int wk_namelist_next(const uint8_t *list, size_t n, size_t *pos,
                     const uint8_t **name, size_t *name_len)
{
    if (*pos >= n) return 0;
    size_t start = *pos, end = start;
    while (end < n && list[end] != ',') end++;
    *name = list + start;
    *name_len = end - start;
    *pos = end + 1;
    return 1;
}

int wk_namelist_has(const uint8_t *list, size_t n, const char *name)
{
    size_t pos = 0, nl, want = strlen(name);
    const uint8_t *nm;
    while (wk_namelist_next(list, n, &pos, &nm, &nl))
        if (nl == want && memcmp(nm, name, nl) == 0) return 1;
    return 0;
}

size_t whelk_escape(char *dst, size_t dstsize, const void *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = src;
    size_t o = 0;
    if (dstsize == 0) return 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = p[i];
        int plain = ch >= 0x20 && ch < 0x7f && ch != '\\';
        if (o + (plain ? 1 : 4) >= dstsize) break;
        if (plain) {
            dst[o++] = (char)ch;
            continue;
        }
        dst[o++] = '\\';
        dst[o++] = 'x';
        dst[o++] = hex[ch >> 4];
        dst[o++] = hex[ch & 15];
    }
    dst[o] = 0;
    return o;
}

void whelk_free_secret(void *p, size_t len)
{
    if (!p) return;
    OPENSSL_cleanse(p, len);
    free(p);
}

/* ------------------------------------------------------------------------
 * Base64 (RFC 4648 section 4).
 */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

size_t wk_base64_encode(const uint8_t *in, size_t len, char *out, size_t outlen,
                        int pad)
{
    size_t need = wk_base64_padded_len(len);
    if (!pad && len % 3) need -= 3 - len % 3;
    if (!out || outlen <= need) return 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        size_t left = len - i;
        uint32_t v = (uint32_t)in[i] << 16;
        if (left > 1) v |= (uint32_t)in[i + 1] << 8;
        if (left > 2) v |= in[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        if (left > 1)
            out[o++] = b64_alphabet[(v >> 6) & 63];
        else if (pad)
            out[o++] = '=';
        if (left > 2)
            out[o++] = b64_alphabet[v & 63];
        else if (pad)
            out[o++] = '=';
    }
    out[o] = 0;
    return o;
}

long wk_base64_decode(const char *in, size_t len, uint8_t *out, size_t outlen)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t digits = 0, pads = 0, o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        if (c == '=') {
            if (++pads > 2) return -1;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pads) return -1; /* bad character, data after '=' */
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        digits++;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outlen) return -1;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* One digit alone cannot make a byte; padding, when present, must
     * complete the last quantum; and the unused low bits must be zero so
     * that each byte string has exactly one encoding. */
    if (digits % 4 == 1) return -1;
    if (pads && (digits % 4 == 0 || digits % 4 + pads != 4)) return -1;
    if (acc != 0) return -1;
    return (long)o;
}

