/*
 * whelk: an SSH-2 protocol engine (libwhelk).
 *
 * This is the only installed header. Every public symbol is prefixed
 * whelk_; everything else in the library is internal (the headers in lib/)
 * and not exported from the shared library.
 *
 * The engine is sans-I/O, in the shape of nghttp2 and ngtcp2: the caller
 * feeds it bytes read from a socket (whelk_conn_recv), takes the bytes it
 * must write (whelk_conn_out / whelk_conn_out_consumed), and runs its timers
 * (whelk_conn_expiry / whelk_conn_handle_expiry). Time is always a
 * parameter; randomness comes from a callback in the configuration. The
 * engine never blocks, never reads files and never starts processes:
 * decisions (accept this key? start this shell? sign this with the host
 * key?) go to the application through callbacks, and any of them may be
 * answered later.
 *
 * Binary compatibility. Callback tables and session handlers are opaque
 * objects filled in with one setter per callback (nghttp2's pattern): a
 * program built against an older header calls only the setters it knows,
 * and a callback it never set is simply absent. No public struct is
 * allocated by the application; the few values the engine hands out
 * (pty requests, keyboard-interactive prompts, publickey requests,
 * events) are opaque and read through accessors.
 *
 * Ownership: the engine copies whatever it keeps. A pointer handed to a
 * callback is valid only during that callback; a pointer returned by the
 * engine is valid until the next call on the same object.
 *
 * Errors: functions return 0 (or a count) on success and a negative
 * whelk_err on failure; each function's comment lists the codes it
 * returns. Codes at or below WHELK_ERR_FATAL mean the connection is over:
 * write what whelk_conn_out still holds, then free it.
 */
#ifndef WHELK_H
#define WHELK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define WHELK_EXTERN __attribute__((visibility("default")))
#else
#define WHELK_EXTERN
#endif

/* ------------------------------------------------------------------------
 * Version. WHELK_VERSION_NUM is 0xMMmmpp (major, minor, patch) of the
 * header a program was compiled with; whelk_version() is the library's
 * own, which may be newer.
 */
#define WHELK_VERSION_MAJOR 0
#define WHELK_VERSION_MINOR 2
#define WHELK_VERSION_PATCH 0
#define WHELK_VERSION "0.2.0"
#define WHELK_VERSION_NUM                                                     \
    ((WHELK_VERSION_MAJOR << 16) | (WHELK_VERSION_MINOR << 8) |              \
     WHELK_VERSION_PATCH)

/* The running library's version number, 0xMMmmpp. */
WHELK_EXTERN unsigned int whelk_version(void);
/* The running library's version as text, "0.2.0". */
WHELK_EXTERN const char *whelk_version_string(void);

/* A signed size: a count of bytes, or a negative whelk_err. (ssize_t is
 * POSIX only, and its width is the platform's.) */
typedef ptrdiff_t whelk_ssize;

/* ------------------------------------------------------------------------
 * Errors. One table, so the enum, whelk_strerror and whelk_err_name cannot
 * drift apart. Every error at or below WHELK_ERR_FATAL ends the connection.
 * The library uses a few codes of its own internally (-50..-99 and
 * -200..-299); none of them is ever returned by a public function.
 */
#define WHELK_ERRNO_MAP(X)                                                    \
    X(OK, 0, "success")                                                       \
    X(INVAL, -2, "invalid argument")                                          \
    X(STATE, -3, "not allowed in the current state")                          \
    X(LIMIT, -5, "a configured limit was reached")                            \
    X(UNSUPPORTED, -6, "unsupported algorithm or format")                     \
    X(KEY_FORMAT, -7, "malformed key")                                        \
    X(KEY_ENCRYPTED, -8, "key is encrypted (passphrase keys not supported)")  \
    X(SIGNATURE, -9, "signature does not verify")                             \
    X(FATAL, -100, "fatal error")                                             \
    X(NOMEM, -101, "out of memory")                                           \
    X(PROTO, -102, "protocol error")                                          \
    X(TOOBIG, -104, "length exceeds the limit")                               \
    X(MAC, -105, "message authentication code incorrect")                     \
    X(CRYPTO, -106, "cryptographic library failure")                          \
    X(KEX, -107, "key exchange failed")                                       \
    X(NEGOTIATION, -108, "no matching algorithm")                             \
    X(VERSION, -109, "protocol version not supported")                        \
    X(TIMEOUT, -110, "timed out")                                             \
    X(CLOSED, -111, "connection closed")                                      \
    X(DISCONNECTED, -112, "peer disconnected")                                \
    X(AUTH, -113, "too many authentication failures")                         \
    X(CALLBACK, -114, "application callback failed")                          \
    X(HOSTKEY, -115, "host key rejected")

typedef enum whelk_err {
#define WHELK_ERR_ENUM_(name, value, text) WHELK_ERR_##name = value,
    WHELK_ERRNO_MAP(WHELK_ERR_ENUM_)
#undef WHELK_ERR_ENUM_
} whelk_err;

/* Text and enum name of |err| ("unknown error", "WHELK_ERR_UNKNOWN" for
 * codes not in the table). */
WHELK_EXTERN const char *whelk_strerror(int err);
WHELK_EXTERN const char *whelk_err_name(int err);
/* Non-zero when |err| ends the connection. */
WHELK_EXTERN int whelk_err_is_fatal(int err);

/* SSH_MSG_DISCONNECT reason codes (RFC 4253 section 11.1). */
enum whelk_disconnect_reason {
    WHELK_DISCONNECT_HOST_NOT_ALLOWED_TO_CONNECT = 1,
    WHELK_DISCONNECT_PROTOCOL_ERROR = 2,
    WHELK_DISCONNECT_KEY_EXCHANGE_FAILED = 3,
    WHELK_DISCONNECT_RESERVED = 4,
    WHELK_DISCONNECT_MAC_ERROR = 5,
    WHELK_DISCONNECT_COMPRESSION_ERROR = 6,
    WHELK_DISCONNECT_SERVICE_NOT_AVAILABLE = 7,
    WHELK_DISCONNECT_PROTOCOL_VERSION_NOT_SUPPORTED = 8,
    WHELK_DISCONNECT_HOST_KEY_NOT_VERIFIABLE = 9,
    WHELK_DISCONNECT_CONNECTION_LOST = 10,
    WHELK_DISCONNECT_BY_APPLICATION = 11,
    WHELK_DISCONNECT_TOO_MANY_CONNECTIONS = 12,
    WHELK_DISCONNECT_AUTH_CANCELLED_BY_USER = 13,
    WHELK_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE = 14,
    WHELK_DISCONNECT_ILLEGAL_USER_NAME = 15
};

/* ------------------------------------------------------------------------
 * Keys: host keys and user keys. ssh-ed25519, ecdsa-sha2-nistp256 and RSA
 * (signatures rsa-sha2-256 / rsa-sha2-512).
 */
typedef struct whelk_key whelk_key;

typedef enum whelk_key_type {
    WHELK_KEY_ED25519 = 1,
    WHELK_KEY_ECDSA_P256 = 2,
    WHELK_KEY_RSA = 3
} whelk_key_type;

/* Each function returning int gives 0 or a negative whelk_err; those a
 * function can return are listed with it. */

/* Parses an unencrypted OpenSSH private key ("-----BEGIN OPENSSH PRIVATE
 * KEY-----"), as ssh-keygen writes it. Returns WHELK_ERR_KEY_ENCRYPTED for a
 * passphrase-protected key, WHELK_ERR_KEY_FORMAT for anything else it
 * cannot read, WHELK_ERR_INVAL (NULL |out|), WHELK_ERR_NOMEM. The text is
 * not kept. */
WHELK_EXTERN int whelk_key_parse_private(const char *text, size_t len,
                                         whelk_key **out);
/* Parses a public key blob (RFC 4253 section 6.6 encoding). Returns
 * WHELK_ERR_UNSUPPORTED for another key type, WHELK_ERR_KEY_FORMAT,
 * WHELK_ERR_INVAL, WHELK_ERR_NOMEM. */
WHELK_EXTERN int whelk_key_parse_public_blob(const uint8_t *blob, size_t len,
                                             whelk_key **out);
/* Parses one public key line "TYPE BASE64 [comment]" (no options).
 * Returns the same errors as whelk_key_parse_public_blob. */
WHELK_EXTERN int whelk_key_parse_public_line(const char *line, size_t len,
                                             whelk_key **out);
/* A new random ed25519 key. Returns WHELK_ERR_INVAL, WHELK_ERR_CRYPTO,
 * WHELK_ERR_NOMEM. */
