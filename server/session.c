/*
 * session: the process back end, the default whelk_session_handler of
 * whelkd. shell and exec run the user's login shell (with -c COMMAND for
 * exec) as that user, in their home, with the environment sshd gives;
 * subsystems come from -s. With a pty the program gets a new session whose
 * controlling terminal is the pty; without, three pipes, stderr carried
 * as extended data.
 *
 * Output is read only while the channel has room (flow control reaches
 * the program); client data is written to the program's stdin and
 * reported consumed only once written. When the program has exited and
 * all its output has been read, exit-status (or exit-signal), EOF and
 * CLOSE go out in that order. Children are reaped through a SIGCHLD
 * watcher: no zombies, no blocking wait on the loop.
 *
 * Starting, signalling and reaping the program go through spawn.h, the
 * seam privilege separation will turn into messages; this file keeps
 * the event-loop side (the polls on the program's descriptors, the
 * SIGCHLD watcher) and what the SSH session decides (which program,
 * its environment through childenv.h, which signals are allowed).
 */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agentfwd.h"
#include "auth.h"
#include "childenv.h"
#include "server.h"
#include "sftp.h"
#include "chrootdir.h"
#include "sessconf.h"
#include "loginrec.h"
#include "spawn.h"
#include "ttymodes.h"
#include "x11fwd.h"

#define MAX_ENV 64
#define READ_CHUNK (64 * 1024)
/* 256 KiB measured best: 10 alternating 256 MiB aes128-gcm uploads gave
 * 590 vs 566 MiB/s and 1.21 vs 1.27 server-tree CPU s/GiB against the
 * default 64 KiB; 1 MiB was no better. */
#define WD_STDIN_PIPE_BYTES (256 * 1024)

typedef struct wd_session {
    whelk_session *s;      /* NULL once the engine closed the channel */
    wd_conn *conn;
    uv_loop_t *loop;
    struct wd_session *next_live; /* in the pid table */
    pid_t pid;
    int status;
    int exited;
    int finished;          /* exit, EOF and CLOSE sent */
    int has_pty;
    int pam_process;       /* ss->pid is the PAM session process's */
    wd_tty *pty;           /* pty-req's terminal, until the program starts */
    char tty[64];          /* "/dev/pts/N" while its login record is open */
    int in_fd, out_fd, err_fd; /* our ends; with a pty in == out == master */
    uv_poll_t out_poll, err_poll, in_poll;
    int out_polling, err_polling, in_polling;
    int handles;           /* poll handles still open */
    int stopped;           /* stop_writing in force */
    int peer_eof;          /* client EOF not yet applied */
    int stdin_dead;        /* program closed its stdin */
    int pipe_grown;        /* stdin pipe enlarged after it first filled */
    int staged;            /* on the staged list, until the read is done */
    struct wd_session *next_staged;
    uint8_t *inbuf;        /* client data the program has not taken yet */
    size_t in_len, in_cap;
    char **env;            /* accepted client variables, NAME=value, */
    int n_env;             /* until the program starts (at most MAX_ENV) */
    char kind[16];
    wd_spawn_run run;      /* a program, or internal-sftp (or its refusal) */
    wd_agentfwd *agent;    /* auth-agent-req: the socket, or NULL */
    wd_x11fwd *x11;        /* x11-req: the display, or NULL */
} wd_session;

static wd_session *live;   /* sessions with a running child */
/* Sessions with client data staged during the socket read in progress.
 * A loop handles one read at a time and sessions stage only inside one
 * (wd_conn_in_read), so all of them belong to the connection whose
 * read is under way, and the list is empty between reads. */
static wd_session *staged;
static uv_signal_t sigchld;
static int sigchld_on;

static void finish_if_done(wd_session *ss);
static void free_if_idle(wd_session *ss);

/* ------------------------------------------------------------------------
 * Descriptors and polls.
 */

static void on_poll_closed(uv_handle_t *h)
{
    wd_session *ss = h->data;
    ss->handles--;
    free_if_idle(ss);
}

static void close_fd(wd_session *ss, int *fd, uv_poll_t *poll, int *polling)
{
    if (*polling != -2) {
        uv_poll_stop(poll);
        uv_close((uv_handle_t *)poll, on_poll_closed);
        *polling = -2;
    }
    if (*fd < 0) return;
    int v = *fd;
    *fd = -1;
    /* A pty master serves as both stdin and stdout: close it with the
     * last of the two. */
    if (v == ss->in_fd || v == ss->out_fd) return;
    close(v);
}

static void update_out_polls(wd_session *ss);

static void kick(wd_session *ss)
{
    if (ss->conn) wd_conn_kick(ss->conn);
}

/* Reads program output while the channel has room. */
static void write_input(wd_session *ss);

