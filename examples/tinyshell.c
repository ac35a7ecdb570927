/*
 * tinyshell: an SSH server in one file that embeds libwhelk with an
 * in-process session handler. No child process, no libuv: a plain poll(2)
 * loop feeds the sans-I/O engine, which shows the whole public API in use.
 *
 *   tinyshell [-p PORT] -h HOSTKEY -k AUTHORIZED_KEYS
 *
 * Clients get a tiny line interpreter: `help`, `echo ARGS`, `env`, `size`
 * and `exit N`. With a pty, line editing follows the terminal modes the
 * client sent (erase, kill, interrupt, EOF characters, echo, CR/LF
 * mapping); without one, output and errors travel as data and stderr.
 */
/* accept4(2); a program built outside this tree gets no -D_GNU_SOURCE. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "whelk/whelk.h"

#define MAX_CONNS 64
#define MAX_KEYS 32
#define LINE_MAX_LEN 512

static whelk_key *allowed[MAX_KEYS];
static int n_allowed;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------
 * The session: a line interpreter.
 */

typedef struct shell {
    int pty;             /* a pty was granted: act like a terminal */
    int interactive;     /* shell (prompts) rather than exec */
    uint8_t erase, kill, intr, eof;
    int echo, icrnl, onlcr;
    uint32_t cols, rows;
    char line[LINE_MAX_LEN];
    size_t len;
    char env[4][128];
    int n_env;
    int done;
} shell;

/* Writes text, turning \n into \r\n on a terminal with ONLCR. */
static void say(whelk_session *s, shell *sh, int err, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '\n' && sh->pty && sh->onlcr) {
            whelk_session_write(s, "\r\n", 2);
        } else if (err && !sh->pty) {
            whelk_session_write_stderr(s, p, 1);
        } else {
            whelk_session_write(s, p, 1);
        }
    }
}

static void finish(whelk_session *s, shell *sh, uint32_t status)
{
    if (sh->done) return;
    sh->done = 1;
    /* The order whelkd uses too: status, then EOF, then CLOSE. */
    whelk_session_exit_status(s, status);
    whelk_session_send_eof(s);
    whelk_session_close(s);
}

static void prompt(whelk_session *s, shell *sh)
{
    if (sh->interactive && !sh->done) say(s, sh, 0, "tinyshell> ");
}

/* Runs one command line; returns its status (-1: keep going). */
static int run_line(whelk_session *s, shell *sh, char *line)
{
    char out[LINE_MAX_LEN + 64];
    char *cmd = strtok(line, " \t");
    char *rest = strtok(NULL, "");
    if (!cmd) return 0;
    if (!strcmp(cmd, "help")) {
        say(s, sh, 0, "commands: help, echo ARGS, env, size, exit [N]\n");
        return 0;
    }
    if (!strcmp(cmd, "echo")) {
        snprintf(out, sizeof(out), "%s\n", rest ? rest : "");
        say(s, sh, 0, out);
        return 0;
    }
    if (!strcmp(cmd, "env")) {
        for (int i = 0; i < sh->n_env; i++) {
            snprintf(out, sizeof(out), "%s\n", sh->env[i]);
            say(s, sh, 0, out);
        }
        return 0;
    }
    if (!strcmp(cmd, "size")) {
        snprintf(out, sizeof(out), "%u %u\n", sh->cols, sh->rows);
        say(s, sh, 0, out);
        return 0;
    }
    if (!strcmp(cmd, "exit")) {
        int code = rest ? atoi(rest) : 0;
        finish(s, sh, (uint32_t)code & 0xff);
        return code;
    }
    snprintf(out, sizeof(out), "tinyshell: %s: command not found\n", cmd);
    say(s, sh, 1, out);
    return 127;
}

static void enter(whelk_session *s, shell *sh)
{
    sh->line[sh->len] = 0;
    sh->len = 0;
    run_line(s, sh, sh->line);
    prompt(s, sh);
}

