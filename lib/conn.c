/*
 * conn: a connection's life and the public entry points of the engine:
 * creation in either role and freeing, the input and output the
 * application moves (whelk_conn_recv, whelk_conn_out and friends), the
 * timers (login grace, client alive probes, unused connections, rekey by
 * time), the per-connection settings, accessors, and the core functions
 * the other modules use instead of writing each other's fields: logging
 * a user in, resuming input held for a decision, telling channels
 * whether data may go out.
 */
#include "channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* The next client-alive probe is an interval away, none unanswered. */
static void alive_reset(whelk_conn *c)
{
    uint64_t iv = c->set[WHELK_SET_CLIENT_ALIVE_MS];
    c->alive_unanswered = 0;
    c->alive_due_ms = iv && c->authenticated ? c->now_ms + iv : UINT64_MAX;
}

void wk_conn_peer_active(whelk_conn *c)
{
    if (c->alive_due_ms != UINT64_MAX) alive_reset(c);
}

int wk_conn_set_authenticated(whelk_conn *c, const char *user)
{
    size_t n = strlen(user), esc = 4 * n + 1;
    char *raw = strdup(user), *log = malloc(esc);
    if (!raw || !log) {
        free(raw);
        free(log);
        return WHELK_ERR_NOMEM;
    }
    whelk_escape(log, esc, user, n);
    free(c->user_name);
    free(c->user_log);
    c->user_name = raw;
    c->user_log = log;
    c->authenticated = 1;
    c->auth_ms = c->now_ms;
    alive_reset(c);
    return 0;
}

int wk_conn_set_ident(char **slot, const char *line, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy) return WHELK_ERR_NOMEM;
    memcpy(copy, line, len);
    copy[len] = 0;
    free(*slot);
    *slot = copy;
    return 0;
}

int whelk_conn_disconnect(whelk_conn *conn, int reason,
                          const char *description)
{
    if (conn->state == WK_ST_CLOSED) return 0;
    int sent = conn->state == WK_ST_PACKETS;
    if (sent) wk_send_disconnect(conn, reason, description ? description : "");
    conn->state = WK_ST_CLOSED;
    conn->err = WHELK_ERR_CLOSED;
    whelk_event ev = {.type = WHELK_EVENT_DISCONNECT,
                      .reason = sent ? (uint32_t)reason : 0,
                      .error = WHELK_ERR_CLOSED,
                      .text = description};
    wk_event(conn, &ev);
    return 0;
}

void whelk_conn_peer_closed(whelk_conn *c)
{
    if (c->state == WK_ST_CLOSED) return;
    c->state = WK_ST_CLOSED;
    c->err = WHELK_ERR_CLOSED;
    whelk_event ev = {.type = WHELK_EVENT_PEER_CLOSED};
    wk_event(c, &ev);
}


/* ------------------------------------------------------------------------
 * Creation and the public accessors.
 */

/* What both roles share: buffers, packet directions, settings, the
 * application's callbacks. */
static whelk_conn *conn_new(const whelk_config *cfg, const wk_callbacks *cb,
                            void *user, uint64_t now_ms)
{
    whelk_conn *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->cfg = cfg;
    memcpy(c->set, cfg->set, sizeof(c->set));
    c->start_ms = c->now_ms = now_ms;
    c->cb = *cb;
    c->user = user;
    wk_buf_init_secret(&c->in, WK_IN_MAX);
    wk_buf_init(&c->out, WK_OUT_MAX);
    wk_buf_init_secret(&c->deferred, WK_DEFERRED_MAX);
    wk_buf_init(&c->my_kexinit, 8192);
    wk_buf_init(&c->peer_kexinit, 64 * 1024);
    wk_buf_init(&c->q_c, 4096);
    c->version_deadline = c->grace_deadline = c->rekey_at_ms = UINT64_MAX;
    c->alive_due_ms = UINT64_MAX;
    c->rx = wk_pkt_dir_new();
    c->tx = wk_pkt_dir_new();
    if (!c->rx || !c->tx || wk_chans_init(c) != 0) {
        whelk_conn_free(c);
        return NULL;
    }
    return c;
}