static void on_output(uv_poll_t *p, int status, int events)
{
    wd_session *ss = p->data;
    int is_err = p == &ss->err_poll;
    if (events & UV_WRITABLE) write_input(ss); /* pty: stdin shares it */
    if (!(events & UV_READABLE) && status == 0) {
        update_out_polls(ss);
        kick(ss);
        return;
    }
    int *fd = is_err ? &ss->err_fd : &ss->out_fd;
    char buf[READ_CHUNK];
    for (int rounds = 0; rounds < 8 && *fd >= 0 && ss->s; rounds++) {
        size_t room = whelk_session_write_room(ss->s);
        if (room == 0) {
            ss->stopped = 1;
            break;
        }
        ssize_t n = read(*fd, buf, room < sizeof(buf) ? room : sizeof(buf));
        if (n > 0) {
            if (ss->conn) wd_conn_note_output(ss->conn);
            if (is_err)
                whelk_session_write_stderr(ss->s, buf, (size_t)n);
            else
                whelk_session_write(ss->s, buf, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
        /* EOF, or EIO from a pty master whose slave side is gone. */
        if (is_err)
            close_fd(ss, &ss->err_fd, &ss->err_poll, &ss->err_polling);
        else
            close_fd(ss, &ss->out_fd, &ss->out_poll, &ss->out_polling);
        finish_if_done(ss);
        break;
    }
    update_out_polls(ss);
    kick(ss);
}

static void on_input_writable(uv_poll_t *p, int status, int events);

/* Sets each poll handle's events from what is wanted now: output is read
 * while the channel has room; stdin is watched while data waits for it.
 * A pty has one descriptor, so its handle carries both directions. */
static void update_out_polls(wd_session *ss)
{
    int rd = ss->s && !ss->stopped;
    int wr = ss->in_len > 0 && ss->in_fd >= 0;
    if (ss->out_fd >= 0 && ss->out_polling != -2) {
        int ev = (rd ? UV_READABLE : 0) | (ss->has_pty && wr ? UV_WRITABLE : 0);
        if (ev != ss->out_polling) {
            if (ev) uv_poll_start(&ss->out_poll, ev, on_output);
            else uv_poll_stop(&ss->out_poll);
            ss->out_polling = ev;
        }
    }
    if (ss->err_fd >= 0 && ss->err_polling != -2) {
        int ev = rd ? UV_READABLE : 0;
        if (ev != ss->err_polling) {
            if (ev) uv_poll_start(&ss->err_poll, ev, on_output);
            else uv_poll_stop(&ss->err_poll);
            ss->err_polling = ev;
        }
    }
    if (!ss->has_pty && ss->in_fd >= 0 && ss->in_polling != -2) {
        int ev = wr ? UV_WRITABLE : 0;
        if (ev != ss->in_polling) {
            if (ev) uv_poll_start(&ss->in_poll, ev, on_input_writable);
            else uv_poll_stop(&ss->in_poll);
            ss->in_polling = ev;
        }
    }
}

/* ------------------------------------------------------------------------
 * Client data to the program.
 */

static void apply_eof(wd_session *ss)
{
    if (!ss->peer_eof || ss->in_len > 0 || ss->in_fd < 0) return;
    ss->peer_eof = 0;
    if (ss->has_pty) {
        /* The terminal's EOF character, as a user would type it. */
        struct termios t;
        char eof = 4;
        if (tcgetattr(ss->in_fd, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE)
            eof = (char)t.c_cc[VEOF];
        ssize_t w = write(ss->in_fd, &eof, 1);
        (void)w;
    } else {
        close_fd(ss, &ss->in_fd, &ss->in_poll, &ss->in_polling);
    }
}

static void stdin_died(wd_session *ss)
{
    /* The program stopped reading: say so once (eow@openssh.com) and
     * drop what the client sends from now on, keeping the window open. */
    ss->stdin_dead = 1;
    if (ss->s) {
        whelk_session_send_eow(ss->s);
        whelk_session_consumed(ss->s, ss->in_len);
    }
    ss->in_len = 0;
    if (!ss->has_pty)
        close_fd(ss, &ss->in_fd, &ss->in_poll, &ss->in_polling);
}

/* A bulk upload fills the default 64 KiB pipe in two packets, and every
 * full pipe costs a copy into inbuf, a poll and a wakeup. The first time
 * the program's stdin pipe fills, it is enlarged; sessions that never
 * stream keep the default (pipe pages count against per-user limits). */
static int grow_stdin_pipe(wd_session *ss)
{
    if (ss->pipe_grown || ss->has_pty || ss->in_fd < 0) return 0;
    ss->pipe_grown = 1;
    return fcntl(ss->in_fd, F_SETPIPE_SZ, WD_STDIN_PIPE_BYTES) > 65536;
}

static void on_input_writable(uv_poll_t *p, int status, int events)
{
    wd_session *ss = p->data;
    write_input(ss);
    kick(ss);
}

static void write_input(wd_session *ss)
{
    size_t done = 0;
    while (done < ss->in_len && ss->in_fd >= 0) {
        ssize_t w = write(ss->in_fd, ss->inbuf + done, ss->in_len - done);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            if (grow_stdin_pipe(ss)) continue;
            break;
        }
        ss->in_len -= done;
        memmove(ss->inbuf, ss->inbuf + done, ss->in_len);
        if (ss->s) whelk_session_consumed(ss->s, done);
        stdin_died(ss);
        return;
    }
    if (done) {
        ss->in_len -= done;
        memmove(ss->inbuf, ss->inbuf + done, ss->in_len);
        if (ss->s) whelk_session_consumed(ss->s, done);
    }
    if (ss->in_len == 0 && ss->inbuf) {
        free(ss->inbuf); /* idle sessions keep no buffer */
        ss->inbuf = NULL;
        ss->in_cap = 0;
    }
    update_out_polls(ss);
    apply_eof(ss);
}

/* Client data that arrives while the engine handles a socket read is
 * staged and written when the read is done (wd_session_flush_staged): a
 * bulk upload then costs the program one wakeup and whelkd one write per
 * read, not one per 32 KiB packet, which measured cheaper than the copy. */
static void stage_input(wd_session *ss)
{
    if (ss->staged || !ss->conn) return;
    ss->staged = 1;
    ss->next_staged = staged;
    staged = ss;
}

static void unstage_input(wd_session *ss)
{
    if (!ss->staged) return;
    for (wd_session **p = &staged; *p; p = &(*p)->next_staged) {
        if (*p == ss) {
            *p = ss->next_staged;
            break;
        }
    }
    ss->staged = 0;
    ss->next_staged = NULL;
}

void wd_session_flush_staged(wd_conn *c)
{
    (void)c; /* every staged session is |c|'s: see |staged| */
    while (staged) {
        wd_session *ss = staged;
        unstage_input(ss); /* the head: no search */
        write_input(ss);
    }
}

static void on_data(whelk_session *s, const uint8_t *data, size_t len,
                    void *user)
{
    wd_session *ss = user;
    if (ss->stdin_dead || ss->in_fd < 0) {
        whelk_session_consumed(s, len);
        return;
    }
    int staging = ss->conn && wd_conn_in_read(ss->conn);
    /* Outside a socket read (data held back until the program started),
     * straight to the program when nothing is queued ahead: no copy. */
    if (ss->in_len == 0 && !staging) {
        size_t done = 0;
        while (done < len) {
            ssize_t w = write(ss->in_fd, data + done, len - done);
            if (w > 0) {
                done += (size_t)w;
                continue;
            }
            if (w < 0 && errno == EINTR) continue;
            if (w < 0 && errno == EAGAIN) {
                if (grow_stdin_pipe(ss)) continue;
                break;
            }
            whelk_session_consumed(s, done);
            ss->in_len = 0;
            stdin_died(ss);
            whelk_session_consumed(s, len - done);
            return;
        }
        if (done) whelk_session_consumed(s, done);
        data += done;
        len -= done;
        if (len == 0) {
            apply_eof(ss);
            return;
        }
    }
    /* The engine grants window only for consumed bytes, so this buffer
     * never holds more than one window. */
    if (ss->in_len + len > ss->in_cap) {
        size_t cap = ss->in_cap ? ss->in_cap : 16384;
        while (cap < ss->in_len + len) cap *= 2;
        uint8_t *nb = realloc(ss->inbuf, cap);
        if (!nb) {
            whelk_session_consumed(s, len);
            return;
        }
        ss->inbuf = nb;
        ss->in_cap = cap;
    }
    memcpy(ss->inbuf + ss->in_len, data, len);
    ss->in_len += len;
    if (staging)
        stage_input(ss);
    else
        write_input(ss);
}

static void on_eof(whelk_session *s, void *user)
{
    wd_session *ss = user;
    ss->peer_eof = 1;
    apply_eof(ss);
}

/* ------------------------------------------------------------------------
 * The end of a program.
 */

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGABRT: return "ABRT";
    case SIGALRM: return "ALRM";
    case SIGFPE: return "FPE";
    case SIGHUP: return "HUP";
    case SIGILL: return "ILL";
    case SIGINT: return "INT";
    case SIGKILL: return "KILL";
    case SIGPIPE: return "PIPE";
    case SIGQUIT: return "QUIT";
    case SIGSEGV: return "SEGV";
    case SIGTERM: return "TERM";
    case SIGUSR1: return "USR1";
    case SIGUSR2: return "USR2";
    }
    return NULL;
}

