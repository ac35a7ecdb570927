/*
 * sftp_main: the SFTP server as a program: sftp-server's command line,
 * the blocking loop that serves two descriptors, and the entry point
 * whelkd's session child takes instead of execve for internal-sftp (as
 * sshd runs it: forked, privileges dropped, then serving the session's
 * pipes).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sftp_int.h"

#define INTERNAL_NAME "internal-sftp"
#define READ_CHUNK (256 * 1024)
#define MAX_ARGS 64

/* whelkd hangs up a session's processes when its channel closes. The
 * server does not die of it mid-request: it notes it, a blocking call it
 * interrupts fails with EINTR, and the server ends at the EOF that
 * follows (whelkd closes the pipes too), closing and logging as usual. */
static volatile sig_atomic_t hung_up;
static void on_hangup(int sig) { hung_up = 1; }

/* Set by wd_sftp_child: whelkd's log, and how its lines start there. */
static int child_log_fd = -1;
static char child_log_prefix[48];

int wd_sftp_is_internal(const char *command)
{
    size_t n = sizeof(INTERNAL_NAME) - 1;
    return command && strncmp(command, INTERNAL_NAME, n) == 0 &&
           (command[n] == 0 || command[n] == ' ' || command[n] == '\t');
}

/* ------------------------------------------------------------------------
 * Serving.
 */

static int flush_all(wd_sftp *s, int out_fd)
{
    wd_buf *out = wd_sftp_output(s);
    while (wd_buf_used(out) > 0) {
        ssize_t w = write(out_fd, wd_buf_data(out), wd_buf_used(out));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        wd_buf_consume(out, (size_t)w);
    }
    return 0;
}

/* Until the client's EOF (0), a write error or a malformed packet (the
 * exit status). Input is read only while there is room for it, and
 * requests are answered only while the output has room for a reply, so
 * a client that does not read its replies stops being read. */
static int serve(wd_sftp *s, int in_fd, int out_fd)
{
    static uint8_t chunk[READ_CHUNK];
    wd_buf *out = wd_sftp_output(s);
    for (;;) {
        size_t room = wd_sftp_input_room(s);
        struct pollfd pfd[2] = {
            {room ? in_fd : -1, POLLIN, 0},
            {wd_buf_used(out) ? out_fd : -1, POLLOUT, 0},
        };
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR) continue;
            wd_sftp_log(s, WD_SFTP_LOG_ERROR, "poll: %s", strerror(errno));
            return 2;
        }
        if (pfd[1].revents) {
            ssize_t w = write(out_fd, wd_buf_data(out), wd_buf_used(out));
            if (w > 0) {
                wd_buf_consume(out, (size_t)w);
            } else if (w == 0 || errno == EPIPE) {
                return 0; /* the client is gone */
            } else if (errno != EAGAIN && errno != EINTR) {
                wd_sftp_log(s, WD_SFTP_LOG_ERROR, "write: %s",
                            strerror(errno));
                return 1;
            }
        }
        if (pfd[0].revents) {
            ssize_t n = read(in_fd, chunk, room < sizeof(chunk) ? room
                                                                : sizeof(chunk));
            if (n > 0) {
                wd_sftp_feed(s, chunk, (size_t)n); /* takes it all: room */
            } else if (n == 0) {
                /* What was sent before the EOF is still answered. */
                while (wd_sftp_process(s) == 0 && wd_buf_used(out) > 0)
                    if (flush_all(s, out_fd) != 0) break;
                flush_all(s, out_fd);
                return wd_sftp_exit_status(s);
            } else if (errno != EAGAIN && errno != EINTR) {
                wd_sftp_log(s, WD_SFTP_LOG_ERROR, "read: %s",
                            strerror(errno));
                return 1;
            }
        }
        if (wd_sftp_process(s) < 0) {
            flush_all(s, out_fd);
            return wd_sftp_exit_status(s);
        }
    }
}

/* ------------------------------------------------------------------------
 * The command line.
 */

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [-ehR] [-d start_directory] [-f log_facility] "
            "[-l log_level]\n\t[-P denied_requests] [-p allowed_requests] "
            "[-u umask]\n       %s -Q protocol_feature\n",
            prog, prog);
}

