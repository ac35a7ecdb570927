/*
 * ct: small constant-time building blocks shared by the KEMs (mlkem.c,
 * sntrup761.c), and the hooks a valgrind build uses to check them.
 *
 * Masks are all-ones or zero and pass through value_barrier, an empty
 * asm the optimiser cannot see through, so that mask arithmetic is not
 * turned back into a branch (the "clangover" class of bug).
 *
 * WK_CT_SECRET / WK_CT_PUBLIC: in a build with -DWHELK_CT_VALGRIND they
 * mark memory undefined or defined for memcheck, which then reports any
 * branch or memory index that depends on a secret. WK_CT_PUBLIC marks the
 * few values that are secret-derived but public by design (a public key,
 * the fact that a random candidate was rejected). Otherwise they vanish.
 */
#ifndef WHELK_CT_H
#define WHELK_CT_H

#include <stdint.h>

#ifdef WHELK_CT_VALGRIND
#include <valgrind/memcheck.h>
#define WK_CT_SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define WK_CT_PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#else
#define WK_CT_SECRET(p, n) ((void)(p), (void)(n))
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

#endif
