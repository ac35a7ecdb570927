/*
 * loginrec: the login records of a pty session, as sshd writes them:
 * a USER_PROCESS entry in utmp and wtmp at the start (who, w, last),
 * and a DEAD_PROCESS entry in both at the end (last's logout time).
 */
#ifndef WHELKD_LOGINREC_H
#define WHELKD_LOGINREC_H

#include <sys/types.h>

/* |tty| is "/dev/pts/N", |host| the client's address. Failures (no
 * /run/utmp, not root) are silent, as for sshd. */
void wd_loginrec_login(const char *tty, const char *user, pid_t pid,
                       const char *host);
void wd_loginrec_logout(const char *tty, pid_t pid);

/* sshd's lastlog, only in an existing /var/log/lastlog: |msg| gets the
 * previous login's "Last login: DATE from HOST\r\n" ("" when none);
 * wd_lastlog_write then records this login (|tty|, |host|, now). */
void wd_lastlog_read(uid_t uid, char *msg, size_t len);
void wd_lastlog_write(uid_t uid, const char *tty, const char *host);
/* sshd's record_failed_login(): a failed password or keyboard-
 * interactive attempt appended to btmp (lastb), with the name as given
 * (an unknown user's too), "ssh:notty" as the line. */
void wd_loginrec_failed(const char *user, const char *host);

#endif
