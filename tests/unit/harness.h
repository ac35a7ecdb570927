/*
 * harness: drives a server-side whelk_conn byte for byte in unit tests.
 *
 * h_server() makes a connection that has skipped the key exchange and
 * authentication (wk_conn_test_authenticate) so tests speak unencrypted
 * packets to the connection layer; h_send() frames a payload as a packet
 * and feeds it in, h_next() decodes the next packet the engine wrote.
 */
#ifndef WHELK_TEST_HARNESS_H
#define WHELK_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cipher.h"
#include "conn.h"
#include "conn_test.h"

typedef struct h_peer {
    whelk_conn *conn;
    whelk_config *cfg;
    wk_pkt_dir *tx, *rx; /* the test's side of the unencrypted stream */
    wk_buf pending;      /* bytes from the engine not yet decoded */
    int last_rc;         /* what whelk_conn_recv returned last */
} h_peer;

/* A config with one ed25519 host key and deterministic randomness. */
whelk_config *h_config(void);
int h_server(h_peer *p, whelk_config *cfg, const whelk_server_callbacks *cb,
             void *user);
/* The same, but key exchange only: authentication is still to come. */
int h_server_preauth(h_peer *p, whelk_config *cfg, const whelk_server_callbacks *cb,
                     void *user);
void h_free(h_peer *p);
/* Feeds one packet with |payload|; returns whelk_conn_recv's result. */
int h_send(h_peer *p, const uint8_t *payload, size_t len); /* at 2000 ms */
int h_send_at(h_peer *p, const uint8_t *payload, size_t len, uint64_t now);
int h_send_buf(h_peer *p, wk_buf *payload); /* and resets |payload| */
/* Next packet from the engine: 1 and the payload (valid until the next
 * call) or 0 when there is none. */
int h_next(h_peer *p, const uint8_t **payload, size_t *len);
/* Skips packets until one of |type|; returns 1 when found. */
int h_expect(h_peer *p, uint8_t type, const uint8_t **payload, size_t *len);
/* Discards everything the engine wrote so far. */
void h_drain(h_peer *p);
/* Two engines connected in memory: moves bytes both ways until neither
 * has anything to say. */
void h_shuttle(whelk_conn *client, whelk_conn *server);

#endif
