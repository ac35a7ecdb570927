/*
 * Fuzz target: the SFTP server (server/sftp*.c) driven from memory: the
 * packet framing, every request's parser, the handlers and the replies.
 * The input's first byte picks the mode (bit 0 read-only, bit 1 a -P
 * list, bit 2 logging at DEBUG3 to /dev/null, bit 3 no INIT first); the
 * rest is the byte stream a client sends, fed in chunks whose sizes come
 * from the stream, with the replies drained as a client would.
 *
 * A scratch directory (SCRATCH) holds a file, a directory and symbolic
 * links for the seeds to name. The server may be root: so, while it runs, every call that
 * would change the file system is faked (linked with --wrap, see the
 * Makefile): opening for writing opens /dev/null, the rest succeed or
 * fail in turn without touching anything. Opening for reading is real
 * but refused for anything other than files and directories (a FIFO,
 * a terminal or a device could block or act), and reads have a budget
 * per input, so copy-data from a endless source ends. Calls from
 * libFuzzer itself pass straight through.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sftp.h"

static int in_server;
static unsigned fake_calls;
static size_t read_budget;

/* A fake result: success and EACCES in turn. */
static int fake(void)
{
    if (fake_calls++ & 1) {
        errno = EACCES;
        return -1;
    }
    return 0;
}

#define FAKE1(name, t1)                                                       \
    int __real_##name(t1);                                                    \
    int __wrap_##name(t1 a)                                                   \
    {                                                                         \
        return in_server ? fake() : __real_##name(a);                         \
    }
#define FAKE2(name, t1, t2)                                                   \
    int __real_##name(t1, t2);                                                \
    int __wrap_##name(t1 a, t2 b)                                             \
    {                                                                         \
        return in_server ? fake() : __real_##name(a, b);                      \
    }
#define FAKE3(name, t1, t2, t3)                                               \
    int __real_##name(t1, t2, t3);                                            \
    int __wrap_##name(t1 a, t2 b, t3 c)                                       \
    {                                                                         \
        return in_server ? fake() : __real_##name(a, b, c);                   \
    }
#define FAKE4(name, t1, t2, t3, t4)                                           \
    int __real_##name(t1, t2, t3, t4);                                        \
    int __wrap_##name(t1 a, t2 b, t3 c, t4 d)                                 \
    {                                                                         \
        return in_server ? fake() : __real_##name(a, b, c, d);                \
    }
#define FAKE5(name, t1, t2, t3, t4, t5)                                       \
    int __real_##name(t1, t2, t3, t4, t5);                                    \
    int __wrap_##name(t1 a, t2 b, t3 c, t4 d, t5 e)                           \
    {                                                                         \
        return in_server ? fake() : __real_##name(a, b, c, d, e);             \
    }

FAKE2(truncate, const char *, off_t)
FAKE2(ftruncate, int, off_t)
FAKE2(chmod, const char *, mode_t)
FAKE2(fchmod, int, mode_t)
FAKE4(fchmodat, int, const char *, mode_t, int)
FAKE4(utimensat, int, const char *, const struct timespec *, int)
FAKE2(futimens, int, const struct timespec *)
FAKE3(chown, const char *, uid_t, gid_t)
FAKE3(fchown, int, uid_t, gid_t)
FAKE5(fchownat, int, const char *, uid_t, gid_t, int)
FAKE1(unlink, const char *)
FAKE2(mkdir, const char *, mode_t)
FAKE1(rmdir, const char *)
FAKE2(rename, const char *, const char *)
FAKE2(link, const char *, const char *)
FAKE2(symlink, const char *, const char *)
FAKE1(fsync, int)

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (!in_server) return __real_open(path, flags, mode);
    if ((flags & O_ACCMODE) != O_RDONLY ||
        (flags & (O_CREAT | O_TRUNC | O_APPEND)))
        return __real_open("/dev/null", O_RDWR | O_CLOEXEC);
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        errno = EACCES;
        return -1;
    }
    return __real_open(path, flags | O_NONBLOCK | O_CLOEXEC);
}

ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
    if (!in_server) return __real_pread(fd, buf, n, off);
    if (n > read_budget) n = read_budget;
    if (n == 0) return 0; /* the end, as far as this input goes */
    ssize_t r = __real_pread(fd, buf, n, off);
    if (r > 0) read_budget -= (size_t)r;
    return r;
}

static int null_fd = -1;

/* A fixed place, so that corpus entries naming it stay meaningful from
 * run to run; the working directory stays where libFuzzer expects it
 * (it reads its corpus by relative paths), which is harmless as nothing
 * there can be changed. */
#define SCRATCH "/tmp/wks_fuzz_sftp"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    mkdir(SCRATCH, 0755);
    mkdir(SCRATCH "/d", 0755);
    FILE *f = fopen(SCRATCH "/f", "w");
    if (!f) abort();
    for (int i = 0; i < 4096; i++) fputc('a' + i % 26, f);
    fclose(f);
    symlink("f", SCRATCH "/l");
    symlink("loop", SCRATCH "/loop");
    symlink("/", SCRATCH "/root");
    null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    if (len < 1) return 0;
    uint8_t mode = in[0];
    in++;
    len--;
    wd_sftp_opts o = {
        .readonly = mode & 1,
        .deny = (mode & 2) ? "stat,write,users-groups-by-id" : NULL,
        .log_level = (mode & 4) ? WD_SFTP_LOG_DEBUG3 : WD_SFTP_LOG_QUIET,
        .log_fd = null_fd,
    };
    fake_calls = 0;
    read_budget = 4 << 20;
    in_server = 1;
    wd_sftp *s = wd_sftp_new(&o);
    if (!s) abort();
    if (!(mode & 8)) {
        static const uint8_t init[] = {0, 0, 0, 5, 1, 0, 0, 0, 3};
        wd_sftp_feed(s, init, sizeof(init));
    }
    /* Chunks: the low bits of each chunk's first byte size the next, so
     * packets arrive whole, split and in many pieces. */
    size_t pos = 0;
    int rounds = 0;
    while (pos < len && rounds++ < 100000) {
        size_t want = ((size_t)(in[pos] & 0x3f) + 1) * 37;
        if (want > len - pos) want = len - pos;
        pos += wd_sftp_feed(s, in + pos, want);
        wd_buf_reset(wd_sftp_output(s));
        if (wd_sftp_process(s) < 0) break;
        wd_buf_reset(wd_sftp_output(s));
    }
    wd_sftp_free(s);
    in_server = 0;
    return 0;
}
