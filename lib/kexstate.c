/*
 * kexstate: the key exchange of a connection as a state machine (RFC 4253
 * sections 7 to 9), both roles: KEXINIT out and in, negotiation, the
 * guessed first packet, the exchange value and its reply (the host key's
 * signature over H asked of the application when it signs), NEWKEYS and
 * the keys they switch on, strict kex (OpenSSH's Terrapin countermeasure,
 * PROTOCOL section 1.10), ext-info (RFC 8308) and rekeying. The
 * algorithms themselves are kex.c's, the keys key.c's.
 */
#include "conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "key.h"

#define KEX_STRICT_C "kex-strict-c-v00@openssh.com"
#define KEX_STRICT_S "kex-strict-s-v00@openssh.com"

static int client_send_kex_value(whelk_conn *c);

/* ------------------------------------------------------------------------
 * Key exchange.
 */

/* The host key algorithms a server offers: those of its keys, in the
 * order of the configured list (HostKeyAlgorithms) when there is one. */
static void server_hostkey_algs(const whelk_config *cfg, char *out,
                                size_t size)
{
    const char *order = cfg->hostkey_algs ? cfg->hostkey_algs
                                          : wk_key_all_sig_algs();
    size_t pos = 0, nl, o = 0;
    const uint8_t *name;
    out[0] = 0;
    while (wk_namelist_next((const uint8_t *)order, strlen(order), &pos,
                            &name, &nl)) {
        for (unsigned i = 0; i < cfg->n_host_keys; i++) {
            const char *algs = wk_key_sig_algs(cfg->host_keys[i]);
            char one[64];
            if (nl >= sizeof(one)) break;
            memcpy(one, name, nl);
            one[nl] = 0;
            if (!wk_namelist_has((const uint8_t *)algs, strlen(algs), one))
                continue;
            if (o + nl + 2 > size) return;
            if (o) out[o++] = ',';
            memcpy(out + o, one, nl + 1);
            o += nl;
            break;
        }
    }
}

int wk_kex_send_init(whelk_conn *c)
{
    const whelk_config *cfg = c->cfg;
    char kex[1024], hostkeys[256] = "";
    snprintf(kex, sizeof(kex), "%s,%s,%s",
             cfg->kex ? cfg->kex : wk_kex_default_list,
             c->is_client ? "ext-info-c" : "ext-info-s",
             c->is_client ? KEX_STRICT_C : KEX_STRICT_S);
    if (c->is_client)
        snprintf(hostkeys, sizeof(hostkeys), "%s",
                 cfg->hostkey_algs ? cfg->hostkey_algs : wk_key_all_sig_algs());
    else
        server_hostkey_algs(cfg, hostkeys, sizeof(hostkeys));
    const char *ciphers = cfg->ciphers ? cfg->ciphers : wk_cipher_default_list;
    const char *macs = cfg->macs ? cfg->macs : wk_mac_default_list;
    const char *lists[WK_KEXL_COUNT] = {kex,    hostkeys, ciphers, ciphers,
                                        macs,   macs,     "none",  "none",
                                        "",     ""};
    wk_buf_reset(&c->my_kexinit);
    int rc = wk_kexinit_build(&c->my_kexinit, lists, cfg->rand,
                              cfg->rand_user);
    if (rc) return rc;
    size_t start = wk_pkt_begin(&c->out);
    if (start == WK_PKT_NONE) return WHELK_ERR_NOMEM;
    rc = wk_buf_put(&c->out, wk_buf_data(&c->my_kexinit),
                    wk_buf_used(&c->my_kexinit));
    if (!rc)
        rc = wk_pkt_end(c->tx, &c->out, start, cfg->rand, cfg->rand_user);
    if (rc) return rc;
    c->kex_sent_init = 1;
    c->kex_phase = WK_KEX_STARTED;
    return 0;
}

