/*
 * Unit tests of server/log.c: the writer's second layer against forged
 * lines (every control character it is handed becomes \xNN).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server.h"

static void test_sanitize_control_characters(void **state)
{
    char out[128];
    size_t n = wd_log_sanitize(out, sizeof(out),
                               "user x\nInvalid user evil\r\033[2K\x7f\t.");
    assert_string_equal(out, "user x\\x0aInvalid user evil\\x0d\\x1b[2K"
                             "\\x7f\\x09.");
    assert_int_equal(n, strlen(out));
    /* UTF-8 and backslashes pass: they cannot break a line. */
    wd_log_sanitize(out, sizeof(out), "caf\xc3\xa9 a\\b");
    assert_string_equal(out, "caf\xc3\xa9 a\\b");
}

static void test_sanitize_bounds(void **state)
{
    char out[8];
    /* An escape that does not fit is left out whole. */
    assert_int_equal(wd_log_sanitize(out, sizeof(out), "abcde\n"), 5);
    assert_string_equal(out, "abcde");
    assert_int_equal(wd_log_sanitize(out, sizeof(out), "abcdefghij"), 7);
    assert_string_equal(out, "abcdefg");
    assert_int_equal(wd_log_sanitize(out, 0, "a"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sanitize_control_characters),
        cmocka_unit_test(test_sanitize_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
