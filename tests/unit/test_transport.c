/*
 * Unit tests of lib/transport.c and lib/auth.c: a whole handshake in
 * memory. The test plays the client with the library's own building
 * blocks (kex.c client side, cipher.c, key.c verification), so every
 * kex method and every cipher/MAC pair is exercised end to end, byte for
 * byte, without a socket: identification, KEXINIT, the key agreement,
 * host key signature over H, NEWKEYS under strict kex, EXT_INFO, the
 * service request, authentication, a rekey in the middle, and the
 * failure paths (bad MAC, huge length, Terrapin-style injected message,
 * too many authentication failures).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <malloc.h>

#include "buf.h"
#include "cipher.h"
#include "conn.h"
#include "kex.h"
#include "key.h"

#define V_C "SSH-2.0-OpenSSH_9.2p1 unit"

/* This binary is linked with -Wl,--wrap=free,--wrap=realloc (Makefile):
 * while a test sets |free_marker|, every block the library frees or
 * moves is searched for it, to prove decrypted secrets are wiped first. */
void __real_free(void *p);
void *__real_realloc(void *p, size_t n);
static const char *free_marker;
static int marker_left_behind;

static void search_block(void *p)
{
    if (p && free_marker &&
        memmem(p, malloc_usable_size(p), free_marker, strlen(free_marker)))
        marker_left_behind++;
}

void __wrap_free(void *p)
{
    search_block(p);
    __real_free(p);
}

void *__wrap_realloc(void *p, size_t n)
{
    search_block(p);
    return __real_realloc(p, n);
}

static int test_rand(uint8_t *out, size_t len, void *user)
{
    (void)user;
    static uint32_t x = 12345;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        out[i] = (uint8_t)(x >> 16);
    }
    return 0;
}

typedef struct client {
    whelk_conn *conn;
    whelk_config *cfg;
    whelk_key *user_key;
    wk_pkt_dir *tx, *rx;
    wk_buf in;           /* bytes from the server not yet decoded */
    wk_buf my_kexinit, srv_kexinit;
    uint8_t session_id[64];
    size_t sid_len;
    char v_s[256];
    int got_ext_info;
    int log_max_tries;   /* saw the "maximum authentication attempts" line */
    int authed;
    uint8_t payload[300000];
    size_t plen;
} client;

/* The event behind sshd's "maximum authentication attempts exceeded". */
static void log_cb(whelk_conn *c, const whelk_event *ev, void *u)
{
    client *cl = u;
    if (whelk_event_get_type(ev) == WHELK_EVENT_AUTH_LIMIT)
        cl->log_max_tries = 1;
}

static whelk_auth_result allow_user_key(whelk_conn *c,
                                        const whelk_pubkey_request *req,
                                        void *u)
{
    client *cl = u;
    return whelk_key_equal_public(whelk_pubkey_request_key(req),
                                  cl->user_key)
               ? WHELK_AUTH_ALLOW
               : WHELK_AUTH_DENY;
}

static whelk_auth_result check_password(whelk_conn *c, const char *user,
                                        const char *pw, size_t n, void *u)
{
    return strcmp(pw, "right") == 0 ? WHELK_AUTH_ALLOW : WHELK_AUTH_DENY;
}

static void authenticated(whelk_conn *c, const char *user, const char *m,
                          void *u)
{
    ((client *)u)->authed = 1;
}

static void client_init(client *cl)
{
    memset(cl, 0, sizeof(*cl));
    cl->cfg = whelk_config_new();
    whelk_key *hk = NULL;
    assert_int_equal(whelk_key_generate_ed25519(&hk), 0);
    assert_int_equal(whelk_config_add_host_key(cl->cfg, hk), 0);
    whelk_config_set_rand(cl->cfg, test_rand, NULL);
    whelk_config_set(cl->cfg, WHELK_SET_AUTH_METHODS,
                     WHELK_AUTH_METHOD_PUBLICKEY | WHELK_AUTH_METHOD_PASSWORD);
    whelk_config_set(cl->cfg, WHELK_SET_AUTH_FAIL_DELAY_MS, 100);
    assert_int_equal(whelk_key_generate_ed25519(&cl->user_key), 0);
    whelk_server_callbacks cb = {.cb = {.event = log_cb,
                          .auth_publickey = allow_user_key,
                          .auth_password = check_password,
                          .authenticated = authenticated}};
    assert_int_equal(whelk_conn_server_new(&cl->conn, cl->cfg, &cb, cl,
                                           "127.0.0.1", 50000, 0),
                     0);
    cl->tx = wk_pkt_dir_new();
    cl->rx = wk_pkt_dir_new();
    wk_buf_init(&cl->in, 64u << 20);
    wk_buf_init(&cl->my_kexinit, 8192);
    wk_buf_init(&cl->srv_kexinit, 8192);
}

