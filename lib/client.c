/*
 * client: the client side of user authentication (RFC 4252, RFC 4256):
 * "none" first to learn the methods, then publickey with the identity
 * (signed at once, no query round trip), password, and
 * keyboard-interactive, each at most once, in that order among the
 * methods the server lists.
 */
#include "conn.h"
#include "callbacks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "key.h"

enum { TRY_NONE, TRY_PUBKEY, TRY_PASSWORD, TRY_KBDINT, TRY_DONE };

struct wk_client_auth {
    char user[256];
    int current;        /* the method whose answer is awaited */
    int tried[TRY_DONE];
};

int wk_client_init(whelk_conn *c, const char *user_name)
{
    if (strlen(user_name) >= sizeof(c->cauth->user)) return WHELK_ERR_INVAL;
    c->cauth = calloc(1, sizeof(*c->cauth));
    if (!c->cauth) return WHELK_ERR_NOMEM;
    snprintf(c->cauth->user, sizeof(c->cauth->user), "%s", user_name);
    return 0;
}

void wk_client_free(whelk_conn *c)
{
    free(c->cauth);
    c->cauth = NULL;
}

static wk_buf *request(whelk_conn *c, wk_msg *m, const char *method)
{
    wk_buf *b = wk_msg_begin(c, m, SSH_MSG_USERAUTH_REQUEST);
    if (!b || wk_buf_put_cstring(b, c->cauth->user) ||
        wk_buf_put_cstring(b, "ssh-connection") ||
        wk_buf_put_cstring(b, method))
        return NULL;
    return b;
}

static const char *sig_alg(const whelk_key *k)
{
    /* RSA keys sign with SHA-512 (RFC 8332); never SHA-1. */
    return whelk_key_type_of(k) == WHELK_KEY_RSA ? "rsa-sha2-512"
                                                 : whelk_key_type_name(k);
}

static int try_publickey(whelk_conn *c)
{
    const whelk_key *k = c->identity;
    const char *alg = sig_alg(k);
    size_t blob_len;
    const uint8_t *blob = whelk_key_blob(k, &blob_len);
    wk_buf sd;
    wk_buf_init(&sd, 32768);
    int rc = wk_buf_put_string(&sd, c->session_id, c->session_id_len);
    if (!rc) rc = wk_buf_put_u8(&sd, SSH_MSG_USERAUTH_REQUEST);
    if (!rc) rc = wk_buf_put_cstring(&sd, c->cauth->user);
    if (!rc) rc = wk_buf_put_cstring(&sd, "ssh-connection");
    if (!rc) rc = wk_buf_put_cstring(&sd, "publickey");
    if (!rc) rc = wk_buf_put_bool(&sd, 1);
    if (!rc) rc = wk_buf_put_cstring(&sd, alg);
    if (!rc) rc = wk_buf_put_string(&sd, blob, blob_len);
    wk_msg m;
    wk_buf *b = rc ? NULL : request(c, &m, "publickey");
    if (b) {
        rc = wk_buf_put_bool(b, 1);
        if (!rc) rc = wk_buf_put_cstring(b, alg);
        if (!rc) rc = wk_buf_put_string(b, blob, blob_len);
        if (!rc) rc = wk_key_sign(k, alg, wk_buf_data(&sd), wk_buf_used(&sd),
                                  b);
        if (!rc) rc = wk_msg_end(c, &m);
    } else if (!rc) {
        rc = WHELK_ERR_NOMEM;
    }
    wk_buf_free(&sd);
    return rc;
}

static int try_password(whelk_conn *c)
{
    char pw[1024];
    if (c->cb.client_password(c, pw, sizeof(pw), c->user) < 0) return 1;
    pw[sizeof(pw) - 1] = 0;
    wk_msg m;
    wk_buf *b = request(c, &m, "password");
    int rc = b ? 0 : WHELK_ERR_NOMEM;
    if (!rc) rc = wk_buf_put_bool(b, 0);
    if (!rc) rc = wk_buf_put_cstring(b, pw);
    OPENSSL_cleanse(pw, sizeof(pw));
    return rc ? rc : wk_msg_end(c, &m);
}

static int try_kbdint(whelk_conn *c)
{
    wk_msg m;
    wk_buf *b = request(c, &m, "keyboard-interactive");
    if (!b || wk_buf_put_cstring(b, "") || wk_buf_put_cstring(b, ""))
        return WHELK_ERR_NOMEM;
    return wk_msg_end(c, &m);
}

/* Picks the next method the server allows and we have not tried. */
static int next_method(whelk_conn *c, const uint8_t *list, size_t len)
{
    struct wk_client_auth *a = c->cauth;
    for (;;) {
        int pick = TRY_DONE;
        if (!a->tried[TRY_PUBKEY] && c->identity &&
            wk_namelist_has(list, len, "publickey"))
            pick = TRY_PUBKEY;
        else if (!a->tried[TRY_PASSWORD] && c->cb.client_password &&
                 wk_namelist_has(list, len, "password"))
            pick = TRY_PASSWORD;
        else if (!a->tried[TRY_KBDINT] && c->cb.client_kbdint &&
                 wk_namelist_has(list, len, "keyboard-interactive"))
            pick = TRY_KBDINT;
        if (pick == TRY_DONE) {
            a->current = TRY_DONE;
            if (c->cb.auth_failed) c->cb.auth_failed(c, c->user);
            return wk_fatal(c, WHELK_ERR_AUTH,
                            WHELK_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE,
                            "no more authentication methods to try");
        }
        a->tried[pick] = 1;
        a->current = pick;
        int rc = pick == TRY_PUBKEY     ? try_publickey(c)
                 : pick == TRY_PASSWORD ? try_password(c)
                                        : try_kbdint(c);
        if (rc != 1) return rc; /* 1: the application declined; go on */
    }
}