static const whelk_key *find_hostkey(const whelk_conn *c, const char *alg)
{
    for (unsigned i = 0; i < c->cfg->n_host_keys; i++) {
        const whelk_key *k = c->cfg->host_keys[i];
        if (wk_namelist_has((const uint8_t *)wk_key_sig_algs(k),
                            strlen(wk_key_sig_algs(k)), alg))
            return k;
    }
    return NULL;
}

/* Picks the algorithms from the client's and our KEXINIT. */
static int negotiate(whelk_conn *c, const wk_kexinit *peer)
{
    wk_kexinit ours, cl_ki, sv_ki;
    int rc = wk_kexinit_parse(wk_buf_data(&c->my_kexinit),
                              wk_buf_used(&c->my_kexinit), &ours);
    if (rc) return rc;
    /* RFC 4253 7.1: the client's preference decides, whoever we are. */
    cl_ki = c->is_client ? ours : *peer;
    sv_ki = c->is_client ? *peer : ours;
    const wk_kexinit *ki = &cl_ki, *mine_p = &sv_ki;
#define mine (*mine_p)
    const char *what = "key exchange";
    rc = wk_negotiate(ki->list[WK_KEXL_KEX], ki->list_len[WK_KEXL_KEX],
                      mine.list[WK_KEXL_KEX], mine.list_len[WK_KEXL_KEX],
                      c->kex_name, sizeof(c->kex_name));
    /* The markers are not methods: a client listing only them has none. */
    if (!rc && !(c->kex = wk_kex_find(c->kex_name, strlen(c->kex_name))))
        rc = WHELK_ERR_NEGOTIATION;
    if (rc) goto fail;
    what = "host key";
    rc = wk_negotiate(ki->list[WK_KEXL_HOSTKEY],
                      ki->list_len[WK_KEXL_HOSTKEY],
                      mine.list[WK_KEXL_HOSTKEY],
                      mine.list_len[WK_KEXL_HOSTKEY], c->hostkey_alg,
                      sizeof(c->hostkey_alg));
    if (!rc && !c->is_client &&
        !(c->hostkey = find_hostkey(c, c->hostkey_alg)))
        rc = WHELK_ERR_NEGOTIATION;
    if (rc) goto fail;
    for (int d = 0; d < 2; d++) {
        char name[64];
        what = d ? "server to client cipher" : "client to server cipher";
        rc = wk_negotiate(ki->list[WK_KEXL_ENC_C2S + d],
                          ki->list_len[WK_KEXL_ENC_C2S + d],
                          mine.list[WK_KEXL_ENC_C2S + d],
                          mine.list_len[WK_KEXL_ENC_C2S + d], name,
                          sizeof(name));
        if (rc) goto fail;
        c->enc[d] = wk_cipher_find(name, strlen(name));
        if (!c->enc[d]) { rc = WHELK_ERR_NEGOTIATION; goto fail; }
        c->mac[d] = NULL;
        if (c->enc[d]->tag_len == 0) {
            what = d ? "server to client MAC" : "client to server MAC";
            rc = wk_negotiate(ki->list[WK_KEXL_MAC_C2S + d],
                              ki->list_len[WK_KEXL_MAC_C2S + d],
                              mine.list[WK_KEXL_MAC_C2S + d],
                              mine.list_len[WK_KEXL_MAC_C2S + d], name,
                              sizeof(name));
            if (rc) goto fail;
            c->mac[d] = wk_mac_find(name, strlen(name));
            if (!c->mac[d]) { rc = WHELK_ERR_NEGOTIATION; goto fail; }
        }
        what = "compression";
        if (!wk_namelist_has(peer->list[WK_KEXL_COMP_C2S + d],
                             peer->list_len[WK_KEXL_COMP_C2S + d], "none")) {
            rc = WHELK_ERR_NEGOTIATION;
            goto fail;
        }
    }
#undef mine
    return 0;
fail:
    if (rc == WHELK_ERR_NEGOTIATION) {
        char theirs[256];
        int idx = !strcmp(what, "key exchange") ? WK_KEXL_KEX
                  : !strcmp(what, "host key")   ? WK_KEXL_HOSTKEY
                                                : -1;
        if (idx >= 0)
            whelk_escape(theirs, sizeof(theirs), ki->list[idx],
                      ki->list_len[idx]);
        else
            snprintf(theirs, sizeof(theirs), "(see client KEXINIT)");
        return wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "no matching %s method found. Their offer: %s",
                        what, theirs);
    }
    return wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                    "bad KEXINIT: %s", whelk_strerror(rc));
}

