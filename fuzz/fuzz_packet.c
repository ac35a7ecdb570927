/*
 * Fuzz target: the binary packet decoder (lib/cipher.c). The first byte
 * picks a direction state (unencrypted, or keyed with one of the
 * cipher/MAC pairs); the rest is fed to wk_pkt_open as received bytes,
 * whole and then in two pieces, so every length, padding and MAC check
 * sees hostile input.
 */
#include <stdint.h>
#include <string.h>

#include "cipher.h"

static const char *const ciphers[] = {
    NULL, "chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr"};
static const char *const macs[] = {"hmac-sha2-256",
                                   "hmac-sha2-512-etm@openssh.com"};

static void feed(wk_pkt_dir *d, uint8_t *buf, size_t len)
{
    size_t used;
    uint8_t *pl;
    size_t pn;
    for (int i = 0; i < 4 && len > 0; i++) {
        int rc = wk_pkt_open(d, buf, len, &used, &pl, &pn);
        if (rc) return;
        if (pn > 0) (void)pl[pn - 1]; /* the payload is inside the input */
        buf += used;
        len -= used;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    if (len < 1) return 0;
    static uint8_t buf[1 << 20];
    if (len - 1 > sizeof(buf)) return 0;
    unsigned sel = in[0];
    const char *cn = ciphers[sel % 6];
    const char *mn = macs[(sel / 6) % 2];
    wk_pkt_dir *d = wk_pkt_dir_new();
    if (cn) {
        uint8_t key[64] = {1}, iv[32] = {2}, mk[64] = {3};
        wk_pkt_dir_set_keys(d, 0, wk_cipher_find(cn, strlen(cn)),
                            wk_mac_find(mn, strlen(mn)), key, iv, mk);
    }
    memcpy(buf, in + 1, len - 1);
    feed(d, buf, len - 1);
    wk_pkt_dir_free(d);
    return 0;
}
