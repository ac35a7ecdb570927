/*
 * confile: sshd_config(5) files (confile.h).
 */
#include "confile.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "match.h"

/* One kept line: its text, where it came from, and the Match block it
 * belongs to (-1: global; -2: the command line). */
typedef struct conf_line {
    char *text;
    const char *file;
    int line;
    int block;
} conf_line;

typedef struct conf_block {
    char *criteria; /* the Match line, for evaluation */
} conf_block;

static conf_line *lines;
static int n_lines, cap_lines;
static conf_block *blocks;
static int n_blocks;
static char *files[WD_CONF_MAX_FILES];
static int n_files;
static int in_block = -1; /* while loading */
static void (*replay)(wd_keywords *kw);

void wd_conf_set_replay(void (*fn)(wd_keywords *kw))
{
    replay = fn;
}

static int keep_line(const char *text, const char *file, int line, int block)
{
    if (n_lines >= WD_CONF_MAX_LINES) return -1;
    if (n_lines == cap_lines) {
        int cap = cap_lines ? cap_lines * 2 : 64;
        conf_line *l = realloc(lines, (size_t)cap * sizeof(*l));
        if (!l) return -1;
        lines = l;
        cap_lines = cap;
    }
    char *t = strdup(text);
    if (!t) return -1;
    lines[n_lines++] = (conf_line){t, file, line, block};
    return 0;
}

