/*
 * loginrec: utmp and wtmp through glibc's utmpx calls. Both writes are
 * small local file appends under glibc's lock, made on the worker's
 * loop, as sshd's monitor makes them.
 */
#include "loginrec.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <lastlog.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <string.h>
#include <sys/time.h>
#include <utmp.h>
#include <utmpx.h>

#define BTMP_PATH "/var/log/btmp" /* no _PATH_BTMP in glibc */
#define LASTLOG_PATH "/var/log/lastlog"

/* The entry's line ("pts/N") and id (its last four characters, the
 * abbreviation sshd and login use). */
static void fill(struct utmpx *ut, short type, const char *tty, pid_t pid)
{
    memset(ut, 0, sizeof(*ut));
    ut->ut_type = type;
    ut->ut_pid = pid;
    const char *line = strncmp(tty, "/dev/", 5) == 0 ? tty + 5 : tty;
    strncpy(ut->ut_line, line, sizeof(ut->ut_line));
    size_t l = strlen(line);
    const char *id = l > sizeof(ut->ut_id) ? line + l - sizeof(ut->ut_id)
                                           : line;
    strncpy(ut->ut_id, id, sizeof(ut->ut_id));
    struct timeval tv;
    gettimeofday(&tv, NULL);
    ut->ut_tv.tv_sec = (int32_t)tv.tv_sec;
    ut->ut_tv.tv_usec = (int32_t)tv.tv_usec;
}

static void write_both(const struct utmpx *ut)
{
    setutxent();
    pututxline(ut);
    endutxent();
    updwtmpx(_PATH_WTMP, ut);
}

static void put_host(struct utmpx *ut, const char *host)
{
    strncpy(ut->ut_host, host, sizeof(ut->ut_host));
    if (inet_pton(AF_INET, host, &ut->ut_addr_v6[0]) != 1)
        inet_pton(AF_INET6, host, ut->ut_addr_v6);
}

void wd_loginrec_login(const char *tty, const char *user, pid_t pid,
                       const char *host)
{
    struct utmpx ut;
    fill(&ut, USER_PROCESS, tty, pid);
    strncpy(ut.ut_user, user, sizeof(ut.ut_user));
    put_host(&ut, host);
    write_both(&ut);
}

void wd_loginrec_failed(const char *user, const char *host)
{
    struct utmpx ut;
    fill(&ut, LOGIN_PROCESS, "ssh:notty", getpid());
    strncpy(ut.ut_user, user, sizeof(ut.ut_user));
    put_host(&ut, host);
    /* Only an existing btmp is written (its mode keeps it root's). */
    if (access(BTMP_PATH, F_OK) == 0) updwtmpx(BTMP_PATH, &ut);
}

void wd_loginrec_logout(const char *tty, pid_t pid)
{
    struct utmpx ut;
    fill(&ut, DEAD_PROCESS, tty, pid);
    write_both(&ut);
}

/* A C string into a fixed utmp-style field, NUL-padded, maybe unended. */
static void put_field(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size);
    memset(dst, 0, size);
    memcpy(dst, src, n);
}

void wd_lastlog_read(uid_t uid, char *msg, size_t len)
{
    msg[0] = 0;
    int fd = open(LASTLOG_PATH, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return;
    struct lastlog ll;
    off_t off = (off_t)uid * (off_t)sizeof(ll);
    if (pread(fd, &ll, sizeof(ll), off) == (ssize_t)sizeof(ll) &&
        ll.ll_time != 0) {
        /* ctime's layout, as sshd prints it. */
        time_t t = ll.ll_time;
        struct tm tm;
        char when[64] = "";
        if (localtime_r(&t, &tm))
            strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm);
        char from[sizeof(ll.ll_host) + 1];
        memcpy(from, ll.ll_host, sizeof(ll.ll_host));
        from[sizeof(ll.ll_host)] = 0;
        if (from[0])
            snprintf(msg, len, "Last login: %s from %s\r\n", when, from);
        else
            snprintf(msg, len, "Last login: %s\r\n", when);
    }
    close(fd);
}

void wd_lastlog_write(uid_t uid, const char *tty, const char *host)
{
    int fd = open(LASTLOG_PATH, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return;
    struct lastlog ll;
    memset(&ll, 0, sizeof(ll));
    ll.ll_time = (int32_t)time(NULL);
    const char *line = strncmp(tty, "/dev/", 5) == 0 ? tty + 5 : tty;
    put_field(ll.ll_line, sizeof(ll.ll_line), line);
    put_field(ll.ll_host, sizeof(ll.ll_host), host);
    ssize_t w = pwrite(fd, &ll, sizeof(ll), (off_t)uid * (off_t)sizeof(ll));
    (void)w;
    close(fd);
}