static int same_first_name(const uint8_t *a, size_t an, const uint8_t *b,
                           size_t bn)
{
    const uint8_t *x, *y;
    size_t xl, yl, pa = 0, pb = 0;
    return wk_namelist_next(a, an, &pa, &x, &xl) &&
           wk_namelist_next(b, bn, &pb, &y, &yl) && xl > 0 && xl == yl &&
           memcmp(x, y, xl) == 0;
}

/* RFC 4253 section 7: the peer guessed right only when both sides list
 * the same kex method first and the same host key algorithm first. The
 * negotiated names are not the test: a client whose first method is
 * merely the one negotiated (the server preferring another) considers
 * its guess wrong and sends the packet again, as OpenSSH and Dropbear
 * do. */
static int guess_is_right(const whelk_conn *c, const wk_kexinit *peer)
{
    wk_kexinit mine;
    if (wk_kexinit_parse(wk_buf_data(&c->my_kexinit),
                         wk_buf_used(&c->my_kexinit), &mine) != 0)
        return 0;
    return same_first_name(mine.list[WK_KEXL_KEX], mine.list_len[WK_KEXL_KEX],
                           peer->list[WK_KEXL_KEX],
                           peer->list_len[WK_KEXL_KEX]) &&
           same_first_name(mine.list[WK_KEXL_HOSTKEY],
                           mine.list_len[WK_KEXL_HOSTKEY],
                           peer->list[WK_KEXL_HOSTKEY],
                           peer->list_len[WK_KEXL_HOSTKEY]);
}


int wk_kex_on_kexinit(whelk_conn *c, const uint8_t *p, size_t n)
{
    if (c->kex_got_init)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "KEXINIT during key exchange");
    /* A client that has not logged in gets one key exchange: each more
     * would cost us modexps and a host key signature and it nothing. */
    if (!c->is_client && c->kex_count > 0 && !c->authenticated)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "key re-exchange before authentication refused");
    wk_kexinit ki;
    int rc = wk_kexinit_parse(p, n, &ki);
    if (rc)
        return wk_fatal(c, rc, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed KEXINIT: %s", whelk_strerror(rc));
    wk_buf_reset(&c->peer_kexinit);
    if ((rc = wk_buf_put(&c->peer_kexinit, p, n)) != 0)
        return wk_fatal(c, rc, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "KEXINIT too large");
    c->kex_got_init = 1;
    if (c->kex_count == 0) {
        c->strict = wk_namelist_has(ki.list[WK_KEXL_KEX],
                                    ki.list_len[WK_KEXL_KEX],
                                    c->is_client ? KEX_STRICT_S
                                                 : KEX_STRICT_C);
        c->ext_info_c = wk_namelist_has(ki.list[WK_KEXL_KEX],
                                        ki.list_len[WK_KEXL_KEX],
                                        "ext-info-c");
        /* Strict kex: KEXINIT must have been the very first packet. */
        if (c->strict && wk_pkt_dir_seq(c->rx) != 1)
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "strict KEX violation: KEXINIT was not the "
                            "first packet");
    }
    if (!c->kex_sent_init && (rc = wk_kex_send_init(c)) != 0)
        return wk_fatal(c, rc, WHELK_DISCONNECT_BY_APPLICATION,
                        "cannot send KEXINIT: %s", whelk_strerror(rc));
    if ((rc = negotiate(c, &ki)) != 0) return rc;
    /* A wrong guess costs the peer its guessed packet (dispatch drops it);
     * a right one is the exchange's first packet and is processed. */
    c->ignore_guess = ki.first_kex_follows && !guess_is_right(c, &ki);
    if (c->is_client) return client_send_kex_value(c);
    return 0;
}

