/*
 * workers: whelkd's supervising parent (every mode but -w 1). The parent
 * binds the listening sockets (or inherits them: lifecycle.h), forks N
 * workers (each one event loop, as with -w 1) and then only
 * accepts: each new connection goes, as a descriptor over a socketpair
 * (SCM_RIGHTS), to the worker with the fewest live connections. Workers
 * count their connections down in a page shared with the parent.
 *
 * The parent also keeps the service alive (issue 17): a worker that dies
 * is logged and replaced (after a second if it died within a second of
 * starting, so a worker that cannot start does not spin); SIGTERM closes
 * the listeners and the hand-off sockets and the parent exits at once,
 * while each worker drains (lifecycle.c); SIGHUP runs `whelkd ARGS -t`
 * and, if that passes, re-executes the parent with the same arguments,
 * handing the listeners on as systemd does (LISTEN_FDS), and the old
 * workers drain.
 *
 * Why not one SO_REUSEPORT listener per worker: the kernel then picks a
 * worker by hashing the connection's addresses, blind to load, and two
 * concurrent connections landed on the same worker half the time (8
 * pairs of `ssh host sleep`, -w 2: 4 of 8 pairs shared one worker), which
 * leaves a core idle during two bulk transfers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lifecycle.h"
#include "server.h"

#define WD_MAX_WORKERS 64

/* Live connections per worker: raised by the parent at hand-off, lowered
 * by the worker when the connection is freed. */
static _Atomic unsigned *worker_load;
static unsigned my_index;

void wd_worker_conn_done(void)
{
    if (worker_load) atomic_fetch_sub(&worker_load[my_index], 1);
}

/* The least-loaded worker, ties broken round-robin so that a burst of
 * connections to idle workers spreads too. */
static unsigned pick_worker(unsigned n, unsigned *rotor, const int *alive)
{
    unsigned best = n, best_load = 0;
    for (unsigned k = 0; k < n; k++) {
        unsigned i = (*rotor + k) % n;
        if (!alive[i]) continue;
        unsigned l = atomic_load(&worker_load[i]);
        if (best == n || l < best_load) {
            best = i;
            best_load = l;
        }
    }
    *rotor = (*rotor + 1) % n;
    return best;
}

static int send_fd(int sock, int fd)
{
    char byte = 'c';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof(u));
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = u.space,
                       .msg_controllen = sizeof(u.space)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t r;
    do r = sendmsg(sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    return r == 1 ? 0 : -1;
}

int wd_worker_recv_fd(int sock, int *fd)
{
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = u.space,
                       .msg_controllen = sizeof(u.space)};
    ssize_t r;
    do r = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    if (r < 0) return errno == EAGAIN ? 0 : -1;
    if (r == 0) return -1; /* the parent is gone */
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int)) || (m.msg_flags & MSG_CTRUNC))
        return -1; /* only our parent writes here */
    memcpy(fd, CMSG_DATA(c), sizeof(int));
    return 1;
}


static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The parent's state, one process's worth. */
static struct {
    unsigned n;
    pid_t pid[WD_MAX_WORKERS];
    int sock[WD_MAX_WORKERS];
    int alive[WD_MAX_WORKERS];
    uint64_t started_at[WD_MAX_WORKERS];
    uint64_t respawn_at[WD_MAX_WORKERS]; /* 0: none due */
    int lfd[WD_MAX_LISTEN];
    int nl;
    int sfd;
    sigset_t old_mask;
} P;

/* Forks worker |i|. Returns 1 in the parent (0 when the fork failed,
 * logged), -1 in the new worker with *handoff_fd set. */
static int spawn_worker(unsigned i, int *handoff_fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        wd_log(WHELK_LOG_ERROR, "socketpair: %s", strerror(errno));
        return 0;
    }
    pid_t pid = fork();
    if (pid < 0) {
        wd_log(WHELK_LOG_ERROR, "fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return 0;
    }
    if (pid == 0) {
        /* A worker: only its own end of its own pair stays open. */
        for (unsigned k = 0; k < P.n; k++)
            if (P.alive[k]) close(P.sock[k]);
        for (int k = 0; k < P.nl; k++) close(P.lfd[k]);
        if (P.sfd >= 0) close(P.sfd);
        close(sv[0]);
        my_index = i;
        *handoff_fd = sv[1];
        wd_notify_forget();
        sigprocmask(SIG_SETMASK, &P.old_mask, NULL);
        return -1;
    }
    close(sv[1]);
    atomic_store(&worker_load[i], 0);
    P.pid[i] = pid;
    P.sock[i] = sv[0];
    P.alive[i] = 1;
    P.started_at[i] = now_ms();
    P.respawn_at[i] = 0;
    return 1;
}

static void describe_status(int st, char *out, size_t len)
{
    if (WIFSIGNALED(st)) {
        const char *name = sigabbrev_np(WTERMSIG(st));
        snprintf(out, len, "killed by signal %d (SIG%s)%s", WTERMSIG(st),
                 name ? name : "?", WCOREDUMP(st) ? ", core dumped" : "");
    } else if (WIFEXITED(st)) {
        snprintf(out, len, "exited with status %d", WEXITSTATUS(st));
    } else {
        snprintf(out, len, "ended (wait status %#x)", st);
    }
}

