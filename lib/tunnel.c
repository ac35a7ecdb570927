/*
 * tunnel: the channels other than sessions, on the generic channel of
 * channel.c: TCP forwarding both ways (RFC 4254 section 7), Unix-socket
 * forwarding, agent and X11 connections (OpenSSH's PROTOCOL sections 2.4
 * and 4.2, RFC 4254 section 6.3). An open from the peer is parsed into
 * typed values and handed to the application's channel_open callback,
 * which accepts or refuses it now or later (after a connect, say); the
 * application opens its own with whelk_conn_open_channel. Data, EOF and
 * CLOSE then follow the same rules as a session's.
 */
#include "channel.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ADDRESS 1024 /* host names, addresses, socket paths */

struct whelk_channel {
    wk_channel ch;             /* first: a tunnel is a channel */
    whelk_channel_type type;
    wk_channel_handler h;
    void *user;
    unsigned answered : 1;     /* the peer's open was accepted or refused */
    unsigned accepted : 1;     /* the application may hear of its end */
};

struct whelk_channel_open {
    whelk_channel_type type;
    const char *type_name;
    const char *address, *originator;
    uint32_t port, originator_port;
    const uint8_t *data;
    size_t len;
};

static const struct {
    const char *name;
    whelk_channel_type type;
} type_names[] = {
    {"direct-tcpip", WHELK_CHANNEL_DIRECT_TCPIP},
    {"forwarded-tcpip", WHELK_CHANNEL_FORWARDED_TCPIP},
    {"direct-streamlocal@openssh.com", WHELK_CHANNEL_DIRECT_STREAMLOCAL},
    {"forwarded-streamlocal@openssh.com", WHELK_CHANNEL_FORWARDED_STREAMLOCAL},
    {"auth-agent@openssh.com", WHELK_CHANNEL_AUTH_AGENT},
    {"x11", WHELK_CHANNEL_X11},
};

static const char *type_name(whelk_channel_type t)
{
    for (size_t i = 0; i < sizeof(type_names) / sizeof(*type_names); i++)
        if (type_names[i].type == t) return type_names[i].name;
    return NULL;
}

/* ------------------------------------------------------------------------
 * The tunnel as a channel owner.
 */

static void on_data(wk_channel *ch, int ext, uint32_t type, const uint8_t *p,
                    size_t n)
{
    whelk_channel *t = (whelk_channel *)ch;
    /* Extended data means nothing on a tunnel: taken and dropped. */
    if (ext || !t->h.data) {
        wk_chan_consumed(ch, n);
        return;
    }
    t->h.data(t, p, n, t->user);
}

static void on_eof(wk_channel *ch)
{
    whelk_channel *t = (whelk_channel *)ch;
    if (t->h.eof) t->h.eof(t, t->user);
}

static int on_request(wk_channel *ch, const char *type, wk_reader *r)
{
    return 0; /* a tunnel takes no requests (eow@openssh.com included) */
}

static void on_stop(wk_channel *ch)
{
    whelk_channel *t = (whelk_channel *)ch;
    if (t->h.stop_writing) t->h.stop_writing(t, t->user);
}

static void on_start(wk_channel *ch)
{
    whelk_channel *t = (whelk_channel *)ch;
    if (t->h.start_writing) t->h.start_writing(t, t->user);
}

static int on_control(wk_channel *ch, int what) { return 0; }

static void on_opened(wk_channel *ch, uint32_t failure, const char *text)
{
    whelk_channel *t = (whelk_channel *)ch;
    if (t->h.opened) t->h.opened(t, failure, text, t->user);
}

static void on_closed(wk_channel *ch)
{
    whelk_channel *t = (whelk_channel *)ch;
    if (t->accepted && t->h.closed) t->h.closed(t, t->user);
    free(t);
}

static const wk_channel_ops tunnel_ops = {
    .data = on_data,
    .eof = on_eof,
    .request = on_request,
    .stop_writing = on_stop,
    .start_writing = on_start,
    .control = on_control,
    .opened = on_opened,
    .closed = on_closed,
};

/* ------------------------------------------------------------------------
 * Opens from the peer.
 */

/* A string field as a C string in |out| (|size| bytes): no NUL inside. */
static int get_text(wk_reader *r, char *out, size_t size)
{
    return wk_get_cstring(r, out, size);
}

