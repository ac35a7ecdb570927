/*
 * Unit tests of the SFTP server (server/sftp*.c) driven from memory:
 * every request and extension against sftp-server's answers, and
 * hostile packets (lengths past the cap, truncated fields, NUL bytes in
 * names, unknown and stale handles, huge read lengths, path tricks,
 * runaway counts). Each test runs in a fresh scratch directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sftp_client.h"
#include "sftp_int.h"

static char scratch[64];
static char origin[PATH_MAX];

static int rm_one(const char *p, const struct stat *st, int flag,
                  struct FTW *f)
{
    return remove(p);
}

static int enter_scratch(void **state)
{
    assert_non_null(getcwd(origin, sizeof(origin)));
    snprintf(scratch, sizeof(scratch), "/tmp/wks_sftp_XXXXXX");
    assert_non_null(mkdtemp(scratch));
    assert_int_equal(chdir(scratch), 0);
    return 0;
}

static int leave_scratch(void **state)
{
    assert_int_equal(chdir(origin), 0);
    nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void write_file(const char *name, const void *data, size_t n)
{
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

static void open_file(wd_sftp *s, uint32_t id, const char *name,
                      uint32_t flags, sc_handle *h)
{
    sc_begin(WD_FXP_OPEN, id);
    sc_str(name);
    sc_u32(flags);
    sc_u32(0);
    sc_send(s);
    sc_get_handle(s, id, h);
}

/* The next reply must be a NAME with one entry: returns its name. */
static const char *one_name(wd_sftp *s, uint32_t id)
{
    static char name[PATH_MAX];
    uint8_t type;
    uint32_t rid, count;
    wd_reader r;
    assert_int_equal(sc_reply(s, &type, &rid, &r), 1);
    if (type == WD_FXP_STATUS) {
        uint32_t code = 99;
        wd_get_u32(&r, &code);
        fail_msg("request %u: status %u, not a name", id, code);
    }
    assert_int_equal(type, WD_FXP_NAME);
    assert_int_equal(rid, id);
    assert_int_equal(wd_get_u32(&r, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(wd_get_cstring(&r, name, sizeof(name)), 0);
    return name;
}

static uint32_t path_request(wd_sftp *s, uint8_t type, uint32_t id,
                             const char *path)
{
    sc_begin(type, id);
    sc_str(path);
    sc_send(s);
    return sc_status(s, id);
}

static const char *realpath_of(wd_sftp *s, uint32_t id, const char *path)
{
    sc_begin(WD_FXP_REALPATH, id);
    sc_str(path);
    sc_send(s);
    return one_name(s, id);
}

/* The server must have ended, with |status|, and said nothing more. */
static void assert_ended(wd_sftp *s, int status)
{
    uint8_t type;
    uint32_t id;
    wd_reader r;
    assert_int_equal(wd_sftp_process(s), -1);
    assert_int_equal(wd_sftp_exit_status(s), status);
    assert_int_equal(sc_reply(s, &type, &id, &r), 0);
}

/* Sends the packet built so far to |s|: the server must end with 255,
 * having answered nothing; then frees it. */
static void ends_malformed(wd_sftp *s)
{
    sc_send(s);
    assert_ended(s, 255);
    wd_sftp_free(s);
}

/* ------------------------------------------------------------------------
 * Version, framing and hostile packets.
 */

static void test_version_announces_extensions(void **state)
{
    static const char *const want[][2] = {
        {"posix-rename@openssh.com", "1"}, {"statvfs@openssh.com", "2"},
        {"fstatvfs@openssh.com", "2"},     {"hardlink@openssh.com", "1"},
        {"fsync@openssh.com", "1"},        {"lsetstat@openssh.com", "1"},
        {"limits@openssh.com", "1"},       {"expand-path@openssh.com", "1"},
        {"copy-data", "1"},                {"home-directory", "1"},
        {"users-groups-by-id@openssh.com", "1"}};
    for (int ro = 0; ro < 2; ro++) {
        wd_sftp_opts o = {.readonly = ro, .log_level = WD_SFTP_LOG_QUIET};
        wd_sftp *s = wd_sftp_new(&o);
        sc_begin(WD_FXP_INIT, 0);
        sc_u32(3);
        sc_send(s);
        uint8_t type;
        uint32_t id, version;
        wd_reader r;
        assert_int_equal(sc_reply(s, &type, &id, &r), 1);
        assert_int_equal(type, WD_FXP_VERSION);
        assert_int_equal(wd_get_u32(&r, &version), 0);
        assert_int_equal(version, 3);
        for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
            /* Read-only mode does not announce what it would refuse. */
            if (ro && (strstr(want[i][0], "rename") ||
                       strstr(want[i][0], "hardlink") ||
                       strstr(want[i][0], "fsync") ||
                       strstr(want[i][0], "lsetstat") ||
                       strstr(want[i][0], "copy-data")))
                continue;
            char name[64], ver[8];
            assert_int_equal(wd_get_cstring(&r, name, sizeof(name)), 0);
            assert_int_equal(wd_get_cstring(&r, ver, sizeof(ver)), 0);
            assert_string_equal(name, want[i][0]);
            assert_string_equal(ver, want[i][1]);
        }
        assert_int_equal(wd_reader_left(&r), 0);
        wd_sftp_free(s);
    }
}

static void test_request_before_init_ends(void **state)
{
    wd_sftp_opts o = {.log_level = WD_SFTP_LOG_QUIET};
    wd_sftp *s = wd_sftp_new(&o);
    sc_begin(WD_FXP_REALPATH, 1);
    sc_str(".");
    ends_malformed(s);
}

static void test_length_over_cap_ends(void **state)
{
    /* Refused from the length field alone, before the bytes arrive. */
    wd_sftp *s = sc_server(0);
    sc_begin(WD_FXP_REALPATH, 1);
    sc_str(".");
    size_t len;
    const uint8_t *p = sc_packet(&len, WD_SFTP_MAX_MSG + 1);
    wd_sftp_feed(s, p, len);
    assert_ended(s, 11);
    wd_sftp_free(s);

    s = sc_server(0);
    p = sc_packet(&len, 0xfffffffeu);
    wd_sftp_feed(s, p, 4);
    assert_ended(s, 11);
    wd_sftp_free(s);
}

static void test_largest_packet_accepted(void **state)
{
    /* A WRITE exactly at the cap is served. */
    wd_sftp *s = sc_server(0);
    sc_handle h;
    open_file(s, 1, "big", WD_FXF_WRITE | WD_FXF_CREAT, &h);
    size_t overhead = 1 + 4 + 4 + h.n + 8 + 4;
    size_t n = WD_SFTP_MAX_MSG - overhead;
    uint8_t *data = malloc(n);
    memset(data, 'x', n);
    sc_begin(WD_FXP_WRITE, 2);
    sc_handle_arg(&h);
    sc_u64(0);
    sc_bytes(data, n);
    size_t len;
    sc_packet(&len, ~0u);
    assert_int_equal(len, WD_SFTP_MAX_MSG + 4);
    sc_send(s);
    assert_int_equal(sc_status(s, 2), WD_FX_OK);
    struct stat st;
    assert_int_equal(stat("big", &st), 0);
    assert_int_equal(st.st_size, (off_t)n);
    free(data);
    wd_sftp_free(s);
}

static void test_malformed_packets_end(void **state)
{
    /* A packet with no type byte. */
    wd_sftp *s = sc_server(0);
    uint8_t zero[4] = {0, 0, 0, 0};
    wd_sftp_feed(s, zero, 4);
    assert_ended(s, 255);
    wd_sftp_free(s);

    /* An id cut short. */
    s = sc_server(0);
    uint8_t shortid[] = {0, 0, 0, 3, WD_FXP_STAT, 0, 0};
    wd_sftp_feed(s, shortid, sizeof(shortid));
    assert_ended(s, 255);
    wd_sftp_free(s);

    /* A string whose length runs past the packet. */
    s = sc_server(0);
    sc_begin(WD_FXP_OPEN, 1);
    sc_u32(1000);
    sc_raw("abc", 3);
    ends_malformed(s);

    /* A path with a NUL inside: the kernel would see another name. */
    write_file("keep", "k", 1);
    s = sc_server(0);
    sc_begin(WD_FXP_REMOVE, 1);
    sc_bytes("keep\0gone", 9);
    ends_malformed(s);
    assert_int_equal(access("keep", F_OK), 0);

    /* ATTRS announcing 2^32-1 extended pairs and holding none. */
    s = sc_server(0);
    sc_begin(WD_FXP_MKDIR, 1);
    sc_str("d");
    sc_u32(WD_FXA_EXTENDED);
    sc_u32(0xffffffffu);
    ends_malformed(s);
    assert_int_equal(access("d", F_OK), -1);

    /* OPEN without its attributes. */
    s = sc_server(0);
    sc_begin(WD_FXP_OPEN, 1);
    sc_str("f");
    sc_u32(WD_FXF_READ);
    ends_malformed(s);

    /* An extended request whose name is cut short. */
    s = sc_server(0);
    sc_begin(WD_FXP_EXTENDED, 1);
    sc_u32(50);
    sc_raw("limits", 6);
    ends_malformed(s);

    /* users-groups-by-id with an id list that is not whole uint32s. */
    s = sc_server(0);
    sc_begin(WD_FXP_EXTENDED, 1);
    sc_str("users-groups-by-id@openssh.com");
    sc_bytes("\0\0\0", 3);
    sc_bytes("", 0);
    ends_malformed(s);
}

static void test_replies_before_malformed_kept(void **state)
{
    /* Requests ahead of a broken one in the same read are answered. */
    wd_sftp *s = sc_server(0);
    sc_begin(WD_FXP_REALPATH, 7);
    sc_str("/");
    size_t len;
    const uint8_t *p = sc_packet(&len, ~0u);
    uint8_t both[64];
    memcpy(both, p, len);
    memset(both + len, 0, 4);
    wd_sftp_feed(s, both, len + 4);
    assert_string_equal(one_name(s, 7), "/");
    assert_ended(s, 255);
    wd_sftp_free(s);
}

static void test_unknown_requests_answered(void **state)
{
    wd_sftp *s = sc_server(0);
    sc_begin(WD_FXP_EXTENDED, 5);
    sc_str("no-such@example.com");
    sc_u32(1);
    sc_send(s);
    assert_int_equal(sc_status(s, 5), WD_FX_OP_UNSUPPORTED);
    sc_begin(99, 6); /* no such message */
    sc_send(s);
    assert_int_equal(sc_status(s, 6), WD_FX_OP_UNSUPPORTED);
    assert_string_equal(realpath_of(s, 7, "/"), "/"); /* still serving */
    wd_sftp_free(s);
}

static void test_status_text(void **state)
{
    /* The texts clients print, as sftp-server sends them. */
    wd_sftp *s = sc_server(0);
    sc_begin(WD_FXP_STAT, 1);
    sc_str("missing");
    sc_send(s);
    uint8_t type;
    uint32_t id, code;
    wd_reader r;
    char msg[64], lang[8];
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    assert_int_equal(wd_get_u32(&r, &code), 0);
    assert_int_equal(wd_get_cstring(&r, msg, sizeof(msg)), 0);
    assert_int_equal(wd_get_cstring(&r, lang, sizeof(lang)), 0);
    assert_int_equal(code, WD_FX_NO_SUCH_FILE);
    assert_string_equal(msg, "No such file");
    assert_string_equal(lang, "");
    wd_sftp_free(s);
    assert_string_equal(wd_sftp_status_text(WD_FX_OK), "Success");
    assert_string_equal(wd_sftp_status_text(WD_FX_EOF), "End of file");
    assert_string_equal(wd_sftp_status_text(WD_FX_OP_UNSUPPORTED),
                        "Operation unsupported");
    assert_string_equal(wd_sftp_status_text(77), "Unknown error");
}

static void test_status_before_version_3(void **state)
{
    /* A version 2 client gets the code alone, as from sftp-server. */
    wd_sftp_opts o = {.log_level = WD_SFTP_LOG_QUIET};
    wd_sftp *s = wd_sftp_new(&o);
    sc_begin(WD_FXP_INIT, 0);
    sc_u32(2);
    sc_send(s);
    uint8_t type;
    uint32_t id, code, version;
    wd_reader r;
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    assert_int_equal(wd_get_u32(&r, &version), 0);
    assert_int_equal(version, 3);
    sc_begin(WD_FXP_STAT, 1);
    sc_str("missing");
    sc_send(s);
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    assert_int_equal(type, WD_FXP_STATUS);
    assert_int_equal(wd_get_u32(&r, &code), 0);
    assert_int_equal(code, WD_FX_NO_SUCH_FILE);
    assert_int_equal(wd_reader_left(&r), 0);
    wd_sftp_free(s);
}

static void test_errno_groups(void **state)
{
    static const struct {
        int err;
        uint32_t status;
    } map[] = {{0, WD_FX_OK},
               {ENOENT, WD_FX_NO_SUCH_FILE},
               {ENOTDIR, WD_FX_NO_SUCH_FILE},
               {EBADF, WD_FX_NO_SUCH_FILE},
               {ELOOP, WD_FX_NO_SUCH_FILE},
               {EPERM, WD_FX_PERMISSION_DENIED},
               {EACCES, WD_FX_PERMISSION_DENIED},
               {EFAULT, WD_FX_PERMISSION_DENIED},
               {ENAMETOOLONG, WD_FX_BAD_MESSAGE},
               {EINVAL, WD_FX_BAD_MESSAGE},
               {ENOSYS, WD_FX_OP_UNSUPPORTED},
               {EEXIST, WD_FX_FAILURE},
               {ENOSPC, WD_FX_FAILURE},
               {EISDIR, WD_FX_FAILURE}};
    for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++)
        assert_int_equal(wd_sftp_errno_status(map[i].err), map[i].status);
}

