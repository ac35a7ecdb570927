/*
 * loop: whelkd's libuv glue. Listening sockets, and for each connection a
 * TCP handle and a timer around one sans-I/O engine object: bytes read go
 * to whelk_conn_recv, the engine's output goes out with uv_try_write
 * straight from its buffer (a copy is made only when the socket is full),
 * and the timer is armed at whelk_conn_expiry.
 *
 * It also keeps a peer from holding a connection it does not use: the
 * limits on unauthenticated connections (in all, and per source
 * address), TCP keepalive and user timeout, a short linger for the last
 * bytes of a closing connection, and, before authentication, a bound on
 * how long output may stay stuck and on how much the kernel may queue.
 */
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "lifecycle.h"
#include "limitkw.h"
#include "rfwd.h"
#include "server.h"
#include "agxsplice.h"
#include "session.h"

#define READ_BUF (64 * 1024)

/* Receive batching. A bulk upload arrives one 32 KiB packet at a time, and
 * waking whelkd (and then the program reading the pipe) once per packet
 * costs more CPU than decrypting it. Once a single read shows a stream,
 * the socket is made to report readable only when WD_RCV_BATCH bytes wait
 * (SO_RCVLOWAT). Whenever the connection has been quiet for
 * WD_RCV_PAUSE_MS, the mark drops back to one byte, which makes the kernel
 * report what is already queued; so the tail of a stream, or a keystroke
 * after a paste, waits at most that long. (The kernel also reports early
 * by itself when its receive window is nearly closed.) libuv's timers tick
 * in whole milliseconds from a cached clock, so a 1 ms pause often fired
 * before 256 KiB of a chacha20 stream (~400 MiB/s) had arrived; 2 ms holds
 * it (sched-switches per 512 MiB: 13,006 -> 4,211).
 *
 * Only one-way streams are batched. A peer whose requests are answered
 * (SFTP, or any program that writes while it reads) may be waiting for
 * those answers with little in flight, and holding its requests back until
 * 256 KiB arrive turns its pipelining into lock-step: sftp -R 2 uploads
 * fell from 96 to 33 MiB/s with batching on. So whenever a session has
 * sent output since the previous read, the mark is dropped, and it is
 * raised again only after WD_RCV_ONE_WAY reads in a row with no output in
 * between: SFTP's answers come every read or two, and re-arming after a
 * single silent read still cost sftp -R 4 a sixth of its speed. */
#define WD_RCV_ONE_WAY 8
#define WD_RCV_STREAM (64 * 1024)
#define WD_RCV_BATCH (256 * 1024)
#define WD_RCV_PAUSE_MS 2

/* A connection that is over (the engine closed: a DISCONNECT sent,
 * received or timed out) gets this long for its last bytes, then is
 * closed with them unsent: a peer that stopped reading keeps nothing. */
#define WD_LINGER_MS 3000

/* Before authentication the kernel queues at most this much output the
 * peer has not taken (TCP_NOTSENT_LOWAT; writes beyond it see EAGAIN).
 * Otherwise a peer that never reads makes the socket's send buffer
 * autotune to megabytes (4 MiB on Debian) of its own replies; legitimate
 * output before login is a few KiB (a banner at most 64 KiB). Raised to
 * the system default at login, so sessions keep full autotuning. */
#define WD_PREAUTH_NOTSENT (32 * 1024)

/* Dead peers: keepalive probes after a minute of silence, and the
 * connection ends once the peer has answered nothing for five minutes,
 * whether idle (keepalive) or with our data unacknowledged or its window
 * closed (TCP_USER_TIMEOUT, which also governs when keepalive gives up). */
#define WD_KEEPIDLE_S 60
#define WD_KEEPINTVL_S 15
#define WD_KEEPCNT 16
#define WD_USER_TIMEOUT_MS \
    ((WD_KEEPIDLE_S + WD_KEEPINTVL_S * WD_KEEPCNT) * 1000)

