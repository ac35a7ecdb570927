/*
 * spawn: see spawn.h. Opens the pty or the pipes, forks, and in the
 * child sets up the terminal or the pipes, drops to the user and execs
 * the user's shell.
 *
 * Between fork and execve the child may call only async-signal-safe
 * functions (signal-safety(7)): the worker has threads (libuv's pool,
 * which may be inside malloc, crypt or an NSS look-up at the moment of
 * the fork), and a lock one of them held stays locked for ever in the
 * child. Everything the child needs (argv, the environment with the
 * terminal's name) is therefore made before the fork. Each call in
 * child() says why it is safe. The one exception is internal-sftp,
 * which serves SFTP in the child without an exec (wd_sftp_child); see
 * SECURITY.md, "The internal SFTP server".
 */
#include "spawn.h"
#include "userenv.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "pamsess.h"
#include "sftp.h"
#include "usersig.h"

/* The descriptors the program gets as 0, 1 and 2 (a pty's slave three
 * times, or one end of each pipe). */
typedef struct stdio_fds {
    int fd[3];
} stdio_fds;

static void say(const char *msg)
{
    ssize_t w = write(STDERR_FILENO, msg, strlen(msg)); /* both listed */
    (void)w;
}

/* Makes |from| the child's 0, 1 and 2. Each is first copied above 2
 * (close-on-exec), so that a source which is itself 0, 1 or 2 (whelkd
 * started with one of them closed) is neither overwritten by another's
 * dup2 nor left close-on-exec by a dup2 onto itself. fcntl and dup2
 * are listed. */
static int set_stdio(const stdio_fds *from)
{
    int high[3];
    for (int i = 0; i < 3; i++) {
        high[i] = fcntl(from->fd[i], F_DUPFD_CLOEXEC, 3);
        if (high[i] < 0) return -1;
    }
    for (int i = 0; i < 3; i++)
        if (dup2(high[i], i) != i) return -1; /* clears close-on-exec */
    return 0;
}

/* As root: the user's groups, gid and uid, each checked, then a check
 * that neither root's uid nor its gid can be had back (as sshd's
 * permanently_set_uid). setgid and setuid are listed. setgroups is not
 * (it is not POSIX); glibc's wrapper, like those of setgid and setuid,
 * applies the change to every thread of the process under a lock that
 * glibc's fork re-initialises in the child, where there is one thread:
 * it cannot wait on a lock another thread held. */
static int drop_privileges(const wd_user *u)
{
    if (setgroups((size_t)u->ngroups, u->groups) != 0) return -1;
    if (setgid(u->gid) != 0) return -1;
    if (setuid(u->uid) != 0) return -1;
    if (u->uid != 0 && setuid(0) == 0) return -1;
    if (u->uid != 0 && u->gid != 0 && setgid(0) == 0) return -1;
    return 0;
}

/* In the child, as the user: xauth with the cookie on its stdin, waited
 * for (pipe, fork, dup2, close, execve, write, waitpid, _exit: all
 * listed). Its failure is xauth's to report on the session's stderr;
 * the program starts regardless, as with sshd. */
