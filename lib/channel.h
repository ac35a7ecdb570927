/*
 * channel: the generic channel of RFC 4254 section 5 (Conch's
 * SSHChannel) and the table of a connection's channels.
 *
 * A channel knows windows, maximum packets, output queued while the
 * peer's window is short, the order of EOF, owner requests and CLOSE,
 * and inactivity; what the channel is for is its owner's business. The
 * owner (session.c for "session" channels; forwarding later) is told of
 * data, EOF, requests, flow changes and the end through wk_channel_ops.
 */
#ifndef WHELK_CHANNEL_H
#define WHELK_CHANNEL_H

#include "conn.h"

typedef struct wk_channel wk_channel;

typedef struct wk_channel_ops {
    /* Data (|ext| 0) or extended data of |type| from the peer, in order.
     * The owner reports it consumed (wk_chan_consumed) when it has
     * taken it, which is what re-opens the window. */
    void (*data)(wk_channel *ch, int ext, uint32_t type, const uint8_t *p,
                 size_t n);
    /* The peer sent EOF. */
    void (*eof)(wk_channel *ch);
    /* A CHANNEL_REQUEST of |type| with the rest of the payload in |r|:
     * returns 1 to grant it, 0 to refuse it, or a fatal error. */
    int (*request)(wk_channel *ch, const char *type, wk_reader *r);
    /* Output is queued beyond the bound (stop) or drained below half of
     * it (start). */
    void (*stop_writing)(wk_channel *ch);
    void (*start_writing)(wk_channel *ch);
    /* The owner's queued control message |what| is due, after the output
     * queued before it (wk_chan_queue_owner). */
    int (*control)(wk_channel *ch, int what);
    /* Our own open was confirmed (|failure| 0) or refused (then the
     * channel is freed right after, closed called). */
    void (*opened)(wk_channel *ch, uint32_t failure, const char *text);
    /* The channel is gone: the owner frees itself (and |ch|). */
    void (*closed)(wk_channel *ch);
} wk_channel_ops;

/* Control messages in call order behind the output: EOF, an owner's own
 * (exit-status, exit-signal), CLOSE. */
#define WK_MAX_CTRL 6
enum { WK_CTRL_EOF = 1, WK_CTRL_CLOSE, WK_CTRL_OWNER };

struct wk_channel {
    whelk_conn *conn;
    wk_channel *next;
    uint32_t local_id, remote_id;
    const wk_channel_ops *ops;

    /* Peer to us. */
    uint32_t local_window;     /* what the peer may still send */
    uint32_t local_window_max; /* the window we keep re-opening to */
    uint32_t local_maxpkt;
    uint32_t consumed;         /* consumed since the last WINDOW_ADJUST */

    /* Us to peer. */
    uint32_t remote_window;
    uint32_t remote_maxpkt;
    size_t out_bound;          /* limit on outq + errq */
    wk_buf outq, errq;         /* output waiting for window */
    uint8_t ctrl[WK_MAX_CTRL]; /* control messages, in call order */
    uint8_t ctrl_arg[WK_MAX_CTRL];
    unsigned n_ctrl;

    unsigned peer_eof : 1;     /* CHANNEL_EOF received */
    unsigned peer_close : 1;   /* CHANNEL_CLOSE received */
    unsigned sent_eof : 1;     /* our EOF is queued or out */
    unsigned sent_close : 1;   /* our CLOSE is out */
    unsigned closing : 1;      /* wk_chan_close was called */
    unsigned stopped : 1;      /* stop_writing was signalled */
    unsigned opening : 1;      /* no traffic yet: ours unconfirmed, or
                                  the peer's not yet answered */
    unsigned ours : 1;         /* opened by this side */

    /* Inactivity (sshd's ChannelTimeout): the timeout of the channel's
     * kind, 0 for none, and when data last moved either way. */
    uint64_t timeout_ms;
    uint64_t last_io_ms;
};

#define WK_MAX_CHANNEL_TIMEOUTS 16

/* Global requests: replies owed to the peer go out in request order, so
 * answers given out of order wait here; replies the peer owes us come in
 * the order of ours, so the kind of each is remembered. */
#define WK_MAX_GLOBAL_PENDING 16

