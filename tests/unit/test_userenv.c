/*
 * Unit tests of server/userenv.c: ~/.ssh/environment's lines merged as
 * sshd's read_environment_file does, with whelkd's fixed entries, its
 * bounds, and the file reader's refusal of what is not a regular file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "userenv.h"

static const char *get(char **env, size_t n, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (strncmp(env[i], name, nl) == 0 && env[i][nl] == '=')
            return env[i] + nl + 1;
    return NULL;
}

static void test_merge(void **state)
{
    char *env[7] = {"USER=u", "ADMIN=setenv", "KEY=from-key", "LC_X=client",
                    NULL};
    size_t n = 4;
    char text[] = "# comment\n"
                  "\n"
                  "   \t\n"
                  "  NEW=one two\r\n"
                  "USER=forged\n"
                  "ADMIN=forged\n"
                  "KEY=from-file\n"
                  "noequals\n"
                  "=empty-name\n"
                  "LC_X=file\n"
                  "EMPTY=\n"
                  "LAST=no newline";
    unsigned bad;
    assert_int_equal(wd_userenv_merge(text, env, &n, 7, 2, NULL, &bad),
                     WD_USERENV_OK);
    assert_int_equal(bad, 8);
    /* The server's and SetEnv's stay; the key's and the client's are
     * replaced; new ones are added while there is room (7 with NULL:
     * NEW and EMPTY fit, LAST does not). */
    assert_string_equal(get(env, n, "USER"), "u");
    assert_string_equal(get(env, n, "ADMIN"), "setenv");
    assert_string_equal(get(env, n, "KEY"), "from-file");
    assert_string_equal(get(env, n, "LC_X"), "file");
    assert_string_equal(get(env, n, "NEW"), "one two");
    assert_string_equal(get(env, n, "EMPTY"), "");
    assert_int_equal(n, 6);
    assert_null(env[6]);
    assert_null(get(env, n, "LAST"));
}

static void test_merge_patterns(void **state)
{
    char *env[8] = {NULL};
    size_t n = 0;
    char text[] = "LANG=C\nLC_ALL=C\nLD_PRELOAD=/tmp/x.so\nPATHX=1\n";
    unsigned bad;
    assert_int_equal(wd_userenv_merge(text, env, &n, 8, 0, "LANG,LC_*", &bad),
                     WD_USERENV_OK);
    assert_int_equal(n, 2);
    assert_string_equal(get(env, n, "LANG"), "C");
    assert_string_equal(get(env, n, "LC_ALL"), "C");
    assert_null(get(env, n, "LD_PRELOAD"));
    /* A negation refuses what a later entry would allow, as sshd. */
    char text2[] = "LD_PRELOAD=x\nFOO=y\n";
    char *env2[4] = {NULL};
    n = 0;
    assert_int_equal(wd_userenv_merge(text2, env2, &n, 4, 0, "!LD_*,*", &bad),
                     WD_USERENV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(env2[0], "FOO=y");
}

static void test_line_limit(void **state)
{
    size_t size = 1001 * 6 + 1;
    char *text = malloc(size), *p = text;
    for (int i = 0; i < 1001; i++)
        p += sprintf(p, "V%03d=\n", i % 1000);
    char *env[4] = {"A=b", NULL};
    size_t n = 1;
    unsigned bad;
    assert_int_equal(wd_userenv_merge(text, env, &n, 4, 0, NULL, &bad),
                     WD_USERENV_TOO_MANY);
    assert_int_equal(n, 1); /* nothing merged */
    assert_string_equal(env[0], "A=b");
    /* 1,000 lines, with a last one unterminated, are fine. */
    text[1000 * 6 - 1] = 0;
    n = 1;
    assert_int_equal(wd_userenv_merge(text, env, &n, 4, 0, NULL, &bad),
                     WD_USERENV_OK);
    assert_int_equal(n, 3);
    free(text);
}

static void test_read(void **state)
{
    char dir[] = "/tmp/wd-userenv-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], *buf = malloc(WD_USERENV_MAX_BYTES + 1);
    size_t len;
    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_int_equal(wd_userenv_read(path, buf, &len), WD_USERENV_NONE);
    /* A FIFO is never opened for reading in a way that waits. */
    snprintf(path, sizeof(path), "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(wd_userenv_read(path, buf, &len), WD_USERENV_NONE);
    unlink(path);
    /* A directory neither. */
    assert_int_equal(wd_userenv_read(dir, buf, &len), WD_USERENV_NONE);
    snprintf(path, sizeof(path), "%s/env", dir);
    FILE *f = fopen(path, "w");
    fputs("A=1\n", f);
    fclose(f);
    assert_int_equal(wd_userenv_read(path, buf, &len), WD_USERENV_OK);
    assert_int_equal(len, 4);
    assert_string_equal(buf, "A=1\n");
    /* Exactly the cap is read; one byte more is too big. */
    f = fopen(path, "w");
    for (int i = 0; i < WD_USERENV_MAX_BYTES; i++)
        fputc('#', f);
    fclose(f);
    assert_int_equal(wd_userenv_read(path, buf, &len), WD_USERENV_OK);
    assert_int_equal(len, WD_USERENV_MAX_BYTES);
    f = fopen(path, "a");
    fputc('\n', f);
    fclose(f);
    assert_int_equal(wd_userenv_read(path, buf, &len), WD_USERENV_TOO_BIG);
    unlink(path);
    rmdir(dir);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_merge_patterns),
        cmocka_unit_test(test_line_limit),
        cmocka_unit_test(test_read),
    };
    return cmocka_run_group_tests_name("userenv", tests, NULL, NULL);
}
