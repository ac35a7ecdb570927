/*
 * asuser: lets one thread of the thread pool open files with a user's
 * rights while the rest of the process stays root, so a user's own
 * files (~/.ssh/authorized_keys) are read as that user and a symlink
 * to a file only root may read fails as it would for them.
 *
 * Linux keeps credentials per thread; only glibc makes them look
 * process-wide. setfsuid(2) and setfsgid(2) are plain per-thread system
 * calls (glibc does not broadcast them), and they are all that path
 * look-up and open(2) check, with the supplementary groups. glibc's
 * setgroups(3), though, is broadcast to every thread (its "setxid"
 * signal), which would change the groups of the event loop and of
 * sessions being started; so the groups are set with the raw system
 * call, which changes the calling thread only. Switching the fsuid away
 * from 0 also drops the file-system capabilities (CAP_DAC_OVERRIDE and
 * the like) from this thread's effective set; switching back restores
 * them.
 */
#include "asuser.h"

#include <stdlib.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server.h"

/* The 32-bit-gid call on the architectures that have both. */
#ifdef SYS_setgroups32
#define SETGROUPS_NR SYS_setgroups32
#define GETGROUPS_NR SYS_getgroups32
#else
#define SETGROUPS_NR SYS_setgroups
#define GETGROUPS_NR SYS_getgroups
#endif

static int thread_setgroups(size_t n, const gid_t *groups)
{
    return (int)syscall(SETGROUPS_NR, n, groups);
}

int wd_as_user_begin(const wd_user *u, wd_as_user *saved)
{
    saved->switched = 0;
    if (geteuid() != 0 || u->uid == 0) return 0; /* nothing to drop */
    long n = syscall(GETGROUPS_NR, sizeof(saved->groups) / sizeof(gid_t),
                     saved->groups);
    if (n < 0) return -1;
    saved->ngroups = (int)n;
    saved->fsgid = (gid_t)setfsgid((gid_t)-1);
    saved->fsuid = (uid_t)setfsuid((uid_t)-1);
    saved->switched = 1;
    /* setfs[ug]id report the previous value, not errors: each change is
     * checked by asking again with an invalid id. */
    if (thread_setgroups((size_t)u->ngroups, u->groups) != 0) goto undo;
    setfsgid(u->gid);
    if ((gid_t)setfsgid((gid_t)-1) != u->gid) goto undo;
    setfsuid(u->uid);
    if ((uid_t)setfsuid((uid_t)-1) != u->uid) goto undo;
    return 0;
undo:
    wd_as_user_end(saved);
    return -1;
}

void wd_as_user_end(wd_as_user *saved)
{
    if (!saved->switched) return;
    saved->switched = 0;
    setfsuid(saved->fsuid);
    setfsgid(saved->fsgid);
    if ((uid_t)setfsuid((uid_t)-1) != saved->fsuid ||
        (gid_t)setfsgid((gid_t)-1) != saved->fsgid ||
        thread_setgroups((size_t)saved->ngroups, saved->groups) != 0) {
        /* A pool thread left with a user's rights would run later jobs
         * (other users' files) with them: stop rather than go on. */
        wd_log(WHELK_LOG_ERROR, "cannot restore a thread's credentials");
        abort();
    }
}
