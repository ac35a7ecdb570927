/*
 * Unit tests of lib/transport.c's handling of first_kex_packet_follows
 * (RFC 4253 section 7) in both roles: a whelk client engine and a whelk
 * server engine connected in memory, one of them announcing a guessed
 * first key exchange packet.
 *
 * Neither engine guesses by itself, so the test rewrites the guesser's
 * first KEXINIT (still in clear in its output, and in the copy it hashes)
 * to set the flag, and appends the guessed packets behind it through the
 * engine's own output path, so sequence numbers stay right. A right guess
 * (both sides list the same kex method first and the same host key
 * algorithm first) must be processed; a wrong one, including a guess of
 * the method that is then negotiated, must cost exactly one packet, with
 * and without strict kex, for every kex method.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "cipher.h"
#include "conn.h"
#include "harness.h"
#include "kex.h"

static const char *const kexes[] = {
    "curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256",
    "diffie-hellman-group14-sha256", "diffie-hellman-group16-sha512",
    "mlkem768x25519-sha256", "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com"};
#define N_KEX (sizeof(kexes) / sizeof(*kexes))

typedef struct world {
    whelk_config *scfg, *ccfg;
    whelk_key *user_key;
    whelk_conn *server, *client;
    int client_authed, server_authed;
} world;

static whelk_auth_result s_pubkey(whelk_conn *c,
                                  const whelk_pubkey_request *r, void *u)
{
    world *w = u;
    return whelk_key_equal_public(whelk_pubkey_request_key(r), w->user_key)
               ? WHELK_AUTH_ALLOW
               : WHELK_AUTH_DENY;
}
static void s_authed(whelk_conn *c, const char *user, const char *m, void *u)
{
    ((world *)u)->server_authed = 1;
}
static int c_host(whelk_conn *c, const whelk_key *k, void *u) { return 0; }
static void c_authed(whelk_conn *c, const char *user, const char *m, void *u)
{
    ((world *)u)->client_authed = 1;
}
static void log_cb(whelk_conn *c, int level, const char *msg, void *u)
{
    if (getenv("WHELK_TEST_LOG")) fprintf(stderr, "log: %s\n", msg);
}

/* |server_kex| is the server's list (its first name is its guess or its
 * preference); the client offers |client_kex|. */
static void setup(world *w, const char *server_kex, const char *client_kex)
{
    memset(w, 0, sizeof(*w));
    whelk_key *hk;
    assert_int_equal(whelk_key_generate_ed25519(&hk), 0);
    assert_int_equal(whelk_key_generate_ed25519(&w->user_key), 0);
    w->scfg = whelk_config_new();
    w->ccfg = whelk_config_new();
    assert_int_equal(whelk_config_add_host_key(w->scfg, hk), 0);
    whelk_config_set(w->scfg, WHELK_SET_AUTH_METHODS,
                     WHELK_AUTH_METHOD_PUBLICKEY);
    assert_int_equal(whelk_config_set_kex(w->scfg, server_kex), 0);
    assert_int_equal(whelk_config_set_kex(w->ccfg, client_kex), 0);
    whelk_server_callbacks scb = {.cb = {.log = log_cb,
                           .auth_publickey = s_pubkey,
                           .authenticated = s_authed}};
    whelk_client_callbacks ccb = {.cb = {.log = log_cb,
                           .host_key_check = c_host,
                           .authenticated = c_authed}};
    assert_int_equal(whelk_conn_server_new(&w->server, w->scfg, &scb, w,
                                           "127.0.0.1", 1234, 0),
                     0);
    assert_int_equal(whelk_conn_client_new(&w->client, w->ccfg, &ccb, w,
                                           "alice", w->user_key, 0),
                     0);
}

static void teardown(world *w)
{
    whelk_conn_free(w->client);
    whelk_conn_free(w->server);
    whelk_config_free(w->scfg);
    whelk_config_free(w->ccfg);
    whelk_key_free(w->user_key);
}

/* Rewrites the first KEXINIT |c| sent, both the copy it will hash and
 * the packet waiting in its output behind the identification line:
 * first_kex_packet_follows set to |follows|, the strict kex marker kept
 * only when |strict|, the host key list replaced when |hostkeys|. */
