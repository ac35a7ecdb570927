/*
 * authkeys: OpenSSH's authorized_keys format (sshd(8), AUTHORIZED_KEYS
 * FILE FORMAT): key lines with options.
 */
#ifndef WHELKD_AUTHKEYS_H
#define WHELKD_AUTHKEYS_H

#include <stddef.h>
#include <stdint.h>

#include "whelk/whelk.h"

#define WD_MAX_KEY_ENV 16

typedef struct wd_key_opts {
    char *command;                 /* command="..." (forced command) */
    char *env[WD_MAX_KEY_ENV];     /* environment="NAME=value" */
    unsigned nenv;
    /* permitopen="host:port" / permitlisten="[host:]port", each
     * repeatable: space-separated, NULL for none (fwdperm.h) */
    char *permit_open;
    char *permit_listen;
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
/* At most this much of an authorized_keys file is read. */
#define WD_AUTHKEYS_MAX_FILE (1024 * 1024)

/* The usable lines of one authorized_keys file, parsed once per
 * connection; never larger than the text it came from. */
typedef struct wd_keycache {
    uint8_t *arena;
    size_t used, cap;
    unsigned count;     /* key lines kept */
    int loaded;
    char path[512];     /* for log lines */
} wd_keycache;

/* Parses |len| bytes of |text| (NULs counted) read from |path|; with
 * |truncated|, a last line without a newline was cut by the read cap and
 * is dropped. Lines with a NUL byte, longer than 8192 bytes, or
 * malformed are skipped whole, with a log line (the first 16). Returns 0,
 * or -1 when out of memory (the cache is then empty). */
int wd_keycache_load(wd_keycache *kc, const char *path, const char *text,
                     size_t len, int truncated);
/* Looks |key| up for a client at |addr|: 1 and |opts| filled (the
 * caller clears them) when a line allows it, else 0. */
int wd_keycache_find(const wd_keycache *kc, const whelk_key *key,
                     const char *addr, wd_key_opts *opts);
void wd_keycache_free(wd_keycache *kc);

#endif
