/*
 * auth: the decision callbacks. The engine has already verified any
 * publickey signature and writes the log lines; these only decide.
 *
 * Nothing here blocks the event loop: the user look-up (NSS may ask
 * LDAP), the authorized_keys read (as the user, see keyfile.c) and
 * crypt_r each run on libuv's thread pool, and the engine holds the
 * connection's input until the answer comes (WHELK_USER_PENDING,
 * WHELK_AUTH_PENDING). The key file is read and parsed once per
 * connection; every later key query is answered from that cache.
 *
 * An unknown user goes through the same steps as a known one: a key
 * file read of the same shape, a crypt of the same scheme and cost,
 * and the engine's minimum failure times cover the rest.
 */
#include "auth.h"
#include "match.h"
#include "confile.h"
#include "engineconf.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "access.h"
#include "akcmd.h"
#include "cryptq.h"
#include "loginrec.h"
#include "keyfile.h"
#include "keysrc.h"
#include "pam.h"
#include "passwd.h"
#include "server.h"

/* The connection's login, with its authentication state, made at the
 * first request; NULL once the connection is authenticated (no auth
 * callback runs then: the engine has dropped its own state too). */
static wd_login *login_of(void *user)
{
    wd_conn *c = user;
    if (!c->login) {
        wd_login *l = calloc(1, sizeof(*l));
        if (!l || !(l->auth = calloc(1, sizeof(*l->auth)))) {
            free(l);
            return NULL;
        }
        c->login = l;
    }
    return c->login->auth ? c->login : NULL;
}

static void login_auth_free(wd_login *l)
{
    wd_login_auth *a = l->auth;
    if (!a) return;
    wd_pam_detach(a->pam); /* a conversation left open, if any */
    wd_keycache_free(&a->keys);
    whelk_key_free(a->pending_key);
    free(a);
    l->auth = NULL;
}

void wd_login_free(wd_login *l)
{
    if (!l) return;
    login_auth_free(l);
    wd_key_opts_clear(&l->opts);
    free(l);
}

void wd_login_authenticated(wd_login *l)
{
    /* The parsed authorized_keys (its text and a key object per line)
     * only answered key requests, and the key's options were copied out;
     * the pending key, the PAM attempt's name and state only served the
     * decisions. An idle session keeps none of it (about 1 KiB). */
    if (l) login_auth_free(l);
}

/* ------------------------------------------------------------------------
 * Who is this: getpwnam_r, getgrouplist, getspnam_r and sshd's account
 * checks, on the thread pool.
 */

typedef struct user_work {
    uv_work_t req;
    wd_conn *conn;
    char name[256];
    char addr[64];
    char laddr[64];
    int lport;
    const wd_keywords *kw;
    wd_keywords *own_kw; /* Match blocks applied: the connection's own */
    wd_user user;
    int verdict;
} user_work;

static void user_run(uv_work_t *req)
{
    user_work *w = req->data;
    w->verdict = wd_user_check(w->name, &w->user, wd_opts->kw.use_pam);
    /* As sshd's getpwnamallow: Match with the user (and groups) known,
     * then allowed_user() with the keywords it gives. */
    wd_match_ctx ctx = {
        .user = w->name,
        .groups = w->verdict == WD_USER_NONE ? NULL : w->user.groups,
        .ngroups = w->verdict == WD_USER_NONE ? 0 : w->user.ngroups,
        .addr = w->addr,
        .laddr = w->laddr,
        .lport = w->lport,
    };
    int failed;
    w->own_kw = wd_conf_resolve(&ctx, &failed);
    if (failed) w->verdict = WD_USER_REFUSED;
    const wd_keywords *kw = w->own_kw ? w->own_kw : w->kw;
    /* sshd's allowed_user() ends with the Allow/Deny lists (UseDNS no:
     * the client's "host" is its address). */
    if (w->verdict == WD_USER_OK &&
        !wd_access_allowed(kw, &w->user, w->addr, w->addr))
        w->verdict = WD_USER_REFUSED;
}

