/*
 * channel: the generic channel of RFC 4254 section 5 (Conch's
 * SSHChannel) and the table of a connection's channels. The only channel
 * type served is "session", so a channel and a session share one struct;
 * session.c adds the request handling of section 6 on top.
 */
#ifndef WHELK_CHANNEL_H
#define WHELK_CHANNEL_H

#include "conn.h"

/* A parsed pty-req (session.c), handed to the pty_req callback. */
struct whelk_pty {
    char term[64];
    uint32_t cols, rows, width_px, height_px;
    unsigned n_modes;
    struct {
        uint8_t opcode;
        uint32_t value;
    } modes[WHELK_MAX_TTY_MODES];
};

enum wk_ctrl {
    WK_CTRL_EOF = 1,
    WK_CTRL_EXIT_STATUS,
    WK_CTRL_EXIT_SIGNAL,
    WK_CTRL_CLOSE
};
#define WK_MAX_CTRL 6

struct whelk_session {
    whelk_conn *conn;
    struct whelk_session *next;
    uint32_t local_id, remote_id;

    /* Peer to us. */
    uint32_t local_window;     /* what the peer may still send */
    uint32_t local_window_max; /* the window we keep re-opening to */
    uint32_t local_maxpkt;
    uint32_t consumed;         /* consumed since the last WINDOW_ADJUST */
    wk_buf prestart;           /* data before the program started */

    /* Us to peer. */
    uint32_t remote_window;
    uint32_t remote_maxpkt;
    size_t out_bound;          /* limit on outq + errq */
    wk_buf outq, errq;         /* output waiting for window */
    uint8_t ctrl[WK_MAX_CTRL]; /* EOF, exit and CLOSE, in call order */
    unsigned n_ctrl;
    uint32_t exit_status;
    char exit_signal[40];
    char exit_message[128];
    int exit_core;

    unsigned started : 1;      /* shell, exec or subsystem granted */
    unsigned pty : 1;          /* pty-req granted */
    unsigned peer_eof : 1;     /* CHANNEL_EOF received */
    unsigned eof_pending : 1;  /* received before the program started */
    unsigned peer_close : 1;   /* CHANNEL_CLOSE received */
    unsigned sent_eof : 1;     /* our EOF is queued or out */
    unsigned sent_close : 1;   /* our CLOSE is out */
    unsigned closing : 1;      /* whelk_session_close was called */
    unsigned stopped : 1;      /* stop_writing was signalled */
    unsigned eow_sent : 1;

    /* Inactivity (sshd's ChannelTimeout): the timeout of the channel's
     * kind, 0 for none, and when data last moved either way. */
    uint64_t timeout_ms;
    uint64_t last_io_ms;

    wk_session_handler h;
    void *user;
};

#define WK_MAX_CHANNEL_TIMEOUTS 16

struct wk_chans {
    whelk_session *list;
    uint32_t next_id;          /* ids are never reused on a connection */
    unsigned sessions;         /* open, not yet freed */
    int no_more_sessions;
    uint64_t idle_since;       /* when the last channel went */
    /* Inactivity timeouts by channel kind pattern, first match wins. */
    struct {
        char *pattern;
        uint64_t ms;
    } timeouts[WK_MAX_CHANNEL_TIMEOUTS];
    unsigned n_timeouts;
};

whelk_session *wk_chan_find(whelk_conn *c, uint32_t id);
/* Sends a message of |type| whose payload is the peer's channel id plus
 * whatever the caller appends before wk_msg_end. */
wk_buf *wk_chan_msg_begin(whelk_session *s, wk_msg *m, uint8_t type);
/* The channel's kind for inactivity timeouts: its type ("session"), or
 * for a session once its program runs "session:shell" and the like. */
void wk_chan_set_kind(whelk_session *s, const char *kind);
/* Delivers data and EOF held back until the program started. */
void wk_chan_program_started(whelk_session *s);

/* session.c: one CHANNEL_REQUEST. Returns 1 to reply SUCCESS, 0 for
 * FAILURE, or a fatal error. */
int wk_session_request(whelk_session *s, const char *type, wk_reader *r);

#endif
