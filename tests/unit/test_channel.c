/*
 * Unit tests of lib/channel.c and lib/session.c: the channel state
 * machine (open, windows, EOF/CLOSE order, back-pressure) and every
 * session request parser, driven through the public engine entry points.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session.h"
#include "harness.h"

/* What the session handler saw. */
typedef struct seen {
    int opens, closed, eofs, stops, starts;
    char exec[256];
    char subsystem[64];
    char env[256];
    char signal[32];
    whelk_pty pty;
    int pty_calls;
    uint32_t cols, rows;
    wk_buf data;
    int consume;        /* consume data at once */
    int refuse_exec;
    whelk_session *s;
} seen;

static int on_pty(whelk_session *s, const whelk_pty *pty, void *u)
{
    seen *w = u;
    w->pty = *pty;
    w->pty_calls++;
    return 0;
}
static int on_env(whelk_session *s, const char *n, const char *v, void *u)
{
    seen *w = u;
    snprintf(w->env, sizeof(w->env), "%s=%s", n, v);
    return strcmp(n, "REFUSED") == 0 ? -1 : 0;
}
static int on_exec(whelk_session *s, const char *cmd, void *u)
{
    seen *w = u;
    snprintf(w->exec, sizeof(w->exec), "%s", cmd);
    return w->refuse_exec ? -1 : 0;
}
static int on_shell(whelk_session *s, void *u)
{
    seen *w = u;
    snprintf(w->exec, sizeof(w->exec), "<shell>");
    return 0;
}
static int on_subsystem(whelk_session *s, const char *name, void *u)
{
    seen *w = u;
    snprintf(w->subsystem, sizeof(w->subsystem), "%s", name);
    return strcmp(name, "sftp") == 0 ? 0 : -1;
}
static int on_winch(whelk_session *s, uint32_t c, uint32_t r, uint32_t wp,
                    uint32_t hp, void *u)
{
    seen *w = u;
    w->cols = c;
    w->rows = r;
    return 0;
}
static int on_signal(whelk_session *s, const char *name, void *u)
{
    seen *w = u;
    snprintf(w->signal, sizeof(w->signal), "%s", name);
    return strcmp(name, "INT") == 0 ? 0 : -1;
}
static void on_data(whelk_session *s, const uint8_t *d, size_t n, void *u)
{
    seen *w = u;
    assert_int_equal(wk_buf_put(&w->data, d, n), 0);
    if (w->consume) whelk_session_consumed(s, n);
}
static void on_eof(whelk_session *s, void *u) { ((seen *)u)->eofs++; }
static void on_closed(whelk_session *s, void *u)
{
    seen *w = u;
    w->closed++;
    w->s = NULL;
}
static void on_stop(whelk_session *s, void *u) { ((seen *)u)->stops++; }
static void on_start(whelk_session *s, void *u) { ((seen *)u)->starts++; }

static const whelk_session_handler handler = {.h = {
    .pty_req = on_pty,
    .env = on_env,
    .shell = on_shell,
    .exec = on_exec,
    .subsystem = on_subsystem,
    .window_change = on_winch,
    .signal = on_signal,
    .data = on_data,
    .eof = on_eof,
    .closed = on_closed,
    .stop_writing = on_stop,
    .start_writing = on_start,
}};

static int session_open(whelk_conn *c, whelk_session *s, void *u)
{
    seen *w = u;
    w->opens++;
    w->s = s;
    whelk_session_set_handler(s, &handler, w);
    return 0;
}

typedef struct fixture {
    h_peer p;
    seen w;
    wk_buf m; /* message under construction */
} fixture;

static int setup_with(void **state, uint64_t out_bound)
{
    fixture *f = calloc(1, sizeof(*f));
    whelk_server_callbacks cb = {.cb = {.session_open = session_open}};
    whelk_config *cfg = h_config();
    if (out_bound) whelk_config_set(cfg, WHELK_SET_OUT_BUFFER, out_bound);
    wk_buf_init(&f->w.data, 64u << 20);
    wk_buf_init(&f->m, 1u << 20);
    f->w.consume = 1;
    assert_int_equal(h_server(&f->p, cfg, &cb, &f->w), 0);
    *state = f;
    return 0;
}
static int setup(void **state) { return setup_with(state, 0); }
static int setup_small_bound(void **state) { return setup_with(state, 64); }

