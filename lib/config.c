/*
 * config: building a whelk_config. Lists are checked against the
 * algorithms the library implements so a typo fails at start-up, not at
 * the first connection.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cipher.h"
#include "kex.h"
#include "key.h"
#include "ssh.h"

/* Most of what the engine draws becomes key material (key exchange
 * secrets, KEM seeds), so it comes from OpenSSL's private DRBG. */
int wk_default_rand(uint8_t *out, size_t len, void *user)
{
    (void)user;
    if (len > INT32_MAX) return WHELK_ERR_INVAL;
    return RAND_priv_bytes(out, (int)len) == 1 ? 0 : WHELK_ERR_CRYPTO;
}

static const uint64_t setting_defaults[WHELK_SET_COUNT_] = {
    [WHELK_SET_LOGIN_GRACE_MS] = 120000,
    [WHELK_SET_VERSION_TIMEOUT_MS] = 30000,
    [WHELK_SET_MAX_AUTH_TRIES] = 6,
    [WHELK_SET_AUTH_FAIL_DELAY_MS] = 150,
    [WHELK_SET_AUTH_METHODS] = WHELK_AUTH_METHOD_PUBLICKEY,
    [WHELK_SET_REKEY_BYTES] = 1ull << 30,
    [WHELK_SET_REKEY_MS] = 3600000,
    [WHELK_SET_MAX_SESSIONS] = 10,
    [WHELK_SET_WINDOW] = 2u << 20,
    [WHELK_SET_MAX_PACKET] = 32768,
    [WHELK_SET_OUT_BUFFER] = 2u << 20,
    [WHELK_SET_CLIENT_ALIVE_COUNT] = 3,
    [WHELK_SET_MAX_CHANNELS] = 1024,
    [WHELK_SET_CONN_WINDOW] = 256u << 20,
    [WHELK_SET_CONN_OUT_BUFFER] = 64u << 20,
    [WHELK_SET_AUTH_QUERY_DELAY_MS] = 5,
};

whelk_config *whelk_config_new(void)
{
    whelk_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) return NULL;
    cfg->rand = wk_default_rand;
    memcpy(cfg->set, setting_defaults, sizeof(cfg->set));
    return cfg;
}

void whelk_config_free(whelk_config *cfg)
{
    if (!cfg) return;
    for (unsigned i = 0; i < cfg->n_host_keys; i++)
        whelk_key_free(cfg->host_keys[i]);
    free(cfg->kex);
    free(cfg->ciphers);
    free(cfg->macs);
    free(cfg->banner);
    free(cfg->hostkey_algs);
    free(cfg->pubkey_algs);
    free(cfg);
}

int whelk_config_add_host_key(whelk_config *cfg, whelk_key *key)
{
    /* A public half alone is for applications that sign elsewhere (the
     * sign callback); the key exchange refuses it otherwise. */
    if (!key) return WHELK_ERR_INVAL;
    if (cfg->n_host_keys >= WK_MAX_HOST_KEYS) {
        whelk_key_free(key);
        return WHELK_ERR_LIMIT;
    }
    cfg->host_keys[cfg->n_host_keys++] = key;
    return 0;
}

void whelk_config_set_rand(whelk_config *cfg, whelk_rand_cb cb, void *user)
{
    cfg->rand = cb ? cb : wk_default_rand;
    cfg->rand_user = cb ? user : NULL;
}

