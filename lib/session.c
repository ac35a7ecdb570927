/*
 * session: the session channel (RFC 4254 section 6, RFC 4335 break,
 * OpenSSH's eow@openssh.com), Conch's SSHSession on the generic channel
 * of channel.c. Requests are parsed into typed values and handed to the
 * application's session handler (Conch's ISession); data (and EOF) that
 * comes before the program started is kept and delivered once it has;
 * exit-status and exit-signal go out in order behind the output.
 *
 * Rules enforced here, whatever the handler does: one shell, exec or
 * subsystem per channel; pty-req and env only before it; window-change
 * only after a pty was granted; a malformed or truncated request is
 * refused, never trusted; x11 and agent forwarding are refused unless
 * the handler takes them.
 */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TERM 63
#define MAX_MODES_BYTES 4096
#define MAX_ENV_NAME 256
#define MAX_ENV_VALUE 16384
#define MAX_COMMAND (256 * 1024)
#define MAX_SUBSYSTEM 64
#define MAX_SIGNAL 32

/* Terminal modes (RFC 4254 section 8): byte opcode, uint32 argument,
 * until TTY_OP_END. Opcodes 160 and up have no defined argument, so
 * parsing stops there, as OpenSSH does. */
static int parse_modes(const uint8_t *p, size_t n, whelk_pty *pty)
{
    wk_reader r;
    wk_reader_init(&r, p, n);
    pty->n_modes = 0;
    while (wk_reader_left(&r) > 0) {
        uint8_t op;
        uint32_t v;
        if (wk_get_u8(&r, &op)) return -1;
        if (op == WHELK_TTY_OP_END || op >= 160) break;
        if (wk_get_u32(&r, &v)) return -1;
        if (pty->n_modes >= WHELK_MAX_TTY_MODES) return -1;
        pty->modes[pty->n_modes].opcode = op;
        pty->modes[pty->n_modes].value = v;
        pty->n_modes++;
    }
    return 0;
}

static int req_pty(whelk_session *s, wk_reader *r)
{
    whelk_pty pty;
    const uint8_t *term, *modes;
    size_t tl, ml;
    memset(&pty, 0, sizeof(pty));
    if (wk_get_string(r, &term, &tl, MAX_TERM) ||
        wk_get_u32(r, &pty.cols) || wk_get_u32(r, &pty.rows) ||
        wk_get_u32(r, &pty.width_px) || wk_get_u32(r, &pty.height_px) ||
        wk_get_string(r, &modes, &ml, MAX_MODES_BYTES) || wk_reader_end(r))
        return 0;
    if (memchr(term, 0, tl)) return 0;
    memcpy(pty.term, term, tl);
    pty.term[tl] = 0;
    if (parse_modes(modes, ml, &pty) != 0) return 0;
    if (s->started || s->pty || !s->h.pty_req) return 0;
    if (s->h.pty_req(s, &pty, s->user) < 0) return 0;
    s->pty = 1;
    return 1;
}

static int req_env(whelk_session *s, wk_reader *r)
{
    char name[MAX_ENV_NAME + 1];
    const uint8_t *v;
    size_t vl;
    if (wk_get_cstring(r, name, sizeof(name)) ||
        wk_get_string(r, &v, &vl, MAX_ENV_VALUE) || wk_reader_end(r))
        return 0;
    if (s->started || !s->h.env || memchr(v, 0, vl) || !name[0]) return 0;
    char value[MAX_ENV_VALUE + 1];
    memcpy(value, v, vl);
    value[vl] = 0;
    return s->h.env(s, name, value, s->user) < 0 ? 0 : 1;
}

static void program_started(whelk_session *s);

/* |kind| names the program for channel timeouts, as sshd's ChannelTimeout
 * does: "session:shell", "session:command", "session:subsystem:NAME". */
static int start(whelk_session *s, int granted, const char *kind)
{
    if (!granted) return 0;
    wk_chan_set_kind(&s->ch, kind);
    program_started(s);
    return 1;
}

static int req_shell(whelk_session *s, wk_reader *r)
{
    if (wk_reader_end(r) || s->started || !s->h.shell) return 0;
    return start(s, s->h.shell(s, s->user) >= 0, "session:shell");
}

