/*
 * conn_test: see conn_test.h.
 */
#include "conn_test.h"

#include <stdio.h>

int wk_conn_test_authenticate(whelk_conn *c, const char *user)
{
    wk_buf_reset(&c->out);
    c->state = WK_ST_PACKETS;
    c->version_deadline = UINT64_MAX;
    static const char v_c[] = "SSH-2.0-OpenSSH_9.2p1 test";
    if (wk_conn_set_ident(&c->v_c, v_c, sizeof(v_c) - 1) != 0)
        return WHELK_ERR_NOMEM;
    c->kex_sent_init = 0;
    c->kex_got_init = 0;
    c->kex_phase = WK_KEX_NONE;
    c->kex_count = 1;
    c->rekey_at_ms = UINT64_MAX;
    c->service_ok = 1;
    if (!user) return 0; /* kex done, authentication still to come */
    return wk_conn_set_authenticated(c, user);
}

