/*
 * A failing allocator, in the manner of nghttp2's failmalloc test: a
 * whole in-memory login (key exchange, user look-up, then publickey, and
 * in a second test password)
 * and a whole session (open, pty-req, env, exec, data both ways, window
 * adjust, exit status, EOF, close) are run again and again, the Nth
 * allocation the library makes failing in run N, until a run sees no
 * failure. Every run must end either complete and correct or with the
 * connection closed by an error; never a crash, never a hang, and (under
 * `make asan`) never a leak.
 *
 * This binary is linked with -Wl,--wrap for malloc, calloc, realloc and
 * strdup (Makefile), so the library's own allocations are the ones
 * counted; OpenSSL's are its own business.
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

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);

/* Counting allocations; the one numbered |fail_at| (from 1) fails. */
static long allocs, fail_at;
static int failed;

static int should_fail(void)
{
    if (fail_at <= 0) return 0;
    if (++allocs != fail_at) return 0;
    failed = 1;
    return 1;
}

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m)
{
    return should_fail() ? NULL : __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}
char *__wrap_strdup(const char *s)
{
    return should_fail() ? NULL : __real_strdup(s);
}

/* Allocations are counted only while the scenario runs, not while the
 * test sets it up or checks it. */
static void arm(long n)
{
    allocs = 0;
    failed = 0;
    fail_at = n;
}
static void disarm(void) { fail_at = 0; }

/* ------------------------------------------------------------------------
 * The login: a whelk client and server engine in memory.
 */

typedef struct login {
    whelk_key *user_key;
    int password; /* log in by password instead of the key */
    int server_authed, client_authed;
} login;

static whelk_auth_result check_password(whelk_conn *c, const char *name,
                                        const char *pw, size_t len, void *u)
{
    return len == 6 && !memcmp(pw, "sesame", 6) ? WHELK_AUTH_ALLOW
                                                : WHELK_AUTH_DENY;
}
static int give_password(whelk_conn *c, char *buf, size_t size, void *u)
{
    if (size < 7) return -1;
    memcpy(buf, "sesame", 7);
    return 0;
}

static whelk_auth_result allow_key(whelk_conn *c, const whelk_pubkey_request *r,
                                   void *u)
{
    login *l = u;
    return whelk_key_equal_public(whelk_pubkey_request_key(r), l->user_key)
               ? WHELK_AUTH_ALLOW
               : WHELK_AUTH_DENY;
}
static int user_pending(whelk_conn *c, const char *name, void *u)
{
    return WHELK_USER_PENDING;
}
static void s_authed(whelk_conn *c, const char *u, const char *m, void *x)
{
    ((login *)x)->server_authed = 1;
}
static void c_authed(whelk_conn *c, const char *u, const char *m, void *x)
{
    ((login *)x)->client_authed = 1;
}
static int trust(whelk_conn *c, const whelk_key *k, void *u) { return 0; }

/* Returns 1 when the login completed, 0 when a connection ended. */
static int run_login(long n, whelk_key *host, login *l)
{
    whelk_config *scfg = whelk_config_new(), *ccfg = whelk_config_new();
    assert_non_null(scfg);
    assert_non_null(ccfg);
    size_t bl;
    const uint8_t *blob = whelk_key_blob(host, &bl);
    whelk_key *hk = NULL;
    /* The host key is a copy the config may own. */
    char *text;
    size_t tl;
    assert_int_equal(whelk_key_write_private(host, "", &text, &tl), 0);
    assert_int_equal(whelk_key_parse_private(text, tl, &hk), 0);
    whelk_free_secret(text, tl + 1);
    (void)blob;
    (void)bl;
    assert_int_equal(whelk_config_add_host_key(scfg, hk), 0);
    whelk_config_set(scfg, WHELK_SET_AUTH_METHODS, 7); /* password too */
    whelk_config_set(scfg, WHELK_SET_AUTH_FAIL_DELAY_MS, 0);
    whelk_config_set(scfg, WHELK_SET_AUTH_QUERY_DELAY_MS, 0);
    whelk_config_set_kex(ccfg, "curve25519-sha256");
    whelk_server_callbacks scb = {.cb = {.user_valid = user_pending,
                                         .auth_publickey = allow_key,
                                         .auth_password = check_password,
                                         .authenticated = s_authed}};
    whelk_client_callbacks ccb = {.cb = {.host_key_check = trust,
                                         .client_password = give_password,
                                         .authenticated = c_authed}};
    whelk_conn *server = NULL, *client = NULL;
    int done = 0;
    arm(n);
    int rc = whelk_conn_server_new(&server, scfg, &scb, l, "127.0.0.1", 1, 0);
    if (!rc)
        rc = whelk_conn_client_new(&client, ccfg, &ccb, l, "alice",
                                   l->password ? NULL : l->user_key, 0);
    if (!rc) {
        h_shuttle(client, server);
        /* The look-up answered later, as whelkd does it. */
        if (!whelk_conn_is_closed(server))
            whelk_conn_user_done(server, WHELK_USER_VALID, 20);
        h_shuttle(client, server);
        done = l->server_authed && l->client_authed;
        /* Not done means a connection ended: never a stall. */
        if (!done && !whelk_conn_is_closed(server) &&
            !whelk_conn_is_closed(client))
            print_message("allocation %ld failed and the login neither "
                          "completed nor ended\n", n);
        if (!done)
            assert_true(whelk_conn_is_closed(server) ||
                        whelk_conn_is_closed(client));
    } else {
        assert_true(rc == WHELK_ERR_NOMEM);
    }
    disarm();
    whelk_conn_free(client);
    whelk_conn_free(server);
    whelk_config_free(scfg);
    whelk_config_free(ccfg);
    return done;
}