static int req_exec(whelk_session *s, wk_reader *r)
{
    const uint8_t *cmd;
    size_t n;
    if (wk_get_string(r, &cmd, &n, MAX_COMMAND) || wk_reader_end(r))
        return 0;
    if (s->started || !s->h.exec || memchr(cmd, 0, n)) return 0;
    char *copy = malloc(n + 1);
    if (!copy) return WHELK_ERR_NOMEM;
    memcpy(copy, cmd, n);
    copy[n] = 0;
    int ok = s->h.exec(s, copy, s->user) >= 0;
    free(copy);
    return start(s, ok, "session:command");
}

static int req_subsystem(whelk_session *s, wk_reader *r)
{
    char name[MAX_SUBSYSTEM + 1];
    if (wk_get_cstring(r, name, sizeof(name)) || wk_reader_end(r)) return 0;
    if (s->started || !s->h.subsystem) return 0;
    char kind[sizeof("session:subsystem:") + MAX_SUBSYSTEM];
    snprintf(kind, sizeof(kind), "session:subsystem:%s", name);
    return start(s, s->h.subsystem(s, name, s->user) >= 0, kind);
}

static int req_window_change(whelk_session *s, wk_reader *r)
{
    uint32_t cols, rows, wpx, hpx;
    if (wk_get_u32(r, &cols) || wk_get_u32(r, &rows) || wk_get_u32(r, &wpx) ||
        wk_get_u32(r, &hpx) || wk_reader_end(r))
        return 0;
    if (!s->pty || !s->h.window_change) return 0;
    return s->h.window_change(s, cols, rows, wpx, hpx, s->user) < 0 ? 0 : 1;
}

static int req_signal(whelk_session *s, wk_reader *r)
{
    char name[MAX_SIGNAL + 1];
    if (wk_get_cstring(r, name, sizeof(name)) || wk_reader_end(r)) return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '@' || *p == '.' || *p == '-' || *p == '_' ||
              (*p >= 'a' && *p <= 'z')))
            return 0;
    if (!name[0] || !s->started || !s->h.signal) return 0;
    return s->h.signal(s, name, s->user) < 0 ? 0 : 1;
}

static int req_break(whelk_session *s, wk_reader *r)
{
    uint32_t ms;
    if (wk_get_u32(r, &ms) || wk_reader_end(r)) return 0;
    if (!s->h.brk) return 0;
    return s->h.brk(s, ms, s->user) < 0 ? 0 : 1;
}

/* auth-agent-req@openssh.com has no fields (OpenSSH's PROTOCOL 4.2). */
static int req_agent(whelk_session *s, wk_reader *r)
{
    if (wk_reader_end(r) || !s->h.agent_req) return 0;
    return s->h.agent_req(s, s->user) < 0 ? 0 : 1;
}

/* x11-req (RFC 4254 section 6.3.1): before the program starts. */
static int req_x11(whelk_session *s, wk_reader *r)
{
    int single;
    char proto[65], cookie[1025];
    uint32_t screen;
    if (wk_get_bool(r, &single) || wk_get_cstring(r, proto, sizeof(proto)) ||
        wk_get_cstring(r, cookie, sizeof(cookie)) ||
        wk_get_u32(r, &screen) || wk_reader_end(r))
        return 0;
    if (s->started || !s->h.x11_req) return 0;
    return s->h.x11_req(s, single, proto, cookie, screen, s->user) < 0 ? 0
                                                                        : 1;
}

static int req_xon_xoff(whelk_session *s, wk_reader *r)
{
    int can;
    if (wk_get_bool(r, &can) || wk_reader_end(r)) return 0;
    if (!s->h.xon_xoff) return 1; /* advisory; nothing to do without one */
    return s->h.xon_xoff(s, can, s->user) < 0 ? 0 : 1;
}

static int session_request(wk_channel *ch, const char *type, wk_reader *r)
{
    whelk_session *s = (whelk_session *)ch;
    if (!strcmp(type, "pty-req")) return req_pty(s, r);
    if (!strcmp(type, "env")) return req_env(s, r);
    if (!strcmp(type, "shell")) return req_shell(s, r);
    if (!strcmp(type, "exec")) return req_exec(s, r);
    if (!strcmp(type, "subsystem")) return req_subsystem(s, r);
    if (!strcmp(type, "window-change")) return req_window_change(s, r);
    if (!strcmp(type, "signal")) return req_signal(s, r);
    if (!strcmp(type, "break")) return req_break(s, r);
    if (!strcmp(type, "xon-xoff")) return req_xon_xoff(s, r);
    if (!strcmp(type, "auth-agent-req@openssh.com")) return req_agent(s, r);
    if (!strcmp(type, "x11-req")) return req_x11(s, r);
    /* Anything unknown. */
    char esc[4 * 64 + 1];
    whelk_escape(esc, sizeof(esc), type, strlen(type));
    wk_log(s->ch.conn, WHELK_LOG_DEBUG, "channel %u: refusing request %s",
           s->ch.local_id, esc);
    return 0;
}

