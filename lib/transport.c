/*
 * transport: the server side of the SSH transport layer (RFC 4253).
 *
 * It owns the byte streams of a connection: the identification exchange
 * (section 4.2), binary packets (section 6, through cipher.c), key
 * exchange and re-exchange (sections 7 to 9, through kex.c and key.c),
 * service requests (section 10), the generic messages (section 11),
 * OpenSSH's strict key exchange (the Terrapin countermeasure, PROTOCOL
 * section 1.10) and RFC 8308 ext-info. Everything above the transport is
 * handed on by message number: 50..79 to auth.c, 80..127 to channel.c.
 */
#include "conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "key.h"

#define WK_IDENT "SSH-2.0-whelk_" WHELK_VERSION
#define KEX_STRICT_C "kex-strict-c-v00@openssh.com"
#define KEX_STRICT_S "kex-strict-s-v00@openssh.com"

static int send_kexinit(whelk_conn *c);
static void reply_free(whelk_conn *c);

/* ------------------------------------------------------------------------
 * Small shared services.
 */

int wk_rand(whelk_conn *c, uint8_t *out, size_t len)
{
    return c->cfg->rand(out, len, c->cfg->rand_user);
}

void wk_log(whelk_conn *c, int level, const char *fmt, ...)
{
    if (!c->cb.log) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    c->cb.log(c, level, line, c->user);
}

/* The peer sent something: the next client-alive probe is an interval
 * away, and none is unanswered. */