WHELK_EXTERN int whelk_key_generate_ed25519(whelk_key **out);
WHELK_EXTERN void whelk_key_free(whelk_key *key);
WHELK_EXTERN whelk_key_type whelk_key_type_of(const whelk_key *key);
/* "ssh-ed25519", "ecdsa-sha2-nistp256" or "ssh-rsa". */
WHELK_EXTERN const char *whelk_key_type_name(const whelk_key *key);
/* Short name as ssh-keygen -l prints it: "ED25519", "ECDSA", "RSA". */
WHELK_EXTERN const char *whelk_key_short_name(const whelk_key *key);
WHELK_EXTERN int whelk_key_bits(const whelk_key *key);
WHELK_EXTERN int whelk_key_has_private(const whelk_key *key);
/* Public key blob; valid as long as the key. */
WHELK_EXTERN const uint8_t *whelk_key_blob(const whelk_key *key, size_t *len);
/* Non-zero when both keys have the same public part. */
WHELK_EXTERN int whelk_key_equal_public(const whelk_key *a,
                                        const whelk_key *b);
/* "SHA256:" + unpadded base64 of SHA-256(blob), as ssh-keygen -l prints
 * it. |out| must hold at least 51 bytes (64 is plenty): WHELK_ERR_INVAL
 * otherwise; WHELK_ERR_CRYPTO. */
WHELK_EXTERN int whelk_key_fingerprint(const whelk_key *key, char *out,
                                       size_t outlen);
/* Writes the private key in OpenSSH format (unencrypted) to a malloc'd
 * NUL-terminated string of *|outlen| bytes the caller frees with
 * whelk_free_secret(*out, *outlen + 1). Returns WHELK_ERR_INVAL (no
 * private half, a comment over 4 KiB), WHELK_ERR_CRYPTO, WHELK_ERR_NOMEM. */
WHELK_EXTERN int whelk_key_write_private(const whelk_key *key,
                                         const char *comment, char **out,
                                         size_t *outlen);
/* Writes "TYPE BASE64 comment\n" to a malloc'd string (free()). Returns
 * WHELK_ERR_INVAL (a comment with a line break), WHELK_ERR_NOMEM. */
WHELK_EXTERN int whelk_key_write_public(const whelk_key *key,
                                        const char *comment, char **out);
/* Wipes then frees memory that held a secret. */
WHELK_EXTERN void whelk_free_secret(void *p, size_t len);

/* A printable copy of a string that came from the peer, for log lines:
 * every byte outside printable ASCII, and the backslash itself, becomes
 * \xNN, so a name with a newline cannot start a log line of its own.
 * Writes at most |dstsize| bytes to |dst|, always NUL-terminated (when
 * |dstsize| > 0), cutting the copy short rather than an escape sequence.
 * Returns the length written, without the NUL. */
WHELK_EXTERN size_t whelk_escape(char *dst, size_t dstsize,
                                 const void *src, size_t len);

/* ------------------------------------------------------------------------
 * Configuration shared by many connections. Build it once, then treat it as
 * read-only while connections use it.
 */
typedef struct whelk_config whelk_config;

/* Fills |out| with |len| random bytes; returns 0 or a negative error. */
typedef int (*whelk_rand_cb)(uint8_t *out, size_t len, void *user);

/* A configuration with every default; NULL when out of memory. */
WHELK_EXTERN whelk_config *whelk_config_new(void);
WHELK_EXTERN void whelk_config_free(whelk_config *cfg);
/* Adds a host key; the config takes ownership of |key|, also on failure.
 * A key without its private half is allowed when the connections using
 * this config get a sign callback (whelk_server_callbacks_set_sign), the
 * shape of a privilege-separated server. Returns WHELK_ERR_INVAL (NULL
 * key) or WHELK_ERR_LIMIT (more than 8). */
WHELK_EXTERN int whelk_config_add_host_key(whelk_config *cfg, whelk_key *key);
/* Replaces the random source (tests pin it). Default: OpenSSL's private
 * DRBG (RAND_priv_bytes). */
WHELK_EXTERN void whelk_config_set_rand(whelk_config *cfg, whelk_rand_cb cb,
                                        void *user);
/* Comma-separated algorithm lists, in preference order; NULL restores the
 * default. Returns WHELK_ERR_UNSUPPORTED for an unknown name,
 * WHELK_ERR_INVAL for an empty list, WHELK_ERR_NOMEM. */
WHELK_EXTERN int whelk_config_set_kex(whelk_config *cfg, const char *list);
WHELK_EXTERN int whelk_config_set_ciphers(whelk_config *cfg,
                                          const char *list);
WHELK_EXTERN int whelk_config_set_macs(whelk_config *cfg, const char *list);
/* Host key algorithms, in preference order (sshd's HostKeyAlgorithms):
 * a server offers those of its keys in this order, a client asks for
 * these. Publickey signature algorithms a server accepts and announces in
 * server-sig-algs (PubkeyAcceptedAlgorithms). NULL restores every one.
 * Same errors as whelk_config_set_kex. */
WHELK_EXTERN int whelk_config_set_hostkey_algorithms(whelk_config *cfg,
                                                     const char *list);
WHELK_EXTERN int whelk_config_set_pubkey_algorithms(whelk_config *cfg,
                                                    const char *list);

typedef enum whelk_alg_list {
    WHELK_LIST_KEX = 1,
    WHELK_LIST_CIPHERS = 2,
    WHELK_LIST_MACS = 3,
    WHELK_LIST_HOSTKEY = 4, /* host key signature algorithms */
    WHELK_LIST_PUBKEY = 5   /* user key signature algorithms */
} whelk_alg_list;
/* The default list, comma-separated, best first: also every algorithm
 * the library implements (for sshd's "+", "-" and "^" list modifiers).
 * NULL for an unknown |which|. */
WHELK_EXTERN const char *whelk_algorithms_default(whelk_alg_list which);

/* Banner text sent before authentication (copied); NULL for none.
 * Returns WHELK_ERR_TOOBIG above 64 KiB, WHELK_ERR_NOMEM. */
WHELK_EXTERN int whelk_config_set_banner(whelk_config *cfg,
                                         const char *text);

/* sshd's AuthenticationMethods: |lists| is a space-separated set of
 * comma-separated method chains, e.g. "publickey,password
 * publickey,keyboard-interactive"; logging in takes every method of one
 * chain, in order, each but the last answered with partial success (RFC
 * 4252 section 5.1), and a key counts once. NULL or "any": one method is
 * enough (the default). Each method must also be enabled
 * (WHELK_SET_AUTH_METHODS). Returns WHELK_ERR_UNSUPPORTED for an unknown
 * method, WHELK_ERR_LIMIT past 8 chains of 8 steps, WHELK_ERR_INVAL. */
WHELK_EXTERN int whelk_config_set_auth_chains(whelk_config *cfg,
                                              const char *lists);

/* Numeric settings. Times in milliseconds, sizes in bytes. */
typedef enum whelk_setting {
    WHELK_SET_LOGIN_GRACE_MS,   /* default 120000; 0 = none */
    WHELK_SET_VERSION_TIMEOUT_MS, /* identification line deadline, 30000 */
    WHELK_SET_MAX_AUTH_TRIES,   /* default 6, 1..1024 */
    /* Minimum time from a failed request's arrival to its failure reply,
     * default 150; the work behind the answer (a crypt, a file read)
     * runs inside it. When the work took longer, the minimum doubles
     * until it lies ahead (as sshd's ensure_minimum_time_since); at most
     * 60000. */
    WHELK_SET_AUTH_FAIL_DELAY_MS,
    WHELK_SET_AUTH_METHODS,     /* bit set of WHELK_AUTH_METHOD_*,
                                   default publickey */
    WHELK_SET_REKEY_BYTES,      /* default 1 GiB; 0 = never by volume */
    WHELK_SET_REKEY_MS,         /* default 3600000; 0 = never by time */
    WHELK_SET_MAX_SESSIONS,     /* per connection, default 10, 0..1024
                                   (0: no session channels) */
    WHELK_SET_WINDOW,           /* initial channel window, default 2 MiB */
    WHELK_SET_MAX_PACKET,       /* channel max packet, default 32 KiB */
    WHELK_SET_OUT_BUFFER,       /* per-channel output bound, default 2 MiB */
    /* The same minimum for a rejected publickey query or an unknown
     * method, default 5, plus 0..4 ms drawn once per connection (sshd's
     * 5 ms plus its per-user 0..4.2 ms); 0 answers at once. */
    WHELK_SET_AUTH_QUERY_DELAY_MS,
    /* After login, a connection the client sends nothing on for this
     * long gets a keepalive@openssh.com probe; after CLIENT_ALIVE_COUNT
     * unanswered probes in a row it ends ("Timeout, client not
     * responding"). sshd's ClientAliveInterval and ClientAliveCountMax:
     * default 0 (no probes) and 3 (0..1024). */
    WHELK_SET_CLIENT_ALIVE_MS,
    WHELK_SET_CLIENT_ALIVE_COUNT,
    /* After login, a connection with no channel open for this long ends
     * (sshd's UnusedConnectionTimeout); default 0, none. */
    WHELK_SET_UNUSED_TIMEOUT_MS,
    /* Channels of every type a connection may have open at once, default
     * 1024 (1..16384); an open beyond it is refused (RESOURCE_SHORTAGE). */
    WHELK_SET_MAX_CHANNELS,
    /* The sum of the windows a connection grants its channels, default
     * 256 MiB: what a peer can make it hold of data the application has
     * not taken yet. A channel opened with less left gets a smaller
     * window, one with under 64 KiB left is refused. */
    WHELK_SET_CONN_WINDOW,
    /* The sum of output queued for the peer across a connection's
     * channels, default 64 MiB; each channel is bounded by OUT_BUFFER
     * too. */
    WHELK_SET_CONN_OUT_BUFFER,
    WHELK_SET_COUNT_
} whelk_setting;
/* Returns WHELK_ERR_INVAL for an unknown setting or a value out of its
 * range (given above). */
