/*
 * sftp_ops: the SFTP version 3 requests and OpenSSH's extensions
 * (PROTOCOL section 4), one function each, and the table that names
 * them. Each reads its fields with the bounded readers (returning -1 for
 * a malformed packet), makes the system call as the user, and answers
 * with the status, codes and texts sftp-server gives, so OpenSSH's sftp
 * and scp behave and print the same against either server. Where
 * sftp-server logs a request (at INFO or VERBOSE), so does this, with
 * the client's strings escaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "sftp_int.h"

/* Room for one escaped path in a log line. */
#define ESC 1024

#define LOG_PATH(s, level, fmt, path)                                         \
    do {                                                                      \
        if (wd_sftp_logs(s, level)) {                                         \
            char e_[ESC];                                                     \
            wd_sftp_log(s, level, fmt, wd_sftp_esc(e_, sizeof(e_), path));    \
        }                                                                     \
    } while (0)

#define LOG_PATHS(s, level, fmt, a, b)                                        \
    do {                                                                      \
        if (wd_sftp_logs(s, level)) {                                         \
            char e1_[ESC], e2_[ESC];                                          \
            wd_sftp_log(s, level, fmt, wd_sftp_esc(e1_, sizeof(e1_), a),      \
                        wd_sftp_esc(e2_, sizeof(e2_), b));                    \
        }                                                                     \
    } while (0)

/* Offsets and sizes are unsigned on the wire and off_t is signed. */
static int bad_offset(uint64_t v)
{
    if (v <= (uint64_t)INT64_MAX) return 0;
    errno = EINVAL;
    return 1;
}

/* ------------------------------------------------------------------------
 * Files.
 */

static int op_open(wd_sftp *s, uint32_t id, wk_reader *r)
{
    char *name, words[64];
    uint32_t pflags;
    wd_sftp_attrs a;
    if (wd_sftp_get_path(s, r, &name) || wk_get_u32(r, &pflags) ||
        wd_sftp_get_attrs(r, &a))
        return -1;
    int flags = wd_sftp_open_flags(pflags);
    unsigned mode = (a.flags & WD_FXA_PERMISSIONS) ? a.perm : 0666;
    if (wd_sftp_logs(s, WD_SFTP_LOG_INFO)) {
        char esc[ESC];
        wd_sftp_open_flag_words(pflags, words, sizeof(words));
        wd_sftp_log(s, WD_SFTP_LOG_INFO, "open \"%s\" flags %s mode 0%o",
                    wd_sftp_esc(esc, sizeof(esc), name), words, mode);
    }
    if (s->readonly && ((flags & O_ACCMODE) != O_RDONLY ||
                        (flags & (O_CREAT | O_TRUNC)))) {
        wd_sftp_log(s, WD_SFTP_LOG_VERBOSE,
                    "Refusing open request in read-only mode");
        wd_sftp_send_status(s, id, WD_FX_PERMISSION_DENIED);
        return 0;
    }
    /* O_NOCTTY: opening a terminal must not make it ours. */
    int fd = open(name, flags | O_NOCTTY, mode & 07777);
    if (fd < 0) {
        wd_sftp_send_errno(s, id, errno);
        return 0;
    }
    int h = wd_sftp_handle_new(s, WD_HANDLE_FILE, name, fd, NULL, flags);
    if (h < 0) {
        close(fd);
        wd_sftp_send_status(s, id, WD_FX_FAILURE);
        return 0;
    }
    wd_sftp_send_handle(s, id, h);
    return 0;
}

static int op_close(wd_sftp *s, uint32_t id, wk_reader *r)
{
    wd_sftp_handle *h;
    if (wd_sftp_get_handle(s, r, WD_HANDLE_FREE, &h)) return -1;
    if (!h) {
        wd_sftp_send_errno(s, id, ENOENT);
        return 0;
    }
    if (wd_sftp_logs(s, WD_SFTP_LOG_INFO)) {
        char esc[ESC];
        wd_sftp_esc(esc, sizeof(esc), h->name);
        if (h->kind == WD_HANDLE_FILE)
            wd_sftp_log(s, WD_SFTP_LOG_INFO,
                        "close \"%s\" bytes read %llu written %llu", esc,
                        (unsigned long long)h->bytes_read,
                        (unsigned long long)h->bytes_written);
        else
            wd_sftp_log(s, WD_SFTP_LOG_INFO, "closedir \"%s\"", esc);
    }
    int rc = wd_sftp_handle_close(s, h);
    wd_sftp_send_status(s, id, rc ? wd_sftp_errno_status(errno) : WD_FX_OK);
    return 0;
}

