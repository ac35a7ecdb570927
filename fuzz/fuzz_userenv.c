/*
 * Fuzz target: ~/.ssh/environment's lines (server/userenv.c), merged
 * into a small environment with fixed entries, with and without a
 * PermitUserEnvironment pattern list. Checks that every entry stays a
 * NAME=value string and the table stays NULL-terminated within its room.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "userenv.h"

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    if (len > WD_USERENV_MAX_BYTES) return 0;
    char *text = malloc(len + 1);
    if (!text) return 0;
    memcpy(text, in, len);
    text[len] = 0;
    char *env[12] = {"USER=u", "HOME=/h", "KEY=k", NULL};
    size_t n = 3;
    unsigned bad;
    const char *allow = len && (in[0] & 1) ? "A*,!AB,K?Y" : NULL;
    if (wd_userenv_merge(text, env, &n, 12, 2, allow, &bad) == WD_USERENV_OK) {
        if (n >= 12 || env[n] != NULL) abort();
        for (size_t i = 0; i < n; i++)
            if (!strchr(env[i], '=') || env[i][0] == '=') abort();
        if (strcmp(env[0], "USER=u") || strcmp(env[1], "HOME=/h")) abort();
    } else if (n != 3) {
        abort();
    }
    free(text);
    return 0;
}