static char read_buf[READ_BUF]; /* one loop, one read at a time */

static void conn_try_close(wd_conn *c);
static void kick_forget(wd_conn *c);

/* Handshakes allocate and free a lot; once a burst is over, give the
 * freed pages in the middle of the heap back (malloc_trim releases them
 * with MADV_DONTNEED), so idle sessions cost only what they hold. */
static uv_timer_t trim_timer;
static int trim_armed, trim_init;

static void on_trim(uv_timer_t *t)
{
    trim_armed = 0;
    malloc_trim(0);
}

void wd_schedule_trim(uv_loop_t *loop)
{
    if (!trim_init) {
        uv_timer_init(loop, &trim_timer);
        uv_unref((uv_handle_t *)&trim_timer);
        trim_init = 1;
    }
    if (trim_armed) return;
    trim_armed = 1;
    uv_timer_start(&trim_timer, on_trim, 500, 0);
}

/* The unauthenticated connections, counted for -m and, by address, for
 * PerSourceMaxStartups. A connection is counted once it passed both
 * limits, until it logs in or ends; one that is refused never counts. */
static void count_unauth(wd_conn *c)
{
    wd_server *srv = c->srv;
    c->counted = 1;
    c->unauth_prev = NULL;
    c->unauth_next = srv->unauth_list;
    if (c->unauth_next) c->unauth_next->unauth_prev = c;
    srv->unauth_list = c;
    srv->unauth++;
}

static void uncount_unauth(wd_conn *c)
{
    wd_server *srv = c->srv;
    if (!c->counted) return;
    c->counted = 0;
    if (c->unauth_prev) c->unauth_prev->unauth_next = c->unauth_next;
    else srv->unauth_list = c->unauth_next;
    if (c->unauth_next) c->unauth_next->unauth_prev = c->unauth_prev;
    srv->unauth--;
}

/* Unauthenticated connections from |c|'s source net block
 * (PerSourceNetBlockSize; an address that is not one counts by its
 * text). A walk over at most MaxStartups connections (64 by default),
 * done once per new connection. */
static unsigned unauth_from(const wd_server *srv, const wd_conn *c)
{
    unsigned n = 0;
    for (const wd_conn *o = srv->unauth_list; o; o = o->unauth_next)
        n += c->src_block[0]
                 ? memcmp(o->src_block, c->src_block,
                          sizeof(c->src_block)) == 0
                 : !o->src_block[0] && strcmp(o->addr, c->addr) == 0;
    return n;
}

void wd_conn_release(wd_conn *c)
{
    if (--c->handles > 0) return;
    kick_forget(c);
    wd_server *srv = c->srv;
    if (c->prev) c->prev->next = c->next;
    else srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    srv->n_conns--;
    uncount_unauth(c);
    /* Sessions are told through their closed callbacks. */
    if (c->handed_off) wd_worker_conn_done();
    wd_rfwd_close_all(c);
    whelk_conn_free(c->engine);
    wd_login_free(c->login);
    free(c->own_kw);
    wd_schedule_trim(srv->loop);
    free(c);
    wd_lifecycle_conn_gone(srv);
}

static void on_handle_closed(uv_handle_t *h)
{
    wd_conn_release(h->data);
}

static void conn_close_handles(wd_conn *c)
{
    if (c->handles == 0 || c->closing == 2) return;
    c->closing = 2;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

typedef struct write_req {
    uv_write_t req;
    wd_conn *conn;
    size_t len;
    char data[];
} write_req;

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    wd_conn *c = w->conn;
    free(w);
    c->writing = 0;
    /* Cancelled: we closed the handle ourselves, and said why. */
    if (status == UV_ECANCELED) return;
    if (status < 0) {
        whelk_conn_disconnect(c->engine, WHELK_DISCONNECT_CONNECTION_LOST,
                              NULL);
        conn_close_handles(c);
        return;
    }
    wd_conn_kick(c);
}

