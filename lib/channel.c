/*
 * channel: the connection protocol (RFC 4254). This first version only
 * answers: global requests get REQUEST_FAILURE when a reply is wanted and
 * channel opens are refused. The session channel replaces it.
 */
#include "conn.h"

int wk_chans_init(whelk_conn *c)
{
    (void)c;
    return 0;
}

void wk_chans_free(whelk_conn *c)
{
    (void)c;
}

int wk_chans_pump(whelk_conn *c)
{
    (void)c;
    return 0;
}

int wk_chans_dispatch(whelk_conn *c, uint8_t type, const uint8_t *payload,
                      size_t len)
{
    wk_reader r;
    uint8_t t;
    wk_reader_init(&r, payload, len);
    wk_get_u8(&r, &t);
    wk_msg m;
    wk_buf *b;
    if (type == SSH_MSG_GLOBAL_REQUEST) {
        const uint8_t *name;
        size_t nl;
        int want;
        if (wk_get_string(&r, &name, &nl, 256) || wk_get_bool(&r, &want))
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "malformed global request");
        if (!want) return 0;
        if (!(b = wk_msg_begin(c, &m, SSH_MSG_REQUEST_FAILURE)))
            return WHELK_ERR_NOMEM;
        return wk_msg_end(c, &m);
    }
    if (type == SSH_MSG_CHANNEL_OPEN) {
        const uint8_t *ctype;
        size_t cl;
        uint32_t sender;
        if (wk_get_string(&r, &ctype, &cl, 256) || wk_get_u32(&r, &sender))
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "malformed channel open");
        if (!(b = wk_msg_begin(c, &m, SSH_MSG_CHANNEL_OPEN_FAILURE)) ||
            wk_buf_put_u32(b, sender) ||
            wk_buf_put_u32(b, SSH_OPEN_UNKNOWN_CHANNEL_TYPE) ||
            wk_buf_put_cstring(b, "no channels yet") ||
            wk_buf_put_cstring(b, ""))
            return WHELK_ERR_NOMEM;
        return wk_msg_end(c, &m);
    }
    return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                    "message %u for a channel that does not exist", type);
}
