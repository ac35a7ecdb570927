/*
 * channel: the connection protocol (RFC 4254 sections 4 and 5) and the
 * generic channel, the C counterpart of Twisted Conch's SSHChannel.
 *
 * Flow control, in both directions:
 * - to the peer: never more than its window or maximum packet; output
 *   beyond the window is queued up to a bound, and the owner is told to
 *   stop when the queue fills and to start again once it drained;
 * - from the peer: data beyond our window or maximum packet ends the
 *   connection (PROTOCOL_ERROR), and the window is re-opened only for data
 *   the owner has consumed (OpenSSH's rule), so a slow program slows the
 *   client down.
 * EOF is one-directional; our CLOSE goes out only after our queued output
 * and control messages; a channel is freed once both sides sent CLOSE.
 * Channel ids count up and are never reused on a connection, so a
 * message for a channel we already closed is told from one for a channel
 * that never was.
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

void wk_chan_free(wk_channel *ch)
{
    whelk_conn *c = ch->conn;
    wk_chans *t = c->chans;
    for (wk_channel **pp = &t->list; *pp; pp = &(*pp)->next) {
        if (*pp == ch) {
            *pp = ch->next;
            break;
        }
    }
    if (!t->list) t->idle_since = c->now_ms;
    t->count--;
    t->window_granted -= ch->local_window_max;
    t->queued -= wk_buf_used(&ch->outq) + wk_buf_used(&ch->errq);
    wk_buf_free(&ch->outq);
    wk_buf_free(&ch->errq);
    /* The owner goes last, after the table forgot the channel; it frees
     * the memory |ch| lives in. */
    ch->ops->closed(ch);
}

void wk_chans_free(whelk_conn *c)
{
    if (!c->chans) return;
    while (c->chans->list) wk_chan_free(c->chans->list);
    for (unsigned i = 0; i < c->chans->n_timeouts; i++)
        free(c->chans->timeouts[i].pattern);
    free(c->chans->timeouts);
    free(c->chans);
    c->chans = NULL;
}

static wk_channel *chan_find(whelk_conn *c, uint32_t id)
{
    for (wk_channel *ch = c->chans->list; ch; ch = ch->next)
        if (ch->local_id == id) return ch;
    return NULL;
}

/* The parts of attaching common to both directions: our id, window
 * and packet, within the connection's limits. */
static int attach(wk_channel *ch, whelk_conn *c, const wk_channel_ops *ops,
                  const char *kind)
{
    wk_chans *t = c->chans;
    uint64_t left = c->set[WHELK_SET_CONN_WINDOW] > t->window_granted
                        ? c->set[WHELK_SET_CONN_WINDOW] - t->window_granted
                        : 0;
    uint64_t window = c->set[WHELK_SET_WINDOW];
    if (window > left) window = left;
    if (t->count >= c->set[WHELK_SET_MAX_CHANNELS] || window < 65536 ||
        t->next_id == UINT32_MAX)
        return WHELK_ERR_LIMIT;
    ch->conn = c;
    ch->ops = ops;
    ch->local_id = t->next_id++;
    ch->local_window = ch->local_window_max = (uint32_t)window;
    ch->local_maxpkt = (uint32_t)c->set[WHELK_SET_MAX_PACKET];
    ch->out_bound = c->set[WHELK_SET_OUT_BUFFER];
    wk_buf_init(&ch->outq, ch->out_bound);
    wk_buf_init(&ch->errq, ch->out_bound);
    ch->next = t->list;
    t->list = ch;
    t->count++;
    t->window_granted += window;
    wk_chan_set_kind(ch, kind);
    return 0;
}

int wk_chan_attach(wk_channel *ch, whelk_conn *c, const wk_channel_ops *ops,
                   uint32_t sender, uint32_t window, uint32_t maxpkt,
                   const char *kind)
{
    int rc = attach(ch, c, ops, kind);
    if (rc) return rc;
    ch->remote_id = sender;
    ch->remote_window = window;
    ch->remote_maxpkt = maxpkt;
    return 0;
}

