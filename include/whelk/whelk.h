/*
 * whelk: an SSH-2 protocol engine (libwhelk).
 *
 * This is the only installed header. Every public symbol is prefixed
 * whelk_; everything else in the library is internal (the headers in lib/).
 *
 * The engine is sans-I/O, in the shape of nghttp2 and ngtcp2: the caller
 * feeds it bytes read from a socket (whelk_conn_recv), takes the bytes it
 * must write (whelk_conn_out / whelk_conn_out_consumed), and runs its timers
 * (whelk_conn_expiry / whelk_conn_handle_expiry). Time is always a
 * parameter; randomness comes from a callback in the configuration. The
 * engine never blocks, never reads files and never starts processes:
 * decisions (accept this key? start this shell?) go to the application
 * through callbacks.
 *
 * Ownership: the engine copies whatever it keeps. A pointer handed to a
 * callback is valid only during that callback; a pointer returned by the
 * engine is valid until the next call on the same object.
 */
#ifndef WHELK_H
#define WHELK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define WHELK_EXTERN __attribute__((visibility("default")))
#else
#define WHELK_EXTERN
#endif

#define WHELK_VERSION "0.1.0"

/* ------------------------------------------------------------------------
 * Errors. One table, so the enum, whelk_strerror and whelk_err_name cannot
 * drift apart. Every error below WHELK_ERR_FATAL ends the connection.
 */
#define WHELK_ERRNO_MAP(X)                                                    \
    X(OK, 0, "success")                                                       \
    X(AGAIN, -1, "more input needed")                                         \
    X(INVAL, -2, "invalid argument")                                          \
    X(STATE, -3, "not allowed in the current state")                          \
    X(NOT_FOUND, -4, "not found")                                             \
    X(LIMIT, -5, "a configured limit was reached")                            \
    X(UNSUPPORTED, -6, "unsupported algorithm or format")                     \
    X(KEY_FORMAT, -7, "malformed key")                                        \
    X(KEY_ENCRYPTED, -8, "key is encrypted (passphrase keys not supported)")  \
    X(SIGNATURE, -9, "signature does not verify")                             \
    X(IO, -10, "input/output error")                                          \
    X(FATAL, -100, "fatal error")                                             \
    X(NOMEM, -101, "out of memory")                                           \
    X(PROTO, -102, "protocol error")                                          \
    X(TRUNCATED, -103, "message truncated")                                   \
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

/* Parses an unencrypted OpenSSH private key ("-----BEGIN OPENSSH PRIVATE
 * KEY-----"), as ssh-keygen writes it. Returns WHELK_ERR_KEY_ENCRYPTED for a
 * passphrase-protected key and WHELK_ERR_KEY_FORMAT for anything else it
 * cannot read. The text is not kept. */
WHELK_EXTERN int whelk_key_parse_private(const char *text, size_t len,
                                         whelk_key **out);
/* Parses a public key blob (RFC 4253 section 6.6 encoding). */
WHELK_EXTERN int whelk_key_parse_public_blob(const uint8_t *blob, size_t len,
                                             whelk_key **out);
/* Parses one public key line "TYPE BASE64 [comment]" (no options). */
WHELK_EXTERN int whelk_key_parse_public_line(const char *line, size_t len,
                                             whelk_key **out);
/* A new random ed25519 key. */
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
 * it. |out| must hold at least 64 bytes. */
WHELK_EXTERN int whelk_key_fingerprint(const whelk_key *key, char *out,
                                       size_t outlen);
/* Writes the private key in OpenSSH format (unencrypted) to a malloc'd
 * NUL-terminated string the caller frees with whelk_free_secret. */
WHELK_EXTERN int whelk_key_write_private(const whelk_key *key,
                                         const char *comment, char **out,
                                         size_t *outlen);
/* Writes "TYPE BASE64 comment\n" to a malloc'd string (free()). */
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

WHELK_EXTERN whelk_config *whelk_config_new(void);
WHELK_EXTERN void whelk_config_free(whelk_config *cfg);
/* Adds a host key; the config takes ownership of |key|. At most 8. */
WHELK_EXTERN int whelk_config_add_host_key(whelk_config *cfg, whelk_key *key);
/* Replaces the random source (tests pin it). Default: OpenSSL RAND_bytes. */
WHELK_EXTERN void whelk_config_set_rand(whelk_config *cfg, whelk_rand_cb cb,
                                        void *user);
/* Comma-separated algorithm lists, in preference order; NULL restores the
 * default. Unknown names are WHELK_ERR_UNSUPPORTED. */