static void user_done(uv_work_t *req, int status)
{
    user_work *w = req->data;
    wd_conn *c = w->conn;
    wd_login *l = login_of(c);
    if (c->closing != 2 && c->engine && l) {
        int answer = WHELK_USER_UNKNOWN;
        if (status == 0) {
            free(c->own_kw);
            c->own_kw = w->own_kw;
            w->own_kw = NULL;
        }
        if (status == 0 && w->verdict == WD_USER_OK) {
            l->user = w->user;
            l->have_user = 1;
            answer = WHELK_USER_VALID;
        } else if (status == 0 && w->verdict == WD_USER_REFUSED) {
            answer = WHELK_USER_REFUSED;
        }
        /* The methods, chains and tries of this connection's keywords. */
        wd_policy_apply_conn(c->engine, wd_conn_kw(c),
                             1 /* /etc/shadow or -P */);
        if (c->own_kw) wd_engine_apply_conn(c->engine, c->own_kw);
        wd_conn_engine_result(c, whelk_conn_user_done(c->engine, answer,
                                                      uv_now(c->srv->loop)),
                              "user look-up");
        wd_conn_kick(c);
    }
    free(w->own_kw);
    free(w);
    wd_conn_release(c);
}

static int user_valid(whelk_conn *conn, const char *name, void *user)
{
    wd_conn *c = user;
    if (!login_of(user)) return WHELK_USER_UNKNOWN;
    user_work *w = calloc(1, sizeof(*w));
    if (!w || strlen(name) >= sizeof(w->name)) {
        free(w);
        return WHELK_USER_UNKNOWN;
    }
    snprintf(w->name, sizeof(w->name), "%s", name);
    snprintf(w->addr, sizeof(w->addr), "%s", c->addr);
    snprintf(w->laddr, sizeof(w->laddr), "%s", c->laddr);
    w->lport = c->lport;
    w->kw = wd_conn_kw(c);
    w->conn = c;
    w->req.data = w;
    c->handles++; /* the connection outlives the work */
    if (uv_queue_work(c->srv->loop, &w->req, user_run, user_done) != 0) {
        c->handles--;
        free(w);
        return WHELK_USER_UNKNOWN;
    }
    return WHELK_USER_PENDING;
}

/* ------------------------------------------------------------------------
 * PermitRootLogin and PermitUserEnvironment, with sshd's meanings.
 */

/* sshd's auth_root_allowed(), for a login that has otherwise succeeded
 * with a key (|by_key|) or not; |forced| when the key has command=. */
static int root_allowed(wd_conn *c, const wd_login *l, int by_key,
                        int forced)
{
    if (l->user.uid != 0) return 1;
    switch (wd_conn_kw(c)->permit_root_login) {
    case WD_ROOT_YES:
        return 1;
    case WD_ROOT_PROHIBIT_PASSWORD:
        if (by_key) return 1;
        break;
    case WD_ROOT_FORCED_COMMANDS_ONLY:
        if (by_key && forced) {
            wd_log(WHELK_LOG_INFO, "Root login accepted for forced command.");
            return 1;
        }
        break;
    }
    wd_log(WHELK_LOG_INFO, "ROOT LOGIN REFUSED FROM %s port %d", c->addr,
           c->port);
    return 0;
}

/* environment= options reach the program only with PermitUserEnvironment
 * (all names for "yes", else the names its pattern list matches), as in
 * sshd: otherwise LD_PRELOAD or BASH_ENV would escape a forced command. */
static void filter_key_env(wd_key_opts *o, const wd_keywords *kw)
{
    unsigned kept = 0;
    for (unsigned i = 0; i < o->nenv; i++) {
        char *e = o->env[i];
        /* The connection's value: PermitUserEnvironment may be set in a
         * Match block. Names are matched as sshd's match_pattern_list,
         * the same as ~/.ssh/environment's (userenv.c). */
        const char *list = kw->permit_user_env_list;
        int ok = kw->permit_user_env;
        if (ok && list[0]) {
            char name[256];
            size_t n = strcspn(e, "=");
            snprintf(name, sizeof(name), "%.*s", (int)n, e);
            ok = n < sizeof(name) && wd_match_list(name, list, 0) == 1;
        }
        if (ok) {
            o->env[kept++] = e;
        } else {
            wd_log(WHELK_LOG_DEBUG, "ignoring environment= option %.*s "
                   "(PermitUserEnvironment)", (int)strcspn(e, "="), e);
            free(e);
        }
    }
    for (unsigned i = kept; i < o->nenv; i++) o->env[i] = NULL;
    o->nenv = kept;
}

/* ------------------------------------------------------------------------
 * publickey: the user's authorized_keys, read and parsed once per
 * connection on the thread pool.
 */

