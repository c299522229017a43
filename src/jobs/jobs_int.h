/*
 * Internal to the jobs module: the engine's struct, the handler registry
 * and the wake-up channel shared by queue.c, registry.c and workers.c.
 */
#ifndef COOP_JOBS_INT_H
#define COOP_JOBS_INT_H

#include "coop/jobs.h"

#include <pthread.h>
#include <stdio.h>

#define COOP_JOBS_MAX_BATCH 256
#define COOP_JOBS_MAX_WORKERS 64

struct coop_jobs {
    struct coop_store *store;
    struct coop_jobs_options opt;
    pthread_t threads[COOP_JOBS_MAX_WORKERS];
    int nthreads;
    volatile bool stop;
    /* PostgreSQL: a thread turning other instances' enqueues into wake-ups */
    pthread_t listener;
    bool listening;
};

/* The store notification channel enqueues signal (PostgreSQL). */
#define COOP_JOBS_CHANNEL "coop_jobs"

struct coop_jobs_handler {
    coop_job_handler_fn fn;
    void *ctx;
    unsigned flags;
};

/* Copies the handler of kind into *out; false when none is registered. */
bool coop_jobs_handler_find_(const char *kind, struct coop_jobs_handler *out /* OUT */);

uint64_t coop_jobs_wake_seq_(void);
/* Waits until coop_jobs_notify() moves past seen, timeout_ms passes or *stop. */
void coop_jobs_wait_(uint64_t seen, int timeout_ms, const volatile bool *stop);

/* The delay before retry number attempt (1-based), jitter included. */
int64_t coop_jobs_backoff_ms_(const struct coop_jobs *jobs, int attempt);

#endif