static void client_free(client *cl)
{
    whelk_conn_free(cl->conn);
    whelk_config_free(cl->cfg);
    whelk_key_free(cl->user_key);
    wk_pkt_dir_free(cl->tx);
    wk_pkt_dir_free(cl->rx);
    wk_buf_free(&cl->in);
    wk_buf_free(&cl->my_kexinit);
    wk_buf_free(&cl->srv_kexinit);
}

static void pull(client *cl)
{
    const uint8_t *out;
    size_t n = whelk_conn_out(cl->conn, &out);
    assert_int_equal(wk_buf_put(&cl->in, out, n), 0);
    whelk_conn_out_consumed(cl->conn, n);
}

static int feed(client *cl, const void *p, size_t n)
{
    ssize_t rc = whelk_conn_recv(cl->conn, p, n, 10);
    return rc < 0 ? (int)rc : 0;
}

/* Appends |payload| to |out| as one packet under the client's keys. */
static void seal(client *cl, const wk_buf *payload, wk_buf *out)
{
    size_t start = wk_pkt_begin(out);
    assert_int_equal(wk_buf_put(out, wk_buf_data(payload),
                                wk_buf_used(payload)),
                     0);
    assert_int_equal(wk_pkt_end(cl->tx, out, start, test_rand, NULL), 0);
}

static int send_payload(client *cl, const wk_buf *payload)
{
    wk_buf pkt;
    wk_buf_init(&pkt, 1u << 20);
    seal(cl, payload, &pkt);
    int rc = feed(cl, wk_buf_data(&pkt), wk_buf_used(&pkt));
    wk_buf_free(&pkt);
    return rc;
}

/* Feeds |n| bytes the way whelkd reads a socket: straight into the room
 * whelk_conn_recv_space offers, in whatever pieces it offers. Records the
 * largest and the last offer. */
static int feed_in_place(client *cl, const uint8_t *p, size_t n,
                         size_t *max_offer, size_t *last_offer)
{
    while (n > 0) {
        uint8_t *space;
        size_t room = whelk_conn_recv_space(cl->conn, &space);
        if (room == 0) return WK_ERR_AGAIN;
        if (room > *max_offer) *max_offer = room;
        *last_offer = room;
        size_t take = n < room ? n : room;
        memcpy(space, p, take);
        ssize_t rc = whelk_conn_recv_commit(cl->conn, take, 10);
        if (rc < 0) return (int)rc;
        p += take;
        n -= take;
    }
    return 0;
}

/* The next packet from the server; 0 when none is complete. */
static int next_packet(client *cl)
{
    pull(cl);
    uint8_t *pl;
    size_t used;
    if (wk_buf_used(&cl->in) == 0) return 0;
    int rc = wk_pkt_open(cl->rx, wk_buf_data(&cl->in), wk_buf_used(&cl->in),
                         &used, &pl, &cl->plen);
    if (rc == WK_ERR_AGAIN) return 0;
    assert_int_equal(rc, 0);
    memcpy(cl->payload, pl, cl->plen);
    wk_buf_consume(&cl->in, used);
    return 1;
}

static void expect(client *cl, uint8_t type)
{
    assert_true(next_packet(cl));
    if (cl->payload[0] == SSH_MSG_EXT_INFO) {
        cl->got_ext_info = 1;
        assert_true(next_packet(cl));
    }
    assert_int_equal(cl->payload[0], type);
}

static void read_version(client *cl)
{
    pull(cl);
    const uint8_t *p = wk_buf_data(&cl->in);
    const uint8_t *nl = memchr(p, '\n', wk_buf_used(&cl->in));
    assert_non_null(nl);
    size_t n = (size_t)(nl - p) - 1; /* without CR */
    memcpy(cl->v_s, p, n);
    cl->v_s[n] = 0;
    assert_string_equal(cl->v_s, "SSH-2.0-whelk_" WHELK_VERSION);
    wk_buf_consume(&cl->in, n + 2);
}

/* Set by a test: the client's KEXINIT guesses a kex the server lacks and
 * sends a guessed packet, which the server must drop (RFC 4253 7). */
static int wrong_guess;

/* One key exchange, as the client; |first| adds the strict and ext-info
 * markers and the identification line. */
