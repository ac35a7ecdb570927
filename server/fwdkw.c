/*
 * fwdkw: see fwdkw.h. Values in any case, as sshd reads them.
 */
#include "fwdkw.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    SET_ALLOW_TCP = 1,
    SET_GATEWAY = 2,
    SET_DISABLE = 4,
    SET_OPEN = 8,
    SET_LISTEN = 16,
    SET_STREAMLOCAL = 32,
    SET_MASK = 64,
    SET_UNLINK = 128
};

typedef struct {
    const char *name;
    int value;
} kw_value;

static const kw_value allow_tcp[] = {{"yes", WD_FWD_ALL},
                                     {"all", WD_FWD_ALL},
                                     {"no", 0},
                                     {"local", WD_FWD_LOCAL},
                                     {"remote", WD_FWD_REMOTE}};
static const kw_value gateway[] = {
    {"no", WD_GW_NO}, {"yes", WD_GW_YES}, {"clientspecified", WD_GW_CLIENT}};

void wd_keywords_fwd_defaults(wd_keywords *kw)
{
    kw->allow_tcp_forwarding = WD_FWD_ALL;
    kw->gateway_ports = WD_GW_NO;
    kw->disable_forwarding = 0;
    kw->allow_streamlocal = WD_FWD_ALL;
    kw->stream_local_bind_mask = 0177;
    kw->stream_local_bind_unlink = 0;
    kw->permit_open[0] = kw->permit_listen[0] = 0;
    kw->fwd_set = 0;
}

static int lookup(const kw_value *v, size_t n, const char *arg, int *out)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(arg, v[i].name) == 0) {
            *out = v[i].value;
            return 0;
        }
    return -1;
}

/* PermitOpen/PermitListen: one or more "host:port" (or "[host:]port")
 * words, or "any" / "none" alone, joined into |out|. */
static int permit_list(const char *key, int ac, char **av, char *out,
                       size_t outsz, int *set, unsigned bit, char *err,
                       size_t errlen)
{
    char v[1024];
    size_t n = 0;
    v[0] = 0;
    for (int i = 0; i < ac; i++) {
        const char *a = av[i];
        int word = strcasecmp(a, "any") == 0 || strcasecmp(a, "none") == 0;
        if ((word && ac > 1) || (!word && !strchr(a, ':') &&
                                 strcasecmp(key, "PermitListen") != 0)) {
            snprintf(err, errlen, "%s: bad permission \"%s\"", key, a);
            return WD_KW_ERROR;
        }
        int w = snprintf(v + n, sizeof(v) - n, "%s%s", i ? " " : "", a);
        if (w < 0 || (size_t)w >= sizeof(v) - n) {
            snprintf(err, errlen, "%s: too many values", key);
            return WD_KW_ERROR;
        }
        n += (size_t)w;
    }
    if (*set & (int)bit) return WD_KW_DONE; /* the first line counts */
    *set |= (int)bit;
    snprintf(out, outsz, "%s", strcasecmp(v, "any") == 0 ? "" : v);
    return WD_KW_DONE;
}