WHELK_EXTERN int whelk_config_set_kex(whelk_config *cfg, const char *list);
WHELK_EXTERN int whelk_config_set_ciphers(whelk_config *cfg,
                                          const char *list);
WHELK_EXTERN int whelk_config_set_macs(whelk_config *cfg, const char *list);
/* Banner text sent before authentication (copied); NULL for none. */
WHELK_EXTERN int whelk_config_set_banner(whelk_config *cfg,
                                         const char *text);

/* Numeric settings. Times in milliseconds, sizes in bytes. */
typedef enum whelk_setting {
    WHELK_SET_LOGIN_GRACE_MS,   /* default 120000; 0 = none */
    WHELK_SET_VERSION_TIMEOUT_MS, /* identification line deadline, 30000 */
    WHELK_SET_MAX_AUTH_TRIES,   /* default 6 */
    /* Minimum time from a failed request's arrival to its failure reply,
     * default 150; the work behind the answer (a crypt, a file read)
     * runs inside it. When the work took longer, the minimum doubles
     * until it lies ahead (as sshd's ensure_minimum_time_since); at most
     * 60000. */
    WHELK_SET_AUTH_FAIL_DELAY_MS,
    WHELK_SET_AUTH_METHODS,     /* bit set of WHELK_AUTH_METHOD_* */
    WHELK_SET_REKEY_BYTES,      /* default 1 GiB */
    WHELK_SET_REKEY_MS,         /* default 3600000 */
    WHELK_SET_MAX_SESSIONS,     /* per connection, default 10 */
    WHELK_SET_WINDOW,           /* initial channel window, default 2 MiB */
    WHELK_SET_MAX_PACKET,       /* channel max packet, default 32 KiB */
    WHELK_SET_OUT_BUFFER,       /* per-channel output bound, default 2 MiB */
    /* The same minimum for a rejected publickey query or an unknown
     * method, default 5, plus 0..4 ms drawn once per connection (sshd's
     * 5 ms plus its per-user 0..4.2 ms); 0 answers at once. */
    WHELK_SET_AUTH_QUERY_DELAY_MS,
    WHELK_SET_COUNT_
} whelk_setting;
WHELK_EXTERN int whelk_config_set(whelk_config *cfg, whelk_setting what,
                                  uint64_t value);
WHELK_EXTERN uint64_t whelk_config_get(const whelk_config *cfg,
                                       whelk_setting what);

enum whelk_auth_method {
    WHELK_AUTH_METHOD_PUBLICKEY = 1 << 0,
    WHELK_AUTH_METHOD_PASSWORD = 1 << 1,
    WHELK_AUTH_METHOD_KBDINT = 1 << 2
};

/* ------------------------------------------------------------------------
 * Connections.
 */
typedef struct whelk_conn whelk_conn;
typedef struct whelk_session whelk_session;

enum whelk_log_level {
    WHELK_LOG_ERROR = 0,
    WHELK_LOG_WARN = 1,
    WHELK_LOG_INFO = 2,
    WHELK_LOG_DEBUG = 3
};

/* Answers of the user_valid callback. */
enum whelk_user_answer {
    WHELK_USER_UNKNOWN = 0,
    WHELK_USER_VALID = 1,
    WHELK_USER_PENDING = 2,  /* the same value as WHELK_AUTH_PENDING */
    WHELK_USER_REFUSED = -1
};

/* Results of an authentication decision. */
typedef enum whelk_auth_result {
    WHELK_AUTH_DENY = 0,
    WHELK_AUTH_ALLOW = 1,
    /* The application will answer later with whelk_conn_auth_done(). The
     * connection parses no further input until then. */
    WHELK_AUTH_PENDING = 2
} whelk_auth_result;

/* A publickey request, with the raw material a privilege-separated monitor
 * needs to check the decision itself. */
typedef struct whelk_auth_pubkey {
    const char *user;
    const char *algorithm;     /* as the client named it */
    const whelk_key *key;      /* parsed from key_blob */
    const uint8_t *key_blob;
    size_t key_blob_len;
    /* NULL for the query without a signature (answered PK_OK on ALLOW). */
    const uint8_t *signature;
    size_t signature_len;
    /* The exact bytes the signature covers (RFC 4252 section 7). */
    const uint8_t *signed_data;
    size_t signed_data_len;
} whelk_auth_pubkey;

