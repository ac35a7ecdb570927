/*
 * Unit tests of lib/tunnel.c and lib/globalreq.c (and the channel layer
 * under them): channel opens of every other type from the peer, answered
 * at once, later or refused; channels of our own; the per-connection
 * channel, window and output limits; global requests with replies in
 * order; the session requests for agent and X11 forwarding. Driven packet
 * by packet on a connection past login.
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

typedef struct seen {
    int opens, closed, eofs, opened_calls, globals, replies;
    uint32_t opened_failure;
    int defer;                 /* answer opens later */
    int refuse;
    whelk_channel *ch;         /* the last channel opened */
    whelk_channel_type type;
    char address[128], originator[128];
    uint32_t port, originator_port;
    wk_buf data;
    uint32_t global_ids[4];
    char global_addr[64];
    uint32_t global_port;
    int reply_ok;
    int agent_reqs, x11_reqs;
    char x11_proto[32];
} seen;

static void t_data(whelk_channel *ch, const uint8_t *d, size_t n, void *u)
{
    seen *w = u;
    assert_int_equal(wk_buf_put(&w->data, d, n), 0);
    whelk_channel_consumed(ch, n);
}
static void t_eof(whelk_channel *ch, void *u) { ((seen *)u)->eofs++; }
static void t_closed(whelk_channel *ch, void *u) { ((seen *)u)->closed++; }
static void t_opened(whelk_channel *ch, uint32_t failure, const char *text,
                     void *u)
{
    seen *w = u;
    w->opened_calls++;
    w->opened_failure = failure;
}

static const whelk_channel_handler handler = {
    .h = {.opened = t_opened, .data = t_data, .eof = t_eof,
          .closed = t_closed}};

static void on_open(whelk_conn *c, whelk_channel *ch,
                    const whelk_channel_open *o, void *u)
{
    seen *w = u;
    w->opens++;
    w->ch = ch;
    w->type = whelk_channel_open_type(o);
    const char *a = whelk_channel_open_address(o);
    const char *g = whelk_channel_open_originator(o);
    snprintf(w->address, sizeof(w->address), "%s", a ? a : "-");
    snprintf(w->originator, sizeof(w->originator), "%s", g ? g : "-");
    w->port = whelk_channel_open_port(o);
    w->originator_port = whelk_channel_open_originator_port(o);
    if (w->refuse) {
        assert_int_equal(whelk_channel_refuse(ch, WHELK_OPEN_CONNECT_FAILED,
                                              "Connection refused"),
                         0);
        w->ch = NULL;
    } else if (w->defer) {
        whelk_channel_set_handler(ch, &handler, w);
    } else {
        assert_int_equal(whelk_channel_accept(ch, &handler, w), 0);
    }
}

static void on_global(whelk_conn *c, const whelk_global_request *r, void *u)
{
    seen *w = u;
    w->global_ids[w->globals++ % 4] = whelk_global_request_id(r);
    snprintf(w->global_addr, sizeof(w->global_addr), "%s",
             whelk_global_request_address(r) ? whelk_global_request_address(r)
                                             : "-");
    w->global_port = whelk_global_request_port(r);
}

static void on_reply(whelk_conn *c, int ok, const uint8_t *d, size_t n,
                     void *u)
{
    seen *w = u;
    w->replies++;
    w->reply_ok = ok;
}

static int agent_req(whelk_session *s, void *u)
{
    ((seen *)u)->agent_reqs++;
    return 0;
}
static int x11_req(whelk_session *s, int single, const char *proto,
                   const char *cookie, uint32_t screen, void *u)
{
    seen *w = u;
    w->x11_reqs++;
    snprintf(w->x11_proto, sizeof(w->x11_proto), "%s", proto);
    return single ? 0 : -1;
}
static const whelk_session_handler session_handler = {
    .h = {.agent_req = agent_req, .x11_req = x11_req}};
static int session_open(whelk_conn *c, whelk_session *s, void *u)
{
    whelk_session_set_handler(s, &session_handler, u);
    return 0;
}

typedef struct fixture {
    h_peer p;
    seen w;
    wk_buf m;
} fixture;