/* Writes what the engine has; returns 0, or -1 when the socket failed. */
static int flush(wd_conn *c)
{
    while (!c->writing && c->closing != 2) {
        const uint8_t *data;
        size_t n = whelk_conn_out(c->engine, &data);
        if (n == 0) return 0;
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);
        int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (w > 0) {
            whelk_conn_out_consumed(c->engine, (size_t)w);
            continue;
        }
        if (w != UV_EAGAIN && w != UV_ENOSYS) return -1;
        /* The socket is full: hand libuv a copy and wait for it. */
        write_req *req = malloc(sizeof(*req) + n);
        if (!req) return -1;
        memcpy(req->data, data, n);
        req->conn = c;
        req->len = n;
        whelk_conn_out_consumed(c->engine, n);
        b = uv_buf_init(req->data, (unsigned)n);
        if (uv_write(&req->req, (uv_stream_t *)&c->tcp, &b, 1, on_written)) {
            free(req);
            return -1;
        }
        c->writing = 1;
        c->write_left = c->tcp.write_queue_size;
        c->progress_at = uv_now(c->srv->loop);
    }
    return 0;
}

/* Before authentication: has the pending write been stuck, without a
 * byte leaving, for -L seconds? (libuv lowers write_queue_size as the
 * kernel takes the bytes.) Looked at when the timer fires. */
static int output_stalled(wd_conn *c, uint64_t now)
{
    if (c->authenticated || !c->writing) return 0;
    if (c->tcp.write_queue_size < c->write_left) {
        c->write_left = c->tcp.write_queue_size;
        c->progress_at = now;
        return 0;
    }
    return now - c->progress_at >= (uint64_t)wd_opts->stall_s * 1000;
}

/* whelkd acts on what the engine returns: a negative code means the
 * connection is over. The engine has ended it itself (DISCONNECT, log
 * line) for every fatal code; anything else still gets it ended here,
 * since carrying on after an error would lose data. */
static void engine_failed(wd_conn *c, ssize_t rc, const char *what)
{
    if (rc >= 0 || whelk_conn_is_closed(c->engine)) return;
    wd_log(WHELK_LOG_ERROR, "%s for %s port %d: %s", what, c->addr, c->port,
           whelk_strerror((int)rc));
    whelk_conn_disconnect(c->engine, WHELK_DISCONNECT_BY_APPLICATION,
                          whelk_strerror((int)rc));
}

void wd_conn_engine_result(wd_conn *c, ssize_t rc, const char *what)
{
    engine_failed(c, rc, what);
}

static void set_rcv_batching(wd_conn *c, int on)
{
    uv_os_fd_t fd;
    int lowat = on ? WD_RCV_BATCH : 1;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)) == 0)
        c->rcv_batching = on;
}

int wd_conn_in_read(const wd_conn *c)
{
    return c->receiving;
}

void wd_conn_note_output(wd_conn *c)
{
    c->answered = 1; /* acted on after the next read: rcv_after_read */
    wd_conn_clock(c);
}

void wd_conn_clock(wd_conn *c)
{
    if (c->engine) whelk_conn_set_time(c->engine, uv_now(c->srv->loop));
}

void wd_conn_session_opened(wd_conn *c)
{
    c->sessions++;
}

int wd_conn_session_count(const wd_conn *c)
{
    return c->sessions;
}

void wd_conn_session_closed(wd_conn *c)
{
    c->sessions--;
}

/* After each read: batch a one-way stream, stop when answers flow. */
static void rcv_after_read(wd_conn *c, size_t n)
{
    if (c->answered) {
        c->answered = 0;
        c->unanswered = 0;
        if (c->rcv_batching) set_rcv_batching(c, 0);
        return;
    }
    if (c->unanswered < WD_RCV_ONE_WAY) c->unanswered++;
    if (!c->rcv_batching && c->unanswered >= WD_RCV_ONE_WAY &&
        n >= WD_RCV_STREAM && c->sessions > 0 && !c->closing)
        set_rcv_batching(c, 1);
}