int wk_chan_open_local(wk_channel *ch, whelk_conn *c, const wk_channel_ops *ops,
                       const char *type, const uint8_t *data, size_t len,
                       const char *kind)
{
    int rc = attach(ch, c, ops, kind);
    if (rc) return rc;
    /* Nothing goes to the peer before it confirms: no window yet, and
     * control messages wait (chan_pump). */
    ch->opening = ch->ours = 1;
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_CHANNEL_OPEN);
    rc = b ? 0 : WHELK_ERR_NOMEM;
    if (!rc) rc = wk_buf_put_cstring(b, type);
    if (!rc) rc = wk_buf_put_u32(b, ch->local_id);
    if (!rc) rc = wk_buf_put_u32(b, ch->local_window);
    if (!rc) rc = wk_buf_put_u32(b, ch->local_maxpkt);
    if (!rc && len) rc = wk_buf_put(b, data, len);
    if (!rc) rc = wk_msg_end(c, &m);
    if (rc) {
        /* Taken out again, before its owner ever saw it. */
        wk_chans *t = c->chans;
        t->list = ch->next;
        t->count--;
        t->window_granted -= ch->local_window_max;
        wk_buf_free(&ch->outq);
        wk_buf_free(&ch->errq);
    }
    return rc;
}

int wk_chan_confirm(wk_channel *ch)
{
    wk_msg m;
    wk_buf *b = wk_msg_begin(ch->conn, &m, SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    if (!b || wk_buf_put_u32(b, ch->remote_id) ||
        wk_buf_put_u32(b, ch->local_id) ||
        wk_buf_put_u32(b, ch->local_window) ||
        wk_buf_put_u32(b, ch->local_maxpkt))
        return WHELK_ERR_NOMEM;
    return wk_msg_end(ch->conn, &m);
}

int wk_chan_refuse(whelk_conn *c, uint32_t sender, uint32_t reason,
                   const char *text)
{
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_CHANNEL_OPEN_FAILURE);
    if (!b || wk_buf_put_u32(b, sender) || wk_buf_put_u32(b, reason) ||
        wk_buf_put_cstring(b, text) || wk_buf_put_cstring(b, ""))
        return WHELK_ERR_NOMEM;
    return wk_msg_end(c, &m);
}

wk_buf *wk_chan_msg_begin(wk_channel *ch, wk_msg *m, uint8_t type)
{
    wk_buf *b = wk_msg_begin(ch->conn, m, type);
    if (b && wk_buf_put_u32(b, ch->remote_id) != 0) return NULL;
    return b;
}

static int send_simple(wk_channel *ch, uint8_t type)
{
    wk_msg m;
    if (!wk_chan_msg_begin(ch, &m, type)) return WHELK_ERR_NOMEM;
    return wk_msg_end(ch->conn, &m);
}

/* ------------------------------------------------------------------------
 * Output towards the peer.
 */

static size_t chunk_limit(const wk_channel *ch)
{
    size_t n = ch->remote_maxpkt;
    if (n > WK_MAX_PACKET_LEN - 1024) n = WK_MAX_PACKET_LEN - 1024;
    return n < ch->remote_window ? n : ch->remote_window;
}

/* Sends up to |len| bytes as DATA (|ext| 0) or EXTENDED_DATA type 1,
 * within the window and packet size; returns the count sent. */