static void exchange(client *cl, const char *kexalg, const char *cipher,
                     const char *mac, int first)
{
    if (first == 1) {
        read_version(cl);
        assert_int_equal(feed(cl, V_C "\r\n", strlen(V_C) + 2), 0);
    }
    char kexlist[256];
    snprintf(kexlist, sizeof(kexlist), "%s%s%s",
             wrong_guess ? "bogus-kex@whelk.test," : "", kexalg,
             first == 1 ? ",ext-info-c,kex-strict-c-v00@openssh.com" : "");
    const char *lists[WK_KEXL_COUNT] = {kexlist, "ssh-ed25519", cipher, cipher,
                                        mac,     mac,           "none", "none",
                                        "",      ""};
    wk_buf_reset(&cl->my_kexinit);
    assert_int_equal(wk_kexinit_build(&cl->my_kexinit, lists, test_rand, NULL),
                     0);
    /* first == 2: a rekey the client starts, its KEXINIT going first. */
    if (first == 2) assert_int_equal(send_payload(cl, &cl->my_kexinit), 0);
    expect(cl, SSH_MSG_KEXINIT);
    wk_buf_reset(&cl->srv_kexinit);
    wk_buf_put(&cl->srv_kexinit, cl->payload, cl->plen);
    if (wrong_guess) /* first_kex_packet_follows = TRUE */
        wk_buf_data(&cl->my_kexinit)[wk_buf_used(&cl->my_kexinit) - 5] = 1;
    if (first != 2) assert_int_equal(send_payload(cl, &cl->my_kexinit), 0);
    if (wrong_guess) {
        wk_buf guess;
        wk_buf_init(&guess, 256);
        wk_buf_put_u8(&guess, SSH_MSG_KEX_ECDH_INIT);
        wk_buf_put_string(&guess, "guessed value for the bogus kex", 31);
        assert_int_equal(send_payload(cl, &guess), 0);
        assert_false(next_packet(cl)); /* dropped, no reply */
        wk_buf_free(&guess);
    }

    const wk_kex_alg *alg = wk_kex_find(kexalg, strlen(kexalg));
    assert_non_null(alg);
    wk_kex_client *st = NULL;
    wk_buf q_c, k_enc, msg;
    wk_buf_init(&q_c, 4096);
    wk_buf_init(&k_enc, 4096);
    wk_buf_init(&msg, 8192);
    assert_int_equal(wk_kex_client_start(alg, test_rand, NULL, &st, &q_c), 0);
    wk_buf_put_u8(&msg, SSH_MSG_KEX_ECDH_INIT);
    if (alg->value_is_mpint)
        wk_buf_put_mpint(&msg, wk_buf_data(&q_c), wk_buf_used(&q_c));
    else
        wk_buf_put_string(&msg, wk_buf_data(&q_c), wk_buf_used(&q_c));
    assert_int_equal(send_payload(cl, &msg), 0);

    expect(cl, SSH_MSG_KEX_ECDH_REPLY);
    wk_reader r;
    const uint8_t *k_s, *q_s, *sig;
    size_t k_s_len, q_s_len, sig_len;
    uint8_t t;
    wk_reader_init(&r, cl->payload, cl->plen);
    wk_get_u8(&r, &t);
    assert_int_equal(wk_get_string(&r, &k_s, &k_s_len, 4096), 0);
    if (alg->value_is_mpint)
        assert_int_equal(wk_get_mpint(&r, &q_s, &q_s_len, 1024), 0);
    else
        assert_int_equal(wk_get_string(&r, &q_s, &q_s_len, 4096), 0);
    assert_int_equal(wk_get_string(&r, &sig, &sig_len, 4096), 0);
    assert_int_equal(wk_reader_end(&r), 0);
    assert_int_equal(wk_kex_client_finish(st, q_s, q_s_len, &k_enc), 0);

    uint8_t h[64];
    size_t hlen;
    assert_int_equal(
        wk_kex_hash(alg, V_C, cl->v_s, wk_buf_data(&cl->my_kexinit),
                    wk_buf_used(&cl->my_kexinit),
                    wk_buf_data(&cl->srv_kexinit),
                    wk_buf_used(&cl->srv_kexinit), k_s, k_s_len,
                    wk_buf_data(&q_c), wk_buf_used(&q_c), q_s, q_s_len,
                    wk_buf_data(&k_enc), wk_buf_used(&k_enc), h, &hlen),
        0);
    if (first == 1) {
        memcpy(cl->session_id, h, hlen);
        cl->sid_len = hlen;
    }
    /* The host key signed exactly this H. */
    whelk_key *hostkey = NULL;
    assert_int_equal(whelk_key_parse_public_blob(k_s, k_s_len, &hostkey), 0);
    assert_int_equal(wk_key_verify(hostkey, "ssh-ed25519", h, hlen, sig,
                                   sig_len),
                     0);
    h[0] ^= 1;
    assert_int_not_equal(wk_key_verify(hostkey, "ssh-ed25519", h, hlen, sig,
                                       sig_len),
                         0);
    h[0] ^= 1;
    whelk_key_free(hostkey);

    expect(cl, SSH_MSG_NEWKEYS);
    wk_buf_reset(&msg);
    wk_buf_put_u8(&msg, SSH_MSG_NEWKEYS);
    assert_int_equal(send_payload(cl, &msg), 0);

    const wk_cipher_alg *c = wk_cipher_find(cipher, strlen(cipher));
    const wk_mac_alg *m = c->tag_len ? NULL : wk_mac_find(mac, strlen(mac));
    uint8_t key[2][64], iv[2][32], mk[2][64];
    for (int d = 0; d < 2; d++) {
        wk_kex_derive(alg, wk_buf_data(&k_enc), wk_buf_used(&k_enc), h, hlen,
                      (char)('A' + d), cl->session_id, cl->sid_len, iv[d],
                      c->iv_len);
        wk_kex_derive(alg, wk_buf_data(&k_enc), wk_buf_used(&k_enc), h, hlen,
                      (char)('C' + d), cl->session_id, cl->sid_len, key[d],
                      c->key_len);
        if (m)
            wk_kex_derive(alg, wk_buf_data(&k_enc), wk_buf_used(&k_enc), h,
                          hlen, (char)('E' + d), cl->session_id, cl->sid_len,
                          mk[d], m->key_len);
    }
    assert_int_equal(wk_pkt_dir_set_keys(cl->tx, 1, c, m, key[0], iv[0],
                                         mk[0]),
                     0);
    assert_int_equal(wk_pkt_dir_set_keys(cl->rx, 0, c, m, key[1], iv[1],
                                         mk[1]),
                     0);
    /* Strict kex (negotiated in the first exchange) resets sequence
     * numbers at every NEWKEYS for the rest of the connection. */
    {
        wk_pkt_dir_reset_seq(cl->tx);
        wk_pkt_dir_reset_seq(cl->rx);
    }
    wk_kex_client_free(st);
    wk_buf_free(&q_c);
    wk_buf_free_secret(&k_enc);
    wk_buf_free(&msg);
}