static void wipe_keys(uint8_t *a, size_t an, uint8_t *b, size_t bn,
                      uint8_t *d, size_t dn)
{
    OPENSSL_cleanse(a, an);
    OPENSSL_cleanse(b, bn);
    OPENSSL_cleanse(d, dn);
}

/* Derives the six keys, installs the sending ones now and keeps the
 * receiving ones until the peer's NEWKEYS. Direction 0 is client to
 * server (letters A, C, E), direction 1 server to client (B, D, F). */
static int derive_keys(whelk_conn *c, const uint8_t *k_enc, size_t k_len,
                       const uint8_t *h, size_t hlen)
{
    uint8_t key[64], iv[32], mac[64];
    const wk_kex_alg *a = c->kex;
    const uint8_t *sid = c->session_id;
    size_t sl = c->session_id_len;
    int tx_dir = c->is_client ? 0 : 1;
    int rc = 0;
    for (int d = 0; d < 2 && !rc; d++) {
        int tx = d == tx_dir;
        uint8_t *kd = tx ? key : c->rx_key, *ivd = tx ? iv : c->rx_iv;
        uint8_t *md = tx ? mac : c->rx_mac;
        const wk_cipher_alg *e = c->enc[d];
        rc |= wk_kex_derive(a, k_enc, k_len, h, hlen, (char)('A' + d), sid,
                            sl, ivd, e->iv_len);
        rc |= wk_kex_derive(a, k_enc, k_len, h, hlen, (char)('C' + d), sid,
                            sl, kd, e->key_len);
        if (c->mac[d])
            rc |= wk_kex_derive(a, k_enc, k_len, h, hlen, (char)('E' + d),
                                sid, sl, md, c->mac[d]->key_len);
    }
    if (!rc)
        rc = wk_pkt_dir_set_keys(c->tx, 1, c->enc[tx_dir], c->mac[tx_dir], key,
                                 iv, mac);
    else
        rc = WHELK_ERR_CRYPTO;
    wipe_keys(key, sizeof(key), iv, sizeof(iv), mac, sizeof(mac));
    return rc;
}

static int send_ext_info(whelk_conn *c)
{
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_EXT_INFO);
    if (!b) return WHELK_ERR_NOMEM;
    int rc = wk_buf_put_u32(b, 1);
    if (!rc) rc = wk_buf_put_cstring(b, "server-sig-algs");
    if (!rc)
        rc = wk_buf_put_cstring(b, c->cfg->pubkey_algs ? c->cfg->pubkey_algs
                                                       : wk_key_all_sig_algs());
    return rc ? rc : wk_msg_end(c, &m);
}

/* The server's half of an exchange, kept from the moment H is known
 * until the host key's signature over it is there (which the application
 * may make in another process, answering later). */
struct wk_kex_reply {
    wk_buf q_s;
    wk_buf k_enc;  /* the shared secret, encoded */
    uint8_t h[64];
    size_t hlen;
};

void wk_kex_reply_free(whelk_conn *c)
{
    wk_kex_reply *r = c->reply;
    if (!r) return;
    wk_buf_free(&r->q_s);
    wk_buf_free_secret(&r->k_enc);
    OPENSSL_cleanse(r->h, sizeof(r->h));
    free(r);
    c->reply = NULL;
}

/* Sends the reply with |sig| (the signature blob's contents), NEWKEYS and
 * the ext-info, and switches the sending keys. */
