/*
 * pamsess: see pamsess.h. This process is single-threaded and started
 * by execve, so PAM's modules may do here whatever they like (fork, lock,
 * allocate); it is root until the program's fork drops to the user.
 */
#include "pamsess.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "pam.h"
#include "spawn.h"
#include "userenv.h"

extern char **environ;

#define MSG_MAX 8192

/* What session modules say (pam_motd's text, say): kept and shown to an
 * interactive login before its shell, as sshd's loginmsg. */
static char messages[MSG_MAX];

static int conversation(int n, const struct pam_message **msg,
                        struct pam_response **out, void *data)
{
    *out = NULL;
    if (n <= 0 || n > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
    struct pam_response *resp = calloc((size_t)n, sizeof(*resp));
    if (!resp) return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        if (msg[i]->msg_style != PAM_TEXT_INFO &&
            msg[i]->msg_style != PAM_ERROR_MSG) {
            free(resp); /* nobody to ask in a session */
            return PAM_CONV_ERR;
        }
        size_t used = strlen(messages);
        const char *m = msg[i]->msg ? msg[i]->msg : "";
        int len = (int)strlen(m);
        while (len > 0 && m[len - 1] == '\n') len--; /* one line end */
        snprintf(messages + used, sizeof(messages) - used, "%.*s\n", len, m);
    }
    *out = resp;
    return PAM_SUCCESS;
}

static void say(const char *what, pam_handle_t *h, int rc)
{
    fprintf(stderr, "whelkd: PAM: %s: %s\n", what, pam_strerror(h, rc));
}

/* A parsed unsigned argument, or -1. */
static long long number(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno || end == s || *end || v < 0 ? -1 : v;
}

static int parse_user(char **argv, wd_user *u)
{
    memset(u, 0, sizeof(*u));
    long long uid = number(argv[WD_PS_UID]), gid = number(argv[WD_PS_GID]);
    if (uid < 0 || gid < 0 ||
        strlen(argv[WD_PS_USER]) >= sizeof(u->name) ||
        strlen(argv[WD_PS_HOME]) >= sizeof(u->home) ||
        strlen(argv[WD_PS_SHELL]) >= sizeof(u->shell))
        return -1;
    snprintf(u->name, sizeof(u->name), "%s", argv[WD_PS_USER]);
    snprintf(u->home, sizeof(u->home), "%s", argv[WD_PS_HOME]);
    snprintf(u->shell, sizeof(u->shell), "%s", argv[WD_PS_SHELL]);
    u->uid = (uid_t)uid;
    u->gid = (gid_t)gid;
    char *list = argv[WD_PS_GROUPS];
    while (*list && u->ngroups < WD_MAX_GROUPS) {
        char *end;
        unsigned long g = strtoul(list, &end, 10);
        if (end == list) return -1;
        u->groups[u->ngroups++] = (gid_t)g;
        list = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return 0;
}

/* environ with PAM's variables (pam_getenvlist) put in: a name PAM sets
 * replaces the same name, as in sshd's do_setup_env. */
static char **merged_env(pam_handle_t *h)
{
    char **pam = pam_getenvlist(h);
    size_t n = 0, m = 0;
    while (environ[n]) n++;
    while (pam && pam[m]) m++;
    char **out = calloc(n + m + 1, sizeof(*out));
    if (!out) return environ;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) out[k++] = environ[i];
    for (size_t j = 0; j < m; j++) {
        size_t len = strcspn(pam[j], "=");
        if (!pam[j][len]) continue;
        size_t i = 0;
        while (i < k && !(strncmp(out[i], pam[j], len + 1) == 0)) i++;
        out[i] = pam[j];
        if (i == k) k++;
    }
    out[k] = NULL;
    return out;
}

static const int ignored[] = {SIGHUP, SIGINT, SIGQUIT, SIGTSTP,
                              SIGTTIN, SIGTTOU, SIGPIPE};