static void service_and_pubkey(client *cl)
{
    wk_buf msg;
    wk_buf_init(&msg, 65536);
    wk_buf_put_u8(&msg, SSH_MSG_SERVICE_REQUEST);
    wk_buf_put_cstring(&msg, "ssh-userauth");
    assert_int_equal(send_payload(cl, &msg), 0);
    expect(cl, SSH_MSG_SERVICE_ACCEPT);
    assert_true(cl->got_ext_info);

    wk_buf_reset(&msg);
    wk_buf_put_u8(&msg, SSH_MSG_USERAUTH_REQUEST);
    wk_buf_put_cstring(&msg, "alice");
    wk_buf_put_cstring(&msg, "ssh-connection");
    wk_buf_put_cstring(&msg, "none");
    assert_int_equal(send_payload(cl, &msg), 0);
    expect(cl, SSH_MSG_USERAUTH_FAILURE);
    assert_memory_equal(cl->payload + 5, "publickey,password", 18);

    /* publickey with a signature over the RFC 4252 section 7 bytes. */
    size_t blob_len;
    const uint8_t *blob = whelk_key_blob(cl->user_key, &blob_len);
    wk_buf sd;
    wk_buf_init(&sd, 65536);
    wk_buf_put_string(&sd, cl->session_id, cl->sid_len);
    wk_buf_put_u8(&sd, SSH_MSG_USERAUTH_REQUEST);
    wk_buf_put_cstring(&sd, "alice");
    wk_buf_put_cstring(&sd, "ssh-connection");
    wk_buf_put_cstring(&sd, "publickey");
    wk_buf_put_bool(&sd, 1);
    wk_buf_put_cstring(&sd, "ssh-ed25519");
    wk_buf_put_string(&sd, blob, blob_len);
    wk_buf_reset(&msg);
    wk_buf_put(&msg, wk_buf_data(&sd) + 4 + cl->sid_len,
               wk_buf_used(&sd) - 4 - cl->sid_len);
    assert_int_equal(wk_key_sign(cl->user_key, "ssh-ed25519", wk_buf_data(&sd),
                                 wk_buf_used(&sd), &msg),
                     0);
    assert_int_equal(send_payload(cl, &msg), 0);
    expect(cl, SSH_MSG_USERAUTH_SUCCESS);
    assert_true(cl->authed);
    assert_string_equal(whelk_conn_user_name(cl->conn), "alice");
    wk_buf_free(&sd);
    wk_buf_free(&msg);
}

