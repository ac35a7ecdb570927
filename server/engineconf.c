/*
 * engineconf: keywords that are engine settings (engineconf.h).
 */
#include "engineconf.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "keywords.h"
#include "match.h"

enum {
    SET_HOSTKEY = 1u << 0,
    SET_PUBKEY = 1u << 1,
    SET_CA = 1u << 2,
    SET_REKEY = 1u << 3,
    SET_SESSIONS = 1u << 4,
    SET_ALIVE = 1u << 5,
    SET_ALIVE_COUNT = 1u << 6,
    SET_UNUSED = 1u << 7,
    SET_KEX = 1u << 8,
    SET_CIPHERS = 1u << 9,
    SET_MACS = 1u << 10,
    SET_CHAN_TIMEOUT = 1u << 11,
};

/* ChannelTimeout pairs the library can hold (WK_MAX_CHANNEL_TIMEOUTS,
 * "global" apart). */
#define WD_CHAN_TIMEOUTS_MAX 16

/* One "type=interval" word: 0 with the type's length and the seconds,
 * or -1. */
static int chan_timeout_word(const char *w, size_t *type_len, long *secs)
{
    const char *eq = strchr(w, '=');
    if (!eq || eq == w || (size_t)(eq - w) > 128) return -1;
    *type_len = (size_t)(eq - w);
    *secs = wd_parse_time(eq + 1);
    return *secs < 0 ? -1 : 0;
}

void wd_engine_defaults(wd_keywords *kw)
{
    struct wd_engine_conf *e = &kw->engine;
    memset(e, 0, sizeof(*e));
    e->max_sessions = 10;
    e->alive_count = 3;
}

/* Whether every entry of the comma list |spec| (after a modifier) names
 * or matches at least one algorithm of |all|. */
static int entry_known(const char *all, const char *pat)
{
    char one[128];
    for (const char *p = all; *p;) {
        size_t n = strcspn(p, ",");
        if (n < sizeof(one)) {
            memcpy(one, p, n);
            one[n] = 0;
            if (wd_match_pattern(one, pat)) return 1;
        }
        p += n;
        if (*p) p++;
    }
    return 0;
}

/* Appends |name| to |out| unless there. 0 or -1 when full. */
static int add_name(char *out, size_t outlen, const char *name, size_t n)
{
    char one[128];
    if (n == 0 || n >= sizeof(one)) return n == 0 ? 0 : -1;
    memcpy(one, name, n);
    one[n] = 0;
    if (wd_match_list(one, out, 0) == 1) return 0;
    size_t used = strlen(out);
    if (used + (used ? 1 : 0) + n + 1 > outlen) return -1;
    if (used) out[used++] = ',';
    memcpy(out + used, name, n);
    out[used + n] = 0;
    return 0;
}

/* The names of |all| matching any entry of |pats| (|keep| 1) or none of
 * them (|keep| 0), in |all|'s order, appended to |out|. */
static int filter(const char *all, const char *pats, int keep, char *out,
                  size_t outlen)
{
    char one[128];
    for (const char *p = all; *p;) {
        size_t n = strcspn(p, ",");
        if (n < sizeof(one)) {
            memcpy(one, p, n);
            one[n] = 0;
            if ((wd_match_list(one, pats, 0) == 1) == keep &&
                add_name(out, outlen, p, n) != 0)
                return -1;
        }
        p += n;
        if (*p) p++;
    }
    return 0;
}

int wd_alg_list_expand(whelk_alg_list which, const char *spec, char *out,
                       size_t outlen)
{
    const char *all = whelk_algorithms_default(which);
    if (!all || !spec[0] || outlen == 0) return -1;
    out[0] = 0;
    char mod = spec[0] == '+' || spec[0] == '-' || spec[0] == '^' ? spec[0]
                                                                 : 0;
    const char *list = mod ? spec + 1 : spec;
    /* Every entry must name something the library has. */
    char entry[128];
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= sizeof(entry)) return -1;
        memcpy(entry, p, n);
        entry[n] = 0;
        if (!entry_known(all, entry)) return -1;
        p += n;
        if (*p) p++;
    }
    int rc = 0;
    switch (mod) {
    case '+': /* the default, then the named ones not in it yet */
        rc = filter(all, "*", 1, out, outlen);
        if (rc == 0) rc = filter(all, list, 1, out, outlen);
        break;
    case '-':
        rc = filter(all, list, 0, out, outlen);
        break;
    case '^': /* the named ones first, then the rest of the default */
        rc = filter(all, list, 1, out, outlen);
        if (rc == 0) rc = filter(all, "*", 1, out, outlen);
        break;
    default: /* exactly these, in this order (globs in |all|'s order) */
        for (const char *p = list; rc == 0 && *p;) {
            size_t n = strcspn(p, ",");
            memcpy(entry, p, n);
            entry[n] = 0;
            rc = strpbrk(entry, "*?") ? filter(all, entry, 1, out, outlen)
                                      : add_name(out, outlen, p, n);
            p += n;
            if (*p) p++;
        }
        break;
    }
    return rc == 0 && out[0] ? 0 : -1;
}

