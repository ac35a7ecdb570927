/*
 * auth: the server side of SSH user authentication (RFC 4252), with the
 * publickey (section 7), password (section 8) and keyboard-interactive
 * (RFC 4256) methods.
 *
 * Decisions belong to the application (the server callbacks); this
 * module parses requests, checks publickey signatures over the exact
 * bytes of RFC 4252 section 7, counts failures, delays failure replies
 * without blocking other connections (a timer, not a sleep), and reports
 * every result as a typed event (invalid user, success, failure, limit)
 * for the application to log in its words: whelkd uses sshd's, so
 * existing brute-force blockers work.
 */
#include "conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "callbacks.h"
#include "key.h"

#define MAX_USER 256        /* longer user names are refused */
#define MAX_PASSWORD 1024

enum wait_kind {
    WAIT_NONE,
    WAIT_DECISION,   /* the application answered WHELK_AUTH_PENDING */
    WAIT_DELAY,      /* a failure reply is held until delay_until */
    WAIT_USER        /* user_valid answered later; the request is held */
};

/* How a failure is answered. */
enum fail_kind {
    FAIL_LOGGED,     /* a wrong credential: logged, the full delay */
    FAIL_QUIET,      /* a rejected key offer or unknown method: counted,
                      * answered after the short minimum time */
    FAIL_NONE        /* "none" after the first request: counted only */
};

/* As sshd's ensure_minimum_time_since: a failure is answered no sooner
 * than its minimum time after the request arrived, so the work behind
 * the answer (a crypt, a key file read, a user look-up) is hidden in
 * it; when the work took longer, the minimum is doubled until it is in
 * the future again, unless the request is older than this. */
#define MAX_FAIL_DELAY_MS 5000
#define QUERY_SPREAD_MS 5   /* per-connection extra 0..4 ms, as sshd's
                             * per-user 0..4.2 ms */

enum method { M_NONE, M_PUBKEY, M_PASSWORD, M_KBDINT };

/* keyboard-interactive rounds per request at most (a PAM stack that
 * changes a password asks four or five times). */
#define KBD_MAX_ROUNDS 8

struct wk_auth {
    char user[MAX_USER + 1];     /* raw name the client sent */
    char user_log[MAX_USER * 4 + 1]; /* escaped copy for log lines */
    int have_user;
    int user_valid;
    int user_answered;           /* the application said valid or not */
    unsigned failures;
    int banner_sent;
    int wait;
    uint64_t delay_until;
    /* What the pending decision was about, to finish it later. */
    int pending_method;
    int pending_is_query;
    whelk_key *key;              /* of the publickey attempt in hand */
    wk_buf pk_alg, pk_blob;      /* for PK_OK after a pending query */
    /* keyboard-interactive */
    int kbd_active;
    int kbd_prompts_later;       /* the prompts callback said PENDING */
    unsigned kbd_round;
    unsigned kbd_count;
    /* A failure reply waiting for the delay to pass. */
    int delayed_failure;
    /* Requests seen, for sshd's rules: the first fixes user and
     * service, and only a first "none" goes uncounted. */
    unsigned attempts;
    char service[65];
    uint64_t req_start;          /* arrival of the request in hand */
    unsigned query_spread_ms;
    /* The request held while user_valid is pending (it may carry a
     * password: wiped when done). */
    wk_buf held;
    /* AuthenticationMethods: the chains, the steps done in each, and the
     * keys that already counted (sshd lets no key count twice). */
    wk_auth_chains chains;
    uint8_t done[WK_AUTH_MAX_CHAINS];
    char used_keys[WK_AUTH_MAX_STEPS][64];
    unsigned n_used_keys;
};

int wk_auth_init(whelk_conn *c)
{
    c->auth = calloc(1, sizeof(*c->auth));
    if (!c->auth) return WHELK_ERR_NOMEM;
    wk_buf_init(&c->auth->pk_alg, 64);
    wk_buf_init(&c->auth->pk_blob, 16384);
    wk_buf_init(&c->auth->held, WK_MAX_PACKET_LEN);
    c->auth->chains = c->cfg->chains;
    uint8_t r = 0;
    if (wk_rand(c, &r, 1) == 0) c->auth->query_spread_ms = r % QUERY_SPREAD_MS;
    return 0;
}

