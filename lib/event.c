/*
 * event: the typed events of a connection (authentication results, the
 * end of the connection) handed to the application, which words them:
 * the engine keeps no sshd phrasing of its own, so an embedder logs in
 * its own format and whelkd in sshd's (which fail2ban reads).
 */
#include "conn.h"

whelk_event_type whelk_event_get_type(const whelk_event *ev)
{
    return ev->type;
}

const char *whelk_event_user(const whelk_event *ev) { return ev->user; }
const char *whelk_event_method(const whelk_event *ev) { return ev->method; }
const whelk_key *whelk_event_key(const whelk_event *ev) { return ev->key; }
int whelk_event_invalid_user(const whelk_event *ev)
{
    return ev->invalid_user;
}
int whelk_event_authenticated(const whelk_event *ev)
{
    return ev->authenticated;
}
uint32_t whelk_event_reason(const whelk_event *ev) { return ev->reason; }
int whelk_event_error(const whelk_event *ev) { return ev->error; }
const char *whelk_event_text(const whelk_event *ev)
{
    return ev->text ? ev->text : "";
}
const char *whelk_event_peer_version(const whelk_event *ev)
{
    return ev->peer_version;
}

void wk_event(whelk_conn *c, whelk_event *ev)
{
    if (!c->cb.event) return;
    ev->authenticated = c->authenticated;
    /* The name a connection logged in with, else the one it is trying. */
    if (!ev->user) ev->user = c->authenticated ? c->user_name : wk_auth_user(c);
    /* sshd names a connection's end "by invalid user" for an unknown or
     * refused user. */
    if (!c->authenticated && (ev->type == WHELK_EVENT_DISCONNECT ||
                              ev->type == WHELK_EVENT_PEER_CLOSED ||
                              ev->type == WHELK_EVENT_PEER_DISCONNECT))
        ev->invalid_user = wk_auth_user_invalid(c);
    c->cb.event(c, ev, c->user);
}
