/*
 * Unit tests of server/match.c (the patterns of AllowUsers and friends,
 * sshd_config(5) PATTERNS) and of the policy keywords' parsing
 * (policy.c): globs, negation in lists, CIDR, USER@HOST entries as sshd's
 * match_user reads them, and the first-value and accumulating rules.
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
#include "match.h"
#include "tokens.h"

static void test_glob(void **state)
{
    (void)state;
    assert_int_equal(wd_match_pattern("alice", "alice"), 1);
    assert_int_equal(wd_match_pattern("alice", "a*"), 1);
    assert_int_equal(wd_match_pattern("alice", "*"), 1);
    assert_int_equal(wd_match_pattern("", "*"), 1);
    assert_int_equal(wd_match_pattern("alice", "al?ce"), 1);
    assert_int_equal(wd_match_pattern("alice", "*e"), 1);
    assert_int_equal(wd_match_pattern("alice", "a*c*e"), 1);
    assert_int_equal(wd_match_pattern("alice", "a*x*e"), 0);
    assert_int_equal(wd_match_pattern("alice", "Alice"), 0);
    assert_int_equal(wd_match_pattern("alice", "alic"), 0);
    assert_int_equal(wd_match_pattern("alice", "alice?"), 0);
    assert_int_equal(wd_match_pattern("al", "al?"), 0);
    /* Only '*' and '?' are special: no classes, no escapes. */
    assert_int_equal(wd_match_pattern("a", "[a]"), 0);
    assert_int_equal(wd_match_pattern("[a]", "[a]"), 1);
    assert_int_equal(wd_match_pattern("aaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
                                      "*a*a*a*a*a*a*a*a*a*a*a*c"), 0);
}

static void test_list(void **state)
{
    (void)state;
    assert_int_equal(wd_match_list("bob", "alice,bob", 0), 1);
    assert_int_equal(wd_match_list("bob", "alice,carol", 0), 0);
    assert_int_equal(wd_match_list("bob", "*,!bob", 0), -1);
    assert_int_equal(wd_match_list("bob", "!bob,*", 0), -1);
    assert_int_equal(wd_match_list("eve", "*,!bob", 0), 1);
    assert_int_equal(wd_match_list("eve", "!bob", 0), 0);
    assert_int_equal(wd_match_list("Host.Example", "*.example", 1), 1);
    assert_int_equal(wd_match_list("Host.Example", "*.example", 0), 0);
}

static void test_addr_list(void **state)
{
    (void)state;
    assert_int_equal(wd_match_addr_list("10.1.2.3", "10.0.0.0/8"), 1);
    assert_int_equal(wd_match_addr_list("11.1.2.3", "10.0.0.0/8"), 0);
    assert_int_equal(wd_match_addr_list("10.1.2.3", "!10.1.0.0/16,10.0.0.0/8"),
                     -1);
    assert_int_equal(wd_match_addr_list("10.2.2.3", "!10.1.0.0/16,10.0.0.0/8"),
                     1);
    assert_int_equal(wd_match_addr_list("192.168.1.7", "192.168.1.7"), 1);
    assert_int_equal(wd_match_addr_list("192.168.1.7", "192.168.1.*"), 1);
    assert_int_equal(wd_match_addr_list("192.168.1.7", "0.0.0.0/0"), 1);
    assert_int_equal(wd_match_addr_list("::1", "::1/128"), 1);
    assert_int_equal(wd_match_addr_list("2001:db8::5", "2001:db8::/32"), 1);
    assert_int_equal(wd_match_addr_list("2001:db9::5", "2001:db8::/32"), 0);
    /* An IPv4 network never matches an IPv6 client, nor the reverse. */
    assert_int_equal(wd_match_addr_list("::1", "0.0.0.0/0"), 0);
    assert_int_equal(wd_match_addr_list("127.0.0.1", "::/0"), 0);
    /* Host bits past the mask, or a mask too long: malformed. */
    assert_int_equal(wd_match_addr_list("10.0.0.1", "10.0.0.1/8"), -2);
    assert_int_equal(wd_match_addr_list("10.0.0.1", "10.0.0.0/33"), -2);
    assert_int_equal(wd_match_addr_list("10.0.0.1", "10.0.0.0/"), -2);
    assert_int_equal(wd_match_addr_list(NULL, "10.0.0.0/8"), 0);
}