static int op_read(wd_sftp *s, uint32_t id, wk_reader *r)
{
    wd_sftp_handle *h;
    uint64_t off;
    uint32_t len;
    if (wd_sftp_get_handle(s, r, WD_HANDLE_FILE, &h) ||
        wk_get_u64(r, &off) || wk_get_u32(r, &len))
        return -1;
    if (!h) {
        wd_sftp_send_status(s, id, WD_FX_FAILURE);
        return 0;
    }
    if (len > WD_SFTP_MAX_DATA) len = WD_SFTP_MAX_DATA;
    if (bad_offset(off)) {
        wd_sftp_send_errno(s, id, errno);
        return 0;
    }
    /* The file is read straight into the reply. */
    size_t start = wd_sftp_reply_begin(s, WD_FXP_DATA, id);
    size_t at = wk_buf_used(&s->out);
    wd_sftp_put_u32(s, 0);
    uint8_t *dst = s->out_error ? NULL : wk_buf_extend(&s->out, len);
    ssize_t n = 0;
    if (!dst) {
        s->out_error = 1;
        return 0;
    }
    while (len > 0 && (n = pread(h->fd, dst, len, (off_t)off)) < 0 &&
           errno == EINTR)
        ;
    if (n <= 0 && len > 0) {
        int err = errno;
        wk_buf_truncate(&s->out, start);
        if (n == 0) {
            wd_sftp_send_status(s, id, WD_FX_EOF);
            return 0;
        }
        if (wd_sftp_logs(s, WD_SFTP_LOG_ERROR)) {
            char esc[ESC];
            wd_sftp_log(s, WD_SFTP_LOG_ERROR, "read \"%s\": %s",
                        wd_sftp_esc(esc, sizeof(esc), h->name),
                        strerror(err));
        }
        wd_sftp_send_errno(s, id, err);
        return 0;
    }
    wk_buf_truncate(&s->out, at + 4 + (size_t)n);
    wk_store_u32(wk_buf_data(&s->out) + at, (uint32_t)n);
    wd_sftp_reply_end(s, start);
    h->bytes_read += (uint64_t)n;
    return 0;
}

