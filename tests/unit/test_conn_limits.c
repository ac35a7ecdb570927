/*
 * Unit tests of how the engine (lib/transport.c, lib/channel.c) bounds
 * and ends a connection with a hostile peer, through the public entry
 * points: output queued for a peer that sends without reading is held to
 * a small amount before authentication, and every fatal error returned
 * to the application (a full deferred queue, no memory) has already
 * ended the connection with a DISCONNECT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

typedef struct fixture {
    h_peer p;
    whelk_session *s;
    int logs; /* "Disconnecting" lines */
} fixture;

static int exec_ok(whelk_session *s, const char *cmd, void *u) { return 0; }

static int session_open(whelk_conn *c, whelk_session *s, void *u)
{
    fixture *f = u;
    static const whelk_session_handler h = {.h = {.exec = exec_ok}};
    f->s = s;
    whelk_session_set_handler(s, &h, f);
    return 0;
}

/* The engine's DISCONNECT events: whelkd's "Disconnecting" lines. */
static void count_log(whelk_conn *c, const whelk_event *ev, void *u)
{
    fixture *f = u;
    if (whelk_event_get_type(ev) == WHELK_EVENT_DISCONNECT) f->logs++;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    whelk_server_callbacks cb = {.cb = {.session_open = session_open,
                                        .event = count_log}};
    assert_int_equal(h_server(&f->p, h_config(), &cb, f), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    h_free(&f->p);
    free(f);
    return 0;
}

static int zero_rand(uint8_t *out, size_t len, void *user)
{
    memset(out, 0, len);
    return 0;
}

/* Appends one unencrypted packet carrying |payload| to |out|. */
static void frame(h_peer *p, wk_buf *out, const uint8_t *payload, size_t n)
{
    size_t start = wk_pkt_begin(out);
    assert_int_equal(wk_buf_put(out, payload, n), 0);
    assert_int_equal(wk_pkt_end(p->tx, out, start, zero_rand, NULL), 0);
}

/* Feeds |in| whole, as a socket reader would while want_read allows. */
static ssize_t feed_all(h_peer *p, const wk_buf *in)
{
    size_t off = 0;
    ssize_t rc = 0;
    while (off < wk_buf_used(in)) {
        rc = whelk_conn_recv(p->conn, wk_buf_data(in) + off,
                             wk_buf_used(in) - off, 2000);
        if (rc <= 0) return rc;
        off += (size_t)rc;
    }
    return rc;
}

static void expect_disconnect(fixture *f, uint32_t reason)
{
    const uint8_t *pl;
    size_t n;
    assert_true(whelk_conn_is_closed(f->p.conn));
    assert_true(h_expect(&f->p, SSH_MSG_DISCONNECT, &pl, &n));
    assert_int_equal(wk_load_u32(pl + 1), reason);
    assert_int_equal(f->logs, 1);
}

/* Before authentication, a peer that sends packets of an unknown type
 * (each answered with UNIMPLEMENTED) and reads nothing gets at most
 * WK_OUT_HOLD_PREAUTH of replies queued: the rest of its input waits
 * unprocessed, want_read goes to 0, and once the output is taken the
 * engine asks (an expiry due now) to carry on. */
static void test_preauth_output_held(void **state)
{
    fixture *f = *state;
    h_peer *p = &f->p;
    p->conn->authenticated = 0; /* past kex, before authentication */
    h_drain(p);
    enum { PACKETS = 24000 }; /* 16 bytes in, 16 bytes out each */
    wk_buf in;
    wk_buf_init(&in, 1u << 20);
    const uint8_t unknown = 200;
    for (int i = 0; i < PACKETS; i++) frame(p, &in, &unknown, 1);
    assert_true(wk_buf_used(&in) <= WK_IN_MAX);
    ssize_t took = whelk_conn_recv(p->conn, wk_buf_data(&in),
                                   wk_buf_used(&in), 2000);
    assert_int_equal(took, (ssize_t)wk_buf_used(&in));
    const uint8_t *out;
    size_t queued = whelk_conn_out(p->conn, &out);
    assert_true(queued >= WK_OUT_HOLD_PREAUTH);
    assert_true(queued < WK_OUT_HOLD_PREAUTH + 64);
    assert_false(whelk_conn_want_read(p->conn));
    assert_false(whelk_conn_is_closed(p->conn));
    /* Nothing is due while the output stays where it is. */
    assert_true(whelk_conn_expiry(p->conn) > 2000);

    /* The peer reads: the held input is processed, a bound at a time. */
    int replies = 0, rounds = 0;
    const uint8_t *pl;
    size_t n;
    for (;;) {
        while (h_next(p, &pl, &n)) {
            assert_int_equal(pl[0], SSH_MSG_UNIMPLEMENTED);
            replies++;
        }
        if (whelk_conn_expiry(p->conn) > 2000) break;
        assert_int_equal(whelk_conn_handle_expiry(p->conn, 2000), 0);
        queued = whelk_conn_out(p->conn, &out);
        assert_true(queued < WK_OUT_HOLD_PREAUTH + 64);
        assert_true(++rounds < 10);
    }
    assert_int_equal(replies, PACKETS);
    assert_true(whelk_conn_want_read(p->conn));
    wk_buf_free(&in);
}

/* While our KEXINIT of a rekey is out, replies wait in the deferred
 * queue. A peer that fills it gets the connection ended with a
 * DISCONNECT and a log line, not NOMEM returned on a connection that
 * carries on with its replies lost. */
static void test_full_deferred_queue_disconnects(void **state)
{
    fixture *f = *state;
    h_peer *p = &f->p;
    h_drain(p);
    assert_int_equal(whelk_conn_rekey(p->conn, 2000), 0);
    /* CHANNEL_OPEN of an unknown type: an OPEN_FAILURE each, deferred. */
    wk_buf msg, in;
    wk_buf_init(&msg, 256);
    wk_buf_init(&in, 1u << 20);
    wk_buf_put_u8(&msg, SSH_MSG_CHANNEL_OPEN);
    wk_buf_put_cstring(&msg, "x");
    wk_buf_put_u32(&msg, 1);
    wk_buf_put_u32(&msg, 1000);
    wk_buf_put_u32(&msg, 1000);
    ssize_t rc = 0;
    for (int batch = 0; batch < 1000 && rc >= 0; batch++) {
        wk_buf_reset(&in);
        for (int i = 0; i < 16384; i++)
            frame(p, &in, wk_buf_data(&msg), wk_buf_used(&msg));
        rc = feed_all(p, &in);
    }
    assert_int_equal(rc, WHELK_ERR_NOMEM);
    expect_disconnect(f, WHELK_DISCONNECT_BY_APPLICATION);
    wk_buf_free(&msg);
    wk_buf_free(&in);
}

/* The session write paths: an eow that finds the deferred queue full
 * ends the connection too. */
static void test_session_call_on_full_queue_disconnects(void **state)
{
    fixture *f = *state;
    h_peer *p = &f->p;
    wk_buf m;
    wk_buf_init(&m, 256);
    wk_buf_put_u8(&m, SSH_MSG_CHANNEL_OPEN);
    wk_buf_put_cstring(&m, "session");
    wk_buf_put_u32(&m, 5);
    wk_buf_put_u32(&m, 1u << 20);
    wk_buf_put_u32(&m, 32768);
    assert_int_equal(h_send_buf(p, &m), 0);
    wk_buf_put_u8(&m, SSH_MSG_CHANNEL_REQUEST);
    wk_buf_put_u32(&m, 0);
    wk_buf_put_cstring(&m, "exec");
    wk_buf_put_bool(&m, 0);
    wk_buf_put_cstring(&m, "cmd");
    assert_int_equal(h_send_buf(p, &m), 0);
    assert_non_null(f->s);
    h_drain(p);
    assert_int_equal(whelk_conn_rekey(p->conn, 2000), 0);
    /* Fill what is left of the deferred queue. */
    wk_buf *d = &p->conn->deferred;
    size_t room = d->max - wk_buf_used(d);
    assert_non_null(wk_buf_extend(d, room));
    assert_int_equal(whelk_session_send_eow(f->s), WHELK_ERR_NOMEM);
    expect_disconnect(f, WHELK_DISCONNECT_BY_APPLICATION);
    wk_buf_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_preauth_output_held, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_full_deferred_queue_disconnects,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_session_call_on_full_queue_disconnects, setup, teardown),
    };
    return cmocka_run_group_tests_name("conn_limits", tests, NULL, NULL);
}