static int setup_with(void **state, int with_callbacks)
{
    fixture *f = calloc(1, sizeof(*f));
    whelk_server_callbacks cb = {.cb = {.session_open = session_open}};
    if (with_callbacks) {
        cb.cb.channel_open = on_open;
        cb.cb.global_request = on_global;
        cb.cb.global_reply = on_reply;
    }
    wk_buf_init(&f->w.data, 1u << 22);
    wk_buf_init(&f->m, 1u << 20);
    assert_int_equal(h_server(&f->p, h_config(), &cb, &f->w), 0);
    *state = f;
    return 0;
}
static int setup(void **state) { return setup_with(state, 1); }
static int setup_bare(void **state) { return setup_with(state, 0); }

static int teardown(void **state)
{
    fixture *f = *state;
    h_free(&f->p);
    wk_buf_free(&f->w.data);
    wk_buf_free(&f->m);
    free(f);
    return 0;
}

static void open_direct(fixture *f, uint32_t sender, const char *host,
                        uint32_t port)
{
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_OPEN);
    wk_buf_put_cstring(&f->m, "direct-tcpip");
    wk_buf_put_u32(&f->m, sender);
    wk_buf_put_u32(&f->m, 1u << 20);
    wk_buf_put_u32(&f->m, 32768);
    wk_buf_put_cstring(&f->m, host);
    wk_buf_put_u32(&f->m, port);
    wk_buf_put_cstring(&f->m, "127.0.0.1");
    wk_buf_put_u32(&f->m, 50000);
    h_send_buf(&f->p, &f->m);
}

static uint8_t next_type(fixture *f, const uint8_t **pl, size_t *n)
{
    if (!h_next(&f->p, pl, n) || *n == 0) return 0;
    return (*pl)[0];
}

static void send_data(fixture *f, uint32_t chan, const char *s)
{
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_DATA);
    wk_buf_put_u32(&f->m, chan);
    wk_buf_put_cstring(&f->m, s);
    h_send_buf(&f->p, &f->m);
}

/* direct-tcpip (ssh -L): typed values, then data both ways, EOF, CLOSE. */
static void test_direct_tcpip(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    open_direct(f, 5, "example.org", 80);
    assert_int_equal(f->w.opens, 1);
    assert_int_equal(f->w.type, WHELK_CHANNEL_DIRECT_TCPIP);
    assert_string_equal(f->w.address, "example.org");
    assert_int_equal(f->w.port, 80);
    assert_string_equal(f->w.originator, "127.0.0.1");
    assert_int_equal(f->w.originator_port, 50000);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    assert_int_equal(wk_load_u32(pl + 1), 5);
    uint32_t ours = wk_load_u32(pl + 5);
    send_data(f, ours, "GET /");
    assert_int_equal(wk_buf_used(&f->w.data), 5);
    assert_int_equal(whelk_channel_write(f->w.ch, "200 OK", 6), 6);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_DATA);
    assert_int_equal(wk_load_u32(pl + 1), 5);
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_EOF);
    wk_buf_put_u32(&f->m, ours);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(f->w.eofs, 1);
    assert_int_equal(whelk_channel_close(f->w.ch), 0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_CLOSE);
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_CLOSE);
    wk_buf_put_u32(&f->m, ours);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(f->w.closed, 1);
    assert_false(whelk_conn_is_closed(f->p.conn));
}

/* Answered later (after a connect, say): nothing goes out before the
 * answer, output written meanwhile goes behind it, and a refusal is an
 * OPEN_FAILURE that the application hears nothing more of. */
static void test_open_answered_later_or_refused(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    f->w.defer = 1;
    open_direct(f, 6, "db", 5432);
    assert_int_equal(next_type(f, &pl, &n), 0);
    assert_int_equal(whelk_channel_write(f->w.ch, "hello", 5), 5);
    assert_int_equal(next_type(f, &pl, &n), 0); /* held */
    assert_int_equal(whelk_channel_accept(f->w.ch, NULL, NULL), 0);
    assert_int_equal(whelk_channel_accept(f->w.ch, NULL, NULL),
                     WHELK_ERR_STATE);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_DATA);
    f->w.defer = 0;
    f->w.refuse = 1;
    open_direct(f, 7, "closed", 1);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_FAILURE);
    assert_int_equal(wk_load_u32(pl + 1), 7);
    assert_int_equal(wk_load_u32(pl + 5), WHELK_OPEN_CONNECT_FAILED);
    assert_int_equal(f->w.closed, 0);
}

