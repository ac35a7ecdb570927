/*
 * keywords: the sshd_config keywords whelkd takes (so far only with -o;
 * the configuration-file issue adds the file and the other keywords):
 * PermitRootLogin, PermitUserEnvironment, KexAlgorithms, Ciphers, MACs.
 * Each area keeps its keywords in its own handler (wd_keyword_fn) and its
 * values in its own block of wd_keywords, so areas grow independently.
 */
#ifndef WHELKD_KEYWORDS_H
#define WHELKD_KEYWORDS_H

#include <stddef.h>
#include <stdio.h>

/* PermitRootLogin, with sshd's meanings. */
enum wd_root_mode {
    WD_ROOT_NO,
    WD_ROOT_PROHIBIT_PASSWORD,   /* the default: root by key only */
    WD_ROOT_FORCED_COMMANDS_ONLY,
    WD_ROOT_YES
};

typedef struct wd_keywords {
    int permit_root_login;       /* enum wd_root_mode */
    int root_set;
    /* PermitUserEnvironment: 0 = no (default); 1 = yes, every name when
     * the list is empty, else only names matching the pattern list. */
    int permit_user_env;
    char permit_user_env_list[1024];
    int env_set;
    /* KexAlgorithms, Ciphers, MACs: the lists offered, "" for the
     * default (checked by whelk_config_set_* when applied). */
    char kex[1024], ciphers[1024], macs[1024];

    /* configuration (issue 15) */

    /* forwarding (issue 16) */

    /* accounts and logging (issue 17) */
    /* PasswordAuthentication (default yes): password and
     * keyboard-interactive against the -P file, or without one the
     * system's accounts (/etc/shadow through libcrypt). */
    int password_auth;
    int password_auth_set;
    /* SyslogFacility (LOG_AUTH by default) and LogLevel (a WD_LOGLEVEL_*,
     * INFO by default), for log.c; 0 in *_set until given. */
    int syslog_facility, syslog_facility_set;
    int log_level, log_level_set;
    /* PrintMotd (default yes). */
    int print_motd, print_motd_set;
    /* PrintLastLog (default yes). */
    int print_lastlog, print_lastlog_set;

    /* lifecycle (issue 17) */
} wd_keywords;

/* A keyword handler: one area's keywords. Called with the keyword (as
 * written; compare case-insensitively) and its |ac| >= 1 arguments,
 * already split and unquoted. Returns WD_KW_NOT_MINE for a keyword it
 * does not know, WD_KW_DONE when taken (or ignored: the first value
 * counts, as in sshd), WD_KW_ERROR with a message in |err|. */
enum { WD_KW_ERROR = -1, WD_KW_NOT_MINE = 0, WD_KW_DONE = 1 };
typedef int (*wd_keyword_fn)(struct wd_keywords *kw, const char *key,
                             int ac, char **av, char *err, size_t errlen);

void wd_keywords_defaults(wd_keywords *kw);
/* One "Keyword value" / "Keyword=value" line. Returns 0, or -1 with a
 * message in |err| (naming the keyword). */
int wd_keyword_line(wd_keywords *kw, const char *line, char *err,
                    size_t errlen);
/* The name sshd -T prints for a PermitRootLogin mode. */
const char *wd_root_mode_name(int mode);

/* An area's part of `whelkd -T`: its keywords' values as sshd -T
 * prints them, one lowercase "keyword value" line each. */
typedef void (*wd_keyword_dump_fn)(const struct wd_keywords *kw, FILE *out);
void wd_keywords_dump(const wd_keywords *kw, FILE *out);

#endif