/* Line editing off the client's terminal modes. */
static void on_key(whelk_session *s, shell *sh, uint8_t ch)
{
    if (sh->pty && sh->icrnl && ch == '\r') ch = '\n';
    if (ch == '\n') {
        if (sh->pty && sh->echo) say(s, sh, 0, "\n");
        enter(s, sh);
    } else if (sh->pty && (ch == sh->erase || ch == '\b')) {
        if (sh->len > 0) {
            sh->len--;
            if (sh->echo) whelk_session_write(s, "\b \b", 3);
        }
    } else if (sh->pty && ch == sh->kill) {
        while (sh->len > 0) {
            sh->len--;
            if (sh->echo) whelk_session_write(s, "\b \b", 3);
        }
    } else if (sh->pty && ch == sh->intr) {
        sh->len = 0;
        say(s, sh, 0, "^C\n");
        prompt(s, sh);
    } else if (sh->pty && ch == sh->eof) {
        if (sh->len == 0) finish(s, sh, 0);
    } else if (sh->len < LINE_MAX_LEN - 1) {
        sh->line[sh->len++] = (char)ch;
        if (sh->pty && sh->echo) whelk_session_write(s, &ch, 1);
    }
}

static int on_pty(whelk_session *s, const whelk_pty *pty, void *user)
{
    shell *sh = user;
    sh->pty = 1;
    whelk_pty_size(pty, &sh->cols, &sh->rows, NULL, NULL);
    uint8_t op;
    uint32_t v;
    for (unsigned i = 0; whelk_pty_mode(pty, i, &op, &v) == 0; i++) {
        switch (op) {
        case WHELK_TTY_VERASE: sh->erase = (uint8_t)v; break;
        case WHELK_TTY_VKILL: sh->kill = (uint8_t)v; break;
        case WHELK_TTY_VINTR: sh->intr = (uint8_t)v; break;
        case WHELK_TTY_VEOF: sh->eof = (uint8_t)v; break;
        case WHELK_TTY_ECHO: sh->echo = v != 0; break;
        case WHELK_TTY_ICRNL: sh->icrnl = v != 0; break;
        case WHELK_TTY_ONLCR: sh->onlcr = v != 0; break;
        default: break; /* everything else is irrelevant here */
        }
    }
    return 0;
}

static int on_env(whelk_session *s, const char *name, const char *value,
                  void *user)
{
    shell *sh = user;
    if (sh->n_env >= 4) return -1;
    snprintf(sh->env[sh->n_env++], sizeof(sh->env[0]), "%s=%s", name, value);
    return 0;
}

static int on_shell(whelk_session *s, void *user)
{
    shell *sh = user;
    sh->interactive = 1;
    say(s, sh, 0, "welcome to tinyshell; try help\n");
    prompt(s, sh);
    return 0;
}

static int on_exec(whelk_session *s, const char *command, void *user)
{
    shell *sh = user;
    char copy[LINE_MAX_LEN];
    snprintf(copy, sizeof(copy), "%s", command);
    int status = run_line(s, sh, copy);
    finish(s, sh, (uint32_t)(status < 0 ? 0 : status));
    return 0;
}

static int on_window_change(whelk_session *s, uint32_t cols, uint32_t rows,
                            uint32_t w, uint32_t h, void *user)
{
    shell *sh = user;
    sh->cols = cols;
    sh->rows = rows;
    return 0;
}

static int on_signal(whelk_session *s, const char *name, void *user)
{
    shell *sh = user;
    if (strcmp(name, "INT") != 0) return -1;
    on_key(s, sh, sh->intr);
    return 0;
}

static void on_data(whelk_session *s, const uint8_t *data, size_t len,
                    void *user)
{
    shell *sh = user;
    for (size_t i = 0; i < len && !sh->done; i++) on_key(s, sh, data[i]);
    /* Processed at once: let the client send more. */
    whelk_session_consumed(s, len);
}

static void on_eof(whelk_session *s, void *user)
{
    shell *sh = user;
    if (sh->len > 0) enter(s, sh);
    finish(s, sh, 0);
}

static void on_closed(whelk_session *s, void *user)
{
    free(user);
}

/* Conch's ISession, as one handler every session shares (each session
 * copies it when it is attached). */
static whelk_session_handler *handler;

