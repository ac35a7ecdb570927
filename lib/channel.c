/*
 * channel: the connection protocol (RFC 4254 sections 4 and 5) and the
 * generic channel, the C counterpart of Twisted Conch's SSHChannel.
 *
 * Flow control, in both directions:
 * - to the peer: never more than its window or maximum packet; output
 *   beyond the window is queued up to a bound, and the producer is told to
 *   stop when the queue fills and to start again once it drained;
 * - from the peer: data beyond our window or maximum packet ends the
 *   connection (PROTOCOL_ERROR), and the window is re-opened only for data
 *   the application has consumed (OpenSSH's rule), so a slow program
 *   slows the client down.
 * EOF is one-directional; our CLOSE goes out only after our queued output
 * and control messages; a channel is freed once both sides sent CLOSE.
 * Channel ids count up and are never reused on a connection.
 */
#include "channel.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ------------------------------------------------------------------------
 * Table.
 */

int wk_chans_init(whelk_conn *c)
{
    c->chans = calloc(1, sizeof(*c->chans));
    return c->chans ? 0 : WHELK_ERR_NOMEM;
}

static void chan_free(whelk_conn *c, whelk_session *s)
{
    wk_chans *t = c->chans;
    for (whelk_session **pp = &t->list; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    t->sessions--;
    if (!t->list) t->idle_since = c->now_ms;
    /* The application frees its state last, after we forgot the channel. */
    if (s->h.closed) s->h.closed(s, s->user);
    wk_buf_free_secret(&s->prestart);
    wk_buf_free(&s->outq);
    wk_buf_free(&s->errq);
    free(s);
}

void wk_chans_free(whelk_conn *c)
{
    if (!c->chans) return;
    while (c->chans->list) chan_free(c, c->chans->list);
    for (unsigned i = 0; i < c->chans->n_timeouts; i++)
        free(c->chans->timeouts[i].pattern);
    free(c->chans);
    c->chans = NULL;
}

whelk_session *wk_chan_find(whelk_conn *c, uint32_t id)
{
    for (whelk_session *s = c->chans->list; s; s = s->next)
        if (s->local_id == id) return s;
    return NULL;
}

wk_buf *wk_chan_msg_begin(whelk_session *s, wk_msg *m, uint8_t type)
{
    wk_buf *b = wk_msg_begin(s->conn, m, type);
    if (b && wk_buf_put_u32(b, s->remote_id) != 0) return NULL;
    return b;
}

static int send_simple(whelk_session *s, uint8_t type)
{
    wk_msg m;
    if (!wk_chan_msg_begin(s, &m, type)) return WHELK_ERR_NOMEM;
    return wk_msg_end(s->conn, &m);
}

/* ------------------------------------------------------------------------
 * Output towards the peer.
 */

static int out_blocked(const whelk_conn *c)
{
    return !wk_conn_may_send_data(c);
}

static size_t chunk_limit(const whelk_session *s)
{
    size_t n = s->remote_maxpkt;
    if (n > WK_MAX_PACKET_LEN - 1024) n = WK_MAX_PACKET_LEN - 1024;
    return n < s->remote_window ? n : s->remote_window;
}

/* Sends up to |len| bytes as DATA (|ext| 0) or EXTENDED_DATA type 1,
 * within the window and packet size; returns the count sent. */
static whelk_ssize send_data(whelk_session *s, int ext, const uint8_t *p,
                         size_t len)
{
    whelk_conn *c = s->conn;
    size_t sent = 0;
    while (sent < len && !out_blocked(c)) {
        size_t n = chunk_limit(s);
        if (n == 0) break;
        if (n > len - sent) n = len - sent;
        wk_msg m;
        wk_buf *b = wk_chan_msg_begin(
            s, &m, ext ? SSH_MSG_CHANNEL_EXTENDED_DATA : SSH_MSG_CHANNEL_DATA);
        if (!b) return WHELK_ERR_NOMEM;
        int rc = ext ? wk_buf_put_u32(b, 1) : 0;
        if (!rc) rc = wk_buf_put_string(b, p + sent, n);
        if (!rc) rc = wk_msg_end(c, &m);
        if (rc) return rc;
        s->remote_window -= (uint32_t)n;
        s->last_io_ms = c->now_ms;
        sent += n;
    }
    return (whelk_ssize)sent;
}

static int flush_queue(whelk_session *s, wk_buf *q, int ext)
{
    if (wk_buf_used(q) == 0) return 0;
    whelk_ssize n = send_data(s, ext, wk_buf_data(q), wk_buf_used(q));
    if (n < 0) return (int)n;
    wk_buf_consume(q, (size_t)n);
    /* An idle session keeps no queue memory. */
    if (wk_buf_used(q) == 0) wk_buf_free(q);
    return 0;
}

static int send_exit_request(whelk_session *s, int sig)
{
    wk_msg m;
    wk_buf *b = wk_chan_msg_begin(s, &m, SSH_MSG_CHANNEL_REQUEST);
    if (!b) return WHELK_ERR_NOMEM;
    int rc;
    if (!sig) {
        rc = wk_buf_put_cstring(b, "exit-status");
        if (!rc) rc = wk_buf_put_bool(b, 0);
        if (!rc) rc = wk_buf_put_u32(b, s->exit_status);
    } else {
        rc = wk_buf_put_cstring(b, "exit-signal");
        if (!rc) rc = wk_buf_put_bool(b, 0);
        if (!rc) rc = wk_buf_put_cstring(b, s->exit_signal);
        if (!rc) rc = wk_buf_put_bool(b, s->exit_core);
        if (!rc) rc = wk_buf_put_cstring(b, s->exit_message);
        if (!rc) rc = wk_buf_put_cstring(b, "");
    }
    return rc ? rc : wk_msg_end(s->conn, &m);
}

/* Sends queued output, then the control messages queued after it. May
 * free |s| (when our CLOSE completes the pair); returns 1 then. */
static int chan_pump(whelk_session *s)
{
    whelk_conn *c = s->conn;
    if (s->sent_close) return 0;
    int rc = flush_queue(s, &s->outq, 0);
    if (!rc) rc = flush_queue(s, &s->errq, 1);
    if (rc) return rc;
    size_t queued = wk_buf_used(&s->outq) + wk_buf_used(&s->errq);
    if (s->stopped && queued <= s->out_bound / 2 && !s->closing &&
        !s->sent_eof) {
        s->stopped = 0;
        if (s->h.start_writing) s->h.start_writing(s, s->user);
        if (s->sent_close) return 0;
        queued = wk_buf_used(&s->outq) + wk_buf_used(&s->errq);
    }
    if (queued > 0 || out_blocked(c)) return 0;
    unsigned i = 0;
    for (; i < s->n_ctrl; i++) {
        switch (s->ctrl[i]) {
        case WK_CTRL_EOF:
            rc = send_simple(s, SSH_MSG_CHANNEL_EOF);
            break;
        case WK_CTRL_EXIT_STATUS:
            rc = send_exit_request(s, 0);
            break;
        case WK_CTRL_EXIT_SIGNAL:
            rc = send_exit_request(s, 1);
            break;
        case WK_CTRL_CLOSE:
            rc = send_simple(s, SSH_MSG_CHANNEL_CLOSE);
            s->sent_close = 1;
            break;
        }
        if (rc || s->sent_close) break;
    }
    s->n_ctrl = 0;
    if (rc) return rc;
    if (s->sent_close && s->peer_close) {
        chan_free(c, s);
        return 1;
    }
    return 0;
}

int wk_chans_pump(whelk_conn *c)
{
    if (!c->chans) return 0;
    whelk_session *s = c->chans->list, *next;
    for (; s && !out_blocked(c); s = next) {
        next = s->next;
        int rc = chan_pump(s);
        if (rc < 0) return rc;
    }
    return 0;
}

static whelk_ssize session_write(whelk_session *s, int ext, const void *data,
                             size_t len)
{
    if (!s || s->sent_eof || s->closing || s->sent_close || s->peer_close)
        return WHELK_ERR_STATE;
    wk_buf *q = ext ? &s->errq : &s->outq;
    const uint8_t *p = data;
    size_t done = 0;
    /* Straight to the wire when nothing is waiting ahead of it. */
    if (wk_buf_used(&s->outq) == 0 && wk_buf_used(&s->errq) == 0) {
        whelk_ssize n = send_data(s, ext, p, len);
        if (n < 0) return n;
        done = (size_t)n;
    }
    size_t queued = wk_buf_used(&s->outq) + wk_buf_used(&s->errq);
    size_t room = s->out_bound > queued ? s->out_bound - queued : 0;
    size_t take = len - done < room ? len - done : room;
    if (take && wk_buf_put(q, p + done, take) != 0) take = 0;
    done += take;
    if (done < len || queued + take >= s->out_bound) {
        if (!s->stopped) {
            s->stopped = 1;
            if (s->h.stop_writing) s->h.stop_writing(s, s->user);
        }
    }
    return (whelk_ssize)done;
}

/* The public calls below end the connection on a fatal error (out of
 * memory, a full deferred queue) rather than leave it running with a
 * message lost; WHELK_ERR_STATE and WHELK_ERR_LIMIT only refuse the call. */
static int end_if_fatal(whelk_session *s, int rc)
{
    return s ? wk_end_if_fatal(s->conn, rc) : rc;
}

whelk_ssize whelk_session_write(whelk_session *s, const void *data, size_t len)
{
    whelk_ssize n = session_write(s, 0, data, len);
    return n < 0 ? end_if_fatal(s, (int)n) : n;
}

whelk_ssize whelk_session_write_stderr(whelk_session *s, const void *data,
                                   size_t len)
{
    whelk_ssize n = session_write(s, 1, data, len);
    return n < 0 ? end_if_fatal(s, (int)n) : n;
}

size_t whelk_session_write_room(const whelk_session *s)
{
    if (s->sent_eof || s->closing || s->sent_close || s->peer_close)
        return 0;
    size_t queued = wk_buf_used(&s->outq) + wk_buf_used(&s->errq);
    return s->out_bound > queued ? s->out_bound - queued : 0;
}

static int queue_ctrl(whelk_session *s, uint8_t what)
{
    if (s->sent_close || s->closing || s->peer_close) return WHELK_ERR_STATE;
    if (s->n_ctrl >= WK_MAX_CTRL) return WHELK_ERR_LIMIT;
    s->ctrl[s->n_ctrl++] = what;
    whelk_conn *c = s->conn;
    int rc = chan_pump(s);
    return rc < 0 ? wk_end_if_fatal(c, rc) : 0;
}

int whelk_session_send_eof(whelk_session *s)
{
    if (s->sent_eof) return 0;
    int rc = queue_ctrl(s, WK_CTRL_EOF);
    if (!rc) s->sent_eof = 1;
    return rc;
}

int whelk_session_exit_status(whelk_session *s, uint32_t status)
{
    s->exit_status = status;
    return queue_ctrl(s, WK_CTRL_EXIT_STATUS);
}

int whelk_session_exit_signal(whelk_session *s, const char *name,
                              int core_dumped, const char *message)
{
    if (!name || !*name || strlen(name) >= sizeof(s->exit_signal))
        return WHELK_ERR_INVAL;
    snprintf(s->exit_signal, sizeof(s->exit_signal), "%s", name);
    snprintf(s->exit_message, sizeof(s->exit_message), "%s",
             message ? message : "");
    s->exit_core = !!core_dumped;
    return queue_ctrl(s, WK_CTRL_EXIT_SIGNAL);
}

int whelk_session_close(whelk_session *s)
{
    if (s->closing || s->sent_close) return 0;
    int rc = queue_ctrl(s, WK_CTRL_CLOSE);
    s->closing = 1;
    return rc;
}

int whelk_session_send_eow(whelk_session *s)
{
    whelk_conn *c = s->conn;
    if (s->eow_sent || s->sent_close || s->peer_close) return 0;
    /* Only OpenSSH knows eow@openssh.com (sshd checks the same way). */
    const char *peer = whelk_conn_peer_version(c);
    if (!peer || !strstr(peer, "OpenSSH")) return 0;
    s->eow_sent = 1;
    wk_msg m;
    wk_buf *b = wk_chan_msg_begin(s, &m, SSH_MSG_CHANNEL_REQUEST);
    if (!b || wk_buf_put_cstring(b, "eow@openssh.com") ||
        wk_buf_put_bool(b, 0))
        return wk_end_if_fatal(c, WHELK_ERR_NOMEM);
    return wk_end_if_fatal(c, wk_msg_end(c, &m));
}

/* ------------------------------------------------------------------------
 * Input from the peer.
 */

static int adjust_window(whelk_session *s)
{
    /* Re-open once half the window has been consumed: fewer, larger
     * adjustments, and the peer never stalls while we keep up. */
    if (s->consumed == 0 || s->sent_close || s->peer_close) return 0;
    if (s->consumed < s->local_window_max / 2) return 0;
    wk_msg m;
    wk_buf *b = wk_chan_msg_begin(s, &m, SSH_MSG_CHANNEL_WINDOW_ADJUST);
    if (!b || wk_buf_put_u32(b, s->consumed)) return WHELK_ERR_NOMEM;
    int rc = wk_msg_end(s->conn, &m);
    if (rc) return rc;
    s->local_window += s->consumed;
    s->consumed = 0;
    return 0;
}

void whelk_session_consumed(whelk_session *s, size_t n)
{
    uint32_t outstanding = s->local_window_max - s->local_window;
    if (n > outstanding - s->consumed) n = outstanding - s->consumed;
    s->consumed += (uint32_t)n;
    int rc = adjust_window(s);
    if (rc && whelk_err_is_fatal(rc))
        wk_fatal(s->conn, rc, WHELK_DISCONNECT_BY_APPLICATION,
                 "cannot send window adjust");
}

void wk_chan_program_started(whelk_session *s)
{
    s->started = 1;
    if (wk_buf_used(&s->prestart) > 0) {
        /* Conch's buf: data that came before the program, in order. */
        wk_buf held = s->prestart;
        wk_buf_init(&s->prestart, held.max);
        if (s->h.data)
            s->h.data(s, wk_buf_data(&held), wk_buf_used(&held), s->user);
        else
            whelk_session_consumed(s, wk_buf_used(&held));
        wk_buf_free_secret(&held);
    }
    if (s->eof_pending && !s->peer_close) {
        s->eof_pending = 0;
        if (s->h.eof) s->h.eof(s, s->user);
    }
}

static int on_data(whelk_conn *c, whelk_session *s, int ext, wk_reader *r)
{
    uint32_t type = 0;
    const uint8_t *p;
    size_t n;
    int rc = ext ? wk_get_u32(r, &type) : 0;
    if (!rc) rc = wk_get_string(r, &p, &n, WK_MAX_PACKET_LEN);
    if (!rc) rc = wk_reader_end(r);
    if (rc)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed channel data");
    if (n > s->local_maxpkt)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "channel %u: data packet of %zu bytes exceeds the "
                        "maximum packet size %u",
                        s->local_id, n, s->local_maxpkt);
    if (n > s->local_window)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "channel %u: peer sent %zu bytes beyond its window "
                        "(%u left)",
                        s->local_id, n, s->local_window);
    if (s->peer_eof)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "channel %u: data after EOF", s->local_id);
    s->local_window -= (uint32_t)n;
    s->last_io_ms = c->now_ms;
    if (n == 0) return 0;
    /* After our CLOSE, data still in flight is dropped but keeps the
     * books balanced. */
    if (s->sent_close || s->closing) {
        whelk_session_consumed(s, n);
        return 0;
    }
    if (ext) {
        if (s->h.extended_data && s->started)
            s->h.extended_data(s, type, p, n, s->user);
        whelk_session_consumed(s, n);
        return 0;
    }
    if (!s->started) {
        if ((rc = wk_buf_put(&s->prestart, p, n)) != 0)
            return wk_fatal(c, rc, WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "channel %u: too much early data", s->local_id);
        return 0;
    }
    if (s->h.data)
        s->h.data(s, p, n, s->user);
    else
        whelk_session_consumed(s, n);
    return 0;
}

