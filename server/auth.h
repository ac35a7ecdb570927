/*
 * auth: whelkd's authentication decisions (the "authenticate" seam),
 * from authorized_keys, the password file and the user database.
 */
#ifndef WHELKD_AUTH_H
#define WHELKD_AUTH_H

#include "authkeys.h"
#include "user.h"
#include "whelk/whelk.h"

/* What only the authentication reads: allocated with the login at the
 * connection's first request, freed once it is authenticated. */
typedef struct wd_login_auth {
    wd_keycache keys;   /* the user's authorized_keys, read once */
    int keys_loading;
    whelk_key *pending_key; /* the key a pending decision is about */
    int pending_signed;
    char akc_fp[80];    /* the key AuthorizedKeysCommand last ran for */
    struct wd_pam *pam; /* the PAM transaction in flight (UsePAM yes) */
    int pam_account_ok; /* pam_acct_mgmt said yes once */
    int pam_round_out;  /* a keyboard-interactive round awaits answers */
    char pam_user[256]; /* the name the PAM attempt was for (btmp) */
} wd_login_auth;

/* What a connection knows about its login, for the session layer: kept
 * for the connection's life. */
typedef struct wd_login {
    wd_user user;
    int have_user;      /* exists and may log in (sshd's allowed_user) */
    wd_key_opts opts;   /* of the key that logged in */
    int have_opts;
    int pam_change_needed; /* PAM_NEW_AUTHTOK_REQD: the session changes it */
    int pw_expired;      /* without PAM: /etc/shadow says change it */
    wd_login_auth *auth; /* NULL once authenticated */
} wd_login;

void wd_auth_callbacks(whelk_server_callbacks *cb);
void wd_login_free(struct wd_login *login);
/* Authentication is over: frees what only it needed (login->auth). */
void wd_login_authenticated(struct wd_login *login);

#endif
