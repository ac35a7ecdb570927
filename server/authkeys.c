/*
 * authkeys: authorized_keys lines, "[options] type base64 [comment]".
 * Options follow sshd(8): command="...", from="pattern-list",
 * environment="NAME=value", no-pty, no-port-forwarding,
 * no-agent-forwarding, no-X11-forwarding, no-user-rc, restrict (all of
 * the no-* at once) and the permits that undo them after restrict (pty,
 * port-forwarding, agent-forwarding, X11-forwarding, user-rc). Anything
 * else makes the line malformed: it is skipped with a log line naming
 * the file and line, never fatal.
 */
#include "authkeys.h"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server.h"

#define MAX_LINE 8192
#define MAX_FILE (1024 * 1024)

void wd_key_opts_clear(wd_key_opts *o)
{
    free(o->command);
    for (unsigned i = 0; i < o->nenv; i++) free(o->env[i]);
    memset(o, 0, sizeof(*o));
}

/* A quoted option value: "..." with \" escapes. Returns the length used
 * from |p| or 0 when unterminated. */
static size_t quoted(const char *p, size_t n, char *out, size_t outsz)
{
    if (n == 0 || p[0] != '"') return 0;
    size_t o = 0;
    for (size_t i = 1; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n && p[i + 1] == '"') {
            i++;
        } else if (p[i] == '"') {
            out[o] = 0;
            return i + 1;
        }
        if (p[i] == 0 || o + 1 >= outsz) return 0;
        out[o++] = p[i];
    }
    return 0;
}

static int option_is(const char *p, size_t n, const char *name)
{
    size_t l = strlen(name);
    return n >= l && strncasecmp(p, name, l) == 0 &&
           (n == l || p[l] == ',' || p[l] == ' ' || p[l] == '\t' ||
            p[l] == '=');
}

int wd_authkeys_parse_line(const char *line, size_t len, whelk_key **key,
                           wd_key_opts *opts, char *from, size_t from_size,
                           const char **why)
{
    memset(opts, 0, sizeof(*opts));
    if (from_size) from[0] = 0;
    *why = NULL;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i == len || line[i] == '#' || line[i] == '\n' || line[i] == '\r')
        return 0;
    if (len > MAX_LINE) {
        *why = "line too long";
        return -1;
    }
    if (memchr(line, 0, len)) {
        *why = "NUL byte in line";
        return -1;
    }
    /* A line that does not start with a key type starts with options. */
    static const char *types[] = {"ssh-ed25519 ", "ecdsa-sha2-nistp256 ",
                                  "ssh-rsa ", "ssh-ed25519\t",
                                  "ecdsa-sha2-nistp256\t", "ssh-rsa\t"};
    int has_opts = 1;
    for (size_t t = 0; t < sizeof(types) / sizeof(*types); t++)
        if (len - i >= strlen(types[t]) &&
            memcmp(line + i, types[t], strlen(types[t])) == 0)
            has_opts = 0;
    char *val = malloc(MAX_LINE);
    if (!val) {
        *why = "out of memory";
        return -1;
    }
    while (has_opts && i < len && line[i] != ' ' && line[i] != '\t') {
        const char *p = line + i;
        size_t n = len - i, used = 0;
        const char *eq_opts[] = {"command=", "from=", "environment="};
        int which = -1;
        for (int k = 0; k < 3; k++)
            if (n > strlen(eq_opts[k]) &&
                strncasecmp(p, eq_opts[k], strlen(eq_opts[k])) == 0)
                which = k;
        if (which >= 0) {
            size_t nl = strlen(eq_opts[which]);
            size_t q = quoted(p + nl, n - nl, val, MAX_LINE);
            if (!q) {
                *why = "unterminated or bad quoted option value";
                goto bad;
            }
            used = nl + q;
            if (which == 0) {
                free(opts->command);
                opts->command = strdup(val);
            } else if (which == 1) {
                if (strlen(val) >= from_size) {
                    *why = "from= list too long";
                    goto bad;
                }
                memcpy(from, val, strlen(val) + 1);
            } else {
                if (!strchr(val, '=') || val[0] == '=') {
                    *why = "environment= needs NAME=value";
                    goto bad;
                }
                if (opts->nenv >= WD_MAX_KEY_ENV) {
                    *why = "too many environment= options";
                    goto bad;
                }
                opts->env[opts->nenv++] = strdup(val);
            }
        } else if (option_is(p, n, "no-pty")) {
            opts->no_pty = 1, used = 6;
        } else if (option_is(p, n, "no-port-forwarding")) {
            opts->no_port_forwarding = 1, used = 18;
        } else if (option_is(p, n, "no-agent-forwarding")) {
            opts->no_agent_forwarding = 1, used = 19;
        } else if (option_is(p, n, "no-X11-forwarding")) {
            opts->no_x11_forwarding = 1, used = 17;
        } else if (option_is(p, n, "no-user-rc")) {
            opts->no_user_rc = 1, used = 10;
        } else if (option_is(p, n, "restrict")) {
            opts->no_pty = opts->no_port_forwarding = 1;
            opts->no_agent_forwarding = opts->no_x11_forwarding = 1;
            opts->no_user_rc = 1;
            used = 8;
        } else if (option_is(p, n, "pty")) {
            opts->no_pty = 0, used = 3;
        } else if (option_is(p, n, "port-forwarding")) {
            opts->no_port_forwarding = 0, used = 15;
        } else if (option_is(p, n, "agent-forwarding")) {
            opts->no_agent_forwarding = 0, used = 16;
        } else if (option_is(p, n, "X11-forwarding")) {
            opts->no_x11_forwarding = 0, used = 14;
        } else if (option_is(p, n, "user-rc")) {
            opts->no_user_rc = 0, used = 7;
        } else {
            *why = "unknown or malformed option";
            goto bad;
        }
        i += used;
        if (i < len && line[i] == ',') {
            i++;
            if (i == len || line[i] == ' ' || line[i] == '\t') {
                *why = "empty option";
                goto bad;
            }
        } else if (i < len && line[i] != ' ' && line[i] != '\t') {
            *why = "malformed options";
            goto bad;
        }
    }
    free(val);
    val = NULL;
    int rc = whelk_key_parse_public_line(line + i, len - i, key);
    if (rc == 0) return 1;
    *why = rc == WHELK_ERR_UNSUPPORTED ? "unsupported key type"
                                        : "malformed key";
    wd_key_opts_clear(opts);
    return -1;
