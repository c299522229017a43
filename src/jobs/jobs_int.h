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

/* A job prepared ahead of its transaction (coop_jobs_set_prepare). */
struct coop_jobs_prepared {
    int64_t id;
    int attempts; /* the run it was prepared for */
    bool ready;   /* false while a worker is preparing it */
    void *data;
    coop_job_prepared_free_fn free_fn;
};

#define COOP_JOBS_PREPARE_AHEAD 32

struct coop_jobs {
    struct coop_store *store;
    pthread_mutex_t prepared_lock;
    struct coop_jobs_prepared prepared[COOP_JOBS_PREPARE_AHEAD];
    int nprepared;
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
    coop_job_prepare_fn prepare;
    coop_job_prepared_free_fn prepared_free;
};

/* Whether any kind has a prepare function. */
bool coop_jobs_any_prepare_(void);
/* Frees every prepared job (coop_jobs_free). */
void coop_jobs_prepared_clear_(struct coop_jobs *jobs);

/* Copies the handler of kind into *out; false when none is registered. */
bool coop_jobs_handler_find_(const char *kind, struct coop_jobs_handler *out /* OUT */);

uint64_t coop_jobs_wake_seq_(void);
/* Waits until coop_jobs_notify() moves past seen, timeout_ms passes or *stop. */
void coop_jobs_wait_(uint64_t seen, int timeout_ms, const volatile bool *stop);

/* The delay before retry number attempt (1-based), jitter included. */
int64_t coop_jobs_backoff_ms_(const struct coop_jobs *jobs, int attempt);

#endif
