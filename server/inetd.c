/*
 * inetd: whelkd -i, one connection on stdin/stdout as sshd -i and
 * dropbear -i serve it: started by inetd, by systemd's whelkd.socket
 * with Accept=yes (whelkd@.service), or as a client's ProxyCommand.
 *
 * The event loop serves sockets only (loop.c reads and writes a
 * uv_tcp_t): a socket on stdin is used as it is; a pair of pipes (a
 * ProxyCommand) is bridged to a socketpair by a relay thread, so the
 * rest of whelkd sees one stream socket either way.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"

#define RELAY_BUF 65536

static int relay_sock;

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copies stdin to the pair and the pair to stdout until the server
 * closes its end; the process's exit ends the thread otherwise. */
static void *relay(void *arg)
{
    (void)arg;
    static char buf[RELAY_BUF];
    int in_open = 1;
    for (;;) {
        struct pollfd p[2] = {
            {.fd = relay_sock, .events = POLLIN},
            {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[0].revents) {
            ssize_t r = read(relay_sock, buf, sizeof(buf));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0 || write_all(STDOUT_FILENO, buf, (size_t)r) != 0) break;
        }
        if (p[1].revents) {
            ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                /* The client closed: the server reads EOF. */
                shutdown(relay_sock, SHUT_WR);
                in_open = 0;
            } else if (write_all(relay_sock, buf, (size_t)r) != 0) {
                break;
            }
        }
    }
    shutdown(relay_sock, SHUT_RDWR);
    close(STDOUT_FILENO);
    return NULL;
}

static int is_socket(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

int wd_inetd_socket(void)
{
    if (is_socket(STDIN_FILENO)) {
        int fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) return -1;
        /* Nothing else may write into the connection. */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            if (is_socket(STDOUT_FILENO)) dup2(null, STDOUT_FILENO);
            close(null);
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        return fd;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return -1;
    relay_sock = sv[1];
    pthread_t t;
    if (pthread_create(&t, NULL, relay, NULL) != 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    pthread_detach(t);
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    return sv[0];
}