void wk_auth_free(whelk_conn *c)
{
    if (!c->auth) return;
    wk_buf_free(&c->auth->pk_alg);
    wk_buf_free(&c->auth->pk_blob);
    wk_buf_free_secret(&c->auth->held);
    whelk_key_free(c->auth->key);
    OPENSSL_cleanse(c->auth, sizeof(*c->auth));
    free(c->auth);
    c->auth = NULL;
}

const char *wk_auth_user(const whelk_conn *c)
{
    return c->auth && c->auth->have_user ? c->auth->user : NULL;
}

int wk_auth_user_invalid(const whelk_conn *c)
{
    return c->auth && c->auth->have_user && c->auth->user_answered &&
           !c->auth->user_valid;
}

int wk_auth_blocked(const whelk_conn *c)
{
    return c->auth && c->auth->wait != WAIT_NONE;
}

uint64_t wk_auth_expiry(const whelk_conn *c)
{
    if (c->auth && c->auth->wait == WAIT_DELAY) return c->auth->delay_until;
    return UINT64_MAX;
}

/* The methods a request may use now: those enabled, and with
 * AuthenticationMethods only the next step of a chain. */
static uint64_t methods_allowed(const whelk_conn *c)
{
    const wk_auth *a = c->auth;
    return c->set[WHELK_SET_AUTH_METHODS] &
           wk_auth_chains_next(&a->chains, a->done);
}

static int send_failure_partial(whelk_conn *c, int partial)
{
    char names[64];
    wk_auth_methods_list(methods_allowed(c), names, sizeof(names));
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_USERAUTH_FAILURE);
    if (!b || wk_buf_put_cstring(b, names) || wk_buf_put_bool(b, partial))
        return WHELK_ERR_NOMEM;
    return wk_msg_end(c, &m);
}

static int send_failure(whelk_conn *c)
{
    return send_failure_partial(c, 0);
}

int whelk_conn_set_auth_chains(whelk_conn *c, const char *lists)
{
    if (!c->auth || c->authenticated) return WHELK_ERR_STATE;
    wk_auth_chains ch;
    int rc = wk_auth_chains_parse(lists, &ch);
    if (rc) return rc;
    c->auth->chains = ch;
    memset(c->auth->done, 0, sizeof(c->auth->done));
    return 0;
}

static const char *method_log_name(int method)
{
    switch (method) {
    case M_PUBKEY: return "publickey";
    case M_PASSWORD: return "password";
    case M_KBDINT: return "keyboard-interactive";
    }
    return "none";
}

/* Reports an attempt's result: the key goes with publickey ones. */
static void attempt_event(whelk_conn *c, whelk_event_type type, int method)
{
    wk_auth *a = c->auth;
    whelk_event ev = {.type = type,
                      .user = a->user,
                      .method = method_log_name(method),
                      .key = method == M_PUBKEY ? a->key : NULL,
                      .invalid_user = !a->user_valid};
    wk_event(c, &ev);
}

static uint8_t method_bit(int method)
{
    switch (method) {
    case M_PUBKEY: return WHELK_AUTH_METHOD_PUBLICKEY;
    case M_PASSWORD: return WHELK_AUTH_METHOD_PASSWORD;
    case M_KBDINT: return WHELK_AUTH_METHOD_KBDINT;
    }
    return 0;
}

/* With AuthenticationMethods, a publickey step counts a key only once. */
static int key_used(const wk_auth *a, const char *fp)
{
    for (unsigned i = 0; i < a->n_used_keys; i++)
        if (!strcmp(a->used_keys[i], fp)) return 1;
    return 0;
}