static const char *const ciphers[] = {
    "chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr"};
static const char *const macs[] = {
    "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256", "hmac-sha2-512"};
static const char *const kexes[] = {
    "curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256",
    "diffie-hellman-group14-sha256", "diffie-hellman-group16-sha512",
    "mlkem768x25519-sha256", "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com"};

static void test_every_cipher_and_mac(void **state)
{
    for (size_t i = 0; i < sizeof(ciphers) / sizeof(*ciphers); i++) {
        for (size_t j = 0; j < sizeof(macs) / sizeof(*macs); j++) {
            client cl;
            client_init(&cl);
            exchange(&cl, "curve25519-sha256", ciphers[i], macs[j], 1);
            service_and_pubkey(&cl);
            assert_string_equal(whelk_conn_algorithm(cl.conn, WHELK_ALG_CIPHER_S2C),
                                ciphers[i]);
            client_free(&cl);
        }
    }
}

static void test_wrong_guess_dropped(void **state)
{
    client cl;
    client_init(&cl);
    wrong_guess = 1;
    exchange(&cl, "curve25519-sha256", "aes128-gcm@openssh.com",
             "hmac-sha2-256", 1);
    wrong_guess = 0;
    service_and_pubkey(&cl);
    client_free(&cl);
}

static void test_every_kex(void **state)
{
    for (size_t i = 0; i < sizeof(kexes) / sizeof(*kexes); i++) {
        client cl;
        client_init(&cl);
        exchange(&cl, kexes[i], "aes128-gcm@openssh.com",
                 "hmac-sha2-256", 1);
        service_and_pubkey(&cl);
        assert_string_equal(whelk_conn_algorithm(cl.conn, WHELK_ALG_KEX), kexes[i]);
        client_free(&cl);
    }
}

static void keepalive_roundtrip(client *cl)
{
    wk_buf msg;
    wk_buf_init(&msg, 1024);
    wk_buf_put_u8(&msg, SSH_MSG_GLOBAL_REQUEST);
    wk_buf_put_cstring(&msg, "keepalive@openssh.com");
    wk_buf_put_bool(&msg, 1);
    assert_int_equal(send_payload(cl, &msg), 0);
    expect(cl, SSH_MSG_REQUEST_FAILURE);
    wk_buf_free(&msg);
}

/* Rekeys started by either side in the middle of a session: the server
 * keeps talking under the new keys and reports the new algorithms. */
static void test_rekey_both_ways(void **state)
{
    client cl;
    client_init(&cl);
    exchange(&cl, "curve25519-sha256", "chacha20-poly1305@openssh.com",
             "hmac-sha2-256", 1);
    service_and_pubkey(&cl);
    assert_int_equal(whelk_conn_rekey(cl.conn, 20), 0);
    exchange(&cl, "ecdh-sha2-nistp256", "aes256-ctr", "hmac-sha2-512", 0);
    keepalive_roundtrip(&cl);
    assert_string_equal(whelk_conn_algorithm(cl.conn, WHELK_ALG_KEX),
                        "ecdh-sha2-nistp256");
    exchange(&cl, "diffie-hellman-group14-sha256", "aes128-gcm@openssh.com",
             "hmac-sha2-256", 2);
    keepalive_roundtrip(&cl);
    /* A rekey uses the hybrid again, with fresh keys. */
    exchange(&cl, "mlkem768x25519-sha256", "aes128-gcm@openssh.com",
             "hmac-sha2-256", 2);
    keepalive_roundtrip(&cl);
    exchange(&cl, "sntrup761x25519-sha512", "aes128-gcm@openssh.com",
             "hmac-sha2-256", 2);
    keepalive_roundtrip(&cl);
    assert_string_equal(whelk_conn_algorithm(cl.conn, WHELK_ALG_KEX),
                        "sntrup761x25519-sha512");
    assert_string_equal(whelk_conn_algorithm(cl.conn, WHELK_ALG_CIPHER_S2C),
                        "aes128-gcm@openssh.com");
    client_free(&cl);
}

/* Before authentication a client may not start another key exchange:
 * each round would cost the server modexps and a signature for free. */
