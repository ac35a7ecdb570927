/*
 * rfwd: see rfwd.h. One forward may need two sockets (GatewayPorts no
 * binds 127.0.0.1 and ::1; yes binds 0.0.0.0 and ::): both share the
 * forward's port, the second bound to the port the first got.
 */
#include "rfwd.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agxsplice.h"
#include "asuser.h"
#include "auth.h"
#include "fwdperm.h"
#include "log.h"

typedef struct rfwd_sock {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe; /* streamlocal-forward */
    };
    struct rfwd *fwd;
    int open;
} rfwd_sock;

typedef struct rfwd {
    struct rfwd *next;
    wd_conn *conn;     /* NULL once the connection is gone */
    char address[256]; /* as the client asked: the channels' field */
    uint32_t port;     /* as asked (0 for any) */
    uint32_t bound;    /* the port bound */
    rfwd_sock socks[2];
    int nsocks, closing;
    int is_unix; /* streamlocal-forward@openssh.com: |address| a path */
    int pending; /* its socket is being bound on a pool thread */
    int dead;    /* closed while pending: the job frees it */
} rfwd;

static void on_sock_closed(uv_handle_t *h)
{
    rfwd_sock *s = h->data;
    rfwd *f = s->fwd;
    s->open = 0;
    if (--f->closing == 0) free(f);
}

static void fwd_close(rfwd *f)
{
    f->conn = NULL;
    if (f->pending) {
        f->dead = 1;
        return;
    }
    f->closing = 0;
    for (int i = 0; i < f->nsocks; i++)
        if (f->socks[i].open) f->closing++;
    if (f->closing == 0) {
        free(f);
        return;
    }
    for (int i = 0; i < f->nsocks; i++)
        if (f->socks[i].open)
            uv_close((uv_handle_t *)&f->socks[i].tcp, on_sock_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
    rfwd_sock *s = server->data;
    rfwd *f = s->fwd;
    if (status < 0 || !f->conn) return;
    uint32_t port = f->port ? f->port : f->bound;
    if (f->is_unix ? wd_splice_accept(f->conn, server, 1,
                                      WHELK_CHANNEL_FORWARDED_STREAMLOCAL,
                                      f->address, 0) != 0
                   : wd_splice_accept(f->conn, server, 0,
                                      WHELK_CHANNEL_FORWARDED_TCPIP, f->address,
                                      port) != 0)
        wd_log(WHELK_LOG_INFO,
               "forwarded connection on port %u not "
               "taken",
               (unsigned)f->bound);
}

/* Binds and listens on |ip|:|port| as socket |i| of |f|; returns 0 or
 * a libuv error. */
static int bind_one(rfwd *f, wd_conn *c, const char *ip, uint32_t port)
{
    rfwd_sock *s = &f->socks[f->nsocks];
    struct sockaddr_storage ss;
    int rc = strchr(ip, ':')
                 ? uv_ip6_addr(ip, (int)port, (struct sockaddr_in6 *)&ss)
                 : uv_ip4_addr(ip, (int)port, (struct sockaddr_in *)&ss);
    if (rc != 0) return rc;
    if ((rc = uv_tcp_init(c->srv->loop, &s->tcp)) != 0) return rc;
    s->tcp.data = s;
    s->fwd = f;
    s->open = 1;
    f->nsocks++;
    rc = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss,
                     strchr(ip, ':') ? UV_TCP_IPV6ONLY : 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&s->tcp, 128, on_connection);
    if (rc == 0 && f->bound == 0) {
        struct sockaddr_storage b;
        int len = sizeof(b);
        if (uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&b, &len) == 0)
            f->bound = ntohs(b.ss_family == AF_INET6
                                 ? ((struct sockaddr_in6 *)&b)->sin6_port
                                 : ((struct sockaddr_in *)&b)->sin_port);
    }
    return rc;
}

/* The addresses to bind for the client's |addr| under GatewayPorts. */
static int bind_addresses(int gw, const char *addr, const char *out[2])
{
    if (gw == WD_GW_CLIENT && *addr && strcmp(addr, "*") != 0 &&
        strcmp(addr, "localhost") != 0) {
        out[0] = addr;
        return 1;
    }
    int wild = gw == WD_GW_YES ||
               (gw == WD_GW_CLIENT && (!*addr || strcmp(addr, "*") == 0));
    out[0] = wild ? "0.0.0.0" : "127.0.0.1";
    out[1] = wild ? "::" : "::1";
    return 2;
}

