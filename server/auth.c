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

/* crypt_r takes milliseconds (yescrypt more): it runs on libuv's thread
 * pool, and the engine holds this connection's input until the answer
 * (WHELK_AUTH_PENDING); other connections go on meanwhile. */
typedef struct pw_work {
    uv_work_t req;
    wd_conn *conn;
    char user[256];
    char *password;
    size_t len;
    int ok;
} pw_work;

static void pw_run(uv_work_t *req)
{
    pw_work *w = req->data;
    w->ok = wd_passwd_check(wd_opts->password_file, w->user, w->password,
                            w->len);
}

static void pw_done(uv_work_t *req, int status)
{
    pw_work *w = req->data;
    wd_conn *c = w->conn;
    whelk_free_secret(w->password, w->len + 1);
    if (c->closing != 2 && c->engine) {
        int ok = status == 0 && w->ok && c->login && c->login->have_user;
        whelk_conn_auth_done(c->engine, ok ? WHELK_AUTH_ALLOW : WHELK_AUTH_DENY,
                             uv_now(c->srv->loop));
        wd_conn_kick(c);
    }
    free(w);
    wd_conn_release(c);
}

static whelk_auth_result auth_password(whelk_conn *conn, const char *name,
                                       const char *password, size_t len,
                                       void *user)
{
    wd_conn *c = user;
    wd_login *l = login_of(user);
    if (!wd_opts->password_file || !l) return WHELK_AUTH_DENY;
    pw_work *w = calloc(1, sizeof(*w));
    if (!w || strlen(name) >= sizeof(w->user) ||
        !(w->password = malloc(len + 1))) {
        free(w);
        return WHELK_AUTH_DENY;
    }
    snprintf(w->user, sizeof(w->user), "%s", name);
    memcpy(w->password, password, len);
    w->password[len] = 0;
    w->len = len;
    w->conn = c;
    w->req.data = w;
    c->handles++; /* the connection outlives the work */
    if (uv_queue_work(c->srv->loop, &w->req, pw_run, pw_done) != 0) {
        c->handles--;
        whelk_free_secret(w->password, len + 1);
        free(w);
        return WHELK_AUTH_DENY;
    }
    return WHELK_AUTH_PENDING;
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
