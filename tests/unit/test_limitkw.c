/*
 * Unit tests of server/limitkw.c: MaxStartups, PerSourceMaxStartups,
 * PerSourceNetBlockSize and TCPKeepAlive as sshd parses them, the
 * random early drop's bounds and curve, and source net blocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keywords.h"
#include "limitkw.h"

static int line(wd_keywords *kw, const char *text)
{
    char err[256];
    return wd_keyword_line(kw, text, err, sizeof(err));
}

static void test_max_startups_parsing(void **state)
{
    wd_keywords kw;
    wd_keywords_defaults(&kw);
    /* whelkd's defaults: 64 hard, 10 per source, /32 and /128. */
    assert_int_equal(kw.limits.startups_begin, 64);
    assert_int_equal(kw.limits.startups_full, 64);
    assert_int_equal(kw.limits.per_source, 10);
    assert_int_equal(kw.limits.netblock4, 32);
    assert_int_equal(kw.limits.netblock6, 128);
    assert_int_equal(kw.limits.tcp_keepalive, 1);
    static const char *const bad[] = {
        "MaxStartups 0",
        "MaxStartups -1",
        "MaxStartups 10:30",
        "MaxStartups 10:0:60",
        "MaxStartups 10:101:60",
        "MaxStartups 60:30:10",
        "MaxStartups 10:30:60:",
        "MaxStartups 10::60",
        "MaxStartups 1x",
        "MaxStartups 100001",
        "MaxStartups 10 20",
        "MaxStartups 99999999999999999999",
        "PerSourceMaxStartups 0",
        "PerSourceMaxStartups many",
        "PerSourceNetBlockSize 33",
        "PerSourceNetBlockSize 24:129",
        "PerSourceNetBlockSize :64",
        "PerSourceNetBlockSize 24:",
        "PerSourceNetBlockSize -1",
        "TCPKeepAlive sometimes",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        wd_keywords_defaults(&kw);
        if (line(&kw, bad[i]) != -1) fail_msg("accepted: %s", bad[i]);
        assert_int_equal(kw.limits.startups_full, 64);
    }
    wd_keywords_defaults(&kw);
    assert_int_equal(line(&kw, "MaxStartups 10:30:60"), 0);
    assert_int_equal(line(&kw, "MaxStartups 5"), 0); /* first wins */
    assert_int_equal(kw.limits.startups_begin, 10);
    assert_int_equal(kw.limits.startups_rate, 30);
    assert_int_equal(kw.limits.startups_full, 60);
    wd_keywords_defaults(&kw);
    assert_int_equal(line(&kw, "maxstartups=7"), 0);
    assert_int_equal(kw.limits.startups_begin, 7);
    assert_int_equal(kw.limits.startups_full, 7);
    assert_int_equal(line(&kw, "PerSourceMaxStartups none"), 0);
    assert_int_equal(kw.limits.per_source, 0);
    assert_int_equal(line(&kw, "PerSourceNetBlockSize 24"), 0);
    assert_int_equal(kw.limits.netblock4, 24);
    assert_int_equal(kw.limits.netblock6, 128);
    assert_int_equal(line(&kw, "TCPKeepAlive no"), 0);
    assert_int_equal(kw.limits.tcp_keepalive, 0);

    /* -T lines, as sshd -T prints them. */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    wd_limits_dump(&kw, out);
    fclose(out);
    assert_string_equal(text, "maxstartups 7:30:7\n"
                              "persourcemaxstartups none\n"
                              "persourcenetblocksize 24:128\n"
                              "tcpkeepalive no\n");
    free(text);
}

