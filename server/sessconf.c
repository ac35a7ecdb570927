/*
 * sessconf: ForceCommand, PermitTTY, Subsystem, AcceptEnv, SetEnv and
 * Banner (sessconf.h).
 *
 * ForceCommand takes the rest of the line as the command, as sshd does;
 * "none" means no forced command. With -o the words arrive split, so
 * they are joined again with single spaces. PermitTTY is yes (the
 * default) or no.
 */
#include "sessconf.h"

#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int take_force_command(wd_keywords *kw, const char *key, int ac,
                              char **av, char *err, size_t errlen)
{
    if (kw->force_command_set) return WD_KW_DONE; /* first value counts */
    char cmd[sizeof(kw->force_command)];
    size_t o = 0;
    for (int i = 0; i < ac; i++) {
        size_t n = strlen(av[i]);
        if (o + n + 2 > sizeof(cmd)) {
            snprintf(err, errlen, "keyword %s: command too long", key);
            return WD_KW_ERROR;
        }
        if (i) cmd[o++] = ' ';
        memcpy(cmd + o, av[i], n);
        o += n;
    }
    cmd[o] = 0;
    kw->force_command_set = 1;
    if (strcasecmp(cmd, "none") == 0)
        kw->force_command[0] = 0;
    else
        memcpy(kw->force_command, cmd, o + 1);
    return WD_KW_DONE;
}

/* Copies |arg| into a fixed slot, or fails naming |key|. */
static int put(char *slot, size_t size, const char *arg, const char *key,
               char *err, size_t errlen)
{
    if (strlen(arg) >= size) {
        snprintf(err, errlen, "keyword %s: \"%.64s\" too long", key, arg);
        return WD_KW_ERROR;
    }
    memcpy(slot, arg, strlen(arg) + 1);
    return WD_KW_DONE;
}

#define COUNT(a) ((int)(sizeof(a) / sizeof(*(a))))

static int take_subsystem(wd_keywords *kw, const char *key, int ac,
                          char **av, char *err, size_t errlen)
{
    if (ac < 2) {
        snprintf(err, errlen, "keyword %s missing argument", key);
        return WD_KW_ERROR;
    }
    for (int i = 0; i < kw->n_subsys; i++)
        if (strcmp(kw->subsys_name[i], av[0]) == 0) {
            /* sshd: an error, but a repeated -o line is not ours to
             * reject; the first definition counts. */
            return WD_KW_DONE;
        }
    if (kw->n_subsys >= COUNT(kw->subsys_name)) {
        snprintf(err, errlen, "too many subsystems defined");
        return WD_KW_ERROR;
    }
    /* The command is the rest of the line. */
    char cmd[sizeof(kw->subsys_cmd[0])];
    size_t o = 0;
    for (int i = 1; i < ac; i++) {
        size_t n = strlen(av[i]);
        if (o + n + 2 > sizeof(cmd)) {
            snprintf(err, errlen, "keyword %s: command too long", key);
            return WD_KW_ERROR;
        }
        if (i > 1) cmd[o++] = ' ';
        memcpy(cmd + o, av[i], n);
        o += n;
    }
    cmd[o] = 0;
    int n = kw->n_subsys;
    if (put(kw->subsys_name[n], sizeof(kw->subsys_name[n]), av[0], key, err,
            errlen) < 0)
        return WD_KW_ERROR;
    memcpy(kw->subsys_cmd[n], cmd, o + 1);
    kw->n_subsys++;
    return WD_KW_DONE;
}

static int take_env_list(wd_keywords *kw, const char *key, int ac, char **av,
                         int set, char *err, size_t errlen)
{
    for (int i = 0; i < ac; i++) {
        if (set && (!strchr(av[i], '=') || av[i][0] == '=')) {
            snprintf(err, errlen, "keyword %s: invalid environment "
                     "\"%.64s\"", key, av[i]);
            return WD_KW_ERROR;
        }
        if (!set && strchr(av[i], '=')) {
            snprintf(err, errlen, "keyword %s: invalid environment name "
                     "\"%.64s\"", key, av[i]);
            return WD_KW_ERROR;
        }
        int *n = set ? &kw->n_set_env : &kw->n_accept_env;
        if (*n >= (set ? COUNT(kw->set_env) : COUNT(kw->accept_env))) {
            snprintf(err, errlen, "keyword %s: too many values", key);
            return WD_KW_ERROR;
        }
        char *slot = set ? kw->set_env[*n] : kw->accept_env[*n];
        size_t size = set ? sizeof(kw->set_env[0]) : sizeof(kw->accept_env[0]);
        if (put(slot, size, av[i], key, err, errlen) < 0) return WD_KW_ERROR;
        (*n)++;
    }
    return WD_KW_DONE;
}