/* What an unknown user's "file" holds: one line, parsed like a real
 * one, so the work does not tell them apart. */
static const char dummy_keys[] =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILZ7nj/o5wVmJp3IeYTdH2KQbm0M/hEbgk"
    "/wnvS/3CGQ dummy\n";

typedef struct keys_work {
    uv_work_t req;
    wd_conn *conn;
    wd_user user;
    int have_user;
    int flags;
    wd_kw_list paths;   /* AuthorizedKeysFile, expanded (keysrc.c) */
    const wd_keywords *kw;
    int run_command;    /* AuthorizedKeysCommand, for a real user */
    wd_akcmd_key key;   /* the offered key, for the command's tokens */
    wd_keycache cache;
} keys_work;

static void keys_run(uv_work_t *req)
{
    keys_work *w = req->data;
    if (w->have_user) {
        char *cmd_out = NULL;
        size_t cmd_len = 0;
        /* Never for an unknown user (its stand-in reads -a's file). */
        if (w->run_command)
            wd_akcmd_run(w->kw, &w->user, &w->key, WD_AUTHKEYS_MAX_FILE,
                         &cmd_out, &cmd_len);
        wd_keysrc_load(&w->paths, &w->user, w->flags, cmd_out, cmd_len,
                       &w->cache);
        free(cmd_out);
        return;
    }
    /* The same shape for a user who does not exist: the rights of a
     * stand-in, opens that fail, a parse. */
    wd_keysrc_load(&w->paths, &w->user, w->flags, NULL, 0, &w->cache);
    wd_keycache_free(&w->cache);
    wd_keycache_load(&w->cache, "-", dummy_keys, sizeof(dummy_keys) - 1, 0);
    wd_keycache_free(&w->cache);
    w->cache.loaded = 1; /* nothing usable: every key is refused */
}

/* ------------------------------------------------------------------------
 * UsePAM yes: the "whelkd" service's transactions (pam.c) for this
 * connection. At most one at a time (the engine holds the connection's
 * input while a decision is pending); wd_login_free detaches it.
 */

static int pam_on(void)
{
    return wd_opts->kw.use_pam;
}

/* A new request while a keyboard-interactive round was out (the client
 * gave up on it, RFC 4252 allows that): that conversation is over. */
static void pam_abandon(wd_login *l)
{
    if (l->auth->pam && l->auth->pam_round_out) {
        wd_pam_detach(l->auth->pam);
        l->auth->pam = NULL;
    }
    l->auth->pam_round_out = 0;
}

static void pam_msgs_log(const char *messages)
{
    if (messages && messages[0])
        wd_log(WHELK_LOG_DEBUG, "PAM: messages: %.300s", messages);
}

/* A login that must change its password gets only the session that
 * changes it: sshd's auth_restrict_session, as the "restrict" key option
 * (no port, streamlocal, agent or X11 forwarding; a pty stays allowed,
 * passwd wants one). */
static void must_change_password(wd_login *l, int pam)
{
    if (pam)
        l->pam_change_needed = 1;
    else
        l->pw_expired = 1;
    l->have_opts = 1; /* opts of a key login keep their other values */
    l->opts.no_port_forwarding = 1;
    l->opts.no_agent_forwarding = 1;
    l->opts.no_x11_forwarding = 1;
}

/* sshd's userauth_finish: after a publickey success, pam_acct_mgmt (once
 * per connection); its refusal ends the connection, the modules' words
 * (pam_nologin's file, say) in the disconnect message. */
static void pam_account_done(wd_pam *t, void *arg, wd_pam_outcome out,
                             const char *messages)
{
    wd_conn *c = arg;
    wd_login *l = c->login;
    l->auth->pam = NULL;
    if (c->closing == 2 || !c->engine) return;
    uint64_t now = uv_now(c->srv->loop);
    if (out == WD_PAM_OK || out == WD_PAM_CHANGE_NEEDED) {
        l->auth->pam_account_ok = 1;
        if (out == WD_PAM_CHANGE_NEEDED) must_change_password(l, 1);
        pam_msgs_log(messages);
        wd_conn_engine_result(
            c, whelk_conn_auth_done(c->engine, WHELK_AUTH_ALLOW, now),
            "PAM account decision");
    } else {
        wd_log(WHELK_LOG_ERROR,
               "Access denied for user %.100s by PAM account configuration",
               l->user.name);
        /* As sshd: what the modules said, as a banner, then the end. */
        if (messages && messages[0])
            whelk_conn_send_auth_banner(c->engine, messages);
        whelk_conn_disconnect(c->engine,
                              WHELK_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE,
                              "Access denied by PAM account configuration");
    }
    wd_conn_kick(c);
}

