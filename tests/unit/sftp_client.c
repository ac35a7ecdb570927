/*
 * sftp_client: the raw SFTP peer of the SFTP server's unit tests. See
 * sftp_client.h.
 */
#include "sftp_client.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static wd_buf req;
static uint8_t reply_copy[WD_SFTP_MAX_MSG + 8];

void sc_begin(uint8_t type, uint32_t id)
{
    if (!req.max) wd_buf_init(&req, 2 * WD_SFTP_MAX_MSG);
    wd_buf_reset(&req);
    sc_u32(0);
    sc_u8(type);
    if (type != WD_FXP_INIT) sc_u32(id);
}

void sc_u8(uint8_t v) { assert_int_equal(wd_buf_put_u8(&req, v), 0); }
void sc_u32(uint32_t v) { assert_int_equal(wd_buf_put_u32(&req, v), 0); }
void sc_u64(uint64_t v) { assert_int_equal(wd_buf_put_u64(&req, v), 0); }
void sc_str(const char *s) { sc_bytes(s, strlen(s)); }
void sc_bytes(const void *p, size_t n)
{
    assert_int_equal(wd_buf_put_string(&req, p, n), 0);
}
void sc_raw(const void *p, size_t n)
{
    assert_int_equal(wd_buf_put(&req, p, n), 0);
}

const uint8_t *sc_packet(size_t *len, uint32_t forced_len)
{
    uint8_t *p = wd_buf_data(&req);
    *len = wd_buf_used(&req);
    wd_store_u32(p, forced_len != ~0u ? forced_len : (uint32_t)(*len - 4));
    return p;
}

void sc_send(wd_sftp *s)
{
    size_t len;
    const uint8_t *p = sc_packet(&len, ~0u);
    size_t done = 0;
    while (done < len) {
        size_t n = wd_sftp_feed(s, p + done, len - done);
        assert_true(n > 0); /* the tests drain replies as they go */
        done += n;
    }
}

int sc_reply(wd_sftp *s, uint8_t *type, uint32_t *id, wd_reader *body)
{
    wd_sftp_process(s);
    wd_buf *out = wd_sftp_output(s);
    if (wd_buf_used(out) == 0) return 0;
    assert_true(wd_buf_used(out) >= 5);
    uint32_t len = wd_load_u32(wd_buf_data(out));
    assert_true(len >= 1 && len <= WD_SFTP_MAX_MSG);
    assert_true(wd_buf_used(out) >= 4 + (size_t)len);
    memcpy(reply_copy, wd_buf_data(out) + 4, len);
    wd_buf_consume(out, 4 + (size_t)len);
    wd_reader_init(body, reply_copy, len);
    assert_int_equal(wd_get_u8(body, type), 0);
    *id = 0;
    if (*type != WD_FXP_VERSION) assert_int_equal(wd_get_u32(body, id), 0);
    return 1;
}

uint32_t sc_status(wd_sftp *s, uint32_t id)
{
    uint8_t type;
    uint32_t rid, code;
    wd_reader r;
    assert_int_equal(sc_reply(s, &type, &rid, &r), 1);
    assert_int_equal(type, WD_FXP_STATUS);
    assert_int_equal(rid, id);
    assert_int_equal(wd_get_u32(&r, &code), 0);
    const uint8_t *msg, *lang;
    size_t n, ln;
    assert_int_equal(wd_get_string(&r, &msg, &n, 1024), 0);
    assert_int_equal(wd_get_string(&r, &lang, &ln, 1024), 0);
    assert_int_equal(ln, 0);
    return code;
}

wd_sftp *sc_server(int readonly)
{
    wd_sftp_opts o = {.readonly = readonly, .log_level = WD_SFTP_LOG_QUIET,
                      .log_fd = -1};
    wd_sftp *s = wd_sftp_new(&o);
    assert_non_null(s);
    sc_begin(WD_FXP_INIT, 0);
    sc_u32(3);
    sc_send(s);
    uint8_t type;
    uint32_t id;
    wd_reader r;
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    assert_int_equal(type, WD_FXP_VERSION);
    return s;
}

int sc_write_fd(int fd)
{
    size_t len;
    const uint8_t *p = sc_packet(&len, ~0u);
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int read_full(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int sc_read_fd(int fd, uint8_t *type, uint32_t *id, wd_reader *body)
{
    uint8_t h[4];
    if (read_full(fd, h, 4) != 0) return 0;
    uint32_t len = wd_load_u32(h);
    assert_true(len >= 1 && len <= WD_SFTP_MAX_MSG);
    assert_int_equal(read_full(fd, reply_copy, len), 0);
    wd_reader_init(body, reply_copy, len);
    assert_int_equal(wd_get_u8(body, type), 0);
    *id = 0;
    if (*type != WD_FXP_VERSION) assert_int_equal(wd_get_u32(body, id), 0);
    return 1;
}

void sc_get_handle(wd_sftp *s, uint32_t id, sc_handle *h)
{
    uint8_t type;
    uint32_t rid;
    wd_reader r;
    const uint8_t *p;
    assert_int_equal(sc_reply(s, &type, &rid, &r), 1);
    if (type == WD_FXP_STATUS) {
        uint32_t code = 99;
        wd_get_u32(&r, &code);
        fail_msg("expected a handle for request %u, got status %u", id, code);
    }
    assert_int_equal(type, WD_FXP_HANDLE);
    assert_int_equal(rid, id);
    assert_int_equal(wd_get_string(&r, &p, &h->n, sizeof(h->b)), 0);
    memcpy(h->b, p, h->n);
}

void sc_handle_arg(const sc_handle *h) { sc_bytes(h->b, h->n); }
