/*
 * The SQLite backend on a database file, where the connections of one
 * process share the writer mutex in-process writers queue on, and the
 * committing connection checkpoints (SQLite's automatic checkpoint, run
 * while it still holds that mutex). The log is copied into the database
 * once it passes 1,000 pages, stays bounded under steady writes from
 * several threads, and goes with the file's last connection; concurrent
 * writers never see COOP_ERR_BUSY and lose no update.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coop/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLOB 4000 /* one row per 4 KB page */

static char dir[64];
static char db_path[128];
static char wal_path[128];
static char url[160];

static int fresh_file(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/coop-sqlite-file-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(db_path, sizeof db_path, "%s/coop.db", dir);
    snprintf(wal_path, sizeof wal_path, "%s/coop.db-wal", dir);
    snprintf(url, sizeof url, "sqlite:%s", db_path);
    return 0;
}

static int remove_file(void **state)
{
    char path[160];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", db_path, suffix[i]);
        unlink(path);
    }
    rmdir(dir);
    return 0;
}

/* -1 when the file does not exist. */
static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void exec_ok(struct coop_store *s, const char *sql)
{
    assert_int_equal(coop_store_exec(s, sql, COOP_NOPARAMS, NULL), COOP_ERR_OK);
}

/* ---- checkpoints ------------------------------------------------------------- */

struct fill {
    int64_t first;
    int rows;
};

static coop_err insert_blobs(struct coop_conn *c, void *ctx)
{
    struct fill *f = ctx;
    unsigned char blob[BLOB];
    for (int i = 0; i < f->rows; i++) {
        memset(blob, (int)((f->first + i) & 0xff), sizeof blob);
        coop_err err =
            coop_conn_exec(c, "INSERT INTO blobs (id, b) VALUES (?, ?)",
                           COOP_PARAMS(COOP_PI(f->first + i), COOP_PB(blob, BLOB)), NULL);
        if (err)
            return err;
    }
    return COOP_ERR_OK;
}

/* SQLite writes the database file itself only when it checkpoints: the
 * database file growing to hold rows committed into the log while the
 * store stays open is the checkpoints' doing. */
static void test_log_copied_into_database(void **state)
{
    struct coop_store *s;
    assert_int_equal(coop_store_open(url, 1, &s), COOP_ERR_OK);
    exec_ok(s, "CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL)");
    const int txs = 40, per_tx = 50; /* 2,000 pages, twice the threshold */
    for (int t = 0; t < txs; t++) {
        struct fill f = {(int64_t)t * per_tx, per_tx};
        assert_int_equal(coop_store_tx(s, true, insert_blobs, &f), COOP_ERR_OK);
    }
    long long want = (long long)txs * per_tx * BLOB;
    long long db = file_size(db_path);
    for (int i = 0; i < 500 && db < want; i++) {
        sleep_ms(10);
        db = file_size(db_path);
    }
    assert_true(db >= want);
    /* And every row is there for a store opened afterwards. */
    struct coop_store *other;
    assert_int_equal(coop_store_open(url, 1, &other), COOP_ERR_OK);
    struct coop_conn *c;
    int64_t n = 0;
    assert_int_equal(coop_store_acquire(other, &c), COOP_ERR_OK);
    assert_int_equal(coop_conn_query_int(c, "SELECT COUNT(*) FROM blobs WHERE length(b) = ?",
                                         COOP_PARAMS(COOP_PI(BLOB)), &n),
                     COOP_ERR_OK);
    coop_store_release(other, c);
    assert_int_equal(n, txs * per_tx);
    coop_store_close(other);
    coop_store_close(s);
}

/* Steady writes on a database of 512-byte pages, so that many log frames
 * cost little disk: each transaction rewrites STEADY_ROWS pages. */
#define SMALL_PAGE 512
#define STEADY_ROWS 64
#define STEADY_TXS 1000
/* The checkpoint at 1,000 frames, under the writer mutex, copies the
 * whole log, so the next commit starts it over: one transaction's frames
 * more is the most it holds; four times the threshold leaves room. */
#define STEADY_BOUND_FRAMES 4000

struct steady {
    struct coop_store *s;
    int done;
    coop_err last;
};