static int on_close(whelk_conn *c, whelk_session *s)
{
    if (s->peer_close) return 0; /* a repeated CLOSE changes nothing */
    s->peer_close = 1;
    if (s->sent_close) {
        chan_free(c, s);
        return 0;
    }
    /* The peer is gone: what was queued for it is dropped, control
     * messages already requested still go out, then our CLOSE. */
    wk_buf_free(&s->outq);
    wk_buf_free(&s->errq);
    int rc = 0;
    for (unsigned i = 0; i < s->n_ctrl && !rc; i++) {
        if (s->ctrl[i] == WK_CTRL_EXIT_STATUS) rc = send_exit_request(s, 0);
        if (s->ctrl[i] == WK_CTRL_EXIT_SIGNAL) rc = send_exit_request(s, 1);
    }
    s->n_ctrl = 0;
    if (!rc) rc = send_simple(s, SSH_MSG_CHANNEL_CLOSE);
    s->sent_close = 1;
    chan_free(c, s);
    return rc;
}

static int refuse_open(whelk_conn *c, uint32_t sender, uint32_t reason,
                       const char *text)
{
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_CHANNEL_OPEN_FAILURE);
    if (!b || wk_buf_put_u32(b, sender) || wk_buf_put_u32(b, reason) ||
        wk_buf_put_cstring(b, text) || wk_buf_put_cstring(b, ""))
        return WHELK_ERR_NOMEM;
    return wk_msg_end(c, &m);
}

