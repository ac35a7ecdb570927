/*
 * Fuzz target: authorized_keys lines (server/authkeys.c), options and
 * from= pattern matching included, and the same bytes as a whole file
 * through the per-connection cache (line splitting on bytes, NULs, long
 * lines, a text cut by the read cap).
 */
#include <stdint.h>
#include <string.h>

#include "authkeys.h"

static whelk_key *probe;

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    whelk_key *k = NULL;
    wd_key_opts o;
    char from[1024];
    const char *why;
    if (wd_authkeys_parse_line((const char *)in, len, &k, &o, from,
                               sizeof(from), &why) == 1) {
        if (from[0]) {
            wd_match_from(from, "127.0.0.1");
            wd_match_from(from, "::1");
        }
        wd_key_opts_clear(&o);
    }
    if (!probe) whelk_key_generate_ed25519(&probe);
    wd_keycache kc;
    if (wd_keycache_load(&kc, "fuzz", (const char *)in, len, len & 1) == 0) {
        if (wd_keycache_find(&kc, k ? k : probe, "127.0.0.1", &o))
            wd_key_opts_clear(&o);
        wd_keycache_free(&kc);
    }
    whelk_key_free(k);
    return 0;
}