WHELK_EXTERN int whelk_config_set(whelk_config *cfg, whelk_setting what,
                                  uint64_t value);
/* The value, or 0 for an unknown setting. */
WHELK_EXTERN uint64_t whelk_config_get(const whelk_config *cfg,
                                       whelk_setting what);

enum whelk_auth_method {
    WHELK_AUTH_METHOD_PUBLICKEY = 1 << 0,
    WHELK_AUTH_METHOD_PASSWORD = 1 << 1,
    WHELK_AUTH_METHOD_KBDINT = 1 << 2
};

/* ------------------------------------------------------------------------
 * Objects of a connection, all opaque.
 */
typedef struct whelk_conn whelk_conn;
typedef struct whelk_session whelk_session;
typedef struct whelk_server_callbacks whelk_server_callbacks;
typedef struct whelk_client_callbacks whelk_client_callbacks;
typedef struct whelk_session_handler whelk_session_handler;
typedef struct whelk_event whelk_event;
typedef struct whelk_pubkey_request whelk_pubkey_request;
typedef struct whelk_kbdint_prompts whelk_kbdint_prompts;
typedef struct whelk_kbdint_answers whelk_kbdint_answers;
typedef struct whelk_pty whelk_pty;
typedef struct whelk_channel whelk_channel;
typedef struct whelk_channel_handler whelk_channel_handler;
typedef struct whelk_channel_open whelk_channel_open;
typedef struct whelk_global_request whelk_global_request;

enum whelk_log_level {
    WHELK_LOG_ERROR = 0,
    WHELK_LOG_WARN = 1,
    WHELK_LOG_INFO = 2,
    WHELK_LOG_DEBUG = 3
};

/* Answers to a decision (an authentication attempt, a user look-up). */
typedef enum whelk_auth_result {
    WHELK_AUTH_DENY = 0,
    WHELK_AUTH_ALLOW = 1,
    /* The application will answer later (whelk_conn_auth_done,
     * whelk_conn_user_done). The connection parses no further input
     * until then. */
    WHELK_AUTH_PENDING = 2,
    /* Only as whelk_conn_auth_done's answer to a pending keyboard-
     * interactive decision (its prompts or its answers): the prompts of
     * another round are ready; the engine asks the prompts callback for
     * them now (round + 1 after answers, the same round after prompts
     * that were pending) and sends them. */
    WHELK_AUTH_MORE = 3
} whelk_auth_result;

/* Answers of the user look-up. */
enum whelk_user_answer {
    WHELK_USER_UNKNOWN = 0,
    WHELK_USER_VALID = 1,
    WHELK_USER_PENDING = 2,  /* the same value as WHELK_AUTH_PENDING */
    WHELK_USER_REFUSED = -1
};

/* ------------------------------------------------------------------------
 * Events: what happened on a connection, typed, for the application to
 * log in its own words (whelkd writes sshd's, which fail2ban reads). Every
 * string an event carries is exactly as the peer sent it, with no NUL
 * bytes: escape it (whelk_escape) before it reaches a log line.
 */
typedef enum whelk_event_type {
    /* The user name of the first request names no user (the look-up
     * said WHELK_USER_UNKNOWN). */
    WHELK_EVENT_INVALID_USER = 1,
    /* An attempt succeeded: user, method, and for publickey the key. */
    WHELK_EVENT_AUTH_SUCCESS = 2,
    /* An attempt failed: user, method, key (publickey), invalid_user. */
    WHELK_EVENT_AUTH_FAILURE = 3,
    /* MaxAuthTries is passed; a disconnect follows. */
    WHELK_EVENT_AUTH_LIMIT = 4,
    /* The engine ends the connection (a protocol error, a timeout, the
     * application's whelk_conn_disconnect): reason (the SSH code sent,
     * 0 when none could be), error (a whelk_err), text. */
    WHELK_EVENT_DISCONNECT = 5,
    /* The peer sent DISCONNECT: reason, text (its description). */
    WHELK_EVENT_PEER_DISCONNECT = 6,
    /* The peer's byte stream ended (whelk_conn_peer_closed). */
    WHELK_EVENT_PEER_CLOSED = 7,
    /* One step of an AuthenticationMethods chain succeeded and another is
     * due (partial success): user, method, key. */
    WHELK_EVENT_AUTH_PARTIAL = 8
} whelk_event_type;

WHELK_EXTERN whelk_event_type whelk_event_get_type(const whelk_event *ev);
/* The user name tried or logged in with, or NULL before the first
 * authentication request. */
WHELK_EXTERN const char *whelk_event_user(const whelk_event *ev);
/* "publickey", "password", "keyboard-interactive", "none", or NULL. */
WHELK_EXTERN const char *whelk_event_method(const whelk_event *ev);
/* The key of a publickey attempt, or NULL. */
WHELK_EXTERN const whelk_key *whelk_event_key(const whelk_event *ev);
/* Non-zero when the user name named no user or a refused one
 * (AUTH_FAILURE, AUTH_LIMIT, and the DISCONNECT, PEER_DISCONNECT and
 * PEER_CLOSED of a connection not logged in). */
WHELK_EXTERN int whelk_event_invalid_user(const whelk_event *ev);
/* Non-zero when the connection was logged in at the time. */
WHELK_EXTERN int whelk_event_authenticated(const whelk_event *ev);
/* The SSH disconnect reason (DISCONNECT, PEER_DISCONNECT), else 0. */
WHELK_EXTERN uint32_t whelk_event_reason(const whelk_event *ev);
/* The whelk_err behind a DISCONNECT, else 0. */
WHELK_EXTERN int whelk_event_error(const whelk_event *ev);
/* What went wrong (DISCONNECT: in the engine's words, with any peer
 * string in it escaped) or the peer's description (PEER_DISCONNECT, as
 * sent); "" when there is none. */
WHELK_EXTERN const char *whelk_event_text(const whelk_event *ev);
/* The peer's identification line when a DISCONNECT is about it
 * (error WHELK_ERR_VERSION), else NULL. */
WHELK_EXTERN const char *whelk_event_peer_version(const whelk_event *ev);

/* ------------------------------------------------------------------------
 * Callbacks shared by both roles.
 */

/* Diagnostics in the engine's own words (key exchange done, a guessed
 * packet dropped, a request refused): one line, no newline, peer strings
 * escaped. Not needed to log what events already tell. */
typedef void (*whelk_log_cb)(whelk_conn *conn, int level, const char *msg,
                             void *user);
/* One event; |ev| is valid only during the call. */
typedef void (*whelk_event_cb)(whelk_conn *conn, const whelk_event *ev,
                               void *user);
/* The user is logged in. */
typedef void (*whelk_authenticated_cb)(whelk_conn *conn,
                                       const char *user_name,
                                       const char *method, void *user);
/* The peer opens a channel other than a session (see "Other channels"
 * below): answer with whelk_channel_accept or whelk_channel_refuse,
 * during the call or later. Without this callback every such open is
 * refused. */
typedef void (*whelk_channel_open_cb)(whelk_conn *conn, whelk_channel *ch,
                                      const whelk_channel_open *open,
                                      void *user);
/* The peer sent a global request the engine does not handle itself
 * (tcpip-forward and the rest; see "Global requests" below): answer
 * with whelk_conn_global_reply, during the call or later, when it wants
 * a reply. Without this callback such requests fail. */
typedef void (*whelk_global_request_cb)(whelk_conn *conn,
                                        const whelk_global_request *req,
                                        void *user);
/* The peer's reply to a global request this side sent wanting one
 * (whelk_conn_send_global_request), in the order they were sent. */
typedef void (*whelk_global_reply_cb)(whelk_conn *conn, int ok,
                                      const uint8_t *data, size_t len,
                                      void *user);

/* ------------------------------------------------------------------------
 * Server role: decisions and session opens.
 */

/* The user name of the first authentication request (a later request
 * naming another user or service ends the connection, as in sshd).
 * Returns one of enum whelk_user_answer: UNKNOWN when there is no such
 * user (the engine reports WHELK_EVENT_INVALID_USER); REFUSED when the
 * user exists but may not log in (locked, expired; the application says
 * why); VALID; or PENDING when the look-up may block (NSS, LDAP): the
 * engine then holds the request and all input until
 * whelk_conn_user_done(). An unknown or refused user still goes through
 * every method to its end (the decision callbacks are called as usual),
 * so it fails exactly like a wrong credential. */