int wk_client_start_auth(whelk_conn *c)
{
    wk_msg m;
    c->cauth->current = TRY_NONE;
    if (!request(c, &m, "none")) return WHELK_ERR_NOMEM;
    return wk_msg_end(c, &m);
}

static int on_info_request(whelk_conn *c, const uint8_t *p, size_t n)
{
    wk_reader r;
    uint8_t t;
    const uint8_t *name, *instr, *lang;
    size_t nl, il, ll;
    uint32_t count;
    whelk_kbdint_prompts pr;
    whelk_kbdint_answers answers;
    memset(&pr, 0, sizeof(pr));
    memset(&answers, 0, sizeof(answers));
    wk_reader_init(&r, p, n);
    wk_get_u8(&r, &t);
    /* Names, instructions and prompts become C strings for the
     * application: a NUL inside one would cut it short, so it is
     * refused. */
    char text[WK_KBDINT_MAX_TEXT + 1];
    int rc = wk_get_string(&r, &name, &nl, WK_KBDINT_MAX_TEXT);
    if (!rc) rc = wk_get_string(&r, &instr, &il, WK_KBDINT_MAX_TEXT);
    if (!rc) rc = wk_get_string(&r, &lang, &ll, 64);
    if (!rc) rc = wk_get_u32(&r, &count);
    if (!rc && count > WK_KBDINT_MAX) rc = WHELK_ERR_TOOBIG;
    if (!rc && (memchr(name, 0, nl) || memchr(instr, 0, il)))
        rc = WHELK_ERR_PROTO;
    if (!rc) {
        memcpy(text, name, nl);
        text[nl] = 0;
        rc = whelk_kbdint_prompts_set_name(&pr, text);
    }
    if (!rc) {
        memcpy(text, instr, il);
        text[il] = 0;
        rc = whelk_kbdint_prompts_set_instruction(&pr, text);
    }
    for (uint32_t i = 0; !rc && i < count; i++) {
        int echo;
        rc = wk_get_cstring(&r, text, sizeof(text));
        if (!rc) rc = wk_get_bool(&r, &echo);
        if (!rc) rc = whelk_kbdint_prompts_add(&pr, text, echo);
    }
    if (rc) {
        wk_kbdint_prompts_clear(&pr);
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed keyboard-interactive request");
    }
    /* One empty answer per prompt until the application sets them. */
    for (uint32_t i = 0; !rc && i < count; i++)
        rc = wk_kbdint_answers_put(&answers, i, "", 0);
    if (!rc && c->cb.client_kbdint(c, &pr, &answers, c->user) < 0)
        count = 0;
    wk_kbdint_prompts_clear(&pr);
    wk_msg m;
    wk_buf *b = rc ? NULL : wk_msg_begin(c, &m, SSH_MSG_USERAUTH_INFO_RESPONSE);
    if (!rc) rc = b ? wk_buf_put_u32(b, count) : WHELK_ERR_NOMEM;
    for (uint32_t i = 0; !rc && i < count; i++)
        rc = wk_buf_put_string(b, answers.answer[i], answers.len[i]);
    wk_kbdint_answers_clear(&answers);
    return rc ? rc : wk_msg_end(c, &m);
}

int wk_client_auth_dispatch(whelk_conn *c, uint8_t type,
                            const uint8_t *payload, size_t len)
{
    struct wk_client_auth *a = c->cauth;
    wk_reader r;
    uint8_t t;
    wk_reader_init(&r, payload, len);
    wk_get_u8(&r, &t);
    switch (type) {
    case SSH_MSG_USERAUTH_SUCCESS: {
        int rc = wk_conn_set_authenticated(c, a->user);
        if (rc) return rc;
        if (c->cb.authenticated) {
            static const char *names[] = {"none", "publickey", "password",
                                          "keyboard-interactive", "none"};
            c->cb.authenticated(c, a->user, names[a->current], c->user);
        }
        return 0;
    }
    case SSH_MSG_USERAUTH_FAILURE: {
        const uint8_t *list;
        size_t ll;
        int partial;
        if (wk_get_string(&r, &list, &ll, 1024) || wk_get_bool(&r, &partial))
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "malformed authentication failure");
        return next_method(c, list, ll);
    }
    case SSH_MSG_USERAUTH_BANNER: {
        const uint8_t *text;
        size_t tl;
        char esc[512];
        if (wk_get_string(&r, &text, &tl, 64 * 1024) == 0) {
            whelk_escape(esc, sizeof(esc), text, tl);
            wk_log(c, WHELK_LOG_INFO, "banner: %s", esc);
        }
        return 0;
    }
    case SSH_MSG_USERAUTH_PK_OK: /* 60: INFO_REQUEST or PASSWD_CHANGEREQ */
        if (a->current == TRY_KBDINT)
            return on_info_request(c, payload, len);
        /* A password change request: not supported, so the method fails
         * and the next one is tried with the last list. */
        return wk_fatal(c, WHELK_ERR_AUTH, WHELK_DISCONNECT_BY_APPLICATION,
                        "server asks for a password change");
    default:
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "unexpected authentication message %u", type);
    }
}
