/*
 * spawn: starting a session's program as its user, under a pty or
 * pipes, and the calls that act on it afterwards.
 *
 * This is the "spawn" seam of the planned privilege separation
 * (DESIGN.md): today whelkd's worker calls it directly; later the worker,
 * unprivileged, will ask another process (the per-user process after
 * login, or the monitor) to do it. So the seam is kept to three calls
 * and one notification, each carrying plain values only (ids, strings,
 * fixed-size structs), so that each becomes one message:
 *
 *   wd_spawn(request) -> result   start the program; the result's
 *                                 descriptors would come back over
 *                                 SCM_RIGHTS, the rest as values
 *   wd_spawn_signal(pid, sig, uid) a client's "signal" request, sent
 *                                 with the user's credentials
 *                                 (usersig.c holds that mechanism and
 *                                 stays its own module: it is what the
 *                                 receiving side of this message runs)
 *   wd_spawn_hangup(pid)          the channel closed: SIGHUP to the
 *                                 program's process group
 *   wd_spawn_reap(&pid, &status)  collects one exited child. Its caller
 *                                 (session.c's SIGCHLD watcher) hands
 *                                 (pid, status) to the session: that
 *                                 pair is the reap notification the
 *                                 spawning process would send.
 *
 * Nothing here knows of libuv, channels or the engine: session.c builds
 * the request (the environment with childenv.c), watches the
 * descriptors and reaps from its event loop.
 */
#ifndef WHELKD_SPAWN_H
#define WHELKD_SPAWN_H

#include <sys/types.h>

#include "ttymodes.h"
#include "user.h"

typedef enum wd_spawn_run {
    WD_SPAWN_PROGRAM,     /* execve the user's shell */
    WD_SPAWN_SFTP,        /* internal-sftp: |command| is its command
                           * line, served by the child itself (sftp.h) */
    WD_SPAWN_SFTP_REFUSE  /* a shell or exec under a forced internal-sftp:
                           * sshd's refusal, exit status 1 */
} wd_spawn_run;

typedef struct wd_spawn_request {
    /* Who: uid, gid, supplementary groups, home (the working directory)
     * and shell (the program run). As root the child becomes this user;
     * otherwise it must be the user whelkd runs as already. */
    const wd_user *user;
    /* The shell runs with "-c command" and argv[0] the shell's base
     * name; with NULL it is a login shell, argv[0] "-" and the base name
     * (sshd's rule). */
    const char *command;
    /* The whole environment, NULL-terminated (childenv.c). With a pty,
     * an SSH_TTY entry gets the terminal's name (or one is added). */
    char *const *envp;
    /* A pty with these modes and this size, or NULL for three pipes. */
    const wd_tty *pty;
    wd_spawn_run run;
    /* ChrootDirectory: the child chroots here (checked by chrootdir.c)
     * before it becomes the user; NULL for none. */
    const char *chroot;
    /* sshd's do_nologin(): the child copies /etc/nologin to its stderr
     * and exits 254 (the caller decided and logged). */
    int nologin;
    /* X11 forwarding (x11fwd.h): as sshd's do_xauth, the child, as the
     * user and in the home directory, runs |xauth_path| -q - with the
     * |xauth_len| bytes of |xauth_input| on its stdin and waits for it
     * before the program starts. NULL: no xauth. */
    const char *xauth_path;
    const char *xauth_input;
    size_t xauth_len;
    /* PrintMotd for an interactive pty login: the child, as the user in
     * its home, shows /etc/motd (wd_motd_print) before the shell. */
    int motd;
    /* PrintLastLog: the "Last login" line shown before it, or NULL. */
    const char *lastlog;
    /* PermitUserEnvironment: the child, as the user, merges its
     * ~/.ssh/environment into the environment (userenv.h), keeping the
     * first |env_fixed| entries of |envp|; |user_env_allow| is the
     * pattern list of names allowed ("" for every one). */
    int user_env;
    const char *user_env_allow;
    unsigned env_fixed;
    /* sshd's force_pwchange: the password must be changed (expired, or
     * PAM_NEW_AUTHTOK_REQD): instead of the program, on a pty the child
     * says so and runs passwd(1); without one it says it cannot and
     * exits 1. */
    int pwchange;
    /* UsePAM yes: the child, still root, execs whelkd's PAM session
     * process (pamsess.h) with this request, which opens the PAM
     * session (PAM_RHOST |rhost|), forks the program and closes the
     * session when it ends; the pid returned is that process's. */
    int pam;
    const char *rhost;
} wd_spawn_request;

typedef struct wd_spawn_result {
    pid_t pid;          /* also the program's process group and session */
    /* Our ends, non-blocking and close-on-exec: in (the program's
     * stdin), out, err. With a pty in == out == the master, err -1. */
    int in_fd, out_fd, err_fd;
    char tty[64];       /* "/dev/pts/N", "" without a pty */
} wd_spawn_result;

/* Starts |req|'s program. 0 and |res| filled, or -1 with errno (nothing
 * left open). What goes wrong in the child after the fork reaches the
 * program's stderr: "whelkd: cannot switch to the user" (exit 1),
 * "Could not chdir to home directory" (then "/" is used), "whelkd:
 * cannot run the shell" (exit 127). */
int wd_spawn(const wd_spawn_request *req, wd_spawn_result *res);

/* The child's part once it is set up (stdio, terminal): chroot, the
 * user's identity, the home, ~/.ssh/environment (when |user_env_buf|,
 * WD_USERENV_MAX_BYTES + 1 bytes, is given: merged into |envp|, which
 * has room for |env_cap| entries), xauth, the motd, then the program
 * (execve of |argv| with |envp|) or internal-sftp (|log_fd|: its log).
 * Does not return. Only async-signal-safe calls (it also runs after
 * fork in pamsess.c, which is single-threaded anyway). */
void wd_spawn_become_user(const wd_spawn_request *req, char *const argv[],
                          char **envp, size_t env_cap, char *user_env_buf,
                          int root, int log_fd)
    __attribute__((noreturn));

/* killpg(|pid|, |sig|) with |uid|'s credentials (usersig.c), so root's
 * processes in the group are out of reach. 0, or -1 with errno (ESRCH
 * also in the moment after wd_spawn, before the child has its group). */
int wd_spawn_signal(pid_t pid, int sig, uid_t uid);

/* SIGHUP to |pid|'s process group, with whelkd's own rights (as the
 * kernel would hang a terminal up): the session is gone. */
void wd_spawn_hangup(pid_t pid);

/* Collects one child that has ended, without waiting: 1 with |pid| and
 * its wait status, 0 when none has. Every child of a worker is a
 * program it spawned. */
int wd_spawn_reap(pid_t *pid, int *status);
/* The same for one child |pid|: 1 with its status when it has ended. */
int wd_spawn_reap_pid(pid_t pid, int *status);

#endif