/* ------------------------------------------------------------------------
 * Files and handles.
 */

static void test_write_read_close(void **state)
{
    wd_sftp *s = sc_server(0);
    sc_handle h;
    open_file(s, 1, "f", WD_FXF_READ | WD_FXF_WRITE | WD_FXF_CREAT, &h);
    sc_begin(WD_FXP_WRITE, 2);
    sc_handle_arg(&h);
    sc_u64(3);
    sc_str("hello");
    sc_send(s);
    assert_int_equal(sc_status(s, 2), WD_FX_OK);

    sc_begin(WD_FXP_READ, 3);
    sc_handle_arg(&h);
    sc_u64(0);
    sc_u32(100);
    sc_send(s);
    uint8_t type;
    uint32_t id;
    wd_reader r;
    const uint8_t *d;
    size_t n;
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    assert_int_equal(type, WD_FXP_DATA);
    assert_int_equal(id, 3);
    assert_int_equal(wd_get_string(&r, &d, &n, 1000), 0);
    assert_int_equal(n, 8);
    assert_memory_equal(d, "\0\0\0hello", 8);

    /* At the end: EOF; a zero length: empty data, as sftp-server. */
    sc_begin(WD_FXP_READ, 4);
    sc_handle_arg(&h);
    sc_u64(8);
    sc_u32(100);
    sc_send(s);
    assert_int_equal(sc_status(s, 4), WD_FX_EOF);
    sc_begin(WD_FXP_READ, 5);
    sc_handle_arg(&h);
    sc_u64(0);
    sc_u32(0);
    sc_send(s);
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    assert_int_equal(type, WD_FXP_DATA);
    assert_int_equal(wd_get_string(&r, &d, &n, 1000), 0);
    assert_int_equal(n, 0);

    /* An offset past off_t's range. */
    sc_begin(WD_FXP_READ, 6);
    sc_handle_arg(&h);
    sc_u64(0x8000000000000000ull);
    sc_u32(10);
    sc_send(s);
    assert_int_equal(sc_status(s, 6), WD_FX_BAD_MESSAGE);

    sc_begin(WD_FXP_FSTAT, 7);
    sc_handle_arg(&h);
    sc_send(s);
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    assert_int_equal(type, WD_FXP_ATTRS);
    wd_sftp_attrs a;
    assert_int_equal(wd_sftp_get_attrs(&r, &a), 0);
    assert_int_equal(a.size, 8);
    assert_true(S_ISREG(a.perm));

    sc_begin(WD_FXP_CLOSE, 8);
    sc_handle_arg(&h);
    sc_send(s);
    assert_int_equal(sc_status(s, 8), WD_FX_OK);
    /* The closed handle is stale now, even once its slot is reused. */
    sc_handle again;
    open_file(s, 9, "f", WD_FXF_READ, &again);
    assert_memory_not_equal(again.b, h.b, again.n);
    sc_begin(WD_FXP_READ, 10);
    sc_handle_arg(&h);
    sc_u64(0);
    sc_u32(1);
    sc_send(s);
    assert_int_equal(sc_status(s, 10), WD_FX_FAILURE);
    sc_begin(WD_FXP_CLOSE, 11);
    sc_handle_arg(&h);
    sc_send(s);
    assert_int_equal(sc_status(s, 11), WD_FX_NO_SUCH_FILE);
    wd_sftp_free(s);
}