/* The whole of |n| bytes at |off| (or at the end, for O_APPEND). */
static int write_all(int fd, int append, const uint8_t *p, size_t n,
                     uint64_t off)
{
    while (n > 0) {
        ssize_t w = append ? write(fd, p, n) : pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int op_write(wd_sftp *s, uint32_t id, wk_reader *r)
{
    wd_sftp_handle *h;
    uint64_t off;
    const uint8_t *data;
    size_t len;
    if (wd_sftp_get_handle(s, r, WD_HANDLE_FILE, &h) ||
        wk_get_u64(r, &off) ||
        wk_get_string(r, &data, &len, WD_SFTP_MAX_MSG))
        return -1;
    if (!h) {
        wd_sftp_send_status(s, id, WD_FX_FAILURE);
        return 0;
    }
    if (bad_offset(off) || bad_offset(off + len) ||
        write_all(h->fd, (h->flags & O_APPEND) != 0, data, len, off) != 0) {
        int err = errno;
        if (wd_sftp_logs(s, WD_SFTP_LOG_ERROR)) {
            char esc[ESC];
            wd_sftp_log(s, WD_SFTP_LOG_ERROR, "write \"%s\": %s",
                        wd_sftp_esc(esc, sizeof(esc), h->name),
                        strerror(err));
        }
        wd_sftp_send_errno(s, id, err);
        return 0;
    }
    h->bytes_written += len;
    wd_sftp_send_status(s, id, WD_FX_OK);
    return 0;
}

static int do_stat(wd_sftp *s, uint32_t id, wk_reader *r, int follow)
{
    char *name;
    struct stat st;
    if (wd_sftp_get_path(s, r, &name)) return -1;
    LOG_PATH(s, WD_SFTP_LOG_VERBOSE,
             follow ? "stat name \"%s\"" : "lstat name \"%s\"", name);
    if ((follow ? stat(name, &st) : lstat(name, &st)) != 0)
        wd_sftp_send_errno(s, id, errno);
    else
        wd_sftp_send_attrs(s, id, &st);
    return 0;
}

static int op_stat(wd_sftp *s, uint32_t id, wk_reader *r)
{
    return do_stat(s, id, r, 1);
}

static int op_lstat(wd_sftp *s, uint32_t id, wk_reader *r)
{
    return do_stat(s, id, r, 0);
}

static int op_fstat(wd_sftp *s, uint32_t id, wk_reader *r)
{
    wd_sftp_handle *h;
    struct stat st;
    if (wd_sftp_get_handle(s, r, WD_HANDLE_FILE, &h)) return -1;
    if (!h)
        wd_sftp_send_status(s, id, WD_FX_FAILURE);
    else if (fstat(h->fd, &st) != 0)
        wd_sftp_send_errno(s, id, errno);
    else
        wd_sftp_send_attrs(s, id, &st);
    return 0;
}

/* ------------------------------------------------------------------------
 * Setting attributes: by path (following a link), by open file, or on a
 * link itself. Each attribute is applied in turn, and the status is that
 * of the last one that failed, as sftp-server reports it.
 */

enum { BY_PATH, BY_FD, ON_LINK };

static uint32_t set_attrs(wd_sftp *s, const char *name, int fd, int how,
                          const wd_sftp_attrs *a)
{
    uint32_t status = WD_FX_OK;
    char esc[ESC];
    int rc;
    if (wd_sftp_logs(s, WD_SFTP_LOG_INFO)) wd_sftp_esc(esc, sizeof(esc), name);
    if (a->flags & WD_FXA_SIZE) {
        if (how == ON_LINK) return WD_FX_BAD_MESSAGE; /* no size on a link */
        wd_sftp_log(s, WD_SFTP_LOG_INFO, "set \"%s\" size %llu", esc,
                    (unsigned long long)a->size);
        if (bad_offset(a->size))
            rc = -1;
        else
            rc = how == BY_FD ? ftruncate(fd, (off_t)a->size)
                              : truncate(name, (off_t)a->size);
        if (rc) status = wd_sftp_errno_status(errno);
    }
    if (a->flags & WD_FXA_PERMISSIONS) {
        mode_t m = a->perm & 07777;
        wd_sftp_log(s, WD_SFTP_LOG_INFO, "set \"%s\" mode %04o", esc, a->perm);
        rc = how == BY_FD    ? fchmod(fd, m)
             : how == BY_PATH ? chmod(name, m)
                              : fchmodat(AT_FDCWD, name, m, AT_SYMLINK_NOFOLLOW);
        if (rc) status = wd_sftp_errno_status(errno);
    }
    if (a->flags & WD_FXA_ACMODTIME) {
        if (wd_sftp_logs(s, WD_SFTP_LOG_INFO)) {
            char when[64] = "";
            time_t t = a->mtime;
            struct tm tm;
            if (localtime_r(&t, &tm))
                strftime(when, sizeof(when), "%Y%m%d-%H:%M:%S", &tm);
            wd_sftp_log(s, WD_SFTP_LOG_INFO, "set \"%s\" modtime %s", esc,
                        when);
        }
        struct timespec ts[2] = {{(time_t)a->atime, 0}, {(time_t)a->mtime, 0}};
        rc = how == BY_FD ? futimens(fd, ts)
                          : utimensat(AT_FDCWD, name, ts,
                                      how == ON_LINK ? AT_SYMLINK_NOFOLLOW : 0);
        if (rc) status = wd_sftp_errno_status(errno);
    }
    if (a->flags & WD_FXA_UIDGID) {
        wd_sftp_log(s, WD_SFTP_LOG_INFO, "set \"%s\" owner %lu group %lu",
                    esc, (unsigned long)a->uid, (unsigned long)a->gid);
        rc = how == BY_FD    ? fchown(fd, a->uid, a->gid)
             : how == BY_PATH ? chown(name, a->uid, a->gid)
                              : fchownat(AT_FDCWD, name, a->uid, a->gid,
                                         AT_SYMLINK_NOFOLLOW);
        if (rc) status = wd_sftp_errno_status(errno);
    }
    return status;
}

static int op_setstat(wd_sftp *s, uint32_t id, wk_reader *r)
{
    char *name;
    wd_sftp_attrs a;
    if (wd_sftp_get_path(s, r, &name) || wd_sftp_get_attrs(r, &a)) return -1;
    wd_sftp_send_status(s, id, set_attrs(s, name, -1, BY_PATH, &a));
    return 0;
}

static int op_lsetstat(wd_sftp *s, uint32_t id, wk_reader *r)
{
    char *name;
    wd_sftp_attrs a;
    if (wd_sftp_get_path(s, r, &name) || wd_sftp_get_attrs(r, &a)) return -1;
    wd_sftp_send_status(s, id, set_attrs(s, name, -1, ON_LINK, &a));
    return 0;
}

static int op_fsetstat(wd_sftp *s, uint32_t id, wk_reader *r)
{
    wd_sftp_handle *h;
    wd_sftp_attrs a;
    if (wd_sftp_get_handle(s, r, WD_HANDLE_FILE, &h) ||
        wd_sftp_get_attrs(r, &a))
        return -1;
    wd_sftp_send_status(s, id, h ? set_attrs(s, h->name, h->fd, BY_FD, &a)
                                 : WD_FX_FAILURE);
    return 0;
}

/* ------------------------------------------------------------------------
 * Directories.
 */

static int op_opendir(wd_sftp *s, uint32_t id, wk_reader *r)
{
    char *name;
    if (wd_sftp_get_path(s, r, &name)) return -1;
    LOG_PATH(s, WD_SFTP_LOG_INFO, "opendir \"%s\"", name);
    DIR *d = opendir(name);
    if (!d) {
        wd_sftp_send_errno(s, id, errno);
        return 0;
    }
    int h = wd_sftp_handle_new(s, WD_HANDLE_DIR, name, -1, d, 0);
    if (h < 0) {
        closedir(d);
        wd_sftp_send_status(s, id, WD_FX_FAILURE);
        return 0;
    }
    wd_sftp_send_handle(s, id, h);
    return 0;
}

/* One READDIR entry: a name (at most NAME_MAX), a long name of at most
 * 1 KiB and attributes; this much room is kept free for each. */
#define ENTRY_ROOM (4 + 256 + 4 + 1024 + 40)

static int op_readdir(wd_sftp *s, uint32_t id, wk_reader *r)
{
    wd_sftp_handle *h;
    if (wd_sftp_get_handle(s, r, WD_HANDLE_DIR, &h)) return -1;
    if (!h) {
        wd_sftp_send_status(s, id, WD_FX_FAILURE);
        return 0;
    }
    size_t start = wd_sftp_reply_begin(s, WD_FXP_NAME, id);
    size_t at = wk_buf_used(&s->out);
    wd_sftp_put_u32(s, 0);
    uint32_t count = 0;
    time_t now = time(NULL);
    int root = strcmp(h->name, "/") == 0;
    struct dirent *de;
    while (count < WD_SFTP_READDIR_BATCH &&
           wk_buf_used(&s->out) - start + ENTRY_ROOM < WD_SFTP_MAX_MSG &&
           (de = readdir(h->dir)) != NULL) {
        char path[PATH_MAX], longname[1024], uid[16], gid[16];
        struct stat st;
        int n = snprintf(path, sizeof(path), "%s%s%s", h->name,
                         root ? "" : "/", de->d_name);
        /* An entry that cannot be looked at is left out. */
        if (n < 0 || (size_t)n >= sizeof(path) || lstat(path, &st) != 0)
            continue;
        const char *user = wd_sftp_user_name(s, (uint32_t)st.st_uid);
        const char *group = wd_sftp_group_name(s, (uint32_t)st.st_gid);
        snprintf(uid, sizeof(uid), "%u", (unsigned)st.st_uid);
        snprintf(gid, sizeof(gid), "%u", (unsigned)st.st_gid);
        wd_sftp_long_name(longname, sizeof(longname), de->d_name, &st,
                          user ? user : uid, group ? group : gid, now);
        wd_sftp_attrs a;
        wd_sftp_attrs_from_stat(&st, &a);
        wd_sftp_put_cstring(s, de->d_name);
        wd_sftp_put_cstring(s, longname);
        if (wd_sftp_put_attrs(&s->out, &a) != 0) s->out_error = 1;
        count++;
    }
    if (s->out_error) return 0;
    if (count == 0) {
        wk_buf_truncate(&s->out, start);
        wd_sftp_send_status(s, id, WD_FX_EOF);
        return 0;
    }
    wk_store_u32(wk_buf_data(&s->out) + at, count);
    wd_sftp_reply_end(s, start);
    return 0;
}

/* ------------------------------------------------------------------------
 * Names.
 */

/* Requests of one path and one system call, answered with its status. */
static int path_call(wd_sftp *s, uint32_t id, wk_reader *r,
                     int (*call)(const char *), const char *what)
{
    char *name;
    if (wd_sftp_get_path(s, r, &name)) return -1;
    LOG_PATH(s, WD_SFTP_LOG_INFO, what, name);
    wd_sftp_send_status(s, id, call(name) ? wd_sftp_errno_status(errno)
                                          : WD_FX_OK);
    return 0;
}

static int op_remove(wd_sftp *s, uint32_t id, wk_reader *r)
{
    return path_call(s, id, r, unlink, "remove name \"%s\"");
}

static int op_rmdir(wd_sftp *s, uint32_t id, wk_reader *r)
{
    return path_call(s, id, r, rmdir, "rmdir name \"%s\"");
}

static int op_mkdir(wd_sftp *s, uint32_t id, wk_reader *r)
{
    char *name;
    wd_sftp_attrs a;
    if (wd_sftp_get_path(s, r, &name) || wd_sftp_get_attrs(r, &a)) return -1;
    unsigned mode = (a.flags & WD_FXA_PERMISSIONS) ? a.perm & 07777 : 0777;
    if (wd_sftp_logs(s, WD_SFTP_LOG_INFO)) {
        char esc[ESC];
        wd_sftp_log(s, WD_SFTP_LOG_INFO, "mkdir name \"%s\" mode 0%o",
                    wd_sftp_esc(esc, sizeof(esc), name), mode);
    }
    wd_sftp_send_status(s, id, mkdir(name, mode) ? wd_sftp_errno_status(errno)
                                                 : WD_FX_OK);
    return 0;
}

static int op_realpath(wd_sftp *s, uint32_t id, wk_reader *r)
{
    char *name, out[PATH_MAX];
    if (wd_sftp_get_path(s, r, &name)) return -1;
    const char *path = name[0] ? name : ".";
    LOG_PATH(s, WD_SFTP_LOG_VERBOSE, "realpath \"%s\"", path);
    if (wd_sftp_resolve(path, out) != 0)
        wd_sftp_send_errno(s, id, errno);
    else
        wd_sftp_send_name(s, id, out);
    return 0;
}

/* Version 3's RENAME never replaces an existing name. A regular file is
 * linked to the new name and then unlinked, so that no other rename can
 * slip in between a check and the rename; where links are not possible,
 * the check-then-rename sftp-server falls back to. */
static uint32_t rename_no_replace(const char *from, const char *to)
{
    struct stat st;
    if (lstat(from, &st) != 0) return wd_sftp_errno_status(errno);
    if (S_ISREG(st.st_mode)) {
        if (link(from, to) == 0) {
            if (unlink(from) == 0) return WD_FX_OK;
            uint32_t status = wd_sftp_errno_status(errno);
            unlink(to);
            return status;
        }
        if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EXDEV &&
            errno != EPERM)
            return wd_sftp_errno_status(errno);
    }
    if (stat(to, &st) == 0) return WD_FX_FAILURE; /* the name is taken */
    return rename(from, to) ? wd_sftp_errno_status(errno) : WD_FX_OK;
}

/* Requests of two paths. */
static int get_two(wd_sftp *s, wk_reader *r, char **a, char **b)
{
    return wd_sftp_get_path(s, r, a) || wd_sftp_get_path(s, r, b) ? -1 : 0;
}

static int op_rename(wd_sftp *s, uint32_t id, wk_reader *r)
{
    char *from, *to;
    if (get_two(s, r, &from, &to)) return -1;
    LOG_PATHS(s, WD_SFTP_LOG_INFO, "rename old \"%s\" new \"%s\"", from, to);
    wd_sftp_send_status(s, id, rename_no_replace(from, to));
    return 0;
}

static int op_posix_rename(wd_sftp *s, uint32_t id, wk_reader *r)
{
    char *from, *to;
    if (get_two(s, r, &from, &to)) return -1;
    LOG_PATHS(s, WD_SFTP_LOG_INFO, "posix-rename old \"%s\" new \"%s\"", from,
              to);
    wd_sftp_send_status(s, id, rename(from, to) ? wd_sftp_errno_status(errno)
                                                : WD_FX_OK);
    return 0;
}

static int op_hardlink(wd_sftp *s, uint32_t id, wk_reader *r)
{
    char *from, *to;
    if (get_two(s, r, &from, &to)) return -1;
    LOG_PATHS(s, WD_SFTP_LOG_INFO, "hardlink old \"%s\" new \"%s\"", from, to);
    wd_sftp_send_status(s, id, link(from, to) ? wd_sftp_errno_status(errno)
                                              : WD_FX_OK);
    return 0;
}

/* OpenSSH sends the link's target first, then the link's own name (the
 * reverse of the draft; PROTOCOL 4.1), and every client follows it. */
static int op_symlink(wd_sftp *s, uint32_t id, wk_reader *r)
{
    char *target, *name;
    if (get_two(s, r, &target, &name)) return -1;
    LOG_PATHS(s, WD_SFTP_LOG_INFO, "symlink old \"%s\" new \"%s\"", target,
              name);
    wd_sftp_send_status(s, id, symlink(target, name)
                                   ? wd_sftp_errno_status(errno)
                                   : WD_FX_OK);
    return 0;
}

static int op_readlink(wd_sftp *s, uint32_t id, wk_reader *r)
{
    char *name, target[PATH_MAX];
    if (wd_sftp_get_path(s, r, &name)) return -1;
    LOG_PATH(s, WD_SFTP_LOG_VERBOSE, "readlink \"%s\"", name);
    ssize_t n = readlink(name, target, sizeof(target) - 1);
    if (n < 0) {
        wd_sftp_send_errno(s, id, errno);
        return 0;
    }
    target[n] = 0;
    wd_sftp_send_name(s, id, target);
    return 0;
}

/* ------------------------------------------------------------------------
 * OpenSSH's extensions.
 */

static void send_statvfs(wd_sftp *s, uint32_t id, const struct statvfs *v)
{
    uint64_t flag = ((v->f_flag & ST_RDONLY) ? WD_FXE_STATVFS_RDONLY : 0) |
                    ((v->f_flag & ST_NOSUID) ? WD_FXE_STATVFS_NOSUID : 0);
    size_t start = wd_sftp_reply_begin(s, WD_FXP_EXTENDED_REPLY, id);
    const uint64_t field[] = {v->f_bsize,  v->f_frsize, v->f_blocks,
                              v->f_bfree,  v->f_bavail, v->f_files,
                              v->f_ffree,  v->f_favail, v->f_fsid,
                              flag,        v->f_namemax};
    for (size_t i = 0; i < sizeof(field) / sizeof(*field); i++)
        wd_sftp_put_u64(s, field[i]);
    wd_sftp_reply_end(s, start);
}

static int op_statvfs(wd_sftp *s, uint32_t id, wk_reader *r)
{
    char *name;
    struct statvfs v;
    if (wd_sftp_get_path(s, r, &name)) return -1;
    LOG_PATH(s, WD_SFTP_LOG_INFO, "statvfs \"%s\"", name);
    if (statvfs(name, &v) != 0)
        wd_sftp_send_errno(s, id, errno);
    else
        send_statvfs(s, id, &v);
    return 0;
}

static int op_fstatvfs(wd_sftp *s, uint32_t id, wk_reader *r)
{
    wd_sftp_handle *h;
    struct statvfs v;
    if (wd_sftp_get_handle(s, r, WD_HANDLE_FILE, &h)) return -1;
    if (!h)
        wd_sftp_send_status(s, id, WD_FX_FAILURE);
    else if (fstatvfs(h->fd, &v) != 0)
        wd_sftp_send_errno(s, id, errno);
    else
        send_statvfs(s, id, &v);
    return 0;
}

static int op_fsync(wd_sftp *s, uint32_t id, wk_reader *r)
{
    wd_sftp_handle *h;
    if (wd_sftp_get_handle(s, r, WD_HANDLE_FILE, &h)) return -1;
    if (!h) {
        wd_sftp_send_status(s, id, WD_FX_NO_SUCH_FILE);
        return 0;
    }
    LOG_PATH(s, WD_SFTP_LOG_VERBOSE, "fsync \"%s\"", h->name);
    wd_sftp_send_status(s, id, fsync(h->fd) ? wd_sftp_errno_status(errno)
                                            : WD_FX_OK);
    return 0;
}

static int op_limits(wd_sftp *s, uint32_t id, wk_reader *r)
{
    size_t start = wd_sftp_reply_begin(s, WD_FXP_EXTENDED_REPLY, id);
    wd_sftp_put_u64(s, WD_SFTP_MAX_MSG);     /* packet */
    wd_sftp_put_u64(s, WD_SFTP_MAX_DATA);    /* read */
    wd_sftp_put_u64(s, WD_SFTP_MAX_DATA);    /* write */
    wd_sftp_put_u64(s, wd_sftp_handle_limit());
    wd_sftp_reply_end(s, start);
    return 0;
}

/* "~user" and "~user/rest" with that user's home; 0 or -1. */
static int tilde_user(const char *path, char *out, size_t outsize)
{
    const char *slash = strchr(path, '/');
    size_t ulen = slash ? (size_t)(slash - path) - 1 : strlen(path) - 1;
    char user[256];
    if (ulen == 0 || ulen >= sizeof(user)) return -1;
    memcpy(user, path + 1, ulen);
    user[ulen] = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) return -1;
    const char *rest = slash ? slash + strspn(slash, "/") : "";
    size_t hl = strlen(pw->pw_dir);
    int sep = hl == 0 || pw->pw_dir[hl - 1] != '/';
    int n = snprintf(out, outsize, "%s%s%s", pw->pw_dir, sep ? "/" : "", rest);
    return n < 0 || (size_t)n >= PATH_MAX ? -1 : 0;
}