/* The peer may say nothing on a channel it has not been answered on. */
static void test_message_before_answer_is_fatal(void **state)
{
    fixture *f = *state;
    f->w.defer = 1;
    open_direct(f, 6, "db", 5432);
    send_data(f, 0, "too soon");
    assert_true(whelk_conn_is_closed(f->p.conn));
    /* It hears of the end when the connection is freed, as a session. */
    assert_int_equal(f->w.closed, 0);
    whelk_conn_free(f->p.conn);
    f->p.conn = NULL;
    assert_int_equal(f->w.closed, 1);
}

static void test_malformed_open(void **state)
{
    fixture *f = *state;
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_OPEN);
    wk_buf_put_cstring(&f->m, "direct-tcpip");
    wk_buf_put_u32(&f->m, 1);
    wk_buf_put_u32(&f->m, 1000);
    wk_buf_put_u32(&f->m, 1000);
    wk_buf_put_cstring(&f->m, "host"); /* the port and the rest missing */
    h_send_buf(&f->p, &f->m);
    assert_true(whelk_conn_is_closed(f->p.conn));
    assert_int_equal(f->w.opens, 0);
}

/* Without a channel_open callback, other types are refused as before. */
static void test_refused_without_callback(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    open_direct(f, 3, "x", 1);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_FAILURE);
    assert_int_equal(wk_load_u32(pl + 5), WHELK_OPEN_ADMINISTRATIVELY_PROHIBITED);
}

/* Our own forwarded-tcpip (ssh -R): the open's fields, the answer, data
 * queued until it, and a refusal that ends the channel. */
static void test_our_open(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    whelk_channel *ch;
    assert_int_equal(whelk_conn_open_channel(f->p.conn, &ch,
                                             WHELK_CHANNEL_DIRECT_TCPIP, "a", 1,
                                             "b", 2, &handler, &f->w),
                     WHELK_ERR_INVAL); /* a client's type */
    assert_int_equal(whelk_conn_open_channel(f->p.conn, &ch,
                                             WHELK_CHANNEL_FORWARDED_TCPIP,
                                             "0.0.0.0", 8080, "192.0.2.1",
                                             40000, &handler, &f->w),
                     0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN);
    wk_reader r;
    const uint8_t *s;
    size_t sl;
    uint32_t id, win, pkt, port;
    uint8_t t;
    wk_reader_init(&r, pl, n);
    wk_get_u8(&r, &t);
    assert_int_equal(wk_get_string(&r, &s, &sl, 64), 0);
    assert_memory_equal(s, "forwarded-tcpip", sl);
    wk_get_u32(&r, &id);
    wk_get_u32(&r, &win);
    wk_get_u32(&r, &pkt);
    assert_int_equal(wk_get_string(&r, &s, &sl, 64), 0);
    assert_memory_equal(s, "0.0.0.0", sl);
    wk_get_u32(&r, &port);
    assert_int_equal(port, 8080);
    assert_int_equal(whelk_channel_write(ch, "early", 5), 5);
    assert_int_equal(next_type(f, &pl, &n), 0);
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    wk_buf_put_u32(&f->m, id);
    wk_buf_put_u32(&f->m, 77);
    wk_buf_put_u32(&f->m, 1u << 20);
    wk_buf_put_u32(&f->m, 32768);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(f->w.opened_calls, 1);
    assert_int_equal(f->w.opened_failure, 0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_DATA);
    assert_int_equal(wk_load_u32(pl + 1), 77);
    /* A second one, refused by the peer. */
    assert_int_equal(whelk_conn_open_channel(f->p.conn, &ch,
                                             WHELK_CHANNEL_AUTH_AGENT, NULL, 0,
                                             NULL, 0, &handler, &f->w),
                     0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN);
    wk_reader_init(&r, pl, n);
    wk_get_u8(&r, &t);
    wk_get_string(&r, &s, &sl, 64);
    wk_get_u32(&r, &id);
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_OPEN_FAILURE);
    wk_buf_put_u32(&f->m, id);
    wk_buf_put_u32(&f->m, WHELK_OPEN_ADMINISTRATIVELY_PROHIBITED);
    wk_buf_put_cstring(&f->m, "no agent");
    wk_buf_put_cstring(&f->m, "");
    h_send_buf(&f->p, &f->m);
    assert_int_equal(f->w.opened_failure,
                     WHELK_OPEN_ADMINISTRATIVELY_PROHIBITED);
    assert_int_equal(f->w.closed, 1);
    /* An answer for an open channel is a protocol error. */
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    wk_buf_put_u32(&f->m, 0);
    wk_buf_put_u32(&f->m, 1);
    wk_buf_put_u32(&f->m, 1);
    wk_buf_put_u32(&f->m, 1);
    h_send_buf(&f->p, &f->m);
    assert_true(whelk_conn_is_closed(f->p.conn));
}