static void test_read_length_clamped(void **state)
{
    size_t size = 300 * 1024;
    uint8_t *data = malloc(size);
    for (size_t i = 0; i < size; i++) data[i] = (uint8_t)(i * 7);
    write_file("large", data, size);
    wd_sftp *s = sc_server(0);
    sc_handle h;
    open_file(s, 1, "large", WD_FXF_READ, &h);
    sc_begin(WD_FXP_READ, 2);
    sc_handle_arg(&h);
    sc_u64(0);
    sc_u32(0xffffffffu);
    sc_send(s);
    uint8_t type;
    uint32_t id;
    wd_reader r;
    const uint8_t *d;
    size_t n;
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    assert_int_equal(type, WD_FXP_DATA);
    assert_int_equal(wd_get_string(&r, &d, &n, WD_SFTP_MAX_MSG), 0);
    assert_int_equal(n, WD_SFTP_MAX_DATA);
    assert_memory_equal(d, data, n);
    free(data);
    wd_sftp_free(s);
}

static void test_unknown_handles(void **state)
{
    wd_sftp *s = sc_server(0);
    sc_handle h;
    write_file("f", "x", 1);
    mkdir("d", 0755);
    open_file(s, 1, "f", WD_FXF_READ, &h);
    sc_handle dh;
    sc_begin(WD_FXP_OPENDIR, 2);
    sc_str("d");
    sc_send(s);
    sc_get_handle(s, 2, &dh);

    static const uint8_t junk[8] = {0, 0, 1, 0, 0, 0, 0, 1};
    uint8_t huge[300];
    memset(huge, 0, sizeof(huge));
    struct {
        const void *p;
        size_t n;
    } bad[] = {{junk, 8}, {huge, sizeof(huge)}, {"", 0}, {h.b, 4}};
    uint32_t id = 10;
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        sc_begin(WD_FXP_READ, id);
        sc_bytes(bad[i].p, bad[i].n);
        sc_u64(0);
        sc_u32(1);
        sc_send(s);
        assert_int_equal(sc_status(s, id++), WD_FX_FAILURE);
        sc_begin(WD_FXP_WRITE, id);
        sc_bytes(bad[i].p, bad[i].n);
        sc_u64(0);
        sc_str("x");
        sc_send(s);
        assert_int_equal(sc_status(s, id++), WD_FX_FAILURE);
        sc_begin(WD_FXP_FSTAT, id);
        sc_bytes(bad[i].p, bad[i].n);
        sc_send(s);
        assert_int_equal(sc_status(s, id++), WD_FX_FAILURE);
        sc_begin(WD_FXP_READDIR, id);
        sc_bytes(bad[i].p, bad[i].n);
        sc_send(s);
        assert_int_equal(sc_status(s, id++), WD_FX_FAILURE);
        sc_begin(WD_FXP_CLOSE, id);
        sc_bytes(bad[i].p, bad[i].n);
        sc_send(s);
        assert_int_equal(sc_status(s, id++), WD_FX_NO_SUCH_FILE);
        sc_begin(WD_FXP_EXTENDED, id);
        sc_str("fsync@openssh.com");
        sc_bytes(bad[i].p, bad[i].n);
        sc_send(s);
        assert_int_equal(sc_status(s, id++), WD_FX_NO_SUCH_FILE);
    }
    /* A handle of the other kind. */
    sc_begin(WD_FXP_READ, id);
    sc_handle_arg(&dh);
    sc_u64(0);
    sc_u32(1);
    sc_send(s);
    assert_int_equal(sc_status(s, id++), WD_FX_FAILURE);
    sc_begin(WD_FXP_READDIR, id);
    sc_handle_arg(&h);
    sc_send(s);
    assert_int_equal(sc_status(s, id++), WD_FX_FAILURE);
    /* The real ones still work. */
    sc_begin(WD_FXP_CLOSE, id);
    sc_handle_arg(&dh);
    sc_send(s);
    assert_int_equal(sc_status(s, id++), WD_FX_OK);
    wd_sftp_free(s);
}

