/*
 * The engine: worker threads that run batches while there is work, then
 * sleep until an enqueue in this process wakes them or their poll interval
 * passes (jobs scheduled for later, or enqueued by another process). The
 * first worker also keeps the coop_jobs gauges current.
 */
#include "jobs_int.h"

#include <stdlib.h>
#include <string.h>

#define METRICS_EVERY_MS 2000

static void defaults(struct coop_jobs_options *o)
{
    if (o->batch <= 0)
        o->batch = 128;
    if (o->batch > COOP_JOBS_MAX_BATCH)
        o->batch = COOP_JOBS_MAX_BATCH;
    if (o->lease_ms <= 0)
        o->lease_ms = 60000;
    if (o->backoff_base_ms <= 0)
        o->backoff_base_ms = 1000;
    if (o->backoff_max_ms <= 0)
        o->backoff_max_ms = 3600 * 1000;
    if (o->backoff_max_ms < o->backoff_base_ms)
        o->backoff_max_ms = o->backoff_base_ms;
    if (o->poll_ms <= 0)
        o->poll_ms = 250;
    if (o->workers < 0)
        o->workers = 0;
    if (o->workers > COOP_JOBS_MAX_WORKERS)
        o->workers = COOP_JOBS_MAX_WORKERS;
}

coop_err coop_jobs_new(struct coop_store *store, const struct coop_jobs_options *opt,
                       struct coop_jobs **out)
{
    struct coop_jobs *j = calloc(1, sizeof *j);
    if (!j)
        return COOP_ERR_NOMEM;
    j->store = store;
    pthread_mutex_init(&j->prepared_lock, NULL);
    if (opt)
        j->opt = *opt;
    defaults(&j->opt);
    *out = j;
    return COOP_ERR_OK;
}

struct worker_arg {
    struct coop_jobs *jobs;
    int index;
};

static void *worker_main(void *p)
{
    struct worker_arg *arg = p;
    struct coop_jobs *jobs = arg->jobs;
    int index = arg->index;
    free(arg);
    int64_t next_metrics = 0;
    while (!jobs->stop) {
        uint64_t seen = coop_jobs_wake_seq_();
        int ran = 0;
        coop_err err = coop_jobs_run_once(jobs, &ran);
        if (index == 0 && coop_clock_mono_ns() / 1000000 >= next_metrics) {
            coop_jobs_refresh_metrics(jobs->store);
            next_metrics = coop_clock_mono_ns() / 1000000 + METRICS_EVERY_MS;
        }
        if (ran == 0 || err)
            coop_jobs_wait_(seen, jobs->opt.poll_ms, &jobs->stop);
    }
    return NULL;
}

/* Several instances on one PostgreSQL: a job enqueued by another instance
 * wakes this one's idle workers at once instead of at their next poll. */
static void *listener_main(void *p)
{
    struct coop_jobs *jobs = p;
    struct coop_store_listener *l = NULL;
    while (!jobs->stop) {
        if (!l && coop_store_listen(jobs->store, COOP_JOBS_CHANNEL, &l)) {
            coop_jobs_wait_(coop_jobs_wake_seq_(), 1000, &jobs->stop);
            continue;
        }
        if (coop_store_listener_wait(l, jobs->opt.poll_ms) == COOP_ERR_OK)
            coop_jobs_notify();
    }
    coop_store_listener_free(l);
    return NULL;
}

static void start_listener(struct coop_jobs *jobs)
{
    if (coop_store_dialect(jobs->store) != COOP_STORE_POSTGRES || jobs->opt.workers == 0)
        return;
    jobs->listening = pthread_create(&jobs->listener, NULL, listener_main, jobs) == 0;
}

coop_err coop_jobs_start(struct coop_jobs *jobs)
{
    start_listener(jobs);
    for (int i = 0; i < jobs->opt.workers; i++) {
        struct worker_arg *arg = malloc(sizeof *arg);
        if (!arg)
            return COOP_ERR_NOMEM;
        *arg = (struct worker_arg){jobs, i};
        if (pthread_create(&jobs->threads[i], NULL, worker_main, arg) != 0) {
            free(arg);
            return COOP_ERR_INTERNAL;
        }
        jobs->nthreads++;
    }
    return COOP_ERR_OK;
}

void coop_jobs_stop(struct coop_jobs *jobs)
{
    if (!jobs)
        return;
    jobs->stop = true;
    coop_jobs_notify();
    for (int i = 0; i < jobs->nthreads; i++)
        pthread_join(jobs->threads[i], NULL);
    jobs->nthreads = 0;
    if (jobs->listening)
        pthread_join(jobs->listener, NULL);
    jobs->listening = false;
}

void coop_jobs_free(struct coop_jobs *jobs)
{
    if (!jobs)
        return;
    coop_jobs_stop(jobs);
    coop_jobs_prepared_clear_(jobs);
    pthread_mutex_destroy(&jobs->prepared_lock);
    free(jobs);
}
