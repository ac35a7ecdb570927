/*
 * Unit tests of server/spawn.c: programs started with pipes and with a
 * pty as the current user, argv[0] of a login shell and of a command,
 * the environment, exit statuses (waitpid, wd_spawn_reap), signals, a
 * failing exec, /etc/nologin, internal-sftp's child, whelkd started
 * with stdin closed, and, as root, the switch to another user (a
 * temporary wkp_ account, removed afterwards).
 *
 * Many cases run this test binary itself as the "shell": started with
 * WD_SPAWN_REPORT in its environment it prints what it was given
 * (argv, environment, ids, directory, terminal) instead of testing.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "spawn.h"

#define TEST_USER "wkp_spawn"

extern char **environ;

/* ------------------------------------------------------------------------
 * The reporting child.
 */

static int report_main(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    for (char **e = environ; *e; e++) printf("env=%s\n", *e);
    gid_t groups[256];
    int ng = getgroups(256, groups);
    printf("uid=%u gid=%u groups=", (unsigned)getuid(), (unsigned)getgid());
    for (int i = 0; i < ng; i++) printf("%s%u", i ? "," : "", groups[i]);
    printf("\n");
    printf("root-again=%d\n", setuid(0) == 0);
    char cwd[PATH_MAX];
    printf("cwd=%s\n", getcwd(cwd, sizeof(cwd)) ? cwd : "?");
    printf("session-leader=%d\n", getsid(0) == getpid());
    if (isatty(0)) {
        struct winsize ws;
        struct termios t;
        printf("tty=%s\n", ttyname(0));
        printf("controlling=%d\n", tcgetpgrp(0) == getpgrp());
        if (ioctl(0, TIOCGWINSZ, &ws) == 0)
            printf("size=%ux%u\n", ws.ws_col, ws.ws_row);
        if (tcgetattr(0, &t) == 0)
            printf("echo=%d\n", (t.c_lflag & ECHO) != 0);
    } else {
        printf("tty=none\n");
    }
    printf("end\n");
    fflush(stdout);
    _exit(7); /* no sanitizer's exit handlers in the child */
}

/* ------------------------------------------------------------------------
 * Helpers.
 */

/* This binary, the reporting "shell" (as long as a user's shell). */
static char self[sizeof(((wd_user *)0)->shell)];
static wd_user me;          /* the current user, shell /bin/sh */

/* Reads |fd| (non-blocking) until EOF, or EIO from a pty master whose
 * program is gone; NUL-terminated. */
static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_true(poll(&p, 1, 20000) == 1);
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n > 0) {
            len += (size_t)n;
            assert_true(len < cap - 1);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        break;
    }
    buf[len] = 0;
    return len;
}

static void write_all(int fd, const char *s)
{
    size_t len = strlen(s), done = 0;
    while (done < len) {
        ssize_t w = write(fd, s + done, len - done);
        if (w < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, 1000);
            continue;
        }
        assert_true(w > 0);
        done += (size_t)w;
    }
}

/* Waits for the program's "ready" line: it runs, in its own group. */
static void wait_ready(int fd)
{
    char buf[6];
    size_t len = 0;
    while (len < sizeof(buf)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_true(poll(&p, 1, 20000) == 1);
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EAGAIN) continue;
        assert_true(n > 0);
        len += (size_t)n;
    }
    assert_memory_equal(buf, "ready\n", 6);
}

/* Programs started and not yet waited for: a failed test leaves none
 * behind (nor one that would keep userdel from removing its user). */
static pid_t started[16];

static void start(const wd_spawn_request *req, wd_spawn_result *res)
{
    assert_int_equal(wd_spawn(req, res), 0);
    assert_true(res->pid > 0);
    for (size_t i = 0; i < sizeof(started) / sizeof(*started); i++)
        if (started[i] == 0) {
            started[i] = res->pid;
            return;
        }
    fail_msg("too many programs left running");
}

static void forget(pid_t pid)
{
    for (size_t i = 0; i < sizeof(started) / sizeof(*started); i++)
        if (started[i] == pid) started[i] = 0;
}

