/*
 * agxkw: the agent and X11 forwarding keywords (issue 16), with sshd's
 * spellings, values and defaults: AllowAgentForwarding (yes),
 * X11Forwarding (no), X11DisplayOffset (10), X11UseLocalhost (yes),
 * XAuthLocation (/usr/bin/xauth).
 */
#ifndef WHELKD_AGXKW_H
#define WHELKD_AGXKW_H

#include <stdio.h>

#include "keywords.h"

void wd_keywords_agent_x11_defaults(wd_keywords *kw);
int wd_keywords_agent_x11(wd_keywords *kw, const char *key, int ac, char **av,
                          char *err, size_t errlen);
void wd_keywords_agent_x11_dump(const wd_keywords *kw, FILE *out);

#endif