static void alive_reset(whelk_conn *c)
{
    uint64_t iv = c->set[WHELK_SET_CLIENT_ALIVE_MS];
    c->alive_unanswered = 0;
    c->alive_due_ms = iv && c->authenticated ? c->now_ms + iv : UINT64_MAX;
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

/* ------------------------------------------------------------------------
 * Output.
 */

/* Messages that may be sent while keys are being changed (RFC 4253
 * section 7.1): transport generic ones except service requests, and the
 * key exchange itself. */
static int kex_safe_type(uint8_t type)
{
    if (type == SSH_MSG_SERVICE_REQUEST || type == SSH_MSG_SERVICE_ACCEPT)
        return 0;
    return type < 50 && type != SSH_MSG_EXT_INFO;
}

wk_buf *wk_msg_begin(whelk_conn *c, wk_msg *m, uint8_t type)
{
    if (c->state == WK_ST_CLOSED) return NULL;
    if (c->kex_sent_init && !kex_safe_type(type)) {
        /* Held as uint32 length + payload until NEWKEYS has gone out. */
        m->b = &c->deferred;
        m->deferred = 1;
        m->start = wk_buf_used(m->b);
        if (!wk_buf_extend(m->b, 4)) return NULL;
    } else {
        m->b = &c->out;
        m->deferred = 0;
        m->start = wk_pkt_begin(m->b);
    }
    if (wk_buf_put_u8(m->b, type) != 0) {
        wk_buf_truncate(m->b, m->start);
        return NULL;
    }
    return m->b;
}

int wk_msg_end(whelk_conn *c, wk_msg *m)
{
    if (m->deferred) {
        size_t n = wk_buf_used(m->b) - m->start - 4;
        wk_store_u32(wk_buf_data(m->b) + m->start, (uint32_t)n);
        return 0;
    }
    return wk_pkt_end(c->tx, m->b, m->start, c->cfg->rand,
                      c->cfg->rand_user);
}

/* Seals the payloads held during a key change, now under the new keys. */
static int flush_deferred(whelk_conn *c)
{
    wk_reader r;
    wk_reader_init(&r, wk_buf_data(&c->deferred), wk_buf_used(&c->deferred));
    while (wk_reader_left(&r) > 0) {
        const uint8_t *p;
        size_t n;
        int rc = wk_get_string(&r, &p, &n, WK_MAX_PACKET_LEN);
        if (rc) return rc;
        size_t start = wk_pkt_begin(&c->out);
        if ((rc = wk_buf_put(&c->out, p, n)) != 0) return rc;
        rc = wk_pkt_end(c->tx, &c->out, start, c->cfg->rand,
                        c->cfg->rand_user);
        if (rc) return rc;
    }
    wk_buf_reset(&c->deferred);
    return 0;
}

static int send_disconnect(whelk_conn *c, int reason, const char *text)
{
    /* Skip the deferral rules: DISCONNECT may always be sent. */
    size_t start = wk_pkt_begin(&c->out);
    int rc = wk_buf_put_u8(&c->out, SSH_MSG_DISCONNECT);
    if (!rc) rc = wk_buf_put_u32(&c->out, (uint32_t)reason);
    if (!rc) rc = wk_buf_put_cstring(&c->out, text);
    if (!rc) rc = wk_buf_put_cstring(&c->out, "");
    if (!rc)
        rc = wk_pkt_end(c->tx, &c->out, start, c->cfg->rand,
                        c->cfg->rand_user);
    return rc;
}

int wk_fatal(whelk_conn *c, int err, int reason, const char *fmt, ...)
{
    if (c->state == WK_ST_CLOSED) return err;
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    /* Before the version exchange ends there are no packets to speak. */
    if (c->state == WK_ST_PACKETS && reason > 0)
        send_disconnect(c, reason, why);
    else
        reason = 0;
    err = wk_err_public(err);
    c->state = WK_ST_CLOSED;
    c->err = err;
    whelk_event ev = {.type = WHELK_EVENT_DISCONNECT,
                      .reason = (uint32_t)reason,
                      .error = err,
                      .text = why,
                      .peer_version = c->bad_version};
    wk_event(c, &ev);
    return err;
}

/* The DISCONNECT reason for an error that ends the connection. */
static int reason_for(int err)
{
    switch (err) {
    case WHELK_ERR_MAC: return WHELK_DISCONNECT_MAC_ERROR;
    case WHELK_ERR_KEX:
    case WHELK_ERR_NEGOTIATION: return WHELK_DISCONNECT_KEY_EXCHANGE_FAILED;
    case WHELK_ERR_PROTO:
    case WK_ERR_TRUNCATED:
    case WHELK_ERR_TOOBIG: return WHELK_DISCONNECT_PROTOCOL_ERROR;
    }
    /* Our own trouble (memory, a full queue, a callback): not the
     * peer's fault. */
    return WHELK_DISCONNECT_BY_APPLICATION;
}

int wk_end_if_fatal(whelk_conn *c, int rc)
{
    if (rc < 0 && whelk_err_is_fatal(rc) && c->state != WK_ST_CLOSED)
        wk_fatal(c, rc, reason_for(rc), "%s", whelk_strerror(rc));
    return wk_err_public(rc);
}

int whelk_conn_disconnect(whelk_conn *conn, int reason,
                          const char *description)
{
    if (conn->state == WK_ST_CLOSED) return 0;
    int sent = conn->state == WK_ST_PACKETS;
    if (sent) send_disconnect(conn, reason, description ? description : "");
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

static int send_unimplemented(whelk_conn *c, uint32_t seq)
{
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_UNIMPLEMENTED);
    if (!b || wk_buf_put_u32(b, seq)) return WHELK_ERR_NOMEM;
    return wk_msg_end(c, &m);
}

/* ------------------------------------------------------------------------
 * Creation and the public accessors.
 */

int whelk_conn_server_new(whelk_conn **out, const whelk_config *cfg,
                          const whelk_server_callbacks *cb, void *user,
                          const char *peer_addr, int peer_port,
                          uint64_t now_ms)
{
    if (!out || !cfg || !cb || cfg->n_host_keys == 0) return WHELK_ERR_INVAL;
    whelk_conn *c = calloc(1, sizeof(*c));
    if (!c) return WHELK_ERR_NOMEM;
    c->cfg = cfg;
    memcpy(c->set, cfg->set, sizeof(c->set));
    c->start_ms = now_ms;
    c->cb = cb->cb;
    c->user = user;
    snprintf(c->peer_addr, sizeof(c->peer_addr), "%s",
             peer_addr ? peer_addr : "unknown");
    c->peer_port = peer_port;
    c->now_ms = now_ms;
    wk_buf_init_secret(&c->in, WK_IN_MAX);
    wk_buf_init(&c->out, WK_OUT_MAX);
    wk_buf_init_secret(&c->deferred, WK_DEFERRED_MAX);
    wk_buf_init(&c->my_kexinit, 8192);
    wk_buf_init(&c->peer_kexinit, 64 * 1024);
    snprintf(c->v_s, sizeof(c->v_s), "%s", WK_IDENT);
    c->rx = wk_pkt_dir_new();
    c->tx = wk_pkt_dir_new();
    int rc = WHELK_ERR_NOMEM;
    if (!c->rx || !c->tx) goto fail;
    if ((rc = wk_auth_init(c)) != 0) goto fail;
    if ((rc = wk_chans_init(c)) != 0) goto fail;
    uint64_t t = c->set[WHELK_SET_VERSION_TIMEOUT_MS];
    c->version_deadline = t ? now_ms + t : UINT64_MAX;
    t = c->set[WHELK_SET_LOGIN_GRACE_MS];
    c->grace_deadline = t ? now_ms + t : UINT64_MAX;
    c->rekey_at_ms = UINT64_MAX;
    /* Our identification and KEXINIT leave in one flight, before the
     * client's line arrives: one round trip fewer. */
    if ((rc = wk_buf_put(&c->out, WK_IDENT "\r\n", strlen(WK_IDENT) + 2)))
        goto fail;
    if ((rc = send_kexinit(c)) != 0) goto fail;
    *out = c;
    return 0;
fail:
    whelk_conn_free(c);
    return rc;
}

int whelk_conn_client_new(whelk_conn **out, const whelk_config *cfg,
                          const whelk_client_callbacks *cb, void *user,
                          const char *user_name, const whelk_key *identity,
                          uint64_t now_ms)
{
    if (!out || !cfg || !cb || !user_name) return WHELK_ERR_INVAL;
    whelk_conn *c = calloc(1, sizeof(*c));
    if (!c) return WHELK_ERR_NOMEM;
    c->is_client = 1;
    c->cfg = cfg;
    memcpy(c->set, cfg->set, sizeof(c->set));
    c->start_ms = now_ms;
    c->cb = cb->cb;
    c->user = user;
    c->identity = identity;
    snprintf(c->peer_addr, sizeof(c->peer_addr), "server");
    c->now_ms = now_ms;
    wk_buf_init_secret(&c->in, WK_IN_MAX);
    wk_buf_init(&c->out, WK_OUT_MAX);
    wk_buf_init_secret(&c->deferred, WK_DEFERRED_MAX);
    wk_buf_init(&c->my_kexinit, 8192);
    wk_buf_init(&c->peer_kexinit, 64 * 1024);
    wk_buf_init(&c->q_c, 4096);
    snprintf(c->v_c, sizeof(c->v_c), "%s", WK_IDENT);
    c->rx = wk_pkt_dir_new();
    c->tx = wk_pkt_dir_new();
    c->version_deadline = c->grace_deadline = c->rekey_at_ms = UINT64_MAX;
    int rc = WHELK_ERR_NOMEM;
    if (!c->rx || !c->tx) goto fail;
    if ((rc = wk_chans_init(c)) != 0) goto fail;
    if ((rc = wk_client_init(c, user_name)) != 0) goto fail;
    if ((rc = wk_buf_put(&c->out, WK_IDENT "\r\n", strlen(WK_IDENT) + 2)))
        goto fail;
    if ((rc = send_kexinit(c)) != 0) goto fail;
    *out = c;
    return 0;
fail:
    whelk_conn_free(c);
    return rc;
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
    reply_free(c);
    OPENSSL_cleanse(c->rx_key, sizeof(c->rx_key));
    OPENSSL_cleanse(c->rx_iv, sizeof(c->rx_iv));
    OPENSSL_cleanse(c->rx_mac, sizeof(c->rx_mac));
    free(c->user_name);
    free(c->user_log);
    free(c->banner);
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
    return c->v_c[0] ? c->v_c : NULL;
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
static int out_full(const whelk_conn *c)
{
    return wk_buf_used(&c->out) >=
           (c->authenticated ? WK_OUT_HOLD : WK_OUT_HOLD_PREAUTH);
}

int whelk_conn_want_read(const whelk_conn *c)
{
    if (c->state == WK_ST_CLOSED) return 0;
    /* Back-pressure: stop taking input while output is backed up or a
     * packet is complete but cannot be processed yet. */
    if (out_full(c)) return 0;
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

/* The input buffer holds decrypted packets (passwords among them), so it
 * is wiped whenever it is freed, which is whenever it empties, except in
 * the middle of a stream (the last read filled a grown offer): there the
 * next read overwrites it from the start anyway, and wiping 256 KiB per
 * read would cost an upload about 6% more CPU (69 ms per GiB measured
 * for OPENSSL_cleanse alone). The stream's last, short read frees it. */
static void trim_input(whelk_conn *c)
{
    if (wk_buf_used(&c->in) == 0 && c->in.cap > 0 &&
        c->in_offer <= WK_IN_OFFER_MIN)
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

/* ------------------------------------------------------------------------
 * Key exchange.
 */

/* The host key algorithms a server offers: those of its keys, in the
 * order of the configured list (HostKeyAlgorithms) when there is one. */
static void server_hostkey_algs(const whelk_config *cfg, char *out,
                                size_t size)
{
    const char *order = cfg->hostkey_algs ? cfg->hostkey_algs
                                          : wk_key_all_sig_algs();
    size_t pos = 0, nl, o = 0;
    const uint8_t *name;
    out[0] = 0;
    while (wk_namelist_next((const uint8_t *)order, strlen(order), &pos,
                            &name, &nl)) {
        for (unsigned i = 0; i < cfg->n_host_keys; i++) {
            const char *algs = wk_key_sig_algs(cfg->host_keys[i]);
            char one[64];
            if (nl >= sizeof(one)) break;
            memcpy(one, name, nl);
            one[nl] = 0;
            if (!wk_namelist_has((const uint8_t *)algs, strlen(algs), one))
                continue;
            if (o + nl + 2 > size) return;
            if (o) out[o++] = ',';
            memcpy(out + o, one, nl + 1);
            o += nl;
            break;
        }
    }
}

static int send_kexinit(whelk_conn *c)
{
    const whelk_config *cfg = c->cfg;
    char kex[1024], hostkeys[256] = "";
    snprintf(kex, sizeof(kex), "%s,%s,%s",
             cfg->kex ? cfg->kex : wk_kex_default_list,
             c->is_client ? "ext-info-c" : "ext-info-s",
             c->is_client ? KEX_STRICT_C : KEX_STRICT_S);
    if (c->is_client)
        snprintf(hostkeys, sizeof(hostkeys), "%s",
                 cfg->hostkey_algs ? cfg->hostkey_algs : wk_key_all_sig_algs());
    else
        server_hostkey_algs(cfg, hostkeys, sizeof(hostkeys));
    const char *ciphers = cfg->ciphers ? cfg->ciphers : wk_cipher_default_list;
    const char *macs = cfg->macs ? cfg->macs : wk_mac_default_list;
    const char *lists[WK_KEXL_COUNT] = {kex,    hostkeys, ciphers, ciphers,
                                        macs,   macs,     "none",  "none",
                                        "",     ""};
    wk_buf_reset(&c->my_kexinit);
    int rc = wk_kexinit_build(&c->my_kexinit, lists, cfg->rand,
                              cfg->rand_user);
    if (rc) return rc;
    size_t start = wk_pkt_begin(&c->out);
    rc = wk_buf_put(&c->out, wk_buf_data(&c->my_kexinit),
                    wk_buf_used(&c->my_kexinit));
    if (!rc)
        rc = wk_pkt_end(c->tx, &c->out, start, cfg->rand, cfg->rand_user);
    if (rc) return rc;
    c->kex_sent_init = 1;
    c->kex_phase = WK_KEX_STARTED;
    return 0;
}

static const whelk_key *find_hostkey(const whelk_conn *c, const char *alg)
{
    for (unsigned i = 0; i < c->cfg->n_host_keys; i++) {
        const whelk_key *k = c->cfg->host_keys[i];
        if (wk_namelist_has((const uint8_t *)wk_key_sig_algs(k),
                            strlen(wk_key_sig_algs(k)), alg))
            return k;
    }
    return NULL;
}

/* Picks the algorithms from the client's and our KEXINIT. */
static int negotiate(whelk_conn *c, const wk_kexinit *peer)
{
    wk_kexinit ours, cl_ki, sv_ki;
    int rc = wk_kexinit_parse(wk_buf_data(&c->my_kexinit),
                              wk_buf_used(&c->my_kexinit), &ours);
    if (rc) return rc;
    /* RFC 4253 7.1: the client's preference decides, whoever we are. */
    cl_ki = c->is_client ? ours : *peer;
    sv_ki = c->is_client ? *peer : ours;
    const wk_kexinit *ki = &cl_ki, *mine_p = &sv_ki;
#define mine (*mine_p)
    const char *what = "key exchange";
    rc = wk_negotiate(ki->list[WK_KEXL_KEX], ki->list_len[WK_KEXL_KEX],
                      mine.list[WK_KEXL_KEX], mine.list_len[WK_KEXL_KEX],
                      c->kex_name, sizeof(c->kex_name));
    /* The markers are not methods: a client listing only them has none. */
    if (!rc && !(c->kex = wk_kex_find(c->kex_name, strlen(c->kex_name))))
        rc = WHELK_ERR_NEGOTIATION;
    if (rc) goto fail;
    what = "host key";
    rc = wk_negotiate(ki->list[WK_KEXL_HOSTKEY],
                      ki->list_len[WK_KEXL_HOSTKEY],
                      mine.list[WK_KEXL_HOSTKEY],
                      mine.list_len[WK_KEXL_HOSTKEY], c->hostkey_alg,
                      sizeof(c->hostkey_alg));
    if (!rc && !c->is_client &&
        !(c->hostkey = find_hostkey(c, c->hostkey_alg)))
        rc = WHELK_ERR_NEGOTIATION;
    if (rc) goto fail;
    for (int d = 0; d < 2; d++) {
        char name[64];
        what = d ? "server to client cipher" : "client to server cipher";
        rc = wk_negotiate(ki->list[WK_KEXL_ENC_C2S + d],
                          ki->list_len[WK_KEXL_ENC_C2S + d],
                          mine.list[WK_KEXL_ENC_C2S + d],
                          mine.list_len[WK_KEXL_ENC_C2S + d], name,
                          sizeof(name));
        if (rc) goto fail;
        c->enc[d] = wk_cipher_find(name, strlen(name));
        if (!c->enc[d]) { rc = WHELK_ERR_NEGOTIATION; goto fail; }
        c->mac[d] = NULL;
        if (c->enc[d]->tag_len == 0) {
            what = d ? "server to client MAC" : "client to server MAC";
            rc = wk_negotiate(ki->list[WK_KEXL_MAC_C2S + d],
                              ki->list_len[WK_KEXL_MAC_C2S + d],
                              mine.list[WK_KEXL_MAC_C2S + d],
                              mine.list_len[WK_KEXL_MAC_C2S + d], name,
                              sizeof(name));
            if (rc) goto fail;
            c->mac[d] = wk_mac_find(name, strlen(name));
            if (!c->mac[d]) { rc = WHELK_ERR_NEGOTIATION; goto fail; }
        }
        what = "compression";
        if (!wk_namelist_has(peer->list[WK_KEXL_COMP_C2S + d],
                             peer->list_len[WK_KEXL_COMP_C2S + d], "none")) {
            rc = WHELK_ERR_NEGOTIATION;
            goto fail;
        }
    }
#undef mine
    return 0;
fail:
    if (rc == WHELK_ERR_NEGOTIATION) {
        char theirs[256];
        int idx = !strcmp(what, "key exchange") ? WK_KEXL_KEX
                  : !strcmp(what, "host key")   ? WK_KEXL_HOSTKEY
                                                : -1;
        if (idx >= 0)
            whelk_escape(theirs, sizeof(theirs), ki->list[idx],
                      ki->list_len[idx]);
        else
            snprintf(theirs, sizeof(theirs), "(see client KEXINIT)");
        return wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "no matching %s method found. Their offer: %s",
                        what, theirs);
    }
    return wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                    "bad KEXINIT: %s", whelk_strerror(rc));
}

static int same_first_name(const uint8_t *a, size_t an, const uint8_t *b,
                           size_t bn)
{
    const uint8_t *x, *y;
    size_t xl, yl, pa = 0, pb = 0;
    return wk_namelist_next(a, an, &pa, &x, &xl) &&
           wk_namelist_next(b, bn, &pb, &y, &yl) && xl > 0 && xl == yl &&
           memcmp(x, y, xl) == 0;
}

/* RFC 4253 section 7: the peer guessed right only when both sides list
 * the same kex method first and the same host key algorithm first. The
 * negotiated names are not the test: a client whose first method is
 * merely the one negotiated (the server preferring another) considers
 * its guess wrong and sends the packet again, as OpenSSH and Dropbear
 * do. */
static int guess_is_right(const whelk_conn *c, const wk_kexinit *peer)
{
    wk_kexinit mine;
    if (wk_kexinit_parse(wk_buf_data(&c->my_kexinit),
                         wk_buf_used(&c->my_kexinit), &mine) != 0)
        return 0;
    return same_first_name(mine.list[WK_KEXL_KEX], mine.list_len[WK_KEXL_KEX],
                           peer->list[WK_KEXL_KEX],
                           peer->list_len[WK_KEXL_KEX]) &&
           same_first_name(mine.list[WK_KEXL_HOSTKEY],
                           mine.list_len[WK_KEXL_HOSTKEY],
                           peer->list[WK_KEXL_HOSTKEY],
                           peer->list_len[WK_KEXL_HOSTKEY]);
}

static int client_send_kex_value(whelk_conn *c);

static int on_kexinit(whelk_conn *c, const uint8_t *p, size_t n)
{
    if (c->kex_got_init)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "KEXINIT during key exchange");
    /* A client that has not logged in gets one key exchange: each more
     * would cost us modexps and a host key signature and it nothing. */
    if (!c->is_client && c->kex_count > 0 && !c->authenticated)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "key re-exchange before authentication refused");
    wk_kexinit ki;
    int rc = wk_kexinit_parse(p, n, &ki);
    if (rc)
        return wk_fatal(c, rc, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed KEXINIT: %s", whelk_strerror(rc));
    wk_buf_reset(&c->peer_kexinit);
    if ((rc = wk_buf_put(&c->peer_kexinit, p, n)) != 0)
        return wk_fatal(c, rc, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "KEXINIT too large");
    c->kex_got_init = 1;
    if (c->kex_count == 0) {
        c->strict = wk_namelist_has(ki.list[WK_KEXL_KEX],
                                    ki.list_len[WK_KEXL_KEX],
                                    c->is_client ? KEX_STRICT_S
                                                 : KEX_STRICT_C);
        c->ext_info_c = wk_namelist_has(ki.list[WK_KEXL_KEX],
                                        ki.list_len[WK_KEXL_KEX],
                                        "ext-info-c");
        /* Strict kex: KEXINIT must have been the very first packet. */
        if (c->strict && wk_pkt_dir_seq(c->rx) != 1)
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "strict KEX violation: KEXINIT was not the "
                            "first packet");
    }
    if (!c->kex_sent_init && (rc = send_kexinit(c)) != 0)
        return wk_fatal(c, rc, WHELK_DISCONNECT_BY_APPLICATION,
                        "cannot send KEXINIT: %s", whelk_strerror(rc));
    if ((rc = negotiate(c, &ki)) != 0) return rc;
    /* A wrong guess costs the peer its guessed packet (dispatch drops it);
     * a right one is the exchange's first packet and is processed. */
    c->ignore_guess = ki.first_kex_follows && !guess_is_right(c, &ki);
    if (c->is_client) return client_send_kex_value(c);
    return 0;
}

