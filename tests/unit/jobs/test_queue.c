/* The job queue: enqueue in a caller's transaction, priorities, run-at,
 * unique keys, retries with backoff, dead jobs, exactly-once effects of
 * transactional handlers, leases of outside handlers, prepare functions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coop/jobs.h"
#include "coop/store.h"
#include "pg_test.h"

#include <stdio.h>
#include <string.h>

static struct coop_store *store;
/* The same cases run on SQLite and on PostgreSQL (COOP_TEST_PG). */
static const char *store_url = "memory";
static struct coop_test_pg pg;
static struct coop_jobs *jobs;
static int64_t fake_now = 1700000000000;

static int64_t now_fn(void)
{
    return fake_now;
}

static int setup(void **state)
{
    coop_clock_set_override(now_fn);
    if (coop_store_open(store_url, 1, &store) || coop_store_migrate(store, NULL))
        return -1;
    bool on_pg = coop_store_dialect(store) == COOP_STORE_POSTGRES;
    if (coop_store_exec(
            store,
            on_pg ? "CREATE TABLE effects (seq BIGSERIAL PRIMARY KEY, job BIGINT, note TEXT)"
                  : "CREATE TABLE effects (seq INTEGER PRIMARY KEY, job INTEGER, note TEXT)",
            COOP_NOPARAMS, NULL))
        return -1;
    struct coop_jobs_options opt = {
        .workers = 0, .batch = 8, .lease_ms = 1000, .backoff_base_ms = 100, .backoff_max_ms = 1000};
    return coop_jobs_new(store, &opt, &jobs) ? -1 : 0;
}

static int teardown(void **state)
{
    coop_jobs_free(jobs);
    coop_store_close(store);
    coop_clock_set_override(NULL);
    return 0;
}

static int each(void **state)
{
    coop_jobs_clear_handlers();
    coop_store_exec(store, "DELETE FROM coop_jobs", COOP_NOPARAMS, NULL);
    coop_store_exec(store, "DELETE FROM effects", COOP_NOPARAMS, NULL);
    return 0;
}

struct enq {
    struct coop_job_spec spec;
    int64_t id;
    bool existed;
};

static coop_err enqueue_tx(struct coop_conn *conn, void *ctx)
{
    struct enq *e = ctx;
    return coop_jobs_enqueue(conn, &e->spec, &e->id, &e->existed);
}

static int64_t enqueue(const char *kind, const char *payload, int priority, int64_t run_at,
                       int max_attempts, const char *unique, bool *existed)
{
    struct enq e = {{kind, payload, priority, run_at, max_attempts, unique}, 0, false};
    assert_int_equal(coop_store_tx(store, true, enqueue_tx, &e), COOP_ERR_OK);
    if (existed)
        *existed = e.existed;
    return e.id;
}

static int64_t count_sql(const char *sql)
{
    struct coop_conn *c;
    int64_t n = -1;
    assert_int_equal(coop_store_acquire(store, &c), COOP_ERR_OK);
    assert_int_equal(coop_conn_query_int(c, sql, COOP_NOPARAMS, &n), COOP_ERR_OK);
    coop_store_release(store, c);
    return n;
}

/* Records its payload as an effect; fails while the payload says "fail". */
static coop_err record_handler(struct coop_job *job, struct coop_conn *conn, void *ctx)
{
    coop_err err = coop_conn_exec(conn, "INSERT INTO effects (job, note) VALUES (?, ?)",
                                  COOP_PARAMS(COOP_PI(job->id), COOP_PT(job->payload)), NULL);
    if (err)
        return err;
    if (strcmp(job->payload, "fail") == 0) {
        coop_strlcpy(job->error, "asked to fail", sizeof job->error);
        return COOP_ERR_UPSTREAM;
    }
    return COOP_ERR_OK;
}

