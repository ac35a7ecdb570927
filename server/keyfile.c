/*
 * keyfile: reads a file a user controls (~/.ssh/authorized_keys) the way
 * sshd's auth_openfile() does, on a thread-pool thread:
 *
 * - opened with the user's rights (asuser.c), so a symlink to a file
 *   only root may read fails as it would for the user;
 * - opened O_NONBLOCK, so a FIFO cannot hold the open, and refused
 *   unless fstat says it is a regular file (not /dev/zero, not a FIFO);
 * - StrictModes (sshd's safe_path()): the file and every directory above
 *   it up to the home directory (or "/") owned by the user or root and
 *   not group- or world-writable; otherwise "Authentication refused:
 *   bad ownership or modes for directory ...";
 * - at most |cap| bytes read, counted as bytes (NULs included).
 *
 * Log lines use sshd's words, so an administrator finds the same
 * message for the same mistake.
 */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asuser.h"
#include "server.h"

static int owner_ok(const struct stat *st, uid_t uid)
{
    return (st->st_uid == 0 || st->st_uid == uid) && (st->st_mode & 022) == 0;
}

/* sshd's safe_path(): 0, or -1 with the reason in |err|. */
static int safe_path(const char *name, const struct stat *stp,
                     const char *home, uid_t uid, char *err, size_t errlen)
{
    char buf[PATH_MAX], up[PATH_MAX], homedir[PATH_MAX];
    if (!realpath(name, buf)) {
        snprintf(err, errlen, "realpath %s failed: %s", name,
                 strerror(errno));
        return -1;
    }
    int comparehome = home && realpath(home, homedir) != NULL;
    if (!S_ISREG(stp->st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", buf);
        return -1;
    }
    if (!owner_ok(stp, uid)) {
        snprintf(err, errlen, "bad ownership or modes for file %s", buf);
        return -1;
    }
    for (;;) {
        snprintf(up, sizeof(up), "%s", buf);
        snprintf(buf, sizeof(buf), "%s", dirname(up));
        struct stat st;
        if (stat(buf, &st) != 0 || !owner_ok(&st, uid)) {
            snprintf(err, errlen, "bad ownership or modes for directory %s",
                     buf);
            return -1;
        }
        if (comparehome && strcmp(homedir, buf) == 0) break;
        if (strcmp(buf, "/") == 0 || strcmp(buf, ".") == 0) break;
    }
    return 0;
}

/* Reads up to |cap| + 1 bytes: one more than allowed says "truncated". */
static int read_capped(int fd, size_t cap, wd_file_text *out)
{
    size_t limit = cap + 1, size = limit < 4096 ? limit : 4096, len = 0;
    char *data = malloc(size);
    if (!data) return -1;
    for (;;) {
        if (len == size) {
            if (size == limit) break;
            size_t next = size * 2 < limit ? size * 2 : limit;
            char *p = realloc(data, next);
            if (!p) {
                free(data);
                return -1;
            }
            data = p;
            size = next;
        }
        ssize_t n = read(fd, data + len, size - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            free(data);
            return -1;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    out->truncated = len > cap;
    out->len = len > cap ? cap : len;
    out->data = data;
    return 0;
}

int wd_user_file_read(const char *path, const char *what, const wd_user *u,
                      int flags, size_t cap, wd_file_text *out)
{
    memset(out, 0, sizeof(*out));
    wd_as_user saved;
    if ((flags & WD_FILE_AS_USER) && wd_as_user_begin(u, &saved) != 0) {
        wd_log(WHELK_LOG_ERROR, "cannot take the rights of user %s to read "
               "%s", u->name, path);
        return -1;
    }
    int rc = -1;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            wd_log(WHELK_LOG_DEBUG, "Could not open user '%s' %s '%s': %s",
                   u->name, what, path, strerror(errno));
        else
            wd_log(WHELK_LOG_INFO, "Could not open user '%s' %s '%s': %s",
                   u->name, what, path, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) goto out;
    if (!S_ISREG(st.st_mode)) {
        wd_log(WHELK_LOG_INFO, "User '%s' %s '%s' is not a regular file",
               u->name, what, path);
        goto out;
    }
    /* A regular file: reads cannot block on O_NONBLOCK's account, but
     * clear it as sshd does. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    char err[PATH_MAX + 128];
    if ((flags & WD_FILE_STRICT) &&
        safe_path(path, &st, u->home, u->uid, err, sizeof(err)) != 0) {
        wd_log(WHELK_LOG_INFO, "Authentication refused: %s", err);
        goto out;
    }
    if (read_capped(fd, cap, out) != 0) {
        wd_log(WHELK_LOG_INFO, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    if (out->truncated)
        wd_log(WHELK_LOG_INFO, "%s: larger than %zu bytes, the rest ignored",
               path, cap);
    rc = 0;
out:
    if (fd >= 0) close(fd);
    if (flags & WD_FILE_AS_USER) wd_as_user_end(&saved);
    return rc;
}

void wd_file_text_free(wd_file_text *t)
{
    free(t->data);
    memset(t, 0, sizeof(*t));
}