struct wk_chans {
    wk_channel *list;
    uint32_t next_id;          /* ids are never reused on a connection */
    unsigned count;            /* channels of every type in the table */
    unsigned sessions;         /* session channels open, not yet freed */
    uint64_t window_granted;   /* sum of the windows of those channels */
    size_t queued;             /* output queued in all of them */
    int no_more_sessions;
    uint64_t idle_since;       /* when the last channel went */
    /* Inactivity timeouts by channel kind pattern, first match wins:
     * grown as ChannelTimeout adds them (most connections have none),
     * at most WK_MAX_CHANNEL_TIMEOUTS. */
    struct wk_chan_timeout {
        char *pattern;
        uint64_t ms;
    } *timeouts;
    unsigned n_timeouts;
    /* sshd's ChannelTimeout "global": every open channel is closed once
     * none has moved data for this long (0: none). */
    uint64_t global_timeout_ms;
    struct {
        uint32_t id, port;
        uint8_t answered, ok;
    } owed[WK_MAX_GLOBAL_PENDING];
    unsigned owed_head, owed_n;
    uint32_t next_global_id;
    int in_global_cb;          /* inside the global_request callback */
    uint8_t awaited[WK_MAX_GLOBAL_PENDING]; /* 1: the application's */
    unsigned awaited_head, awaited_n;
};

/* Sets up |ch| for an open from the peer (its id, window, packet) and
 * enters it into the table, with our window and packet from the
 * connection's settings. |kind| as wk_chan_set_kind. Returns 0, or
 * WHELK_ERR_LIMIT when the connection has no channel or window left
 * (nothing is entered then: refuse with RESOURCE_SHORTAGE). */
int wk_chan_attach(wk_channel *ch, whelk_conn *c, const wk_channel_ops *ops,
                   uint32_t sender, uint32_t window, uint32_t maxpkt,
                   const char *kind);
/* The same for a channel we open: sends CHANNEL_OPEN of |type| with
 * |data| after the window and packet size; the channel is "opening"
 * until ops->opened. Returns 0, WHELK_ERR_LIMIT, or an error (nothing
 * entered then). */
int wk_chan_open_local(wk_channel *ch, whelk_conn *c, const wk_channel_ops *ops,
                       const char *type, const uint8_t *data, size_t len,
                       const char *kind);
/* Takes |ch| out of the table and hands it to its owner's closed. */
void wk_chan_free(wk_channel *ch);
/* The OPEN_CONFIRMATION for an attached channel. */
int wk_chan_confirm(wk_channel *ch);
/* OPEN_FAILURE for the peer's channel |sender|. */
int wk_chan_refuse(whelk_conn *c, uint32_t sender, uint32_t reason,
                   const char *text);

/* Sends a message of |type| whose payload is the peer's channel id plus
 * whatever the caller appends before wk_msg_end. */
wk_buf *wk_chan_msg_begin(wk_channel *ch, wk_msg *m, uint8_t type);
/* Queues output (|ext| 0) or stderr: returns the bytes taken, fewer at
 * the bound (stop_writing follows), or an error. */
whelk_ssize wk_chan_write(wk_channel *ch, int ext, const void *data,
                          size_t len);
/* How many bytes wk_chan_write would take now. */
/* What a write would send straight away, queueing nothing. */
size_t wk_chan_send_room(const wk_channel *ch);
size_t wk_chan_write_room(const wk_channel *ch);
/* |n| bytes the owner took of the peer's data: the window re-opens. */
void wk_chan_consumed(wk_channel *ch, size_t n);
/* Queue EOF, an owner's control message |what| (ops->control is called
 * when it is due), or CLOSE behind the output. */
int wk_chan_send_eof(wk_channel *ch);
int wk_chan_queue_owner(wk_channel *ch, int what);
int wk_chan_close(wk_channel *ch);
/* Non-zero once nothing more may be written. */
int wk_chan_write_done(const wk_channel *ch);

/* The channel's kind for inactivity timeouts: its type ("session"), or
 * for a session once its program runs "session:shell" and the like. */
void wk_chan_set_kind(wk_channel *ch, const char *kind);

/* session.c: a "session" channel open from the peer. Returns 0 (the
 * channel confirmed or refused) or a fatal error. */
int wk_session_open(whelk_conn *c, uint32_t sender, uint32_t window,
                    uint32_t maxpkt);
/* tunnel.c: an open of another type |type| (|tl| bytes) from the peer,
 * its type-specific data in |r|. */
int wk_tunnel_open(whelk_conn *c, const uint8_t *type, size_t tl,
                   uint32_t sender, uint32_t window, uint32_t maxpkt,
                   wk_reader *r);

/* globalreq.c: GLOBAL_REQUEST and its replies (REQUEST_SUCCESS and
 * _FAILURE) from the peer. */
int wk_global_dispatch(whelk_conn *c, uint8_t type, wk_reader *r);
/* Sends a global request; with |want_reply| its reply is awaited, by the
 * application (|app|) or the engine (keepalive probes). */
int wk_global_send(whelk_conn *c, const char *name, const uint8_t *data,
                   size_t len, int want_reply, int app);
/* Non-zero while the peer's requests owe so many replies that input
 * waits. */
int wk_global_blocked(const whelk_conn *c);

#endif