static void test_handle_limit(void **state)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < WD_SFTP_MAX_HANDLES + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < WD_SFTP_MAX_HANDLES + 64) skip();
    write_file("f", "x", 1);
    wd_sftp *s = sc_server(0);
    sc_handle first, h;
    open_file(s, 1, "f", WD_FXF_READ, &first);
    for (uint32_t i = 1; i < WD_SFTP_MAX_HANDLES; i++)
        open_file(s, 1 + i, "f", WD_FXF_READ, &h);
    sc_begin(WD_FXP_OPEN, 9000);
    sc_str("f");
    sc_u32(WD_FXF_READ);
    sc_u32(0);
    sc_send(s);
    assert_int_equal(sc_status(s, 9000), WD_FX_FAILURE);
    sc_begin(WD_FXP_OPENDIR, 9001);
    sc_str(".");
    sc_send(s);
    assert_int_equal(sc_status(s, 9001), WD_FX_FAILURE);
    sc_begin(WD_FXP_CLOSE, 9002);
    sc_handle_arg(&first);
    sc_send(s);
    assert_int_equal(sc_status(s, 9002), WD_FX_OK);
    open_file(s, 9003, "f", WD_FXF_READ, &h);
    /* limits@openssh.com says as much. */
    sc_begin(WD_FXP_EXTENDED, 9004);
    sc_str("limits@openssh.com");
    sc_send(s);
    uint8_t type;
    uint32_t id;
    uint64_t v[4];
    wd_reader r;
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    assert_int_equal(type, WD_FXP_EXTENDED_REPLY);
    for (int i = 0; i < 4; i++) assert_int_equal(wd_get_u64(&r, &v[i]), 0);
    assert_int_equal(v[0], WD_SFTP_MAX_MSG);
    assert_int_equal(v[1], WD_SFTP_MAX_DATA);
    assert_int_equal(v[2], WD_SFTP_MAX_DATA);
    assert_int_equal(v[3], WD_SFTP_MAX_HANDLES);
    wd_sftp_free(s); /* closes all 512 */
}

static void test_output_bounded(void **state)
{
    /* A client that sends READs and never reads the answers: the server
     * stops answering at its output bound, then stops taking input at
     * the input bound; drained, it answers every request in order. */
    uint8_t block[4096];
    memset(block, 'b', sizeof(block));
    write_file("f", block, sizeof(block));
    wd_sftp *s = sc_server(0);
    sc_handle h;
    open_file(s, 1, "f", WD_FXF_READ, &h);
    enum { N = 20000 };
    uint8_t *reqs = malloc(N * 64);
    size_t total = 0;
    for (uint32_t i = 0; i < N; i++) {
        sc_begin(WD_FXP_READ, 100 + i);
        sc_handle_arg(&h);
        sc_u64(0);
        sc_u32(sizeof(block));
        size_t len;
        const uint8_t *p = sc_packet(&len, ~0u);
        memcpy(reqs + total, p, len);
        total += len;
    }
    /* Fed until it takes no more: a full input behind a full output. */
    size_t taken = 0, n;
    int feeds = 0;
    while ((n = wd_sftp_feed(s, reqs + taken, total - taken)) > 0) {
        taken += n;
        assert_true(++feeds < 10);
    }
    assert_true(taken < total);
    assert_int_equal(wd_sftp_input_room(s), 0);
    size_t out = wd_buf_used(wd_sftp_output(s));
    assert_true(out <= 4 * (WD_SFTP_MAX_MSG + 4));
    assert_true(out > 3 * (WD_SFTP_MAX_MSG + 4));
    uint8_t type;
    uint32_t id, next = 100;
    wd_reader r;
    while (next < 100 + N) {
        if (!sc_reply(s, &type, &id, &r)) {
            size_t more = wd_sftp_feed(s, reqs + taken, total - taken);
            assert_true(more > 0);
            taken += more;
            continue;
        }
        assert_int_equal(type, WD_FXP_DATA);
        assert_int_equal(id, next++);
    }
    assert_int_equal(taken, total);
    free(reqs);
    wd_sftp_free(s);
}

/* ------------------------------------------------------------------------
 * Attributes, directories and names.
 */