static void wipe_keys(uint8_t *a, size_t an, uint8_t *b, size_t bn,
                      uint8_t *d, size_t dn)
{
    OPENSSL_cleanse(a, an);
    OPENSSL_cleanse(b, bn);
    OPENSSL_cleanse(d, dn);
}

/* Derives the six keys, installs the sending ones now and keeps the
 * receiving ones until the peer's NEWKEYS. Direction 0 is client to
 * server (letters A, C, E), direction 1 server to client (B, D, F). */
static int derive_keys(whelk_conn *c, const uint8_t *k_enc, size_t k_len,
                       const uint8_t *h, size_t hlen)
{
    uint8_t key[64], iv[32], mac[64];
    const wk_kex_alg *a = c->kex;
    const uint8_t *sid = c->session_id;
    size_t sl = c->session_id_len;
    int tx_dir = c->is_client ? 0 : 1;
    int rc = 0;
    for (int d = 0; d < 2 && !rc; d++) {
        int tx = d == tx_dir;
        uint8_t *kd = tx ? key : c->rx_key, *ivd = tx ? iv : c->rx_iv;
        uint8_t *md = tx ? mac : c->rx_mac;
        const wk_cipher_alg *e = c->enc[d];
        rc |= wk_kex_derive(a, k_enc, k_len, h, hlen, (char)('A' + d), sid,
                            sl, ivd, e->iv_len);
        rc |= wk_kex_derive(a, k_enc, k_len, h, hlen, (char)('C' + d), sid,
                            sl, kd, e->key_len);
        if (c->mac[d])
            rc |= wk_kex_derive(a, k_enc, k_len, h, hlen, (char)('E' + d),
                                sid, sl, md, c->mac[d]->key_len);
    }
    if (!rc)
        rc = wk_pkt_dir_set_keys(c->tx, 1, c->enc[tx_dir], c->mac[tx_dir], key,
                                 iv, mac);
    else
        rc = WHELK_ERR_CRYPTO;
    wipe_keys(key, sizeof(key), iv, sizeof(iv), mac, sizeof(mac));
    return rc;
}