bad:
    free(val);
    wd_key_opts_clear(opts);
    return -1;
}

/* A CIDR entry "a.b.c.d/n" or "x::y/n". */
static int cidr_match(const char *pat, const char *addr)
{
    char net[64];
    const char *slash = strchr(pat, '/');
    if (!slash || (size_t)(slash - pat) >= sizeof(net)) return 0;
    memcpy(net, pat, (size_t)(slash - pat));
    net[slash - pat] = 0;
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if (*end || bits < 0) return 0;
    unsigned char a[16], b[16];
    int len;
    if (inet_pton(AF_INET, net, a) == 1 && inet_pton(AF_INET, addr, b) == 1)
        len = 4;
    else if (inet_pton(AF_INET6, net, a) == 1 &&
             inet_pton(AF_INET6, addr, b) == 1)
        len = 16;
    else
        return 0;
    if (bits > len * 8) return 0;
    for (long k = 0; k < bits; k++) {
        int byte = (int)(k / 8), bit = 7 - (int)(k % 8);
        if (((a[byte] >> bit) & 1) != ((b[byte] >> bit) & 1)) return 0;
    }
    return 1;
}

int wd_match_from(const char *patterns, const char *addr)
{
    char buf[1024];
    int positive = 0;
    snprintf(buf, sizeof(buf), "%s", patterns);
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p;
         p = strtok_r(NULL, ",", &save)) {
        while (*p == ' ') p++;
        int neg = *p == '!';
        if (neg) p++;
        int m = strchr(p, '/') ? cidr_match(p, addr)
                               : fnmatch(p, addr, 0) == 0;
        if (m && neg) return 0; /* a negated match refuses outright */
        if (m) positive = 1;
    }
    return positive;
}

int wd_authkeys_find(const char *path, const whelk_key *key,
                     const char *addr, wd_key_opts *opts)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        wd_log(WHELK_LOG_DEBUG, "cannot open %s", path);
        return 0;
    }
    char *line = malloc(MAX_LINE + 2);
    char from[1024];
    int found = 0;
    unsigned lineno = 0;
    size_t total = 0;
    while (line && !found && fgets(line, MAX_LINE + 2, f)) {
        lineno++;
        size_t n = strlen(line);
        total += n;
        if (total > MAX_FILE) {
            wd_log(WHELK_LOG_INFO, "%s: file too large, rest ignored", path);
            break;
        }
        if (n > MAX_LINE && line[n - 1] != '\n') {
            wd_log(WHELK_LOG_INFO, "%s:%u: line too long, skipped", path,
                   lineno);
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n') {
            }
            continue;
        }
        whelk_key *k = NULL;
        wd_key_opts o;
        const char *why;
        int rc = wd_authkeys_parse_line(line, n, &k, &o, from, sizeof(from),
                                        &why);
        if (rc < 0) {
            wd_log(WHELK_LOG_INFO, "%s:%u: %s, line skipped", path, lineno,
                   why);
            continue;
        }
        if (rc == 0) continue;
        if (whelk_key_equal_public(k, key)) {
            if (from[0] && !wd_match_from(from, addr)) {
                wd_log(WHELK_LOG_INFO,
                       "Authentication tried for key from %s not matching "
                       "from=\"%s\" (%s:%u)",
                       addr, from, path, lineno);
            } else {
                *opts = o;
                found = 1;
                whelk_key_free(k);
                break;
            }
        }
        wd_key_opts_clear(&o);
        whelk_key_free(k);
    }
    free(line);
    fclose(f);
    return found;
}
