/*
 * agxsplice: joins one accepted local stream (a Unix-socket or TCP
 * connection) to a channel that whelkd opens to the client, for agent
 * and X11 forwarding. A minimal splice written while the general one
 * (server/splice.c, for TCP forwarding) was not yet on main; it should
 * fold into splice.c.
 *
 * Back-pressure both ways: the stream is read only while the channel
 * takes output (stop_writing/start_writing), and channel data is
 * reported consumed only once written to the stream, so at most one
 * window of it is ever buffered. EOF goes across each way; CLOSE (or
 * the connection ending) closes the stream.
 */
#ifndef WHELKD_AGXSPLICE_H
#define WHELKD_AGXSPLICE_H

#include <uv.h>

#include "server.h"
#include "user.h"

/* Accepts a connection from |listener| (a uv_pipe_t listener when
 * |is_pipe|, else a uv_tcp_t one) and opens a channel of |type| on |c|
 * for it (|orig| and |orig_port| for x11). Returns 0, or -1 when the
 * connection could not be taken or the channel not opened (the
 * connection is then closed). */
int wd_agx_splice(wd_conn *c, uv_stream_t *listener, int is_pipe,
                  whelk_channel_type type);

/* As wd_agx_splice, for any type this side opens: |address| and |port|
 * are the forwarded types' "connected to" fields (NULL and 0 else). */
int wd_splice_accept(wd_conn *c, uv_stream_t *listener, int is_pipe,
                     whelk_channel_type type, const char *address,
                     uint32_t port);

/* direct-tcpip: resolves |host| off the loop (uv_getaddrinfo), connects
 * to its addresses in turn, then accepts the peer's open |ch| and joins
 * the two; refuses it with "connect failed" (logged as sshd's
 * connect_to line) when none connects. Returns 0, or -1 when nothing
 * was started (the caller refuses |ch|). */
int wd_splice_connect(wd_conn *c, whelk_channel *ch, const char *host,
                      uint32_t port);

/* direct-streamlocal@openssh.com: connects to the Unix socket |path|
 * with |u|'s file rights on a pool thread, then accepts |ch| and joins
 * the two; refuses it "connect failed" (logged) when that fails.
 * Returns 0, or -1 when nothing was started (the caller refuses). */
int wd_splice_connect_unix(wd_conn *c, whelk_channel *ch, const char *path,
                           const wd_user *u);

/* Writes the channel data that |c|'s splices staged while the engine
 * handled one socket read: one write per splice and read. */
void wd_splice_flush_staged(wd_conn *c);

#endif
