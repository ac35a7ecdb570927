/*
 * Unit tests of server/confile.c: sshd_config files read on hostile
 * input (long lines, quotes, NUL bytes, Include loops and depth, huge
 * files, Match without criteria, keywords Match does not allow), and
 * Match resolution (which block applies, what overrides what).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "confile.h"
#include "keywords.h"

static char dir[] = "/tmp/test_confile.XXXXXX";

static const char *write_file(const char *name, const char *text, size_t len)
{
    static char path[4][512];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    return p;
}

/* Loads |text| as a fresh file: 0 or -1, the message in |err|. */
static int load(const char *text, wd_keywords *kw, char *err)
{
    wd_conf_reset();
    wd_keywords_defaults(kw);
    const char *p = write_file("main.conf", text, strlen(text));
    return wd_conf_load(p, 1, kw, err, 1024);
}

static void test_errors_name_file_and_line(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"Port 22\nFooBar yes\n", "main.conf line 2: Bad configuration "
                                  "option: FooBar"},
        {"# c\n\nPermitRootLogin maybe\n", "line 3: unsupported option"},
        {"Ciphers \"aes128-ctr\n", "line 1: invalid quotes"},
        {"Match\n", "line 1: Match with no criteria"},
        {"Match User\n", "line 1: Missing Match criteria for User"},
        {"Match Colour blue\n", "Unsupported Match attribute Colour"},
        {"Match All User x\n", "'all' cannot be combined"},
        {"Match User x\nPort 2\n", "line 2: Directive 'Port' is not "
                                   "allowed within a Match block"},
        {"Match LocalPort 99999\n", "invalid port"},
        {"Match Address 10.0.0.1/8\n", "invalid address list"},
        {"Port %h\n", "Badly formatted port number"},
        {"Compression yes\n", "Compression yes: not supported"},
        {"PermitRootLogin\n", "no argument after keyword"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        wd_keywords kw;
        char err[1024] = "";
        assert_int_equal(load(cases[i].text, &kw, err), -1);
        if (!strstr(err, cases[i].want)) fail_msg("%s -> %s", cases[i].text,
                                                  err);
    }
}

static void test_long_lines_nul_and_size(void **state)
{
    wd_keywords kw;
    char err[1024];
    /* A line longer than the reader takes. */
    size_t n = WD_KW_MAX_LINE + 10;
    char *big = malloc(n + 16);
    memcpy(big, "Banner ", 7);
    memset(big + 7, 'a', n - 7);
    big[n] = '\n';
    big[n + 1] = 0;
    assert_int_equal(load(big, &kw, err), -1);
    assert_non_null(strstr(err, "line 1: line too long"));
    free(big);
    /* A NUL byte anywhere: the whole file is refused. */
    wd_conf_reset();
    wd_keywords_defaults(&kw);
    const char *p = write_file("nul.conf", "Port 22\n\0Port 23\n", 17);
    assert_int_equal(wd_conf_load(p, 1, &kw, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "NUL"));
    /* Larger than the limit. */
    size_t huge = WD_CONF_MAX_FILE + 1;
    char *h = malloc(huge);
    memset(h, '#', huge);
    p = write_file("huge.conf", h, huge);
    free(h);
    wd_conf_reset();
    assert_int_equal(wd_conf_load(p, 1, &kw, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "larger than"));
    /* Not a regular file. */
    wd_conf_reset();
    assert_int_equal(wd_conf_load("/dev/zero", 1, &kw, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "not a regular file"));
    /* A missing default file is no error; a missing -f file is. */
    wd_conf_reset();
    assert_int_equal(wd_conf_load("/nonexistent/x", 0, &kw, err,
                                  sizeof(err)), 0);
    assert_int_equal(wd_conf_load("/nonexistent/x", 1, &kw, err,
                                  sizeof(err)), -1);
}

static void test_include_glob_loop_and_depth(void **state)
{
    wd_keywords kw;
    char err[1024];
    char text[1024];
    /* Relative to the including file's directory, globbed in order;
     * the first value wins across files. */
    write_file("a.part", "PermitRootLogin no\n", 19);
    write_file("b.part", "PermitRootLogin yes\nAcceptEnv B\n", 32);
    write_file("main.conf", "", 0);
    snprintf(text, sizeof(text), "Include *.part\nAcceptEnv A\n");
    assert_int_equal(load(text, &kw, err), 0);
    assert_int_equal(kw.permit_root_login, WD_ROOT_NO);
    assert_int_equal(kw.daemon.accept_env.n, 2);
    /* A glob matching nothing is no error (sshd). */
    assert_int_equal(load("Include nothing-*.none\n", &kw, err), 0);
    /* A file including itself stops at the depth limit. */
    snprintf(text, sizeof(text), "Include %s/main.conf\n", dir);
    assert_int_equal(load(text, &kw, err), -1);
    assert_non_null(strstr(err, "nested too deep"));
    /* An error in an included file names that file and its line. */
    write_file("bad.part2", "Port 22\nNoSuchKeyword 1\n", 24);
    assert_int_equal(load("Include bad.part2\n", &kw, err), -1);
    assert_non_null(strstr(err, "bad.part2 line 2: Bad configuration"));
}

