/*
 * daemonconf: the daemon's own sshd_config keywords (daemonconf.h).
 */
#include "daemonconf.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "keywords.h"

enum {
    SET_FAMILY = 1u << 0,
    SET_PIDFILE = 1u << 1,
    SET_BANNER = 1u << 2,
};

static int add_word(wd_kw_list *l, const char *word)
{
    size_t n = strlen(word) + 1;
    if (l->n >= WD_KW_LIST_MAX || n > sizeof(l->text) - l->used) return -1;
    memcpy(l->text + l->used, word, n);
    l->used += n;
    l->n++;
    return 0;
}

static int parse_port(const char *s)
{
    char *end;
    long p = strtol(s, &end, 10);
    return *end || p < 1 || p > 65535 ? -1 : (int)p;
}

/* "host", "host:port", "[v6]", "[v6]:port", bare v6: 0 or -1. */
static int check_listen_address(const char *s)
{
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end == s + 1) return -1;
        if (end[1] == 0) return 0;
        return end[1] == ':' && parse_port(end + 2) > 0 ? 0 : -1;
    }
    const char *colon = strchr(s, ':');
    if (colon && strchr(colon + 1, ':')) return 0; /* a bare v6 address */
    if (colon) return colon > s && parse_port(colon + 1) > 0 ? 0 : -1;
    return s[0] ? 0 : -1;
}

int wd_daemon_keyword(wd_keywords *kw, const char *key, int ac, char **av,
                      char *err, size_t errlen)
{
    struct wd_daemon_conf *d = &kw->daemon;
    if (strcasecmp(key, "Port") == 0) {
        if (wd_kw_one_arg(key, ac, err, errlen)) return WD_KW_ERROR;
        if (parse_port(av[0]) < 0) {
            snprintf(err, errlen, "Badly formatted port number.");
            return WD_KW_ERROR;
        }
        if (d->locked & 1u) return WD_KW_DONE;
        if (add_word(&d->ports, av[0])) goto full;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "ListenAddress") == 0) {
        if (ac > 1 && !(ac == 3 && strcasecmp(av[1], "rdomain") == 0)) {
            snprintf(err, errlen, "keyword %s extra arguments at end of "
                                  "line", key);
            return WD_KW_ERROR;
        }
        if (ac == 3) {
            snprintf(err, errlen, "ListenAddress: rdomain is not supported "
                                  "by whelkd");
            return WD_KW_ERROR;
        }
        if (check_listen_address(av[0]) != 0) {
            snprintf(err, errlen, "Invalid ListenAddress \"%s\"", av[0]);
            return WD_KW_ERROR;
        }
        if (d->locked & 2u) return WD_KW_DONE;
        if (add_word(&d->listen_addrs, av[0])) goto full;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "HostKey") == 0) {
        if (wd_kw_one_arg(key, ac, err, errlen)) return WD_KW_ERROR;
        if (d->locked & 4u) return WD_KW_DONE;
        if (add_word(&d->host_keys, av[0])) goto full;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "AcceptEnv") == 0) {
        for (int i = 0; i < ac; i++) {
            if (strchr(av[i], '=')) {
                snprintf(err, errlen, "Invalid environment name in "
                                      "AcceptEnv: %s", av[i]);
                return WD_KW_ERROR;
            }
            if (d->locked & 8u) continue;
            if (add_word(&d->accept_env, av[i])) goto full;
        }
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "Subsystem") == 0) {
        if (ac < 2) {
            snprintf(err, errlen, "Subsystem: missing command");
            return WD_KW_ERROR;
        }
        /* "name command args": kept as "name=command args". */
        char line[2048];
        size_t n = (size_t)snprintf(line, sizeof(line), "%s=", av[0]);
        for (int i = 1; i < ac && n < sizeof(line); i++)
            n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s",
                                  i > 1 ? " " : "", av[i]);
        if (n >= sizeof(line)) {
            snprintf(err, errlen, "Subsystem: command too long");
            return WD_KW_ERROR;
        }
        size_t name_len = strlen(av[0]);
        for (const char *s = wd_kw_list_next(&d->subsystems, NULL); s;
             s = wd_kw_list_next(&d->subsystems, s))
            if (strncmp(s, av[0], name_len) == 0 && s[name_len] == '=') {
                if (d->locked & 16u) return WD_KW_DONE;
                snprintf(err, errlen, "Subsystem '%s' already defined.",
                         av[0]);
                return WD_KW_ERROR;
            }
        if (d->locked & 16u) return WD_KW_DONE;
        if (add_word(&d->subsystems, line)) goto full;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "AddressFamily") == 0) {
        if (wd_kw_one_arg(key, ac, err, errlen)) return WD_KW_ERROR;
        int f = strcasecmp(av[0], "any") == 0     ? WD_AF_ANY
                : strcasecmp(av[0], "inet") == 0  ? WD_AF_INET
                : strcasecmp(av[0], "inet6") == 0 ? WD_AF_INET6
                                                  : -1;
        if (f < 0) {
            snprintf(err, errlen, "unsupported option \"%s\".", av[0]);
            return WD_KW_ERROR;
        }
        if (!(d->set & SET_FAMILY)) d->family = f;
        d->set |= SET_FAMILY;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "PidFile") == 0 || strcasecmp(key, "Banner") == 0) {
        if (wd_kw_one_arg(key, ac, err, errlen)) return WD_KW_ERROR;
        int pid = strcasecmp(key, "PidFile") == 0;
        unsigned bit = pid ? SET_PIDFILE : SET_BANNER;
        char *slot = pid ? d->pid_file : d->banner;
        if (strlen(av[0]) >= sizeof(d->pid_file)) {
            snprintf(err, errlen, "%s: path too long", key);
            return WD_KW_ERROR;
        }
        if (!(d->set & bit))
            snprintf(slot, sizeof(d->pid_file), "%s",
                     strcasecmp(av[0], "none") == 0 ? "" : av[0]);
        d->set |= bit;
        return WD_KW_DONE;
    }

    /* sshd keywords that mean nothing in whelkd's design, accepted with
     * the values that describe what whelkd does anyway. */
    static const struct {
        const char *name, *values; /* "" : any value */
    } inert[] = {
        {"UsePrivilegeSeparation", ""}, /* deprecated in sshd too */
        {"Protocol", "2"},
        {"Compression", "no"},
        {"UseDNS", "no"},
        {"PermitTunnel", "no"},
        {"HostbasedAuthentication", "no"},
        {"GSSAPIAuthentication", "no"},
        {"KerberosAuthentication", "no"},
        {"IgnoreRhosts", "yes"},
        {"IgnoreUserKnownHosts", ""},
        {"PermitUserRC", "no"},
        {"VersionAddendum", "none"},
        {"UseLogin", "no"},
    };
    for (size_t i = 0; i < sizeof(inert) / sizeof(*inert); i++) {
        if (strcasecmp(key, inert[i].name) != 0) continue;
        if (inert[i].values[0] &&
            (ac != 1 || strcasecmp(av[0], inert[i].values) != 0)) {
            snprintf(err, errlen, "%s %s: not supported by whelkd (only "
                                  "\"%s\", which is what it does)",
                     key, av[0], inert[i].values);
            return WD_KW_ERROR;
        }
        return WD_KW_DONE;
    }
    return WD_KW_NOT_MINE;