static void finish_if_done(wd_session *ss)
{
    /* Output drained completely, then exit-status, EOF and CLOSE. */
    if (!ss->s || ss->finished || !ss->exited || ss->out_fd >= 0 ||
        ss->err_fd >= 0)
        return;
    ss->finished = 1;
    int st = ss->status;
    if (WIFSIGNALED(st)) {
        const char *name = signal_name(WTERMSIG(st));
        char other[32];
        if (!name) {
            snprintf(other, sizeof(other), "SIG%d@whelk", WTERMSIG(st));
            name = other;
        }
        whelk_session_exit_signal(ss->s, name, WCOREDUMP(st), "");
    } else {
        whelk_session_exit_status(ss->s, (uint32_t)WEXITSTATUS(st));
    }
    whelk_session_send_eof(ss->s);
    whelk_session_close(ss->s);
    kick(ss);
}

static void unlink_live(wd_session *ss)
{
    for (wd_session **pp = &live; *pp; pp = &(*pp)->next_live)
        if (*pp == ss) {
            *pp = ss->next_live;
            break;
        }
}

static void free_client_env(wd_session *ss)
{
    for (int i = 0; i < ss->n_env; i++) free(ss->env[i]);
    free(ss->env);
    ss->env = NULL;
    ss->n_env = 0;
}