static void on_timer(uv_timer_t *t)
{
    wd_conn *c = t->data;
    uint64_t now = uv_now(c->srv->loop);
    if (c->closing) {
        if (now < c->close_by) {
            uv_timer_start(&c->timer, on_timer, c->close_by - now, 0);
            return;
        }
        wd_log(WHELK_LOG_INFO,
               "Closing connection to %s port %d: its last output was not "
               "taken within %d seconds", c->addr, c->port,
               WD_LINGER_MS / 1000);
        conn_close_handles(c);
        return;
    }
    if (c->rcv_batching) set_rcv_batching(c, 0);
    if (output_stalled(c, now)) {
        /* No DISCONNECT: it could not leave either. */
        wd_log(WHELK_LOG_INFO,
               "Timeout before authentication for %s port %d: no output "
               "taken for %u seconds", c->addr, c->port, wd_opts->stall_s);
        conn_close_handles(c);
        return;
    }
    engine_failed(c, whelk_conn_handle_expiry(c->engine, now),
                  "whelk_conn_handle_expiry");
    wd_conn_kick(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    wd_conn *c = h->data;
    uint8_t *space;
    /* The engine wants no more input, but the kick that stops reading
     * waits for the turn's end: no buffer, so libuv reads nothing now
     * (on_read gets UV_ENOBUFS). */
    if (c->engine && !whelk_conn_want_read(c->engine)) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    size_t n = c->engine ? whelk_conn_recv_space(c->engine, &space) : 0;
    /* Read straight into the engine's buffer: one copy fewer per byte. */
    if (n > 0)
        *buf = uv_buf_init((char *)space, (unsigned)n);
    else
        *buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    wd_conn *c = s->data;
    if (n == 0) return;
    if (n == UV_ENOBUFS) { /* see on_alloc: the kick stops the reading */
        wd_conn_kick(c);
        return;
    }
    if (n < 0) {
        whelk_conn_peer_closed(c->engine);
        conn_close_handles(c);
        return;
    }
    c->receiving = 1;
    if (buf->base == read_buf) {
        ssize_t rc = whelk_conn_recv(c->engine, (const uint8_t *)buf->base,
                                     (size_t)n, uv_now(c->srv->loop));
        /* Bytes the engine did not take would be lost from the stream. */
        if (rc >= 0 && rc < n) rc = WHELK_ERR_LIMIT;
        engine_failed(c, rc, "whelk_conn_recv");
    } else {
        engine_failed(c,
                      whelk_conn_recv_commit(c->engine, (size_t)n,
                                             uv_now(c->srv->loop)),
                      "whelk_conn_recv_commit");
    }
    c->receiving = 0;
    wd_session_flush_staged(c);
    wd_splice_flush_staged(c);
    rcv_after_read(c, (size_t)n);
    wd_conn_kick(c);
    /* Until a session runs, the client often sends two small packets back
     * to back and waits; a delayed ACK would hold it 40 ms each time.
     * Linux clears TCP_QUICKACK by itself, so it is set again per read. */
    if (c->sessions == 0 && c->closing == 0) {
        uv_os_fd_t fd;
        int one = 1;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
            setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    }
}

static void conn_try_close(wd_conn *c)
{
    /* Over: let the last bytes (a DISCONNECT) go, then close; after
     * WD_LINGER_MS they are given up (on_timer). */
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    const uint8_t *d;
    if (!c->writing && whelk_conn_out(c->engine, &d) == 0) {
        conn_close_handles(c);
        return;
    }
    if (c->closing) return;
    c->closing = 1;
    c->close_by = uv_now(c->srv->loop) + WD_LINGER_MS;
    uv_timer_start(&c->timer, on_timer, WD_LINGER_MS, 0);
}

/* Kicks wait for the end of the loop's turn: everything the turn's
 * callbacks gave the engines (answers to several channels' opens, data
 * from several forwarded sockets) then leaves in one write per
 * connection, not one per event (a tunnel's new connection took four
 * writes to the client). A check handle runs after the turn's I/O
 * callbacks, a prepare handle before the loop waits again, so a kick
 * from a timer or a close callback waits no longer than one from I/O. */
static wd_conn *kick_list;
/* Output beyond this is written without waiting for the turn's end. */
#define WD_KICK_AT_ONCE (64 * 1024)
static uv_check_t kick_check;
static uv_prepare_t kick_prepare;
static int kick_handles;

static void kick_now(wd_conn *c);

static void kick_queued(void)
{
    while (kick_list) {
        wd_conn *c = kick_list;
        kick_list = c->kick_next;
        c->kick_next = NULL;
        c->kick_due = 0;
        kick_now(c);
    }
}

static void on_kick_check(uv_check_t *h) { (void)h; kick_queued(); }
static void on_kick_prepare(uv_prepare_t *h) { (void)h; kick_queued(); }

/* A connection being freed leaves the queue. */
static void kick_forget(wd_conn *c)
{
    if (!c->kick_due) return;
    for (wd_conn **p = &kick_list; *p; p = &(*p)->kick_next) {
        if (*p == c) {
            *p = c->kick_next;
            break;
        }
    }
    c->kick_due = 0;
    c->kick_next = NULL;
}

void wd_conn_kick(wd_conn *c)
{
    if (c->closing == 2) return;
    if (!kick_handles) {
        /* These calls cannot fail on a live loop. Unreferenced: the
         * handles never keep the loop alive by themselves. */
        uv_check_init(c->srv->loop, &kick_check);
        uv_prepare_init(c->srv->loop, &kick_prepare);
        uv_check_start(&kick_check, on_kick_check);
        uv_prepare_start(&kick_prepare, on_kick_prepare);
        uv_unref((uv_handle_t *)&kick_check);
        uv_unref((uv_handle_t *)&kick_prepare);
        kick_handles = 1;
    }
    /* A stream's output goes at once, as it came: held for the turn, a
     * download's reads would pile up megabytes of ciphertext that no
     * longer sit in the cache when they are written. */
    const uint8_t *pending;
    if (whelk_conn_out(c->engine, &pending) >= WD_KICK_AT_ONCE) {
        kick_forget(c);
        kick_now(c);
        return;
    }
    if (c->kick_due) return;
    c->kick_due = 1;
    c->kick_next = kick_list;
    kick_list = c;
}

static void kick_now(wd_conn *c)
{
    if (c->closing == 2) return;
    if (flush(c) != 0) {
        whelk_conn_disconnect(c->engine, WHELK_DISCONNECT_CONNECTION_LOST,
                              NULL);
        conn_close_handles(c);
        return;
    }
    if (whelk_conn_is_closed(c->engine)) {
        conn_try_close(c);
        return;
    }
    int want = whelk_conn_want_read(c->engine) && !c->writing;
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = 1;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    uint64_t at = whelk_conn_expiry(c->engine), now = uv_now(c->srv->loop);
    if (c->rcv_batching && at > now + WD_RCV_PAUSE_MS)
        at = now + WD_RCV_PAUSE_MS;
    if (!c->authenticated && c->writing) {
        uint64_t stall = c->progress_at + (uint64_t)wd_opts->stall_s * 1000;
        if (stall < at) at = stall;
    }
    if (at == UINT64_MAX)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, at > now ? at - now : 0, 0);
}

