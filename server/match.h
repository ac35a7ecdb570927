/*
 * match: OpenSSH's pattern language for login policy (sshd_config(5)
 * PATTERNS): '*' and '?' globs, comma-separated lists with '!' negation,
 * address lists with CIDR, and AllowUsers' USER@HOST entries.
 */
#ifndef WHELKD_MATCH_H
#define WHELKD_MATCH_H

/* One glob ('*' any run, '?' one character; nothing else is special),
 * case-sensitive: 1 on a match, else 0. */
int wd_match_pattern(const char *s, const char *pattern);
/* A comma-separated list, '!' negating an entry; |fold| compares
 * case-insensitively (host names). 1: an entry matched and none negated;
 * -1: a negated entry matched (it wins); 0: none matched. */
int wd_match_list(const char *s, const char *list, int fold);
/* An address against a list of CIDR entries ("10.0.0.0/8", "::1/128",
 * bare addresses) and globs, '!' negating: 1, -1, 0 as wd_match_list;
 * -2 for a malformed CIDR entry (host bits set past the mask). */
int wd_match_addr_list(const char *addr, const char *list);
/* A host pattern list against the client's name and address, as sshd's
 * match_host_and_ip: a negated match on either refuses. 1/0, -1 when the
 * list has a malformed CIDR entry. */
int wd_match_host_and_ip(const char *host, const char *addr,
                         const char *list);
/* An AllowUsers/DenyUsers entry: "USER" or "USER@HOST" where HOST is a
 * host pattern list matched against the client's name and address.
 * 1/0, -1 for a malformed entry. */
int wd_match_user(const char *user, const char *host, const char *addr,
                  const char *entry);
/* 0 when |entry| is a usable AllowUsers/DenyUsers entry (its host part
 * has no malformed CIDR), else -1: checked when the keyword is read. */
int wd_match_user_check(const char *entry);

#endif