/* keyboard-interactive (RFC 4256): one round of prompts. */
#define WHELK_KBDINT_MAX_PROMPTS 8
typedef struct whelk_kbdint_prompts {
    const char *name;
    const char *instruction;
    unsigned count;
    const char *prompt[WHELK_KBDINT_MAX_PROMPTS];
    int echo[WHELK_KBDINT_MAX_PROMPTS];
} whelk_kbdint_prompts;

typedef struct whelk_callbacks {
    /* One line per event; |msg| has no newline. */
    void (*log)(whelk_conn *conn, int level, const char *msg, void *user);

    /* Called once per connection, for the user name of the first
     * request (a later request naming another user or service ends the
     * connection, as in sshd). Returns one of enum whelk_user_answer:
     * UNKNOWN (0) when there is no such user: the engine logs "Invalid
     * user"; REFUSED when the user exists but may not log in (locked,
     * expired; the application logs why, as sshd does); VALID (or any
     * other non-zero value); or PENDING, when the answer needs a look-up
     * that may block (NSS, LDAP): the engine then holds the request and
     * all input until whelk_conn_user_done() (or whelk_conn_auth_done()
     * with ALLOW for VALID, DENY for UNKNOWN). An unknown or refused
     * user still goes through every method to its end (the decision
     * callbacks are called as usual) so it fails exactly like a wrong
     * credential. */
    int (*user_valid)(whelk_conn *conn, const char *user_name, void *user);

    /* Authentication decisions. Each may return WHELK_AUTH_PENDING. The
     * engine has already checked a publickey signature before asking. */
    whelk_auth_result (*auth_publickey)(whelk_conn *conn,
                                        const whelk_auth_pubkey *req,
                                        void *user);
    whelk_auth_result (*auth_password)(whelk_conn *conn, const char *user_name,
                                       const char *password, size_t len,
                                       void *user);
    /* Fills |prompts| for the first (round == 0) or a later round; return
     * 0, or a negative value to refuse the method. */
    int (*auth_kbdint_prompts)(whelk_conn *conn, const char *user_name,
                               unsigned round, whelk_kbdint_prompts *prompts,
                               void *user);
    /* Answers to the prompts of |round|; ALLOW ends authentication, DENY
     * fails it, PENDING defers. Return WHELK_AUTH_DENY with *more set to 1
     * to send another round instead. */
    whelk_auth_result (*auth_kbdint_answers)(whelk_conn *conn,
                                             const char *user_name,
                                             unsigned round, unsigned count,
                                             const char *const *answers,
                                             int *more, void *user);
    /* The user is logged in. */
    void (*authenticated)(whelk_conn *conn, const char *user_name,
                          const char *method, void *user);

    /* A session channel was opened; attach a handler with
     * whelk_session_set_handler. Return 0 to accept, or a negative value to
     * refuse the open. */
    int (*session_open)(whelk_conn *conn, whelk_session *session, void *user);

    /* Client side (whelk_conn_client_new). */
    /* The server's host key, after its signature over the exchange hash
     * verified. Return 0 to trust it, negative to end the connection. */
    int (*host_key_check)(whelk_conn *conn, const whelk_key *key,
                          void *user);
    /* The password to try; copy it NUL-terminated into |buf| and return 0,
     * or return negative to skip password authentication. */
    int (*client_password)(whelk_conn *conn, char *buf, size_t size,
                           void *user);
    /* Answers for one keyboard-interactive round: write |p->count|
     * NUL-terminated answers into answers[i] (each |size| bytes). Return
     * negative to give up on the method. */
    int (*client_kbdint)(whelk_conn *conn, const whelk_kbdint_prompts *p,
                         char (*answers)[256], void *user);
    /* Every method the server allows has failed; the connection ends. */
    void (*auth_failed)(whelk_conn *conn, void *user);
} whelk_callbacks;

/* A server-side connection. |peer_addr| and |peer_port| appear in log
 * lines; both are copied. */
WHELK_EXTERN int whelk_conn_server_new(whelk_conn **out,
                                       const whelk_config *cfg,
                                       const whelk_callbacks *cb, void *user,
                                       const char *peer_addr, int peer_port,
                                       uint64_t now_ms);
/* A client-side connection that logs in as |user_name|, trying the
 * publickey method with |identity| (may be NULL; the key must stay valid
 * for the connection's life), then password and keyboard-interactive
 * through the client callbacks. */
WHELK_EXTERN int whelk_conn_client_new(whelk_conn **out,
                                       const whelk_config *cfg,
                                       const whelk_callbacks *cb, void *user,
                                       const char *user_name,
                                       const whelk_key *identity,
                                       uint64_t now_ms);
