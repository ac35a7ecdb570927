/*
 * Fuzz target: user authentication requests (RFC 4252, RFC 4256) fed to a
 * server connection whose key exchange is done, with callbacks that allow
 * some attempts, refuse others and defer some (the user look-up too), so
 * every parser and state of lib/auth.c sees hostile input. Input:
 * [uint16 length][payload] records, each payload one unencrypted packet;
 * a record of length 0 completes a deferred decision or look-up.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cipher.h"
#include "conn.h"
#include "conn_test.h"

static int fixed_rand(uint8_t *out, size_t len, void *user)
{
    (void)user;
    memset(out, 0xa5, len);
    return 0;
}

static int user_valid(whelk_conn *c, const char *u, void *x)
{
    if (u[0] == 'p') return WHELK_USER_PENDING;
    if (u[0] == 'r') return WHELK_USER_REFUSED;
    return u[0] != 'x';
}
static whelk_auth_result pubkey(whelk_conn *c, const whelk_pubkey_request *r,
                                void *x)
{
    size_t n;
    whelk_pubkey_request_blob(r, &n);
    return n & 1 ? WHELK_AUTH_ALLOW : WHELK_AUTH_PENDING;
}
static whelk_auth_result password(whelk_conn *c, const char *u,
                                  const char *pw, size_t n, void *x)
{
    if (n == 0) return WHELK_AUTH_PENDING;
    return pw[0] == 'y' ? WHELK_AUTH_ALLOW : WHELK_AUTH_DENY;
}
static int prompts(whelk_conn *c, const char *u, unsigned round,
                   whelk_kbdint_prompts *p, void *x)
{
    /* One prompt more each round, past the limit in the end. */
    for (unsigned i = 0; i <= round; i++)
        if (whelk_kbdint_prompts_add(p, "Password: ", (int)(i & 1)) != 0)
            return -1;
    return 0;
}
static whelk_auth_result answers(whelk_conn *c, const char *u, unsigned r,
                                 const whelk_kbdint_answers *a, int *more,
                                 void *x)
{
    const char *first = whelk_kbdint_answers_get(a, 0);
    *more = first && first[0] == 'm';
    return first && first[0] == 'y' ? WHELK_AUTH_ALLOW : WHELK_AUTH_DENY;
}

static whelk_config *cfg;

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    if (!cfg) {
        whelk_key *k = NULL;
        cfg = whelk_config_new();
        whelk_key_generate_ed25519(&k);
        whelk_config_add_host_key(cfg, k);
        whelk_config_set_rand(cfg, fixed_rand, NULL);
        whelk_config_set(cfg, WHELK_SET_AUTH_METHODS, 7);
        whelk_config_set_banner(cfg, "hello\n");
    }
    whelk_server_callbacks cb = {.cb = {.user_valid = user_valid,
                          .auth_publickey = pubkey,
                          .auth_password = password,
                          .auth_kbdint_prompts = prompts,
                          .auth_kbdint_answers = answers}};
    whelk_conn *c;
    if (whelk_conn_server_new(&c, cfg, &cb, NULL, "127.0.0.1", 1, 0)) abort();
    wk_conn_test_authenticate(c, NULL);
    wk_pkt_dir *tx = wk_pkt_dir_new();
    wk_buf pkt;
    wk_buf_init(&pkt, 1u << 20);
    size_t pos = 0;
    uint64_t now = 1;
    while (pos + 2 <= len && !whelk_conn_is_closed(c)) {
        size_t n = ((size_t)in[pos] << 8) | in[pos + 1];
        pos += 2;
        now += 1000;
        if (n == 0) {
            if (now & 4000)
                whelk_conn_user_done(c, now & 8000 ? WHELK_USER_REFUSED
                                                   : WHELK_USER_VALID, now);
            else
                whelk_conn_auth_done(c, now & 2000 ? WHELK_AUTH_ALLOW
                                                   : WHELK_AUTH_DENY, now);
            whelk_conn_handle_expiry(c, now);
            continue;
        }
        if (n > len - pos) n = len - pos;
        wk_buf_reset(&pkt);
        size_t start = wk_pkt_begin(&pkt);
        wk_buf_put(&pkt, in + pos, n);
        wk_pkt_end(tx, &pkt, start, fixed_rand, NULL);
        pos += n;
        whelk_conn_recv(c, wk_buf_data(&pkt), wk_buf_used(&pkt), now);
        whelk_conn_handle_expiry(c, now + 500);
        const uint8_t *out;
        whelk_conn_out_consumed(c, whelk_conn_out(c, &out));
    }
    wk_buf_free(&pkt);
    wk_pkt_dir_free(tx);
    whelk_conn_free(c);
    return 0;
}
