/*
 * config: the shared, read-only-after-setup server configuration.
 */
#ifndef WHELK_CONFIG_H
#define WHELK_CONFIG_H

#include "whelk/whelk.h"

#define WK_MAX_HOST_KEYS 8
#define WK_AUTH_MAX_CHAINS 8
#define WK_AUTH_MAX_STEPS 8

/* AuthenticationMethods (authchain.c): the chains of method bits
 * (WHELK_AUTH_METHOD_*) that log a user in; n == 0 means any method. */
typedef struct wk_auth_chains {
    uint8_t step[WK_AUTH_MAX_CHAINS][WK_AUTH_MAX_STEPS];
    uint8_t len[WK_AUTH_MAX_CHAINS];
    unsigned n;
} wk_auth_chains;

/* Parses sshd's syntax ("publickey,password publickey,keyboard-interactive",
 * or "any"); returns 0, WHELK_ERR_UNSUPPORTED (an unknown method),
 * WHELK_ERR_LIMIT or WHELK_ERR_INVAL. */
int wk_auth_chains_parse(const char *text, wk_auth_chains *out);
/* The methods that may come next, given |done| steps per chain
 * (all of them, UINT64_MAX, without chains). */
uint64_t wk_auth_chains_next(const wk_auth_chains *ch, const uint8_t *done);
/* |method| succeeded: advances the chains it is the next step of; returns
 * 1 when one is complete. */
int wk_auth_chains_advance(const wk_auth_chains *ch, uint8_t *done,
                           uint8_t method);
/* The names of the methods in |mask|, comma-separated, into |out|. */
void wk_auth_methods_list(uint64_t mask, char *out, size_t size);

struct whelk_config {
    whelk_key *host_keys[WK_MAX_HOST_KEYS];
    unsigned n_host_keys;
    whelk_rand_cb rand;
    void *rand_user;
    char *kex;      /* NULL: the module default */
    char *ciphers;
    char *macs;
    char *banner;
    char *hostkey_algs;   /* NULL: every algorithm of our keys */
    char *pubkey_algs;    /* NULL: every signature algorithm */
    wk_auth_chains chains;
    uint64_t set[WHELK_SET_COUNT_];
};

/* 0, or WHELK_ERR_INVAL when |value| is out of |what|'s range (the
 * ranges of whelk.h), for the config and for one connection alike. */
int wk_setting_check(whelk_setting what, uint64_t value);

/* The default random source: OpenSSL RAND_bytes. */
int wk_default_rand(uint8_t *out, size_t len, void *user);

#endif