typedef int (*whelk_user_lookup_cb)(whelk_conn *conn, const char *user_name,
                                    void *user);
/* A publickey attempt or query. The engine has already checked the
 * signature, if any, before asking; the request still carries the raw
 * material so that a separate process can check it again. */
typedef whelk_auth_result (*whelk_auth_publickey_cb)(
    whelk_conn *conn, const whelk_pubkey_request *req, void *user);
/* A password attempt; |password| is NUL-terminated, |len| bytes, and
 * wiped by the engine after the call. */
typedef whelk_auth_result (*whelk_auth_password_cb)(whelk_conn *conn,
                                                    const char *user_name,
                                                    const char *password,
                                                    size_t len, void *user);
/* keyboard-interactive (RFC 4256): fills |prompts| for the first
 * (round 0) or a later round with whelk_kbdint_prompts_add and friends;
 * returns 0, or a negative value to refuse the method, or
 * WHELK_AUTH_PENDING when the prompts are not known yet (a PAM module
 * has yet to ask): input is then held until whelk_conn_auth_done with
 * WHELK_AUTH_MORE (the callback is called again for the same round),
 * ALLOW or DENY. */
typedef int (*whelk_auth_kbdint_prompts_cb)(whelk_conn *conn,
                                            const char *user_name,
                                            unsigned round,
                                            whelk_kbdint_prompts *prompts,
                                            void *user);
/* The answers to the prompts of |round|; ALLOW ends authentication, DENY
 * fails it, PENDING defers (whelk_conn_auth_done, where MORE asks for
 * round + 1). Return
 * WHELK_AUTH_DENY with *more set to 1 to send another round instead. */
typedef whelk_auth_result (*whelk_auth_kbdint_answers_cb)(
    whelk_conn *conn, const char *user_name, unsigned round,
    const whelk_kbdint_answers *answers, int *more, void *user);
/* A session channel was opened; attach a handler with
 * whelk_session_set_handler. Return 0 to accept, or a negative value to
 * refuse the open. */
typedef int (*whelk_session_open_cb)(whelk_conn *conn, whelk_session *session,
                                     void *user);
/* Sign |data| with the host key whose public blob is |key_blob|, using
 * signature algorithm |algorithm| ("ssh-ed25519", "rsa-sha2-512", ...):
 * the one use of a host private key, which need not be in this process.
 * Answer with whelk_conn_sign_done, during the call or later; return 0
 * (answered or pending) or a negative value to fail the key exchange.
 * Without this callback the engine signs with the config's private key.
 * |data| is valid only during the call: copy it to answer later. */
typedef int (*whelk_sign_cb)(whelk_conn *conn, const uint8_t *key_blob,
                             size_t key_blob_len, const char *algorithm,
                             const uint8_t *data, size_t data_len,
                             void *user);

/* A new, empty table; returns 0 or WHELK_ERR_NOMEM. */
WHELK_EXTERN int whelk_server_callbacks_new(whelk_server_callbacks **out);
WHELK_EXTERN void whelk_server_callbacks_free(whelk_server_callbacks *cbs);
/* Each setter sets one callback (NULL unsets it). */
WHELK_EXTERN void whelk_server_callbacks_set_log(whelk_server_callbacks *cbs,
                                                 whelk_log_cb cb);
WHELK_EXTERN void
whelk_server_callbacks_set_event(whelk_server_callbacks *cbs,
                                 whelk_event_cb cb);
WHELK_EXTERN void
whelk_server_callbacks_set_user_lookup(whelk_server_callbacks *cbs,
                                       whelk_user_lookup_cb cb);
WHELK_EXTERN void
whelk_server_callbacks_set_auth_publickey(whelk_server_callbacks *cbs,
                                          whelk_auth_publickey_cb cb);
WHELK_EXTERN void
whelk_server_callbacks_set_auth_password(whelk_server_callbacks *cbs,
                                         whelk_auth_password_cb cb);
WHELK_EXTERN void
whelk_server_callbacks_set_auth_kbdint_prompts(whelk_server_callbacks *cbs,
                                               whelk_auth_kbdint_prompts_cb cb);
WHELK_EXTERN void
whelk_server_callbacks_set_auth_kbdint_answers(whelk_server_callbacks *cbs,
                                               whelk_auth_kbdint_answers_cb cb);
WHELK_EXTERN void
whelk_server_callbacks_set_authenticated(whelk_server_callbacks *cbs,
                                         whelk_authenticated_cb cb);
WHELK_EXTERN void
whelk_server_callbacks_set_session_open(whelk_server_callbacks *cbs,
                                        whelk_session_open_cb cb);
WHELK_EXTERN void whelk_server_callbacks_set_sign(whelk_server_callbacks *cbs,
                                                  whelk_sign_cb cb);
WHELK_EXTERN void
whelk_server_callbacks_set_channel_open(whelk_server_callbacks *cbs,
                                        whelk_channel_open_cb cb);
WHELK_EXTERN void
whelk_server_callbacks_set_global_request(whelk_server_callbacks *cbs,
                                          whelk_global_request_cb cb);
WHELK_EXTERN void
whelk_server_callbacks_set_global_reply(whelk_server_callbacks *cbs,
                                        whelk_global_reply_cb cb);

/* The publickey request of whelk_auth_publickey_cb. */
WHELK_EXTERN const char *
whelk_pubkey_request_user(const whelk_pubkey_request *req);
/* The signature algorithm as the client named it. */
WHELK_EXTERN const char *
whelk_pubkey_request_algorithm(const whelk_pubkey_request *req);
/* The key, parsed from the blob. */
WHELK_EXTERN const whelk_key *
whelk_pubkey_request_key(const whelk_pubkey_request *req);
WHELK_EXTERN const uint8_t *
whelk_pubkey_request_blob(const whelk_pubkey_request *req, size_t *len);
/* The signature, or NULL for a query without one (answered PK_OK on
 * ALLOW). */
WHELK_EXTERN const uint8_t *
whelk_pubkey_request_signature(const whelk_pubkey_request *req, size_t *len);
/* The exact bytes the signature covers (RFC 4252 section 7), or NULL for
 * a query. */
WHELK_EXTERN const uint8_t *
whelk_pubkey_request_signed_data(const whelk_pubkey_request *req,
                                 size_t *len);

/* Keyboard-interactive prompts: the server fills them, the client reads
 * them. Strings are copied. At most 16 prompts of 1 KiB each. */
WHELK_EXTERN int whelk_kbdint_prompts_set_name(whelk_kbdint_prompts *p,
                                               const char *name);
WHELK_EXTERN int whelk_kbdint_prompts_set_instruction(whelk_kbdint_prompts *p,
                                                      const char *text);
/* Adds one prompt, shown with the answer echoed when |echo|. Returns
 * WHELK_ERR_LIMIT past 16 prompts, WHELK_ERR_TOOBIG past 1 KiB,
 * WHELK_ERR_NOMEM. */
WHELK_EXTERN int whelk_kbdint_prompts_add(whelk_kbdint_prompts *p,
                                          const char *prompt, int echo);
WHELK_EXTERN const char *
whelk_kbdint_prompts_name(const whelk_kbdint_prompts *p);
WHELK_EXTERN const char *
whelk_kbdint_prompts_instruction(const whelk_kbdint_prompts *p);
WHELK_EXTERN unsigned
whelk_kbdint_prompts_count(const whelk_kbdint_prompts *p);
/* Prompt |i| (NULL past the count) and whether its answer echoes. */
WHELK_EXTERN const char *
whelk_kbdint_prompts_prompt(const whelk_kbdint_prompts *p, unsigned i);
WHELK_EXTERN int whelk_kbdint_prompts_echo(const whelk_kbdint_prompts *p,
                                           unsigned i);
/* Keyboard-interactive answers: the client sets them, the server reads
 * them. One per prompt, in order; each at most 1 KiB, NUL-terminated. */
WHELK_EXTERN unsigned
whelk_kbdint_answers_count(const whelk_kbdint_answers *a);
WHELK_EXTERN const char *
whelk_kbdint_answers_get(const whelk_kbdint_answers *a, unsigned i);
/* Sets answer |i| (a copy); returns WHELK_ERR_INVAL for |i| past the
 * prompts, WHELK_ERR_TOOBIG past 1 KiB, WHELK_ERR_NOMEM. */
WHELK_EXTERN int whelk_kbdint_answers_set(whelk_kbdint_answers *a,
                                          unsigned i, const char *answer);

/* ------------------------------------------------------------------------
 * Client role.
 */

/* The server's host key, after its signature over the exchange hash
 * verified. Return 0 to trust it, negative to end the connection. */
typedef int (*whelk_host_key_check_cb)(whelk_conn *conn, const whelk_key *key,
                                       void *user);
/* The password to try: copy it NUL-terminated into |buf| (|size| bytes)
 * and return 0, or return negative to skip password authentication. */
typedef int (*whelk_client_password_cb)(whelk_conn *conn, char *buf,
                                        size_t size, void *user);