static void test_setstat(void **state)
{
    write_file("f", "0123456789", 10);
    wd_sftp *s = sc_server(0);
    sc_begin(WD_FXP_SETSTAT, 1);
    sc_str("f");
    sc_u32(WD_FXA_SIZE | WD_FXA_PERMISSIONS | WD_FXA_ACMODTIME);
    sc_u64(4);
    sc_u32(0600);
    sc_u32(1000000000);
    sc_u32(1200000000);
    sc_send(s);
    assert_int_equal(sc_status(s, 1), WD_FX_OK);
    struct stat st;
    assert_int_equal(stat("f", &st), 0);
    assert_int_equal(st.st_size, 4);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_atime, 1000000000);
    assert_int_equal(st.st_mtime, 1200000000);

    sc_handle h;
    open_file(s, 2, "f", WD_FXF_WRITE, &h);
    sc_begin(WD_FXP_FSETSTAT, 3);
    sc_handle_arg(&h);
    sc_u32(WD_FXA_SIZE | WD_FXA_PERMISSIONS);
    sc_u64(2);
    sc_u32(0640);
    sc_send(s);
    assert_int_equal(sc_status(s, 3), WD_FX_OK);
    assert_int_equal(stat("f", &st), 0);
    assert_int_equal(st.st_size, 2);
    assert_int_equal(st.st_mode & 07777, 0640);

    /* A size on a link makes no sense: refused, nothing else applied. */
    assert_int_equal(symlink("f", "l"), 0);
    sc_begin(WD_FXP_EXTENDED, 4);
    sc_str("lsetstat@openssh.com");
    sc_str("l");
    sc_u32(WD_FXA_SIZE | WD_FXA_ACMODTIME);
    sc_u64(0);
    sc_u32(5);
    sc_u32(5);
    sc_send(s);
    assert_int_equal(sc_status(s, 4), WD_FX_BAD_MESSAGE);
    /* Times on the link itself, not on its target. */
    sc_begin(WD_FXP_EXTENDED, 5);
    sc_str("lsetstat@openssh.com");
    sc_str("l");
    sc_u32(WD_FXA_ACMODTIME);
    sc_u32(7);
    sc_u32(7);
    sc_send(s);
    assert_int_equal(sc_status(s, 5), WD_FX_OK);
    assert_int_equal(lstat("l", &st), 0);
    assert_int_equal(st.st_mtime, 7);
    assert_int_equal(stat("l", &st), 0);
    assert_int_not_equal(st.st_mtime, 7);
    /* A size past off_t's range. */
    sc_begin(WD_FXP_SETSTAT, 6);
    sc_str("f");
    sc_u32(WD_FXA_SIZE);
    sc_u64(~0ull);
    sc_send(s);
    assert_int_equal(sc_status(s, 6), WD_FX_BAD_MESSAGE);
    assert_int_equal(path_request(s, WD_FXP_STAT, 7, "missing"),
                     WD_FX_NO_SUCH_FILE);
    wd_sftp_free(s);
}

static void test_readdir_batches_and_long_names(void **state)
{
    mkdir("d", 0755);
    char name[64];
    for (int i = 0; i < 250; i++) {
        snprintf(name, sizeof(name), "d/file%03d", i);
        write_file(name, "abc", 3);
    }
    /* One entry with a known date, a year ago and more. */
    write_file("d/old", "12345", 5);
    chmod("d/old", 04750);
    struct tm tm = {.tm_year = 101, .tm_mon = 0, .tm_mday = 2, .tm_hour = 3,
                    .tm_isdst = -1};
    time_t t = mktime(&tm);
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    assert_int_equal(utimensat(AT_FDCWD, "d/old", ts, 0), 0);

    wd_sftp *s = sc_server(0);
    sc_handle dh;
    sc_begin(WD_FXP_OPENDIR, 1);
    sc_str("d");
    sc_send(s);
    sc_get_handle(s, 1, &dh);
    int seen = 0, batches = 0, dots = 0;
    char old_long[1100] = "";
    for (uint32_t id = 2;; id++) {
        sc_begin(WD_FXP_READDIR, id);
        sc_handle_arg(&dh);
        sc_send(s);
        uint8_t type;
        uint32_t rid, count;
        wd_reader r;
        assert_int_equal(sc_reply(s, &type, &rid, &r), 1);
        if (type == WD_FXP_STATUS) {
            uint32_t code;
            wd_get_u32(&r, &code);
            assert_int_equal(code, WD_FX_EOF);
            break;
        }
        assert_int_equal(type, WD_FXP_NAME);
        assert_int_equal(wd_get_u32(&r, &count), 0);
        assert_true(count >= 1 && count <= WD_SFTP_READDIR_BATCH);
        batches++;
        for (uint32_t i = 0; i < count; i++) {
            char n[300], l[1100];
            wd_sftp_attrs a;
            assert_int_equal(wd_get_cstring(&r, n, sizeof(n)), 0);
            assert_int_equal(wd_get_cstring(&r, l, sizeof(l)), 0);
            assert_int_equal(wd_sftp_get_attrs(&r, &a), 0);
            assert_true(a.flags & WD_FXA_PERMISSIONS);
            if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0) dots++;
            else seen++;
            if (strcmp(n, "old") == 0) snprintf(old_long, sizeof(old_long), "%s", l);
        }
        assert_int_equal(wd_reader_left(&r), 0);
    }
    assert_int_equal(seen, 251);
    assert_int_equal(dots, 2);
    assert_true(batches >= 3);
    /* sftp-server's layout: mode, links, owner, group, size, date. */
    struct passwd *pw = getpwuid(getuid());
    struct group *gr = getgrgid(getgid());
    char want[1100], u[64], g[64];
    snprintf(u, sizeof(u), "%s", pw ? pw->pw_name : "?");
    snprintf(g, sizeof(g), "%s", gr ? gr->gr_name : "?");
    snprintf(want, sizeof(want), "-rwsr-x---    1 %-8s %-8s        5 Jan  2  2001 old",
             u, g);
    assert_string_equal(old_long, want);
    wd_sftp_free(s);
}

static void test_long_name_layout(void **state)
{
    struct stat st = {0};
    char out[256];
    time_t now = 1700000000;
    st.st_nlink = 12;
    st.st_size = 123456789;
    st.st_mtime = now - 3600;
    const struct {
        mode_t mode;
        const char *want;
    } modes[] = {{S_IFDIR | 0755, "drwxr-xr-x "},
                 {S_IFLNK | 0777, "lrwxrwxrwx "},
                 {S_IFREG | 06644, "-rwSr-Sr-- "},
                 {S_IFDIR | 01777, "drwxrwxrwt "},
                 {S_IFDIR | 01770, "drwxrwx--T "},
                 {S_IFIFO | 0600, "prw------- "},
                 {S_IFSOCK | 0700, "srwx------ "},
                 {S_IFCHR | 0620, "crw--w---- "},
                 {S_IFBLK | 0660, "brw-rw---- "}};
    for (size_t i = 0; i < sizeof(modes) / sizeof(*modes); i++) {
        st.st_mode = modes[i].mode;
        wd_sftp_long_name(out, sizeof(out), "n", &st, "averyverylongname",
                          "g", now);
        assert_memory_equal(out, modes[i].want, 11);
    }
    /* Recent: the time of day; names wider than 8 are not cut. */
    struct tm tm;
    char when[32];
    localtime_r(&st.st_mtime, &tm);
    strftime(when, sizeof(when), "%b %e %H:%M", &tm);
    char want[256];
    snprintf(want, sizeof(want),
             "brw-rw----   12 averyverylongname g        123456789 %s n", when);
    assert_string_equal(out, want);
    /* In the future: the year. */
    st.st_mtime = now + 86400;
    localtime_r(&st.st_mtime, &tm);
    strftime(when, sizeof(when), "%b %e  %Y", &tm);
    wd_sftp_long_name(out, sizeof(out), "n", &st, "u", "g", now);
    assert_non_null(strstr(out, when));
    /* Cut to the buffer, always terminated. */
    assert_int_equal(wd_sftp_long_name(out, 12, "n", &st, "u", "g", now), 11);
    assert_int_equal(strlen(out), 11);
}