static void free_if_idle(wd_session *ss)
{
    /* Freed once the channel is gone, the child reaped (or never
     * started) and every poll handle closed. */
    if (ss->s || ss->handles > 0 || (ss->pid > 0 && !ss->exited)) return;
    unlink_live(ss);
    free_client_env(ss);
    free(ss->inbuf);
    free(ss->pty);
    free(ss);
}

/* The reap notification (spawn.h): |pid| ended with wait status |st|. */
static void program_exited(pid_t pid, int st)
{
    for (wd_session *ss = live; ss; ss = ss->next_live) {
        if (ss->pid != pid) continue;
        ss->exited = 1;
        ss->status = st;
        if (ss->tty[0]) wd_loginrec_logout(ss->tty, pid);
        ss->tty[0] = 0;
        if (ss->s && ss->conn && ss->conn->login)
            wd_log(WHELK_LOG_DEBUG, "session %u: program %d exited",
                   whelk_session_id(ss->s), (int)pid);
        /* A pty keeps no pipe EOF for us: after exit, whatever the
         * master still holds is read until EIO. */
        finish_if_done(ss);
        free_if_idle(ss);
        return;
    }
}

/* Only the programs of sessions are reaped, each by its pid: other
 * children of the worker (a PAM module's helper, pam_exec's command,
 * waited for by the module's own waitpid) are not ours to take. */
static void on_sigchld(uv_signal_t *h, int sig)
{
    int again = 1;
    while (again) {
        again = 0;
        for (wd_session *ss = live; ss; ss = ss->next_live) {
            int st;
            if (ss->pid <= 0 || ss->exited ||
                !wd_spawn_reap_pid(ss->pid, &st))
                continue;
            program_exited(ss->pid, st); /* may free ss: walk again */
            again = 1;
            break;
        }
    }
}

void wd_session_init(uv_loop_t *loop)
{
    uv_signal_init(loop, &sigchld);
    uv_signal_start(&sigchld, on_sigchld, SIGCHLD);
    sigchld_on = 1;
}

void wd_session_shutdown(void)
{
    for (wd_session *ss = live; ss; ss = ss->next_live)
        if (ss->pid > 0 && !ss->exited) wd_spawn_hangup(ss->pid);
    if (sigchld_on) {
        uv_signal_stop(&sigchld);
        uv_close((uv_handle_t *)&sigchld, NULL);
        sigchld_on = 0;
    }
}

/* ------------------------------------------------------------------------
 * Starting the program.
 */

/* Watches the program's descriptors. The pty master serves as both
 * stdin and stdout, so a pty gets one handle, for reading; its writes
 * retry on readable events and on the next data. */
static void start_polls(wd_session *ss)
{
    uv_poll_init(ss->loop, &ss->out_poll, ss->out_fd);
    ss->out_poll.data = ss;
    ss->handles++;
    ss->out_polling = 0;
    if (ss->err_fd >= 0) {
        uv_poll_init(ss->loop, &ss->err_poll, ss->err_fd);
        ss->err_poll.data = ss;
        ss->handles++;
        ss->err_polling = 0;
    } else {
        ss->err_polling = -2;
    }
    if (!ss->has_pty) {
        uv_poll_init(ss->loop, &ss->in_poll, ss->in_fd);
        ss->in_poll.data = ss;
        ss->handles++;
        ss->in_polling = 0;
    } else {
        ss->in_polling = -2;
    }
    update_out_polls(ss);
}

/* Runs |command| (NULL: the login shell) for the session's user; the
 * client's own command, under a forced one, is |original|. */
