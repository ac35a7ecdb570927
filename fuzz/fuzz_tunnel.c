/*
 * Fuzz target: channel opens of every type, global requests and their
 * replies (lib/tunnel.c, lib/globalreq.c) on an authenticated server
 * connection. The application here answers opens at once, later or not at
 * all depending on the port asked for, writes into its channels, opens
 * channels of its own, and answers global requests out of order, so the
 * open states, the reply ring and the connection-wide limits all see
 * hostile input. Records are [uint16 length][payload], one packet each, as
 * in fuzz_conn.
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

typedef struct app {
    whelk_channel *deferred[4];
    unsigned n_deferred;
    uint32_t owed[32];
    unsigned n_owed;
} app;

static void on_data(whelk_channel *ch, const uint8_t *d, size_t n, void *u)
{
    whelk_channel_write(ch, d, n);
    if (n && d[0] == 'c') whelk_channel_close(ch);
    if (n && d[0] == 'e') whelk_channel_send_eof(ch);
    whelk_channel_consumed(ch, n);
}
static void on_eof(whelk_channel *ch, void *u) { whelk_channel_close(ch); }
static void on_closed(whelk_channel *ch, void *u)
{
    app *a = u;
    for (unsigned i = 0; i < a->n_deferred; i++)
        if (a->deferred[i] == ch) a->deferred[i] = NULL;
}
static const whelk_channel_handler handler = {
    .h = {.data = on_data, .eof = on_eof, .closed = on_closed}};

static void on_open(whelk_conn *c, whelk_channel *ch,
                    const whelk_channel_open *o, void *u)
{
    app *a = u;
    switch (whelk_channel_open_port(o) % 4) {
    case 0:
        whelk_channel_accept(ch, &handler, a);
        whelk_channel_write(ch, "hello", 5);
        break;
    case 1:
        whelk_channel_refuse(ch, WHELK_OPEN_CONNECT_FAILED, "no");
        break;
    default:
        /* Answered by a later packet, or never. */
        whelk_channel_set_handler(ch, &handler, a);
        whelk_channel_write(ch, "early", 5);
        if (a->n_deferred < 4) a->deferred[a->n_deferred++] = ch;
        break;
    }
}

static void on_global(whelk_conn *c, const whelk_global_request *r, void *u)
{
    app *a = u;
    if (!whelk_global_request_want_reply(r)) return;
    if (a->n_owed < 32) a->owed[a->n_owed++] = whelk_global_request_id(r);
    /* Answer the newest every other time: out of order on purpose. */
    if (a->n_owed % 2 == 0) {
        a->n_owed--;
        whelk_conn_global_reply(c, a->owed[a->n_owed], 1,
                                whelk_global_request_port(r));
    }
}

static int session_open(whelk_conn *c, whelk_session *s, void *u)
{
    return 0;
}

/* Between packets the application finishes what it left waiting. */
static void settle(whelk_conn *c, app *a, uint8_t how)
{
    if (how & 1) {
        for (unsigned i = 0; i < a->n_deferred; i++) {
            if (!a->deferred[i]) continue;
            if (how & 2)
                whelk_channel_accept(a->deferred[i], NULL, NULL);
            else
                whelk_channel_refuse(a->deferred[i], 0, NULL);
        }
        a->n_deferred = 0;
    }
    if ((how & 4) && a->n_owed) {
        a->n_owed--;
        whelk_conn_global_reply(c, a->owed[0], how & 8, 0);
        memmove(a->owed, a->owed + 1, a->n_owed * sizeof(*a->owed));
    }
    if (how & 16) {
        whelk_channel *ch;
        whelk_conn_open_channel(c, &ch,
                                how & 32 ? WHELK_CHANNEL_FORWARDED_TCPIP
                                         : WHELK_CHANNEL_AUTH_AGENT,
                                "127.0.0.1", 8080, "192.0.2.1", 4000, &handler,
                                a);
    }
    if (how & 64) {
        static const uint8_t port[4] = {0, 0, 0x1f, 0x90};
        whelk_conn_send_global_request(c, "probe@whelk", port, 4, how & 128);
    }
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
        whelk_config_set(cfg, WHELK_SET_MAX_CHANNELS, 8);
        whelk_config_set(cfg, WHELK_SET_CONN_WINDOW, 6 * 4096);
        whelk_config_set(cfg, WHELK_SET_CONN_OUT_BUFFER, 20000);
    }
    app a;
    memset(&a, 0, sizeof(a));
    whelk_server_callbacks cb = {.cb = {.session_open = session_open,
                                        .channel_open = on_open,
                                        .global_request = on_global}};
    whelk_conn *c;
    if (whelk_conn_server_new(&c, cfg, &cb, &a, "127.0.0.1", 1, 0)) abort();
    wk_conn_test_authenticate(c, "fuzz");
    wk_pkt_dir *tx = wk_pkt_dir_new();
    wk_buf pkt;
    wk_buf_init(&pkt, 1u << 20);
    size_t pos = 0;
    while (pos + 3 <= len && !whelk_conn_is_closed(c)) {
        uint8_t how = in[pos];
        size_t n = ((size_t)in[pos + 1] << 8) | in[pos + 2];
        pos += 3;
        if (n > len - pos) n = len - pos;
        wk_buf_reset(&pkt);
        size_t start = wk_pkt_begin(&pkt);
        wk_buf_put(&pkt, in + pos, n);
        wk_pkt_end(tx, &pkt, start, fixed_rand, NULL);
        pos += n;
        whelk_conn_recv(c, wk_buf_data(&pkt), wk_buf_used(&pkt), 1);
        if (!whelk_conn_is_closed(c)) settle(c, &a, how);
        const uint8_t *out;
        size_t o = whelk_conn_out(c, &out);
        whelk_conn_out_consumed(c, o);
    }
    wk_buf_free(&pkt);
    wk_pkt_dir_free(tx);
    whelk_conn_free(c);
    return 0;
}
