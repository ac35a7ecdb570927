/*
 * userenv: see userenv.h. Every call here is async-signal-safe (open,
 * fstat, read, close) or plain memory work (the string functions, the
 * glob of match.c), since it runs in a forked child of a threaded
 * worker.
 */
#include "userenv.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "match.h"

int wd_userenv_read(const char *path, char *buf, size_t *len)
{
    *len = 0;
    buf[0] = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return WD_USERENV_NONE;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return WD_USERENV_NONE;
    }
    size_t got = 0;
    for (;;) {
        /* One byte past the cap tells a file that is too big. */
        ssize_t r = read(fd, buf + got, WD_USERENV_MAX_BYTES + 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        if (got > WD_USERENV_MAX_BYTES) {
            close(fd);
            buf[0] = 0;
            return WD_USERENV_TOO_BIG;
        }
    }
    close(fd);
    buf[got] = 0;
    *len = got;
    return WD_USERENV_OK;
}

/* Index of the entry named |name| (|nl| bytes) in |env|, or -1. */
static long find(char *const *env, size_t n, const char *name, size_t nl)
{
    for (size_t i = 0; i < n; i++)
        if (strncmp(env[i], name, nl) == 0 && env[i][nl] == '=') return (long)i;
    return -1;
}

int wd_userenv_merge(char *text, char **env, size_t *n, size_t cap,
                     size_t n_fixed, const char *allow, unsigned *bad_line)
{
    *bad_line = 0;
    /* sshd refuses the whole file past its line limit: counted first,
     * so nothing is merged then. A NUL ends the text. */
    unsigned lines = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        lines++;
        if (!nl) break;
        p = nl + 1;
    }
    if (lines > WD_USERENV_MAX_LINES) return WD_USERENV_TOO_MANY;
    unsigned lineno = 0;
    for (char *p = text; *p;) {
        char *line = p, *nl = strchr(p, '\n');
        if (nl) {
            *nl = 0;
            p = nl + 1;
        } else {
            p += strlen(p);
        }
        lineno++;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r') line[--ll] = 0;
        while (*line == ' ' || *line == '\t')
            line++;
        if (!*line || *line == '#') continue;
        char *eq = strchr(line, '=');
        if (!eq || eq == line) {
            if (!*bad_line) *bad_line = lineno;
            continue;
        }
        size_t name_len = (size_t)(eq - line);
        if (allow && allow[0]) {
            /* The name alone, for the pattern list. */
            *eq = 0;
            int ok = wd_match_list(line, allow, 0) == 1;
            *eq = '=';
            if (!ok) continue;
        }
        long at = find(env, *n, line, name_len);
        if (at >= 0 && (size_t)at < n_fixed) continue;
        if (at >= 0) {
            env[at] = line;
        } else if (*n + 1 < cap) {
            env[(*n)++] = line;
            env[*n] = NULL;
        }
    }
    return WD_USERENV_OK;
}
