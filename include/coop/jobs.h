/*
 * jobs: the durable job queue, kept in the store.
 *
 * A job is a row: a kind (which handler runs it), a payload (a short text
 * the handler understands, typically a row id; never a secret), a priority,
 * the time it may run at, and its attempts. Jobs are enqueued inside the
 * caller's own transaction, so a job exists exactly when the change that
 * wants it committed.
 *
 * Two kinds of handler:
 *  - transactional (the default): the handler runs inside the write
 *    transaction that also marks the job done. What it writes through conn
 *    commits with the completion, so a job's effect happens exactly once
 *    even if coopd dies at any point. Such handlers must be quick and must
 *    not wait on the network. Several jobs share one transaction, each in
 *    its own savepoint, which is what makes the queue fast on durable
 *    commits.
 *  - outside (COOP_JOBS_OUTSIDE_TX): for slow work (code-host REST calls).
 *    The job is claimed with a lease (visibility timeout), the handler runs
 *    with no transaction (conn is NULL; use job->store), and the job is
 *    acknowledged afterwards: at least once, so such handlers are
 *    idempotent. A job whose worker died is claimed again once its lease
 *    runs out.
 *
 * A handler that fails gets its job retried with exponential backoff and
 * jitter; after max_attempts the job is `dead` and keeps the last error.
 * States: queued, running (outside handlers only), done, dead.
 *
 * Thread safety: all functions may be called from any thread.
 */
#ifndef COOP_JOBS_H
#define COOP_JOBS_H

#include "coop/core.h"
#include "coop/store.h"

#define COOP_JOBS_KIND_MAX 64
#define COOP_JOBS_ERROR_MAX 256
#define COOP_JOBS_DEFAULT_MAX_ATTEMPTS 10

/* ---- enqueueing ------------------------------------------------------------ */

struct coop_job_spec {
    const char *kind;    /* required, at most COOP_JOBS_KIND_MAX-1 bytes */
    const char *payload; /* may be NULL; stored as text, never returned by the API */
    int priority;        /* higher runs first; default 0 */
    int64_t run_at_ms;   /* not before this time; 0: now */
    int max_attempts;    /* 0: COOP_JOBS_DEFAULT_MAX_ATTEMPTS */
    /* When set, no second job with this key is created while one is queued
     * or running: the existing job's id is returned with *existed true. */
    const char *unique_key;
};

/*
 * Adds a job inside the transaction conn holds (the caller's), so it
 * commits or rolls back with the caller's other writes. *id (may be NULL)
 * gets the job id, *existed (may be NULL) whether a unique job was already
 * there. Idle workers find the job at their next poll, or at once when
 * the caller calls coop_jobs_notify() after committing.
 */
coop_err coop_jobs_enqueue(struct coop_conn *conn, const struct coop_job_spec *spec,
                           int64_t *id /* OUT, may be NULL */,
                           bool *existed /* OUT, may be NULL */);

/* Wakes idle workers now (call after committing enqueued jobs). */
void coop_jobs_notify(void);

/* ---- handlers ----------------------------------------------------------------- */

struct coop_job {
    int64_t id;
    const char *kind;
    const char *payload; /* "" when none */
    int attempt;         /* 1 for the first run */
    int max_attempts;
    struct coop_store *store;
    /* What the kind's prepare function made of this job before its
     * transaction (see coop_jobs_set_prepare), or NULL: the handler must
     * then do that work itself. The engine frees it; the handler only
     * reads it. */
    const void *prepared;
    /* A failing handler may write a short reason here (no secret, no
     * payload text): it becomes the job's last_error. */
    char error[COOP_JOBS_ERROR_MAX];
};

/*
 * Runs one job. conn is inside the write transaction that completes the job
 * (transactional handlers) or NULL (COOP_JOBS_OUTSIDE_TX). Returning
 * COOP_ERR_OK completes the job; anything else undoes the handler's writes
 * and schedules a retry (or marks the job dead after its last attempt).
 */
typedef coop_err (*coop_job_handler_fn)(struct coop_job *job, struct coop_conn *conn, void *ctx);

