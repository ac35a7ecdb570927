/*
 * The channel API engine to engine: a whelk client and a whelk server
 * connected in memory, driven only through the public API (setters,
 * opaque handlers). The client opens a direct-tcpip channel and asks for
 * a remote forward with port 0; the server opens forwarded-tcpip back;
 * 4 MiB cross each way through 64 KiB windows while each side's
 * application drains at its own pace, so window updates, stop/start
 * writing and EOF/CLOSE order all run between two real engines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "whelk/whelk.h"

#define BULK (4u << 20)

typedef struct end {
    whelk_channel *ch;
    size_t sent, received;
    uint32_t sum_in, sum_out; /* a running check of the bytes, in order */
    int eof, closed, opened, stopped;
    size_t drain_step; /* consume at most this much per round; 0: all */
    size_t held;       /* received but not yet consumed */
} end;

typedef struct world {
    whelk_config *scfg, *ccfg;
    whelk_key *host, *user_key;
    whelk_server_callbacks *scb;
    whelk_client_callbacks *ccb;
    whelk_channel_handler *h;
    whelk_conn *server, *client;
    int authed;
    end s, c; /* the server's and the client's end of the channel */
    int globals, replies, reply_ok;
    uint32_t reply_port;
    char fwd_address[64];
} world;

static uint8_t byte_at(size_t i) { return (uint8_t)(i * 7 + (i >> 11)); }

static end *end_of(whelk_channel *ch)
{
    return whelk_channel_user(ch);
}

static void on_data(whelk_channel *ch, const uint8_t *d, size_t n, void *u)
{
    end *e = u;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(d[i], byte_at(e->received + i));
        e->sum_in = e->sum_in * 31 + d[i];
    }
    e->received += n;
    if (e->drain_step)
        e->held += n;
    else
        whelk_channel_consumed(ch, n);
}
static void on_eof(whelk_channel *ch, void *u) { ((end *)u)->eof = 1; }
static void on_closed(whelk_channel *ch, void *u)
{
    end *e = u;
    e->closed = 1;
    e->ch = NULL;
}
static void on_stop(whelk_channel *ch, void *u) { ((end *)u)->stopped = 1; }
static void on_start(whelk_channel *ch, void *u) { ((end *)u)->stopped = 0; }
static void on_opened(whelk_channel *ch, uint32_t failure, const char *t,
                      void *u)
{
    ((end *)u)->opened = failure ? -(int)failure : 1;
}

/* Writes as much of the bulk as the channel takes now. */
static void push(end *e)
{
    while (e->ch && e->sent < BULK && !e->stopped) {
        uint8_t chunk[8192];
        size_t n = BULK - e->sent < sizeof(chunk) ? BULK - e->sent
                                                  : sizeof(chunk);
        for (size_t i = 0; i < n; i++) chunk[i] = byte_at(e->sent + i);
        whelk_ssize took = whelk_channel_write(e->ch, chunk, n);
        assert_true(took >= 0);
        e->sent += (size_t)took;
        if ((size_t)took < n) break;
    }
}

static void drain(end *e)
{
    if (!e->ch || !e->held) return;
    size_t n = e->held < e->drain_step ? e->held : e->drain_step;
    e->held -= n;
    whelk_channel_consumed(e->ch, n);
}

/* Moves bytes both ways until neither engine has anything to say. */
static int shuttle_once(world *w)
{
    int moved = 0;
    whelk_conn *from[2] = {w->client, w->server};
    whelk_conn *to[2] = {w->server, w->client};
    for (int i = 0; i < 2; i++) {
        const uint8_t *out;
        size_t n;
        /* The receiver may take less while it holds input back (its
         * application has not consumed): the rest waits, as in a socket. */
        while ((n = whelk_conn_out(from[i], &out)) > 0) {
            whelk_ssize took = whelk_conn_recv(to[i], out, n, 0);
            assert_true(took >= 0);
            if (took == 0) break;
            whelk_conn_out_consumed(from[i], (size_t)took);
            moved = 1;
        }
    }
    return moved;
}

static void shuttle(world *w)
{
    for (int i = 0; i < 1000 && shuttle_once(w); i++) {
    }
}

static void s_open(whelk_conn *c, whelk_channel *ch,
                   const whelk_channel_open *o, void *u)
{
    world *w = u;
    assert_int_equal(whelk_channel_open_type(o), WHELK_CHANNEL_DIRECT_TCPIP);
    assert_string_equal(whelk_channel_open_address(o), "db.internal");
    assert_int_equal(whelk_channel_open_port(o), 5432);
    assert_string_equal(whelk_channel_open_originator(o), "127.0.0.1");
    w->s.ch = ch;
    assert_int_equal(whelk_channel_accept(ch, w->h, &w->s), 0);
}

