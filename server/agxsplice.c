/*
 * agxsplice: see agxsplice.h. Should fold into splice.c (issue 16's
 * general splice) once that is on main.
 */
#include "agxsplice.h"

#include <stdlib.h>
#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "asuser.h"

/* The most read from a local stream at once; what the channel takes of
 * it goes into packets straight from the shared read buffer. */
#define READ_CHUNK (256 * 1024)

static char read_buf[READ_CHUNK];

/* The least read while the connection's output is full: the bytes go to
 * the channel's queue, and the engine stops the read until it drained. */
#define MIN_READ (16 * 1024)

typedef struct agx_splice {
    union {
        uv_stream_t s;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } h;
    whelk_channel *ch; /* NULL once the channel is gone */
    wd_conn *conn;     /* NULL with it */
    int reading;
    int stopped; /* stop_writing in force */
    int opened;  /* the client confirmed the open */
    int stream_eof, chan_eof;
    int closing;
    int closed;     /* the stream handle's close callback ran */
    int resolving;  /* a uv_getaddrinfo holds |sp| (direct-tcpip) */
    int connecting; /* direct-tcpip: the open is not answered yet */
    int retrying;   /* the handle closes for the next address */
    int working;    /* a pool job holds |sp| (direct-streamlocal) */
    uv_work_t work;
    wd_user user; /* direct-streamlocal: connect as this user */
    int unix_fd, unix_err;
    int last_err;
    struct addrinfo *ai, *ai_next; /* the addresses still to try */
    char *host;                    /* for the log lines */
    uint32_t port;
    uv_getaddrinfo_t gai;
    uv_connect_t connect;
    uv_shutdown_t shutdown;
    /* Bytes read that the channel did not take (its room shrank below
     * the read buffer): sent first when it starts taking again. */
    char *pend;
    size_t pend_len, pend_off;
    /* Channel data that arrived during one socket read of the
     * connection, written to the stream once the read is done (as a
     * session stages its program's input): one write per read, not one
     * per 32 KiB packet. Never more than the channel's window, since
     * data is consumed only once written. */
    char *stage;
    size_t stage_len, stage_cap;
    struct agx_splice *next_staged;
    int staged;
} agx_splice;

/* A write libuv holds; |data| is the request's own (freed with it). */
typedef struct agx_write {
    uv_write_t req;
    agx_splice *sp;
    size_t len;
    char *data;
} agx_write;

/* Splices with staged data: all of the one connection whose read the
 * engine is handling (the loop runs one callback at a time). */
static agx_splice *staged_list;

static void unstage(agx_splice *sp)
{
    if (!sp->staged) return;
    for (agx_splice **p = &staged_list; *p; p = &(*p)->next_staged) {
        if (*p == sp) {
            *p = sp->next_staged;
            break;
        }
    }
    sp->staged = 0;
    sp->next_staged = NULL;
}

static void free_splice(agx_splice *sp)
{
    unstage(sp);
    if (sp->ai) uv_freeaddrinfo(sp->ai);
    free(sp->host);
    free(sp->pend);
    free(sp->stage);
    free(sp);
}

static void try_next(agx_splice *sp, int last_err);

static void on_stream_closed(uv_handle_t *h)
{
    agx_splice *sp = h->data;
    if (sp->retrying) {
        /* A failed connect's handle is gone: the next address gets a
         * fresh one, unless the channel went meanwhile. */
        sp->retrying = 0;
        if (!sp->closing && uv_tcp_init(h->loop, &sp->h.tcp) == 0) {
            sp->h.s.data = sp;
            try_next(sp, sp->last_err);
            return;
        }
        sp->closing = 1;
    }
    sp->closed = 1;
    if (!sp->resolving && !sp->working)
        free_splice(sp); /* else the resolver's or the job's callback */
}

static void close_stream(agx_splice *sp)
{
    if (sp->closing) return;
    sp->closing = 1;
    if (sp->retrying) return; /* its close callback frees */
    uv_close((uv_handle_t *)&sp->h.s, on_stream_closed);
}

static void kick(agx_splice *sp)
{
    if (sp->conn) wd_conn_kick(sp->conn);
}