static int op_expand_path(wd_sftp *s, uint32_t id, wk_reader *r)
{
    char *name, cwd[PATH_MAX], full[2 * PATH_MAX], out[PATH_MAX];
    if (wd_sftp_get_path(s, r, &name)) return -1;
    if (!getcwd(cwd, sizeof(cwd))) {
        wd_sftp_send_errno(s, id, errno);
        return 0;
    }
    /* "~" is where the session started (the home, or -d's directory),
     * as for sftp-server; "~user" is that user's home. */
    const char *path = name;
    if (name[0] == 0) {
        path = ".";
    } else if (strcmp(name, "~") == 0) {
        path = cwd;
    } else if (strncmp(name, "~/", 2) == 0) {
        snprintf(full, sizeof(full), "%s/%s", cwd, name + 2);
        path = full;
    } else if (name[0] == '~') {
        if (tilde_user(name, full, sizeof(full)) != 0) {
            wd_sftp_send_status_msg(s, id, WD_FX_NO_SUCH_FILE,
                                    "no such user");
            return 0;
        }
        path = full;
    } else if (name[0] != '/') {
        snprintf(full, sizeof(full), "%s/%s", cwd, name);
        path = full;
    }
    LOG_PATH(s, WD_SFTP_LOG_VERBOSE, "expand \"%s\"", path);
    if (wd_sftp_resolve(path, out) != 0)
        wd_sftp_send_errno(s, id, errno);
    else
        wd_sftp_send_name(s, id, out);
    return 0;
}

