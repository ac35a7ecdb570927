/*
 * tokens: see tokens.h. Values are inserted as they are, never expanded
 * again (a user name holding "%h" stays "%h").
 */
#include "tokens.h"

#include <string.h>

int wd_expand_tokens(const char *in, const wd_token *toks, size_t ntoks,
                     char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0) return -1;
    for (const char *p = in; *p; p++) {
        const char *v;
        char one[2] = {*p, 0};
        size_t n;
        if (*p != '%') {
            v = one;
        } else if (*++p == '%') {
            v = "%";
        } else {
            v = NULL;
            for (size_t i = 0; *p && i < ntoks; i++)
                if (toks[i].letter == *p) v = toks[i].value;
            if (!v) goto fail;
        }
        n = strlen(v);
        if (n >= outlen - o) goto fail;
        memcpy(out + o, v, n);
        o += n;
    }
    out[o] = 0;
    return 0;
fail:
    out[0] = 0;
    return -1;
}