static void test_rekey_before_auth_refused(void **state)
{
    client cl;
    client_init(&cl);
    exchange(&cl, "curve25519-sha256", "aes128-gcm@openssh.com",
             "hmac-sha2-256", 1);
    wk_buf msg;
    wk_buf_init(&msg, 8192);
    wk_buf_put_u8(&msg, SSH_MSG_SERVICE_REQUEST);
    wk_buf_put_cstring(&msg, "ssh-userauth");
    assert_int_equal(send_payload(&cl, &msg), 0);
    expect(&cl, SSH_MSG_SERVICE_ACCEPT);
    const char *lists[WK_KEXL_COUNT] = {
        "diffie-hellman-group16-sha512", "ssh-ed25519", "aes128-ctr",
        "aes128-ctr", "hmac-sha2-256", "hmac-sha2-256", "none", "none", "",
        ""};
    wk_buf_reset(&msg);
    assert_int_equal(wk_kexinit_build(&msg, lists, test_rand, NULL), 0);
    assert_true(whelk_err_is_fatal(send_payload(&cl, &msg)));
    assert_true(whelk_conn_is_closed(cl.conn));
    expect(&cl, SSH_MSG_DISCONNECT);
    assert_int_equal(wk_load_u32(cl.payload + 1),
                     WHELK_DISCONNECT_PROTOCOL_ERROR);
    wk_buf_free(&msg);
    client_free(&cl);
}

/* Reads in place: a stream that fills every offer is offered more room
 * (up to 256 KiB) so whelkd reads more packets per wakeup; a short read
 * goes back to 64 KiB, and an emptied buffer is freed. Every packet of the
 * stream is still decoded (the keepalive after it is answered). */
static void test_in_place_reads_grow_with_a_stream(void **state)
{
    client cl;
    client_init(&cl);
    exchange(&cl, "curve25519-sha256", "aes128-gcm@openssh.com",
             "hmac-sha2-256", 1);
    service_and_pubkey(&cl);
    wk_buf stream, pkt, msg;
    wk_buf_init(&stream, 4u << 20);
    wk_buf_init(&msg, 40000);
    static uint8_t filler[32768];
    for (int i = 0; i < 64; i++) { /* 64 IGNOREs of 32 KiB: 2 MiB */
        wk_buf_reset(&msg);
        wk_buf_put_u8(&msg, SSH_MSG_IGNORE);
        wk_buf_put_string(&msg, filler, sizeof(filler));
        seal(&cl, &msg, &stream);
    }
    size_t max_offer = 0, last = 0;
    assert_int_equal(feed_in_place(&cl, wk_buf_data(&stream),
                                   wk_buf_used(&stream), &max_offer, &last),
                     0);
    assert_true(max_offer >= 256 * 1024);
    assert_true(max_offer <= 512 * 1024);
    /* A short read (one keepalive) is answered and drops the offer. */
    wk_buf_reset(&msg);
    wk_buf_put_u8(&msg, SSH_MSG_GLOBAL_REQUEST);
    wk_buf_put_cstring(&msg, "keepalive@openssh.com");
    wk_buf_put_bool(&msg, 1);
    wk_buf_init(&pkt, 1u << 20);
    seal(&cl, &msg, &pkt);
    max_offer = 0;
    assert_int_equal(feed_in_place(&cl, wk_buf_data(&pkt), wk_buf_used(&pkt),
                                   &max_offer, &last),
                     0);
    expect(&cl, SSH_MSG_REQUEST_FAILURE);
    uint8_t *space;
    assert_int_equal(whelk_conn_recv_space(cl.conn, &space), 64 * 1024);
    wk_buf_free(&pkt);
    wk_buf_free(&msg);
    wk_buf_free(&stream);
    client_free(&cl);
}

/* Terrapin: an IGNORE slipped in before NEWKEYS under strict kex. */
static void test_strict_kex_rejects_injection(void **state)
{
    client cl;
    client_init(&cl);
    read_version(&cl);
    feed(&cl, V_C "\r\n", strlen(V_C) + 2);
    expect(&cl, SSH_MSG_KEXINIT);
    const char *lists[WK_KEXL_COUNT] = {
        "curve25519-sha256,kex-strict-c-v00@openssh.com",
        "ssh-ed25519", "aes128-ctr", "aes128-ctr", "hmac-sha2-256",
        "hmac-sha2-256", "none", "none", "", ""};
    wk_buf msg;
    wk_buf_init(&msg, 8192);
    wk_kexinit_build(&msg, lists, test_rand, NULL);
    assert_int_equal(send_payload(&cl, &msg), 0);
    wk_buf_reset(&msg);
    wk_buf_put_u8(&msg, SSH_MSG_IGNORE);
    wk_buf_put_cstring(&msg, "x");
    assert_true(send_payload(&cl, &msg) < 0);
    assert_true(whelk_conn_is_closed(cl.conn));
    wk_buf_free(&msg);
    client_free(&cl);
}