static void s_global(whelk_conn *c, const whelk_global_request *r, void *u)
{
    world *w = u;
    w->globals++;
    assert_int_equal(whelk_global_request_type(r), WHELK_GLOBAL_TCPIP_FORWARD);
    snprintf(w->fwd_address, sizeof(w->fwd_address), "%s",
             whelk_global_request_address(r));
    assert_int_equal(whelk_global_request_port(r), 0);
    assert_int_equal(whelk_conn_global_reply(c, whelk_global_request_id(r), 1,
                                             40222),
                     0);
}

static void c_open(whelk_conn *c, whelk_channel *ch,
                   const whelk_channel_open *o, void *u)
{
    world *w = u;
    assert_int_equal(whelk_channel_open_type(o), WHELK_CHANNEL_FORWARDED_TCPIP);
    assert_int_equal(whelk_channel_open_port(o), 40222);
    w->c.ch = ch;
    assert_int_equal(whelk_channel_accept(ch, w->h, &w->c), 0);
}

static void c_reply(whelk_conn *c, int ok, const uint8_t *d, size_t n,
                    void *u)
{
    world *w = u;
    w->replies++;
    w->reply_ok = ok;
    assert_int_equal(n, 4);
    w->reply_port = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 |
                    (uint32_t)d[2] << 8 | d[3];
}

static whelk_auth_result s_pubkey(whelk_conn *c,
                                  const whelk_pubkey_request *r, void *u)
{
    world *w = u;
    return whelk_key_equal_public(whelk_pubkey_request_key(r), w->user_key)
               ? WHELK_AUTH_ALLOW
               : WHELK_AUTH_DENY;
}
static int c_host(whelk_conn *c, const whelk_key *k, void *u) { return 0; }
static void c_authed(whelk_conn *c, const char *user, const char *m, void *u)
{
    ((world *)u)->authed = 1;
}

static int setup(void **state)
{
    world *w = calloc(1, sizeof(*w));
    assert_int_equal(whelk_key_generate_ed25519(&w->host), 0);
    assert_int_equal(whelk_key_generate_ed25519(&w->user_key), 0);
    w->scfg = whelk_config_new();
    w->ccfg = whelk_config_new();
    whelk_config_add_host_key(w->scfg, w->host);
    whelk_config_set(w->scfg, WHELK_SET_AUTH_FAIL_DELAY_MS, 0);
    whelk_config_set(w->scfg, WHELK_SET_AUTH_QUERY_DELAY_MS, 0);
    /* Small windows and bounds, so flow control runs many times. */
    whelk_config_set(w->scfg, WHELK_SET_WINDOW, 65536);
    whelk_config_set(w->ccfg, WHELK_SET_WINDOW, 65536);
    whelk_config_set(w->scfg, WHELK_SET_OUT_BUFFER, 100000);
    whelk_config_set(w->ccfg, WHELK_SET_OUT_BUFFER, 100000);

    assert_int_equal(whelk_channel_handler_new(&w->h), 0);
    whelk_channel_handler_set_data(w->h, on_data);
    whelk_channel_handler_set_eof(w->h, on_eof);
    whelk_channel_handler_set_closed(w->h, on_closed);
    whelk_channel_handler_set_stop_writing(w->h, on_stop);
    whelk_channel_handler_set_start_writing(w->h, on_start);
    whelk_channel_handler_set_opened(w->h, on_opened);

    assert_int_equal(whelk_server_callbacks_new(&w->scb), 0);
    whelk_server_callbacks_set_auth_publickey(w->scb, s_pubkey);
    whelk_server_callbacks_set_channel_open(w->scb, s_open);
    whelk_server_callbacks_set_global_request(w->scb, s_global);
    assert_int_equal(whelk_client_callbacks_new(&w->ccb), 0);
    whelk_client_callbacks_set_host_key_check(w->ccb, c_host);
    whelk_client_callbacks_set_authenticated(w->ccb, c_authed);
    whelk_client_callbacks_set_channel_open(w->ccb, c_open);
    whelk_client_callbacks_set_global_reply(w->ccb, c_reply);

    assert_int_equal(whelk_conn_server_new(&w->server, w->scfg, w->scb, w,
                                           "127.0.0.1", 1234, 0),
                     0);
    assert_int_equal(whelk_conn_client_new(&w->client, w->ccfg, w->ccb, w,
                                           "alice", w->user_key, 0),
                     0);
    shuttle(w);
    assert_true(w->authed);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    whelk_conn_free(w->client);
    whelk_conn_free(w->server);
    whelk_channel_handler_free(w->h);
    whelk_server_callbacks_free(w->scb);
    whelk_client_callbacks_free(w->ccb);
    whelk_config_free(w->scfg);
    whelk_config_free(w->ccfg);
    whelk_key_free(w->user_key);
    free(w);
    return 0;
}