static int saved_stdin = -1; /* test_stdin_closed's fd 0 */

static int kill_leftovers(void **state)
{
    if (saved_stdin >= 0) {
        dup2(saved_stdin, 0);
        close(saved_stdin);
        saved_stdin = -1;
    }
    for (size_t i = 0; i < sizeof(started) / sizeof(*started); i++)
        if (started[i] > 0) {
            kill(-started[i], SIGKILL);
            kill(started[i], SIGKILL);
            waitpid(started[i], NULL, 0);
            started[i] = 0;
        }
    return 0;
}

static int wait_status(pid_t pid)
{
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    forget(pid);
    return st;
}

static void close_result(wd_spawn_result *r)
{
    if (r->in_fd >= 0) close(r->in_fd);
    if (r->out_fd >= 0 && r->out_fd != r->in_fd) close(r->out_fd);
    if (r->err_fd >= 0) close(r->err_fd);
}

/* Output of a program with pipes: stdout, stderr, and its wait status. */
typedef struct ran {
    char out[16384], err[4096];
    int status;
} ran;

static void run_pipes(const wd_spawn_request *req, const char *input,
                      ran *r)
{
    wd_spawn_result res;
    start(req, &res);
    assert_string_equal(res.tty, "");
    assert_true(res.in_fd >= 0 && res.out_fd >= 0 && res.err_fd >= 0);
    assert_true(fcntl(res.out_fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(res.out_fd, F_GETFD) & FD_CLOEXEC);
    if (input) write_all(res.in_fd, input);
    close(res.in_fd);
    res.in_fd = -1;
    read_all(res.out_fd, r->out, sizeof(r->out));
    read_all(res.err_fd, r->err, sizeof(r->err));
    r->status = wait_status(res.pid);
    close_result(&res);
}

static char *report_env[] = {"WD_SPAWN_REPORT=1", "FOO=bar baz", NULL};

static wd_spawn_request reporting(wd_user *u, const char *command)
{
    memcpy(u->shell, self, sizeof(self));
    return (wd_spawn_request){.user = u, .command = command,
                              .envp = report_env};
}

static int group_setup(void **state)
{
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) return -1;
    self[n] = 0;
    struct passwd *pw = getpwuid(geteuid());
    if (!pw || wd_user_lookup(pw->pw_name, &me) != 0) return -1;
    snprintf(me.shell, sizeof(me.shell), "/bin/sh");
    /* The child's environment is the request's only: not this one. */
    setenv("WD_SPAWN_NOT_INHERITED", "1", 1);
    return 0;
}

/* ------------------------------------------------------------------------
 * Tests.
 */

static void test_pipes_command(void **state)
{
    wd_spawn_request req = {
        .user = &me,
        .command = "echo out; echo err >&2; read x; echo \"got $x\"; exit 3",
        .envp = (char *[]){"PATH=/usr/bin:/bin", NULL},
    };
    ran r;
    run_pipes(&req, "hello\n", &r);
    assert_string_equal(r.out, "out\ngot hello\n");
    assert_string_equal(r.err, "err\n");
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 3);
}

static void test_argv0(void **state)
{
    wd_user u = me;
    const char *base = strrchr(self, '/') + 1;
    char want[PATH_MAX + 16];
    ran r;
    /* A command: the shell's base name, "-c", the command. */
    wd_spawn_request req = reporting(&u, "the command");
    run_pipes(&req, NULL, &r);
    snprintf(want, sizeof(want), "argv[0]=%s\nargv[1]=-c\nargv[2]=the "
             "command\nenv=", base);
    assert_memory_equal(r.out, want, strlen(want));
    assert_int_equal(WEXITSTATUS(r.status), 7);
    /* A login shell: "-" and the base name, nothing else. */
    req = reporting(&u, NULL);
    run_pipes(&req, NULL, &r);
    snprintf(want, sizeof(want), "argv[0]=-%s\nenv=", base);
    assert_memory_equal(r.out, want, strlen(want));
    /* And with /bin/sh for real. */
    req = (wd_spawn_request){.user = &me, .command = "echo \"$0\"",
                             .envp = (char *[]){NULL}};
    run_pipes(&req, NULL, &r);
    assert_string_equal(r.out, "sh\n");
}