static void test_user_at_host(void **state)
{
    (void)state;
    const char *a = "192.0.2.10";
    assert_int_equal(wd_match_user("alice", a, a, "alice"), 1);
    assert_int_equal(wd_match_user("alice", a, a, "bob"), 0);
    assert_int_equal(wd_match_user("alice", a, a, "al*"), 1);
    assert_int_equal(wd_match_user("alice", a, a, "alice@192.0.2.10"), 1);
    assert_int_equal(wd_match_user("alice", a, a, "alice@192.0.2.0/24"), 1);
    assert_int_equal(wd_match_user("alice", a, a, "alice@198.51.100.0/24"),
                     0);
    assert_int_equal(wd_match_user("alice", a, a, "*@192.0.2.*"), 1);
    assert_int_equal(wd_match_user("bob", a, a, "alice@192.0.2.10"), 0);
    /* A host list: any entry, a negated one refuses. */
    assert_int_equal(
        wd_match_user("alice", a, a, "alice@198.51.100.1,192.0.2.0/24"), 1);
    assert_int_equal(
        wd_match_user("alice", a, a, "alice@!192.0.2.10,192.0.2.0/24"), 0);
    assert_int_equal(
        wd_match_user("alice", a, a, "alice@!192.0.2.11,192.0.2.0/24"), 1);
    /* A host name pattern against the client's name. */
    assert_int_equal(wd_match_user("alice", "ws1.Example.ORG", a,
                                   "alice@*.example.org"), 1);
    assert_int_equal(wd_match_user("alice", "ws1.example.org", a,
                                   "alice@*.example.org,!ws1.*"), 0);
    assert_int_equal(wd_match_user("alice", a, a, "alice@10.0.0.1/8"), -1);
    assert_int_equal(wd_match_user_check("alice@10.0.0.1/8"), -1);
    assert_int_equal(wd_match_user_check("alice@10.0.0.0/8"), 0);
    assert_int_equal(wd_match_user_check("alice"), 0);
}

static int line(wd_keywords *kw, const char *text)
{
    char err[256];
    return wd_keyword_line(kw, text, err, sizeof(err));
}

static void test_policy_keywords(void **state)
{
    (void)state;
    static wd_keywords kw;
    wd_keywords_defaults(&kw);
    assert_int_equal(kw.max_auth_tries, 6);
    assert_int_equal(kw.login_grace_s, 120);
    assert_int_equal(kw.strict_modes, 1);
    assert_int_equal(kw.authorized_keys_files.n, 2);
    /* Lists add up over lines. */
    assert_int_equal(line(&kw, "AllowUsers a b@10.0.0.0/8"), 0);
    assert_int_equal(line(&kw, "allowusers c"), 0);
    assert_int_equal(kw.allow_users.n, 3);
    const char *e = wd_kw_list_next(&kw.allow_users, NULL);
    assert_string_equal(e, "a");
    e = wd_kw_list_next(&kw.allow_users, e);
    assert_string_equal(e, "b@10.0.0.0/8");
    e = wd_kw_list_next(&kw.allow_users, e);
    assert_string_equal(e, "c");
    assert_null(wd_kw_list_next(&kw.allow_users, e));
    assert_int_equal(line(&kw, "DenyUsers x@10.0.0.1/8"), -1);
    /* The first value counts. */
    assert_int_equal(line(&kw, "PasswordAuthentication no"), 0);
    assert_int_equal(line(&kw, "PasswordAuthentication yes"), 0);
    assert_int_equal(kw.password_auth, 0);
    assert_int_equal(line(&kw, "ChallengeResponseAuthentication no"), 0);
    assert_int_equal(line(&kw, "KbdInteractiveAuthentication yes"), 0);
    assert_int_equal(kw.kbdint_auth, 0);
    assert_int_equal(line(&kw, "PubkeyAuthentication maybe"), -1);
    assert_int_equal(line(&kw, "LoginGraceTime 1m30s"), 0);
    assert_int_equal(kw.login_grace_s, 90);
    assert_int_equal(line(&kw, "MaxAuthTries 3"), 0);
    assert_int_equal(line(&kw, "MaxAuthTries 0"), -1);
    assert_int_equal(kw.max_auth_tries, 3);
    assert_int_equal(line(&kw, "AuthenticationMethods publickey,password "
                               "publickey,keyboard-interactive"), 0);
    assert_string_equal(kw.auth_methods, "publickey,password "
                                         "publickey,keyboard-interactive");
    assert_int_equal(line(&kw, "AuthenticationMethods publickey,hostbased"),
                     -1);
    assert_int_equal(line(&kw, "AuthorizedKeysFile %h/k1 /etc/k/%u"), 0);
    assert_int_equal(kw.authorized_keys_files.n, 2);
    assert_string_equal(wd_kw_list_next(&kw.authorized_keys_files, NULL),
                        "%h/k1");
    assert_int_equal(line(&kw, "AuthorizedKeysCommand relative/cmd"), -1);
    assert_int_equal(line(&kw, "AuthorizedKeysCommand /bin/k %u %f"), 0);
    assert_string_equal(kw.authorized_keys_command, "/bin/k %u %f");
    assert_int_equal(line(&kw, "AuthorizedKeysCommandUser a b"), -1);

    static wd_keywords any;
    wd_keywords_defaults(&any);
    assert_int_equal(line(&any, "AuthenticationMethods any publickey"), -1);
    assert_int_equal(line(&any, "AuthenticationMethods any"), 0);
    assert_string_equal(any.auth_methods, "");
}