static int send_ext_info(whelk_conn *c)
{
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_EXT_INFO);
    if (!b) return WHELK_ERR_NOMEM;
    int rc = wk_buf_put_u32(b, 1);
    if (!rc) rc = wk_buf_put_cstring(b, "server-sig-algs");
    if (!rc)
        rc = wk_buf_put_cstring(b, c->cfg->pubkey_algs ? c->cfg->pubkey_algs
                                                       : wk_key_all_sig_algs());
    return rc ? rc : wk_msg_end(c, &m);
}

/* The server's half of an exchange, kept from the moment H is known
 * until the host key's signature over it is there (which the application
 * may make in another process, answering later). */
struct wk_kex_reply {
    wk_buf q_s;
    wk_buf k_enc;  /* the shared secret, encoded */
    uint8_t h[64];
    size_t hlen;
};

static void reply_free(whelk_conn *c)
{
    wk_kex_reply *r = c->reply;
    if (!r) return;
    wk_buf_free(&r->q_s);
    wk_buf_free_secret(&r->k_enc);
    OPENSSL_cleanse(r->h, sizeof(r->h));
    free(r);
    c->reply = NULL;
}

/* Sends the reply with |sig| (the signature blob's contents), NEWKEYS and
 * the ext-info, and switches the sending keys. */
static int finish_kex_reply(whelk_conn *c, const uint8_t *sig, size_t sig_len)
{
    wk_kex_reply *r = c->reply;
    size_t blob_len;
    const uint8_t *blob = whelk_key_blob(c->hostkey, &blob_len);
    wk_msg m;
    int rc = WHELK_ERR_NOMEM;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_KEX_ECDH_REPLY);
    if (!b) goto fail;
    rc = wk_buf_put_string(b, blob, blob_len);
    if (!rc)
        rc = c->kex->value_is_mpint
                 ? wk_buf_put_mpint(b, wk_buf_data(&r->q_s),
                                    wk_buf_used(&r->q_s))
                 : wk_buf_put_string(b, wk_buf_data(&r->q_s),
                                     wk_buf_used(&r->q_s));
    if (!rc) rc = wk_buf_put_string(b, sig, sig_len);
    if (!rc) rc = wk_msg_end(c, &m);
    if (rc) goto fail;
    b = wk_msg_begin(c, &m, SSH_MSG_NEWKEYS);
    if (!b) rc = WHELK_ERR_NOMEM;
    if (!b || (rc = wk_msg_end(c, &m)) != 0) goto fail;
    /* Keys change right after our NEWKEYS. */
    rc = derive_keys(c, wk_buf_data(&r->k_enc), wk_buf_used(&r->k_enc), r->h,
                     r->hlen);
    if (rc) goto fail;
    if (c->strict) wk_pkt_dir_reset_seq(c->tx);
    snprintf(c->cur_cipher[1], sizeof(c->cur_cipher[1]), "%s",
             c->enc[1]->name);
    snprintf(c->cur_mac[1], sizeof(c->cur_mac[1]), "%s",
             c->mac[1] ? c->mac[1]->name : "<implicit>");
    c->kex_sent_init = 0;
    c->kex_phase = WK_KEX_WAIT_NEWKEYS;
    reply_free(c);
    if (c->kex_count == 0 && c->ext_info_c && (rc = send_ext_info(c)) != 0)
        goto fail;
    /* What was held back during the exchange goes out under new keys. */
    if ((rc = flush_deferred(c)) != 0) goto fail;
    return 0;
