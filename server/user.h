/*
 * user: looking up a login's identity (the "look up a user" seam) and
 * sshd's account checks.
 */
#ifndef WHELKD_USER_H
#define WHELKD_USER_H

#include <sys/types.h>

#define WD_MAX_GROUPS 64

typedef struct wd_user {
    char name[64];
    uid_t uid;
    gid_t gid;
    char home[256];
    char shell[256];
    gid_t groups[WD_MAX_GROUPS];
    int ngroups;
    int locked;         /* "!" in the passwd entry's password field */
} wd_user;

/* 0 and |out| filled, or -1 when there is no such user. */
int wd_user_lookup(const char *name, wd_user *out);
/* As root any existing user may log in; otherwise only our own. */
int wd_user_may_login(const wd_user *u);

enum { WD_USER_NONE, WD_USER_OK, WD_USER_REFUSED };
/* Looks |name| up (it may block: NSS) and applies sshd's allowed_user()
 * checks: without PAM (|use_pam| 0) locked ("!" in shadow) and expired
 * accounts are refused; with PAM those are pam_acct_mgmt's to judge (a
 * locked password then still lets a key in, as in sshd). A missing or
 * non-executable shell is refused either way, after sshd's log line.
 * Returns WD_USER_NONE (no such user, or not ours to serve),
 * WD_USER_OK or WD_USER_REFUSED. */
int wd_user_check(const char *name, wd_user *out, int use_pam);
/* sshd's auth_shadow_pwexpired() (UsePAM no, after a password login):
 * 1 when /etc/shadow says the password must be changed now (last
 * change 0: "chage -d 0"; or older than its maximum age), logged in
 * sshd's words; the session then runs only passwd (spawn.h pwchange).
 * It may block (NSS): call it on the thread pool. */
int wd_user_password_expired(const char *name);
/* sshd's do_nologin(): for anyone but root, when /etc/nologin exists,
 * logs "User u not allowed because /etc/nologin exists" and returns 1;
 * the session then shows the file (wd_nologin_print) and exits 254. */
int wd_nologin_applies(const wd_user *u);
/* Copies /etc/nologin to |fd|; async-signal-safe (for a forked child). */
void wd_nologin_print(int fd);

/* sshd's display_loginmsg() and do_motd(): |lastlog| (the "Last login"
 * line, or NULL) and, when |motd|, /etc/motd to |fd|, unless
 * ./.hushlogin exists (call in the home directory, as the user);
 * async-signal-safe. */
void wd_motd_print(int fd, const char *lastlog, int motd);

#endif
