/*
 * sftp_names: the SFTP requests on directories and names (OPENDIR,
 * READDIR, REMOVE, MKDIR, RMDIR, REALPATH, RENAME, SYMLINK, READLINK) and
 * OpenSSH's extensions of them (posix-rename, hardlink, expand-path,
 * home-directory, users-groups-by-id; PROTOCOL section 4), answered as
 * sftp-server answers them. See sftp_ops.c for the conventions.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sftp_int.h"

/* ------------------------------------------------------------------------
 * Directories.
 */

int wd_sftp_op_opendir(wd_sftp *s, uint32_t id, wd_reader *r)
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

int wd_sftp_op_readdir(wd_sftp *s, uint32_t id, wd_reader *r)
{
    wd_sftp_handle *h;
    if (wd_sftp_get_handle(s, r, WD_HANDLE_DIR, &h)) return -1;
    if (!h) {
        wd_sftp_send_status(s, id, WD_FX_FAILURE);
        return 0;
    }
    size_t start = wd_sftp_reply_begin(s, WD_FXP_NAME, id);
    size_t at = wd_buf_used(&s->out);
    wd_sftp_put_u32(s, 0);
    uint32_t count = 0;
    time_t now = time(NULL);
    int root = strcmp(h->name, "/") == 0;
    struct dirent *de;
    while (count < WD_SFTP_READDIR_BATCH &&
           wd_buf_used(&s->out) - start + ENTRY_ROOM < WD_SFTP_MAX_MSG &&
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
        wd_buf_truncate(&s->out, start);
        wd_sftp_send_status(s, id, WD_FX_EOF);
        return 0;
    }
    wd_store_u32(wd_buf_data(&s->out) + at, count);
    wd_sftp_reply_end(s, start);
    return 0;
}

/* ------------------------------------------------------------------------
 * Names.
 */

/* Requests of one path and one system call, answered with its status. */
static int path_call(wd_sftp *s, uint32_t id, wd_reader *r,
                     int (*call)(const char *), const char *what)
{
    char *name;
    if (wd_sftp_get_path(s, r, &name)) return -1;
    LOG_PATH(s, WD_SFTP_LOG_INFO, what, name);
    wd_sftp_send_status(s, id, call(name) ? wd_sftp_errno_status(errno)
                                          : WD_FX_OK);
    return 0;
}

int wd_sftp_op_remove(wd_sftp *s, uint32_t id, wd_reader *r)
{
    return path_call(s, id, r, unlink, "remove name \"%s\"");
}

int wd_sftp_op_rmdir(wd_sftp *s, uint32_t id, wd_reader *r)
{
    return path_call(s, id, r, rmdir, "rmdir name \"%s\"");
}

int wd_sftp_op_mkdir(wd_sftp *s, uint32_t id, wd_reader *r)
{
    char *name;
    wd_sftp_attrs a;
    if (wd_sftp_get_path(s, r, &name) || wd_sftp_get_attrs(r, &a)) return -1;
    unsigned mode = (a.flags & WD_FXA_PERMISSIONS) ? a.perm & 07777 : 0777;
    if (wd_sftp_logs(s, WD_SFTP_LOG_INFO)) {
        char esc[WD_SFTP_ESC];
        wd_sftp_log(s, WD_SFTP_LOG_INFO, "mkdir name \"%s\" mode 0%o",
                    wd_sftp_esc(esc, sizeof(esc), name), mode);
    }
    wd_sftp_send_status(s, id, mkdir(name, mode) ? wd_sftp_errno_status(errno)
                                                 : WD_FX_OK);
    return 0;
}

int wd_sftp_op_realpath(wd_sftp *s, uint32_t id, wd_reader *r)
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
static int get_two(wd_sftp *s, wd_reader *r, char **a, char **b)
{
    return wd_sftp_get_path(s, r, a) || wd_sftp_get_path(s, r, b) ? -1 : 0;
}

int wd_sftp_op_rename(wd_sftp *s, uint32_t id, wd_reader *r)
{
    char *from, *to;
    if (get_two(s, r, &from, &to)) return -1;
    LOG_PATHS(s, WD_SFTP_LOG_INFO, "rename old \"%s\" new \"%s\"", from, to);
    wd_sftp_send_status(s, id, rename_no_replace(from, to));
    return 0;
}

/* Requests of two paths and one system call, answered with its status. */
static int two_path_call(wd_sftp *s, uint32_t id, wd_reader *r,
                         int (*call)(const char *, const char *),
                         const char *what)
{
    char *a, *b;
    if (get_two(s, r, &a, &b)) return -1;
    LOG_PATHS(s, WD_SFTP_LOG_INFO, what, a, b);
    wd_sftp_send_status(s, id, call(a, b) ? wd_sftp_errno_status(errno)
                                          : WD_FX_OK);
    return 0;
}

int wd_sftp_op_posix_rename(wd_sftp *s, uint32_t id, wd_reader *r)
{
    return two_path_call(s, id, r, rename,
                         "posix-rename old \"%s\" new \"%s\"");
}

int wd_sftp_op_hardlink(wd_sftp *s, uint32_t id, wd_reader *r)
{
    return two_path_call(s, id, r, link, "hardlink old \"%s\" new \"%s\"");
}

/* OpenSSH sends the link's target first, then the link's own name (the
 * reverse of the draft; PROTOCOL 4.1), and every client follows it. */
int wd_sftp_op_symlink(wd_sftp *s, uint32_t id, wd_reader *r)
{
    return two_path_call(s, id, r, symlink,
                         "symlink old \"%s\" new \"%s\"");
}

int wd_sftp_op_readlink(wd_sftp *s, uint32_t id, wd_reader *r)
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

int wd_sftp_op_expand_path(wd_sftp *s, uint32_t id, wd_reader *r)
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

int wd_sftp_op_home_directory(wd_sftp *s, uint32_t id, wd_reader *r)
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
                       wd_buf *names)
{
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = wd_load_u32(ids + i);
        const char *name = group ? wd_sftp_group_name(s, v)
                                 : wd_sftp_user_name(s, v);
        if (wd_buf_put_cstring(names, name ? name : "") != 0) return 1;
    }
    return 0;
}

int wd_sftp_op_users_groups_by_id(wd_sftp *s, uint32_t id, wd_reader *r)
{
    const uint8_t *uids, *gids;
    size_t nu, ng;
    if (wd_get_string(r, &uids, &nu, WD_SFTP_MAX_MSG) ||
        wd_get_string(r, &gids, &ng, WD_SFTP_MAX_MSG) || nu % 4 || ng % 4)
        return -1;
    /* Each id may cost a look-up in the user database. */
    if ((nu + ng) / 4 > WD_SFTP_MAX_IDS) {
        wd_sftp_send_status(s, id, WD_FX_FAILURE);
        return 0;
    }
    wd_buf users, groups;
    wd_buf_init(&users, WD_SFTP_MAX_MSG / 2);
    wd_buf_init(&groups, WD_SFTP_MAX_MSG / 2);
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
    wd_buf_free(&users);
    wd_buf_free(&groups);
    return 0;
}

/* sftp-server's order and names; VERSION announces the extensions in
 * this order. */