static int succeed(whelk_conn *c, int method)
{
    wk_auth *a = c->auth;
    if (!wk_auth_chains_advance(&a->chains, a->done, method_bit(method))) {
        /* One step of a chain: partial success, the next steps named. */
        attempt_event(c, WHELK_EVENT_AUTH_PARTIAL, method);
        if (method == M_PUBKEY && a->key &&
            a->n_used_keys < WK_AUTH_MAX_STEPS &&
            whelk_key_fingerprint(a->key, a->used_keys[a->n_used_keys],
                                  sizeof(a->used_keys[0])) == 0)
            a->n_used_keys++;
        a->wait = WAIT_NONE;
        return send_failure_partial(c, 1);
    }
    attempt_event(c, WHELK_EVENT_AUTH_SUCCESS, method);
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_USERAUTH_SUCCESS);
    if (!b) return WHELK_ERR_NOMEM;
    int rc = wk_msg_end(c, &m);
    if (rc) return rc;
    if ((rc = wk_conn_set_authenticated(c, a->user)) != 0) return rc;
    a->wait = WAIT_NONE;
    if (c->cb.authenticated)
        c->cb.authenticated(c, a->user, method_log_name(method), c->user);
    /* Nothing of the authentication state is needed any more. */
    wk_auth_free(c);
    return 0;
}

/* When the failure for the request in hand may be answered (sshd's
 * ensure_minimum_time_since), 0 for at once. */
static uint64_t answer_time(const whelk_conn *c, uint64_t min_ms)
{
    const wk_auth *a = c->auth;
    uint64_t now = c->now_ms, start = a->req_start;
    if (min_ms == 0 || start > now || now - start > MAX_FAIL_DELAY_MS)
        return 0;
    while (start + min_ms <= now) min_ms *= 2;
    return start + min_ms;
}

/* A counted failure: logged or not, then answered after its minimum
 * time; past the limit the connection ends instead. */
static int fail(whelk_conn *c, int method, int kind)
{
    wk_auth *a = c->auth;
    a->failures++;
    if (kind == FAIL_LOGGED) attempt_event(c, WHELK_EVENT_AUTH_FAILURE, method);
    if (a->failures > c->set[WHELK_SET_MAX_AUTH_TRIES]) {
        attempt_event(c, WHELK_EVENT_AUTH_LIMIT, method);
        return wk_fatal(c, WHELK_ERR_AUTH,
                        WHELK_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE,
                        "Too many authentication failures");
    }
    uint64_t min = 0;
    if (kind == FAIL_LOGGED)
        min = c->set[WHELK_SET_AUTH_FAIL_DELAY_MS];
    else if (kind == FAIL_QUIET && c->set[WHELK_SET_AUTH_QUERY_DELAY_MS])
        min = c->set[WHELK_SET_AUTH_QUERY_DELAY_MS] + a->query_spread_ms;
    uint64_t at = answer_time(c, min);
    if (at == 0) return send_failure(c);
    a->wait = WAIT_DELAY;
    a->delay_until = at;
    a->delayed_failure = 1;
    return 0;
}

int wk_auth_handle_expiry(whelk_conn *c, uint64_t now)
{
    wk_auth *a = c->auth;
    if (!a || a->wait != WAIT_DELAY || now < a->delay_until) return 0;
    a->wait = WAIT_NONE;
    if (a->delayed_failure) {
        a->delayed_failure = 0;
        return send_failure(c);
    }
    return 0;
}

int whelk_conn_send_auth_banner(whelk_conn *c, const char *text)
{
    if (!c->auth || !c->auth->have_user || !text ||
        c->state == WK_ST_CLOSED)
        return WHELK_ERR_STATE;
    if (strlen(text) > 65536) return WHELK_ERR_TOOBIG;
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_USERAUTH_BANNER);
    if (!b || wk_buf_put_cstring(b, text) || wk_buf_put_cstring(b, ""))
        return WHELK_ERR_NOMEM;
    return wk_msg_end(c, &m);
}

