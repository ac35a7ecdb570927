/*
 * workers: whelkd with -w N > 1. The parent binds the listening sockets,
 * forks N workers (each one event loop, as with -w 1) and then only
 * accepts: each new connection goes, as a descriptor over a socketpair
 * (SCM_RIGHTS), to the worker with the fewest live connections. Workers
 * count their connections down in a page shared with the parent.
 *
 * Why not one SO_REUSEPORT listener per worker: the kernel then picks a
 * worker by hashing the connection's addresses, blind to load, and two
 * concurrent connections landed on the same worker half the time (8
 * pairs of `ssh host sleep`, -w 2: 4 of 8 pairs shared one worker), which
 * leaves a core idle during two bulk transfers.
 */
#include <errno.h>
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

static void stop_all(const pid_t *pids, const int *alive, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (alive[i]) kill(pids[i], SIGTERM);
}

int wd_run_workers(const wd_options *opts, int *handoff_fd)
{
    unsigned n = opts->workers;
    if (n > WD_MAX_WORKERS) n = WD_MAX_WORKERS;
    int lfd[WD_MAX_LISTEN];
    int nl = 0;
    for (int i = 0; i < opts->n_listen; i++) {
        lfd[nl] = wd_listen_socket(opts->listen[i]);
        if (lfd[nl] < 0) {
            while (nl > 0) close(lfd[--nl]);
            return 1;
        }
        nl++;
    }
    worker_load = mmap(NULL, WD_MAX_WORKERS * sizeof(*worker_load),
                       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                       0);
    if (worker_load == MAP_FAILED) {
        perror("whelkd: mmap");
        return 1;
    }
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);

    pid_t pids[WD_MAX_WORKERS];
    int socks[WD_MAX_WORKERS], alive[WD_MAX_WORKERS];
    unsigned started = 0;
    for (unsigned i = 0; i < n; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
            perror("whelkd: socketpair");
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("whelkd: fork");
            close(sv[0]);
            close(sv[1]);
            break;
        }
        if (pid == 0) {
            /* A worker: only its own end of its own pair stays open. */
            for (unsigned k = 0; k < started; k++) close(socks[k]);
            for (int k = 0; k < nl; k++) close(lfd[k]);
            close(sv[0]);
            my_index = i;
            *handoff_fd = sv[1];
            sigprocmask(SIG_SETMASK, &old, NULL);
            return -1;
        }
        close(sv[1]);
        pids[i] = pid;
        socks[i] = sv[0];
        alive[i] = 1;
        started++;
    }
    n = started;
    if (n == 0) return 1;
    wd_log(WHELK_LOG_INFO, "started %u worker processes", n);

    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        perror("whelkd: signalfd");
        stop_all(pids, alive, n);
    }
    struct pollfd pfd[WD_MAX_LISTEN + 1];
    unsigned live = n, rotor = 0;
    int stopping = sfd < 0, failed = sfd < 0, pause_ms = -1;
    while (live > 0) {
        int np = 0;
        if (sfd >= 0) pfd[np++] = (struct pollfd){.fd = sfd, .events = POLLIN};
        int first_listener = np;
        if (!stopping && pause_ms < 0)
            for (int i = 0; i < nl; i++)
                pfd[np++] = (struct pollfd){.fd = lfd[i], .events = POLLIN};
        int timeout = sfd < 0 ? 100 : pause_ms;
        pause_ms = -1;
        if (poll(pfd, (nfds_t)np, timeout) < 0 && errno != EINTR) break;
        if (sfd < 0) {
            /* No signalfd: just reap until every worker is gone. */
            int st;
            while (waitpid(-1, &st, WNOHANG) > 0) live--;
            continue;
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo != SIGCHLD) {
                    if (!stopping) {
                        stopping = 1;
                        stop_all(pids, alive, n);
                    }
                    continue;
                }
                int st;
                pid_t pid;
                while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
                    for (unsigned i = 0; i < n; i++) {
                        if (pids[i] != pid || !alive[i]) continue;
                        alive[i] = 0;
                        close(socks[i]);
                        live--;
                    }
                    if (!stopping) {
                        /* A worker must not vanish unnoticed: stop all. */
                        wd_log(WHELK_LOG_ERROR,
                               "worker %d exited (status %d); stopping",
                               (int)pid, st);
                        stopping = failed = 1;
                        stop_all(pids, alive, n);
                    }
                }
            }
        }
        for (int p = first_listener; p < np && !stopping; p++) {
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
                unsigned w = pick_worker(n, &rotor, alive);
                int sent = -1;
                for (unsigned tries = 0; w < n && tries < n; tries++) {
                    atomic_fetch_add(&worker_load[w], 1);
                    if ((sent = send_fd(socks[w], fd)) == 0) break;
                    /* That worker's queue is full or it is gone. */
                    atomic_fetch_sub(&worker_load[w], 1);
                    w = (w + 1) % n;
                    while (!alive[w] && tries + 1 < n) w = (w + 1) % n;
                }
                if (sent != 0)
                    wd_log(WHELK_LOG_ERROR,
                           "no worker took a connection; dropped");
                close(fd);
            }
        }
    }
    for (int i = 0; i < nl; i++) close(lfd[i]);
    for (unsigned i = 0; i < n; i++)
        if (alive[i]) close(socks[i]);
    if (sfd >= 0) close(sfd);
    return failed;
}