static int log_level_named(const char *name)
{
    static const struct {
        const char *name;
        int level;
    } levels[] = {{"QUIET", WD_SFTP_LOG_QUIET},     {"FATAL", WD_SFTP_LOG_FATAL},
                  {"ERROR", WD_SFTP_LOG_ERROR},     {"INFO", WD_SFTP_LOG_INFO},
                  {"VERBOSE", WD_SFTP_LOG_VERBOSE}, {"DEBUG", WD_SFTP_LOG_DEBUG1},
                  {"DEBUG1", WD_SFTP_LOG_DEBUG1},   {"DEBUG2", WD_SFTP_LOG_DEBUG2},
                  {"DEBUG3", WD_SFTP_LOG_DEBUG3}};
    for (size_t i = 0; i < sizeof(levels) / sizeof(*levels); i++)
        if (strcasecmp(name, levels[i].name) == 0) return levels[i].level;
    return -100;
}

/* Syslog facilities are accepted for sftp-server's sake; lines go to
 * whelkd's log (or stderr with -e) whatever the facility. */
static int facility_known(const char *name)
{
    static const char *const known[] = {
        "DAEMON", "USER",   "AUTH",   "AUTHPRIV", "LOCAL0", "LOCAL1",
        "LOCAL2", "LOCAL3", "LOCAL4", "LOCAL5",   "LOCAL6", "LOCAL7"};
    for (size_t i = 0; i < sizeof(known) / sizeof(*known); i++)
        if (strcasecmp(name, known[i]) == 0) return 1;
    return 0;
}

/* -d's argument: a leading ~ or ~user, then %d (home), %u (user), %U
 * (uid) and %%. 0, or -1 after a message. */
static int start_directory(const char *spec, char *out, size_t outsize,
                           const char *prog)
{
    struct passwd *pw = getpwuid(getuid());
    const char *home = pw ? pw->pw_dir : getenv("HOME");
    const char *user = pw ? pw->pw_name : getenv("USER");
    char expanded[PATH_MAX], uid[16];
    snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
    const char *p = spec;
    if (spec[0] == '~') {
        const char *slash = strchr(spec, '/');
        size_t ul = slash ? (size_t)(slash - spec) - 1 : strlen(spec) - 1;
        const char *h = home;
        if (ul > 0) {
            char name[256];
            if (ul >= sizeof(name)) goto no_user;
            memcpy(name, spec + 1, ul);
            name[ul] = 0;
            struct passwd *other = getpwnam(name);
            if (!other) goto no_user;
            h = other->pw_dir;
        }
        if (!h) goto no_user;
        p = slash ? slash + strspn(slash, "/") : "";
        int n = snprintf(expanded, sizeof(expanded), "%s%s%s", h,
                         h[0] && h[strlen(h) - 1] == '/' ? "" : "/", p);
        if (n < 0 || (size_t)n >= sizeof(expanded)) goto too_long;
        p = expanded;
    }
    size_t o = 0;
    for (; *p; p++) {
        const char *add = NULL;
        char one[2] = {*p, 0};
        if (*p != '%') {
            add = one;
        } else {
            p++;
            switch (*p) {
            case 'd': add = home ? home : ""; break;
            case 'u': add = user ? user : uid; break;
            case 'U': add = uid; break;
            case '%': add = "%"; break;
            default:
                fprintf(stderr, "%s: unknown key %%%c in -d\n", prog,
                        *p ? *p : ' ');
                return -1;
            }
        }
        size_t n = strlen(add);
        if (o + n >= outsize) goto too_long;
        memcpy(out + o, add, n);
        o += n;
    }
    out[o] = 0;
    return 0;
no_user:
    fprintf(stderr, "%s: no such user for -d %s\n", prog, spec);
    return -1;
too_long:
    fprintf(stderr, "%s: -d path too long\n", prog);
    return -1;
}

