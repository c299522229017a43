/*
 * One conformance suite for every store backend: the same cases run on
 * SQLite (a file, so the pool has several connections) and on PostgreSQL
 * (COOP_TEST_PG: the fixture's server or COOP_TEST_PG_URL; skipped without
 * one, except on CI). Types, NULL, blobs, placeholders, transactions and
 * rollback, lazy transactions, error mapping, migrations, concurrent
 * writers, and on PostgreSQL reconnection and URLs kept out of the log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coop/store.h"
#include "pg_test.h"

#include <fcntl.h>
#include <float.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct backend {
    const char *name;
    char url[1400];
    struct coop_test_pg pg; /* PostgreSQL only */
    char dir[64];           /* SQLite only */
    struct coop_store *store;
    int first_migrations;
};

static struct backend sqlite_backend = {.name = "sqlite"};
static struct backend pg_backend = {.name = "postgres"};

static const char *blob_type(const struct backend *b)
{
    return coop_store_dialect(b->store) == COOP_STORE_POSTGRES ? "BYTEA" : "BLOB";
}

static int open_backend(struct backend *b)
{
    if (coop_store_open(b->url, 4, &b->store)) {
        fprintf(stderr, "cannot open the %s store\n", b->name);
        return -1;
    }
    if (coop_store_migrate(b->store, &b->first_migrations)) {
        fprintf(stderr, "migrations failed on %s\n", b->name);
        return -1;
    }
    return 0;
}

static int setup_sqlite(void **state)
{
    snprintf(sqlite_backend.dir, sizeof sqlite_backend.dir, "/tmp/coop-conformance-XXXXXX");
    if (!mkdtemp(sqlite_backend.dir))
        return -1;
    snprintf(sqlite_backend.url, sizeof sqlite_backend.url, "sqlite:%s/coop.db",
             sqlite_backend.dir);
    *state = &sqlite_backend;
    return open_backend(&sqlite_backend);
}

static int teardown_sqlite(void **state)
{
    coop_store_close(sqlite_backend.store);
    char path[128];
    const char *suffix[] = {"coop.db", "coop.db-wal", "coop.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", sqlite_backend.dir, suffix[i]);
        unlink(path);
    }
    rmdir(sqlite_backend.dir);
    return 0;
}

static int setup_pg(void **state)
{
    if (!coop_test_pg_open(&pg_backend.pg))
        return -1;
    coop_strlcpy(pg_backend.url, pg_backend.pg.url, sizeof pg_backend.url);
    *state = &pg_backend;
    return open_backend(&pg_backend);
}

static int select_pg(void **state)
{
    *state = &pg_backend;
    return 0;
}

static int teardown_pg(void **state)
{
    coop_store_close(pg_backend.store);
    coop_test_pg_close(&pg_backend.pg);
    return 0;
}

/* Each case starts without the tables the cases create. */
static int clean(void **state)
{
    struct backend *b = *state;
    const char *tables[] = {"conf_t", "conf_counter", "conf_log"};
    for (size_t i = 0; i < 3; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", tables[i]);
        if (coop_store_exec(b->store, sql, COOP_NOPARAMS, NULL))
            return -1;
    }
    return 0;
}

static void create_t(struct backend *b)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "CREATE TABLE conf_t (id BIGINT PRIMARY KEY, i BIGINT, d DOUBLE PRECISION,"
             " s TEXT, b %s)",
             blob_type(b));
    assert_int_equal(coop_store_exec(b->store, sql, COOP_NOPARAMS, NULL), COOP_ERR_OK);
}

/* ---- values --------------------------------------------------------------------- */

struct got {
    int rows;
    int columns;
    int64_t i;
    double d;
    char s[256];
    size_t slen;
    unsigned char blob[256];
    size_t blen;
    bool null_i, null_d, null_s, null_b;
};

static coop_err read_row(void *ctx, const struct coop_row *row)
{
    struct got *g = ctx;
    g->rows++;
    g->columns = coop_row_columns(row);
    g->null_i = coop_row_is_null(row, 0);
    g->null_d = coop_row_is_null(row, 1);
    g->null_s = coop_row_is_null(row, 2);
    g->null_b = coop_row_is_null(row, 3);
    g->i = coop_row_int(row, 0);
    g->d = coop_row_double(row, 1);
    size_t n = 0;
    const char *s = coop_row_text(row, 2, &n);
    if (s && n < sizeof g->s) {
        memcpy(g->s, s, n);
        g->s[n] = '\0';
    }
    g->slen = n;
    const void *p = coop_row_blob(row, 3, &n);
    if (p && n <= sizeof g->blob)
        memcpy(g->blob, p, n);
    g->blen = n;
    return COOP_ERR_OK;
}