static void test_environment_exactly_the_request(void **state)
{
    wd_user u = me;
    ran r;
    char *envp[] = {"WD_SPAWN_REPORT=1", "A=1", "SSH_TTY=", "B=two words",
                    NULL};
    wd_spawn_request req = reporting(&u, "x");
    req.envp = envp;
    run_pipes(&req, NULL, &r);
    /* Without a pty the request's entries, in order, and nothing else
     * (SSH_TTY is filled in only for a pty). */
    const char *e = strstr(r.out, "env=");
    assert_non_null(e);
    const char *want = "env=WD_SPAWN_REPORT=1\nenv=A=1\nenv=SSH_TTY=\n"
                       "env=B=two words\nuid=";
    assert_memory_equal(e, want, strlen(want));
    assert_null(strstr(r.out, "NOT_INHERITED"));
}

static void test_pty(void **state)
{
    wd_user u = me;
    char *envp[] = {"WD_SPAWN_REPORT=1", "SSH_TTY=", "TERM=xterm",
                    "SSH_TTY=client's", NULL};
    wd_tty tty = {.cols = 101, .rows = 33, .n_modes = 1};
    tty.modes[0].op = WHELK_TTY_ECHO;
    tty.modes[0].value = 0;
    wd_spawn_request req = reporting(&u, "x");
    req.envp = envp;
    req.pty = &tty;
    wd_spawn_result res;
    start(&req, &res);
    assert_int_equal(strncmp(res.tty, "/dev/pts/", 9), 0);
    assert_int_equal(res.in_fd, res.out_fd);
    assert_int_equal(res.err_fd, -1);
    assert_true(fcntl(res.out_fd, F_GETFL) & O_NONBLOCK);
    if (geteuid() == 0) {
        struct stat st;
        assert_int_equal(stat(res.tty, &st), 0);
        assert_int_equal(st.st_uid, u.uid);
        assert_int_equal(st.st_mode & 0777, 0620);
    }
    char out[16384], want[256];
    read_all(res.out_fd, out, sizeof(out));
    int st = wait_status(res.pid);
    assert_int_equal(WEXITSTATUS(st), 7);
    close_result(&res);
    /* The terminal translates \n to \r\n. */
    snprintf(want, sizeof(want), "tty=%s\r\n", res.tty);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "controlling=1\r\n"));
    assert_non_null(strstr(out, "session-leader=1\r\n"));
    assert_non_null(strstr(out, "size=101x33\r\n"));
    assert_non_null(strstr(out, "echo=0\r\n"));
    /* SSH_TTY names the terminal, in the first entry's place; the
     * other SSH_TTY is gone. */
    snprintf(want, sizeof(want),
             "env=WD_SPAWN_REPORT=1\r\nenv=SSH_TTY=%s\r\nenv=TERM=xterm\r\n"
             "uid=", res.tty);
    assert_non_null(strstr(out, want));
    assert_null(strstr(out, "client's"));
}

static void test_pipes_session_leader(void **state)
{
    wd_user u = me;
    ran r;
    wd_spawn_request req = reporting(&u, "x");
    run_pipes(&req, NULL, &r);
    assert_non_null(strstr(r.out, "session-leader=1\n"));
    assert_non_null(strstr(r.out, "tty=none\n"));
}