static whelk_ssize send_data(wk_channel *ch, int ext, const uint8_t *p,
                             size_t len)
{
    whelk_conn *c = ch->conn;
    size_t sent = 0;
    while (sent < len && wk_conn_may_send_data(c)) {
        size_t n = chunk_limit(ch);
        if (n == 0) break;
        if (n > len - sent) n = len - sent;
        wk_msg m;
        wk_buf *b = wk_chan_msg_begin(
            ch, &m, ext ? SSH_MSG_CHANNEL_EXTENDED_DATA : SSH_MSG_CHANNEL_DATA);
        if (!b) return WHELK_ERR_NOMEM;
        int rc = ext ? wk_buf_put_u32(b, 1) : 0;
        if (!rc) rc = wk_buf_put_u32(b, (uint32_t)n);
        uint8_t *hole = rc ? NULL : wk_buf_extend(b, n);
        if (!hole) {
            wk_buf_truncate(m.b, m.start);
            return rc ? rc : WHELK_ERR_NOMEM;
        }
        /* Sealed from the caller's bytes: no copy into the output. */
        rc = wk_msg_end_from(c, &m, hole, p + sent, n);
        if (rc) return rc;
        ch->remote_window -= (uint32_t)n;
        ch->last_io_ms = c->now_ms;
        sent += n;
    }
    return (whelk_ssize)sent;
}

static int flush_queue(wk_channel *ch, wk_buf *q, int ext)
{
    if (wk_buf_used(q) == 0) return 0;
    whelk_ssize n = send_data(ch, ext, wk_buf_data(q), wk_buf_used(q));
    if (n < 0) return (int)n;
    wk_buf_consume(q, (size_t)n);
    ch->conn->chans->queued -= (size_t)n;
    /* An idle channel keeps no queue memory. */
    if (wk_buf_used(q) == 0) wk_buf_free(q);
    return 0;
}

static size_t queued(const wk_channel *ch)
{
    return wk_buf_used(&ch->outq) + wk_buf_used(&ch->errq);
}

/* Sends queued output, then the control messages queued after it. May
 * free |ch| (when our CLOSE completes the pair); returns 1 then. */
static int chan_pump(wk_channel *ch)
{
    whelk_conn *c = ch->conn;
    if (ch->sent_close || ch->opening) return 0;
    int rc = flush_queue(ch, &ch->outq, 0);
    if (!rc) rc = flush_queue(ch, &ch->errq, 1);
    if (rc) return rc;
    if (ch->stopped && queued(ch) <= ch->out_bound / 2 &&
        c->chans->queued <= c->set[WHELK_SET_CONN_OUT_BUFFER] / 2 &&
        !ch->closing && !ch->sent_eof) {
        ch->stopped = 0;
        ch->ops->start_writing(ch);
        if (ch->sent_close) return 0;
    }
    if (queued(ch) > 0 || !wk_conn_may_send_data(c)) return 0;
    for (unsigned i = 0; i < ch->n_ctrl && !rc; i++) {
        switch (ch->ctrl[i]) {
        case WK_CTRL_EOF:
            rc = send_simple(ch, SSH_MSG_CHANNEL_EOF);
            break;
        case WK_CTRL_OWNER:
            rc = ch->ops->control(ch, ch->ctrl_arg[i]);
            break;
        case WK_CTRL_CLOSE:
            rc = send_simple(ch, SSH_MSG_CHANNEL_CLOSE);
            ch->sent_close = 1;
            break;
        }
        if (ch->sent_close) break;
    }
    ch->n_ctrl = 0;
    if (rc) return rc;
    if (ch->sent_close && ch->peer_close) {
        wk_chan_free(ch);
        return 1;
    }
    return 0;
}

int wk_chans_pump(whelk_conn *c)
{
    if (!c->chans) return 0;
    wk_channel *ch = c->chans->list, *next;
    for (; ch && wk_conn_may_send_data(c); ch = next) {
        next = ch->next;
        int rc = chan_pump(ch);
        if (rc < 0) return rc;
    }
    return 0;
}

int wk_chan_write_done(const wk_channel *ch)
{
    return ch->sent_eof || ch->closing || ch->sent_close || ch->peer_close;
}

