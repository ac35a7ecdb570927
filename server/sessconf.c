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


/* SetEnv: NAME=value words, adding up over lines. */
static int take_set_env(wd_keywords *kw, const char *key, int ac, char **av,
                        char *err, size_t errlen)
{
    for (int i = 0; i < ac; i++) {
        if (!strchr(av[i], '=') || av[i][0] == '=') {
            snprintf(err, errlen, "keyword %s: invalid environment "
                     "\"%.64s\"", key, av[i]);
            return WD_KW_ERROR;
        }
        if (kw->n_set_env >= COUNT(kw->set_env)) {
            snprintf(err, errlen, "keyword %s: too many values", key);
            return WD_KW_ERROR;
        }
        if (put(kw->set_env[kw->n_set_env], sizeof(kw->set_env[0]), av[i],
                key, err, errlen) < 0)
            return WD_KW_ERROR;
        kw->n_set_env++;
    }
    return WD_KW_DONE;
}

int wd_sessconf_keyword(wd_keywords *kw, const char *key, int ac, char **av,
                        char *err, size_t errlen)
{
    if (strcasecmp(key, "ForceCommand") == 0)
        return take_force_command(kw, key, ac, av, err, errlen);
    if (strcasecmp(key, "SetEnv") == 0)
        return take_set_env(kw, key, ac, av, err, errlen);
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

/* MaxSessions is the engine's keyword (engineconf.c): one value for
 * the library's cap and this check. */
int wd_sessconf_max_sessions(const wd_keywords *kw)
{
    return kw->engine.max_sessions;
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
    if (kw->n_set_env) {
        fprintf(out, "setenv");
        for (int i = 0; i < kw->n_set_env; i++)
            fprintf(out, " %s", kw->set_env[i]);
        fprintf(out, "\n");
    }
}