/* Answers for one keyboard-interactive round: read |prompts|, set one
 * answer per prompt in |answers|. Return negative to give up on the
 * method. */
typedef int (*whelk_client_kbdint_cb)(whelk_conn *conn,
                                      const whelk_kbdint_prompts *prompts,
                                      whelk_kbdint_answers *answers,
                                      void *user);
/* Every method the server allows has failed; the connection ends. */
typedef void (*whelk_auth_failed_cb)(whelk_conn *conn, void *user);

WHELK_EXTERN int whelk_client_callbacks_new(whelk_client_callbacks **out);
WHELK_EXTERN void whelk_client_callbacks_free(whelk_client_callbacks *cbs);
WHELK_EXTERN void whelk_client_callbacks_set_log(whelk_client_callbacks *cbs,
                                                 whelk_log_cb cb);
WHELK_EXTERN void
whelk_client_callbacks_set_event(whelk_client_callbacks *cbs,
                                 whelk_event_cb cb);
WHELK_EXTERN void
whelk_client_callbacks_set_host_key_check(whelk_client_callbacks *cbs,
                                          whelk_host_key_check_cb cb);
WHELK_EXTERN void
whelk_client_callbacks_set_password(whelk_client_callbacks *cbs,
                                    whelk_client_password_cb cb);
WHELK_EXTERN void
whelk_client_callbacks_set_kbdint(whelk_client_callbacks *cbs,
                                  whelk_client_kbdint_cb cb);
WHELK_EXTERN void
whelk_client_callbacks_set_authenticated(whelk_client_callbacks *cbs,
                                         whelk_authenticated_cb cb);
WHELK_EXTERN void
whelk_client_callbacks_set_auth_failed(whelk_client_callbacks *cbs,
                                       whelk_auth_failed_cb cb);
WHELK_EXTERN void
whelk_client_callbacks_set_channel_open(whelk_client_callbacks *cbs,
                                        whelk_channel_open_cb cb);
WHELK_EXTERN void
whelk_client_callbacks_set_global_request(whelk_client_callbacks *cbs,
                                          whelk_global_request_cb cb);
WHELK_EXTERN void
whelk_client_callbacks_set_global_reply(whelk_client_callbacks *cbs,
                                        whelk_global_reply_cb cb);

/* ------------------------------------------------------------------------
 * Connections.
 */

/* A server-side connection. |cbs| is copied (it may be freed or changed
 * afterwards); |peer_addr| and |peer_port| are copied and reported in
 * events. Returns WHELK_ERR_INVAL (a NULL argument, or a config without
 * host keys), WHELK_ERR_NOMEM. */
WHELK_EXTERN int whelk_conn_server_new(whelk_conn **out,
                                       const whelk_config *cfg,
                                       const whelk_server_callbacks *cbs,
                                       void *user, const char *peer_addr,
                                       int peer_port, uint64_t now_ms);
/* A client-side connection that logs in as |user_name|, trying the
 * publickey method with |identity| (may be NULL; the key must stay valid
 * for the connection's life), then password and keyboard-interactive
 * through the client callbacks. Returns WHELK_ERR_INVAL,
 * WHELK_ERR_NOMEM. */
WHELK_EXTERN int whelk_conn_client_new(whelk_conn **out,
                                       const whelk_config *cfg,
                                       const whelk_client_callbacks *cbs,
                                       void *user, const char *user_name,
                                       const whelk_key *identity,
                                       uint64_t now_ms);
/* Overrides one numeric setting for this connection only, from now on
 * (sshd's Match blocks): same settings and ranges as whelk_config_set;
 * the login grace time still counts from the connection's start.
 * Returns WHELK_ERR_INVAL for an unknown setting or a value out of its
 * range. */
WHELK_EXTERN int whelk_conn_set(whelk_conn *conn, whelk_setting what,
                                uint64_t value);
/* The connection's value of |what| (0 for an unknown setting). */
WHELK_EXTERN uint64_t whelk_conn_get(const whelk_conn *conn,
                                     whelk_setting what);
/* This connection's AuthenticationMethods instead of the config's (see
 * whelk_config_set_auth_chains), before it logs in: set it at the latest
 * in the user look-up. Returns the same errors, or WHELK_ERR_STATE once
 * logged in. */
WHELK_EXTERN int whelk_conn_set_auth_chains(whelk_conn *conn,
                                            const char *lists);
/* This connection's banner instead of the config's (copied; "" for none,
 * NULL goes back to the config's). It is sent with the first authentication
 * reply, so set it at the latest in the user look-up. Returns
 * WHELK_ERR_TOOBIG above 64 KiB, WHELK_ERR_NOMEM. */
WHELK_EXTERN int whelk_conn_set_banner(whelk_conn *conn, const char *text);
/* Sends |text| now as a USERAUTH_BANNER (RFC 4252 section 5.4), as sshd
 * sends what PAM said (pam_nologin's file) before it refuses a login.
 * Only during authentication. Returns 0, WHELK_ERR_STATE after it (or
 * before the user's first request), WHELK_ERR_TOOBIG above 64 KiB,
 * WHELK_ERR_NOMEM. */
WHELK_EXTERN int whelk_conn_send_auth_banner(whelk_conn *conn,
                                             const char *text);
/* Closes this connection's channels of |kind| when no data moved either
 * way for |ms| (sshd's ChannelTimeout; 0 for never). |kind| is a pattern
 * ('*' and '?' as in fnmatch) matched against a channel's kind: its
 * type ("session", "direct-tcpip", "forwarded-tcpip", the streamlocal
 * ones), sshd's names for the channels the server opens
 * ("agent-connection" for auth-agent@openssh.com, "x11-connection" for
 * x11), and for a session running a program "session:shell",
 * "session:command" or "session:subsystem:NAME" (OpenSSH 9.2's names;
 * "session" matches these too). The first pattern set that matches
 * applies, to channels opened (or programs started) afterwards. The
 * kind "global", never matched by a pattern, closes every open channel
 * once none of them has moved data for |ms|. Returns WHELK_ERR_INVAL,
 * WHELK_ERR_LIMIT (16 patterns), WHELK_ERR_NOMEM. */
WHELK_EXTERN int whelk_conn_set_channel_timeout(whelk_conn *conn,
                                                const char *kind,
                                                uint64_t ms);
/* Frees the connection; every open session's closed callback runs. */
WHELK_EXTERN void whelk_conn_free(whelk_conn *conn);
WHELK_EXTERN void *whelk_conn_user(const whelk_conn *conn);
WHELK_EXTERN void whelk_conn_set_user(whelk_conn *conn, void *user);

/* Feeds bytes read from the peer. Returns the number consumed (which can
 * be less than |len| while the engine holds back, see want_read) or a
 * fatal whelk_err: the connection is over (the DISCONNECT is queued, an
 * event reported). */
WHELK_EXTERN whelk_ssize whelk_conn_recv(whelk_conn *conn, const uint8_t *in,
                                         size_t len, uint64_t now_ms);
/* Zero-copy input: space inside the engine's input buffer to read the
 * socket into (at least 16 KiB unless the engine is full), valid until
 * the next call on |conn|; returns its size, 0 when no input is wanted.
 * Then whelk_conn_recv_commit says how many bytes landed there; it
 * returns like whelk_conn_recv, or WHELK_ERR_INVAL for more bytes than
 * were offered. */
WHELK_EXTERN size_t whelk_conn_recv_space(whelk_conn *conn, uint8_t **buf);
WHELK_EXTERN whelk_ssize whelk_conn_recv_commit(whelk_conn *conn, size_t n,
                                                uint64_t now_ms);
/* Non-zero while the engine can take more input. */
WHELK_EXTERN int whelk_conn_want_read(const whelk_conn *conn);
/* Bytes waiting to go to the peer; the pointer is valid until the next call
 * on |conn|. Returns the count (0 when nothing is pending). */
WHELK_EXTERN size_t whelk_conn_out(whelk_conn *conn, const uint8_t **data);
/* Tells the engine that |n| of those bytes were written. */
WHELK_EXTERN void whelk_conn_out_consumed(whelk_conn *conn, size_t n);
/* Tells the engine the time before calls that carry none (whelk_session_
 * write, whelk_channel_write and the like, made when a program or a
 * socket has output): the data they send counts as the channel's
 * activity at |now_ms| (sshd's ChannelTimeout), not at the last time the
 * engine was given. Same clock as now_ms; a time before the last one
 * given is ignored. */
WHELK_EXTERN void whelk_conn_set_time(whelk_conn *conn, uint64_t now_ms);
/* The next deadline (ms, same clock as now_ms), or UINT64_MAX for none. */
WHELK_EXTERN uint64_t whelk_conn_expiry(const whelk_conn *conn);
/* Runs timers that are due, and input held back until then. Returns 0 or
 * a fatal whelk_err (WHELK_ERR_TIMEOUT for the login grace time). */
WHELK_EXTERN int whelk_conn_handle_expiry(whelk_conn *conn, uint64_t now_ms);
/* Non-zero once the connection is over: write what whelk_conn_out still
 * holds, then close the socket and free the connection. */
