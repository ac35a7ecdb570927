/*
 * childenv: the environment a session's program starts with, as sshd
 * builds it: the variables the server sets (USER, HOME, PATH, MAIL,
 * SSH_CLIENT, SSH_CONNECTION, SSH_TTY, TERM, SSH_ORIGINAL_COMMAND), then
 * the key's environment= options, then the variables the client sent
 * and -E accepted. The first value of a name wins, so nothing a key or
 * a client sends replaces what the server set.
 */
#ifndef WHELKD_CHILDENV_H
#define WHELKD_CHILDENV_H

#include "user.h"

/* Entries at most: the server's dozen, 16 key options, 64 client
 * variables, with room to spare. Beyond it variables are dropped. */
#define WD_CHILDENV_MAX 127

/* With a pty, the terminal's name is known only once wd_spawn has
 * opened it: the environment holds this entry ("SSH_TTY=", empty) in
 * SSH_TTY's place, which wd_spawn fills in (spawn.h); being there
 * first, it also keeps out an SSH_TTY a client sends. */
#define WD_CHILDENV_TTY_SLOT "SSH_TTY="

typedef struct wd_childenv_in {
    const wd_user *user;
    const char *addr, *laddr;  /* the client's and our address */
    int port, lport;
    int pty;                   /* the session has a pty */
    const char *term;          /* its TERM ("" or NULL: "dumb") */
    const char *original;      /* the client's command under a forced
                                * one (SSH_ORIGINAL_COMMAND), or NULL */
    const char *auth_sock;     /* SSH_AUTH_SOCK (agent forwarding) or NULL */
    const char *display;       /* DISPLAY (X11 forwarding) or NULL */
    char *const *key_env;      /* "NAME=value": environment= options */
    unsigned n_key_env;
    unsigned n_admin_env;      /* the first n of key_env are SetEnv's */
    char *const *client_env;   /* "NAME=value": accepted client variables */
    unsigned n_client_env;
} wd_childenv_in;

typedef struct wd_childenv {
    char *v[WD_CHILDENV_MAX + 1]; /* NULL-terminated, for execve */
    unsigned n;
    /* The leading entries the server and SetEnv set, which
     * ~/.ssh/environment may not replace (userenv.h). */
    unsigned n_fixed;
} wd_childenv;

/* Builds |out| from |in|; 0, or -1 when memory ran out (|out| is then
 * empty). Entries of key_env and client_env without '=' are skipped. */
int wd_childenv_build(wd_childenv *out, const wd_childenv_in *in);
void wd_childenv_free(wd_childenv *e);

#endif
