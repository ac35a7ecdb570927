/*
 * globalreq: global requests (RFC 4254 section 4), both ways.
 *
 * The engine answers the ones it knows itself (no-more-sessions@openssh.com,
 * keepalive@openssh.com); the rest go to the application typed
 * (tcpip-forward and cancel-tcpip-forward, RFC 4254 section 7.1; the
 * streamlocal pair of OpenSSH's PROTOCOL section 2.4). Replies must
 * leave in the order of the requests, whatever order the application
 * answers them in, so the replies owed wait in a small ring; when it is
 * full, input waits. Replies to our own requests come in the order we
 * sent them; the ring of those awaited says whose each one is.
 */
#include "channel.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ADDRESS 1024

struct whelk_global_request {
    whelk_global_type type;
    const char *name;
    const char *address;
    uint32_t port;
    const uint8_t *data;
    size_t len;
    int want_reply;
    uint32_t id;
};

static const struct {
    const char *name;
    whelk_global_type type;
} global_names[] = {
    {"tcpip-forward", WHELK_GLOBAL_TCPIP_FORWARD},
    {"cancel-tcpip-forward", WHELK_GLOBAL_CANCEL_TCPIP_FORWARD},
    {"streamlocal-forward@openssh.com", WHELK_GLOBAL_STREAMLOCAL_FORWARD},
    {"cancel-streamlocal-forward@openssh.com",
     WHELK_GLOBAL_CANCEL_STREAMLOCAL_FORWARD},
};

static int send_reply(whelk_conn *c, int ok, int with_port, uint32_t port)
{
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, ok ? SSH_MSG_REQUEST_SUCCESS
                                       : SSH_MSG_REQUEST_FAILURE);
    if (!b) return WHELK_ERR_NOMEM;
    if (ok && with_port && wk_buf_put_u32(b, port)) return WHELK_ERR_NOMEM;
    return wk_msg_end(c, &m);
}

/* Sends the replies at the head of the ring that are answered. */
static int flush_owed(whelk_conn *c)
{
    wk_chans *t = c->chans;
    while (t->owed_n > 0 && t->owed[t->owed_head].answered) {
        unsigned i = t->owed_head;
        int rc = send_reply(c, t->owed[i].ok, t->owed[i].port != 0,
                            t->owed[i].port);
        if (rc) return rc;
        t->owed_head = (t->owed_head + 1) % WK_MAX_GLOBAL_PENDING;
        t->owed_n--;
    }
    return 0;
}

int wk_global_blocked(const whelk_conn *c)
{
    return c->chans && c->chans->owed_n >= WK_MAX_GLOBAL_PENDING;
}

/* A reply is owed for request |id|: its place in the ring. */
static int owe(whelk_conn *c, uint32_t id)
{
    wk_chans *t = c->chans;
    if (t->owed_n >= WK_MAX_GLOBAL_PENDING) return WHELK_ERR_LIMIT;
    unsigned i = (t->owed_head + t->owed_n) % WK_MAX_GLOBAL_PENDING;
    memset(&t->owed[i], 0, sizeof(t->owed[i]));
    t->owed[i].id = id;
    t->owed_n++;
    return 0;
}

/* Marks request |id| answered and sends what can go; 1 when there was
 * no such request waiting. */
static int answer(whelk_conn *c, uint32_t id, int ok, uint32_t port)
{
    wk_chans *t = c->chans;
    for (unsigned k = 0; k < t->owed_n; k++) {
        unsigned i = (t->owed_head + k) % WK_MAX_GLOBAL_PENDING;
        if (t->owed[i].id != id || t->owed[i].answered) continue;
        t->owed[i].answered = 1;
        t->owed[i].ok = !!ok;
        t->owed[i].port = ok ? port : 0;
        return flush_owed(c);
    }
    return 1;
}

int whelk_conn_global_reply(whelk_conn *c, uint32_t id, int ok, uint32_t port)
{
    if (c->state == WK_ST_CLOSED) return c->err ? c->err : WHELK_ERR_CLOSED;
    int was_full = wk_global_blocked(c);
    int rc = answer(c, id, ok, port);
    if (rc == 1) return WHELK_ERR_STATE;
    if (rc) return wk_end_if_fatal(c, rc);
    /* Input held while the ring was full can go on; from inside the
     * callback the input loop that called it goes on by itself. */
    return was_full && !c->chans->in_global_cb ? wk_conn_resume_input(c) : 0;
}

