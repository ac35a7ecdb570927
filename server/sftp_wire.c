/*
 * sftp_wire: SFTP v3 attributes, status texts, errno mapping, long names
 * and path resolution. See sftp_wire.h; the facts (texts, groupings,
 * layouts) follow OpenSSH's sftp-server so that clients print the same
 * messages and listings against either server.
 */
#include "sftp_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int wd_sftp_get_attrs(wd_reader *r, wd_sftp_attrs *a)
{
    int rc;
    memset(a, 0, sizeof(*a));
    if ((rc = wd_get_u32(r, &a->flags)) != 0) return rc;
    if ((a->flags & WD_FXA_SIZE) && (rc = wd_get_u64(r, &a->size)) != 0)
        return rc;
    if ((a->flags & WD_FXA_UIDGID) &&
        ((rc = wd_get_u32(r, &a->uid)) != 0 ||
         (rc = wd_get_u32(r, &a->gid)) != 0))
        return rc;
    if ((a->flags & WD_FXA_PERMISSIONS) &&
        (rc = wd_get_u32(r, &a->perm)) != 0)
        return rc;
    if ((a->flags & WD_FXA_ACMODTIME) &&
        ((rc = wd_get_u32(r, &a->atime)) != 0 ||
         (rc = wd_get_u32(r, &a->mtime)) != 0))
        return rc;
    if (a->flags & WD_FXA_EXTENDED) {
        uint32_t count;
        if ((rc = wd_get_u32(r, &count)) != 0) return rc;
        /* Each pair takes at least 8 bytes, so a hostile count runs out
         * of packet long before it runs out of loop. */
        for (uint32_t i = 0; i < count; i++) {
            const uint8_t *p;
            size_t n;
            if ((rc = wd_get_string(r, &p, &n, WD_SFTP_MAX_MSG)) != 0 ||
                (rc = wd_get_string(r, &p, &n, WD_SFTP_MAX_MSG)) != 0)
                return rc;
        }
    }
    return 0;
}

int wd_sftp_put_attrs(wd_buf *b, const wd_sftp_attrs *a)
{
    /* Extended attributes are never sent. */
    uint32_t flags = a->flags & ~WD_FXA_EXTENDED;
    int rc = wd_buf_put_u32(b, flags);
    if (!rc && (flags & WD_FXA_SIZE)) rc = wd_buf_put_u64(b, a->size);
    if (!rc && (flags & WD_FXA_UIDGID)) {
        rc = wd_buf_put_u32(b, a->uid);
        if (!rc) rc = wd_buf_put_u32(b, a->gid);
    }
    if (!rc && (flags & WD_FXA_PERMISSIONS)) rc = wd_buf_put_u32(b, a->perm);
    if (!rc && (flags & WD_FXA_ACMODTIME)) {
        rc = wd_buf_put_u32(b, a->atime);
        if (!rc) rc = wd_buf_put_u32(b, a->mtime);
    }
    return rc;
}

void wd_sftp_attrs_from_stat(const struct stat *st, wd_sftp_attrs *a)
{
    a->flags = WD_FXA_SIZE | WD_FXA_UIDGID | WD_FXA_PERMISSIONS |
               WD_FXA_ACMODTIME;
    a->size = (uint64_t)st->st_size;
    a->uid = (uint32_t)st->st_uid;
    a->gid = (uint32_t)st->st_gid;
    a->perm = (uint32_t)st->st_mode;
    /* Version 3 carries 32-bit seconds. */
    a->atime = (uint32_t)st->st_atime;
    a->mtime = (uint32_t)st->st_mtime;
}

const char *wd_sftp_status_text(uint32_t status)
{
    static const char *const text[] = {
        "Success",       "End of file",     "No such file",
        "Permission denied", "Failure",     "Bad message",
        "No connection", "Connection lost", "Operation unsupported",
    };
    return status < sizeof(text) / sizeof(*text) ? text[status]
                                                 : "Unknown error";
}

uint32_t wd_sftp_errno_status(int err)
{
    switch (err) {
    case 0: return WD_FX_OK;
    case ENOENT:
    case ENOTDIR:
    case EBADF:
    case ELOOP: return WD_FX_NO_SUCH_FILE;
    case EPERM:
    case EACCES:
    case EFAULT: return WD_FX_PERMISSION_DENIED;
    case ENAMETOOLONG:
    case EINVAL: return WD_FX_BAD_MESSAGE;
    case ENOSYS: return WD_FX_OP_UNSUPPORTED;
    default: return WD_FX_FAILURE;
    }
}

int wd_sftp_open_flags(uint32_t pflags)
{
    int flags;
    if ((pflags & WD_FXF_READ) && (pflags & WD_FXF_WRITE))
        flags = O_RDWR;
    else if (pflags & WD_FXF_WRITE)
        flags = O_WRONLY;
    else
        flags = O_RDONLY;
    if (pflags & WD_FXF_APPEND) flags |= O_APPEND;
    if (pflags & WD_FXF_CREAT) flags |= O_CREAT;
    if (pflags & WD_FXF_TRUNC) flags |= O_TRUNC;
    if (pflags & WD_FXF_EXCL) flags |= O_EXCL;
    return flags;
}

void wd_sftp_open_flag_words(uint32_t pflags, char *out, size_t outsize)
{
    static const struct {
        uint32_t bit;
        const char *word;
    } words[] = {{WD_FXF_READ, "READ"},     {WD_FXF_WRITE, "WRITE"},
                 {WD_FXF_APPEND, "APPEND"}, {WD_FXF_CREAT, "CREATE"},
                 {WD_FXF_TRUNC, "TRUNCATE"}, {WD_FXF_EXCL, "EXCL"}};
    size_t n = 0;
    if (outsize == 0) return;
    out[0] = 0;
    for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++) {
        if (!(pflags & words[i].bit)) continue;
        int w = snprintf(out + n, outsize - n, "%s%s", n ? "," : "",
                         words[i].word);
        if (w < 0 || (size_t)w >= outsize - n) return;
        n += (size_t)w;
    }
}