static void test_enqueue_run_done(void **state)
{
    assert_int_equal(coop_jobs_register_handler("t.record", record_handler, NULL), COOP_ERR_OK);
    int64_t id = enqueue("t.record", "hello", 0, 0, 0, NULL, NULL);
    assert_true(id > 0);
    int ran = -1;
    assert_int_equal(coop_jobs_run_once(jobs, &ran), COOP_ERR_OK);
    assert_int_equal(ran, 1);
    int64_t n;
    assert_int_equal(coop_jobs_count(store, "done", &n), COOP_ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(count_sql("SELECT COUNT(*) FROM effects WHERE note = 'hello'"), 1);
    assert_int_equal(coop_jobs_run_once(jobs, &ran), COOP_ERR_OK);
    assert_int_equal(ran, 0);
}

static coop_err rollback_tx(struct coop_conn *conn, void *ctx)
{
    struct coop_job_spec spec = {.kind = "t.record", .payload = "never"};
    coop_err err = coop_jobs_enqueue(conn, &spec, NULL, NULL);
    return err ? err : COOP_ERR_CONFLICT; /* the caller's transaction fails */
}

static void test_enqueue_follows_callers_transaction(void **state)
{
    assert_int_equal(coop_store_tx(store, true, rollback_tx, NULL), COOP_ERR_CONFLICT);
    assert_int_equal(count_sql("SELECT COUNT(*) FROM coop_jobs"), 0);
}

static coop_err order_handler(struct coop_job *job, struct coop_conn *conn, void *ctx)
{
    return coop_conn_exec(conn, "INSERT INTO effects (job, note) VALUES (?, ?)",
                          COOP_PARAMS(COOP_PI(job->id), COOP_PT(job->payload)), NULL);
}

static coop_err note_at(void *ctx, const struct coop_row *row)
{
    char *out = ctx;
    size_t len = strlen(out);
    snprintf(out + len, 64 - len, "%s,", coop_row_text(row, 0, NULL));
    return COOP_ERR_OK;
}

static void test_priority_and_run_at(void **state)
{
    coop_jobs_register_handler("t.order", order_handler, NULL);
    enqueue("t.order", "low", 0, 0, 0, NULL, NULL);
    enqueue("t.order", "high", 5, 0, 0, NULL, NULL);
    enqueue("t.order", "later", 9, fake_now + 5000, 0, NULL, NULL);
    /* A batch may stop early on its time budget (a loaded machine, a
     * remote database): run until both ready jobs ran. */
    int ran, total = 0;
    for (int i = 0; i < 10 && total < 2; i++) {
        assert_int_equal(coop_jobs_run_once(jobs, &ran), COOP_ERR_OK);
        total += ran;
    }
    assert_int_equal(total, 2);
    char notes[64] = "";
    coop_store_query(store, "SELECT note FROM effects ORDER BY seq", COOP_NOPARAMS, note_at, notes);
    assert_string_equal(notes, "high,low,");
    fake_now += 5000;
    assert_int_equal(coop_jobs_run_once(jobs, &ran), COOP_ERR_OK);
    assert_int_equal(ran, 1);
}

static void test_unique_key(void **state)
{
    coop_jobs_register_handler("t.order", order_handler, NULL);
    bool existed = true;
    int64_t a = enqueue("t.order", "x", 0, 0, 0, "repo:1", &existed);
    assert_false(existed);
    int64_t b = enqueue("t.order", "y", 0, 0, 0, "repo:1", &existed);
    assert_true(existed);
    assert_int_equal(a, b);
    assert_int_equal(count_sql("SELECT COUNT(*) FROM coop_jobs"), 1);
    int ran;
    coop_jobs_run_once(jobs, &ran);
    /* Once done, the key is free again. */
    int64_t c = enqueue("t.order", "z", 0, 0, 0, "repo:1", &existed);
    assert_false(existed);
    assert_true(c != a);
}

static void test_retry_backoff_then_dead(void **state)
{
    coop_jobs_register_handler("t.record", record_handler, NULL);
    int64_t id = enqueue("t.record", "fail", 0, 0, 3, NULL, NULL);
    int ran;
    for (int attempt = 1; attempt <= 3; attempt++) {
        assert_int_equal(coop_jobs_run_once(jobs, &ran), COOP_ERR_OK);
        assert_int_equal(ran, 1);
        /* Not again before its backoff. */
        assert_int_equal(coop_jobs_run_once(jobs, &ran), COOP_ERR_OK);
        assert_int_equal(ran, 0);
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT run_at - %lld FROM coop_jobs WHERE id = %lld",
                 (long long)fake_now, (long long)id);
        int64_t delay = count_sql(sql);
        if (attempt < 3) {
            int64_t full = 100LL << (attempt - 1);
            assert_true(delay >= full / 2 && delay <= full);
        }
        fake_now += 2000;
    }
    int64_t n;
    coop_jobs_count(store, "dead", &n);
    assert_int_equal(n, 1);
    assert_int_equal(count_sql("SELECT COUNT(*) FROM coop_jobs WHERE last_error = 'asked to fail'"
                               " AND attempts = 3"),
                     1);
    /* The failing handler's writes were rolled back each time. */
    assert_int_equal(count_sql("SELECT COUNT(*) FROM effects"), 0);
}