static void run_xauth(const wd_spawn_request *req, char **envp)
{
    int p[2];
    if (pipe(p) != 0) return;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return;
    }
    if (pid == 0) {
        close(p[1]);
        if (dup2(p[0], STDIN_FILENO) < 0) _exit(127);
        close(p[0]);
        char *const xargv[] = {"xauth", "-q", "-", NULL};
        execve(req->xauth_path, xargv, envp);
        say("whelkd: cannot run xauth\n");
        _exit(127);
    }
    close(p[0]);
    size_t done = 0;
    while (done < req->xauth_len) {
        ssize_t w = write(p[1], req->xauth_input + done,
                          req->xauth_len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    close(p[1]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
}

/* PermitUserEnvironment: ~/.ssh/environment into |envp| (room for
 * |cap| entries), read into |buf| (userenv.h). As the user, in the
 * child; what is wrong goes to the program's stderr, in sshd's words. */
static void merge_user_env(const wd_spawn_request *req, char **envp,
                           size_t cap, char *buf)
{
    static const char tail[] = "/.ssh/environment";
    char path[sizeof(req->user->home) + sizeof(tail)];
    size_t hl = strlen(req->user->home);
    memcpy(path, req->user->home, hl);
    memcpy(path + hl, tail, sizeof(tail));
    size_t len, n = 0;
    int rc = wd_userenv_read(path, buf, &len);
    if (rc == WD_USERENV_NONE) return;
    while (envp[n]) n++;
    unsigned bad = 0;
    if (rc == WD_USERENV_OK)
        rc = wd_userenv_merge(buf, envp, &n, cap, req->env_fixed,
                              req->user_env_allow, &bad);
    if (rc != WD_USERENV_OK) {
        say(rc == WD_USERENV_TOO_BIG ? "Environment file too large: "
                                     : "Too many lines in environment "
                                       "file ");
        say(path);
        say("\n");
        _exit(1); /* as sshd's fatal() in the session's child */
    }
    if (bad) {
        char num[12];
        int i = (int)sizeof(num) - 1;
        num[i] = 0;
        do num[--i] = (char)('0' + bad % 10);
        while ((bad /= 10) && i > 0);
        say("Bad line ");
        say(num + i);
        say(" in ");
        say(path);
        say("\n");
    }
}

static void child(const wd_spawn_request *req, int pty,
                  const stdio_fds *io, char *const argv[], char **envp,
                  size_t env_cap, char *user_env_buf,
                  char *const pam_argv[], int root) __attribute__((noreturn));

static void child(const wd_spawn_request *req, int pty,
                  const stdio_fds *io, char *const argv[], char **envp,
                  size_t env_cap, char *user_env_buf,
                  char *const pam_argv[], int root)
{
    /* whelkd's handlers (libuv's, which write to the loop's signal
     * pipe) must not run here. Every signal is blocked since before the
     * fork; each goes back to its default, then none is blocked, and a
     * signal sent meanwhile (wd_spawn_hangup) acts only now. signal and
     * sigprocmask are listed (sigemptyset too). SIGPIPE, ignored by
     * whelkd, is thereby restored as well. */
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* A session and process group of its own (listed), so the pty can
     * become its controlling terminal and signals reach the whole
     * group. It cannot fail: a fresh child leads no group. */
    setsid();
    /* internal-sftp logs to whelkd's stderr, which 2 is about to stop
     * being: a copy above 2 (fcntl, listed). */
    int log_fd = -1;
    if (req->run != WD_SPAWN_PROGRAM)
        log_fd = fcntl(STDERR_FILENO, F_DUPFD, 3);
    if (set_stdio(io) != 0) {
        say("whelkd: cannot set up the program's descriptors\n");
        _exit(1);
    }
    /* The pty becomes the controlling terminal. TIOCSCTTY is not in
     * POSIX's list, which names no ioctl at all; glibc's ioctl is the
     * bare system call, taking no lock. */
    if (pty && ioctl(STDIN_FILENO, TIOCSCTTY, 0) != 0) {
        say("whelkd: cannot make the pty the controlling terminal\n");
        _exit(1);
    }
    if (req->nologin) {
        wd_nologin_print(STDERR_FILENO); /* open, read, write, close */
        _exit(254);
    }
    if (req->pam) {
        /* PAM's session calls run in a process of their own, started
         * fresh (execve is listed): see pamsess.c. internal-sftp's log
         * descriptor goes along, its number written in place (the
         * string has room for any int). */
        if (log_fd >= 0) {
            char *d = pam_argv[WD_PS_LOG_FD];
            char rev[16];
            int n = 0;
            for (int v = log_fd; n == 0 || v > 0; v /= 10)
                rev[n++] = (char)('0' + v % 10);
            for (int i = 0; i < n; i++) d[i] = rev[n - 1 - i];
            d[n] = 0;
        }
        execve("/proc/self/exe", pam_argv, envp);
        say("whelkd: cannot start the PAM session process\n");
        _exit(1);
    }
    wd_spawn_become_user(req, argv, envp, env_cap, user_env_buf, root,
                         log_fd);
}

/* sshd's do_pwchange(), as the user: passwd(1) on the terminal. write,
 * isatty (tcgetattr, listed), execve and _exit are listed. */
static void pwchange(char **envp) __attribute__((noreturn));
static void pwchange(char **envp)
{
    if (!isatty(STDIN_FILENO)) {
        say("Password change required but no TTY available.\n");
        _exit(1);
    }
    static const char msg[] = "You must change your password now and log "
                              "back in!\n";
    ssize_t w = write(STDOUT_FILENO, msg, sizeof(msg) - 1);
    (void)w;
    char *const pargv[] = {"passwd", NULL};
    execve("/usr/bin/passwd", pargv, envp);
    say("whelkd: cannot run passwd\n");
    _exit(1);
}

void wd_spawn_become_user(const wd_spawn_request *req, char *const argv[],
                          char **envp, size_t env_cap, char *user_env_buf,
                          int root, int log_fd)
{
    /* ChrootDirectory, still as root (chroot and chdir: chroot is not in
     * POSIX's list; it is a bare system call in glibc). The home is then
     * looked for inside it, "/" if it is not there, as in sshd. */
    if (req->chroot && (chroot(req->chroot) != 0 || chdir("/") != 0)) {
        say("whelkd: cannot change root directory\n");
        _exit(1);
    }
    if (root && drop_privileges(req->user) != 0) {
        say("whelkd: cannot switch to the user\n");
        _exit(1);
    }
    if (chdir(req->user->home) != 0) { /* listed */
        say("Could not chdir to home directory\n");
        if (chdir("/") != 0) _exit(1);
    }
    /* ~/.ssh/environment, as the user, before anything runs with the
     * environment (sshd's do_setup_env follows do_setusercontext). */
    if (user_env_buf) merge_user_env(req, envp, env_cap, user_env_buf);
    if (req->pwchange) pwchange(envp);
    if (req->xauth_path) run_xauth(req, envp);
    if (req->motd || req->lastlog) /* access, open, read, write */
        wd_motd_print(STDOUT_FILENO, req->lastlog, req->motd);
    if (req->run != WD_SPAWN_PROGRAM) /* serves here: see the top */
        wd_sftp_child(req->run == WD_SPAWN_SFTP ? req->command : NULL, envp,
                      log_fd);
    execve(req->user->shell, argv, envp);
    say("whelkd: cannot run the shell\n");
    _exit(127);
}

/* The pty, set up before the fork: its modes and size as the client
 * asked, and as root owned by the user (mode 0620, as sshd's
 * pty_setowner) so that the user's programs may change its modes. */
static int open_pty(const wd_spawn_request *req, int *master, int *slave,
                    char *name, size_t len)
{
    const wd_tty *tty = req->pty;
    *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0 || grantpt(*master) != 0 || unlockpt(*master) != 0)
        return -1;
    int err = ptsname_r(*master, name, len);
    if (err != 0) {
        errno = err;
        return -1;
    }
    *slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*slave < 0) return -1;
    struct termios t;
    if (tcgetattr(*slave, &t) == 0) {
        wd_apply_tty_modes(tty, &t);
        tcsetattr(*slave, TCSANOW, &t);
    }
    struct winsize ws = {(unsigned short)tty->rows, (unsigned short)tty->cols,
                         (unsigned short)tty->width_px,
                         (unsigned short)tty->height_px};
    ioctl(*slave, TIOCSWINSZ, &ws);
    /* Group tty when it exists (write(1) and wall go through it). */
    gid_t tty_gid = (gid_t)-1;
    struct group gr, *grp = NULL;
    char grbuf[1024];
    if (getgrnam_r("tty", &gr, grbuf, sizeof(grbuf), &grp) == 0 && grp)
        tty_gid = grp->gr_gid;
    if (geteuid() == 0 && (fchown(*slave, req->user->uid, tty_gid) != 0 ||
                           fchmod(*slave, 0620) != 0))
        wd_log(WHELK_LOG_INFO, "cannot hand %s to %s", name,
               req->user->name);
    return 0;
}