/* ls's ten mode characters and the space that would hold an ACL mark. */
static void mode_string(mode_t m, char out[12])
{
    char type;
    switch (m & S_IFMT) {
    case S_IFDIR: type = 'd'; break;
    case S_IFCHR: type = 'c'; break;
    case S_IFBLK: type = 'b'; break;
    case S_IFREG: type = '-'; break;
    case S_IFLNK: type = 'l'; break;
    case S_IFSOCK: type = 's'; break;
    case S_IFIFO: type = 'p'; break;
    default: type = '?'; break;
    }
    out[0] = type;
    /* Read, write, then execute combined with the special bit of each
     * class: lowercase when both are set, uppercase for the bit alone. */
    static const struct {
        mode_t r, w, x, special;
        char both, alone;
    } cls[3] = {{S_IRUSR, S_IWUSR, S_IXUSR, S_ISUID, 's', 'S'},
                {S_IRGRP, S_IWGRP, S_IXGRP, S_ISGID, 's', 'S'},
                {S_IROTH, S_IWOTH, S_IXOTH, S_ISVTX, 't', 'T'}};
    for (int i = 0; i < 3; i++) {
        char *p = out + 1 + 3 * i;
        p[0] = (m & cls[i].r) ? 'r' : '-';
        p[1] = (m & cls[i].w) ? 'w' : '-';
        int x = (m & cls[i].x) != 0, sp = (m & cls[i].special) != 0;
        p[2] = sp ? (x ? cls[i].both : cls[i].alone) : (x ? 'x' : '-');
    }
    out[10] = ' ';
    out[11] = 0;
}

size_t wd_sftp_long_name(char *out, size_t outsize, const char *name,
                         const struct stat *st, const char *user,
                         const char *group, time_t now)
{
    char mode[12], when[32] = "";
    struct tm tm;
    if (outsize == 0) return 0;
    mode_string(st->st_mode, mode);
    if (localtime_r(&st->st_mtime, &tm)) {
        /* Half a year back shows the time of day, as ls does. */
        const time_t half_year = 365 * 24 * 60 * 60 / 2;
        int recent = now - half_year < st->st_mtime && now >= st->st_mtime;
        if (strftime(when, sizeof(when),
                     recent ? "%b %e %H:%M" : "%b %e  %Y", &tm) == 0)
            when[0] = 0;
    }
    int uw = (int)strlen(user), gw = (int)strlen(group);
    int n = snprintf(out, outsize, "%s %3u %-*s %-*s %8llu %s %s", mode,
                     (unsigned)st->st_nlink, uw < 8 ? 8 : uw, user,
                     gw < 8 ? 8 : gw, group,
                     (unsigned long long)st->st_size, when, name);
    if (n < 0) {
        out[0] = 0;
        return 0;
    }
    return (size_t)n < outsize ? (size_t)n : outsize - 1;
}

/* Drops the last component of the absolute path |p| of length |*len|,
 * keeping "/" itself. */
static void drop_last(char *p, size_t *len)
{
    while (*len > 1 && p[*len - 1] != '/') (*len)--;
    if (*len > 1) (*len)--;
    p[*len] = 0;
}

int wd_sftp_resolve(const char *path, char *out)
{
    char todo[PATH_MAX], link[PATH_MAX];
    size_t olen, pos = 0;
    unsigned links = 0;

    if (path[0] == 0) {
        errno = ENOENT;
        return -1;
    }
    if (strlen(path) >= sizeof(todo)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(todo, path, strlen(path) + 1);
    if (path[0] == '/') {
        out[0] = '/';
        out[1] = 0;
    } else if (!getcwd(out, PATH_MAX)) {
        return -1;
    }
    olen = strlen(out);

    for (;;) {
        while (todo[pos] == '/') pos++;
        if (todo[pos] == 0) break;
        size_t start = pos;
        while (todo[pos] && todo[pos] != '/') pos++;
        size_t clen = pos - start;
        int last = todo[pos] == 0; /* no slash follows this component */
        if (clen == 1 && todo[start] == '.') continue;
        if (clen == 2 && todo[start] == '.' && todo[start + 1] == '.') {
            drop_last(out, &olen);
            continue;
        }
        size_t sep = out[olen - 1] != '/';
        if (olen + sep + clen >= PATH_MAX) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (sep) out[olen++] = '/';
        memcpy(out + olen, todo + start, clen);
        olen += clen;
        out[olen] = 0;

        struct stat st;
        if (lstat(out, &st) != 0) {
            /* A missing last component is a name to create. */
            if (errno == ENOENT && last) return 0;
            return -1;
        }
        if (!S_ISLNK(st.st_mode)) continue;
        if (links++ > 32) { /* 33 links at most, as sftp-server */
            errno = ELOOP;
            return -1;
        }
        ssize_t n = readlink(out, link, sizeof(link) - 1);
        if (n <= 0) {
            if (n == 0) errno = ENOENT;
            return -1;
        }
        link[n] = 0;
        if (link[0] == '/') {
            olen = 1;
            out[1] = 0;
        } else {
            drop_last(out, &olen);
        }
        /* The link's text takes the link's place in what is left. */
        const char *rest = todo + pos; /* "" or "/..." */
        size_t rlen = strlen(rest);
        if ((size_t)n + rlen >= sizeof(link)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(link + n, rest, rlen + 1);
        memcpy(todo, link, (size_t)n + rlen + 1);
        pos = 0;
    }
    return 0;
}