/* The type-specific data of each type we know. Returns 0 or -1. */
static int parse_open(wk_reader *r, whelk_channel_open *o, char *addr,
                      char *orig)
{
    switch (o->type) {
    case WHELK_CHANNEL_DIRECT_TCPIP:
    case WHELK_CHANNEL_FORWARDED_TCPIP:
        if (get_text(r, addr, MAX_ADDRESS + 1) || wk_get_u32(r, &o->port) ||
            get_text(r, orig, MAX_ADDRESS + 1) ||
            wk_get_u32(r, &o->originator_port))
            return -1;
        o->address = addr;
        o->originator = orig;
        break;
    case WHELK_CHANNEL_DIRECT_STREAMLOCAL: {
        uint32_t reserved;
        if (get_text(r, addr, MAX_ADDRESS + 1) ||
            get_text(r, orig, MAX_ADDRESS + 1) || wk_get_u32(r, &reserved))
            return -1;
        o->address = addr;
        break;
    }
    case WHELK_CHANNEL_FORWARDED_STREAMLOCAL:
        if (get_text(r, addr, MAX_ADDRESS + 1) ||
            get_text(r, orig, MAX_ADDRESS + 1))
            return -1;
        o->address = addr;
        break;
    case WHELK_CHANNEL_X11:
        if (get_text(r, orig, MAX_ADDRESS + 1) ||
            wk_get_u32(r, &o->originator_port))
            return -1;
        o->originator = orig;
        break;
    default:
        return 0; /* auth-agent has none; others are the application's */
    }
    return 0;
}

int wk_tunnel_open(whelk_conn *c, const uint8_t *type, size_t tl,
                   uint32_t sender, uint32_t window, uint32_t maxpkt,
                   wk_reader *r)
{
    char name[65];
    if (tl >= sizeof(name) || memchr(type, 0, tl))
        return wk_chan_refuse(c, sender, SSH_OPEN_UNKNOWN_CHANNEL_TYPE,
                              "unknown channel type");
    memcpy(name, type, tl);
    name[tl] = 0;
    whelk_channel_open o;
    memset(&o, 0, sizeof(o));
    o.type = WHELK_CHANNEL_OTHER;
    o.type_name = name;
    for (size_t i = 0; i < sizeof(type_names) / sizeof(*type_names); i++)
        if (!strcmp(type_names[i].name, name)) o.type = type_names[i].type;
    o.data = r->p + r->pos;
    o.len = r->len - r->pos;
    char *addr = malloc(2 * (MAX_ADDRESS + 1));
    if (!addr) return WHELK_ERR_NOMEM;
    char *orig = addr + MAX_ADDRESS + 1;
    if (parse_open(r, &o, addr, orig) != 0) {
        free(addr);
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed %s channel open", name);
    }
    whelk_channel *t = calloc(1, sizeof(*t));
    int rc = t ? wk_chan_attach(&t->ch, c, &tunnel_ops, sender, window,
                                maxpkt, name)
               : WHELK_ERR_NOMEM;
    if (rc) {
        free(t);
        free(addr);
        if (rc == WHELK_ERR_LIMIT)
            return wk_chan_refuse(c, sender, SSH_OPEN_RESOURCE_SHORTAGE,
                                  "too many channels");
        return rc;
    }
    t->type = o.type;
    t->ch.opening = 1; /* nothing goes out before the answer */
    c->cb.channel_open(c, t, &o, c->user);
    free(addr);
    return c->state == WK_ST_CLOSED ? c->err : 0;
}

void whelk_channel_set_handler(whelk_channel *t, const whelk_channel_handler *h,
                               void *user)
{
    if (h)
        t->h = h->h;
    else
        memset(&t->h, 0, sizeof(t->h));
    t->user = user;
    t->accepted = 1; /* from now on it hears of the channel's end */
}

int whelk_channel_accept(whelk_channel *t, const whelk_channel_handler *h,
                         void *user)
{
    whelk_conn *c = t->ch.conn;
    if (t->answered) return WHELK_ERR_STATE;
    if (c->state == WK_ST_CLOSED) return c->err ? c->err : WHELK_ERR_CLOSED;
    t->answered = 1;
    t->ch.opening = 0;
    if (h || !t->accepted) whelk_channel_set_handler(t, h, user);
    int rc = wk_chan_confirm(&t->ch);
    /* Output written before the answer goes out behind it. */
    if (!rc) rc = wk_chans_pump(c);
    return wk_end_if_fatal(c, rc);
}

int whelk_channel_refuse(whelk_channel *t, uint32_t reason, const char *text)
{
    whelk_conn *c = t->ch.conn;
    if (t->answered) return WHELK_ERR_STATE;
    t->answered = 1;
    t->accepted = 0; /* refused: the application hears nothing more */
    int rc = c->state == WK_ST_CLOSED
                 ? 0
                 : wk_chan_refuse(c, t->ch.remote_id,
                                  reason ? reason : SSH_OPEN_CONNECT_FAILED,
                                  text ? text : "");
    t->ch.peer_close = t->ch.sent_close = 1;
    wk_chan_free(&t->ch);
    return wk_end_if_fatal(c, rc);
}

/* ------------------------------------------------------------------------
 * Opens of our own.
 */

