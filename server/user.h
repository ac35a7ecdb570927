/*
 * user: looking up a login's identity (the "look up a user" seam).
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
} wd_user;

/* 0 and |out| filled, or -1 when there is no such user. */
int wd_user_lookup(const char *name, wd_user *out);
/* As root any existing user may log in; otherwise only our own. */
int wd_user_may_login(const wd_user *u);

#endif