/* The text of an address, as every later use sees it (log lines,
 * SSH_CLIENT, from= patterns, the per-source count). An IPv4 client of a
 * dual-stack listener arrives as ::ffff:a.b.c.d; it is a.b.c.d, or
 * from="!10.0.0.0/8,*" would not match it and let it in. */
static void addr_of(const struct sockaddr_storage *ss, char *out, size_t len,
                    int *port)
{
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)ss;
        *port = ntohs(a->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            struct sockaddr_in v4 = {.sin_family = AF_INET};
            memcpy(&v4.sin_addr, a->sin6_addr.s6_addr + 12, 4);
            uv_ip4_name(&v4, out, len);
        } else {
            uv_ip6_name(a, out, len);
        }
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss;
        uv_ip4_name(a, out, len);
        *port = ntohs(a->sin_port);
    } else {
        /* -i over pipes or a Unix socket: no address, as sshd says. */
        snprintf(out, len, "UNKNOWN");
        *port = 65535;
    }
}

static wd_conn *conn_new(wd_server *srv)
{
    wd_conn *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    c->next = srv->conns;
    if (c->next) c->next->prev = c;
    srv->conns = c;
    srv->n_conns++;
    return c;
}

static void set_opt(wd_conn *c, int fd, int level, int name, int value,
                    const char *what)
{
    if (setsockopt(fd, level, name, &value, sizeof(value)) != 0)
        wd_log(WHELK_LOG_DEBUG, "%s on %s port %d: %s", what, c->addr,
               c->port, strerror(errno));
}