static int op_copy_data(wd_sftp *s, uint32_t id, wk_reader *r)
{
    wd_sftp_handle *from, *to;
    uint64_t roff, rlen, woff;
    if (wd_sftp_get_handle(s, r, WD_HANDLE_FILE, &from) ||
        wk_get_u64(r, &roff) || wk_get_u64(r, &rlen) ||
        wd_sftp_get_handle(s, r, WD_HANDLE_FILE, &to) || wk_get_u64(r, &woff))
        return -1;
    /* Not onto itself, by handle or by name. */
    if (!from || !to || from == to || strcmp(from->name, to->name) == 0) {
        wd_sftp_send_status(s, id, WD_FX_FAILURE);
        return 0;
    }
    int until_eof = rlen == 0, append = (to->flags & O_APPEND) != 0;
    uint8_t buf[64 * 1024];
    uint32_t status = WD_FX_OK;
    while (until_eof || rlen > 0) {
        size_t want = sizeof(buf);
        if (!until_eof && rlen < want) want = (size_t)rlen;
        if (bad_offset(roff + want) || bad_offset(woff + want)) {
            status = wd_sftp_errno_status(errno);
            break;
        }
        ssize_t n = pread(from->fd, buf, want, (off_t)roff);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            status = wd_sftp_errno_status(errno);
            break;
        }
        if (n == 0) break; /* end of the source */
        if (write_all(to->fd, append, buf, (size_t)n, woff) != 0) {
            status = wd_sftp_errno_status(errno);
            break;
        }
        from->bytes_read += (uint64_t)n;
        to->bytes_written += (uint64_t)n;
        roff += (uint64_t)n;
        woff += (uint64_t)n;
        if (!until_eof) rlen -= (uint64_t)n;
    }
    wd_sftp_send_status(s, id, status);
    return 0;
}

