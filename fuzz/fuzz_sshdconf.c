/*
 * Fuzz target: whole sshd_config files (server/confile.c): line
 * splitting, Match blocks and their criteria, the keywords Match allows,
 * and then resolving the keywords for a connection against every block.
 * Include is left out of the input (it would read the fuzzing machine's
 * files); test_confile covers it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "confile.h"
#include "keywords.h"

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    if (len > 65536) return 0;
    if (memmem(in, len, "nclude", 6) || memmem(in, len, "NCLUDE", 6))
        return 0;
    static wd_keywords kw;
    wd_conf_reset();
    wd_keywords_defaults(&kw);
    char err[1024];
    if (wd_conf_load_buffer("fuzz.conf", (const char *)in, len, &kw, err,
                            sizeof(err)) == 0) {
        static const gid_t groups[] = {0, 100};
        const wd_match_ctx ctx = {.user = "alice", .groups = groups,
                                  .ngroups = 2, .addr = "10.1.2.3",
                                  .laddr = "127.0.0.1", .lport = 22};
        int failed;
        free(wd_conf_resolve(&ctx, &failed));
    }
    return 0;
}