whelk_ssize wk_chan_write(wk_channel *ch, int ext, const void *data,
                          size_t len)
{
    if (wk_chan_write_done(ch)) return WHELK_ERR_STATE;
    wk_buf *q = ext ? &ch->errq : &ch->outq;
    const uint8_t *p = data;
    size_t done = 0;
    /* Straight to the wire when nothing is waiting ahead of it and the
     * open has been answered. */
    if (queued(ch) == 0 && !ch->opening) {
        whelk_ssize n = send_data(ch, ext, p, len);
        if (n < 0) return n;
        done = (size_t)n;
    }
    size_t before = queued(ch);
    size_t room = wk_chan_write_room(ch);
    size_t take = len - done < room ? len - done : room;
    if (take && wk_buf_put(q, p + done, take) != 0) take = 0;
    ch->conn->chans->queued += take;
    done += take;
    /* Stop the producer as soon as it queues anything (behind a full
     * connection output or a shut window), not only when its queue is
     * full: queued bytes are copied twice, so the producer waits until
     * the queue drained to half (chan_pump starts it again) and then
     * writes no more than whelk_channel_send_room, which goes straight
     * into packets. */
    if ((done < len || before + take >= ch->out_bound ||
         wk_chan_write_room(ch) == 0 ||
         take) &&
        !ch->stopped) {
        ch->stopped = 1;
        ch->ops->stop_writing(ch);
    }
    return (whelk_ssize)done;
}

size_t wk_chan_send_room(const wk_channel *ch)
{
    const whelk_conn *c = ch->conn;
    if (wk_chan_write_done(ch) || ch->opening || queued(ch) ||
        !wk_conn_may_send_data(c))
        return 0;
    size_t out = WK_OUT_HIGH - wk_buf_used(&c->out);
    return out < ch->remote_window ? out : ch->remote_window;
}

size_t wk_chan_write_room(const wk_channel *ch)
{
    if (wk_chan_write_done(ch)) return 0;
    const whelk_conn *c = ch->conn;
    size_t q = queued(ch), all = c->chans->queued;
    size_t room = ch->out_bound > q ? ch->out_bound - q : 0;
    uint64_t limit = c->set[WHELK_SET_CONN_OUT_BUFFER];
    size_t conn_room = limit > all ? (size_t)(limit - all) : 0;
    return room < conn_room ? room : conn_room;
}

static int queue_ctrl(wk_channel *ch, uint8_t what, uint8_t arg)
{
    if (ch->sent_close || ch->closing || ch->peer_close)
        return WHELK_ERR_STATE;
    if (ch->n_ctrl >= WK_MAX_CTRL) return WHELK_ERR_LIMIT;
    ch->ctrl_arg[ch->n_ctrl] = arg;
    ch->ctrl[ch->n_ctrl++] = what;
    whelk_conn *c = ch->conn;
    int rc = chan_pump(ch);
    return rc < 0 ? wk_end_if_fatal(c, rc) : 0;
}

int wk_chan_send_eof(wk_channel *ch)
{
    if (ch->sent_eof) return 0;
    int rc = queue_ctrl(ch, WK_CTRL_EOF, 0);
    if (!rc) ch->sent_eof = 1;
    return rc;
}

int wk_chan_queue_owner(wk_channel *ch, int what)
{
    return queue_ctrl(ch, WK_CTRL_OWNER, (uint8_t)what);
}

int wk_chan_close(wk_channel *ch)
{
    if (ch->closing || ch->sent_close) return 0;
    int rc = queue_ctrl(ch, WK_CTRL_CLOSE, 0);
    ch->closing = 1;
    return rc;
}

/* ------------------------------------------------------------------------
 * Input from the peer.
 */

