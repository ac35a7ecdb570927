/*
 * Unit tests of server/authkeys.c (authorized_keys lines, options,
 * from= matching, hostile lines), server/passwd.c and server/ttymodes.c.
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

#include "authkeys.h"
#include "passwd.h"
#include "ttymodes.h"

static char publine[256];
static whelk_key *key;

static int setup(void **state)
{
    char *line;
    if (whelk_key_generate_ed25519(&key) != 0) return -1;
    if (whelk_key_write_public(key, "c@host", &line) != 0) return -1;
    snprintf(publine, sizeof(publine), "%s", line);
    publine[strcspn(publine, "\n")] = 0;
    free(line);
    return 0;
}

static int teardown(void **state)
{
    whelk_key_free(key);
    return 0;
}

static int parse(const char *opts, wd_key_opts *o, char *from, whelk_key **k,
                 const char **why)
{
    char line[1024];
    snprintf(line, sizeof(line), "%s%s%s", opts, *opts ? " " : "", publine);
    return wd_authkeys_parse_line(line, strlen(line), k, o, from, 256, why);
}

static void test_options(void **state)
{
    wd_key_opts o;
    char from[256];
    whelk_key *k;
    const char *why;
    assert_int_equal(parse("", &o, from, &k, &why), 1);
    assert_true(whelk_key_equal_public(k, key));
    assert_null(o.command);
    whelk_key_free(k);
    wd_key_opts_clear(&o);
    assert_int_equal(parse("command=\"echo \\\"hi there\\\"\",no-pty,"
                           "environment=\"A=1\",environment=\"B=x y\","
                           "from=\"10.*,!10.1.*\"",
                           &o, from, &k, &why),
                     1);
    assert_string_equal(o.command, "echo \"hi there\"");
    assert_true(o.no_pty);
    assert_false(o.no_port_forwarding);
    assert_int_equal(o.nenv, 2);
    assert_string_equal(o.env[1], "B=x y");
    assert_string_equal(from, "10.*,!10.1.*");
    whelk_key_free(k);
    wd_key_opts_clear(&o);
    assert_int_equal(parse("restrict,pty", &o, from, &k, &why), 1);
    assert_false(o.no_pty);
    assert_true(o.no_port_forwarding && o.no_agent_forwarding &&
                o.no_x11_forwarding && o.no_user_rc);
    whelk_key_free(k);
    wd_key_opts_clear(&o);
}

static void test_comments_and_hostile_lines(void **state)
{
    wd_key_opts o;
    char from[256];
    whelk_key *k = NULL;
    const char *why;
    assert_int_equal(wd_authkeys_parse_line("# c", 3, &k, &o, from, 256,
                                            &why),
                     0);
    assert_int_equal(wd_authkeys_parse_line("   \n", 4, &k, &o, from, 256,
                                            &why),
                     0);
    static const char *bad[] = {
        "command=\"unterminated",
        "bogus-option",
        "no-pty,,",
        "environment=\"NOEQUALS\"",
        "command=",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(parse(bad[i], &o, from, &k, &why), -1);
        assert_non_null(why);
    }
    static const char *badkeys[] = {
        "ssh-ed25519 !!!!",
        "ssh-ed25519",
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIKx",
        "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
    };
    for (size_t i = 0; i < sizeof(badkeys) / sizeof(*badkeys); i++)
        assert_int_equal(wd_authkeys_parse_line(badkeys[i],
                                                strlen(badkeys[i]), &k, &o,
                                                from, 256, &why),
                         -1);
    /* A key of one type declared as another. */
    char swapped[300];
    snprintf(swapped, sizeof(swapped), "ssh-rsa%s",
             strchr(publine, ' '));
    assert_int_equal(wd_authkeys_parse_line(swapped, strlen(swapped), &k, &o,
                                            from, 256, &why),
                     -1);
    char nul[64] = "ssh-ed25519 AAAA";
    nul[5] = 0;
    assert_int_equal(wd_authkeys_parse_line(nul, 20, &k, &o, from, 256, &why),
                     -1);
    char *huge = malloc(20000);
    memset(huge, 'a', 20000);
    assert_int_equal(wd_authkeys_parse_line(huge, 20000, &k, &o, from, 256,
                                            &why),
                     -1);
    free(huge);
}

