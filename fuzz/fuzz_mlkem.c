/*
 * Fuzz target: ML-KEM-768 on hostile input (lib/mlkem.c) and the hybrid
 * mlkem768x25519-sha256 client value (lib/kex.c). Arbitrary bytes become
 * an encapsulation key (modulus check, then encapsulation when it
 * passes), a ciphertext decapsulated with a fixed key pair (implicit
 * rejection must always yield a key, never an error), and a hybrid client
 * value of any length.
 */
#include <stdint.h>
#include <string.h>

#include "kex.h"
#include "mlkem.h"

static int fixed_rand(uint8_t *out, size_t len, void *user)
{
    memset(out, 0x3c, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    static uint8_t ek[WK_MLKEM768_EK_LEN], dk[WK_MLKEM768_DK_LEN];
    static int have_keys;
    if (!have_keys) {
        uint8_t d[32] = {1}, z[32] = {2};
        if (wk_mlkem768_keygen(d, z, ek, dk) != 0) __builtin_trap();
        have_keys = 1;
    }
    uint8_t buf[WK_MLKEM768_EK_LEN], ct[WK_MLKEM768_CT_LEN], k[32];
    static const uint8_t m[32] = {7};
    memset(buf, 0, sizeof(buf));
    memcpy(buf, in, len < sizeof(buf) ? len : sizeof(buf));
    if (wk_mlkem768_check_ek(buf) == 0 &&
        wk_mlkem768_encaps(buf, m, ct, k) != 0)
        __builtin_trap(); /* a key that passes the check must encapsulate */
    memset(ct, 0, sizeof(ct));
    memcpy(ct, in, len < sizeof(ct) ? len : sizeof(ct));
    if (wk_mlkem768_decaps(dk, ct, k) != 0) __builtin_trap();
    const wk_kex_alg *alg = wk_kex_find("mlkem768x25519-sha256", 21);
    wk_buf sv, kenc;
    wk_buf_init(&sv, 4096);
    wk_buf_init(&kenc, 256);
    wk_kex_server(alg, fixed_rand, NULL, in, len, &sv, &kenc);
    wk_buf_free(&sv);
    wk_buf_free_secret(&kenc);
    return 0;
}