static int finish_kex_reply(whelk_conn *c, const uint8_t *sig, size_t sig_len)
{
    wk_kex_reply *r = c->reply;
    size_t blob_len;
    const uint8_t *blob = whelk_key_blob(c->hostkey, &blob_len);
    wk_msg m;
    int rc = WHELK_ERR_NOMEM;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_KEX_ECDH_REPLY);
    if (!b) goto fail;
    rc = wk_buf_put_string(b, blob, blob_len);
    if (!rc)
        rc = c->kex->value_is_mpint
                 ? wk_buf_put_mpint(b, wk_buf_data(&r->q_s),
                                    wk_buf_used(&r->q_s))
                 : wk_buf_put_string(b, wk_buf_data(&r->q_s),
                                     wk_buf_used(&r->q_s));
    if (!rc) rc = wk_buf_put_string(b, sig, sig_len);
    if (!rc) rc = wk_msg_end(c, &m);
    if (rc) goto fail;
    b = wk_msg_begin(c, &m, SSH_MSG_NEWKEYS);
    if (!b) rc = WHELK_ERR_NOMEM;
    if (!b || (rc = wk_msg_end(c, &m)) != 0) goto fail;
    /* Keys change right after our NEWKEYS. */
    rc = derive_keys(c, wk_buf_data(&r->k_enc), wk_buf_used(&r->k_enc), r->h,
                     r->hlen);
    if (rc) goto fail;
    if (c->strict) wk_pkt_dir_reset_seq(c->tx);
    c->cur_cipher[1] = c->enc[1]->name;
    c->cur_mac[1] = c->mac[1] ? c->mac[1]->name : "<implicit>";
    c->kex_sent_init = 0;
    c->kex_phase = WK_KEX_WAIT_NEWKEYS;
    wk_kex_reply_free(c);
    if (c->kex_count == 0 && c->ext_info_c && (rc = send_ext_info(c)) != 0)
        goto fail;
    /* What was held back during the exchange goes out under new keys. */
    if ((rc = wk_flush_deferred(c)) != 0) goto fail;
    return 0;
fail:
    wk_kex_reply_free(c);
    return wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                    "key exchange failed: %s", whelk_strerror(rc));
}

/* Has H signed: by the application when it signs (the one use of a host
 * private key, which then need not be in this process), else with the
 * config's private key. */
static int sign_exchange(whelk_conn *c)
{
    wk_kex_reply *r = c->reply;
    size_t blob_len;
    const uint8_t *blob = whelk_key_blob(c->hostkey, &blob_len);
    if (c->cb.sign) {
        c->sign_pending = 1;
        c->in_sign_cb = 1;
        int rc = c->cb.sign(c, blob, blob_len, c->hostkey_alg, r->h, r->hlen,
                            c->user);
        c->in_sign_cb = 0;
        if (rc < 0 && c->sign_pending) {
            c->sign_pending = 0;
            wk_kex_reply_free(c);
            return wk_fatal(c, WHELK_ERR_CALLBACK,
                            WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                            "host key signature refused by the signer");
        }
        /* Answered already (whelk_conn_sign_done finished the reply), or
         * pending: input waits for the answer. */
        return c->state == WK_ST_CLOSED ? c->err : 0;
    }
    if (!whelk_key_has_private(c->hostkey)) {
        wk_kex_reply_free(c);
        return wk_fatal(c, WHELK_ERR_STATE,
                        WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "no private key and no signer for the host key");
    }
    wk_buf sig;
    wk_buf_init(&sig, 4096);
    int rc = wk_key_sign(c->hostkey, c->hostkey_alg, r->h, r->hlen, &sig);
    if (!rc)
        rc = finish_kex_reply(c, wk_buf_data(&sig) + 4, wk_buf_used(&sig) - 4);
    else
        rc = wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                      "key exchange failed: %s", whelk_strerror(rc));
    wk_buf_free(&sig);
    return rc;
}

