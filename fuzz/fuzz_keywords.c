/*
 * Fuzz target: sshd_config keyword lines as -o takes them
 * (server/keywords.c): splitting, quotes, escapes, comments, values.
 */
#include <stdint.h>
#include <string.h>

#include "keywords.h"

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    char line[8192];
    if (len >= sizeof(line)) len = sizeof(line) - 1;
    memcpy(line, in, len);
    line[len] = 0; /* a command-line argument is a C string */
    wd_keywords kw;
    wd_keywords_defaults(&kw);
    char err[512];
    wd_keyword_line(&kw, line, err, sizeof(err));
    return 0;
}