static int on_request(whelk_conn *c, wk_reader *r)
{
    const uint8_t *name;
    size_t nl;
    int want;
    if (wk_get_string(r, &name, &nl, 256) || wk_get_bool(r, &want))
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed global request");
    wk_chans *t = c->chans;
    /* The engine's own, and everything when the application takes none:
     * answered at once, behind any reply still owed. */
    int mine = -1;
    if (nl == 28 && !memcmp(name, "no-more-sessions@openssh.com", 28)) {
        t->no_more_sessions = 1;
        mine = 1;
    } else if ((nl == 21 && !memcmp(name, "keepalive@openssh.com", 21)) ||
               !c->cb.global_request || memchr(name, 0, nl)) {
        /* keepalive@openssh.com and any request nobody takes: failure,
         * which is what OpenSSH's clients expect of a live server. */
        mine = 0;
    }
    uint32_t id = t->next_global_id++;
    if (mine >= 0) {
        if (!want) return 0;
        int rc = owe(c, id);
        return rc ? rc : answer(c, id, mine, 0);
    }
    char nm[257], addr[MAX_ADDRESS + 1];
    memcpy(nm, name, nl);
    nm[nl] = 0;
    whelk_global_request req = {.type = WHELK_GLOBAL_OTHER,
                                .name = nm,
                                .data = r->p + r->pos,
                                .len = r->len - r->pos,
                                .want_reply = want,
                                .id = id};
    for (size_t i = 0; i < sizeof(global_names) / sizeof(*global_names); i++)
        if (!strcmp(global_names[i].name, nm)) req.type = global_names[i].type;
    int bad = 0;
    switch (req.type) {
    case WHELK_GLOBAL_TCPIP_FORWARD:
    case WHELK_GLOBAL_CANCEL_TCPIP_FORWARD:
        bad = wk_get_cstring(r, addr, sizeof(addr)) ||
              wk_get_u32(r, &req.port) || wk_reader_end(r);
        req.address = addr;
        break;
    case WHELK_GLOBAL_STREAMLOCAL_FORWARD:
    case WHELK_GLOBAL_CANCEL_STREAMLOCAL_FORWARD:
        bad = wk_get_cstring(r, addr, sizeof(addr)) || wk_reader_end(r);
        req.address = addr;
        break;
    default:
        break;
    }
    if (bad)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed %s request", nm);
    if (want) {
        int rc = owe(c, id);
        if (rc) return rc;
    }
    t->in_global_cb = 1;
    c->cb.global_request(c, &req, c->user);
    t->in_global_cb = 0;
    return c->state == WK_ST_CLOSED ? c->err : 0;
}

int wk_global_send(whelk_conn *c, const char *name, const uint8_t *data,
                   size_t len, int want_reply, int app)
{
    wk_chans *t = c->chans;
    if (want_reply && t->awaited_n >= WK_MAX_GLOBAL_PENDING)
        return WHELK_ERR_LIMIT;
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_GLOBAL_REQUEST);
    if (!b || wk_buf_put_cstring(b, name) || wk_buf_put_bool(b, want_reply) ||
        (len && wk_buf_put(b, data, len)))
        return WHELK_ERR_NOMEM;
    int rc = wk_msg_end(c, &m);
    if (rc) return rc;
    if (want_reply) {
        unsigned i = (t->awaited_head + t->awaited_n) % WK_MAX_GLOBAL_PENDING;
        t->awaited[i] = (uint8_t)app;
        t->awaited_n++;
    }
    return 0;
}

int whelk_conn_send_global_request(whelk_conn *c, const char *name,
                                   const uint8_t *data, size_t len,
                                   int want_reply)
{
    if (!name || !*name || strlen(name) > 256 || (len && !data) ||
        len > 65536)
        return WHELK_ERR_INVAL;
    if (!c->authenticated) return WHELK_ERR_STATE;
    if (c->state == WK_ST_CLOSED) return c->err ? c->err : WHELK_ERR_CLOSED;
    int rc = wk_global_send(c, name, data, len, want_reply, 1);
    return rc == WHELK_ERR_LIMIT ? rc : wk_end_if_fatal(c, rc);
}

static int on_reply(whelk_conn *c, uint8_t type, wk_reader *r)
{
    wk_chans *t = c->chans;
    /* A reply nobody waits for is the peer's mistake; harmless. */
    if (t->awaited_n == 0) return 0;
    int app = t->awaited[t->awaited_head];
    t->awaited_head = (t->awaited_head + 1) % WK_MAX_GLOBAL_PENDING;
    t->awaited_n--;
    if (app && c->cb.global_reply)
        c->cb.global_reply(c, type == SSH_MSG_REQUEST_SUCCESS, r->p + r->pos,
                           r->len - r->pos, c->user);
    return 0;
}

int wk_global_dispatch(whelk_conn *c, uint8_t type, wk_reader *r)
{
    if (type == SSH_MSG_GLOBAL_REQUEST) return on_request(c, r);
    return on_reply(c, type, r);
}

whelk_global_type whelk_global_request_type(const whelk_global_request *q)
{
    return q->type;
}
const char *whelk_global_request_name(const whelk_global_request *q)
{
    return q->name;
}
const char *whelk_global_request_address(const whelk_global_request *q)
{
    return q->address;
}
uint32_t whelk_global_request_port(const whelk_global_request *q)
{
    return q->port;
}
const uint8_t *whelk_global_request_data(const whelk_global_request *q,
                                         size_t *len)
{
    if (len) *len = q->len;
    return q->data;
}
int whelk_global_request_want_reply(const whelk_global_request *q)
{
    return q->want_reply;
}
uint32_t whelk_global_request_id(const whelk_global_request *q)
{
    return q->id;
}
