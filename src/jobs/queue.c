/*
 * The queue's rows: enqueueing in a caller's transaction, and running one
 * batch of ready jobs in one write transaction (transactional handlers each
 * in a savepoint, outside handlers claimed with a lease and acknowledged
 * after). A job that may run is one whose state is queued, or running with
 * its lease expired: a claim stores the lease's end in run_at, so one index
 * on (priority, run_at) serves both.
 */
#include "jobs_int.h"

#include "coop/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct coop_migration coop_jobs_migrations[] = {
    {"jobs.001",
     "CREATE TABLE coop_jobs ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " kind TEXT NOT NULL,"
     " state TEXT NOT NULL DEFAULT 'queued',"
     " priority INTEGER NOT NULL DEFAULT 0,"
     " run_at BIGINT NOT NULL,"
     " attempts INTEGER NOT NULL DEFAULT 0,"
     " max_attempts INTEGER NOT NULL,"
     " unique_key TEXT,"
     " payload TEXT NOT NULL DEFAULT '',"
     " last_error TEXT,"
     " created_at BIGINT NOT NULL,"
     " updated_at BIGINT NOT NULL,"
     " finished_at BIGINT);"
     "CREATE INDEX coop_jobs_ready ON coop_jobs(priority DESC, run_at, id)"
     " WHERE state IN ('queued','running');"
     "CREATE UNIQUE INDEX coop_jobs_unique ON coop_jobs(unique_key)"
     " WHERE unique_key IS NOT NULL AND state IN ('queued','running');"
     "CREATE INDEX coop_jobs_state ON coop_jobs(state, id);",
     "CREATE TABLE coop_jobs ("
     " id BIGSERIAL PRIMARY KEY,"
     " kind TEXT NOT NULL,"
     " state TEXT NOT NULL DEFAULT 'queued',"
     " priority INTEGER NOT NULL DEFAULT 0,"
     " run_at BIGINT NOT NULL,"
     " attempts INTEGER NOT NULL DEFAULT 0,"
     " max_attempts INTEGER NOT NULL,"
     " unique_key TEXT,"
     " payload TEXT NOT NULL DEFAULT '',"
     " last_error TEXT,"
     " created_at BIGINT NOT NULL,"
     " updated_at BIGINT NOT NULL,"
     " finished_at BIGINT);"
     "CREATE INDEX coop_jobs_ready ON coop_jobs(priority DESC, run_at, id)"
     " WHERE state IN ('queued','running');"
     "CREATE UNIQUE INDEX coop_jobs_unique ON coop_jobs(unique_key)"
     " WHERE unique_key IS NOT NULL AND state IN ('queued','running');"
     "CREATE INDEX coop_jobs_state ON coop_jobs(state, id);"},
    {NULL, NULL, NULL},
};

/* ---- in-process write serialization and wake-ups ------------------------------ */

static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
/* Writers waiting in coop_jobs_write_tx: a worker's batch yields to them. */
static atomic_int urgent;

#define BATCH_BUDGET_NS (5 * 1000000LL)
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static uint64_t wake_seq;

coop_err coop_jobs_write_tx(struct coop_store *store, coop_tx_fn fn, void *ctx)
{
    atomic_fetch_add(&urgent, 1);
    pthread_mutex_lock(&write_lock);
    atomic_fetch_sub(&urgent, 1);
    coop_err err = coop_store_tx(store, true, fn, ctx);
    pthread_mutex_unlock(&write_lock);
    return err;
}

/* The workers' own writes: they let urgent writers (the webhook committer,
 * enqueuing callers) go first, so a long batch never delays an
 * acknowledgement by more than one batch step. */
static coop_err background_tx(struct coop_store *store, coop_tx_fn fn, void *ctx)
{
    for (int spins = 0; atomic_load(&urgent) > 0 && spins < 1000; spins++) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&write_lock);
    /* A job's completion is written with its effects, so a transaction
     * that a power failure undoes is only run again: it need not wait for
     * the disk, and neither, then, does the writer queued behind it. */
    coop_err err = coop_store_tx_lazy(store, fn, ctx);
    pthread_mutex_unlock(&write_lock);
    return err;
}

void coop_jobs_notify(void)
{
    pthread_mutex_lock(&wake_lock);
    wake_seq++;
    pthread_cond_broadcast(&wake_cond);
    pthread_mutex_unlock(&wake_lock);
}

