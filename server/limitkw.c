/*
 * limitkw: MaxStartups, PerSourceMaxStartups, PerSourceNetBlockSize and
 * TCPKeepAlive (limitkw.h), with sshd's syntax, checks and -T lines.
 */
#include "limitkw.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "keywords.h"

enum {
    SET_STARTUPS = 1u << 0,
    SET_PER_SOURCE = 1u << 1,
    SET_NETBLOCK = 1u << 2,
    SET_KEEPALIVE = 1u << 3,
};

/* Upper bound of every count here (whelkd's -m took 1..100000). */
#define WD_STARTUPS_MAX 100000

void wd_limits_defaults(wd_keywords *kw)
{
    struct wd_limits_conf *l = &kw->limits;
    memset(l, 0, sizeof(*l));
    /* whelkd's own defaults (whelkd_config(5) says how they differ from
     * sshd's 10:30:100 and none): 64 unauthenticated connections per
     * worker, no early drop; 10 per source address. */
    l->startups_begin = l->startups_full = 64;
    l->startups_rate = 30;
    l->per_source = 10;
    l->netblock4 = 32;
    l->netblock6 = 128;
    l->tcp_keepalive = 1;
}

/* A decimal number in lo..hi, the whole of s[0..n); -1 otherwise. */
static long number(const char *s, size_t n, long lo, long hi)
{
    if (n == 0 || n > 9) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v < lo || v > hi ? -1 : v;
}

int wd_limits_keyword(wd_keywords *kw, const char *key, int ac, char **av,
                      char *err, size_t errlen)
{
    struct wd_limits_conf *l = &kw->limits;
    if (strcasecmp(key, "MaxStartups") == 0) {
        if (wd_kw_one_arg(key, ac, err, errlen)) return WD_KW_ERROR;
        /* "N" (start = full = N) or "start:rate:full", as sshd. */
        const char *a = av[0], *c1 = strchr(a, ':');
        long begin, rate = 30, full;
        if (!c1) {
            begin = full = number(a, strlen(a), 1, WD_STARTUPS_MAX);
        } else {
            const char *c2 = strchr(c1 + 1, ':');
            begin = number(a, (size_t)(c1 - a), 1, WD_STARTUPS_MAX);
            rate = c2 ? number(c1 + 1, (size_t)(c2 - c1 - 1), 1, 100) : -1;
            full = c2 ? number(c2 + 1, strlen(c2 + 1), 1, WD_STARTUPS_MAX) : -1;
        }
        if (begin < 0 || rate < 0 || full < 0 || begin > full) {
            snprintf(err, errlen,
                     "Invalid %s spec \"%s\" (N or "
                     "start:rate:full, start <= full <= %d, "
                     "rate 1..100)",
                     key, a, WD_STARTUPS_MAX);
            return WD_KW_ERROR;
        }
        if (!(l->set & SET_STARTUPS)) {
            l->startups_begin = (int)begin;
            l->startups_rate = (int)rate;
            l->startups_full = (int)full;
        }
        l->set |= SET_STARTUPS;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "PerSourceMaxStartups") == 0) {
        if (wd_kw_one_arg(key, ac, err, errlen)) return WD_KW_ERROR;
        long v = strcasecmp(av[0], "none") == 0
                     ? 0
                     : number(av[0], strlen(av[0]), 1, WD_STARTUPS_MAX);
        if (v < 0) {
            snprintf(err, errlen,
                     "%s: invalid number \"%s\" (1..%d or "
                     "none)",
                     key, av[0], WD_STARTUPS_MAX);
            return WD_KW_ERROR;
        }
        if (!(l->set & SET_PER_SOURCE)) l->per_source = (int)v;
        l->set |= SET_PER_SOURCE;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "PerSourceNetBlockSize") == 0) {
        if (wd_kw_one_arg(key, ac, err, errlen)) return WD_KW_ERROR;
        const char *a = av[0], *colon = strchr(a, ':');
        long v4 = number(a, colon ? (size_t)(colon - a) : strlen(a), 0, 32);
        long v6 = colon ? number(colon + 1, strlen(colon + 1), 0, 128) : 128;
        if (v4 < 0 || v6 < 0) {
            snprintf(err, errlen,
                     "Invalid %s \"%s\" (v4 0..32, optionally "
                     ":v6 0..128)",
                     key, a);
            return WD_KW_ERROR;
        }
        if (!(l->set & SET_NETBLOCK)) {
            l->netblock4 = (int)v4;
            l->netblock6 = (int)v6;
        }
        l->set |= SET_NETBLOCK;
        return WD_KW_DONE;
    }
    if (strcasecmp(key, "TCPKeepAlive") == 0 ||
        strcasecmp(key, "KeepAlive") == 0) {
        if (wd_kw_one_arg(key, ac, err, errlen)) return WD_KW_ERROR;
        int v = wd_kw_yes_no(av[0], err, errlen);
        if (v < 0) return WD_KW_ERROR;
        if (!(l->set & SET_KEEPALIVE)) l->tcp_keepalive = v;
        l->set |= SET_KEEPALIVE;
        return WD_KW_DONE;
    }
    return WD_KW_NOT_MINE;
}

void wd_limits_dump(const wd_keywords *kw, FILE *out)
{
    const struct wd_limits_conf *l = &kw->limits;
    fprintf(out, "maxstartups %d:%d:%d\n", l->startups_begin, l->startups_rate,
            l->startups_full);
    if (l->per_source)
        fprintf(out, "persourcemaxstartups %d\n", l->per_source);
    else
        fprintf(out, "persourcemaxstartups none\n");
    fprintf(out, "persourcenetblocksize %d:%d\n", l->netblock4, l->netblock6);
    fprintf(out, "tcpkeepalive %s\n", l->tcp_keepalive ? "yes" : "no");
}

int wd_startups_should_drop(const wd_keywords *kw, unsigned startups,
                            unsigned r)
{
    const struct wd_limits_conf *l = &kw->limits;
    unsigned begin = (unsigned)l->startups_begin,
             full = (unsigned)l->startups_full;
    if (startups < begin) return 0;
    if (startups >= full) return 1;
    /* rate% at begin, rising linearly to 100% at full (begin < full
     * here, so no division by zero). */
    unsigned rate = (unsigned)l->startups_rate;
    unsigned p = rate + (100 - rate) * (startups - begin) / (full - begin);
    return r < p;
}

unsigned wd_limits_draw(void)
{
    /* Rejection sampling: bytes of 200 and above would favour the low
     * numbers. */
    for (int tries = 0; tries < 64; tries++) {
        unsigned char b;
        if (RAND_bytes(&b, 1) != 1) return 0;
        if (b < 200) return b % 100;
    }
    return 0;
}

int wd_limits_netblock(const wd_keywords *kw, const char *addr, uint8_t key[17])
{
    memset(key, 0, 17);
    int bits;
    if (inet_pton(AF_INET, addr, key + 1) == 1) {
        key[0] = 4;
        bits = kw->limits.netblock4;
    } else if (inet_pton(AF_INET6, addr, key + 1) == 1) {
        key[0] = 6;
        bits = kw->limits.netblock6;
    } else {
        return -1;
    }
    for (int i = 0; i < 16; i++) {
        int keep = bits - 8 * i;
        if (keep >= 8) continue;
        key[1 + i] &= keep <= 0 ? 0 : (uint8_t)(0xff00u >> keep);
    }
    return 0;
}
