/*
 * tokens: sshd_config's %-tokens (sshd_config(5) TOKENS), expanded into
 * a bounded buffer. One function for every keyword that takes them, so
 * the configuration reader can share it.
 */
#ifndef WHELKD_TOKENS_H
#define WHELKD_TOKENS_H

#include <stddef.h>

typedef struct wd_token {
    char letter;        /* 'h' for %h */
    const char *value;
} wd_token;

/* Expands |in| into |out|: "%%" is '%', "%X" the value of token X from
 * |toks|. Returns 0, or -1 for a token not in |toks|, a '%' at the end,
 * or a result that does not fit (|out| is then ""). */
int wd_expand_tokens(const char *in, const wd_token *toks, size_t ntoks,
                     char *out, size_t outlen);

#endif