WHELK_EXTERN int whelk_conn_is_closed(const whelk_conn *conn);
/* The peer closed its side of the stream: reports WHELK_EVENT_PEER_CLOSED
 * and ends the connection (the caller still frees it). */
WHELK_EXTERN void whelk_conn_peer_closed(whelk_conn *conn);
/* Sends SSH_MSG_DISCONNECT with |reason| and |description| (may be NULL),
 * reports WHELK_EVENT_DISCONNECT and ends the connection. Returns 0. */
WHELK_EXTERN int whelk_conn_disconnect(whelk_conn *conn, int reason,
                                       const char *description);
/* Completes a decision that returned WHELK_AUTH_PENDING. Returns 0,
 * WHELK_ERR_STATE when no decision is pending (or |result| is PENDING),
 * or a fatal whelk_err when the answer ended the connection. */
WHELK_EXTERN int whelk_conn_auth_done(whelk_conn *conn,
                                      whelk_auth_result result,
                                      uint64_t now_ms);
/* Completes a user look-up that returned WHELK_USER_PENDING with one of
 * UNKNOWN, VALID or REFUSED; the held request is then processed. Returns
 * like whelk_conn_auth_done. */
WHELK_EXTERN int whelk_conn_user_done(whelk_conn *conn, int answer,
                                      uint64_t now_ms);
/* Completes a host-key signature the sign callback was asked for:
 * |sig| is the signature blob's contents (string algorithm, string
 * signature), or NULL when signing failed (the key exchange then fails).
 * Returns 0, WHELK_ERR_STATE when no signature is awaited, or a fatal
 * whelk_err. */
WHELK_EXTERN int whelk_conn_sign_done(whelk_conn *conn, const uint8_t *sig,
                                      size_t sig_len, uint64_t now_ms);
/* Starts a key re-exchange now. Returns 0, WHELK_ERR_STATE before the
 * first exchange finished, or a fatal whelk_err. */
WHELK_EXTERN int whelk_conn_rekey(whelk_conn *conn, uint64_t now_ms);

/* Facts about the connection, valid for its lifetime (NULL until known). */
WHELK_EXTERN const char *whelk_conn_peer_version(const whelk_conn *conn);
/* The logged-in user (NULL before). */
WHELK_EXTERN const char *whelk_conn_user_name(const whelk_conn *conn);
WHELK_EXTERN const char *whelk_conn_peer_addr(const whelk_conn *conn);
WHELK_EXTERN int whelk_conn_peer_port(const whelk_conn *conn);

typedef enum whelk_algorithm {
    WHELK_ALG_KEX = 1,
    WHELK_ALG_HOSTKEY = 2,
    WHELK_ALG_CIPHER_C2S = 3, /* client to server */
    WHELK_ALG_CIPHER_S2C = 4, /* server to client */
    WHELK_ALG_MAC_C2S = 5,    /* "<implicit>" with an AEAD cipher */
    WHELK_ALG_MAC_S2C = 6
} whelk_algorithm;
/* The negotiated algorithm's name, NULL before the first exchange ended
 * or for an unknown |which|. */
WHELK_EXTERN const char *whelk_conn_algorithm(const whelk_conn *conn,
                                              whelk_algorithm which);

/* ------------------------------------------------------------------------
 * Session channels (RFC 4254 section 6): the C counterpart of Twisted
 * Conch's SSHSession and ISession.
 *
 * The engine owns the channel: windows in both directions, maximum packet
 * sizes, buffering of output while the peer's window is short, EOF and
 * CLOSE ordering. Each request is parsed into typed values and handed to
 * the session handler the application attached in the session_open
 * callback. Data that arrives before shell, exec or subsystem succeeded is
 * kept and delivered once it has.
 *
 * Flow control is real: bytes handed to the data callback count against
 * the window until the application reports them consumed
 * (whelk_session_consumed); only then is the window re-opened, so a slow
 * program slows the client down.
 */

#define WHELK_MAX_TTY_MODES 128

/* Terminal mode opcodes (RFC 4254 section 8, RFC 8160). */
enum whelk_tty_op {
    WHELK_TTY_OP_END = 0,
    WHELK_TTY_VINTR = 1, WHELK_TTY_VQUIT = 2, WHELK_TTY_VERASE = 3,
    WHELK_TTY_VKILL = 4, WHELK_TTY_VEOF = 5, WHELK_TTY_VEOL = 6,
    WHELK_TTY_VEOL2 = 7, WHELK_TTY_VSTART = 8, WHELK_TTY_VSTOP = 9,
    WHELK_TTY_VSUSP = 10, WHELK_TTY_VDSUSP = 11, WHELK_TTY_VREPRINT = 12,
    WHELK_TTY_VWERASE = 13, WHELK_TTY_VLNEXT = 14, WHELK_TTY_VFLUSH = 15,
    WHELK_TTY_VSWTCH = 16, WHELK_TTY_VSTATUS = 17, WHELK_TTY_VDISCARD = 18,
    WHELK_TTY_IGNPAR = 30, WHELK_TTY_PARMRK = 31, WHELK_TTY_INPCK = 32,
    WHELK_TTY_ISTRIP = 33, WHELK_TTY_INLCR = 34, WHELK_TTY_IGNCR = 35,
    WHELK_TTY_ICRNL = 36, WHELK_TTY_IUCLC = 37, WHELK_TTY_IXON = 38,
    WHELK_TTY_IXANY = 39, WHELK_TTY_IXOFF = 40, WHELK_TTY_IMAXBEL = 41,
    WHELK_TTY_IUTF8 = 42,
    WHELK_TTY_ISIG = 50, WHELK_TTY_ICANON = 51, WHELK_TTY_XCASE = 52,
    WHELK_TTY_ECHO = 53, WHELK_TTY_ECHOE = 54, WHELK_TTY_ECHOK = 55,
    WHELK_TTY_ECHONL = 56, WHELK_TTY_NOFLSH = 57, WHELK_TTY_TOSTOP = 58,
    WHELK_TTY_IEXTEN = 59, WHELK_TTY_ECHOCTL = 60, WHELK_TTY_ECHOKE = 61,
    WHELK_TTY_PENDIN = 62,
    WHELK_TTY_OPOST = 70, WHELK_TTY_OLCUC = 71, WHELK_TTY_ONLCR = 72,
    WHELK_TTY_OCRNL = 73, WHELK_TTY_ONOCR = 74, WHELK_TTY_ONLRET = 75,
    WHELK_TTY_CS7 = 90, WHELK_TTY_CS8 = 91, WHELK_TTY_PARENB = 92,
    WHELK_TTY_PARODD = 93,
    WHELK_TTY_OP_ISPEED = 128, WHELK_TTY_OP_OSPEED = 129
};

/* A pty-req, valid only during the pty_req callback. Terminal modes keep
 * the client's order; unknown opcodes in 1..159 are kept too (an
 * application may skip them). */
/* The terminal type ("xterm-256color"), at most 63 bytes. */
WHELK_EXTERN const char *whelk_pty_term(const whelk_pty *pty);
/* The window size in characters and pixels. */
WHELK_EXTERN void whelk_pty_size(const whelk_pty *pty, uint32_t *cols,
                                 uint32_t *rows, uint32_t *width_px,
                                 uint32_t *height_px);
WHELK_EXTERN unsigned whelk_pty_mode_count(const whelk_pty *pty);
/* Mode |i|: its opcode (enum whelk_tty_op) and value. Returns 0, or
 * WHELK_ERR_INVAL past the count. */
WHELK_EXTERN int whelk_pty_mode(const whelk_pty *pty, unsigned i,
                                uint8_t *opcode, uint32_t *value);

/* The session handler's callbacks; every one is optional. A request
 * callback returns 0 to grant the request (CHANNEL_SUCCESS when a reply is
 * wanted) or a negative value to refuse it (CHANNEL_FAILURE); a missing
 * callback refuses. Arguments are valid only during the call. */
typedef int (*whelk_pty_req_cb)(whelk_session *s, const whelk_pty *pty,
                                void *user);
typedef int (*whelk_env_cb)(whelk_session *s, const char *name,
                            const char *value, void *user);
typedef int (*whelk_shell_cb)(whelk_session *s, void *user);
/* |command| is NUL-terminated; a command with a NUL byte is refused
 * before this is called. */
typedef int (*whelk_exec_cb)(whelk_session *s, const char *command,
                             void *user);
typedef int (*whelk_subsystem_cb)(whelk_session *s, const char *name,
                                  void *user);
typedef int (*whelk_window_change_cb)(whelk_session *s, uint32_t cols,
                                      uint32_t rows, uint32_t width_px,
                                      uint32_t height_px, void *user);
/* |name| without "SIG", e.g. "INT". */
typedef int (*whelk_signal_cb)(whelk_session *s, const char *name,
                               void *user);
