/*
 * server: whelkd's shared declarations: options, the server, and one
 * connection's glue between libuv and the protocol engine.
 */
#ifndef WHELKD_SERVER_H
#define WHELKD_SERVER_H

#include <uv.h>

#include "keywords.h"
#include "log.h"
#include "whelk/whelk.h"

#define WD_MAX_LISTEN 16
#define WD_MAX_HOSTKEYS 8
#define WD_MAX_SUBSYS 32
#define WD_MAX_ENV 32

typedef struct wd_options {
    const char *listen[WD_MAX_LISTEN];
    int n_listen;
    const char *host_keys[WD_MAX_HOSTKEYS];
    int n_host_keys;
    const char *password_file;   /* NULL: no password authentication */
    const char *banner_file;
    const char *state_dir;
    const char *subsys_name[WD_MAX_SUBSYS];
    const char *subsys_cmd[WD_MAX_SUBSYS];
    int n_subsys;
    const char *env_pat[WD_MAX_ENV];
    int n_env;
    /* MaxStartups, PerSourceMaxStartups and PerSourceNetBlockSize are
     * in kw.limits (limitkw.h; -m sets MaxStartups). */
    /* -L: before authentication, a connection whose output makes no
     * progress for this long is dropped. */
    unsigned stall_s;
    unsigned workers;
    int debug;
    int log_stderr;     /* -e (or -d): log to stderr, not syslog */
    int test;           /* -t: check and exit */
    int inetd;          /* -i: one connection on stdin/stdout */
    wd_keywords kw;     /* -o Keyword=value */
} wd_options;

extern const wd_options *wd_opts;

/* events.c: the engine's events written in sshd's words. */
void wd_log_event(whelk_conn *conn, const whelk_event *ev, void *user);

struct wd_login;
struct wd_conn;

typedef struct wd_server {
    uv_loop_t *loop;
    whelk_config *cfg;
    whelk_server_callbacks *cb;
    uv_tcp_t listeners[WD_MAX_LISTEN];
    int n_listeners;
    uv_poll_t handoff;  /* a worker of several: connections from the parent */
    int handoff_fd;
    int has_handoff;
    struct wd_conn *conns;
    struct wd_conn *unauth_list; /* the connections counted in unauth */
    unsigned unauth;
    /* MaxStartups throttling (sshd's log lines): since when (0: not
     * throttling) and how many were dropped since. */
    uint64_t throttle_since;
    unsigned throttle_dropped;
    unsigned n_conns;
    int stopping;
    int draining;       /* lifecycle.c: no new connections, ends at 0 */
} wd_server;

typedef struct wd_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    whelk_conn *engine;
    wd_server *srv;
    struct wd_conn *next, *prev;
    char addr[64];
    int port;
    char laddr[64];
    int lport;
    int authenticated;
    int counted;        /* in srv->unauth and srv->unauth_list */
    uint8_t src_block[17]; /* its source net block (limitkw.h), or 0s */
    struct wd_conn *unauth_next, *unauth_prev;
    int closing;        /* 1: last output lingering; 2: handles closing */
    uint64_t close_by;  /* closing == 1: closed then, sent or not */
    int reading;
    int writing;        /* a uv_write is in flight */
    size_t write_left;  /* its bytes libuv still held at progress_at */
    uint64_t progress_at; /* when the output last moved */
    int handles;        /* open handles and pending work: free at 0 */
    int handed_off;     /* came from the parent: counted in its balance */
    /* The read path's state, loop.c's alone (session.c reaches it
     * through the wd_conn_* functions below). */
    int sessions;       /* live sessions holding the connection */
    int rcv_batching;   /* SO_RCVLOWAT raised for a one-way stream */
    int answered;       /* a session sent output since the last read */
    unsigned unanswered; /* reads in a row with no output in between */
    int receiving;      /* inside whelk_conn_recv*: sessions stage input */
    int kick_due;       /* queued for the end of the loop's turn */
    struct wd_conn *kick_next;
    struct wd_login *login;
    wd_keywords *own_kw; /* Match gave this connection its own (confile.h) */
    struct rfwd *rfwd;   /* its tcpip-forward listeners (rfwd.h) */
} wd_conn;