#define COOP_JOBS_OUTSIDE_TX 1u

/*
 * Sets the handler of a kind, replacing any earlier one (a later module can
 * take a kind over, e.g. the graph replacing the webhook module's
 * record-only handler). The registry is process-wide; ctx must outlive it.
 */
coop_err coop_jobs_register_handler(const char *kind, coop_job_handler_fn fn, void *ctx);
coop_err coop_jobs_register_handler_ex(const char *kind, coop_job_handler_fn fn, void *ctx,
                                       unsigned flags);
/* Removes every handler (tests). */
void coop_jobs_clear_handlers(void);

/*
 * Read-only work a transactional kind's handler can have done before its
 * transaction, such as loading and parsing a stored payload. The handler's
 * transaction holds the store's write lock, which the webhook committer
 * and other writers wait for; what moves out of it shortens their wait.
 * The workers prepare the next jobs that are due (a few dozen at most)
 * outside any write transaction, with conn in a read transaction, and keep
 * the result until the job runs; the handler finds it in job->prepared.
 * A prepare that fails leaves job->prepared NULL. free_fn frees what
 * prepare made. Set after coop_jobs_register_handler*(); registering the
 * kind again removes it.
 */
typedef coop_err (*coop_job_prepare_fn)(const struct coop_job *job, struct coop_conn *conn,
                                        void **out /* OUT */, void *ctx);
typedef void (*coop_job_prepared_free_fn)(void *prepared);
coop_err coop_jobs_set_prepare(const char *kind, coop_job_prepare_fn fn,
                               coop_job_prepared_free_fn free_fn);

/*
 * Runs kind once a day: enqueues (inside conn's transaction) today's run,
 * unique per day, so a restart does not add a second chain. The kind's
 * handler calls it again with next_day true to schedule tomorrow's run.
 */
coop_err coop_jobs_schedule_daily(struct coop_conn *conn, const char *kind, bool next_day);

/* ---- the queue engine ------------------------------------------------------- */

struct coop_jobs_options {
    int workers;             /* worker threads; 0 runs none (coop_jobs_run_once only) */
    int batch;               /* jobs per transaction; default 128 */
    int64_t lease_ms;        /* outside handlers' visibility timeout; default 60 s */
    int64_t backoff_base_ms; /* first retry delay; default 1 s, doubled each attempt */
    int64_t backoff_max_ms;  /* cap; default 1 h */
    int poll_ms;             /* idle workers look again after this; default 250 ms */
};

struct coop_jobs;

coop_err coop_jobs_new(struct coop_store *store, const struct coop_jobs_options *opt,
                       struct coop_jobs **out /* OUT */);
/* Starts the worker threads. */
coop_err coop_jobs_start(struct coop_jobs *jobs);
/* Stops the workers after their current batch. */
void coop_jobs_stop(struct coop_jobs *jobs);
void coop_jobs_free(struct coop_jobs *jobs);

/*
 * Runs at most one batch on the calling thread: *ran (may be NULL) gets how
 * many jobs were run (done or failed). For tests and benchmarks.
 */
coop_err coop_jobs_run_once(struct coop_jobs *jobs, int *ran /* OUT, may be NULL */);

/*
 * Runs fn in a write transaction that is serialized, inside this process,
 * with the queue's own write transactions: a writer that would otherwise
 * meet SQLite's lock and sleep in its busy handler waits on a mutex
 * instead. The webhook committer uses it to keep acknowledgements fast.
 */
coop_err coop_jobs_write_tx(struct coop_store *store, coop_tx_fn fn, void *ctx);

/* Counts jobs in a state ("queued", "running", "done", "dead"). */
coop_err coop_jobs_count(struct coop_store *store, const char *state, int64_t *out /* OUT */);

/* Updates the coop_jobs{state=...} gauges from the store. */
coop_err coop_jobs_refresh_metrics(struct coop_store *store);

/* The schema of the jobs table (listed in src/store/schema.c). */
extern const struct coop_migration coop_jobs_migrations[];

#endif