static coop_err rewrite_rows(struct coop_conn *c, void *ctx)
{
    (void)ctx;
    return coop_conn_exec(c, "UPDATE blobs SET n = n + 1", COOP_NOPARAMS, NULL);
}

static void *steady_writer(void *arg)
{
    struct steady *w = arg;
    while (w->done < STEADY_TXS) {
        coop_err err = coop_store_tx_lazy(w->s, rewrite_rows, w);
        if (err) {
            w->last = err;
            break;
        }
        w->done++;
    }
    return NULL;
}

/* Two threads commit without pause (lazily, as job batches do): no other
 * writer can add frames while the committing connection checkpoints, so
 * every checkpoint copies the whole log and the log file stays far smaller
 * than all that was written to it. */
static void test_log_bounded_under_steady_writes(void **state)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    char sql[512];
    snprintf(sql, sizeof sql,
             "PRAGMA page_size=%d; PRAGMA journal_mode=WAL;"
             " CREATE TABLE blobs (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, b BLOB NOT NULL);"
             " WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < %d)"
             " INSERT INTO blobs SELECT x, 0, randomblob(400) FROM i;",
             SMALL_PAGE, STEADY_ROWS);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    struct coop_store *s;
    assert_int_equal(coop_store_open(url, 2, &s), COOP_ERR_OK);
    struct steady w[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (struct steady){.s = s};
        assert_int_equal(pthread_create(&th[i], NULL, steady_writer, &w[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].last, COOP_ERR_OK);
        assert_int_equal(w[i].done, STEADY_TXS);
    }
    int64_t n = 0;
    struct coop_conn *c;
    assert_int_equal(coop_store_acquire(s, &c), COOP_ERR_OK);
    assert_int_equal(coop_conn_query_int(c, "SELECT SUM(n) FROM blobs", COOP_NOPARAMS, &n),
                     COOP_ERR_OK);
    coop_store_release(s, c);
    assert_int_equal(n, 2 * STEADY_TXS * STEADY_ROWS);
    /* SQLite never shrinks the log file (no journal_size_limit): its size
     * is the most the log ever held. A frame is a page and a 24-byte
     * header; the file starts with a 32-byte header. */
    long long wal = file_size(wal_path);
    long long frames = (wal - 32) / (SMALL_PAGE + 24);
    long long written = 2LL * STEADY_TXS * STEADY_ROWS;
    fprintf(stderr, "log file: %lld frames at most, of %lld written\n", frames, written);
    assert_true(written >= 5LL * STEADY_BOUND_FRAMES);
    assert_true(frames > 0);
    assert_true(frames < STEADY_BOUND_FRAMES);
    coop_store_close(s);
}

/* Two stores on one file share it; the last connection's close removes
 * the log, as SQLite does when the last connection to a database closes,
 * and the data is there when the file is opened again. */
static void test_last_close_removes_log(void **state)
{
    struct coop_store *a, *b;
    assert_int_equal(coop_store_open(url, 2, &a), COOP_ERR_OK);
    assert_int_equal(coop_store_open(url, 2, &b), COOP_ERR_OK);
    exec_ok(a, "CREATE TABLE t (id INTEGER PRIMARY KEY)");
    exec_ok(b, "INSERT INTO t (id) VALUES (1)");
    assert_true(file_size(wal_path) > 0);

    coop_store_close(a);
    assert_true(file_size(wal_path) > 0); /* b still has a connection */
    coop_store_close(b);
    assert_int_equal(file_size(wal_path), -1);

    assert_int_equal(coop_store_open(url, 1, &a), COOP_ERR_OK);
    int64_t n = 0;
    struct coop_conn *c;
    assert_int_equal(coop_store_acquire(a, &c), COOP_ERR_OK);
    assert_int_equal(coop_conn_query_int(c, "SELECT COUNT(*) FROM t", COOP_NOPARAMS, &n),
                     COOP_ERR_OK);
    coop_store_release(a, c);
    assert_int_equal(n, 1);
    coop_store_close(a);
    assert_int_equal(file_size(wal_path), -1);
}

/* ---- the writer mutex --------------------------------------------------------------- */

#define WRITERS 4
#define WRITES 60

