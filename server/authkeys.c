/*
 * authkeys: authorized_keys lines, "[options] type base64 [comment]".
 * Options follow sshd(8): command="...", from="pattern-list",
 * environment="NAME=value", permitopen="host:port",
 * permitlisten="[host:]port", no-pty, no-port-forwarding,
 * no-agent-forwarding, no-X11-forwarding, no-user-rc, restrict (all of
 * the no-* at once) and the permits that undo them after restrict (pty,
 * port-forwarding, agent-forwarding, X11-forwarding, user-rc). Anything
 * else makes the line malformed: it is skipped with a log line naming
 * the file and line, never fatal; so is a line with a NUL byte or longer
 * than 8192 bytes, whole.
 *
 * A connection parses its user's file once (wd_keycache_load) and
 * answers every key query from that cache.
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

void wd_key_opts_clear(wd_key_opts *o)
{
    free(o->command);
    free(o->permit_open);
    free(o->permit_listen);
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

/* Adds one permitopen=/permitlisten= value to |list| (space-separated):
 * one token without white space, at most 16 of them. */
static int append_permit(char **list, const char *val)
{
    size_t have = *list ? strlen(*list) : 0, n = strlen(val);
    if (n == 0 || n > 300 || strpbrk(val, " \t")) return -1;
    if (*list) {
        unsigned count = 1;
        for (const char *q = *list; *q; q++) count += *q == ' ';
        if (count >= 16) return -1;
    }
    char *m = realloc(*list, have + n + 2);
    if (!m) return -1;
    if (have) m[have++] = ' ';
    memcpy(m + have, val, n + 1);
    *list = m;
    return 0;
}

/* The options of a line, from |*pos| to the white space before the key
 * (which |*pos| then points at). 0, or -1 with |why|. */
static int parse_options(const char *line, size_t len, size_t *pos,
                         wd_key_opts *opts, char *from, size_t from_size,
                         const char **why)
{
    size_t i = *pos;
    char *val = malloc(MAX_LINE);
    if (!val) {
        *why = "out of memory";
        return -1;
    }
    while (i < len && line[i] != ' ' && line[i] != '\t') {
        const char *p = line + i;
        size_t n = len - i, used = 0;
        const char *eq_opts[] = {"command=", "from=", "environment=",
                                 "permitopen=", "permitlisten="};
        int which = -1;
        for (int k = 0; k < 5; k++)
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
            } else if (which >= 3) {
                char **list =
                    which == 3 ? &opts->permit_open : &opts->permit_listen;
                if (append_permit(list, val) != 0) {
                    *why = which == 3 ? "bad permitopen= value"
                                      : "bad permitlisten= value";
                    goto bad;
                }
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
    *pos = i;
    return 0;
bad:
    free(val);
    wd_key_opts_clear(opts);
    return -1;
}

/* A line's parts: where its options start and end (equal when it has
 * none), then the key. */
static int parse_line(const char *line, size_t len, whelk_key **key,
                      wd_key_opts *opts, char *from, size_t from_size,
                      const char **why, size_t *opt_start, size_t *opt_end)
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
    *opt_start = *opt_end = i;
    if (has_opts &&
        parse_options(line, len, &i, opts, from, from_size, why) != 0)
        return -1;
    *opt_end = i;
    int rc = whelk_key_parse_public_line(line + i, len - i, key);
    if (rc == 0) return 1;
    *why = rc == WHELK_ERR_UNSUPPORTED ? "unsupported key type"
                                        : "malformed key";
    wd_key_opts_clear(opts);
    return -1;
}