static int op_home_directory(wd_sftp *s, uint32_t id, wk_reader *r)
{
    char *user;
    if (wd_sftp_get_path(s, r, &user)) return -1;
    /* An empty name is the session's own user. */
    struct passwd *pw = user[0] ? getpwnam(user) : NULL;
    if (user[0] && !pw) {
        wd_sftp_send_status(s, id, WD_FX_FAILURE);
        return 0;
    }
    const char *home = pw ? pw->pw_dir : s->home;
    LOG_PATH(s, WD_SFTP_LOG_VERBOSE, "home-directory \"%s\"", home);
    wd_sftp_send_name(s, id, home);
    return 0;
}

/* A string of uint32 ids answered by a string of names ("" for an id
 * without one), built apart so that a reply too large for a packet
 * can be refused whole. */
static int names_by_id(wd_sftp *s, const uint8_t *ids, size_t n, int group,
                       wk_buf *names)
{
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = wk_load_u32(ids + i);
        const char *name = group ? wd_sftp_group_name(s, v)
                                 : wd_sftp_user_name(s, v);
        if (wk_buf_put_cstring(names, name ? name : "") != 0) return 1;
    }
    return 0;
}

static int op_users_groups_by_id(wd_sftp *s, uint32_t id, wk_reader *r)
{
    const uint8_t *uids, *gids;
    size_t nu, ng;
    if (wk_get_string(r, &uids, &nu, WD_SFTP_MAX_MSG) ||
        wk_get_string(r, &gids, &ng, WD_SFTP_MAX_MSG) || nu % 4 || ng % 4)
        return -1;
    /* Each id may cost a look-up in the user database. */
    if ((nu + ng) / 4 > WD_SFTP_MAX_IDS) {
        wd_sftp_send_status(s, id, WD_FX_FAILURE);
        return 0;
    }
    wk_buf users, groups;
    wk_buf_init(&users, WD_SFTP_MAX_MSG / 2);
    wk_buf_init(&groups, WD_SFTP_MAX_MSG / 2);
    int rc = names_by_id(s, uids, nu, 0, &users);
    if (rc == 0) rc = names_by_id(s, gids, ng, 1, &groups);
    wd_sftp_log(s, WD_SFTP_LOG_VERBOSE,
                "users-groups-by-id: %zu users, %zu groups", nu / 4, ng / 4);
    if (rc != 0) {
        wd_sftp_send_status(s, id, WD_FX_FAILURE);
    } else {
        size_t start = wd_sftp_reply_begin(s, WD_FXP_EXTENDED_REPLY, id);
        wd_sftp_put_buf(s, &users);
        wd_sftp_put_buf(s, &groups);
        wd_sftp_reply_end(s, start);
    }
    wk_buf_free(&users);
    wk_buf_free(&groups);
    return 0;
}

