/*
 * policy: the login-policy keywords of sshd_config (issue 15): who may
 * log in (AllowUsers, DenyUsers, AllowGroups, DenyGroups), by which
 * methods (PubkeyAuthentication, PasswordAuthentication,
 * KbdInteractiveAuthentication, AuthenticationMethods,
 * PermitEmptyPasswords), how many tries and how long (MaxAuthTries,
 * LoginGraceTime), and where keys come from (AuthorizedKeysFile,
 * AuthorizedKeysCommand, AuthorizedKeysCommandUser, StrictModes).
 * One keyword handler and one -T dumper (keywords.c's lists); the
 * values live in wd_keywords' "configuration (issue 15)" block.
 */
#ifndef WHELKD_POLICY_H
#define WHELKD_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "whelk/whelk.h"

struct wd_keywords;

/* A list of words (NUL-separated in |text|), as AllowUsers collects
 * them over every line that gives the keyword. */
#define WD_KW_LIST_MAX 256
typedef struct wd_kw_list {
    char text[4096];
    size_t used;
    unsigned n;
} wd_kw_list;
/* The entry after |prev| (NULL: the first), or NULL after the last. */
const char *wd_kw_list_next(const wd_kw_list *l, const char *prev);

/* sshd's convtime: "90", "2m", "1h30m" (s m h d w, any case): seconds,
 * or -1. */
long wd_parse_time(const char *s);

void wd_policy_defaults(struct wd_keywords *kw);
int wd_policy_keyword(struct wd_keywords *kw, const char *key, int ac,
                      char **av, char *err, size_t errlen);
void wd_policy_dump(const struct wd_keywords *kw, FILE *out);

/* -a FILE: AuthorizedKeysFile FILE (unless already given), read with
 * whelkd's own rights and no StrictModes walk: the administrator's
 * file, for every user. 0, or -1 for a path too long. */
int wd_policy_daemon_keys_file(struct wd_keywords *kw, const char *path);

/* The WHELK_AUTH_METHOD_* bits the keywords enable; the password
 * methods only when whelkd has a password source (|have_passwords|). */
uint64_t wd_policy_methods(const struct wd_keywords *kw, int have_passwords);
/* The keywords the engine enforces (methods, AuthenticationMethods,
 * MaxAuthTries, LoginGraceTime), for every connection or for one (its
 * Match-resolved values). 0, or -1 after a message on stderr. */
int wd_policy_apply_config(whelk_config *cfg, const struct wd_keywords *kw,
                           int have_passwords);
void wd_policy_apply_conn(whelk_conn *conn, const struct wd_keywords *kw,
                          int have_passwords);

#endif
