/*
 * Fuzz target: authorized_keys lines (server/authkeys.c), options and
 * from= pattern matching included.
 */
#include <stdint.h>
#include <string.h>

#include "authkeys.h"

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
        whelk_key_free(k);
    }
    return 0;
}