/* MAX_CHANNELS and the window a connection grants in all. */
static void test_channel_limits(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    whelk_conn *c = f->p.conn;
    assert_int_equal(whelk_conn_set(c, WHELK_SET_MAX_CHANNELS, 3), 0);
    assert_int_equal(whelk_conn_set(c, WHELK_SET_CONN_WINDOW, 5u << 20), 0);
    uint32_t windows[3];
    for (int i = 0; i < 3; i++) {
        open_direct(f, (uint32_t)i, "h", 1);
        assert_int_equal(next_type(f, &pl, &n),
                         SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
        windows[i] = wk_load_u32(pl + 9);
    }
    assert_int_equal(windows[0], 2u << 20);
    assert_int_equal(windows[1], 2u << 20);
    assert_int_equal(windows[2], 1u << 20); /* what was left */
    open_direct(f, 9, "h", 1);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_FAILURE);
    assert_int_equal(wk_load_u32(pl + 5), WHELK_OPEN_RESOURCE_SHORTAGE);
}

/* The output a connection queues in all its channels is bounded. */
static void test_connection_output_bound(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    whelk_conn *c = f->p.conn;
    assert_int_equal(whelk_conn_set(c, WHELK_SET_CONN_OUT_BUFFER, 100000), 0);
    whelk_channel *ch[2];
    for (int i = 0; i < 2; i++) {
        /* The peer's window is small: everything queues. */
        wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_OPEN);
        wk_buf_put_cstring(&f->m, "direct-tcpip");
        wk_buf_put_u32(&f->m, (uint32_t)i);
        wk_buf_put_u32(&f->m, 10);
        wk_buf_put_u32(&f->m, 32768);
        wk_buf_put_cstring(&f->m, "h");
        wk_buf_put_u32(&f->m, 1);
        wk_buf_put_cstring(&f->m, "o");
        wk_buf_put_u32(&f->m, 2);
        h_send_buf(&f->p, &f->m);
        ch[i] = f->w.ch;
        h_drain(&f->p);
    }
    static uint8_t big[80000];
    assert_int_equal(whelk_channel_write(ch[0], big, sizeof(big)),
                     (whelk_ssize)sizeof(big));
    /* 10 bytes of each went out in its window; the second channel queues
     * the rest of the connection's 100000. */
    whelk_ssize took = whelk_channel_write(ch[1], big, sizeof(big));
    assert_int_equal(took, 10 + 100000 - (80000 - 10));
    assert_int_equal(whelk_channel_write_room(ch[0]), 0);
    (void)pl;
    (void)n;
}

static int stops, starts;
static void t_stop(whelk_channel *ch, void *u) { stops++; }
static void t_start(whelk_channel *ch, void *u) { starts++; }

/* whelk_channel_send_room is what goes straight into packets (the
 * peer's window here); a write beyond it queues the rest and stops the
 * writer at once, not only when the queue is full, and the window's
 * re-opening flushes the queue and starts it again. */
