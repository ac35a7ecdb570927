/*
 * conn: the connection object shared by the engine's modules.
 *
 * transport.c owns the byte streams, version exchange, key exchange and
 * message dispatch; auth.c the user authentication state; channel.c the
 * connection protocol. They meet here: this header defines struct
 * whelk_conn and the few internal calls they use on each other.
 */
#ifndef WHELK_CONN_H
#define WHELK_CONN_H

#include "whelk/whelk.h"

#include "buf.h"
#include "callbacks.h"
#include "cipher.h"
#include "config.h"
#include "kex.h"
#include "ssh.h"

/* Bounds a peer cannot raise. */
#define WK_IN_MAX (2 * WK_MAX_PACKET_LEN + 64)   /* undecoded input */
#define WK_OUT_MAX (16u << 20)                    /* encrypted output */
/* Output held before input is left unprocessed and no more is taken
 * (whelk_conn_want_read): half the buffer once authenticated; before,
 * every byte out is a reply to the peer's own packets, so a peer that
 * sends without reading is stopped after a few hundred KiB. */
#define WK_OUT_HOLD (WK_OUT_MAX / 2)
#define WK_OUT_HOLD_PREAUTH (256u << 10)
/* Stop filling the socket's output with channel data above this; the
 * rest waits in the channel queues (back-pressure towards programs). */
#define WK_OUT_HIGH (1u << 20)
#define WK_DEFERRED_MAX (8u << 20)                /* held during kex */

enum wk_conn_state {
    WK_ST_VERSION,   /* waiting for the peer's identification line */
    WK_ST_PACKETS,   /* binary packets */
    WK_ST_CLOSED     /* disconnected; only output draining remains */
};

enum wk_kex_phase {
    WK_KEX_NONE,         /* no exchange in progress */
    WK_KEX_STARTED,      /* KEXINIT sent and/or received */
    WK_KEX_WAIT_NEWKEYS  /* reply and NEWKEYS sent, peer's NEWKEYS due */
};

typedef struct wk_auth wk_auth;
typedef struct wk_kex_reply wk_kex_reply;
typedef struct wk_chans wk_chans;

struct whelk_conn {
    const whelk_config *cfg;
    /* The config's numeric settings, copied at creation so that one
     * connection can differ (whelk_conn_set: sshd's Match blocks). */
    uint64_t set[WHELK_SET_COUNT_];
    char *banner;            /* this connection's own, else the config's */
    uint64_t start_ms;       /* the login grace time counts from here */
    uint64_t auth_ms;        /* when the login succeeded */
    uint64_t alive_due_ms;   /* next client-alive probe, after login */
    unsigned alive_unanswered; /* probes since the peer last sent */
    wk_callbacks cb;
    void *user;
    char peer_addr[64];
    int peer_port;
    int state;
    int err;                 /* the fatal error that ended it, if any */

    wk_buf in;               /* raw bytes not yet decoded */
    size_t in_offer;         /* room whelk_conn_recv_space offers now */
    size_t in_last;          /* bytes the last read brought */
    int in_held;             /* input left unprocessed for lack of output
                                room; whelk_conn_expiry resumes it */
    wk_buf out;              /* encrypted bytes for the peer */
    wk_buf deferred;         /* payloads held while keys change */
    wk_pkt_dir *rx, *tx;

    /* Identification strings, no CR LF, for every exchange hash: ours
     * from creation, the peer's once its line is read (heap copies of
     * their length, not 256-byte arrays kept for the connection's life). */
    char *v_c, *v_s;
    const char *bad_version; /* a refused peer line, for its event */