static void test_bad_mac_and_length(void **state)
{
    for (int variant = 0; variant < 2; variant++) {
        client cl;
        client_init(&cl);
        exchange(&cl, "curve25519-sha256", "aes128-ctr", "hmac-sha2-256", 1);
        wk_buf pkt, msg;
        wk_buf_init(&pkt, 65536);
        wk_buf_init(&msg, 1024);
        if (variant == 0) {
            wk_buf_put_u8(&msg, SSH_MSG_SERVICE_REQUEST);
            wk_buf_put_cstring(&msg, "ssh-userauth");
            size_t start = wk_pkt_begin(&pkt);
            wk_buf_put(&pkt, wk_buf_data(&msg), wk_buf_used(&msg));
            wk_pkt_end(cl.tx, &pkt, start, test_rand, NULL);
            wk_buf_data(&pkt)[wk_buf_used(&pkt) - 1] ^= 0x10;
        } else {
            static const uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff};
            wk_buf_put(&pkt, huge, sizeof(huge));
        }
        assert_true(feed(&cl, wk_buf_data(&pkt), wk_buf_used(&pkt)) < 0);
        assert_true(whelk_conn_is_closed(cl.conn));
        /* The DISCONNECT carries the matching reason. */
        if (variant == 0) {
            expect(&cl, SSH_MSG_DISCONNECT);
            assert_int_equal(wk_load_u32(cl.payload + 1),
                             WHELK_DISCONNECT_MAC_ERROR);
        }
        wk_buf_free(&pkt);
        wk_buf_free(&msg);
        client_free(&cl);
    }
}

static void test_garbage_version(void **state)
{
    client cl;
    client_init(&cl);
    const char *junk = "GET / HTTP/1.1\r\n\r\n";
    assert_true(feed(&cl, junk, strlen(junk)) < 0);
    assert_true(whelk_conn_is_closed(cl.conn));
    client_free(&cl);

    client_init(&cl);
    char longline[400];
    memset(longline, 'a', sizeof(longline));
    memcpy(longline, "SSH-2.0-", 8);
    assert_true(feed(&cl, longline, sizeof(longline)) < 0);
    client_free(&cl);

    client_init(&cl);
    assert_true(feed(&cl, "SSH-1.5-old\r\n", 13) < 0);
    client_free(&cl);
}

static void test_auth_failures_limit(void **state)
{
    client cl;
    client_init(&cl);
    exchange(&cl, "curve25519-sha256", "aes128-gcm@openssh.com",
             "hmac-sha2-256", 1);
    wk_buf msg;
    wk_buf_init(&msg, 1024);
    wk_buf_put_u8(&msg, SSH_MSG_SERVICE_REQUEST);
    wk_buf_put_cstring(&msg, "ssh-userauth");
    send_payload(&cl, &msg);
    expect(&cl, SSH_MSG_SERVICE_ACCEPT);
    uint64_t now = 100;
    for (int attempt = 1; attempt <= 7; attempt++) {
        wk_buf_reset(&msg);
        wk_buf_put_u8(&msg, SSH_MSG_USERAUTH_REQUEST);
        wk_buf_put_cstring(&msg, "alice");
        wk_buf_put_cstring(&msg, "ssh-connection");
        wk_buf_put_cstring(&msg, "password");
        wk_buf_put_bool(&msg, 0);
        wk_buf_put_cstring(&msg, "wrong");
        send_payload(&cl, &msg);
        if (attempt == 7) break;
        /* The failure waits for the delay, then arrives. */
        assert_false(next_packet(&cl));
        assert_true(whelk_conn_expiry(cl.conn) <= now + 200);
        now += 200;
        assert_int_equal(whelk_conn_handle_expiry(cl.conn, now), 0);
        expect(&cl, SSH_MSG_USERAUTH_FAILURE);
    }
    assert_true(whelk_conn_is_closed(cl.conn));
    expect(&cl, SSH_MSG_DISCONNECT);
    assert_int_equal(wk_load_u32(cl.payload + 1),
                     WHELK_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE);
    assert_true(cl.log_max_tries);
    wk_buf_free(&msg);
    client_free(&cl);
}