static void update_reading(agx_splice *sp);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    agx_splice *sp = h->data;
    size_t room = sp->ch ? whelk_channel_write_room(sp->ch) : 0;
    if (room > READ_CHUNK) room = READ_CHUNK;
    /* No more than goes straight into packets now: the rest would be
     * copied into the channel's queue first. */
    size_t direct = sp->ch ? whelk_channel_send_room(sp->ch) : 0;
    if (direct < MIN_READ) direct = MIN_READ;
    if (room > direct) room = direct;
    if (room == 0) room = 1; /* libuv wants a buffer; read stops below */
    /* Shared: on_read is done with it before the next read. */
    *buf = uv_buf_init(read_buf, (unsigned)room);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    agx_splice *sp = s->data;
    if (n > 0 && sp->ch) {
        if (sp->conn) wd_conn_clock(sp->conn); /* activity now */
        whelk_ssize w = whelk_channel_write(sp->ch, buf->base, (size_t)n);
        if (w < 0) w = 0;
        if ((size_t)w < (size_t)n) {
            /* The rest waits in a copy of its own. */
            sp->pend_len = (size_t)n - (size_t)w;
            sp->pend = malloc(sp->pend_len);
            if (!sp->pend) {
                whelk_channel_close(sp->ch);
                sp->stream_eof = 1;
            } else {
                memcpy(sp->pend, buf->base + w, sp->pend_len);
            }
            sp->pend_off = 0;
        }
        if (sp->pend || whelk_channel_write_room(sp->ch) == 0) sp->stopped = 1;
    }
    if (n < 0) {
        sp->stream_eof = 1;
        if (sp->ch) {
            if (n == UV_EOF && !sp->chan_eof)
                whelk_channel_send_eof(sp->ch);
            else
                whelk_channel_close(sp->ch);
        }
    }
    update_reading(sp);
    kick(sp);
}

static void update_reading(agx_splice *sp)
{
    int want =
        sp->ch && sp->opened && !sp->stopped && !sp->stream_eof && !sp->closing;
    if (want && !sp->reading) {
        if (uv_read_start(&sp->h.s, on_alloc, on_read) == 0) sp->reading = 1;
    } else if (!want && sp->reading) {
        uv_read_stop(&sp->h.s);
        sp->reading = 0;
    }
}

static void on_written(uv_write_t *req, int status)
{
    agx_write *w = (agx_write *)req;
    agx_splice *sp = w->sp;
    size_t len = w->len;
    free(w->data);
    free(w);
    if (!sp->ch) return; /* the channel went: the stream is closing */
    if (status < 0) {
        whelk_channel_close(sp->ch);
    } else {
        whelk_channel_consumed(sp->ch, len);
    }
    kick(sp);
}

static void ch_opened(whelk_channel *ch, uint32_t failure, const char *text,
                      void *user)
{
    agx_splice *sp = user;
    if (failure) return; /* closed follows */
    sp->opened = 1;
    update_reading(sp);
}

/* Writes |len| bytes of channel data to the stream: what the socket
 * takes now is consumed at once; the rest goes to libuv in |own| (taken
 * over, freed with the request) or a copy, and is consumed once written.
 * The window thus bounds what is in flight. Returns 0, or -1 when the
 * stream failed (the bytes are consumed, the channel is to close). */
static int write_out(agx_splice *sp, const char *data, size_t len, char *own)
{
    whelk_channel *ch = sp->ch;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    /* libuv refuses (EAGAIN) while earlier writes wait: order holds. */
    int n = uv_try_write(&sp->h.s, &b, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS) n = 0;
    if (n < 0) {
        free(own);
        whelk_channel_consumed(ch, len);
        return -1;
    }
    if (n > 0) whelk_channel_consumed(ch, (size_t)n);
    if ((size_t)n == len) {
        free(own);
        return 0;
    }
    size_t left = len - (size_t)n;
    agx_write *w = malloc(sizeof(*w));
    char *copy = own;
    if (w && own && n > 0) {
        memmove(own, own + n, left);
    } else if (w && !own) {
        copy = malloc(left);
        if (copy) memcpy(copy, data + n, left);
    }
    if (!w || !copy) {
        free(w);
        free(copy);
        whelk_channel_consumed(ch, left);
        return -1;
    }
    w->sp = sp;
    w->len = left;
    w->data = copy;
    b = uv_buf_init(copy, (unsigned)left);
    if (uv_write(&w->req, &sp->h.s, &b, 1, on_written) != 0) {
        free(copy);
        free(w);
        whelk_channel_consumed(ch, left);
        return -1;
    }
    return 0;
}

/* Writes what was staged during the read. */
static void flush_stage(agx_splice *sp)
{
    unstage(sp);
    if (!sp->stage_len) return;
    char *p = sp->stage;
    size_t n = sp->stage_len;
    sp->stage = NULL;
    sp->stage_len = sp->stage_cap = 0;
    if (!sp->ch || sp->closing) {
        free(p);
        return;
    }
    if (write_out(sp, p, n, p) != 0) whelk_channel_close(sp->ch);
}