static void test_from_matching(void **state)
{
    assert_true(wd_match_from("127.0.0.1", "127.0.0.1"));
    assert_false(wd_match_from("10.9.9.9", "127.0.0.1"));
    assert_true(wd_match_from("10.*,127.0.0.?", "127.0.0.1"));
    assert_false(wd_match_from("127.*,!127.0.0.1", "127.0.0.1"));
    assert_true(wd_match_from("127.0.0.0/8", "127.1.2.3"));
    assert_false(wd_match_from("127.0.0.0/24", "127.1.2.3"));
    assert_true(wd_match_from("::1/128", "::1"));
    assert_false(wd_match_from("!::1", "::1"));
    assert_false(wd_match_from("", "127.0.0.1"));
}

static int cache_of(wd_keycache *kc, const char *text, size_t len,
                    int truncated)
{
    return wd_keycache_load(kc, "test_keys", text, len, truncated);
}

static void test_cache(void **state)
{
    char text[2048];
    int n = snprintf(text, sizeof(text),
                     "# comment\n\nno-such-option %s\nfrom=\"10.0.0.1\" %s\n"
                     "command=\"true\" %s\n",
                     publine, publine, publine);
    wd_keycache kc;
    assert_int_equal(cache_of(&kc, text, (size_t)n, 0), 0);
    assert_int_equal(kc.count, 2);
    /* Never more than the text it came from. */
    assert_true(kc.used <= (size_t)n);
    wd_key_opts o;
    assert_int_equal(wd_keycache_find(&kc, key, "127.0.0.1", &o), 1);
    assert_string_equal(o.command, "true");
    wd_key_opts_clear(&o);
    /* The from= line is the one that matches its address. */
    assert_int_equal(wd_keycache_find(&kc, key, "10.0.0.1", &o), 1);
    assert_null(o.command);
    wd_key_opts_clear(&o);
    whelk_key *other;
    whelk_key_generate_ed25519(&other);
    assert_int_equal(wd_keycache_find(&kc, other, "127.0.0.1", &o), 0);
    whelk_key_free(other);
    wd_keycache_free(&kc);
}

/* Lines are split on bytes, not C strings: a NUL anywhere skips the
 * whole line, and a long line with an early NUL is not cut at 8193 bytes
 * into a head and a tail read as a line of its own (without the head's
 * options). */
static void test_cache_nul_and_long_lines(void **state)
{
    size_t cap = 3 * 8192 + 1024, n = 0;
    char *text = calloc(1, cap);
    /* 1: the key with a NUL after it. */
    n += (size_t)sprintf(text + n, "%s", publine);
    text[n++] = 0;
    n += (size_t)sprintf(text + n, "junk\n");
    /* 2: options, an early NUL, padding to 8193 bytes, then the key. */
    size_t start = n;
    n += (size_t)sprintf(text + n, "command=\"echo restricted\" ");
    text[n++] = 0;
    while (n - start < 8193) text[n++] = 'x';
    n += (size_t)sprintf(text + n, "%s\n", publine);
    wd_keycache kc;
    wd_key_opts o;
    assert_int_equal(cache_of(&kc, text, n, 0), 0);
    assert_int_equal(kc.count, 0);
    assert_int_equal(wd_keycache_find(&kc, key, "127.0.0.1", &o), 0);
    wd_keycache_free(&kc);
    /* The same key on a clean line after them is found. */
    n += (size_t)sprintf(text + n, "%s\n", publine);
    assert_int_equal(cache_of(&kc, text, n, 0), 0);
    assert_int_equal(kc.count, 1);
    assert_int_equal(wd_keycache_find(&kc, key, "127.0.0.1", &o), 1);
    assert_null(o.command);
    wd_key_opts_clear(&o);
    wd_keycache_free(&kc);
    /* A text cut by the read cap drops its partial last line. */
    assert_int_equal(cache_of(&kc, text, n - 1, 1), 0);
    assert_int_equal(kc.count, 0);
    wd_keycache_free(&kc);
    free(text);
}