static void test_realpath_and_path_tricks(void **state)
{
    wd_sftp *s = sc_server(0);
    char cwd[PATH_MAX], want[PATH_MAX + 32];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    mkdir("a", 0755);
    mkdir("a/b", 0755);
    write_file("a/file", "x", 1);
    assert_int_equal(symlink("a/b", "lb"), 0);
    assert_int_equal(symlink("/", "lroot"), 0);
    assert_int_equal(symlink("loop2", "loop1"), 0);
    assert_int_equal(symlink("loop1", "loop2"), 0);
    assert_int_equal(symlink("nowhere/x", "dangling"), 0);

    assert_string_equal(realpath_of(s, 1, "."), cwd);
    assert_string_equal(realpath_of(s, 2, ""), cwd);
    snprintf(want, sizeof(want), "%s/a", cwd);
    assert_string_equal(realpath_of(s, 3, "a/b/../././/"), want);
    snprintf(want, sizeof(want), "%s/a/b/new", cwd);
    assert_string_equal(realpath_of(s, 4, "lb/new"), want); /* may not exist */
    assert_string_equal(realpath_of(s, 5, "lroot/../../.."), "/");
    assert_string_equal(realpath_of(s, 6, "/../../tmp/.."), "/");
    assert_string_equal(realpath_of(s, 7, "//"), "/");
    /* A chain of 33 links is followed, of 34 not (sftp-server's bound). */
    char ln[32], to[32];
    for (int i = 1; i <= 34; i++) {
        snprintf(ln, sizeof(ln), "chain%d", i);
        snprintf(to, sizeof(to), i == 1 ? "a" : "chain%d", i - 1);
        assert_int_equal(symlink(to, ln), 0);
    }
    snprintf(want, sizeof(want), "%s/a", cwd);
    assert_string_equal(realpath_of(s, 30, "chain33"), want);
    assert_int_equal(path_request(s, WD_FXP_REALPATH, 31, "chain34"),
                     WD_FX_NO_SUCH_FILE);
    /* Loops, a missing middle, a file used as a directory. */
    assert_int_equal(path_request(s, WD_FXP_REALPATH, 8, "loop1"),
                     WD_FX_NO_SUCH_FILE);
    assert_int_equal(path_request(s, WD_FXP_REALPATH, 9, "missing/x"),
                     WD_FX_NO_SUCH_FILE);
    assert_int_equal(path_request(s, WD_FXP_REALPATH, 10, "missing/"),
                     WD_FX_NO_SUCH_FILE);
    assert_int_equal(path_request(s, WD_FXP_REALPATH, 11, "a/file/x"),
                     WD_FX_NO_SUCH_FILE);
    assert_int_equal(path_request(s, WD_FXP_REALPATH, 12, "dangling"),
                     WD_FX_NO_SUCH_FILE);
    /* Longer than PATH_MAX, and a component longer than NAME_MAX. */
    char *longp = malloc(PATH_MAX + 100);
    memset(longp, 'a', PATH_MAX + 99);
    longp[PATH_MAX + 99] = 0;
    assert_int_equal(path_request(s, WD_FXP_REALPATH, 13, longp),
                     WD_FX_BAD_MESSAGE);
    longp[300] = 0;
    assert_int_equal(path_request(s, WD_FXP_STAT, 14, longp),
                     WD_FX_BAD_MESSAGE);
    /* Many "../" go no higher than "/". */
    char *up = malloc(3 * 1000 + 1);
    for (int i = 0; i < 1000; i++) memcpy(up + 3 * i, "../", 3);
    up[3000] = 0;
    assert_string_equal(realpath_of(s, 15, up), "/");
    free(up);
    free(longp);

    sc_begin(WD_FXP_READLINK, 16);
    sc_str("lb");
    sc_send(s);
    assert_string_equal(one_name(s, 16), "a/b");
    assert_int_equal(path_request(s, WD_FXP_READLINK, 17, "a"),
                     WD_FX_BAD_MESSAGE); /* EINVAL: not a link */
    wd_sftp_free(s);
}