static int adjust_window(wk_channel *ch)
{
    /* Re-open once half the window has been consumed: fewer, larger
     * adjustments, and the peer never stalls while we keep up. */
    if (ch->consumed == 0 || ch->sent_close || ch->peer_close) return 0;
    if (ch->consumed < ch->local_window_max / 2) return 0;
    wk_msg m;
    wk_buf *b = wk_chan_msg_begin(ch, &m, SSH_MSG_CHANNEL_WINDOW_ADJUST);
    if (!b || wk_buf_put_u32(b, ch->consumed)) return WHELK_ERR_NOMEM;
    int rc = wk_msg_end(ch->conn, &m);
    if (rc) return rc;
    ch->local_window += ch->consumed;
    ch->consumed = 0;
    return 0;
}

void wk_chan_consumed(wk_channel *ch, size_t n)
{
    uint32_t outstanding = ch->local_window_max - ch->local_window;
    if (n > outstanding - ch->consumed) n = outstanding - ch->consumed;
    ch->consumed += (uint32_t)n;
    int rc = adjust_window(ch);
    if (rc && whelk_err_is_fatal(rc))
        wk_fatal(ch->conn, rc, WHELK_DISCONNECT_BY_APPLICATION,
                 "cannot send window adjust");
}

static int on_data(wk_channel *ch, int ext, wk_reader *r)
{
    whelk_conn *c = ch->conn;
    uint32_t type = 0;
    const uint8_t *p;
    size_t n;
    int rc = ext ? wk_get_u32(r, &type) : 0;
    if (!rc) rc = wk_get_string(r, &p, &n, WK_MAX_PACKET_LEN);
    if (!rc) rc = wk_reader_end(r);
    if (rc)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed channel data");
    if (n > ch->local_maxpkt)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "channel %u: data packet of %zu bytes exceeds the "
                        "maximum packet size %u",
                        ch->local_id, n, ch->local_maxpkt);
    if (n > ch->local_window)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "channel %u: peer sent %zu bytes beyond its window "
                        "(%u left)",
                        ch->local_id, n, ch->local_window);
    if (ch->peer_eof)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "channel %u: data after EOF", ch->local_id);
    ch->local_window -= (uint32_t)n;
    ch->last_io_ms = c->now_ms;
    if (n == 0) return 0;
    /* After our CLOSE, data still in flight is dropped but keeps the
     * books balanced. */
    if (ch->sent_close || ch->closing) {
        wk_chan_consumed(ch, n);
        return 0;
    }
    ch->ops->data(ch, ext, type, p, n);
    return 0;
}

static int on_close(wk_channel *ch)
{
    if (ch->peer_close) return 0; /* a repeated CLOSE changes nothing */
    ch->peer_close = 1;
    if (ch->sent_close) {
        wk_chan_free(ch);
        return 0;
    }
    /* The peer is gone: what was queued for it is dropped; the owner's
     * control messages already asked for (exit-status) still go out,
     * then our CLOSE. */
    ch->conn->chans->queued -= queued(ch);
    wk_buf_free(&ch->outq);
    wk_buf_free(&ch->errq);
    int rc = 0;
    for (unsigned i = 0; i < ch->n_ctrl && !rc; i++)
        if (ch->ctrl[i] == WK_CTRL_OWNER)
            rc = ch->ops->control(ch, ch->ctrl_arg[i]);
    ch->n_ctrl = 0;
    if (!rc) rc = send_simple(ch, SSH_MSG_CHANNEL_CLOSE);
    ch->sent_close = 1;
    wk_chan_free(ch);
    return rc;
}

