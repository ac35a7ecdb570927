/*
 * sessconf: ForceCommand and PermitTTY (sessconf.h).
 *
 * ForceCommand takes the rest of the line as the command, as sshd does;
 * "none" means no forced command. With -o the words arrive split, so
 * they are joined again with single spaces. PermitTTY is yes (the
 * default) or no.
 */
#include "sessconf.h"

#include <stdio.h>
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

int wd_sessconf_keyword(wd_keywords *kw, const char *key, int ac, char **av,
                        char *err, size_t errlen)
{
    if (strcasecmp(key, "ForceCommand") == 0)
        return take_force_command(kw, key, ac, av, err, errlen);
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

const char *wd_sessconf_force_command(const wd_keywords *kw)
{
    return kw->force_command[0] ? kw->force_command : NULL;
}

void wd_sessconf_dump(const wd_keywords *kw, FILE *out)
{
    fprintf(out, "forcecommand %s\n",
            kw->force_command[0] ? kw->force_command : "none");
    fprintf(out, "permittty %s\n", kw->no_tty ? "no" : "yes");
}
