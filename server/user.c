/*
 * user: getpwnam_r and getgrouplist, with bounded buffers.
 */
#include "user.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int wd_user_lookup(const char *name, wd_user *out)
{
    struct passwd pw, *res = NULL;
    char buf[16384];
    memset(out, 0, sizeof(*out));
    if (strlen(name) >= sizeof(out->name)) return -1;
    if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
        return -1;
    snprintf(out->name, sizeof(out->name), "%s", pw.pw_name);
    out->uid = pw.pw_uid;
    out->gid = pw.pw_gid;
    snprintf(out->home, sizeof(out->home), "%s", pw.pw_dir);
    snprintf(out->shell, sizeof(out->shell), "%s",
             pw.pw_shell && *pw.pw_shell ? pw.pw_shell : "/bin/sh");
    int n = WD_MAX_GROUPS;
    if (getgrouplist(pw.pw_name, pw.pw_gid, out->groups, &n) < 0)
        n = WD_MAX_GROUPS; /* truncated: keep the first ones */
    out->ngroups = n;
    return 0;
}

int wd_user_may_login(const wd_user *u)
{
    return geteuid() == 0 || u->uid == geteuid();
}
