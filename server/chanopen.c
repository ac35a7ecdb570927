/*
 * chanopen: see chanopen.h.
 */
#include "chanopen.h"

#include "agxsplice.h"
#include "auth.h"
#include "fwdperm.h"
#include "log.h"
#include "server.h"

static void direct_tcpip(wd_conn *c, whelk_channel *ch,
                         const whelk_channel_open *open)
{
    const char *host = whelk_channel_open_address(open);
    uint32_t port = whelk_channel_open_port(open);
    char shost[256], sorig[128];
    const char *orig = whelk_channel_open_originator(open);
    wd_log_sanitize(shost, sizeof(shost), host ? host : "");
    wd_log_sanitize(sorig, sizeof(sorig), orig ? orig : "");
    const char *why = NULL;
    if (!wd_fwd_allowed(c, 1, host ? host : "", port, &why)) {
        /* sshd's wording for PermitOpen; the rule that refused after. */
        wd_log(WHELK_LOG_INFO,
               "Received request from %s port %u to "
               "connect to host %s port %u, but the request was denied (%s).",
               sorig, (unsigned)whelk_channel_open_originator_port(open), shost,
               (unsigned)port, why);
        whelk_channel_refuse(ch, WHELK_OPEN_ADMINISTRATIVELY_PROHIBITED,
                             "open denied");
        return;
    }
    if (!host || !*host || port == 0 || port > 65535) {
        wd_log(WHELK_LOG_INFO,
               "direct-tcpip to %s port %u refused: bad "
               "target",
               shost, (unsigned)port);
        whelk_channel_refuse(ch, WHELK_OPEN_CONNECT_FAILED, "bad target");
        return;
    }
    wd_log(WHELK_LOG_DEBUG,
           "server_request_direct_tcpip: originator %s "
           "port %u, target %s port %u",
           sorig, (unsigned)whelk_channel_open_originator_port(open), shost,
           (unsigned)port);
    if (wd_splice_connect(c, ch, host, port) != 0)
        whelk_channel_refuse(ch, WHELK_OPEN_RESOURCE_SHORTAGE, NULL);
}

static void direct_streamlocal(wd_conn *c, whelk_channel *ch,
                               const whelk_channel_open *open)
{
    const char *path = whelk_channel_open_address(open);
    char spath[256];
    wd_log_sanitize(spath, sizeof(spath), path ? path : "");
    const wd_keywords *kw = wd_conn_kw(c);
    const char *why = kw->disable_forwarding ? "DisableForwarding"
                      : !(kw->allow_streamlocal & WD_FWD_LOCAL)
                          ? "AllowStreamLocalForwarding"
                      : c->login->have_opts && c->login->opts.no_port_forwarding
                          ? "no-port-forwarding"
                          : NULL;
    if (why || !path || !*path) {
        wd_log(WHELK_LOG_INFO, "refused streamlocal forward to %s (%s)", spath,
               why ? why : "no path");
        whelk_channel_refuse(ch, WHELK_OPEN_ADMINISTRATIVELY_PROHIBITED,
                             "open denied");
        return;
    }
    if (wd_splice_connect_unix(c, ch, path, &c->login->user) != 0)
        whelk_channel_refuse(ch, WHELK_OPEN_CONNECT_FAILED, "bad path");
}

void wd_channel_open(whelk_conn *conn, whelk_channel *ch,
                     const whelk_channel_open *open, void *user)
{
    (void)conn;
    wd_conn *c = user;
    if (!c->login || !c->login->have_user) {
        whelk_channel_refuse(ch, WHELK_OPEN_ADMINISTRATIVELY_PROHIBITED, NULL);
        return;
    }
    switch (whelk_channel_open_type(open)) {
    case WHELK_CHANNEL_DIRECT_TCPIP:
        direct_tcpip(c, ch, open);
        return;
    case WHELK_CHANNEL_DIRECT_STREAMLOCAL:
        direct_streamlocal(c, ch, open);
        return;
    default: {
        char name[64];
        wd_log_sanitize(name, sizeof(name), whelk_channel_open_type_name(open));
        wd_log(WHELK_LOG_INFO, "refused channel open: unsupported type %s",
               name);
        whelk_channel_refuse(ch, WHELK_OPEN_UNKNOWN_CHANNEL_TYPE,
                             "unknown channel type");
    }
    }
}
