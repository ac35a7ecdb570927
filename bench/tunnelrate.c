/*
 * tunnelrate: the two local ends of bench.py's "tunnel rate" figure, in C
 * so that the load generator costs far less CPU per connection than the
 * SSH server and client it loads (the asyncio version cost more than
 * both, and the figure measured Python).
 *
 *   tunnelrate echo
 *       Listens on 127.0.0.1, port chosen by the kernel, and prints the
 *       port on one line. Sends back what each connection sends until
 *       EOF, then closes it. Runs until killed (SIGTERM/SIGINT: a clean
 *       exit).
 *   tunnelrate rate PORT COUNT PARALLEL
 *       Opens COUNT connections to 127.0.0.1:PORT, at most PARALLEL at a
 *       time; each sends MSG, reads its 16 bytes back, compares and
 *       closes. A connection that fails (connect error, early EOF, other
 *       bytes, TIMEOUT_S without an end) counts as failed and the next
 *       one starts. Prints "SECONDS OK FAILED", SECONDS from the first
 *       connect to the last close.
 *
 * One process, one epoll loop, non-blocking sockets, no threads. Both
 * modes are bounded: at most MAX_CONNS connections and a fixed buffer
 * each.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#define MAX_CONNS 4096
#define ECHO_BUF  2048
#define MAX_EVENTS 256
#define TIMEOUT_S 20
#define MAX_COUNT 1000000000L

static const char MSG[] = "whelk tunnel 16b";
#define MSG_LEN (sizeof MSG - 1)

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    stopping = 1;
}

_Noreturn static void usage(void)
{
    fprintf(stderr, "usage: tunnelrate echo\n"
                    "       tunnelrate rate PORT COUNT PARALLEL\n"
                    "  PORT 1-65535, COUNT 1-%ld, PARALLEL 1-%d\n",
            MAX_COUNT, MAX_CONNS);
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A whole decimal number in [lo, hi], or usage(). */
static long parse_num(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "tunnelrate: bad number '%s'\n", s);
        usage();
    }
    return v;
}

/* Every connection is a descriptor: MAX_CONNS of them must fit. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

_Noreturn static void die(const char *what)
{
    fprintf(stderr, "tunnelrate: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ------------------------------------------------------------------------
 * echo
 */

typedef struct echo_conn {
    int fd;                 /* -1: the slot is free */
    size_t len, off;        /* buf[off, len) still to send back */
    struct echo_conn *next; /* free list */
    char buf[ECHO_BUF];
} echo_conn;

typedef struct echo_srv {
    int ep, lfd;
    int paused; /* out of descriptors: the listener is not polled */
    echo_conn *conns, *free;
} echo_srv;

static void echo_close(echo_srv *s, echo_conn *c)
{
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->next = s->free;
    s->free = c;
}

static void set_events(echo_srv *s, int fd, uint32_t ev, void *ptr)
{
    struct epoll_event e = {.events = ev, .data.ptr = ptr};
    if (epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &e) != 0)
        die("epoll_ctl");
}

/* Sends what is pending. 1: all sent; 0: the rest waits for EPOLLOUT;
 * -1: the connection is gone. */
static int echo_flush(echo_conn *c)
{
    while (c->off < c->len) {
        ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off,
                         MSG_NOSIGNAL);
        if (n > 0) {
            c->off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else {
            return -1;
        }
    }
    c->off = c->len = 0;
    return 1;
}

/* Reads and echoes until the socket runs dry, a send would block (then
 * reading stops until the echo is out, which bounds the buffer) or EOF. A
 * few rounds at most, so that one fast sender cannot starve the rest. */
static void echo_readable(echo_srv *s, echo_conn *c)
{
    for (int round = 0; round < 8; round++) {
        ssize_t n = recv(c->fd, c->buf, sizeof c->buf, 0);
        if (n == 0) {
            echo_close(s, c);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                echo_close(s, c);
            return;
        }
        c->off = 0;
        c->len = (size_t)n;
        int r = echo_flush(c);
        if (r < 0) {
            echo_close(s, c);
            return;
        }
        if (r == 0) {
            set_events(s, c->fd, EPOLLOUT, c);
            return;
        }
    }
}

static void echo_writable(echo_srv *s, echo_conn *c)
{
    int r = echo_flush(c);
    if (r < 0)
        echo_close(s, c);
    else if (r > 0)
        set_events(s, c->fd, EPOLLIN, c);
}

