/*
 * Unit tests of server/engineconf.c: sshd's "+", "-" and "^" list
 * modifiers over the library's lists, and the engine keywords' values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_modifiers),
        cmocka_unit_test(test_engine_keywords),
    };
    return cmocka_run_group_tests_name("engineconf", tests, NULL, NULL);
}
