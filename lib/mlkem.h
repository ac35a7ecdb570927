/*
 * mlkem: ML-KEM-768 (FIPS 203), the post-quantum half of
 * mlkem768x25519-sha256.
 *
 * This is the internal interface the key exchange uses; the
 * implementation in mlkem.c is written here from FIPS 203 because
 * OpenSSL 3.0 has no ML-KEM. A build against OpenSSL >= 3.5 can provide
 * the same four functions over EVP_KEM ("ML-KEM-768") instead: the key
 * exchange sees only this header.
 */
#ifndef WHELK_MLKEM_H
#define WHELK_MLKEM_H

#include <stddef.h>
#include <stdint.h>

#include "whelk/whelk.h"

#define WK_MLKEM768_EK_LEN 1184
#define WK_MLKEM768_DK_LEN 2400
#define WK_MLKEM768_CT_LEN 1088
#define WK_MLKEM768_SS_LEN 32
#define WK_MLKEM768_SEED_LEN 64 /* d || z */

/* Deterministic key generation from d and z (FIPS 203 algorithm 16). */
int wk_mlkem768_keygen(const uint8_t d[32], const uint8_t z[32],
                       uint8_t ek[WK_MLKEM768_EK_LEN],
                       uint8_t dk[WK_MLKEM768_DK_LEN]);
/* Encapsulation with the message m (algorithm 17), after the input check
 * of section 7.2 (the modulus check on ek). Returns WHELK_ERR_KEX when the
 * key is invalid. */
int wk_mlkem768_encaps(const uint8_t ek[WK_MLKEM768_EK_LEN],
                       const uint8_t m[32], uint8_t ct[WK_MLKEM768_CT_LEN],
                       uint8_t ss[WK_MLKEM768_SS_LEN]);
/* Decapsulation with implicit rejection (algorithm 18): a ciphertext that
 * does not re-encrypt identically yields J(z || c), chosen without a
 * branch on secret data. Returns an error only for a malformed dk. */
int wk_mlkem768_decaps(const uint8_t dk[WK_MLKEM768_DK_LEN],
                       const uint8_t ct[WK_MLKEM768_CT_LEN],
                       uint8_t ss[WK_MLKEM768_SS_LEN]);
/* The same with fresh randomness: d || z (64 bytes) or m (32 bytes) drawn
 * in one request from |rand|, or from RAND_priv_bytes when rand is NULL,
 * and wiped after use. */
int wk_mlkem768_keygen_rand(uint8_t ek[WK_MLKEM768_EK_LEN],
                            uint8_t dk[WK_MLKEM768_DK_LEN],
                            whelk_rand_cb rand, void *rand_user);
int wk_mlkem768_encaps_rand(const uint8_t ek[WK_MLKEM768_EK_LEN],
                            uint8_t ct[WK_MLKEM768_CT_LEN],
                            uint8_t ss[WK_MLKEM768_SS_LEN],
                            whelk_rand_cb rand, void *rand_user);
/* The modulus check alone (section 7.2): 0 when ek is well formed. */
int wk_mlkem768_check_ek(const uint8_t ek[WK_MLKEM768_EK_LEN]);

#endif