/* sshd's convtime: a number of seconds, or numbers each with a unit
 * s, m, h, d or w ("1h30m"). -1 when malformed or beyond a year's
 * ten times over. */
static long parse_time(const char *s)
{
    long total = 0;
    if (!*s) return -1;
    while (*s) {
        if (*s < '0' || *s > '9') return -1;
        long n = 0;
        while (*s >= '0' && *s <= '9') {
            n = n * 10 + (*s++ - '0');
            if (n > 315360000L) return -1;
        }
        long mult = 1;
        switch (*s) {
        case 0: break;
        case 's': case 'S': s++; break;
        case 'm': case 'M': mult = 60; s++; break;
        case 'h': case 'H': mult = 3600; s++; break;
        case 'd': case 'D': mult = 86400; s++; break;
        case 'w': case 'W': mult = 604800; s++; break;
        default: return -1;
        }
        total += n * mult;
        if (total > 315360000L) return -1;
    }
    return total;
}

static int take_time(long *slot, const char *key, int ac, char **av,
                     int none_ok, int is_count, char *err, size_t errlen)
{
    long v;
    if (none_ok && strcasecmp(av[0], "none") == 0) {
        v = 0;
    } else if (is_count) {
        char *end;
        v = strtol(av[0], &end, 10);
        if (*end || end == av[0] || v < 0 || v > 1024) v = -1;
    } else {
        v = parse_time(av[0]);
    }
    if (ac > 1 || v < 0) {
        snprintf(err, errlen, "keyword %s: invalid value \"%.64s\"", key,
                 av[0]);
        return WD_KW_ERROR;
    }
    if (*slot < 0) *slot = v;
    return WD_KW_DONE;
}

static long or_default(long v, long d)
{
    return v < 0 ? d : v;
}

int wd_sessconf_keyword(wd_keywords *kw, const char *key, int ac, char **av,
                        char *err, size_t errlen)
{
    if (strcasecmp(key, "ForceCommand") == 0)
        return take_force_command(kw, key, ac, av, err, errlen);
    if (strcasecmp(key, "Subsystem") == 0)
        return take_subsystem(kw, key, ac, av, err, errlen);
    if (strcasecmp(key, "AcceptEnv") == 0)
        return take_env_list(kw, key, ac, av, 0, err, errlen);
    if (strcasecmp(key, "SetEnv") == 0)
        return take_env_list(kw, key, ac, av, 1, err, errlen);
    if (strcasecmp(key, "Banner") == 0) {
        if (ac > 1) {
            snprintf(err, errlen, "keyword %s extra arguments at end of line",
                     key);
            return WD_KW_ERROR;
        }
        if (kw->banner[0]) return WD_KW_DONE;
        return put(kw->banner, sizeof(kw->banner), av[0], key, err, errlen);
    }
    if (strcasecmp(key, "ChrootDirectory") == 0) {
        if (ac > 1) {
            snprintf(err, errlen, "keyword %s extra arguments at end of line",
                     key);
            return WD_KW_ERROR;
        }
        if (kw->chroot_dir[0]) return WD_KW_DONE;
        return put(kw->chroot_dir, sizeof(kw->chroot_dir), av[0], key, err,
                   errlen);
    }
    if (strcasecmp(key, "PermitTunnel") == 0) {
        /* tun forwarding is not built: only "no" is a policy whelkd
         * keeps. Anything else would be a silently weaker promise. */
        if (ac > 1 || strcasecmp(av[0], "no") != 0) {
            snprintf(err, errlen, "keyword %s: \"%.64s\" is not supported "
                     "(tun forwarding is not implemented; only \"no\")",
                     key, av[0]);
            return WD_KW_ERROR;
        }
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "ClientAliveInterval") == 0)
        return take_time(&kw->client_alive_s, key, ac, av, 0, 0, err, errlen);
    if (strcasecmp(key, "ClientAliveCountMax") == 0)
        return take_time(&kw->client_alive_count, key, ac, av, 0, 1, err,
                         errlen);
    if (strcasecmp(key, "UnusedConnectionTimeout") == 0)
        return take_time(&kw->unused_timeout_s, key, ac, av, 1, 0, err,
                         errlen);
    if (strcasecmp(key, "MaxSessions") == 0) {
        char *end;
        long v = strtol(av[0], &end, 10);
        if (ac > 1 || *end || end == av[0] || v < 0 || v > 1024) {
            snprintf(err, errlen, "keyword %s: bad number \"%.64s\"", key,
                     av[0]);
            return WD_KW_ERROR;
        }
        if (kw->max_sessions < 0) kw->max_sessions = (int)v;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "PermitTTY") == 0) {
        if (ac > 1) {
            snprintf(err, errlen, "keyword %s extra arguments at end of line",
                     key);
            return WD_KW_ERROR;
        }
        int v;
        if (strcasecmp(av[0], "yes") == 0)
            v = 1;
        else if (strcasecmp(av[0], "no") == 0)
            v = 0;
        else {
            snprintf(err, errlen, "unsupported option \"%s\".", av[0]);
            return WD_KW_ERROR;
        }
        if (!kw->permit_tty_set) {
            kw->permit_tty_set = 1;
            kw->no_tty = !v;
        }
        return WD_KW_DONE;
    }
    return WD_KW_NOT_MINE;
}

