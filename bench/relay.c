/*
 * relay: the floor under bench.py's tunnel figures. A plain TCP relay,
 * no encryption, no protocol: what the kernel charges a process that
 * reads a stream from one socket and writes it to another, which is
 * every tunnelling server's work before its own (an SSH server adds the
 * cipher, its packets and its channel). bench.py runs the tunnel bulk
 * transfers through it beside the servers, so that each server's CPU per
 * GiB can be read against this estimate of the least it could spend.
 *
 *   relay TARGET_PORT
 *       Listens on 127.0.0.1 (port chosen by the kernel) and prints the
 *       port on one line. Each connection gets its own connection to
 *       127.0.0.1:TARGET_PORT; bytes go both ways, 256 KiB per read (as
 *       whelkd reads), half-closes are passed on, and the pair closes
 *       when both directions ended. One connection pair at a time:
 *       further clients wait in the backlog. Runs until killed.
 *
 * Blocking sockets and poll(2): two sockets need nothing more.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#define CHUNK (256 * 1024)

static char buf[CHUNK];

static int listen_any(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 16) ||
        getsockname(s, (struct sockaddr *)&a, &len)) {
        perror("relay: listen");
        exit(1);
    }
    printf("%u\n", (unsigned)ntohs(a.sin_port));
    fflush(stdout);
    return s;
}

static int connect_to(unsigned port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0) return s;
    perror("relay: connect");
    if (s >= 0) close(s);
    return -1;
}

/* Everything of |n| bytes to |fd|; -1 when the peer went. */
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

/* Copies both ways until both directions ended. */
static void relay(int a, int b)
{
    struct pollfd p[2] = {{.fd = a, .events = POLLIN},
                          {.fd = b, .events = POLLIN}};
    int open_dirs = 2;
    while (open_dirs > 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int to = i == 0 ? b : a;
            ssize_t n = read(p[i].fd, buf, sizeof(buf));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0 || write_all(to, buf, (size_t)n) != 0) {
                shutdown(to, SHUT_WR);
                p[i].fd = -1; /* poll skips it */
                open_dirs--;
            }
        }
    }
}

int main(int argc, char **argv)
{
    char *end;
    unsigned long port = argc == 2 ? strtoul(argv[1], &end, 10) : 0;
    if (argc != 2 || *end || port == 0 || port > 65535) {
        fprintf(stderr, "usage: relay TARGET_PORT (1-65535)\n");
        return 2;
    }
    int ls = listen_any();
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            perror("relay: accept");
            return 1;
        }
        int t = connect_to((unsigned)port);
        if (t >= 0) {
            relay(c, t);
            close(t);
        }
        close(c);
    }
}
