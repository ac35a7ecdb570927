/*
 * session: the session channel (RFC 4254 section 6), Conch's SSHSession
 * on top of the generic channel: request parsing, the application's
 * handler (ISession), data held until the program starts, exit status and
 * signal.
 */
#ifndef WHELK_SESSION_H
#define WHELK_SESSION_H

#include "channel.h"

/* A parsed pty-req, handed to the pty_req callback. */
struct whelk_pty {
    char term[64];
    uint32_t cols, rows, width_px, height_px;
    unsigned n_modes;
    struct {
        uint8_t opcode;
        uint32_t value;
    } modes[WHELK_MAX_TTY_MODES];
};

struct whelk_session {
    wk_channel ch;             /* first: a session is a channel */
    wk_buf prestart;           /* data before the program started */
    unsigned started : 1;      /* shell, exec or subsystem granted */
    unsigned pty : 1;          /* pty-req granted */
    unsigned eof_pending : 1;  /* EOF received before the program started */
    unsigned eow_sent : 1;
    uint32_t exit_status;
    char exit_signal[40];
    char exit_message[128];
    int exit_core;
    wk_session_handler h;
    void *user;
};

#endif