/* "1G", "512M", "64K", "100": bytes, or -1. */
static int64_t parse_size(const char *s)
{
    char *end;
    if (!isdigit((unsigned char)*s)) return -1;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned long long mult = 1;
    switch (*end) {
    case 0: break;
    case 'k': case 'K': mult = 1ull << 10; end++; break;
    case 'm': case 'M': mult = 1ull << 20; end++; break;
    case 'g': case 'G': mult = 1ull << 30; end++; break;
    default: return -1;
    }
    if (*end || v > (1ull << 40) / mult) return -1;
    return (int64_t)(v * mult);
}

static int set_number(wd_keywords *kw, unsigned bit, int *slot, long v)
{
    if (!(kw->engine.set & bit)) *slot = (int)v;
    kw->engine.set |= bit;
    return WD_KW_DONE;
}

int wd_engine_keyword(wd_keywords *kw, const char *key, int ac, char **av,
                      char *err, size_t errlen)
{
    struct wd_engine_conf *e = &kw->engine;
    /* Each list is kept as given (modifiers and all), checked now and
     * expanded when applied; "" means the library's default. */
    static const struct {
        const char *name;
        whelk_alg_list which;
        size_t off;
        unsigned bit;
    } lists[] = {
        {"KexAlgorithms", WHELK_LIST_KEX, offsetof(wd_keywords, kex),
         SET_KEX},
        {"Ciphers", WHELK_LIST_CIPHERS, offsetof(wd_keywords, ciphers),
         SET_CIPHERS},
        {"MACs", WHELK_LIST_MACS, offsetof(wd_keywords, macs), SET_MACS},
        {"HostKeyAlgorithms", WHELK_LIST_HOSTKEY,
         offsetof(wd_keywords, engine.hostkey_algs), SET_HOSTKEY},
        {"PubkeyAcceptedAlgorithms", WHELK_LIST_PUBKEY,
         offsetof(wd_keywords, engine.pubkey_algs), SET_PUBKEY},
        {"PubkeyAcceptedKeyTypes", WHELK_LIST_PUBKEY,
         offsetof(wd_keywords, engine.pubkey_algs), SET_PUBKEY},
        {"CASignatureAlgorithms", WHELK_LIST_PUBKEY,
         offsetof(wd_keywords, engine.ca_algs), SET_CA},
    };
    for (size_t i = 0; i < sizeof(lists) / sizeof(*lists); i++) {
        if (strcasecmp(key, lists[i].name) != 0) continue;
        if (ac != 1) {
            snprintf(err, errlen, "keyword %s extra arguments at end of "
                                  "line", key);
            return WD_KW_ERROR;
        }
        char expanded[sizeof(e->hostkey_algs)];
        if (wd_alg_list_expand(lists[i].which, av[0], expanded,
                               sizeof(expanded)) != 0) {
            snprintf(err, errlen, "Bad %s '%s'.", key, av[0]);
            return WD_KW_ERROR;
        }
        if (strlen(av[0]) >= sizeof(e->hostkey_algs)) {
            snprintf(err, errlen, "keyword %s: list too long", key);
            return WD_KW_ERROR;
        }
        if (!(e->set & lists[i].bit))
            snprintf((char *)kw + lists[i].off, sizeof(e->hostkey_algs), "%s",
                     av[0]);
        e->set |= lists[i].bit;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "RekeyLimit") == 0) {
        if (ac > 2) {
            snprintf(err, errlen, "keyword %s extra arguments at end of "
                                  "line", key);
            return WD_KW_ERROR;
        }
        int64_t bytes = 0;
        long secs = 0;
        if (strcasecmp(av[0], "default") != 0 &&
            ((bytes = parse_size(av[0])) < 16)) {
            snprintf(err, errlen, "RekeyLimit too small or bad: %s", av[0]);
            return WD_KW_ERROR;
        }
        if (ac == 2 && strcasecmp(av[1], "default") != 0) {
            secs = strcasecmp(av[1], "none") == 0 ? -1 : wd_parse_time(av[1]);
            if (secs < -1 || (secs == -1 && strcasecmp(av[1], "none"))) {
                snprintf(err, errlen, "Invalid RekeyLimit time: %s", av[1]);
                return WD_KW_ERROR;
            }
        }
        if (!(e->set & SET_REKEY)) {
            e->rekey_bytes = bytes;
            e->rekey_s = secs;
        }
        e->set |= SET_REKEY;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "ChannelTimeout") == 0) {
        /* sshd: "none" alone, or type=interval words (the type may hold
         * wildcards; 0 disables), first line wins. */
        if (strcasecmp(av[0], "none") == 0 && ac > 1) {
            snprintf(err, errlen, "keyword %s \"none\" argument must "
                                  "appear alone.", key);
            return WD_KW_ERROR;
        }
        char joined[sizeof(e->channel_timeout)];
        size_t used = 0;
        int pairs = 0;
        joined[0] = 0;
        for (int i = 0; i < ac && strcasecmp(av[0], "none") != 0; i++) {
            size_t tl;
            long secs;
            if (chan_timeout_word(av[i], &tl, &secs) != 0) {
                snprintf(err, errlen, "invalid channel timeout %s", av[i]);
                return WD_KW_ERROR;
            }
            if (strncmp(av[i], "global=", 7) != 0 &&
                ++pairs > WD_CHAN_TIMEOUTS_MAX) {
                snprintf(err, errlen, "%s: more than %d types", key,
                         WD_CHAN_TIMEOUTS_MAX);
                return WD_KW_ERROR;
            }
            size_t n = strlen(av[i]);
            if (used + n + 2 > sizeof(joined)) {
                snprintf(err, errlen, "%s: too long", key);
                return WD_KW_ERROR;
            }
            if (used) joined[used++] = ' ';
            memcpy(joined + used, av[i], n + 1);
            used += n;
        }
        if (!(e->set & SET_CHAN_TIMEOUT))
            memcpy(e->channel_timeout, joined, used + 1);
        e->set |= SET_CHAN_TIMEOUT;
        return WD_KW_DONE;
    }
    static const struct {
        const char *name;
        unsigned bit;
        size_t off;
        int is_time;
        long max;
    } nums[] = {
        {"MaxSessions", SET_SESSIONS,
         offsetof(struct wd_engine_conf, max_sessions), 0, 1024},
        {"ClientAliveInterval", SET_ALIVE,
         offsetof(struct wd_engine_conf, alive_interval), 1, 86400 * 7},
        {"ClientAliveCountMax", SET_ALIVE_COUNT,
         offsetof(struct wd_engine_conf, alive_count), 0, 1024},
        {"UnusedConnectionTimeout", SET_UNUSED,
         offsetof(struct wd_engine_conf, unused_timeout), 1, 86400 * 365},
    };
    for (size_t i = 0; i < sizeof(nums) / sizeof(*nums); i++) {
        if (strcasecmp(key, nums[i].name) != 0) continue;
        if (ac != 1) {
            snprintf(err, errlen, "keyword %s extra arguments at end of "
                                  "line", key);
            return WD_KW_ERROR;
        }
        long v;
        if (nums[i].is_time && strcasecmp(av[0], "none") == 0) {
            v = 0;
        } else if (nums[i].is_time) {
            v = wd_parse_time(av[0]);
        } else {
            char *end;
            v = strtol(av[0], &end, 10);
            if (*end || end == av[0]) v = -1;
        }
        if (v < 0 || v > nums[i].max) {
            snprintf(err, errlen, "%s: invalid value \"%s\"", key, av[0]);
            return WD_KW_ERROR;
        }
        return set_number(kw, nums[i].bit,
                          (int *)((char *)e + nums[i].off), v);
    }
    return WD_KW_NOT_MINE;
}