static void test_exit_signal_hangup_reap(void **state)
{
    wd_spawn_result res;
    wd_spawn_request req = {.user = &me,
                            .command = "echo ready; exec sleep 30",
                            .envp = (char *[]){"PATH=/usr/bin:/bin", NULL}};
    /* A signal, with the current user's credentials, once it runs. */
    start(&req, &res);
    wait_ready(res.out_fd);
    assert_int_equal(wd_spawn_signal(res.pid, SIGTERM, geteuid()), 0);
    int st = wait_status(res.pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGTERM);
    close_result(&res);
    /* The hang-up when the channel closes, at once: it still arrives. */
    req.command = "exec sleep 30";
    start(&req, &res);
    wd_spawn_hangup(res.pid);
    st = wait_status(res.pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGHUP);
    close_result(&res);
    /* Reaping: none yet, then the program and its status. */
    req.command = "read x; exit 5";
    start(&req, &res);
    pid_t pid;
    int status;
    assert_int_equal(wd_spawn_reap(&pid, &status), 0);
    close(res.in_fd); /* EOF: read fails, exit 5 */
    res.in_fd = -1;
    int got = 0;
    for (int i = 0; i < 2000 && !got; i++) {
        got = wd_spawn_reap(&pid, &status);
        if (!got) usleep(5000);
    }
    assert_int_equal(got, 1);
    assert_int_equal(pid, res.pid);
    forget(pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 5);
    close_result(&res);
}

static void test_exec_fails(void **state)
{
    wd_user u = me;
    snprintf(u.shell, sizeof(u.shell), "/nonexistent/shell");
    wd_spawn_request req = {.user = &u, .command = "true",
                            .envp = (char *[]){NULL}};
    ran r;
    run_pipes(&req, NULL, &r);
    assert_string_equal(r.err, "whelkd: cannot run the shell\n");
    assert_string_equal(r.out, "");
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 127);
}

static void test_home_missing(void **state)
{
    wd_user u = me;
    snprintf(u.home, sizeof(u.home), "/nonexistent/home");
    ran r;
    wd_spawn_request req = reporting(&u, "x");
    run_pipes(&req, NULL, &r);
    assert_string_equal(r.err, "Could not chdir to home directory\n");
    assert_non_null(strstr(r.out, "cwd=/\n"));
}

static void test_nologin(void **state)
{
    /* /etc/nologin is the machine's: only the exit status is checked
     * (its text, when it exists, is test_accounts.py's). */
    wd_user u = me;
    wd_spawn_request req = reporting(&u, "x");
    req.nologin = 1;
    ran r;
    run_pipes(&req, NULL, &r);
    assert_string_equal(r.out, "");
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 254);
}

static void test_internal_sftp(void **state)
{
    /* The child serves (or refuses) itself; the shell is never run. */
    wd_user u = me;
    snprintf(u.shell, sizeof(u.shell), "/nonexistent/shell");
    wd_spawn_request req = {.user = &u, .command = "internal-sftp",
                            .envp = (char *[]){NULL},
                            .run = WD_SPAWN_SFTP_REFUSE};
    ran r;
    run_pipes(&req, NULL, &r);
    assert_string_equal(r.out, "This service allows sftp connections "
                               "only.\n");
    assert_int_equal(WEXITSTATUS(r.status), 1);
    /* Serving: EOF before any request ends it cleanly. */
    req.run = WD_SPAWN_SFTP;
    run_pipes(&req, NULL, &r);
    assert_string_equal(r.out, "");
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 0);
}

/* whelkd started with stdin closed: the first pipe end lands on 0. */
static void test_stdin_closed(void **state)
{
    saved_stdin = dup(0);
    assert_true(saved_stdin >= 0);
    close(0);
    wd_spawn_request req = {.user = &me, .command = "cat; echo done >&2",
                            .envp = (char *[]){"PATH=/usr/bin:/bin", NULL}};
    ran r;
    run_pipes(&req, "through the pipe", &r);
    assert_int_equal(dup2(saved_stdin, 0), 0);
    close(saved_stdin);
    saved_stdin = -1;
    assert_string_equal(r.out, "through the pipe");
    assert_string_equal(r.err, "done\n");
    assert_int_equal(WEXITSTATUS(r.status), 0);
}

/* ------------------------------------------------------------------------
 * As root: another user.
 */