WHELK_EXTERN void whelk_conn_free(whelk_conn *conn);
WHELK_EXTERN void *whelk_conn_user(const whelk_conn *conn);
WHELK_EXTERN void whelk_conn_set_user(whelk_conn *conn, void *user);

/* Feeds bytes read from the peer. Returns the number consumed (which can be
 * less than |len| while the engine is holding back, see want_read) or a
 * negative error; after a fatal error, queue output is still to be written
 * (the DISCONNECT) and then the connection closed. */
WHELK_EXTERN ssize_t whelk_conn_recv(whelk_conn *conn, const uint8_t *in,
                                     size_t len, uint64_t now_ms);
/* Zero-copy input: space inside the engine's input buffer to read the
 * socket into (at least 16 KiB unless the engine is full), valid until
 * the next call on |conn|; returns its size, 0 when no input is wanted.
 * Then whelk_conn_recv_commit says how many bytes landed there; it
 * behaves like whelk_conn_recv otherwise. */
WHELK_EXTERN size_t whelk_conn_recv_space(whelk_conn *conn, uint8_t **buf);
WHELK_EXTERN ssize_t whelk_conn_recv_commit(whelk_conn *conn, size_t n,
                                            uint64_t now_ms);
/* Non-zero while the engine can take more input. */
WHELK_EXTERN int whelk_conn_want_read(const whelk_conn *conn);
/* Bytes waiting to go to the peer; the pointer is valid until the next call
 * on |conn|. Returns the count (0 when nothing is pending). */
WHELK_EXTERN size_t whelk_conn_out(whelk_conn *conn, const uint8_t **data);
/* Tells the engine that |n| of those bytes were written. */
WHELK_EXTERN void whelk_conn_out_consumed(whelk_conn *conn, size_t n);
/* The next deadline (ms, same clock as now_ms), or UINT64_MAX for none. */
WHELK_EXTERN uint64_t whelk_conn_expiry(const whelk_conn *conn);
/* Runs timers that are due. Returns 0 or a fatal error. */
WHELK_EXTERN int whelk_conn_handle_expiry(whelk_conn *conn, uint64_t now_ms);
/* Non-zero once the connection is over: write what whelk_conn_out still
 * holds, then close the socket and free the connection. */
WHELK_EXTERN int whelk_conn_is_closed(const whelk_conn *conn);
/* The peer closed its side of the stream; logs it in sshd's words and
 * ends the connection (the caller still frees it). */
WHELK_EXTERN void whelk_conn_peer_closed(whelk_conn *conn);
/* Sends SSH_MSG_DISCONNECT and ends the connection. */
WHELK_EXTERN int whelk_conn_disconnect(whelk_conn *conn, int reason,
                                       const char *description);
/* Completes a decision that returned WHELK_AUTH_PENDING (or a pending
 * user_valid: ALLOW means VALID, DENY means UNKNOWN). */
WHELK_EXTERN int whelk_conn_auth_done(whelk_conn *conn,
                                      whelk_auth_result result,
                                      uint64_t now_ms);
/* Completes a user_valid that returned WHELK_USER_PENDING with one of
 * UNKNOWN, VALID or REFUSED; the held request is then processed. */
WHELK_EXTERN int whelk_conn_user_done(whelk_conn *conn, int answer,
                                      uint64_t now_ms);
/* Starts a key re-exchange now. */
WHELK_EXTERN int whelk_conn_rekey(whelk_conn *conn, uint64_t now_ms);

/* Facts about the connection, valid for its lifetime (NULL until known). */
WHELK_EXTERN const char *whelk_conn_peer_version(const whelk_conn *conn);
WHELK_EXTERN const char *whelk_conn_user_name(const whelk_conn *conn);
WHELK_EXTERN const char *whelk_conn_peer_addr(const whelk_conn *conn);
WHELK_EXTERN int whelk_conn_peer_port(const whelk_conn *conn);
/* The negotiated algorithm names: "kex", "hostkey", "cipher", "mac". */
WHELK_EXTERN const char *whelk_conn_algorithm(const whelk_conn *conn,
                                              const char *which);


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

typedef struct whelk_tty_mode {
    uint8_t opcode;
    uint32_t value;
} whelk_tty_mode;

/* A parsed pty-req. Modes keep the client's order; unknown opcodes in
 * 1..159 are kept too (an application may skip them). */
typedef struct whelk_pty {
    char term[64];
    uint32_t cols, rows, width_px, height_px;
    unsigned n_modes;
    whelk_tty_mode modes[WHELK_MAX_TTY_MODES];
} whelk_pty;

