/*
 * user: looking a login up (getpwnam_r, getgrouplist, getspnam_r, with
 * bounded buffers) and the account checks sshd makes without PAM: its
 * allowed_user() (a locked or expired account, a missing shell) and
 * do_nologin() (/etc/nologin keeps everyone but root out). The look-up
 * may block (NSS, LDAP): whelkd calls it on the thread pool.
 */
#include "user.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <shadow.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "server.h"

#define DAY (24L * 60 * 60)

/* Where sshd (without PAM) looks; tests may not move it. */
static const char nologin_path[] = "/etc/nologin";

int wd_user_lookup(const char *name, wd_user *out)
{
    struct passwd pw, *res = NULL;
    char buf[16384];
    memset(out, 0, sizeof(*out));
    if (strlen(name) >= sizeof(out->name)) return -1;
    if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
        return -1;
    snprintf(out->name, sizeof(out->name), "%s", pw.pw_name);
    out->uid = pw.pw_uid;
    out->gid = pw.pw_gid;
    snprintf(out->home, sizeof(out->home), "%s", pw.pw_dir);
    snprintf(out->shell, sizeof(out->shell), "%s",
             pw.pw_shell && *pw.pw_shell ? pw.pw_shell : "/bin/sh");
    /* "!" in the passwd entry itself locks too, when there is no shadow
     * entry to read (sshd's platform_locked_account). */
    out->locked = pw.pw_passwd && pw.pw_passwd[0] == '!';
    int n = WD_MAX_GROUPS;
    if (getgrouplist(pw.pw_name, pw.pw_gid, out->groups, &n) < 0)
        n = WD_MAX_GROUPS; /* truncated: keep the first ones */
    out->ngroups = n;
    OPENSSL_cleanse(buf, sizeof(buf));
    return 0;
}

int wd_user_may_login(const wd_user *u)
{
    return geteuid() == 0 || u->uid == geteuid();
}

/* sshd's platform_locked_account() on Linux: the shadow entry (when we
 * may read it) decides, an expired account counts as locked, and a
 * password field starting with "!" is locked; "*" alone is not (it only
 * means "no password", and key logins go on). */
static int account_locked(wd_user *u)
{
    struct spwd sp, *res = NULL;
    char buf[4096];
    int locked = u->locked;
    if (getspnam_r(u->name, &sp, buf, sizeof(buf), &res) == 0 && res) {
        long long today = (long long)(time(NULL) / DAY);
        if (sp.sp_expire != -1 && sp.sp_expire - today < 0) {
            wd_log(WHELK_LOG_INFO, "Account %.100s has expired", u->name);
            locked = 1;
        } else {
            locked = sp.sp_pwdp && sp.sp_pwdp[0] == '!';
        }
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return locked;
}

int wd_user_check(const char *name, wd_user *out, int use_pam)
{
    if (wd_user_lookup(name, out) != 0 || !wd_user_may_login(out))
        return WD_USER_NONE;
    if (!use_pam && account_locked(out)) {
        wd_log(WHELK_LOG_INFO,
               "User %.100s not allowed because account is locked",
               out->name);
        return WD_USER_REFUSED;
    }
    struct stat st;
    if (stat(out->shell, &st) != 0) {
        wd_log(WHELK_LOG_INFO,
               "User %.100s not allowed because shell %.100s does not exist",
               out->name, out->shell);
        return WD_USER_REFUSED;
    }
    if (!S_ISREG(st.st_mode) ||
        (st.st_mode & (S_IXOTH | S_IXUSR | S_IXGRP)) == 0) {
        wd_log(WHELK_LOG_INFO,
               "User %.100s not allowed because shell %.100s is not "
               "executable",
               out->name, out->shell);
        return WD_USER_REFUSED;
    }
    return WD_USER_OK;
}

int wd_user_password_expired(const char *name)
{
    struct spwd sp, *res = NULL;
    char buf[4096];
    int expired = 0;
    if (getspnam_r(name, &sp, buf, sizeof(buf), &res) == 0 && res) {
        long long today = (long long)(time(NULL) / DAY);
        if (sp.sp_lstchg == 0) {
            wd_log(WHELK_LOG_INFO,
                   "User %.100s password has expired (root forced)", name);
            expired = 1;
        } else if (sp.sp_max != -1 && sp.sp_lstchg != -1 &&
                   sp.sp_lstchg + sp.sp_max - today < 0) {
            wd_log(WHELK_LOG_INFO,
                   "User %.100s password has expired (password aged)", name);
            expired = 1;
        }
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return expired;
}

int wd_nologin_applies(const wd_user *u)
{
    struct stat st;
    if (u->uid == 0 || stat(nologin_path, &st) != 0) return 0;
    wd_log(WHELK_LOG_INFO, "User %.100s not allowed because %s exists",
           u->name, nologin_path);
    return 1;
}

/* Copies at most 64 KiB of |path| to |fd|. In a child between fork and
 * exec: system calls only. */
static void copy_to(const char *path, int fd)
{
    int in = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (in < 0) return;
    char buf[1024];
    ssize_t n;
    size_t total = 0;
    while (total < 64 * 1024 && (n = read(in, buf, sizeof(buf))) > 0) {
        total += (size_t)n;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w <= 0) {
                close(in);
                return;
            }
            off += w;
        }
    }
    close(in);
}

void wd_nologin_print(int fd)
{
    copy_to(nologin_path, fd);
}

void wd_motd_print(int fd, const char *lastlog, int motd)
{
    /* sshd's check_quietlogin: ~/.hushlogin (the cwd is the home). */
    if (access(".hushlogin", F_OK) == 0) return;
    size_t n = lastlog ? strlen(lastlog) : 0;
    if (n > 0 && write(fd, lastlog, n) != (ssize_t)n) return;
    if (motd) copy_to("/etc/motd", fd);
}