int wd_conf_cmdline(const char *line, char *err, size_t errlen)
{
    if (keep_line(line, "command-line", 0, -2) != 0) {
        snprintf(err, errlen, "too many command-line keywords");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Match criteria.
 */

static const char *const criteria_names[] = {
    "User", "Group", "Address", "LocalAddress", "LocalPort", "Host",
};

int wd_conf_match_check(int ac, char **av, char *err, size_t errlen)
{
    if (ac == 0) {
        snprintf(err, errlen, "Match with no criteria");
        return -1;
    }
    if (strcasecmp(av[0], "All") == 0) {
        if (ac > 1) {
            snprintf(err, errlen, "'all' cannot be combined with other "
                                  "Match attributes");
            return -1;
        }
        return 0;
    }
    for (int i = 0; i < ac; i += 2) {
        int known = 0;
        for (size_t k = 0; k < sizeof(criteria_names) / sizeof(*criteria_names);
             k++)
            if (strcasecmp(av[i], criteria_names[k]) == 0) known = 1;
        if (strcasecmp(av[i], "All") == 0) {
            snprintf(err, errlen, "'all' cannot be combined with other "
                                  "Match attributes");
            return -1;
        }
        if (!known) {
            snprintf(err, errlen, "Unsupported Match attribute %s", av[i]);
            return -1;
        }
        if (i + 1 >= ac || av[i + 1][0] == 0) {
            snprintf(err, errlen, "Missing Match criteria for %s", av[i]);
            return -1;
        }
        if ((strcasecmp(av[i], "Address") == 0 ||
             strcasecmp(av[i], "LocalAddress") == 0) &&
            wd_match_addr_list("0.0.0.0", av[i + 1]) == -2) {
            snprintf(err, errlen, "Match %s: invalid address list \"%s\"",
                     av[i], av[i + 1]);
            return -1;
        }
        if (strcasecmp(av[i], "LocalPort") == 0) {
            char *end;
            long p = strtol(av[i + 1], &end, 10);
            if (*end || p < 1 || p > 65535) {
                snprintf(err, errlen, "Match LocalPort: invalid port \"%s\"",
                         av[i + 1]);
                return -1;
            }
        }
    }
    return 0;
}

/* sshd's match_cfg_line for Group: any of the user's groups matching the
 * list (a negated match refuses). */
static int match_groups(const wd_match_ctx *ctx, const char *list)
{
    int any = 0;
    for (int g = 0; g < ctx->ngroups; g++) {
        struct group gr, *res = NULL;
        char buf[4096];
        if (getgrgid_r(ctx->groups[g], &gr, buf, sizeof(buf), &res) != 0 ||
            !res)
            continue;
        int m = wd_match_list(gr.gr_name, list, 0);
        if (m < 0) return 0;
        if (m > 0) any = 1;
    }
    return any;
}

int wd_conf_match_eval(int ac, char **av, const wd_match_ctx *ctx)
{
    if (ac >= 1 && strcasecmp(av[0], "All") == 0) return 1;
    for (int i = 0; i + 1 < ac; i += 2) {
        const char *what = av[i], *arg = av[i + 1];
        int ok;
        if (strcasecmp(what, "User") == 0) {
            ok = ctx->user && wd_match_list(ctx->user, arg, 0) == 1;
        } else if (strcasecmp(what, "Group") == 0) {
            ok = ctx->user && match_groups(ctx, arg);
        } else if (strcasecmp(what, "Address") == 0) {
            ok = ctx->addr && wd_match_addr_list(ctx->addr, arg) == 1;
        } else if (strcasecmp(what, "Host") == 0) {
            /* UseDNS no: the client's host is its address. */
            ok = ctx->addr && wd_match_host_and_ip(ctx->addr, ctx->addr,
                                                   arg) == 1;
        } else if (strcasecmp(what, "LocalAddress") == 0) {
            ok = ctx->laddr && wd_match_addr_list(ctx->laddr, arg) == 1;
        } else if (strcasecmp(what, "LocalPort") == 0) {
            ok = ctx->lport == atoi(arg);
        } else {
            ok = 0;
        }
        if (!ok) return 0;
    }
    return 1;
}

/* The keywords sshd_config(5) allows after Match, less those whelkd
 * reads for the whole server only (they would be silently global). */
static const char *const match_keywords[] = {
    "AllowAgentForwarding", "AllowGroups", "AllowStreamLocalForwarding",
    "AllowTcpForwarding", "AllowUsers", "AuthenticationMethods",
    "AuthorizedKeysCommand", "AuthorizedKeysCommandUser",
    "AuthorizedKeysFile", "ChannelTimeout", "ChrootDirectory",
    "ClientAliveCountMax",
    "ClientAliveInterval", "DenyGroups", "DenyUsers", "DisableForwarding",
    "ForceCommand", "GatewayPorts", "KbdInteractiveAuthentication",
    "MaxAuthTries", "MaxSessions", "PasswordAuthentication",
    "PermitEmptyPasswords", "PermitListen", "PermitOpen",
    "PermitRootLogin", "PermitTTY", "PermitTunnel", "PermitUserEnvironment",
    "PubkeyAuthentication", "RekeyLimit", "SetEnv", "StreamLocalBindMask",
    "StreamLocalBindUnlink", "UnusedConnectionTimeout", "X11DisplayOffset",
    "X11Forwarding",
    "X11UseLocalhost",
};

static int allowed_in_match(const char *key)
{
    for (size_t i = 0; i < sizeof(match_keywords) / sizeof(*match_keywords);
         i++)
        if (strcasecmp(key, match_keywords[i]) == 0) return 1;
    return 0;
}

/* ------------------------------------------------------------------------
 * Reading files.
 */

static int load_file(const char *path, int depth, int required,
                     wd_keywords *kw, wd_keywords *scratch, char *err,
                     size_t errlen);

static const char *keep_name(const char *path)
{
    if (n_files >= WD_CONF_MAX_FILES) return NULL;
    char *name = strdup(path);
    if (name) files[n_files++] = name;
    return name;
}

static int include(const char *dir, const char *pattern, int depth,
                   wd_keywords *kw, wd_keywords *scratch, const char *file,
                   int line, char *err, size_t errlen)
{
    char full[PATH_MAX];
    if (pattern[0] == '/')
        snprintf(full, sizeof(full), "%s", pattern);
    else if ((size_t)snprintf(full, sizeof(full), "%s/%s", dir, pattern) >=
             sizeof(full)) {
        snprintf(err, errlen, "%s line %d: Include path too long", file,
                 line);
        return -1;
    }
    glob_t g;
    int rc = glob(full, 0, NULL, &g);
    if (rc == GLOB_NOMATCH) return 0; /* as sshd: nothing to include */
    if (rc != 0) {
        snprintf(err, errlen, "%s line %d: Include %s: cannot expand", file,
                 line, pattern);
        return -1;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        rc = load_file(g.gl_pathv[i], depth + 1, 1, kw, scratch, err,
                       errlen);
        if (rc != 0) break;
    }
    globfree(&g);
    return rc;
}

/* Reads at most WD_CONF_MAX_FILE bytes of a regular file, NUL-free. */
static char *slurp(const char *path, size_t *len, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "not a regular file");
        close(fd);
        return NULL;
    }
    if (st.st_size > WD_CONF_MAX_FILE) {
        snprintf(why, whylen, "larger than %d bytes", WD_CONF_MAX_FILE);
        close(fd);
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    buf[got] = 0;
    if (memchr(buf, 0, got)) {
        snprintf(why, whylen, "contains a NUL byte");
        free(buf);
        return NULL;
    }
    *len = got;
    return buf;
}

static int parse_text(const char *path, char *text, int depth,
                      wd_keywords *kw, wd_keywords *scratch, char *err,
                      size_t errlen);

static int load_file(const char *path, int depth, int required,
                     wd_keywords *kw, wd_keywords *scratch, char *err,
                     size_t errlen)
{
    if (depth > WD_CONF_MAX_DEPTH) {
        snprintf(err, errlen, "%s: Include nested too deep (more than %d)",
                 path, WD_CONF_MAX_DEPTH);
        return -1;
    }
    char why[128];
    size_t len;
    char *text = slurp(path, &len, why, sizeof(why));
    if (!text) {
        if (!required && strcmp(why, strerror(ENOENT)) == 0) return 0;
        snprintf(err, errlen, "%s: cannot read: %s", path, why);
        return -1;
    }
    int rc = parse_text(path, text, depth, kw, scratch, err, errlen);
    free(text);
    return rc;
}

/* |text| (NUL-terminated, modified) as the file |path|. */
static int parse_text(const char *path, char *text, int depth,
                      wd_keywords *kw, wd_keywords *scratch, char *err,
                      size_t errlen)
{
    const char *name = keep_name(path);
    if (!name) {
        snprintf(err, errlen, "%s: too many configuration files (more "
                              "than %d, or out of memory)",
                 path, WD_CONF_MAX_FILES);
        return -1;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = 0;
    else if (slash) *slash = 0;
    else snprintf(dir, sizeof(dir), ".");

    wd_keyword_words *w = malloc(sizeof(*w));
    int rc = w ? 0 : -1;
    if (!w) snprintf(err, errlen, "out of memory");
    /* sshd: a Match block ends at the end of the file that opened it. */
    int outer_block = in_block;
    char *p = text;
    for (int lineno = 1; rc == 0 && p && *p; lineno++) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        char msg[1024];
        if (wd_keyword_split(p, w, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "%s line %d: %s", name, lineno, msg);
            rc = -1;
        } else if (!w->key) {
            /* empty or a comment */
        } else if (strcasecmp(w->key, "Include") == 0) {
            if (w->ac == 0) {
                snprintf(err, errlen, "%s line %d: Include missing "
                                      "filename argument",
                         name, lineno);
                rc = -1;
            }
            for (int i = 0; rc == 0 && i < w->ac; i++)
                rc = include(dir, w->av[i], depth, kw, scratch, name, lineno,
                             err, errlen);
        } else if (strcasecmp(w->key, "Match") == 0) {
            if (wd_conf_match_check(w->ac, w->av, msg, sizeof(msg)) != 0) {
                snprintf(err, errlen, "%s line %d: %s", name, lineno, msg);
                rc = -1;
            } else if (n_blocks >= WD_CONF_MAX_BLOCKS) {
                snprintf(err, errlen, "%s line %d: more than %d Match "
                                      "blocks",
                         name, lineno, WD_CONF_MAX_BLOCKS);
                rc = -1;
            } else {
                conf_block *b =
                    realloc(blocks, (size_t)(n_blocks + 1) * sizeof(*b));
                char *crit = strdup(p);
                if (!b || !crit) {
                    if (b) blocks = b;
                    free(crit);
                    snprintf(err, errlen, "out of memory");
                    rc = -1;
                } else {
                    blocks = b;
                    blocks[n_blocks].criteria = crit;
                    in_block = n_blocks++;
                    /* Each block's lines are checked in a copy of their
                     * own, so an error shows at -t, not at a login. */
                    wd_keywords_defaults(scratch);
                }
            }
        } else if (in_block >= 0 && !allowed_in_match(w->key)) {
            snprintf(err, errlen, "%s line %d: Directive '%s' is not "
                                  "allowed within a Match block",
                     name, lineno, w->key);
            rc = -1;
        } else {
            wd_keywords *into = in_block >= 0 ? scratch : kw;
            if (wd_keyword_args(into, w->key, w->ac, w->av, msg,
                                sizeof(msg)) != 0) {
                snprintf(err, errlen, "%s line %d: %s", name, lineno, msg);
                rc = -1;
            } else if (in_block >= 0 &&
                       keep_line(p, name, lineno, in_block) != 0) {
                snprintf(err, errlen, "%s line %d: too many lines (more "
                                      "than %d)",
                         name, lineno, WD_CONF_MAX_LINES);
                rc = -1;
            } else if (in_block < 0 &&
                       keep_line(p, name, lineno, -1) != 0) {
                snprintf(err, errlen, "%s line %d: too many lines (more "
                                      "than %d)",
                         name, lineno, WD_CONF_MAX_LINES);
                rc = -1;
            }
        }
        p = nl ? nl + 1 : NULL;
    }
    in_block = outer_block;
    free(w);
    return rc;
}

/* Applies the kept lines of |block| (-1 global, -2 command line). */
static int apply_lines(wd_keywords *kw, int block, wd_keyword_words *w)
{
    char msg[1024];
    for (int i = 0; i < n_lines; i++) {
        if (lines[i].block != block) continue;
        if (wd_keyword_split(lines[i].text, w, msg, sizeof(msg)) != 0 ||
            !w->key)
            continue;
        /* Checked when loaded; a failure now changes nothing. */
        wd_keyword_args(kw, w->key, w->ac, w->av, msg, sizeof(msg));
    }
    return 0;
}

int wd_conf_load(const char *path, int required, wd_keywords *kw, char *err,
                 size_t errlen)
{
    wd_keywords *scratch = malloc(sizeof(*scratch));
    if (!scratch) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* The command line's lines were applied by the caller as given. */
    in_block = -1;
    int rc = path ? load_file(path, 0, required, kw, scratch, err, errlen)
                  : 0;
    free(scratch);
    return rc;
}

int wd_conf_load_buffer(const char *name, const char *text, size_t len,
                        wd_keywords *kw, char *err, size_t errlen)
{
    if (len > WD_CONF_MAX_FILE || memchr(text, 0, len)) {
        snprintf(err, errlen, "%s: too large or contains a NUL byte", name);
        return -1;
    }
    char *copy = malloc(len + 1);
    wd_keywords *scratch = malloc(sizeof(*scratch));
    int rc = -1;
    if (copy && scratch) {
        memcpy(copy, text, len);
        copy[len] = 0;
        in_block = -1;
        rc = parse_text(name, copy, 0, kw, scratch, err, errlen);
    } else {
        snprintf(err, errlen, "out of memory");
    }
    free(copy);
    free(scratch);
    return rc;
}

wd_keywords *wd_conf_resolve(const wd_match_ctx *ctx, int *failed)
{
    *failed = 0;
    if (n_blocks == 0) return NULL;
    wd_keyword_words *w = malloc(sizeof(*w));
    if (!w) goto oom;
    char msg[256];
    int any = 0;
    for (int b = 0; b < n_blocks && !any; b++)
        any = wd_keyword_split(blocks[b].criteria, w, msg, sizeof(msg)) == 0 &&
              wd_conf_match_eval(w->ac, w->av, ctx);
    if (!any) {
        free(w);
        return NULL;
    }
    /* The flags override the file, Match blocks included; among the
     * file's lines, a matching block's come before the global ones. */
    wd_keywords *kw = malloc(sizeof(*kw));
    if (!kw) goto oom;
    wd_keywords_defaults(kw);
    if (replay) replay(kw);
    apply_lines(kw, -2, w);
    for (int b = 0; b < n_blocks; b++)
        if (wd_keyword_split(blocks[b].criteria, w, msg, sizeof(msg)) == 0 &&
            wd_conf_match_eval(w->ac, w->av, ctx))
            apply_lines(kw, b, w);
    apply_lines(kw, -1, w);
    /* Lists given by the flags stay the flags' alone, as globally. */
    free(w);
    return kw;
oom:
    free(w);
    *failed = 1;
    return NULL;
}

int wd_conf_parse_spec(char *spec, wd_match_ctx *ctx, gid_t *groups,
                       int maxgroups, char *err, size_t errlen)
{
    memset(ctx, 0, sizeof(*ctx));
    char *save = NULL;
    for (char *kv = strtok_r(spec, ",", &save); kv;
         kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            snprintf(err, errlen, "-C: \"%s\" is not key=value", kv);
            return -1;
        }
        *eq = 0;
        const char *v = eq + 1;
        if (strcasecmp(kv, "user") == 0) ctx->user = v;
        else if (strcasecmp(kv, "addr") == 0) ctx->addr = v;
        else if (strcasecmp(kv, "host") == 0) { /* no DNS: unused */ }
        else if (strcasecmp(kv, "laddr") == 0) ctx->laddr = v;
        else if (strcasecmp(kv, "lport") == 0) ctx->lport = atoi(v);
        else if (strcasecmp(kv, "rdomain") == 0) { /* not supported */ }
        else {
            snprintf(err, errlen, "-C: unknown key \"%s\"", kv);
            return -1;
        }
    }
    if (ctx->user) {
        struct passwd pw, *res = NULL;
        char buf[4096];
        int n = maxgroups;
        if (getpwnam_r(ctx->user, &pw, buf, sizeof(buf), &res) == 0 && res &&
            getgrouplist(ctx->user, pw.pw_gid, groups, &n) >= 0) {
            ctx->groups = groups;
            ctx->ngroups = n;
        }
    }
    return 0;
}

void wd_conf_reset(void)
{
    for (int i = 0; i < n_lines; i++) free(lines[i].text);
    free(lines);
    lines = NULL;
    n_lines = cap_lines = 0;
    for (int i = 0; i < n_blocks; i++) free(blocks[i].criteria);
    free(blocks);
    blocks = NULL;
    n_blocks = 0;
    for (int i = 0; i < n_files; i++) free(files[i]);
    n_files = 0;
    in_block = -1;
}
