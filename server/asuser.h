/*
 * asuser: file access with a user's rights, for the calling thread only
 * (a thread-pool job), while whelkd stays root.
 */
#ifndef WHELKD_ASUSER_H
#define WHELKD_ASUSER_H

#include <sys/types.h>

#include "user.h"

typedef struct wd_as_user {
    int switched;
    uid_t fsuid;
    gid_t fsgid;
    gid_t groups[256];
    int ngroups;
} wd_as_user;

/* From here until wd_as_user_end, this thread opens files as |u| (its
 * uid, gid and groups). A no-op when whelkd is not root or |u| is root.
 * Returns 0, or -1 when the switch failed (nothing changed then). */
int wd_as_user_begin(const wd_user *u, wd_as_user *saved);
/* Back to whelkd's own rights; aborts the process if that fails. */
void wd_as_user_end(wd_as_user *saved);

#endif
