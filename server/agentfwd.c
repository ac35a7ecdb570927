/*
 * agentfwd: see agentfwd.h.
 *
 * No symlink race: mkdtemp(3) makes the directory with mode 0700 and a
 * name nobody could have taken before, and it is still root's while
 * the socket is bound in it; then the socket and the directory (in that
 * order, through descriptors or relative to the directory's descriptor,
 * never following a link) are given to the user. Nothing the user
 * controls is on the path while whelkd works as root.
 */
#include "agentfwd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agxsplice.h"

struct wd_agentfwd {
    uv_pipe_t listener;
    wd_conn *conn; /* NULL once stopped */
    char dir[64];
    char path[108];
};

static void on_connection(uv_stream_t *l, int status)
{
    wd_agentfwd *a = l->data;
    if (status < 0 || !a->conn) return;
    wd_agx_splice(a->conn, l, 1, WHELK_CHANNEL_AUTH_AGENT);
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void remove_files(wd_agentfwd *a)
{
    if (a->path[0]) unlink(a->path);
    if (a->dir[0]) rmdir(a->dir);
    a->path[0] = a->dir[0] = 0;
}

wd_agentfwd *wd_agentfwd_start(wd_conn *c, const wd_user *u)
{
    wd_agentfwd *a = calloc(1, sizeof(*a));
    if (!a) return NULL;
    /* sshd's ten random characters: glibc's mkdtemp fills only the last
     * six X, so the first four come from getrandom. */
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[4];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        free(a);
        return NULL;
    }
    snprintf(a->dir, sizeof(a->dir), "/tmp/ssh-%c%c%c%cXXXXXX",
             alnum[r[0] % 62], alnum[r[1] % 62], alnum[r[2] % 62],
             alnum[r[3] % 62]);
    if (!mkdtemp(a->dir)) {
        wd_log(WHELK_LOG_ERROR, "agent forwarding: mkdtemp: %s",
               strerror(errno));
        free(a);
        return NULL;
    }
    snprintf(a->path, sizeof(a->path), "%s/agent.%d", a->dir, (int)getpid());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", a->path);
    int dfd = open(a->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    const char *what = "socket";
    int ok = fd >= 0 && dfd >= 0;
    /* umask 0177 as sshd: the socket itself is 0600 too. */
    mode_t old = umask(0177);
    if (ok) ok = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
    umask(old);
    if (ok) what = "listen", ok = listen(fd, 128) == 0;
    /* Not root (tests, a single-user daemon): the files are ours. */
    if (ok && geteuid() == 0) {
        const char *name = strrchr(a->path, '/') + 1;
        what = "chown";
        ok = fchownat(dfd, name, u->uid, u->gid, AT_SYMLINK_NOFOLLOW) == 0 &&
             fchown(dfd, u->uid, u->gid) == 0;
    }
    if (dfd >= 0) close(dfd);
    if (!ok) {
        wd_log(WHELK_LOG_ERROR, "agent forwarding: %s %s: %s", what, a->path,
               strerror(errno));
        if (fd >= 0) close(fd);
        remove_files(a);
        free(a);
        return NULL;
    }
    uv_pipe_init(c->tcp.loop, &a->listener, 0);
    a->listener.data = a;
    if (uv_pipe_open(&a->listener, fd) != 0 ||
        uv_listen((uv_stream_t *)&a->listener, 128, on_connection) != 0) {
        wd_log(WHELK_LOG_ERROR, "agent forwarding: listen on %s failed",
               a->path);
        remove_files(a);
        uv_close((uv_handle_t *)&a->listener, on_closed);
        return NULL;
    }
    a->conn = c;
    wd_log(WHELK_LOG_DEBUG, "agent forwarding: %s for %s", a->path, u->name);
    return a;
}

const char *wd_agentfwd_path(const wd_agentfwd *a)
{
    return a->path;
}

void wd_agentfwd_stop(wd_agentfwd *a)
{
    if (!a) return;
    a->conn = NULL;
    remove_files(a);
    uv_close((uv_handle_t *)&a->listener, on_closed);
}