static void test_password_file(void **state)
{
    /* Made with openssl passwd -6 / -5 and Python's crypt.crypt with a
     * yescrypt salt, all for the password "secret". */
    char path[] = "/tmp/whelk-pw-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f,
            "# users\n"
            "six:$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aD"
            "ehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1\n"
            "five:$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA\n"
            "yes:$y$j9T$lGbUs0b3KkEqbnWvRxmWv.$DCuFJ4gpukAYnkwvoGjXP4xybe7JIln"
            "diDZyqRtBGK/\n");
    fclose(f);
    assert_int_equal(wd_passwd_check(path, "six", "secret", 6), 1);
    assert_int_equal(wd_passwd_check(path, "six", "Secret", 6), 0);
    assert_int_equal(wd_passwd_check(path, "five", "secret", 6), 1);
    assert_int_equal(wd_passwd_check(path, "yes", "secret", 6), 1);
    assert_int_equal(wd_passwd_check(path, "yes", "secre", 5), 0);
    assert_int_equal(wd_passwd_check(path, "nobody", "secret", 6), 0);
    assert_int_equal(wd_passwd_check(path, "# users", "x", 1), 0);
    unlink(path);
}

/* Unknown users are checked against a dummy of the scheme and cost most
 * of the file's entries use, not a fixed sha512-crypt one. */
static void test_password_dummy_scheme(void **state)
{
    static const struct {
        const char *entries, *prefix;
    } cases[] = {
        {"a:$y$j9T$lGbUs0b3KkEqbnWvRxmWv.$DCuFJ4gpukAYnkwvoGjXP4xybe7JIlndiDZ"
         "yqRtBGK/\nb:$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n"
         "0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1\nc:$y$j9T$lGbUs0b3Kk"
         "EqbnWvRxmWv.$DCuFJ4gpukAYnkwvoGjXP4xybe7JIlndiDZyqRtBGK/\n",
         "$y$j9T$"},
        {"a:$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S"
         "5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1\n",
         "$6$"},
        {"a:$6$rounds=9000$salt$g5q4xmIIqBmwbrUWgRLKmd3Ihc6.Bz4qPDu1NROs0pgi"
         "Y2rMB8nxLiUZ.VQYyp1XQ9J0Ak38i0V1FVT.3OYX.\n",
         "$6$rounds=9000$"},
        {"# nothing\n", "$y$"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char path[] = "/tmp/whelk-pw-XXXXXX";
        int fd = mkstemp(path);
        FILE *f = fdopen(fd, "w");
        fputs(cases[i].entries, f);
        fclose(f);
        assert_int_equal(wd_passwd_init(path), 0);
        const char *d = wd_passwd_dummy();
        assert_memory_equal(d, cases[i].prefix, strlen(cases[i].prefix));
        assert_true(strlen(d) > strlen(cases[i].prefix) + 8);
        assert_int_equal(wd_passwd_check(path, "nobody", "secret", 6), 0);
        unlink(path);
    }
}

static void test_tty_modes(void **state)
{
    static const struct {
        uint8_t op;
        uint32_t value;
    } modes[] = {
        {WHELK_TTY_VINTR, 3},   {WHELK_TTY_VERASE, 127}, {WHELK_TTY_ECHO, 0},
        {WHELK_TTY_ICRNL, 1},   {WHELK_TTY_ONLCR, 1},    {WHELK_TTY_CS8, 1},
        {WHELK_TTY_VEOF, 255},  {99, 7},
        {WHELK_TTY_OP_OSPEED, 38400},
    };
    wd_tty pty;
    memset(&pty, 0, sizeof(pty));
    pty.n_modes = sizeof(modes) / sizeof(*modes);
    for (unsigned i = 0; i < pty.n_modes; i++) {
        pty.modes[i].op = modes[i].op;
        pty.modes[i].value = modes[i].value;
    }
    struct termios t;
    memset(&t, 0, sizeof(t));
    t.c_lflag = ECHO | ICANON;
    wd_apply_tty_modes(&pty, &t);
    assert_int_equal(t.c_cc[VINTR], 3);
    assert_int_equal(t.c_cc[VERASE], 127);
    assert_int_equal(t.c_cc[VEOF], _POSIX_VDISABLE);
    assert_false(t.c_lflag & ECHO);
    assert_true(t.c_lflag & ICANON);
    assert_true(t.c_iflag & ICRNL);
    assert_true(t.c_oflag & ONLCR);
    assert_int_equal(t.c_cflag & CSIZE, CS8);
    assert_int_equal(cfgetospeed(&t), B38400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_comments_and_hostile_lines),
        cmocka_unit_test(test_from_matching),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_cache_nul_and_long_lines),
        cmocka_unit_test(test_password_file),
        cmocka_unit_test(test_password_dummy_scheme),
        cmocka_unit_test(test_tty_modes),
    };
    return cmocka_run_group_tests_name("authkeys", tests, setup, teardown);
}