static int send_banner_once(whelk_conn *c)
{
    wk_auth *a = c->auth;
    const char *banner = wk_conn_banner(c);
    if (a->banner_sent || !banner || !*banner) return 0;
    a->banner_sent = 1;
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_USERAUTH_BANNER);
    if (!b || wk_buf_put_cstring(b, banner) ||
        wk_buf_put_cstring(b, ""))
        return WHELK_ERR_NOMEM;
    return wk_msg_end(c, &m);
}

static int send_pk_ok(whelk_conn *c, const uint8_t *alg, size_t alg_len,
                      const uint8_t *blob, size_t blob_len)
{
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_USERAUTH_PK_OK);
    if (!b || wk_buf_put_string(b, alg, alg_len) ||
        wk_buf_put_string(b, blob, blob_len))
        return WHELK_ERR_NOMEM;
    return wk_msg_end(c, &m);
}

/* Applies a decision to the request it answers. */
static int finish_decision(whelk_conn *c, int method, int is_query,
                           whelk_auth_result res)
{
    wk_auth *a = c->auth;
    if (res == WHELK_AUTH_PENDING) {
        a->wait = WAIT_DECISION;
        a->pending_method = method;
        a->pending_is_query = is_query;
        return 0;
    }
    int allow = res == WHELK_AUTH_ALLOW && a->user_valid;
    if (is_query) {
        /* A rejected key offer counts (as in sshd) but is neither logged
         * as a failure nor delayed: clients offer several keys. */
        if (allow)
            return send_pk_ok(c, wk_buf_data(&a->pk_alg),
                              wk_buf_used(&a->pk_alg),
                              wk_buf_data(&a->pk_blob),
                              wk_buf_used(&a->pk_blob));
        return fail(c, method, FAIL_QUIET);
    }
    if (allow) return succeed(c, method);
    return fail(c, method, FAIL_LOGGED);
}

static int kbdint_round(whelk_conn *c);

int whelk_conn_auth_done(whelk_conn *c, whelk_auth_result result,
                         uint64_t now_ms)
{
    c->now_ms = now_ms;
    wk_auth *a = c->auth;
    if (a && a->wait == WAIT_USER && result != WHELK_AUTH_PENDING)
        return whelk_conn_user_done(c, result == WHELK_AUTH_ALLOW
                                           ? WHELK_USER_VALID
                                           : WHELK_USER_UNKNOWN,
                                    now_ms);
    if (!a || a->wait != WAIT_DECISION || result == WHELK_AUTH_PENDING)
        return WHELK_ERR_STATE;
    if (result == WHELK_AUTH_MORE && a->pending_method != M_KBDINT)
        return WHELK_ERR_STATE;
    a->wait = WAIT_NONE;
    int later = a->kbd_prompts_later;
    a->kbd_prompts_later = 0;
    int rc;
    if (result == WHELK_AUTH_MORE) {
        /* Another round: the same one when its prompts were pending. */
        if (!later && a->kbd_round >= KBD_MAX_ROUNDS) {
            rc = finish_decision(c, M_KBDINT, 0, WHELK_AUTH_DENY);
        } else {
            if (!later) a->kbd_round++;
            rc = kbdint_round(c);
        }
    } else {
        rc = finish_decision(c, a->pending_method, a->pending_is_query,
                             result);
    }
    if (rc) return wk_end_if_fatal(c, rc);
    /* Input that arrived meanwhile is processed now (success freed the
     * authentication state, so the core looks again). */
    return wk_conn_resume_input(c);
}

/* RFC 4252 section 7: the bytes a publickey signature covers. */
static int build_signed_data(whelk_conn *c, wk_buf *out, const uint8_t *user,
                             size_t user_len, const uint8_t *service,
                             size_t service_len, const uint8_t *alg,
                             size_t alg_len, const uint8_t *blob,
                             size_t blob_len)
{
    int rc = wk_buf_put_string(out, c->session_id, c->session_id_len);
    if (!rc) rc = wk_buf_put_u8(out, SSH_MSG_USERAUTH_REQUEST);
    if (!rc) rc = wk_buf_put_string(out, user, user_len);
    if (!rc) rc = wk_buf_put_string(out, service, service_len);
    if (!rc) rc = wk_buf_put_cstring(out, "publickey");
    if (!rc) rc = wk_buf_put_bool(out, 1);
    if (!rc) rc = wk_buf_put_string(out, alg, alg_len);
    if (!rc) rc = wk_buf_put_string(out, blob, blob_len);
    return rc;
}

