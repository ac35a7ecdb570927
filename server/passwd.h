/*
 * passwd: the -P password file, "user:crypt-hash" lines.
 */
#ifndef WHELKD_PASSWD_H
#define WHELKD_PASSWD_H

#include <stddef.h>

/* 1 when |password| matches |user|'s hash in |path|, else 0. An unknown
 * user costs one crypt_r too, so timing does not reveal who exists. */
int wd_passwd_check(const char *path, const char *user, const char *password,
                    size_t len);

#endif
