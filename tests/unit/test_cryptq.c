/*
 * Unit tests of server/cryptq.c on a real libuv loop: at most
 * WD_CRYPT_PER_SOURCE jobs of one address run at a time, the rest wait
 * (and beyond WD_CRYPT_WAIT_PER_SOURCE are refused), while another
 * address is not held up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cryptq.h"

typedef struct job {
    wd_cryptq_job q;
    int is_a;
    int order;
} job;

static atomic_int running_a, max_a, running_b;
static int n_done;

static void work(uv_work_t *req)
{
    job *j = req->data;
    if (j->is_a) {
        int now = atomic_fetch_add(&running_a, 1) + 1;
        int m = atomic_load(&max_a);
        while (now > m && !atomic_compare_exchange_weak(&max_a, &m, now)) {
        }
    } else {
        atomic_fetch_add(&running_b, 1);
    }
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (j->is_a) atomic_fetch_sub(&running_a, 1);
}

static void done(uv_work_t *req, int status)
{
    job *j = req->data;
    assert_int_equal(status, 0);
    n_done++;
    free(j);
}

static job *new_job(int is_a, int order)
{
    job *j = calloc(1, sizeof(*j));
    j->is_a = is_a;
    j->order = order;
    j->q.req.data = j;
    return j;
}

static void test_per_source_bound(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    int waited = 0;
    for (int i = 0; i < 6; i++) {
        int rc = wd_cryptq_submit(&loop, "192.0.2.1", &new_job(1, i)->q,
                                  work, done);
        assert_true(rc == 0 || rc == 1);
        waited += rc == 1;
    }
    assert_int_equal(waited, 6 - WD_CRYPT_PER_SOURCE);
    assert_int_equal(wd_cryptq_pending("192.0.2.1"), 6);
    /* Another address goes straight to the pool. */
    assert_int_equal(wd_cryptq_submit(&loop, "192.0.2.2", &new_job(0, 100)->q,
                                      work, done),
                     0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(n_done, 7);
    assert_true(atomic_load(&max_a) <= WD_CRYPT_PER_SOURCE);
    assert_int_equal(atomic_load(&running_b), 1);
    assert_int_equal(wd_cryptq_pending("192.0.2.1"), 0);
    uv_loop_close(&loop);
}

static void test_waiting_is_bounded(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    n_done = 0;
    int total = WD_CRYPT_PER_SOURCE + WD_CRYPT_WAIT_PER_SOURCE;
    for (int i = 0; i < total; i++)
        assert_true(wd_cryptq_submit(&loop, "192.0.2.3", &new_job(1, i)->q,
                                     work, done) >= 0);
    job *extra = new_job(1, 999);
    assert_int_equal(wd_cryptq_submit(&loop, "192.0.2.3", &extra->q, work,
                                      done),
                     -1);
    free(extra);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(n_done, total);
    uv_loop_close(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_source_bound),
        cmocka_unit_test(test_waiting_is_bounded),
    };
    return cmocka_run_group_tests_name("cryptq", tests, NULL, NULL);
}
