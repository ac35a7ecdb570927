/*
 * version: the shared library's whelk_version() must be the header's
 * WHELK_VERSION_NUM (and its string WHELK_VERSION), so the file name,
 * SONAME and header the Makefile derives from whelk.h agree at run time.
 */
#include <stdio.h>
#include <string.h>

#include "whelk/whelk.h"

int main(void)
{
    unsigned int v = whelk_version();
    const char *s = whelk_version_string();
    if (v != (unsigned int)WHELK_VERSION_NUM || strcmp(s, WHELK_VERSION)) {
        fprintf(stderr, "version: library 0x%06x \"%s\", header 0x%06x \"%s\"\n",
                v, s, (unsigned int)WHELK_VERSION_NUM, WHELK_VERSION);
        return 1;
    }
    printf("libwhelk %s (0x%06x)\n", s, v);
    return 0;
}
