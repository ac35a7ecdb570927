/*
 * lifecycle: the parts of whelkd's start, reload and stop that the
 * parent (workers.c) and a serving process share; see lifecycle.h and
 * "Lifecycle" in docs/ARCHITECTURE.md.
 */
#include "lifecycle.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "session.h"

/* ------------------------------------------------------------------
 * WhelkdDrainTimeout
 */

int wd_lifecycle_keyword(struct wd_keywords *kw, const char *key, int ac,
                         char **av, char *err, size_t errlen)
{
    if (strcasecmp(key, "WhelkdDrainTimeout") != 0) return WD_KW_NOT_MINE;
    char *end;
    long v = strtol(av[0], &end, 10);
    if (ac != 1 || *end || end == av[0] || v < 0 || v > 30L * 86400) {
        snprintf(err, errlen,
                 "keyword %s: wants SECONDS, 0 to 2592000 (0: no limit)", key);
        return WD_KW_ERROR;
    }
    if (!kw->drain_set) {
        kw->drain_timeout_s = (unsigned)v;
        kw->drain_set = 1;
    }
    return WD_KW_DONE;
}

void wd_lifecycle_dump(const struct wd_keywords *kw, FILE *out)
{
    fprintf(out, "whelkddraintimeout %u\n", kw->drain_timeout_s);
}

/* ------------------------------------------------------------------
 * The saved command line
 */

static char **saved_argv;

void wd_save_argv(int argc, char **argv)
{
    saved_argv = calloc((size_t)argc + 1, sizeof(char *));
    if (!saved_argv) return;
    for (int i = 0; i < argc; i++)
        saved_argv[i] = strdup(argv[i]);
}

char **wd_saved_argv(void)
{
    return saved_argv;
}

/* ------------------------------------------------------------------
 * sd_notify
 */

void wd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || (path[0] != '/' && path[0] != '@')) return;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    size_t n = strlen(path);
    if (n < 2 || n > sizeof(sa.sun_path)) return;
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@') sa.sun_path[0] = 0; /* an abstract name */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
        wd_log(WHELK_LOG_DEBUG, "sd_notify: %s", strerror(errno));
    close(fd);
}

void wd_notify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[96];
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL +
                 (unsigned long long)ts.tv_nsec / 1000);
    wd_notify(msg);
}

void wd_notify_forget(void)
{
    unsetenv("NOTIFY_SOCKET");
}

/* ------------------------------------------------------------------
 * Inherited listeners
 */

int wd_inherited_listeners(int *fds, int max)
{
    const char *pid = getenv("LISTEN_PID"), *count = getenv("LISTEN_FDS");
    if (!pid || !count) return 0;
    char *end;
    long p = strtol(pid, &end, 10);
    int mine = !*end && p == (long)getpid();
    long n = strtol(count, &end, 10);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (!mine) return 0; /* meant for another process */
    if (*end || n < 1 || n > max) {
        fprintf(stderr, "whelkd: LISTEN_FDS=%s: want 1 to %d sockets\n", count,
                max);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int fd = 3 + i, listening = 0, type = 0;
        socklen_t sl = sizeof(listening);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &sl) != 0 ||
            !listening ||
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &type,
                       &(socklen_t){sizeof(type)}) != 0 ||
            type != SOCK_STREAM) {
            fprintf(stderr,
                    "whelkd: inherited descriptor %d is not a listening "
                    "stream socket (use Accept=no, or -i with Accept=yes)\n",
                    fd);
            return -1;
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fds[i] = fd;
    }
    return (int)n;
}

void wd_log_listener(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
            port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
            port = ntohs(in6->sin6_port);
        }
    }
    wd_log(WHELK_LOG_INFO, "Server listening on %s port %d (inherited).", host,
           port);
}

/* ------------------------------------------------------------------
 * A serving process's signals and drain
 */

static uv_signal_t sig_term, sig_int, sig_hup;
static uv_timer_t drain_timer;
static int serving, finished, timer_on;
static enum wd_serve_mode serve_mode;

void wd_finish(wd_server *srv)
{
    if (finished) return;
    finished = 1;
    wd_stop(srv);
    wd_session_shutdown();
    if (timer_on) {
        uv_timer_stop(&drain_timer);
        uv_close((uv_handle_t *)&drain_timer, NULL);
        timer_on = 0;
    }
    if (serving) {
        uv_close((uv_handle_t *)&sig_term, NULL);
        uv_close((uv_handle_t *)&sig_int, NULL);
        uv_close((uv_handle_t *)&sig_hup, NULL);
        serving = 0;
    }
}

static void on_drain_timeout(uv_timer_t *t)
{
    wd_server *srv = t->data;
    wd_log(WHELK_LOG_INFO, "drain timeout: ending %u remaining connections",
           srv->n_conns);
    wd_finish(srv);
}

void wd_drain(wd_server *srv, const char *why)
{
    if (srv->draining || finished) return;
    srv->draining = 1;
    wd_stop_listening(srv);
    unsigned limit = wd_opts->kw.drain_timeout_s;
    wd_log(WHELK_LOG_INFO,
           "%s: taking no new connections; %u open ones continue%s", why,
           srv->n_conns,
           limit && srv->n_conns ? " until the drain timeout" : "");
    if (srv->n_conns == 0) {
        wd_finish(srv);
        return;
    }
    if (limit) {
        uv_timer_init(srv->loop, &drain_timer);
        drain_timer.data = srv;
        uv_timer_start(&drain_timer, on_drain_timeout, (uint64_t)limit * 1000,
                       0);
        timer_on = 1;
    }
}

void wd_lifecycle_conn_gone(wd_server *srv)
{
    if (srv->draining && srv->n_conns == 0 && !finished) wd_finish(srv);
}

static void on_signal(uv_signal_t *s, int signum)
{
    wd_server *srv = s->data;
    if (signum == SIGHUP) {
        /* The parent reloads; a worker, or -w 1 alone, has nothing to
         * re-read without dropping what it serves. */
        wd_log(WHELK_LOG_INFO, "Received SIGHUP; %s",
               serve_mode == WD_SERVE_SINGLE
                   ? "reloading needs the parent process (run without -w 1)"
                   : "ignored (the parent reloads)");
        return;
    }
    int single = serve_mode == WD_SERVE_SINGLE;
    if (signum == SIGTERM && single && !srv->draining) {
        wd_notify("STOPPING=1");
        wd_log(WHELK_LOG_INFO, "Received signal %d; draining.", signum);
        wd_drain(srv, "SIGTERM");
        return;
    }
    wd_log(WHELK_LOG_INFO, "Received signal %d; terminating.", signum);
    if (single) wd_notify("STOPPING=1");
    wd_finish(srv);
}

void wd_lifecycle_serve(wd_server *srv, enum wd_serve_mode mode)
{
    serve_mode = mode;
    uv_signal_init(srv->loop, &sig_term);
    uv_signal_init(srv->loop, &sig_int);
    uv_signal_init(srv->loop, &sig_hup);
    sig_term.data = sig_int.data = sig_hup.data = srv;
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_hup, on_signal, SIGHUP);
    serving = 1;
}