static int start_program(wd_session *ss, const char *command,
                         const char *original)
{
    wd_conn *c = ss->conn;
    wd_login *l = c->login;
    const wd_user *u = &l->user;
    /* SetEnv overrides what a key or the client sends (sshd_config(5)):
     * its entries go first, and the first value of a name wins. */
    const wd_keywords *kw = wd_conn_kw(c);
    char *admin_env[32 + WD_MAX_KEY_ENV];
    unsigned n_admin = 0;
    for (int i = 0; i < kw->n_set_env && n_admin < 32; i++)
        admin_env[n_admin++] = (char *)kw->set_env[i];
    if (l->have_opts)
        for (unsigned i = 0;
             i < l->opts.nenv && n_admin < 32 + WD_MAX_KEY_ENV; i++)
            admin_env[n_admin++] = l->opts.env[i];
    wd_childenv env;
    wd_childenv_in in = {
        .user = u,
        .addr = c->addr,
        .port = c->port,
        .laddr = c->laddr,
        .lport = c->lport,
        .pty = ss->has_pty,
        .term = ss->pty ? ss->pty->term : NULL,
        .original = original,
        .auth_sock = ss->agent ? wd_agentfwd_path(ss->agent) : NULL,
        .display = ss->x11 ? wd_x11fwd_display(ss->x11) : NULL,
        .key_env = admin_env,
        .n_key_env = n_admin,
        .n_admin_env = (unsigned)(kw->n_set_env < 32 ? kw->n_set_env : 32),
        .client_env = ss->env,
        .n_client_env = (unsigned)ss->n_env,
    };
    if (wd_childenv_build(&env, &in) != 0) {
        wd_log(WHELK_LOG_ERROR, "cannot start a program: %s",
               strerror(ENOMEM));
        return -1;
    }
    /* ChrootDirectory: expanded and checked here (sshd's checks), the
     * chroot done by the child. A directory failing them refuses the
     * session, logged in sshd's words. */
    char root_dir[4096];
    const char *chroot_to = NULL;
    if (kw->chroot_dir[0] && strcasecmp(kw->chroot_dir, "none") != 0) {
        char why[4200];
        if (wd_chroot_expand(kw->chroot_dir, u, root_dir,
                             sizeof(root_dir)) != 0) {
            wd_log(WHELK_LOG_ERROR, "ChrootDirectory: cannot expand %s",
                   kw->chroot_dir);
            wd_childenv_free(&env);
            return -1;
        }
        if (wd_chroot_check(root_dir, why, sizeof(why)) != 0) {
            wd_log(WHELK_LOG_ERROR, "%s", why);
            wd_childenv_free(&env);
            return -1;
        }
        chroot_to = root_dir;
    }
    wd_spawn_request req = {
        .user = u,
        .command = command,
        .envp = env.v,
        .pty = ss->has_pty ? ss->pty : NULL,
        .chroot = chroot_to,
        .run = ss->run,
        /* sshd's do_nologin(), without PAM: with it, pam_nologin
         * decides (in the account stack, before the login). */
        .nologin = !wd_opts->kw.use_pam && wd_nologin_applies(u),
        /* UsePAM yes: the session's own PAM process (pamsess.h); it
         * needs root, as PAM's session modules do. */
        .pam = wd_opts->kw.use_pam && geteuid() == 0,
        .rhost = c->addr,
        /* sshd's force_pwchange: an expired password (PAM's
         * NEW_AUTHTOK_REQD, or /etc/shadow's ages without PAM). */
        .pwchange = l && (l->pam_change_needed || l->pw_expired),
        /* sshd's do_login(): only a pty session without a command. */
        .motd = ss->has_pty && !command && ss->run == WD_SPAWN_PROGRAM &&
                wd_conn_kw(c)->print_motd,
        /* PermitUserEnvironment: ~/.ssh/environment, read by the child
         * as the user; the server's and SetEnv's variables stay. */
        .user_env = kw->permit_user_env,
        .user_env_allow = kw->permit_user_env_list,
        .env_fixed = env.n_fixed,
    };
    if (ss->x11) {
        req.xauth_path = wd_conn_kw(c)->xauth_location;
        req.xauth_input = wd_x11fwd_xauth_input(ss->x11);
        req.xauth_len = strlen(req.xauth_input);
    }
    /* sshd's lastlog: read and replaced for every pty session as root,
     * shown (PrintLastLog) only where the motd would be. */
    char lastlog[256] = "";
    if (ss->has_pty && geteuid() == 0) {
        wd_lastlog_read(u->uid, lastlog, sizeof(lastlog));
        if (!command && ss->run == WD_SPAWN_PROGRAM &&
            wd_conn_kw(c)->print_lastlog && lastlog[0])
            req.lastlog = lastlog;
    }
    wd_spawn_result res;
    int rc = wd_spawn(&req, &res);
    int err = errno;
    wd_childenv_free(&env);
    /* The modes and size went to the child, and the client's variables
     * into its environment; a later window-change goes straight to the
     * pty. An idle session keeps neither (the terminal is 1.1 KiB). */
    free(ss->pty);
    ss->pty = NULL;
    free_client_env(ss);
    if (rc != 0) {
        wd_log(WHELK_LOG_ERROR, "cannot start a program: %s", strerror(err));
        return -1;
    }
    ss->pid = res.pid;
    ss->pam_process = req.pam;
    ss->next_live = live;
    live = ss;
    ss->in_fd = res.in_fd;
    ss->out_fd = res.out_fd;
    ss->err_fd = res.err_fd;
    start_polls(ss);
    if (ss->has_pty && geteuid() == 0) {
        snprintf(ss->tty, sizeof(ss->tty), "%s", res.tty);
        wd_loginrec_login(ss->tty, u->name, res.pid, c->addr);
        wd_lastlog_write(u->uid, ss->tty, c->addr);
    }
    if (ss->has_pty)
        wd_log(WHELK_LOG_INFO,
               "Starting session: %s on %s for %s from %s port %d id %u",
               ss->kind, res.tty + 5, u->name, c->addr, c->port,
               whelk_session_id(ss->s));
    else
        wd_log(WHELK_LOG_INFO,
               "Starting session: %s for %s from %s port %d id %u", ss->kind,
               u->name, c->addr, c->port, whelk_session_id(ss->s));
    return 0;
}