/* RFC 4335: a break of |ms| milliseconds. */
typedef int (*whelk_break_cb)(whelk_session *s, uint32_t ms, void *user);
typedef int (*whelk_xon_xoff_cb)(whelk_session *s, int client_can_do,
                                 void *user);
/* auth-agent-req@openssh.com: the client offers its agent; the server
 * then opens WHELK_CHANNEL_AUTH_AGENT channels to it. */
typedef int (*whelk_agent_req_cb)(whelk_session *s, void *user);
/* x11-req (RFC 4254 section 6.3.1): |auth_protocol| and |auth_cookie|
 * (hex) are for xauth; the server then opens WHELK_CHANNEL_X11
 * channels, only one when |single_connection|. */
typedef int (*whelk_x11_req_cb)(whelk_session *s, int single_connection,
                                const char *auth_protocol,
                                const char *auth_cookie, uint32_t screen,
                                void *user);
/* Client data (stdin), in order, only after the program started. The
 * bytes count against the window until whelk_session_consumed. */
typedef void (*whelk_data_cb)(whelk_session *s, const uint8_t *data,
                              size_t len, void *user);
/* Extended data from the client (rare; type 1 is "stderr"). */
typedef void (*whelk_extended_data_cb)(whelk_session *s, uint32_t type,
                                       const uint8_t *data, size_t len,
                                       void *user);
/* The client sent EOF (after all its data was delivered). */
typedef void (*whelk_eof_cb)(whelk_session *s, void *user);
/* The channel is gone (both sides closed, or the connection ended);
 * |s| is invalid after this returns. Free per-session state here. */
typedef void (*whelk_closed_cb)(whelk_session *s, void *user);
/* Output had to be queued (it could not go out at once): stop producing
 * (stop_writing), or the queue drained to half its bound: produce more
 * (start_writing). */
typedef void (*whelk_flow_cb)(whelk_session *s, void *user);

/* A new, empty handler; returns 0 or WHELK_ERR_NOMEM. */
WHELK_EXTERN int whelk_session_handler_new(whelk_session_handler **out);
WHELK_EXTERN void whelk_session_handler_free(whelk_session_handler *h);
WHELK_EXTERN void
whelk_session_handler_set_pty_req(whelk_session_handler *h,
                                  whelk_pty_req_cb cb);
WHELK_EXTERN void whelk_session_handler_set_env(whelk_session_handler *h,
                                                whelk_env_cb cb);
WHELK_EXTERN void whelk_session_handler_set_shell(whelk_session_handler *h,
                                                  whelk_shell_cb cb);
WHELK_EXTERN void whelk_session_handler_set_exec(whelk_session_handler *h,
                                                 whelk_exec_cb cb);
WHELK_EXTERN void
whelk_session_handler_set_subsystem(whelk_session_handler *h,
                                    whelk_subsystem_cb cb);
WHELK_EXTERN void
whelk_session_handler_set_window_change(whelk_session_handler *h,
                                        whelk_window_change_cb cb);
WHELK_EXTERN void whelk_session_handler_set_signal(whelk_session_handler *h,
                                                   whelk_signal_cb cb);
WHELK_EXTERN void whelk_session_handler_set_break(whelk_session_handler *h,
                                                  whelk_break_cb cb);
WHELK_EXTERN void
whelk_session_handler_set_xon_xoff(whelk_session_handler *h,
                                   whelk_xon_xoff_cb cb);
WHELK_EXTERN void whelk_session_handler_set_data(whelk_session_handler *h,
                                                 whelk_data_cb cb);
WHELK_EXTERN void
whelk_session_handler_set_extended_data(whelk_session_handler *h,
                                        whelk_extended_data_cb cb);
WHELK_EXTERN void whelk_session_handler_set_eof(whelk_session_handler *h,
                                                whelk_eof_cb cb);
WHELK_EXTERN void whelk_session_handler_set_closed(whelk_session_handler *h,
                                                   whelk_closed_cb cb);
WHELK_EXTERN void
whelk_session_handler_set_stop_writing(whelk_session_handler *h,
                                       whelk_flow_cb cb);
WHELK_EXTERN void
whelk_session_handler_set_start_writing(whelk_session_handler *h,
                                        whelk_flow_cb cb);
WHELK_EXTERN void
whelk_session_handler_set_agent_req(whelk_session_handler *h,
                                    whelk_agent_req_cb cb);
WHELK_EXTERN void whelk_session_handler_set_x11_req(whelk_session_handler *h,
                                                    whelk_x11_req_cb cb);

/* Attaches |h| (copied: it may be freed afterwards) and |user| to a
 * session; usually called from the session_open callback. NULL detaches
 * every callback. */
WHELK_EXTERN void whelk_session_set_handler(whelk_session *s,
                                            const whelk_session_handler *h,
                                            void *user);
WHELK_EXTERN void *whelk_session_user(const whelk_session *s);
WHELK_EXTERN whelk_conn *whelk_session_conn(const whelk_session *s);
/* Our channel number, for log lines. */
WHELK_EXTERN uint32_t whelk_session_id(const whelk_session *s);

/* Queues program output (stdout) or stderr (extended data type 1).
 * Returns the number of bytes taken, which is less than |len| when the
 * per-channel output bound is reached (stop_writing is called then, and
 * whenever some of the bytes had to wait in the queue);
 * WHELK_ERR_STATE after EOF or CLOSE was sent; or a fatal whelk_err (the
 * connection is over). */
WHELK_EXTERN whelk_ssize whelk_session_write(whelk_session *s,
                                             const void *data, size_t len);
WHELK_EXTERN whelk_ssize whelk_session_write_stderr(whelk_session *s,
                                                    const void *data,
                                                    size_t len);
/* How many bytes whelk_session_write would take now. */
WHELK_EXTERN size_t whelk_session_write_room(const whelk_session *s);
/* Reports |n| bytes of delivered client data as consumed (written to the
 * program), letting the window re-open. */
WHELK_EXTERN void whelk_session_consumed(whelk_session *s, size_t n);
/* The following are sent after all output queued before them, in the
 * order they are called. Each returns 0, WHELK_ERR_STATE once CLOSE was
 * sent or asked for, WHELK_ERR_LIMIT when too many are queued, or a fatal
 * whelk_err. */
WHELK_EXTERN int whelk_session_send_eof(whelk_session *s);
WHELK_EXTERN int whelk_session_exit_status(whelk_session *s,
                                           uint32_t status);
/* |name| without "SIG" (e.g. "TERM"); also WHELK_ERR_INVAL for an empty
 * or over-long name. */
WHELK_EXTERN int whelk_session_exit_signal(whelk_session *s,
                                           const char *name, int core_dumped,
                                           const char *message);
/* Closes the channel once queued output has gone ("lose connection"). */
WHELK_EXTERN int whelk_session_close(whelk_session *s);
/* Tells the client the program stopped reading its input
 * (eow@openssh.com); sent at once, only to peers that understand it.
 * Returns 0 or a fatal whelk_err. */
WHELK_EXTERN int whelk_session_send_eow(whelk_session *s);
/* Non-zero when the client has sent EOF. */
WHELK_EXTERN int whelk_session_peer_eof(const whelk_session *s);

/* The peer's current receive window (diagnostics and tests). */
WHELK_EXTERN uint32_t whelk_session_peer_window(const whelk_session *s);

/* ------------------------------------------------------------------------
 * Other channels (RFC 4254 sections 6.3 and 7, OpenSSH's PROTOCOL): TCP
 * and Unix-socket tunnels, agent and X11 connections, opened by either
 * side. They have the session's flow control, stop/start-writing and
 * EOF/CLOSE rules (both are users of one channel layer), with a handler
 * of their own.
 */

typedef enum whelk_channel_type {
    WHELK_CHANNEL_DIRECT_TCPIP = 1,        /* "direct-tcpip" (ssh -L, -D) */
    WHELK_CHANNEL_FORWARDED_TCPIP = 2,     /* "forwarded-tcpip" (ssh -R) */
    WHELK_CHANNEL_DIRECT_STREAMLOCAL = 3,  /* direct-streamlocal@openssh.com */
    WHELK_CHANNEL_FORWARDED_STREAMLOCAL = 4, /* forwarded-streamlocal@... */
    WHELK_CHANNEL_AUTH_AGENT = 5,          /* auth-agent@openssh.com */
    WHELK_CHANNEL_X11 = 6,                 /* "x11" */
    WHELK_CHANNEL_OTHER = 99               /* another name: read the data */
} whelk_channel_type;

/* CHANNEL_OPEN_FAILURE reason codes (RFC 4254 section 5.1). */
enum whelk_open_failure {
    WHELK_OPEN_ADMINISTRATIVELY_PROHIBITED = 1,
    WHELK_OPEN_CONNECT_FAILED = 2,
    WHELK_OPEN_UNKNOWN_CHANNEL_TYPE = 3,
    WHELK_OPEN_RESOURCE_SHORTAGE = 4
};

/* A channel open from the peer, valid during the channel_open callback.
 * Strings carry no NUL (an open naming one is refused before) and are
 * the peer's: escape them for log lines. */
