/*
 * Unit tests of lib/auth.c's rules for unauthenticated peers: a user
 * look-up the application answers later (the request and all input held
 * meanwhile), one user and service per connection, "none" counted after
 * the first request, and failures answered no sooner than their minimum
 * time after the request arrived (sshd's ensure_minimum_time_since).
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
#include "ssh.h"

typedef struct state {
    int user_answer;          /* what user_valid returns */
    unsigned user_calls;
    int pw_pending;           /* auth_password defers */
    int kbd_later;            /* kbd-int prompts and answers later (PAM) */
    int kbd_ready;            /* the next round's prompts are known */
    int kbd_asked;            /* prompts callback calls */
    unsigned invalid_lines, change_lines, failed_invalid, partials;
    const char *chains;       /* set per connection in the look-up */
} state;

/* Counts the events whelkd turns into sshd's "Invalid user", "Change of
 * username or service not allowed" and "Failed password for invalid user"
 * lines. */
static void event_cb(whelk_conn *c, const whelk_event *ev, void *u)
{
    state *s = u;
    const char *user = whelk_event_user(ev);
    switch (whelk_event_get_type(ev)) {
    case WHELK_EVENT_INVALID_USER:
        s->invalid_lines++;
        break;
    case WHELK_EVENT_AUTH_PARTIAL:
        s->partials++;
        break;
    case WHELK_EVENT_DISCONNECT:
        if (strstr(whelk_event_text(ev),
                   "Change of username or service not allowed: "
                   "(alice,ssh-connection) -> (bob,ssh-connection)"))
            s->change_lines++;
        break;
    case WHELK_EVENT_AUTH_FAILURE:
        if (whelk_event_invalid_user(ev) && user && !strcmp(user, "alice") &&
            !strcmp(whelk_event_method(ev), "password"))
            s->failed_invalid++;
        break;
    default:
        break;
    }
}

static int user_valid(whelk_conn *c, const char *name, void *u)
{
    state *s = u;
    s->user_calls++;
    if (s->chains) assert_int_equal(whelk_conn_set_auth_chains(c, s->chains), 0);
    return s->user_answer;
}

static whelk_auth_result deny_keys(whelk_conn *c,
                                   const whelk_pubkey_request *r, void *u)
{
    return WHELK_AUTH_DENY;
}

static whelk_auth_result password(whelk_conn *c, const char *user,
                                  const char *pw, size_t n, void *u)
{
    state *s = u;
    if (s->pw_pending) return WHELK_AUTH_PENDING;
    return strcmp(pw, "right") == 0 ? WHELK_AUTH_ALLOW : WHELK_AUTH_DENY;
}

static int prompts(whelk_conn *c, const char *user, unsigned round,
                   whelk_kbdint_prompts *p, void *u)
{
    state *s = u;
    s->kbd_asked++;
    if (s->kbd_later) {
        if (!s->kbd_ready) return WHELK_AUTH_PENDING;
        s->kbd_ready = 0;
        char q[32];
        snprintf(q, sizeof(q), "Code %u: ", round);
        return whelk_kbdint_prompts_add(p, q, 0);
    }
    return whelk_kbdint_prompts_add(p, "Code: ", 1);
}

static whelk_auth_result answers(whelk_conn *c, const char *user,
                                 unsigned round, const whelk_kbdint_answers *a,
                                 int *more, void *u)
{
    state *s = u;
    if (s->kbd_later) return WHELK_AUTH_PENDING;
    return !strcmp(whelk_kbdint_answers_get(a, 0), "right") ? WHELK_AUTH_ALLOW
                                                            : WHELK_AUTH_DENY;
}

static void start_with(h_peer *p, state *s, int answer, const char *chains)
{
    memset(s, 0, sizeof(*s));
    s->user_answer = answer;
    whelk_config *cfg = h_config();
    whelk_config_set(cfg, WHELK_SET_AUTH_METHODS,
                     WHELK_AUTH_METHOD_PUBLICKEY | WHELK_AUTH_METHOD_PASSWORD |
                         WHELK_AUTH_METHOD_KBDINT);
    if (chains) assert_int_equal(whelk_config_set_auth_chains(cfg, chains), 0);
    whelk_server_callbacks cb = {.cb = {.event = event_cb,
                          .user_valid = user_valid,
                          .auth_publickey = deny_keys,
                          .auth_password = password,
                          .auth_kbdint_prompts = prompts,
                          .auth_kbdint_answers = answers}};
    assert_int_equal(h_server_preauth(p, cfg, &cb, s), 0);
}