int wd_authkeys_parse_line(const char *line, size_t len, whelk_key **key,
                           wd_key_opts *opts, char *from, size_t from_size,
                           const char **why)
{
    size_t a, b;
    return parse_line(line, len, key, opts, from, from_size, why, &a, &b);
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

/* ------------------------------------------------------------------------
 * The per-connection cache: each usable key line of the file, parsed
 * once, kept as records in one buffer,
 *     u32 line number | u32 blob length | u32 options length | blob |
 *     options text
 * so it never holds more than the file's own bytes; a line's options
 * are parsed again only for the key that matches.
 */

#define MAX_LOGGED_SKIPS 16

static int arena_put(wd_keycache *kc, const void *p, size_t n)
{
    if (kc->used + n > kc->cap) {
        size_t cap = kc->cap ? kc->cap : 1024;
        while (cap < kc->used + n) cap *= 2;
        uint8_t *np = realloc(kc->arena, cap);
        if (!np) return -1;
        kc->arena = np;
        kc->cap = cap;
    }
    memcpy(kc->arena + kc->used, p, n);
    kc->used += n;
    return 0;
}

static int arena_u32(wd_keycache *kc, uint32_t v)
{
    return arena_put(kc, &v, sizeof(v));
}

static void skipped(const char *path, unsigned lineno, const char *why,
                    unsigned *nskips)
{
    if (++*nskips <= MAX_LOGGED_SKIPS)
        wd_log(WHELK_LOG_INFO, "%s:%u: %s, line skipped", path, lineno, why);
    else if (*nskips == MAX_LOGGED_SKIPS + 1)
        wd_log(WHELK_LOG_INFO, "%s: more lines skipped, not logged", path);
}

int wd_keycache_load(wd_keycache *kc, const char *path, const char *text,
                     size_t len, int truncated)
{
    memset(kc, 0, sizeof(*kc));
    snprintf(kc->path, sizeof(kc->path), "%s", path);
    kc->loaded = 1;
    char from[1024];
    unsigned lineno = 0, nskips = 0;
    size_t pos = 0;
    while (pos < len) {
        lineno++;
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        if (!nl && truncated) break; /* cut by the cap: not a line */
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl != NULL);
        /* Counted in bytes, NULs included: the whole line goes, never a
         * tail of it read as a line of its own. */
        if (n > MAX_LINE) {
            skipped(path, lineno, "line too long", &nskips);
            continue;
        }
        whelk_key *k = NULL;
        wd_key_opts o;
        const char *why;
        size_t os, oe;
        int rc = parse_line(line, n, &k, &o, from, sizeof(from), &why, &os,
                            &oe);
        if (rc < 0) {
            skipped(path, lineno, why, &nskips);
            continue;
        }
        if (rc == 0) continue;
        wd_key_opts_clear(&o);
        size_t blob_len;
        const uint8_t *blob = whelk_key_blob(k, &blob_len);
        int bad = arena_u32(kc, lineno) || arena_u32(kc, (uint32_t)blob_len) ||
                  arena_u32(kc, (uint32_t)(oe - os)) ||
                  arena_put(kc, blob, blob_len) ||
                  arena_put(kc, line + os, oe - os);
        whelk_key_free(k);
        if (bad) {
            wd_keycache_free(kc);
            return -1;
        }
        kc->count++;
    }
    return 0;
}

void wd_keycache_free(wd_keycache *kc)
{
    free(kc->arena);
    kc->arena = NULL;
    kc->used = kc->cap = 0;
    kc->count = 0;
}

int wd_keycache_find(const wd_keycache *kc, const whelk_key *key,
                     const char *addr, wd_key_opts *opts)
{
    size_t want_len;
    const uint8_t *want = whelk_key_blob(key, &want_len);
    size_t off = 0;
    while (off + 12 <= kc->used) {
        uint32_t lineno, blob_len, opt_len;
        memcpy(&lineno, kc->arena + off, 4);
        memcpy(&blob_len, kc->arena + off + 4, 4);
        memcpy(&opt_len, kc->arena + off + 8, 4);
        const uint8_t *blob = kc->arena + off + 12;
        const char *otext = (const char *)blob + blob_len;
        off += 12 + (size_t)blob_len + opt_len;
        if (blob_len != want_len || memcmp(blob, want, want_len) != 0)
            continue;
        char from[1024];
        const char *why;
        size_t i = 0;
        memset(opts, 0, sizeof(*opts));
        from[0] = 0;
        if (opt_len &&
            parse_options(otext, opt_len, &i, opts, from, sizeof(from),
                          &why) != 0)
            continue; /* cannot happen: it parsed when loaded */
        if (from[0] && !wd_match_from(from, addr)) {
            wd_log(WHELK_LOG_INFO,
                   "Authentication tried for key from %s not matching "
                   "from=\"%s\" (%s:%u)",
                   addr, from, kc->path, lineno);
            wd_key_opts_clear(opts);
            continue;
        }
        return 1;
    }
    return 0;
}