static int teardown(void **state)
{
    fixture *f = *state;
    h_free(&f->p);
    wk_buf_free(&f->w.data);
    wk_buf_free(&f->m);
    free(f);
    return 0;
}

/* Message builders. */
static void open_session(fixture *f, uint32_t id, uint32_t window,
                         uint32_t maxpkt)
{
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_OPEN);
    wk_buf_put_cstring(&f->m, "session");
    wk_buf_put_u32(&f->m, id);
    wk_buf_put_u32(&f->m, window);
    wk_buf_put_u32(&f->m, maxpkt);
    h_send_buf(&f->p, &f->m);
}

static void begin_request(fixture *f, uint32_t chan, const char *type,
                          int want)
{
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_REQUEST);
    wk_buf_put_u32(&f->m, chan);
    wk_buf_put_cstring(&f->m, type);
    wk_buf_put_bool(&f->m, want);
}

static void send_data(fixture *f, uint32_t chan, const void *d, size_t n)
{
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_DATA);
    wk_buf_put_u32(&f->m, chan);
    wk_buf_put_string(&f->m, d, n);
    h_send_buf(&f->p, &f->m);
}

static void send_chan_msg(fixture *f, uint8_t type, uint32_t chan)
{
    wk_buf_put_u8(&f->m, type);
    wk_buf_put_u32(&f->m, chan);
    h_send_buf(&f->p, &f->m);
}

static void window_adjust(fixture *f, uint32_t chan, uint32_t n)
{
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_WINDOW_ADJUST);
    wk_buf_put_u32(&f->m, chan);
    wk_buf_put_u32(&f->m, n);
    h_send_buf(&f->p, &f->m);
}

/* The next packet's type (0 when none). */
static uint8_t next_type(fixture *f, const uint8_t **pl, size_t *n)
{
    if (!h_next(&f->p, pl, n) || *n == 0) return 0;
    return (*pl)[0];
}

static void exec_cmd(fixture *f, uint32_t chan, const char *cmd)
{
    begin_request(f, chan, "exec", 1);
    wk_buf_put_cstring(&f->m, cmd);
    h_send_buf(&f->p, &f->m);
}

/* Opens channel 7 with a generous window and execs "cmd". */
static void open_and_exec(fixture *f)
{
    const uint8_t *pl;
    size_t n;
    open_session(f, 7, 1u << 20, 32768);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    exec_cmd(f, 0, "cmd");
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_SUCCESS);
}

static void test_open_confirm(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    open_session(f, 7, 1000, 500);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    wk_reader r;
    uint8_t t;
    uint32_t rid, lid, win, maxp;
    wk_reader_init(&r, pl, n);
    wk_get_u8(&r, &t);
    wk_get_u32(&r, &rid);
    wk_get_u32(&r, &lid);
    wk_get_u32(&r, &win);
    wk_get_u32(&r, &maxp);
    assert_int_equal(wk_reader_end(&r), 0);
    assert_int_equal(rid, 7);
    assert_int_equal(lid, 0);
    assert_int_equal(win, 2u << 20);
    assert_int_equal(maxp, 32768);
    assert_int_equal(f->w.opens, 1);
}

static uint32_t open_failure_reason(fixture *f)
{
    const uint8_t *pl;
    size_t n;
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_FAILURE);
    return wk_load_u32(pl + 5);
}

static void test_open_refusals(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_OPEN);
    wk_buf_put_cstring(&f->m, "no-such-type");
    wk_buf_put_u32(&f->m, 1);
    wk_buf_put_u32(&f->m, 100);
    wk_buf_put_u32(&f->m, 100);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(open_failure_reason(f), SSH_OPEN_UNKNOWN_CHANNEL_TYPE);

    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_OPEN);
    wk_buf_put_cstring(&f->m, "direct-tcpip");
    wk_buf_put_u32(&f->m, 2);
    wk_buf_put_u32(&f->m, 100);
    wk_buf_put_u32(&f->m, 100);
    wk_buf_put_cstring(&f->m, "localhost");
    wk_buf_put_u32(&f->m, 22);
    wk_buf_put_cstring(&f->m, "127.0.0.1");
    wk_buf_put_u32(&f->m, 5000);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(open_failure_reason(f),
                     SSH_OPEN_ADMINISTRATIVELY_PROHIBITED);

    /* Ten sessions are allowed, the eleventh is refused, and the
     * connection goes on. */
    for (uint32_t i = 0; i < 10; i++) {
        open_session(f, 100 + i, 1000, 1000);
        assert_int_equal(next_type(f, &pl, &n),
                         SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    }
    open_session(f, 200, 1000, 1000);
    assert_int_equal(open_failure_reason(f), SSH_OPEN_RESOURCE_SHORTAGE);
    assert_false(whelk_conn_is_closed(f->p.conn));
}

