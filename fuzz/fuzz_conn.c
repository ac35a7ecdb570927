/*
 * Fuzz target: connection-protocol and session messages (RFC 4254) fed to
 * an authenticated server connection, with a session handler that grants
 * every request, writes output and consumes input, so the channel state
 * machine, the window arithmetic and every request parser see hostile
 * input. The input is a sequence of [uint16 length][payload] records; each
 * payload becomes one unencrypted packet.
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
    memset(out, 0x5a, len);
    return 0;
}

static int grant(whelk_session *s, void *u) { return 0; }
static int grant_pty(whelk_session *s, const whelk_pty *p, void *u)
{
    uint32_t cols;
    whelk_pty_size(p, &cols, NULL, NULL, NULL);
    return cols & 1 ? -1 : 0;
}
static int grant_env(whelk_session *s, const char *n, const char *v, void *u)
{
    return 0;
}
static int grant_str(whelk_session *s, const char *x, void *u)
{
    whelk_session_write(s, x, strlen(x));
    whelk_session_write_stderr(s, "e", 1);
    return 0;
}
static int grant_winch(whelk_session *s, uint32_t a, uint32_t b, uint32_t c,
                       uint32_t d, void *u)
{
    return 0;
}
static void data(whelk_session *s, const uint8_t *d, size_t n, void *u)
{
    if (n && d[0] == 'q') {
        whelk_session_exit_status(s, d[n - 1]);
        whelk_session_send_eof(s);
        whelk_session_close(s);
    } else if (n && d[0] == 'w') {
        whelk_session_send_eow(s);
    }
    whelk_session_write(s, d, n);
    whelk_session_consumed(s, n);
}
static void eof(whelk_session *s, void *u) { whelk_session_send_eof(s); }

static const whelk_session_handler handler = {.h = {
    .pty_req = grant_pty,
    .env = grant_env,
    .shell = grant,
    .exec = grant_str,
    .subsystem = grant_str,
    .window_change = grant_winch,
    .signal = grant_str,
    .data = data,
    .eof = eof,
}};

static int open_cb(whelk_conn *c, whelk_session *s, void *u)
{
    whelk_session_set_handler(s, &handler, NULL);
    return 0;
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
        whelk_config_set(cfg, WHELK_SET_WINDOW, 4096);
        whelk_config_set(cfg, WHELK_SET_OUT_BUFFER, 8192);
    }
    whelk_server_callbacks cb = {.cb = {.session_open = open_cb}};
    whelk_conn *c;
    if (whelk_conn_server_new(&c, cfg, &cb, NULL, "127.0.0.1", 1, 0)) abort();
    wk_conn_test_authenticate(c, "fuzz");
    wk_pkt_dir *tx = wk_pkt_dir_new();
    wk_buf pkt;
    wk_buf_init(&pkt, 1u << 20);
    size_t pos = 0;
    while (pos + 2 <= len && !whelk_conn_is_closed(c)) {
        size_t n = ((size_t)in[pos] << 8) | in[pos + 1];
        pos += 2;
        if (n > len - pos) n = len - pos;
        wk_buf_reset(&pkt);
        size_t start = wk_pkt_begin(&pkt);
        wk_buf_put(&pkt, in + pos, n);
        wk_pkt_end(tx, &pkt, start, fixed_rand, NULL);
        pos += n;
        whelk_conn_recv(c, wk_buf_data(&pkt), wk_buf_used(&pkt), 1);
        /* Drain output as a socket would, letting queues move. */
        const uint8_t *out;
        size_t o = whelk_conn_out(c, &out);
        whelk_conn_out_consumed(c, o);
    }
    wk_buf_free(&pkt);
    wk_pkt_dir_free(tx);
    whelk_conn_free(c);
    return 0;
}