static void test_names(void **state)
{
    wd_sftp *s = sc_server(0);
    write_file("f", "x", 1);
    write_file("g", "y", 1);
    /* RENAME never replaces; posix-rename does. */
    sc_begin(WD_FXP_RENAME, 1);
    sc_str("f");
    sc_str("g");
    sc_send(s);
    assert_int_equal(sc_status(s, 1), WD_FX_FAILURE);
    assert_int_equal(access("f", F_OK), 0);
    sc_begin(WD_FXP_RENAME, 2);
    sc_str("f");
    sc_str("h");
    sc_send(s);
    assert_int_equal(sc_status(s, 2), WD_FX_OK);
    assert_int_equal(access("f", F_OK), -1);
    mkdir("d", 0755);
    sc_begin(WD_FXP_RENAME, 3);
    sc_str("d");
    sc_str("g");
    sc_send(s);
    assert_int_equal(sc_status(s, 3), WD_FX_FAILURE);
    sc_begin(WD_FXP_RENAME, 4);
    sc_str("missing");
    sc_str("z");
    sc_send(s);
    assert_int_equal(sc_status(s, 4), WD_FX_NO_SUCH_FILE);
    sc_begin(WD_FXP_EXTENDED, 5);
    sc_str("posix-rename@openssh.com");
    sc_str("h");
    sc_str("g");
    sc_send(s);
    assert_int_equal(sc_status(s, 5), WD_FX_OK);
    assert_int_equal(access("h", F_OK), -1);

    /* SYMLINK in OpenSSH's order: target, then the link's name. */
    sc_begin(WD_FXP_SYMLINK, 6);
    sc_str("g");
    sc_str("link");
    sc_send(s);
    assert_int_equal(sc_status(s, 6), WD_FX_OK);
    char buf[16] = "";
    assert_int_equal(readlink("link", buf, sizeof(buf)), 1);
    assert_string_equal(buf, "g");
    sc_begin(WD_FXP_EXTENDED, 7);
    sc_str("hardlink@openssh.com");
    sc_str("g");
    sc_str("hard");
    sc_send(s);
    assert_int_equal(sc_status(s, 7), WD_FX_OK);
    struct stat st;
    assert_int_equal(stat("g", &st), 0);
    assert_int_equal(st.st_nlink, 2);

    sc_begin(WD_FXP_MKDIR, 8);
    sc_str("m");
    sc_u32(WD_FXA_PERMISSIONS);
    sc_u32(040700);
    sc_send(s);
    assert_int_equal(sc_status(s, 8), WD_FX_OK);
    assert_int_equal(stat("m", &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    sc_begin(WD_FXP_MKDIR, 9);
    sc_str("m");
    sc_u32(0);
    sc_send(s);
    assert_int_equal(sc_status(s, 9), WD_FX_FAILURE); /* EEXIST */
    assert_int_equal(path_request(s, WD_FXP_RMDIR, 10, "m"), WD_FX_OK);
    assert_int_equal(path_request(s, WD_FXP_RMDIR, 11, "m"),
                     WD_FX_NO_SUCH_FILE);
    assert_int_equal(path_request(s, WD_FXP_REMOVE, 12, "hard"), WD_FX_OK);
    assert_int_equal(path_request(s, WD_FXP_REMOVE, 13, "d"),
                     WD_FX_FAILURE); /* EISDIR */
    wd_sftp_free(s);
}

static void test_extensions(void **state)
{
    wd_sftp *s = sc_server(0);
    char cwd[PATH_MAX], want[PATH_MAX + 32];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    uint8_t type;
    uint32_t id;
    wd_reader r;

    sc_begin(WD_FXP_EXTENDED, 1);
    sc_str("statvfs@openssh.com");
    sc_str(".");
    sc_send(s);
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    assert_int_equal(type, WD_FXP_EXTENDED_REPLY);
    assert_int_equal(wd_reader_left(&r), 11 * 8);
    uint64_t bsize;
    assert_int_equal(wd_get_u64(&r, &bsize), 0);
    assert_true(bsize > 0);
    sc_begin(WD_FXP_EXTENDED, 2);
    sc_str("statvfs@openssh.com");
    sc_str("missing");
    sc_send(s);
    assert_int_equal(sc_status(s, 2), WD_FX_NO_SUCH_FILE);

    write_file("src", "copy me please", 14);
    sc_handle from, to;
    open_file(s, 3, "src", WD_FXF_READ, &from);
    open_file(s, 4, "dst", WD_FXF_WRITE | WD_FXF_CREAT | WD_FXF_TRUNC, &to);
    sc_begin(WD_FXP_EXTENDED, 5);
    sc_str("fstatvfs@openssh.com");
    sc_handle_arg(&from);
    sc_send(s);
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    assert_int_equal(type, WD_FXP_EXTENDED_REPLY);
    sc_begin(WD_FXP_EXTENDED, 6);
    sc_str("copy-data");
    sc_handle_arg(&from);
    sc_u64(5);
    sc_u64(0); /* to the end */
    sc_handle_arg(&to);
    sc_u64(2);
    sc_send(s);
    assert_int_equal(sc_status(s, 6), WD_FX_OK);
    char buf[32] = "";
    int fd = open("dst", O_RDONLY);
    assert_int_equal(read(fd, buf, sizeof(buf)), 11);
    close(fd);
    assert_memory_equal(buf, "\0\0me please", 11);
    sc_begin(WD_FXP_EXTENDED, 7);
    sc_str("copy-data");
    sc_handle_arg(&from);
    sc_u64(0);
    sc_u64(4);
    sc_handle_arg(&from);
    sc_u64(0);
    sc_send(s);
    assert_int_equal(sc_status(s, 7), WD_FX_FAILURE); /* onto itself */
    sc_begin(WD_FXP_EXTENDED, 8);
    sc_str("fsync@openssh.com");
    sc_handle_arg(&to);
    sc_send(s);
    assert_int_equal(sc_status(s, 8), WD_FX_OK);

    /* expand-path: "~" is the starting directory, "~user" a home. */
    sc_begin(WD_FXP_EXTENDED, 9);
    sc_str("expand-path@openssh.com");
    sc_str("~");
    sc_send(s);
    assert_string_equal(one_name(s, 9), cwd);
    sc_begin(WD_FXP_EXTENDED, 10);
    sc_str("expand-path@openssh.com");
    sc_str("~/src");
    sc_send(s);
    snprintf(want, sizeof(want), "%s/src", cwd);
    assert_string_equal(one_name(s, 10), want);
    sc_begin(WD_FXP_EXTENDED, 11);
    sc_str("expand-path@openssh.com");
    sc_str("~root/");
    sc_send(s);
    struct passwd *root = getpwnam("root");
    char rh[PATH_MAX];
    assert_non_null(realpath(root->pw_dir, rh));
    assert_string_equal(one_name(s, 11), rh);
    sc_begin(WD_FXP_EXTENDED, 12);
    sc_str("expand-path@openssh.com");
    sc_str("~wks_no_such_user/x");
    sc_send(s);
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    uint32_t code;
    char msg[64];
    assert_int_equal(wd_get_u32(&r, &code), 0);
    assert_int_equal(wd_get_cstring(&r, msg, sizeof(msg)), 0);
    assert_int_equal(code, WD_FX_NO_SUCH_FILE);
    assert_string_equal(msg, "no such user");

    sc_begin(WD_FXP_EXTENDED, 13);
    sc_str("home-directory");
    sc_str("root");
    sc_send(s);
    assert_string_equal(one_name(s, 13), root->pw_dir);
    sc_begin(WD_FXP_EXTENDED, 14);
    sc_str("home-directory");
    sc_str("wks_no_such_user");
    sc_send(s);
    assert_int_equal(sc_status(s, 14), WD_FX_FAILURE);

    /* users-groups-by-id: names in order, "" for an id without one. */
    sc_begin(WD_FXP_EXTENDED, 15);
    sc_str("users-groups-by-id@openssh.com");
    uint8_t ids[8];
    wd_store_u32(ids, 0);
    wd_store_u32(ids + 4, 0x7ffffff0u);
    sc_bytes(ids, 8);
    sc_bytes(ids, 4);
    sc_send(s);
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    assert_int_equal(type, WD_FXP_EXTENDED_REPLY);
    const uint8_t *users, *groups;
    size_t nu, ng;
    assert_int_equal(wd_get_string(&r, &users, &nu, 1000), 0);
    assert_int_equal(wd_get_string(&r, &groups, &ng, 1000), 0);
    wd_reader ur;
    char n1[64], n2[64];
    wd_reader_init(&ur, users, nu);
    assert_int_equal(wd_get_cstring(&ur, n1, sizeof(n1)), 0);
    assert_int_equal(wd_get_cstring(&ur, n2, sizeof(n2)), 0);
    assert_string_equal(n1, "root");
    assert_string_equal(n2, "");
    assert_int_equal(wd_reader_left(&ur), 0);
    /* Either list may be empty. */
    sc_begin(WD_FXP_EXTENDED, 17);
    sc_str("users-groups-by-id@openssh.com");
    sc_bytes("", 0);
    sc_bytes("", 0);
    sc_send(s);
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    assert_int_equal(type, WD_FXP_EXTENDED_REPLY);
    assert_int_equal(wd_get_string(&r, &users, &nu, 1000), 0);
    assert_int_equal(wd_get_string(&r, &groups, &ng, 1000), 0);
    assert_int_equal(nu + ng, 0);
    /* More ids than a listing needs are refused, not looked up. */
    size_t many = (WD_SFTP_MAX_IDS + 1) * 4;
    uint8_t *lots = calloc(1, many);
    sc_begin(WD_FXP_EXTENDED, 16);
    sc_str("users-groups-by-id@openssh.com");
    sc_bytes(lots, many);
    sc_bytes("", 0);
    sc_send(s);
    free(lots);
    assert_int_equal(sc_status(s, 16), WD_FX_FAILURE);
    wd_sftp_free(s);
}

static void test_readonly(void **state)
{
    write_file("f", "x", 1);
    wd_sftp *s = sc_server(1);
    sc_handle h;
    open_file(s, 1, "f", WD_FXF_READ, &h);
    static const uint32_t refused_open[] = {
        WD_FXF_WRITE, WD_FXF_READ | WD_FXF_WRITE, WD_FXF_READ | WD_FXF_CREAT,
        WD_FXF_READ | WD_FXF_TRUNC};
    for (uint32_t i = 0; i < 4; i++) {
        sc_begin(WD_FXP_OPEN, 10 + i);
        sc_str("f");
        sc_u32(refused_open[i]);
        sc_u32(0);
        sc_send(s);
        assert_int_equal(sc_status(s, 10 + i), WD_FX_PERMISSION_DENIED);
    }
    assert_int_equal(path_request(s, WD_FXP_REMOVE, 20, "f"),
                     WD_FX_PERMISSION_DENIED);
    assert_int_equal(path_request(s, WD_FXP_RMDIR, 21, "."),
                     WD_FX_PERMISSION_DENIED);
    sc_begin(WD_FXP_EXTENDED, 22);
    sc_str("posix-rename@openssh.com");
    sc_str("f");
    sc_str("g");
    sc_send(s);
    assert_int_equal(sc_status(s, 22), WD_FX_PERMISSION_DENIED);
    sc_begin(WD_FXP_SETSTAT, 23);
    sc_str("f");
    sc_u32(WD_FXA_PERMISSIONS);
    sc_u32(0777);
    sc_send(s);
    assert_int_equal(sc_status(s, 23), WD_FX_PERMISSION_DENIED);
    struct stat st;
    assert_int_equal(stat("f", &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(access("g", F_OK), -1);
    /* Reading is fine. */
    sc_begin(WD_FXP_READ, 24);
    sc_handle_arg(&h);
    sc_u64(0);
    sc_u32(10);
    sc_send(s);
    uint8_t type;
    uint32_t id;
    wd_reader r;
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    assert_int_equal(type, WD_FXP_DATA);
    wd_sftp_free(s);
}

static void test_request_lists(void **state)
{
    wd_sftp_opts o = {.allow = "realpath,stat", .deny = "stat",
                      .log_level = WD_SFTP_LOG_QUIET};
    wd_sftp *s = wd_sftp_new(&o);
    sc_begin(WD_FXP_INIT, 0);
    sc_u32(3);
    sc_send(s);
    uint8_t type;
    uint32_t id, version;
    wd_reader r;
    assert_int_equal(sc_reply(s, &type, &id, &r), 1);
    assert_int_equal(wd_get_u32(&r, &version), 0);
    assert_int_equal(wd_reader_left(&r), 0); /* no extension allowed */
    assert_string_equal(realpath_of(s, 1, "/"), "/");
    assert_int_equal(path_request(s, WD_FXP_STAT, 2, "/"),
                     WD_FX_PERMISSION_DENIED); /* denied wins */
    assert_int_equal(path_request(s, WD_FXP_LSTAT, 3, "/"),
                     WD_FX_PERMISSION_DENIED); /* not allowed */
    sc_begin(WD_FXP_EXTENDED, 4);
    sc_str("limits@openssh.com");
    sc_send(s);
    assert_int_equal(sc_status(s, 4), WD_FX_PERMISSION_DENIED);
    wd_sftp_free(s);
}

static void test_is_internal(void **state)
{
    assert_true(wd_sftp_is_internal("internal-sftp"));
    assert_true(wd_sftp_is_internal("internal-sftp -R"));
    assert_true(wd_sftp_is_internal("internal-sftp\t-l INFO"));
    assert_false(wd_sftp_is_internal("internal-sftpx"));
    assert_false(wd_sftp_is_internal("/usr/lib/openssh/sftp-server"));
    assert_false(wd_sftp_is_internal(" internal-sftp"));
    assert_false(wd_sftp_is_internal(NULL));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, enter_scratch, leave_scratch)
    const struct CMUnitTest tests[] = {
        T(test_version_announces_extensions),
        T(test_request_before_init_ends),
        T(test_length_over_cap_ends),
        T(test_largest_packet_accepted),
        T(test_malformed_packets_end),
        T(test_replies_before_malformed_kept),
        T(test_unknown_requests_answered),
        T(test_status_text),
        T(test_status_before_version_3),
        T(test_errno_groups),
        T(test_write_read_close),
        T(test_read_length_clamped),
        T(test_unknown_handles),
        T(test_handle_limit),
        T(test_output_bounded),
        T(test_setstat),
        T(test_readdir_batches_and_long_names),
        T(test_long_name_layout),
        T(test_realpath_and_path_tricks),
        T(test_names),
        T(test_extensions),
        T(test_readonly),
        T(test_request_lists),
        T(test_is_internal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