static void test_no_handler_fails(void **state)
{
    enqueue("t.unknown", "", 0, 0, 1, NULL, NULL);
    int ran;
    coop_jobs_run_once(jobs, &ran);
    assert_int_equal(count_sql("SELECT COUNT(*) FROM coop_jobs WHERE state = 'dead'"
                               " AND last_error = 'no handler for this kind'"),
                     1);
}

static int outside_calls;
static coop_err outside_handler(struct coop_job *job, struct coop_conn *conn, void *ctx)
{
    assert_null(conn);
    outside_calls++;
    return COOP_ERR_OK;
}

static void test_outside_lease(void **state)
{
    coop_jobs_register_handler_ex("t.outside", outside_handler, NULL, COOP_JOBS_OUTSIDE_TX);
    int64_t id = enqueue("t.outside", "", 0, 0, 0, NULL, NULL);
    /* A worker that claims it and dies: simulated by a claim without ack. */
    char sql[200];
    snprintf(sql, sizeof sql,
             "UPDATE coop_jobs SET state = 'running', attempts = 1, run_at = %lld WHERE id = %lld",
             (long long)(fake_now + 1000), (long long)id);
    assert_int_equal(coop_store_exec(store, sql, COOP_NOPARAMS, NULL), COOP_ERR_OK);
    int ran;
    outside_calls = 0;
    coop_jobs_run_once(jobs, &ran);
    assert_int_equal(outside_calls, 0); /* leased */
    fake_now += 1001;
    coop_jobs_run_once(jobs, &ran);
    assert_int_equal(outside_calls, 1);
    assert_int_equal(
        count_sql("SELECT COUNT(*) FROM coop_jobs WHERE state = 'done' AND attempts = 2"), 1);
}

static coop_err daily_tx(struct coop_conn *conn, void *ctx)
{
    bool *next = ctx;
    return coop_jobs_schedule_daily(conn, "t.daily", *next);
}

static void test_schedule_daily(void **state)
{
    bool next = false;
    assert_int_equal(coop_store_tx(store, true, daily_tx, &next), COOP_ERR_OK);
    assert_int_equal(coop_store_tx(store, true, daily_tx, &next), COOP_ERR_OK);
    assert_int_equal(count_sql("SELECT COUNT(*) FROM coop_jobs WHERE kind = 't.daily'"), 1);
    next = true;
    assert_int_equal(coop_store_tx(store, true, daily_tx, &next), COOP_ERR_OK);
    int64_t day = 24LL * 3600 * 1000;
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM coop_jobs WHERE kind = 't.daily' AND run_at = %lld",
             (long long)((fake_now / day + 1) * day));
    assert_int_equal(count_sql(sql), 1);
}

static void test_invalid_specs(void **state)
{
    struct coop_conn *c;
    coop_store_acquire(store, &c);
    struct coop_job_spec none = {0};
    assert_int_equal(coop_jobs_enqueue(c, &none, NULL, NULL), COOP_ERR_INVALID);
    char longkind[100];
    memset(longkind, 'k', sizeof longkind - 1);
    longkind[99] = 0;
    struct coop_job_spec too_long = {.kind = longkind};
    assert_int_equal(coop_jobs_enqueue(c, &too_long, NULL, NULL), COOP_ERR_INVALID);
    coop_store_release(store, c);
    assert_int_equal(coop_jobs_register_handler("", record_handler, NULL), COOP_ERR_INVALID);
}