/* Every connection, accepted here or handed over by the parent. */
static void set_tcp_options(wd_conn *c)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) return;
    /* Small packets leave at once: no Nagle delay on the handshake. */
    set_opt(c, fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
    /* TCPKeepAlive (default yes). With "no", as in sshd, an idle peer
     * that vanished is not noticed (ClientAliveInterval still can);
     * the user timeout below stays, since it bounds data the peer does
     * not acknowledge, which keepalive never covered. */
    int keepalive = wd_opts->kw.limits.tcp_keepalive;
    set_opt(c, fd, SOL_SOCKET, SO_KEEPALIVE, keepalive, "SO_KEEPALIVE");
    if (keepalive) {
        set_opt(c, fd, IPPROTO_TCP, TCP_KEEPIDLE, WD_KEEPIDLE_S,
                "TCP_KEEPIDLE");
        set_opt(c, fd, IPPROTO_TCP, TCP_KEEPINTVL, WD_KEEPINTVL_S,
                "TCP_KEEPINTVL");
        set_opt(c, fd, IPPROTO_TCP, TCP_KEEPCNT, WD_KEEPCNT, "TCP_KEEPCNT");
    }
    set_opt(c, fd, IPPROTO_TCP, TCP_USER_TIMEOUT, WD_USER_TIMEOUT_MS,
            "TCP_USER_TIMEOUT");
    set_opt(c, fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, WD_PREAUTH_NOTSENT,
            "TCP_NOTSENT_LOWAT");
}

void wd_conn_authenticated(wd_conn *c)
{
    if (c->authenticated) return;
    c->authenticated = 1;
    uncount_unauth(c);
    uv_os_fd_t fd;
    /* 0: the system default (no limit), so bulk output autotunes. */
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
        set_opt(c, fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 0,
                "TCP_NOTSENT_LOWAT");
}

/* sshd's end of MaxStartups throttling: once fewer than start - 1
 * connections wait, the time it lasted (as its fmt_timeframe) and the
 * count dropped. */
static void throttle_note(wd_server *srv, unsigned startups,
                          const wd_keywords *kw)
{
    if (!srv->throttle_since ||
        startups + 1 >= (unsigned)kw->limits.startups_begin)
        return;
    uint64_t s = (uv_now(srv->loop) - srv->throttle_since) / 1000;
    char span[64];
    if (s < 86400)
        snprintf(span, sizeof(span), "%02u:%02u:%02u", (unsigned)(s / 3600),
                 (unsigned)(s / 60 % 60), (unsigned)(s % 60));
    else if (s < 7 * 86400)
        snprintf(span, sizeof(span), "%ud%02uh%02um", (unsigned)(s / 86400),
                 (unsigned)(s / 3600 % 24), (unsigned)(s / 60 % 60));
    else
        snprintf(span, sizeof(span), "%02uw%01ud%02uh",
                 (unsigned)(s / (7 * 86400)), (unsigned)(s / 86400 % 7),
                 (unsigned)(s / 3600 % 24));
    wd_log(WHELK_LOG_INFO, "exited MaxStartups throttling after %s, %u "
           "connections dropped", span, srv->throttle_dropped);
    srv->throttle_since = 0;
}