static void start(h_peer *p, state *s, int answer)
{
    start_with(p, s, answer, NULL);
}

static void request(wk_buf *b, const char *user, const char *method)
{
    wk_buf_init(b, 65536);
    wk_buf_put_u8(b, SSH_MSG_USERAUTH_REQUEST);
    wk_buf_put_cstring(b, user);
    wk_buf_put_cstring(b, "ssh-connection");
    wk_buf_put_cstring(b, method);
}

static int send_none(h_peer *p, const char *user, uint64_t now)
{
    wk_buf b;
    request(&b, user, "none");
    int rc = h_send_at(p, wk_buf_data(&b), wk_buf_used(&b), now);
    wk_buf_free(&b);
    return rc;
}

static int send_password(h_peer *p, const char *user, const char *pw,
                         uint64_t now)
{
    wk_buf b;
    request(&b, user, "password");
    wk_buf_put_bool(&b, 0);
    wk_buf_put_cstring(&b, pw);
    int rc = h_send_at(p, wk_buf_data(&b), wk_buf_used(&b), now);
    wk_buf_free(&b);
    return rc;
}

static uint8_t next_type(h_peer *p)
{
    const uint8_t *pl;
    size_t n;
    return h_next(p, &pl, &n) && n > 0 ? pl[0] : 0;
}

/* The next FAILURE's method list and partial-success flag. */
static void expect_failure(h_peer *p, const char *methods, int partial)
{
    const uint8_t *pl;
    size_t n;
    assert_true(h_expect(p, SSH_MSG_USERAUTH_FAILURE, &pl, &n));
    wk_reader r;
    const uint8_t *list;
    size_t ll;
    uint8_t t;
    int part;
    wk_reader_init(&r, pl, n);
    wk_get_u8(&r, &t);
    assert_int_equal(wk_get_string(&r, &list, &ll, 256), 0);
    assert_int_equal(wk_get_bool(&r, &part), 0);
    assert_int_equal(ll, strlen(methods));
    assert_memory_equal(list, methods, ll);
    assert_int_equal(part, partial);
}

static int send_kbdint(h_peer *p, const char *user, const char *answer,
                       uint64_t now)
{
    wk_buf b;
    request(&b, user, "keyboard-interactive");
    wk_buf_put_cstring(&b, "");
    wk_buf_put_cstring(&b, "");
    int rc = h_send_at(p, wk_buf_data(&b), wk_buf_used(&b), now);
    wk_buf_free(&b);
    if (rc || !answer) return rc;
    const uint8_t *pl;
    size_t n;
    assert_true(h_expect(p, SSH_MSG_USERAUTH_PK_OK /* 60: INFO_REQUEST */, &pl, &n));
    wk_buf_init(&b, 1024);
    wk_buf_put_u8(&b, SSH_MSG_USERAUTH_INFO_RESPONSE);
    wk_buf_put_u32(&b, 1);
    wk_buf_put_cstring(&b, answer);
    rc = h_send_at(p, wk_buf_data(&b), wk_buf_used(&b), now);
    wk_buf_free(&b);
    return rc;
}

/* AuthenticationMethods "password,keyboard-interactive": only the next
 * step of the chain is offered or taken, a success before the last is
 * partial, and the last logs in. */
