/*
 * kex: algorithm negotiation and key exchange (RFC 4253 sections 7 and 8,
 * RFC 5656 for ECDH, RFC 8731 for curve25519, RFC 8268 for the DH groups,
 * RFC 8308 ext-info and OpenSSH's strict kex markers).
 *
 * This module is pure computation: it builds and parses KEXINIT, picks
 * algorithms, performs one key-agreement step, computes the exchange hash
 * and derives keys. The transport state machine (transport.c) sends and
 * receives the messages.
 *
 * Shared secrets are carried as already-encoded bytes (an mpint for the
 * classical methods, a string for hybrid post-quantum ones) into both the
 * exchange hash and the key derivation, so a leading zero byte can never
 * be lost by a trip through a bignum.
 */
#ifndef WHELK_KEX_H
#define WHELK_KEX_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The ten name-lists of KEXINIT, in wire order. */
enum {
    WK_KEXL_KEX, WK_KEXL_HOSTKEY, WK_KEXL_ENC_C2S, WK_KEXL_ENC_S2C,
    WK_KEXL_MAC_C2S, WK_KEXL_MAC_S2C, WK_KEXL_COMP_C2S, WK_KEXL_COMP_S2C,
    WK_KEXL_LANG_C2S, WK_KEXL_LANG_S2C, WK_KEXL_COUNT
};

/* A parsed KEXINIT; the lists point into the payload it came from. */
typedef struct wk_kexinit {
    uint8_t cookie[16];
    const uint8_t *list[WK_KEXL_COUNT];
    size_t list_len[WK_KEXL_COUNT];
    int first_kex_follows;
} wk_kexinit;

/* Parses a KEXINIT payload (starting with the message byte 20). Each list
 * is bounded (4096 bytes) and the trailing reserved uint32 required. */
int wk_kexinit_parse(const uint8_t *payload, size_t len, wk_kexinit *out);
/* Appends a KEXINIT payload (message byte included) to |out|. |lists| has
 * WK_KEXL_COUNT NUL-terminated name-lists. */
int wk_kexinit_build(wk_buf *out, const char *const lists[WK_KEXL_COUNT],
                     whelk_rand_cb rand, void *rand_user);
/* RFC 4253 section 7.1: the first name on the client's list that the
 * server also has. Copies it into |out| (size |outlen|); WHELK_ERR_NEGOTIATION
 * when none. */
int wk_negotiate(const uint8_t *client, size_t clen, const uint8_t *server,
                 size_t slen, char *out, size_t outlen);

/* Key agreement methods. The exchanged public values travel as SSH
 * strings for ECDH-style methods and as mpints for finite-field DH; the
 * exchange hash uses exactly the wire encoding, so a method says which. */
typedef struct wk_kex_alg wk_kex_alg;
struct wk_kex_alg {
    const char *name;
    const char *hash;     /* "SHA256" or "SHA512" */
    int value_is_mpint;   /* DH groups */
    int id;               /* internal */
};
const wk_kex_alg *wk_kex_find(const char *name, size_t len);
extern const char wk_kex_default_list[];

/* Server side of one exchange: given the client's public value (string
 * contents, or mpint magnitude for DH), creates a fresh key pair, writes
 * the server's public value (same convention) to |server_value| and the
 * encoded shared secret K to |k_enc| (mpint or string, length prefix
 * included). Rejects invalid client values (wrong length, all-zero X25519
 * result, point not on the curve, DH e outside 1 < e < p-1) with
 * WHELK_ERR_KEX. |k_enc| holds a secret: free it with wk_buf_free_secret. */
int wk_kex_server(const wk_kex_alg *alg, whelk_rand_cb rand, void *rand_user,
                  const uint8_t *client_value, size_t client_len,
                  wk_buf *server_value, wk_buf *k_enc);

/* Client side, in two steps. */
typedef struct wk_kex_client wk_kex_client;
int wk_kex_client_start(const wk_kex_alg *alg, whelk_rand_cb rand,
                        void *rand_user, wk_kex_client **state,
                        wk_buf *client_value);
int wk_kex_client_finish(wk_kex_client *state, const uint8_t *server_value,
                         size_t server_len, wk_buf *k_enc);
void wk_kex_client_free(wk_kex_client *state);

/* Exchange hash H (RFC 4253 section 8, RFC 5656 section 4):
 * HASH(string V_C, string V_S, string I_C, string I_S, string K_S,
 *      value Q_C, value Q_S, K) where the values are strings or mpints as
 * the method says and K is already encoded. I_C and I_S are KEXINIT
 * payloads. Writes the digest to |h| (at least 64 bytes); returns its
 * length in *hlen. */
int wk_kex_hash(const wk_kex_alg *alg, const char *v_c, const char *v_s,
                const uint8_t *i_c, size_t i_c_len, const uint8_t *i_s,
                size_t i_s_len, const uint8_t *k_s, size_t k_s_len,
                const uint8_t *q_c, size_t q_c_len, const uint8_t *q_s,
                size_t q_s_len, const uint8_t *k_enc, size_t k_enc_len,
                uint8_t *h, size_t *hlen);

/* Key derivation (RFC 4253 section 7.2): HASH(K || H || letter ||
 * session_id), extended with HASH(K || H || K1 || ...) until |need| bytes.
 * |letter| is 'A'..'F'. */
int wk_kex_derive(const wk_kex_alg *alg, const uint8_t *k_enc,
                  size_t k_enc_len, const uint8_t *h, size_t hlen,
                  char letter, const uint8_t *session_id, size_t sid_len,
                  uint8_t *out, size_t need);

#endif
