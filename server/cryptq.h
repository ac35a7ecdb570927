/*
 * cryptq: thread-pool work (password hashing) bounded per client
 * address.
 */
#ifndef WHELKD_CRYPTQ_H
#define WHELKD_CRYPTQ_H

#include <uv.h>

#define WD_CRYPT_PER_SOURCE 2        /* queued or running, per address */
#define WD_CRYPT_WAIT_PER_SOURCE 64  /* waiting behind them */

struct wd_cryptq_src;

/* Embed first in the job's own struct; set req.data as for uv_work_t. */
typedef struct wd_cryptq_job {
    uv_work_t req;
    struct wd_cryptq_src *src;
    struct wd_cryptq_job *next;
    uv_work_cb work;
    uv_after_work_cb done;
} wd_cryptq_job;

/* Runs |work| on the pool, then |done| on the loop, like uv_queue_work,
 * once fewer than WD_CRYPT_PER_SOURCE jobs of |addr| are in flight.
 * Returns 0 (queued), 1 (waiting its turn, logged), or -1 (refused: too
 * many waiting, logged, or out of memory); |done| is called only after
 * 0 or 1. */
int wd_cryptq_submit(uv_loop_t *loop, const char *addr, wd_cryptq_job *job,
                     uv_work_cb work, uv_after_work_cb done);
/* Jobs of |addr| in flight or waiting (tests). */
unsigned wd_cryptq_pending(const char *addr);

#endif
