/*
 * auth: the decision callbacks. The engine has already verified any
 * publickey signature and writes the log lines; these only decide, and
 * an unknown user goes through the same file reads and crypt as a known
 * one.
 */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passwd.h"
#include "server.h"

static wd_login *login_of(void *user)
{
    wd_conn *c = user;
    if (!c->login) c->login = calloc(1, sizeof(*c->login));
    return c->login;
}

void wd_login_free(wd_login *l)
{
    if (!l) return;
    wd_key_opts_clear(&l->opts);
    free(l);
}

static int user_valid(whelk_conn *conn, const char *name, void *user)
{
    wd_login *l = login_of(user);
    if (!l) return 0;
    l->have_user = wd_user_lookup(name, &l->user) == 0 &&
                   wd_user_may_login(&l->user);
    return l->have_user;
}

static whelk_auth_result auth_publickey(whelk_conn *conn,
                                        const whelk_auth_pubkey *req,
                                        void *user)
{
    wd_login *l = login_of(user);
    if (!l) return WHELK_AUTH_DENY;
    char path[600];
    if (wd_opts->authorized_keys)
        snprintf(path, sizeof(path), "%s", wd_opts->authorized_keys);
    else
        snprintf(path, sizeof(path), "%s/.ssh/authorized_keys",
                 l->have_user ? l->user.home : "/nonexistent");
    wd_key_opts opts;
    int found = wd_authkeys_find(path, req->key, whelk_conn_peer_addr(conn),
                                 &opts);
    if (!found || !l->have_user) {
        if (found) wd_key_opts_clear(&opts);
        return WHELK_AUTH_DENY;
    }
    /* Keep the options of the key that actually logs in. */
    if (req->signature) {
        wd_key_opts_clear(&l->opts);
        l->opts = opts;
        l->have_opts = 1;
    } else {
        wd_key_opts_clear(&opts);
    }
    return WHELK_AUTH_ALLOW;
}

static whelk_auth_result auth_password(whelk_conn *conn, const char *name,
                                       const char *password, size_t len,
                                       void *user)
{
    wd_login *l = login_of(user);
    if (!wd_opts->password_file || !l) return WHELK_AUTH_DENY;
    int ok = wd_passwd_check(wd_opts->password_file, name, password, len);
    return ok && l->have_user ? WHELK_AUTH_ALLOW : WHELK_AUTH_DENY;
}

static int kbdint_prompts(whelk_conn *conn, const char *name, unsigned round,
                          whelk_kbdint_prompts *p, void *user)
{
    if (!wd_opts->password_file || round > 0) return -1;
    p->name = "";
    p->instruction = "";
    p->count = 1;
    p->prompt[0] = "Password: ";
    p->echo[0] = 0;
    return 0;
}

static whelk_auth_result kbdint_answers(whelk_conn *conn, const char *name,
                                        unsigned round, unsigned count,
                                        const char *const *answers,
                                        int *more, void *user)
{
    *more = 0;
    if (count != 1) return WHELK_AUTH_DENY;
    return auth_password(conn, name, answers[0], strlen(answers[0]), user);
}

void wd_auth_callbacks(whelk_callbacks *cb)
{
    cb->user_valid = user_valid;
    cb->auth_publickey = auth_publickey;
    cb->auth_password = auth_password;
    cb->auth_kbdint_prompts = kbdint_prompts;
    cb->auth_kbdint_answers = kbdint_answers;
}
