/*
 * buf: bounded byte buffers and the SSH wire types (RFC 4251 section 5).
 *
 * wk_buf is a growable writer with a hard maximum that no peer can raise;
 * the readable bytes are [off, len), so it also serves as a FIFO (consume
 * from the front, append at the back). wk_reader is a cursor over bytes we
 * did not write: every read is bounds-checked and fails with
 * WK_ERR_TRUNCATED rather than reading past the end. Strings are
 * returned as pointers into the input (no copy), valid as long as it.
 *
 * Internal symbols use the wk_ prefix so they never look public.
 */
#ifndef WHELK_BUF_H
#define WHELK_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct wk_buf {
    uint8_t *p;
    size_t off;  /* first readable byte */
    size_t len;  /* end of the readable bytes */
    size_t cap;  /* allocated */
    size_t max;  /* hard bound on cap; WHELK_ERR_TOOBIG beyond it */
    int secret;  /* leave no copy behind: see wk_buf_init_secret */
    size_t dirty; /* bytes from the start that may hold data: a secret
                     buffer's free wipes these, not the whole capacity */
    int wipe_at_free; /* secret, but compaction leaves the bytes it
                         vacates to the free's wipe (|dirty| covers them):
                         see wk_buf_wipe_at_free */
} wk_buf;

/* A buffer that allocates nothing until first written. */
/* Bytes up to |end| may have been written behind the buffer's back (a
 * read into the room wk_buf_reserve made): a secret buffer's free wipes
 * them too. */
void wk_buf_mark_dirty(wk_buf *b, size_t end);
void wk_buf_init(wk_buf *b, size_t max);
/* The same for bytes that must not outlive their use (decrypted input,
 * keys): growing copies and wipes instead of realloc, compaction wipes
 * what it vacates, and freeing wipes the whole allocation. */
void wk_buf_init_secret(wk_buf *b, size_t max);
/* For a secret buffer that streams (the input after login): compaction
 * no longer wipes what it vacates, since every byte it ever held is
 * wiped when the buffer is freed; wiping each read's worth again as it
 * moves cost a tunnel's upload 4% of its CPU. Growing still wipes the
 * old block, which is freed at once. */
static inline void wk_buf_wipe_at_free(wk_buf *b) { b->wipe_at_free = 1; }
void wk_buf_free(wk_buf *b);
/* Wipes the whole allocation before freeing it, whatever the buffer. */
void wk_buf_free_secret(wk_buf *b);
/* Drops the contents, keeps the allocation. */
void wk_buf_reset(wk_buf *b);
static inline size_t wk_buf_used(const wk_buf *b) { return b->len - b->off; }
/* NULL for a buffer that holds no allocation (NULL + 0 is undefined). */
static inline uint8_t *wk_buf_data(const wk_buf *b)
{
    return b->p ? b->p + b->off : NULL;
}
/* Makes room for |n| more bytes (compacting or growing). */
int wk_buf_reserve(wk_buf *b, size_t n);
/* Appends |n| bytes of uninitialised space and returns it, or NULL. */
uint8_t *wk_buf_extend(wk_buf *b, size_t n);
/* Removes |n| bytes from the front. */
void wk_buf_consume(wk_buf *b, size_t n);
/* Shortens the readable region to |n| bytes. */
void wk_buf_truncate(wk_buf *b, size_t n);

int wk_buf_put(wk_buf *b, const void *data, size_t n);
int wk_buf_put_u8(wk_buf *b, uint8_t v);
int wk_buf_put_bool(wk_buf *b, int v);
int wk_buf_put_u32(wk_buf *b, uint32_t v);
int wk_buf_put_u64(wk_buf *b, uint64_t v);
int wk_buf_put_string(wk_buf *b, const void *data, size_t n);
int wk_buf_put_cstring(wk_buf *b, const char *s);
/* An mpint from an unsigned big-endian magnitude: leading zero bytes are
 * stripped and a zero byte added when the top bit is set. */
int wk_buf_put_mpint(wk_buf *b, const uint8_t *mag, size_t n);

typedef struct wk_reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
} wk_reader;

void wk_reader_init(wk_reader *r, const void *data, size_t len);
static inline size_t wk_reader_left(const wk_reader *r)
{
    return r->len - r->pos;
}
/* WHELK_ERR_PROTO when bytes are left over (strict parsers use it). */
int wk_reader_end(const wk_reader *r);

int wk_get_u8(wk_reader *r, uint8_t *v);
int wk_get_bool(wk_reader *r, int *v);
int wk_get_u32(wk_reader *r, uint32_t *v);
int wk_get_u64(wk_reader *r, uint64_t *v);
int wk_get_bytes(wk_reader *r, const uint8_t **p, size_t n);
/* A string; its length must be at most |max| (else WHELK_ERR_TOOBIG). */
int wk_get_string(wk_reader *r, const uint8_t **p, size_t *n, size_t max);
/* A string copied into |dst| with a NUL; WHELK_ERR_TOOBIG if it does not
 * fit, WHELK_ERR_PROTO if it contains a NUL byte. */
int wk_get_cstring(wk_reader *r, char *dst, size_t dstsize);
/* A non-negative mpint; returns its magnitude without leading zeros.
 * Negative values and non-minimal encodings are WHELK_ERR_PROTO. */
int wk_get_mpint(wk_reader *r, const uint8_t **mag, size_t *n, size_t max);

/* name-lists (comma separated, no empty names). */
/* Non-zero if |name| is one of the names in |list| (length |n|). */
int wk_namelist_has(const uint8_t *list, size_t n, const char *name);
/* Iterates: starting with *pos = 0, returns each name in turn through
 * |name|/|name_len|; returns 0 when there are no more. */
int wk_namelist_next(const uint8_t *list, size_t n, size_t *pos,
                     const uint8_t **name, size_t *name_len);

static inline void wk_store_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline uint32_t wk_load_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Base64 (RFC 4648 section 4) for key files and lines. Encoding writes the
 * digits (with '=' padding when |pad|) and a NUL, and returns the number
 * of digits, or 0 when |outlen| cannot hold them and the NUL. */
size_t wk_base64_encode(const uint8_t *in, size_t len, char *out, size_t outlen,
                        int pad);
/* Decodes, skipping spaces, tabs and line breaks; padding may be left out
 * but must be right when present, and the unused low bits must be zero.
 * Returns the number of bytes, or -1 on bad input or a short |out|. */
long wk_base64_decode(const char *in, size_t len, uint8_t *out, size_t outlen);
/* Digits in the padded encoding of |n| bytes. */
static inline size_t wk_base64_padded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

#endif