static int on_open(whelk_conn *c, wk_reader *r)
{
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
    if (maxpkt == 0)
        return wk_chan_refuse(c, sender, SSH_OPEN_CONNECT_FAILED,
                              "maximum packet size of zero");
    if (strcmp(tname, "session") == 0) {
        if (wk_reader_end(r) != 0)
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "malformed session open");
        return wk_session_open(c, sender, window, maxpkt);
    }
    /* Every other type goes to the application when it takes channels. */
    if (c->cb.channel_open)
        return wk_tunnel_open(c, type, tl, sender, window, maxpkt, r);
    static const char *const known[] = {
        "direct-tcpip", "forwarded-tcpip", "x11", "auth-agent@openssh.com",
        "direct-streamlocal@openssh.com", "tun@openssh.com"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(tname, known[i]))
            return wk_chan_refuse(c, sender,
                                  SSH_OPEN_ADMINISTRATIVELY_PROHIBITED,
                                  "channel type disabled");
    wk_log(c, WHELK_LOG_DEBUG, "refusing channel type %s from %s port %d",
           tname, c->peer_addr, c->peer_port);
    return wk_chan_refuse(c, sender, SSH_OPEN_UNKNOWN_CHANNEL_TYPE,
                          "unknown channel type");
}

static int on_open_confirmation(wk_channel *ch, wk_reader *r)
{
    uint32_t sender, window, maxpkt;
    if (wk_get_u32(r, &sender) || wk_get_u32(r, &window) ||
        wk_get_u32(r, &maxpkt))
        return wk_fatal(ch->conn, WHELK_ERR_PROTO,
                        WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed channel open confirmation");
    /* Type-specific data may follow; none of ours has any. */
    ch->opening = 0;
    ch->remote_id = sender;
    ch->remote_window = window;
    ch->remote_maxpkt = maxpkt ? maxpkt : 1;
    ch->ops->opened(ch, 0, "");
    /* What was written or asked for meanwhile goes now. */
    int rc = chan_pump(ch);
    return rc < 0 ? rc : 0;
}

static int on_open_failure(wk_channel *ch, wk_reader *r)
{
    uint32_t reason;
    const uint8_t *desc = (const uint8_t *)"";
    size_t dl = 0;
    if (wk_get_u32(r, &reason) || wk_get_string(r, &desc, &dl, 1024))
        return wk_fatal(ch->conn, WHELK_ERR_PROTO,
                        WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed channel open failure");
    char text[1025];
    const uint8_t *nul = memchr(desc, 0, dl);
    if (nul) dl = (size_t)(nul - desc);
    memcpy(text, desc, dl);
    text[dl] = 0;
    ch->opening = 0;
    ch->peer_close = ch->sent_close = 1; /* nothing more either way */
    ch->ops->opened(ch, reason ? reason : SSH_OPEN_CONNECT_FAILED, text);
    wk_chan_free(ch);
    return 0;
}

static int on_request(wk_channel *ch, wk_reader *r)
{
    const uint8_t *type;
    size_t tl;
    int want;
    if (wk_get_string(r, &type, &tl, 64) || wk_get_bool(r, &want))
        return wk_fatal(ch->conn, WHELK_ERR_PROTO,
                        WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed channel request");
    char name[65];
    memcpy(name, type, tl);
    name[tl] = 0;
    int ok = 0;
    if (ch->sent_close || ch->closing) {
        ok = 0; /* too late for anything; still answer if asked */
    } else if (!memchr(type, 0, tl)) {
        ok = ch->ops->request(ch, name, r);
        if (ok < 0) return ok;
    }
    if (!want || ch->sent_close) return 0;
    return send_simple(ch, ok ? SSH_MSG_CHANNEL_SUCCESS
                              : SSH_MSG_CHANNEL_FAILURE);
}

int wk_chans_dispatch(whelk_conn *c, uint8_t type, const uint8_t *payload,
                      size_t len)
{
    wk_reader r;
    uint8_t t;
    wk_reader_init(&r, payload, len);
    wk_get_u8(&r, &t);
    if (type == SSH_MSG_GLOBAL_REQUEST || type == SSH_MSG_REQUEST_SUCCESS ||
        type == SSH_MSG_REQUEST_FAILURE)
        return wk_global_dispatch(c, type, &r);
    if (type == SSH_MSG_CHANNEL_OPEN) return on_open(c, &r);

    uint32_t id;
    if (type < SSH_MSG_CHANNEL_OPEN_CONFIRMATION ||
        type > SSH_MSG_CHANNEL_FAILURE || wk_get_u32(&r, &id) != 0)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "unexpected connection message %u", type);
    wk_channel *ch = chan_find(c, id);
    if (!ch && id < c->chans->next_id) {
        /* A channel we already closed with the peer: what it sent before
         * our CLOSE reached it (a request racing the close) is dropped,
         * as harmless as it is late. */
        wk_log(c, WHELK_LOG_DEBUG, "message %u for closed channel %u dropped",
               type, id);
        return 0;
    }
    if (!ch)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "message %u referred to nonexistent channel %u",
                        type, id);
    /* An open's answer only for one of ours still opening; nothing at
     * all for one of the peer's we have not answered yet. */
    int answer = type == SSH_MSG_CHANNEL_OPEN_CONFIRMATION ||
                 type == SSH_MSG_CHANNEL_OPEN_FAILURE;
    if (answer != (ch->opening && ch->ours) || (ch->opening && !ch->ours))
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "channel %u: message %u %s", id, type,
                        ch->opening ? "before its open was answered"
                                    : "for an open channel");
    switch (type) {
    case SSH_MSG_CHANNEL_OPEN_CONFIRMATION:
        return on_open_confirmation(ch, &r);
    case SSH_MSG_CHANNEL_OPEN_FAILURE:
        return on_open_failure(ch, &r);
    case SSH_MSG_CHANNEL_WINDOW_ADJUST: {
        uint32_t add;
        if (wk_get_u32(&r, &add) || wk_reader_end(&r))
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "malformed window adjust");
        if (add > UINT32_MAX - ch->remote_window)
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "channel %u: window adjust overflows 2^32-1",
                            id);
        ch->remote_window += add;
        int rc = chan_pump(ch);
        return rc < 0 ? rc : 0;
    }
    case SSH_MSG_CHANNEL_DATA:
        return on_data(ch, 0, &r);
    case SSH_MSG_CHANNEL_EXTENDED_DATA:
        return on_data(ch, 1, &r);
    case SSH_MSG_CHANNEL_EOF:
        if (ch->peer_eof) return 0;
        ch->peer_eof = 1;
        if (ch->sent_close || ch->closing) return 0;
        ch->ops->eof(ch);
        return 0;
    case SSH_MSG_CHANNEL_CLOSE:
        return on_close(ch);
    case SSH_MSG_CHANNEL_REQUEST:
        return on_request(ch, &r);
    case SSH_MSG_CHANNEL_SUCCESS:
    case SSH_MSG_CHANNEL_FAILURE:
        return 0; /* replies to requests we never make wanting replies */
    default:
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "unexpected channel message %u", type);
    }
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
    /* Named, never matched by a pattern (as in sshd). */
    if (strcmp(kind, "global") == 0) {
        t->global_timeout_ms = ms;
        return 0;
    }
    unsigned i = 0;
    while (i < t->n_timeouts && strcmp(t->timeouts[i].pattern, kind)) i++;
    if (i == t->n_timeouts) {
        if (i >= WK_MAX_CHANNEL_TIMEOUTS) return WHELK_ERR_LIMIT;
        struct wk_chan_timeout *grown =
            realloc(t->timeouts, (i + 1) * sizeof(*grown));
        if (!grown) return WHELK_ERR_NOMEM;
        t->timeouts = grown;
        if (!(t->timeouts[i].pattern = strdup(kind))) return WHELK_ERR_NOMEM;
        t->n_timeouts++;
    }
    t->timeouts[i].ms = ms;
    return 0;
}

