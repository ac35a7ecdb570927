/*
 * keyfile: reading a file a user controls, as sshd reads authorized
 * keys (as the user, non-blocking open, regular files only, StrictModes,
 * a byte cap). For the thread pool: it may block on a slow disk.
 */
#ifndef WHELKD_KEYFILE_H
#define WHELKD_KEYFILE_H

#include <stddef.h>

#include "user.h"

typedef struct wd_file_text {
    char *data;      /* |len| bytes, not NUL-terminated; may hold NULs */
    size_t len;
    int truncated;   /* the file had more than the cap */
} wd_file_text;

enum {
    WD_FILE_AS_USER = 1, /* open with |u|'s rights (whelkd is root) */
    WD_FILE_STRICT = 2   /* sshd's StrictModes checks */
};

/* Reads at most |cap| bytes of |path| for |u|. |what| names the file in
 * log lines ("authorized keys"). Returns 0 with |out| filled (free it
 * with wd_file_text_free), or -1 after a log line saying why (a missing
 * file only at debug level, as sshd). */
int wd_user_file_read(const char *path, const char *what, const wd_user *u,
                      int flags, size_t cap, wd_file_text *out);
void wd_file_text_free(wd_file_text *t);

#endif