static void test_chain_of_methods(void **st)
{
    for (int per_conn = 0; per_conn < 2; per_conn++) {
        h_peer p;
        state s;
        const char *chains = "password,keyboard-interactive";
        start_with(&p, &s, WHELK_USER_VALID, per_conn ? NULL : chains);
        if (per_conn) s.chains = chains; /* set in the look-up */
        assert_int_equal(send_none(&p, "alice", 2000), 0);
        expect_failure(&p, "password", 0);
        /* Out of order: refused, not a step. */
        assert_int_equal(send_kbdint(&p, "alice", NULL, 3000), 0);
        assert_int_equal(whelk_conn_handle_expiry(p.conn, 4000), 0);
        expect_failure(&p, "password", 0);
        assert_int_equal(send_password(&p, "alice", "right", 5000), 0);
        expect_failure(&p, "keyboard-interactive", 1);
        assert_int_equal(s.partials, 1);
        assert_false(whelk_conn_user_name(p.conn));
        /* A password again is not the next step. */
        assert_int_equal(send_password(&p, "alice", "right", 6000), 0);
        assert_int_equal(whelk_conn_handle_expiry(p.conn, 7000), 0);
        expect_failure(&p, "keyboard-interactive", 0);
        assert_int_equal(send_kbdint(&p, "alice", "right", 8000), 0);
        const uint8_t *pl;
        size_t n;
        assert_true(h_expect(&p, SSH_MSG_USERAUTH_SUCCESS, &pl, &n));
        assert_string_equal(whelk_conn_user_name(p.conn), "alice");
        h_free(&p);
    }
}

static void test_chain_syntax(void **st)
{
    wk_auth_chains ch;
    assert_int_equal(wk_auth_chains_parse("any", &ch), 0);
    assert_int_equal(ch.n, 0);
    assert_int_equal(wk_auth_chains_parse(NULL, &ch), 0);
    assert_int_equal(wk_auth_chains_parse(
                         "publickey,password publickey,keyboard-interactive",
                         &ch),
                     0);
    assert_int_equal(ch.n, 2);
    assert_int_equal(ch.len[1], 2);
    assert_int_equal(ch.step[1][1], WHELK_AUTH_METHOD_KBDINT);
    assert_int_equal(wk_auth_chains_parse("publickey,bogus", &ch),
                     WHELK_ERR_UNSUPPORTED);
    assert_int_equal(wk_auth_chains_parse("", &ch), WHELK_ERR_INVAL);
    assert_int_equal(wk_auth_chains_parse("publickey,", &ch),
                     WHELK_ERR_UNSUPPORTED);
    assert_int_equal(wk_auth_chains_parse("a b c d e f g h i", &ch),
                     WHELK_ERR_UNSUPPORTED);
    assert_int_equal(wk_auth_chains_parse("password password password "
                                          "password password password "
                                          "password password password",
                                          &ch),
                     WHELK_ERR_LIMIT);
}

/* One connection's own MaxAuthTries (a Match block), not the config's. */
static void test_per_connection_setting(void **st)
{
    h_peer p;
    state s;
    start(&p, &s, WHELK_USER_VALID);
    assert_int_equal(whelk_conn_set(p.conn, WHELK_SET_MAX_AUTH_TRIES, 0),
                     WHELK_ERR_INVAL);
    assert_int_equal(whelk_conn_set(p.conn, WHELK_SET_MAX_AUTH_TRIES, 1), 0);
    assert_int_equal(whelk_conn_get(p.conn, WHELK_SET_MAX_AUTH_TRIES), 1);
    assert_int_equal(whelk_config_get(p.cfg, WHELK_SET_MAX_AUTH_TRIES), 6);
    assert_int_equal(send_password(&p, "alice", "wrong", 2000), 0);
    assert_int_equal(whelk_conn_handle_expiry(p.conn, 3000), 0);
    expect_failure(&p, "publickey,password,keyboard-interactive", 0);
    assert_true(whelk_err_is_fatal(send_password(&p, "alice", "wrong", 4000)));
    assert_true(whelk_conn_is_closed(p.conn));
    h_free(&p);
}