static void dump_list(FILE *out, const char *name, whelk_alg_list which,
                      const char *value)
{
    char expanded[1024];
    if (value[0] && wd_alg_list_expand(which, value, expanded,
                                       sizeof(expanded)) == 0)
        fprintf(out, "%s %s\n", name, expanded);
    else
        fprintf(out, "%s %s\n", name, whelk_algorithms_default(which));
}

void wd_engine_dump(const wd_keywords *kw, FILE *out)
{
    const struct wd_engine_conf *e = &kw->engine;
    dump_list(out, "kexalgorithms", WHELK_LIST_KEX, kw->kex);
    dump_list(out, "ciphers", WHELK_LIST_CIPHERS, kw->ciphers);
    dump_list(out, "macs", WHELK_LIST_MACS, kw->macs);
    dump_list(out, "hostkeyalgorithms", WHELK_LIST_HOSTKEY, e->hostkey_algs);
    dump_list(out, "pubkeyacceptedalgorithms", WHELK_LIST_PUBKEY,
              e->pubkey_algs);
    dump_list(out, "casignaturealgorithms", WHELK_LIST_PUBKEY, e->ca_algs);
    fprintf(out, "rekeylimit %lld %ld\n", (long long)e->rekey_bytes,
            e->rekey_s < 0 ? 0 : e->rekey_s);
    fprintf(out, "maxsessions %d\n", e->max_sessions);
    fprintf(out, "clientaliveinterval %d\n", e->alive_interval);
    fprintf(out, "clientalivecountmax %d\n", e->alive_count);
    if (e->unused_timeout)
        fprintf(out, "unusedconnectiontimeout %d\n", e->unused_timeout);
    else
        fprintf(out, "unusedconnectiontimeout none\n");
    /* As sshd -T: the words as given, no line for none. */
    if (e->channel_timeout[0])
        fprintf(out, "channeltimeout %s\n", e->channel_timeout);
}