/* ------------------------------------------------------------------------
 * Requests.
 */

static int on_pty_req(whelk_session *s, const whelk_pty *pty, void *user)
{
    wd_session *ss = user;
    wd_login *l = ss->conn->login;
    if (l && l->have_opts && l->opts.no_pty) {
        wd_log(WHELK_LOG_INFO, "pty request refused by key option (no-pty)");
        return -1;
    }
    if (wd_conn_kw(ss->conn)->no_tty) {
        wd_log(WHELK_LOG_INFO, "Pty allocation disabled.");
        return -1;
    }
    if (!ss->pty && !(ss->pty = malloc(sizeof(*ss->pty)))) return -1;
    wd_tty_from_request(ss->pty, pty);
    ss->has_pty = 1;
    return 0;
}

static int on_env(whelk_session *s, const char *name, const char *value,
                  void *user)
{
    wd_session *ss = user;
    int ok = 0;
    for (int i = 0; i < wd_opts->n_env && !ok; i++)
        ok = fnmatch(wd_opts->env_pat[i], name, 0) == 0;
    if (!ok || ss->n_env >= MAX_ENV || strchr(name, '=')) {
        char esc[4 * 64 + 1];
        whelk_escape(esc, sizeof(esc), name, strlen(name));
        wd_log(WHELK_LOG_DEBUG, "refusing environment variable %s", esc);
        return -1;
    }
    char **grown = realloc(ss->env, (size_t)(ss->n_env + 1) * sizeof(*grown));
    if (!grown) return -1;
    ss->env = grown;
    size_t len = strlen(name) + strlen(value) + 2;
    char *e = malloc(len);
    if (!e) return -1;
    snprintf(e, len, "%s=%s", name, value);
    ss->env[ss->n_env++] = e;
    return 0;
}

/* A forced command replaces whatever the client asked for; the request
 * goes to SSH_ORIGINAL_COMMAND. As in sshd, the configuration's
 * ForceCommand wins over the key's command= option. */
static const char *forced(wd_session *ss)
{
    const char *f = wd_sessconf_force_command(wd_conn_kw(ss->conn));
    if (f) return f;
    wd_login *l = ss->conn->login;
    return l && l->have_opts ? l->opts.command : NULL;
}

/* internal-sftp (sftp.h), as sshd treats it: a subsystem whose command,
 * configured or forced, is internal-sftp is served by the child itself;
 * a shell or exec session whose forced command is internal-sftp is
 * refused with sshd's message. */
static void mark_internal_sftp(wd_session *ss, const char *command,
                               int subsystem)
{
    if (!wd_sftp_is_internal(command)) return;
    ss->run = subsystem ? WD_SPAWN_SFTP : WD_SPAWN_SFTP_REFUSE;
    if (!subsystem)
        wd_log(WHELK_LOG_ERROR,
               "Connection from %s port %d: refusing non-sftp session",
               ss->conn->addr, ss->conn->port);
}

static int on_shell(whelk_session *s, void *user)
{
    wd_session *ss = user;
    snprintf(ss->kind, sizeof(ss->kind), "shell");
    mark_internal_sftp(ss, forced(ss), 0);
    return start_program(ss, forced(ss), NULL);
}

static int on_exec(whelk_session *s, const char *command, void *user)
{
    wd_session *ss = user;
    snprintf(ss->kind, sizeof(ss->kind), "command");
    const char *f = forced(ss);
    mark_internal_sftp(ss, f, 0);
    return start_program(ss, f ? f : command, f ? command : NULL);
}