static int make_handler(void)
{
    if (whelk_session_handler_new(&handler) != 0) return -1;
    whelk_session_handler_set_pty_req(handler, on_pty);
    whelk_session_handler_set_env(handler, on_env);
    whelk_session_handler_set_shell(handler, on_shell);
    whelk_session_handler_set_exec(handler, on_exec);
    whelk_session_handler_set_window_change(handler, on_window_change);
    whelk_session_handler_set_signal(handler, on_signal);
    whelk_session_handler_set_data(handler, on_data);
    whelk_session_handler_set_eof(handler, on_eof);
    whelk_session_handler_set_closed(handler, on_closed);
    return 0;
}

/* ------------------------------------------------------------------------
 * Connection-level callbacks.
 */

static int session_open(whelk_conn *conn, whelk_session *s, void *user)
{
    shell *sh = calloc(1, sizeof(*sh));
    if (!sh) return -1;
    /* Defaults of a typical terminal, used when the client sends none. */
    sh->erase = 0x7f;
    sh->kill = 0x15;
    sh->intr = 0x03;
    sh->eof = 0x04;
    sh->echo = sh->icrnl = sh->onlcr = 1;
    whelk_session_set_handler(s, handler, sh);
    return 0;
}

static whelk_auth_result auth_publickey(whelk_conn *conn,
                                        const whelk_pubkey_request *req,
                                        void *user)
{
    const whelk_key *key = whelk_pubkey_request_key(req);
    for (int i = 0; i < n_allowed; i++)
        if (whelk_key_equal_public(key, allowed[i]))
            return WHELK_AUTH_ALLOW;
    return WHELK_AUTH_DENY;
}

static int user_valid(whelk_conn *conn, const char *name, void *user)
{
    return 1; /* anyone with an allowed key */
}

/* Logins and their ends, in tinyshell's own words. */
static void log_event(whelk_conn *conn, const whelk_event *ev, void *u)
{
    const char *user = whelk_event_user(ev);
    char who[1025] = "-";
    if (user) whelk_escape(who, sizeof(who), user, strlen(user));
    switch (whelk_event_get_type(ev)) {
    case WHELK_EVENT_AUTH_SUCCESS:
        fprintf(stderr, "tinyshell: %s logged in from %s (%s)\n", who,
                whelk_conn_peer_addr(conn), whelk_event_method(ev));
        break;
    case WHELK_EVENT_AUTH_FAILURE:
        fprintf(stderr, "tinyshell: %s failed %s from %s\n", who,
                whelk_event_method(ev), whelk_conn_peer_addr(conn));
        break;
    case WHELK_EVENT_DISCONNECT:
        fprintf(stderr, "tinyshell: disconnecting %s: %s\n",
                whelk_conn_peer_addr(conn), whelk_event_text(ev));
        break;
    default:
        break;
    }
}

static void log_line(whelk_conn *conn, int level, const char *msg, void *u)
{
    if (level <= WHELK_LOG_INFO) fprintf(stderr, "tinyshell: %s\n", msg);
}

/* ------------------------------------------------------------------------
 * The poll loop.
 */

typedef struct client {
    int fd;
    whelk_conn *conn;
} client;

static int load_file(const char *path, char *buf, size_t size, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    *len = fread(buf, 1, size - 1, f);
    buf[*len] = 0;
    fclose(f);
    return 0;
}

static void flush(client *c)
{
    const uint8_t *out;
    size_t n;
    while ((n = whelk_conn_out(c->conn, &out)) > 0) {
        ssize_t w = write(c->fd, out, n);
        if (w <= 0) break; /* EAGAIN: poll for POLLOUT next round */
        whelk_conn_out_consumed(c->conn, (size_t)w);
    }
}

