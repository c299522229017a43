/*
 * The SQLite backend: the embedded default. One sqlite3 handle per pooled
 * connection, WAL journal with synchronous=FULL (a committed transaction
 * survives power loss), a busy timeout, and a per-connection cache of
 * prepared statements keyed by SQL text.
 *
 * Writers of one process queue on a mutex per database file before they
 * ask SQLite for its write lock. SQLite's own wait for a busy lock polls,
 * sleeping 1, 2, 5, 10 ms and more between tries, so a writer that arrives
 * while another holds the lock would lose milliseconds after the lock is
 * free; the mutex hands the lock over at once. The busy timeout still
 * covers writers in other processes (coopd import, migrate, the CLI).
 *
 * Checkpoints are SQLite's own: the connection whose commit takes the
 * write-ahead log past 1,000 pages copies it into the database before its
 * commit returns, still holding the writer mutex, so the copy completes
 * and the log starts over. A checkpointer thread copying while writers go
 * on was measured and not kept: its passes and the short pass under the
 * writer lock that a restart of the log needs made commits stall behind
 * the database file's fsync, and the webhook acknowledgement p99 at 3,000
 * deliveries/s went from 17 to 38 ms (docs/benchmarks.md).
 *
 * URLs: "sqlite:PATH" for a file, "memory" for a private in-memory
 * database (one connection, since each :memory: handle is its own database).
 */
#include "coop/store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STMT_CACHE 128
#define BUSY_TIMEOUT_MS 10000

struct cached_stmt {
    const char *sql; /* owned copy */
    uint64_t hash;
    sqlite3_stmt *stmt;
};

/* The in-process writer lock of one database file. Entries live as long
 * as the process: a process opens few database files. */
struct writer_lock {
    char *path;
    pthread_mutex_t mutex;
    struct writer_lock *next;
};

static pthread_mutex_t writer_locks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct writer_lock *writer_locks;

struct sqlite_conn {
    sqlite3 *db;
    struct writer_lock *writer; /* NULL for a private in-memory database */
    bool holds_writer;
    struct cached_stmt cache[STMT_CACHE];
    int ncached;
    bool in_tx;
};

/* The lock of the file SQLite opened for db, by its full path, so that two
 * spellings of one path share it. */
static struct writer_lock *writer_lock_for(sqlite3 *db)
{
    const char *path = sqlite3_db_filename(db, "main");
    if (!path || !*path)
        return NULL;
    pthread_mutex_lock(&writer_locks_lock);
    struct writer_lock *w = writer_locks;
    while (w && strcmp(w->path, path) != 0)
        w = w->next;
    if (!w && (w = calloc(1, sizeof *w)) != NULL) {
        w->path = strdup(path);
        if (!w->path) {
            free(w);
            w = NULL;
        } else {
            pthread_mutex_init(&w->mutex, NULL);
            w->next = writer_locks;
            writer_locks = w;
        }
    }
    pthread_mutex_unlock(&writer_locks_lock);
    return w;
}

/* Waits at most the busy timeout for this process's other writers. */
static coop_err writer_acquire(struct sqlite_conn *c)
{
    if (!c->writer)
        return COOP_ERR_OK;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += BUSY_TIMEOUT_MS / 1000;
    int rc = pthread_mutex_timedlock(&c->writer->mutex, &until);
    if (rc == ETIMEDOUT)
        return COOP_ERR_BUSY;
    if (rc != 0)
        return COOP_ERR_INTERNAL;
    c->holds_writer = true;
    return COOP_ERR_OK;
}

static void writer_release(struct sqlite_conn *c)
{
    if (c->holds_writer) {
        c->holds_writer = false;
        pthread_mutex_unlock(&c->writer->mutex);
    }
}

static bool sq_accepts(const char *url)
{
    return strncmp(url, "sqlite:", 7) == 0 || strcmp(url, "memory") == 0;
}

static int sq_max_connections(const char *url, int wanted)
{
    return strcmp(url, "memory") == 0 ? 1 : wanted;
}

static coop_err map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return COOP_ERR_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return COOP_ERR_BUSY;
    case SQLITE_CONSTRAINT:
        return COOP_ERR_CONFLICT;
    case SQLITE_NOMEM:
        return COOP_ERR_NOMEM;
    case SQLITE_TOOBIG:
        return COOP_ERR_TOO_LARGE;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
        return COOP_ERR_IO;
    default:
        return COOP_ERR_STORE;
    }
}

