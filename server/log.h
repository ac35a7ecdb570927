/*
 * log: whelkd's log writer (log.c), declared apart from server.h so that
 * modules with no libuv in them (spawn.c) can log too.
 */
#ifndef WHELKD_LOG_H
#define WHELKD_LOG_H

#include <stddef.h>

#include "whelk/whelk.h"

/* sshd's LogLevel values, least to most. */
enum {
    WD_LOGLEVEL_QUIET,
    WD_LOGLEVEL_FATAL,
    WD_LOGLEVEL_ERROR,
    WD_LOGLEVEL_INFO,
    WD_LOGLEVEL_VERBOSE,
    WD_LOGLEVEL_DEBUG1,
    WD_LOGLEVEL_DEBUG2,
    WD_LOGLEVEL_DEBUG3
};

/* Where lines go from now on: stderr when |to_stderr| (-e, -d), else
 * syslog(3) as "whelkd" with |facility| (LOG_AUTH...); lines above
 * |level| (a WD_LOGLEVEL_*) are dropped. Before it: stderr, INFO. */
void wd_log_setup(int to_stderr, int facility, int level);
/* One line at |level| (WHELK_LOG_*), one write() or one syslog(). */
void wd_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The log writer's second layer: |in| with every control character
 * written as \xNN, at most |outsize| bytes with the NUL. */
size_t wd_log_sanitize(char *out, size_t outsize, const char *in);

#endif