static int do_publickey(whelk_conn *c, wk_reader *r, const uint8_t *user,
                        size_t user_len, const uint8_t *service,
                        size_t service_len)
{
    wk_auth *a = c->auth;
    int has_sig;
    const uint8_t *alg, *blob, *sig = NULL;
    size_t alg_len, blob_len, sig_len = 0;
    int rc = wk_get_bool(r, &has_sig);
    if (!rc) rc = wk_get_string(r, &alg, &alg_len, 64);
    if (!rc) rc = wk_get_string(r, &blob, &blob_len, 16384);
    if (!rc && has_sig) rc = wk_get_string(r, &sig, &sig_len, 16384);
    if (!rc) rc = wk_reader_end(r);
    if (rc)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed publickey request");
    char algname[65];
    memcpy(algname, alg, alg_len);
    algname[alg_len] = 0;
    if (memchr(alg, 0, alg_len)) algname[0] = 0;

    whelk_key_free(a->key);
    a->key = NULL;
    if (whelk_key_parse_public_blob(blob, blob_len, &a->key) != 0 ||
        !wk_key_sig_alg_ok(a->key, algname) ||
        (c->cfg->pubkey_algs &&
         !wk_namelist_has((const uint8_t *)c->cfg->pubkey_algs,
                          strlen(c->cfg->pubkey_algs), algname))) {
        char esc[80];
        whelk_escape(esc, sizeof(esc), alg, alg_len);
        wk_log(c, WHELK_LOG_INFO,
               "refusing publickey of type %s for %s from %s port %d",
               esc, a->user_log, c->peer_addr, c->peer_port);
        return fail(c, M_PUBKEY, FAIL_QUIET);
    }
    /* The key stays in |a| while the decision is pending: the event
     * reporting it may come after this returns. */
    const whelk_key *key = a->key;
    if (a->n_used_keys) {
        char fp[64];
        if (whelk_key_fingerprint(key, fp, sizeof(fp)) == 0 &&
            key_used(a, fp)) {
            wk_log(c, WHELK_LOG_INFO,
                   "refusing previously-used %s key for %s from %s port %d",
                   whelk_key_short_name(key), a->user_log, c->peer_addr,
                   c->peer_port);
            return fail(c, M_PUBKEY, FAIL_QUIET);
        }
    }
    wk_buf signed_data;
    wk_buf_init(&signed_data, 32768);
    if (has_sig) {
        rc = build_signed_data(c, &signed_data, user, user_len, service,
                               service_len, alg, alg_len, blob, blob_len);
        if (rc) goto out;
        if (wk_key_verify(key, algname, wk_buf_data(&signed_data),
                          wk_buf_used(&signed_data), sig, sig_len) != 0) {
            char fp[80] = "?";
            whelk_key_fingerprint(key, fp, sizeof(fp));
            wk_log(c, WHELK_LOG_INFO,
                   "bad signature from %s %s for %s from %s port %d",
                   whelk_key_short_name(key), fp, a->user_log, c->peer_addr,
                   c->peer_port);
            rc = fail(c, M_PUBKEY, FAIL_LOGGED);
            goto out;
        }
    } else {
        wk_buf_reset(&a->pk_alg);
        wk_buf_reset(&a->pk_blob);
        if ((rc = wk_buf_put(&a->pk_alg, alg, alg_len)) != 0 ||
            (rc = wk_buf_put(&a->pk_blob, blob, blob_len)) != 0)
            goto out;
    }
    whelk_auth_result res = WHELK_AUTH_DENY;
    if (c->cb.auth_publickey) {
        whelk_pubkey_request req = {
            .user = a->user,
            .algorithm = algname,
            .key = key,
            .blob = blob,
            .blob_len = blob_len,
            .signature = sig,
            .signature_len = sig_len,
            .signed_data = has_sig ? wk_buf_data(&signed_data) : NULL,
            .signed_data_len = has_sig ? wk_buf_used(&signed_data) : 0,
        };
        res = c->cb.auth_publickey(c, &req, c->user);
    }
    rc = finish_decision(c, M_PUBKEY, !has_sig, res);
out:
    wk_buf_free(&signed_data);
    return rc;
}