fail:
    reply_free(c);
    return wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                    "key exchange failed: %s", whelk_strerror(rc));
}

/* Has H signed: by the application when it signs (the one use of a host
 * private key, which then need not be in this process), else with the
 * config's private key. */
static int sign_exchange(whelk_conn *c)
{
    wk_kex_reply *r = c->reply;
    size_t blob_len;
    const uint8_t *blob = whelk_key_blob(c->hostkey, &blob_len);
    if (c->cb.sign) {
        c->sign_pending = 1;
        c->in_sign_cb = 1;
        int rc = c->cb.sign(c, blob, blob_len, c->hostkey_alg, r->h, r->hlen,
                            c->user);
        c->in_sign_cb = 0;
        if (rc < 0 && c->sign_pending) {
            c->sign_pending = 0;
            reply_free(c);
            return wk_fatal(c, WHELK_ERR_CALLBACK,
                            WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                            "host key signature refused by the signer");
        }
        /* Answered already (whelk_conn_sign_done finished the reply), or
         * pending: input waits for the answer. */
        return c->state == WK_ST_CLOSED ? c->err : 0;
    }
    if (!whelk_key_has_private(c->hostkey)) {
        reply_free(c);
        return wk_fatal(c, WHELK_ERR_STATE,
                        WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "no private key and no signer for the host key");
    }
    wk_buf sig;
    wk_buf_init(&sig, 4096);
    int rc = wk_key_sign(c->hostkey, c->hostkey_alg, r->h, r->hlen, &sig);
    if (!rc)
        rc = finish_kex_reply(c, wk_buf_data(&sig) + 4, wk_buf_used(&sig) - 4);
    else
        rc = wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                      "key exchange failed: %s", whelk_strerror(rc));
    wk_buf_free(&sig);
    return rc;
}

int whelk_conn_sign_done(whelk_conn *c, const uint8_t *sig, size_t sig_len,
                         uint64_t now_ms)
{
    c->now_ms = now_ms;
    if (c->state == WK_ST_CLOSED) return c->err ? c->err : WHELK_ERR_CLOSED;
    if (!c->sign_pending) return WHELK_ERR_STATE;
    c->sign_pending = 0;
    /* A signature blob of the negotiated algorithm, or the exchange
     * fails here rather than at the client. */
    wk_reader r;
    const uint8_t *alg, *raw;
    size_t al, rl;
    wk_reader_init(&r, sig, sig ? sig_len : 0);
    if (!sig || wk_get_string(&r, &alg, &al, 64) ||
        wk_get_string(&r, &raw, &rl, 16384) || wk_reader_end(&r) ||
        al != strlen(c->hostkey_alg) || memcmp(alg, c->hostkey_alg, al)) {
        reply_free(c);
        return wk_fatal(c, WHELK_ERR_CALLBACK,
                        WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "the signer gave no %s signature", c->hostkey_alg);
    }
    int rc = finish_kex_reply(c, sig, sig_len);
    if (rc) return rc;
    /* Answered inside the callback, the input loop that called it goes
     * on by itself; answered later, held input is taken up now. */
    return c->in_sign_cb ? 0 : wk_conn_resume_input(c);
}

static int on_kex_init_value(whelk_conn *c, const uint8_t *p, size_t n)
{
    wk_reader r;
    const uint8_t *q_c;
    size_t q_c_len;
    uint8_t type;
    wk_reader_init(&r, p, n);
    wk_get_u8(&r, &type);
    int rc = c->kex->value_is_mpint
                 ? wk_get_mpint(&r, &q_c, &q_c_len, 2048)
                 : wk_get_string(&r, &q_c, &q_c_len, 4096);
    if (!rc) rc = wk_reader_end(&r);
    if (rc)
        return wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "malformed key exchange init");
    reply_free(c);
    wk_kex_reply *kr = c->reply = calloc(1, sizeof(*kr));
    if (!kr)
        return wk_fatal(c, WHELK_ERR_NOMEM,
                        WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "key exchange failed: %s",
                        whelk_strerror(WHELK_ERR_NOMEM));
    wk_buf_init(&kr->q_s, 4096);
    wk_buf_init_secret(&kr->k_enc, 4096);
    size_t blob_len;
    const uint8_t *blob = whelk_key_blob(c->hostkey, &blob_len);

    rc = wk_kex_server(c->kex, c->cfg->rand, c->cfg->rand_user, q_c, q_c_len,
                       &kr->q_s, &kr->k_enc);
    if (rc) {
        reply_free(c);
        return wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "key exchange %s failed: invalid client value (%s)",
                        c->kex_name, whelk_strerror(rc));
    }
    rc = wk_kex_hash(c->kex, c->v_c, c->v_s, wk_buf_data(&c->peer_kexinit),
                     wk_buf_used(&c->peer_kexinit),
                     wk_buf_data(&c->my_kexinit),
                     wk_buf_used(&c->my_kexinit), blob, blob_len, q_c,
                     q_c_len, wk_buf_data(&kr->q_s), wk_buf_used(&kr->q_s),
                     wk_buf_data(&kr->k_enc), wk_buf_used(&kr->k_enc), kr->h,
                     &kr->hlen);
    if (rc) {
        reply_free(c);
        return wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "key exchange failed: %s", whelk_strerror(rc));
    }
    if (c->session_id_len == 0) {
        memcpy(c->session_id, kr->h, kr->hlen);
        c->session_id_len = kr->hlen;
    }
    return sign_exchange(c);
}

/* Client: our half of the key agreement, right after negotiation. */
static int client_send_kex_value(whelk_conn *c)
{
    wk_kex_client_free(c->kexc);
    c->kexc = NULL;
    wk_buf_reset(&c->q_c);
    int rc = wk_kex_client_start(c->kex, c->cfg->rand, c->cfg->rand_user,
                                 &c->kexc, &c->q_c);
    wk_msg m;
    wk_buf *b = rc ? NULL : wk_msg_begin(c, &m, SSH_MSG_KEX_ECDH_INIT);
    if (b)
        rc = c->kex->value_is_mpint
                 ? wk_buf_put_mpint(b, wk_buf_data(&c->q_c),
                                    wk_buf_used(&c->q_c))
                 : wk_buf_put_string(b, wk_buf_data(&c->q_c),
                                     wk_buf_used(&c->q_c));
    if (!rc && b) rc = wk_msg_end(c, &m);
    if (rc || !b)
        return wk_fatal(c, rc ? rc : WHELK_ERR_NOMEM,
                        WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "cannot start key exchange");
    return 0;
}

