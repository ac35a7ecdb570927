/*
 * access: the user and group lists, in sshd's order: DenyUsers, then
 * AllowUsers, then (only when a group list is set) DenyGroups, then
 * AllowGroups. A user entry may be USER@HOST (match.c); group entries
 * are single globs matched against every group the user is in.
 */
#include "access.h"

#include <grp.h>
#include <stdio.h>
#include <string.h>

#include "match.h"
#include "server.h"

static void refused(const wd_user *u, const char *host, const char *why)
{
    wd_log(WHELK_LOG_INFO, "User %.100s from %.100s not allowed because %s",
           u->name, host, why);
}

/* Does any of |u|'s groups match an entry of |l|? */
static int groups_match(const wd_user *u, const wd_kw_list *l)
{
    for (int i = 0; i < u->ngroups; i++) {
        struct group gr, *res = NULL;
        char buf[16384];
        if (getgrgid_r(u->groups[i], &gr, buf, sizeof(buf), &res) != 0 ||
            !res)
            continue;
        for (const char *e = wd_kw_list_next(l, NULL); e;
             e = wd_kw_list_next(l, e))
            if (wd_match_pattern(gr.gr_name, e)) return 1;
    }
    return 0;
}

int wd_access_allowed(const wd_keywords *kw, const wd_user *u,
                      const char *host, const char *addr)
{
    for (const char *e = wd_kw_list_next(&kw->deny_users, NULL); e;
         e = wd_kw_list_next(&kw->deny_users, e)) {
        /* A malformed entry was refused when the keyword was read; treat
         * one here as a match, never as a way in. */
        if (wd_match_user(u->name, host, addr, e) != 0) {
            refused(u, host, "listed in DenyUsers");
            return 0;
        }
    }
    if (kw->allow_users.n) {
        int found = 0;
        for (const char *e = wd_kw_list_next(&kw->allow_users, NULL);
             e && !found; e = wd_kw_list_next(&kw->allow_users, e))
            found = wd_match_user(u->name, host, addr, e) == 1;
        if (!found) {
            refused(u, host, "not listed in AllowUsers");
            return 0;
        }
    }
    if (kw->deny_groups.n || kw->allow_groups.n) {
        if (u->ngroups == 0) {
            refused(u, host, "not in any group");
            return 0;
        }
        if (kw->deny_groups.n && groups_match(u, &kw->deny_groups)) {
            refused(u, host, "a group is listed in DenyGroups");
            return 0;
        }
        if (kw->allow_groups.n && !groups_match(u, &kw->allow_groups)) {
            refused(u, host, "none of user's groups are listed in "
                    "AllowGroups");
            return 0;
        }
    }
    return 1;
}