full:
    snprintf(err, errlen, "%s: too many values", key);
    return WD_KW_ERROR;
}

/* Keywords of features another issue is building: accepted, shown by -T,
 * with one warning naming the feature. None today (UsePAM was the last);
 * the table keeps its place, ended by an empty entry. */
static const struct {
    const char *name, *feature;
} pending[] = {
    {"", ""},
};

/* Written only while the configuration is read, at start-up (the
 * Match copies made later on pool threads find every flag set). */
static unsigned char pending_warned[sizeof(pending) / sizeof(*pending)];

int wd_pending_keyword(wd_keywords *kw, const char *key, int ac, char **av,
                       char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof(pending) / sizeof(*pending); i++) {
        if (!pending[i].name[0] || strcasecmp(key, pending[i].name) != 0)
            continue;
        struct wd_daemon_conf *d = &kw->daemon;
        if (i < WD_PENDING_MAX && !d->pending[i][0]) {
            char v[sizeof(d->pending[i])];
            size_t n = 0;
            v[0] = 0;
            for (int a = 0; a < ac && n < sizeof(v); a++)
                n += (size_t)snprintf(v + n, sizeof(v) - n, "%s%s",
                                      a ? " " : "", av[a]);
            snprintf(d->pending[i], sizeof(d->pending[i]), "%s", v);
            if (!pending_warned[i])
                fprintf(stderr,
                        "whelkd: warning: %s %s: %s is not built yet; the "
                        "keyword has no effect\n",
                        pending[i].name, v, pending[i].feature);
            pending_warned[i] = 1; /* once per process, not per copy */
        }
        return WD_KW_DONE;
    }
    (void)err;
    (void)errlen;
    return WD_KW_NOT_MINE;
}

void wd_pending_dump(const wd_keywords *kw, FILE *out)
{
    for (size_t i = 0; i < sizeof(pending) / sizeof(*pending); i++) {
        if (!kw->daemon.pending[i][0]) continue;
        char lower[64];
        size_t n = 0;
        for (; pending[i].name[n] && n + 1 < sizeof(lower); n++)
            lower[n] = (char)(pending[i].name[n] | 0x20);
        lower[n] = 0;
        fprintf(out, "%s %s\n", lower, kw->daemon.pending[i]);
    }
}

void wd_daemon_lock_lists(wd_keywords *kw)
{
    struct wd_daemon_conf *d = &kw->daemon;
    if (d->ports.n || d->listen_addrs.n) d->locked |= 1u | 2u;
    if (d->host_keys.n) d->locked |= 4u;
    if (d->accept_env.n) d->locked |= 8u;
    if (d->subsystems.n) d->locked |= 16u;
}