static void log_failure(struct sqlite_conn *c, int rc, const char *what)
{
    /* SQLite's message describes the statement, never bound values. */
    coop_log_warn("sqlite error", COOP_F_STR("op", what), COOP_F_INT("rc", rc),
                  COOP_F_STR("detail", c->db ? sqlite3_errmsg(c->db) : ""));
}

static coop_err sq_script(void *conn, const char *sql)
{
    struct sqlite_conn *c = conn;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        log_failure(c, rc, "script");
    return map_rc(rc);
}

static void sq_disconnect(void *conn)
{
    struct sqlite_conn *c = conn;
    if (!c)
        return;
    writer_release(c);
    for (int i = 0; i < c->ncached; i++) {
        sqlite3_finalize(c->cache[i].stmt);
        free((char *)c->cache[i].sql);
    }
    sqlite3_close_v2(c->db);
    free(c);
}

/* Debian's SQLite keeps memory statistics, which puts one process-wide
 * mutex around every allocation it makes: the pooled connections of the
 * HTTP threads then contend on it for each query. Nothing here reads those
 * statistics. The setting only takes before SQLite initializes; if another
 * part of the process initialized it first, it stays as it was. */
static void configure_once(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    (void)sqlite3_initialize();
}

static coop_err sq_connect(const char *url, void **out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, configure_once);
    struct sqlite_conn *c = calloc(1, sizeof *c);
    if (!c)
        return COOP_ERR_NOMEM;
    const char *path = strcmp(url, "memory") == 0 ? ":memory:" : url + 7;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        coop_log_error("sqlite open failed", COOP_F_INT("rc", rc));
        sq_disconnect(c);
        return COOP_ERR_IO;
    }
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(c->db, 1);
    c->writer = writer_lock_for(c->db);
    coop_err err = sq_script(c, "PRAGMA journal_mode=WAL;"
                                "PRAGMA synchronous=FULL;"
                                "PRAGMA foreign_keys=ON;"
                                "PRAGMA temp_store=MEMORY;"
                                "PRAGMA cache_size=-16000;");
    if (err) {
        sq_disconnect(c);
        return err;
    }
    *out = c;
    return COOP_ERR_OK;
}

static uint64_t hash_sql(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* A prepared statement for sql, from the cache when possible. *transient
 * is set when the cache is full and the caller must finalize it. */
static coop_err prepare(struct sqlite_conn *c, const char *sql, sqlite3_stmt **out, bool *transient)
{
    uint64_t h = hash_sql(sql);
    *transient = false;
    for (int i = 0; i < c->ncached; i++) {
        if (c->cache[i].hash == h && strcmp(c->cache[i].sql, sql) == 0) {
            *out = c->cache[i].stmt;
            return COOP_ERR_OK;
        }
    }
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        log_failure(c, rc, "prepare");
        return map_rc(rc) == COOP_ERR_BUSY ? COOP_ERR_BUSY : COOP_ERR_STORE;
    }
    if (c->ncached < STMT_CACHE) {
        char *copy = strdup(sql);
        if (copy) {
            c->cache[c->ncached++] = (struct cached_stmt){copy, h, st};
            *out = st;
            return COOP_ERR_OK;
        }
    }
    *transient = true;
    *out = st;
    return COOP_ERR_OK;
}

static coop_err bind(struct sqlite_conn *c, sqlite3_stmt *st, const struct coop_param *p, size_t n)
{
    if ((int)n != sqlite3_bind_parameter_count(st))
        return COOP_ERR_INVALID;
    for (size_t i = 0; i < n; i++) {
        int col = (int)i + 1, rc = SQLITE_OK;
        switch (p[i].type) {
        case COOP_P_NULL:
            rc = sqlite3_bind_null(st, col);
            break;
        case COOP_P_INT:
            rc = sqlite3_bind_int64(st, col, p[i].v.i);
            break;
        case COOP_P_DOUBLE:
            rc = sqlite3_bind_double(st, col, p[i].v.d);
            break;
        case COOP_P_TEXT:
            rc = sqlite3_bind_text64(st, col, p[i].v.b.p ? p[i].v.b.p : "", p[i].v.b.n,
                                     SQLITE_STATIC, SQLITE_UTF8);
            break;
        case COOP_P_BLOB:
            rc = sqlite3_bind_blob64(st, col, p[i].v.b.p ? p[i].v.b.p : "", p[i].v.b.n,
                                     SQLITE_STATIC);
            break;
        }
        if (rc != SQLITE_OK) {
            log_failure(c, rc, "bind");
            return map_rc(rc);
        }
    }
    return COOP_ERR_OK;
}