static void test_user_answered_later(void **st)
{
    h_peer p;
    state s;
    start(&p, &s, WHELK_USER_PENDING);
    assert_int_equal(send_none(&p, "alice", 2000), 0);
    /* Held: no answer, and a second request waits behind it. */
    assert_int_equal(next_type(&p), 0);
    assert_int_equal(send_password(&p, "alice", "right", 2001), 0);
    assert_int_equal(next_type(&p), 0);
    assert_int_equal(s.user_calls, 1);
    assert_int_equal(whelk_conn_user_done(p.conn, WHELK_USER_VALID, 2010), 0);
    assert_int_equal(next_type(&p), SSH_MSG_USERAUTH_FAILURE);
    assert_int_equal(next_type(&p), SSH_MSG_USERAUTH_SUCCESS);
    assert_int_equal(s.invalid_lines, 0);
    assert_int_equal(s.user_calls, 1);
    /* Nothing is pending any more. */
    assert_int_equal(whelk_conn_user_done(p.conn, WHELK_USER_VALID, 2020),
                     WHELK_ERR_STATE);
    h_free(&p);
}

static void test_user_refused_or_unknown_later(void **st)
{
    h_peer p;
    state s;
    /* Refused: no "Invalid user" line (the application logged why), and
     * even the right password fails like an unknown user's. */
    start(&p, &s, WHELK_USER_PENDING);
    assert_int_equal(send_password(&p, "alice", "right", 2000), 0);
    assert_int_equal(whelk_conn_user_done(p.conn, WHELK_USER_REFUSED, 2005),
                     0);
    assert_int_equal(next_type(&p), 0); /* the failure delay runs */
    assert_int_equal(whelk_conn_handle_expiry(p.conn, 3000), 0);
    assert_int_equal(next_type(&p), SSH_MSG_USERAUTH_FAILURE);
    assert_int_equal(s.invalid_lines, 0);
    assert_int_equal(s.failed_invalid, 1);
    h_free(&p);

    /* whelk_conn_auth_done answers a pending look-up too: DENY is an
     * unknown user. */
    start(&p, &s, WHELK_USER_PENDING);
    assert_int_equal(send_none(&p, "alice", 2000), 0);
    assert_int_equal(whelk_conn_auth_done(p.conn, WHELK_AUTH_DENY, 2005), 0);
    assert_int_equal(next_type(&p), SSH_MSG_USERAUTH_FAILURE);
    assert_int_equal(s.invalid_lines, 1);
    h_free(&p);

    /* An answer for a connection that ended meanwhile (the login grace
     * time ran out) is not acted on. */
    start(&p, &s, WHELK_USER_PENDING);
    assert_int_equal(send_none(&p, "alice", 2000), 0);
    assert_true(whelk_conn_handle_expiry(p.conn, 200000) < 0);
    h_drain(&p); /* the DISCONNECT */
    assert_int_equal(whelk_conn_user_done(p.conn, WHELK_USER_UNKNOWN, 200001),
                     WHELK_ERR_TIMEOUT);
    assert_int_equal(next_type(&p), 0);
    assert_int_equal(s.invalid_lines, 0);
    h_free(&p);
}

static void test_change_of_user_disconnects(void **st)
{
    h_peer p;
    state s;
    start(&p, &s, WHELK_USER_VALID);
    assert_int_equal(send_none(&p, "alice", 2000), 0);
    assert_int_equal(next_type(&p), SSH_MSG_USERAUTH_FAILURE);
    assert_true(send_none(&p, "bob", 2001) < 0);
    assert_true(whelk_conn_is_closed(p.conn));
    const uint8_t *pl;
    size_t n;
    assert_true(h_expect(&p, SSH_MSG_DISCONNECT, &pl, &n));
    assert_int_equal(wk_load_u32(pl + 1), WHELK_DISCONNECT_PROTOCOL_ERROR);
    assert_int_equal(s.change_lines, 1);
    assert_int_equal(s.user_calls, 1); /* bob was never looked up */
    h_free(&p);
}

static void test_none_counts_after_first(void **st)
{
    h_peer p;
    state s;
    start(&p, &s, WHELK_USER_VALID);
    /* The first is free, the next six are counted and answered at once
     * (no delay for "none", as in sshd); the seventh counted ends it. */
    for (int i = 0; i < 7; i++) {
        assert_int_equal(send_none(&p, "alice", 2000), 0);
        assert_int_equal(next_type(&p), SSH_MSG_USERAUTH_FAILURE);
    }
    assert_true(send_none(&p, "alice", 2000) < 0);
    const uint8_t *pl;
    size_t n;
    assert_true(h_expect(&p, SSH_MSG_DISCONNECT, &pl, &n));
    assert_int_equal(wk_load_u32(pl + 1),
                     WHELK_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE);
    h_free(&p);
}