/* ---- preparing ahead --------------------------------------------------------------- */

/* What the prepare functions made and what the engine freed, by count. */
static int prepare_calls, prepared_made, prepared_freed;

static void prepared_counts_reset(void)
{
    prepare_calls = prepared_made = prepared_freed = 0;
}

/* The payload upper-cased, read back through conn (which is in a read
 * transaction). "bad" fails with nothing made; "bad-partial" fails after
 * making something, which the engine must free all the same. */
static coop_err upper_prepare(const struct coop_job *job, struct coop_conn *conn, void **out,
                              void *ctx)
{
    prepare_calls++;
    assert_ptr_equal(ctx, &prepare_calls);
    char stored[64] = "";
    coop_err err = coop_conn_query(conn, "SELECT payload FROM coop_jobs WHERE id = ?",
                                   COOP_PARAMS(COOP_PI(job->id)), note_at, stored);
    if (err)
        return err;
    if (strcmp(job->payload, "bad") == 0)
        return COOP_ERR_PROTOCOL;
    char *s = strdup(stored); /* "payload," */
    assert_non_null(s);
    prepared_made++;
    s[strcspn(s, ",")] = '\0';
    for (char *p = s; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    *out = s;
    return strcmp(job->payload, "bad-partial") == 0 ? COOP_ERR_PROTOCOL : COOP_ERR_OK;
}

static void upper_free(void *prepared)
{
    prepared_freed++;
    free(prepared);
}

/* Records what it was handed (or "-" for nothing); fails the first run of
 * "fail-once". */
static coop_err upper_handler(struct coop_job *job, struct coop_conn *conn, void *ctx)
{
    const char *prepared = job->prepared;
    coop_err err =
        coop_conn_exec(conn, "INSERT INTO effects (job, note) VALUES (?, ?)",
                       COOP_PARAMS(COOP_PI(job->id), COOP_PT(prepared ? prepared : "-")), NULL);
    if (!err && strcmp(job->payload, "fail-once") == 0 && job->attempt == 1)
        err = COOP_ERR_UPSTREAM;
    return err;
}

static void register_upper(void)
{
    assert_int_equal(coop_jobs_register_handler("t.upper", upper_handler, &prepare_calls),
                     COOP_ERR_OK);
    assert_int_equal(coop_jobs_set_prepare("t.upper", upper_prepare, upper_free), COOP_ERR_OK);
    prepared_counts_reset();
}

static struct coop_jobs *jobs_with_batch(int batch)
{
    struct coop_jobs_options opt = {
        .workers = 0, .batch = batch, .backoff_base_ms = 100, .backoff_max_ms = 1000};
    struct coop_jobs *j = NULL;
    assert_int_equal(coop_jobs_new(store, &opt, &j), COOP_ERR_OK);
    return j;
}

/* Runs batches until want jobs are done (a batch may stop early). */
static void run_until_done(struct coop_jobs *j, int64_t want)
{
    int64_t done = 0;
    for (int i = 0; i < 20 && done < want; i++) {
        assert_int_equal(coop_jobs_run_once(j, NULL), COOP_ERR_OK);
        assert_int_equal(coop_jobs_count(store, "done", &done), COOP_ERR_OK);
    }
    assert_int_equal(done, want);
}

/* The effects the job with payload left, in order, as "note,note,". */
static void notes_of(const char *payload, char out[64])
{
    out[0] = '\0';
    assert_int_equal(
        coop_store_query(store,
                         "SELECT e.note FROM effects e JOIN coop_jobs j ON j.id = e.job"
                         " WHERE j.payload = ? ORDER BY e.seq",
                         COOP_PARAMS(COOP_PT(payload)), note_at, out),
        COOP_ERR_OK);
}

static void test_prepare_feeds_handler(void **state)
{
    register_upper();
    struct coop_jobs *j = jobs_with_batch(8);
    enqueue("t.upper", "hello", 0, 0, 0, NULL, NULL);
    enqueue("t.upper", "world", 0, 0, 0, NULL, NULL);
    enqueue("t.upper", "fail-once", 0, 0, 3, NULL, NULL);
    run_until_done(j, 2);
    /* A batch may stop on its time budget before the third job: run until
     * that one has failed its first run too. */
    for (int i = 0; i < 20 && count_sql("SELECT COUNT(*) FROM coop_jobs WHERE payload = 'fail-once'"
                                        " AND attempts = 1") == 0;
         i++)
        assert_int_equal(coop_jobs_run_once(j, NULL), COOP_ERR_OK);
    assert_int_equal(
        count_sql("SELECT COUNT(*) FROM coop_jobs WHERE payload = 'fail-once' AND attempts = 1"),
        1);
    char notes[64];
    notes_of("hello", notes);
    assert_string_equal(notes, "HELLO,");
    notes_of("world", notes);
    assert_string_equal(notes, "WORLD,");
    /* A failed run's effects are undone; its retry is prepared afresh. */
    notes_of("fail-once", notes);
    assert_string_equal(notes, "");
    fake_now += 2000;
    run_until_done(j, 3);
    notes_of("fail-once", notes);
    assert_string_equal(notes, "FAIL-ONCE,");
    assert_int_equal(prepare_calls, 4);
    assert_int_equal(prepared_made, 4);
    assert_int_equal(prepared_freed, 4); /* each once its handler returned */
    coop_jobs_free(j);
    assert_int_equal(prepared_freed, 4);
}

static void test_prepare_failure_leaves_null(void **state)
{
    register_upper();
    struct coop_jobs *j = jobs_with_batch(8);
    enqueue("t.upper", "bad", 0, 0, 0, NULL, NULL);
    enqueue("t.upper", "ok", 0, 0, 0, NULL, NULL);
    enqueue("t.upper", "bad-partial", 0, 0, 0, NULL, NULL);
    /* A job whose prepare failed is neither prepared again nor waited for
     * (a batch that stopped at it would prepare it again next time). */
    run_until_done(j, 3);
    assert_int_equal(prepare_calls, 3);
    char notes[64];
    notes_of("bad", notes);
    assert_string_equal(notes, "-,");
    notes_of("ok", notes);
    assert_string_equal(notes, "OK,");
    notes_of("bad-partial", notes);
    assert_string_equal(notes, "-,");
    assert_int_equal(count_sql("SELECT COUNT(*) FROM coop_jobs WHERE attempts = 1"), 3);
    coop_jobs_free(j);
    assert_int_equal(prepared_made, 2);
    assert_int_equal(prepared_freed, 2);
}

static void test_register_again_removes_prepare(void **state)
{
    register_upper();
    assert_int_equal(coop_jobs_register_handler("t.upper", upper_handler, &prepare_calls),
                     COOP_ERR_OK);
    struct coop_jobs *j = jobs_with_batch(8);
    enqueue("t.upper", "plain", 0, 0, 0, NULL, NULL);
    enqueue("t.upper", "again", 0, 0, 0, NULL, NULL);
    run_until_done(j, 2);
    assert_int_equal(prepare_calls, 0);
    char notes[64];
    notes_of("plain", notes);
    assert_string_equal(notes, "-,");
    notes_of("again", notes);
    assert_string_equal(notes, "-,");
    coop_jobs_free(j);
    assert_int_equal(prepared_freed, 0);
}

static void test_set_prepare_refusals(void **state)
{
    assert_int_equal(
        coop_jobs_register_handler_ex("t.outside", outside_handler, NULL, COOP_JOBS_OUTSIDE_TX),
        COOP_ERR_OK);
    assert_int_equal(coop_jobs_set_prepare("t.outside", upper_prepare, upper_free),
                     COOP_ERR_INVALID);
    assert_int_equal(coop_jobs_set_prepare("t.nobody", upper_prepare, upper_free),
                     COOP_ERR_NOT_FOUND);
    assert_int_equal(coop_jobs_register_handler("t.upper", upper_handler, &prepare_calls),
                     COOP_ERR_OK);
    assert_int_equal(coop_jobs_set_prepare("t.upper", NULL, upper_free), COOP_ERR_INVALID);
    assert_int_equal(coop_jobs_set_prepare("t.upper", upper_prepare, NULL), COOP_ERR_INVALID);
    /* The refused outside kind still runs, unprepared. */
    prepared_counts_reset();
    outside_calls = 0;
    enqueue("t.outside", "", 0, 0, 0, NULL, NULL);
    struct coop_jobs *j = jobs_with_batch(8);
    run_until_done(j, 1);
    coop_jobs_free(j);
    assert_int_equal(outside_calls, 1);
    assert_int_equal(prepare_calls, 0);
}

/* Prepared ahead, then cancelled or left queued: what was made is freed
 * once, when the job leaves the due ones or when the engine is freed. */
static void test_prepared_freed_once_when_not_run(void **state)
{
    register_upper();
    struct coop_jobs *j = jobs_with_batch(1);
    const char *payloads[] = {"a", "b", "c", "d", "e", "f"};
    for (size_t i = 0; i < 6; i++)
        enqueue("t.upper", payloads[i], 0, 0, 0, NULL, NULL);
    int ran = -1;
    assert_int_equal(coop_jobs_run_once(j, &ran), COOP_ERR_OK);
    assert_int_equal(ran, 1);
    assert_int_equal(prepare_calls, 6); /* every due job, ahead of its batch */
    assert_int_equal(prepared_freed, 1);
    /* Cancelled: two removed, one marked dead. */
    assert_int_equal(coop_store_exec(store, "DELETE FROM coop_jobs WHERE payload IN ('b', 'c')",
                                     COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    assert_int_equal(coop_store_exec(store,
                                     "UPDATE coop_jobs SET state = 'dead' WHERE payload = 'd'",
                                     COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    assert_int_equal(coop_jobs_run_once(j, &ran), COOP_ERR_OK);
    assert_int_equal(ran, 1);
    assert_int_equal(prepare_calls, 6); /* nothing prepared twice */
    assert_int_equal(prepared_freed, 5);
    char notes[64];
    notes_of("a", notes);
    assert_string_equal(notes, "A,");
    notes_of("e", notes);
    assert_string_equal(notes, "E,");
    coop_jobs_free(j); /* "f" was prepared and never ran */
    assert_int_equal(prepared_made, 6);
    assert_int_equal(prepared_freed, 6);
}

int main(void)
{
    coop_core_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_enqueue_run_done, each),
        cmocka_unit_test_setup(test_enqueue_follows_callers_transaction, each),
        cmocka_unit_test_setup(test_priority_and_run_at, each),
        cmocka_unit_test_setup(test_unique_key, each),
        cmocka_unit_test_setup(test_retry_backoff_then_dead, each),
        cmocka_unit_test_setup(test_no_handler_fails, each),
        cmocka_unit_test_setup(test_outside_lease, each),
        cmocka_unit_test_setup(test_invalid_specs, each),
        cmocka_unit_test_setup(test_schedule_daily, each),
        cmocka_unit_test_setup(test_prepare_feeds_handler, each),
        cmocka_unit_test_setup(test_prepare_failure_leaves_null, each),
        cmocka_unit_test_setup(test_register_again_removes_prepare, each),
        cmocka_unit_test_setup(test_set_prepare_refusals, each),
        cmocka_unit_test_setup(test_prepared_freed_once_when_not_run, each),
    };
    int failed = cmocka_run_group_tests_name("sqlite", tests, setup, teardown);
    if (!coop_test_pg_open(&pg)) {
        if (coop_test_pg_required()) {
            fprintf(stderr, "COOP_TEST_PG: no PostgreSQL server on CI\n");
            return 1;
        }
        fprintf(stderr, "COOP_TEST_PG: no PostgreSQL server, its half is skipped\n");
        return failed;
    }
    store_url = pg.url;
    failed += cmocka_run_group_tests_name("postgres", tests, setup, teardown);
    coop_test_pg_close(&pg);
    return failed;
}
