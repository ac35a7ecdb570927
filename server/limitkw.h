/*
 * limitkw: the sshd_config keywords that bound connections before they
 * log in, and how their sockets are kept: MaxStartups (sshd's random
 * early drop, start:rate:full), PerSourceMaxStartups and
 * PerSourceNetBlockSize (unauthenticated connections per source net
 * block), and TCPKeepAlive. One keyword area (keywords.h); loop.c reads
 * the values through wd_opts->kw (they are global: not allowed in Match,
 * as in sshd).
 */
#ifndef WHELKD_LIMITKW_H
#define WHELKD_LIMITKW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct wd_keywords;

void wd_limits_defaults(struct wd_keywords *kw);
int wd_limits_keyword(struct wd_keywords *kw, const char *key, int ac,
                      char **av, char *err, size_t errlen);
void wd_limits_dump(const struct wd_keywords *kw, FILE *out);

/* sshd's should_drop_connection(): with |startups| unauthenticated
 * connections already counted, whether the next one is dropped. Below
 * start never; at full (or above) always; in between with probability
 * rate% at start rising linearly to 100% at full, |r| being a uniform
 * draw in 0..99 (wd_limits_draw). */
int wd_startups_should_drop(const struct wd_keywords *kw, unsigned startups,
                            unsigned r);
/* A uniform number in 0..99 from OpenSSL's RAND_bytes (no modulo bias);
 * 0 if the generator fails (which drops, never admits, in between). */
unsigned wd_limits_draw(void);

/* The source net block of the address text |addr| (IPv4 or IPv6, as
 * loop.c prints it) under PerSourceNetBlockSize: the family and the
 * address with the bits past the block's length cleared, in |key| (17
 * bytes: family byte, then 16 address bytes). -1 when |addr| is not an
 * address (-i on a pipe): such a source is its own block by its text. */
int wd_limits_netblock(const struct wd_keywords *kw, const char *addr,
                       uint8_t key[17]);

#endif
