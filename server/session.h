/*
 * session: whelkd's default session handler, which runs programs (the
 * user's shell, a command, a subsystem) under a pty or pipes.
 */
#ifndef WHELKD_SESSION_H
#define WHELKD_SESSION_H

#include <uv.h>

#include "whelk/whelk.h"
#include "server.h"

/* whelk_callbacks.session_open; |user| is the wd_conn. */
int wd_session_open(whelk_conn *conn, whelk_session *s, void *user);
/* Writes the client data that |c|'s sessions staged while the engine
 * handled one socket read: one write per session and read. */
void wd_session_flush_staged(wd_conn *c);
/* Starts reaping children (SIGCHLD) on |loop|. */
void wd_session_init(uv_loop_t *loop);
/* Stops the SIGCHLD watcher so the loop can end. */
void wd_session_shutdown(void);

#endif