int wd_daemon_listen_list(const wd_keywords *kw, char (*out)[128], int max,
                          char *err, size_t errlen)
{
    const struct wd_daemon_conf *d = &kw->daemon;
    const char *ports_default[] = {"22"};
    int n = 0;
    int nports = d->ports.n ? (int)d->ports.n : 1;
    /* Without ListenAddress: every address, for each Port. [::] takes
     * IPv4 too (v4-mapped) unless AddressFamily says only one. */
    const char *any = d->family == WD_AF_INET ? "0.0.0.0" : "::";
    const char *addr = NULL;
    int naddr = d->listen_addrs.n ? (int)d->listen_addrs.n : 1;
    for (int a = 0; a < naddr; a++) {
        addr = d->listen_addrs.n ? wd_kw_list_next(&d->listen_addrs,
                                                   a ? addr : NULL)
                                 : any;
        char host[128];
        const char *port = NULL;
        /* Split an explicit port off. */
        if (addr[0] == '[') {
            const char *end = strchr(addr, ']');
            snprintf(host, sizeof(host), "%.*s", (int)(end - addr - 1),
                     addr + 1);
            if (end[1] == ':') port = end + 2;
        } else {
            const char *colon = strchr(addr, ':');
            if (colon && !strchr(colon + 1, ':')) {
                snprintf(host, sizeof(host), "%.*s", (int)(colon - addr),
                         addr);
                port = colon + 1;
            } else {
                snprintf(host, sizeof(host), "%s", addr);
            }
        }
        struct addrinfo hints = {0}, *res = NULL;
        hints.ai_family = d->family == WD_AF_INET    ? AF_INET
                          : d->family == WD_AF_INET6 ? AF_INET6
                                                     : AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE;
        int rc = getaddrinfo(host, NULL, &hints, &res);
        if (rc != 0) {
            snprintf(err, errlen, "ListenAddress %s: %s", host,
                     gai_strerror(rc));
            return -1;
        }
        const char *p = NULL;
        for (int i = 0; i < (port ? 1 : nports); i++) {
            p = port ? port
                : d->ports.n ? wd_kw_list_next(&d->ports, i ? p : NULL)
                             : ports_default[0];
            for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                char num[INET6_ADDRSTRLEN];
                const void *src =
                    ai->ai_family == AF_INET
                        ? (const void *)&((struct sockaddr_in *)ai->ai_addr)
                              ->sin_addr
                        : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)
                              ->sin6_addr;
                if (!inet_ntop(ai->ai_family, src, num, sizeof(num)))
                    continue;
                char spec[128];
                snprintf(spec, sizeof(spec),
                         ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", num,
                         p);
                int dup = 0;
                for (int k = 0; k < n; k++)
                    if (strcmp(out[k], spec) == 0) dup = 1;
                if (dup) continue;
                if (n == max) {
                    freeaddrinfo(res);
                    snprintf(err, errlen, "too many listen addresses (more "
                                          "than %d)", max);
                    return -1;
                }
                snprintf(out[n++], 128, "%s", spec);
            }
        }
        freeaddrinfo(res);
    }
    return n;
}

static void dump_list(FILE *out, const char *name, const wd_kw_list *l)
{
    for (const char *s = wd_kw_list_next(l, NULL); s;
         s = wd_kw_list_next(l, s))
        fprintf(out, "%s %s\n", name, s);
}

void wd_daemon_dump(const wd_keywords *kw, FILE *out)
{
    const struct wd_daemon_conf *d = &kw->daemon;
    if (d->ports.n) dump_list(out, "port", &d->ports);
    else fprintf(out, "port 22\n");
    fprintf(out, "addressfamily %s\n",
            d->family == WD_AF_INET    ? "inet"
            : d->family == WD_AF_INET6 ? "inet6"
                                       : "any");
    char addrs[WD_MAX_LISTEN_ADDRS][128], err[256];
    int n = wd_daemon_listen_list(kw, addrs, WD_MAX_LISTEN_ADDRS, err,
                                  sizeof(err));
    for (int i = 0; i < n; i++) fprintf(out, "listenaddress %s\n", addrs[i]);
    dump_list(out, "hostkey", &d->host_keys);
    fprintf(out, "pidfile %s\n", d->pid_file[0] ? d->pid_file : "none");
    dump_list(out, "acceptenv", &d->accept_env);
    for (const char *s = wd_kw_list_next(&d->subsystems, NULL); s;
         s = wd_kw_list_next(&d->subsystems, s)) {
        const char *eq = strchr(s, '=');
        fprintf(out, "subsystem %.*s %s\n", (int)(eq - s), s, eq + 1);
    }
    fprintf(out, "banner %s\n", d->banner[0] ? d->banner : "none");
    fprintf(out, "compression no\nusedns no\n"
                 "permittunnel no\n");
}
