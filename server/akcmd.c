/*
 * akcmd: see akcmd.h.
 *
 * The command's exit status must reach this thread, but the event
 * loop's SIGCHLD watcher reaps any child (waitpid(-1)). So a helper is
 * forked: it starts a session (a process group to kill), forks the
 * command, waits for it and writes its status down a pipe. The command
 * runs as AuthorizedKeysCommandUser (its uid, gid and groups), with
 * stdin and stderr on /dev/null and a fixed PATH, as sshd's subprocess().
 * Only async-signal-safe calls run between fork and exec.
 */
#include "akcmd.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "tokens.h"

#define MAX_ARGV 64

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* sshd refuses a command it cannot trust: it and its directories must
 * be root's (or the command user's) and writable by no one else. */
static int command_secure(const char *path, uid_t uid)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s", path);
    for (;;) {
        struct stat st;
        if (stat(p, &st) != 0) {
            wd_log(WHELK_LOG_ERROR, "AuthorizedKeysCommand %s: %s", path,
                   strerror(errno));
            return -1;
        }
        if ((st.st_uid != 0 && st.st_uid != uid) ||
            (st.st_mode & (S_IWGRP | S_IWOTH))) {
            wd_log(WHELK_LOG_ERROR, "Unsafe AuthorizedKeysCommand \"%s\": "
                   "bad ownership or modes for %s", path, p);
            return -1;
        }
        char *slash = strrchr(p, '/');
        if (!slash) return 0;
        if (slash == p) {
            if (p[1] == 0) return 0;
            p[1] = 0;
        } else {
            *slash = 0;
        }
    }
}

