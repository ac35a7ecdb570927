/*
 * x11fwd: see x11fwd.h. As sshd (channels.c x11_create_display_inet),
 * displays are tried from the offset up to 1000 of them, and one whose
 * port is taken is skipped.
 */
#include "x11fwd.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agxsplice.h"

#define X11_BASE_PORT 6000
#define MAX_DISPLAYS  1000

struct wd_x11fwd {
    uv_tcp_t listener;
    wd_conn *conn;       /* NULL once stopped */
    int single;          /* 1: one connection; 2: it came, closing */
    int closed, stopped; /* the listener closed; the session let go */
    int display;
    char display_env[320];
    char xauth_input[1400];
};

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void close_listener(wd_x11fwd *x)
{
    if (x->listener.data == NULL) return;
    uv_close((uv_handle_t *)&x->listener, on_closed);
}

static void on_single_closed(uv_handle_t *h)
{
    wd_x11fwd *x = h->data;
    x->closed = 1;
    if (x->stopped) free(x);
}

static void on_connection(uv_stream_t *l, int status)
{
    wd_x11fwd *x = l->data;
    if (status < 0 || !x->conn) return;
    wd_agx_splice(x->conn, l, 0, WHELK_CHANNEL_X11);
    if (x->single) {
        /* One connection only: the display closes behind it. The
         * session still owns the (stopped) state and frees it. */
        uv_close((uv_handle_t *)&x->listener, on_single_closed);
        x->conn = NULL;
        x->single = 2;
    }
}

/* xauth reads one command per line, split at white space: the protocol
 * name and the cookie must be one word each, the cookie hexadecimal. */
static int valid_auth(const char *proto, const char *cookie)
{
    if (!proto[0] || !cookie[0] || strlen(cookie) % 2) return 0;
    for (const char *p = proto; *p; p++)
        if (*p <= ' ' || *p > '~') return 0;
    for (const char *p = cookie; *p; p++)
        if (!strchr("0123456789abcdefABCDEF", *p)) return 0;
    return 1;
}

/* A listening socket on the first free display; -1 when none is. */
static int bind_display(int localhost, int offset, int *display)
{
    for (int n = offset; n < offset + MAX_DISPLAYS; n++) {
        if (X11_BASE_PORT + n > 65535) break;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) return -1;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in sin = {.sin_family = AF_INET,
                                  .sin_port = htons(X11_BASE_PORT + n)};
        sin.sin_addr.s_addr = htonl(localhost ? INADDR_LOOPBACK : INADDR_ANY);
        if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
            listen(fd, 128) == 0) {
            *display = n;
            return fd;
        }
        close(fd);
        if (errno != EADDRINUSE) return -1;
    }
    errno = EADDRINUSE;
    return -1;
}

wd_x11fwd *wd_x11fwd_start(wd_conn *c, int single_connection, const char *proto,
                           const char *cookie, uint32_t screen)
{
    const wd_keywords *kw = wd_conn_kw(c);
    if (!valid_auth(proto, cookie)) {
        wd_log(WHELK_LOG_INFO, "x11-req: bad authentication data");
        return NULL;
    }
    if (screen > 1000) screen = 0;
    wd_x11fwd *x = calloc(1, sizeof(*x));
    if (!x) return NULL;
    int fd = bind_display(kw->x11_use_localhost, kw->x11_display_offset,
                          &x->display);
    if (fd < 0) {
        wd_log(WHELK_LOG_ERROR,
               "Failed to allocate internet-domain X11 "
               "display socket: %s",
               strerror(errno));
        free(x);
        return NULL;
    }
    uv_tcp_init(c->tcp.loop, &x->listener);
    x->listener.data = x;
    if (uv_tcp_open(&x->listener, fd) != 0 ||
        uv_listen((uv_stream_t *)&x->listener, 128, on_connection) != 0) {
        wd_log(WHELK_LOG_ERROR, "x11 forwarding: listen failed");
        close_listener(x);
        return NULL;
    }
    x->conn = c;
    x->single = single_connection ? 1 : 0;
    char host[256] = "localhost";
    if (!kw->x11_use_localhost && gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = 0;
    snprintf(x->display_env, sizeof(x->display_env), "%s:%d.%u", host,
             x->display, screen);
    /* sshd's do_xauth: the display as xauth names the local one. */
    snprintf(x->xauth_input, sizeof(x->xauth_input),
             "remove unix:%d.%u\nadd unix:%d.%u %s %s\n", x->display, screen,
             x->display, screen, proto, cookie);
    wd_log(WHELK_LOG_DEBUG, "x11 forwarding: display %d", x->display);
    return x;
}

const char *wd_x11fwd_display(const wd_x11fwd *x)
{
    return x->display_env;
}

const char *wd_x11fwd_xauth_input(const wd_x11fwd *x)
{
    return x->xauth_input;
}

void wd_x11fwd_stop(wd_x11fwd *x)
{
    if (!x) return;
    x->conn = NULL;
    x->stopped = 1;
    if (x->single != 2)
        close_listener(x);
    else if (x->closed)
        free(x); /* else on_single_closed frees it */
}