static void test_ids_not_reused(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    open_session(f, 1, 1000, 1000);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    send_chan_msg(f, SSH_MSG_CHANNEL_CLOSE, 0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_CLOSE);
    assert_int_equal(f->w.closed, 1);
    open_session(f, 1, 1000, 1000);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    assert_int_equal(wk_load_u32(pl + 5), 1); /* not 0 again */
    /* A message for the closed channel (one that raced our CLOSE) is
     * dropped; one for a channel that never was is fatal. */
    send_chan_msg(f, SSH_MSG_CHANNEL_EOF, 0);
    assert_false(whelk_conn_is_closed(f->p.conn));
    assert_int_equal(next_type(f, &pl, &n), 0);
    send_chan_msg(f, SSH_MSG_CHANNEL_EOF, 2);
    assert_true(whelk_conn_is_closed(f->p.conn));
}

static void test_early_data_kept(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    open_session(f, 7, 1000, 1000);
    next_type(f, &pl, &n);
    send_data(f, 0, "abc", 3);
    send_data(f, 0, "def", 3);
    send_chan_msg(f, SSH_MSG_CHANNEL_EOF, 0);
    assert_int_equal(wk_buf_used(&f->w.data), 0);
    assert_int_equal(f->w.eofs, 0);
    exec_cmd(f, 0, "cat");
    assert_string_equal(f->w.exec, "cat");
    assert_int_equal(wk_buf_used(&f->w.data), 6);
    assert_memory_equal(wk_buf_data(&f->w.data), "abcdef", 6);
    assert_int_equal(f->w.eofs, 1);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_SUCCESS);
}

static void test_one_program_only(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    open_and_exec(f);
    begin_request(f, 0, "shell", 1);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    /* pty-req and env after the program started are refused. */
    begin_request(f, 0, "pty-req", 1);
    wk_buf_put_cstring(&f->m, "xterm");
    for (int i = 0; i < 4; i++) wk_buf_put_u32(&f->m, 80);
    wk_buf_put_string(&f->m, "", 0);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    assert_int_equal(f->w.pty_calls, 0);
}

static void test_refused_exec_not_started(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    f->w.refuse_exec = 1;
    open_session(f, 7, 1000, 1000);
    next_type(f, &pl, &n);
    exec_cmd(f, 0, "nope");
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    f->w.refuse_exec = 0;
    exec_cmd(f, 0, "yes");
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_SUCCESS);
}

static void test_data_beyond_window_fatal(void **state)
{
    fixture *f = *state;
    open_and_exec(f);
    f->w.consume = 0;
    static uint8_t chunk[32768];
    /* 2 MiB fits exactly; one byte more is a protocol error. */
    for (int i = 0; i < 64; i++) {
        send_data(f, 0, chunk, sizeof(chunk));
        assert_int_equal(f->p.last_rc, 0);
    }
    assert_false(whelk_conn_is_closed(f->p.conn));
    send_data(f, 0, chunk, 1);
    assert_true(whelk_conn_is_closed(f->p.conn));
    const uint8_t *pl;
    size_t n;
    assert_true(h_expect(&f->p, SSH_MSG_DISCONNECT, &pl, &n));
    assert_int_equal(wk_load_u32(pl + 1), WHELK_DISCONNECT_PROTOCOL_ERROR);
}

static void test_data_beyond_maxpacket_fatal(void **state)
{
    fixture *f = *state;
    open_and_exec(f);
    static uint8_t big[32769];
    send_data(f, 0, big, sizeof(big));
    assert_true(whelk_conn_is_closed(f->p.conn));
}

static void test_data_after_eof_fatal(void **state)
{
    fixture *f = *state;
    open_and_exec(f);
    send_chan_msg(f, SSH_MSG_CHANNEL_EOF, 0);
    assert_int_equal(f->w.eofs, 1);
    send_data(f, 0, "x", 1);
    assert_true(whelk_conn_is_closed(f->p.conn));
}