/* Client: the server's reply; verify its host key's signature over H. */
static int on_kex_reply(whelk_conn *c, const uint8_t *p, size_t n)
{
    wk_reader r;
    uint8_t type;
    const uint8_t *k_s, *q_s, *sig;
    size_t k_s_len, q_s_len, sig_len;
    wk_reader_init(&r, p, n);
    wk_get_u8(&r, &type);
    int rc = wk_get_string(&r, &k_s, &k_s_len, 16384);
    if (!rc)
        rc = c->kex->value_is_mpint ? wk_get_mpint(&r, &q_s, &q_s_len, 2048)
                                    : wk_get_string(&r, &q_s, &q_s_len, 4096);
    if (!rc) rc = wk_get_string(&r, &sig, &sig_len, 16384);
    if (!rc) rc = wk_reader_end(&r);
    if (rc || !c->kexc)
        return wk_fatal(c, WHELK_ERR_PROTO,
                        WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "malformed key exchange reply");
    wk_buf k_enc;
    wk_buf_init(&k_enc, 4096);
    uint8_t h[64];
    size_t hlen = 0;
    whelk_key *hostkey = NULL;
    rc = wk_kex_client_finish(c->kexc, q_s, q_s_len, &k_enc);
    wk_kex_client_free(c->kexc);
    c->kexc = NULL;
    if (!rc)
        rc = wk_kex_hash(c->kex, c->v_c, c->v_s, wk_buf_data(&c->my_kexinit),
                         wk_buf_used(&c->my_kexinit),
                         wk_buf_data(&c->peer_kexinit),
                         wk_buf_used(&c->peer_kexinit), k_s, k_s_len,
                         wk_buf_data(&c->q_c), wk_buf_used(&c->q_c), q_s,
                         q_s_len, wk_buf_data(&k_enc), wk_buf_used(&k_enc), h,
                         &hlen);
    if (rc) {
        rc = wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                      "key exchange failed: %s", whelk_strerror(rc));
        goto out;
    }
    if (whelk_key_parse_public_blob(k_s, k_s_len, &hostkey) != 0 ||
        !wk_key_sig_alg_ok(hostkey, c->hostkey_alg) ||
        wk_key_verify(hostkey, c->hostkey_alg, h, hlen, sig, sig_len) != 0) {
        rc = wk_fatal(c, WHELK_ERR_HOSTKEY,
                      WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                      "host key signature does not verify");
        goto out;
    }
    if (!c->cb.host_key_check ||
        c->cb.host_key_check(c, hostkey, c->user) < 0) {
        rc = wk_fatal(c, WHELK_ERR_HOSTKEY,
                      WHELK_DISCONNECT_HOST_KEY_NOT_VERIFIABLE,
                      "host key not accepted");
        goto out;
    }
    if (c->session_id_len == 0) {
        memcpy(c->session_id, h, hlen);
        c->session_id_len = hlen;
    }
    wk_msg m;
    if (!wk_msg_begin(c, &m, SSH_MSG_NEWKEYS) || wk_msg_end(c, &m) ||
        derive_keys(c, wk_buf_data(&k_enc), wk_buf_used(&k_enc), h, hlen)) {
        rc = wk_fatal(c, WHELK_ERR_CRYPTO, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                      "cannot install keys");
        goto out;
    }
    if (c->strict) wk_pkt_dir_reset_seq(c->tx);
    snprintf(c->cur_cipher[1], sizeof(c->cur_cipher[1]), "%s",
             c->enc[1]->name);
    snprintf(c->cur_mac[1], sizeof(c->cur_mac[1]), "%s",
             c->mac[1] ? c->mac[1]->name : "<implicit>");
    c->kex_sent_init = 0;
    c->kex_phase = WK_KEX_WAIT_NEWKEYS;
    rc = flush_deferred(c);
out:
    OPENSSL_cleanse(h, sizeof(h));
    wk_buf_free_secret(&k_enc);
    whelk_key_free(hostkey);
    return rc;
}

static int on_newkeys(whelk_conn *c)
{
    int rx_dir = c->is_client ? 1 : 0;
    int rc = wk_pkt_dir_set_keys(c->rx, 0, c->enc[rx_dir], c->mac[rx_dir],
                                 c->rx_key, c->rx_iv, c->rx_mac);
    wipe_keys(c->rx_key, sizeof(c->rx_key), c->rx_iv, sizeof(c->rx_iv),
              c->rx_mac, sizeof(c->rx_mac));
    if (rc)
        return wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "cannot install keys: %s", whelk_strerror(rc));
    if (c->strict) wk_pkt_dir_reset_seq(c->rx);
    snprintf(c->cur_kex, sizeof(c->cur_kex), "%s", c->kex_name);
    snprintf(c->cur_hostkey, sizeof(c->cur_hostkey), "%s", c->hostkey_alg);
    snprintf(c->cur_cipher[0], sizeof(c->cur_cipher[0]), "%s",
             c->enc[0]->name);
    snprintf(c->cur_mac[0], sizeof(c->cur_mac[0]), "%s",
             c->mac[0] ? c->mac[0]->name : "<implicit>");
    wk_log(c, WHELK_LOG_DEBUG,
           "kex done for %s port %d: %s %s %s %s", c->peer_addr,
           c->peer_port, c->cur_kex, c->cur_hostkey, c->cur_cipher[1],
           c->cur_mac[1]);
    c->kex_phase = WK_KEX_NONE;
    c->kex_got_init = 0;
    c->kex_count++;
    uint64_t t = c->set[WHELK_SET_REKEY_MS];
    c->rekey_at_ms = t ? c->now_ms + t : UINT64_MAX;
    wk_buf_free(&c->peer_kexinit);
    wk_buf_free(&c->my_kexinit);
    /* A client asks for authentication once the first keys are in use. */
    if (c->is_client && c->kex_count == 1) {
        wk_msg m;
        wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_SERVICE_REQUEST);
        if (!b || wk_buf_put_cstring(b, "ssh-userauth")) return WHELK_ERR_NOMEM;
        return wk_msg_end(c, &m);
    }
    /* Channels blocked by the exchange may send again. */
    if (c->authenticated) return wk_chans_pump(c);
    return 0;
}

int whelk_conn_rekey(whelk_conn *c, uint64_t now_ms)
{
    c->now_ms = now_ms;
    if (c->state != WK_ST_PACKETS || c->kex_count == 0) return WHELK_ERR_STATE;
    if (c->kex_phase != WK_KEX_NONE) return 0;
    int rc = send_kexinit(c);
    if (rc)
        return wk_fatal(c, rc, WHELK_DISCONNECT_BY_APPLICATION,
                        "cannot start rekey: %s", whelk_strerror(rc));
    return 0;
}

