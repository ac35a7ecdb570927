/*
 * callbacks: the application's callback tables and session handlers,
 * built with one setter per callback, and the accessors of the opaque
 * publickey request the engine hands to the decision callback.
 */
#include "callbacks.h"

#include <stdlib.h>

int whelk_server_callbacks_new(whelk_server_callbacks **out)
{
    if (!out) return WHELK_ERR_INVAL;
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : WHELK_ERR_NOMEM;
}

void whelk_server_callbacks_free(whelk_server_callbacks *cbs) { free(cbs); }

int whelk_client_callbacks_new(whelk_client_callbacks **out)
{
    if (!out) return WHELK_ERR_INVAL;
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : WHELK_ERR_NOMEM;
}

void whelk_client_callbacks_free(whelk_client_callbacks *cbs) { free(cbs); }

int whelk_session_handler_new(whelk_session_handler **out)
{
    if (!out) return WHELK_ERR_INVAL;
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : WHELK_ERR_NOMEM;
}

void whelk_session_handler_free(whelk_session_handler *h) { free(h); }

int whelk_channel_handler_new(whelk_channel_handler **out)
{
    if (!out) return WHELK_ERR_INVAL;
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : WHELK_ERR_NOMEM;
}

void whelk_channel_handler_free(whelk_channel_handler *h) { free(h); }

/* One setter per member; a NULL object is ignored rather than crashed on,
 * since these run at start-up where a failed _new is checked anyway. */
#define WK_SETTER(object, member, type, field)                                \
    void whelk_##object##_set_##member(whelk_##object *o, type cb)            \
    {                                                                         \
        if (o) o->field = cb;                                                 \
    }

WK_SETTER(server_callbacks, log, whelk_log_cb, cb.log)
WK_SETTER(server_callbacks, event, whelk_event_cb, cb.event)
WK_SETTER(server_callbacks, user_lookup, whelk_user_lookup_cb, cb.user_valid)
WK_SETTER(server_callbacks, auth_publickey, whelk_auth_publickey_cb,
          cb.auth_publickey)
WK_SETTER(server_callbacks, auth_password, whelk_auth_password_cb,
          cb.auth_password)
WK_SETTER(server_callbacks, auth_kbdint_prompts, whelk_auth_kbdint_prompts_cb,
          cb.auth_kbdint_prompts)
WK_SETTER(server_callbacks, auth_kbdint_answers, whelk_auth_kbdint_answers_cb,
          cb.auth_kbdint_answers)
WK_SETTER(server_callbacks, authenticated, whelk_authenticated_cb,
          cb.authenticated)
WK_SETTER(server_callbacks, session_open, whelk_session_open_cb,
          cb.session_open)
WK_SETTER(server_callbacks, sign, whelk_sign_cb, cb.sign)
WK_SETTER(server_callbacks, channel_open, whelk_channel_open_cb,
          cb.channel_open)
WK_SETTER(server_callbacks, global_request, whelk_global_request_cb,
          cb.global_request)
WK_SETTER(server_callbacks, global_reply, whelk_global_reply_cb,
          cb.global_reply)

WK_SETTER(client_callbacks, log, whelk_log_cb, cb.log)
WK_SETTER(client_callbacks, event, whelk_event_cb, cb.event)
WK_SETTER(client_callbacks, host_key_check, whelk_host_key_check_cb,
          cb.host_key_check)
WK_SETTER(client_callbacks, password, whelk_client_password_cb,
          cb.client_password)
WK_SETTER(client_callbacks, kbdint, whelk_client_kbdint_cb, cb.client_kbdint)
WK_SETTER(client_callbacks, authenticated, whelk_authenticated_cb,
          cb.authenticated)
WK_SETTER(client_callbacks, auth_failed, whelk_auth_failed_cb, cb.auth_failed)
WK_SETTER(client_callbacks, channel_open, whelk_channel_open_cb,
          cb.channel_open)
WK_SETTER(client_callbacks, global_request, whelk_global_request_cb,
          cb.global_request)
WK_SETTER(client_callbacks, global_reply, whelk_global_reply_cb,
          cb.global_reply)

WK_SETTER(session_handler, pty_req, whelk_pty_req_cb, h.pty_req)
WK_SETTER(session_handler, env, whelk_env_cb, h.env)
WK_SETTER(session_handler, shell, whelk_shell_cb, h.shell)
WK_SETTER(session_handler, exec, whelk_exec_cb, h.exec)
WK_SETTER(session_handler, subsystem, whelk_subsystem_cb, h.subsystem)
WK_SETTER(session_handler, window_change, whelk_window_change_cb,
          h.window_change)
WK_SETTER(session_handler, signal, whelk_signal_cb, h.signal)
WK_SETTER(session_handler, break, whelk_break_cb, h.brk)
WK_SETTER(session_handler, xon_xoff, whelk_xon_xoff_cb, h.xon_xoff)
WK_SETTER(session_handler, data, whelk_data_cb, h.data)
WK_SETTER(session_handler, extended_data, whelk_extended_data_cb,
          h.extended_data)
WK_SETTER(session_handler, eof, whelk_eof_cb, h.eof)
WK_SETTER(session_handler, closed, whelk_closed_cb, h.closed)
WK_SETTER(session_handler, stop_writing, whelk_flow_cb, h.stop_writing)
WK_SETTER(session_handler, start_writing, whelk_flow_cb, h.start_writing)
WK_SETTER(session_handler, agent_req, whelk_agent_req_cb, h.agent_req)
WK_SETTER(session_handler, x11_req, whelk_x11_req_cb, h.x11_req)

WK_SETTER(channel_handler, opened, whelk_channel_opened_cb, h.opened)
WK_SETTER(channel_handler, data, whelk_channel_data_cb, h.data)
WK_SETTER(channel_handler, eof, whelk_channel_cb, h.eof)
WK_SETTER(channel_handler, closed, whelk_channel_cb, h.closed)
WK_SETTER(channel_handler, stop_writing, whelk_channel_cb, h.stop_writing)
WK_SETTER(channel_handler, start_writing, whelk_channel_cb, h.start_writing)

#undef WK_SETTER

const char *whelk_pubkey_request_user(const whelk_pubkey_request *req)
{
    return req->user;
}

const char *whelk_pubkey_request_algorithm(const whelk_pubkey_request *req)
{
    return req->algorithm;
}

const whelk_key *whelk_pubkey_request_key(const whelk_pubkey_request *req)
{
    return req->key;
}

static const uint8_t *bytes(const uint8_t *p, size_t n, size_t *len)
{
    if (len) *len = p ? n : 0;
    return p;
}

const uint8_t *whelk_pubkey_request_blob(const whelk_pubkey_request *req,
                                         size_t *len)
{
    return bytes(req->blob, req->blob_len, len);
}

const uint8_t *whelk_pubkey_request_signature(const whelk_pubkey_request *req,
                                              size_t *len)
{
    return bytes(req->signature, req->signature_len, len);
}

const uint8_t *
whelk_pubkey_request_signed_data(const whelk_pubkey_request *req, size_t *len)
{
    return bytes(req->signed_data, req->signed_data_len, len);
}