/* WINDOW_ADJUST only after the application consumed half the window. */
static void test_adjust_on_consumption(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    open_and_exec(f);
    f->w.consume = 0;
    static uint8_t chunk[32768];
    for (int i = 0; i < 48; i++) send_data(f, 0, chunk, sizeof(chunk));
    assert_int_equal(next_type(f, &pl, &n), 0); /* nothing consumed yet */
    whelk_session_consumed(f->w.s, 512 * 1024);
    assert_int_equal(next_type(f, &pl, &n), 0); /* below half */
    whelk_session_consumed(f->w.s, 512 * 1024);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_WINDOW_ADJUST);
    assert_int_equal(wk_load_u32(pl + 5), 1u << 20);
    /* Consuming more than was delivered is clamped, never inflating the
     * window past its maximum. */
    whelk_session_consumed(f->w.s, 100u << 20);
    assert_int_equal(next_type(f, &pl, &n), 0);
    whelk_session_consumed(f->w.s, 0);
    for (int i = 0; i < 32; i++) send_data(f, 0, chunk, sizeof(chunk));
    assert_int_equal(f->p.last_rc, 0);
    assert_false(whelk_conn_is_closed(f->p.conn));
}

static void test_output_respects_window(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    open_session(f, 9, 10, 4);
    next_type(f, &pl, &n);
    exec_cmd(f, 0, "x");
    next_type(f, &pl, &n);
    assert_int_equal(whelk_session_write(f->w.s, "0123456789abcdefghijklmno",
                                         25),
                     25);
    size_t sizes[3] = {4, 4, 2};
    wk_buf got;
    wk_buf_init(&got, 1024);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_DATA);
        assert_int_equal(wk_load_u32(pl + 1), 9);
        assert_int_equal(wk_load_u32(pl + 5), sizes[i]);
        wk_buf_put(&got, pl + 9, sizes[i]);
    }
    assert_int_equal(next_type(f, &pl, &n), 0);
    assert_int_equal(whelk_session_peer_window(f->w.s), 0);
    /* EOF and CLOSE wait for the queued 15 bytes. */
    whelk_session_exit_status(f->w.s, 3);
    whelk_session_send_eof(f->w.s);
    whelk_session_close(f->w.s);
    assert_int_equal(next_type(f, &pl, &n), 0);
    window_adjust(f, 0, 100);
    while (next_type(f, &pl, &n) == SSH_MSG_CHANNEL_DATA)
        wk_buf_put(&got, pl + 9, wk_load_u32(pl + 5));
    assert_int_equal(wk_buf_used(&got), 25);
    assert_memory_equal(wk_buf_data(&got), "0123456789abcdefghijklmno", 25);
    /* The packet after the data: exit-status, then EOF, then CLOSE. */
    assert_int_equal(pl[0], SSH_MSG_CHANNEL_REQUEST);
    assert_memory_equal(pl + 9, "exit-status", 11);
    assert_int_equal(wk_load_u32(pl + 21), 3);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_EOF);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_CLOSE);
    assert_int_equal(f->w.closed, 0); /* until the peer's CLOSE */
    send_chan_msg(f, SSH_MSG_CHANNEL_CLOSE, 0);
    assert_int_equal(f->w.closed, 1);
    assert_int_equal(next_type(f, &pl, &n), 0);
    wk_buf_free(&got);
}

static void test_stop_start_writing(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    open_session(f, 9, 0, 1000);
    next_type(f, &pl, &n);
    exec_cmd(f, 0, "x");
    next_type(f, &pl, &n);
    static uint8_t d[100];
    /* The bound is 64 bytes: 64 taken, producer told to stop. */
    assert_int_equal(whelk_session_write(f->w.s, d, 100), 64);
    assert_int_equal(f->w.stops, 1);
    assert_int_equal(whelk_session_write_room(f->w.s), 0);
    window_adjust(f, 0, 40);
    assert_int_equal(f->w.starts, 1);
    assert_int_equal(whelk_session_write_room(f->w.s), 40);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_DATA);
}

static void test_window_overflow_fatal(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    open_session(f, 9, 0xFFFFFF00u, 1000);
    next_type(f, &pl, &n);
    window_adjust(f, 0, 0xFF); /* exactly 2^32 - 1: fine */
    assert_false(whelk_conn_is_closed(f->p.conn));
    assert_int_equal(whelk_session_peer_window(f->w.s), 0xFFFFFFFFu);
    window_adjust(f, 0, 1);
    assert_true(whelk_conn_is_closed(f->p.conn));
}