int wd_akcmd_run(const wd_keywords *kw, const wd_user *u,
                 const wd_akcmd_key *key, size_t cap, char **out, size_t *len)
{
    const char *cmd = kw->authorized_keys_command;
    *out = NULL;
    *len = 0;
    if (!kw->authorized_keys_command_user[0]) {
        wd_log(WHELK_LOG_ERROR, "AuthorizedKeysCommand %s: no "
               "AuthorizedKeysCommandUser set, not run", cmd);
        return -1;
    }
    wd_user runas;
    if (wd_user_lookup(kw->authorized_keys_command_user, &runas) != 0) {
        wd_log(WHELK_LOG_ERROR, "AuthorizedKeysCommandUser \"%s\" not found",
               kw->authorized_keys_command_user);
        return -1;
    }

    /* Split, then expand each word (sshd's order). */
    char words[sizeof(kw->authorized_keys_command)];
    snprintf(words, sizeof(words), "%s", cmd);
    static const int nword_max = MAX_ARGV - 2;
    char *argv[MAX_ARGV];
    char *expanded = NULL;
    int argc = 0;
    char uid[24];
    snprintf(uid, sizeof(uid), "%lu", (unsigned long)u->uid);
    const wd_token toks[] = {{'u', u->name},         {'h', u->home},
                             {'U', uid},             {'f', key->fingerprint},
                             {'k', key->blob64},     {'t', key->type}};
    size_t room = 16384 + 2 * sizeof(key->blob64);
    expanded = malloc(room);
    if (!expanded) return -1;
    size_t used = 0;
    int rc = -1;
    for (char *save = NULL, *w = strtok_r(words, " ", &save); w;
         w = strtok_r(NULL, " ", &save)) {
        if (argc == nword_max ||
            wd_expand_tokens(w, toks, sizeof(toks) / sizeof(*toks),
                             expanded + used, room - used) != 0) {
            wd_log(WHELK_LOG_ERROR, "AuthorizedKeysCommand %s: cannot "
                   "expand", cmd);
            goto done;
        }
        argv[argc++] = expanded + used;
        used += strlen(expanded + used) + 1;
    }
    /* No arguments: sshd passes the user name. */
    if (argc == 1) argv[argc++] = (char *)u->name;
    argv[argc] = NULL;
    if (argc == 0 || command_secure(argv[0], runas.uid) != 0) goto done;

    int outp[2], statp[2];
    if (pipe2(outp, O_CLOEXEC) != 0) goto done;
    if (pipe2(statp, O_CLOEXEC) != 0) {
        close(outp[0]);
        close(outp[1]);
        goto done;
    }
    char *const envp[] = {"PATH=/usr/bin:/bin:/usr/sbin:/sbin", NULL};
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t helper = fork();
    if (helper == 0) {
        /* libuv's handlers would tell the parent's loop of signals the
         * helper gets (they write to a pipe shared with it). */
        signal(SIGCHLD, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        setsid();
        pid_t child = fork();
        if (child == 0) {
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL); /* pool threads block */
            signal(SIGPIPE, SIG_DFL);
            if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(outp[1], 1) < 0 ||
                dup2(devnull, 2) < 0)
                _exit(126);
            if (geteuid() == 0 &&
                (setgroups((size_t)runas.ngroups, runas.groups) != 0 ||
                 setgid(runas.gid) != 0 || setuid(runas.uid) != 0))
                _exit(126);
            execve(argv[0], argv, envp);
            _exit(127);
        }
        close(outp[1]);
        int st = -1;
        if (child > 0)
            while (waitpid(child, &st, 0) < 0 && errno == EINTR) {}
        ssize_t wr = write(statp[1], &st, sizeof(st));
        (void)wr;
        _exit(0);
    }
    if (devnull >= 0) close(devnull);
    close(outp[1]);
    close(statp[1]);
    if (helper < 0) {
        close(outp[0]);
        close(statp[0]);
        goto done;
    }

    /* Read the output until it ends, the cap, or the deadline. */
    char *buf = malloc(cap + 1);
    size_t n = 0;
    int timed_out = 0, too_big = 0;
    uint64_t deadline = now_ms() + WD_AKCMD_TIMEOUT_MS;
    while (buf) {
        uint64_t t = now_ms();
        if (t >= deadline) {
            timed_out = 1;
            break;
        }
        struct pollfd pfd = {.fd = outp[0], .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(deadline - t));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) {
            timed_out = pr == 0;
            break;
        }
        ssize_t r = read(outp[0], buf + n, cap + 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
        if (n > cap) {
            too_big = 1;
            break;
        }
    }
    close(outp[0]);
    int st = -1;
    if (!timed_out && !too_big && buf) {
        /* The output ended: the status follows once the command exits,
         * within what is left of the time. */
        uint64_t t = now_ms();
        struct pollfd pfd = {.fd = statp[0], .events = POLLIN};
        if (t < deadline && poll(&pfd, 1, (int)(deadline - t)) == 1 &&
            read(statp[0], &st, sizeof(st)) == (ssize_t)sizeof(st)) {
        } else {
            timed_out = 1;
        }
    }
    close(statp[0]);
    if (timed_out || too_big || !buf) kill(-helper, SIGKILL);
    /* The loop's SIGCHLD watcher may reap the helper first: ECHILD. */
    while (waitpid(helper, NULL, 0) < 0 && errno == EINTR) {}

    if (timed_out) {
        wd_log(WHELK_LOG_ERROR, "AuthorizedKeysCommand %s for %.100s timed "
               "out after %d ms: killed", argv[0], u->name,
               WD_AKCMD_TIMEOUT_MS);
    } else if (too_big) {
        wd_log(WHELK_LOG_ERROR, "AuthorizedKeysCommand %s for %.100s: "
               "output over %zu bytes, ignored", argv[0], u->name, cap);
    } else if (!buf) {
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (WIFSIGNALED(st))
            wd_log(WHELK_LOG_ERROR, "AuthorizedKeysCommand %s exited on "
                   "signal %d", argv[0], WTERMSIG(st));
        else
            wd_log(WHELK_LOG_ERROR, "AuthorizedKeysCommand %s returned "
                   "status %d", argv[0], WIFEXITED(st) ? WEXITSTATUS(st)
                                                      : -1);
    } else {
        *out = buf;
        *len = n;
        buf = NULL;
        rc = 0;
    }
    free(buf);
done:
    free(expanded);
    return rc;
}
