/*
 * fwdperm: see fwdperm.h. Host names compare as strings, case
 * insensitive, as sshd compares them (no resolution).
 */
#include "fwdperm.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"

static int port_matches(const char *p, size_t n, uint32_t port)
{
    if (n == 1 && p[0] == '*') return 1;
    if (n == 0 || n > 5) return 0;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        v = v * 10 + (uint32_t)(p[i] - '0');
    }
    return v == port;
}

static int entry_matches(const char *e, size_t n, const char *host,
                         uint32_t port, int listen)
{
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++)
        if (e[i] == ':') colon = e + i; /* the last one: v6 hosts */
    if (!colon) return listen && port_matches(e, n, port);
    const char *h = e;
    size_t hn = (size_t)(colon - e);
    if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']') h++, hn -= 2;
    if (!(hn == 1 && h[0] == '*') &&
        !(strlen(host) == hn && strncasecmp(h, host, hn) == 0))
        return 0;
    return port_matches(colon + 1, n - (size_t)(colon + 1 - e), port);
}

int wd_permit_match(const char *list, const char *host, uint32_t port,
                    int listen)
{
    if (!list || !*list) return 1;
    for (const char *p = list; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 0) break;
        if (n == 3 && strncasecmp(p, "any", 3) == 0) return 1;
        if (!(n == 4 && strncasecmp(p, "none", 4) == 0) &&
            entry_matches(p, n, host, port, listen))
            return 1;
        p += n;
    }
    return 0;
}

int wd_fwd_allowed(const wd_conn *c, int local, const char *host, uint32_t port,
                   const char **why)
{
    const wd_keywords *kw = wd_conn_kw(c);
    const wd_login *l = c->login;
    if (kw->disable_forwarding) {
        *why = "DisableForwarding";
        return 0;
    }
    if (!(kw->allow_tcp_forwarding & (local ? WD_FWD_LOCAL : WD_FWD_REMOTE))) {
        *why = "AllowTcpForwarding";
        return 0;
    }
    if (l->have_opts && l->opts.no_port_forwarding) {
        *why = "no-port-forwarding";
        return 0;
    }
    if (!wd_permit_match(local ? kw->permit_open : kw->permit_listen, host,
                         port, !local)) {
        *why = local ? "PermitOpen" : "PermitListen";
        return 0;
    }
    if (l->have_opts &&
        !wd_permit_match(local ? l->opts.permit_open : l->opts.permit_listen,
                         host, port, !local)) {
        *why = local ? "permitopen" : "permitlisten";
        return 0;
    }
    return 1;
}