static int maybe_rekey(whelk_conn *c)
{
    if (c->kex_phase != WK_KEX_NONE || c->kex_count == 0) return 0;
    uint64_t limit = c->set[WHELK_SET_REKEY_BYTES];
    if ((limit && (wk_pkt_dir_bytes(c->rx) >= limit ||
                   wk_pkt_dir_bytes(c->tx) >= limit)) ||
        c->now_ms >= c->rekey_at_ms) {
        wk_log(c, WHELK_LOG_DEBUG, "rekeying %s port %d", c->peer_addr,
               c->peer_port);
        return whelk_conn_rekey(c, c->now_ms);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Input.
 */

static int on_service_request(whelk_conn *c, const uint8_t *p, size_t n)
{
    wk_reader r;
    char name[64];
    uint8_t type;
    wk_reader_init(&r, p, n);
    wk_get_u8(&r, &type);
    int rc = wk_get_cstring(&r, name, sizeof(name));
    if (rc)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed service request");
    if (strcmp(name, "ssh-userauth") != 0 &&
        !(c->authenticated && !strcmp(name, "ssh-connection"))) {
        char esc[4 * sizeof(name)];
        whelk_escape(esc, sizeof(esc), name, strlen(name));
        return wk_fatal(c, WHELK_ERR_PROTO,
                        WHELK_DISCONNECT_SERVICE_NOT_AVAILABLE,
                        "service %s not available", esc);
    }
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_SERVICE_ACCEPT);
    if (!b || wk_buf_put_cstring(b, name)) return WHELK_ERR_NOMEM;
    c->service_ok = 1;
    return wk_msg_end(c, &m);
}

static int on_disconnect(whelk_conn *c, const uint8_t *p, size_t n)
{
    wk_reader r;
    uint8_t type;
    uint32_t reason = 0;
    const uint8_t *desc = (const uint8_t *)"";
    size_t dlen = 0;
    wk_reader_init(&r, p, n);
    wk_get_u8(&r, &type);
    if (wk_get_u32(&r, &reason) == 0)
        wk_get_string(&r, &desc, &dlen, 1024);
    /* Events carry no NUL: the description ends at its first. */
    char text[1025];
    const uint8_t *nul = memchr(desc, 0, dlen);
    if (nul) dlen = (size_t)(nul - desc);
    memcpy(text, desc, dlen);
    text[dlen] = 0;
    whelk_event ev = {.type = WHELK_EVENT_PEER_DISCONNECT,
                      .reason = reason,
                      .text = text};
    wk_event(c, &ev);
    c->state = WK_ST_CLOSED;
    c->err = WHELK_ERR_DISCONNECTED;
    return WHELK_ERR_DISCONNECTED;
}

/* Is |type| allowed from the peer in the current key exchange phase? */
static int allowed_during_kex(const whelk_conn *c, uint8_t type)
{
    if (!c->kex_got_init) return 1;
    /* Between the peer's KEXINIT and its NEWKEYS (RFC 4253 7.1). In the
     * first, strict exchange, only the exchange itself may appear. */
    if (c->strict && c->kex_count == 0)
        return type == SSH_MSG_KEX_ECDH_INIT ||
               type == SSH_MSG_KEX_ECDH_REPLY || type == SSH_MSG_NEWKEYS ||
               type == SSH_MSG_DISCONNECT;
    return (type < 50 && type != SSH_MSG_SERVICE_REQUEST &&
            type != SSH_MSG_SERVICE_ACCEPT && type != SSH_MSG_KEXINIT &&
            type != SSH_MSG_EXT_INFO);
}

static int dispatch(whelk_conn *c, const uint8_t *p, size_t n)
{
    uint32_t seq = wk_pkt_dir_seq(c->rx) - 1;
    if (n == 0)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "empty packet");
    uint8_t type = p[0];

    /* RFC 4253 section 7: after a KEXINIT whose guess was wrong, the
     * peer's next key exchange packet (30..49) is the guess and is
     * dropped unread, before any check: it is no error, not even under
     * strict kex, and not part of this exchange. Messages 1..4 between
     * the two are not a guess and go through the usual checks. */
    if (c->ignore_guess && type >= 30 && type <= 49) {
        c->ignore_guess = 0;
        wk_log(c, WHELK_LOG_DEBUG,
               "ignoring the peer's wrongly guessed key exchange packet "
               "(type %u)", type);
        return 0;
    }

    /* Before the first exchange completes (strict or not) only key
     * exchange messages make sense; strict mode makes anything else
     * fatal (Terrapin). */
    if (c->kex_count == 0 && c->strict && type != SSH_MSG_KEXINIT &&
        type != SSH_MSG_KEX_ECDH_INIT && type != SSH_MSG_KEX_ECDH_REPLY &&
        type != SSH_MSG_NEWKEYS && type != SSH_MSG_DISCONNECT)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "strict KEX violation: unexpected message %u "
                        "during initial key exchange", type);
    if (!allowed_during_kex(c, type))
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "message %u not allowed during key exchange", type);
    if (c->kex_count == 0 && !c->kex_got_init && type != SSH_MSG_KEXINIT &&
        type != SSH_MSG_DISCONNECT && type != SSH_MSG_IGNORE &&
        type != SSH_MSG_DEBUG && type != SSH_MSG_UNIMPLEMENTED)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "message %u before key exchange", type);

    switch (type) {
    case SSH_MSG_DISCONNECT:
        return on_disconnect(c, p, n);
    case SSH_MSG_IGNORE:
    case SSH_MSG_DEBUG:
    case SSH_MSG_UNIMPLEMENTED:
        return 0;
    case SSH_MSG_KEXINIT:
        return on_kexinit(c, p, n);
    case SSH_MSG_KEX_ECDH_INIT:
    case SSH_MSG_KEX_ECDH_REPLY: {
        /* The server takes the INIT, the client the REPLY. */
        int ours = c->is_client == (type == SSH_MSG_KEX_ECDH_REPLY);
        if (!ours || !c->kex_got_init || c->kex_phase != WK_KEX_STARTED)
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "unexpected key exchange message %u", type);
        return c->is_client ? on_kex_reply(c, p, n)
                            : on_kex_init_value(c, p, n);
    }
    case SSH_MSG_NEWKEYS:
        if (c->kex_phase != WK_KEX_WAIT_NEWKEYS || n != 1)
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "unexpected NEWKEYS");
        return on_newkeys(c);
    case SSH_MSG_SERVICE_REQUEST:
        if (c->is_client)
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "service request sent to a client");
        return on_service_request(c, p, n);
    case SSH_MSG_SERVICE_ACCEPT:
        if (!c->is_client || c->service_ok)
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "unexpected service accept");
        c->service_ok = 1;
        return wk_client_start_auth(c);
    case SSH_MSG_EXT_INFO:
        return 0; /* nothing a client tells us changes our behaviour */
    default:
        break;
    }
    if (type >= 50 && type <= 79 && c->is_client) {
        if (c->authenticated || !c->service_ok) return 0;
        return wk_client_auth_dispatch(c, type, p, n);
    }
    if (type >= 50 && type <= 79) {
        if (c->authenticated) return 0; /* RFC 4252 section 5.1: ignore */
        if (!c->service_ok)
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "authentication before service request");
        return wk_auth_dispatch(c, type, p, n);
    }
    if (type >= 80 && type <= 127) {
        if (!c->authenticated)
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "connection protocol message %u before "
                            "authentication", type);
        return wk_chans_dispatch(c, type, p, n);
    }
    return send_unimplemented(c, seq);
}