static int forwards(const wd_conn *c)
{
    int n = 0;
    for (const rfwd *f = c->rfwd; f; f = f->next)
        n++;
    return n;
}

static int tcpip_forward(wd_conn *c, const char *addr, uint32_t port,
                         uint32_t *bound)
{
    const wd_keywords *kw = wd_conn_kw(c);
    char saddr[256];
    wd_log_sanitize(saddr, sizeof(saddr), addr);
    const char *why = NULL;
    if (!wd_fwd_allowed(c, 0, addr, port, &why)) {
        wd_log(WHELK_LOG_INFO,
               "tcpip-forward listen %s port %u: refused "
               "(%s)",
               saddr, (unsigned)port, why);
        return -1;
    }
    if (port > 65535 || (port != 0 && port < 1024 && c->login->user.uid != 0)) {
        wd_log(WHELK_LOG_INFO,
               "tcpip-forward listen %s port %u: "
               "privileged port refused for non-root user",
               saddr, (unsigned)port);
        return -1;
    }
    if (forwards(c) >= WD_RFWD_MAX || strlen(addr) >= sizeof(saddr)) {
        wd_log(WHELK_LOG_INFO,
               "tcpip-forward listen %s port %u: too many "
               "forwards",
               saddr, (unsigned)port);
        return -1;
    }
    rfwd *f = calloc(1, sizeof(*f));
    if (!f) return -1;
    snprintf(f->address, sizeof(f->address), "%s", addr);
    f->port = port;
    f->conn = c;
    const char *ips[2];
    int n = bind_addresses(kw->gateway_ports, addr, ips);
    int ok = 0, rc = 0;
    for (int i = 0; i < n; i++) {
        rc = bind_one(f, c, ips[i], port ? port : f->bound);
        /* A socket that failed (no ::1 here) stays idle until the
         * forward closes: one of the two is enough. */
        if (rc == 0) ok++;
    }
    if (!ok) {
        wd_log(WHELK_LOG_INFO,
               "tcpip-forward listen %s port %u: bind "
               "failed: %s",
               saddr, (unsigned)port, uv_strerror(rc));
        fwd_close(f);
        return -1;
    }
    f->next = c->rfwd;
    c->rfwd = f;
    *bound = f->bound;
    wd_log(WHELK_LOG_DEBUG, "tcpip-forward listen %s port %u (bound %u)", saddr,
           (unsigned)port, (unsigned)f->bound);
    return 0;
}

static int cancel_forward(wd_conn *c, const char *addr, uint32_t port,
                          int is_unix)
{
    for (rfwd **p = &c->rfwd; *p; p = &(*p)->next) {
        rfwd *f = *p;
        if (f->pending || f->is_unix != is_unix) continue;
        if (strcmp(f->address, addr) == 0 &&
            (f->port == port || f->bound == port)) {
            *p = f->next;
            fwd_close(f);
            return 0;
        }
    }
    return -1;
}

/* streamlocal-forward: the socket is bound on a pool thread with the
 * user's file rights (asuser.h), mode 0666 & ~0177 (sshd's default
 * StreamLocalBindMask), an existing file left alone (StreamLocalBindUnlink
 * no); the reply follows the job. */
typedef struct sl_job {
    uv_work_t work;
    rfwd *f;
    wd_user user;
    uint32_t id;
    int want_reply;
    int fd, err;
    unsigned mask;
    int unlink_first;
} sl_job;

static void sl_bind_work(uv_work_t *req)
{
    sl_job *j = req->data;
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, j->f->address, strlen(j->f->address) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        j->err = -errno;
        return;
    }
    wd_as_user saved;
    if (wd_as_user_begin(&j->user, &saved) != 0) {
        close(fd);
        j->err = UV_EPERM;
        return;
    }
    int err = 0;
    if (j->unlink_first) unlink(sun.sun_path); /* as the user */
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
        err = -errno;
    else if (chmod(sun.sun_path, 0666 & ~j->mask) != 0 || listen(fd, 128) != 0)
        err = -errno;
    wd_as_user_end(&saved);
    if (err) {
        close(fd);
        j->err = err;
        return;
    }
    j->fd = fd;
}

