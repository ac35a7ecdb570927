/*
 * acctkw: the accounts and logging keywords (issue 17) behind the
 * keywords.h seam.
 */
#ifndef WHELKD_ACCTKW_H
#define WHELKD_ACCTKW_H

#include <stddef.h>
#include <stdio.h>

struct wd_keywords;

/* PrintMotd, PrintLastLog, UsePAM, SyslogFacility, LogLevel (a
 * wd_keyword_fn). */
int wd_keywords_accounts(struct wd_keywords *kw, const char *key, int ac,
                         char **av, char *err, size_t errlen);
/* sshd's defaults for SyslogFacility and LogLevel. */
void wd_keywords_accounts_defaults(struct wd_keywords *kw);
/* Their `whelkd -T` lines (a wd_keyword_dump_fn). */
void wd_keywords_accounts_dump(const struct wd_keywords *kw, FILE *out);

#endif