static int on_open(whelk_conn *c, wk_reader *r)
{
    wk_chans *t = c->chans;
    const uint8_t *type;
    size_t tl;
    uint32_t sender, window, maxpkt;
    int rc = wk_get_string(r, &type, &tl, 64);
    if (!rc) rc = wk_get_u32(r, &sender);
    if (!rc) rc = wk_get_u32(r, &window);
    if (!rc) rc = wk_get_u32(r, &maxpkt);
    if (rc)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed channel open");
    char tname[80];
    whelk_escape(tname, sizeof(tname), type, tl);
    if (strcmp(tname, "session") != 0) {
        static const char *const known[] = {
            "direct-tcpip", "forwarded-tcpip", "x11", "auth-agent@openssh.com",
            "direct-streamlocal@openssh.com", "tun@openssh.com"};
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (!strcmp(tname, known[i]))
                return refuse_open(c, sender,
                                   SSH_OPEN_ADMINISTRATIVELY_PROHIBITED,
                                   "channel type disabled");
        wk_log(c, WHELK_LOG_DEBUG, "refusing channel type %s from %s port %d",
               tname, c->peer_addr, c->peer_port);
        return refuse_open(c, sender, SSH_OPEN_UNKNOWN_CHANNEL_TYPE,
                           "unknown channel type");
    }
    if (wk_reader_end(r) != 0)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed session open");
    if (t->no_more_sessions)
        return refuse_open(c, sender, SSH_OPEN_ADMINISTRATIVELY_PROHIBITED,
                           "no more sessions");
    if (t->sessions >= c->set[WHELK_SET_MAX_SESSIONS])
        return refuse_open(c, sender, SSH_OPEN_RESOURCE_SHORTAGE,
                           "too many sessions");
    if (maxpkt == 0)
        return refuse_open(c, sender, SSH_OPEN_CONNECT_FAILED,
                           "maximum packet size of zero");
    if (t->next_id == UINT32_MAX)
        return refuse_open(c, sender, SSH_OPEN_RESOURCE_SHORTAGE,
                           "channel ids exhausted");

    whelk_session *s = calloc(1, sizeof(*s));
    if (!s) return WHELK_ERR_NOMEM;
    s->conn = c;
    s->local_id = t->next_id++;
    s->remote_id = sender;
    s->remote_window = window;
    s->remote_maxpkt = maxpkt;
    s->local_window = s->local_window_max =
        (uint32_t)c->set[WHELK_SET_WINDOW];
    s->local_maxpkt = (uint32_t)c->set[WHELK_SET_MAX_PACKET];
    s->out_bound = c->set[WHELK_SET_OUT_BUFFER];
    wk_buf_init(&s->prestart, s->local_window_max);
    wk_buf_init(&s->outq, s->out_bound);
    wk_buf_init(&s->errq, s->out_bound);
    s->next = t->list;
    t->list = s;
    t->sessions++;
    wk_chan_set_kind(s, "session");
    if (!c->cb.session_open || c->cb.session_open(c, s, c->user) < 0) {
        s->h.closed = NULL; /* refused before it existed for the app */
        chan_free(c, s);
        return refuse_open(c, sender, SSH_OPEN_ADMINISTRATIVELY_PROHIBITED,
                           "session refused");
    }
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    if (!b || wk_buf_put_u32(b, sender) || wk_buf_put_u32(b, s->local_id) ||
        wk_buf_put_u32(b, s->local_window) ||
        wk_buf_put_u32(b, s->local_maxpkt))
        return WHELK_ERR_NOMEM;
    return wk_msg_end(c, &m);
}

