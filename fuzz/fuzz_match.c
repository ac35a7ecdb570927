/*
 * Fuzz target: OpenSSH's patterns (server/match.c) and %-tokens
 * (server/tokens.c). The input is split at its first two NUL bytes into
 * a pattern, a user name and an address, as AllowUsers entries, host
 * lists and address lists meet them; a user name comes from the network.
 */
#include <stdint.h>
#include <string.h>

#include "match.h"
#include "tokens.h"

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    char buf[4096 + 3];
    if (len > 4096) len = 4096;
    memcpy(buf, in, len);
    buf[len] = buf[len + 1] = buf[len + 2] = 0;
    const char *pat = buf;
    const char *user = pat + strlen(pat) + 1;
    const char *addr = user + strlen(user) + 1;
    wd_match_pattern(user, pat);
    wd_match_list(user, pat, 1);
    wd_match_addr_list(addr, pat);
    wd_match_addr_list(NULL, pat);
    wd_match_host_and_ip(user, addr, pat);
    wd_match_user(user, addr, addr, pat);
    wd_match_user(user, "192.0.2.1", "192.0.2.1", pat);
    wd_match_user(user, "2001:db8::1", "2001:db8::1", pat);
    wd_match_user_check(pat);
    const wd_token toks[] = {{'h', user}, {'u', addr}, {'%', "x"}};
    char out[512];
    wd_expand_tokens(pat, toks, 3, out, sizeof(out));
    return 0;
}