/* sshd's names for the channels a server opens to the client, which
 * its ChannelTimeout uses instead of the wire types. */
static const char *kind_alias(const char *kind)
{
    if (strcmp(kind, "auth-agent@openssh.com") == 0) return "agent-connection";
    if (strcmp(kind, "x11") == 0) return "x11-connection";
    return NULL;
}

/* Whether |pattern| names |kind|: the kind itself ("session:shell",
 * OpenSSH 9.2's names), its type alone ("session", the later ones'),
 * or sshd's alias of a wire type. */
static int kind_matches(const char *pattern, const char *kind)
{
    if (fnmatch(pattern, kind, 0) == 0) return 1;
    const char *colon = strchr(kind, ':');
    if (colon && (size_t)(colon - kind) < 64) {
        char type[64];
        memcpy(type, kind, (size_t)(colon - kind));
        type[colon - kind] = 0;
        if (fnmatch(pattern, type, 0) == 0) return 1;
    }
    const char *alias = kind_alias(kind);
    return alias && fnmatch(pattern, alias, 0) == 0;
}

void wk_chan_set_kind(wk_channel *ch, const char *kind)
{
    wk_chans *t = ch->conn->chans;
    ch->timeout_ms = 0;
    for (unsigned i = 0; i < t->n_timeouts; i++)
        if (kind_matches(t->timeouts[i].pattern, kind)) {
            ch->timeout_ms = t->timeouts[i].ms;
            break;
        }
    ch->last_io_ms = ch->conn->now_ms;
}

