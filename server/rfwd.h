/*
 * rfwd: the client's tcpip-forward and cancel-tcpip-forward global
 * requests (ssh -R): a listener per request, bound where GatewayPorts
 * says (loopback for "no", every address for "yes", the client's
 * address for "clientspecified"), each accepted connection a
 * forwarded-tcpip channel to the client (agxsplice.h). Port 0 binds a
 * free port, given in the reply. Ports below 1024 only when root logged
 * in. The listeners close with the connection (wd_rfwd_close_all).
 */
#ifndef WHELKD_RFWD_H
#define WHELKD_RFWD_H

#include <whelk/whelk.h>

#include "server.h"

/* At most this many forwards per connection. */
#define WD_RFWD_MAX 64

/* The engine's global_request callback. */
void wd_global_request(whelk_conn *conn, const whelk_global_request *req,
                       void *user);
/* The connection ends: close its listeners. */
void wd_rfwd_close_all(wd_conn *c);

#endif
