/*
 * akcmd: sshd's AuthorizedKeysCommand: a program run as
 * AuthorizedKeysCommandUser whose output is read like an authorized_keys
 * file. It runs on the thread pool (never on the event loop), with a
 * time limit: a command that hangs is killed, one that fails or is killed
 * gives no keys, and both are logged.
 */
#ifndef WHELKD_AKCMD_H
#define WHELKD_AKCMD_H

#include <stddef.h>

#include "keywords.h"
#include "user.h"

/* How long the command may run before it is killed. */
#define WD_AKCMD_TIMEOUT_MS 10000

/* What the offered key's tokens say (%f %k %t). */
typedef struct wd_akcmd_key {
    char fingerprint[80]; /* %f: SHA256:... */
    char blob64[12000];   /* %k: the key's base64 blob */
    char type[64];        /* %t: ssh-ed25519, ... */
} wd_akcmd_key;

/* Runs |kw|'s AuthorizedKeysCommand for |u| and |key|. Returns 0 with
 * the output (at most |cap| bytes, malloc'd, not NUL-terminated) in
 * *out / *len when the command exited 0; -1 after a log line otherwise
 * (also when no AuthorizedKeysCommandUser is set, as sshd refuses).
 * Blocks for up to WD_AKCMD_TIMEOUT_MS. */
int wd_akcmd_run(const wd_keywords *kw, const wd_user *u,
                 const wd_akcmd_key *key, size_t cap, char **out,
                 size_t *len);

#endif