WHELK_EXTERN whelk_channel_type
whelk_channel_open_type(const whelk_channel_open *open);
/* The type's name as sent ("direct-tcpip"). */
WHELK_EXTERN const char *
whelk_channel_open_type_name(const whelk_channel_open *open);
/* direct-tcpip: the host to connect to; forwarded-tcpip: the address that
 * was connected to; the streamlocal types: the socket path; else NULL. */
WHELK_EXTERN const char *
whelk_channel_open_address(const whelk_channel_open *open);
/* The port that goes with the address (0 for none). */
WHELK_EXTERN uint32_t whelk_channel_open_port(const whelk_channel_open *open);
/* The originator's address and port (the TCP types and x11), else NULL
 * and 0. */
WHELK_EXTERN const char *
whelk_channel_open_originator(const whelk_channel_open *open);
WHELK_EXTERN uint32_t
whelk_channel_open_originator_port(const whelk_channel_open *open);
/* The type-specific bytes after the window and packet size, as sent. */
WHELK_EXTERN const uint8_t *
whelk_channel_open_data(const whelk_channel_open *open, size_t *len);

/* A channel's callbacks, every one optional; arguments valid only during
 * the call. */
/* Our open was confirmed (|failure| 0) or refused (a whelk_open_failure
 * reason and the peer's |text|; closed follows). */
typedef void (*whelk_channel_opened_cb)(whelk_channel *ch, uint32_t failure,
                                        const char *text, void *user);
/* Data from the peer, in order; it counts against the window until
 * whelk_channel_consumed. */
typedef void (*whelk_channel_data_cb)(whelk_channel *ch, const uint8_t *data,
                                      size_t len, void *user);
/* EOF from the peer; the channel is gone (|ch| invalid after); output
 * over the bound (stop writing) or below half of it (start again). */
typedef void (*whelk_channel_cb)(whelk_channel *ch, void *user);

WHELK_EXTERN int whelk_channel_handler_new(whelk_channel_handler **out);
WHELK_EXTERN void whelk_channel_handler_free(whelk_channel_handler *h);
WHELK_EXTERN void
whelk_channel_handler_set_opened(whelk_channel_handler *h,
                                 whelk_channel_opened_cb cb);
WHELK_EXTERN void whelk_channel_handler_set_data(whelk_channel_handler *h,
                                                 whelk_channel_data_cb cb);
WHELK_EXTERN void whelk_channel_handler_set_eof(whelk_channel_handler *h,
                                                whelk_channel_cb cb);
WHELK_EXTERN void whelk_channel_handler_set_closed(whelk_channel_handler *h,
                                                   whelk_channel_cb cb);
WHELK_EXTERN void
whelk_channel_handler_set_stop_writing(whelk_channel_handler *h,
                                       whelk_channel_cb cb);
WHELK_EXTERN void
whelk_channel_handler_set_start_writing(whelk_channel_handler *h,
                                        whelk_channel_cb cb);

/* Attaches |h| (copied) and |user| to a channel before its open is
 * answered: needed to answer later, since the handler's closed callback
 * then tells when the channel goes (the connection ended) before the
 * answer. */
WHELK_EXTERN void whelk_channel_set_handler(whelk_channel *ch,
                                            const whelk_channel_handler *h,
                                            void *user);
/* Accepts the peer's open (CHANNEL_OPEN_CONFIRMATION), with |h| (copied)
 * and |user|: during the channel_open callback or later. Returns 0,
 * WHELK_ERR_STATE when already answered, or a fatal whelk_err. */
WHELK_EXTERN int whelk_channel_accept(whelk_channel *ch,
                                      const whelk_channel_handler *h,
                                      void *user);
/* Refuses it with a whelk_open_failure |reason| and |text| (may be NULL);
 * |ch| is invalid afterwards. Returns like whelk_channel_accept. */
WHELK_EXTERN int whelk_channel_refuse(whelk_channel *ch, uint32_t reason,
                                      const char *text);

/* Opens a channel of |type| to the peer: forwarded-tcpip (|address| and
 * |port| connected to, the originator's), forwarded-streamlocal
 * (|address| is the socket path), auth-agent and x11 (the originator's
 * address and port). The handler's opened callback tells the answer;
 * output written meanwhile is queued. Returns 0, WHELK_ERR_INVAL (a NULL
 * or over-long string, a type this side may not open), WHELK_ERR_STATE
 * (not logged in), WHELK_ERR_LIMIT (MAX_CHANNELS), WHELK_ERR_NOMEM, or a
 * fatal whelk_err. */
WHELK_EXTERN int whelk_conn_open_channel(whelk_conn *conn, whelk_channel **out,
                                         whelk_channel_type type,
                                         const char *address, uint32_t port,
                                         const char *originator,
                                         uint32_t originator_port,
                                         const whelk_channel_handler *h,
                                         void *user);

WHELK_EXTERN void *whelk_channel_user(const whelk_channel *ch);
WHELK_EXTERN whelk_conn *whelk_channel_conn(const whelk_channel *ch);
WHELK_EXTERN uint32_t whelk_channel_id(const whelk_channel *ch);
WHELK_EXTERN whelk_channel_type whelk_channel_get_type(const whelk_channel *ch);
/* As whelk_session_write / _write_room / _consumed / _send_eof / _close
 * (same return values), for the other channels. */
WHELK_EXTERN whelk_ssize whelk_channel_write(whelk_channel *ch,
                                             const void *data, size_t len);
WHELK_EXTERN size_t whelk_channel_write_room(const whelk_channel *ch);
WHELK_EXTERN void whelk_channel_consumed(whelk_channel *ch, size_t n);
WHELK_EXTERN int whelk_channel_send_eof(whelk_channel *ch);
WHELK_EXTERN int whelk_channel_close(whelk_channel *ch);
/* Non-zero once the peer sent EOF. */
WHELK_EXTERN int whelk_channel_peer_eof(const whelk_channel *ch);
/* Bytes a write to |ch| would put straight into packets now, within the
 * peer's window and the connection's output: 0 while earlier output waits
 * in the channel's queue, the window is shut or a key exchange runs.
 * What a write brings beyond this is queued (one more copy per byte) and
 * stops the writer (stop_writing) until the queue drains. A producer that
 * reads its source in chunks reads no more than this, or a small minimum.
 * whelk_channel_write_room still says what may be written at all. */
WHELK_EXTERN size_t whelk_channel_send_room(const whelk_channel *ch);

/* ------------------------------------------------------------------------
 * Global requests (RFC 4254 section 4): port forwarding requests from
 * the peer, and requests of one's own.
 */

typedef enum whelk_global_type {
    WHELK_GLOBAL_TCPIP_FORWARD = 1,        /* ssh -R */
    WHELK_GLOBAL_CANCEL_TCPIP_FORWARD = 2,
    WHELK_GLOBAL_STREAMLOCAL_FORWARD = 3,  /* streamlocal-forward@openssh.com */
    WHELK_GLOBAL_CANCEL_STREAMLOCAL_FORWARD = 4,
    WHELK_GLOBAL_OTHER = 99
} whelk_global_type;

/* A request from the peer, valid during the global_request callback. */
WHELK_EXTERN whelk_global_type
whelk_global_request_type(const whelk_global_request *req);
WHELK_EXTERN const char *
whelk_global_request_name(const whelk_global_request *req);
/* The address to bind (the TCP types) or the socket path (streamlocal). */
WHELK_EXTERN const char *
whelk_global_request_address(const whelk_global_request *req);
/* The port to bind; 0 asks the server to choose one. */
WHELK_EXTERN uint32_t
whelk_global_request_port(const whelk_global_request *req);
WHELK_EXTERN const uint8_t *
whelk_global_request_data(const whelk_global_request *req, size_t *len);
/* Non-zero when the peer wants a reply: then whelk_conn_global_reply
 * must follow, now or later, with this request's id. */
WHELK_EXTERN int whelk_global_request_want_reply(const whelk_global_request *req);
WHELK_EXTERN uint32_t whelk_global_request_id(const whelk_global_request *req);

/* Answers request |id|: |ok| or not; |port| the port chosen for a
 * tcpip-forward asking for port 0 (else 0). Replies go out in the order
 * of the requests, whatever order they are answered in. Returns 0,
 * WHELK_ERR_STATE (no such request waiting), or a fatal whelk_err. */
WHELK_EXTERN int whelk_conn_global_reply(whelk_conn *conn, uint32_t id, int ok,
                                         uint32_t port);
/* Sends a global request of our own: |name|, then |data| (the request's
 * own fields, already encoded). With |want_reply| the global_reply
 * callback gets the answer. Returns 0, WHELK_ERR_INVAL,
 * WHELK_ERR_LIMIT (16 replies awaited), or a fatal whelk_err. */
WHELK_EXTERN int whelk_conn_send_global_request(whelk_conn *conn,
                                                const char *name,
                                                const uint8_t *data,
                                                size_t len, int want_reply);

#ifdef __cplusplus
}
#endif
#endif /* WHELK_H */
