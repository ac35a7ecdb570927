/*
 * log: one line per event, to syslog (sshd's default) or with -e to
 * stderr, written with a single write() so lines from one process never
 * interleave. LogLevel filters both; in syslog each line has sshd's
 * priority for its level (error LOG_ERR, warning LOG_WARNING, info
 * LOG_INFO, debug LOG_DEBUG), so `journalctl -p warning` picks errors
 * and warnings. The words of connection and
 * authentication events come from the engine and match sshd's, so
 * journald and fail2ban treat whelkd like sshd.
 *
 * Every string that came from a peer is escaped where it is put into a
 * line (whelk_escape); as a second layer, the writer itself turns any
 * control character it is handed into \xNN, so a string that escaped
 * escaping still cannot end the line early or start one of its own.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "server.h"

/* Set once by main; read by every module (and unit tests set it too). */
const wd_options *wd_opts;

/* Copies |in| to |out| with control characters (C0 and DEL) escaped;
 * the rest, UTF-8 included, unchanged. Returns the length written. */
size_t wd_log_sanitize(char *out, size_t outsize, const char *in)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (outsize == 0) return 0;
    for (; *in; in++) {
        unsigned char ch = (unsigned char)*in;
        int ctrl = ch < 0x20 || ch == 0x7f;
        if (o + (ctrl ? 4 : 1) >= outsize) break;
        if (!ctrl) {
            out[o++] = (char)ch;
            continue;
        }
        out[o++] = '\\';
        out[o++] = 'x';
        out[o++] = hex[ch >> 4];
        out[o++] = hex[ch & 15];
    }
    out[o] = 0;
    return o;
}

static int log_stderr = 1;
static int log_level = WD_LOGLEVEL_INFO;

void wd_log_setup(int to_stderr, int facility, int level)
{
    log_level = level;
    if (!to_stderr && log_stderr) {
        /* LOG_NDELAY: the socket opens now, before any chroot or fork,
         * and workers share it; LOG_PID names the process of each line. */
        openlog("whelkd", LOG_PID | LOG_NDELAY, facility);
    }
    log_stderr = to_stderr;
}

/* The LogLevel a line of |level| needs, and its syslog priority. A
 * warning is shown with errors (sshd's error() covers both). */
static int needed_level(int level)
{
    switch (level) {
    case WHELK_LOG_ERROR:
    case WHELK_LOG_WARN: return WD_LOGLEVEL_ERROR;
    case WHELK_LOG_INFO: return WD_LOGLEVEL_INFO;
    default: return WD_LOGLEVEL_DEBUG1;
    }
}

static int priority(int level)
{
    switch (level) {
    case WHELK_LOG_ERROR: return LOG_ERR;
    case WHELK_LOG_WARN: return LOG_WARNING;
    case WHELK_LOG_INFO: return LOG_INFO;
    default: return LOG_DEBUG;
    }
}

void wd_log(int level, const char *fmt, ...)
{
    /* -d shows debug lines whatever LogLevel says, as sshd -d. */
    int shown = level >= WHELK_LOG_DEBUG && wd_opts && wd_opts->debug
                    ? WD_LOGLEVEL_DEBUG3
                    : log_level;
    if (needed_level(level) > shown) return;
    char raw[2048], line[2048 + 2];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = wd_log_sanitize(line, sizeof(line) - 1, raw);
    if (!log_stderr) {
        syslog(priority(level), "%s", line);
        return;
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
