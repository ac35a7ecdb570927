/*
 * Unit tests of server/keyfile.c and server/asuser.c: a user's file read
 * as sshd reads authorized keys (regular files only, never blocking on a
 * FIFO or reading /dev/zero forever, StrictModes, a byte cap counting
 * NULs), and the user's rights taken by one thread only. The rights
 * tests need root (make check runs as root) and are skipped otherwise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asuser.h"
#include "keyfile.h"

static char home[64], sshdir[128], akpath[160], secret[64];
static wd_user me;
static char logged[8192];

static int setup(void **state)
{
    snprintf(home, sizeof(home), "/tmp/wka-kf-XXXXXX");
    if (!mkdtemp(home)) return -1;
    chmod(home, 0755);
    snprintf(sshdir, sizeof(sshdir), "%s/.ssh", home);
    snprintf(akpath, sizeof(akpath), "%s/authorized_keys", sshdir);
    if (mkdir(sshdir, 0700) != 0) return -1;
    memset(&me, 0, sizeof(me));
    snprintf(me.name, sizeof(me.name), "tester");
    me.uid = getuid();
    me.gid = getgid();
    snprintf(me.home, sizeof(me.home), "%s", home);
    snprintf(secret, sizeof(secret), "/tmp/wka-kf-secret-XXXXXX");
    int fd = mkstemp(secret);
    if (fd < 0) return -1;
    if (write(fd, "root only\n", 10) != 10) return -1;
    close(fd);
    chmod(secret, 0600);
    return 0;
}

static int teardown(void **state)
{
    unlink(akpath);
    rmdir(sshdir);
    rmdir(home);
    unlink(secret);
    return 0;
}

static void put_file(const char *data, size_t len, mode_t mode)
{
    unlink(akpath);
    int fd = open(akpath, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    chmod(akpath, mode);
}

/* Reads akpath with stderr (the log) captured into |logged|. */
static int read_logged(const wd_user *u, int flags, size_t cap,
                       wd_file_text *t)
{
    char tmpl[] = "/tmp/wka-kf-log-XXXXXX";
    int lfd = mkstemp(tmpl);
    int saved = dup(2);
    dup2(lfd, 2);
    int rc = wd_user_file_read(akpath, "authorized keys", u, flags, cap, t);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(lfd, logged, sizeof(logged) - 1, 0);
    logged[n > 0 ? n : 0] = 0;
    close(lfd);
    unlink(tmpl);
    return rc;
}

static void test_regular_file_and_cap(void **state)
{
    wd_file_text t;
    static const char data[] = "ssh-ed25519 AAAA\0with a NUL\n";
    put_file(data, sizeof(data) - 1, 0600);
    assert_int_equal(read_logged(&me, WD_FILE_STRICT, 1024, &t), 0);
    /* NULs are bytes like any other. */
    assert_int_equal(t.len, sizeof(data) - 1);
    assert_memory_equal(t.data, data, t.len);
    assert_false(t.truncated);
    wd_file_text_free(&t);
    assert_int_equal(read_logged(&me, WD_FILE_STRICT, 10, &t), 0);
    assert_int_equal(t.len, 10);
    assert_true(t.truncated);
    wd_file_text_free(&t);
}

static void test_not_regular(void **state)
{
    wd_file_text t;
    /* A FIFO with no writer: opened non-blocking, refused at once. */
    unlink(akpath);
    assert_int_equal(mkfifo(akpath, 0600), 0);
    assert_int_equal(read_logged(&me, WD_FILE_STRICT, 1024, &t), -1);
    assert_non_null(strstr(logged, "authorized keys"));
    assert_non_null(strstr(logged, "is not a regular file"));
    unlink(akpath);
    /* /dev/zero through a symlink: never read. */
    assert_int_equal(symlink("/dev/zero", akpath), 0);
    assert_int_equal(read_logged(&me, 0, 1024, &t), -1);
    assert_non_null(strstr(logged, "is not a regular file"));
    unlink(akpath);
}

