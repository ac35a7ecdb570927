/*
 * access: sshd's AllowUsers, DenyUsers, AllowGroups and DenyGroups
 * checks (the end of its allowed_user()), with its log lines.
 */
#ifndef WHELKD_ACCESS_H
#define WHELKD_ACCESS_H

#include "keywords.h"
#include "user.h"

/* May |u|, from the client |host| (its name, or the address when names
 * are not looked up, as with sshd's UseDNS no) at |addr|, log in? 1, or
 * 0 after sshd's "User U from HOST not allowed because ..." line. Looks
 * group names up (NSS: may block; call it off the event loop). */
int wd_access_allowed(const wd_keywords *kw, const wd_user *u,
                      const char *host, const char *addr);

#endif