static void test_rejected_query_waits(void **st)
{
    for (int zero = 0; zero < 2; zero++) {
        h_peer p;
        state s;
        start(&p, &s, WHELK_USER_VALID);
        if (zero) whelk_conn_set(p.conn, WHELK_SET_AUTH_QUERY_DELAY_MS, 0);
        whelk_key *k;
        assert_int_equal(whelk_key_generate_ed25519(&k), 0);
        size_t blob_len;
        const uint8_t *blob = whelk_key_blob(k, &blob_len);
        wk_buf b;
        request(&b, "alice", "publickey");
        wk_buf_put_bool(&b, 0);
        wk_buf_put_cstring(&b, "ssh-ed25519");
        wk_buf_put_string(&b, blob, blob_len);
        assert_int_equal(h_send_at(&p, wk_buf_data(&b), wk_buf_used(&b),
                                   2000),
                         0);
        wk_buf_free(&b);
        whelk_key_free(k);
        if (zero) {
            assert_int_equal(next_type(&p), SSH_MSG_USERAUTH_FAILURE);
        } else {
            /* 5 ms plus this connection's 0..4 ms. */
            assert_int_equal(next_type(&p), 0);
            uint64_t at = whelk_conn_expiry(p.conn);
            assert_true(at >= 2005 && at <= 2009);
            assert_int_equal(whelk_conn_handle_expiry(p.conn, at - 1), 0);
            assert_int_equal(next_type(&p), 0);
            assert_int_equal(whelk_conn_handle_expiry(p.conn, at), 0);
            assert_int_equal(next_type(&p), SSH_MSG_USERAUTH_FAILURE);
        }
        h_free(&p);
    }
}

static void test_failure_time_counts_from_arrival(void **st)
{
    /* A decision that took 30 ms is answered 150 ms after the request
     * arrived, not after the decision; one that took longer than the
     * minimum is answered at the doubled minimum. */
    static const uint64_t took[] = {30, 200};
    static const uint64_t answer_at[] = {2150, 2300};
    for (int i = 0; i < 2; i++) {
        h_peer p;
        state s;
        start(&p, &s, WHELK_USER_VALID);
        s.pw_pending = 1;
        assert_int_equal(send_password(&p, "alice", "wrong", 2000), 0);
        assert_int_equal(whelk_conn_auth_done(p.conn, WHELK_AUTH_DENY,
                                              2000 + took[i]),
                         0);
        assert_int_equal(next_type(&p), 0);
        assert_int_equal(whelk_conn_expiry(p.conn), answer_at[i]);
        assert_int_equal(whelk_conn_handle_expiry(p.conn, answer_at[i]), 0);
        assert_int_equal(next_type(&p), SSH_MSG_USERAUTH_FAILURE);
        h_free(&p);
    }
}