/* The child's environment: the request's, with the terminal's name in
 * the place of its first SSH_TTY entry (childenv.c reserves one) or
 * added at the end, and any other SSH_TTY left out. The strings stay
 * the request's; |ssh_tty| holds the new one. */
static char **child_env(char *const *envp, const char *tty, char *ssh_tty,
                        size_t len, size_t extra, size_t *cap)
{
    static const char name[] = "SSH_TTY=";
    size_t n = 0;
    while (envp[n]) n++;
    *cap = n + 2 + extra;
    char **out = malloc(*cap * sizeof(*out));
    if (!out) return NULL;
    size_t o = 0;
    int placed = 0;
    if (tty[0]) snprintf(ssh_tty, len, "%s%s", name, tty);
    for (size_t i = 0; i < n; i++) {
        if (tty[0] && strncmp(envp[i], name, sizeof(name) - 1) == 0) {
            if (!placed) out[o++] = ssh_tty;
            placed = 1;
            continue;
        }
        out[o++] = envp[i];
    }
    if (tty[0] && !placed) out[o++] = ssh_tty;
    out[o] = NULL;
    return out;
}

/* The PAM session process's argv (pamsess.h), in one allocation: the
 * pointers, then the strings they point into. NULL without memory. */
static char **pam_args(const wd_spawn_request *req, const char *tty)
{
    const wd_user *u = req->user;
    char num[4][24], groups[WD_MAX_GROUPS * 12 + 1];
    snprintf(num[0], sizeof(num[0]), "%u", (unsigned)u->uid);
    snprintf(num[1], sizeof(num[1]), "%u", (unsigned)u->gid);
    snprintf(num[2], sizeof(num[2]), "%d", (int)req->run);
    snprintf(num[3], sizeof(num[3]), "%u", req->env_fixed);
    size_t g = 0;
    groups[0] = 0;
    for (int i = 0; i < u->ngroups && i < WD_MAX_GROUPS; i++)
        g += (size_t)snprintf(groups + g, sizeof(groups) - g, "%s%u",
                              i ? "," : "", (unsigned)u->groups[i]);
    char title[128];
    snprintf(title, sizeof(title), "whelkd: %s [pam session]", u->name);
    const char *v[WD_PS_COUNT] = {
        [0] = title,
        [WD_PS_FLAG] = WD_PAMSESS_FLAG,
        [WD_PS_USER] = u->name,
        [WD_PS_UID] = num[0],
        [WD_PS_GID] = num[1],
        [WD_PS_GROUPS] = groups,
        [WD_PS_HOME] = u->home,
        [WD_PS_SHELL] = u->shell,
        [WD_PS_RHOST] = req->rhost ? req->rhost : "",
        [WD_PS_TTY] = tty,
        [WD_PS_RUN] = num[2],
        [WD_PS_HAS_COMMAND] = req->command ? "1" : "0",
        [WD_PS_COMMAND] = req->command ? req->command : "",
        [WD_PS_CHROOT] = req->chroot ? req->chroot : "",
        [WD_PS_MOTD] = req->motd ? "1" : "0",
        [WD_PS_LASTLOG] = req->lastlog ? req->lastlog : "",
        [WD_PS_XAUTH_PATH] = req->xauth_path ? req->xauth_path : "",
        [WD_PS_XAUTH_INPUT] = req->xauth_input ? req->xauth_input : "",
        [WD_PS_LOG_FD] = "-1          ", /* room for the child's number */
        [WD_PS_PWCHANGE] = req->pwchange ? "1" : "0",
        [WD_PS_USER_ENV] = req->user_env ? num[3] : "",
        [WD_PS_USER_ENV_ALLOW] =
            req->user_env_allow ? req->user_env_allow : "",
    };
    size_t total = (WD_PS_COUNT + 1) * sizeof(char *);
    for (int i = 0; i < WD_PS_COUNT; i++) total += strlen(v[i]) + 1;
    char **out = malloc(total);
    if (!out) return NULL;
    char *p = (char *)(out + WD_PS_COUNT + 1);
    for (int i = 0; i < WD_PS_COUNT; i++) {
        size_t n = strlen(v[i]) + 1;
        memcpy(p, v[i], n);
        out[i] = p;
        p += n;
    }
    out[WD_PS_COUNT] = NULL;
    return out;
}