static void login_survives_every_failure(int password)
{
    whelk_key *host;
    login l = {0};
    l.password = password;
    assert_int_equal(whelk_key_generate_ed25519(&host), 0);
    assert_int_equal(whelk_key_generate_ed25519(&l.user_key), 0);
    long n = 1, completed_after_failure = 0;
    for (;; n++) {
        l.server_authed = l.client_authed = 0;
        int done = run_login(n, host, &l);
        if (!failed) {
            assert_true(done); /* the run with no failure logs in */
            break;
        }
        completed_after_failure += done;
        assert_true(n < 100000);
    }
    print_message("%s login: %ld allocations, each failed once; %ld runs "
                  "still logged in\n",
                  password ? "password" : "publickey", n - 1,
                  completed_after_failure);
    whelk_key_free(host);
    whelk_key_free(l.user_key);
}

static void test_login_survives_every_failure(void **state)
{
    login_survives_every_failure(0);
}
static void test_password_login_survives_every_failure(void **state)
{
    login_survives_every_failure(1);
}

/* ------------------------------------------------------------------------
 * The session, packet by packet on a connection past login.
 */

typedef struct sess {
    wk_buf in;
    int exec_ok, eof_seen;
} sess;

static int pty_ok(whelk_session *s, const whelk_pty *p, void *u) { return 0; }
static int env_ok(whelk_session *s, const char *n, const char *v, void *u)
{
    return 0;
}
static int exec_ok(whelk_session *s, const char *cmd, void *u)
{
    ((sess *)u)->exec_ok = 1;
    return 0;
}
static void on_data(whelk_session *s, const uint8_t *d, size_t n, void *u)
{
    sess *x = u;
    if (wk_buf_put(&x->in, d, n) == 0) whelk_session_consumed(s, n);
    /* The program answers with its input, then exits. */
    whelk_session_write(s, d, n);
}
static void on_eof(whelk_session *s, void *u)
{
    ((sess *)u)->eof_seen = 1;
    whelk_session_exit_status(s, 3);
    whelk_session_send_eof(s);
    whelk_session_close(s);
}
static const whelk_session_handler handler = {
    .h = {.pty_req = pty_ok,
          .env = env_ok,
          .exec = exec_ok,
          .data = on_data,
          .eof = on_eof}};
static int open_ok(whelk_conn *c, whelk_session *s, void *u)
{
    whelk_session_set_handler(s, &handler, u);
    return 0;
}

/* The harness allocates as it frames and reads packets; these do the
 * same from buffers reserved before the run, so that only the library's
 * allocations are counted. */
static wk_buf t_pkt, t_pending;

static int zero_rand(uint8_t *out, size_t len, void *user)
{
    memset(out, 0, len);
    return 0;
}

static void t_send(h_peer *p, wk_buf *m)
{
    wk_buf_reset(&t_pkt);
    size_t start = wk_pkt_begin(&t_pkt);
    if (wk_buf_put(&t_pkt, wk_buf_data(m), wk_buf_used(m)) ||
        wk_pkt_end(p->tx, &t_pkt, start, zero_rand, NULL))
        abort();
    if (!whelk_conn_is_closed(p->conn))
        whelk_conn_recv(p->conn, wk_buf_data(&t_pkt), wk_buf_used(&t_pkt),
                        2000);
    wk_buf_reset(m);
}

/* The next packet's type, 0 when none; its payload stays in t_pending
 * until the next call. */
static uint8_t t_next(h_peer *p)
{
    const uint8_t *out;
    size_t n = whelk_conn_out(p->conn, &out);
    if (n) {
        if (wk_buf_put(&t_pending, out, n)) abort();
        whelk_conn_out_consumed(p->conn, n);
    }
    uint8_t *pl;
    size_t used, plen;
    if (wk_buf_used(&t_pending) == 0 ||
        wk_pkt_open(p->rx, wk_buf_data(&t_pending), wk_buf_used(&t_pending),
                    &used, &pl, &plen) != 0)
        return 0;
    uint8_t type = plen ? pl[0] : 0;
    wk_buf_consume(&t_pending, used);
    return type;
}

static int t_expect(h_peer *p, uint8_t type)
{
    uint8_t t;
    while ((t = t_next(p)) != 0)
        if (t == type) return 1;
    return 0;
}