static int on_subsystem(whelk_session *s, const char *name, void *user)
{
    wd_session *ss = user;
    snprintf(ss->kind, sizeof(ss->kind), "subsystem");
    /* As sshd: only a configured subsystem starts, and a forced command
     * then runs in its place, with the subsystem's configured command in
     * SSH_ORIGINAL_COMMAND. */
    const char *f = forced(ss);
    for (int i = 0; i < wd_opts->n_subsys; i++)
        if (strcmp(wd_opts->subsys_name[i], name) == 0) {
            if (f) {
                mark_internal_sftp(ss, f, 1);
                return start_program(ss, f, wd_opts->subsys_cmd[i]);
            }
            mark_internal_sftp(ss, wd_opts->subsys_cmd[i], 1);
            return start_program(ss, wd_opts->subsys_cmd[i], NULL);
        }
    char esc[4 * 64 + 1];
    whelk_escape(esc, sizeof(esc), name, strlen(name));
    wd_log(WHELK_LOG_INFO, "subsystem request for %s failed, subsystem "
           "not found", esc);
    return -1;
}

static int on_window_change(whelk_session *s, uint32_t cols, uint32_t rows,
                            uint32_t wpx, uint32_t hpx, void *user)
{
    wd_session *ss = user;
    if (ss->pty) { /* the program has not started yet */
        ss->pty->cols = cols;
        ss->pty->rows = rows;
        ss->pty->width_px = wpx;
        ss->pty->height_px = hpx;
    }
    if (ss->has_pty && ss->out_fd >= 0) {
        struct winsize ws = {(unsigned short)rows, (unsigned short)cols,
                             (unsigned short)wpx, (unsigned short)hpx};
        ioctl(ss->out_fd, TIOCSWINSZ, &ws); /* the kernel sends SIGWINCH */
    }
    return 0;
}

/* As sshd: a forced command or a subsystem is not the user's to signal
 * (the key or the administrator chose what runs), and every other
 * program gets the signal with the user's credentials (usersig.c). */
static int on_signal(whelk_session *s, const char *name, void *user)
{
    wd_session *ss = user;
    static const struct {
        const char *name;
        int sig;
    } table[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"KILL", SIGKILL},
                 {"QUIT", SIGQUIT}, {"TERM", SIGTERM}, {"USR1", SIGUSR1},
                 {"USR2", SIGUSR2}};
    if (ss->pid <= 0 || ss->exited || !ss->conn || !ss->conn->login)
        return -1;
    int subsystem = strcmp(ss->kind, "subsystem") == 0;
    if (forced(ss) || subsystem) {
        /* |name| is letters, digits and @.-_ only (lib/session.c). */
        wd_log(WHELK_LOG_INFO, "refusing to send signal %s to %s session",
               name, forced(ss) ? "forced-command" : "subsystem");
        return -1;
    }
    /* Under UsePAM the group ss->pid leads is the PAM process's; a shell
     * with job control moves itself to a group of its own, which is then
     * the terminal's foreground group: that group gets the signal (still
     * with the user's credentials, so a root process in it is out of
     * reach). */
    pid_t target = ss->pid;
    if (ss->pam_process && ss->has_pty && ss->out_fd >= 0) {
        pid_t fg = tcgetpgrp(ss->out_fd);
        if (fg > 0) target = fg;
    }
    for (size_t i = 0; i < sizeof(table) / sizeof(*table); i++) {
        if (strcmp(table[i].name, name) != 0) continue;
        if (wd_spawn_signal(target, table[i].sig,
                            ss->conn->login->user.uid) == 0)
            return 0;
        wd_log(WHELK_LOG_DEBUG, "session %u: signal %s: %s",
               whelk_session_id(s), name, strerror(errno));
        return -1;
    }
    return -1;
}

static int on_break(whelk_session *s, uint32_t ms, void *user)
{
    wd_session *ss = user;
    if (!ss->has_pty || ss->out_fd < 0) return -1;
    return tcsendbreak(ss->out_fd, 0) == 0 ? 0 : -1;
}

/* auth-agent-req@openssh.com: AllowAgentForwarding and the key's
 * no-agent-forwarding (or restrict) decide, as in sshd; one socket per
 * session. */
static int on_agent_req(whelk_session *s, void *user)
{
    wd_session *ss = user;
    wd_login *l = ss->conn->login;
    if (!wd_conn_kw(ss->conn)->allow_agent_forwarding ||
        wd_conn_kw(ss->conn)->disable_forwarding) {
        wd_log(WHELK_LOG_INFO, "agent forwarding refused: "
               "AllowAgentForwarding no");
        return -1;
    }
    if (l->have_opts && l->opts.no_agent_forwarding) {
        wd_log(WHELK_LOG_INFO, "agent forwarding refused by key option "
               "(no-agent-forwarding)");
        return -1;
    }
    if (ss->agent || ss->pid > 0) return -1;
    ss->agent = wd_agentfwd_start(ss->conn, &l->user);
    return ss->agent ? 0 : -1;
}