static void test_peer_close_first(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    open_session(f, 9, 0, 1000);
    next_type(f, &pl, &n);
    exec_cmd(f, 0, "x");
    next_type(f, &pl, &n);
    whelk_session_write(f->w.s, "queued", 6);
    send_chan_msg(f, SSH_MSG_CHANNEL_CLOSE, 0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_CLOSE);
    assert_int_equal(f->w.closed, 1);
    assert_int_equal(next_type(f, &pl, &n), 0);
}

static void test_pty_req_parsing(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    open_session(f, 9, 1000, 1000);
    next_type(f, &pl, &n);
    begin_request(f, 0, "pty-req", 1);
    wk_buf_put_cstring(&f->m, "xterm-256color");
    wk_buf_put_u32(&f->m, 132);
    wk_buf_put_u32(&f->m, 43);
    wk_buf_put_u32(&f->m, 640);
    wk_buf_put_u32(&f->m, 480);
    uint8_t modes[] = {
        WHELK_TTY_VINTR, 0, 0, 0, 3,         /* ^C */
        WHELK_TTY_ECHO, 0, 0, 0, 1,
        99, 0, 0, 0, 7,                      /* unknown, kept */
        WHELK_TTY_OP_ISPEED, 0, 0, 0x96, 0,  /* 38400 */
        WHELK_TTY_OP_END,
        WHELK_TTY_ICANON, 0, 0, 0, 1,        /* after END: ignored */
    };
    wk_buf_put_string(&f->m, modes, sizeof(modes));
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_SUCCESS);
    /* Read back through the public accessors. */
    const whelk_pty *pty = &f->w.pty;
    uint32_t cols, rows, wpx, hpx, v;
    uint8_t op;
    assert_string_equal(whelk_pty_term(pty), "xterm-256color");
    whelk_pty_size(pty, &cols, &rows, &wpx, &hpx);
    assert_int_equal(cols, 132);
    assert_int_equal(rows, 43);
    assert_int_equal(wpx, 640);
    assert_int_equal(whelk_pty_mode_count(pty), 4);
    assert_int_equal(whelk_pty_mode(pty, 0, &op, &v), 0);
    assert_int_equal(op, WHELK_TTY_VINTR);
    assert_int_equal(v, 3);
    assert_int_equal(whelk_pty_mode(pty, 2, &op, &v), 0);
    assert_int_equal(op, 99);
    assert_int_equal(whelk_pty_mode(pty, 3, &op, &v), 0);
    assert_int_equal(v, 38400);
    assert_int_equal(whelk_pty_mode(pty, 4, &op, &v), WHELK_ERR_INVAL);
    /* A second pty-req is refused. */
    begin_request(f, 0, "pty-req", 1);
    wk_buf_put_cstring(&f->m, "vt100");
    for (int i = 0; i < 4; i++) wk_buf_put_u32(&f->m, 1);
    wk_buf_put_string(&f->m, "", 0);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    /* window-change now reaches the handler. */
    begin_request(f, 0, "window-change", 0);
    wk_buf_put_u32(&f->m, 100);
    wk_buf_put_u32(&f->m, 30);
    wk_buf_put_u32(&f->m, 0);
    wk_buf_put_u32(&f->m, 0);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(f->w.cols, 100);
    assert_int_equal(f->w.rows, 30);
}

static void test_malformed_requests(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    open_session(f, 9, 1000, 1000);
    next_type(f, &pl, &n);
    /* Truncated pty-req: no modes string. */
    begin_request(f, 0, "pty-req", 1);
    wk_buf_put_cstring(&f->m, "xterm");
    wk_buf_put_u32(&f->m, 80);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    /* Modes with a truncated argument. */
    begin_request(f, 0, "pty-req", 1);
    wk_buf_put_cstring(&f->m, "xterm");
    for (int i = 0; i < 4; i++) wk_buf_put_u32(&f->m, 80);
    wk_buf_put_string(&f->m, "\x01\x00\x00", 3);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    /* Too many modes. */
    begin_request(f, 0, "pty-req", 1);
    wk_buf_put_cstring(&f->m, "xterm");
    for (int i = 0; i < 4; i++) wk_buf_put_u32(&f->m, 80);
    uint8_t many[5 * (WHELK_MAX_TTY_MODES + 1)];
    for (size_t i = 0; i < sizeof(many); i += 5) {
        many[i] = WHELK_TTY_ECHO;
        wk_store_u32(many + i + 1, 1);
    }
    wk_buf_put_string(&f->m, many, sizeof(many));
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    assert_int_equal(f->w.pty_calls, 0);
    /* window-change before any pty-req. */
    begin_request(f, 0, "window-change", 1);
    for (int i = 0; i < 4; i++) wk_buf_put_u32(&f->m, 80);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    /* exec with trailing bytes, exec with a NUL. */
    begin_request(f, 0, "exec", 1);
    wk_buf_put_cstring(&f->m, "ls");
    wk_buf_put_u8(&f->m, 0);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    begin_request(f, 0, "exec", 1);
    wk_buf_put_string(&f->m, "ls\0rm", 5);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    /* Refused kinds. */
    begin_request(f, 0, "x11-req", 1);
    wk_buf_put_bool(&f->m, 0);
    wk_buf_put_cstring(&f->m, "MIT-MAGIC-COOKIE-1");
    wk_buf_put_cstring(&f->m, "00");
    wk_buf_put_u32(&f->m, 0);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    begin_request(f, 0, "auth-agent-req@openssh.com", 1);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    begin_request(f, 0, "made-up", 1);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    assert_false(whelk_conn_is_closed(f->p.conn));
    assert_string_equal(f->w.exec, "");
}