static void set_nonblocking(int fd)
{
    if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int wd_spawn(const wd_spawn_request *req, wd_spawn_result *res)
{
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    int master = -1, slave = -1;
    char **envp = NULL, *user_env_buf = NULL, **pam_argv = NULL;
    size_t env_cap = 0;
    char ssh_tty[sizeof(res->tty) + 16];
    res->pid = -1;
    res->in_fd = res->out_fd = res->err_fd = -1;
    res->tty[0] = 0;

    if (req->pty) {
        if (open_pty(req, &master, &slave, res->tty, sizeof(res->tty)) != 0)
            goto fail;
    } else if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) ||
               pipe2(perr, O_CLOEXEC)) {
        goto fail;
    }
    envp = child_env(req->envp, res->tty, ssh_tty, sizeof(ssh_tty),
                     req->user_env ? WD_USERENV_MAX_LINES : 0, &env_cap);
    if (!envp) goto fail;
    /* The child may not allocate: the file's buffer is made here. */
    if (req->user_env &&
        !(user_env_buf = malloc(WD_USERENV_MAX_BYTES + 1)))
        goto fail;
    if (req->pam && !(pam_argv = pam_args(req, res->tty))) goto fail;
    const char *base = strrchr(req->user->shell, '/');
    base = base ? base + 1 : req->user->shell;
    char argv0[sizeof(req->user->shell) + 1];
    snprintf(argv0, sizeof(argv0), "%s%s", req->command ? "" : "-", base);
    char *argv[4] = {argv0, req->command ? "-c" : NULL,
                     (char *)req->command, NULL};
    stdio_fds io = {{pin[0], pout[1], perr[1]}};
    if (slave >= 0) io = (stdio_fds){{slave, slave, slave}};
    int root = geteuid() == 0;
    sigset_t every, mask;
    sigfillset(&every);
    pthread_sigmask(SIG_SETMASK, &every, &mask);
    pid_t pid = fork();
    if (pid == 0)
        child(req, slave >= 0, &io, argv, envp, env_cap, user_env_buf,
              pam_argv, root);
    int fork_err = errno;
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
    if (pid < 0) {
        errno = fork_err;
        goto fail;
    }
    free(envp);
    free(user_env_buf);
    free(pam_argv);
    res->pid = pid;
    if (req->pty) {
        close(slave);
        res->in_fd = res->out_fd = master;
    } else {
        close(pin[0]);
        close(pout[1]);
        close(perr[1]);
        res->in_fd = pin[1];
        res->out_fd = pout[0];
        res->err_fd = perr[0];
    }
    set_nonblocking(res->in_fd);
    if (res->out_fd != res->in_fd) set_nonblocking(res->out_fd);
    set_nonblocking(res->err_fd);
    return 0;
fail:;
    int err = errno;
    free(envp);
    free(user_env_buf);
    free(pam_argv);
    int all[] = {pin[0], pin[1], pout[0], pout[1], perr[0], perr[1], master,
                 slave};
    for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++)
        if (all[i] >= 0) close(all[i]);
    res->tty[0] = 0;
    errno = err;
    return -1;
}

int wd_spawn_signal(pid_t pid, int sig, uid_t uid)
{
    return wd_killpg_as(pid, sig, uid);
}

void wd_spawn_hangup(pid_t pid)
{
    /* Right after wd_spawn (a CLOSE in the same read as the exec) the
     * child may not have made its group yet: then it is alone, and the
     * signal waits, blocked, until its handlers are the defaults. */
    if (kill(-pid, SIGHUP) != 0 && errno == ESRCH) kill(pid, SIGHUP);
}

int wd_spawn_reap(pid_t *pid, int *status)
{
    pid_t p = waitpid(-1, status, WNOHANG);
    if (p <= 0) return 0;
    *pid = p;
    return 1;
}

int wd_spawn_reap_pid(pid_t pid, int *status)
{
    return waitpid(pid, status, WNOHANG) == pid;
}