/* Both ways at once until all has arrived, with the receivers draining
 * slowly; then EOF both ways and CLOSE. */
static void bulk_both_ways(world *w)
{
    w->s.drain_step = 20000;
    w->c.drain_step = 50000;
    for (int round = 0; round < 100000; round++) {
        push(&w->s);
        push(&w->c);
        shuttle(w);
        drain(&w->s);
        drain(&w->c);
        if (w->s.received == BULK && w->c.received == BULK) break;
    }
    assert_int_equal(w->s.received, BULK);
    assert_int_equal(w->c.received, BULK);
    drain(&w->s);
    drain(&w->c);
    assert_int_equal(whelk_channel_send_eof(w->c.ch), 0);
    shuttle(w);
    assert_true(w->s.eof);
    assert_int_equal(whelk_channel_send_eof(w->s.ch), 0);
    assert_int_equal(whelk_channel_close(w->s.ch), 0);
    shuttle(w);
    assert_true(w->c.eof);
    assert_true(w->c.closed); /* the client's engine answered the CLOSE */
    assert_true(w->s.closed);
    assert_false(whelk_conn_is_closed(w->server));
    assert_false(whelk_conn_is_closed(w->client));
}

static void test_local_forward(void **state)
{
    world *w = *state;
    whelk_channel *ch;
    assert_int_equal(whelk_conn_open_channel(w->client, &ch,
                                             WHELK_CHANNEL_DIRECT_TCPIP,
                                             "db.internal", 5432, "127.0.0.1",
                                             50000, w->h, &w->c),
                     0);
    w->c.ch = ch;
    shuttle(w);
    assert_int_equal(w->c.opened, 1);
    assert_non_null(w->s.ch);
    assert_ptr_equal(end_of(w->s.ch), &w->s);
    bulk_both_ways(w);
}

static void test_remote_forward(void **state)
{
    world *w = *state;
    static const uint8_t fields[] = {0, 0, 0, 9, 'l', 'o', 'c', 'a', 'l',
                                     'h', 'o', 's', 't', 0, 0, 0, 0};
    assert_int_equal(whelk_conn_send_global_request(w->client, "tcpip-forward",
                                                    fields, sizeof(fields), 1),
                     0);
    shuttle(w);
    assert_int_equal(w->globals, 1);
    assert_string_equal(w->fwd_address, "localhost");
    assert_int_equal(w->replies, 1);
    assert_true(w->reply_ok);
    assert_int_equal(w->reply_port, 40222);
    /* A connection arrives at the bound port: the server opens back. */
    whelk_channel *ch;
    assert_int_equal(whelk_conn_open_channel(w->server, &ch,
                                             WHELK_CHANNEL_FORWARDED_TCPIP,
                                             "localhost", 40222, "127.0.0.1",
                                             51000, w->h, &w->s),
                     0);
    w->s.ch = ch;
    shuttle(w);
    assert_int_equal(w->s.opened, 1);
    assert_non_null(w->c.ch);
    bulk_both_ways(w);
}

/* A client with no channel_open callback refuses the server's opens. */
static void test_client_refuses_by_default(void **state)
{
    world *w = *state;
    whelk_client_callbacks_set_channel_open(w->ccb, NULL);
    /* The callbacks are copied at whelk_conn_client_new: a new pair. */
    whelk_conn_free(w->client);
    whelk_conn_free(w->server);
    w->authed = 0;
    assert_int_equal(whelk_conn_server_new(&w->server, w->scfg, w->scb, w,
                                           "127.0.0.1", 1234, 0),
                     0);
    assert_int_equal(whelk_conn_client_new(&w->client, w->ccfg, w->ccb, w,
                                           "alice", w->user_key, 0),
                     0);
    shuttle(w);
    assert_true(w->authed);
    whelk_channel *ch;
    assert_int_equal(whelk_conn_open_channel(w->server, &ch,
                                             WHELK_CHANNEL_AUTH_AGENT, NULL, 0,
                                             NULL, 0, w->h, &w->s),
                     0);
    shuttle(w);
    assert_int_equal(w->s.opened, -WHELK_OPEN_ADMINISTRATIVELY_PROHIBITED);
    assert_true(w->s.closed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_local_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_refuses_by_default, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
