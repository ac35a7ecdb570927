/*
 * rfwd: see rfwd.h. One forward may need two sockets (GatewayPorts no
 * binds 127.0.0.1 and ::1; yes binds 0.0.0.0 and ::): both share the
 * forward's port, the second bound to the port the first got.
 */
#include "rfwd.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agxsplice.h"
#include "auth.h"
#include "fwdperm.h"
#include "log.h"

typedef struct rfwd_sock {
    uv_tcp_t tcp;
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
    if (wd_splice_accept(f->conn, server, 0, WHELK_CHANNEL_FORWARDED_TCPIP,
                         f->address, port) != 0)
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

static int cancel_forward(wd_conn *c, const char *addr, uint32_t port)
{
    for (rfwd **p = &c->rfwd; *p; p = &(*p)->next) {
        rfwd *f = *p;
        if (strcmp(f->address, addr) == 0 &&
            (f->port == port || f->bound == port)) {
            *p = f->next;
            fwd_close(f);
            return 0;
        }
    }
    return -1;
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
            ok = cancel_forward(c, addr, port) == 0;
            break;
        default:
            break;
        }
    }
    if (whelk_global_request_want_reply(req))
        whelk_conn_global_reply(conn, whelk_global_request_id(req), ok, bound);
    wd_conn_kick(c);
}