int whelk_conn_sign_done(whelk_conn *c, const uint8_t *sig, size_t sig_len,
                         uint64_t now_ms)
{
    c->now_ms = now_ms;
    if (c->state == WK_ST_CLOSED) return c->err ? c->err : WHELK_ERR_CLOSED;
    if (!c->sign_pending) return WHELK_ERR_STATE;
    c->sign_pending = 0;
    /* A signature blob of the negotiated algorithm, or the exchange
     * fails here rather than at the client. */
    wk_reader r;
    const uint8_t *alg, *raw;
    size_t al, rl;
    wk_reader_init(&r, sig, sig ? sig_len : 0);
    if (!sig || wk_get_string(&r, &alg, &al, 64) ||
        wk_get_string(&r, &raw, &rl, 16384) || wk_reader_end(&r) ||
        al != strlen(c->hostkey_alg) || memcmp(alg, c->hostkey_alg, al)) {
        wk_kex_reply_free(c);
        return wk_fatal(c, WHELK_ERR_CALLBACK,
                        WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "the signer gave no %s signature", c->hostkey_alg);
    }
    int rc = finish_kex_reply(c, sig, sig_len);
    if (rc) return rc;
    /* Answered inside the callback, the input loop that called it goes
     * on by itself; answered later, held input is taken up now. */
    return c->in_sign_cb ? 0 : wk_conn_resume_input(c);
}

int wk_kex_on_init_value(whelk_conn *c, const uint8_t *p, size_t n)
{
    wk_reader r;
    const uint8_t *q_c;
    size_t q_c_len;
    uint8_t type;
    wk_reader_init(&r, p, n);
    wk_get_u8(&r, &type);
    int rc = c->kex->value_is_mpint
                 ? wk_get_mpint(&r, &q_c, &q_c_len, 2048)
                 : wk_get_string(&r, &q_c, &q_c_len, 4096);
    if (!rc) rc = wk_reader_end(&r);
    if (rc)
        return wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "malformed key exchange init");
    wk_kex_reply_free(c);
    wk_kex_reply *kr = c->reply = calloc(1, sizeof(*kr));
    if (!kr)
        return wk_fatal(c, WHELK_ERR_NOMEM,
                        WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "key exchange failed: %s",
                        whelk_strerror(WHELK_ERR_NOMEM));
    wk_buf_init(&kr->q_s, 4096);
    wk_buf_init_secret(&kr->k_enc, 4096);
    size_t blob_len;
    const uint8_t *blob = whelk_key_blob(c->hostkey, &blob_len);

    rc = wk_kex_server(c->kex, c->cfg->rand, c->cfg->rand_user, q_c, q_c_len,
                       &kr->q_s, &kr->k_enc);
    if (rc) {
        wk_kex_reply_free(c);
        return wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "key exchange %s failed: invalid client value (%s)",
                        c->kex_name, whelk_strerror(rc));
    }
    rc = wk_kex_hash(c->kex, c->v_c, c->v_s, wk_buf_data(&c->peer_kexinit),
                     wk_buf_used(&c->peer_kexinit),
                     wk_buf_data(&c->my_kexinit),
                     wk_buf_used(&c->my_kexinit), blob, blob_len, q_c,
                     q_c_len, wk_buf_data(&kr->q_s), wk_buf_used(&kr->q_s),
                     wk_buf_data(&kr->k_enc), wk_buf_used(&kr->k_enc), kr->h,
                     &kr->hlen);
    if (rc) {
        wk_kex_reply_free(c);
        return wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "key exchange failed: %s", whelk_strerror(rc));
    }
    if (c->session_id_len == 0) {
        memcpy(c->session_id, kr->h, kr->hlen);
        c->session_id_len = kr->hlen;
    }
    return sign_exchange(c);
}

