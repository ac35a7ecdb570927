/*
 * sessconf: the session keywords of sshd_config (issue 15) that whelkd
 * implements so far: ForceCommand, PermitTTY, Subsystem, AcceptEnv,
 * SetEnv and Banner, with sshd's spelling,
 * values and defaults. One keyword area (keywords.h): a handler for
 * wd_keyword_line and a dumper for -T; the values live in the
 * "sessions and limits" block of wd_keywords and are read per
 * connection through wd_conn_kw().
 */
#ifndef WHELKD_SESSCONF_H
#define WHELKD_SESSCONF_H

#include <stddef.h>
#include <stdio.h>

#include "keywords.h"
#include "whelk/whelk.h"

int wd_sessconf_keyword(wd_keywords *kw, const char *key, int ac, char **av,
                        char *err, size_t errlen);
void wd_sessconf_dump(const wd_keywords *kw, FILE *out);

/* MaxSessions: sessions one connection may hold at once. */
int wd_sessconf_max_sessions(const wd_keywords *kw);

/* The administrator's forced command for |kw|, or NULL (none). */
const char *wd_sessconf_force_command(const wd_keywords *kw);

#endif