void wd_splice_flush_staged(wd_conn *c)
{
    (void)c; /* every staged splice is |c|'s: see |staged_list| */
    while (staged_list) flush_stage(staged_list);
}

static void ch_data(whelk_channel *ch, const uint8_t *data, size_t len,
                    void *user)
{
    agx_splice *sp = user;
    if (sp->closing) {
        whelk_channel_consumed(ch, len);
        whelk_channel_close(ch);
        return;
    }
    /* During a socket read: staged (one write per read). Outside one (or
     * behind staged bytes), straight on. */
    if ((sp->conn && wd_conn_in_read(sp->conn)) || sp->stage_len) {
        if (sp->stage_cap - sp->stage_len < len) {
            /* Small for a short exchange (a 64 KiB block per packet
             * grew and trimmed the heap: two brk calls per tunnelled
             * connection), large from the start for a stream's 32 KiB
             * packets (no regrowing within a read). */
            size_t cap = sp->stage_cap        ? sp->stage_cap
                         : len <= 4096        ? 4096
                                              : 256 * 1024;
            while (cap - sp->stage_len < len) cap *= 2;
            char *np = realloc(sp->stage, cap);
            if (!np) {
                whelk_channel_consumed(ch, len);
                whelk_channel_close(ch);
                return;
            }
            sp->stage = np;
            sp->stage_cap = cap;
        }
        memcpy(sp->stage + sp->stage_len, data, len);
        sp->stage_len += len;
        if (!sp->staged && sp->conn && wd_conn_in_read(sp->conn)) {
            sp->staged = 1;
            sp->next_staged = staged_list;
            staged_list = sp;
        } else if (!sp->staged) {
            flush_stage(sp);
        }
        return;
    }
    if (write_out(sp, (const char *)data, len, NULL) != 0)
        whelk_channel_close(ch);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

static void ch_eof(whelk_channel *ch, void *user)
{
    agx_splice *sp = user;
    sp->chan_eof = 1;
    flush_stage(sp); /* staged bytes go before the EOF */
    /* After the queued writes, the local side reads EOF. */
    if (!sp->closing) uv_shutdown(&sp->shutdown, &sp->h.s, on_shutdown);
    if (sp->stream_eof) whelk_channel_close(ch);
}

static void ch_closed(whelk_channel *ch, void *user)
{
    agx_splice *sp = user;
    if (sp->resolving) uv_cancel((uv_req_t *)&sp->gai);
    /* Data staged from the read that carried the CLOSE: what the stream
     * takes now still goes (closing cancels libuv's queued writes). */
    unstage(sp);
    if (sp->stage_len && !sp->closing) {
        uv_buf_t b = uv_buf_init(sp->stage, (unsigned)sp->stage_len);
        (void)uv_try_write(&sp->h.s, &b, 1);
    }
    free(sp->stage);
    sp->stage = NULL;
    sp->stage_len = sp->stage_cap = 0;
    sp->ch = NULL;
    sp->conn = NULL;
    update_reading(sp);
    close_stream(sp);
}

static void ch_stop(whelk_channel *ch, void *user)
{
    agx_splice *sp = user;
    sp->stopped = 1;
    update_reading(sp);
}

static void ch_start(whelk_channel *ch, void *user)
{
    agx_splice *sp = user;
    if (sp->pend) {
        whelk_ssize w = whelk_channel_write(ch, sp->pend + sp->pend_off,
                                            sp->pend_len - sp->pend_off);
        if (w > 0) sp->pend_off += (size_t)w;
        if (sp->pend_off < sp->pend_len) return; /* still stopped */
        free(sp->pend);
        sp->pend = NULL;
    }
    sp->stopped = 0;
    update_reading(sp);
}

static whelk_channel_handler *handler;

static int make_handler(void)
{
    if (whelk_channel_handler_new(&handler) != 0) return -1;
    whelk_channel_handler_set_opened(handler, ch_opened);
    whelk_channel_handler_set_data(handler, ch_data);
    whelk_channel_handler_set_eof(handler, ch_eof);
    whelk_channel_handler_set_closed(handler, ch_closed);
    whelk_channel_handler_set_stop_writing(handler, ch_stop);
    whelk_channel_handler_set_start_writing(handler, ch_start);
    return 0;
}

int wd_agx_splice(wd_conn *c, uv_stream_t *listener, int is_pipe,
                  whelk_channel_type type)
{
    return wd_splice_accept(c, listener, is_pipe, type, NULL, 0);
}

int wd_splice_accept(wd_conn *c, uv_stream_t *listener, int is_pipe,
                     whelk_channel_type type, const char *address,
                     uint32_t port)
{
    if (!handler && make_handler() != 0) return -1;
    agx_splice *sp = calloc(1, sizeof(*sp));
    if (!sp) return -1;
    sp->h.s.data = sp;
    uv_loop_t *loop = listener->loop;
    int rc = is_pipe ? uv_pipe_init(loop, &sp->h.pipe, 0)
                     : uv_tcp_init(loop, &sp->h.tcp);
    if (rc != 0) {
        free(sp);
        return -1;
    }
    sp->h.s.data = sp;
    if (uv_accept(listener, &sp->h.s) != 0) {
        close_stream(sp);
        return -1;
    }
    char orig[64] = "127.0.0.1";
    int oport = 0;
    if (!is_pipe) {
        struct sockaddr_storage ss;
        int len = sizeof(ss);
        if (uv_tcp_getpeername(&sp->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
            if (ss.ss_family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *)&ss;
                uv_ip4_name(a, orig, sizeof(orig));
                oport = ntohs(a->sin_port);
            } else if (ss.ss_family == AF_INET6) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
                uv_ip6_name(a, orig, sizeof(orig));
                oport = ntohs(a->sin6_port);
            }
        }
    }
    sp->conn = c;
    rc = whelk_conn_open_channel(c->engine, &sp->ch, type, address, port,
                                 is_pipe ? NULL : orig, (uint32_t)oport,
                                 handler, sp);
    if (rc != 0) {
        wd_log(WHELK_LOG_INFO, "cannot open a %s channel: %s",
               type == WHELK_CHANNEL_X11          ? "x11"
               : type == WHELK_CHANNEL_AUTH_AGENT ? "agent"
                                                  : "forwarded",
               whelk_strerror(rc));
        sp->ch = NULL;
        sp->conn = NULL;
        close_stream(sp);
        return -1;
    }
    wd_conn_kick(c);
    return 0;
}