/* Client: our half of the key agreement, right after negotiation. */
static int client_send_kex_value(whelk_conn *c)
{
    wk_kex_client_free(c->kexc);
    c->kexc = NULL;
    wk_buf_reset(&c->q_c);
    int rc = wk_kex_client_start(c->kex, c->cfg->rand, c->cfg->rand_user,
                                 &c->kexc, &c->q_c);
    wk_msg m;
    wk_buf *b = rc ? NULL : wk_msg_begin(c, &m, SSH_MSG_KEX_ECDH_INIT);
    if (b)
        rc = c->kex->value_is_mpint
                 ? wk_buf_put_mpint(b, wk_buf_data(&c->q_c),
                                    wk_buf_used(&c->q_c))
                 : wk_buf_put_string(b, wk_buf_data(&c->q_c),
                                     wk_buf_used(&c->q_c));
    if (!rc && b) rc = wk_msg_end(c, &m);
    if (rc || !b)
        return wk_fatal(c, rc ? rc : WHELK_ERR_NOMEM,
                        WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "cannot start key exchange");
    return 0;
}

/* Client: the server's reply; verify its host key's signature over H. */
int wk_kex_on_reply(whelk_conn *c, const uint8_t *p, size_t n)
{
    wk_reader r;
    uint8_t type;
    const uint8_t *k_s, *q_s, *sig;
    size_t k_s_len, q_s_len, sig_len;
    wk_reader_init(&r, p, n);
    wk_get_u8(&r, &type);
    int rc = wk_get_string(&r, &k_s, &k_s_len, 16384);
    if (!rc)
        rc = c->kex->value_is_mpint ? wk_get_mpint(&r, &q_s, &q_s_len, 2048)
                                    : wk_get_string(&r, &q_s, &q_s_len, 4096);
    if (!rc) rc = wk_get_string(&r, &sig, &sig_len, 16384);
    if (!rc) rc = wk_reader_end(&r);
    if (rc || !c->kexc)
        return wk_fatal(c, WHELK_ERR_PROTO,
                        WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "malformed key exchange reply");
    wk_buf k_enc;
    wk_buf_init(&k_enc, 4096);
    uint8_t h[64];
    size_t hlen = 0;
    whelk_key *hostkey = NULL;
    rc = wk_kex_client_finish(c->kexc, q_s, q_s_len, &k_enc);
    wk_kex_client_free(c->kexc);
    c->kexc = NULL;
    if (!rc)
        rc = wk_kex_hash(c->kex, c->v_c, c->v_s, wk_buf_data(&c->my_kexinit),
                         wk_buf_used(&c->my_kexinit),
                         wk_buf_data(&c->peer_kexinit),
                         wk_buf_used(&c->peer_kexinit), k_s, k_s_len,
                         wk_buf_data(&c->q_c), wk_buf_used(&c->q_c), q_s,
                         q_s_len, wk_buf_data(&k_enc), wk_buf_used(&k_enc), h,
                         &hlen);
    if (rc) {
        rc = wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                      "key exchange failed: %s", whelk_strerror(rc));
        goto out;
    }
    if (whelk_key_parse_public_blob(k_s, k_s_len, &hostkey) != 0 ||
        !wk_key_sig_alg_ok(hostkey, c->hostkey_alg) ||
        wk_key_verify(hostkey, c->hostkey_alg, h, hlen, sig, sig_len) != 0) {
        rc = wk_fatal(c, WHELK_ERR_HOSTKEY,
                      WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                      "host key signature does not verify");
        goto out;
    }
    if (!c->cb.host_key_check ||
        c->cb.host_key_check(c, hostkey, c->user) < 0) {
        rc = wk_fatal(c, WHELK_ERR_HOSTKEY,
                      WHELK_DISCONNECT_HOST_KEY_NOT_VERIFIABLE,
                      "host key not accepted");
        goto out;
    }
    if (c->session_id_len == 0) {
        memcpy(c->session_id, h, hlen);
        c->session_id_len = hlen;
    }
    wk_msg m;
    if (!wk_msg_begin(c, &m, SSH_MSG_NEWKEYS) || wk_msg_end(c, &m) ||
        derive_keys(c, wk_buf_data(&k_enc), wk_buf_used(&k_enc), h, hlen)) {
        rc = wk_fatal(c, WHELK_ERR_CRYPTO, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                      "cannot install keys");
        goto out;
    }
    if (c->strict) wk_pkt_dir_reset_seq(c->tx);
    c->cur_cipher[1] = c->enc[1]->name;
    c->cur_mac[1] = c->mac[1] ? c->mac[1]->name : "<implicit>";
    c->kex_sent_init = 0;
    c->kex_phase = WK_KEX_WAIT_NEWKEYS;
    rc = wk_flush_deferred(c);
