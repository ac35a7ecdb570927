/*
 * Unit tests of the SFTP server as a program (server/sftp_main.c):
 * wd_sftp_main in a forked child serving one end of a socketpair, with
 * sftp-server's options (-R, -u, -d, -e, -l, -Q, unknown ones), its exit
 * statuses and log lines, and wd_sftp_child, whelkd's entry point (the
 * descriptors it closes, the environment it takes, the log it writes).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sftp_client.h"

typedef struct child {
    pid_t pid;
    int sock;     /* our end of the server's stdin/stdout */
    int err;      /* what it wrote to stderr */
    int log;      /* wd_sftp_child's log descriptor, else -1 */
} child;

/* Runs wd_sftp_main(argv) (or wd_sftp_child(command) when |command| is
 * set) in a child serving a socketpair. */
static child start(char *const *argv, const char *command, int with_command,
                   char **envp)
{
    child c = {0};
    int sv[2], ep[2], lp[2] = {-1, -1};
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(pipe(ep), 0);
    if (with_command) assert_int_equal(pipe(lp), 0);
    c.pid = fork();
    assert_true(c.pid >= 0);
    if (c.pid == 0) {
        close(sv[0]);
        close(ep[0]);
        if (with_command) close(lp[0]);
        dup2(sv[1], 0);
        dup2(sv[1], 1);
        dup2(ep[1], 2);
        if (with_command) wd_sftp_child(command, envp, lp[1]);
        /* As in whelkd, whose main has parsed its own options first. */
        char *mine[] = {"whelkd", "-d", "-t", "-V", NULL};
        while (getopt(4, mine, "dtV") != -1)
            ;
        int argc = 0;
        while (argv[argc]) argc++;
        _exit(wd_sftp_main(argc, (char **)argv, 0, 1));
    }
    close(sv[1]);
    close(ep[1]);
    if (with_command) close(lp[1]);
    c.sock = sv[0];
    c.err = ep[0];
    c.log = lp[0];
    return c;
}

/* Everything left on |fd|, as a string. */
static char *slurp(int fd)
{
    static char buf[16384];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(buf) - 1 &&
           (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    return buf;
}

static int finish(child *c)
{
    int st;
    close(c->sock);
    assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void init(child *c)
{
    sc_begin(WD_FXP_INIT, 0);
    sc_u32(3);
    assert_int_equal(sc_write_fd(c->sock), 0);
    uint8_t type;
    uint32_t id, version;
    wd_reader r;
    assert_int_equal(sc_read_fd(c->sock, &type, &id, &r), 1);
    assert_int_equal(type, WD_FXP_VERSION);
    assert_int_equal(wd_get_u32(&r, &version), 0);
    assert_int_equal(version, 3);
}

static const char *realpath_fd(child *c, uint32_t id, const char *path)
{
    static char name[PATH_MAX];
    sc_begin(WD_FXP_REALPATH, id);
    sc_str(path);
    assert_int_equal(sc_write_fd(c->sock), 0);
    uint8_t type;
    uint32_t rid, count;
    wd_reader r;
    assert_int_equal(sc_read_fd(c->sock, &type, &rid, &r), 1);
    assert_int_equal(type, WD_FXP_NAME);
    assert_int_equal(rid, id);
    assert_int_equal(wd_get_u32(&r, &count), 0);
    assert_int_equal(wd_get_cstring(&r, name, sizeof(name)), 0);
    return name;
}

static uint32_t status_fd(child *c, uint32_t id)
{
    uint8_t type;
    uint32_t rid, code;
    wd_reader r;
    assert_int_equal(sc_read_fd(c->sock, &type, &rid, &r), 1);
    assert_int_equal(type, WD_FXP_STATUS);
    assert_int_equal(rid, id);
    assert_int_equal(wd_get_u32(&r, &code), 0);
    return code;
}

static void test_unknown_option_is_an_error(void **state)
{
    char *argv[] = {"internal-sftp", "-x", NULL};
    child c = start(argv, NULL, 0, NULL);
    assert_int_equal(finish(&c), 1);
    char *err = slurp(c.err);
    assert_non_null(strstr(err, "invalid option"));
    assert_non_null(strstr(err, "usage: internal-sftp"));
    close(c.err);

    char *bad_umask[] = {"internal-sftp", "-u", "0999", NULL};
    c = start(bad_umask, NULL, 0, NULL);
    assert_int_equal(finish(&c), 1);
    assert_non_null(strstr(slurp(c.err), "Invalid umask"));
    close(c.err);

    char *bad_dir[] = {"internal-sftp", "-d", "/tmp/%x", NULL};
    c = start(bad_dir, NULL, 0, NULL);
    assert_int_equal(finish(&c), 1);
    assert_non_null(strstr(slurp(c.err), "unknown key %x"));
    close(c.err);
}

static void test_query_requests(void **state)
{
    int out[2];
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        char *argv[] = {"internal-sftp", "-Q", "requests", NULL};
        _exit(wd_sftp_main(3, argv, 0, 1));
    }
    close(out[1]);
    char *list = slurp(out[0]);
    close(out[0]);
    int st;
    waitpid(pid, &st, 0);
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(strncmp(list, "open\nclose\nread\n", 16) == 0);
    assert_non_null(strstr(list, "\nposix-rename\n"));
    assert_non_null(strstr(list, "\nusers-groups-by-id\n"));
}

static void test_serves_with_options(void **state)
{
    char dir[] = "/tmp/wks_sftpmain_XXXXXX", real[PATH_MAX], file[PATH_MAX + 8];
    assert_non_null(mkdtemp(dir));
    assert_non_null(realpath(dir, real));
    /* -d starts there, -u masks what is created, -l/-f/-e are taken. */
    char *argv[] = {"internal-sftp", "-d", dir,     "-u", "077", "-l",
                    "ERROR",         "-f", "AUTH",  "-e", NULL};
    child c = start(argv, NULL, 0, NULL);
    init(&c);
    assert_string_equal(realpath_fd(&c, 1, "."), real);
    sc_begin(WD_FXP_OPEN, 2);
    sc_str("f");
    sc_u32(WD_FXF_WRITE | WD_FXF_CREAT);
    sc_u32(0);
    assert_int_equal(sc_write_fd(c.sock), 0);
    uint8_t type;
    uint32_t id;
    wd_reader r;
    assert_int_equal(sc_read_fd(c.sock, &type, &id, &r), 1);
    assert_int_equal(type, WD_FXP_HANDLE);
    snprintf(file, sizeof(file), "%s/f", real);
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Requests sent just before the EOF are all answered. */
    for (uint32_t i = 0; i < 3; i++) {
        sc_begin(WD_FXP_REALPATH, 10 + i);
        sc_str("/");
        assert_int_equal(sc_write_fd(c.sock), 0);
    }
    shutdown(c.sock, SHUT_WR);
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t count;
        assert_int_equal(sc_read_fd(c.sock, &type, &id, &r), 1);
        assert_int_equal(type, WD_FXP_NAME);
        assert_int_equal(id, 10 + i);
        assert_int_equal(wd_get_u32(&r, &count), 0);
    }
    assert_int_equal(sc_read_fd(c.sock, &type, &id, &r), 0);
    assert_int_equal(finish(&c), 0);
    close(c.err);
    unlink(file);
    rmdir(dir);
}