static void test_send_room_and_stop_on_queue(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_OPEN);
    wk_buf_put_cstring(&f->m, "direct-tcpip");
    wk_buf_put_u32(&f->m, 3);
    wk_buf_put_u32(&f->m, 100); /* the peer's window */
    wk_buf_put_u32(&f->m, 32768);
    wk_buf_put_cstring(&f->m, "h");
    wk_buf_put_u32(&f->m, 1);
    wk_buf_put_cstring(&f->m, "o");
    wk_buf_put_u32(&f->m, 2);
    h_send_buf(&f->p, &f->m);
    whelk_channel *ch = f->w.ch;
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    uint32_t ours = wk_load_u32(pl + 5);
    whelk_channel_handler h = handler;
    h.h.stop_writing = t_stop;
    h.h.start_writing = t_start;
    whelk_channel_set_handler(ch, &h, &f->w);
    stops = starts = 0;
    assert_int_equal(whelk_channel_send_room(ch), 100);
    assert_int_equal(whelk_channel_write(ch, "0123456789", 10), 10);
    assert_int_equal(whelk_channel_send_room(ch), 90);
    assert_int_equal(stops, 0);
    static uint8_t more[200];
    assert_int_equal(whelk_channel_write(ch, more, sizeof(more)),
                     (whelk_ssize)sizeof(more)); /* 90 sent, 110 queued */
    assert_int_equal(stops, 1);
    assert_int_equal(whelk_channel_send_room(ch), 0);
    assert_true(whelk_channel_write_room(ch) > 0); /* still writable */
    h_drain(&f->p);
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_WINDOW_ADJUST);
    wk_buf_put_u32(&f->m, ours);
    wk_buf_put_u32(&f->m, 1000);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(starts, 1);
    assert_int_equal(whelk_channel_send_room(ch), 1000 - 110);
    size_t got = 0;
    while (next_type(f, &pl, &n) == SSH_MSG_CHANNEL_DATA)
        got += wk_load_u32(pl + 5);
    assert_int_equal(got, 110);
}

static void global_req(fixture *f, const char *name, const char *addr,
                       uint32_t port, int want)
{
    wk_buf_put_u8(&f->m, SSH_MSG_GLOBAL_REQUEST);
    wk_buf_put_cstring(&f->m, name);
    wk_buf_put_bool(&f->m, want);
    wk_buf_put_cstring(&f->m, addr);
    if (strstr(name, "tcpip")) wk_buf_put_u32(&f->m, port);
    h_send_buf(&f->p, &f->m);
}

/* tcpip-forward with port 0 gets the port chosen in its reply; replies
 * leave in the order of the requests. */
static void test_global_requests(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    whelk_conn *c = f->p.conn;
    global_req(f, "tcpip-forward", "localhost", 0, 1);
    assert_int_equal(f->w.globals, 1);
    assert_string_equal(f->w.global_addr, "localhost");
    assert_int_equal(f->w.global_port, 0);
    global_req(f, "streamlocal-forward@openssh.com", "/tmp/s", 0, 1);
    assert_int_equal(f->w.globals, 2);
    assert_string_equal(f->w.global_addr, "/tmp/s");
    /* The second answered first: it waits for the first. */
    assert_int_equal(whelk_conn_global_reply(c, f->w.global_ids[1], 0, 0), 0);
    assert_int_equal(next_type(f, &pl, &n), 0);
    assert_int_equal(whelk_conn_global_reply(c, f->w.global_ids[0], 1, 40123),
                     0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_REQUEST_SUCCESS);
    assert_int_equal(n, 5);
    assert_int_equal(wk_load_u32(pl + 1), 40123);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_REQUEST_FAILURE);
    assert_int_equal(whelk_conn_global_reply(c, f->w.global_ids[0], 1, 0),
                     WHELK_ERR_STATE);
    /* The engine's own go behind replies still owed, too. */
    global_req(f, "cancel-tcpip-forward", "localhost", 40123, 1);
    wk_buf_put_u8(&f->m, SSH_MSG_GLOBAL_REQUEST);
    wk_buf_put_cstring(&f->m, "keepalive@openssh.com");
    wk_buf_put_bool(&f->m, 1);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), 0);
    assert_int_equal(whelk_conn_global_reply(c, f->w.global_ids[2], 1, 0), 0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_REQUEST_SUCCESS);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_REQUEST_FAILURE);
    /* A malformed one ends the connection. */
    wk_buf_put_u8(&f->m, SSH_MSG_GLOBAL_REQUEST);
    wk_buf_put_cstring(&f->m, "tcpip-forward");
    wk_buf_put_bool(&f->m, 1);
    h_send_buf(&f->p, &f->m);
    assert_true(whelk_conn_is_closed(c));
}