void wd_sessconf_apply(wd_options *o)
{
    wd_keywords *kw = &o->kw;
    if (o->n_subsys == 0)
        for (int i = 0; i < kw->n_subsys && i < WD_MAX_SUBSYS; i++) {
            o->subsys_name[o->n_subsys] = kw->subsys_name[i];
            o->subsys_cmd[o->n_subsys++] = kw->subsys_cmd[i];
        }
    if (o->n_env == 0)
        for (int i = 0; i < kw->n_accept_env && i < WD_MAX_ENV; i++)
            o->env_pat[o->n_env++] = kw->accept_env[i];
    if (!o->banner_file && kw->banner[0] && strcmp(kw->banner, "none") != 0)
        o->banner_file = kw->banner;
}

int wd_sessconf_max_sessions(const wd_keywords *kw)
{
    return kw->max_sessions < 0 ? 10 : kw->max_sessions;
}

int wd_sessconf_config(whelk_config *cfg, const wd_keywords *kw)
{
    int rc = 0;
    rc |= whelk_config_set(cfg, WHELK_SET_CLIENT_ALIVE_MS,
                           (uint64_t)or_default(kw->client_alive_s, 0) * 1000);
    rc |= whelk_config_set(cfg, WHELK_SET_CLIENT_ALIVE_COUNT,
                           (uint64_t)or_default(kw->client_alive_count, 3));
    /* The library's own session cap would stop sessions at its default
     * 10 before a higher MaxSessions: it gets the keyword's value, and
     * session.c checks per connection (wd_conn_kw, Match-aware). */
    rc |= whelk_config_set(cfg, WHELK_SET_MAX_SESSIONS,
                           (uint64_t)wd_sessconf_max_sessions(kw));
    rc |= whelk_config_set(cfg, WHELK_SET_UNUSED_TIMEOUT_MS,
                           (uint64_t)or_default(kw->unused_timeout_s, 0) *
                               1000);
    return rc ? -1 : 0;
}

const char *wd_sessconf_force_command(const wd_keywords *kw)
{
    return kw->force_command[0] ? kw->force_command : NULL;
}

void wd_sessconf_dump(const wd_keywords *kw, FILE *out)
{
    fprintf(out, "forcecommand %s\n",
            kw->force_command[0] ? kw->force_command : "none");
    fprintf(out, "permittty %s\n", kw->no_tty ? "no" : "yes");
    fprintf(out, "chrootdirectory %s\n",
            kw->chroot_dir[0] ? kw->chroot_dir : "none");
    fprintf(out, "maxsessions %d\n", wd_sessconf_max_sessions(kw));
    fprintf(out, "permittunnel no\n");
    fprintf(out, "clientaliveinterval %ld\n",
            or_default(kw->client_alive_s, 0));
    fprintf(out, "clientalivecountmax %ld\n",
            or_default(kw->client_alive_count, 3));
    if (or_default(kw->unused_timeout_s, 0))
        fprintf(out, "unusedconnectiontimeout %ld\n", kw->unused_timeout_s);
    else
        fprintf(out, "unusedconnectiontimeout none\n");
    fprintf(out, "banner %s\n", kw->banner[0] ? kw->banner : "none");
    for (int i = 0; i < kw->n_subsys; i++)
        fprintf(out, "subsystem %s %s\n", kw->subsys_name[i],
                kw->subsys_cmd[i]);
    for (int i = 0; i < kw->n_accept_env; i++)
        fprintf(out, "acceptenv %s\n", kw->accept_env[i]);
    if (kw->n_set_env) {
        fprintf(out, "setenv");
        for (int i = 0; i < kw->n_set_env; i++)
            fprintf(out, " %s", kw->set_env[i]);
        fprintf(out, "\n");
    }
}