static void pam_no_prompts(wd_pam *t, void *arg)
{
}

static const wd_pam_ops pam_account_ops = {pam_no_prompts,
                                           pam_account_done};

/* ALLOW, or PENDING while pam_acct_mgmt runs (UsePAM yes), or DENY. */
static whelk_auth_result pam_account_gate(wd_conn *c, wd_login *l)
{
    if (!pam_on() || l->auth->pam_account_ok) return WHELK_AUTH_ALLOW;
    pam_abandon(l);
    if (l->auth->pam) return WHELK_AUTH_DENY; /* cannot happen: one at a time */
    wd_pam_start_args a = {.kind = WD_PAM_ACCOUNT,
                           .user = l->user.name,
                           .rhost = c->addr};
    l->auth->pam = wd_pam_start(c->srv->loop, &a, &pam_account_ops, c);
    return l->auth->pam ? WHELK_AUTH_PENDING : WHELK_AUTH_DENY;
}

static whelk_auth_result key_decision(wd_conn *c, wd_login *l,
                                      const whelk_key *key, int is_signed)
{
    wd_key_opts opts;
    if (!wd_keycache_find(&l->auth->keys, key, c->addr, &opts)) return
        WHELK_AUTH_DENY;
    if (!l->have_user) {
        wd_key_opts_clear(&opts);
        return WHELK_AUTH_DENY;
    }
    /* A query is answered PK_OK whatever PermitRootLogin says, as sshd
     * does; the signed request decides. */
    if (!is_signed) {
        wd_key_opts_clear(&opts);
        return WHELK_AUTH_ALLOW;
    }
    if (!root_allowed(c, l, 1, opts.command != NULL)) {
        wd_key_opts_clear(&opts);
        return WHELK_AUTH_DENY;
    }
    /* Keep the options of the key that actually logs in. */
    filter_key_env(&opts, wd_conn_kw(c));
    wd_key_opts_clear(&l->opts);
    l->opts = opts;
    l->have_opts = 1;
    return pam_account_gate(c, l);
}

static void keys_done(uv_work_t *req, int status)
{
    keys_work *w = req->data;
    wd_conn *c = w->conn;
    wd_login *l = c->login;
    if (c->closing != 2 && c->engine && l && l->auth) {
        wd_keycache_free(&l->auth->keys); /* a reload for another key */
        l->auth->keys = w->cache;
        l->auth->keys.loaded = 1;
        l->auth->keys_loading = 0;
        whelk_auth_result res = WHELK_AUTH_DENY;
        if (status == 0 && l->auth->pending_key)
            res = key_decision(c, l, l->auth->pending_key, l->auth->pending_signed);
        whelk_key_free(l->auth->pending_key);
        l->auth->pending_key = NULL;
        /* PENDING: PAM's account check answers (pam_account_done). */
        if (res != WHELK_AUTH_PENDING)
            wd_conn_engine_result(
                c, whelk_conn_auth_done(c->engine, res, uv_now(c->srv->loop)),
                "publickey decision");
        wd_conn_kick(c);
    } else {
        wd_keycache_free(&w->cache);
    }
    free(w);
    wd_conn_release(c);
}

/* %f %k %t of AuthorizedKeysCommand. Its output is cached with the
 * files'; a command that takes one of these tokens runs again for each
 * other key offered (as sshd runs it per key). */
static void akcmd_key_tokens(const whelk_key *k, const uint8_t *blob,
                             size_t blob_len, wd_akcmd_key *out)
{
    whelk_key_fingerprint(k, out->fingerprint, sizeof(out->fingerprint));
    snprintf(out->type, sizeof(out->type), "%s", whelk_key_type_name(k));
    out->blob64[0] = 0;
    if ((blob_len + 2) / 3 * 4 < sizeof(out->blob64))
        EVP_EncodeBlock((unsigned char *)out->blob64, blob, (int)blob_len);
}