int wd_keywords_fwd(wd_keywords *kw, const char *key, int ac, char **av,
                    char *err, size_t errlen)
{
    if (strcasecmp(key, "PermitOpen") == 0 ||
        strcasecmp(key, "PermitListen") == 0) {
        int open = strcasecmp(key, "PermitOpen") == 0;
        int set = (int)kw->fwd_set;
        int rc =
            permit_list(key, ac, av, open ? kw->permit_open : kw->permit_listen,
                        sizeof(kw->permit_open), &set,
                        open ? SET_OPEN : SET_LISTEN, err, errlen);
        kw->fwd_set = (unsigned)set;
        return rc;
    }
    if (strcasecmp(key, "DisableForwarding") == 0) {
        if (ac > 1 || (strcasecmp(av[0], "yes") && strcasecmp(av[0], "no"))) {
            snprintf(err, errlen, "unsupported option \"%s\".", av[0]);
            return WD_KW_ERROR;
        }
        if (!(kw->fwd_set & SET_DISABLE))
            kw->disable_forwarding = strcasecmp(av[0], "yes") == 0;
        kw->fwd_set |= SET_DISABLE;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "StreamLocalBindMask") == 0) {
        char *end;
        long m = strtol(av[0], &end, 8);
        if (ac > 1 || *end || end == av[0] || m < 0 || m > 0777) {
            snprintf(err, errlen, "%s: bad mask \"%s\"", key, av[0]);
            return WD_KW_ERROR;
        }
        if (!(kw->fwd_set & SET_MASK)) kw->stream_local_bind_mask = (unsigned)m;
        kw->fwd_set |= SET_MASK;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "StreamLocalBindUnlink") == 0) {
        if (ac > 1 || (strcasecmp(av[0], "yes") && strcasecmp(av[0], "no"))) {
            snprintf(err, errlen, "unsupported option \"%s\".", av[0]);
            return WD_KW_ERROR;
        }
        if (!(kw->fwd_set & SET_UNLINK))
            kw->stream_local_bind_unlink = strcasecmp(av[0], "yes") == 0;
        kw->fwd_set |= SET_UNLINK;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "AllowStreamLocalForwarding") == 0) {
        int v = 0;
        if (ac > 1 || lookup(allow_tcp, sizeof(allow_tcp) / sizeof(*allow_tcp),
                             av[0], &v) != 0) {
            snprintf(err, errlen, "unsupported option \"%s\".", av[0]);
            return WD_KW_ERROR;
        }
        if (!(kw->fwd_set & SET_STREAMLOCAL)) kw->allow_streamlocal = v;
        kw->fwd_set |= SET_STREAMLOCAL;
        return WD_KW_DONE;
    }
    unsigned bit = strcasecmp(key, "AllowTcpForwarding") == 0 ? SET_ALLOW_TCP
                   : strcasecmp(key, "GatewayPorts") == 0     ? SET_GATEWAY
                                                              : 0;
    if (!bit) return WD_KW_NOT_MINE;
    if (ac > 1) {
        snprintf(err, errlen, "keyword %s extra arguments at end of line", key);
        return WD_KW_ERROR;
    }
    int v = 0;
    int rc =
        bit == SET_ALLOW_TCP
            ? lookup(allow_tcp, sizeof(allow_tcp) / sizeof(*allow_tcp), av[0],
                     &v)
            : lookup(gateway, sizeof(gateway) / sizeof(*gateway), av[0], &v);
    if (rc != 0) {
        snprintf(err, errlen, "unsupported option \"%s\".", av[0]);
        return WD_KW_ERROR;
    }
    if (kw->fwd_set & bit) return WD_KW_DONE; /* the first value counts */
    kw->fwd_set |= bit;
    if (bit == SET_ALLOW_TCP)
        kw->allow_tcp_forwarding = v;
    else
        kw->gateway_ports = v;
    return WD_KW_DONE;
}

void wd_keywords_fwd_dump(const wd_keywords *kw, FILE *out)
{
    static const char *const tcp[] = {"no", "local", "remote", "yes"};
    static const char *const gw[] = {"no", "yes", "clientspecified"};
    fprintf(out, "allowtcpforwarding %s\n", tcp[kw->allow_tcp_forwarding & 3]);
    fprintf(out, "gatewayports %s\n", gw[kw->gateway_ports % 3]);
    fprintf(out, "streamlocalbindmask %04o\n", kw->stream_local_bind_mask);
    fprintf(out, "streamlocalbindunlink %s\n",
            kw->stream_local_bind_unlink ? "yes" : "no");
    fprintf(out, "allowstreamlocalforwarding %s\n",
            tcp[kw->allow_streamlocal & 3]);
    fprintf(out, "disableforwarding %s\n",
            kw->disable_forwarding ? "yes" : "no");
    fprintf(out, "permitopen %s\n",
            kw->permit_open[0] ? kw->permit_open : "any");
    fprintf(out, "permitlisten %s\n",
            kw->permit_listen[0] ? kw->permit_listen : "any");
}