static void test_match_resolution(void **state)
{
    wd_keywords kw;
    char err[1024];
    assert_int_equal(
        load("PermitRootLogin no\n"
             "PasswordAuthentication yes\n"
             "Match User alice,!mallory Address 10.0.0.0/8,!10.9.0.0/16\n"
             "  PermitRootLogin yes\n"
             "Match LocalPort 2200\n"
             "  PermitRootLogin forced-commands-only\n"
             "  PasswordAuthentication no\n"
             "Match All\n"
             "  PasswordAuthentication no\n",
             &kw, err),
        0);
    assert_int_equal(kw.permit_root_login, WD_ROOT_NO);
    wd_match_ctx ctx = {.user = "alice", .addr = "10.1.2.3",
                        .laddr = "10.0.0.1", .lport = 22};
    int failed;
    wd_keywords *c = wd_conf_resolve(&ctx, &failed);
    assert_non_null(c);
    assert_int_equal(c->permit_root_login, WD_ROOT_YES);
    assert_int_equal(c->password_auth, 0); /* Match All */
    free(c);
    /* The first matching block wins over a later one. */
    ctx.lport = 2200;
    c = wd_conf_resolve(&ctx, &failed);
    assert_int_equal(c->permit_root_login, WD_ROOT_YES);
    free(c);
    /* The negated network. */
    ctx.addr = "10.9.1.1";
    c = wd_conf_resolve(&ctx, &failed);
    assert_int_equal(c->permit_root_login, WD_ROOT_FORCED_COMMANDS_ONLY);
    free(c);
    ctx.user = "bob";
    ctx.lport = 22;
    c = wd_conf_resolve(&ctx, &failed);
    assert_int_equal(c->permit_root_login, WD_ROOT_NO); /* global */
    assert_int_equal(c->password_auth, 0);
    free(c);
    /* No block at all applies: the global keywords are shared. */
    assert_int_equal(load("PermitRootLogin no\nMatch User alice\n"
                          "  PermitRootLogin yes\n",
                          &kw, err),
                     0);
    ctx.user = "bob";
    assert_null(wd_conf_resolve(&ctx, &failed));
    assert_int_equal(failed, 0);
    /* User criteria never match before the user is known. */
    ctx.user = NULL;
    ctx.addr = "10.1.2.3";
    assert_null(wd_conf_resolve(&ctx, &failed));
}

static void test_command_line_wins(void **state)
{
    wd_keywords kw;
    char err[1024];
    wd_conf_reset();
    wd_keywords_defaults(&kw);
    /* As main() does for -o: applied first and kept for Match copies. */
    assert_int_equal(wd_keyword_line(&kw, "PermitRootLogin no", err, 1024),
                     0);
    assert_int_equal(wd_conf_cmdline("PermitRootLogin no", err, 1024), 0);
    const char *p = write_file("main.conf",
                               "PermitRootLogin yes\nMatch All\n"
                               "  PermitRootLogin yes\n  MaxAuthTries 2\n",
                               strlen("PermitRootLogin yes\nMatch All\n"
                                      "  PermitRootLogin yes\n"
                                      "  MaxAuthTries 2\n"));
    if (wd_conf_load(p, 1, &kw, err, sizeof(err)) != 0) fail_msg("%s", err);
    assert_int_equal(kw.permit_root_login, WD_ROOT_NO);
    wd_match_ctx ctx = {.user = "u", .addr = "1.2.3.4"};
    int failed;
    wd_keywords *c = wd_conf_resolve(&ctx, &failed);
    assert_non_null(c);
    assert_int_equal(c->permit_root_login, WD_ROOT_NO);
    assert_int_equal(c->max_auth_tries, 2);
    free(c);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_name_file_and_line),
        cmocka_unit_test(test_long_lines_nul_and_size),
        cmocka_unit_test(test_include_glob_loop_and_depth),
        cmocka_unit_test(test_match_resolution),
        cmocka_unit_test(test_command_line_wins),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    wd_conf_reset();
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) rc = 1;
    return rc;
}