const char *whelk_pty_term(const whelk_pty *pty) { return pty->term; }

void whelk_pty_size(const whelk_pty *pty, uint32_t *cols, uint32_t *rows,
                    uint32_t *width_px, uint32_t *height_px)
{
    if (cols) *cols = pty->cols;
    if (rows) *rows = pty->rows;
    if (width_px) *width_px = pty->width_px;
    if (height_px) *height_px = pty->height_px;
}

unsigned whelk_pty_mode_count(const whelk_pty *pty) { return pty->n_modes; }

int whelk_pty_mode(const whelk_pty *pty, unsigned i, uint8_t *opcode,
                   uint32_t *value)
{
    if (i >= pty->n_modes) return WHELK_ERR_INVAL;
    if (opcode) *opcode = pty->modes[i].opcode;
    if (value) *value = pty->modes[i].value;
    return 0;
}

/* ------------------------------------------------------------------------
 * The session as a channel owner.
 */

enum { CTRL_EXIT_STATUS = 1, CTRL_EXIT_SIGNAL };

/* Conch's buf: data that came before the program, in order, then the
 * EOF that came with it. */
static void program_started(whelk_session *s)
{
    s->started = 1;
    if (wk_buf_used(&s->prestart) > 0) {
        wk_buf held = s->prestart;
        wk_buf_init(&s->prestart, held.max);
        if (s->h.data)
            s->h.data(s, wk_buf_data(&held), wk_buf_used(&held), s->user);
        else
            wk_chan_consumed(&s->ch, wk_buf_used(&held));
        wk_buf_free_secret(&held);
    }
    if (s->eof_pending && !s->ch.peer_close) {
        s->eof_pending = 0;
        if (s->h.eof) s->h.eof(s, s->user);
    }
}

static void on_data(wk_channel *ch, int ext, uint32_t type, const uint8_t *p,
                    size_t n)
{
    whelk_session *s = (whelk_session *)ch;
    if (ext) {
        if (s->h.extended_data && s->started)
            s->h.extended_data(s, type, p, n, s->user);
        wk_chan_consumed(ch, n);
        return;
    }
    if (!s->started) {
        /* Bounded by the window: a peer cannot send more than that
         * before anyone consumed it. */
        if (wk_buf_put(&s->prestart, p, n) != 0)
            wk_fatal(ch->conn, WHELK_ERR_TOOBIG,
                     WHELK_DISCONNECT_PROTOCOL_ERROR,
                     "channel %u: too much early data", ch->local_id);
        return;
    }
    if (s->h.data)
        s->h.data(s, p, n, s->user);
    else
        wk_chan_consumed(ch, n);
}

static void on_eof(wk_channel *ch)
{
    whelk_session *s = (whelk_session *)ch;
    if (!s->started)
        s->eof_pending = 1;
    else if (s->h.eof)
        s->h.eof(s, s->user);
}

static void on_stop_writing(wk_channel *ch)
{
    whelk_session *s = (whelk_session *)ch;
    if (s->h.stop_writing) s->h.stop_writing(s, s->user);
}

static void on_start_writing(wk_channel *ch)
{
    whelk_session *s = (whelk_session *)ch;
    if (s->h.start_writing) s->h.start_writing(s, s->user);
}