/* The next INFO_REQUEST's single prompt is |want|. */
static void expect_prompt(h_peer *p, const char *want)
{
    const uint8_t *pl, *str;
    size_t n, sl;
    uint8_t t;
    uint32_t count;
    assert_true(h_expect(p, SSH_MSG_USERAUTH_PK_OK /* 60 */, &pl, &n));
    wk_reader r;
    wk_reader_init(&r, pl, n);
    wk_get_u8(&r, &t);
    for (int i = 0; i < 3; i++) /* name, instruction, language */
        assert_int_equal(wk_get_string(&r, &str, &sl, 1024), 0);
    assert_int_equal(wk_get_u32(&r, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(wk_get_string(&r, &str, &sl, 1024), 0);
    assert_int_equal(sl, strlen(want));
    assert_memory_equal(str, want, sl);
}

static int send_info_response(h_peer *p, const char *answer, uint64_t now)
{
    wk_buf b;
    wk_buf_init(&b, 1024);
    wk_buf_put_u8(&b, SSH_MSG_USERAUTH_INFO_RESPONSE);
    wk_buf_put_u32(&b, 1);
    wk_buf_put_cstring(&b, answer);
    int rc = h_send_at(p, wk_buf_data(&b), wk_buf_used(&b), now);
    wk_buf_free(&b);
    return rc;
}

/* keyboard-interactive driven from outside, as a PAM conversation is:
 * the first round's prompts are pending, each round comes with
 * WHELK_AUTH_MORE, and the end with ALLOW or DENY. */
static void test_kbdint_rounds_later(void **st)
{
    for (int allow = 0; allow < 2; allow++) {
        h_peer p;
        state s;
        start(&p, &s, WHELK_USER_VALID);
        s.kbd_later = 1;
        /* MORE answers only a pending keyboard-interactive decision. */
        assert_int_equal(whelk_conn_auth_done(p.conn, WHELK_AUTH_MORE, 1900),
                         WHELK_ERR_STATE);
        assert_int_equal(send_kbdint(&p, "alice", NULL, 2000), 0);
        assert_int_equal(s.kbd_asked, 1);
        assert_int_equal(next_type(&p), 0); /* nothing to ask yet */
        s.kbd_ready = 1;
        assert_int_equal(whelk_conn_auth_done(p.conn, WHELK_AUTH_MORE, 2010),
                         0);
        expect_prompt(&p, "Code 0: "); /* the same round, now known */
        assert_int_equal(send_info_response(&p, "a", 2020), 0);
        assert_int_equal(next_type(&p), 0);
        s.kbd_ready = 1;
        assert_int_equal(whelk_conn_auth_done(p.conn, WHELK_AUTH_MORE, 2030),
                         0);
        expect_prompt(&p, "Code 1: ");
        assert_int_equal(send_info_response(&p, "b", 2040), 0);
        assert_int_equal(whelk_conn_auth_done(
                             p.conn, allow ? WHELK_AUTH_ALLOW : WHELK_AUTH_DENY,
                             2050),
                         0);
        if (allow) {
            assert_int_equal(next_type(&p), SSH_MSG_USERAUTH_SUCCESS);
        } else {
            assert_int_equal(whelk_conn_handle_expiry(p.conn, 5000), 0);
            assert_int_equal(next_type(&p), SSH_MSG_USERAUTH_FAILURE);
        }
        h_free(&p);
    }
    /* A password decision cannot be answered with MORE; pending prompts
     * answered DENY fail the method. */
    h_peer p;
    state s;
    start(&p, &s, WHELK_USER_VALID);
    s.pw_pending = 1;
    assert_int_equal(send_password(&p, "alice", "x", 2000), 0);
    assert_int_equal(whelk_conn_auth_done(p.conn, WHELK_AUTH_MORE, 2010),
                     WHELK_ERR_STATE);
    assert_int_equal(whelk_conn_auth_done(p.conn, WHELK_AUTH_DENY, 2020), 0);
    assert_int_equal(whelk_conn_handle_expiry(p.conn, 5000), 0);
    assert_int_equal(next_type(&p), SSH_MSG_USERAUTH_FAILURE);
    s.kbd_later = 1;
    assert_int_equal(send_kbdint(&p, "alice", NULL, 6000), 0);
    assert_int_equal(whelk_conn_auth_done(p.conn, WHELK_AUTH_DENY, 6010), 0);
    assert_int_equal(whelk_conn_handle_expiry(p.conn, 9000), 0);
    assert_int_equal(next_type(&p), SSH_MSG_USERAUTH_FAILURE);
    h_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_of_methods),
        cmocka_unit_test(test_chain_syntax),
        cmocka_unit_test(test_per_connection_setting),
        cmocka_unit_test(test_user_answered_later),
        cmocka_unit_test(test_user_refused_or_unknown_later),
        cmocka_unit_test(test_change_of_user_disconnects),
        cmocka_unit_test(test_none_counts_after_first),
        cmocka_unit_test(test_rejected_query_waits),
        cmocka_unit_test(test_failure_time_counts_from_arrival),
        cmocka_unit_test(test_kbdint_rounds_later),
    };
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