static void echo_accept(echo_srv *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                /* Level-triggered: polling the listener now would spin.
                 * It is polled again once a connection closes, or soon. */
                set_events(s, s->lfd, 0, NULL);
                s->paused = 1;
            }
            return; /* EAGAIN, or an aborted connection */
        }
        echo_conn *c = s->free;
        if (!c) { /* MAX_CONNS already: refuse this one */
            close(fd);
            continue;
        }
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
            close(fd);
            continue;
        }
        s->free = c->next;
        c->fd = fd;
        c->off = c->len = 0;
    }
}

static int run_echo(void)
{
    echo_srv s = {.paused = 0};
    s.conns = calloc(MAX_CONNS, sizeof *s.conns);
    if (!s.conns)
        die("calloc");
    for (int i = MAX_CONNS - 1; i >= 0; i--) {
        s.conns[i].fd = -1;
        s.conns[i].next = s.free;
        s.free = &s.conns[i];
    }
    s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s.lfd < 0)
        die("socket");
    int one = 1;
    setsockopt(s.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = loopback(0);
    socklen_t slen = sizeof sa;
    if (bind(s.lfd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("bind");
    if (listen(s.lfd, 1024) != 0)
        die("listen");
    if (getsockname(s.lfd, (struct sockaddr *)&sa, &slen) != 0)
        die("getsockname");
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    if (s.ep < 0)
        die("epoll_create1");
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(s.ep, EPOLL_CTL_ADD, s.lfd, &le) != 0)
        die("epoll_ctl");
    printf("%u\n", (unsigned)ntohs(sa.sin_port));
    fflush(stdout);

    struct epoll_event ev[MAX_EVENTS];
    while (!stopping) {
        int n = epoll_wait(s.ep, ev, MAX_EVENTS, s.paused ? 100 : -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        echo_conn *before = s.free;
        for (int i = 0; i < n; i++) {
            echo_conn *c = ev[i].data.ptr;
            if (!c)
                echo_accept(&s);
            else if (c->fd < 0)
                continue; /* closed earlier in this batch */
            else if (c->off < c->len)
                echo_writable(&s, c); /* by state: HUP and errors too */
            else
                echo_readable(&s, c); /* also EOF, HUP and errors */
        }
        /* A connection closed (the free list grew) or 100 ms passed. */
        if (s.paused && (n == 0 || s.free != before)) {
            set_events(&s, s.lfd, EPOLLIN, NULL);
            s.paused = 0;
        }
    }
    for (int i = 0; i < MAX_CONNS; i++)
        if (s.conns[i].fd >= 0)
            close(s.conns[i].fd);
    free(s.conns);
    close(s.lfd);
    close(s.ep);
    return 0;
}

/* ------------------------------------------------------------------------
 * rate
 */

enum { CONNECTING, SENDING, READING };

typedef struct rate_conn {
    int fd; /* -1: idle */
    int state;
    size_t sent, got;
    double deadline;
    /* Active connections in start order: all have the same timeout, so
     * the oldest has the nearest deadline. */
    struct rate_conn *prev, *next;
    char buf[MSG_LEN];
} rate_conn;

typedef struct rate_run {
    int ep;
    struct sockaddr_in to;
    long count, started, ok, failed;
    rate_conn *oldest, *newest;
} rate_run;

static void rate_unlink(rate_run *r, rate_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        r->oldest = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        r->newest = c->prev;
    c->prev = c->next = NULL;
}

static void rate_append(rate_run *r, rate_conn *c)
{
    c->next = NULL;
    c->prev = r->newest;
    if (r->newest)
        r->newest->next = c;
    else
        r->oldest = c;
    r->newest = c;
}

static int rate_watch(rate_run *r, rate_conn *c, int op, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    return epoll_ctl(r->ep, op, c->fd, &e);
}

static void rate_start(rate_run *r, rate_conn *c);

/* The end of one connection, counted; the slot starts the next one. */
static void rate_done(rate_run *r, rate_conn *c, int ok)
{
    close(c->fd);
    c->fd = -1;
    rate_unlink(r, c);
    if (ok)
        r->ok++;
    else
        r->failed++;
    rate_start(r, c);
}

/* Sends what is left of MSG; once it is all out, waits for the answer. */
static void rate_send(rate_run *r, rate_conn *c)
{
    while (c->sent < MSG_LEN) {
        ssize_t n = send(c->fd, MSG + c->sent, MSG_LEN - c->sent,
                         MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c->state != SENDING) {
                c->state = SENDING;
                if (rate_watch(r, c, EPOLL_CTL_MOD, EPOLLOUT) != 0)
                    rate_done(r, c, 0);
            }
            return;
        } else {
            rate_done(r, c, 0);
            return;
        }
    }
    c->state = READING;
    if (rate_watch(r, c, EPOLL_CTL_MOD, EPOLLIN) != 0)
        rate_done(r, c, 0);
}

static void rate_connected(rate_run *r, rate_conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
        rate_done(r, c, 0);
        return;
    }
    c->state = SENDING;
    rate_send(r, c);
}