int wd_sftp_main(int argc, char **argv, int in_fd, int out_fd)
{
    const char *prog = argc > 0 && argv[0] ? argv[0] : INTERNAL_NAME;
    const char *slash = strrchr(prog, '/');
    if (slash) prog = slash + 1;
    wd_sftp_opts o = {.log_fd = child_log_fd,
                      .log_prefix = child_log_fd >= 0 ? child_log_prefix
                                                      : NULL};
    const char *dir_spec = NULL;
    int ch, skip = 0;
    optind = 0; /* glibc: start afresh, whoever parsed before */
    while (!skip && (ch = getopt(argc, argv, "+d:f:l:P:p:Q:u:cehR")) != -1) {
        switch (ch) {
        case 'Q':
            if (strcasecmp(optarg, "requests") != 0) {
                fprintf(stderr, "Invalid query type\n");
                return 1;
            }
            for (const wd_sftp_request *q = wd_sftp_requests; q->name; q++)
                printf("%s\n", q->name);
            fflush(stdout);
            return 0;
        case 'R': o.readonly = 1; break;
        case 'c': skip = 1; break; /* "sftp-server -c command" as a shell */
        case 'e':
            o.log_fd = STDERR_FILENO;
            o.log_prefix = NULL;
            break;
        case 'l': {
            int level = log_level_named(optarg);
            if (level == -100)
                fprintf(stderr, "%s: Invalid log level \"%s\"\n", prog, optarg);
            else
                o.log_level = level;
            break;
        }
        case 'f':
            if (!facility_known(optarg))
                fprintf(stderr, "%s: Invalid log facility \"%s\"\n", prog,
                        optarg);
            break;
        case 'd': dir_spec = optarg; break;
        case 'p':
        case 'P':
            if (ch == 'p' ? o.allow != NULL : o.deny != NULL) {
                fprintf(stderr, "%s: %s requests already set\n", prog,
                        ch == 'p' ? "Permitted" : "Refused");
                return 1;
            }
            if (ch == 'p') o.allow = optarg;
            else o.deny = optarg;
            break;
        case 'u': {
            char *end;
            errno = 0;
            long mask = strtol(optarg, &end, 8);
            if (end == optarg || *end || errno || mask < 0 || mask > 0777) {
                fprintf(stderr, "%s: Invalid umask \"%s\"\n", prog, optarg);
                return 1;
            }
            umask((mode_t)mask);
            break;
        }
        default: /* -h, and getopt has named an unknown option */
            usage(prog);
            return 1;
        }
    }
    char dir[PATH_MAX];
    if (dir_spec && start_directory(dir_spec, dir, sizeof(dir), prog) != 0)
        return 1;

    /* Another process of the user's must not read this one's memory (a
     * fork of whelkd's) or take over its descriptors. */
    prctl(PR_SET_DUMPABLE, 0);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_hangup}; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);

    wd_sftp *s = wd_sftp_new(&o);
    if (!s) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    wd_sftp_log(s, WD_SFTP_LOG_INFO,
                "session opened for local user %s from [%s]", s->user,
                s->client);
    if (dir_spec && chdir(dir) != 0) {
        char esc[1024];
        wd_sftp_log(s, WD_SFTP_LOG_ERROR, "chdir to \"%s\" failed: %s",
                    wd_sftp_esc(esc, sizeof(esc), dir), strerror(errno));
    }
    int status = serve(s, in_fd, out_fd);
    wd_sftp_log(s, WD_SFTP_LOG_INFO,
                "session closed for local user %s from [%s]", s->user,
                s->client);
    wd_sftp_free(s);
    return status;
}

/* ------------------------------------------------------------------------
 * In whelkd's session child.
 */

/* Every descriptor above stderr but |keep|: without an exec, O_CLOEXEC
 * closes nothing, and the child must hold none of whelkd's sockets or
 * other sessions' pipes (a pipe end held here keeps that session's
 * program from ever seeing EOF). */
static void close_others(int keep)
{
    unsigned lo = 3;
    if (keep >= 3) {
        if ((unsigned)keep > lo) close_range(lo, (unsigned)keep - 1, 0);
        lo = (unsigned)keep + 1;
    }
    if (close_range(lo, ~0U, 0) == 0) return;
    struct rlimit rl;
    long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
                       rl.rlim_cur != RLIM_INFINITY
                   ? (long)rl.rlim_cur
                   : 65536;
    for (long fd = 3; fd < max; fd++)
        if (fd != keep) close((int)fd);
}

void wd_sftp_child(const char *command, char **envp, int log_fd)
{
    extern char **environ;
    environ = envp;
    close_others(log_fd);
    if (!command) {
        static const char msg[] = "This service allows sftp connections "
                                  "only.\n";
        ssize_t w = write(STDOUT_FILENO, msg, sizeof(msg) - 1);
        (void)w;
        _exit(1);
    }
    child_log_fd = log_fd;
    snprintf(child_log_prefix, sizeof(child_log_prefix), "%s[%d]: ",
             INTERNAL_NAME, (int)getpid());
    /* sshd splits the command at blanks; argv[0] is "internal-sftp". */
    static char line[4096];
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    snprintf(line, sizeof(line), "%s", command);
    for (char *save = NULL, *t = strtok_r(line, " \t", &save);
         t && argc < MAX_ARGS; t = strtok_r(NULL, " \t", &save))
        argv[argc++] = t;
    argv[argc] = NULL;
    _exit(wd_sftp_main(argc, argv, STDIN_FILENO, STDOUT_FILENO));
}
