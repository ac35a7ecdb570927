/* wire: see wire.h. */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

void wd_buf_init(wd_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}
void wd_buf_free(wd_buf *b)
{
    free(b->p);
    wd_buf_init(b, b->max);
}
void wd_buf_reset(wd_buf *b) { b->off = b->len = 0; }

/* Room for |n| more bytes: moves the unread bytes to the front first,
 * grows (doubling, capped at max) only when that is not enough. */
static int reserve(wd_buf *b, size_t n)
{
    size_t used = b->len - b->off;
    if (n > b->max || used > b->max - n) return WHELK_ERR_TOOBIG;
    if (b->cap - b->len >= n) return 0;
    if (b->off) {
        memmove(b->p, b->p + b->off, used);
        b->off = 0;
        b->len = used;
        if (b->cap - used >= n) return 0;
    }
    size_t want = used + n, ncap = b->cap ? b->cap : 256;
    while (ncap < want) ncap = ncap > b->max / 2 ? b->max : ncap * 2;
    if (ncap > b->max) ncap = b->max;
    uint8_t *np = realloc(b->p, ncap);
    if (!np) return WHELK_ERR_NOMEM;
    b->p = np;
    b->cap = ncap;
    return 0;
}
uint8_t *wd_buf_extend(wd_buf *b, size_t n)
{
    if (reserve(b, n)) return NULL;
    uint8_t *at = b->p + b->len;
    b->len += n;
    return at;
}
void wd_buf_consume(wd_buf *b, size_t n)
{
    if (n >= b->len - b->off)
        b->off = b->len = 0;
    else
        b->off += n;
}
void wd_buf_truncate(wd_buf *b, size_t n)
{
    if (n < b->len - b->off) b->len = b->off + n;
}
int wd_buf_put(wd_buf *b, const void *data, size_t n)
{
    int rc = reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}
int wd_buf_put_u8(wd_buf *b, uint8_t v) { return wd_buf_put(b, &v, 1); }
int wd_buf_put_u32(wd_buf *b, uint32_t v)
{
    uint8_t x[4];
    wd_store_u32(x, v);
    return wd_buf_put(b, x, 4);
}
int wd_buf_put_u64(wd_buf *b, uint64_t v)
{
    uint8_t x[8];
    wd_store_u32(x, (uint32_t)(v >> 32));
    wd_store_u32(x + 4, (uint32_t)v);
    return wd_buf_put(b, x, 8);
}
int wd_buf_put_string(wd_buf *b, const void *data, size_t n)
{
    /* Length and bytes together or not at all. */
    if (n > UINT32_MAX || n > SIZE_MAX - 4) return WHELK_ERR_TOOBIG;
    int rc = reserve(b, 4 + n);
    if (rc) return rc;
    wd_buf_put_u32(b, (uint32_t)n);
    return wd_buf_put(b, data, n);
}
int wd_buf_put_cstring(wd_buf *b, const char *s)
{
    return wd_buf_put_string(b, s, strlen(s));
}

void wd_reader_init(wd_reader *r, const void *data, size_t len)
{
    r->p = data;
    r->len = data ? len : 0;
    r->pos = 0;
}
static int take(wd_reader *r, size_t n, const uint8_t **at)
{
    if (n > r->len - r->pos) return WHELK_ERR_PROTO;
    *at = r->p + r->pos;
    r->pos += n;
    return 0;
}
int wd_get_u8(wd_reader *r, uint8_t *v)
{
    const uint8_t *at;
    if (take(r, 1, &at)) return WHELK_ERR_PROTO;
    *v = at[0];
    return 0;
}
int wd_get_u32(wd_reader *r, uint32_t *v)
{
    const uint8_t *at;
    if (take(r, 4, &at)) return WHELK_ERR_PROTO;
    *v = wd_load_u32(at);
    return 0;
}
int wd_get_u64(wd_reader *r, uint64_t *v)
{
    const uint8_t *at;
    if (take(r, 8, &at)) return WHELK_ERR_PROTO;
    *v = ((uint64_t)wd_load_u32(at) << 32) | wd_load_u32(at + 4);
    return 0;
}
int wd_get_string(wd_reader *r, const uint8_t **p, size_t *n, size_t max)
{
    size_t save = r->pos;
    uint32_t len;
    if (wd_get_u32(r, &len)) return WHELK_ERR_PROTO;
    if (len > max) {
        r->pos = save;
        return WHELK_ERR_TOOBIG;
    }
    if (take(r, len, p)) {
        r->pos = save;
        return WHELK_ERR_PROTO;
    }
    *n = len;
    return 0;
}
int wd_get_cstring(wd_reader *r, char *dst, size_t dstsize)
{
    if (dstsize == 0) return WHELK_ERR_INVAL;
    size_t save = r->pos, n;
    const uint8_t *p;
    int rc = wd_get_string(r, &p, &n, dstsize - 1);
    if (rc) return rc;
    if (memchr(p, 0, n)) {
        r->pos = save;
        return WHELK_ERR_PROTO;
    }
    memcpy(dst, p, n);
    dst[n] = 0;
    return 0;
}
int wd_namelist_has(const uint8_t *list, size_t n, const char *name)
{
    size_t want = strlen(name), start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || list[i] == ',') {
            if (i - start == want && !memcmp(list + start, name, want))
                return 1;
            start = i + 1;
        }
    }
    return 0;
}