static void settings(const wd_keywords *kw,
                     void (*set)(void *, whelk_setting, uint64_t), void *obj)
{
    const struct wd_engine_conf *e = &kw->engine;
    if (e->set & SET_REKEY) {
        set(obj, WHELK_SET_REKEY_BYTES,
            e->rekey_bytes ? (uint64_t)e->rekey_bytes : (uint64_t)1 << 30);
        if (e->rekey_s)
            set(obj, WHELK_SET_REKEY_MS,
                e->rekey_s < 0 ? 0 : (uint64_t)e->rekey_s * 1000);
    }
    set(obj, WHELK_SET_MAX_SESSIONS, (uint64_t)e->max_sessions);
    set(obj, WHELK_SET_CLIENT_ALIVE_MS, (uint64_t)e->alive_interval * 1000);
    set(obj, WHELK_SET_CLIENT_ALIVE_COUNT, (uint64_t)e->alive_count);
    set(obj, WHELK_SET_UNUSED_TIMEOUT_MS, (uint64_t)e->unused_timeout * 1000);
}

static int set_failed;
static void set_on_config(void *cfg, whelk_setting what, uint64_t v)
{
    if (whelk_config_set(cfg, what, v) != 0) set_failed = 1;
}

static void set_on_conn(void *conn, whelk_setting what, uint64_t v)
{
    whelk_conn_set(conn, what, v);
}

int wd_engine_apply_config(whelk_config *cfg, const wd_keywords *kw)
{
    const struct wd_engine_conf *e = &kw->engine;
    const struct {
        const char *name, *spec;
        whelk_alg_list which;
        int (*set)(whelk_config *, const char *);
    } lists[] = {
        {"KexAlgorithms", kw->kex, WHELK_LIST_KEX, whelk_config_set_kex},
        {"Ciphers", kw->ciphers, WHELK_LIST_CIPHERS, whelk_config_set_ciphers},
        {"MACs", kw->macs, WHELK_LIST_MACS, whelk_config_set_macs},
        {"HostKeyAlgorithms", e->hostkey_algs, WHELK_LIST_HOSTKEY,
         whelk_config_set_hostkey_algorithms},
        {"PubkeyAcceptedAlgorithms", e->pubkey_algs, WHELK_LIST_PUBKEY,
         whelk_config_set_pubkey_algorithms},
    };
    for (size_t i = 0; i < sizeof(lists) / sizeof(*lists); i++) {
        if (!lists[i].spec[0]) continue;
        char expanded[1024];
        if (wd_alg_list_expand(lists[i].which, lists[i].spec, expanded,
                               sizeof(expanded)) != 0 ||
            lists[i].set(cfg, expanded) != 0) {
            fprintf(stderr, "whelkd: %s %s: unknown or empty list\n",
                    lists[i].name, lists[i].spec);
            return -1;
        }
    }
    set_failed = 0;
    settings(kw, set_on_config, cfg);
    if (set_failed) {
        fprintf(stderr, "whelkd: an engine setting was refused\n");
        return -1;
    }
    return 0;
}

void wd_engine_apply_conn(whelk_conn *conn, const wd_keywords *kw)
{
    settings(kw, set_on_conn, conn);
}

int wd_engine_apply_channel_timeouts(whelk_conn *conn, const wd_keywords *kw)
{
    const char *p = kw->engine.channel_timeout;
    int rc = 0;
    while (*p) {
        char word[256];
        size_t n = strcspn(p, " ");
        size_t tl;
        long secs;
        if (n < sizeof(word)) {
            memcpy(word, p, n);
            word[n] = 0;
            if (chan_timeout_word(word, &tl, &secs) == 0) {
                word[tl] = 0;
                if (whelk_conn_set_channel_timeout(conn, word,
                                                   (uint64_t)secs * 1000) !=
                    0)
                    rc = -1;
            }
        }
        p += n;
        while (*p == ' ') p++;
    }
    return rc;
}
