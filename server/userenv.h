/*
 * userenv: ~/.ssh/environment, which sshd reads when
 * PermitUserEnvironment allows it (yes, or a pattern list of the names
 * allowed). The session's child reads it (spawn.c), after it became the
 * user and before the program starts: so as the user, off the event
 * loop (a hung NFS home holds that one child only), and, like the rest
 * of the child's work, with async-signal-safe calls only: no malloc,
 * no stdio; the buffers are made before the fork.
 */
#ifndef WHELKD_USERENV_H
#define WHELKD_USERENV_H

#include <stddef.h>

/* sshd stops at 1,000 lines ("Too many lines in environment file");
 * whelkd also at 64 KiB. */
#define WD_USERENV_MAX_LINES 1000
#define WD_USERENV_MAX_BYTES (64 * 1024)

enum {
    WD_USERENV_OK = 0,
    WD_USERENV_NONE = 1,      /* no file, or not a regular file */
    WD_USERENV_TOO_BIG = -1,  /* over WD_USERENV_MAX_BYTES */
    WD_USERENV_TOO_MANY = -2, /* over WD_USERENV_MAX_LINES */
};

/* Reads |path| (opened non-blocking, no terminal, regular files only)
 * into |buf| of WD_USERENV_MAX_BYTES + 1 bytes, NUL-terminated; *len
 * gets its length. A WD_USERENV_* code. */
int wd_userenv_read(const char *path, char *buf, size_t *len);

/* Merges the NAME=value lines of |text| (changed in place: the lines
 * are cut into strings that |env| then points to) into the
 * NULL-terminated |env| of *n entries and room for |cap| (NULL
 * included), as sshd's read_environment_file: leading blanks skipped,
 * blank lines and '#' comments skipped, a line without '=' is a bad line
 * (its number, the first, in *bad_line; 0 if none) and skipped, a name
 * that |allow| (a pattern list; NULL or "" for every name) does not
 * match is skipped. A name among the first |n_fixed| entries (what the
 * server and SetEnv set) is left alone; another one already there gets
 * the file's value; a new one is added while room lasts. Returns
 * WD_USERENV_OK or WD_USERENV_TOO_MANY (then |env| is unchanged). */
int wd_userenv_merge(char *text, char **env, size_t *n, size_t cap,
                     size_t n_fixed, const char *allow, unsigned *bad_line);

#endif