static void test_env_signal_subsystem(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    open_session(f, 9, 1000, 1000);
    next_type(f, &pl, &n);
    begin_request(f, 0, "env", 1);
    wk_buf_put_cstring(&f->m, "LANG");
    wk_buf_put_cstring(&f->m, "C.UTF-8");
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_SUCCESS);
    assert_string_equal(f->w.env, "LANG=C.UTF-8");
    begin_request(f, 0, "env", 1);
    wk_buf_put_cstring(&f->m, "REFUSED");
    wk_buf_put_cstring(&f->m, "1");
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    /* A signal before the program exists is refused. */
    begin_request(f, 0, "signal", 1);
    wk_buf_put_cstring(&f->m, "INT");
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    begin_request(f, 0, "subsystem", 1);
    wk_buf_put_cstring(&f->m, "nosuch");
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    begin_request(f, 0, "subsystem", 1);
    wk_buf_put_cstring(&f->m, "sftp");
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_SUCCESS);
    begin_request(f, 0, "signal", 1);
    wk_buf_put_cstring(&f->m, "INT");
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_SUCCESS);
    assert_string_equal(f->w.signal, "INT");
    begin_request(f, 0, "signal", 1);
    wk_buf_put_cstring(&f->m, "WINCH");
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
    begin_request(f, 0, "signal", 1);
    wk_buf_put_cstring(&f->m, "IN\nT");
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_FAILURE);
}

static void test_unknown_channel_fatal(void **state)
{
    fixture *f = *state;
    begin_request(f, 42, "exec", 1);
    wk_buf_put_cstring(&f->m, "ls");
    h_send_buf(&f->p, &f->m);
    assert_true(whelk_conn_is_closed(f->p.conn));
}

static void test_global_requests(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    wk_buf_put_u8(&f->m, SSH_MSG_GLOBAL_REQUEST);
    wk_buf_put_cstring(&f->m, "keepalive@openssh.com");
    wk_buf_put_bool(&f->m, 1);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_REQUEST_FAILURE);
    wk_buf_put_u8(&f->m, SSH_MSG_GLOBAL_REQUEST);
    wk_buf_put_cstring(&f->m, "tcpip-forward");
    wk_buf_put_bool(&f->m, 0);
    wk_buf_put_cstring(&f->m, "");
    wk_buf_put_u32(&f->m, 0);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), 0); /* no reply wanted */
    wk_buf_put_u8(&f->m, SSH_MSG_GLOBAL_REQUEST);
    wk_buf_put_cstring(&f->m, "no-more-sessions@openssh.com");
    wk_buf_put_bool(&f->m, 0);
    h_send_buf(&f->p, &f->m);
    open_session(f, 3, 100, 100);
    assert_int_equal(open_failure_reason(f),
                     SSH_OPEN_ADMINISTRATIVELY_PROHIBITED);
}