static int on_global_request(whelk_conn *c, wk_reader *r)
{
    const uint8_t *name;
    size_t nl;
    int want;
    if (wk_get_string(r, &name, &nl, 256) || wk_get_bool(r, &want))
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed global request");
    int ok = 0;
    if (nl == 28 && !memcmp(name, "no-more-sessions@openssh.com", 28)) {
        c->chans->no_more_sessions = 1;
        ok = 1;
    }
    /* keepalive@openssh.com and every unknown request: failure, which is
     * what OpenSSH's clients expect of a live server. */
    if (!want) return 0;
    wk_msg m;
    if (!wk_msg_begin(c, &m, ok ? SSH_MSG_REQUEST_SUCCESS
                                : SSH_MSG_REQUEST_FAILURE))
        return WHELK_ERR_NOMEM;
    return wk_msg_end(c, &m);
}

static int on_request(whelk_conn *c, whelk_session *s, wk_reader *r)
{
    const uint8_t *type;
    size_t tl;
    int want;
    if (wk_get_string(r, &type, &tl, 64) || wk_get_bool(r, &want))
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed channel request");
    char name[65];
    memcpy(name, type, tl);
    name[tl] = 0;
    int ok = 0;
    if (s->sent_close || s->closing) {
        ok = 0; /* too late for anything; still answer if asked */
    } else if (!memchr(type, 0, tl)) {
        ok = wk_session_request(s, name, r);
        if (ok < 0) return ok;
    }
    if (!want || s->sent_close) return 0;
    return send_simple(s, ok ? SSH_MSG_CHANNEL_SUCCESS
                             : SSH_MSG_CHANNEL_FAILURE);
}

