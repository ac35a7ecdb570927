/*
 * whelk: the beginnings of an ssh-like client on libwhelk's client role.
 * Today it connects, checks the server's host key against a known_hosts
 * style file (or accepts any with -A), authenticates with a key, a password
 * (WHELK_PASSWORD) or keyboard-interactive, and reports the result; the
 * session channels of the client side are still to come.
 *
 *   whelk [-p PORT] [-i KEY] [-k HOSTKEY.pub | -A] [-c CIPHERS] [-x KEX]
 *         USER@ADDR
 *
 * Exit status: 0 authenticated, 1 authentication failed, 2 usage or
 * connection error, 3 host key refused.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "whelk/whelk.h"

static whelk_key *trusted;  /* -k */
static int accept_any;      /* -A */
static int host_refused;
static int done, authed;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static whelk_key *read_key(const char *path, int private_key)
{
    static char text[65536];
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = 0;
    whelk_key *k = NULL;
    int rc = private_key ? whelk_key_parse_private(text, n, &k)
                         : whelk_key_parse_public_line(text, n, &k);
    return rc == 0 ? k : NULL;
}

static int host_key_check(whelk_conn *c, const whelk_key *key, void *u)
{
    char fp[80];
    whelk_key_fingerprint(key, fp, sizeof(fp));
    fprintf(stderr, "whelk: server host key %s %s\n",
            whelk_key_short_name(key), fp);
    if (accept_any || (trusted && whelk_key_equal_public(key, trusted)))
        return 0;
    host_refused = 1;
    return -1;
}

static int password(whelk_conn *c, char *buf, size_t size, void *u)
{
    const char *pw = getenv("WHELK_PASSWORD");
    if (!pw) return -1;
    snprintf(buf, size, "%s", pw);
    return 0;
}

static int kbdint(whelk_conn *c, const whelk_kbdint_prompts *p,
                  whelk_kbdint_answers *answers, void *u)
{
    const char *pw = getenv("WHELK_PASSWORD");
    if (!pw) return -1;
    for (unsigned i = 0; i < whelk_kbdint_prompts_count(p); i++)
        if (whelk_kbdint_answers_set(answers, i, pw) != 0) return -1;
    return 0;
}

static void authenticated(whelk_conn *c, const char *user, const char *m,
                          void *u)
{
    printf("authenticated as %s with %s (%s, %s)\n", user, m,
           whelk_conn_algorithm(c, WHELK_ALG_KEX),
           whelk_conn_algorithm(c, WHELK_ALG_CIPHER_C2S));
    authed = done = 1;
}

static void auth_failed(whelk_conn *c, void *u)
{
    fprintf(stderr, "whelk: permission denied\n");
    done = 1;
}

static void log_line(whelk_conn *c, int level, const char *msg, void *u)
{
    if (level <= WHELK_LOG_INFO) fprintf(stderr, "whelk: %s\n", msg);
}

/* How the connection ended, when it did not end well. */
static void on_event(whelk_conn *c, const whelk_event *ev, void *u)
{
    const char *t = whelk_event_text(ev);
    char esc[4 * 1024 + 1];
    whelk_escape(esc, sizeof(esc), t, strlen(t));
    switch (whelk_event_get_type(ev)) {
    case WHELK_EVENT_DISCONNECT:
        if (whelk_event_error(ev) != WHELK_ERR_CLOSED)
            fprintf(stderr, "whelk: disconnecting: %s\n", esc);
        break;
    case WHELK_EVENT_PEER_DISCONNECT:
        fprintf(stderr, "whelk: the server disconnected (%u): %s\n",
                whelk_event_reason(ev), esc);
        break;
    default:
        break;
    }
}

int main(int argc, char **argv)
{
    int port = 22, opt;
    const char *idfile = NULL, *ciphers = NULL, *kex = NULL;
    while ((opt = getopt(argc, argv, "p:i:k:Ac:x:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'i': idfile = optarg; break;
        case 'k':
            if (!(trusted = read_key(optarg, 0))) {
                fprintf(stderr, "whelk: cannot read host key %s\n", optarg);
                return 2;
            }
            break;
        case 'A': accept_any = 1; break;
        case 'c': ciphers = optarg; break;
        case 'x': kex = optarg; break;
        default: goto usage;
        }
    }
    if (optind != argc - 1 || !strchr(argv[optind], '@')) goto usage;
    char *target = argv[optind], *at = strchr(target, '@');
    *at = 0;
    const char *user = target, *host = at + 1;

    whelk_key *identity = NULL;
    if (idfile && !(identity = read_key(idfile, 1))) {
        fprintf(stderr, "whelk: cannot load identity %s\n", idfile);
        return 2;
    }
    whelk_config *cfg = whelk_config_new();
    if ((ciphers && whelk_config_set_ciphers(cfg, ciphers)) ||
        (kex && whelk_config_set_kex(cfg, kex))) {
        fprintf(stderr, "whelk: unknown algorithm\n");
        return 2;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "whelk: %s is not an IPv4 address\n", host);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "whelk: connect: %s\n", strerror(errno));
        return 2;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    whelk_client_callbacks *cb;
    if (whelk_client_callbacks_new(&cb) != 0) return 2;
    whelk_client_callbacks_set_log(cb, log_line);
    whelk_client_callbacks_set_event(cb, on_event);
    whelk_client_callbacks_set_host_key_check(cb, host_key_check);
    whelk_client_callbacks_set_password(cb, password);
    whelk_client_callbacks_set_kbdint(cb, kbdint);
    whelk_client_callbacks_set_authenticated(cb, authenticated);
    whelk_client_callbacks_set_auth_failed(cb, auth_failed);
    whelk_conn *conn;
    int rc = whelk_conn_client_new(&conn, cfg, cb, NULL, user, identity,
                                   now_ms());
    whelk_client_callbacks_free(cb); /* the connection has its copy */
    if (rc != 0) return 2;
    uint64_t deadline = now_ms() + 30000;
    while (!done && !whelk_conn_is_closed(conn) && now_ms() < deadline) {
        const uint8_t *out;
        size_t n;
        while ((n = whelk_conn_out(conn, &out)) > 0) {
            ssize_t w = write(fd, out, n);
            if (w <= 0) break;
            whelk_conn_out_consumed(conn, (size_t)w);
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1000) <= 0) continue;
        uint8_t buf[65536];
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r <= 0) break;
        whelk_conn_recv(conn, buf, (size_t)r, now_ms());
    }
    const uint8_t *out;
    size_t n = whelk_conn_out(conn, &out);
    if (n && write(fd, out, n) < 0) { /* best effort: a DISCONNECT */ }
    close(fd);
    whelk_conn_free(conn);
    whelk_config_free(cfg);
    whelk_key_free(identity);
    whelk_key_free(trusted);
    if (authed) return 0;
    return host_refused ? 3 : 1;
usage:
    fprintf(stderr, "usage: whelk [-p PORT] [-i KEY] [-k HOSTKEY.pub | -A] "
                    "[-c CIPHERS] [-x KEX] USER@ADDR\n");
    return 2;
}
