/*
 * lifecycle: how whelkd starts, reloads and stops (issue 17). The
 * supervising parent (workers.c) respawns workers, drains on SIGTERM and
 * re-executes itself on SIGHUP; this module holds what both the parent
 * and a serving process need: the WhelkdDrainTimeout keyword, systemd's
 * notify protocol (without libsystemd), inherited listening sockets
 * (socket activation, and the parent's own re-exec), and a serving
 * process's signals and drain.
 */
#ifndef WHELKD_LIFECYCLE_H
#define WHELKD_LIFECYCLE_H

#include <stddef.h>
#include <stdio.h>

struct wd_keywords;
struct wd_server;

/* WhelkdDrainTimeout SECONDS (whelkd's own keyword, not sshd's): how
 * long connections may outlive a SIGTERM or a reload before they are
 * ended cleanly; 0 (the default) waits for them however long. */
int wd_lifecycle_keyword(struct wd_keywords *kw, const char *key, int ac,
                         char **av, char *err, size_t errlen);
void wd_lifecycle_dump(const struct wd_keywords *kw, FILE *out);

/* A copy of main's argv (before getopt touches it), for the reload's
 * check and re-exec. */
void wd_save_argv(int argc, char **argv);
char **wd_saved_argv(void);

/* sd_notify(3)'s protocol: one datagram to $NOTIFY_SOCKET (a path, or
 * '@' for an abstract name); nothing without it. */
void wd_notify(const char *state);
/* RELOADING=1 with MONOTONIC_USEC, as Type=notify-reload expects. */
void wd_notify_reloading(void);
/* In a worker: the notify socket is the parent's alone. */
void wd_notify_forget(void);

/* Listening sockets passed in as systemd does (LISTEN_PID = this
 * process, LISTEN_FDS = n, descriptors 3..3+n-1): stores up to |max| in
 * |fds| and returns how many (0: none passed), -1 after a message when
 * what was passed is unusable. Clears the variables so that nothing
 * started later inherits them. */
int wd_inherited_listeners(int *fds, int max);
/* Logs "Server listening on ADDR port N." for an inherited socket. */
void wd_log_listener(int fd);

/* A serving process installs its signal handlers. SIGTERM: a worker
 * ends its connections at once (its drain starts when the parent closes
 * the hand-off socket); -w 1 alone drains, and a second SIGTERM ends the
 * rest; -i ends its connection. */
enum wd_serve_mode { WD_SERVE_WORKER, WD_SERVE_SINGLE, WD_SERVE_INETD };
void wd_lifecycle_serve(struct wd_server *srv, enum wd_serve_mode mode);
/* Take no new connections; end when the last one has, or at
 * WhelkdDrainTimeout (disconnect sent, programs sent SIGHUP). */
void wd_drain(struct wd_server *srv, const char *why);
/* Ends every connection cleanly and lets the event loop finish. */
void wd_finish(struct wd_server *srv);
/* loop.c: a connection was freed. */
void wd_lifecycle_conn_gone(struct wd_server *srv);

#endif
