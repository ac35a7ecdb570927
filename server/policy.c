/*
 * policy: the login-policy keywords, with sshd's spelling, values and
 * defaults (sshd_config(5)); see policy.h. The access lists are applied
 * in access.c, the key sources in auth.c, the rest by the engine
 * (wd_policy_apply_*).
 */
#include "policy.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "keywords.h"
#include "match.h"

enum {
    SET_PUBKEY = 1 << 0,
    SET_PASSWORD = 1 << 1,
    SET_KBDINT = 1 << 2,
    SET_EMPTY = 1 << 3,
    SET_STRICT = 1 << 4,
    SET_TRIES = 1 << 5,
    SET_GRACE = 1 << 6,
    SET_METHODS = 1 << 7,
    SET_AKF = 1 << 8,
    SET_AKC = 1 << 9,
    SET_AKCU = 1 << 10,
};

const char *wd_kw_list_next(const wd_kw_list *l, const char *prev)
{
    const char *p = prev ? prev + strlen(prev) + 1 : l->text;
    return p < l->text + l->used ? p : NULL;
}

static int list_add(wd_kw_list *l, const char *word)
{
    size_t n = strlen(word) + 1;
    if (l->n >= WD_KW_LIST_MAX || n > sizeof(l->text) - l->used) return -1;
    memcpy(l->text + l->used, word, n);
    l->used += n;
    l->n++;
    return 0;
}

void wd_policy_defaults(wd_keywords *kw)
{
    kw->pubkey_auth = kw->password_auth = kw->kbdint_auth = 1;
    kw->permit_empty_passwords = 0;
    kw->strict_modes = 1;
    kw->max_auth_tries = 6;
    kw->login_grace_s = 120;
    memset(&kw->authorized_keys_files, 0, sizeof(kw->authorized_keys_files));
    list_add(&kw->authorized_keys_files, ".ssh/authorized_keys");
    list_add(&kw->authorized_keys_files, ".ssh/authorized_keys2");
    kw->policy_set = 0;
}

long wd_parse_time(const char *s)
{
    if (!*s) return -1;
    long total = 0;
    while (*s) {
        if (!isdigit((unsigned char)*s)) return -1;
        char *end;
        long v = strtol(s, &end, 10);
        long mult = 1;
        switch (*end) {
        case 0: break;
        case 's': case 'S': end++; break;
        case 'm': case 'M': mult = 60; end++; break;
        case 'h': case 'H': mult = 3600; end++; break;
        case 'd': case 'D': mult = 86400; end++; break;
        case 'w': case 'W': mult = 604800; end++; break;
        default: return -1;
        }
        if (v > INT_MAX / mult || total > INT_MAX - v * mult) return -1;
        total += v * mult;
        s = end;
    }
    return total;
}

static const char *const methods_known[] = {"publickey", "password",
                                            "keyboard-interactive"};

/* One AuthenticationMethods argument: methods joined by commas. */
static int methods_ok(const char *arg, char *err, size_t errlen)
{
    const char *p = arg;
    for (;;) {
        size_t n = strcspn(p, ",");
        int known = 0;
        for (size_t i = 0; i < sizeof(methods_known) / sizeof(*methods_known);
             i++)
            if (n == strlen(methods_known[i]) &&
                strncmp(p, methods_known[i], n) == 0)
                known = 1;
        if (!known) {
            snprintf(err, errlen,
                     "invalid authentication method list \"%s\" "
                     "(AuthenticationMethods)", arg);
            return -1;
        }
        p += n;
        if (!*p) return 0;
        p++;
    }
}

/* A yes/no keyword, the first value counting. */
static int flag(wd_keywords *kw, unsigned bit, int *slot, const char *key,
                const char *arg, char *err, size_t errlen)
{
    int v;
    if (strcasecmp(arg, "yes") == 0) v = 1;
    else if (strcasecmp(arg, "no") == 0) v = 0;
    else {
        snprintf(err, errlen, "keyword %s: unsupported option \"%s\".", key,
                 arg);
        return WD_KW_ERROR;
    }
    if (!(kw->policy_set & bit)) {
        *slot = v;
        kw->policy_set |= bit;
    }
    return WD_KW_DONE;
}

