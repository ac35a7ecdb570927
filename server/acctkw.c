/*
 * acctkw: PrintMotd, PrintLastLog, UsePAM, SyslogFacility and LogLevel,
 * sshd's spellings and defaults (yes, yes, no, AUTH, INFO); the first
 * value given counts.
 */
#include "acctkw.h"

#include <string.h>
#include <syslog.h>
#include <strings.h>

#include "keywords.h"
#include "log.h"

static const struct {
    const char *name;
    int value;
} facilities[] = {
    {"DAEMON", LOG_DAEMON}, {"USER", LOG_USER},     {"AUTH", LOG_AUTH},
    {"AUTHPRIV", LOG_AUTHPRIV}, {"LOCAL0", LOG_LOCAL0}, {"LOCAL1", LOG_LOCAL1},
    {"LOCAL2", LOG_LOCAL2}, {"LOCAL3", LOG_LOCAL3}, {"LOCAL4", LOG_LOCAL4},
    {"LOCAL5", LOG_LOCAL5}, {"LOCAL6", LOG_LOCAL6}, {"LOCAL7", LOG_LOCAL7},
};

static const struct {
    const char *name;
    int value;
} levels[] = {
    {"QUIET", WD_LOGLEVEL_QUIET},   {"FATAL", WD_LOGLEVEL_FATAL},
    {"ERROR", WD_LOGLEVEL_ERROR},   {"INFO", WD_LOGLEVEL_INFO},
    {"VERBOSE", WD_LOGLEVEL_VERBOSE}, {"DEBUG", WD_LOGLEVEL_DEBUG1},
    {"DEBUG1", WD_LOGLEVEL_DEBUG1}, {"DEBUG2", WD_LOGLEVEL_DEBUG2},
    {"DEBUG3", WD_LOGLEVEL_DEBUG3},
};

void wd_keywords_accounts_defaults(struct wd_keywords *kw)
{
    kw->syslog_facility = LOG_AUTH;
    kw->log_level = WD_LOGLEVEL_INFO;
    kw->print_motd = 1;
    kw->print_lastlog = 1;
}

/* A name from |names| (case-insensitive, as sshd) into *value once. */
#define TAKE_NAMED(names, arg, dst, set)                                   \
    do {                                                                     \
        int found_ = -1;                                                     \
        for (size_t i_ = 0; i_ < sizeof(names) / sizeof(*names); i_++)      \
            if (strcasecmp(arg, names[i_].name) == 0) found_ = (int)i_;      \
        if (found_ < 0) {                                                    \
            snprintf(err, errlen, "unsupported %s \"%s\"", key, arg);       \
            return WD_KW_ERROR;                                              \
        }                                                                    \
        if (!(set)) {                                                        \
            (dst) = names[found_].value;                                     \
            (set) = 1;                                                       \
        }                                                                    \
        return WD_KW_DONE;                                                   \
    } while (0)

int wd_keywords_accounts(struct wd_keywords *kw, const char *key, int ac,
                         char **av, char *err, size_t errlen)
{
    if (strcasecmp(key, "PrintMotd") != 0 &&
        strcasecmp(key, "PrintLastLog") != 0 &&
        strcasecmp(key, "UsePAM") != 0 &&
        strcasecmp(key, "SyslogFacility") != 0 &&
        strcasecmp(key, "LogLevel") != 0)
        return WD_KW_NOT_MINE;
    if (ac > 1) {
        snprintf(err, errlen, "keyword %s extra arguments at end of line",
                 key);
        return WD_KW_ERROR;
    }
    if (strcasecmp(key, "SyslogFacility") == 0)
        TAKE_NAMED(facilities, av[0], kw->syslog_facility,
                   kw->syslog_facility_set);
    if (strcasecmp(key, "LogLevel") == 0)
        TAKE_NAMED(levels, av[0], kw->log_level, kw->log_level_set);
    /* sshd's flag values, compared as sshd does (case-insensitively). */
    int v = wd_kw_yes_no(av[0], err, errlen);
    if (v < 0) return WD_KW_ERROR;
    if (strcasecmp(key, "PrintMotd") == 0) {
        if (!kw->print_motd_set) {
            kw->print_motd = v;
            kw->print_motd_set = 1;
        }
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "UsePAM") == 0) {
        if (!kw->use_pam_set) {
            kw->use_pam = v;
            kw->use_pam_set = 1;
        }
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "PrintLastLog") == 0) {
        if (!kw->print_lastlog_set) {
            kw->print_lastlog = v;
            kw->print_lastlog_set = 1;
        }
        return WD_KW_DONE;
    }
    return WD_KW_DONE;
}

void wd_keywords_accounts_dump(const struct wd_keywords *kw, FILE *out)
{
    fprintf(out, "printmotd %s\n", kw->print_motd ? "yes" : "no");
    fprintf(out, "printlastlog %s\n", kw->print_lastlog ? "yes" : "no");
    fprintf(out, "usepam %s\n", kw->use_pam ? "yes" : "no");
    for (size_t i = 0; i < sizeof(facilities) / sizeof(*facilities); i++)
        if (facilities[i].value == kw->syslog_facility)
            fprintf(out, "syslogfacility %s\n", facilities[i].name);
    for (size_t i = 0; i < sizeof(levels) / sizeof(*levels); i++)
        if (levels[i].value == kw->log_level) {
            fprintf(out, "loglevel %s\n", levels[i].name);
            break;
        }
}
