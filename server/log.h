/*
 * log: whelkd's log writer (log.c), declared apart from server.h so that
 * modules with no libuv in them (spawn.c) can log too.
 */
#ifndef WHELKD_LOG_H
#define WHELKD_LOG_H

#include <stddef.h>

#include "whelk/whelk.h"

/* One line at |level| (WHELK_LOG_*; DEBUG only with -d), one write(). */
void wd_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The log writer's second layer: |in| with every control character
 * written as \xNN, at most |outsize| bytes with the NUL. */
size_t wd_log_sanitize(char *out, size_t outsize, const char *in);

#endif