static int do_password(whelk_conn *c, wk_reader *r)
{
    wk_auth *a = c->auth;
    int change;
    const uint8_t *pw;
    size_t pw_len;
    int rc = wk_get_bool(r, &change);
    if (!rc) rc = wk_get_string(r, &pw, &pw_len, MAX_PASSWORD);
    if (rc)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed password request");
    /* A password change request is answered as a failure. */
    if (change) return fail(c, M_PASSWORD, FAIL_LOGGED);
    char *copy = malloc(pw_len + 1);
    if (!copy) return WHELK_ERR_NOMEM;
    memcpy(copy, pw, pw_len);
    copy[pw_len] = 0;
    whelk_auth_result res = WHELK_AUTH_DENY;
    if (c->cb.auth_password && !memchr(pw, 0, pw_len))
        res = c->cb.auth_password(c, a->user, copy, pw_len, c->user);
    whelk_free_secret(copy, pw_len + 1);
    return finish_decision(c, M_PASSWORD, 0, res);
}

static int send_info_request(whelk_conn *c, const whelk_kbdint_prompts *pr)
{
    wk_msg m;
    wk_buf *b = wk_msg_begin(c, &m, SSH_MSG_USERAUTH_PK_OK); /* 60 */
    if (!b) return WHELK_ERR_NOMEM;
    int rc = wk_buf_put_cstring(b, whelk_kbdint_prompts_name(pr));
    if (!rc) rc = wk_buf_put_cstring(b, whelk_kbdint_prompts_instruction(pr));
    if (!rc) rc = wk_buf_put_cstring(b, "");
    if (!rc) rc = wk_buf_put_u32(b, pr->count);
    for (unsigned i = 0; !rc && i < pr->count; i++) {
        rc = wk_buf_put_cstring(b, pr->prompt[i]);
        if (!rc) rc = wk_buf_put_bool(b, pr->echo[i]);
    }
    return rc ? rc : wk_msg_end(c, &m);
}

static int kbdint_round(whelk_conn *c)
{
    wk_auth *a = c->auth;
    whelk_kbdint_prompts pr;
    memset(&pr, 0, sizeof(pr));
    int rc = 0;
    int got = c->cb.auth_kbdint_prompts
                  ? c->cb.auth_kbdint_prompts(c, a->user, a->kbd_round, &pr,
                                              c->user)
                  : -1;
    if (got == WHELK_AUTH_PENDING) {
        /* The prompts come later (whelk_conn_auth_done, MORE). */
        wk_kbdint_prompts_clear(&pr);
        a->kbd_active = 0;
        a->kbd_prompts_later = 1;
        return finish_decision(c, M_KBDINT, 0, WHELK_AUTH_PENDING);
    }
    if (got < 0) {
        a->kbd_active = 0;
        rc = fail(c, M_KBDINT, FAIL_LOGGED);
    } else {
        a->kbd_active = 1;
        a->kbd_count = pr.count;
        rc = send_info_request(c, &pr);
    }
    wk_kbdint_prompts_clear(&pr);
    return rc;
}