int wk_chans_dispatch(whelk_conn *c, uint8_t type, const uint8_t *payload,
                      size_t len)
{
    wk_reader r;
    uint8_t t;
    wk_reader_init(&r, payload, len);
    wk_get_u8(&r, &t);
    if (type == SSH_MSG_GLOBAL_REQUEST) return on_global_request(c, &r);
    if (type == SSH_MSG_CHANNEL_OPEN) return on_open(c, &r);
    if (type == SSH_MSG_REQUEST_SUCCESS || type == SSH_MSG_REQUEST_FAILURE)
        return 0; /* we send no global requests that want replies */

    uint32_t id;
    if (type < SSH_MSG_CHANNEL_OPEN_CONFIRMATION ||
        type > SSH_MSG_CHANNEL_FAILURE || wk_get_u32(&r, &id) != 0)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "unexpected connection message %u", type);
    whelk_session *s = wk_chan_find(c, id);
    if (!s)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "message %u referred to nonexistent channel %u",
                        type, id);
    switch (type) {
    case SSH_MSG_CHANNEL_WINDOW_ADJUST: {
        uint32_t add;
        if (wk_get_u32(&r, &add) || wk_reader_end(&r))
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "malformed window adjust");
        if (add > UINT32_MAX - s->remote_window)
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "channel %u: window adjust overflows 2^32-1",
                            id);
        s->remote_window += add;
        int rc = chan_pump(s);
        return rc < 0 ? rc : 0;
    }
    case SSH_MSG_CHANNEL_DATA:
        return on_data(c, s, 0, &r);
    case SSH_MSG_CHANNEL_EXTENDED_DATA:
        return on_data(c, s, 1, &r);
    case SSH_MSG_CHANNEL_EOF:
        if (s->peer_eof) return 0;
        s->peer_eof = 1;
        if (s->sent_close || s->closing) return 0;
        if (!s->started)
            s->eof_pending = 1;
        else if (s->h.eof)
            s->h.eof(s, s->user);
        return 0;
    case SSH_MSG_CHANNEL_CLOSE:
        return on_close(c, s);
    case SSH_MSG_CHANNEL_REQUEST:
        return on_request(c, s, &r);
    case SSH_MSG_CHANNEL_SUCCESS:
    case SSH_MSG_CHANNEL_FAILURE:
        return 0; /* replies to requests we never make wanting replies */
    default:
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "unexpected channel message %u", type);
    }
}