uint64_t coop_jobs_wake_seq_(void)
{
    pthread_mutex_lock(&wake_lock);
    uint64_t s = wake_seq;
    pthread_mutex_unlock(&wake_lock);
    return s;
}

void coop_jobs_wait_(uint64_t seen, int timeout_ms, const volatile bool *stop)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&wake_lock);
    while (wake_seq == seen && !*stop)
        if (pthread_cond_timedwait(&wake_cond, &wake_lock, &ts) != 0)
            break;
    pthread_mutex_unlock(&wake_lock);
}

/* ---- enqueue ----------------------------------------------------------------- */

static coop_err find_unique(struct coop_conn *conn, const char *key, int64_t *id)
{
    return coop_conn_query_int(conn,
                               "SELECT id FROM coop_jobs WHERE unique_key = ?"
                               " AND state IN ('queued','running')",
                               COOP_PARAMS(COOP_PT(key)), id);
}

coop_err coop_jobs_enqueue(struct coop_conn *conn, const struct coop_job_spec *spec, int64_t *id,
                           bool *existed)
{
    if (!conn || !spec || !spec->kind || !spec->kind[0] ||
        strlen(spec->kind) >= COOP_JOBS_KIND_MAX || spec->max_attempts < 0)
        return COOP_ERR_INVALID;
    int64_t now = coop_clock_now_ms();
    int64_t run_at = spec->run_at_ms > 0 ? spec->run_at_ms : now;
    int max_attempts = spec->max_attempts ? spec->max_attempts : COOP_JOBS_DEFAULT_MAX_ATTEMPTS;
    int64_t new_id = 0;
    if (existed)
        *existed = false;
    coop_err err = coop_conn_query_int(
        conn,
        "INSERT INTO coop_jobs (kind, state, priority, run_at, max_attempts, unique_key, payload,"
        " created_at, updated_at) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING RETURNING id",
        COOP_PARAMS(COOP_PT(spec->kind), COOP_PI(spec->priority), COOP_PI(run_at),
                    COOP_PI(max_attempts), COOP_PT(spec->unique_key),
                    COOP_PT(spec->payload ? spec->payload : ""), COOP_PI(now), COOP_PI(now)),
        &new_id);
    if (err == COOP_ERR_NOT_FOUND && spec->unique_key) {
        /* The insert met the unique index: hand back the job already there. */
        err = find_unique(conn, spec->unique_key, &new_id);
        if (!err && existed)
            *existed = true;
    } else if (!err) {
        err = coop_conn_notify(conn, COOP_JOBS_CHANNEL); /* other instances' idle workers */
    }
    if (!err && id)
        *id = new_id;
    return err;
}

#define DAY_MS (24LL * 3600 * 1000)

coop_err coop_jobs_schedule_daily(struct coop_conn *conn, const char *kind, bool next_day)
{
    int64_t day = coop_clock_now_ms() / DAY_MS + (next_day ? 1 : 0);
    char key[COOP_JOBS_KIND_MAX + 24];
    snprintf(key, sizeof key, "%s@%lld", kind, (long long)day);
    struct coop_job_spec spec = {
        .kind = kind, .priority = -10, .run_at_ms = next_day ? day * DAY_MS : 0, .unique_key = key};
    return coop_jobs_enqueue(conn, &spec, NULL, NULL);
}

/* ---- running a batch ----------------------------------------------------------- */

struct claimed {
    int64_t id;
    char kind[COOP_JOBS_KIND_MAX];
    char *payload;
    int attempts; /* before this run */
    int max_attempts;
};

struct batch {
    struct coop_jobs *jobs;
    int max;
    int64_t now;
    struct claimed *rows;
    int n;
    /* Outside handlers claimed in this batch, run after the commit. */
    int outside[COOP_JOBS_MAX_BATCH];
    int noutside;
    int ran;
};

static void batch_reset(struct batch *b)
{
    for (int i = 0; i < b->n; i++)
        free(b->rows[i].payload);
    b->n = 0;
    b->noutside = 0;
    b->ran = 0;
}