static void put_request(wk_buf *m, const char *type)
{
    wk_buf_put_u8(m, SSH_MSG_CHANNEL_REQUEST);
    wk_buf_put_u32(m, 0);
    wk_buf_put_cstring(m, type);
    wk_buf_put_bool(m, 1);
}

/* Returns 1 when the whole session went through, 0 when it ended. */
static int run_session(long n)
{
    h_peer p;
    sess x;
    memset(&x, 0, sizeof(x));
    whelk_server_callbacks cb = {.cb = {.session_open = open_ok}};
    assert_int_equal(h_server(&p, h_config(), &cb, &x), 0);
    wk_buf m;
    wk_buf_init(&m, 1u << 20);
    wk_buf_init(&x.in, 1u << 20);
    wk_buf_init(&t_pkt, 1u << 20);
    wk_buf_init(&t_pending, 8u << 20);
    /* Reserved now, so the run allocates nothing on the test's side. */
    if (wk_buf_reserve(&m, 65536) || wk_buf_reserve(&x.in, 1u << 20) ||
        wk_buf_reserve(&t_pkt, 1u << 20) || wk_buf_reserve(&t_pending, 8u << 20))
        abort();
    arm(n);
    wk_buf_put_u8(&m, SSH_MSG_CHANNEL_OPEN);
    wk_buf_put_cstring(&m, "session");
    wk_buf_put_u32(&m, 9);
    wk_buf_put_u32(&m, 100000);
    wk_buf_put_u32(&m, 32768);
    t_send(&p, &m);
    put_request(&m, "pty-req");
    wk_buf_put_cstring(&m, "xterm");
    for (int i = 0; i < 4; i++) wk_buf_put_u32(&m, 80);
    wk_buf_put_string(&m, "\x01\x00\x00\x00\x03\x00", 6);
    t_send(&p, &m);
    put_request(&m, "env");
    wk_buf_put_cstring(&m, "LANG");
    wk_buf_put_cstring(&m, "C");
    t_send(&p, &m);
    /* Data before the program starts is held, then delivered. */
    wk_buf_put_u8(&m, SSH_MSG_CHANNEL_DATA);
    wk_buf_put_u32(&m, 0);
    wk_buf_put_cstring(&m, "early ");
    t_send(&p, &m);
    put_request(&m, "exec");
    wk_buf_put_cstring(&m, "echo");
    t_send(&p, &m);
    for (int i = 0; i < 40; i++) {
        wk_buf_put_u8(&m, SSH_MSG_CHANNEL_DATA);
        wk_buf_put_u32(&m, 0);
        uint8_t chunk[20000];
        memset(chunk, 'a' + i % 26, sizeof(chunk));
        wk_buf_put_string(&m, chunk, sizeof(chunk));
        t_send(&p, &m);
        wk_buf_put_u8(&m, SSH_MSG_CHANNEL_WINDOW_ADJUST);
        wk_buf_put_u32(&m, 0);
        wk_buf_put_u32(&m, 20000);
        t_send(&p, &m);
        while (t_next(&p)) {
        }
    }
    wk_buf_put_u8(&m, SSH_MSG_CHANNEL_EOF);
    wk_buf_put_u32(&m, 0);
    t_send(&p, &m);
    int closed_chan = t_expect(&p, SSH_MSG_CHANNEL_CLOSE);
    wk_buf_put_u8(&m, SSH_MSG_CHANNEL_CLOSE);
    wk_buf_put_u32(&m, 0);
    t_send(&p, &m);
    disarm();
    int done = x.exec_ok && x.eof_seen && closed_chan &&
               wk_buf_used(&x.in) == 6 + 40 * 20000 &&
               !whelk_conn_is_closed(p.conn);
    if (!done && !whelk_conn_is_closed(p.conn))
        print_message("allocation %ld failed and the session neither "
                      "completed nor ended: exec %d eof %d close %d data %zu\n",
                      n, x.exec_ok, x.eof_seen, closed_chan,
                      wk_buf_used(&x.in));
    if (!done) assert_true(whelk_conn_is_closed(p.conn));
    wk_buf_free(&m);
    wk_buf_free(&x.in);
    wk_buf_free(&t_pkt);
    wk_buf_free(&t_pending);
    h_free(&p);
    return done;
}

static void test_session_survives_every_failure(void **state)
{
    long n = 1, completed_after_failure = 0;
    for (;; n++) {
        int done = run_session(n);
        if (!failed) {
            assert_true(done);
            break;
        }
        completed_after_failure += done;
        assert_true(n < 100000);
    }
    print_message("session: %ld allocations, each failed once; %ld runs "
                  "still completed\n",
                  n - 1, completed_after_failure);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_survives_every_failure),
        cmocka_unit_test(test_password_login_survives_every_failure),
        cmocka_unit_test(test_session_survives_every_failure),
    };
    return cmocka_run_group_tests_name("failmalloc", tests, NULL, NULL);
}
