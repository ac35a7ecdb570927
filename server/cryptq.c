/*
 * cryptq: password hashing on libuv's thread pool, at most
 * WD_CRYPT_PER_SOURCE jobs at a time per client address. One connection
 * holds at most one attempt (the engine waits for the answer), but an
 * address with many connections could otherwise fill the pool's four
 * threads with crypt work and make every other login, and every key
 * file read, wait behind it. Further attempts from that address wait
 * here in arrival order (logged), up to WD_CRYPT_WAIT_PER_SOURCE, and
 * beyond that fail at once.
 */
#include "cryptq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define BUCKETS 64

typedef struct wd_cryptq_src {
    struct wd_cryptq_src *next;
    char addr[64];
    unsigned running;
    unsigned waiting;
    wd_cryptq_job *head, *tail;
} wd_cryptq_src;

static wd_cryptq_src *table[BUCKETS];

static unsigned bucket_of(const char *addr)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % BUCKETS;
}

static wd_cryptq_src *find_src(const char *addr, int create)
{
    wd_cryptq_src **pp = &table[bucket_of(addr)];
    for (wd_cryptq_src *s = *pp; s; s = s->next)
        if (strcmp(s->addr, addr) == 0) return s;
    if (!create) return NULL;
    wd_cryptq_src *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    snprintf(s->addr, sizeof(s->addr), "%s", addr);
    s->next = *pp;
    *pp = s;
    return s;
}

static void drop_src_if_idle(wd_cryptq_src *src)
{
    if (src->running || src->head) return;
    for (wd_cryptq_src **pp = &table[bucket_of(src->addr)]; *pp;
         pp = &(*pp)->next)
        if (*pp == src) {
            *pp = src->next;
            free(src);
            return;
        }
}

static void job_work(uv_work_t *req)
{
    wd_cryptq_job *job = (wd_cryptq_job *)req;
    job->work(req);
}

static void job_done(uv_work_t *req, int status);

static int start(uv_loop_t *loop, wd_cryptq_job *job)
{
    job->src->running++;
    if (uv_queue_work(loop, &job->req, job_work, job_done) == 0) return 0;
    job->src->running--;
    return -1;
}

static void job_done(uv_work_t *req, int status)
{
    wd_cryptq_job *job = (wd_cryptq_job *)req;
    wd_cryptq_src *src = job->src;
    uv_loop_t *loop = req->loop;
    src->running--;
    /* The next waiting attempt of this address takes the free place. */
    while (src->head && src->running < WD_CRYPT_PER_SOURCE) {
        wd_cryptq_job *next = src->head;
        src->head = next->next;
        if (!src->head) src->tail = NULL;
        src->waiting--;
        if (start(loop, next) != 0) next->done(&next->req, UV_ECANCELED);
    }
    drop_src_if_idle(src);
    job->done(req, status);
}

int wd_cryptq_submit(uv_loop_t *loop, const char *addr, wd_cryptq_job *job,
                     uv_work_cb work, uv_after_work_cb done)
{
    wd_cryptq_src *src = find_src(addr, 1);
    if (!src) return -1;
    job->src = src;
    job->work = work;
    job->done = done;
    job->next = NULL;
    if (src->running < WD_CRYPT_PER_SOURCE) {
        if (start(loop, job) == 0) return 0;
        drop_src_if_idle(src);
        return -1;
    }
    if (src->waiting >= WD_CRYPT_WAIT_PER_SOURCE) {
        wd_log(WHELK_LOG_INFO,
               "Refusing a password attempt from %s: %u attempts from this "
               "address are queued already",
               addr, src->running + src->waiting);
        return -1;
    }
    wd_log(WHELK_LOG_INFO,
           "Password attempt from %s waits: %u from this address are being "
           "checked",
           addr, src->running);
    if (src->tail) src->tail->next = job;
    else src->head = job;
    src->tail = job;
    src->waiting++;
    return 1;
}

unsigned wd_cryptq_pending(const char *addr)
{
    wd_cryptq_src *src = find_src(addr, 0);
    return src ? src->running + src->waiting : 0;
}
