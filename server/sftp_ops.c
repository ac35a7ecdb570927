/*
 * sftp_ops: the SFTP requests on files and their attributes (OPEN, CLOSE,
 * READ, WRITE, the STATs and SETSTATs) and OpenSSH's extensions of them
 * (lsetstat, fsync, statvfs, fstatvfs, copy-data, limits; PROTOCOL
 * section 4). Each reads its fields with the bounded readers (returning
 * -1 for a malformed packet), makes the system call as the user, and
 * answers with the status, codes and texts sftp-server gives, so
 * OpenSSH's sftp and scp behave and print the same against either
 * server. Where sftp-server logs a request, so does this, with the
 * client's strings escaped. Directories and names are in sftp_names.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "sftp_int.h"

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

int wd_sftp_op_open(wd_sftp *s, uint32_t id, wd_reader *r)
{
    char *name, words[64];
    uint32_t pflags;
    wd_sftp_attrs a;
    if (wd_sftp_get_path(s, r, &name) || wd_get_u32(r, &pflags) ||
        wd_sftp_get_attrs(r, &a))
        return -1;
    int flags = wd_sftp_open_flags(pflags);
    unsigned mode = (a.flags & WD_FXA_PERMISSIONS) ? a.perm : 0666;
    if (wd_sftp_logs(s, WD_SFTP_LOG_INFO)) {
        char esc[WD_SFTP_ESC];
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

int wd_sftp_op_close(wd_sftp *s, uint32_t id, wd_reader *r)
{
    wd_sftp_handle *h;
    if (wd_sftp_get_handle(s, r, WD_HANDLE_FREE, &h)) return -1;
    if (!h) {
        wd_sftp_send_errno(s, id, ENOENT);
        return 0;
    }
    if (wd_sftp_logs(s, WD_SFTP_LOG_INFO)) {
        char esc[WD_SFTP_ESC];
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

int wd_sftp_op_read(wd_sftp *s, uint32_t id, wd_reader *r)
{
    wd_sftp_handle *h;
    uint64_t off;
    uint32_t len;
    if (wd_sftp_get_handle(s, r, WD_HANDLE_FILE, &h) ||
        wd_get_u64(r, &off) || wd_get_u32(r, &len))
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
    size_t at = wd_buf_used(&s->out);
    wd_sftp_put_u32(s, 0);
    uint8_t *dst = s->out_error ? NULL : wd_buf_extend(&s->out, len);
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
        wd_buf_truncate(&s->out, start);
        if (n == 0) {
            wd_sftp_send_status(s, id, WD_FX_EOF);
            return 0;
        }
        if (wd_sftp_logs(s, WD_SFTP_LOG_ERROR)) {
            char esc[WD_SFTP_ESC];
            wd_sftp_log(s, WD_SFTP_LOG_ERROR, "read \"%s\": %s",
                        wd_sftp_esc(esc, sizeof(esc), h->name),
                        strerror(err));
        }
        wd_sftp_send_errno(s, id, err);
        return 0;
    }
    wd_buf_truncate(&s->out, at + 4 + (size_t)n);
    wd_store_u32(wd_buf_data(&s->out) + at, (uint32_t)n);
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

int wd_sftp_op_write(wd_sftp *s, uint32_t id, wd_reader *r)
{
    wd_sftp_handle *h;
    uint64_t off;
    const uint8_t *data;
    size_t len;
    if (wd_sftp_get_handle(s, r, WD_HANDLE_FILE, &h) ||
        wd_get_u64(r, &off) ||
        wd_get_string(r, &data, &len, WD_SFTP_MAX_MSG))
        return -1;
    if (!h) {
        wd_sftp_send_status(s, id, WD_FX_FAILURE);
        return 0;
    }
    if (bad_offset(off) || bad_offset(off + len) ||
        write_all(h->fd, (h->flags & O_APPEND) != 0, data, len, off) != 0) {
        int err = errno;
        if (wd_sftp_logs(s, WD_SFTP_LOG_ERROR)) {
            char esc[WD_SFTP_ESC];
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

static int do_stat(wd_sftp *s, uint32_t id, wd_reader *r, int follow)
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

int wd_sftp_op_stat(wd_sftp *s, uint32_t id, wd_reader *r)
{
    return do_stat(s, id, r, 1);
}

int wd_sftp_op_lstat(wd_sftp *s, uint32_t id, wd_reader *r)
{
    return do_stat(s, id, r, 0);
}

int wd_sftp_op_fstat(wd_sftp *s, uint32_t id, wd_reader *r)
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
    char esc[WD_SFTP_ESC];
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

int wd_sftp_op_setstat(wd_sftp *s, uint32_t id, wd_reader *r)
{
    char *name;
    wd_sftp_attrs a;
    if (wd_sftp_get_path(s, r, &name) || wd_sftp_get_attrs(r, &a)) return -1;
    wd_sftp_send_status(s, id, set_attrs(s, name, -1, BY_PATH, &a));
    return 0;
}

int wd_sftp_op_lsetstat(wd_sftp *s, uint32_t id, wd_reader *r)
{
    char *name;
    wd_sftp_attrs a;
    if (wd_sftp_get_path(s, r, &name) || wd_sftp_get_attrs(r, &a)) return -1;
    wd_sftp_send_status(s, id, set_attrs(s, name, -1, ON_LINK, &a));
    return 0;
}

int wd_sftp_op_fsetstat(wd_sftp *s, uint32_t id, wd_reader *r)
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

int wd_sftp_op_statvfs(wd_sftp *s, uint32_t id, wd_reader *r)
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

int wd_sftp_op_fstatvfs(wd_sftp *s, uint32_t id, wd_reader *r)
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

int wd_sftp_op_fsync(wd_sftp *s, uint32_t id, wd_reader *r)
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

int wd_sftp_op_limits(wd_sftp *s, uint32_t id, wd_reader *r)
{
    size_t start = wd_sftp_reply_begin(s, WD_FXP_EXTENDED_REPLY, id);
    wd_sftp_put_u64(s, WD_SFTP_MAX_MSG);     /* packet */
    wd_sftp_put_u64(s, WD_SFTP_MAX_DATA);    /* read */
    wd_sftp_put_u64(s, WD_SFTP_MAX_DATA);    /* write */
    wd_sftp_put_u64(s, wd_sftp_handle_limit());
    wd_sftp_reply_end(s, start);
    return 0;
}

int wd_sftp_op_copy_data(wd_sftp *s, uint32_t id, wd_reader *r)
{
    wd_sftp_handle *from, *to;
    uint64_t roff, rlen, woff;
    if (wd_sftp_get_handle(s, r, WD_HANDLE_FILE, &from) ||
        wd_get_u64(r, &roff) || wd_get_u64(r, &rlen) ||
        wd_sftp_get_handle(s, r, WD_HANDLE_FILE, &to) || wd_get_u64(r, &woff))
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
