/*
 * Unit tests of server/engineconf.c: sshd's "+", "-" and "^" list
 * modifiers over the library's lists, and the engine keywords' values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engineconf.h"
#include "keywords.h"

static void test_list_modifiers(void **state)
{
    char out[1024];
    const char *all = whelk_algorithms_default(WHELK_LIST_CIPHERS);
    /* Replace, in the order given. */
    assert_int_equal(wd_alg_list_expand(WHELK_LIST_CIPHERS,
                                        "aes256-ctr,aes128-ctr", out,
                                        sizeof(out)), 0);
    assert_string_equal(out, "aes256-ctr,aes128-ctr");
    /* Remove with a glob. */
    assert_int_equal(wd_alg_list_expand(WHELK_LIST_CIPHERS, "-*-ctr", out,
                                        sizeof(out)), 0);
    assert_null(strstr(out, "-ctr"));
    assert_non_null(strstr(out, "chacha20-poly1305@openssh.com"));
    /* Put first; the rest keep their order. */
    assert_int_equal(wd_alg_list_expand(WHELK_LIST_CIPHERS, "^aes256-ctr",
                                        out, sizeof(out)), 0);
    assert_true(strncmp(out, "aes256-ctr,", 11) == 0);
    assert_int_equal(strlen(out), strlen(all));
    /* Append what is already there: the default unchanged. */
    assert_int_equal(wd_alg_list_expand(WHELK_LIST_CIPHERS, "+aes128-ctr",
                                        out, sizeof(out)), 0);
    assert_string_equal(out, all);
    /* Unknown names, empty entries and an empty result are errors. */
    assert_int_equal(wd_alg_list_expand(WHELK_LIST_CIPHERS, "3des-cbc", out,
                                        sizeof(out)), -1);
    assert_int_equal(wd_alg_list_expand(WHELK_LIST_CIPHERS, "+3des-cbc", out,
                                        sizeof(out)), -1);
    assert_int_equal(wd_alg_list_expand(WHELK_LIST_CIPHERS, "aes128-ctr,,x",
                                        out, sizeof(out)), -1);
    assert_int_equal(wd_alg_list_expand(WHELK_LIST_CIPHERS, "-*", out,
                                        sizeof(out)), -1);
    assert_int_equal(wd_alg_list_expand(WHELK_LIST_MACS, "", out,
                                        sizeof(out)), -1);
    /* Too small a buffer fails rather than truncating. */
    assert_int_equal(wd_alg_list_expand(WHELK_LIST_KEX, "-nothing*", out, 8),
                     -1);
}

static void test_engine_keywords(void **state)
{
    wd_keywords kw;
    char err[256];
    wd_keywords_defaults(&kw);
    assert_int_equal(kw.engine.max_sessions, 10);
    assert_int_equal(kw.engine.alive_count, 3);
    assert_int_equal(wd_keyword_line(&kw, "RekeyLimit 512M 30m", err, 256),
                     0);
    assert_int_equal(kw.engine.rekey_bytes, 512ll << 20);
    assert_int_equal(kw.engine.rekey_s, 1800);
    assert_int_equal(wd_keyword_line(&kw, "RekeyLimit 1G", err, 256), 0);
    assert_int_equal(kw.engine.rekey_bytes, 512ll << 20); /* first wins */
    assert_int_equal(wd_keyword_line(&kw, "RekeyLimit 8", err, 256), -1);
    assert_int_equal(wd_keyword_line(&kw, "ClientAliveInterval 2m", err,
                                     256), 0);
    assert_int_equal(kw.engine.alive_interval, 120);
    assert_int_equal(wd_keyword_line(&kw, "MaxSessions 2000", err, 256), -1);
    assert_int_equal(wd_keyword_line(&kw, "MaxSessions 0", err, 256), 0);
    assert_int_equal(kw.engine.max_sessions, 0);
    assert_int_equal(wd_keyword_line(&kw, "UnusedConnectionTimeout none",
                                     err, 256), 0);
    assert_int_equal(wd_keyword_line(&kw, "Ciphers +nonesuch", err, 256),
                     -1);
    assert_non_null(strstr(err, "Bad Ciphers"));
    assert_int_equal(wd_keyword_line(&kw, "HostKeyAlgorithms -rsa*", err,
                                     256), 0);
    assert_string_equal(kw.engine.hostkey_algs, "-rsa*");
}

static void test_channel_timeout(void **state)
{
    wd_keywords kw;
    char err[256];
    wd_keywords_defaults(&kw);
    assert_string_equal(kw.engine.channel_timeout, "");
    static const char *const bad[] = {
        "ChannelTimeout session",        "ChannelTimeout =5",
        "ChannelTimeout session=",       "ChannelTimeout session=5x",
        "ChannelTimeout session=-1",     "ChannelTimeout none session=3",
        "ChannelTimeout session=3 none", "ChannelTimeout a=1 =2",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        if (wd_keyword_line(&kw, bad[i], err, sizeof(err)) != -1)
            fail_msg("accepted: %s", bad[i]);
    assert_string_equal(kw.engine.channel_timeout, "");
    assert_int_equal(wd_keyword_line(&kw, "ChannelTimeout session:*=5m "
                                          "global=1h direct-tcpip=0",
                                     err, sizeof(err)), 0);
    assert_string_equal(kw.engine.channel_timeout,
                        "session:*=5m global=1h direct-tcpip=0");
    /* The first line counts, "none" included. */
    assert_int_equal(wd_keyword_line(&kw, "ChannelTimeout session=1", err,
                                     sizeof(err)), 0);
    assert_string_equal(kw.engine.channel_timeout,
                        "session:*=5m global=1h direct-tcpip=0");
    wd_keywords_defaults(&kw);
    assert_int_equal(wd_keyword_line(&kw, "ChannelTimeout none", err,
                                     sizeof(err)), 0);
    assert_int_equal(wd_keyword_line(&kw, "ChannelTimeout session=1", err,
                                     sizeof(err)), 0);
    assert_string_equal(kw.engine.channel_timeout, "");
    /* 16 types at most (what the library holds); global is not one. */
    char line[1024] = "ChannelTimeout global=1";
    for (int i = 0; i < 16; i++)
        snprintf(line + strlen(line), sizeof(line) - strlen(line),
                 " t%d=1", i);
    wd_keywords_defaults(&kw);
    assert_int_equal(wd_keyword_line(&kw, line, err, sizeof(err)), 0);
    strcat(line, " one-more=1");
    wd_keywords_defaults(&kw);
    assert_int_equal(wd_keyword_line(&kw, line, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "more than 16"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_modifiers),
        cmocka_unit_test(test_engine_keywords),
        cmocka_unit_test(test_channel_timeout),
    };
    return cmocka_run_group_tests_name("engineconf", tests, NULL, NULL);
}
