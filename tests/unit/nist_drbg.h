/*
 * nist_drbg: the AES-256 CTR_DRBG (no derivation function, no reseeding)
 * that NIST's post-quantum submissions used to make their known-answer
 * files, and that liboqs's KAT programs still use. Built on EVP's
 * AES-256-ECB. Test code only: it reproduces published vectors and is
 * not a source of real randomness.
 *
 * kat_text(): the text liboqs's kat_kem prints for its first vector
 * ("count = 0", seed, pk, sk, ct, ss), whose SHA-256 liboqs publishes as
 * the "single" hash of each KEM.
 */
#ifndef WHELK_TEST_NIST_DRBG_H
#define WHELK_TEST_NIST_DRBG_H

#include <stddef.h>
#include <stdint.h>

typedef struct nist_drbg {
    uint8_t key[32];
    uint8_t v[16];
} nist_drbg;

void nist_drbg_init(nist_drbg *d, const uint8_t entropy[48]);
void nist_drbg_bytes(nist_drbg *d, uint8_t *out, size_t len);
/* whelk_rand_cb adapter; user is a nist_drbg. */
int nist_drbg_rand(uint8_t *out, size_t len, void *user);

/* A KEM's three deterministic-randomness operations. */
typedef struct kat_kem {
    size_t pk_len, sk_len, ct_len, ss_len;
    int (*keypair)(uint8_t *pk, uint8_t *sk, nist_drbg *d);
    int (*encaps)(uint8_t *ct, uint8_t *ss, const uint8_t *pk, nist_drbg *d);
    int (*decaps)(uint8_t *ss, const uint8_t *ct, const uint8_t *sk);
} kat_kem;

/* SHA-256 of liboqs's single-vector KAT text; 0 on success (and the
 * decapsulated key matched). */
int kat_single_sha256(const kat_kem *kem, uint8_t digest[32]);

#endif