    /* Key exchange. */
    int kex_phase;
    int kex_sent_init;       /* our KEXINIT of this exchange is out */
    int kex_got_init;        /* the peer's has arrived */
    int kex_count;           /* completed exchanges */
    int strict;              /* kex-strict-c-v00 seen in the first KEXINIT */
    int ext_info_c;          /* the client takes RFC 8308 EXT_INFO */
    int ignore_guess;        /* drop the peer's wrongly guessed packet */
    wk_buf my_kexinit, peer_kexinit;
    const wk_kex_alg *kex;
    const whelk_key *hostkey;
    char kex_name[64], hostkey_alg[32];
    const wk_cipher_alg *enc[2]; /* [0] client to server, [1] back */
    const wk_mac_alg *mac[2];
    /* The algorithms in use (whelk_conn_algorithm): the kex, cipher and
     * MAC names point into the engine's static tables. */
    const char *cur_kex, *cur_cipher[2], *cur_mac[2];
    char cur_hostkey[32];
    struct wk_kex_reply *reply; /* the server's half while H is signed */
    int sign_pending;        /* the sign callback has not answered yet */
    int in_sign_cb;          /* inside it: its answer must not recurse */
    uint8_t session_id[64];
    size_t session_id_len;
    /* Receive keys wait here from our NEWKEYS until the peer's. */
    uint8_t rx_key[64], rx_iv[32], rx_mac[64];
    uint64_t rekey_at_ms;    /* time-based rekey deadline */

    uint64_t now_ms;
    uint64_t version_deadline;
    uint64_t grace_deadline;
    int service_ok;          /* ssh-userauth accepted */
    int authenticated;
    char *user_name;         /* set once authenticated */
    char *user_log;          /* the same, escaped for log lines */

    wk_auth *auth;
    wk_chans *chans;

    /* Client role. */
    int is_client;
    int pre_version_lines;   /* lines a server sent before its version */
    const whelk_key *identity;
    wk_kex_client *kexc;
    wk_buf q_c;              /* our kex value, for the exchange hash */
    struct wk_client_auth *cauth;
};

/* Outgoing messages. wk_msg_begin starts a packet of |type| and returns
 * the buffer to append the rest of the payload to (NULL on error); the
 * payload goes straight into the encrypted output stream, or, while keys
 * are changing and the message is not part of the exchange, into the
 * deferred queue. wk_msg_end finishes it. */
typedef struct wk_msg {
    wk_buf *b;
    size_t start;
    int deferred;
} wk_msg;
wk_buf *wk_msg_begin(whelk_conn *c, wk_msg *m, uint8_t type);
int wk_msg_end(whelk_conn *c, wk_msg *m);
/* wk_msg_end for a message whose last |len| bytes, at |hole| (reserved
 * with wk_buf_extend), are to be |src|: they are encrypted from there
 * rather than copied in first. */
int wk_msg_end_from(whelk_conn *c, wk_msg *m, uint8_t *hole,
                    const uint8_t *src, size_t len);
/* Bytes of encrypted output still queued for the socket. */
static inline size_t wk_conn_out_pending(const whelk_conn *c)
{
    return wk_buf_used(&c->out) + wk_buf_used(&c->deferred);
}

/* An event as event.c hands it to the application (see whelk.h). */
struct whelk_event {
    whelk_event_type type;
    const char *user, *method, *text, *peer_version;
    const whelk_key *key;
    int invalid_user, authenticated, error;
    uint32_t reason;
};
/* Reports |ev|, filling in whether the connection is logged in and, when
 * the event names none, the user logged in or trying. */
void wk_event(whelk_conn *c, whelk_event *ev);

