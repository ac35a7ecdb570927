/*
 * cipher: the binary packet protocol's encryption and integrity
 * (RFC 4253 section 6, RFC 4344, RFC 5647 as amended by OpenSSH's
 * PROTOCOL for aes-gcm@openssh.com, PROTOCOL.chacha20poly1305, and the
 * -etm@openssh.com MACs of PROTOCOL).
 *
 * One wk_pkt_dir holds the state of one direction: its cipher, its MAC,
 * its sequence number. Packets are sealed and opened in place: the sender
 * writes the payload straight into the output buffer between
 * wk_pkt_begin and wk_pkt_end, which pads, encrypts and authenticates it
 * where it lies; the receiver decrypts in the input buffer and gets a
 * pointer to the payload. The MAC or AEAD tag is checked before any byte
 * of the payload is handed out.
 */
#ifndef WHELK_CIPHER_H
#define WHELK_CIPHER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct wk_cipher_alg {
    const char *name;
    size_t key_len;   /* bytes of key material derived for it */
    size_t iv_len;    /* bytes of IV material derived for it */
    size_t block;     /* padding multiple (8 for stream-like ciphers) */
    size_t tag_len;   /* AEAD tag (0 when a separate MAC is used) */
    int kind;         /* WK_CIPHER_* */
} wk_cipher_alg;

enum { WK_CIPHER_NONE, WK_CIPHER_CHACHAPOLY, WK_CIPHER_AESGCM,
       WK_CIPHER_AESCTR };

typedef struct wk_mac_alg {
    const char *name;
    size_t key_len;
    size_t mac_len;
    int etm;          /* encrypt-then-MAC: length in clear, MAC over it */
    const char *digest; /* "SHA256" or "SHA512" */
} wk_mac_alg;

/* Look-ups by name; NULL when unknown. */
const wk_cipher_alg *wk_cipher_find(const char *name, size_t len);
const wk_mac_alg *wk_mac_find(const char *name, size_t len);
/* Comma-separated default lists, in preference order. */
extern const char wk_cipher_default_list[];
extern const char wk_mac_default_list[];

typedef struct wk_pkt_dir wk_pkt_dir;

/* A direction starts unencrypted with sequence number 0. */
wk_pkt_dir *wk_pkt_dir_new(void);
void wk_pkt_dir_free(wk_pkt_dir *d); /* wipes keys */
/* Installs new keys (after NEWKEYS). |mac| is ignored for AEAD ciphers
 * and may be NULL then. |encrypt| selects the sending or receiving
 * direction. The key bytes are copied into the cipher contexts. */
int wk_pkt_dir_set_keys(wk_pkt_dir *d, int encrypt, const wk_cipher_alg *c,
                        const wk_mac_alg *mac, const uint8_t *key,
                        const uint8_t *iv, const uint8_t *mac_key);
uint32_t wk_pkt_dir_seq(const wk_pkt_dir *d);
/* For tests: start counting at |seq|. */
void wk_pkt_dir_set_seq(wk_pkt_dir *d, uint32_t seq);
/* Strict kex resets sequence numbers at NEWKEYS. */
void wk_pkt_dir_reset_seq(wk_pkt_dir *d);
/* Bytes and packets through this direction since the last key change. */
uint64_t wk_pkt_dir_bytes(const wk_pkt_dir *d);
/* Non-zero once keys are installed. */
int wk_pkt_dir_encrypted(const wk_pkt_dir *d);

/* Sending. wk_pkt_begin reserves the packet header in |out| and returns
 * the packet's position counted from the first unread byte of |out|
 * (wk_buf_used before the call); it stays valid while nothing is consumed
 * from |out|. The caller then appends the payload with wk_buf_put_*;
 * wk_pkt_end pads, encrypts and MACs the packet in place. |rand| fills
 * the padding bytes. */
size_t wk_pkt_begin(wk_buf *out);
/* What wk_pkt_begin returns when it could not reserve the header. */
#define WK_PKT_NONE SIZE_MAX
int wk_pkt_end(wk_pkt_dir *d, wk_buf *out, size_t start,
               whelk_rand_cb rand, void *rand_user);
/* wk_pkt_end for a payload with a hole: |len| bytes at |hole| (counted
 * from |start|, the packet's length field; past the 5-byte header) were
 * reserved with wk_buf_extend but not written; they are sealed straight
 * from |src|, which saves copying bulk data into |out| first. */
int wk_pkt_end_from(wk_pkt_dir *d, wk_buf *out, size_t start, size_t hole,
                    const uint8_t *src, size_t len, whelk_rand_cb rand,
                    void *rand_user);

/* Receiving. Looks at the bytes |in|[0..len) and, when a whole packet is
 * there, authenticates and decrypts it in place and returns 0 with the
 * payload's position and the total bytes the packet took (*consumed).
 * WK_ERR_AGAIN when more bytes are needed (call again with the same
 * bytes plus more: the decrypted first block is remembered).
 * Errors: WHELK_ERR_TOOBIG (length above WK_MAX_PACKET_LEN or below the
 * minimum), WHELK_ERR_MAC (bad MAC/tag), WHELK_ERR_PROTO (bad padding or
 * a length not a multiple of the block size). */
int wk_pkt_open(wk_pkt_dir *d, uint8_t *in, size_t len, size_t *consumed,
                uint8_t **payload, size_t *payload_len);

#endif
