/*
 * transport: the byte streams of a connection (RFC 4253), both roles.
 *
 * The identification exchange (section 4.2), binary packets (section 6,
 * through cipher.c), the output path that holds messages back while keys
 * change, service requests (section 10), the generic messages (section
 * 11), DISCONNECT, and the dispatch of every packet by message number:
 * key exchange to kexstate.c, 50..79 to auth.c (or client.c), 80..127 to
 * channel.c. The connection's life and public entry points are conn.c's.
 */
#include "conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WK_IDENT "SSH-2.0-whelk_" WHELK_VERSION

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
        if (m->start == WK_PKT_NONE) return NULL;
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

int wk_msg_end_from(whelk_conn *c, wk_msg *m, uint8_t *hole,
                    const uint8_t *src, size_t len)
{
    /* A deferred payload waits in the clear for the new keys. */
    if (m->deferred) {
        memcpy(hole, src, len);
        return wk_msg_end(c, m);
    }
    size_t at = (size_t)(hole - (wk_buf_data(m->b) + m->start));
    return wk_pkt_end_from(c->tx, m->b, m->start, at, src, len,
                           c->cfg->rand, c->cfg->rand_user);
}

/* Seals the payloads held during a key change, now under the new keys. */
int wk_flush_deferred(whelk_conn *c)
{
    wk_reader r;
    wk_reader_init(&r, wk_buf_data(&c->deferred), wk_buf_used(&c->deferred));
    while (wk_reader_left(&r) > 0) {
        const uint8_t *p;
        size_t n;
        int rc = wk_get_string(&r, &p, &n, WK_MAX_PACKET_LEN);
        if (rc) return rc;
        size_t start = wk_pkt_begin(&c->out);
        if (start == WK_PKT_NONE) return WHELK_ERR_NOMEM;
        if ((rc = wk_buf_put(&c->out, p, n)) != 0) return rc;
        rc = wk_pkt_end(c->tx, &c->out, start, c->cfg->rand,
                        c->cfg->rand_user);
        if (rc) return rc;
    }
    wk_buf_reset(&c->deferred);
    return 0;
}

int wk_send_disconnect(whelk_conn *c, int reason, const char *text)
{
    /* Skip the deferral rules: DISCONNECT may always be sent. */
    size_t start = wk_pkt_begin(&c->out);
    if (start == WK_PKT_NONE) return WHELK_ERR_NOMEM;
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
        wk_send_disconnect(c, reason, why);
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


static int send_unimplemented(whelk_conn *c, uint32_t seq)
{
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_UNIMPLEMENTED);
    if (!b || wk_buf_put_u32(b, seq)) return WHELK_ERR_NOMEM;
    return wk_msg_end(c, &m);
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
        return wk_kex_on_kexinit(c, p, n);
    case SSH_MSG_KEX_ECDH_INIT:
    case SSH_MSG_KEX_ECDH_REPLY: {
        /* The server takes the INIT, the client the REPLY. */
        int ours = c->is_client == (type == SSH_MSG_KEX_ECDH_REPLY);
        if (!ours || !c->kex_got_init || c->kex_phase != WK_KEX_STARTED)
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "unexpected key exchange message %u", type);
        return c->is_client ? wk_kex_on_reply(c, p, n)
                            : wk_kex_on_init_value(c, p, n);
    }
    case SSH_MSG_NEWKEYS:
        if (c->kex_phase != WK_KEX_WAIT_NEWKEYS || n != 1)
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "unexpected NEWKEYS");
        return wk_kex_on_newkeys(c);
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
    if (wk_conn_set_ident(c->is_client ? &c->v_s : &c->v_c, (const char *)p,
                          len) != 0)
        return wk_fatal(c, WHELK_ERR_NOMEM, 0, "cannot keep the version line");
    c->state = WK_ST_PACKETS;
    c->version_deadline = UINT64_MAX;
    return 0;
}

int wk_transport_process(whelk_conn *c)
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
        if (wk_conn_out_full(c)) {
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
        wk_conn_peer_active(c);
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
        if ((rc = wk_kex_maybe_rekey(c)) != 0) return rc;
    }
    return c->err ? c->err : WHELK_ERR_CLOSED;
}


/* ------------------------------------------------------------------------
 * The first flight.
 */

const char *wk_transport_ident(void)
{
    return WK_IDENT;
}

int wk_transport_start(whelk_conn *c)
{
    /* Our identification and KEXINIT leave in one flight, before the
     * peer's line arrives: one round trip fewer. */
    int rc = wk_buf_put(&c->out, WK_IDENT "\r\n", strlen(WK_IDENT) + 2);
    return rc ? rc : wk_kex_send_init(c);
}
