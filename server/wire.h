/*
 * wire: whelkd's own bounded byte buffer and bounds-checked reader for the
 * SSH wire types (RFC 4251 section 5), so that server/ (the SFTP server)
 * needs nothing but the public whelk.h and never lib/'s internal headers.
 *
 * wd_buf grows up to a hard maximum no peer can raise; its readable bytes
 * are [off, len), so it is also a FIFO. wd_reader is a cursor over bytes
 * we did not write: every read checks the length first and fails with
 * WHELK_ERR_PROTO instead of reading past the end. Strings come back as
 * pointers into the input, valid as long as it is.
 */
#ifndef WHELKD_WIRE_H
#define WHELKD_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "whelk/whelk.h"

typedef struct wd_buf {
    uint8_t *p;
    size_t off, len, cap;
    size_t max; /* WHELK_ERR_TOOBIG beyond it */
} wd_buf;

void wd_buf_init(wd_buf *b, size_t max);
void wd_buf_free(wd_buf *b);
void wd_buf_reset(wd_buf *b);
static inline size_t wd_buf_used(const wd_buf *b) { return b->len - b->off; }
/* NULL while nothing was allocated (NULL + 0 is undefined). */
static inline uint8_t *wd_buf_data(const wd_buf *b)
{
    return b->p ? b->p + b->off : NULL;
}
/* |n| more bytes of uninitialised space at the end, or NULL. */
uint8_t *wd_buf_extend(wd_buf *b, size_t n);
void wd_buf_consume(wd_buf *b, size_t n);
/* Keeps only the first |n| readable bytes. */
void wd_buf_truncate(wd_buf *b, size_t n);
int wd_buf_put(wd_buf *b, const void *data, size_t n);
int wd_buf_put_u8(wd_buf *b, uint8_t v);
int wd_buf_put_u32(wd_buf *b, uint32_t v);
int wd_buf_put_u64(wd_buf *b, uint64_t v);
int wd_buf_put_string(wd_buf *b, const void *data, size_t n);
int wd_buf_put_cstring(wd_buf *b, const char *s);

typedef struct wd_reader {
    const uint8_t *p;
    size_t len, pos;
} wd_reader;

void wd_reader_init(wd_reader *r, const void *data, size_t len);
static inline size_t wd_reader_left(const wd_reader *r)
{
    return r->len - r->pos;
}
int wd_get_u8(wd_reader *r, uint8_t *v);
int wd_get_u32(wd_reader *r, uint32_t *v);
int wd_get_u64(wd_reader *r, uint64_t *v);
/* A string of at most |max| bytes (else WHELK_ERR_TOOBIG). */
int wd_get_string(wd_reader *r, const uint8_t **p, size_t *n, size_t max);
/* A string copied into |dst| with a NUL: WHELK_ERR_TOOBIG when it does
 * not fit, WHELK_ERR_PROTO when it holds a NUL byte. */
int wd_get_cstring(wd_reader *r, char *dst, size_t dstsize);
/* Non-zero if |name| is one of the comma-separated names in |list|. */
int wd_namelist_has(const uint8_t *list, size_t n, const char *name);

static inline void wd_store_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline uint32_t wd_load_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

#endif