static coop_err collect_row(void *ctx, const struct coop_row *row)
{
    struct batch *b = ctx;
    if (b->n >= b->max)
        return COOP_ERR_OK;
    struct claimed *c = &b->rows[b->n];
    memset(c, 0, sizeof *c);
    c->id = coop_row_int(row, 0);
    coop_strlcpy(c->kind, coop_row_text(row, 1, NULL) ? coop_row_text(row, 1, NULL) : "",
                 sizeof c->kind);
    const char *p = coop_row_text(row, 2, NULL);
    c->payload = strdup(p ? p : "");
    if (!c->payload)
        return COOP_ERR_NOMEM;
    c->attempts = (int)coop_row_int(row, 3);
    c->max_attempts = (int)coop_row_int(row, 4);
    b->n++;
    return COOP_ERR_OK;
}

int64_t coop_jobs_backoff_ms_(const struct coop_jobs *jobs, int attempt)
{
    int64_t d = jobs->opt.backoff_base_ms;
    for (int i = 1; i < attempt && d < jobs->opt.backoff_max_ms; i++)
        d *= 2;
    if (d > jobs->opt.backoff_max_ms)
        d = jobs->opt.backoff_max_ms;
    /* Equal jitter: half fixed, half random, so retries of a burst spread. */
    int64_t half = d / 2;
    return half + (half > 0 ? (int64_t)randombytes_uniform(
                                  (uint32_t)(half > UINT32_MAX - 1 ? UINT32_MAX - 1 : half) + 1)
                            : 0);
}

/* Records a failed run: retry later, or dead after the last attempt. */
static coop_err record_failure(struct coop_conn *conn, struct coop_jobs *jobs, int64_t id,
                               int attempt, int max_attempts, const char *error, int64_t now)
{
    if (attempt >= max_attempts)
        return coop_conn_exec(
            conn,
            "UPDATE coop_jobs SET state = 'dead', attempts = ?, last_error = ?,"
            " updated_at = ?, finished_at = ? WHERE id = ?",
            COOP_PARAMS(COOP_PI(attempt), COOP_PT(error), COOP_PI(now), COOP_PI(now), COOP_PI(id)),
            NULL);
    int64_t run_at = now + coop_jobs_backoff_ms_(jobs, attempt);
    return coop_conn_exec(
        conn,
        "UPDATE coop_jobs SET state = 'queued', attempts = ?, last_error = ?,"
        " run_at = ?, updated_at = ? WHERE id = ?",
        COOP_PARAMS(COOP_PI(attempt), COOP_PT(error), COOP_PI(run_at), COOP_PI(now), COOP_PI(id)),
        NULL);
}

static coop_err record_done(struct coop_conn *conn, int64_t id, int attempt, int64_t now)
{
    return coop_conn_exec(conn,
                          "UPDATE coop_jobs SET state = 'done', attempts = ?, last_error = NULL,"
                          " updated_at = ?, finished_at = ? WHERE id = ?",
                          COOP_PARAMS(COOP_PI(attempt), COOP_PI(now), COOP_PI(now), COOP_PI(id)),
                          NULL);
}

static void fill_job(struct coop_job *job, struct coop_jobs *jobs, const struct claimed *c)
{
    memset(job, 0, sizeof *job);
    job->id = c->id;
    job->kind = c->kind;
    job->payload = c->payload;
    job->attempt = c->attempts + 1;
    job->max_attempts = c->max_attempts;
    job->store = jobs->store;
}

/* The ready jobs in the order they run, at most b->max, into b. On
 * PostgreSQL the batch locks its rows (other instances skip them). */
static coop_err select_ready(struct coop_conn *conn, struct batch *b, bool lock_rows)
{
    return coop_conn_query(conn,
                           coop_conn_dialect(conn) == COOP_STORE_POSTGRES
                               ? (lock_rows ? "SELECT id, kind, payload, attempts, max_attempts"
                                              " FROM coop_jobs"
                                              " WHERE state IN ('queued','running') AND run_at <= ?"
                                              " ORDER BY priority DESC, run_at, id LIMIT ?"
                                              " FOR UPDATE SKIP LOCKED"
                                            : "SELECT id, kind, payload, attempts, max_attempts"
                                              " FROM coop_jobs"
                                              " WHERE state IN ('queued','running') AND run_at <= ?"
                                              " ORDER BY priority DESC, run_at, id LIMIT ?")
                               /* The partial index gives the order without a sort; SQLite
                                * would otherwise pick the state index and sort every ready
                                * job. */
                               : "SELECT id, kind, payload, attempts, max_attempts FROM coop_jobs"
                                 " INDEXED BY coop_jobs_ready"
                                 " WHERE state IN ('queued','running') AND run_at <= ?"
                                 " ORDER BY priority DESC, run_at, id LIMIT ?",
                           COOP_PARAMS(COOP_PI(b->now), COOP_PI(b->max)), collect_row, b);
}