int wd_policy_keyword(wd_keywords *kw, const char *key, int ac, char **av,
                      char *err, size_t errlen)
{
    static const struct {
        const char *name;
        size_t off;
    } lists[] = {
        {"AllowUsers", offsetof(wd_keywords, allow_users)},
        {"DenyUsers", offsetof(wd_keywords, deny_users)},
        {"AllowGroups", offsetof(wd_keywords, allow_groups)},
        {"DenyGroups", offsetof(wd_keywords, deny_groups)},
    };
    for (size_t i = 0; i < sizeof(lists) / sizeof(*lists); i++) {
        if (strcasecmp(key, lists[i].name) != 0) continue;
        /* As sshd: every line adds to the list. */
        wd_kw_list *l = (wd_kw_list *)((char *)kw + lists[i].off);
        for (int a = 0; a < ac; a++) {
            if (i < 2 && wd_match_user_check(av[a]) != 0) {
                snprintf(err, errlen, "keyword %s: invalid pattern \"%s\"",
                         key, av[a]);
                return WD_KW_ERROR;
            }
            if (list_add(l, av[a]) != 0) {
                snprintf(err, errlen, "keyword %s: too many entries (at most "
                         "%d, %zu bytes)", key, WD_KW_LIST_MAX,
                         sizeof(l->text));
                return WD_KW_ERROR;
            }
        }
        return WD_KW_DONE;
    }

    static const struct {
        const char *name;
        unsigned bit;
        size_t off;
    } flags[] = {
        {"PubkeyAuthentication", SET_PUBKEY,
         offsetof(wd_keywords, pubkey_auth)},
        {"PasswordAuthentication", SET_PASSWORD,
         offsetof(wd_keywords, password_auth)},
        {"KbdInteractiveAuthentication", SET_KBDINT,
         offsetof(wd_keywords, kbdint_auth)},
        /* sshd's older name for the same setting. */
        {"ChallengeResponseAuthentication", SET_KBDINT,
         offsetof(wd_keywords, kbdint_auth)},
        {"PermitEmptyPasswords", SET_EMPTY,
         offsetof(wd_keywords, permit_empty_passwords)},
        {"StrictModes", SET_STRICT, offsetof(wd_keywords, strict_modes)},
    };
    for (size_t i = 0; i < sizeof(flags) / sizeof(*flags); i++) {
        if (strcasecmp(key, flags[i].name) != 0) continue;
        if (wd_kw_one_arg(key, ac, err, errlen)) return WD_KW_ERROR;
        return flag(kw, flags[i].bit, (int *)((char *)kw + flags[i].off),
                    key, av[0], err, errlen);
    }

    if (strcasecmp(key, "MaxAuthTries") == 0) {
        if (wd_kw_one_arg(key, ac, err, errlen)) return WD_KW_ERROR;
        char *end;
        long v = strtol(av[0], &end, 10);
        if (*end || end == av[0] || v < 1 || v > 1024) {
            snprintf(err, errlen, "keyword %s: invalid value \"%s\" (1..1024)",
                     key, av[0]);
            return WD_KW_ERROR;
        }
        if (!(kw->policy_set & SET_TRIES)) kw->max_auth_tries = (unsigned)v;
        kw->policy_set |= SET_TRIES;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "LoginGraceTime") == 0) {
        if (wd_kw_one_arg(key, ac, err, errlen)) return WD_KW_ERROR;
        long v = wd_parse_time(av[0]);
        if (v < 0) {
            snprintf(err, errlen, "keyword %s: invalid time value \"%s\"",
                     key, av[0]);
            return WD_KW_ERROR;
        }
        if (!(kw->policy_set & SET_GRACE)) kw->login_grace_s = (unsigned)v;
        kw->policy_set |= SET_GRACE;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "AuthenticationMethods") == 0) {
        char text[sizeof(kw->auth_methods)] = "";
        size_t used = 0;
        for (int a = 0; a < ac; a++) {
            if (strcmp(av[a], "any") == 0) {
                if (ac > 1) {
                    snprintf(err, errlen, "keyword %s: \"any\" must appear "
                             "alone", key);
                    return WD_KW_ERROR;
                }
                break;
            }
            if (methods_ok(av[a], err, errlen) != 0) return WD_KW_ERROR;
            size_t n = strlen(av[a]);
            if (used + n + 2 > sizeof(text)) {
                snprintf(err, errlen, "keyword %s: list too long", key);
                return WD_KW_ERROR;
            }
            if (used) text[used++] = ' ';
            memcpy(text + used, av[a], n + 1);
            used += n;
        }
        if (!(kw->policy_set & SET_METHODS))
            memcpy(kw->auth_methods, text, sizeof(text));
        kw->policy_set |= SET_METHODS;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "AuthorizedKeysFile") == 0) {
        wd_kw_list l;
        memset(&l, 0, sizeof(l));
        for (int a = 0; a < ac; a++) {
            if (list_add(&l, av[a]) != 0) {
                snprintf(err, errlen, "keyword %s: too many files", key);
                return WD_KW_ERROR;
            }
        }
        if (!(kw->policy_set & SET_AKF)) kw->authorized_keys_files = l;
        kw->policy_set |= SET_AKF;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "AuthorizedKeysCommand") == 0 ||
        strcasecmp(key, "AuthorizedKeysCommandUser") == 0) {
        int is_cmd = strcasecmp(key, "AuthorizedKeysCommand") == 0;
        char *slot = is_cmd ? kw->authorized_keys_command
                            : kw->authorized_keys_command_user;
        size_t cap = is_cmd ? sizeof(kw->authorized_keys_command)
                            : sizeof(kw->authorized_keys_command_user);
        unsigned bit = is_cmd ? SET_AKC : SET_AKCU;
        /* The command's words, joined back (sshd keeps the line). */
        char text[sizeof(kw->authorized_keys_command)] = "";
        size_t used = 0;
        if (!is_cmd && wd_kw_one_arg(key, ac, err, errlen)) return WD_KW_ERROR;
        for (int a = 0; a < ac; a++) {
            size_t n = strlen(av[a]);
            if (used + n + 2 > cap) {
                snprintf(err, errlen, "keyword %s: value too long", key);
                return WD_KW_ERROR;
            }
            if (used) text[used++] = ' ';
            memcpy(text + used, av[a], n + 1);
            used += n;
        }
        if (is_cmd && text[0] != '/' && strcasecmp(text, "none") != 0) {
            snprintf(err, errlen, "keyword %s must be an absolute path", key);
            return WD_KW_ERROR;
        }
        if (strcasecmp(text, "none") == 0) text[0] = 0;
        if (!(kw->policy_set & bit)) snprintf(slot, cap, "%s", text);
        kw->policy_set |= bit;
        return WD_KW_DONE;
    }
    return WD_KW_NOT_MINE;
}