/* Diagnostics in the engine's words, for the log callback. */
void wk_log(whelk_conn *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends DISCONNECT with |reason|, logs |why| and ends the connection.
 * Returns |err| so callers can write `return wk_fatal(...)`. */
int wk_fatal(whelk_conn *c, int err, int reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* For the public entry points: a fatal |rc| that has not ended the
 * connection yet (out of memory, a full queue) ends it now, with a
 * DISCONNECT and a log line. Returns |rc|. */
int wk_end_if_fatal(whelk_conn *c, int rc);
int wk_rand(whelk_conn *c, uint8_t *out, size_t len);
/* Marks the connection logged in as |user| (either role); the one place
 * that sets user_name, user_log and authenticated. */
int wk_conn_set_authenticated(whelk_conn *c, const char *user);
/* Sets an identification string (c->v_c or c->v_s) to the |len| bytes
 * of |line|. Returns 0 or WHELK_ERR_NOMEM. */
int wk_conn_set_ident(char **slot, const char *line, size_t len);


/* conn.c: non-zero while the output holds so much that input is left
 * unprocessed (each packet may add a reply). */
int wk_conn_out_full(const whelk_conn *c);
/* Non-zero when channels may add data to the output now: not while keys
 * change, nor while the socket's output is backed up. */
int wk_conn_may_send_data(const whelk_conn *c);
/* A packet arrived: the client-alive probes start over. */
void wk_conn_peer_active(whelk_conn *c);
/* The banner to send: the connection's own, else the config's (or NULL). */
const char *wk_conn_banner(const whelk_conn *c);
/* channel.c: when the connection's last channel closed (or UINT64_MAX
 * while one is open), and the earliest channel inactivity deadline. */
uint64_t wk_chans_idle_since(const whelk_conn *c);
uint64_t wk_chans_expiry(const whelk_conn *c);
/* Closes the channels whose inactivity timeout passed. */
int wk_chans_handle_expiry(whelk_conn *c, uint64_t now);
/* Non-zero while a decision, a delay or a signature holds input back. */
int wk_conn_input_held(const whelk_conn *c);
/* Takes up input held back by a decision answered later (auth_done,
 * user_done, sign_done): the core's job, not the timer entry point's.
 * Returns 0 or a public fatal code. */
int wk_conn_resume_input(whelk_conn *c);

/* transport.c */
/* Our identification string, without CR LF. */
const char *wk_transport_ident(void);
/* Queues the first flight: identification and KEXINIT. */
int wk_transport_start(whelk_conn *c);
/* Processes every complete packet in the input buffer; returns 0 or an
 * error (the connection may then be over). */
int wk_transport_process(whelk_conn *c);
/* Seals the payloads held during a key change, now under the new keys. */
int wk_flush_deferred(whelk_conn *c);
/* DISCONNECT straight into the output, whatever the key exchange does. */
int wk_send_disconnect(whelk_conn *c, int reason, const char *text);

/* kexstate.c */
int wk_kex_send_init(whelk_conn *c);
int wk_kex_on_kexinit(whelk_conn *c, const uint8_t *p, size_t n);
/* The server's KEX_ECDH_INIT, the client's KEX_ECDH_REPLY. */
int wk_kex_on_init_value(whelk_conn *c, const uint8_t *p, size_t n);
int wk_kex_on_reply(whelk_conn *c, const uint8_t *p, size_t n);
int wk_kex_on_newkeys(whelk_conn *c);
/* Starts a rekey when the volume or time limit is reached. */
int wk_kex_maybe_rekey(whelk_conn *c);
/* Frees a reply still waiting for its signature. */
void wk_kex_reply_free(whelk_conn *c);

/* auth.c */
int wk_auth_init(whelk_conn *c);
void wk_auth_free(whelk_conn *c);
/* Handles messages 50..79 before authentication. */
int wk_auth_dispatch(whelk_conn *c, uint8_t type, const uint8_t *payload,
                     size_t len);
/* Non-zero while a decision or a failure delay holds input back. */
int wk_auth_blocked(const whelk_conn *c);
uint64_t wk_auth_expiry(const whelk_conn *c);
int wk_auth_handle_expiry(whelk_conn *c, uint64_t now);
const char *wk_auth_user(const whelk_conn *c);
/* The user being tried is unknown or refused (as sshd's !authctxt->valid). */
int wk_auth_user_invalid(const whelk_conn *c);

/* client.c: the client side of authentication. */
int wk_client_init(whelk_conn *c, const char *user_name);
void wk_client_free(whelk_conn *c);
/* The server accepted ssh-userauth: begin with "none". */
int wk_client_start_auth(whelk_conn *c);
int wk_client_auth_dispatch(whelk_conn *c, uint8_t type,
                            const uint8_t *payload, size_t len);

/* channel.c: the connection protocol (messages 80..127). */
int wk_chans_init(whelk_conn *c);
void wk_chans_free(whelk_conn *c);
int wk_chans_dispatch(whelk_conn *c, uint8_t type, const uint8_t *payload,
                      size_t len);
/* Gives channels a chance to produce output after the socket drained or
 * keys changed. */
int wk_chans_pump(whelk_conn *c);

#endif
