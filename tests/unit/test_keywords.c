/*
 * Unit tests of server/keywords.c: -o lines split and judged as sshd
 * does (each PermitRootLogin and PermitUserEnvironment case below was
 * run through sshd -T -o on Debian 12's OpenSSH 9.2 first), and the
 * first value winning.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <cmocka.h>

#include "keywords.h"
#include "log.h"

static int line(wd_keywords *kw, const char *text, char *err)
{
    return wd_keyword_line(kw, text, err, 256);
}

static void test_permit_root_login(void **state)
{
    static const struct {
        const char *text;
        int mode;
    } ok[] = {
        {"PermitRootLogin=yes", WD_ROOT_YES},
        {"permitrootlogin no", WD_ROOT_NO},
        {"PermitRootLogin = forced-commands-only",
         WD_ROOT_FORCED_COMMANDS_ONLY},
        {"PermitRootLogin=YES", WD_ROOT_YES},
        {" PermitRootLogin=yes", WD_ROOT_YES},
        {"PermitRootLogin=\"yes\"", WD_ROOT_YES},
        {"PermitRootLogin\tno", WD_ROOT_NO},
        {"PermitRootLogin =no", WD_ROOT_NO},
        {"permitrootlogin=no # c", WD_ROOT_NO},
        {"=PermitRootLogin yes", WD_ROOT_YES},
        {"PermitRootLogin without-password", WD_ROOT_PROHIBIT_PASSWORD},
        {"PermitRootLogin prohibit-password  ", WD_ROOT_PROHIBIT_PASSWORD},
    };
    char err[256];
    for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
        wd_keywords kw;
        wd_keywords_defaults(&kw);
        assert_int_equal(kw.permit_root_login, WD_ROOT_PROHIBIT_PASSWORD);
        assert_int_equal(line(&kw, ok[i].text, err), 0);
        assert_int_equal(kw.permit_root_login, ok[i].mode);
    }
    static const struct {
        const char *text, *err;
    } bad[] = {
        {"PermitRootLogin=", "no argument after keyword \"PermitRootLogin\""},
        {"PermitRootLogin", "no argument after keyword \"PermitRootLogin\""},
        {"PermitRootLogin==yes", "unsupported option \"=yes\"."},
        {"PermitRootLogin yes=", "unsupported option \"yes=\"."},
        {"PermitRootLogin=maybe", "unsupported option \"maybe\"."},
        {"PermitRootLogin=yes extra",
         "keyword PermitRootLogin extra arguments at end of line"},
        {"PermitRootLogin \"yes", "invalid quotes"},
        {"Foo=bar", "Bad configuration option: Foo"},
        {"HostbasedUsesNameFromPacketOnly no",
         "Bad configuration option: HostbasedUsesNameFromPacketOnly"},
        {"PasswordAuthentication maybe", "unsupported option \"maybe\"."},
        {"SyslogFacility KERN", "SyslogFacility \"KERN\""},
        {"LogLevel LOUD", "LogLevel \"LOUD\""},
        {"LogLevel INFO extra",
         "keyword LogLevel extra arguments at end of line"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        wd_keywords kw;
        wd_keywords_defaults(&kw);
        assert_int_equal(line(&kw, bad[i].text, err), -1);
        assert_non_null(strstr(err, bad[i].err));
    }
    /* An empty line or a comment is nothing, as for sshd. */
    wd_keywords kw;
    wd_keywords_defaults(&kw);
    assert_int_equal(line(&kw, "", err), 0);
    assert_int_equal(line(&kw, "# PermitRootLogin yes", err), 0);
    assert_int_equal(kw.permit_root_login, WD_ROOT_PROHIBIT_PASSWORD);
    /* sshd keeps the first value it is given. */
    assert_int_equal(line(&kw, "PermitRootLogin=yes", err), 0);
    assert_int_equal(line(&kw, "PermitRootLogin=no", err), 0);
    assert_int_equal(kw.permit_root_login, WD_ROOT_YES);
    assert_string_equal(wd_root_mode_name(WD_ROOT_FORCED_COMMANDS_ONLY),
                        "forced-commands-only");
}

static void test_permit_user_environment(void **state)
{
    char err[256];
    wd_keywords kw;
    wd_keywords_defaults(&kw);
    assert_int_equal(kw.permit_user_env, 0);
    assert_int_equal(line(&kw, "PermitUserEnvironment=yes", err), 0);
    assert_int_equal(kw.permit_user_env, 1);
    assert_string_equal(kw.permit_user_env_list, "");

    wd_keywords_defaults(&kw);
    assert_int_equal(line(&kw, "PermitUserEnvironment no", err), 0);
    assert_int_equal(kw.permit_user_env, 0);

    /* Anything but exactly "yes" or "no" is a pattern list (sshd -T
     * prints "permituserenvironment Yes" for "Yes"). */
    wd_keywords_defaults(&kw);
    assert_int_equal(line(&kw, "PermitUserEnvironment=FOO*,BAR", err), 0);
    assert_int_equal(kw.permit_user_env, 1);
    assert_string_equal(kw.permit_user_env_list, "FOO*,BAR");
    wd_keywords_defaults(&kw);
    assert_int_equal(line(&kw, "PermitUserEnvironment=Yes", err), 0);
    assert_string_equal(kw.permit_user_env_list, "Yes");

    wd_keywords_defaults(&kw);
    assert_int_equal(line(&kw, "PermitUserEnvironment FOO, BAR", err), -1);
    assert_non_null(strstr(err, "extra arguments"));
    assert_int_equal(line(&kw, "PermitUserEnvironment=", err), -1);
}