int whelk_conn_open_channel(whelk_conn *c, whelk_channel **out,
                            whelk_channel_type type, const char *address,
                            uint32_t port, const char *originator,
                            uint32_t originator_port,
                            const whelk_channel_handler *h, void *user)
{
    const char *name = type_name(type);
    /* A client opens the direct types; a server the forwarded ones, and
     * agent and x11 connections. */
    int direct = type == WHELK_CHANNEL_DIRECT_TCPIP ||
                 type == WHELK_CHANNEL_DIRECT_STREAMLOCAL;
    if (!out || !name || direct != !!c->is_client) return WHELK_ERR_INVAL;
    if (!c->authenticated) return WHELK_ERR_STATE;
    if (c->state == WK_ST_CLOSED) return c->err ? c->err : WHELK_ERR_CLOSED;
    wk_buf data;
    wk_buf_init(&data, 4 * MAX_ADDRESS);
    int rc = 0;
    int tcp = type == WHELK_CHANNEL_DIRECT_TCPIP ||
              type == WHELK_CHANNEL_FORWARDED_TCPIP;
    int local = type == WHELK_CHANNEL_DIRECT_STREAMLOCAL ||
                type == WHELK_CHANNEL_FORWARDED_STREAMLOCAL;
    if ((tcp || local) && (!address || strlen(address) > MAX_ADDRESS))
        rc = WHELK_ERR_INVAL;
    if ((tcp || type == WHELK_CHANNEL_X11) &&
        (!originator || strlen(originator) > MAX_ADDRESS))
        rc = WHELK_ERR_INVAL;
    if (!rc && tcp) {
        rc = wk_buf_put_cstring(&data, address);
        if (!rc) rc = wk_buf_put_u32(&data, port);
        if (!rc) rc = wk_buf_put_cstring(&data, originator);
        if (!rc) rc = wk_buf_put_u32(&data, originator_port);
    } else if (!rc && local) {
        rc = wk_buf_put_cstring(&data, address);
        if (!rc) rc = wk_buf_put_cstring(&data, "");
        if (!rc && type == WHELK_CHANNEL_DIRECT_STREAMLOCAL)
            rc = wk_buf_put_u32(&data, 0);
    } else if (!rc && type == WHELK_CHANNEL_X11) {
        rc = wk_buf_put_cstring(&data, originator);
        if (!rc) rc = wk_buf_put_u32(&data, originator_port);
    }
    whelk_channel *t = NULL;
    if (!rc && !(t = calloc(1, sizeof(*t)))) rc = WHELK_ERR_NOMEM;
    if (!rc) {
        t->type = type;
        t->answered = 1;
        whelk_channel_set_handler(t, h, user);
        rc = wk_chan_open_local(&t->ch, c, &tunnel_ops, name,
                                wk_buf_data(&data), wk_buf_used(&data), name);
        if (rc) {
            free(t);
            t = NULL;
        }
    }
    wk_buf_free(&data);
    if (rc) return rc == WHELK_ERR_LIMIT || rc == WHELK_ERR_INVAL
                       ? rc
                       : wk_end_if_fatal(c, rc);
    *out = t;
    return 0;
}

/* ------------------------------------------------------------------------
 * Accessors and the calls on a tunnel.
 */

whelk_channel_type whelk_channel_open_type(const whelk_channel_open *o)
{
    return o->type;
}
const char *whelk_channel_open_type_name(const whelk_channel_open *o)
{
    return o->type_name;
}
const char *whelk_channel_open_address(const whelk_channel_open *o)
{
    return o->address;
}
uint32_t whelk_channel_open_port(const whelk_channel_open *o)
{
    return o->port;
}
const char *whelk_channel_open_originator(const whelk_channel_open *o)
{
    return o->originator;
}
uint32_t whelk_channel_open_originator_port(const whelk_channel_open *o)
{
    return o->originator_port;
}
const uint8_t *whelk_channel_open_data(const whelk_channel_open *o,
                                       size_t *len)
{
    if (len) *len = o->len;
    return o->data;
}

void *whelk_channel_user(const whelk_channel *t) { return t->user; }
whelk_conn *whelk_channel_conn(const whelk_channel *t) { return t->ch.conn; }
uint32_t whelk_channel_id(const whelk_channel *t) { return t->ch.local_id; }
whelk_channel_type whelk_channel_get_type(const whelk_channel *t)
{
    return t->type;
}
int whelk_channel_peer_eof(const whelk_channel *t) { return t->ch.peer_eof; }

whelk_ssize whelk_channel_write(whelk_channel *t, const void *data,
                                size_t len)
{
    whelk_ssize n = wk_chan_write(&t->ch, 0, data, len);
    return n < 0 ? wk_end_if_fatal(t->ch.conn, (int)n) : n;
}

size_t whelk_channel_write_room(const whelk_channel *t)
{
    return wk_chan_write_room(&t->ch);
}

size_t whelk_channel_send_room(const whelk_channel *t)
{
    return wk_chan_send_room(&t->ch);
}

void whelk_channel_consumed(whelk_channel *t, size_t n)
{
    wk_chan_consumed(&t->ch, n);
}

int whelk_channel_send_eof(whelk_channel *t)
{
    return wk_chan_send_eof(&t->ch);
}

int whelk_channel_close(whelk_channel *t)
{
    return wk_chan_close(&t->ch);
}