/* ---- preparing ahead ------------------------------------------------------------
 *
 * jobs->prepared holds what the kinds' prepare functions made of the next
 * due jobs (coop_jobs_set_prepare), keyed by job id and run: a worker
 * prepares them in a read transaction before it takes the write lock, and
 * the handler that runs the job takes its entry. Entries whose job is no
 * longer among the next due are dropped. */

static int prepared_index(struct coop_jobs *jobs, int64_t id)
{
    for (int i = 0; i < jobs->nprepared; i++)
        if (jobs->prepared[i].id == id)
            return i;
    return -1;
}

static void prepared_remove(struct coop_jobs *jobs, int i, struct coop_jobs_prepared *out)
{
    *out = jobs->prepared[i];
    jobs->prepared[i] = jobs->prepared[--jobs->nprepared];
}

static bool prepared_ready(struct coop_jobs *jobs, const struct claimed *c)
{
    pthread_mutex_lock(&jobs->prepared_lock);
    int i = prepared_index(jobs, c->id);
    bool ready = i >= 0 && jobs->prepared[i].ready && jobs->prepared[i].attempts == c->attempts;
    pthread_mutex_unlock(&jobs->prepared_lock);
    return ready;
}

/* Takes c's entry if it is ready and for this run; *out then owns the data. */
static bool prepared_take(struct coop_jobs *jobs, const struct claimed *c,
                          struct coop_jobs_prepared *out)
{
    bool took = false;
    pthread_mutex_lock(&jobs->prepared_lock);
    int i = prepared_index(jobs, c->id);
    if (i >= 0 && jobs->prepared[i].ready) {
        prepared_remove(jobs, i, out);
        took = out->attempts == c->attempts;
        if (!took && out->data)
            out->free_fn(out->data);
    }
    pthread_mutex_unlock(&jobs->prepared_lock);
    if (!took)
        memset(out, 0, sizeof *out);
    return took;
}

void coop_jobs_prepared_clear_(struct coop_jobs *jobs)
{
    pthread_mutex_lock(&jobs->prepared_lock);
    for (int i = 0; i < jobs->nprepared; i++)
        if (jobs->prepared[i].data)
            jobs->prepared[i].free_fn(jobs->prepared[i].data);
    jobs->nprepared = 0;
    pthread_mutex_unlock(&jobs->prepared_lock);
}

/* Whether b holds the job id at the run the entry was prepared for (a run
 * started elsewhere, by another instance, makes the entry stale). */
static bool in_batch(const struct batch *b, const struct coop_jobs_prepared *p)
{
    for (int i = 0; i < b->n; i++)
        if (b->rows[i].id == p->id)
            return b->rows[i].attempts == p->attempts;
    return false;
}

/* In a read transaction: the next due jobs, and each of them whose kind
 * has a prepare function and that no worker holds or is preparing gets
 * prepared. */
