/*
 * ct: small building blocks shared by the KEMs (mlkem.c, sntrup761.c):
 * constant-time masks, the hook a valgrind build uses to check them, and
 * the one way both draw randomness.
 *
 * Masks are all-ones or zero and pass through value_barrier, an empty
 * asm the optimiser cannot see through, so that mask arithmetic is not
 * turned back into a branch (the "clangover" class of bug).
 *
 * WK_CT_PUBLIC: in a build with -DWHELK_CT_VALGRIND (tests/ct, which
 * marks the secrets undefined) it marks memory defined again for memcheck,
 * for the few values that are secret-derived but public by design (a
 * public key, the fact that a random candidate was rejected). Otherwise
 * it vanishes.
 */
#ifndef WHELK_CT_H
#define WHELK_CT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/rand.h>

#include "whelk/whelk.h"

#ifdef WHELK_CT_VALGRIND
#include <valgrind/memcheck.h>
#define WK_CT_PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#else
#define WK_CT_PUBLIC(p, n) ((void)(p), (void)(n))
#endif

static inline uint32_t value_barrier(uint32_t v)
{
    __asm__("" : "+r"(v));
    return v;
}

/* All ones when x != 0. */
static inline uint32_t ct_mask_nonzero(uint32_t x)
{
    return value_barrier(0u - ((x | (0u - x)) >> 31));
}

/* All ones when a >= b; both below 2^31. */
static inline uint32_t ct_mask_ge(uint32_t a, uint32_t b)
{
    return value_barrier(((a - b) >> 31) - 1u);
}

/* KEM randomness: from |rand| when given (tests pin it), otherwise from
 * OpenSSL's private DRBG. */
static inline int wk_kem_draw(uint8_t *out, size_t len, whelk_rand_cb rand,
                              void *rand_user)
{
    if (!rand)
        return RAND_priv_bytes(out, (int)len) == 1 ? 0 : WHELK_ERR_CRYPTO;
    return rand(out, len, rand_user);
}

#endif
