/*
 * engineconf: the sshd_config keywords that are settings of the protocol
 * engine: the algorithm lists (KexAlgorithms, Ciphers, MACs,
 * HostKeyAlgorithms, PubkeyAcceptedAlgorithms, CASignatureAlgorithms)
 * with sshd's "+", "-" and "^" modifiers, RekeyLimit, MaxSessions,
 * ClientAliveInterval, ClientAliveCountMax, UnusedConnectionTimeout and
 * ChannelTimeout.
 */
#ifndef WHELKD_ENGINECONF_H
#define WHELKD_ENGINECONF_H

#include <stddef.h>
#include <stdio.h>

#include "whelk/whelk.h"

struct wd_keywords;

void wd_engine_defaults(struct wd_keywords *kw);
int wd_engine_keyword(struct wd_keywords *kw, const char *key, int ac,
                      char **av, char *err, size_t errlen);
void wd_engine_dump(const struct wd_keywords *kw, FILE *out);

/* sshd's list modifiers against the library's list |which|: "+a,b"
 * appends, "-a,b" removes, "^a,b" puts first, anything else replaces;
 * entries may be globs ('*', '?'). 0 and the list in |out|, or -1 (an
 * unknown name, an empty result, or too long). */
int wd_alg_list_expand(whelk_alg_list which, const char *spec, char *out,
                       size_t outlen);

/* Applies the settings to every connection (at start-up) or to one
 * connection (its Match-resolved values). 0, or -1 after a message on
 * stderr. */
int wd_engine_apply_config(whelk_config *cfg, const struct wd_keywords *kw);
void wd_engine_apply_conn(whelk_conn *conn, const struct wd_keywords *kw);
/* ChannelTimeout for one connection, once it logged in (its Match
 * values): each type=interval to whelk_conn_set_channel_timeout, in
 * order, so the first pattern that names a channel counts, as in sshd.
 * 0, or -1 if the library refused one. */
int wd_engine_apply_channel_timeouts(whelk_conn *conn,
                                     const struct wd_keywords *kw);

#endif