/* ------------------------------------------------------------------------
 * Small accessors.
 */

void whelk_session_set_handler(whelk_session *s,
                               const whelk_session_handler *h, void *user)
{
    if (h)
        s->h = h->h;
    else
        memset(&s->h, 0, sizeof(s->h));
    s->user = user;
}

void *whelk_session_user(const whelk_session *s) { return s->user; }
whelk_conn *whelk_session_conn(const whelk_session *s) { return s->conn; }
uint32_t whelk_session_id(const whelk_session *s) { return s->local_id; }
int whelk_session_peer_eof(const whelk_session *s) { return s->peer_eof; }
uint32_t whelk_session_peer_window(const whelk_session *s)
{
    return s->remote_window;
}

/* ------------------------------------------------------------------------
 * Inactivity timeouts (sshd's ChannelTimeout) and the connection's idle
 * time (UnusedConnectionTimeout).
 */

int whelk_conn_set_channel_timeout(whelk_conn *c, const char *kind,
                                   uint64_t ms)
{
    wk_chans *t = c->chans;
    if (!kind || !*kind || strlen(kind) > 128 || ms > (1ull << 42))
        return WHELK_ERR_INVAL;
    unsigned i = 0;
    while (i < t->n_timeouts && strcmp(t->timeouts[i].pattern, kind)) i++;
    if (i == t->n_timeouts) {
        if (i >= WK_MAX_CHANNEL_TIMEOUTS) return WHELK_ERR_LIMIT;
        if (!(t->timeouts[i].pattern = strdup(kind))) return WHELK_ERR_NOMEM;
        t->n_timeouts++;
    }
    t->timeouts[i].ms = ms;
    return 0;
}