static void sl_bind_done(uv_work_t *req, int status)
{
    sl_job *j = req->data;
    rfwd *f = j->f;
    f->pending = 0;
    wd_conn *c = f->conn;
    int ok = 0;
    if (!f->dead && j->fd >= 0 && status == 0 &&
        uv_pipe_init(c->srv->loop, &f->socks[0].pipe, 0) == 0) {
        f->socks[0].pipe.data = &f->socks[0];
        f->socks[0].fwd = f;
        f->socks[0].open = 1;
        f->nsocks = 1;
        if (uv_pipe_open(&f->socks[0].pipe, j->fd) == 0) {
            j->fd = -1;
            ok = uv_listen((uv_stream_t *)&f->socks[0].pipe, 128,
                           on_connection) == 0;
        }
    }
    if (j->fd >= 0) close(j->fd);
    if (f->dead) {
        fwd_close(f);
        free(j);
        return;
    }
    if (!ok) {
        char spath[256];
        wd_log_sanitize(spath, sizeof(spath), f->address);
        wd_log(WHELK_LOG_INFO, "streamlocal-forward %s: bind failed: %s", spath,
               uv_strerror(j->err ? j->err : UV_EIO));
        for (rfwd **p = &c->rfwd; *p; p = &(*p)->next)
            if (*p == f) {
                *p = f->next;
                break;
            }
        fwd_close(f);
    }
    if (j->want_reply) whelk_conn_global_reply(c->engine, j->id, ok, 0);
    wd_conn_kick(c);
    free(j);
}

static int streamlocal_forward(wd_conn *c, const char *path,
                               const whelk_global_request *req)
{
    const wd_keywords *kw = wd_conn_kw(c);
    char spath[256];
    wd_log_sanitize(spath, sizeof(spath), path);
    const char *why = kw->disable_forwarding ? "DisableForwarding"
                      : !(kw->allow_streamlocal & WD_FWD_REMOTE)
                          ? "AllowStreamLocalForwarding"
                      : c->login->have_opts && c->login->opts.no_port_forwarding
                          ? "no-port-forwarding"
                          : NULL;
    if (why || !*path ||
        strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
        forwards(c) >= WD_RFWD_MAX) {
        wd_log(WHELK_LOG_INFO, "streamlocal-forward %s: refused (%s)", spath,
               why ? why : "bad path or too many forwards");
        return -1;
    }
    rfwd *f = calloc(1, sizeof(*f));
    sl_job *j = calloc(1, sizeof(*j));
    if (!f || !j) {
        free(f);
        free(j);
        return -1;
    }
    snprintf(f->address, sizeof(f->address), "%s", path);
    f->is_unix = 1;
    f->pending = 1;
    f->conn = c;
    j->work.data = j;
    j->f = f;
    j->user = c->login->user;
    j->id = whelk_global_request_id(req);
    j->want_reply = whelk_global_request_want_reply(req);
    j->fd = -1;
    j->mask = kw->stream_local_bind_mask;
    j->unlink_first = kw->stream_local_bind_unlink;
    if (uv_queue_work(c->srv->loop, &j->work, sl_bind_work, sl_bind_done) !=
        0) {
        free(f);
        free(j);
        return -1;
    }
    f->next = c->rfwd;
    c->rfwd = f;
    return 0;
}

void wd_rfwd_close_all(wd_conn *c)
{
    while (c->rfwd) {
        rfwd *f = c->rfwd;
        c->rfwd = f->next;
        fwd_close(f);
    }
}

void wd_global_request(whelk_conn *conn, const whelk_global_request *req,
                       void *user)
{
    wd_conn *c = user;
    int ok = 0;
    uint32_t bound = 0;
    const char *addr = whelk_global_request_address(req);
    uint32_t port = whelk_global_request_port(req);
    if (c->login && c->login->have_user && addr) {
        switch (whelk_global_request_type(req)) {
        case WHELK_GLOBAL_TCPIP_FORWARD:
            ok = tcpip_forward(c, addr, port, &bound) == 0;
            if (port != 0) bound = 0; /* the port only when asked */
            break;
        case WHELK_GLOBAL_CANCEL_TCPIP_FORWARD:
            ok = cancel_forward(c, addr, port, 0) == 0;
            break;
        case WHELK_GLOBAL_STREAMLOCAL_FORWARD:
            if (streamlocal_forward(c, addr, req) == 0) return; /* later */
            break;
        case WHELK_GLOBAL_CANCEL_STREAMLOCAL_FORWARD:
            ok = cancel_forward(c, addr, 0, 1) == 0;
            break;
        default:
            break;
        }
    }
    if (whelk_global_request_want_reply(req))
        whelk_conn_global_reply(conn, whelk_global_request_id(req), ok, bound);
    wd_conn_kick(c);
}
