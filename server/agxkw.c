/*
 * agxkw: see agxkw.h. sshd's yes/no flags take "yes" and "no" (any
 * case); X11DisplayOffset is a number 0..65535-6000 (a display must
 * map to a TCP port).
 */
#include "agxkw.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    SET_AGENT = 1,
    SET_X11 = 2,
    SET_OFFSET = 4,
    SET_LOCALHOST = 8,
    SET_XAUTH = 16
};

void wd_keywords_agent_x11_defaults(wd_keywords *kw)
{
    kw->allow_agent_forwarding = 1;
    kw->x11_forwarding = 0;
    kw->x11_display_offset = 10;
    kw->x11_use_localhost = 1;
    snprintf(kw->xauth_location, sizeof(kw->xauth_location), "%s",
             "/usr/bin/xauth");
    kw->agx_set = 0;
}

static int yes_no(const char *key, const char *arg, int *out, char *err,
                  size_t errlen)
{
    if (strcasecmp(arg, "yes") == 0)
        *out = 1;
    else if (strcasecmp(arg, "no") == 0)
        *out = 0;
    else {
        snprintf(err, errlen, "unsupported option \"%s\".", arg);
        return -1;
    }
    return 0;
}

int wd_keywords_agent_x11(wd_keywords *kw, const char *key, int ac, char **av,
                          char *err, size_t errlen)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"AllowAgentForwarding", SET_AGENT},
                 {"X11Forwarding", SET_X11},
                 {"X11DisplayOffset", SET_OFFSET},
                 {"X11UseLocalhost", SET_LOCALHOST},
                 {"XAuthLocation", SET_XAUTH}};
    unsigned bit = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
        if (strcasecmp(key, names[i].name) == 0) bit = names[i].bit;
    if (!bit) return WD_KW_NOT_MINE;
    if (ac > 1) {
        snprintf(err, errlen, "keyword %s extra arguments at end of line", key);
        return WD_KW_ERROR;
    }
    const char *arg = av[0];
    int v = 0;
    switch (bit) {
    case SET_AGENT:
    case SET_X11:
    case SET_LOCALHOST:
        if (yes_no(key, arg, &v, err, errlen) != 0) return WD_KW_ERROR;
        break;
    case SET_OFFSET: {
        char *end;
        long n = strtol(arg, &end, 10);
        if (*end || end == arg || n < 0 || n > 65535 - 6000) {
            snprintf(err, errlen, "keyword %s: invalid number \"%s\"", key,
                     arg);
            return WD_KW_ERROR;
        }
        v = (int)n;
        break;
    }
    case SET_XAUTH:
        if (strlen(arg) >= sizeof(kw->xauth_location) || arg[0] != '/') {
            snprintf(err, errlen, "keyword %s: not an absolute path", key);
            return WD_KW_ERROR;
        }
        break;
    }
    if (kw->agx_set & bit) return WD_KW_DONE; /* the first value counts */
    kw->agx_set |= bit;
    switch (bit) {
    case SET_AGENT:
        kw->allow_agent_forwarding = v;
        break;
    case SET_X11:
        kw->x11_forwarding = v;
        break;
    case SET_OFFSET:
        kw->x11_display_offset = v;
        break;
    case SET_LOCALHOST:
        kw->x11_use_localhost = v;
        break;
    case SET_XAUTH:
        snprintf(kw->xauth_location, sizeof(kw->xauth_location), "%s", arg);
        break;
    }
    return WD_KW_DONE;
}

void wd_keywords_agent_x11_dump(const wd_keywords *kw, FILE *out)
{
    fprintf(out, "allowagentforwarding %s\n",
            kw->allow_agent_forwarding ? "yes" : "no");
    fprintf(out, "x11forwarding %s\n", kw->x11_forwarding ? "yes" : "no");
    fprintf(out, "x11displayoffset %d\n", kw->x11_display_offset);
    fprintf(out, "x11uselocalhost %s\n", kw->x11_use_localhost ? "yes" : "no");
    fprintf(out, "xauthlocation %s\n", kw->xauth_location);
}