/* Closes the listeners and every hand-off socket: the workers drain. */
static void release_workers(void)
{
    for (int i = 0; i < P.nl; i++) close(P.lfd[i]);
    P.nl = 0;
    for (unsigned i = 0; i < P.n; i++) {
        if (P.alive[i]) close(P.sock[i]);
        P.alive[i] = 0;
    }
}

static void log_draining(const char *what)
{
    char pids[WD_MAX_WORKERS * 12 + 1] = "";
    size_t o = 0;
    for (unsigned i = 0; i < P.n; i++)
        if (P.alive[i] && o < sizeof(pids) - 12)
            o += (size_t)snprintf(pids + o, sizeof(pids) - o, " %d",
                                  (int)P.pid[i]);
    wd_log(WHELK_LOG_INFO,
           "%s; workers%s drain their connections (SIGTERM to a worker "
           "ends its connections now)", what, o ? pids : " (none)");
}

/* SIGHUP: `whelkd ARGS -t` with the same binary; 0 when it passes. */
static int check_new_config(void)
{
    char **argv = wd_saved_argv();
    if (!argv) return -1;
    int argc = 0;
    while (argv[argc]) argc++;
    char **args = calloc((size_t)argc + 2, sizeof(char *));
    if (!args) return -1;
    memcpy(args, argv, (size_t)argc * sizeof(char *));
    args[argc] = "-t";
    pid_t pid = fork();
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &P.old_mask, NULL);
        execv("/proc/self/exe", args);
        _exit(127);
    }
    free(args);
    if (pid < 0) return -1;
    /* A check that hangs (a host key on a dead network share) must not
     * hold the parent, which accepts nothing meanwhile, for long. */
    int st;
    uint64_t give_up = now_ms() + 30000;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) break;
        if (r < 0 && errno != EINTR) return -1;
        if (now_ms() > give_up) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            wd_log(WHELK_LOG_ERROR, "reload: whelkd -t took over 30 s");
            return -1;
        }
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    char why[96];
    describe_status(st, why, sizeof(why));
    wd_log(WHELK_LOG_ERROR, "reload: whelkd -t %s", why);
    return -1;
}

/* SIGHUP after a passing check: the same arguments, the same PID (what
 * systemd's MAINPID names), the listeners passed on at 3.. as systemd
 * passes them. Returns only if the exec failed. */
static void reexec(void)
{
    char **argv = wd_saved_argv();
    int moved[WD_MAX_LISTEN];
    /* Out of the way first, so that placing them at 3.. clobbers none. */
    for (int i = 0; i < P.nl; i++) {
        moved[i] = fcntl(P.lfd[i], F_DUPFD_CLOEXEC, 3 + WD_MAX_LISTEN + 8);
        if (moved[i] < 0) return;
    }
    int nl = P.nl;
    log_draining("reload: the new configuration passed whelkd -t; "
                 "re-executing");
    release_workers();
    if (P.sfd >= 0) close(P.sfd);
    P.sfd = -1;
    for (int i = 0; i < nl; i++) {
        if (dup2(moved[i], 3 + i) < 0) return;
        close(moved[i]);
    }
    char buf[32];
    snprintf(buf, sizeof(buf), "%d", nl);
    setenv("LISTEN_FDS", buf, 1);
    snprintf(buf, sizeof(buf), "%d", (int)getpid());
    setenv("LISTEN_PID", buf, 1);
    unsetenv("LISTEN_FDNAMES");
    sigprocmask(SIG_SETMASK, &P.old_mask, NULL);
    execv("/proc/self/exe", argv);
    wd_log(WHELK_LOG_ERROR, "reload: exec: %s", strerror(errno));
}

