/*
 * ct_valgrind: checks that ML-KEM-768 and sntrup761 never branch on, or
 * index memory with, a secret. Built with -DWHELK_CT_VALGRIND and run
 * under valgrind's memcheck: every secret input (seeds, random bytes,
 * messages, decapsulation keys) is marked undefined, so memcheck reports
 * any conditional jump or address that depends on it. The library marks
 * the values that are public by design (public keys, a rejected key
 * generation candidate) defined again; see lib/ct.h.
 *
 * Keygen, encaps and decaps of valid and of invalid ciphertexts run for
 * both KEMs. `--planted` adds one deliberate secret-dependent branch, so
 * the harness can prove that memcheck would catch one.
 *
 * Run by `make ct` (part of make check):
 *   valgrind -q --error-exitcode=3 build/tests/ct_valgrind
 */
#include <stdio.h>
#include <string.h>

#include <valgrind/memcheck.h>

#include "mlkem.h"
#include "sntrup761.h"

static unsigned counter;

/* Deterministic bytes, handed to the library as secrets. */
static int secret_rand(uint8_t *out, size_t len, void *user)
{
    (void)user;
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)((counter++ * 2654435761u) >> 24);
    VALGRIND_MAKE_MEM_UNDEFINED(out, len);
    return 0;
}

static void secret(void *p, size_t n)
{
    VALGRIND_MAKE_MEM_UNDEFINED(p, n);
}

static void public(const void *p, size_t n)
{
    VALGRIND_MAKE_MEM_DEFINED(p, n);
}

static int check(int ok, const char *what)
{
    if (!ok) fprintf(stderr, "ct_valgrind: %s failed\n", what);
    return ok ? 0 : 1;
}

static int mlkem(void)
{
    static uint8_t ek[WK_MLKEM768_EK_LEN], dk[WK_MLKEM768_DK_LEN],
        ct[WK_MLKEM768_CT_LEN];
    uint8_t d[32], z[32], m[32], k1[32], k2[32], k3[32];
    int bad = 0;
    secret_rand(d, 32, NULL);
    secret_rand(z, 32, NULL);
    secret_rand(m, 32, NULL);
    bad |= check(wk_mlkem768_keygen(d, z, ek, dk) == 0, "ML-KEM keygen");
    secret(dk, sizeof(dk));
    bad |= check(wk_mlkem768_encaps(ek, m, ct, k1) == 0, "ML-KEM encaps");
    public(ct, sizeof(ct)); /* the ciphertext goes on the wire */
    bad |= check(wk_mlkem768_decaps(dk, ct, k2) == 0, "ML-KEM decaps");
    ct[100] ^= 1; /* an invalid ciphertext: implicit rejection */
    bad |= check(wk_mlkem768_decaps(dk, ct, k3) == 0, "ML-KEM decaps (bad)");
    /* Only now, for the test's own comparison, are the keys looked at. */
    public(k1, 32);
    public(k2, 32);
    public(k3, 32);
    bad |= check(memcmp(k1, k2, 32) == 0, "ML-KEM agreement");
    bad |= check(memcmp(k1, k3, 32) != 0, "ML-KEM rejection");
    return bad;
}

static int sntrup(void)
{
    static uint8_t pk[WK_SNTRUP761_PK_LEN], sk[WK_SNTRUP761_SK_LEN],
        ct[WK_SNTRUP761_CT_LEN];
    uint8_t k1[32], k2[32], k3[32];
    int bad = 0;
    bad |= check(wk_sntrup761_keygen(pk, sk, secret_rand, NULL) == 0,
                 "sntrup761 keygen");
    public(pk, sizeof(pk));
    secret(sk, sizeof(sk));
    bad |= check(wk_sntrup761_encaps(pk, ct, k1, secret_rand, NULL) == 0,
                 "sntrup761 encaps");
    public(ct, sizeof(ct));
    bad |= check(wk_sntrup761_decaps(sk, ct, k2) == 0, "sntrup761 decaps");
    ct[5] ^= 4;
    bad |= check(wk_sntrup761_decaps(sk, ct, k3) == 0,
                 "sntrup761 decaps (bad)");
    public(k1, 32);
    public(k2, 32);
    public(k3, 32);
    bad |= check(memcmp(k1, k2, 32) == 0, "sntrup761 agreement");
    bad |= check(memcmp(k1, k3, 32) != 0, "sntrup761 rejection");
    return bad;
}

/* A branch on a secret byte, which memcheck must report. */
static int planted(void)
{
    uint8_t s[1];
    secret_rand(s, 1, NULL);
    volatile int taken = 0;
    if (s[0] & 1) taken = 1;
    return taken & 0;
}

int main(int argc, char **argv)
{
    if (!RUNNING_ON_VALGRIND)
        fprintf(stderr, "ct_valgrind: not under valgrind; nothing is checked\n");
    int bad = mlkem() | sntrup();
    if (argc > 1 && strcmp(argv[1], "--planted") == 0) bad |= planted();
    return bad;
}