/* direct-tcpip: the target's addresses are tried in turn; the open is
 * answered once one connects, or refused with the last error. */

static void refuse(agx_splice *sp, int err)
{
    if (sp->port)
        wd_log(WHELK_LOG_ERROR, "connect_to %s port %u: failed: %s", sp->host,
               (unsigned)sp->port, uv_strerror(err));
    else
        wd_log(WHELK_LOG_ERROR, "connect_to %s: failed: %s", sp->host,
               uv_strerror(err));
    if (sp->ch) {
        whelk_channel *ch = sp->ch;
        sp->ch = NULL;
        whelk_channel_refuse(ch, WHELK_OPEN_CONNECT_FAILED, uv_strerror(err));
        kick(sp);
    }
    sp->conn = NULL;
    close_stream(sp);
}

static void on_connected(uv_connect_t *req, int status)
{
    agx_splice *sp = req->data;
    if (sp->closing || !sp->ch) return; /* the channel went meanwhile */
    if (status < 0) {
        /* A fresh handle for the next address: a failed connect leaves
         * the old one unusable. */
        if (sp->ai_next) {
            sp->retrying = 1;
            sp->last_err = status;
            uv_close((uv_handle_t *)&sp->h.s, on_stream_closed);
            return;
        }
        refuse(sp, status);
        return;
    }
    sp->connecting = 0;
    uv_freeaddrinfo(sp->ai);
    sp->ai = sp->ai_next = NULL;
    if (whelk_channel_accept(sp->ch, handler, sp) != 0) {
        sp->ch = NULL;
        sp->conn = NULL;
        close_stream(sp);
        return;
    }
    sp->opened = 1;
    update_reading(sp);
    kick(sp);
}

static void try_next(agx_splice *sp, int last_err)
{
    struct addrinfo *a = sp->ai_next;
    if (!a) {
        refuse(sp, last_err);
        return;
    }
    sp->ai_next = a->ai_next;
    int rc = uv_tcp_connect(&sp->connect, &sp->h.tcp, a->ai_addr, on_connected);
    if (rc != 0) try_next(sp, rc);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    agx_splice *sp = req->data;
    sp->resolving = 0;
    if (sp->closed) { /* the channel went while resolving */
        if (res) uv_freeaddrinfo(res);
        free_splice(sp);
        return;
    }
    if (status < 0 || !res || !sp->ch) {
        if (res) uv_freeaddrinfo(res);
        if (sp->ch)
            refuse(sp, status < 0 ? status : UV_EAI_NONAME);
        else
            close_stream(sp);
        return;
    }
    sp->ai = res;
    sp->ai_next = res;
    try_next(sp, UV_ECONNREFUSED);
}

