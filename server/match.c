/*
 * match: OpenSSH's patterns, rewritten from sshd_config(5) PATTERNS and
 * sshd's documented behaviour: a glob knows only '*' and '?', lists are
 * comma-separated and a matching '!' entry refuses whatever else
 * matched, and address lists take CIDR entries. Bounded: patterns come
 * from the administrator, but user names come from the network, and
 * the glob matcher backtracks at most linearly per '*'.
 */
#include "match.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Iterative glob with single-star backtracking: O(len(s) * len(p)). */
static int glob(const char *s, const char *p, int fold)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == '?' ||
                   (fold ? tolower((unsigned char)*p) ==
                               tolower((unsigned char)*s)
                         : *p == *s)) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*p == '*') p++;
    return *p == 0 && *s == 0;
}

int wd_match_pattern(const char *s, const char *pattern)
{
    return glob(s, pattern, 0);
}

/* The next comma-separated entry of |list|, copied into |out| without
 * its '!' (*neg set); *neg is 2 for one too long to hold, which never
 * matches. 0 at the end. */
#define ENTRY_MAX 1024
static int next_entry(const char **list, char *out, int *neg)
{
    const char *p = *list;
    if (!*p) return 0;
    size_t n = strcspn(p, ",");
    *list = p + n + (p[n] == ',');
    while (n && (*p == ' ' || *p == '\t')) p++, n--;
    *neg = n && *p == '!';
    if (*neg) p++, n--;
    if (n >= ENTRY_MAX) {
        *neg = 2; /* too long: skipped, it never matches */
        n = 0;
    }
    memcpy(out, p, n);
    out[n] = 0;
    return 1;
}

int wd_match_list(const char *s, const char *list, int fold)
{
    char e[ENTRY_MAX];
    int neg, positive = 0;
    while (next_entry(&list, e, &neg)) {
        if (neg == 2 || !glob(s, e, fold)) continue;
        if (neg) return -1;
        positive = 1;
    }
    return positive;
}

/* "ADDR" or "ADDR/BITS": 0 with the network, its family and bits; -1
 * when it is no address; -2 when host bits are set past the mask. */
static int parse_cidr(const char *e, unsigned char net[16], int *family,
                      int *bits)
{
    char a[64];
    const char *slash = strchr(e, '/');
    size_t n = slash ? (size_t)(slash - e) : strlen(e);
    if (n == 0 || n >= sizeof(a)) return -1;
    memcpy(a, e, n);
    a[n] = 0;
    if (inet_pton(AF_INET, a, net) == 1) *family = AF_INET;
    else if (inet_pton(AF_INET6, a, net) == 1) *family = AF_INET6;
    else return -1;
    int max = *family == AF_INET ? 32 : 128;
    *bits = max;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || b < 0 || b > max) return -2;
        *bits = (int)b;
    }
    for (int k = *bits; k < max; k++)
        if (net[k / 8] & (0x80 >> (k % 8))) return -2;
    return 0;
}

int wd_match_addr_list(const char *addr, const char *list)
{
    unsigned char ab[16];
    int afam = 0;
    if (addr) {
        if (inet_pton(AF_INET, addr, ab) == 1) afam = AF_INET;
        else if (inet_pton(AF_INET6, addr, ab) == 1) afam = AF_INET6;
    }
    char e[ENTRY_MAX];
    int neg, ret = 0;
    while (next_entry(&list, e, &neg)) {
        if (neg == 2) continue;
        unsigned char net[16];
        int fam, bits, m = 0;
        int r = parse_cidr(e, net, &fam, &bits);
        if (r == -2) return -2;
        if (r == 0) {
            if (afam != fam) continue;
            m = 1;
            for (int k = 0; k < bits && m; k++)
                if ((net[k / 8] ^ ab[k / 8]) & (0x80 >> (k % 8))) m = 0;
        } else {
            m = addr && glob(addr, e, 0);
        }
        if (!m) continue;
        if (neg) return -1;
        ret = 1;
    }
    return ret;
}

int wd_match_host_and_ip(const char *host, const char *addr,
                         const char *list)
{
    int mip = wd_match_addr_list(addr, list);
    if (mip == -2) return -1;
    if (!host || !addr || mip == -1) return 0;
    int mhost = wd_match_list(host, list, 1);
    if (mhost == -1) return 0;
    return mhost == 1 || mip == 1;
}

int wd_match_user(const char *user, const char *host, const char *addr,
                  const char *entry)
{
    const char *at = strchr(entry, '@');
    if (!at) return wd_match_pattern(user, entry);
    char u[ENTRY_MAX];
    size_t n = (size_t)(at - entry);
    if (n >= sizeof(u)) return 0;
    memcpy(u, entry, n);
    u[n] = 0;
    if (!wd_match_pattern(user, u)) return 0;
    return wd_match_host_and_ip(host, addr, at + 1);
}

int wd_match_user_check(const char *entry)
{
    const char *at = strchr(entry, '@');
    if (!at) return 0;
    return wd_match_addr_list(NULL, at + 1) == -2 ? -1 : 0;
}