/* "global": when the last data moved on any open channel, or
 * UINT64_MAX when none is open (then nothing is due). */
static uint64_t global_last_io(const wk_chans *t)
{
    uint64_t last = 0;
    int any = 0;
    for (const wk_channel *ch = t->list; ch; ch = ch->next) {
        if (ch->closing) continue;
        any = 1;
        if (ch->last_io_ms > last) last = ch->last_io_ms;
    }
    return any ? last : UINT64_MAX;
}

uint64_t wk_chans_idle_since(const whelk_conn *c)
{
    return c->chans && !c->chans->list ? c->chans->idle_since : UINT64_MAX;
}

uint64_t wk_chans_expiry(const whelk_conn *c)
{
    uint64_t t = UINT64_MAX;
    if (!c->chans) return t;
    if (c->chans->global_timeout_ms) {
        uint64_t last = global_last_io(c->chans);
        if (last != UINT64_MAX) t = last + c->chans->global_timeout_ms;
    }
    if (c->chans->n_timeouts == 0) return t;
    for (const wk_channel *ch = c->chans->list; ch; ch = ch->next)
        if (ch->timeout_ms && !ch->closing &&
            ch->last_io_ms + ch->timeout_ms < t)
            t = ch->last_io_ms + ch->timeout_ms;
    return t;
}

int wk_chans_handle_expiry(whelk_conn *c, uint64_t now)
{
    if (!c->chans) return 0;
    uint64_t global = c->chans->global_timeout_ms;
    if (global) {
        uint64_t last = global_last_io(c->chans);
        if (last != UINT64_MAX && now >= last + global) {
            wk_log(c, WHELK_LOG_INFO,
                   "closing every channel after %llu seconds of inactivity "
                   "on all of them (ChannelTimeout global)",
                   (unsigned long long)(global / 1000));
            for (wk_channel *ch = c->chans->list, *next; ch; ch = next) {
                next = ch->next;
                if (ch->closing) continue;
                ch->timeout_ms = 0;
                int rc = wk_chan_close(ch);
                if (rc < 0) return rc;
            }
        }
    }
    if (c->chans->n_timeouts == 0) return 0;
    for (wk_channel *ch = c->chans->list, *next; ch; ch = next) {
        next = ch->next;
        if (!ch->timeout_ms || ch->closing ||
            now < ch->last_io_ms + ch->timeout_ms)
            continue;
        wk_log(c, WHELK_LOG_INFO,
               "channel %u: closing after %llu seconds of inactivity",
               ch->local_id, (unsigned long long)(ch->timeout_ms / 1000));
        ch->timeout_ms = 0;
        int rc = wk_chan_close(ch);
        if (rc < 0) return rc;
    }
    return 0;
}