static void test_stderr_and_eow(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    open_and_exec(f);
    assert_int_equal(whelk_session_write_stderr(f->w.s, "oops", 4), 4);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_EXTENDED_DATA);
    assert_int_equal(wk_load_u32(pl + 5), 1);
    assert_memory_equal(pl + 13, "oops", 4);
    /* The harness's peer claims to be OpenSSH, so eow goes out once. */
    assert_int_equal(whelk_session_send_eow(f->w.s), 0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_REQUEST);
    assert_memory_equal(pl + 9, "eow@openssh.com", 15);
    whelk_session_send_eow(f->w.s);
    assert_int_equal(next_type(f, &pl, &n), 0);
    /* After EOF, no more output is taken. */
    whelk_session_send_eof(f->w.s);
    assert_true(whelk_session_write(f->w.s, "x", 1) < 0);
}

/* sshd's ChannelTimeout: a session whose kind matches is closed after
 * that long without data; others are left alone. */
static void test_channel_inactivity_timeout(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    whelk_conn *c = f->p.conn;
    assert_int_equal(whelk_conn_set_channel_timeout(c, "session:comm*", 3000),
                     0);
    assert_int_equal(whelk_conn_set_channel_timeout(c, "", 1), WHELK_ERR_INVAL);
    open_and_exec(f); /* at 2000 */
    assert_int_equal(whelk_conn_expiry(c), 5000);
    /* Data at 3000 moves the deadline. */
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_DATA);
    wk_buf_put_u32(&f->m, 0);
    wk_buf_put_string(&f->m, "x", 1);
    assert_int_equal(h_send_at(&f->p, wk_buf_data(&f->m), wk_buf_used(&f->m),
                               3000),
                     0);
    wk_buf_reset(&f->m);
    assert_int_equal(whelk_conn_expiry(c), 6000);
    assert_int_equal(whelk_conn_handle_expiry(c, 5999), 0);
    assert_int_equal(next_type(f, &pl, &n), 0);
    assert_int_equal(whelk_conn_handle_expiry(c, 6000), 0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_CLOSE);
    assert_int_equal(whelk_conn_expiry(c), UINT64_MAX);
    /* A shell is another kind: no timeout. */
    open_session(f, 8, 1u << 20, 32768);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    begin_request(f, 1, "shell", 1);
    h_send_buf(&f->p, &f->m);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_SUCCESS);
    assert_int_equal(whelk_conn_expiry(c), UINT64_MAX);
}

/* "session" names a session whatever program it runs (the later sshd's
 * type name; 9.2's "session:command" still works, above); "global"
 * closes every channel once none has moved data for that long. */
static void test_channel_timeout_session_and_global(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    whelk_conn *c = f->p.conn;
    assert_int_equal(whelk_conn_set_channel_timeout(c, "session", 9000), 0);
    assert_int_equal(whelk_conn_set_channel_timeout(c, "global", 5000), 0);
    open_and_exec(f); /* channel 0, at 2000 */
    open_session(f, 8, 1u << 20, 32768); /* channel 1 */
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    /* global: the later of the two channels' last data, plus 5000. */
    assert_int_equal(whelk_conn_expiry(c), 7000);
    /* Data on channel 1 only, at 4000, holds both open. */
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_DATA);
    wk_buf_put_u32(&f->m, 1);
    wk_buf_put_string(&f->m, "x", 1);
    assert_int_equal(h_send_at(&f->p, wk_buf_data(&f->m), wk_buf_used(&f->m),
                               4000),
                     0);
    wk_buf_reset(&f->m);
    assert_int_equal(whelk_conn_expiry(c), 9000);
    assert_int_equal(whelk_conn_handle_expiry(c, 8999), 0);
    assert_int_equal(next_type(f, &pl, &n), 0);
    /* At 9000 both go (channel 0's own session=9000 is due only at
     * 11000), each with a CLOSE. */
    assert_int_equal(whelk_conn_handle_expiry(c, 9000), 0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_CLOSE);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_CLOSE);
    assert_int_equal(next_type(f, &pl, &n), 0);
    assert_int_equal(whelk_conn_expiry(c), UINT64_MAX);
    /* 0 turns global off again. */
    assert_int_equal(whelk_conn_set_channel_timeout(c, "global", 0), 0);
}

/* Without "global", a busy channel does not hold an idle one open; the
 * pattern "session" takes channel 0, which runs a command
 * ("session:command"), as well as channel 1, which runs nothing. */
