/*
 * keysrc: where a user's authorized keys come from: the files of
 * AuthorizedKeysFile (tokens expanded, relative to the home directory,
 * "none" for no file), read as the user with StrictModes' checks when
 * on, and parsed together into one per-connection cache.
 */
#ifndef WHELKD_KEYSRC_H
#define WHELKD_KEYSRC_H

#include "authkeys.h"
#include "keywords.h"
#include "user.h"

/* The files to read for |u|, expanded, into |out|. An entry that does
 * not expand (an unknown token, too long) is left out after a log line.
 * Cheap, no I/O: may run on the event loop. */
void wd_keysrc_paths(const wd_keywords *kw, const wd_user *u,
                     wd_kw_list *out);
/* Reads every file of |paths| for |u| (keyfile.c's |flags|) and parses
 * them, then |extra| (AuthorizedKeysCommand's output, may be NULL), into
 * |cache|, at most WD_AUTHKEYS_MAX_FILE bytes of files. Blocks: the
 * thread pool's. */
void wd_keysrc_load(const wd_kw_list *paths, const wd_user *u, int flags,
                    const char *extra, size_t extra_len, wd_keycache *cache);

#endif
