/*
 * sntrup761: Streamlined NTRU Prime with p = 761, q = 4591, w = 286, the
 * post-quantum half of sntrup761x25519-sha512 (and its @openssh.com
 * alias).
 *
 * Written here from the NTRU Prime specification (round 3, the KEM as
 * OpenSSH and liboqs deploy it) because no Debian 12 library offers it.
 * Randomness is drawn through a whelk_rand_cb in the same requests, in
 * the same order and of the same sizes as the reference implementation
 * (4p bytes per random polynomial, then the 191-byte rejection value),
 * so that known-answer tests driven by a DRBG reproduce.
 */
#ifndef WHELK_SNTRUP761_H
#define WHELK_SNTRUP761_H

#include <stddef.h>
#include <stdint.h>

#include "whelk/whelk.h"

#define WK_SNTRUP761_PK_LEN 1158
#define WK_SNTRUP761_SK_LEN 1763
#define WK_SNTRUP761_CT_LEN 1039
#define WK_SNTRUP761_SS_LEN 32

/* Key generation. rand == NULL draws from RAND_priv_bytes. */
int wk_sntrup761_keygen(uint8_t pk[WK_SNTRUP761_PK_LEN],
                        uint8_t sk[WK_SNTRUP761_SK_LEN], whelk_rand_cb rand,
                        void *rand_user);
/* Encapsulation to any 1158-byte public key (every byte string decodes
 * to a valid key). rand == NULL draws from RAND_priv_bytes. */
int wk_sntrup761_encaps(const uint8_t pk[WK_SNTRUP761_PK_LEN],
                        uint8_t ct[WK_SNTRUP761_CT_LEN],
                        uint8_t ss[WK_SNTRUP761_SS_LEN], whelk_rand_cb rand,
                        void *rand_user);
/* Decapsulation with implicit rejection: a ciphertext that does not
 * re-encrypt identically yields a key derived from the secret rejection
 * value, selected by mask. */
int wk_sntrup761_decaps(const uint8_t sk[WK_SNTRUP761_SK_LEN],
                        const uint8_t ct[WK_SNTRUP761_CT_LEN],
                        uint8_t ss[WK_SNTRUP761_SS_LEN]);

#endif
