/*
 * chrootdir: ChrootDirectory (issue 15). The path with its tokens
 * expanded (%h the user's home, %u the user name, %% a percent), and
 * sshd's checks on it: absolute, and every component from "/" down owned
 * by root, not writable by group or others, and a directory. The
 * chroot(2) itself happens in the session's child (spawn.c), as root,
 * before the switch to the user.
 */
#ifndef WHELKD_CHROOTDIR_H
#define WHELKD_CHROOTDIR_H

#include <stddef.h>

#include "user.h"

/* Expands |spec| for |u| into |out|. 0, or -1 when it does not fit or a
 * token is unknown. */
int wd_chroot_expand(const char *spec, const wd_user *u, char *out,
                     size_t outlen);

/* sshd's safely_chroot checks on |path|: 0, or -1 with the reason in
 * sshd's words in |why| ("bad ownership or modes for chroot directory
 * component \"/tmp/\"", ...). */
int wd_chroot_check(const char *path, char *why, size_t whylen);

#endif