out:
    OPENSSL_cleanse(h, sizeof(h));
    wk_buf_free_secret(&k_enc);
    whelk_key_free(hostkey);
    return rc;
}

int wk_kex_on_newkeys(whelk_conn *c)
{
    int rx_dir = c->is_client ? 1 : 0;
    int rc = wk_pkt_dir_set_keys(c->rx, 0, c->enc[rx_dir], c->mac[rx_dir],
                                 c->rx_key, c->rx_iv, c->rx_mac);
    wipe_keys(c->rx_key, sizeof(c->rx_key), c->rx_iv, sizeof(c->rx_iv),
              c->rx_mac, sizeof(c->rx_mac));
    if (rc)
        return wk_fatal(c, rc, WHELK_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "cannot install keys: %s", whelk_strerror(rc));
    if (c->strict) wk_pkt_dir_reset_seq(c->rx);
    c->cur_kex = c->kex->name;
    snprintf(c->cur_hostkey, sizeof(c->cur_hostkey), "%s", c->hostkey_alg);
    c->cur_cipher[0] = c->enc[0]->name;
    c->cur_mac[0] = c->mac[0] ? c->mac[0]->name : "<implicit>";
    wk_log(c, WHELK_LOG_DEBUG,
           "kex done for %s port %d: %s %s %s %s", c->peer_addr,
           c->peer_port, c->cur_kex, c->cur_hostkey, c->cur_cipher[1],
           c->cur_mac[1]);
    c->kex_phase = WK_KEX_NONE;
    c->kex_got_init = 0;
    c->kex_count++;
    uint64_t t = c->set[WHELK_SET_REKEY_MS];
    c->rekey_at_ms = t ? c->now_ms + t : UINT64_MAX;
    wk_buf_free(&c->peer_kexinit);
    wk_buf_free(&c->my_kexinit);
    /* A client asks for authentication once the first keys are in use. */
    if (c->is_client && c->kex_count == 1) {
        wk_msg m;
        wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_SERVICE_REQUEST);
        if (!b || wk_buf_put_cstring(b, "ssh-userauth")) return WHELK_ERR_NOMEM;
        return wk_msg_end(c, &m);
    }
    /* Channels blocked by the exchange may send again. */
    if (c->authenticated) return wk_chans_pump(c);
    return 0;
}

int whelk_conn_rekey(whelk_conn *c, uint64_t now_ms)
{
    c->now_ms = now_ms;
    if (c->state != WK_ST_PACKETS || c->kex_count == 0) return WHELK_ERR_STATE;
    if (c->kex_phase != WK_KEX_NONE) return 0;
    int rc = wk_kex_send_init(c);
    if (rc)
        return wk_fatal(c, rc, WHELK_DISCONNECT_BY_APPLICATION,
                        "cannot start rekey: %s", whelk_strerror(rc));
    return 0;
}

int wk_kex_maybe_rekey(whelk_conn *c)
{
    if (c->kex_phase != WK_KEX_NONE || c->kex_count == 0) return 0;
    uint64_t limit = c->set[WHELK_SET_REKEY_BYTES];
    if ((limit && (wk_pkt_dir_bytes(c->rx) >= limit ||
                   wk_pkt_dir_bytes(c->tx) >= limit)) ||
        c->now_ms >= c->rekey_at_ms) {
        wk_log(c, WHELK_LOG_DEBUG, "rekeying %s port %d", c->peer_addr,
               c->peer_port);
        return whelk_conn_rekey(c, c->now_ms);
    }
    return 0;
}

