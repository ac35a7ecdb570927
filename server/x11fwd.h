/*
 * x11fwd: x11-req for one session, as sshd does it: a TCP listener for
 * the first free display from X11DisplayOffset (6000+N, on 127.0.0.1
 * with X11UseLocalhost, else on every address), DISPLAY for the
 * program, the client's (fake) cookie for xauth, and an "x11" channel
 * per connection to the display (agxsplice.h), only one with the
 * single-connection flag. The listener goes with the session.
 */
#ifndef WHELKD_X11FWD_H
#define WHELKD_X11FWD_H

#include "server.h"

typedef struct wd_x11fwd wd_x11fwd;

/* Listens for |c|'s session; NULL after a log line (no free display, or
 * a protocol name or cookie that is not what xauth takes). */
wd_x11fwd *wd_x11fwd_start(wd_conn *c, int single_connection, const char *proto,
                           const char *cookie, uint32_t screen);
/* DISPLAY, e.g. "localhost:10.0". */
const char *wd_x11fwd_display(const wd_x11fwd *x);
/* The lines for `xauth -q -` ("remove unix:N.S" and "add unix:N.S PROTO
 * COOKIE", newline-terminated). */
const char *wd_x11fwd_xauth_input(const wd_x11fwd *x);
void wd_x11fwd_stop(wd_x11fwd *x);

#endif
