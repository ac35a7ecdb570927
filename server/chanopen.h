/*
 * chanopen: whelkd's answer to every channel open other than "session"
 * (the engine's channel_open callback): direct-tcpip is connected
 * (agxsplice.h's wd_splice_connect); every other type is refused.
 */
#ifndef WHELKD_CHANOPEN_H
#define WHELKD_CHANOPEN_H

#include <whelk/whelk.h>

void wd_channel_open(whelk_conn *conn, whelk_channel *ch,
                     const whelk_channel_open *open, void *user);

#endif
