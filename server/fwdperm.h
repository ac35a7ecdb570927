/*
 * fwdperm: may a connection forward to or listen on host:port? sshd's
 * PermitOpen / PermitListen lists and the permitopen= / permitlisten=
 * key options (both must allow), AllowTcpForwarding, DisableForwarding
 * and no-port-forwarding.
 */
#ifndef WHELKD_FWDPERM_H
#define WHELKD_FWDPERM_H

#include <stdint.h>

#include "server.h"

/* Does the space-separated |list| allow |host|:|port|? Entries are
 * "host:port" ("[v6]:port" too), "*" for any host or any port, "any",
 * "none"; with |listen|, a bare "port" matches any host. An empty or
 * NULL list allows everything. */
int wd_permit_match(const char *list, const char *host, uint32_t port,
                    int listen);

/* 1 when |c| may open a direct-tcpip channel to |host|:|port| (local)
 * or listen on it (!local); else 0 and |why| says which rule refused. */
int wd_fwd_allowed(const wd_conn *c, int local, const char *host, uint32_t port,
                   const char **why);

#endif
