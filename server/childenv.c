/*
 * childenv: see childenv.h. The variables and their values are sshd's
 * (session.c: do_setup_env) without PAM, for a server with no
 * sshd_config: the compiled-in PATH, mail in /var/mail.
 */
#include "childenv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROOT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define USER_PATH "/usr/local/bin:/usr/bin:/bin:/usr/games"

static int has_name(const wd_childenv *e, const char *entry, size_t nl)
{
    for (unsigned i = 0; i < e->n; i++)
        if (strncmp(e->v[i], entry, nl + 1) == 0) return 1;
    return 0;
}

/* Adds one "NAME=value" entry, formatted from |fmt|, unless its name is
 * there already (the first value wins) or the table is full. */
static int add(wd_childenv *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int add(wd_childenv *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *entry = NULL;
    int len = vasprintf(&entry, fmt, ap);
    va_end(ap);
    if (len < 0) return -1;
    const char *eq = strchr(entry, '=');
    if (!eq || e->n >= WD_CHILDENV_MAX ||
        has_name(e, entry, (size_t)(eq - entry))) {
        free(entry);
        return 0;
    }
    e->v[e->n++] = entry;
    e->v[e->n] = NULL;
    return 0;
}

static int add_list(wd_childenv *e, char *const *list, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (strchr(list[i], '=') && add(e, "%s", list[i]) != 0) return -1;
    return 0;
}

int wd_childenv_build(wd_childenv *out, const wd_childenv_in *in)
{
    const wd_user *u = in->user;
    out->n = 0;
    out->n_fixed = 0;
    out->v[0] = NULL;
    int rc = 0;
    rc |= add(out, "USER=%s", u->name);
    rc |= add(out, "LOGNAME=%s", u->name);
    rc |= add(out, "HOME=%s", u->home);
    rc |= add(out, "SHELL=%s", u->shell);
    rc |= add(out, "PATH=%s", u->uid == 0 ? ROOT_PATH : USER_PATH);
    rc |= add(out, "MAIL=/var/mail/%s", u->name);
    rc |= add(out, "SSH_CLIENT=%s %d %d", in->addr, in->port, in->lport);
    rc |= add(out, "SSH_CONNECTION=%s %d %s %d", in->addr, in->port,
              in->laddr, in->lport);
    if (in->pty) {
        rc |= add(out, "%s", WD_CHILDENV_TTY_SLOT);
        rc |= add(out, "TERM=%s",
                  in->term && in->term[0] ? in->term : "dumb");
    }
    if (in->auth_sock) rc |= add(out, "SSH_AUTH_SOCK=%s", in->auth_sock);
    if (in->display) rc |= add(out, "DISPLAY=%s", in->display);
    if (in->original) rc |= add(out, "SSH_ORIGINAL_COMMAND=%s", in->original);
    unsigned admin = in->n_admin_env < in->n_key_env ? in->n_admin_env
                                                     : in->n_key_env;
    rc |= add_list(out, in->key_env, admin);
    out->n_fixed = out->n;
    rc |= add_list(out, in->key_env + admin, in->n_key_env - admin);
    rc |= add_list(out, in->client_env, in->n_client_env);
    if (rc != 0) {
        wd_childenv_free(out);
        return -1;
    }
    return 0;
}

void wd_childenv_free(wd_childenv *e)
{
    for (unsigned i = 0; i < e->n; i++) free(e->v[i]);
    e->n = 0;
    e->v[0] = NULL;
}