/* sftp-server's order and names; VERSION announces the extensions in
 * this order. */
const wd_sftp_request wd_sftp_requests[] = {
    {"open", WD_FXP_OPEN, NULL, NULL, op_open, 0}, /* checks -R itself */
    {"close", WD_FXP_CLOSE, NULL, NULL, op_close, 0},
    {"read", WD_FXP_READ, NULL, NULL, op_read, 0},
    {"write", WD_FXP_WRITE, NULL, NULL, op_write, 1},
    {"lstat", WD_FXP_LSTAT, NULL, NULL, op_lstat, 0},
    {"fstat", WD_FXP_FSTAT, NULL, NULL, op_fstat, 0},
    {"setstat", WD_FXP_SETSTAT, NULL, NULL, op_setstat, 1},
    {"fsetstat", WD_FXP_FSETSTAT, NULL, NULL, op_fsetstat, 1},
    {"opendir", WD_FXP_OPENDIR, NULL, NULL, op_opendir, 0},
    {"readdir", WD_FXP_READDIR, NULL, NULL, op_readdir, 0},
    {"remove", WD_FXP_REMOVE, NULL, NULL, op_remove, 1},
    {"mkdir", WD_FXP_MKDIR, NULL, NULL, op_mkdir, 1},
    {"rmdir", WD_FXP_RMDIR, NULL, NULL, op_rmdir, 1},
    {"realpath", WD_FXP_REALPATH, NULL, NULL, op_realpath, 0},
    {"stat", WD_FXP_STAT, NULL, NULL, op_stat, 0},
    {"rename", WD_FXP_RENAME, NULL, NULL, op_rename, 1},
    {"readlink", WD_FXP_READLINK, NULL, NULL, op_readlink, 0},
    {"symlink", WD_FXP_SYMLINK, NULL, NULL, op_symlink, 1},
    {"posix-rename", WD_FXP_EXTENDED, "posix-rename@openssh.com", "1",
     op_posix_rename, 1},
    {"statvfs", WD_FXP_EXTENDED, "statvfs@openssh.com", "2", op_statvfs, 0},
    {"fstatvfs", WD_FXP_EXTENDED, "fstatvfs@openssh.com", "2", op_fstatvfs,
     0},
    {"hardlink", WD_FXP_EXTENDED, "hardlink@openssh.com", "1", op_hardlink,
     1},
    {"fsync", WD_FXP_EXTENDED, "fsync@openssh.com", "1", op_fsync, 1},
    {"lsetstat", WD_FXP_EXTENDED, "lsetstat@openssh.com", "1", op_lsetstat,
     1},
    {"limits", WD_FXP_EXTENDED, "limits@openssh.com", "1", op_limits, 0},
    {"expand-path", WD_FXP_EXTENDED, "expand-path@openssh.com", "1",
     op_expand_path, 0},
    {"copy-data", WD_FXP_EXTENDED, "copy-data", "1", op_copy_data, 1},
    {"home-directory", WD_FXP_EXTENDED, "home-directory", "1",
     op_home_directory, 0},
    {"users-groups-by-id", WD_FXP_EXTENDED, "users-groups-by-id@openssh.com",
     "1", op_users_groups_by_id, 0},
    {NULL, 0, NULL, NULL, NULL, 0},
};