/* Checks every name of |list| with |known|, then stores a copy. */
static int set_list(char **slot, const char *list,
                    int (*known)(const char *name, size_t len))
{
    if (!list) {
        free(*slot);
        *slot = NULL;
        return 0;
    }
    size_t n = strlen(list), pos = 0, nl;
    const uint8_t *name;
    if (n == 0 || n > 4096) return WHELK_ERR_INVAL;
    while (wk_namelist_next((const uint8_t *)list, n, &pos, &name, &nl))
        if (nl == 0 || !known((const char *)name, nl))
            return WHELK_ERR_UNSUPPORTED;
    char *copy = strdup(list);
    if (!copy) return WHELK_ERR_NOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

static int known_kex(const char *n, size_t l) { return !!wk_kex_find(n, l); }
static int known_cipher(const char *n, size_t l)
{
    return !!wk_cipher_find(n, l);
}
static int known_mac(const char *n, size_t l) { return !!wk_mac_find(n, l); }

int whelk_config_set_kex(whelk_config *cfg, const char *list)
{
    return set_list(&cfg->kex, list, known_kex);
}

int whelk_config_set_ciphers(whelk_config *cfg, const char *list)
{
    return set_list(&cfg->ciphers, list, known_cipher);
}

int whelk_config_set_macs(whelk_config *cfg, const char *list)
{
    return set_list(&cfg->macs, list, known_mac);
}

static int known_sig_alg(const char *n, size_t l)
{
    const char *all = wk_key_all_sig_algs();
    char one[64];
    if (l >= sizeof(one)) return 0;
    memcpy(one, n, l);
    one[l] = 0;
    return wk_namelist_has((const uint8_t *)all, strlen(all), one);
}

int whelk_config_set_hostkey_algorithms(whelk_config *cfg, const char *list)
{
    return set_list(&cfg->hostkey_algs, list, known_sig_alg);
}

int whelk_config_set_pubkey_algorithms(whelk_config *cfg, const char *list)
{
    return set_list(&cfg->pubkey_algs, list, known_sig_alg);
}

const char *whelk_algorithms_default(whelk_alg_list which)
{
    switch (which) {
    case WHELK_LIST_KEX: return wk_kex_default_list;
    case WHELK_LIST_CIPHERS: return wk_cipher_default_list;
    case WHELK_LIST_MACS: return wk_mac_default_list;
    case WHELK_LIST_HOSTKEY:
    case WHELK_LIST_PUBKEY: return wk_key_all_sig_algs();
    }
    return NULL;
}

int whelk_config_set_banner(whelk_config *cfg, const char *text)
{
    char *copy = NULL;
    if (text) {
        if (strlen(text) > 64 * 1024) return WHELK_ERR_TOOBIG;
        if (!(copy = strdup(text))) return WHELK_ERR_NOMEM;
    }
    free(cfg->banner);
    cfg->banner = copy;
    return 0;
}

int whelk_config_set_auth_chains(whelk_config *cfg, const char *lists)
{
    return wk_auth_chains_parse(lists, &cfg->chains);
}

int wk_setting_check(whelk_setting what, uint64_t value)
{
    if ((unsigned)what >= WHELK_SET_COUNT_) return WHELK_ERR_INVAL;
    switch (what) {
    case WHELK_SET_WINDOW:
        if (value == 0 || value > UINT32_MAX) return WHELK_ERR_INVAL;
        break;
    case WHELK_SET_MAX_PACKET:
        /* Room for the channel header inside a maximum-size packet. */
        if (value < 512 || value > WK_MAX_PACKET_LEN - 1024)
            return WHELK_ERR_INVAL;
        break;
    case WHELK_SET_MAX_AUTH_TRIES:
        if (value == 0 || value > 1024) return WHELK_ERR_INVAL;
        break;
    case WHELK_SET_MAX_SESSIONS:
    case WHELK_SET_CLIENT_ALIVE_COUNT:
        if (value > 1024) return WHELK_ERR_INVAL;
        break;
    case WHELK_SET_MAX_CHANNELS:
        if (value == 0 || value > 16384) return WHELK_ERR_INVAL;
        break;
    case WHELK_SET_CONN_WINDOW:
    case WHELK_SET_CONN_OUT_BUFFER:
        if (value < 65536 || value > (1ull << 40)) return WHELK_ERR_INVAL;
        break;
    case WHELK_SET_AUTH_FAIL_DELAY_MS:
    case WHELK_SET_AUTH_QUERY_DELAY_MS:
        /* Sums with clock values must not wrap. */
        if (value > 60000) return WHELK_ERR_INVAL;
        break;
    case WHELK_SET_LOGIN_GRACE_MS:
    case WHELK_SET_VERSION_TIMEOUT_MS:
    case WHELK_SET_REKEY_MS:
    case WHELK_SET_CLIENT_ALIVE_MS:
    case WHELK_SET_UNUSED_TIMEOUT_MS:
        /* About 139 years: added to the clock, never wraps. */
        if (value > (1ull << 42)) return WHELK_ERR_INVAL;
        break;
    default:
        break;
    }
    return 0;
}

int whelk_config_set(whelk_config *cfg, whelk_setting what, uint64_t value)
{
    int rc = wk_setting_check(what, value);
    if (rc) return rc;
    cfg->set[what] = value;
    return 0;
}

uint64_t whelk_config_get(const whelk_config *cfg, whelk_setting what)
{
    if ((unsigned)what >= WHELK_SET_COUNT_) return 0;
    return cfg->set[what];
}