static void test_channel_timeout_each_alone(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    whelk_conn *c = f->p.conn;
    assert_int_equal(whelk_conn_set_channel_timeout(c, "session", 5000), 0);
    open_and_exec(f); /* channel 0, at 2000 */
    open_session(f, 8, 1u << 20, 32768); /* channel 1 */
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    wk_buf_put_u8(&f->m, SSH_MSG_CHANNEL_DATA);
    wk_buf_put_u32(&f->m, 1);
    wk_buf_put_string(&f->m, "x", 1);
    assert_int_equal(h_send_at(&f->p, wk_buf_data(&f->m), wk_buf_used(&f->m),
                               4000),
                     0);
    wk_buf_reset(&f->m);
    assert_int_equal(whelk_conn_expiry(c), 7000);
    assert_int_equal(whelk_conn_handle_expiry(c, 7000), 0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_CLOSE);
    assert_int_equal(next_type(f, &pl, &n), 0);
    assert_int_equal(whelk_conn_expiry(c), 9000);
}

/* sshd's UnusedConnectionTimeout: no channel for that long after login
 * ends the connection; an open channel holds it off. */
static void test_unused_connection_timeout(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    whelk_conn *c = f->p.conn;
    assert_int_equal(whelk_conn_set(c, WHELK_SET_UNUSED_TIMEOUT_MS, 4000), 0);
    assert_int_equal(whelk_conn_expiry(c), 5000); /* logged in at 1000 */
    open_session(f, 7, 1u << 20, 32768); /* at 2000 */
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    assert_int_equal(whelk_conn_expiry(c), UINT64_MAX);
    send_chan_msg(f, SSH_MSG_CHANNEL_CLOSE, 0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_CHANNEL_CLOSE);
    assert_int_equal(whelk_conn_expiry(c), 6000); /* closed at 2000 */
    assert_int_equal(whelk_conn_handle_expiry(c, 5999), 0);
    assert_int_equal(whelk_conn_handle_expiry(c, 6000), WHELK_ERR_TIMEOUT);
    assert_true(whelk_conn_is_closed(c));
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_DISCONNECT);
}

/* sshd's ClientAliveInterval/CountMax: probes while the client is silent,
 * any packet from it resets the count, too many unanswered end it. */
static void test_client_alive_probes(void **state)
{
    fixture *f = *state;
    const uint8_t *pl;
    size_t n;
    whelk_conn *c = f->p.conn;
    assert_int_equal(whelk_conn_set(c, WHELK_SET_CLIENT_ALIVE_COUNT, 2), 0);
    assert_int_equal(whelk_conn_set(c, WHELK_SET_CLIENT_ALIVE_MS, 1000), 0);
    assert_int_equal(whelk_conn_expiry(c), 2000);
    assert_int_equal(whelk_conn_handle_expiry(c, 2000), 0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_GLOBAL_REQUEST);
    wk_reader r;
    const uint8_t *name;
    size_t nl;
    uint8_t t;
    int want;
    wk_reader_init(&r, pl, n);
    wk_get_u8(&r, &t);
    assert_int_equal(wk_get_string(&r, &name, &nl, 64), 0);
    assert_int_equal(wk_get_bool(&r, &want), 0);
    assert_memory_equal(name, "keepalive@openssh.com", nl);
    assert_true(want);
    /* The client answers: the count starts again. */
    uint8_t reply = SSH_MSG_REQUEST_FAILURE;
    assert_int_equal(h_send_at(&f->p, &reply, 1, 2500), 0);
    assert_int_equal(whelk_conn_expiry(c), 3500);
    assert_int_equal(whelk_conn_handle_expiry(c, 3500), 0);
    assert_int_equal(whelk_conn_handle_expiry(c, 4500), 0);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_GLOBAL_REQUEST);
    assert_int_equal(next_type(f, &pl, &n), SSH_MSG_GLOBAL_REQUEST);
    assert_false(whelk_conn_is_closed(c));
    assert_int_equal(whelk_conn_handle_expiry(c, 5500), WHELK_ERR_TIMEOUT);
    assert_true(whelk_conn_is_closed(c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_confirm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_inactivity_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_channel_timeout_session_and_global,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_timeout_each_alone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unused_connection_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_alive_probes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_not_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_early_data_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_one_program_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refused_exec_not_started, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_data_beyond_window_fatal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_data_beyond_maxpacket_fatal,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_after_eof_fatal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_adjust_on_consumption, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_output_respects_window, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stop_start_writing,
                                        setup_small_bound, teardown),
        cmocka_unit_test_setup_teardown(test_window_overflow_fatal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_peer_close_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pty_req_parsing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_malformed_requests, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_env_signal_subsystem, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_channel_fatal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_global_requests, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stderr_and_eow, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("channel", tests, NULL, NULL);
}
