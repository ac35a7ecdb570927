/*
 * callbacks: what the application gave the engine to call, and the opaque
 * values the engine hands to those calls.
 *
 * The public objects (whelk_server_callbacks, whelk_client_callbacks,
 * whelk_session_handler) each wrap one of the plain tables below and are
 * filled with setters, so a callback added later never moves another:
 * binaries built against an older header keep working (nghttp2's
 * pattern). A connection copies its table; a session copies its handler.
 */
#ifndef WHELK_CALLBACKS_H
#define WHELK_CALLBACKS_H

#include "whelk/whelk.h"

/* Both roles' callbacks in one table; a role's setters fill only its own
 * members, so the other role's stay NULL. */
typedef struct wk_callbacks {
    whelk_log_cb log;
    whelk_event_cb event;
    whelk_authenticated_cb authenticated;
    whelk_channel_open_cb channel_open;
    whelk_global_request_cb global_request;
    whelk_global_reply_cb global_reply;
    /* Server role. */
    whelk_user_lookup_cb user_valid;
    whelk_auth_publickey_cb auth_publickey;
    whelk_auth_password_cb auth_password;
    whelk_auth_kbdint_prompts_cb auth_kbdint_prompts;
    whelk_auth_kbdint_answers_cb auth_kbdint_answers;
    whelk_session_open_cb session_open;
    whelk_sign_cb sign;
    /* Client role. */
    whelk_host_key_check_cb host_key_check;
    whelk_client_password_cb client_password;
    whelk_client_kbdint_cb client_kbdint;
    whelk_auth_failed_cb auth_failed;
} wk_callbacks;

struct whelk_server_callbacks {
    wk_callbacks cb;
};

struct whelk_client_callbacks {
    wk_callbacks cb;
};

typedef struct wk_session_handler {
    whelk_pty_req_cb pty_req;
    whelk_env_cb env;
    whelk_shell_cb shell;
    whelk_exec_cb exec;
    whelk_subsystem_cb subsystem;
    whelk_window_change_cb window_change;
    whelk_signal_cb signal;
    whelk_break_cb brk;
    whelk_xon_xoff_cb xon_xoff;
    whelk_data_cb data;
    whelk_extended_data_cb extended_data;
    whelk_eof_cb eof;
    whelk_closed_cb closed;
    whelk_flow_cb stop_writing;
    whelk_flow_cb start_writing;
    whelk_agent_req_cb agent_req;
    whelk_x11_req_cb x11_req;
} wk_session_handler;

struct whelk_session_handler {
    wk_session_handler h;
};

typedef struct wk_channel_handler {
    whelk_channel_opened_cb opened;
    whelk_channel_data_cb data;
    whelk_channel_cb eof;
    whelk_channel_cb closed;
    whelk_channel_cb stop_writing;
    whelk_channel_cb start_writing;
} wk_channel_handler;

struct whelk_channel_handler {
    wk_channel_handler h;
};

/* A publickey request (auth.c fills it for the decision callback). */
struct whelk_pubkey_request {
    const char *user;
    const char *algorithm;
    const whelk_key *key;
    const uint8_t *blob, *signature, *signed_data;
    size_t blob_len, signature_len, signed_data_len;
};

/* Keyboard-interactive prompts and answers (kbdint.c). Bounded by the
 * limits of whelk.h: 16 prompts, 1 KiB each. */
#define WK_KBDINT_MAX 16
#define WK_KBDINT_MAX_TEXT 1024

struct whelk_kbdint_prompts {
    char *name, *instruction;
    char *prompt[WK_KBDINT_MAX];
    int echo[WK_KBDINT_MAX];
    unsigned count;
};

struct whelk_kbdint_answers {
    char *answer[WK_KBDINT_MAX];
    size_t len[WK_KBDINT_MAX];
    unsigned count;
};

/* Frees what the strings of |p| hold and empties it. */
void wk_kbdint_prompts_clear(whelk_kbdint_prompts *p);
/* The same for answers, wiped: they are passwords. */
void wk_kbdint_answers_clear(whelk_kbdint_answers *a);
/* Sets answer |i| from |len| bytes that need not be NUL-terminated;
 * |count| grows to cover it. Returns 0, WHELK_ERR_INVAL, WHELK_ERR_TOOBIG
 * or WHELK_ERR_NOMEM. */
int wk_kbdint_answers_put(whelk_kbdint_answers *a, unsigned i,
                          const char *text, size_t len);

#endif
