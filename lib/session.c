/*
 * session: the requests of a session channel (RFC 4254 section 6,
 * RFC 4335 break, OpenSSH's eow@openssh.com), parsed into typed values
 * and handed to the application's session handler (Conch's ISession).
 *
 * Rules enforced here, whatever the handler does: one shell, exec or
 * subsystem per channel; pty-req and env only before it; window-change
 * only after a pty was granted; a malformed or truncated request is
 * refused, never trusted; x11 and agent forwarding are refused.
 */
#include "channel.h"

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

/* |kind| names the program for channel timeouts, as sshd's ChannelTimeout
 * does: "session:shell", "session:command", "session:subsystem:NAME". */
static int start(whelk_session *s, int granted, const char *kind)
{
    if (!granted) return 0;
    wk_chan_set_kind(s, kind);
    wk_chan_program_started(s);
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

static int req_xon_xoff(whelk_session *s, wk_reader *r)
{
    int can;
    if (wk_get_bool(r, &can) || wk_reader_end(r)) return 0;
    if (!s->h.xon_xoff) return 1; /* advisory; nothing to do without one */
    return s->h.xon_xoff(s, can, s->user) < 0 ? 0 : 1;
}

int wk_session_request(whelk_session *s, const char *type, wk_reader *r)
{
    if (!strcmp(type, "pty-req")) return req_pty(s, r);
    if (!strcmp(type, "env")) return req_env(s, r);
    if (!strcmp(type, "shell")) return req_shell(s, r);
    if (!strcmp(type, "exec")) return req_exec(s, r);
    if (!strcmp(type, "subsystem")) return req_subsystem(s, r);
    if (!strcmp(type, "window-change")) return req_window_change(s, r);
    if (!strcmp(type, "signal")) return req_signal(s, r);
    if (!strcmp(type, "break")) return req_break(s, r);
    if (!strcmp(type, "xon-xoff")) return req_xon_xoff(s, r);
    /* x11-req, auth-agent-req@openssh.com and anything unknown. */
    char esc[4 * 64 + 1];
    whelk_escape(esc, sizeof(esc), type, strlen(type));
    wk_log(s->conn, WHELK_LOG_DEBUG, "channel %u: refusing request %s",
           s->local_id, esc);
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
