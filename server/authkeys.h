/*
 * authkeys: OpenSSH's authorized_keys format (sshd(8), AUTHORIZED_KEYS
 * FILE FORMAT): key lines with options.
 */
#ifndef WHELKD_AUTHKEYS_H
#define WHELKD_AUTHKEYS_H

#include <stddef.h>

#include "whelk/whelk.h"

#define WD_MAX_KEY_ENV 16

typedef struct wd_key_opts {
    char *command;                 /* command="..." (forced command) */
    char *env[WD_MAX_KEY_ENV];     /* environment="NAME=value" */
    unsigned nenv;
    unsigned no_pty : 1;
    unsigned no_port_forwarding : 1;
    unsigned no_agent_forwarding : 1;
    unsigned no_x11_forwarding : 1;
    unsigned no_user_rc : 1;
} wd_key_opts;

void wd_key_opts_clear(wd_key_opts *o);

/* Parses one line. Returns 1 with |key| and |opts| (and from= into
 * |from|) for a key line, 0 for a blank or comment line, and -1 for a
 * malformed one with |why| set. */
int wd_authkeys_parse_line(const char *line, size_t len, whelk_key **key,
                           wd_key_opts *opts, char *from, size_t from_size,
                           const char **why);
/* Does |addr| match an OpenSSH pattern-list (globs, !negation, CIDR)? */
int wd_match_from(const char *patterns, const char *addr);
/* Looks |key| up in |path| for a client at |addr|: 1 and |opts| filled
 * when a line allows it, else 0. Malformed lines are logged, skipped. */
int wd_authkeys_find(const char *path, const whelk_key *key,
                     const char *addr, wd_key_opts *opts);

#endif