static void test_policy_dump(void **state)
{
    (void)state;
    static wd_keywords kw;
    wd_keywords_defaults(&kw);
    assert_int_equal(line(&kw, "AllowUsers a b@10.0.0.0/8"), 0);
    assert_int_equal(line(&kw, "AuthenticationMethods publickey,password"),
                     0);
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    assert_non_null(f);
    wd_policy_dump(&kw, f);
    fclose(f);
    /* As sshd -T prints them. */
    static const char *const want[] = {
        "pubkeyauthentication yes\n", "passwordauthentication yes\n",
        "kbdinteractiveauthentication yes\n", "permitemptypasswords no\n",
        "strictmodes yes\n", "maxauthtries 6\n", "logingracetime 120\n",
        "authenticationmethods publickey,password\n",
        "authorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2\n",
        "authorizedkeyscommand none\n", "authorizedkeyscommanduser none\n",
        "allowusers a\nallowusers b@10.0.0.0/8\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
        assert_non_null(strstr(text, want[i]));
    assert_null(strstr(text, "denyusers"));
    free(text);
}

static void test_tokens(void **state)
{
    (void)state;
    const wd_token t[] = {{'h', "/home/a"}, {'u', "a%h"}, {'U', "1000"}};
    char out[64];
    assert_int_equal(wd_expand_tokens("%h/.ssh/k_%u", t, 3, out, sizeof(out)),
                     0);
    /* A value is never expanded again. */
    assert_string_equal(out, "/home/a/.ssh/k_a%h");
    assert_int_equal(wd_expand_tokens("100%% %U", t, 3, out, sizeof(out)), 0);
    assert_string_equal(out, "100% 1000");
    assert_int_equal(wd_expand_tokens("%f", t, 3, out, sizeof(out)), -1);
    assert_string_equal(out, "");
    assert_int_equal(wd_expand_tokens("end%", t, 3, out, sizeof(out)), -1);
    char small[7]; /* "/home/a" needs 8 */
    assert_int_equal(wd_expand_tokens("%h", t, 3, small, sizeof(small)), -1);
    assert_int_equal(wd_expand_tokens("123456", t, 3, small, sizeof(small)),
                     0);
    assert_int_equal(wd_expand_tokens("1234567", t, 3, small,
                                      sizeof(small)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_addr_list),
        cmocka_unit_test(test_user_at_host),
        cmocka_unit_test(test_policy_keywords),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_policy_dump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