int main(int argc, char **argv)
{
    int port = 2223, opt;
    const char *hostkey = NULL, *keys = NULL;
    while ((opt = getopt(argc, argv, "p:h:k:")) != -1) {
        if (opt == 'p') port = atoi(optarg);
        else if (opt == 'h') hostkey = optarg;
        else if (opt == 'k') keys = optarg;
        else goto usage;
    }
    if (!hostkey || !keys) goto usage;
    signal(SIGPIPE, SIG_IGN);

    static char text[65536];
    size_t len;
    whelk_key *hk;
    if (load_file(hostkey, text, sizeof(text), &len) != 0 ||
        whelk_key_parse_private(text, len, &hk) != 0) {
        fprintf(stderr, "tinyshell: cannot load host key %s\n", hostkey);
        return 1;
    }
    if (load_file(keys, text, sizeof(text), &len) != 0) {
        fprintf(stderr, "tinyshell: cannot read %s\n", keys);
        return 1;
    }
    for (char *save = NULL, *l = strtok_r(text, "\n", &save);
         l && n_allowed < MAX_KEYS; l = strtok_r(NULL, "\n", &save))
        if (whelk_key_parse_public_line(l, strlen(l),
                                        &allowed[n_allowed]) == 0)
            n_allowed++;

    whelk_config *cfg = whelk_config_new();
    whelk_config_add_host_key(cfg, hk);
    whelk_server_callbacks *cb;
    if (whelk_server_callbacks_new(&cb) != 0 || make_handler() != 0) return 1;
    whelk_server_callbacks_set_log(cb, log_line);
    whelk_server_callbacks_set_event(cb, log_event);
    whelk_server_callbacks_set_user_lookup(cb, user_valid);
    whelk_server_callbacks_set_auth_publickey(cb, auth_publickey);
    whelk_server_callbacks_set_session_open(cb, session_open);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 16)) {
        perror("tinyshell: listen");
        return 1;
    }
    fprintf(stderr, "tinyshell: listening on 127.0.0.1 port %d\n", port);

    client clients[MAX_CONNS];
    int n = 0;
    for (;;) {
        struct pollfd pfd[MAX_CONNS + 1];
        uint64_t now = now_ms(), next = UINT64_MAX;
        pfd[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (int i = 0; i < n; i++) {
            const uint8_t *o;
            pfd[i + 1].fd = clients[i].fd;
            pfd[i + 1].events =
                (whelk_conn_want_read(clients[i].conn) ? POLLIN : 0) |
                (whelk_conn_out(clients[i].conn, &o) ? POLLOUT : 0);
            uint64_t e = whelk_conn_expiry(clients[i].conn);
            if (e < next) next = e;
        }
        int timeout = next == UINT64_MAX ? -1
                      : next <= now     ? 0
                                        : (int)(next - now);
        if (poll(pfd, (nfds_t)n + 1, timeout) < 0 && errno != EINTR) break;
        now = now_ms();
        for (int i = 0; i < n; i++) {
            client *c = &clients[i];
            int dead = 0;
            if (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) {
                uint8_t buf[65536];
                ssize_t r = read(c->fd, buf, sizeof(buf));
                if (r <= 0) {
                    whelk_conn_peer_closed(c->conn);
                    dead = 1;
                } else {
                    whelk_conn_recv(c->conn, buf, (size_t)r, now);
                }
            }
            whelk_conn_handle_expiry(c->conn, now);
            flush(c);
            if (dead || whelk_conn_is_closed(c->conn)) {
                whelk_conn_free(c->conn);
                close(c->fd);
                clients[i--] = clients[--n];
                pfd[i + 2] = pfd[n + 1];
            }
        }
        if ((pfd[0].revents & POLLIN) && n < MAX_CONNS) {
            struct sockaddr_in peer;
            socklen_t pl = sizeof(peer);
            int fd = accept4(lfd, (struct sockaddr *)&peer, &pl,
                             SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd >= 0) {
                char addr[64];
                inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof(addr));
                client *c = &clients[n];
                c->fd = fd;
                if (whelk_conn_server_new(&c->conn, cfg, cb, NULL, addr,
                                          ntohs(peer.sin_port), now) == 0) {
                    n++;
                    flush(c);
                } else {
                    close(fd);
                }
            }
        }
    }
    return 0;
usage:
    fprintf(stderr, "usage: tinyshell [-p PORT] -h HOSTKEY -k "
                    "AUTHORIZED_KEYS\n");
    return 2;
}
