/*
 * usersig: sending a signal to a process group with a user's
 * credentials, as sshd does for a client's "signal" request.
 */
#ifndef WHELKD_USERSIG_H
#define WHELKD_USERSIG_H

#include <sys/types.h>

/* killpg(|pgrp|, |sig|) as if sent by |uid|: the kernel's own permission
 * check then keeps root processes in the group (sudo's, su's) out of
 * reach. 0, or -1 with errno. */
int wd_killpg_as(pid_t pgrp, int sig, uid_t uid);

#endif
