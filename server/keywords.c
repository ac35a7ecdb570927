/*
 * keywords: sshd_config keywords given with -o, as sshd takes them:
 * "Keyword value" or "Keyword=value", keywords case-insensitive, the
 * value split like sshd's argv_split (quotes, backslash escapes, a '#'
 * word ends the line), and the first value given for a keyword is the
 * one that counts (sshd's "first obtained value" rule). Only the
 * keywords whelkd implements are accepted (keywords.h); any other is an
 * error naming it. The configuration-file issue grows this into sshd_config(5):
 * wd_keyword_line() is the one entry point a file reader would call per
 * line.
 */
#include "keywords.h"
#include "daemonconf.h"
#include "engineconf.h"
#include "agxkw.h"
#include "fwdkw.h"

#include "lifecycle.h"
#include "sessconf.h"

#include "acctkw.h"
#include "limitkw.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ARGS WD_KW_MAX_ARGS

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\f';
}

/* sshd's argv_split with comments ending the line: fills |av| with
 * pointers into |out| (same size as |s|). Returns the count, or -1 for
 * an unterminated quote, -2 for too many words. */
static int split_args(const char *s, char *out, char **av)
{
    int ac = 0;
    size_t i = 0, o = 0;
    while (s[i]) {
        if (s[i] == ' ' || s[i] == '\t') {
            i++;
            continue;
        }
        if (s[i] == '#') break;
        if (ac == MAX_ARGS) return -2;
        av[ac++] = out + o;
        char quote = 0;
        for (; s[i]; i++) {
            char ch = s[i], next = s[i + 1];
            if (ch == '\\' && (next == '\'' || next == '"' || next == '\\' ||
                               (!quote && next == ' '))) {
                out[o++] = next;
                i++;
            } else if (!quote && (ch == ' ' || ch == '\t')) {
                break;
            } else if (!quote && (ch == '"' || ch == '\'')) {
                quote = ch;
            } else if (quote && ch == quote) {
                quote = 0;
            } else {
                out[o++] = ch;
            }
        }
        out[o++] = 0;
        if (quote) return -1;
    }
    return ac;
}

static const struct {
    const char *name;
    int value;
} root_modes[] = {
    {"prohibit-password", WD_ROOT_PROHIBIT_PASSWORD},
    {"without-password", WD_ROOT_PROHIBIT_PASSWORD},
    {"forced-commands-only", WD_ROOT_FORCED_COMMANDS_ONLY},
    {"yes", WD_ROOT_YES},
    {"no", WD_ROOT_NO},
};

const char *wd_root_mode_name(int mode)
{
    for (size_t i = 0; i < sizeof(root_modes) / sizeof(*root_modes); i++)
        if (root_modes[i].value == mode) return root_modes[i].name;
    return "?";
}

/* The keywords of the issue-12 fixes: PermitRootLogin,
 * PermitUserEnvironment and the algorithm lists, one argument each. */
static int keywords_core(wd_keywords *kw, const char *key, int ac, char **av,
                         char *err, size_t errlen)
{
    if (strcasecmp(key, "PermitRootLogin") != 0 &&
        strcasecmp(key, "PermitUserEnvironment") != 0)
        return WD_KW_NOT_MINE;
    if (ac > 1) {
        snprintf(err, errlen, "keyword %s extra arguments at end of line",
                 key);
        return -1;
    }
    const char *arg = av[0];

    if (strcasecmp(key, "PermitRootLogin") == 0) {
        int mode = -1;
        for (size_t i = 0; i < sizeof(root_modes) / sizeof(*root_modes); i++)
            if (strcasecmp(arg, root_modes[i].name) == 0)
                mode = root_modes[i].value;
        if (mode < 0) {
            snprintf(err, errlen, "unsupported option \"%s\".", arg);
            return -1;
        }
        if (!kw->root_set) {
            kw->permit_root_login = mode;
            kw->root_set = 1;
        }
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "PermitUserEnvironment") == 0) {
        /* As sshd: exactly "yes" or "no" (case matters there), anything
         * else is a pattern list of the variable names allowed. */
        if (kw->env_set) return WD_KW_DONE;
        kw->env_set = 1;
        kw->permit_user_env = strcmp(arg, "no") != 0;
        kw->permit_user_env_list[0] = 0;
        if (kw->permit_user_env && strcmp(arg, "yes") != 0) {
            if (strlen(arg) >= sizeof(kw->permit_user_env_list)) {
                snprintf(err, errlen, "keyword %s: pattern list too long",
                         key);
                return -1;
            }
            snprintf(kw->permit_user_env_list,
                     sizeof(kw->permit_user_env_list), "%s", arg);
        }
        return WD_KW_DONE;
    }
    return WD_KW_NOT_MINE;
}

int wd_kw_one_arg(const char *key, int ac, char *err, size_t errlen)
{
    if (ac == 1) return 0;
    snprintf(err, errlen, "keyword %s extra arguments at end of line", key);
    return -1;
}

int wd_kw_yes_no(const char *arg, char *err, size_t errlen)
{
    if (strcasecmp(arg, "yes") == 0) return 1;
    if (strcasecmp(arg, "no") == 0) return 0;
    snprintf(err, errlen, "unsupported option \"%s\".", arg);
    return -1;
}