/* The session handler: every callback is optional. A request callback
 * returns 0 to grant the request (CHANNEL_SUCCESS when a reply is wanted)
 * or a negative value to refuse it (CHANNEL_FAILURE); a missing callback
 * refuses. Arguments are valid only during the call. */
typedef struct whelk_session_handler {
    int (*pty_req)(whelk_session *s, const whelk_pty *pty, void *user);
    int (*env)(whelk_session *s, const char *name, const char *value,
               void *user);
    int (*shell)(whelk_session *s, void *user);
    /* |command| is NUL-terminated; a command with a NUL byte is refused
     * before this is called. */
    int (*exec)(whelk_session *s, const char *command, void *user);
    int (*subsystem)(whelk_session *s, const char *name, void *user);
    int (*window_change)(whelk_session *s, uint32_t cols, uint32_t rows,
                         uint32_t width_px, uint32_t height_px, void *user);
    /* |name| without "SIG", e.g. "INT". */
    int (*signal)(whelk_session *s, const char *name, void *user);
    int (*brk)(whelk_session *s, uint32_t ms, void *user); /* RFC 4335 */
    int (*xon_xoff)(whelk_session *s, int client_can_do, void *user);

    /* Client data (stdin), in order, only after the program started. The
     * bytes count against the window until whelk_session_consumed. */
    void (*data)(whelk_session *s, const uint8_t *data, size_t len,
                 void *user);
    /* Extended data from the client (rare; type 1 is "stderr"). */
    void (*extended_data)(whelk_session *s, uint32_t type,
                          const uint8_t *data, size_t len, void *user);
    /* The client sent EOF (after all its data was delivered). */
    void (*eof)(whelk_session *s, void *user);
    /* The channel is gone (both sides closed, or the connection ended);
     * |s| is invalid after this returns. Free per-session state here. */
    void (*closed)(whelk_session *s, void *user);
    /* Output buffered beyond the bound: stop producing. */
    void (*stop_writing)(whelk_session *s, void *user);
    /* Room again: produce more. */
    void (*start_writing)(whelk_session *s, void *user);
} whelk_session_handler;

/* Attaches |h| (copied) and |user| to a session; usually called from the
 * session_open callback. */
WHELK_EXTERN void whelk_session_set_handler(whelk_session *s,
                                            const whelk_session_handler *h,
                                            void *user);
WHELK_EXTERN void *whelk_session_user(const whelk_session *s);
WHELK_EXTERN whelk_conn *whelk_session_conn(const whelk_session *s);
/* Our channel number, for log lines. */
WHELK_EXTERN uint32_t whelk_session_id(const whelk_session *s);

/* Queues program output (stdout) or stderr (extended data type 1). Returns
 * the number of bytes taken, which is less than |len| when the per-channel
 * output bound is reached (stop_writing is then called), or a negative
 * error (WHELK_ERR_STATE after EOF or CLOSE was sent). */
WHELK_EXTERN ssize_t whelk_session_write(whelk_session *s, const void *data,
                                         size_t len);
WHELK_EXTERN ssize_t whelk_session_write_stderr(whelk_session *s,
                                                const void *data, size_t len);
/* How many bytes whelk_session_write would take now. */
WHELK_EXTERN size_t whelk_session_write_room(const whelk_session *s);
/* Reports |n| bytes of delivered client data as consumed (written to the
 * program), letting the window re-open. */
WHELK_EXTERN void whelk_session_consumed(whelk_session *s, size_t n);
/* The following are sent after all output queued before them, in the
 * order they are called. */
WHELK_EXTERN int whelk_session_send_eof(whelk_session *s);
WHELK_EXTERN int whelk_session_exit_status(whelk_session *s,
                                           uint32_t status);
/* |name| without "SIG" (e.g. "TERM"). */
WHELK_EXTERN int whelk_session_exit_signal(whelk_session *s,
                                           const char *name, int core_dumped,
                                           const char *message);
/* Closes the channel once queued output has gone ("lose connection"). */
WHELK_EXTERN int whelk_session_close(whelk_session *s);
/* Tells the client the program stopped reading its input
 * (eow@openssh.com); sent at once, only to peers that understand it. */
WHELK_EXTERN int whelk_session_send_eow(whelk_session *s);
/* Non-zero when the client has sent EOF. */
WHELK_EXTERN int whelk_session_peer_eof(const whelk_session *s);

/* The peer's current receive window (diagnostics and tests). */
WHELK_EXTERN uint32_t whelk_session_peer_window(const whelk_session *s);

#ifdef __cplusplus
}
#endif
#endif /* WHELK_H */