static struct got select_id(struct backend *b, int64_t id)
{
    struct got g = {0};
    assert_int_equal(coop_store_query(b->store, "SELECT i, d, s, b FROM conf_t WHERE id = ?",
                                      COOP_PARAMS(COOP_PI(id)), read_row, &g),
                     COOP_ERR_OK);
    return g;
}

static void insert(struct backend *b, int64_t id, struct coop_param i, struct coop_param d,
                   struct coop_param s, struct coop_param bl)
{
    int64_t changes = -1;
    assert_int_equal(coop_store_exec(b->store,
                                     "INSERT INTO conf_t (id, i, d, s, b) VALUES (?, ?, ?, ?, ?)",
                                     COOP_PARAMS(COOP_PI(id), i, d, s, bl), &changes),
                     COOP_ERR_OK);
    assert_int_equal(changes, 1);
}

static void test_types(void **state)
{
    struct backend *b = *state;
    create_t(b);
    const unsigned char bytes[] = {0x00, 0xff, 0x5c, 0x27, 0x3f, 0x00, 0x80, 0x01};
    const char *text = "caf\xc3\xa9 'quoted' \"double\" ? $1 \\ end";
    insert(b, 1, COOP_PI(INT64_MAX), COOP_PD(0.1), COOP_PT(text), COOP_PB(bytes, sizeof bytes));
    insert(b, 2, COOP_PI(INT64_MIN), COOP_PD(-1.5e300), COOP_PT(""), COOP_PB(bytes, 0));
    insert(b, 3, COOP_PI(-1), COOP_PD(DBL_MIN), COOP_PTN("abcdef", 3), COOP_PB("x", 1));

    struct got g = select_id(b, 1);
    assert_int_equal(g.rows, 1);
    assert_int_equal(g.columns, 4);
    assert_true(g.i == INT64_MAX);
    assert_true(g.d == 0.1);
    assert_string_equal(g.s, text);
    assert_int_equal(g.slen, strlen(text));
    assert_int_equal(g.blen, sizeof bytes);
    assert_memory_equal(g.blob, bytes, sizeof bytes);
    assert_false(g.null_i || g.null_d || g.null_s || g.null_b);

    g = select_id(b, 2);
    assert_true(g.i == INT64_MIN);
    assert_true(g.d == -1.5e300);
    assert_string_equal(g.s, "");
    assert_false(g.null_s);
    assert_false(g.null_b); /* an empty blob is not NULL */
    assert_int_equal(g.blen, 0);

    g = select_id(b, 3);
    assert_true(g.i == -1);
    assert_true(g.d == DBL_MIN);
    assert_string_equal(g.s, "abc");
    assert_int_equal(g.blen, 1);

    /* Integers come back as integers from aggregates and comparisons too. */
    int64_t v = 0;
    struct coop_conn *c;
    assert_int_equal(coop_store_acquire(b->store, &c), COOP_ERR_OK);
    assert_int_equal(coop_conn_query_int(c, "SELECT COUNT(*) FROM conf_t", COOP_NOPARAMS, &v),
                     COOP_ERR_OK);
    assert_int_equal(v, 3);
    assert_int_equal(
        coop_conn_query_int(c, "SELECT SUM(i) FROM conf_t WHERE id = 3", COOP_NOPARAMS, &v),
        COOP_ERR_OK);
    assert_int_equal(v, -1);
    assert_int_equal(
        coop_conn_query_int(c, "SELECT ? = ?", COOP_PARAMS(COOP_PI(7), COOP_PI(7)), &v),
        COOP_ERR_OK);
    assert_int_equal(v, 1);
    assert_int_equal(
        coop_conn_query_int(c, "SELECT id FROM conf_t WHERE id = 99", COOP_NOPARAMS, &v),
        COOP_ERR_NOT_FOUND);
    coop_store_release(b->store, c);
}