static void dump_core(const wd_keywords *kw, FILE *out)
{
    fprintf(out, "permitrootlogin %s\n",
            wd_root_mode_name(kw->permit_root_login));
    fprintf(out, "permituserenvironment %s\n",
            !kw->permit_user_env          ? "no"
            : kw->permit_user_env_list[0] ? kw->permit_user_env_list
                                          : "yes");
}

/* One row per area of keywords: the handler that takes them and the
 * function that prints them for -T. The first handler that knows a
 * keyword takes it; -T prints the areas in this order. */
static const struct {
    wd_keyword_fn parse;
    wd_keyword_dump_fn dump;
} areas[] = {
    {keywords_core, dump_core},
    /* configuration (issue 15) */
    {wd_policy_keyword, wd_policy_dump},
    {wd_daemon_keyword, wd_daemon_dump},
    {wd_engine_keyword, wd_engine_dump},
    {wd_sessconf_keyword, wd_sessconf_dump}, /* sessions (issue 15) */
    {wd_limits_keyword, wd_limits_dump},     /* connection limits */
    /* forwarding (issue 16) */
    {wd_keywords_fwd, wd_keywords_fwd_dump}, /* TCP (fwdkw.h) */
    {wd_keywords_agent_x11, wd_keywords_agent_x11_dump},
    /* accounts, logging and lifecycle (issue 17) */
    {wd_keywords_accounts, wd_keywords_accounts_dump},
    {wd_lifecycle_keyword, wd_lifecycle_dump},
    /* keywords whose feature is still being built: keep last */
    {wd_pending_keyword, wd_pending_dump},
};

void wd_keywords_dump(const wd_keywords *kw, FILE *out)
{
    for (size_t i = 0; i < sizeof(areas) / sizeof(*areas); i++)
        areas[i].dump(kw, out);
}

int wd_keyword_split(const char *line, wd_keyword_words *w, char *err,
                     size_t errlen)
{
    w->ac = 0;
    w->key = NULL;
    if (strlen(line) >= sizeof(w->buf)) {
        snprintf(err, errlen, "line too long");
        return -1;
    }
    snprintf(w->buf, sizeof(w->buf), "%s", line);
    char *buf = w->buf;
    size_t n = strlen(buf);
    while (n > 0 && is_space(buf[n - 1])) buf[--n] = 0;

    /* The keyword ends at white space, a quote or '='; then white space
     * and at most one '=' are skipped (sshd's strdelim). A leading '='
     * or white space gives an empty first token, which sshd skips. */
    char *p = buf;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '=') {
        p++;
        while (*p == ' ' || *p == '\t') p++;
    }
    char *key = p;
    p += strcspn(p, " \t\r\n\f\"=");
    if (p == key || *key == '#') return 0; /* empty or a comment */
    if (*p == '"') {
        snprintf(err, errlen, "quote in keyword");
        return -1;
    }
    int saw_eq = *p == '=';
    if (*p) *p++ = 0;
    p += strspn(p, " \t");
    if (!saw_eq && *p == '=') {
        p++;
        p += strspn(p, " \t");
    }
    w->key = key;
    if (*p == 0) return 0;
    int ac = split_args(p, w->words, w->av);
    if (ac < 0) {
        snprintf(err, errlen, ac == -1 ? "invalid quotes"
                                       : "keyword %s extra arguments at "
                                         "end of line", key);
        return -1;
    }
    w->ac = ac;
    return 0;
}

int wd_keyword_args(wd_keywords *kw, const char *key, int ac, char **av,
                    char *err, size_t errlen)
{
    if (ac == 0) {
        snprintf(err, errlen, "no argument after keyword \"%s\"", key);
        return -1;
    }
    if (av[0][0] == 0) {
        snprintf(err, errlen, "keyword %s missing argument", key);
        return -1;
    }
    for (size_t i = 0; i < sizeof(areas) / sizeof(*areas); i++) {
        int rc = areas[i].parse(kw, key, ac, av, err, errlen);
        if (rc != WD_KW_NOT_MINE) return rc < 0 ? -1 : 0;
    }
    snprintf(err, errlen, "Bad configuration option: %s", key);
    return -1;
}

int wd_keyword_line(wd_keywords *kw, const char *line, char *err,
                    size_t errlen)
{
    wd_keyword_words *w = malloc(sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = wd_keyword_split(line, w, err, errlen);
    if (rc == 0 && w->key)
        rc = wd_keyword_args(kw, w->key, w->ac, w->av, err, errlen);
    free(w);
    return rc;
}

void wd_keywords_defaults(wd_keywords *kw)
{
    memset(kw, 0, sizeof(*kw));
    kw->permit_root_login = WD_ROOT_PROHIBIT_PASSWORD;
    wd_policy_defaults(kw);
    wd_engine_defaults(kw);
    wd_limits_defaults(kw);
    wd_keywords_fwd_defaults(kw);
    wd_keywords_agent_x11_defaults(kw);
    wd_keywords_accounts_defaults(kw);
}
