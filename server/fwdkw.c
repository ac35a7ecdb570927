/*
 * fwdkw: see fwdkw.h. Values in any case, as sshd reads them.
 */
#include "fwdkw.h"

#include <string.h>
#include <strings.h>

enum { SET_ALLOW_TCP = 1, SET_GATEWAY = 2 };

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

int wd_keywords_fwd(wd_keywords *kw, const char *key, int ac, char **av,
                    char *err, size_t errlen)
{
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
}