static coop_err prepare_tx(struct coop_conn *conn, void *ctx)
{
    struct batch *b = ctx;
    struct coop_jobs *jobs = b->jobs;
    batch_reset(b);
    b->now = coop_clock_now_ms();
    coop_err err = select_ready(conn, b, false);
    if (err)
        return err;
    pthread_mutex_lock(&jobs->prepared_lock);
    for (int i = 0; i < jobs->nprepared;) {
        struct coop_jobs_prepared gone;
        if (jobs->prepared[i].ready && !in_batch(b, &jobs->prepared[i])) {
            prepared_remove(jobs, i, &gone);
            if (gone.data)
                gone.free_fn(gone.data);
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&jobs->prepared_lock);

    for (int i = 0; i < b->n; i++) {
        const struct claimed *c = &b->rows[i];
        struct coop_jobs_handler h;
        if (!coop_jobs_handler_find_(c->kind, &h) || !h.prepare)
            continue;
        pthread_mutex_lock(&jobs->prepared_lock);
        bool claim = prepared_index(jobs, c->id) < 0 && jobs->nprepared < COOP_JOBS_PREPARE_AHEAD;
        if (claim)
            jobs->prepared[jobs->nprepared++] =
                (struct coop_jobs_prepared){.id = c->id, .attempts = c->attempts};
        pthread_mutex_unlock(&jobs->prepared_lock);
        if (!claim)
            continue;
        struct coop_job job;
        fill_job(&job, jobs, c);
        void *data = NULL;
        coop_err perr = h.prepare(&job, conn, &data, h.ctx);
        pthread_mutex_lock(&jobs->prepared_lock);
        int k = prepared_index(jobs, c->id);
        if (k >= 0 && !perr && data) {
            jobs->prepared[k].data = data;
            jobs->prepared[k].free_fn = h.prepared_free;
            jobs->prepared[k].ready = true;
            data = NULL;
        } else if (k >= 0) {
            /* Kept as ready with nothing: the job is not prepared again
             * for this run, and a batch does not stop to wait for it; its
             * handler does the work itself. */
            jobs->prepared[k].data = NULL;
            jobs->prepared[k].free_fn = h.prepared_free;
            jobs->prepared[k].ready = true;
        }
        pthread_mutex_unlock(&jobs->prepared_lock);
        if (data)
            h.prepared_free(data);
    }
    return COOP_ERR_OK;
}

static void prepare_ahead(struct coop_jobs *jobs)
{
    if (!coop_jobs_any_prepare_())
        return;
    struct claimed rows[COOP_JOBS_PREPARE_AHEAD];
    struct batch peek = {.jobs = jobs, .max = COOP_JOBS_PREPARE_AHEAD, .rows = rows};
    coop_err err = coop_store_tx(jobs->store, false, prepare_tx, &peek);
    if (err)
        coop_log_warn("jobs not prepared ahead", COOP_F_ERR(err));
    batch_reset(&peek);
}

/* One transactional job inside its savepoint. */
static coop_err run_inside(struct coop_conn *conn, struct batch *b, const struct claimed *c,
                           const struct coop_jobs_handler *h)
{
    struct coop_job job;
    fill_job(&job, b->jobs, c);
    coop_err err = coop_conn_exec(conn, "SAVEPOINT coop_job", COOP_NOPARAMS, NULL);
    if (err)
        return err;
    struct coop_jobs_prepared p = {0};
    if (h->prepare && prepared_take(b->jobs, c, &p))
        job.prepared = p.data;
    coop_err herr = h->fn(&job, conn, h->ctx);
    if (p.data)
        p.free_fn(p.data);
    job.prepared = NULL;
    if (!herr) {
        herr = record_done(conn, c->id, job.attempt, b->now);
        if (!herr)
            return coop_conn_exec(conn, "RELEASE SAVEPOINT coop_job", COOP_NOPARAMS, NULL);
    }
    if ((err = coop_conn_exec(conn, "ROLLBACK TO SAVEPOINT coop_job", COOP_NOPARAMS, NULL)))
        return err;
    if ((err = coop_conn_exec(conn, "RELEASE SAVEPOINT coop_job", COOP_NOPARAMS, NULL)))
        return err;
    if (!job.error[0])
        coop_strlcpy(job.error, coop_err_name(herr), sizeof job.error);
    coop_log_warn("job failed", COOP_F_INT("job", c->id), COOP_F_STR("kind", c->kind),
                  COOP_F_INT("attempt", job.attempt), COOP_F_STR("reason", job.error));
    return record_failure(conn, b->jobs, c->id, job.attempt, c->max_attempts, job.error, b->now);
}

static coop_err batch_tx(struct coop_conn *conn, void *ctx)
{
    struct batch *b = ctx;
    batch_reset(b);
    b->now = coop_clock_now_ms();
    coop_err err = select_ready(conn, b, true);
    if (err)
        return err;
    int64_t start = coop_clock_mono_ns();
    for (int i = 0; i < b->n && !err; i++) {
        /* Commit what is done when someone waits for the lock or the batch
         * has run long; the rows not reached stay queued. */
        if (i > 0 && (atomic_load(&urgent) > 0 || coop_clock_mono_ns() - start > BATCH_BUDGET_NS))
            break;
        struct claimed *c = &b->rows[i];
        struct coop_jobs_handler h;
        bool found = coop_jobs_handler_find_(c->kind, &h);
        /* A job that could have been prepared outside the lock waits for
         * the next batch, which prepares it first. */
        if (i > 0 && found && h.prepare && !prepared_ready(b->jobs, c))
            break;
        if (!found) {
            err = record_failure(conn, b->jobs, c->id, c->attempts + 1, c->max_attempts,
                                 "no handler for this kind", b->now);
        } else if (h.flags & COOP_JOBS_OUTSIDE_TX) {
            err = coop_conn_exec(conn,
                                 "UPDATE coop_jobs SET state = 'running', attempts = ?,"
                                 " run_at = ?, updated_at = ? WHERE id = ?",
                                 COOP_PARAMS(COOP_PI(c->attempts + 1),
                                             COOP_PI(b->now + b->jobs->opt.lease_ms),
                                             COOP_PI(b->now), COOP_PI(c->id)),
                                 NULL);
            b->outside[b->noutside++] = i;
            continue;
        } else {
            err = run_inside(conn, b, c, &h);
        }
        b->ran++;
    }
    return err;
}

struct ack_ctx {
    struct coop_jobs *jobs;
    const struct claimed *c;
    coop_err result;
    const char *error;
};

static coop_err ack_tx(struct coop_conn *conn, void *ctx)
{
    struct ack_ctx *a = ctx;
    int attempt = a->c->attempts + 1;
    int64_t now = coop_clock_now_ms();
    /* Only if the lease is still ours: a job reclaimed after its lease ran
     * out belongs to the newer run. */
    int64_t still = 0;
    coop_err err = coop_conn_query_int(conn,
                                       "SELECT COUNT(*) FROM coop_jobs WHERE id = ?"
                                       " AND state = 'running' AND attempts = ?",
                                       COOP_PARAMS(COOP_PI(a->c->id), COOP_PI(attempt)), &still);
    if (err || !still)
        return err;
    if (!a->result)
        return record_done(conn, a->c->id, attempt, now);
    return record_failure(conn, a->jobs, a->c->id, attempt, a->c->max_attempts, a->error, now);
}

static void run_outside(struct batch *b)
{
    for (int k = 0; k < b->noutside; k++) {
        const struct claimed *c = &b->rows[b->outside[k]];
        struct coop_jobs_handler h;
        struct coop_job job;
        fill_job(&job, b->jobs, c);
        coop_err herr = COOP_ERR_UNAVAILABLE;
        if (coop_jobs_handler_find_(c->kind, &h))
            herr = h.fn(&job, NULL, h.ctx);
        if (herr && !job.error[0])
            coop_strlcpy(job.error, coop_err_name(herr), sizeof job.error);
        struct ack_ctx a = {b->jobs, c, herr, job.error};
        coop_err err = background_tx(b->jobs->store, ack_tx, &a);
        if (err)
            coop_log_warn("job acknowledgement failed", COOP_F_INT("job", c->id), COOP_F_ERR(err));
        b->ran++;
    }
}

coop_err coop_jobs_run_once(struct coop_jobs *jobs, int *ran)
{
    struct claimed rows[COOP_JOBS_MAX_BATCH];
    struct batch b = {.jobs = jobs, .max = jobs->opt.batch, .rows = rows};
    prepare_ahead(jobs);
    coop_err err = background_tx(jobs->store, batch_tx, &b);
    if (err) {
        coop_log_warn("job batch failed", COOP_F_ERR(err));
        b.noutside = 0;
        b.ran = 0;
    }
    run_outside(&b);
    if (ran)
        *ran = b.ran;
    int n = b.n;
    batch_reset(&b);
    (void)n;
    return err;
}

/* ---- counts and metrics --------------------------------------------------------- */

coop_err coop_jobs_count(struct coop_store *store, const char *state, int64_t *out)
{
    struct coop_conn *conn;
    coop_err err = coop_store_acquire(store, &conn);
    if (err)
        return err;
    err = coop_conn_query_int(conn, "SELECT COUNT(*) FROM coop_jobs WHERE state = ?",
                              COOP_PARAMS(COOP_PT(state)), out);
    coop_store_release(store, conn);
    return err;
}

static const char *const gauge_states[] = {"queued", "running", "done", "dead"};

coop_err coop_jobs_refresh_metrics(struct coop_store *store)
{
    for (size_t i = 0; i < sizeof gauge_states / sizeof *gauge_states; i++) {
        int64_t n = 0;
        coop_err err = coop_jobs_count(store, gauge_states[i], &n);
        if (err)
            return err;
        char labels[32];
        snprintf(labels, sizeof labels, "state=\"%s\"", gauge_states[i]);
        struct coop_metric *m =
            coop_metric_get(COOP_METRIC_GAUGE, "coop_jobs", "Jobs in the queue by state", labels);
        if (m)
            coop_metric_set(m, n);
    }
    return COOP_ERR_OK;
}