int wd_policy_daemon_keys_file(wd_keywords *kw, const char *path)
{
    if (kw->policy_set & SET_AKF) return 0; /* the first value counts */
    wd_kw_list l;
    memset(&l, 0, sizeof(l));
    if (list_add(&l, path) != 0) return -1;
    kw->authorized_keys_files = l;
    kw->authorized_keys_flag = 1;
    kw->policy_set |= SET_AKF;
    return 0;
}

static void dump_list_lines(FILE *out, const char *name, const wd_kw_list *l)
{
    for (const char *e = wd_kw_list_next(l, NULL); e;
         e = wd_kw_list_next(l, e))
        fprintf(out, "%s %s\n", name, e);
}

void wd_policy_dump(const wd_keywords *kw, FILE *out)
{
    fprintf(out, "pubkeyauthentication %s\n", kw->pubkey_auth ? "yes" : "no");
    fprintf(out, "passwordauthentication %s\n",
            kw->password_auth ? "yes" : "no");
    fprintf(out, "kbdinteractiveauthentication %s\n",
            kw->kbdint_auth ? "yes" : "no");
    fprintf(out, "permitemptypasswords %s\n",
            kw->permit_empty_passwords ? "yes" : "no");
    fprintf(out, "strictmodes %s\n", kw->strict_modes ? "yes" : "no");
    fprintf(out, "maxauthtries %u\n", kw->max_auth_tries);
    fprintf(out, "logingracetime %u\n", kw->login_grace_s);
    fprintf(out, "authenticationmethods %s\n",
            kw->auth_methods[0] ? kw->auth_methods : "any");
    fprintf(out, "authorizedkeysfile");
    for (const char *e = wd_kw_list_next(&kw->authorized_keys_files, NULL);
         e; e = wd_kw_list_next(&kw->authorized_keys_files, e))
        fprintf(out, " %s", e);
    fprintf(out, "\n");
    fprintf(out, "authorizedkeyscommand %s\n",
            kw->authorized_keys_command[0] ? kw->authorized_keys_command
                                           : "none");
    fprintf(out, "authorizedkeyscommanduser %s\n",
            kw->authorized_keys_command_user[0]
                ? kw->authorized_keys_command_user
                : "none");
    dump_list_lines(out, "allowusers", &kw->allow_users);
    dump_list_lines(out, "denyusers", &kw->deny_users);
    dump_list_lines(out, "allowgroups", &kw->allow_groups);
    dump_list_lines(out, "denygroups", &kw->deny_groups);
}