static void test_readonly_option(void **state)
{
    char *argv[] = {"internal-sftp", "-R", NULL};
    child c = start(argv, NULL, 0, NULL);
    init(&c);
    sc_begin(WD_FXP_OPEN, 1);
    sc_str("/tmp/wks_sftp_never");
    sc_u32(WD_FXF_WRITE | WD_FXF_CREAT);
    sc_u32(0);
    assert_int_equal(sc_write_fd(c.sock), 0);
    assert_int_equal(status_fd(&c, 1), WD_FX_PERMISSION_DENIED);
    assert_int_equal(access("/tmp/wks_sftp_never", F_OK), -1);
    assert_int_equal(finish(&c), 0);
    close(c.err);
}

static void test_bad_packets_end_with_status(void **state)
{
    char *argv[] = {"internal-sftp", NULL};
    child c = start(argv, NULL, 0, NULL);
    init(&c);
    uint8_t huge[4] = {0, 0x04, 0, 1}; /* 256 KiB + 1 */
    assert_int_equal(write(c.sock, huge, 4), 4);
    assert_int_equal(finish(&c), 11);
    assert_non_null(strstr(slurp(c.err), "bad message from UNKNOWN"));
    close(c.err);

    c = start(argv, NULL, 0, NULL);
    init(&c);
    sc_begin(WD_FXP_OPEN, 1);
    sc_u32(99999); /* past the packet */
    assert_int_equal(sc_write_fd(c.sock), 0);
    assert_int_equal(finish(&c), 255);
    assert_non_null(strstr(slurp(c.err), "malformed request (type 3"));
    close(c.err);
}

static void test_child_entry(void **state)
{
    /* A descriptor whelkd would hold (another session's pipe): the
     * child must not keep it, or that pipe never sees EOF. */
    int held[2];
    assert_int_equal(pipe(held), 0);
    char *envp[] = {"SSH_CONNECTION=192.0.2.7 5555 192.0.2.1 22",
                    "USER=nobody-here", NULL};
    child c = start(NULL, "internal-sftp  -l\tINFO", 1, envp);
    close(held[1]);
    /* EOF: the child closed its copy (a bound, not a timing check). */
    struct pollfd p = {held[0], POLLIN, 0};
    assert_int_equal(poll(&p, 1, 20000), 1);
    char b;
    assert_int_equal(read(held[0], &b, 1), 0);
    close(held[0]);
    init(&c);
    assert_string_equal(realpath_fd(&c, 1, "/"), "/");
    assert_int_equal(finish(&c), 0);
    char *log = slurp(c.log);
    char want[128];
    struct passwd *pw = getpwuid(getuid());
    snprintf(want, sizeof(want),
             "internal-sftp[%d]: session opened for local user %s from "
             "[192.0.2.7]\n",
             (int)c.pid, pw->pw_name);
    assert_non_null(strstr(log, want));
    assert_non_null(strstr(log, "session closed for local user"));
    assert_string_equal(slurp(c.err), ""); /* the session's stderr */
    close(c.log);
    close(c.err);

    /* NULL: a shell or exec under a forced internal-sftp. */
    c = start(NULL, NULL, 1, envp);
    uint8_t out[64];
    ssize_t n = read(c.sock, out, sizeof(out) - 1);
    assert_true(n > 0);
    out[n] = 0;
    assert_string_equal((char *)out,
                        "This service allows sftp connections only.\n");
    assert_int_equal(finish(&c), 1);
    close(c.log);
    close(c.err);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_option_is_an_error),
        cmocka_unit_test(test_query_requests),
        cmocka_unit_test(test_serves_with_options),
        cmocka_unit_test(test_readonly_option),
        cmocka_unit_test(test_bad_packets_end_with_status),
        cmocka_unit_test(test_child_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