static void rewrite_kexinit(whelk_conn *c, int follows, int strict,
                            const char *hostkeys)
{
    assert_int_equal(wk_pkt_dir_seq(c->tx), 1); /* KEXINIT alone so far */
    wk_kexinit ki;
    assert_int_equal(wk_kexinit_parse(wk_buf_data(&c->my_kexinit),
                                      wk_buf_used(&c->my_kexinit), &ki),
                     0);
    static char lists[WK_KEXL_COUNT][1024];
    const char *lp[WK_KEXL_COUNT];
    for (int i = 0; i < WK_KEXL_COUNT; i++) {
        assert_true(ki.list_len[i] < sizeof(lists[i]));
        memcpy(lists[i], ki.list[i], ki.list_len[i]);
        lists[i][ki.list_len[i]] = 0;
        lp[i] = lists[i];
    }
    if (!strict) {
        char *m = strstr(lists[WK_KEXL_KEX], ",kex-strict-");
        assert_non_null(m);
        *m = 0; /* the marker is last */
    }
    if (hostkeys) snprintf(lists[WK_KEXL_HOSTKEY], 1024, "%s", hostkeys);
    wk_buf_reset(&c->my_kexinit);
    assert_int_equal(wk_kexinit_build(&c->my_kexinit, lp, c->cfg->rand,
                                      c->cfg->rand_user),
                     0);
    wk_buf_data(&c->my_kexinit)[wk_buf_used(&c->my_kexinit) - 5] =
        (uint8_t)follows;

    const uint8_t *out = wk_buf_data(&c->out);
    const uint8_t *nl = memchr(out, '\n', wk_buf_used(&c->out));
    assert_non_null(nl);
    wk_buf_truncate(&c->out, (size_t)(nl + 1 - out));
    wk_pkt_dir_reset_seq(c->tx);
    size_t start = wk_pkt_begin(&c->out);
    assert_int_equal(wk_buf_put(&c->out, wk_buf_data(&c->my_kexinit),
                                wk_buf_used(&c->my_kexinit)),
                     0);
    assert_int_equal(wk_pkt_end(c->tx, &c->out, start, c->cfg->rand,
                                c->cfg->rand_user),
                     0);
}

/* Sends one guessed packet of |type| from |c|. A client's guess carries a
 * real public value of |kex|, so a server that wrongly took it would
 * answer it; anything else carries junk. */
static void send_guess(whelk_conn *c, uint8_t type, const char *kex)
{
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, type);
    assert_non_null(b);
    if (c->is_client && type == SSH_MSG_KEX_ECDH_INIT) {
        const wk_kex_alg *alg = wk_kex_find(kex, strlen(kex));
        wk_kex_client *st = NULL;
        wk_buf q;
        wk_buf_init(&q, 4096);
        assert_int_equal(wk_kex_client_start(alg, c->cfg->rand,
                                             c->cfg->rand_user, &st, &q),
                         0);
        if (alg->value_is_mpint)
            wk_buf_put_mpint(b, wk_buf_data(&q), wk_buf_used(&q));
        else
            wk_buf_put_string(b, wk_buf_data(&q), wk_buf_used(&q));
        wk_kex_client_free(st);
        wk_buf_free(&q);
    } else {
        wk_buf_put_cstring(b, "a guess for another method");
        wk_buf_put_u32(b, 2048);
    }
    assert_int_equal(wk_msg_end(c, &m), 0);
}

enum guess { RIGHT, WRONG_KEX, WRONG_HOSTKEY };

typedef struct attempt {
    int client_guesses; /* else the server does */
    const char *kex;    /* the method negotiated */
    enum guess guess;
    int strict;
    int n_packets;      /* guessed packets sent (a right guess sends none:
                           the exchange's own first packet is the guess) */
    uint8_t type;
} attempt;

/* Runs one handshake; returns 1 when both sides logged in. */
static int run(const attempt *a)
{
    const char *other = strcmp(a->kex, "curve25519-sha256")
                            ? "curve25519-sha256"
                            : "ecdh-sha2-nistp256";
    char server_kex[160];
    /* WRONG_KEX: the server prefers another method, so the client's first
     * (its guess) is still the one negotiated, yet the guess is wrong. */
    snprintf(server_kex, sizeof(server_kex), "%s%s%s",
             a->guess == WRONG_KEX ? other : "",
             a->guess == WRONG_KEX ? "," : "", a->kex);
    world w;
    setup(&w, server_kex, a->kex);
    whelk_conn *guesser = a->client_guesses ? w.client : w.server;
    whelk_conn *peer = a->client_guesses ? w.server : w.client;
    /* WRONG_HOSTKEY: the server claims to prefer ECDSA (never chosen: the
     * client's first, ed25519, is negotiated), so the firsts differ. */
    const char *hostkeys =
        a->guess == WRONG_HOSTKEY ? "ecdsa-sha2-nistp256,ssh-ed25519" : NULL;
    rewrite_kexinit(guesser, 1, a->strict,
                    guesser == w.server ? hostkeys : NULL);
    rewrite_kexinit(peer, 0, a->strict, peer == w.server ? hostkeys : NULL);
    for (int i = 0; i < a->n_packets; i++)
        send_guess(guesser, a->type, a->kex);
    h_shuttle(w.client, w.server);
    int ok = w.client_authed && w.server_authed &&
             !whelk_conn_is_closed(w.server) &&
             !whelk_conn_is_closed(w.client);
    if (ok) {
        assert_string_equal(whelk_conn_algorithm(w.server, WHELK_ALG_KEX), a->kex);
        assert_string_equal(whelk_conn_algorithm(w.client, WHELK_ALG_KEX), a->kex);
        assert_int_equal(w.server->strict, a->strict);
        assert_int_equal(w.client->strict, a->strict);
        assert_false(w.server->ignore_guess || w.client->ignore_guess);
    }
    teardown(&w);
    return ok;
}

