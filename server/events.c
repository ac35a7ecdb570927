/*
 * events: the engine's typed events written as sshd writes them, so that
 * journald, auditors and fail2ban's stock sshd filter read whelkd as they
 * read sshd: "Accepted publickey for U from A port P ssh2: ED25519 SHA256:..",
 * "Failed password for invalid user U from A port P ssh2", "Disconnecting
 * authenticating user U A port P: ... [preauth]", and the rest. Every
 * string that came from the peer is escaped here.
 */
#include <stdio.h>
#include <string.h>

#include "server.h"

#define ESC_USER (256 * 4 + 1)

/* "user U " / "authenticating user U " / "", as sshd names the peer at
 * the start of its lines about a connection's end. */
static void who(const whelk_event *ev, char *out, size_t size)
{
    const char *u = whelk_event_user(ev);
    char esc[ESC_USER];
    out[0] = 0;
    if (!u) return;
    whelk_escape(esc, sizeof(esc), u, strlen(u));
    snprintf(out, size, "%suser %s ",
             whelk_event_authenticated(ev)    ? ""
             : whelk_event_invalid_user(ev) ? "invalid "
                                            : "authenticating ",
             esc);
}

static const char *preauth(const whelk_event *ev)
{
    return whelk_event_authenticated(ev) ? "" : " [preauth]";
}

/* "ED25519 SHA256:..." */
static void describe_key(const whelk_key *key, char *out, size_t size)
{
    char fp[80] = "SHA256:?";
    if (key) whelk_key_fingerprint(key, fp, sizeof(fp));
    snprintf(out, size, "%s %s", key ? whelk_key_short_name(key) : "?", fp);
}

static void attempt(whelk_conn *conn, const whelk_event *ev,
                    const char *what)
{
    const char *addr = whelk_conn_peer_addr(conn);
    int port = whelk_conn_peer_port(conn);
    const char *u = whelk_event_user(ev), *m = whelk_event_method(ev);
    const char *inv = whelk_event_invalid_user(ev) ? "invalid user " : "";
    char user[ESC_USER];
    whelk_escape(user, sizeof(user), u ? u : "", u ? strlen(u) : 0);
    if (!strcmp(what, "maximum")) {
        wd_log(WHELK_LOG_INFO,
               "maximum authentication attempts exceeded for %s%s from %s "
               "port %d ssh2 [preauth]",
               inv, user, addr, port);
        return;
    }
    if (strcmp(what, "Failed")) inv = "";
    if (m && !strcmp(m, "publickey")) {
        char key[128];
        describe_key(whelk_event_key(ev), key, sizeof(key));
        wd_log(WHELK_LOG_INFO, "%s publickey for %s%s from %s port %d ssh2: %s",
               what, inv, user, addr, port, key);
    } else {
        wd_log(WHELK_LOG_INFO, "%s %s for %s%s from %s port %d ssh2", what,
               m ? m : "none", inv, user, addr, port);
    }
}

/* sshd's words for a peer line it refused: garbage, or an SSH version
 * it does not speak. */
static void bad_version(whelk_conn *conn, const char *line)
{
    char esc[101 * 4];
    whelk_escape(esc, sizeof(esc), line, strlen(line));
    size_t n = strlen(line);
    int other_ssh = n >= 8 && !strncmp(line, "SSH-", 4) &&
                    strncmp(line, "SSH-2.0-", 8) && strncmp(line, "SSH-1.99-", 9);
    if (other_ssh)
        wd_log(WHELK_LOG_INFO, "Protocol major versions differ for %s port %d: "
               "%s", whelk_conn_peer_addr(conn), whelk_conn_peer_port(conn),
               esc);
    else
        wd_log(WHELK_LOG_INFO,
               "Bad protocol version identification '%s' from %s port %d", esc,
               whelk_conn_peer_addr(conn), whelk_conn_peer_port(conn));
}

static void disconnect(whelk_conn *conn, const whelk_event *ev)
{
    const char *addr = whelk_conn_peer_addr(conn);
    int port = whelk_conn_peer_port(conn);
    int err = whelk_event_error(ev);
    if (err == WHELK_ERR_CLOSED) {
        /* The application's own whelk_conn_disconnect. */
        const char *t = whelk_event_text(ev);
        wd_log(WHELK_LOG_INFO, "Disconnected from %s port %d: %s", addr, port,
               *t ? t : "by application");
        return;
    }
    if (err == WHELK_ERR_VERSION && whelk_event_peer_version(ev))
        bad_version(conn, whelk_event_peer_version(ev));
    if (err == WHELK_ERR_TIMEOUT && whelk_conn_peer_version(conn) &&
        !whelk_event_authenticated(ev))
        wd_log(WHELK_LOG_INFO, "Timeout before authentication for %s port %d",
               addr, port);
    char w[ESC_USER + 32];
    who(ev, w, sizeof(w));
    wd_log(WHELK_LOG_ERROR, "Disconnecting %s%s port %d: %s%s", w, addr, port,
           whelk_event_text(ev), preauth(ev));
}

static void peer_disconnect(whelk_conn *conn, const whelk_event *ev)
{
    const char *addr = whelk_conn_peer_addr(conn);
    int port = whelk_conn_peer_port(conn);
    const char *t = whelk_event_text(ev);
    char text[1025 * 4];
    whelk_escape(text, sizeof(text), t, strlen(t));
    wd_log(WHELK_LOG_INFO, "Received disconnect from %s port %d:%u: %s%s", addr,
           port, whelk_event_reason(ev), text, preauth(ev));
    char w[ESC_USER + 32];
    who(ev, w, sizeof(w));
    if (w[0])
        wd_log(WHELK_LOG_INFO, "Disconnected from %s%s port %d%s", w, addr,
               port, preauth(ev));
}

static void peer_closed(whelk_conn *conn, const whelk_event *ev)
{
    const char *addr = whelk_conn_peer_addr(conn);
    int port = whelk_conn_peer_port(conn);
    char w[ESC_USER + 32];
    who(ev, w, sizeof(w));
    /* Before the version exchange sshd adds no [preauth]. */
    const char *tag = whelk_conn_peer_version(conn) ? preauth(ev) : "";
    wd_log(WHELK_LOG_INFO, "Connection closed by %s%s port %d%s", w, addr,
           port, tag);
}

void wd_log_event(whelk_conn *conn, const whelk_event *ev, void *user)
{
    switch (whelk_event_get_type(ev)) {
    case WHELK_EVENT_INVALID_USER: {
        const char *u = whelk_event_user(ev);
        char esc[ESC_USER];
        whelk_escape(esc, sizeof(esc), u ? u : "", u ? strlen(u) : 0);
        wd_log(WHELK_LOG_INFO, "Invalid user %s from %s port %d", esc,
               whelk_conn_peer_addr(conn), whelk_conn_peer_port(conn));
        break;
    }
    case WHELK_EVENT_AUTH_SUCCESS: attempt(conn, ev, "Accepted"); break;
    case WHELK_EVENT_AUTH_FAILURE: attempt(conn, ev, "Failed"); break;
    case WHELK_EVENT_AUTH_LIMIT: attempt(conn, ev, "maximum"); break;
    case WHELK_EVENT_AUTH_PARTIAL: attempt(conn, ev, "Partial"); break;
    case WHELK_EVENT_DISCONNECT: disconnect(conn, ev); break;
    case WHELK_EVENT_PEER_DISCONNECT: peer_disconnect(conn, ev); break;
    case WHELK_EVENT_PEER_CLOSED: peer_closed(conn, ev); break;
    }
}