static void test_nulls(void **state)
{
    struct backend *b = *state;
    create_t(b);
    insert(b, 1, COOP_PNULL, COOP_PNULL, COOP_PT(NULL), COOP_PNULL);
    struct got g = select_id(b, 1);
    assert_int_equal(g.rows, 1);
    assert_true(g.null_i && g.null_d && g.null_s && g.null_b);
    assert_int_equal(g.i, 0);
    assert_true(g.d == 0.0);
    assert_int_equal(g.slen, 0);
    assert_int_equal(g.blen, 0);

    /* The same statement with NULL first and values afterwards. */
    insert(b, 2, COOP_PI(5), COOP_PD(2.5), COOP_PT("five"), COOP_PB("5", 1));
    g = select_id(b, 2);
    assert_false(g.null_i || g.null_s);
    assert_int_equal(g.i, 5);
    assert_string_equal(g.s, "five");

    /* NULL compared through a parameter. */
    int64_t n = -1;
    struct coop_conn *c;
    assert_int_equal(coop_store_acquire(b->store, &c), COOP_ERR_OK);
    assert_int_equal(
        coop_conn_query_int(c, "SELECT COUNT(*) FROM conf_t WHERE s IS NULL", COOP_NOPARAMS, &n),
        COOP_ERR_OK);
    assert_int_equal(n, 1);
    /* An optional filter: a parameter tested for NULL, NULL or not. */
    const char *filter = "SELECT COUNT(*) FROM conf_t WHERE (? IS NULL OR s = ?)"
                         " AND (? IS NOT NULL OR i IS NOT NULL)";
    assert_int_equal(
        coop_conn_query_int(c, filter, COOP_PARAMS(COOP_PT(NULL), COOP_PT(NULL), COOP_PNULL), &n),
        COOP_ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(coop_conn_query_int(
                         c, filter, COOP_PARAMS(COOP_PT("five"), COOP_PT("five"), COOP_PI(1)), &n),
                     COOP_ERR_OK);
    assert_int_equal(n, 1);
    coop_store_release(b->store, c);
}

static void test_placeholders(void **state)
{
    struct backend *b = *state;
    create_t(b);
    /* Question marks inside literals, identifiers and comments are not
     * parameters. */
    insert(b, 1, COOP_PI(1), COOP_PD(1), COOP_PT("a"), COOP_PB("b", 1));
    int64_t n = 0;
    struct coop_conn *c;
    assert_int_equal(coop_store_acquire(b->store, &c), COOP_ERR_OK);
    assert_int_equal(coop_conn_query_int(c,
                                         "SELECT COUNT(*) AS \"why?\" FROM conf_t /* ? */"
                                         " WHERE s <> '?''?' AND id = ? -- ?\n AND i = ?",
                                         COOP_PARAMS(COOP_PI(1), COOP_PI(1)), &n),
                     COOP_ERR_OK);
    assert_int_equal(n, 1);
    /* A count that does not match the statement is refused. */
    assert_int_equal(coop_conn_exec(c, "SELECT ?", COOP_PARAMS(COOP_PI(1), COOP_PI(2)), NULL),
                     COOP_ERR_INVALID);
    assert_int_equal(coop_conn_exec(c, "SELECT ?, ?", COOP_PARAMS(COOP_PI(1)), NULL),
                     COOP_ERR_INVALID);
    coop_store_release(b->store, c);
}

static coop_err count_rows(void *ctx, const struct coop_row *row)
{
    int *n = ctx;
    (*n)++;
    return *n == 10 ? COOP_ERR_DUPLICATE : COOP_ERR_OK;
}

static coop_err insert_many(struct coop_conn *c, void *ctx)
{
    for (int i = 0; i < 500; i++) {
        coop_err err = coop_conn_exec(c, "INSERT INTO conf_t (id, i) VALUES (?, ?)",
                                      COOP_PARAMS(COOP_PI(i), COOP_PI(i * 2)), NULL);
        if (err)
            return err;
    }
    return COOP_ERR_OK;
}

static void test_many_rows_and_stop(void **state)
{
    struct backend *b = *state;
    create_t(b);
    assert_int_equal(coop_store_tx(b->store, true, insert_many, NULL), COOP_ERR_OK);
    int n = 0;
    /* A callback's error stops the query and is what it returns. */
    assert_int_equal(coop_store_query(b->store, "SELECT id FROM conf_t ORDER BY id", COOP_NOPARAMS,
                                      count_rows, &n),
                     COOP_ERR_DUPLICATE);
    assert_int_equal(n, 10);
    int64_t changes = 0;
    assert_int_equal(coop_store_exec(b->store, "UPDATE conf_t SET s = ? WHERE id < ?",
                                     COOP_PARAMS(COOP_PT("x"), COOP_PI(100)), &changes),
                     COOP_ERR_OK);
    assert_int_equal(changes, 100);
    assert_int_equal(coop_store_exec(b->store, "DELETE FROM conf_t WHERE id >= ?",
                                     COOP_PARAMS(COOP_PI(450)), &changes),
                     COOP_ERR_OK);
    assert_int_equal(changes, 50);
}

/* ---- transactions --------------------------------------------------------------- */

struct tx_ctx {
    int64_t id;
    coop_err result;
};

static coop_err insert_then(struct coop_conn *c, void *ctx)
{
    struct tx_ctx *t = ctx;
    coop_err err = coop_conn_exec(c, "INSERT INTO conf_t (id, s) VALUES (?, 'tx')",
                                  COOP_PARAMS(COOP_PI(t->id)), NULL);
    return err ? err : t->result;
}

static int64_t count_t(struct backend *b)
{
    struct coop_conn *c;
    int64_t n = -1;
    assert_int_equal(coop_store_acquire(b->store, &c), COOP_ERR_OK);
    assert_int_equal(coop_conn_query_int(c, "SELECT COUNT(*) FROM conf_t", COOP_NOPARAMS, &n),
                     COOP_ERR_OK);
    coop_store_release(b->store, c);
    return n;
}

static void test_transactions(void **state)
{
    struct backend *b = *state;
    create_t(b);
    struct tx_ctx t = {1, COOP_ERR_OK};
    assert_int_equal(coop_store_tx(b->store, true, insert_then, &t), COOP_ERR_OK);
    assert_int_equal(count_t(b), 1);

    /* The function's error rolls everything back and is returned. */
    t = (struct tx_ctx){2, COOP_ERR_NOT_FOUND};
    assert_int_equal(coop_store_tx(b->store, true, insert_then, &t), COOP_ERR_NOT_FOUND);
    assert_int_equal(count_t(b), 1);

    /* Explicit begin/rollback on a borrowed connection. */
    struct coop_conn *c;
    assert_int_equal(coop_store_acquire(b->store, &c), COOP_ERR_OK);
    assert_int_equal(coop_conn_begin(c, true), COOP_ERR_OK);
    assert_int_equal(coop_conn_exec(c, "INSERT INTO conf_t (id) VALUES (3)", COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    assert_int_equal(coop_conn_rollback(c), COOP_ERR_OK);
    assert_int_equal(coop_conn_begin(c, true), COOP_ERR_OK);
    assert_int_equal(coop_conn_exec(c, "INSERT INTO conf_t (id) VALUES (4)", COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    assert_int_equal(coop_conn_commit(c), COOP_ERR_OK);
    coop_store_release(b->store, c);
    assert_int_equal(count_t(b), 2);

    /* Savepoints, as the job queue uses them. */
    assert_int_equal(coop_store_acquire(b->store, &c), COOP_ERR_OK);
    assert_int_equal(coop_conn_begin(c, true), COOP_ERR_OK);
    assert_int_equal(coop_conn_exec(c, "SAVEPOINT s1", COOP_NOPARAMS, NULL), COOP_ERR_OK);
    assert_int_equal(coop_conn_exec(c, "INSERT INTO conf_t (id) VALUES (5)", COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    assert_int_equal(coop_conn_exec(c, "ROLLBACK TO SAVEPOINT s1", COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    assert_int_equal(coop_conn_exec(c, "RELEASE SAVEPOINT s1", COOP_NOPARAMS, NULL), COOP_ERR_OK);
    assert_int_equal(coop_conn_exec(c, "INSERT INTO conf_t (id) VALUES (6)", COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    assert_int_equal(coop_conn_commit(c), COOP_ERR_OK);
    coop_store_release(b->store, c);
    assert_int_equal(count_t(b), 3);
}

static void test_conflict(void **state)
{
    struct backend *b = *state;
    create_t(b);
    insert(b, 1, COOP_PI(1), COOP_PNULL, COOP_PNULL, COOP_PNULL);
    /* A unique violation is a conflict, outside and inside a transaction,
     * and the store stays usable after it. */
    assert_int_equal(coop_store_exec(b->store, "INSERT INTO conf_t (id) VALUES (?)",
                                     COOP_PARAMS(COOP_PI(1)), NULL),
                     COOP_ERR_CONFLICT);
    struct tx_ctx t = {1, COOP_ERR_OK};
    assert_int_equal(coop_store_tx(b->store, true, insert_then, &t), COOP_ERR_CONFLICT);
    assert_int_equal(count_t(b), 1);
    /* ON CONFLICT DO NOTHING reports no change. */
    int64_t changes = -1;
    assert_int_equal(coop_store_exec(b->store,
                                     "INSERT INTO conf_t (id) VALUES (?) ON CONFLICT DO NOTHING",
                                     COOP_PARAMS(COOP_PI(1)), &changes),
                     COOP_ERR_OK);
    assert_int_equal(changes, 0);
    /* RETURNING, as enqueueing uses it. */
    int64_t id = 0;
    struct coop_conn *c;
    assert_int_equal(coop_store_acquire(b->store, &c), COOP_ERR_OK);
    assert_int_equal(coop_conn_query_int(c, "INSERT INTO conf_t (id) VALUES (?) RETURNING id",
                                         COOP_PARAMS(COOP_PI(77)), &id),
                     COOP_ERR_OK);
    assert_int_equal(id, 77);
    /* A syntax error is a store error, not a conflict. */
    assert_int_equal(coop_conn_exec(c, "SELEC 1", COOP_NOPARAMS, NULL), COOP_ERR_STORE);
    coop_store_release(b->store, c);
    assert_int_equal(coop_store_exec(b->store, "SELECT 1", COOP_NOPARAMS, NULL), COOP_ERR_OK);
}

static void test_migrations_idempotent(void **state)
{
    struct backend *b = *state;
    assert_true(b->first_migrations > 0);
    int applied = -1;
    assert_int_equal(coop_store_migrate(b->store, &applied), COOP_ERR_OK);
    assert_int_equal(applied, 0);
    int64_t n = 0;
    struct coop_conn *c;
    assert_int_equal(coop_store_acquire(b->store, &c), COOP_ERR_OK);
    assert_int_equal(
        coop_conn_query_int(c, "SELECT COUNT(*) FROM coop_migrations", COOP_NOPARAMS, &n),
        COOP_ERR_OK);
    coop_store_release(b->store, c);
    assert_int_equal(n, b->first_migrations);
}

/* ---- lazy transactions ------------------------------------------------------------ */

struct lazy {
    int64_t first;
    coop_err result;
    char setting[16]; /* the commit's durability, read inside the transaction */
};

static coop_err text_at(void *ctx, const struct coop_row *row)
{
    char *out = ctx;
    const char *s = coop_row_text(row, 0, NULL);
    coop_strlcpy(out, s ? s : "(null)", 16);
    return COOP_ERR_OK;
}

/* SQLite's synchronous setting (2: FULL, 1: NORMAL) or PostgreSQL's
 * synchronous_commit, as conn's next commit would use it. */
static coop_err read_durability(struct coop_conn *c, void *ctx)
{
    return coop_conn_query(c,
                           coop_conn_dialect(c) == COOP_STORE_SQLITE
                               ? "PRAGMA synchronous"
                               : "SELECT current_setting('synchronous_commit')",
                           COOP_NOPARAMS, text_at, ctx);
}

static coop_err lazy_insert(struct coop_conn *c, void *ctx)
{
    struct lazy *l = ctx;
    for (int64_t id = l->first; id < l->first + 3; id++) {
        coop_err err = coop_conn_exec(c, "INSERT INTO conf_t (id, s) VALUES (?, 'lazy')",
                                      COOP_PARAMS(COOP_PI(id)), NULL);
        if (err)
            return err;
    }
    coop_err err = read_durability(c, l->setting);
    return err ? err : l->result;
}

/* A lazy transaction commits (or rolls back) all its writes like any other,
 * without waiting for the disk; the pooled connection it ran on goes back
 * to waiting for the disk afterwards, whether it committed or not. */
static void test_lazy_transactions(void **state)
{
    struct backend *b = *state;
    bool sqlite = coop_store_dialect(b->store) == COOP_STORE_SQLITE;
    const char *lazy_value = sqlite ? "1" : "off", *durable_value = sqlite ? "2" : "on";
    create_t(b);
    /* One connection, marked by a temporary table (which only the session
     * that made it sees), so the checks below are all on the connection the
     * lazy transactions ran on. */
    struct coop_store *one;
    assert_int_equal(coop_store_open(b->url, 1, &one), COOP_ERR_OK);
    if (!sqlite) /* the test server may default to off; the session says on */
        assert_int_equal(coop_store_exec(one, "SET synchronous_commit = on", COOP_NOPARAMS, NULL),
                         COOP_ERR_OK);
    assert_int_equal(
        coop_store_exec(one, "CREATE TEMP TABLE conf_marker (x BIGINT)", COOP_NOPARAMS, NULL),
        COOP_ERR_OK);
    char setting[16] = "";
    assert_int_equal(coop_store_tx(one, false, read_durability, setting), COOP_ERR_OK);
    assert_string_equal(setting, durable_value);

    struct lazy l = {.first = 1, .result = COOP_ERR_OK};
    assert_int_equal(coop_store_tx_lazy(one, lazy_insert, &l), COOP_ERR_OK);
    assert_string_equal(l.setting, lazy_value);
    assert_int_equal(count_t(b), 3); /* committed: seen from the other store's connections */
    memset(setting, 0, sizeof setting);
    assert_int_equal(coop_store_tx(one, false, read_durability, setting), COOP_ERR_OK);
    assert_string_equal(setting, durable_value);

    /* The function's error undoes every write of the transaction. */
    l = (struct lazy){.first = 10, .result = COOP_ERR_NOT_FOUND};
    assert_int_equal(coop_store_tx_lazy(one, lazy_insert, &l), COOP_ERR_NOT_FOUND);
    assert_string_equal(l.setting, lazy_value);
    assert_int_equal(count_t(b), 3);
    memset(setting, 0, sizeof setting);
    assert_int_equal(coop_store_tx(one, true, read_durability, setting), COOP_ERR_OK);
    assert_string_equal(setting, durable_value);

    /* A lazy transaction that fails in the database (a duplicate key) too. */
    l = (struct lazy){.first = 3, .result = COOP_ERR_OK};
    assert_int_equal(coop_store_tx_lazy(one, lazy_insert, &l), COOP_ERR_CONFLICT);
    assert_int_equal(count_t(b), 3);
    memset(setting, 0, sizeof setting);
    assert_int_equal(coop_store_tx(one, false, read_durability, setting), COOP_ERR_OK);
    assert_string_equal(setting, durable_value);

    /* Still the marked connection: it was restored, not replaced. */
    int64_t n = -1;
    struct coop_conn *c;
    assert_int_equal(coop_store_acquire(one, &c), COOP_ERR_OK);
    assert_int_equal(coop_conn_query_int(c, "SELECT COUNT(*) FROM conf_marker", COOP_NOPARAMS, &n),
                     COOP_ERR_OK);
    coop_store_release(one, c);
    assert_int_equal(n, 0);
    coop_store_close(one);
}

/* ---- concurrency ------------------------------------------------------------------- */

#define THREADS 4
#define PER_THREAD 25

struct worker {
    struct backend *b;
    int index;
    int done;
    int retried;
    coop_err last;
};

/* Read, then write what was read plus one: a lost update would show. */
static coop_err bump(struct coop_conn *c, void *ctx)
{
    struct worker *w = ctx;
    int64_t n = 0;
    coop_err err =
        coop_conn_query_int(c, "SELECT n FROM conf_counter WHERE id = 1", COOP_NOPARAMS, &n);
    if (!err)
        err = coop_conn_exec(c, "UPDATE conf_counter SET n = ? WHERE id = 1",
                             COOP_PARAMS(COOP_PI(n + 1)), NULL);
    if (!err)
        err = coop_conn_exec(c, "INSERT INTO conf_log (worker, seen) VALUES (?, ?)",
                             COOP_PARAMS(COOP_PI(w->index), COOP_PI(n)), NULL);
    return err;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    while (w->done < PER_THREAD) {
        coop_err err = coop_store_tx(w->b->store, true, bump, w);
        if (err == COOP_ERR_BUSY) {
            /* The store gave up after its own retries: contention, not an
             * error; nothing was written, so try again. */
            w->retried++;
            continue;
        }
        if (err) {
            w->last = err;
            break;
        }
        w->done++;
    }
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    struct backend *b = *state;
    assert_int_equal(coop_store_exec(b->store,
                                     "CREATE TABLE conf_counter (id BIGINT PRIMARY KEY, n BIGINT)",
                                     COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    assert_int_equal(coop_store_exec(b->store,
                                     "CREATE TABLE conf_log (worker BIGINT, seen BIGINT UNIQUE)",
                                     COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    assert_int_equal(
        coop_store_exec(b->store, "INSERT INTO conf_counter VALUES (1, 0)", COOP_NOPARAMS, NULL),
        COOP_ERR_OK);
    struct worker w[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.b = b, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].last, COOP_ERR_OK);
        assert_int_equal(w[i].done, PER_THREAD);
    }
    int64_t n = 0, rows = 0;
    struct coop_conn *c;
    assert_int_equal(coop_store_acquire(b->store, &c), COOP_ERR_OK);
    assert_int_equal(coop_conn_query_int(c, "SELECT n FROM conf_counter", COOP_NOPARAMS, &n),
                     COOP_ERR_OK);
    assert_int_equal(
        coop_conn_query_int(c, "SELECT COUNT(DISTINCT seen) FROM conf_log", COOP_NOPARAMS, &rows),
        COOP_ERR_OK);
    coop_store_release(b->store, c);
    assert_int_equal(n, THREADS * PER_THREAD);
    assert_int_equal(rows, THREADS * PER_THREAD);
}

/* ---- notifications ---------------------------------------------------------------- */

static coop_err notify_then(struct coop_conn *c, void *ctx)
{
    coop_err *result = ctx;
    coop_err err = coop_conn_notify(c, "conf_chan");
    return err ? err : *result;
}

static void test_notify(void **state)
{
    struct backend *b = *state;
    struct coop_store_listener *l = NULL;
    coop_err ok = COOP_ERR_OK, undo = COOP_ERR_NOT_FOUND;
    assert_int_equal(coop_conn_notify(NULL, "Bad-Channel"), COOP_ERR_INVALID);
    if (coop_store_dialect(b->store) == COOP_STORE_SQLITE) {
        /* One process: nothing to listen to, and notifying is harmless. */
        assert_int_equal(coop_store_listen(b->store, "conf_chan", &l), COOP_ERR_UNAVAILABLE);
        assert_int_equal(coop_store_tx(b->store, true, notify_then, &ok), COOP_ERR_OK);
        return;
    }
    assert_int_equal(coop_store_listen(b->store, "conf_chan", &l), COOP_ERR_OK);
    assert_int_equal(coop_store_listener_wait(l, 50), COOP_ERR_TIMEOUT);
    /* A rolled-back transaction notifies no one; a committed one does. */
    assert_int_equal(coop_store_tx(b->store, true, notify_then, &undo), COOP_ERR_NOT_FOUND);
    assert_int_equal(coop_store_listener_wait(l, 300), COOP_ERR_TIMEOUT);
    assert_int_equal(coop_store_tx(b->store, true, notify_then, &ok), COOP_ERR_OK);
    assert_int_equal(coop_store_listener_wait(l, 10000), COOP_ERR_OK);
    assert_int_equal(coop_store_listener_wait(l, 50), COOP_ERR_TIMEOUT);
    coop_store_listener_free(l);
}

/* ---- PostgreSQL only: reconnection and secrets ---------------------------------- */

static int64_t backend_pid(struct coop_store *s)
{
    struct coop_conn *c;
    int64_t pid = 0;
    assert_int_equal(coop_store_acquire(s, &c), COOP_ERR_OK);
    assert_int_equal(coop_conn_query_int(c, "SELECT pg_backend_pid()", COOP_NOPARAMS, &pid),
                     COOP_ERR_OK);
    coop_store_release(s, c);
    return pid;
}

/* Terminates a server process from another connection and waits until it
 * is gone, as a server restart or an idle-connection killer would. */
static void terminate(struct backend *b, int64_t pid)
{
    int64_t alive = 1;
    assert_int_equal(coop_store_exec(b->store, "SELECT pg_terminate_backend(CAST(? AS INTEGER))",
                                     COOP_PARAMS(COOP_PI(pid)), NULL),
                     COOP_ERR_OK);
    for (int i = 0; i < 200 && alive; i++) {
        struct coop_conn *c;
        assert_int_equal(coop_store_acquire(b->store, &c), COOP_ERR_OK);
        assert_int_equal(coop_conn_query_int(c,
                                             "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = ?",
                                             COOP_PARAMS(COOP_PI(pid)), &alive),
                         COOP_ERR_OK);
        coop_store_release(b->store, c);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(alive, 0);
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
}

static void test_pg_reconnect(void **state)
{
    struct backend *b = *state;
    struct coop_store *one;
    assert_int_equal(coop_store_open(b->url, 1, &one), COOP_ERR_OK);
    int64_t pid = backend_pid(one);

    /* An idle pooled connection whose server process went away is
     * reconnected before its next use: the caller sees no error. */
    terminate(b, pid);
    assert_int_equal(coop_store_ping(one), COOP_ERR_OK);
    int64_t pid2 = backend_pid(one);
    assert_true(pid2 != pid);

    /* Lost inside a transaction: that transaction fails as unavailable,
     * the connection is dropped, and the next one works. */
    struct coop_conn *c;
    assert_int_equal(coop_store_acquire(one, &c), COOP_ERR_OK);
    assert_int_equal(coop_conn_begin(c, true), COOP_ERR_OK);
    terminate(b, pid2);
    assert_int_equal(coop_conn_exec(c, "SELECT 1", COOP_NOPARAMS, NULL), COOP_ERR_UNAVAILABLE);
    assert_int_equal(coop_conn_rollback(c), COOP_ERR_UNAVAILABLE);
    coop_store_release(one, c);
    assert_int_equal(coop_store_ping(one), COOP_ERR_OK);
    assert_true(backend_pid(one) != pid2);
    coop_store_close(one);
}

static void read_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

static void test_pg_url_not_logged(void **state)
{
    char path[] = "/tmp/coop-conformance-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    coop_log_set_fd(fd);
    const char *urls[] = {
        /* nothing listens on port 1 */
        "postgresql://coop:Pw-Canary-7f3a91@127.0.0.1:1/coop?connect_timeout=2",
        /* malformed: libpq would echo part of it */
        "postgresql://coop:Pw-Canary-7f3a91@127.0.0.1:notaport/%zz",
        "postgres://coop:Pw-Canary-7f3a91@[::1/coop",
    };
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
        struct coop_store *s = NULL;
        coop_err err = coop_store_open(urls[i], 2, &s);
        assert_true(err == COOP_ERR_UNAVAILABLE || err == COOP_ERR_CONFIG);
        assert_null(s);
    }
    coop_log_set_fd(2);
    close(fd);
    char logged[16384];
    read_file(path, logged, sizeof logged);
    unlink(path);
    assert_non_null(strstr(logged, "postgresql connection failed"));
    assert_null(strstr(logged, "Pw-Canary-7f3a91"));
}

#define BOTH(f) cmocka_unit_test_setup(f, clean)

int main(void)
{
    if (coop_core_init())
        return 1;
    const struct CMUnitTest common[] = {
        BOTH(test_types),
        BOTH(test_nulls),
        BOTH(test_placeholders),
        BOTH(test_many_rows_and_stop),
        BOTH(test_transactions),
        BOTH(test_conflict),
        BOTH(test_migrations_idempotent),
        BOTH(test_lazy_transactions),
        BOTH(test_concurrent_writers),
        BOTH(test_notify),
    };
    const struct CMUnitTest pg_only[] = {
        BOTH(test_pg_reconnect),
        BOTH(test_pg_url_not_logged),
    };
    int failed = cmocka_run_group_tests_name("sqlite", common, setup_sqlite, teardown_sqlite);

    char base[1024];
    coop_test_pg_base(base, sizeof base);
    if (!base[0]) {
        if (coop_test_pg_required()) {
            fprintf(stderr, "COOP_TEST_PG: no PostgreSQL server on CI\n");
            return 1;
        }
        fprintf(stderr, "COOP_TEST_PG: no PostgreSQL server, its half is skipped\n");
        return failed;
    }
    failed += cmocka_run_group_tests_name("postgres", common, setup_pg, NULL);
    failed += cmocka_run_group_tests_name("postgres-only", pg_only, select_pg, teardown_pg);
    return failed;
}
