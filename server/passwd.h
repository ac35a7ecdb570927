/*
 * passwd: the -P password file, "user:crypt-hash" lines.
 */
#ifndef WHELKD_PASSWD_H
#define WHELKD_PASSWD_H

#include <stddef.h>

/* Makes the dummy hash unknown users are checked against: the scheme
 * and cost most entries of |path| use (libcrypt's default when it has
 * none). Call once at start-up, before any check runs. */
int wd_passwd_init(const char *path);
/* The dummy hash (tests). */
const char *wd_passwd_dummy(void);
/* 1 when |password| matches |user|'s hash in |path|, else 0. An unknown
 * user costs one crypt_r too, so timing does not reveal who exists. */
int wd_passwd_check(const char *path, const char *user, const char *password,
                    size_t len);

/* 1 when |password| matches |user|'s system password (getspnam_r, else
 * the passwd entry's field; it may block: NSS), else 0. Unknown users,
 * locked ("!") and empty or "*" fields cost one crypt_r of the dummy
 * hash and fail. Call wd_passwd_init("/etc/shadow") first. */
int wd_passwd_check_system(const char *user, const char *password);

#endif