/* The connection's socket is in c->tcp: addresses, limits, the engine. */
static void conn_begin(wd_conn *c)
{
    wd_server *srv = c->srv;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        addr_of(&ss, c->addr, sizeof(c->addr), &c->port);
    len = sizeof(ss);
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        addr_of(&ss, c->laddr, sizeof(c->laddr), &c->lport);
    /* MaxStartups: sshd's random early drop (limitkw.h), counted per
     * worker. The draw is made only between start and full. */
    const wd_keywords *kw = &wd_opts->kw;
    unsigned startups = srv->unauth;
    throttle_note(srv, startups, kw);
    int between = startups >= (unsigned)kw->limits.startups_begin &&
                  startups < (unsigned)kw->limits.startups_full;
    if (wd_startups_should_drop(kw, startups,
                                between ? wd_limits_draw() : 0)) {
        if (!srv->throttle_since) {
            wd_log(WHELK_LOG_ERROR, "beginning MaxStartups throttling");
            srv->throttle_since = uv_now(srv->loop) | 1;
            srv->throttle_dropped = 0;
        }
        srv->throttle_dropped++;
        wd_log(WHELK_LOG_INFO,
               "drop connection #%u from [%s]:%d on [%s]:%d past "
               "MaxStartups",
               startups, c->addr, c->port, c->laddr, c->lport);
        conn_close_handles(c);
        return;
    }
    /* One source must not fill the limit above. Counted per worker:
     * with -w N the parent hands connections out blind to who logged in,
     * so one net block may hold N times this many in all, but never more
     * than this many of any worker's MaxStartups slots. */
    if (wd_limits_netblock(kw, c->addr, c->src_block) != 0)
        memset(c->src_block, 0, sizeof(c->src_block));
    unsigned per_source = (unsigned)kw->limits.per_source;
    if (per_source && unauth_from(srv, c) >= per_source) {
        wd_log(WHELK_LOG_INFO,
               "drop connection #%u from [%s]:%d on [%s]:%d past "
               "PerSourceMaxStartups",
               srv->unauth, c->addr, c->port, c->laddr, c->lport);
        conn_close_handles(c);
        return;
    }
    count_unauth(c);
    set_tcp_options(c);
    wd_log(WHELK_LOG_INFO, "Connection from %s port %d on %s port %d",
           c->addr, c->port, c->laddr, c->lport);
    if (whelk_conn_server_new(&c->engine, srv->cfg, srv->cb, c, c->addr,
                              c->port, uv_now(srv->loop)) != 0) {
        wd_log(WHELK_LOG_ERROR, "cannot create a connection for %s port %d",
               c->addr, c->port);
        conn_close_handles(c);
        return;
    }
    wd_conn_kick(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    wd_server *srv = server->data;
    if (status < 0 || srv->stopping) return;
    wd_conn *c = conn_new(srv);
    if (!c) return;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close_handles(c);
        return;
    }
    conn_begin(c);
}

/* A worker of several: connections arrive from the parent (workers.c). */
static void on_handoff(uv_poll_t *p, int status, int events)
{
    wd_server *srv = p->data;
    for (;;) {
        int fd;
        int r = wd_worker_recv_fd(srv->handoff_fd, &fd);
        if (r == 0) return;
        if (r < 0) {
            /* The parent stopped, re-executed for a reload, or died:
             * like sshd's sessions after their listener is gone, the
             * connections already here carry on, no new ones come. */
            wd_drain(srv, "the parent closed the hand-off socket");
            return;
        }
        wd_conn *c = srv->stopping ? NULL : conn_new(srv);
        if (!c) {
            close(fd);
            wd_worker_conn_done();
            continue;
        }
        c->handed_off = 1;
        if (uv_tcp_open(&c->tcp, fd) != 0) {
            close(fd);
            conn_close_handles(c);
            continue;
        }
        conn_begin(c);
    }
}