static void test_password_ok_and_grace(void **state)
{
    client cl;
    client_init(&cl);
    exchange(&cl, "curve25519-sha256", "aes128-gcm@openssh.com",
             "hmac-sha2-256", 1);
    wk_buf msg;
    wk_buf_init(&msg, 1024);
    wk_buf_put_u8(&msg, SSH_MSG_SERVICE_REQUEST);
    wk_buf_put_cstring(&msg, "ssh-userauth");
    send_payload(&cl, &msg);
    expect(&cl, SSH_MSG_SERVICE_ACCEPT);
    wk_buf_reset(&msg);
    wk_buf_put_u8(&msg, SSH_MSG_USERAUTH_REQUEST);
    wk_buf_put_cstring(&msg, "bob");
    wk_buf_put_cstring(&msg, "ssh-connection");
    wk_buf_put_cstring(&msg, "password");
    wk_buf_put_bool(&msg, 0);
    wk_buf_put_cstring(&msg, "right");
    send_payload(&cl, &msg);
    expect(&cl, SSH_MSG_USERAUTH_SUCCESS);
    /* Once logged in, the login grace timer no longer applies. */
    assert_int_equal(whelk_conn_handle_expiry(cl.conn, 10000000), 0);
    assert_false(whelk_conn_is_closed(cl.conn));
    wk_buf_free(&msg);
    client_free(&cl);

    client_init(&cl);
    feed(&cl, V_C "\r\n", strlen(V_C) + 2);
    assert_int_equal(whelk_conn_handle_expiry(cl.conn, 119000), 0);
    assert_true(whelk_conn_handle_expiry(cl.conn, 120000) < 0);
    assert_true(whelk_conn_is_closed(cl.conn));
    client_free(&cl);
}

/* A password the client sent is decrypted in place in the engine's input
 * buffer; neither freeing that buffer nor growing it may leave it in
 * freed memory. */
static void test_password_wiped_from_input(void **state)
{
    static const char pw[] = "marker-Tr0ub4dor&3-marker";
    client cl;
    client_init(&cl);
    exchange(&cl, "curve25519-sha256", "aes128-gcm@openssh.com",
             "hmac-sha2-256", 1);
    wk_buf msg;
    wk_buf_init(&msg, 1u << 20);
    wk_buf_put_u8(&msg, SSH_MSG_SERVICE_REQUEST);
    wk_buf_put_cstring(&msg, "ssh-userauth");
    assert_int_equal(send_payload(&cl, &msg), 0);
    expect(&cl, SSH_MSG_SERVICE_ACCEPT);
    /* The test's own plaintext buffer never moves. */
    assert_int_equal(wk_buf_reserve(&msg, 200000), 0);
    free_marker = pw;
    /* Alone, then behind a large IGNORE so that the input buffer grows
     * while the password packet sits in it. */
    for (int round = 0; round < 2; round++) {
        wk_buf pkt;
        wk_buf_init(&pkt, 1u << 20);
        wk_buf_reset(&msg);
        wk_buf_put_u8(&msg, SSH_MSG_USERAUTH_REQUEST);
        wk_buf_put_cstring(&msg, "bob");
        wk_buf_put_cstring(&msg, "ssh-connection");
        wk_buf_put_cstring(&msg, "password");
        wk_buf_put_bool(&msg, 0);
        wk_buf_put_cstring(&msg, pw);
        seal(&cl, &msg, &pkt);
        if (round == 1) {
            wk_buf_reset(&msg);
            wk_buf_put_u8(&msg, SSH_MSG_IGNORE);
            uint8_t *fill = wk_buf_extend(&msg, 100000);
            memset(fill, 'i', 100000);
            seal(&cl, &msg, &pkt);
        }
        /* In two pieces: the password waits in the buffer once. */
        size_t half = wk_buf_used(&pkt) / 2;
        assert_int_equal(feed(&cl, wk_buf_data(&pkt), half), 0);
        assert_int_equal(feed(&cl, wk_buf_data(&pkt) + half,
                              wk_buf_used(&pkt) - half), 0);
        wk_buf_free_secret(&pkt); /* the test's own copies */
        assert_int_equal(whelk_conn_handle_expiry(cl.conn, 100000), 0);
        expect(&cl, SSH_MSG_USERAUTH_FAILURE);
    }
    wk_buf_free_secret(&msg);
    whelk_conn_free(cl.conn);
    cl.conn = NULL;
    free_marker = NULL;
    assert_int_equal(marker_left_behind, 0);
    client_free(&cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_cipher_and_mac),
        cmocka_unit_test(test_every_kex),
        cmocka_unit_test(test_wrong_guess_dropped),
        cmocka_unit_test(test_rekey_both_ways),
        cmocka_unit_test(test_rekey_before_auth_refused),
        cmocka_unit_test(test_in_place_reads_grow_with_a_stream),
        cmocka_unit_test(test_strict_kex_rejects_injection),
        cmocka_unit_test(test_bad_mac_and_length),
        cmocka_unit_test(test_garbage_version),
        cmocka_unit_test(test_auth_failures_limit),
        cmocka_unit_test(test_password_ok_and_grace),
        cmocka_unit_test(test_password_wiped_from_input),
    };
    return cmocka_run_group_tests_name("transport", tests, NULL, NULL);
}
