/*
 * log: one line per event on stderr, written with a single write() so
 * lines from one process never interleave. The words of connection and
 * authentication events come from the engine and match sshd's, so
 * journald and fail2ban treat whelkd like sshd.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

/* Set once by main; read by every module (and unit tests set it too). */
const wd_options *wd_opts;

void wd_log(int level, const char *fmt, ...)
{
    if (level >= WHELK_LOG_DEBUG && !(wd_opts && wd_opts->debug)) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n > sizeof(line) - 2) n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