static int akc_per_key(wd_conn *c, const wd_login *l, const whelk_key *k)
{
    const char *cmd = wd_conn_kw(c)->authorized_keys_command;
    if (!l->have_user || !cmd[0] ||
        !(strstr(cmd, "%f") || strstr(cmd, "%k") || strstr(cmd, "%t")))
        return 0;
    char fp[80];
    whelk_key_fingerprint(k, fp, sizeof(fp));
    return strcmp(fp, l->auth->akc_fp) != 0;
}

static whelk_auth_result auth_publickey(whelk_conn *conn,
                                        const whelk_pubkey_request *req,
                                        void *user)
{
    wd_conn *c = user;
    wd_login *l = login_of(user);
    if (!l) return WHELK_AUTH_DENY;
    int is_signed = whelk_pubkey_request_signature(req, NULL) != NULL;
    if (l->auth->keys.loaded && !akc_per_key(c, l, whelk_pubkey_request_key(req)))
        return key_decision(c, l, whelk_pubkey_request_key(req), is_signed);
    if (l->auth->keys_loading) return WHELK_AUTH_DENY; /* the engine waits */

    keys_work *w = calloc(1, sizeof(*w));
    if (!w) return WHELK_AUTH_DENY;
    size_t blob_len;
    const uint8_t *blob = whelk_pubkey_request_blob(req, &blob_len);
    if (whelk_key_parse_public_blob(blob, blob_len, &l->auth->pending_key) != 0) {
        free(w);
        return WHELK_AUTH_DENY;
    }
    l->auth->pending_signed = is_signed;
    w->conn = c;
    w->req.data = w;
    w->have_user = l->have_user;
    w->user = l->user;
    const wd_keywords *kw = wd_conn_kw(c);
    if (!w->have_user) {
        memset(&w->user, 0, sizeof(w->user));
        snprintf(w->user.name, sizeof(w->user.name), "nobody");
        w->user.uid = w->user.gid = 65534;
        snprintf(w->user.home, sizeof(w->user.home), "/nonexistent");
    }
    wd_keysrc_paths(kw, &w->user, &w->paths);
    w->kw = kw;
    w->run_command = l->have_user && kw->authorized_keys_command[0];
    if (w->run_command) {
        akcmd_key_tokens(l->auth->pending_key, blob, blob_len, &w->key);
        snprintf(l->auth->akc_fp, sizeof(l->auth->akc_fp), "%s", w->key.fingerprint);
    }
    if (kw->authorized_keys_flag) {
        /* -a: the administrator's file, read with whelkd's rights and
         * no StrictModes walk (it is often not under a home). */
        w->have_user = 1;
        w->flags = 0;
    } else {
        w->flags = WD_FILE_AS_USER | (kw->strict_modes ? WD_FILE_STRICT : 0);
    }
    c->handles++;
    if (uv_queue_work(c->srv->loop, &w->req, keys_run, keys_done) != 0) {
        c->handles--;
        whelk_key_free(l->auth->pending_key);
        l->auth->pending_key = NULL;
        free(w);
        return WHELK_AUTH_DENY;
    }
    l->auth->keys_loading = 1;
    return WHELK_AUTH_PENDING;
}

/* ------------------------------------------------------------------------
 * password and keyboard-interactive: crypt_r takes milliseconds
 * (yescrypt more), so it runs on the thread pool, at most
 * WD_CRYPT_PER_SOURCE at a time per client address (cryptq.c).
 */

typedef struct pw_work {
    wd_cryptq_job job; /* first: the queue hands back &job.req */
    wd_conn *conn;
    char user[256];
    char *password;
    size_t len;
    int kbdint;
    int empty_refused; /* PermitEmptyPasswords no: fails, same work */
    int ok;
    int expired;       /* /etc/shadow: the password must change now */
} pw_work;

static void pw_run(uv_work_t *req)
{
    pw_work *w = req->data;
    w->ok = wd_opts->password_file
                ? wd_passwd_check(wd_opts->password_file, w->user,
                                  w->password, w->len)
                : wd_passwd_check_system(w->user, w->password);
    /* sshd's auth_password(), UsePAM no: an expired system password
     * lets the login in to change it (force_pwchange). */
    if (w->ok && !wd_opts->password_file)
        w->expired = wd_user_password_expired(w->user);
}

/* The end of a password or keyboard-interactive attempt, whoever
 * checked it: sshd's root rule, btmp for a failure, the answer. */
