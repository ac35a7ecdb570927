/*
 * fwdkw: the TCP forwarding keywords (issue 16) with sshd's spellings,
 * values and defaults: AllowTcpForwarding (yes; no, local, remote, all),
 * GatewayPorts (no; yes, clientspecified), DisableForwarding (no; it
 * also turns agent and X11 forwarding off), PermitOpen and PermitListen
 * (any).
 */
#ifndef WHELKD_FWDKW_H
#define WHELKD_FWDKW_H

#include <stdio.h>

#include "keywords.h"

void wd_keywords_fwd_defaults(wd_keywords *kw);
int wd_keywords_fwd(wd_keywords *kw, const char *key, int ac, char **av,
                    char *err, size_t errlen);
void wd_keywords_fwd_dump(const wd_keywords *kw, FILE *out);

#endif