static int on_info_response(whelk_conn *c, const uint8_t *p, size_t n)
{
    wk_auth *a = c->auth;
    if (!a->kbd_active)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "unexpected keyboard-interactive response");
    wk_reader r;
    uint8_t type;
    uint32_t count;
    wk_reader_init(&r, p, n);
    wk_get_u8(&r, &type);
    int rc = wk_get_u32(&r, &count);
    if (rc || count != a->kbd_count)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed keyboard-interactive response");
    whelk_kbdint_answers answers;
    memset(&answers, 0, sizeof(answers));
    for (uint32_t i = 0; i < count && rc == 0; i++) {
        const uint8_t *s;
        size_t sl;
        if ((rc = wk_get_string(&r, &s, &sl, MAX_PASSWORD)) != 0) break;
        if (memchr(s, 0, sl)) { rc = WHELK_ERR_PROTO; break; }
        rc = wk_kbdint_answers_put(&answers, i, (const char *)s, sl);
    }
    if (!rc) rc = wk_reader_end(&r);
    if (rc == 0) {
        int more = 0;
        whelk_auth_result res = WHELK_AUTH_DENY;
        a->kbd_active = 0;
        if (c->cb.auth_kbdint_answers)
            res = c->cb.auth_kbdint_answers(c, a->user, a->kbd_round,
                                            &answers, &more, c->user);
        if (res == WHELK_AUTH_DENY && more && a->kbd_round < KBD_MAX_ROUNDS) {
            a->kbd_round++;
            rc = kbdint_round(c);
        } else {
            rc = finish_decision(c, M_KBDINT, 0, res);
        }
    } else if (!whelk_err_is_fatal(rc)) {
        rc = wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                      "malformed keyboard-interactive response");
    }
    wk_kbdint_answers_clear(&answers);
    return rc;
}

/* The application's answer about the request's user name. */
static void user_answer(whelk_conn *c, int answer)
{
    wk_auth *a = c->auth;
    a->user_valid = answer != 0 && answer != WHELK_USER_REFUSED;
    a->user_answered = 1;
    /* A refused user exists but may not log in; the application logged
     * why (sshd: "User x not allowed because ..."), and the attempts
     * fail like an unknown user's. */
    if (answer == 0) {
        whelk_event ev = {.type = WHELK_EVENT_INVALID_USER, .user = a->user};
        wk_event(c, &ev);
    }
}

/* The first request names the user; asks the application about it.
 * Returns 1 when the answer comes later (the request is then held). */
static int first_user(whelk_conn *c, const uint8_t *payload, size_t plen,
                      const uint8_t *user, size_t len)
{
    wk_auth *a = c->auth;
    memcpy(a->user, user, len);
    a->user[len] = 0;
    whelk_escape(a->user_log, sizeof(a->user_log), user, len);
    a->have_user = 1;
    if (memchr(user, 0, len) || len == 0) {
        user_answer(c, 0);
        return 0;
    }
    int answer = c->cb.user_valid ? c->cb.user_valid(c, a->user, c->user) : 1;
    if (answer == WHELK_USER_PENDING) {
        wk_buf_reset(&a->held);
        if (wk_buf_put(&a->held, payload, plen) != 0) {
            user_answer(c, 0);
            return 0;
        }
        a->wait = WAIT_USER;
        return 1;
    }
    user_answer(c, answer);
    return 0;
}

/* One USERAUTH_REQUEST. |resumed| when it was held for the user
 * look-up and is now taken up again. */
