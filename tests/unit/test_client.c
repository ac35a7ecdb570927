/*
 * Unit tests of the client role (lib/client.c and the client paths of
 * lib/transport.c): a whelk client engine and a whelk server engine
 * connected in memory, byte for byte, for each authentication method,
 * several kex methods and ciphers, and a refused host key.
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
#include "whelk/whelk.h"

typedef struct world {
    whelk_config *scfg, *ccfg;
    whelk_key *user_key, *wrong_key;
    whelk_conn *server, *client;
    int client_authed, server_authed, failed, host_checked;
    int trust_host;
    const char *password;
    const char *kbd_answer;
    char method[32];
} world;

static whelk_auth_result s_pubkey(whelk_conn *c,
                                  const whelk_pubkey_request *r, void *u)
{
    world *w = u;
    return whelk_key_equal_public(whelk_pubkey_request_key(r), w->user_key)
               ? WHELK_AUTH_ALLOW
               : WHELK_AUTH_DENY;
}
static whelk_auth_result s_password(whelk_conn *c, const char *user,
                                    const char *pw, size_t n, void *u)
{
    return strcmp(pw, "open sesame") == 0 ? WHELK_AUTH_ALLOW
                                          : WHELK_AUTH_DENY;
}
static int s_prompts(whelk_conn *c, const char *user, unsigned round,
                     whelk_kbdint_prompts *p, void *u)
{
    whelk_kbdint_prompts_set_instruction(p, "Two factors");
    whelk_kbdint_prompts_add(p, "Code: ", 1);
    return whelk_kbdint_prompts_add(p, "Password: ", 0);
}
static whelk_auth_result s_answers(whelk_conn *c, const char *user,
                                   unsigned round,
                                   const whelk_kbdint_answers *a, int *more,
                                   void *u)
{
    return whelk_kbdint_answers_count(a) == 2 &&
                   !strcmp(whelk_kbdint_answers_get(a, 0), "42") &&
                   !strcmp(whelk_kbdint_answers_get(a, 1), "open sesame")
               ? WHELK_AUTH_ALLOW
               : WHELK_AUTH_DENY;
}
static void s_authed(whelk_conn *c, const char *user, const char *m, void *u)
{
    ((world *)u)->server_authed = 1;
}

static int c_host(whelk_conn *c, const whelk_key *k, void *u)
{
    world *w = u;
    w->host_checked = 1;
    return w->trust_host ? 0 : -1;
}
static int c_password(whelk_conn *c, char *buf, size_t size, void *u)
{
    world *w = u;
    if (!w->password) return -1;
    snprintf(buf, size, "%s", w->password);
    return 0;
}
static int c_kbdint(whelk_conn *c, const whelk_kbdint_prompts *p,
                    whelk_kbdint_answers *answers, void *u)
{
    world *w = u;
    if (!w->kbd_answer) return -1;
    assert_int_equal(whelk_kbdint_prompts_count(p), 2);
    assert_string_equal(whelk_kbdint_prompts_instruction(p), "Two factors");
    assert_string_equal(whelk_kbdint_prompts_prompt(p, 0), "Code: ");
    assert_null(whelk_kbdint_prompts_prompt(p, 2));
    assert_true(whelk_kbdint_prompts_echo(p, 0));
    assert_false(whelk_kbdint_prompts_echo(p, 1));
    assert_int_equal(whelk_kbdint_answers_set(answers, 2, "x"),
                     WHELK_ERR_INVAL);
    assert_int_equal(whelk_kbdint_answers_set(answers, 0, "42"), 0);
    return whelk_kbdint_answers_set(answers, 1, w->kbd_answer);
}
static void c_authed(whelk_conn *c, const char *user, const char *m, void *u)
{
    world *w = u;
    w->client_authed = 1;
    snprintf(w->method, sizeof(w->method), "%s", m);
}
static void c_failed(whelk_conn *c, void *u) { ((world *)u)->failed = 1; }

static void log_cb(whelk_conn *c, int level, const char *msg, void *u)
{
    if (getenv("WHELK_TEST_LOG")) fprintf(stderr, "log: %s\n", msg);
}

static void setup_world(world *w, const char *kex, const char *cipher,
                        const whelk_key *identity)
{
    whelk_key *hk;
    assert_int_equal(whelk_key_generate_ed25519(&hk), 0);
    w->scfg = whelk_config_new();
    w->ccfg = whelk_config_new();
    whelk_config_add_host_key(w->scfg, hk);
    whelk_config_set(w->scfg, WHELK_SET_AUTH_METHODS, 7);
    whelk_config_set(w->scfg, WHELK_SET_AUTH_FAIL_DELAY_MS, 0);
    if (kex) assert_int_equal(whelk_config_set_kex(w->ccfg, kex), 0);
    if (cipher) assert_int_equal(whelk_config_set_ciphers(w->ccfg, cipher), 0);
    whelk_server_callbacks scb = {.cb = {.log = log_cb,
                           .auth_publickey = s_pubkey,
                           .auth_password = s_password,
                           .auth_kbdint_prompts = s_prompts,
                           .auth_kbdint_answers = s_answers,
                           .authenticated = s_authed}};
    whelk_client_callbacks ccb = {.cb = {.log = log_cb,
                           .host_key_check = c_host,
                           .client_password = c_password,
                           .client_kbdint = c_kbdint,
                           .authenticated = c_authed,
                           .auth_failed = c_failed}};
    assert_int_equal(whelk_conn_server_new(&w->server, w->scfg, &scb, w,
                                           "127.0.0.1", 1234, 0),
                     0);
    assert_int_equal(whelk_conn_client_new(&w->client, w->ccfg, &ccb, w,
                                           "alice", identity, 0),
                     0);
}

static void teardown_world(world *w)
{
    whelk_conn_free(w->client);
    whelk_conn_free(w->server);
    whelk_config_free(w->scfg);
    whelk_config_free(w->ccfg);
    whelk_key_free(w->user_key);
    whelk_key_free(w->wrong_key);
}

static void test_publickey(void **state)
{
    static const char *kexes[] = {"curve25519-sha256", "ecdh-sha2-nistp256",
                                  "diffie-hellman-group14-sha256",
                                  "mlkem768x25519-sha256"};
    static const char *ciphers[] = {"chacha20-poly1305@openssh.com",
                                    "aes256-gcm@openssh.com", "aes128-ctr",
                                    "aes128-gcm@openssh.com"};
    for (int i = 0; i < 4; i++) {
        world w = {.trust_host = 1};
        whelk_key_generate_ed25519(&w.user_key);
        setup_world(&w, kexes[i], ciphers[i], w.user_key);
        h_shuttle(w.client, w.server);
        assert_true(w.host_checked);
        assert_true(w.client_authed);
        assert_true(w.server_authed);
        assert_string_equal(w.method, "publickey");
        assert_string_equal(whelk_conn_algorithm(w.server, WHELK_ALG_KEX), kexes[i]);
        assert_string_equal(whelk_conn_user_name(w.server), "alice");
        teardown_world(&w);
    }
}

static void test_password_after_wrong_key(void **state)
{
    world w = {.trust_host = 1, .password = "open sesame"};
    whelk_key_generate_ed25519(&w.user_key);
    whelk_key_generate_ed25519(&w.wrong_key);
    setup_world(&w, NULL, NULL, w.wrong_key);
    h_shuttle(w.client, w.server);
    assert_true(w.client_authed);
    assert_string_equal(w.method, "password");
    teardown_world(&w);
}

static void test_keyboard_interactive(void **state)
{
    world w = {.trust_host = 1, .password = "wrong",
               .kbd_answer = "open sesame"};
    whelk_key_generate_ed25519(&w.user_key);
    setup_world(&w, NULL, NULL, NULL);
    h_shuttle(w.client, w.server);
    assert_true(w.client_authed);
    assert_string_equal(w.method, "keyboard-interactive");
    teardown_world(&w);
}

static void test_all_methods_fail(void **state)
{
    world w = {.trust_host = 1, .password = "wrong", .kbd_answer = "wrong"};
    whelk_key_generate_ed25519(&w.user_key);
    setup_world(&w, NULL, NULL, NULL);
    h_shuttle(w.client, w.server);
    assert_false(w.client_authed);
    assert_true(w.failed);
    assert_true(whelk_conn_is_closed(w.client));
    teardown_world(&w);
}

static void test_host_key_refused(void **state)
{
    world w = {.trust_host = 0};
    whelk_key_generate_ed25519(&w.user_key);
    setup_world(&w, NULL, NULL, w.user_key);
    h_shuttle(w.client, w.server);
    assert_true(w.host_checked);
    assert_false(w.client_authed);
    assert_true(whelk_conn_is_closed(w.client));
    assert_true(whelk_conn_is_closed(w.server)); /* got the DISCONNECT */
    teardown_world(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publickey),
        cmocka_unit_test(test_password_after_wrong_key),
        cmocka_unit_test(test_keyboard_interactive),
        cmocka_unit_test(test_all_methods_fail),
        cmocka_unit_test(test_host_key_refused),
    };
    return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