int wd_pamsess_main(int argc, char **argv)
{
    if (argc != WD_PS_COUNT) {
        fprintf(stderr, "whelkd: %s is whelkd's own (a PAM session)\n",
                WD_PAMSESS_FLAG);
        return 2;
    }
    wd_user u;
    if (parse_user(argv, &u) != 0 || number(argv[WD_PS_RUN]) < 0 ||
        number(argv[WD_PS_RUN]) > WD_SPAWN_SFTP_REFUSE) {
        fprintf(stderr, "whelkd: bad PAM session request\n");
        return 1;
    }
    /* The terminal's signals are the program's: this process waits for
     * it whatever happens to the session, to close the PAM session. */
    for (size_t i = 0; i < sizeof(ignored) / sizeof(*ignored); i++)
        signal(ignored[i], SIG_IGN);

    const char *tty = argv[WD_PS_TTY];
    int has_command = strcmp(argv[WD_PS_HAS_COMMAND], "1") == 0;
    struct pam_conv conv = {conversation, NULL};
    pam_handle_t *h = NULL;
    int rc = pam_start(WD_PAM_SERVICE, u.name, &conv, &h);
    if (rc != PAM_SUCCESS) {
        say("pam_start", NULL, rc);
        return 1;
    }
    pam_set_item(h, PAM_RHOST, argv[WD_PS_RHOST]);
    pam_set_item(h, PAM_TTY, tty[0] ? tty : "ssh");
    /* sshd's order (do_pam_setcred, then do_pam_session). */
    rc = pam_setcred(h, PAM_ESTABLISH_CRED);
    if (rc != PAM_SUCCESS) {
        say("pam_setcred", h, rc);
        pam_end(h, rc);
        return 1;
    }
    rc = pam_open_session(h, 0);
    if (rc != PAM_SUCCESS) {
        say("pam_open_session", h, rc);
        pam_setcred(h, PAM_DELETE_CRED);
        pam_end(h, rc);
        return 1;
    }
    char **envp = merged_env(h);
    /* sshd shows the modules' words (its loginmsg) to an interactive
     * login only. */
    if (tty[0] && !has_command && messages[0]) {
        ssize_t w = write(STDOUT_FILENO, messages, strlen(messages));
        (void)w;
    }

    /* The command line of the program, as wd_spawn makes it. */
    const char *shell = u.shell;
    const char *base = strrchr(shell, '/');
    base = base ? base + 1 : shell;
    char argv0[sizeof(u.shell) + 1];
    snprintf(argv0, sizeof(argv0), "%s%s", has_command ? "" : "-", base);
    char *pargv[4] = {argv0, has_command ? "-c" : NULL,
                      has_command ? argv[WD_PS_COMMAND] : NULL, NULL};
    wd_spawn_request req = {
        .user = &u,
        .command = has_command ? argv[WD_PS_COMMAND] : NULL,
        .envp = envp,
        .run = (wd_spawn_run)number(argv[WD_PS_RUN]),
        .chroot = argv[WD_PS_CHROOT][0] ? argv[WD_PS_CHROOT] : NULL,
        .motd = strcmp(argv[WD_PS_MOTD], "1") == 0,
        .lastlog = argv[WD_PS_LASTLOG][0] ? argv[WD_PS_LASTLOG] : NULL,
        .xauth_path = argv[WD_PS_XAUTH_PATH][0] ? argv[WD_PS_XAUTH_PATH]
                                                : NULL,
        .xauth_input = argv[WD_PS_XAUTH_INPUT],
        .xauth_len = strlen(argv[WD_PS_XAUTH_INPUT]),
        .pwchange = strcmp(argv[WD_PS_PWCHANGE], "1") == 0,
    };
    int log_fd = (int)number(argv[WD_PS_LOG_FD]);
    /* PermitUserEnvironment: ~/.ssh/environment is read by the program's
     * child once it is the user, as wd_spawn's child does; it needs room
     * for the file's lines and a buffer, made here before the fork. */
    size_t env_cap = 0;
    char *user_env_buf = NULL;
    int bad = 0;
    if (argv[WD_PS_USER_ENV][0]) {
        long long fixed = number(argv[WD_PS_USER_ENV]);
        size_t n = 0;
        while (envp[n]) n++;
        env_cap = n + 1 + WD_USERENV_MAX_LINES;
        char **roomy = calloc(env_cap, sizeof(*roomy));
        user_env_buf = malloc(WD_USERENV_MAX_BYTES + 1);
        if (fixed < 0 || fixed > (long long)n || !roomy || !user_env_buf) {
            bad = ENOMEM; /* the session is closed below all the same */
        } else {
            memcpy(roomy, envp, n * sizeof(*roomy));
            envp = roomy;
            req.user_env = 1;
            req.env_fixed = (unsigned)fixed;
            req.user_env_allow = argv[WD_PS_USER_ENV_ALLOW];
        }
    }
    pid_t pid = -1;
    if (bad)
        errno = bad;
    else
        pid = fork();
    if (pid == 0) {
        for (size_t i = 0; i < sizeof(ignored) / sizeof(*ignored); i++)
            signal(ignored[i], SIG_DFL);
        wd_spawn_become_user(&req, pargv, envp, env_cap, user_env_buf,
                             geteuid() == 0, log_fd);
    }
    if (log_fd >= 0) close(log_fd);
    int st = 0;
    if (pid < 0) {
        fprintf(stderr, "whelkd: cannot start the program: %s\n",
                strerror(errno));
        st = 1 << 8;
    } else {
        /* Our copies of the session's descriptors go, so the program's
         * end is the output's end; the terminal stays ours as the
         * session's leader. */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int fd = 0; fd < 3 && null >= 0; fd++) dup2(null, fd);
        if (null > 2) close(null);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    rc = pam_close_session(h, 0);
    int rc2 = pam_setcred(h, PAM_DELETE_CRED);
    pam_end(h, rc != PAM_SUCCESS ? rc : rc2);
    if (WIFSIGNALED(st)) {
        /* The same end, for the client's exit-signal; no core of ours. */
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none);
        signal(WTERMSIG(st), SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, WTERMSIG(st));
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        kill(getpid(), WTERMSIG(st));
        return 128 + WTERMSIG(st);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