static int row_columns(void *impl)
{
    return sqlite3_column_count(impl);
}

static bool row_is_null(void *impl, int col)
{
    return sqlite3_column_type(impl, col) == SQLITE_NULL;
}

static int64_t row_int(void *impl, int col)
{
    return sqlite3_column_int64(impl, col);
}

static double row_double(void *impl, int col)
{
    return sqlite3_column_double(impl, col);
}

static const char *row_text(void *impl, int col, size_t *len)
{
    if (sqlite3_column_type(impl, col) == SQLITE_NULL)
        return NULL;
    const char *s = (const char *)sqlite3_column_text(impl, col);
    *len = (size_t)sqlite3_column_bytes(impl, col);
    return s;
}

static const void *row_blob(void *impl, int col, size_t *len)
{
    if (sqlite3_column_type(impl, col) == SQLITE_NULL)
        return NULL;
    const void *p = sqlite3_column_blob(impl, col);
    *len = (size_t)sqlite3_column_bytes(impl, col);
    return p ? p : "";
}

static const struct coop_row_ops sqlite_row_ops = {
    .columns = row_columns,
    .is_null = row_is_null,
    .get_int = row_int,
    .get_double = row_double,
    .get_text = row_text,
    .get_blob = row_blob,
};

static coop_err run(struct sqlite_conn *c, const char *sql, const struct coop_param *params,
                    size_t nparams, coop_row_fn fn, void *ctx, int64_t *changes)
{
    sqlite3_stmt *st;
    bool transient;
    coop_err err = prepare(c, sql, &st, &transient);
    if (err)
        return err;
    err = bind(c, st, params, nparams);
    struct coop_row row = {&sqlite_row_ops, st};
    while (!err) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            if ((rc & 0xff) != SQLITE_CONSTRAINT)
                log_failure(c, rc, "step");
            err = map_rc(rc);
            break;
        }
        if (fn)
            err = fn(ctx, &row);
    }
    if (changes && !err)
        *changes = sqlite3_changes64(c->db);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (transient)
        sqlite3_finalize(st);
    return err;
}

static coop_err sq_exec(void *conn, const char *sql, const struct coop_param *params,
                        size_t nparams, int64_t *changes)
{
    return run(conn, sql, params, nparams, NULL, NULL, changes);
}

static coop_err sq_query(void *conn, const char *sql, const struct coop_param *params,
                         size_t nparams, coop_row_fn fn, void *ctx)
{
    return run(conn, sql, params, nparams, fn, ctx, NULL);
}

static coop_err sq_begin(void *conn, bool write)
{
    struct sqlite_conn *c = conn;
    coop_err err = write ? writer_acquire(c) : COOP_ERR_OK;
    if (err)
        return err;
    /* IMMEDIATE takes the write lock up front, so two writers never
     * deadlock upgrading read locks; other processes' writers are queued
     * by the busy timeout. */
    err = sq_exec(c, write ? "BEGIN IMMEDIATE" : "BEGIN", COOP_NOPARAMS, NULL);
    c->in_tx = !err;
    if (err)
        writer_release(c);
    return err;
}

static coop_err sq_commit(void *conn)
{
    struct sqlite_conn *c = conn;
    coop_err err = sq_exec(c, "COMMIT", COOP_NOPARAMS, NULL);
    if (!err) {
        c->in_tx = false;
        writer_release(c);
    }
    return err;
}

static coop_err sq_rollback(void *conn)
{
    struct sqlite_conn *c = conn;
    if (sqlite3_get_autocommit(c->db)) {
        c->in_tx = false;
        writer_release(c);
        return COOP_ERR_OK;
    }
    coop_err err = sq_exec(c, "ROLLBACK", COOP_NOPARAMS, NULL);
    c->in_tx = false;
    writer_release(c);
    return err;
}

static coop_err sq_ping(void *conn)
{
    struct sqlite_conn *c = conn;
    return c && c->db ? COOP_ERR_OK : COOP_ERR_UNAVAILABLE;
}

const struct coop_store_ops coop_store_sqlite = {
    .version = 1,
    .name = "sqlite",
    .dialect = COOP_STORE_SQLITE,
    .accepts = sq_accepts,
    .max_connections = sq_max_connections,
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .exec = sq_exec,
    .query = sq_query,
    .script = sq_script,
    .ping = sq_ping,
};