static void test_strict_modes(void **state)
{
    wd_file_text t;
    put_file("x\n", 2, 0600);
    chmod(sshdir, 0770);
    assert_int_equal(read_logged(&me, WD_FILE_STRICT, 1024, &t), -1);
    char want[300];
    snprintf(want, sizeof(want),
             "Authentication refused: bad ownership or modes for directory "
             "%s",
             sshdir);
    assert_non_null(strstr(logged, want));
    /* StrictModes off reads it. */
    assert_int_equal(read_logged(&me, 0, 1024, &t), 0);
    wd_file_text_free(&t);
    chmod(sshdir, 0700);
    chmod(home, 0757);
    assert_int_equal(read_logged(&me, WD_FILE_STRICT, 1024, &t), -1);
    snprintf(want, sizeof(want), "bad ownership or modes for directory %s\n",
             home);
    assert_non_null(strstr(logged, want));
    chmod(home, 0755);
    put_file("x\n", 2, 0666);
    assert_int_equal(read_logged(&me, WD_FILE_STRICT, 1024, &t), -1);
    assert_non_null(strstr(logged, "bad ownership or modes for file"));
    put_file("x\n", 2, 0600);
    assert_int_equal(read_logged(&me, WD_FILE_STRICT, 1024, &t), 0);
    wd_file_text_free(&t);
}

static const wd_user nobody = {.name = "nobody", .uid = 65534,
                               .gid = 65534, .ngroups = 1,
                               .groups = {65534}};

static void test_read_as_the_user(void **state)
{
    if (geteuid() != 0) skip();
    wd_file_text t;
    wd_user u = nobody;
    snprintf(u.home, sizeof(u.home), "%s", home);
    assert_int_equal(chown(home, 65534, 65534), 0);
    assert_int_equal(chown(sshdir, 65534, 65534), 0);
    unlink(akpath);
    assert_int_equal(symlink(secret, akpath), 0);
    /* As the user: the root-only target cannot be opened. */
    assert_int_equal(read_logged(&u, WD_FILE_AS_USER | WD_FILE_STRICT,
                                 1024, &t),
                     -1);
    assert_non_null(strstr(logged, "Could not open user 'nobody' "
                                   "authorized keys"));
    assert_non_null(strstr(logged, "Permission denied"));
    /* With whelkd's own rights it could (which is what went wrong). */
    assert_int_equal(read_logged(&u, 0, 1024, &t), 0);
    wd_file_text_free(&t);
    /* And this thread is root again. */
    assert_int_equal(setfsuid((uid_t)-1), 0);
    assert_int_equal(setfsgid((gid_t)-1), 0);
    unlink(akpath);
    assert_int_equal(chown(sshdir, 0, 0), 0);
    assert_int_equal(chown(home, 0, 0), 0);
}

/* One thread takes a user's rights; the others keep theirs. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int phase;

static void *as_nobody(void *arg)
{
    wd_as_user saved;
    int *ok = arg;
    *ok = wd_as_user_begin(&nobody, &saved) == 0 &&
          open(secret, O_RDONLY) < 0;
    pthread_mutex_lock(&mu);
    phase = 1;
    pthread_cond_broadcast(&cv);
    while (phase != 2) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    wd_as_user_end(&saved);
    int fd = open(secret, O_RDONLY);
    *ok = *ok && fd >= 0;
    if (fd >= 0) close(fd);
    return NULL;
}

static void test_rights_are_per_thread(void **state)
{
    if (geteuid() != 0) skip();
    gid_t before[256], during[256];
    int nb = getgroups(256, before);
    pthread_t th;
    int ok = 0;
    phase = 0;
    assert_int_equal(pthread_create(&th, NULL, as_nobody, &ok), 0);
    pthread_mutex_lock(&mu);
    while (phase != 1) pthread_cond_wait(&cv, &mu);
    /* Meanwhile this thread still reads root's file, with its groups. */
    int fd = open(secret, O_RDONLY);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(setfsuid((uid_t)-1), 0);
    int nd = getgroups(256, during);
    assert_int_equal(nd, nb);
    assert_memory_equal(during, before, (size_t)nb * sizeof(gid_t));
    phase = 2;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(th, NULL);
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regular_file_and_cap),
        cmocka_unit_test(test_not_regular),
        cmocka_unit_test(test_strict_modes),
        cmocka_unit_test(test_read_as_the_user),
        cmocka_unit_test(test_rights_are_per_thread),
    };
    return cmocka_run_group_tests_name("keyfile", tests, setup, teardown);
}