int wd_serve_fd(wd_server *srv, int fd)
{
    wd_conn *c = conn_new(srv);
    if (!c) {
        close(fd);
        return -1;
    }
    if (uv_tcp_open(&c->tcp, fd) != 0) {
        close(fd);
        conn_close_handles(c);
        return -1;
    }
    conn_begin(c);
    return 0;
}

int wd_take_connections(wd_server *srv, int fd)
{
    srv->handoff_fd = fd;
    if (uv_poll_init(srv->loop, &srv->handoff, fd) != 0) return -1;
    srv->handoff.data = srv;
    srv->has_handoff = 1;
    return uv_poll_start(&srv->handoff, UV_READABLE, on_handoff);
}

int wd_listen_socket(const char *spec)
{
    char host[128] = "127.0.0.1";
    int port;
    const char *colon = strrchr(spec, ':');
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (!end || end[1] != ':') goto bad;
        snprintf(host, sizeof(host), "%.*s", (int)(end - spec - 1), spec + 1);
        port = atoi(end + 2);
    } else if (colon) {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
        port = atoi(colon + 1);
    } else {
        port = atoi(spec);
    }
    if (port <= 0 || port > 65535) goto bad;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(struct sockaddr_in);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0) {
        if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) goto bad;
        sl = sizeof(struct sockaddr_in6);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    0),
        one = 1;
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 512) != 0) {
        fprintf(stderr, "whelkd: cannot listen on %s: %s\n", spec,
                strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    wd_log(WHELK_LOG_INFO, "Server listening on %s port %d.", host, port);
    return fd;
bad:
    fprintf(stderr, "whelkd: cannot listen on %s: not HOST:PORT\n", spec);
    return -1;
}

int wd_listen(wd_server *srv, const char *spec)
{
    int fd = wd_listen_socket(spec);
    if (fd < 0) return -1;
    if (wd_listen_fd(srv, fd) != 0) {
        fprintf(stderr, "whelkd: cannot listen on %s\n", spec);
        return -1;
    }
    return 0;
}

int wd_listen_fd(wd_server *srv, int fd)
{
    if (srv->n_listeners >= WD_MAX_LISTEN) {
        close(fd);
        return -1;
    }
    uv_tcp_t *l = &srv->listeners[srv->n_listeners];
    uv_tcp_init(srv->loop, l);
    l->data = srv;
    int rc = uv_tcp_open(l, fd);
    if (rc == 0) rc = uv_listen((uv_stream_t *)l, 512, on_connection);
    if (rc != 0) {
        fprintf(stderr, "whelkd: cannot listen: %s\n", uv_strerror(rc));
        uv_close((uv_handle_t *)l, NULL);
        return -1;
    }
    srv->n_listeners++;
    return 0;
}

void wd_stop_listening(wd_server *srv)
{
    for (int i = 0; i < srv->n_listeners; i++)
        uv_close((uv_handle_t *)&srv->listeners[i], NULL);
    srv->n_listeners = 0;
    if (srv->has_handoff) {
        uv_close((uv_handle_t *)&srv->handoff, NULL);
        srv->has_handoff = 0;
    }
}

void wd_stop(wd_server *srv)
{
    if (srv->stopping) return;
    srv->stopping = 1;
    wd_stop_listening(srv);
    for (wd_conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (c->engine)
            whelk_conn_disconnect(c->engine, WHELK_DISCONNECT_BY_APPLICATION,
                                  "server shutting down");
        const uint8_t *d;
        if (c->engine && whelk_conn_out(c->engine, &d) > 0 && !c->writing)
            flush(c);
        conn_close_handles(c);
    }
}
