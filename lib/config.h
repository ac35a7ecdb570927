/*
 * config: the shared, read-only-after-setup server configuration.
 */
#ifndef WHELK_CONFIG_H
#define WHELK_CONFIG_H

#include "whelk/whelk.h"

#define WK_MAX_HOST_KEYS 8

struct whelk_config {
    whelk_key *host_keys[WK_MAX_HOST_KEYS];
    unsigned n_host_keys;
    whelk_rand_cb rand;
    void *rand_user;
    char *kex;      /* NULL: the module default */
    char *ciphers;
    char *macs;
    char *banner;
    uint64_t set[WHELK_SET_COUNT_];
};

/* The default random source: OpenSSL RAND_bytes. */
int wk_default_rand(uint8_t *out, size_t len, void *user);

#endif