static void check_every_kex(int client_guesses, enum guess g, int n,
                            uint8_t type)
{
    for (size_t i = 0; i < N_KEX; i++)
        for (int strict = 0; strict < 2; strict++) {
            attempt a = {client_guesses, kexes[i], g, strict, n, type};
            if (!run(&a))
                fail_msg("%s guess by the %s failed: %s, strict %d",
                         g == RIGHT ? "right" : "wrong",
                         client_guesses ? "client" : "server", kexes[i],
                         strict);
        }
}

/* The client's guess is right: its first packet is taken as it is (a
 * server that dropped it would wait for a second one forever). */
static void test_right_guess_processed(void **state)
{
    check_every_kex(1, RIGHT, 0, 0);
}

/* Dropbear's case: dbclient guesses curve25519-sha256, which is also the
 * method negotiated, but the server prefers another; the guessed
 * KEX_ECDH_INIT must be dropped and the second one answered. */
static void test_wrong_kex_guess_ignored(void **state)
{
    check_every_kex(1, WRONG_KEX, 1, SSH_MSG_KEX_ECDH_INIT);
}

static void test_wrong_hostkey_guess_ignored(void **state)
{
    check_every_kex(1, WRONG_HOSTKEY, 1, SSH_MSG_KEX_ECDH_INIT);
}

/* The server guesses: whelk's client processes a right guess (the reply
 * it then gets) and drops exactly one packet after a wrong one, whatever
 * its type, here one shaped like a reply and one the client never takes. */
static void test_server_guess(void **state)
{
    check_every_kex(0, RIGHT, 0, 0);
    check_every_kex(0, WRONG_KEX, 1, SSH_MSG_KEX_ECDH_REPLY);
    check_every_kex(0, WRONG_HOSTKEY, 1, SSH_MSG_KEX_ECDH_INIT);
}

/* A guess for a method whelk lacks may be any kex message (34 is a DH
 * group exchange request); dropping it is no strict kex violation. */
static void test_other_guess_types_under_strict_kex(void **state)
{
    static const uint8_t types[] = {34, 49};
    for (int role = 0; role < 2; role++)
        for (size_t t = 0; t < sizeof(types); t++) {
            attempt a = {role, "curve25519-sha256", WRONG_KEX, 1, 1,
                         types[t]};
            assert_true(run(&a));
        }
}

/* Exactly one packet is dropped: a second guessed packet is taken as the
 * exchange's own and the handshake fails, in either role. A right guess
 * drops nothing, so a stray packet after it fails too. */
static void test_only_one_packet_dropped(void **state)
{
    for (int role = 0; role < 2; role++) {
        uint8_t type = role ? SSH_MSG_KEX_ECDH_INIT : SSH_MSG_KEX_ECDH_REPLY;
        attempt two = {role, "curve25519-sha256", WRONG_KEX, 1, 2, type};
        assert_false(run(&two));
        attempt right = {role, "curve25519-sha256", RIGHT, 1, 1, type};
        assert_false(run(&right));
    }
}

/* Without the flag nothing is dropped even when the firsts differ. */
static void test_no_flag_no_drop(void **state)
{
    for (int role = 0; role < 2; role++) {
        world w;
        setup(&w, "ecdh-sha2-nistp256,curve25519-sha256",
              "curve25519-sha256");
        rewrite_kexinit(role ? w.client : w.server, 0, 1, NULL);
        h_shuttle(w.client, w.server);
        assert_true(w.client_authed && w.server_authed);
        teardown(&w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_right_guess_processed),
        cmocka_unit_test(test_wrong_kex_guess_ignored),
        cmocka_unit_test(test_wrong_hostkey_guess_ignored),
        cmocka_unit_test(test_server_guess),
        cmocka_unit_test(test_other_guess_types_under_strict_kex),
        cmocka_unit_test(test_only_one_packet_dropped),
        cmocka_unit_test(test_no_flag_no_drop),
    };
    return cmocka_run_group_tests_name("transport_guess", tests, NULL, NULL);
}