static void test_algorithm_lists(void **state)
{
    char err[256];
    wd_keywords kw;
    wd_keywords_defaults(&kw);
    assert_string_equal(kw.kex, "");
    assert_int_equal(line(&kw, "KexAlgorithms=curve25519-sha256", err), 0);
    assert_int_equal(line(&kw, "kexalgorithms ecdh-sha2-nistp256", err), 0);
    assert_string_equal(kw.kex, "curve25519-sha256");
    assert_int_equal(line(&kw, "Ciphers aes128-ctr,aes256-ctr", err), 0);
    assert_string_equal(kw.ciphers, "aes128-ctr,aes256-ctr");
    assert_int_equal(line(&kw, "MACs=hmac-sha2-256", err), 0);
    assert_string_equal(kw.macs, "hmac-sha2-256");
    assert_int_equal(line(&kw, "MACs=a b", err), -1);
    assert_non_null(strstr(err, "extra arguments"));
}

/* The agent and X11 keywords (agxkw.c): sshd's defaults, yes/no in any
 * case, the first value counting, bad values refused, and the -T lines. */
static void test_agent_x11(void **state)
{
    wd_keywords kw;
    char err[256];
    wd_keywords_defaults(&kw);
    assert_int_equal(kw.allow_agent_forwarding, 1);
    assert_int_equal(kw.x11_forwarding, 0);
    assert_int_equal(kw.x11_display_offset, 10);
    assert_int_equal(kw.x11_use_localhost, 1);
    assert_string_equal(kw.xauth_location, "/usr/bin/xauth");
    assert_int_equal(line(&kw, "AllowAgentForwarding=NO", err), 0);
    assert_int_equal(line(&kw, "allowagentforwarding yes", err), 0);
    assert_int_equal(kw.allow_agent_forwarding, 0);
    assert_int_equal(line(&kw, "X11Forwarding yes", err), 0);
    assert_int_equal(line(&kw, "X11Forwarding no", err), 0);
    assert_int_equal(kw.x11_forwarding, 1);
    assert_int_equal(line(&kw, "X11DisplayOffset=42", err), 0);
    assert_int_equal(kw.x11_display_offset, 42);
    assert_int_equal(line(&kw, "X11UseLocalhost no", err), 0);
    assert_int_equal(kw.x11_use_localhost, 0);
    assert_int_equal(line(&kw, "XAuthLocation /opt/x/xauth", err), 0);
    assert_string_equal(kw.xauth_location, "/opt/x/xauth");

    static const char *const bad[] = {
        "X11Forwarding maybe", "AllowAgentForwarding 1",
        "X11DisplayOffset -1", "X11DisplayOffset 10x",
        "X11DisplayOffset 60000", "X11UseLocalhost",
        "XAuthLocation xauth", "X11Forwarding yes no",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        wd_keywords fresh;
        wd_keywords_defaults(&fresh);
        assert_int_equal(line(&fresh, bad[i], err), -1);
    }

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    wd_keywords_dump(&kw, out);
    fclose(out);
    assert_non_null(strstr(text, "allowagentforwarding no\n"));
    assert_non_null(strstr(text, "x11forwarding yes\n"));
    assert_non_null(strstr(text, "x11displayoffset 42\n"));
    assert_non_null(strstr(text, "x11uselocalhost no\n"));
    assert_non_null(strstr(text, "xauthlocation /opt/x/xauth\n"));
    free(text);
}

/* Issue 17's accounts and logging keywords: sshd's defaults and names,
 * case-insensitive, the first value counting. */
static void test_accounts_and_logging(void **state)
{
    char err[256];
    wd_keywords kw;
    wd_keywords_defaults(&kw);
    assert_int_equal(kw.password_auth, 1);
    assert_int_equal(kw.syslog_facility, LOG_AUTH);
    assert_int_equal(kw.log_level, WD_LOGLEVEL_INFO);
    assert_int_equal(line(&kw, "PasswordAuthentication=No", err), 0);
    assert_int_equal(line(&kw, "PasswordAuthentication yes", err), 0);
    assert_int_equal(kw.password_auth, 0);
    assert_int_equal(line(&kw, "syslogfacility local3", err), 0);
    assert_int_equal(line(&kw, "SyslogFacility AUTHPRIV", err), 0);
    assert_int_equal(kw.syslog_facility, LOG_LOCAL3);
    assert_int_equal(line(&kw, "LogLevel=DEBUG", err), 0);
    assert_int_equal(line(&kw, "LogLevel QUIET", err), 0);
    assert_int_equal(kw.log_level, WD_LOGLEVEL_DEBUG1);
    assert_int_equal(kw.print_motd, 1);
    assert_int_equal(kw.print_lastlog, 1);
    assert_int_equal(line(&kw, "PrintMotd no", err), 0);
    assert_int_equal(line(&kw, "PrintLastLog=no", err), 0);
    assert_int_equal(line(&kw, "PrintLastLog=yes", err), 0);
    assert_int_equal(kw.print_motd, 0);
    assert_int_equal(kw.print_lastlog, 0);
    assert_int_equal(line(&kw, "PrintMotd maybe", err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_permit_root_login),
        cmocka_unit_test(test_permit_user_environment),
        cmocka_unit_test(test_algorithm_lists),
        cmocka_unit_test(test_agent_x11),
        cmocka_unit_test(test_accounts_and_logging),
    };
    return cmocka_run_group_tests_name("keywords", tests, NULL, NULL);
}
