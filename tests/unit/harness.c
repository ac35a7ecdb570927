/*
 * harness: see harness.h.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static int counter_rand(uint8_t *out, size_t len, void *user)
{
    (void)user;
    static uint8_t n;
    for (size_t i = 0; i < len; i++) out[i] = n++;
    return 0;
}

whelk_config *h_config(void)
{
    whelk_config *cfg = whelk_config_new();
    whelk_key *k = NULL;
    if (!cfg || whelk_key_generate_ed25519(&k) != 0 ||
        whelk_config_add_host_key(cfg, k) != 0)
        abort();
    whelk_config_set_rand(cfg, counter_rand, NULL);
    return cfg;
}

/* A connection past key exchange, logged in as |user| unless NULL. */
static int server_as(h_peer *p, whelk_config *cfg, const whelk_server_callbacks *cb,
                     void *app, const char *user)
{
    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    int rc = whelk_conn_server_new(&p->conn, cfg, cb, app, "127.0.0.1",
                                   40000, 1000);
    if (rc) return rc;
    p->tx = wk_pkt_dir_new();
    p->rx = wk_pkt_dir_new();
    wk_buf_init(&p->pending, 64u << 20);
    return wk_conn_test_authenticate(p->conn, user);
}

int h_server_preauth(h_peer *p, whelk_config *cfg, const whelk_server_callbacks *cb,
                     void *user)
{
    return server_as(p, cfg, cb, user, NULL);
}

int h_server(h_peer *p, whelk_config *cfg, const whelk_server_callbacks *cb,
             void *user)
{
    return server_as(p, cfg, cb, user, "tester");
}

void h_free(h_peer *p)
{
    whelk_conn_free(p->conn);
    wk_pkt_dir_free(p->tx);
    wk_pkt_dir_free(p->rx);
    wk_buf_free(&p->pending);
    whelk_config_free(p->cfg);
}

int h_send(h_peer *p, const uint8_t *payload, size_t len)
{
    return h_send_at(p, payload, len, 2000);
}

int h_send_at(h_peer *p, const uint8_t *payload, size_t len, uint64_t now)
{
    wk_buf pkt;
    wk_buf_init(&pkt, 1u << 20);
    size_t start = wk_pkt_begin(&pkt);
    if (wk_buf_put(&pkt, payload, len) ||
        wk_pkt_end(p->tx, &pkt, start, counter_rand, NULL))
        abort();
    ssize_t rc = whelk_conn_recv(p->conn, wk_buf_data(&pkt),
                                 wk_buf_used(&pkt), now);
    wk_buf_free(&pkt);
    p->last_rc = rc < 0 ? (int)rc : 0;
    return p->last_rc;
}

int h_send_buf(h_peer *p, wk_buf *payload)
{
    int rc = h_send(p, wk_buf_data(payload), wk_buf_used(payload));
    wk_buf_reset(payload);
    return rc;
}

static uint8_t *last_payload;

int h_next(h_peer *p, const uint8_t **payload, size_t *len)
{
    const uint8_t *out;
    size_t n = whelk_conn_out(p->conn, &out);
    if (n) {
        if (wk_buf_put(&p->pending, out, n)) abort();
        whelk_conn_out_consumed(p->conn, n);
    }
    if (wk_buf_used(&p->pending) == 0) return 0;
    uint8_t *pl;
    size_t used, plen;
    int rc = wk_pkt_open(p->rx, wk_buf_data(&p->pending),
                         wk_buf_used(&p->pending), &used, &pl, &plen);
    if (rc) return 0;
    free(last_payload);
    last_payload = malloc(plen ? plen : 1);
    memcpy(last_payload, pl, plen);
    wk_buf_consume(&p->pending, used);
    *payload = last_payload;
    *len = plen;
    return 1;
}

int h_expect(h_peer *p, uint8_t type, const uint8_t **payload, size_t *len)
{
    while (h_next(p, payload, len))
        if (*len > 0 && (*payload)[0] == type) return 1;
    return 0;
}

void h_drain(h_peer *p)
{
    const uint8_t *pl;
    size_t n;
    while (h_next(p, &pl, &n)) {
    }
}

void h_shuttle(whelk_conn *client, whelk_conn *server)
{
    for (int round = 0; round < 100; round++) {
        int moved = 0;
        whelk_conn *from[2] = {client, server};
        whelk_conn *to[2] = {server, client};
        for (int i = 0; i < 2; i++) {
            const uint8_t *p;
            size_t n = whelk_conn_out(from[i], &p);
            if (n == 0) continue;
            if (!whelk_conn_is_closed(to[i]))
                whelk_conn_recv(to[i], p, n, 10);
            whelk_conn_out_consumed(from[i], n);
            moved = 1;
        }
        if (!moved) return;
    }
}