int wd_run_workers(const wd_options *opts, int *handoff_fd)
{
    unsigned n = opts->workers;
    if (n > WD_MAX_WORKERS) n = WD_MAX_WORKERS;
    P.sfd = -1;
    P.nl = wd_inherited_listeners(P.lfd, WD_MAX_LISTEN);
    if (P.nl < 0) return 1;
    for (int i = 0; i < P.nl; i++) wd_log_listener(P.lfd[i]);
    for (int i = 0; P.nl == 0 && i < opts->n_listen; i++) {
        int fd = wd_listen_socket(opts->listen[i]);
        if (fd < 0) {
            for (int k = 0; k < i; k++) close(P.lfd[k]);
            return 1;
        }
        P.lfd[i] = fd;
        if (i + 1 == opts->n_listen) P.nl = opts->n_listen;
    }
    worker_load = mmap(NULL, WD_MAX_WORKERS * sizeof(*worker_load),
                       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                       0);
    if (worker_load == MAP_FAILED) {
        perror("whelkd: mmap");
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, &P.old_mask);

    P.n = n;
    unsigned started = 0;
    for (unsigned i = 0; i < n; i++) {
        int r = spawn_worker(i, handoff_fd);
        if (r < 0) return -1;
        started += (unsigned)r;
    }
    if (started == 0) return 1;
    wd_log(WHELK_LOG_INFO, "started %u worker processes", started);

    P.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (P.sfd < 0) {
        perror("whelkd: signalfd");
        release_workers();
        return 1;
    }
    /* Workers from before a re-exec may have ended while no SIGCHLD
     * could be queued: look once now. */
    raise(SIGCHLD);
    wd_notify("READY=1");
    struct pollfd pfd[WD_MAX_LISTEN + 1];
    unsigned rotor = 0;
    int pause_ms = -1;
    for (;;) {
        /* Workers due again (a crash's replacement held back). */
        uint64_t now = now_ms();
        int timeout = pause_ms;
        for (unsigned i = 0; i < n; i++) {
            if (P.alive[i] || !P.respawn_at[i]) continue;
            if (P.respawn_at[i] <= now) {
                int r = spawn_worker(i, handoff_fd);
                if (r < 0) return -1;
                if (r == 0) P.respawn_at[i] = now + 1000;
                else wd_log(WHELK_LOG_INFO, "worker %u restarted as pid %d",
                            i, (int)P.pid[i]);
            }
            if (P.respawn_at[i]) {
                int wait = (int)(P.respawn_at[i] - now);
                if (wait < 1) wait = 1;
                if (timeout < 0 || wait < timeout) timeout = wait;
            }
        }
        int np = 0;
        pfd[np++] = (struct pollfd){.fd = P.sfd, .events = POLLIN};
        int first_listener = np;
        if (pause_ms < 0)
            for (int i = 0; i < P.nl; i++)
                pfd[np++] = (struct pollfd){.fd = P.lfd[i], .events = POLLIN};
        pause_ms = -1;
        if (poll(pfd, (nfds_t)np, timeout) < 0 && errno != EINTR) break;
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(P.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                    wd_notify("STOPPING=1");
                    char what[80];
                    snprintf(what, sizeof(what),
                             "Received signal %d; closing the listeners",
                             (int)si.ssi_signo);
                    log_draining(what);
                    release_workers();
                    close(P.sfd);
                    return 0;
                }
                if (si.ssi_signo == SIGHUP) {
                    wd_notify_reloading();
                    wd_log(WHELK_LOG_INFO, "Received SIGHUP; checking the "
                           "configuration");
                    if (check_new_config() == 0) {
                        reexec();
                        return 1; /* exec failed; the workers drain */
                    }
                    wd_log(WHELK_LOG_ERROR, "reload: the configuration is "
                           "not valid; keeping the running one");
                    wd_notify("READY=1");
                    continue;
                }
                int st;
                pid_t pid;
                while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
                    char why[96];
                    describe_status(st, why, sizeof(why));
                    unsigned i;
                    for (i = 0; i < n; i++)
                        if (P.alive[i] && P.pid[i] == pid) break;
                    if (i == n) {
                        /* A worker from before a reload, now drained. */
                        wd_log(WHELK_LOG_INFO, "old worker pid %d %s",
                               (int)pid, why);
                        continue;
                    }
                    P.alive[i] = 0;
                    close(P.sock[i]);
                    uint64_t t = now_ms();
                    int quick = t - P.started_at[i] < 1000;
                    wd_log(WHELK_LOG_ERROR,
                           "worker %u (pid %d) %s; its connections are lost; "
                           "restarting it%s",
                           i, (int)pid, why, quick ? " in a second" : "");
                    P.respawn_at[i] = quick ? t + 1000 : t;
                }
            }
        }
        for (int p = first_listener; p < np; p++) {
            if (!(pfd[p].revents & POLLIN)) continue;
            for (;;) {
                int fd = accept4(pfd[p].fd, NULL, NULL,
                                 SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0) {
                    if (errno == EMFILE || errno == ENFILE ||
                        errno == ENOBUFS || errno == ENOMEM) {
                        /* Out of descriptors: leave the backlog queued
                         * for a moment instead of spinning on it. */
                        wd_log(WHELK_LOG_ERROR, "accept: %s",
                               strerror(errno));
                        pause_ms = 100;
                    }
                    break;
                }
                unsigned first = pick_worker(n, &rotor, P.alive);
                int sent = -1;
                for (unsigned k = 0; first < n && k < n; k++) {
                    unsigned w = (first + k) % n;
                    if (!P.alive[w]) continue; /* dead, or not yet back */
                    atomic_fetch_add(&worker_load[w], 1);
                    if ((sent = send_fd(P.sock[w], fd)) == 0) break;
                    /* That worker's queue is full or it is gone. */
                    atomic_fetch_sub(&worker_load[w], 1);
                }
                if (sent != 0)
                    wd_log(WHELK_LOG_ERROR,
                           "no worker took a connection; dropped");
                close(fd);
            }
        }
    }
    release_workers();
    close(P.sfd);
    return 1;
}
