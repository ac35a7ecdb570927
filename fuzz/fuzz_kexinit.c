/*
 * Fuzz target: KEXINIT parsing and negotiation (lib/kex.c), plus every
 * key agreement method's handling of an arbitrary client value.
 */
#include <stdint.h>
#include <string.h>

#include "kex.h"

static int fixed_rand(uint8_t *out, size_t len, void *user)
{
    memset(out, 0x42, len);
    return 0;
}

static const char *const methods[] = {
    "curve25519-sha256", "ecdh-sha2-nistp256", "diffie-hellman-group14-sha256",
    "mlkem768x25519-sha256"};

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    wk_kexinit ki;
    if (wk_kexinit_parse(in, len, &ki) == 0) {
        char out[64];
        static const char server[] =
            "curve25519-sha256,ecdh-sha2-nistp256,aes128-ctr,hmac-sha2-256";
        for (int i = 0; i < WK_KEXL_COUNT; i++)
            wk_negotiate(ki.list[i], ki.list_len[i],
                         (const uint8_t *)server, strlen(server), out,
                         sizeof(out));
    }
    if (len > 0) {
        const char *m = methods[in[0] % 4];
        const wk_kex_alg *alg = wk_kex_find(m, strlen(m));
        wk_buf sv, k;
        wk_buf_init(&sv, 8192);
        wk_buf_init(&k, 8192);
        wk_kex_server(alg, fixed_rand, NULL, in + 1, len - 1, &sv, &k);
        wk_buf_free(&sv);
        wk_buf_free_secret(&k);
    }
    return 0;
}