/* Reads the client's identification line (RFC 4253 section 4.2). */
static int read_version(whelk_conn *c)
{
    const uint8_t *p = wk_buf_data(&c->in);
    size_t n = wk_buf_used(&c->in);
    const uint8_t *nl = memchr(p, '\n', n < 255 ? n : 255);
    if (!nl) {
        if (n >= 255)
            return wk_fatal(c, WHELK_ERR_VERSION, 0,
                            "identification line too long");
        return WK_ERR_AGAIN;
    }
    size_t len = (size_t)(nl - p);
    if (len > 0 && p[len - 1] == '\r') len--;
    char line[256];
    whelk_escape(line, sizeof(line), p, len);
    wk_buf_consume(&c->in, (size_t)(nl - p) + 1);
    /* A server may send other lines first (RFC 4253 4.2); a client may
     * not. */
    if (c->is_client && (len < 4 || memcmp(p, "SSH-", 4) != 0)) {
        if (++c->pre_version_lines > 32)
            return wk_fatal(c, WHELK_ERR_VERSION, 0,
                            "too many lines before the version");
        return read_version(c);
    }
    /* The line goes with the DISCONNECT event: up to its first NUL,
     * at most 100 bytes (what sshd shows of it). */
    char raw[101];
    size_t rl = len < 100 ? len : 100;
    const uint8_t *nul = memchr(p, 0, rl);
    if (nul) rl = (size_t)(nul - p);
    memcpy(raw, p, rl);
    raw[rl] = 0;
    int rc = 0;
    c->bad_version = raw;
    if (len < 8 || memcmp(p, "SSH-", 4) != 0 || memchr(p, 0, len))
        rc = wk_fatal(c, WHELK_ERR_VERSION, 0, "not an SSH client");
    else if (strncmp(line, "SSH-2.0-", 8) != 0 &&
             strncmp(line, "SSH-1.99-", 9) != 0)
        rc = wk_fatal(c, WHELK_ERR_VERSION, 0,
                      "protocol version not supported");
    c->bad_version = NULL;
    if (rc) return rc;
    char *peer = c->is_client ? c->v_s : c->v_c;
    memcpy(peer, p, len);
    peer[len] = 0;
    c->state = WK_ST_PACKETS;
    c->version_deadline = UINT64_MAX;
    return 0;
}

static int process_input(whelk_conn *c)
{
    int rc;
    c->in_held = 0;
    while (c->state != WK_ST_CLOSED) {
        if (c->state == WK_ST_VERSION) {
            rc = read_version(c);
            if (rc == WK_ERR_AGAIN) return 0;
            if (rc) return rc;
            continue;
        }
        if (wk_conn_input_held(c)) return 0;
        if (wk_buf_used(&c->in) == 0) return 0;
        /* Each packet may add a reply: a peer that sends without reading
         * is held here, its input unprocessed, until the output drains
         * (whelk_conn_expiry then says so). */
        if (out_full(c)) {
            c->in_held = 1;
            return 0;
        }
        uint8_t *payload;
        size_t plen, used;
        rc = wk_pkt_open(c->rx, wk_buf_data(&c->in), wk_buf_used(&c->in),
                         &used, &payload, &plen);
        if (rc == WK_ERR_AGAIN) return 0;
        if (rc == WHELK_ERR_MAC)
            return wk_fatal(c, rc, WHELK_DISCONNECT_MAC_ERROR,
                            "message authentication code incorrect");
        if (rc == WHELK_ERR_TOOBIG)
            return wk_fatal(c, rc, WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "bad packet length");
        if (rc)
            return wk_fatal(c, rc, WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "bad packet: %s", whelk_strerror(rc));
        /* In strict mode a wrapping sequence number before the first
         * NEWKEYS would let an attacker replay; refuse it. */
        if (c->strict && c->kex_count == 0 && wk_pkt_dir_seq(c->rx) == 0)
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "sequence number wrapped in initial kex");
        if (c->alive_due_ms != UINT64_MAX) alive_reset(c);
        rc = dispatch(c, payload, plen);
        wk_buf_consume(&c->in, used);
        /* An error the handler did not end the connection for (out of
         * memory, a full deferred queue) ends it here: carrying on would
         * drop replies. A non-fatal code from a handler is the peer's
         * doing. */
        if (rc && c->state == WK_ST_CLOSED) return rc;
        if (rc && whelk_err_is_fatal(rc)) return wk_end_if_fatal(c, rc);
        if (rc) return wk_fatal(c, rc, WHELK_DISCONNECT_PROTOCOL_ERROR,
                                "%s", whelk_strerror(rc));
        if ((rc = maybe_rekey(c)) != 0) return rc;
    }
    return c->err ? c->err : WHELK_ERR_CLOSED;
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
    int rc = process_input(c);
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
    if (c->state == WK_ST_CLOSED) return c->err ? c->err : WHELK_ERR_CLOSED;
    if (n > c->in.cap - c->in.len) return WHELK_ERR_INVAL;
    if (n >= c->in_offer && c->in_offer < WK_IN_OFFER_MAX)
        c->in_offer *= 2;
    else if (n < c->in_offer / 4)
        c->in_offer = WK_IN_OFFER_MIN;
    c->in.len += n;
    int rc = process_input(c);
    trim_input(c);
    if (rc && rc != WK_ERR_AGAIN) return wk_end_if_fatal(c, rc);
    return (whelk_ssize)n;
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
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_GLOBAL_REQUEST);
    if (!b || wk_buf_put_cstring(b, "keepalive@openssh.com") ||
        wk_buf_put_bool(b, 1))
        return WHELK_ERR_NOMEM;
    int rc = wk_msg_end(c, &m);
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
    if (c->in_held && !out_full(c) && !wk_conn_input_held(c) && c->now_ms < t)
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
    return wk_end_if_fatal(c, maybe_rekey(c));
}

int wk_conn_input_held(const whelk_conn *c)
{
    return c->sign_pending || wk_auth_blocked(c);
}

int wk_conn_resume_input(whelk_conn *c)
{
    if (c->state == WK_ST_CLOSED) return c->err ? c->err : WHELK_ERR_CLOSED;
    if (wk_conn_input_held(c)) return 0;
    int rc = process_input(c);
    trim_input(c);
    return rc ? wk_end_if_fatal(c, rc) : 0;
}

/* For unit tests and fuzzers only: a connection that skipped the version
 * and key exchanges and authentication, speaking unencrypted packets, so
 * the layers above can be driven byte for byte. */
int wk_conn_test_authenticate(whelk_conn *c, const char *user)
{
    wk_buf_reset(&c->out);
    c->state = WK_ST_PACKETS;
    c->version_deadline = UINT64_MAX;
    snprintf(c->v_c, sizeof(c->v_c), "SSH-2.0-OpenSSH_9.2p1 test");
    c->kex_sent_init = 0;
    c->kex_got_init = 0;
    c->kex_phase = WK_KEX_NONE;
    c->kex_count = 1;
    c->rekey_at_ms = UINT64_MAX;
    c->service_ok = 1;
    if (!user) return 0; /* kex done, authentication still to come */
    return wk_conn_set_authenticated(c, user);
}