/* The sshd_config keywords in force for one connection: read policy
 * through this, never wd_opts->kw directly, so that Match blocks
 * (the configuration issue) can give a connection its own values. */
static inline const wd_keywords *wd_conn_kw(const wd_conn *c)
{
    return c && c->own_kw ? c->own_kw : &wd_opts->kw;
}

/* loop.c */
/* A bound, listening, non-blocking socket for HOST:PORT, [V6]:PORT or
 * PORT; -1 after a message on stderr. */
int wd_listen_socket(const char *spec);
int wd_listen(wd_server *srv, const char *spec);
/* Serves one connected socket (-i). */
int wd_serve_fd(wd_server *srv, int fd);
/* inetd.c: -i, a connected stream socket standing for stdin/stdout. */
int wd_inetd_socket(void);
/* A worker of several: serve the connections the parent hands over |fd|. */
int wd_take_connections(wd_server *srv, int fd);
void wd_conn_kick(wd_conn *c); /* flush output, re-arm timer, close if over */
/* Acts on what an engine call returned (a later answer to a pending
 * decision, say): a negative code ends the connection. */
void wd_conn_engine_result(wd_conn *c, ssize_t rc, const char *what);
/* The connection logged in: no longer counted against the
 * unauthenticated limits, and its output is no longer held short. */
void wd_conn_authenticated(wd_conn *c);
/* Drops one reference (a closed handle, finished work); frees at zero. */
void wd_conn_release(wd_conn *c);
/* The read path, between loop.c and the sessions (session.c); see
 * "receive batching" in loop.c. */
/* 1 while the engine handles one socket read of |c|: a session then
 * stages client data and writes it once the read is done
 * (wd_session_flush_staged), one write per read instead of per packet. */
int wd_conn_in_read(const wd_conn *c);
/* The loop's time to |c|'s engine, before output is handed to it from
 * a program or a socket: that output is the channel's activity now
 * (ChannelTimeout). wd_conn_note_output does it too. */
void wd_conn_clock(wd_conn *c);
/* A session of |c| sent output: its peer may be waiting for answers, so
 * the reads that follow are not batched (the receive mark drops). */
void wd_conn_note_output(wd_conn *c);
/* A session opened on |c|, or closed: while any is open, a stream may
 * be batched, and TCP_QUICKACK is no longer re-armed. */
void wd_conn_session_opened(wd_conn *c);
/* The connection's live sessions (for MaxSessions). */
int wd_conn_session_count(const wd_conn *c);
void wd_conn_session_closed(wd_conn *c);
void wd_stop(wd_server *srv);
/* Closes the listeners and the hand-off socket: no new connections. */
void wd_stop_listening(wd_server *srv);
/* Serves an already listening socket (inherited: lifecycle.h). */
int wd_listen_fd(wd_server *srv, int fd);
/* Returns freed heap pages to the system soon (debounced). */
void wd_schedule_trim(uv_loop_t *loop);

/* workers.c */
/* -w N > 1: binds the listeners, forks N workers and hands each
 * connection to the least-loaded one. Returns -1 in a worker, with
 * *handoff_fd its end of the hand-off socket; in the parent, once every
 * worker is gone, the exit status (1 when a worker ended on its own or
 * a listener could not be bound). */
int wd_run_workers(const wd_options *opts, int *handoff_fd);
/* In a worker: one handed-over connection has ended. */
void wd_worker_conn_done(void);
/* Receives one descriptor: 1, 0 when none waits, -1 when the parent is
 * gone or sent something malformed. */
int wd_worker_recv_fd(int sock, int *fd);

/* hostkeys.c */
int wd_load_host_key(const char *path, whelk_key **out);
int wd_default_host_key(const char *state_dir, whelk_key **out,
                        char *path_out, size_t path_len);

#endif