static int run_cmd(const char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        dup2(null, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void remove_user(void)
{
    const char *del[] = {"userdel", "-r", TEST_USER, NULL};
    run_cmd(del);
}

static int user_setup(void **state)
{
    if (geteuid() != 0) return 0;
    remove_user(); /* left over from a run that was killed */
    const char *add[] = {"useradd", "-m", "-s", "/bin/sh", "-p", "*",
                         TEST_USER, NULL};
    return run_cmd(add) == 0 ? 0 : -1;
}

static int user_teardown(void **state)
{
    kill_leftovers(state);
    if (geteuid() == 0) remove_user();
    return 0;
}

static void test_switch_user(void **state)
{
    if (geteuid() != 0) skip();
    wd_user u;
    assert_int_equal(wd_user_lookup(TEST_USER, &u), 0);
    assert_true(u.uid != 0);
    /* The user runs a copy of this binary from a directory it can
     * reach: the checkout may sit under a home only root can enter
     * (/root on a fresh machine). */
    char dir[] = "/tmp/test_spawn.XXXXXX", copy[64];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0755), 0);
    snprintf(copy, sizeof(copy), "%s/reporter", dir);
    const char *cp[] = {"cp", self, copy, NULL};
    assert_int_equal(run_cmd(cp), 0);
    assert_int_equal(chmod(copy, 0755), 0);
    wd_spawn_request req = reporting(&u, "x");
    snprintf(u.shell, sizeof(u.shell), "%s", copy);
    wd_tty tty = {.cols = 80, .rows = 24};
    req.pty = &tty;
    wd_spawn_result res;
    start(&req, &res);
    struct stat st;
    assert_int_equal(stat(res.tty, &st), 0);
    assert_int_equal(st.st_uid, u.uid);
    assert_int_equal(st.st_mode & 0777, 0620);
    char out[16384], want[512];
    read_all(res.out_fd, out, sizeof(out));
    int status = wait_status(res.pid);
    close_result(&res);
    unlink(copy);
    rmdir(dir);
    assert_int_equal(WEXITSTATUS(status), 7);
    int n = snprintf(want, sizeof(want), "uid=%u gid=%u groups=",
                     (unsigned)u.uid, (unsigned)u.gid);
    for (int i = 0; i < u.ngroups; i++)
        n += snprintf(want + n, sizeof(want) - (size_t)n, "%s%u",
                      i ? "," : "", (unsigned)u.groups[i]);
    snprintf(want + n, sizeof(want) - (size_t)n, "\r\n");
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "root-again=0\r\n"));
    snprintf(want, sizeof(want), "cwd=%s\r\n", u.home);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "controlling=1\r\n"));

    /* A signal sent as the user reaches the user's program. */
    wd_spawn_request sleeper = {.user = &u,
                                .command = "echo ready; exec sleep 30",
                                .envp = (char *[]){"PATH=/usr/bin:/bin",
                                                   NULL}};
    snprintf(u.shell, sizeof(u.shell), "/bin/sh");
    start(&sleeper, &res);
    wait_ready(res.out_fd);
    assert_int_equal(wd_spawn_signal(res.pid, SIGTERM, u.uid), 0);
    status = wait_status(res.pid);
    assert_true(WIFSIGNALED(status));
    close_result(&res);
}

#define CASE(f) cmocka_unit_test_teardown(f, kill_leftovers)

int main(int argc, char **argv)
{
    if (getenv("WD_SPAWN_REPORT")) return report_main(argc, argv);
    const struct CMUnitTest tests[] = {
        CASE(test_pipes_command),
        CASE(test_argv0),
        CASE(test_environment_exactly_the_request),
        CASE(test_pty),
        CASE(test_pipes_session_leader),
        CASE(test_exit_signal_hangup_reap),
        CASE(test_exec_fails),
        CASE(test_home_missing),
        CASE(test_nologin),
        CASE(test_internal_sftp),
        CASE(test_stdin_closed),
        cmocka_unit_test_setup_teardown(test_switch_user, user_setup,
                                        user_teardown),
    };
    return cmocka_run_group_tests_name("spawn", tests, group_setup, NULL);
}
