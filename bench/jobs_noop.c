/*
 * Job queue throughput on SQLite with durable commits: enqueues N no-op
 * jobs (1,000 per transaction), then lets the workers run them and reports
 * jobs per second. The baseline, measured in the same run on the same
 * file system, is one durable single-row commit per job, the rate a queue
 * that commits each job on its own could not exceed.
 *
 *   bench-jobs_noop DIR [JOBS] [WORKERS]
 */
#include "bench_args.h"
#include "coop/jobs.h"
#include "coop/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static coop_err noop(struct coop_job *job, struct coop_conn *conn, void *ctx)
{
    return COOP_ERR_OK;
}

struct fill {
    int count;
};

static coop_err fill_tx(struct coop_conn *conn, void *ctx)
{
    struct fill *f = ctx;
    struct coop_job_spec spec = {.kind = "bench.noop", .payload = "x"};
    for (int i = 0; i < f->count; i++) {
        coop_err err = coop_jobs_enqueue(conn, &spec, NULL, NULL);
        if (err)
            return err;
    }
    return COOP_ERR_OK;
}

static coop_err one_row(struct coop_conn *conn, void *ctx)
{
    return coop_conn_exec(conn, "INSERT INTO baseline (v) VALUES (1)", COOP_NOPARAMS, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-jobs_noop DIR [JOBS] [WORKERS]\n");
        return 2;
    }
    int jobs_n = bench_arg_int(argc, argv, 2, 100000);
    int workers = bench_arg_int(argc, argv, 3, 1);
    coop_core_init();
    coop_log_set_level(COOP_LOG_ERROR);
    char url[4096];
    snprintf(url, sizeof url, "sqlite:%s/jobs-bench.db", argv[1]);
    struct coop_store *store;
    if (coop_store_open(url, workers + 3, &store) || coop_store_migrate(store, NULL)) {
        fprintf(stderr, "cannot open the store\n");
        return 1;
    }
    coop_store_exec(store, "CREATE TABLE IF NOT EXISTS baseline (v INTEGER)", COOP_NOPARAMS, NULL);

    int base_n = 2000;
    double t0 = now_s();
    for (int i = 0; i < base_n; i++)
        coop_store_tx(store, true, one_row, NULL);
    double base_rate = base_n / (now_s() - t0);

    t0 = now_s();
    for (int done = 0; done < jobs_n; done += 1000) {
        struct fill f = {jobs_n - done < 1000 ? jobs_n - done : 1000};
        if (coop_jobs_write_tx(store, fill_tx, &f)) {
            fprintf(stderr, "enqueue failed\n");
            return 1;
        }
    }
    double enq_rate = jobs_n / (now_s() - t0);

    coop_jobs_register_handler("bench.noop", noop, NULL);
    struct coop_jobs *jobs;
    struct coop_jobs_options opt = {.workers = workers, .poll_ms = 5};
    coop_jobs_new(store, &opt, &jobs);
    t0 = now_s();
    coop_jobs_start(jobs);
    int64_t left = 1;
    while (left > 0) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        coop_jobs_count(store, "queued", &left);
    }
    double run_rate = jobs_n / (now_s() - t0);
    coop_jobs_free(jobs);
    int64_t done_n = 0;
    coop_jobs_count(store, "done", &done_n);
    coop_store_close(store);

    printf("jobs: %d no-op jobs on SQLite (WAL, synchronous=FULL), %d worker(s)\n", jobs_n,
           workers);
    printf("  baseline, one durable commit per row : %10.0f commits/s\n", base_rate);
    printf("  enqueue, 1,000 per transaction       : %10.0f jobs/s\n", enq_rate);
    printf("  run (claim+handler+ack, batched)     : %10.0f jobs/s (goal >= 10,000)\n", run_rate);
    printf("  ratio run/baseline                   : %10.1f\n", run_rate / base_rate);
    printf("  jobs done                            : %10lld of %d\n", (long long)done_n, jobs_n);
    return done_n == jobs_n ? 0 : 1;
}