static void password_verdict(wd_conn *c, const char *name, int ok,
                             int kbdint)
{
    wd_login *l = c->login;
    ok = ok && l && l->have_user;
    /* sshd's auth_password() fails root unless PermitRootLogin yes,
     * silently; a keyboard-interactive success goes through
     * auth_root_allowed(), which logs the refusal. */
    if (ok && l->user.uid == 0 &&
        wd_conn_kw(c)->permit_root_login != WD_ROOT_YES) {
        if (kbdint) root_allowed(c, l, 0, 0);
        ok = 0;
    }
    if (!ok) wd_loginrec_failed(name, c->addr); /* lastb */
    wd_conn_engine_result(
        c,
        whelk_conn_auth_done(c->engine,
                             ok ? WHELK_AUTH_ALLOW : WHELK_AUTH_DENY,
                             uv_now(c->srv->loop)),
        "password decision");
    wd_conn_kick(c);
}

static void pw_done(uv_work_t *req, int status)
{
    pw_work *w = req->data;
    wd_conn *c = w->conn;
    whelk_free_secret(w->password, w->len + 1);
    if (c->closing != 2 && c->engine) {
        int ok = status == 0 && w->ok && !w->empty_refused;
        if (ok && w->expired && c->login) must_change_password(c->login, 0);
        password_verdict(c, w->user, ok, w->kbdint);
    }
    free(w);
    wd_conn_release(c);
}

/* PAM's answer to a password or keyboard-interactive attempt: both ran
 * pam_authenticate and pam_acct_mgmt (sshd's sshpam_auth_passwd and
 * sshpam_thread). */
static void pam_auth_done(wd_pam *t, void *arg, wd_pam_outcome out,
                          const char *messages, int kbdint)
{
    wd_conn *c = arg;
    wd_login *l = c->login;
    l->auth->pam = NULL;
    if (c->closing == 2 || !c->engine) return;
    pam_msgs_log(messages);
    int ok = out == WD_PAM_OK || out == WD_PAM_CHANGE_NEEDED;
    if (ok) l->auth->pam_account_ok = 1;
    /* sshd's password method with an expired password: the login goes
     * on, and the session may only change it (session.c). */
    if (out == WD_PAM_CHANGE_NEEDED) must_change_password(l, 1);
    password_verdict(c, l->auth->pam_user, ok, kbdint);
}

static void pam_password_done(wd_pam *t, void *arg, wd_pam_outcome out,
                              const char *messages)
{
    pam_auth_done(t, arg, out, messages, 0);
}

static void pam_kbdint_done(wd_pam *t, void *arg, wd_pam_outcome out,
                            const char *messages)
{
    pam_auth_done(t, arg, out, messages, 1);
}

/* A keyboard-interactive round is ready: the engine asks kbdint_prompts
 * for it at once (WHELK_AUTH_MORE). */
static void pam_kbdint_prompts(wd_pam *t, void *arg)
{
    wd_conn *c = arg;
    if (c->closing == 2 || !c->engine) return;
    wd_conn_engine_result(c, whelk_conn_auth_done(c->engine, WHELK_AUTH_MORE,
                                                  uv_now(c->srv->loop)),
                          "keyboard-interactive round");
    wd_conn_kick(c);
}

static const wd_pam_ops pam_password_ops = {pam_no_prompts,
                                            pam_password_done};
static const wd_pam_ops pam_kbdint_ops = {pam_kbdint_prompts,
                                          pam_kbdint_done};

static whelk_auth_result pam_start_auth(wd_conn *c, const char *name,
                                        const char *password, size_t len,
                                        int kbdint)
{
    wd_login *l = c->login;
    pam_abandon(l);
    if (l->auth->pam) return WHELK_AUTH_DENY;
    snprintf(l->auth->pam_user, sizeof(l->auth->pam_user), "%s", name);
    wd_pam_start_args a = {
        .kind = kbdint ? WD_PAM_KBDINT : WD_PAM_PASSWORD,
        .user = name,
        .rhost = c->addr,
        .password = password,
        .password_len = len,
        .disallow_null = !wd_conn_kw(c)->permit_empty_passwords,
    };
    l->auth->pam = wd_pam_start(c->srv->loop, &a,
                          kbdint ? &pam_kbdint_ops : &pam_password_ops, c);
    return l->auth->pam ? WHELK_AUTH_PENDING : WHELK_AUTH_DENY;
}