void wk_chan_set_kind(whelk_session *s, const char *kind)
{
    wk_chans *t = s->conn->chans;
    s->timeout_ms = 0;
    for (unsigned i = 0; i < t->n_timeouts; i++)
        if (fnmatch(t->timeouts[i].pattern, kind, 0) == 0) {
            s->timeout_ms = t->timeouts[i].ms;
            break;
        }
    s->last_io_ms = s->conn->now_ms;
}

uint64_t wk_chans_idle_since(const whelk_conn *c)
{
    return c->chans && !c->chans->list ? c->chans->idle_since : UINT64_MAX;
}

uint64_t wk_chans_expiry(const whelk_conn *c)
{
    uint64_t t = UINT64_MAX;
    if (!c->chans || c->chans->n_timeouts == 0) return t;
    for (const whelk_session *s = c->chans->list; s; s = s->next)
        if (s->timeout_ms && !s->closing && s->last_io_ms + s->timeout_ms < t)
            t = s->last_io_ms + s->timeout_ms;
    return t;
}

int wk_chans_handle_expiry(whelk_conn *c, uint64_t now)
{
    if (!c->chans || c->chans->n_timeouts == 0) return 0;
    for (whelk_session *s = c->chans->list, *next; s; s = next) {
        next = s->next;
        if (!s->timeout_ms || s->closing || now < s->last_io_ms + s->timeout_ms)
            continue;
        wk_log(c, WHELK_LOG_INFO,
               "channel %u: closing after %llu seconds of inactivity",
               s->local_id, (unsigned long long)(s->timeout_ms / 1000));
        s->timeout_ms = 0;
        int rc = whelk_session_close(s);
        if (rc < 0) return rc;
    }
    return 0;
}