static void rate_read(rate_run *r, rate_conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->got, MSG_LEN - c->got, 0);
        if (n > 0) {
            c->got += (size_t)n;
            if (c->got == MSG_LEN) {
                rate_done(r, c, memcmp(c->buf, MSG, MSG_LEN) == 0);
                return;
            }
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            rate_done(r, c, 0); /* EOF before 16 bytes, or an error */
            return;
        }
    }
}

/* Starts the next connection in slot |c|, if any are left. A connect that
 * fails at once counts as failed and the next one is tried, in a loop
 * rather than by recursion. */
static void rate_start(rate_run *r, rate_conn *c)
{
    while (r->started < r->count) {
        r->started++;
        c->sent = c->got = 0;
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            r->failed++;
            continue;
        }
        c->deadline = now_s() + TIMEOUT_S;
        rate_append(r, c);
        int rc = connect(c->fd, (struct sockaddr *)&r->to, sizeof r->to);
        if (rc != 0 && errno != EINPROGRESS) {
            close(c->fd);
            c->fd = -1;
            rate_unlink(r, c);
            r->failed++;
            continue;
        }
        c->state = CONNECTING;
        if (rate_watch(r, c, EPOLL_CTL_ADD, EPOLLOUT) != 0) {
            close(c->fd);
            c->fd = -1;
            rate_unlink(r, c);
            r->failed++;
            continue;
        }
        /* A loopback connect may complete at once; EPOLLOUT says so
         * either way, so both cases go through rate_connected(). */
        return;
    }
}

/* By state, not by event bits: EOF, HUP and errors show up there. */
static void rate_event(rate_run *r, rate_conn *c)
{
    switch (c->state) {
    case CONNECTING:
        rate_connected(r, c);
        break;
    case SENDING:
        rate_send(r, c);
        break;
    default:
        rate_read(r, c);
        break;
    }
}

static int run_rate(long port, long count, long parallel)
{
    rate_run r = {.count = count};
    r.to = loopback((uint16_t)port);
    if (parallel > count)
        parallel = count;
    rate_conn *conns = calloc((size_t)parallel, sizeof *conns);
    if (!conns)
        die("calloc");
    r.ep = epoll_create1(EPOLL_CLOEXEC);
    if (r.ep < 0)
        die("epoll_create1");

    double t0 = now_s();
    for (long i = 0; i < parallel; i++) {
        conns[i].fd = -1;
        rate_start(&r, &conns[i]);
    }
    struct epoll_event ev[MAX_EVENTS];
    while (r.oldest && !stopping) {
        double left = r.oldest->deadline - now_s();
        int ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
        int n = epoll_wait(r.ep, ev, MAX_EVENTS, ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        /* A slot ended in this batch restarts with a new descriptor that
         * was not polled yet, so no later event in the batch is stale. */
        for (int i = 0; i < n; i++)
            rate_event(&r, ev[i].data.ptr);
        double now = now_s();
        while (r.oldest && r.oldest->deadline <= now)
            rate_done(&r, r.oldest, 0);
    }
    double wall = now_s() - t0;
    for (long i = 0; i < parallel; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    free(conns);
    close(r.ep);
    if (stopping)
        return 1;
    printf("%.6f %ld %ld\n", wall, r.ok, r.failed);
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    raise_nofile();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (strcmp(argv[1], "echo") == 0 && argc == 2)
        return run_echo();
    if (strcmp(argv[1], "rate") == 0 && argc == 5) {
        long port = parse_num(argv[2], 1, 65535);
        long count = parse_num(argv[3], 1, MAX_COUNT);
        long parallel = parse_num(argv[4], 1, MAX_CONNS);
        return run_rate(port, count, parallel);
    }
    usage();
}