struct writer {
    struct coop_store *s;
    int index;
    int committed, undone, busy;
    coop_err last;
};

struct bump_ctx {
    struct writer *w;
    bool fail;
};

/* Read, then write what was read plus one: a lost update would show. A
 * failing one writes too, then is rolled back, which must release the
 * writer lock like a commit does. */
static coop_err bump(struct coop_conn *c, void *ctx)
{
    struct bump_ctx *b = ctx;
    int64_t n = 0;
    coop_err err = coop_conn_query_int(c, "SELECT n FROM counter WHERE id = 1", COOP_NOPARAMS, &n);
    if (!err)
        err = coop_conn_exec(c, "UPDATE counter SET n = ? WHERE id = 1",
                             COOP_PARAMS(COOP_PI(n + 1)), NULL);
    if (!err)
        err = coop_conn_exec(c, "INSERT INTO bumps (writer, seen) VALUES (?, ?)",
                             COOP_PARAMS(COOP_PI(b->w->index), COOP_PI(n)), NULL);
    if (!err && b->fail)
        err = COOP_ERR_INVALID;
    return err;
}

static coop_err read_counter(struct coop_conn *c, void *ctx)
{
    int64_t *n = ctx;
    return coop_conn_query_int(c, "SELECT n FROM counter WHERE id = 1", COOP_NOPARAMS, n);
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < WRITES; i++) {
        struct bump_ctx b = {w, i % 5 == 4};
        coop_err err = coop_store_tx(w->s, true, bump, &b);
        if (b.fail && err == COOP_ERR_INVALID) {
            w->undone++;
        } else if (err == COOP_ERR_OK) {
            w->committed++;
        } else {
            if (err == COOP_ERR_BUSY)
                w->busy++;
            w->last = err;
            break;
        }
        /* Readers in between take no writer lock. */
        int64_t n = 0;
        if ((err = coop_store_tx(w->s, false, read_counter, &n)) != COOP_ERR_OK) {
            w->last = err;
            break;
        }
    }
    return NULL;
}

/* Writers on two stores (two pools) on one file: none waits long enough to
 * be told the database is busy, and no update is lost. */
static void test_writers_queue_without_busy(void **state)
{
    struct coop_store *s[2];
    assert_int_equal(coop_store_open(url, 2, &s[0]), COOP_ERR_OK);
    assert_int_equal(coop_store_open(url, 2, &s[1]), COOP_ERR_OK);
    exec_ok(s[0], "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)");
    exec_ok(s[0], "CREATE TABLE bumps (writer INTEGER, seen INTEGER UNIQUE)");
    exec_ok(s[0], "INSERT INTO counter VALUES (1, 0)");
    struct writer w[WRITERS];
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){.s = s[i % 2], .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    int committed = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].busy, 0);
        assert_int_equal(w[i].last, COOP_ERR_OK);
        assert_int_equal(w[i].committed + w[i].undone, WRITES);
        committed += w[i].committed;
    }
    assert_int_equal(committed, WRITERS * WRITES * 4 / 5);
    int64_t n = -1, rows = -1;
    assert_int_equal(coop_store_tx(s[1], false, read_counter, &n), COOP_ERR_OK);
    struct coop_conn *c;
    assert_int_equal(coop_store_acquire(s[1], &c), COOP_ERR_OK);
    assert_int_equal(
        coop_conn_query_int(c, "SELECT COUNT(DISTINCT seen) FROM bumps", COOP_NOPARAMS, &rows),
        COOP_ERR_OK);
    coop_store_release(s[1], c);
    assert_int_equal(n, committed);
    assert_int_equal(rows, committed);
    coop_store_close(s[0]);
    coop_store_close(s[1]);
}

int main(void)
{
    if (coop_core_init())
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_log_copied_into_database, fresh_file, remove_file),
        cmocka_unit_test_setup_teardown(test_log_bounded_under_steady_writes, fresh_file,
                                        remove_file),
        cmocka_unit_test_setup_teardown(test_last_close_removes_log, fresh_file, remove_file),
        cmocka_unit_test_setup_teardown(test_writers_queue_without_busy, fresh_file, remove_file),
    };
    return cmocka_run_group_tests_name("sqlite file", tests, NULL, NULL);
}