static whelk_auth_result check_password(wd_conn *c, const char *name,
                                        const char *password, size_t len,
                                        int kbdint)
{
    /* Each method has its own switch (sshd's PasswordAuthentication and
     * KbdInteractiveAuthentication); the engine offers only those on. */
    const wd_keywords *kw = wd_conn_kw(c);
    if (!login_of(c) || !(kbdint ? kw->kbdint_auth : kw->password_auth))
        return WHELK_AUTH_DENY;
    if (pam_on() && !wd_opts->password_file)
        return pam_start_auth(c, name, password, len, kbdint);
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
    w->kbdint = kbdint;
    w->empty_refused = len == 0 && !wd_conn_kw(c)->permit_empty_passwords;
    w->conn = c;
    w->job.req.data = w;
    c->handles++; /* the connection outlives the work */
    if (wd_cryptq_submit(c->srv->loop, c->addr, &w->job, pw_run, pw_done) <
        0) {
        c->handles--;
        whelk_free_secret(w->password, len + 1);
        free(w);
        return WHELK_AUTH_DENY;
    }
    return WHELK_AUTH_PENDING;
}

static whelk_auth_result auth_password(whelk_conn *conn, const char *name,
                                       const char *password, size_t len,
                                       void *user)
{
    return check_password(user, name, password, len, 0);
}

static int kbdint_prompts(whelk_conn *conn, const char *name, unsigned round,
                          whelk_kbdint_prompts *p, void *user)
{
    wd_conn *c = user;
    if (!wd_conn_kw(c)->kbdint_auth || !login_of(c)) return -1;
    if (pam_on() && !wd_opts->password_file) {
        wd_login *l = c->login;
        /* The first call starts PAM; its conversation's rounds come
         * back through pam_kbdint_prompts. */
        pam_abandon(l);
        if (!l->auth->pam)
            return round == 0 &&
                           pam_start_auth(c, name, NULL, 0, 1) ==
                               WHELK_AUTH_PENDING
                       ? WHELK_AUTH_PENDING
                       : -1;
        if (!wd_pam_waiting(l->auth->pam)) return -1;
        if (whelk_kbdint_prompts_set_instruction(p, wd_pam_instruction(l->auth->pam)))
            return -1;
        for (unsigned i = 0; i < wd_pam_prompt_count(l->auth->pam); i++) {
            int echo = 0;
            const char *q = wd_pam_prompt(l->auth->pam, i, &echo);
            if (whelk_kbdint_prompts_add(p, q, echo) != 0) return -1;
        }
        l->auth->pam_round_out = 1; /* until its answers come */
        return 0;
    }
    if (round > 0) return -1;
    return whelk_kbdint_prompts_add(p, "Password: ", 0);
}

static whelk_auth_result kbdint_answers(whelk_conn *conn, const char *name,
                                        unsigned round,
                                        const whelk_kbdint_answers *answers,
                                        int *more, void *user)
{
    *more = 0;
    wd_conn *c = user;
    wd_login *l = c->login;
    if (l && l->auth && l->auth->pam) {
        l->auth->pam_round_out = 0;
        unsigned n = whelk_kbdint_answers_count(answers);
        const char *v[WD_PAM_MAX_PROMPTS];
        for (unsigned i = 0; i < n && i < WD_PAM_MAX_PROMPTS; i++)
            v[i] = whelk_kbdint_answers_get(answers, i);
        if (n > WD_PAM_MAX_PROMPTS || wd_pam_answer(l->auth->pam, n, v) != 0) {
            wd_pam_detach(l->auth->pam);
            l->auth->pam = NULL;
            return WHELK_AUTH_DENY;
        }
        return WHELK_AUTH_PENDING;
    }
    if (whelk_kbdint_answers_count(answers) != 1) return WHELK_AUTH_DENY;
    const char *pw = whelk_kbdint_answers_get(answers, 0);
    return check_password(user, name, pw, strlen(pw), 1);
}

void wd_auth_callbacks(whelk_server_callbacks *cb)
{
    whelk_server_callbacks_set_user_lookup(cb, user_valid);
    whelk_server_callbacks_set_auth_publickey(cb, auth_publickey);
    whelk_server_callbacks_set_auth_password(cb, auth_password);
    whelk_server_callbacks_set_auth_kbdint_prompts(cb, kbdint_prompts);
    whelk_server_callbacks_set_auth_kbdint_answers(cb, kbdint_answers);
}
