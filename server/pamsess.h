/*
 * pamsess: the PAM session process of one session (UsePAM yes).
 *
 * pam_open_session and pam_setcred change the process that calls them
 * (pam_loginuid writes /proc/self/loginuid, pam_limits sets rlimits,
 * pam_keyinit makes a keyring, pam_systemd registers the process), and
 * modules may block, fork or use locks a fork would leave held: none of
 * that may happen in a worker, which serves many connections on threads.
 * So wd_spawn's child, still root, with the session's terminal or pipes
 * already in place, execs whelkd again as this process (argv[1] is
 * WD_PAMSESS_FLAG, the request follows as plain strings, the
 * environment is the program's). It runs pam_start, pam_setcred
 * (ESTABLISH_CRED), pam_open_session, adds pam_getenvlist's variables,
 * forks the program (wd_spawn_become_user), waits for it, then
 * pam_close_session, pam_setcred (DELETE_CRED) and pam_end, and ends as
 * the program ended (its exit status, or the same signal).
 */
#ifndef WHELKD_PAMSESS_H
#define WHELKD_PAMSESS_H

#define WD_PAMSESS_FLAG "--pam-session-process"

/* The positions of the request in the process's argv. */
enum {
    WD_PS_FLAG = 1,
    WD_PS_USER,     /* the user's name, uid, gid, groups (comma list), */
    WD_PS_UID,      /* home and shell, as wd_user holds them */
    WD_PS_GID,
    WD_PS_GROUPS,
    WD_PS_HOME,
    WD_PS_SHELL,
    WD_PS_RHOST,    /* PAM_RHOST */
    WD_PS_TTY,      /* "/dev/pts/N" (PAM_TTY), "" without a pty */
    WD_PS_RUN,      /* wd_spawn_run, as a number */
    WD_PS_HAS_COMMAND, /* "1" when WD_PS_COMMAND is the command */
    WD_PS_COMMAND,
    WD_PS_CHROOT,   /* "" for none */
    WD_PS_MOTD,     /* "1" or "0" */
    WD_PS_LASTLOG,  /* "" for none */
    WD_PS_XAUTH_PATH, /* "" for none */
    WD_PS_XAUTH_INPUT,
    WD_PS_LOG_FD,   /* internal-sftp's log descriptor, "-1" for none */
    WD_PS_PWCHANGE, /* "1": passwd instead of the program */
    WD_PS_USER_ENV, /* PermitUserEnvironment: "" for no, else the number
                     * of fixed entries at the start of the environment */
    WD_PS_USER_ENV_ALLOW, /* its pattern list ("" for every name) */
    WD_PS_COUNT
};

/* main()'s first step when argv[1] is WD_PAMSESS_FLAG; returns the exit
 * status (or does not return). */
int wd_pamsess_main(int argc, char **argv);

#endif
