/*
 * confile: the sshd_config(5) file: reading it (Include, Match blocks,
 * limits on everything a file can make whelkd hold) and resolving the
 * keywords of one connection.
 *
 * Lines are kept as text after loading. The global keywords are applied
 * once, at start-up: the command line's first (flags and -o), then the
 * file's lines outside Match, so that the first value wins as in sshd and
 * a flag overrides the file. A connection whose user, group or addresses
 * satisfy a Match block gets its own copy of the keywords: the lines of
 * every matching block first, then the command line, then the global
 * lines, parsed into a fresh wd_keywords (so a Match value overrides the
 * global one, and the first matching block wins, as sshd's
 * copy_set_server_options gives). Connections that match no block share
 * the global keywords: no memory and no parsing per connection.
 */
#ifndef WHELKD_CONFILE_H
#define WHELKD_CONFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "keywords.h"

/* What a file may make whelkd hold. */
#define WD_CONF_MAX_FILE (1024 * 1024)   /* bytes per file */
#define WD_CONF_MAX_LINES 20000          /* lines kept, every file */
#define WD_CONF_MAX_DEPTH 16             /* Include nesting */
#define WD_CONF_MAX_FILES 256            /* files read, Include globs too */
#define WD_CONF_MAX_BLOCKS 1024          /* Match blocks */

/* The connection a Match block is tested against. |user| NULL: the user
 * is not known yet (only address criteria can match). */
typedef struct wd_match_ctx {
    const char *user;
    const gid_t *groups;   /* the user's groups (primary and supplementary) */
    int ngroups;
    const char *addr;      /* the client's address (also its "host": no DNS) */
    const char *laddr;
    int lport;
} wd_match_ctx;

/* The command line's keyword lines, applied before the file's. */
int wd_conf_cmdline(const char *line, char *err, size_t errlen);

/* Reads |path| (and what it includes) and applies the global keywords to
 * |kw|. |required| 0: a missing file is no error (the default file).
 * Returns 0, or -1 with "FILE line N: ..." in |err|. */
int wd_conf_load(const char *path, int required, wd_keywords *kw, char *err,
                 size_t errlen);

/* The same for a file's text in memory (the fuzz target). */
int wd_conf_load_buffer(const char *name, const char *text, size_t len,
                        wd_keywords *kw, char *err, size_t errlen);

/* The keywords for a connection in |ctx|: NULL when no Match block
 * applies (use the global ones), else a malloc'd copy the caller frees.
 * Thread-safe (reads the loaded file only); |*failed| is set when a copy
 * was needed but could not be made (out of memory): refuse the login. */
wd_keywords *wd_conf_resolve(const wd_match_ctx *ctx, int *failed);

/* For -T -C: 0 and the criteria in |ctx| (strings point into |spec|,
 * which is modified; group names are looked up), or -1 with |err|. */
int wd_conf_parse_spec(char *spec, wd_match_ctx *ctx, gid_t *groups,
                       int maxgroups, char *err, size_t errlen);

/* Whether a "Match" line's criteria (the words after "Match") are valid;
 * exported for the unit tests. 0 or -1 with |err|. */
int wd_conf_match_check(int ac, char **av, char *err, size_t errlen);
/* 1 when the criteria match |ctx|, 0 when not (assumes checked). */
int wd_conf_match_eval(int ac, char **av, const wd_match_ctx *ctx);

/* A function applied first to every Match copy: the command-line flags
 * that are not keyword lines (whelkd's -a). */
void wd_conf_set_replay(void (*fn)(wd_keywords *kw));

/* Frees everything loaded (tests, reload). */
void wd_conf_reset(void);

#endif
