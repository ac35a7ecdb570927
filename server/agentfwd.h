/*
 * agentfwd: auth-agent-req@openssh.com for one session, as sshd does it:
 * a Unix socket /tmp/ssh-XXXXXXXXXX/agent.PID in a fresh 0700 directory
 * owned by the user, given to the program as SSH_AUTH_SOCK; each
 * connection to it becomes an auth-agent@openssh.com channel to the
 * client (agxsplice.h). The socket and its directory go with the
 * session.
 */
#ifndef WHELKD_AGENTFWD_H
#define WHELKD_AGENTFWD_H

#include "server.h"
#include "user.h"

typedef struct wd_agentfwd wd_agentfwd;

/* The socket for |u|'s session on |c|; NULL after a log line. */
wd_agentfwd *wd_agentfwd_start(wd_conn *c, const wd_user *u);
/* The socket's path, for SSH_AUTH_SOCK. */
const char *wd_agentfwd_path(const wd_agentfwd *a);
/* Removes the socket and directory and closes the listener; the
 * channels already open live on until they close. */
void wd_agentfwd_stop(wd_agentfwd *a);

#endif