static void test_random_early_drop(void **state)
{
    wd_keywords kw;
    wd_keywords_defaults(&kw);
    assert_int_equal(line(&kw, "MaxStartups 10:30:60"), 0);
    /* Below start: never, whatever the draw. At full and past it:
     * always. */
    for (unsigned r = 0; r < 100; r++) {
        for (unsigned n = 0; n < 10; n++)
            assert_false(wd_startups_should_drop(&kw, n, r));
        assert_true(wd_startups_should_drop(&kw, 60, r));
        assert_true(wd_startups_should_drop(&kw, 1000, r));
    }
    /* At start: rate% (draws 0..29 drop); half-way: 65%; one short of
     * full: 98%. */
    assert_true(wd_startups_should_drop(&kw, 10, 29));
    assert_false(wd_startups_should_drop(&kw, 10, 30));
    assert_true(wd_startups_should_drop(&kw, 35, 64));
    assert_false(wd_startups_should_drop(&kw, 35, 65));
    assert_true(wd_startups_should_drop(&kw, 59, 97));
    assert_false(wd_startups_should_drop(&kw, 59, 98));
    /* A single number is a hard limit. */
    wd_keywords_defaults(&kw);
    assert_int_equal(line(&kw, "MaxStartups 3"), 0);
    assert_false(wd_startups_should_drop(&kw, 2, 0));
    assert_true(wd_startups_should_drop(&kw, 3, 99));
    /* The draws stay in 0..99 and are not all one value. */
    unsigned seen_low = 0, seen_high = 0;
    for (int i = 0; i < 2000; i++) {
        unsigned r = wd_limits_draw();
        assert_true(r < 100);
        seen_low += r < 50;
        seen_high += r >= 50;
    }
    assert_true(seen_low > 0 && seen_high > 0);
}

static void test_netblocks(void **state)
{
    wd_keywords kw;
    uint8_t a[17], b[17];
    wd_keywords_defaults(&kw);
    /* /32: each address its own block. */
    assert_int_equal(wd_limits_netblock(&kw, "192.0.2.1", a), 0);
    assert_int_equal(wd_limits_netblock(&kw, "192.0.2.2", b), 0);
    assert_memory_not_equal(a, b, 17);
    assert_int_equal(line(&kw, "PerSourceNetBlockSize 24:56"), 0);
    assert_int_equal(wd_limits_netblock(&kw, "192.0.2.1", a), 0);
    assert_int_equal(wd_limits_netblock(&kw, "192.0.2.200", b), 0);
    assert_memory_equal(a, b, 17);
    assert_int_equal(wd_limits_netblock(&kw, "192.0.3.1", b), 0);
    assert_memory_not_equal(a, b, 17);
    /* IPv6 by its own length (56: seven bytes kept). */
    assert_int_equal(wd_limits_netblock(&kw, "2001:db8:0:1200::1", a), 0);
    assert_int_equal(wd_limits_netblock(&kw, "2001:db8:0:12ff::9", b), 0);
    assert_memory_equal(a, b, 17);
    assert_int_equal(wd_limits_netblock(&kw, "2001:db8:0:1300::1", b), 0);
    assert_memory_not_equal(a, b, 17);
    /* A v4 block never equals a v6 one with the same bytes. */
    assert_int_equal(wd_limits_netblock(&kw, "0.0.0.0", a), 0);
    assert_int_equal(wd_limits_netblock(&kw, "::", b), 0);
    assert_memory_not_equal(a, b, 17);
    /* Lengths that are not byte-aligned, and 0 (one block for all). */
    wd_keywords_defaults(&kw);
    assert_int_equal(line(&kw, "PerSourceNetBlockSize 20:0"), 0);
    assert_int_equal(wd_limits_netblock(&kw, "10.0.15.1", a), 0);
    assert_int_equal(wd_limits_netblock(&kw, "10.0.0.9", b), 0);
    assert_memory_equal(a, b, 17);
    assert_int_equal(wd_limits_netblock(&kw, "10.0.16.1", b), 0);
    assert_memory_not_equal(a, b, 17);
    assert_int_equal(wd_limits_netblock(&kw, "2001:db8::1", a), 0);
    assert_int_equal(wd_limits_netblock(&kw, "fe80::1", b), 0);
    assert_memory_equal(a, b, 17);
    /* Not an address: -1 (loop.c counts it by its text). */
    assert_int_equal(wd_limits_netblock(&kw, "UNKNOWN", a), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_startups_parsing),
        cmocka_unit_test(test_random_early_drop),
        cmocka_unit_test(test_netblocks),
    };
    return cmocka_run_group_tests_name("limitkw", tests, NULL, NULL);
}