uint64_t wd_policy_methods(const wd_keywords *kw, int have_passwords)
{
    uint64_t m = 0;
    if (kw->pubkey_auth) m |= WHELK_AUTH_METHOD_PUBLICKEY;
    if (have_passwords && kw->password_auth) m |= WHELK_AUTH_METHOD_PASSWORD;
    if (have_passwords && kw->kbdint_auth) m |= WHELK_AUTH_METHOD_KBDINT;
    return m;
}

/* Does some chain of |lists| use enabled methods only? */
static int chains_satisfiable(const char *lists, uint64_t enabled)
{
    static const struct {
        const char *name;
        uint64_t bit;
    } bits[] = {{"publickey", WHELK_AUTH_METHOD_PUBLICKEY},
                {"password", WHELK_AUTH_METHOD_PASSWORD},
                {"keyboard-interactive", WHELK_AUTH_METHOD_KBDINT}};
    const char *p = lists;
    while (*p) {
        int ok = 1;
        size_t chain = strcspn(p, " ");
        for (const char *m = p; m < p + chain;) {
            size_t n = strcspn(m, ", ");
            uint64_t bit = 0;
            for (size_t i = 0; i < sizeof(bits) / sizeof(*bits); i++)
                if (n == strlen(bits[i].name) && !strncmp(m, bits[i].name, n))
                    bit = bits[i].bit;
            if (!(enabled & bit)) ok = 0;
            m += n + (m[n] == ',');
        }
        if (ok) return 1;
        p += chain + (p[chain] == ' ');
    }
    return 0;
}

int wd_policy_apply_config(whelk_config *cfg, const wd_keywords *kw,
                           int have_passwords)
{
    whelk_config_set(cfg, WHELK_SET_LOGIN_GRACE_MS,
                     (uint64_t)kw->login_grace_s * 1000);
    whelk_config_set(cfg, WHELK_SET_MAX_AUTH_TRIES, kw->max_auth_tries);
    whelk_config_set(cfg, WHELK_SET_AUTH_METHODS,
                     wd_policy_methods(kw, have_passwords));
    if (kw->auth_methods[0] &&
        !chains_satisfiable(kw->auth_methods,
                            wd_policy_methods(kw, have_passwords))) {
        /* As sshd: a list none of whose chains can succeed is fatal. */
        fprintf(stderr, "whelkd: AuthenticationMethods cannot be satisfied "
                "by enabled authentication methods%s\n",
                have_passwords ? "" : " (password methods need -P)");
        return -1;
    }
    if (kw->auth_methods[0] &&
        whelk_config_set_auth_chains(cfg, kw->auth_methods) != 0) {
        fprintf(stderr, "whelkd: AuthenticationMethods %s: not usable\n",
                kw->auth_methods);
        return -1;
    }
    return 0;
}

void wd_policy_apply_conn(whelk_conn *conn, const wd_keywords *kw,
                          int have_passwords)
{
    whelk_conn_set(conn, WHELK_SET_MAX_AUTH_TRIES, kw->max_auth_tries);
    whelk_conn_set(conn, WHELK_SET_AUTH_METHODS,
                   wd_policy_methods(kw, have_passwords));
    whelk_conn_set_auth_chains(conn,
                               kw->auth_methods[0] ? kw->auth_methods : NULL);
}