int wd_splice_connect(wd_conn *c, whelk_channel *ch, const char *host,
                      uint32_t port)
{
    if (!handler && make_handler() != 0) return -1;
    agx_splice *sp = calloc(1, sizeof(*sp));
    if (!sp) return -1;
    sp->host = strdup(host);
    if (!sp->host || uv_tcp_init(c->srv->loop, &sp->h.tcp) != 0) {
        free(sp->host);
        free(sp);
        return -1;
    }
    sp->h.s.data = sp;
    sp->connect.data = sp;
    sp->gai.data = sp;
    sp->port = port;
    sp->conn = c;
    sp->ch = ch;
    sp->connecting = 1;
    /* The closed callback tells if the connection ends before the
     * answer. */
    whelk_channel_set_handler(ch, handler, sp);
    char service[16];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    /* An address literal (what ssh -L 8080:127.0.0.1:80 sends) needs no
     * resolver: getaddrinfo with AI_NUMERICHOST never leaves the
     * process, so it runs here, sparing a new connection the round trip
     * through libuv's thread pool. */
    struct addrinfo *res = NULL;
    hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
    if (getaddrinfo(host, service, &hints, &res) == 0 && res) {
        sp->ai = res;
        sp->ai_next = res;
        try_next(sp, UV_ECONNREFUSED);
        return 0;
    }
    hints.ai_flags = AI_NUMERICSERV;
    sp->resolving = 1;
    if (uv_getaddrinfo(c->srv->loop, &sp->gai, on_resolved, host, service,
                       &hints) != 0) {
        sp->resolving = 0;
        refuse(sp, UV_EAI_FAIL);
    }
    return 0;
}

/* direct-streamlocal: connect(2) to the socket with the user's file
 * rights (asuser.h) on a pool thread; non-blocking, so a full backlog
 * fails rather than holding the thread. */

static void unix_connect_work(uv_work_t *req)
{
    agx_splice *sp = req->data;
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, sp->host, strlen(sp->host) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        sp->unix_err = -errno;
        return;
    }
    wd_as_user saved;
    if (wd_as_user_begin(&sp->user, &saved) != 0) {
        sp->unix_err = UV_EPERM;
        close(fd);
        return;
    }
    int rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
    int err = rc == 0 ? 0 : -errno;
    wd_as_user_end(&saved);
    if (err) {
        close(fd);
        sp->unix_err = err;
        return;
    }
    sp->unix_fd = fd;
}

static void unix_connect_done(uv_work_t *req, int status)
{
    agx_splice *sp = req->data;
    sp->working = 0;
    if (sp->closed) { /* the channel went meanwhile */
        if (sp->unix_fd >= 0) close(sp->unix_fd);
        free_splice(sp);
        return;
    }
    if (status < 0 && sp->unix_err == 0) sp->unix_err = status;
    if (sp->unix_fd < 0 || !sp->ch ||
        uv_pipe_open(&sp->h.pipe, sp->unix_fd) != 0) {
        if (sp->unix_fd >= 0) close(sp->unix_fd);
        sp->unix_fd = -1;
        if (sp->ch)
            refuse(sp, sp->unix_err ? sp->unix_err : UV_EIO);
        else
            close_stream(sp);
        return;
    }
    if (whelk_channel_accept(sp->ch, handler, sp) != 0) {
        sp->ch = NULL;
        sp->conn = NULL;
        close_stream(sp);
        return;
    }
    sp->opened = 1;
    update_reading(sp);
    kick(sp);
}

int wd_splice_connect_unix(wd_conn *c, whelk_channel *ch, const char *path,
                           const wd_user *u)
{
    if (!handler && make_handler() != 0) return -1;
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) return -1;
    agx_splice *sp = calloc(1, sizeof(*sp));
    if (!sp) return -1;
    sp->host = strdup(path);
    if (!sp->host || uv_pipe_init(c->srv->loop, &sp->h.pipe, 0) != 0) {
        free(sp->host);
        free(sp);
        return -1;
    }
    sp->h.s.data = sp;
    sp->work.data = sp;
    sp->user = *u;
    sp->unix_fd = -1;
    sp->conn = c;
    sp->ch = ch;
    whelk_channel_set_handler(ch, handler, sp);
    sp->working = 1;
    if (uv_queue_work(c->srv->loop, &sp->work, unix_connect_work,
                      unix_connect_done) != 0) {
        sp->working = 0;
        refuse(sp, UV_EIO);
    }
    return 0;
}