/* While 16 replies are owed, input waits; an answer lets it on. */
static void test_global_replies_bounded(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    for (int i = 0; i < 17; i++) global_req(f, "tcpip-forward", "h", 1, 1);
    assert_int_equal(f->w.globals, 16);
    assert_int_equal(whelk_conn_global_reply(f->p.conn, 0, 1, 0), 0);
    assert_int_equal(f->w.globals, 17);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_REQUEST_SUCCESS);
}

/* Our own global request and its reply; a keepalive probe's reply is
 * the engine's, not the application's. */
static void test_our_global_request(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    whelk_conn *c = f->p.conn;
    assert_int_equal(whelk_conn_set(c, WHELK_SET_CLIENT_ALIVE_MS, 1000), 0);
    assert_int_equal(whelk_conn_handle_expiry(c, 2000), 0); /* a probe */
    assert_int_equal(whelk_conn_send_global_request(c, "x@example.org",
                                                    (const uint8_t *)"\0\0\0\1",
                                                    4, 1),
                     0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_GLOBAL_REQUEST);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_GLOBAL_REQUEST);
    uint8_t failure = SSH_MSG_REQUEST_FAILURE, success = SSH_MSG_REQUEST_SUCCESS;
    h_send(&f->p, &failure, 1); /* the probe's */
    assert_int_equal(f->w.replies, 0);
    h_send(&f->p, &success, 1);
    assert_int_equal(f->w.replies, 1);
    assert_true(f->w.reply_ok);
}

/* auth-agent-req@openssh.com and x11-req reach the session handler. */
static void test_session_forwarding_requests(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_OPEN);
    wk_buf_put_cstring(&f->m, "session");
    wk_buf_put_u32(&f->m, 1);
    wk_buf_put_u32(&f->m, 1u << 20);
    wk_buf_put_u32(&f->m, 32768);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    uint32_t ours = wk_load_u32(pl + 5);
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_REQUEST);
    wk_buf_put_u32(&f->m, ours);
    wk_buf_put_cstring(&f->m, "auth-agent-req@openssh.com");
    wk_buf_put_bool(&f->m, 1);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_SUCCESS);
    assert_int_equal(f->w.agent_reqs, 1);
    for (int single = 1; single >= 0; single--) {
        wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_REQUEST);
        wk_buf_put_u32(&f->m, ours);
        wk_buf_put_cstring(&f->m, "x11-req");
        wk_buf_put_bool(&f->m, 1);
        wk_buf_put_bool(&f->m, single);
        wk_buf_put_cstring(&f->m, "MIT-MAGIC-COOKIE-1");
        wk_buf_put_cstring(&f->m, "0123456789abcdef");
        wk_buf_put_u32(&f->m, 0);
        h_send_buf(&f->p, &f->m);
        assert_int_equal(next_type(f, &pl, &n),
                         single ? SSH_MSG_CHANNEL_SUCCESS
                                : SSH_MSG_CHANNEL_FAILURE);
    }
    assert_int_equal(f->w.x11_reqs, 2);
    assert_string_equal(f->w.x11_proto, "MIT-MAGIC-COOKIE-1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_direct_tcpip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_room_and_stop_on_queue,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_answered_later_or_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_before_answer_is_fatal,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_without_callback,
                                        setup_bare, teardown),
        cmocka_unit_test_setup_teardown(test_our_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_output_bound, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_global_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_global_replies_bounded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_our_global_request, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_session_forwarding_requests,
                                        setup, teardown),
    };
    return cmocka_run_group_tests_name("tunnel", tests, NULL, NULL);
}