/* exit-status or exit-signal, when the channel says they are due. */
static int on_control(wk_channel *ch, int what)
{
    whelk_session *s = (whelk_session *)ch;
    wk_msg m;
    wk_buf *b = wk_chan_msg_begin(ch, &m, SSH_MSG_CHANNEL_REQUEST);
    if (!b) return WHELK_ERR_NOMEM;
    int rc;
    if (what == CTRL_EXIT_STATUS) {
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
    return rc ? rc : wk_msg_end(ch->conn, &m);
}

static void on_closed(wk_channel *ch)
{
    whelk_session *s = (whelk_session *)ch;
    ch->conn->chans->sessions--;
    /* The application frees its state last, after we forgot the session. */
    if (s->h.closed) s->h.closed(s, s->user);
    wk_buf_free_secret(&s->prestart);
    free(s);
}

static const wk_channel_ops session_ops = {
    .data = on_data,
    .eof = on_eof,
    .request = session_request,
    .stop_writing = on_stop_writing,
    .start_writing = on_start_writing,
    .control = on_control,
    .closed = on_closed,
};

int wk_session_open(whelk_conn *c, uint32_t sender, uint32_t window,
                    uint32_t maxpkt)
{
    wk_chans *t = c->chans;
    if (t->no_more_sessions)
        return wk_chan_refuse(c, sender, SSH_OPEN_ADMINISTRATIVELY_PROHIBITED,
                              "no more sessions");
    if (t->sessions >= c->set[WHELK_SET_MAX_SESSIONS])
        return wk_chan_refuse(c, sender, SSH_OPEN_RESOURCE_SHORTAGE,
                              "too many sessions");
    whelk_session *s = calloc(1, sizeof(*s));
    if (!s) return WHELK_ERR_NOMEM;
    if (wk_chan_attach(&s->ch, c, &session_ops, sender, window, maxpkt,
                       "session") != 0) {
        free(s);
        return wk_chan_refuse(c, sender, SSH_OPEN_RESOURCE_SHORTAGE,
                              "too many channels");
    }
    wk_buf_init(&s->prestart, s->ch.local_window_max);
    t->sessions++;
    if (!c->cb.session_open || c->cb.session_open(c, s, c->user) < 0) {
        memset(&s->h, 0, sizeof(s->h)); /* never the app's to close */
        wk_chan_free(&s->ch);
        return wk_chan_refuse(c, sender, SSH_OPEN_ADMINISTRATIVELY_PROHIBITED,
                              "session refused");
    }
    return wk_chan_confirm(&s->ch);
}

/* ------------------------------------------------------------------------
 * The public session calls. Those that can fail end the connection on a
 * fatal error (out of memory, a full deferred queue) rather than leave it
 * running with a message lost; WHELK_ERR_STATE and WHELK_ERR_LIMIT only
 * refuse the call.
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
whelk_conn *whelk_session_conn(const whelk_session *s) { return s->ch.conn; }
uint32_t whelk_session_id(const whelk_session *s) { return s->ch.local_id; }
int whelk_session_peer_eof(const whelk_session *s) { return s->ch.peer_eof; }
uint32_t whelk_session_peer_window(const whelk_session *s)
{
    return s->ch.remote_window;
}

whelk_ssize whelk_session_write(whelk_session *s, const void *data, size_t len)
{
    whelk_ssize n = wk_chan_write(&s->ch, 0, data, len);
    return n < 0 ? wk_end_if_fatal(s->ch.conn, (int)n) : n;
}

whelk_ssize whelk_session_write_stderr(whelk_session *s, const void *data,
                                       size_t len)
{
    whelk_ssize n = wk_chan_write(&s->ch, 1, data, len);
    return n < 0 ? wk_end_if_fatal(s->ch.conn, (int)n) : n;
}

size_t whelk_session_write_room(const whelk_session *s)
{
    return wk_chan_write_room(&s->ch);
}

void whelk_session_consumed(whelk_session *s, size_t n)
{
    wk_chan_consumed(&s->ch, n);
}

int whelk_session_send_eof(whelk_session *s)
{
    return wk_chan_send_eof(&s->ch);
}

int whelk_session_exit_status(whelk_session *s, uint32_t status)
{
    s->exit_status = status;
    return wk_chan_queue_owner(&s->ch, CTRL_EXIT_STATUS);
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
    return wk_chan_queue_owner(&s->ch, CTRL_EXIT_SIGNAL);
}

int whelk_session_close(whelk_session *s)
{
    return wk_chan_close(&s->ch);
}

int whelk_session_send_eow(whelk_session *s)
{
    whelk_conn *c = s->ch.conn;
    if (s->eow_sent || s->ch.sent_close || s->ch.peer_close) return 0;
    /* Only OpenSSH knows eow@openssh.com (sshd checks the same way). */
    const char *peer = whelk_conn_peer_version(c);
    if (!peer || !strstr(peer, "OpenSSH")) return 0;
    s->eow_sent = 1;
    wk_msg m;
    wk_buf *b = wk_chan_msg_begin(&s->ch, &m, SSH_MSG_CHANNEL_REQUEST);
    if (!b || wk_buf_put_cstring(b, "eow@openssh.com") ||
        wk_buf_put_bool(b, 0))
        return wk_end_if_fatal(c, WHELK_ERR_NOMEM);
    return wk_end_if_fatal(c, wk_msg_end(c, &m));
}