/* x11-req: X11Forwarding, the key's no-X11-forwarding (or restrict) and
 * an xauth to run decide, as in sshd; one display per session. */
static int on_x11_req(whelk_session *s, int single, const char *proto,
                      const char *cookie, uint32_t screen, void *user)
{
    wd_session *ss = user;
    wd_login *l = ss->conn->login;
    const wd_keywords *kw = wd_conn_kw(ss->conn);
    if (!kw->x11_forwarding || kw->disable_forwarding) {
        wd_log(WHELK_LOG_INFO, "X11 forwarding disabled in server "
               "configuration file.");
        return -1;
    }
    if (l->have_opts && l->opts.no_x11_forwarding) {
        wd_log(WHELK_LOG_INFO, "X11 forwarding refused by key option "
               "(no-X11-forwarding)");
        return -1;
    }
    if (access(kw->xauth_location, X_OK) != 0) {
        wd_log(WHELK_LOG_INFO, "No xauth program; cannot forward X11.");
        return -1;
    }
    if (ss->x11 || ss->pid > 0) return -1;
    ss->x11 = wd_x11fwd_start(ss->conn, single, proto, cookie, screen);
    return ss->x11 ? 0 : -1;
}

static void on_stop_writing(whelk_session *s, void *user)
{
    wd_session *ss = user;
    ss->stopped = 1;
    update_out_polls(ss);
}

static void on_start_writing(whelk_session *s, void *user)
{
    wd_session *ss = user;
    ss->stopped = 0;
    update_out_polls(ss);
}

static void on_closed(whelk_session *s, void *user)
{
    wd_session *ss = user;
    /* Data staged from the read that carried the CLOSE still goes out. */
    if (ss->staged) {
        unstage_input(ss);
        write_input(ss);
    }
    if (ss->pid > 0 && !ss->exited) wd_spawn_hangup(ss->pid);
    if (ss->conn) wd_conn_session_closed(ss->conn);
    wd_agentfwd_stop(ss->agent);
    ss->agent = NULL;
    wd_x11fwd_stop(ss->x11);
    ss->x11 = NULL;
    ss->s = NULL;
    ss->conn = NULL;
    close_fd(ss, &ss->err_fd, &ss->err_poll, &ss->err_polling);
    close_fd(ss, &ss->out_fd, &ss->out_poll, &ss->out_polling);
    close_fd(ss, &ss->in_fd, &ss->in_poll, &ss->in_polling);
    free_if_idle(ss);
}

/* The handler every session gets, made once by wd_session_init. */
static whelk_session_handler *handler;

static int make_handler(void)
{
    if (whelk_session_handler_new(&handler) != 0) return -1;
    whelk_session_handler_set_pty_req(handler, on_pty_req);
    whelk_session_handler_set_env(handler, on_env);
    whelk_session_handler_set_shell(handler, on_shell);
    whelk_session_handler_set_exec(handler, on_exec);
    whelk_session_handler_set_subsystem(handler, on_subsystem);
    whelk_session_handler_set_window_change(handler, on_window_change);
    whelk_session_handler_set_signal(handler, on_signal);
    whelk_session_handler_set_break(handler, on_break);
    whelk_session_handler_set_data(handler, on_data);
    whelk_session_handler_set_eof(handler, on_eof);
    whelk_session_handler_set_closed(handler, on_closed);
    whelk_session_handler_set_stop_writing(handler, on_stop_writing);
    whelk_session_handler_set_start_writing(handler, on_start_writing);
    whelk_session_handler_set_agent_req(handler, on_agent_req);
    whelk_session_handler_set_x11_req(handler, on_x11_req);
    return 0;
}

int wd_session_open(whelk_conn *conn, whelk_session *s, void *user)
{
    wd_conn *c = user;
    if (!c->login || !c->login->have_user) return -1;
    int max = wd_sessconf_max_sessions(wd_conn_kw(c));
    if (wd_conn_session_count(c) >= max) {
        wd_log(WHELK_LOG_INFO, "session open refused for %s from %s port "
               "%d: no more sessions (MaxSessions %d)", c->login->user.name,
               c->addr, c->port, max);
        return -1;
    }
    if (!handler && make_handler() != 0) return -1;
    wd_session *ss = calloc(1, sizeof(*ss));
    if (!ss) return -1;
    ss->s = s;
    ss->conn = c;
    ss->loop = c->tcp.loop;
    ss->in_fd = ss->out_fd = ss->err_fd = -1;
    ss->out_polling = ss->err_polling = ss->in_polling = -2;
    wd_conn_session_opened(c);
    whelk_session_set_handler(s, handler, ss);
    return 0;
}