static int on_request(whelk_conn *c, const uint8_t *payload, size_t len,
                      int resumed)
{
    wk_auth *a = c->auth;
    wk_reader r;
    uint8_t t;
    const uint8_t *user, *service, *method;
    size_t user_len, service_len, method_len;
    wk_reader_init(&r, payload, len);
    wk_get_u8(&r, &t);
    int rc = wk_get_string(&r, &user, &user_len, MAX_USER);
    if (rc == WHELK_ERR_TOOBIG)
        return wk_fatal(c, rc, WHELK_DISCONNECT_ILLEGAL_USER_NAME,
                        "user name too long");
    if (!rc) rc = wk_get_string(&r, &service, &service_len, 64);
    if (!rc) rc = wk_get_string(&r, &method, &method_len, 64);
    if (rc)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "malformed authentication request");
    if (service_len != 14 || memcmp(service, "ssh-connection", 14) != 0)
        return wk_fatal(c, WHELK_ERR_PROTO,
                        WHELK_DISCONNECT_SERVICE_NOT_AVAILABLE,
                        "requested service not available");
    if (!resumed) {
        a->req_start = c->now_ms;
        if (a->attempts < UINT32_MAX) a->attempts++;
        if (!a->have_user) {
            memcpy(a->service, service, service_len);
            a->service[service_len] = 0;
            if (first_user(c, payload, len, user, user_len)) return 0;
        } else if (strlen(a->user) != user_len ||
                   memcmp(a->user, user, user_len) != 0 ||
                   strlen(a->service) != service_len ||
                   memcmp(a->service, service, service_len) != 0) {
            /* sshd's rule: one user and one service per connection, so a
             * peer cannot make the server look up name after name. */
            char u2[MAX_USER * 4 + 1], s2[64 * 4 + 1], s1[64 * 4 + 1];
            whelk_escape(u2, sizeof(u2), user, user_len);
            whelk_escape(s2, sizeof(s2), service, service_len);
            whelk_escape(s1, sizeof(s1), a->service, strlen(a->service));
            return wk_fatal(c, WHELK_ERR_PROTO,
                            WHELK_DISCONNECT_PROTOCOL_ERROR,
                            "Change of username or service not allowed: "
                            "(%s,%s) -> (%s,%s)",
                            a->user_log, s1, u2, s2);
        }
    }
    /* A new request abandons an unfinished keyboard-interactive one. */
    a->kbd_active = 0;
    if ((rc = send_banner_once(c)) != 0) return rc;

    uint64_t allowed = methods_allowed(c);
#define IS(name) (method_len == strlen(name) && !memcmp(method, name, \
                                                         method_len))
    if (IS("publickey") && (allowed & WHELK_AUTH_METHOD_PUBLICKEY))
        return do_publickey(c, &r, user, user_len, service, service_len);
    if (IS("password") && (allowed & WHELK_AUTH_METHOD_PASSWORD))
        return do_password(c, &r);
    if (IS("keyboard-interactive") && (allowed & WHELK_AUTH_METHOD_KBDINT)) {
        a->kbd_round = 0;
        return kbdint_round(c);
    }
    /* As in sshd, only a first "none" (the client asking which methods
     * there are) is free; any later one counts. */
    if (IS("none"))
        return a->attempts == 1 ? send_failure(c) : fail(c, M_NONE, FAIL_NONE);
#undef IS
    /* An unknown or disabled method: a failure that counts. */
    return fail(c, M_NONE, FAIL_QUIET);
}

int wk_auth_dispatch(whelk_conn *c, uint8_t type, const uint8_t *payload,
                     size_t len)
{
    if (type == SSH_MSG_USERAUTH_INFO_RESPONSE)
        return on_info_response(c, payload, len);
    if (type != SSH_MSG_USERAUTH_REQUEST)
        return wk_fatal(c, WHELK_ERR_PROTO, WHELK_DISCONNECT_PROTOCOL_ERROR,
                        "unexpected authentication message %u", type);
    return on_request(c, payload, len, 0);
}

int whelk_conn_user_done(whelk_conn *c, int answer, uint64_t now_ms)
{
    c->now_ms = now_ms;
    wk_auth *a = c->auth;
    if (c->state == WK_ST_CLOSED) return c->err ? c->err : WHELK_ERR_CLOSED;
    if (!a || a->wait != WAIT_USER || answer == WHELK_USER_PENDING)
        return WHELK_ERR_STATE;
    a->wait = WAIT_NONE;
    user_answer(c, answer);
    int rc = on_request(c, wk_buf_data(&a->held), wk_buf_used(&a->held), 1);
    /* Success frees the authentication state. */
    if (c->auth) wk_buf_free_secret(&c->auth->held);
    if (rc) return wk_end_if_fatal(c, rc);
    return wk_conn_resume_input(c);
}
