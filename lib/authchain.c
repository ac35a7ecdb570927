/*
 * authchain: sshd's AuthenticationMethods, multi-step authentication with
 * partial success (RFC 4252 section 5.1).
 *
 * A set of chains ("publickey,password publickey,keyboard-interactive")
 * says which sequences of methods log a user in. A method that succeeds
 * advances every chain whose next step it is; the user is in once one
 * chain is complete, and until then each success is answered FAILURE
 * with partial success set and the methods that may come next: the next
 * step of every chain (the order within a chain is enforced, as sshd
 * does). No chains at all means one method is enough.
 */
#include "conn.h"

#include <string.h>

static const struct {
    const char *name;
    uint8_t bit;
} method_names[] = {
    {"publickey", WHELK_AUTH_METHOD_PUBLICKEY},
    {"password", WHELK_AUTH_METHOD_PASSWORD},
    {"keyboard-interactive", WHELK_AUTH_METHOD_KBDINT},
};

static uint8_t method_bit(const char *p, size_t n)
{
    for (size_t i = 0; i < sizeof(method_names) / sizeof(*method_names); i++)
        if (n == strlen(method_names[i].name) &&
            !memcmp(p, method_names[i].name, n))
            return method_names[i].bit;
    return 0;
}

int wk_auth_chains_parse(const char *text, wk_auth_chains *out)
{
    wk_auth_chains ch;
    memset(&ch, 0, sizeof(ch));
    if (!text || !strcmp(text, "any")) {
        *out = ch;
        return 0;
    }
    const char *p = text;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        if (ch.n >= WK_AUTH_MAX_CHAINS) return WHELK_ERR_LIMIT;
        unsigned len = 0;
        for (;;) {
            size_t n = strcspn(p, ", ");
            uint8_t bit = method_bit(p, n);
            if (!bit) return WHELK_ERR_UNSUPPORTED;
            if (len >= WK_AUTH_MAX_STEPS) return WHELK_ERR_LIMIT;
            ch.step[ch.n][len++] = bit;
            p += n;
            if (*p != ',') break;
            p++;
        }
        ch.len[ch.n++] = (uint8_t)len;
        if (*p && *p != ' ') return WHELK_ERR_INVAL;
    }
    if (ch.n == 0) return WHELK_ERR_INVAL;
    *out = ch;
    return 0;
}

uint64_t wk_auth_chains_next(const wk_auth_chains *ch, const uint8_t *done)
{
    if (ch->n == 0) return UINT64_MAX; /* any method */
    uint64_t next = 0;
    for (unsigned i = 0; i < ch->n; i++)
        if (done[i] < ch->len[i]) next |= ch->step[i][done[i]];
    return next;
}

int wk_auth_chains_advance(const wk_auth_chains *ch, uint8_t *done,
                           uint8_t method)
{
    if (ch->n == 0) return 1;
    int complete = 0;
    for (unsigned i = 0; i < ch->n; i++) {
        if (done[i] < ch->len[i] && ch->step[i][done[i]] == method) done[i]++;
        if (done[i] == ch->len[i]) complete = 1;
    }
    return complete;
}

void wk_auth_methods_list(uint64_t mask, char *out, size_t size)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < sizeof(method_names) / sizeof(*method_names); i++) {
        if (!(mask & method_names[i].bit)) continue;
        size_t n = strlen(method_names[i].name);
        if (o + n + 2 > size) break;
        if (o) out[o++] = ',';
        memcpy(out + o, method_names[i].name, n + 1);
        o += n;
    }
}
