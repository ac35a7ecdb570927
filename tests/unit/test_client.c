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
#include "key.h"
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
    /* The server's host key signed by the application: 0 by the engine,
     * 1 at once in the callback, 2 later, 3 refused, 4 with the wrong
     * algorithm. The config then holds only the public half. */
    int sign_mode;
    whelk_key *host_priv;
    uint8_t to_sign[64];
    size_t to_sign_len;
    char sign_alg[32];
    int sign_calls;
    const char *hostkey_algs, *pubkey_algs; /* server config lists */
} world;

/* Signs what the sign callback was asked for, as a separate process
 * holding the private key would, and hands it to the engine. */
static int answer_signature(world *w, const char *alg)
{
    wk_buf sig;
    wk_buf_init(&sig, 4096);
    assert_int_equal(wk_key_sign(w->host_priv, alg, w->to_sign,
                                 w->to_sign_len, &sig),
                     0);
    int rc = whelk_conn_sign_done(w->server, wk_buf_data(&sig) + 4,
                                  wk_buf_used(&sig) - 4, 0);
    wk_buf_free(&sig);
    return rc;
}

static int s_sign(whelk_conn *c, const uint8_t *blob, size_t blob_len,
                  const char *alg, const uint8_t *data, size_t len, void *u)
{
    world *w = u;
    size_t own_len;
    const uint8_t *own = whelk_key_blob(w->host_priv, &own_len);
    assert_int_equal(blob_len, own_len);
    assert_memory_equal(blob, own, own_len);
    w->sign_calls++;
    assert_true(len <= sizeof(w->to_sign));
    memcpy(w->to_sign, data, len);
    w->to_sign_len = len;
    snprintf(w->sign_alg, sizeof(w->sign_alg), "%s", alg);
    if (w->sign_mode == 3) return -1;
    if (w->sign_mode == 1) return answer_signature(w, alg) == 0 ? 0 : -1;
    return 0; /* later */
}

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
    if (w->sign_mode) {
        /* The config keeps the public half only. */
        size_t bl;
        const uint8_t *blob = whelk_key_blob(hk, &bl);
        whelk_key *pub;
        assert_int_equal(whelk_key_parse_public_blob(blob, bl, &pub), 0);
        w->host_priv = hk;
        hk = pub;
    }
    whelk_config_add_host_key(w->scfg, hk);
    if (w->hostkey_algs)
        assert_int_equal(whelk_config_set_hostkey_algorithms(w->scfg,
                                                             w->hostkey_algs),
                         0);
    if (w->pubkey_algs)
        assert_int_equal(whelk_config_set_pubkey_algorithms(w->scfg,
                                                            w->pubkey_algs),
                         0);
    whelk_config_set(w->scfg, WHELK_SET_AUTH_METHODS, 7);
    whelk_config_set(w->scfg, WHELK_SET_AUTH_FAIL_DELAY_MS, 0);
    whelk_config_set(w->scfg, WHELK_SET_AUTH_QUERY_DELAY_MS, 0);
    if (kex) assert_int_equal(whelk_config_set_kex(w->ccfg, kex), 0);
    if (cipher) assert_int_equal(whelk_config_set_ciphers(w->ccfg, cipher), 0);
    whelk_server_callbacks scb = {.cb = {.log = log_cb,
                           .auth_publickey = s_pubkey,
                           .auth_password = s_password,
                           .auth_kbdint_prompts = s_prompts,
                           .auth_kbdint_answers = s_answers,
                           .authenticated = s_authed,
                           .sign = w->sign_mode ? s_sign : NULL}};
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
    whelk_key_free(w->host_priv);
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

/* The host key signature made by the application, at once or later:
 * the engine holds the exchange until it comes, and the client logs in
 * with a host key the server process never had the private half of. */
static void test_sign_callback(void **state)
{
    for (int mode = 1; mode <= 4; mode++) {
        world w = {.trust_host = 1, .sign_mode = mode};
        whelk_key_generate_ed25519(&w.user_key);
        setup_world(&w, NULL, NULL, w.user_key);
        h_shuttle(w.client, w.server);
        assert_int_equal(w.sign_calls, 1);
        assert_string_equal(w.sign_alg, "ssh-ed25519");
        if (mode == 2) {
            assert_false(w.client_authed); /* waiting for the signature */
            assert_false(whelk_conn_is_closed(w.server));
            assert_int_equal(answer_signature(&w, "ssh-ed25519"), 0);
            assert_int_equal(whelk_conn_sign_done(w.server, NULL, 0, 0),
                             WHELK_ERR_STATE);
            h_shuttle(w.client, w.server);
        }
        if (mode == 4) {
            /* A signature blob of another algorithm fails the exchange
             * here, not at the client. */
            uint8_t bogus[] = {0, 0, 0, 7, 's', 's', 'h', '-', 'r', 's', 'a',
                               0, 0, 0, 1, 'x'};
            assert_true(whelk_err_is_fatal(
                whelk_conn_sign_done(w.server, bogus, sizeof(bogus), 0)));
            h_shuttle(w.client, w.server);
        }
        assert_int_equal(w.client_authed, mode <= 2);
        if (mode > 2) {
            assert_true(whelk_conn_is_closed(w.server));
            assert_true(whelk_conn_is_closed(w.client));
        }
        teardown_world(&w);
    }
    /* Without a signer, a public-only host key fails the exchange. */
    whelk_config *cfg = whelk_config_new();
    whelk_key *k, *pub;
    assert_int_equal(whelk_key_generate_ed25519(&k), 0);
    size_t bl;
    const uint8_t *blob = whelk_key_blob(k, &bl);
    assert_int_equal(whelk_key_parse_public_blob(blob, bl, &pub), 0);
    whelk_key_free(k);
    assert_int_equal(whelk_config_add_host_key(cfg, pub), 0);
    whelk_config_free(cfg);
}

/* HostKeyAlgorithms orders what a server offers; PubkeyAcceptedAlgorithms
 * refuses the rest (and is what server-sig-algs announces). */
static void test_algorithm_lists(void **state)
{
    world w = {.trust_host = 1, .password = "open sesame",
               .pubkey_algs = "rsa-sha2-512,ecdsa-sha2-nistp256"};
    whelk_key_generate_ed25519(&w.user_key);
    setup_world(&w, NULL, NULL, w.user_key);
    h_shuttle(w.client, w.server);
    /* The ed25519 user key is not accepted; the password is. */
    assert_true(w.client_authed);
    assert_string_equal(w.method, "password");
    teardown_world(&w);
    assert_int_equal(whelk_config_set_pubkey_algorithms(w.scfg = whelk_config_new(),
                                                        "ssh-rsa"),
                     WHELK_ERR_UNSUPPORTED);
    assert_int_equal(whelk_config_set_hostkey_algorithms(w.scfg, "ssh-dss"),
                     WHELK_ERR_UNSUPPORTED);
    whelk_config_free(w.scfg);
    assert_non_null(strstr(whelk_algorithms_default(WHELK_LIST_KEX),
                           "curve25519-sha256"));
    assert_null(whelk_algorithms_default((whelk_alg_list)99));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publickey),
        cmocka_unit_test(test_password_after_wrong_key),
        cmocka_unit_test(test_keyboard_interactive),
        cmocka_unit_test(test_all_methods_fail),
        cmocka_unit_test(test_host_key_refused),
        cmocka_unit_test(test_sign_callback),
        cmocka_unit_test(test_algorithm_lists),
    };
    return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
