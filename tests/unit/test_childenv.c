/*
 * Unit tests of server/childenv.c: sshd's variables in sshd's order,
 * PATH for root and for others, the pty's SSH_TTY slot and TERM, the
 * server's values winning over a key's and a key's over a client's,
 * and the bound on the number of entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "childenv.h"

static const wd_user alice = {.name = "alice", .uid = 1000, .gid = 1000,
                              .home = "/home/alice", .shell = "/bin/bash"};

static wd_childenv_in base_in(const wd_user *u)
{
    return (wd_childenv_in){.user = u, .addr = "192.0.2.7", .port = 50000,
                            .laddr = "192.0.2.1", .lport = 22};
}

static void assert_env(const wd_childenv *e, const char *const *want)
{
    unsigned i = 0;
    for (; want[i]; i++) {
        assert_true(i < e->n);
        assert_string_equal(e->v[i], want[i]);
    }
    assert_int_equal(e->n, i);
    assert_null(e->v[i]);
}

static void test_server_variables(void **state)
{
    wd_childenv e;
    wd_childenv_in in = base_in(&alice);
    assert_int_equal(wd_childenv_build(&e, &in), 0);
    const char *want[] = {
        "USER=alice", "LOGNAME=alice", "HOME=/home/alice", "SHELL=/bin/bash",
        "PATH=/usr/local/bin:/usr/bin:/bin:/usr/games",
        "MAIL=/var/mail/alice", "SSH_CLIENT=192.0.2.7 50000 22",
        "SSH_CONNECTION=192.0.2.7 50000 192.0.2.1 22", NULL};
    assert_env(&e, want);
    wd_childenv_free(&e);
    assert_int_equal(e.n, 0);

    wd_user root = {.name = "root", .home = "/root", .shell = "/bin/sh"};
    in = base_in(&root);
    assert_int_equal(wd_childenv_build(&e, &in), 0);
    assert_string_equal(e.v[4], "PATH=/usr/local/sbin:/usr/local/bin:"
                                "/usr/sbin:/usr/bin:/sbin:/bin");
    wd_childenv_free(&e);
}

static void test_pty_and_precedence(void **state)
{
    char *key_env[] = {"FOO=from key", "no equals sign", "TERM=key's"};
    char *client_env[] = {"LANG=C.UTF-8", "FOO=from client", "USER=mallory",
                          "SSH_TTY=/dev/pts/99", "TERM=client's"};
    wd_childenv e;
    wd_childenv_in in = base_in(&alice);
    in.pty = 1;
    in.term = "";
    in.original = "ls -l";
    in.key_env = key_env;
    in.n_key_env = 3;
    in.client_env = client_env;
    in.n_client_env = 5;
    assert_int_equal(wd_childenv_build(&e, &in), 0);
    const char *want[] = {
        "USER=alice", "LOGNAME=alice", "HOME=/home/alice", "SHELL=/bin/bash",
        "PATH=/usr/local/bin:/usr/bin:/bin:/usr/games",
        "MAIL=/var/mail/alice", "SSH_CLIENT=192.0.2.7 50000 22",
        "SSH_CONNECTION=192.0.2.7 50000 192.0.2.1 22",
        WD_CHILDENV_TTY_SLOT, "TERM=dumb", "SSH_ORIGINAL_COMMAND=ls -l",
        "FOO=from key", "LANG=C.UTF-8", NULL};
    assert_env(&e, want);
    /* No SetEnv entries: only the server's eleven are fixed. */
    assert_int_equal(e.n_fixed, 11);
    wd_childenv_free(&e);
    /* The first key_env entry as SetEnv's: fixed too. */
    in.n_admin_env = 1;
    assert_int_equal(wd_childenv_build(&e, &in), 0);
    assert_int_equal(e.n_fixed, 12);
    assert_string_equal(e.v[11], "FOO=from key");
    wd_childenv_free(&e);
    in.n_admin_env = 0;

    in.term = "xterm-256color";
    assert_int_equal(wd_childenv_build(&e, &in), 0);
    assert_string_equal(e.v[9], "TERM=xterm-256color");
    wd_childenv_free(&e);
}

static void test_bounded(void **state)
{
    static char names[200][16];
    static char *client_env[200];
    for (int i = 0; i < 200; i++) {
        snprintf(names[i], sizeof(names[i]), "V%d=x", i);
        client_env[i] = names[i];
    }
    wd_childenv e;
    wd_childenv_in in = base_in(&alice);
    in.client_env = client_env;
    in.n_client_env = 200;
    assert_int_equal(wd_childenv_build(&e, &in), 0);
    assert_int_equal(e.n, WD_CHILDENV_MAX);
    assert_null(e.v[WD_CHILDENV_MAX]);
    assert_string_equal(e.v[8], "V0=x");
    wd_childenv_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_variables),
        cmocka_unit_test(test_pty_and_precedence),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests_name("childenv", tests, NULL, NULL);
}
