/*
 * usersig: see usersig.h.
 *
 * A signal from root reaches every process in the group; one from the
 * user only those the user may signal (kill(2): the sender's real or
 * effective uid must equal the target's real or saved uid). So the uid
 * is changed around killpg, the real one too (a real uid of 0 would
 * still match root's processes), with the saved uid left at 0 so that
 * we can change back.
 *
 * Only the calling thread's credentials change. glibc's setresuid() and
 * seteuid() apply a change to every thread of the process (the setxid
 * broadcast), and libuv's thread pool may be hashing a password or
 * reading a file meanwhile; it must never run, even for a moment, as the
 * logged-in user. The raw system call changes the calling thread alone,
 * since Linux keeps credentials per thread. Group ids play no part in
 * kill's check and are left alone.
 */
#include "usersig.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server.h"

int wd_killpg_as(pid_t pgrp, int sig, uid_t uid)
{
    uid_t r, e, s;
    /* Not root: we are the user already (the only one who may log in). */
    if (geteuid() != 0) return killpg(pgrp, sig);
    if (getresuid(&r, &e, &s) != 0) return -1;
    if (syscall(SYS_setresuid, uid, uid, (uid_t)-1) != 0) return -1;
    int rc = killpg(pgrp, sig);
    int err = errno;
    if (syscall(SYS_setresuid, r, e, s) != 0) {
        /* This thread would go on as the user: stop the worker instead. */
        wd_log(WHELK_LOG_ERROR, "cannot restore root after signalling as "
               "uid %u; exiting", (unsigned)uid);
        abort();
    }
    errno = err;
    return rc;
}