int whelk_conn_server_new(whelk_conn **out, const whelk_config *cfg,
                          const whelk_server_callbacks *cb, void *user,
                          const char *peer_addr, int peer_port,
                          uint64_t now_ms)
{
    if (!out || !cfg || !cb || cfg->n_host_keys == 0) return WHELK_ERR_INVAL;
    whelk_conn *c = conn_new(cfg, &cb->cb, user, now_ms);
    if (!c) return WHELK_ERR_NOMEM;
    snprintf(c->peer_addr, sizeof(c->peer_addr), "%s",
             peer_addr ? peer_addr : "unknown");
    c->peer_port = peer_port;
    const char *ident = wk_transport_ident();
    if (wk_conn_set_ident(&c->v_s, ident, strlen(ident)) != 0) {
        whelk_conn_free(c);
        return WHELK_ERR_NOMEM;
    }
    uint64_t t = c->set[WHELK_SET_VERSION_TIMEOUT_MS];
    if (t) c->version_deadline = now_ms + t;
    t = c->set[WHELK_SET_LOGIN_GRACE_MS];
    if (t) c->grace_deadline = now_ms + t;
    int rc = wk_auth_init(c);
    if (!rc) rc = wk_transport_start(c);
    if (rc) {
        whelk_conn_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int whelk_conn_client_new(whelk_conn **out, const whelk_config *cfg,
                          const whelk_client_callbacks *cb, void *user,
                          const char *user_name, const whelk_key *identity,
                          uint64_t now_ms)
{
    if (!out || !cfg || !cb || !user_name) return WHELK_ERR_INVAL;
    whelk_conn *c = conn_new(cfg, &cb->cb, user, now_ms);
    if (!c) return WHELK_ERR_NOMEM;
    c->is_client = 1;
    c->identity = identity;
    snprintf(c->peer_addr, sizeof(c->peer_addr), "server");
    const char *ident = wk_transport_ident();
    int rc = wk_conn_set_ident(&c->v_c, ident, strlen(ident));
    if (!rc) rc = wk_client_init(c, user_name);
    if (!rc) rc = wk_transport_start(c);
    if (rc) {
        whelk_conn_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void whelk_conn_free(whelk_conn *c)
{
    if (!c) return;
    wk_chans_free(c);
    wk_auth_free(c);
    wk_client_free(c);
    wk_kex_client_free(c->kexc);
    wk_buf_free(&c->q_c);
    wk_pkt_dir_free(c->rx);
    wk_pkt_dir_free(c->tx);
    wk_buf_free_secret(&c->in);
    wk_buf_free(&c->out);
    wk_buf_free_secret(&c->deferred);
    wk_buf_free(&c->my_kexinit);
    wk_buf_free(&c->peer_kexinit);
    wk_kex_reply_free(c);
    OPENSSL_cleanse(c->rx_key, sizeof(c->rx_key));
    OPENSSL_cleanse(c->rx_iv, sizeof(c->rx_iv));
    OPENSSL_cleanse(c->rx_mac, sizeof(c->rx_mac));
    free(c->user_name);
    free(c->user_log);
    free(c->banner);
    free(c->v_c);
    free(c->v_s);
    free(c);
}

int whelk_conn_set(whelk_conn *c, whelk_setting what, uint64_t value)
{
    int rc = wk_setting_check(what, value);
    if (rc) return rc;
    c->set[what] = value;
    /* Deadlines already set follow the new value. */
    if (what == WHELK_SET_LOGIN_GRACE_MS)
        c->grace_deadline = value ? c->start_ms + value : UINT64_MAX;
    if (what == WHELK_SET_CLIENT_ALIVE_MS) alive_reset(c);
    return 0;
}

uint64_t whelk_conn_get(const whelk_conn *c, whelk_setting what)
{
    return (unsigned)what < WHELK_SET_COUNT_ ? c->set[what] : 0;
}

int whelk_conn_set_banner(whelk_conn *c, const char *text)
{
    char *copy = NULL;
    if (text) {
        if (strlen(text) > 64 * 1024) return WHELK_ERR_TOOBIG;
        if (!(copy = strdup(text))) return WHELK_ERR_NOMEM;
    }
    free(c->banner);
    c->banner = copy;
    return 0;
}

const char *wk_conn_banner(const whelk_conn *c)
{
    return c->banner ? c->banner : c->cfg->banner;
}

void *whelk_conn_user(const whelk_conn *c) { return c->user; }
void whelk_conn_set_user(whelk_conn *c, void *user) { c->user = user; }
const char *whelk_conn_peer_addr(const whelk_conn *c) { return c->peer_addr; }
int whelk_conn_peer_port(const whelk_conn *c) { return c->peer_port; }

const char *whelk_conn_peer_version(const whelk_conn *c)
{
    return c->v_c && c->v_c[0] ? c->v_c : NULL;
}

const char *whelk_conn_user_name(const whelk_conn *c)
{
    return c->user_name;
}

const char *whelk_conn_algorithm(const whelk_conn *c, whelk_algorithm which)
{
    const char *v = NULL;
    switch (which) {
    case WHELK_ALG_KEX: v = c->cur_kex; break;
    case WHELK_ALG_HOSTKEY: v = c->cur_hostkey; break;
    case WHELK_ALG_CIPHER_C2S: v = c->cur_cipher[0]; break;
    case WHELK_ALG_CIPHER_S2C: v = c->cur_cipher[1]; break;
    case WHELK_ALG_MAC_C2S: v = c->cur_mac[0]; break;
    case WHELK_ALG_MAC_S2C: v = c->cur_mac[1]; break;
    }
    return v && v[0] ? v : NULL;
}

int whelk_conn_is_closed(const whelk_conn *c)
{
    return c->state == WK_ST_CLOSED;
}

/* Output that makes the engine stop processing and taking input; the
 * peer reading it is what lets the rest through. */

int wk_conn_may_send_data(const whelk_conn *c)
{
    /* During a key exchange data waits in the channel queues, so nothing
     * is reordered and the deferred queue stays small. */
    return c->state == WK_ST_PACKETS && !c->kex_sent_init &&
           wk_buf_used(&c->out) < WK_OUT_HIGH;
}

int wk_conn_out_full(const whelk_conn *c)
{
    return wk_buf_used(&c->out) >=
           (c->authenticated ? WK_OUT_HOLD : WK_OUT_HOLD_PREAUTH);
}

int whelk_conn_want_read(const whelk_conn *c)
{
    if (c->state == WK_ST_CLOSED) return 0;
    /* Back-pressure: stop taking input while output is backed up or a
     * packet is complete but cannot be processed yet. */
    if (wk_conn_out_full(c)) return 0;
    if (wk_conn_input_held(c) && wk_buf_used(&c->in) >= WK_MAX_PACKET_LEN)
        return 0;
    return wk_buf_used(&c->in) < WK_IN_MAX - 65536;
}

size_t whelk_conn_out(whelk_conn *c, const uint8_t **data)
{
    *data = wk_buf_data(&c->out);
    return wk_buf_used(&c->out);
}

/* Idle connections keep no handshake-sized buffers: many idle sessions
 * are the common case on a busy server. Large output buffers of bulk
 * transfers are kept, since re-growing them per write would cost more. */
static void trim_idle(wk_buf *b)
{
    if (wk_buf_used(b) == 0 && b->cap > 0 && b->cap <= 32 * 1024)
        wk_buf_free(b);
}

#define WK_IN_OFFER_MIN (64 * 1024)
#define WK_IN_OFFER_MAX (256 * 1024)

/* Below this a read is not part of a stream (typing, a handshake). */
#define WK_IN_SHORT (16 * 1024)

/* The input buffer holds decrypted packets (passwords among them), so it
 * is wiped whenever it is freed, which is whenever it empties, except in
 * the middle of a stream after login (the last read brought 16 KiB or
 * more): there the next read overwrites it from the start anyway, and
 * wiping and re-allocating it per read costs a stream dearly (a tunnel's
 * upload, whose reads rarely fill the offer, spent 15% of its CPU in
 * OPENSSL_cleanse, page faults and heap trimming). The stream's last,
 * short read frees it; before login every emptying does. */
static void trim_input(whelk_conn *c)
{
    /* For the same reason a streaming buffer's compaction leaves what it
     * vacates to that final wipe. */
    if (c->authenticated && c->in_last >= WK_IN_SHORT)
        wk_buf_wipe_at_free(&c->in);
    if (wk_buf_used(&c->in) == 0 && c->in.cap > 0 &&
        (!c->authenticated || c->in_last < WK_IN_SHORT))
        wk_buf_free(&c->in);
}

void whelk_conn_out_consumed(whelk_conn *c, size_t n)
{
    wk_buf_consume(&c->out, n);
    trim_idle(&c->out);
    /* Room in the output lets blocked channels produce again. */
    if (c->state == WK_ST_PACKETS && c->authenticated && n > 0) {
        int rc = wk_chans_pump(c);
        if (rc && whelk_err_is_fatal(rc) && c->state != WK_ST_CLOSED)
            wk_fatal(c, rc, WHELK_DISCONNECT_BY_APPLICATION, "%s",
                     whelk_strerror(rc));
    }
}


whelk_ssize whelk_conn_recv(whelk_conn *c, const uint8_t *in, size_t len,
                        uint64_t now_ms)
{
    c->now_ms = now_ms;
    if (c->state == WK_ST_CLOSED) return c->err ? c->err : WHELK_ERR_CLOSED;
    size_t room = WK_IN_MAX - wk_buf_used(&c->in);
    size_t take = len < room ? len : room;
    if (take && wk_buf_put(&c->in, in, take) != 0)
        return wk_fatal(c, WHELK_ERR_NOMEM, WHELK_DISCONNECT_BY_APPLICATION,
                        "cannot buffer input");
    c->in_last = take;
    int rc = wk_transport_process(c);
    trim_input(c);
    if (rc && rc != WK_ERR_AGAIN) return wk_end_if_fatal(c, rc);
    return (whelk_ssize)take;
}

/* Reads start at 64 KiB; a read that fills all the room offered means a
 * stream, so the next offer doubles (up to 256 KiB) and the application
 * reads, and the engine decrypts, more packets per wakeup. A short read
 * goes back to the start. The buffer is freed (and wiped) when it empties
 * outside a stream (trim_input). */

size_t whelk_conn_recv_space(whelk_conn *c, uint8_t **buf)
{
    if (c->state == WK_ST_CLOSED) return 0;
    size_t room = WK_IN_MAX - wk_buf_used(&c->in);
    if (c->in_offer < WK_IN_OFFER_MIN) c->in_offer = WK_IN_OFFER_MIN;
    size_t want = room < c->in_offer ? room : c->in_offer;
    if (want < 16384 || wk_buf_reserve(&c->in, want) != 0) return 0;
    *buf = c->in.p + c->in.len;
    return c->in.cap - c->in.len < room ? c->in.cap - c->in.len : room;
}

whelk_ssize whelk_conn_recv_commit(whelk_conn *c, size_t n, uint64_t now_ms)
{
    c->now_ms = now_ms;
    /* The read wrote there whatever happens next. */
    wk_buf_mark_dirty(&c->in, c->in.len + (n < c->in.cap ? n : c->in.cap));
    if (c->state == WK_ST_CLOSED) return c->err ? c->err : WHELK_ERR_CLOSED;
    if (n > c->in.cap - c->in.len) return WHELK_ERR_INVAL;
    if (n >= c->in_offer && c->in_offer < WK_IN_OFFER_MAX)
        c->in_offer *= 2;
    else if (n < c->in_offer / 4)
        c->in_offer = WK_IN_OFFER_MIN;
    c->in.len += n;
    c->in_last = n;
    int rc = wk_transport_process(c);
    trim_input(c);
    if (rc && rc != WK_ERR_AGAIN) return wk_end_if_fatal(c, rc);
    return (whelk_ssize)n;
}


void whelk_conn_set_time(whelk_conn *c, uint64_t now_ms)
{
    if (c && now_ms > c->now_ms) c->now_ms = now_ms;
}

/* sshd's UnusedConnectionTimeout: no channel open for this long after
 * login ends the connection. */
static uint64_t unused_deadline(const whelk_conn *c)
{
    uint64_t limit = c->set[WHELK_SET_UNUSED_TIMEOUT_MS];
    if (!limit) return UINT64_MAX;
    uint64_t since = wk_chans_idle_since(c);
    if (since == UINT64_MAX) return UINT64_MAX;
    if (since < c->auth_ms) since = c->auth_ms;
    return since + limit;
}

/* sshd's ClientAlive: a silent client gets keepalive@openssh.com
 * requests, answered or not; too many unanswered end the connection. */
static int client_alive(whelk_conn *c)
{
    if (c->now_ms < c->alive_due_ms) return 0;
    if (c->alive_unanswered >= c->set[WHELK_SET_CLIENT_ALIVE_COUNT])
        return wk_fatal(c, WHELK_ERR_TIMEOUT, WHELK_DISCONNECT_BY_APPLICATION,
                        "Timeout, client not responding");
    int rc = wk_global_send(c, "keepalive@openssh.com", NULL, 0, 1, 0);
    /* The peer owing many replies is a peer not answering. */
    if (rc == WHELK_ERR_LIMIT)
        return wk_fatal(c, WHELK_ERR_TIMEOUT, WHELK_DISCONNECT_BY_APPLICATION,
                        "Timeout, client not responding");
    if (rc) return rc;
    c->alive_unanswered++;
    c->alive_due_ms = c->now_ms + c->set[WHELK_SET_CLIENT_ALIVE_MS];
    return 0;
}

uint64_t whelk_conn_expiry(const whelk_conn *c)
{
    if (c->state == WK_ST_CLOSED) return UINT64_MAX;
    uint64_t t = c->version_deadline;
    if (!c->authenticated && c->grace_deadline < t) t = c->grace_deadline;
    if (c->kex_count > 0 && c->rekey_at_ms < t) t = c->rekey_at_ms;
    /* Input held for output room can go on now that the output drained:
     * due at once (whelk_conn_handle_expiry processes it). */
    if (c->in_held && !wk_conn_out_full(c) && !wk_conn_input_held(c) && c->now_ms < t)
        t = c->now_ms;
    uint64_t a = wk_auth_expiry(c);
    if (a < t) t = a;
    if (c->authenticated) {
        if (c->alive_due_ms < t) t = c->alive_due_ms;
        uint64_t u = unused_deadline(c), ch = wk_chans_expiry(c);
        if (u < t) t = u;
        if (ch < t) t = ch;
    }
    return t;
}

int whelk_conn_handle_expiry(whelk_conn *c, uint64_t now_ms)
{
    c->now_ms = now_ms;
    if (c->state == WK_ST_CLOSED) return c->err ? c->err : WHELK_ERR_CLOSED;
    if (now_ms >= c->version_deadline)
        return wk_fatal(c, WHELK_ERR_TIMEOUT, 0,
                        "timeout waiting for the identification line");
    if (!c->authenticated && now_ms >= c->grace_deadline) {
        return wk_fatal(c, WHELK_ERR_TIMEOUT,
                        WHELK_DISCONNECT_BY_APPLICATION,
                        "login grace time exceeded");
    }
    int rc = wk_auth_handle_expiry(c, now_ms);
    if (rc) return wk_end_if_fatal(c, rc);
    if (c->authenticated) {
        if (now_ms >= unused_deadline(c))
            return wk_fatal(c, WHELK_ERR_TIMEOUT,
                            WHELK_DISCONNECT_BY_APPLICATION,
                            "unused connection timeout");
        if ((rc = client_alive(c)) != 0) return wk_end_if_fatal(c, rc);
        if ((rc = wk_chans_handle_expiry(c, now_ms)) != 0)
            return wk_end_if_fatal(c, rc);
    }
    /* A delay that ended, or output that drained, may let queued input
     * through. */
    if ((rc = wk_conn_resume_input(c)) != 0) return rc;
    return wk_end_if_fatal(c, wk_kex_maybe_rekey(c));
}

int wk_conn_input_held(const whelk_conn *c)
{
    return c->sign_pending || wk_auth_blocked(c) || wk_global_blocked(c);
}

int wk_conn_resume_input(whelk_conn *c)
{
    if (c->state == WK_ST_CLOSED) return c->err ? c->err : WHELK_ERR_CLOSED;
    if (wk_conn_input_held(c)) return 0;
    int rc = wk_transport_process(c);
    trim_input(c);
    return rc ? wk_end_if_fatal(c, rc) : 0;
}

