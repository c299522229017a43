/*
 * The store core: picks the backend for a URL, pools its connections, runs
 * transactions with retry on contention, and applies migrations. Callers
 * never reach a backend directly; these wrappers are also where faults can
 * be injected in tests.
 */
#include "coop/store.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct coop_conn {
    const struct coop_store_ops *ops;
    void *impl;
    struct coop_conn *next_free;
};

struct coop_store {
    const struct coop_store_ops *ops;
    char *url;
    pthread_mutex_t lock;
    pthread_cond_t available;
    struct coop_conn *free_list;
    int open_conns;
    int max_conns;
    uint64_t serial;
};

const struct coop_store_ops *const coop_store_backends[] = {
    &coop_store_sqlite,
    &coop_store_postgres,
    NULL,
};

struct coop_param coop_param_text(const char *s)
{
    if (!s)
        return COOP_PNULL;
    return (struct coop_param){.type = COOP_P_TEXT, .v.b = {s, strlen(s)}};
}

int coop_row_columns(const struct coop_row *row)
{
    return row->ops->columns(row->impl);
}

bool coop_row_is_null(const struct coop_row *row, int col)
{
    return row->ops->is_null(row->impl, col);
}

int64_t coop_row_int(const struct coop_row *row, int col)
{
    return row->ops->get_int(row->impl, col);
}

double coop_row_double(const struct coop_row *row, int col)
{
    return row->ops->get_double(row->impl, col);
}

const char *coop_row_text(const struct coop_row *row, int col, size_t *len)
{
    size_t n = 0;
    const char *s = row->ops->get_text(row->impl, col, &n);
    if (len)
        *len = s ? n : 0;
    return s;
}

const void *coop_row_blob(const struct coop_row *row, int col, size_t *len)
{
    size_t n = 0;
    const void *p = row->ops->get_blob(row->impl, col, &n);
    if (len)
        *len = p ? n : 0;
    return p;
}

coop_err coop_store_open(const char *url, int pool_size, struct coop_store **out)
{
    *out = NULL;
    const struct coop_store_ops *ops = NULL;
    for (size_t i = 0; coop_store_backends[i]; i++) {
        if (coop_store_backends[i]->accepts(url)) {
            ops = coop_store_backends[i];
            break;
        }
    }
    if (!ops)
        return COOP_ERR_CONFIG;
    struct coop_store *s = calloc(1, sizeof *s);
    if (!s)
        return COOP_ERR_NOMEM;
    s->ops = ops;
    s->url = strdup(url);
    s->max_conns = ops->max_connections(url, pool_size < 1 ? 1 : pool_size);
    static atomic_uint_fast64_t serials;
    s->serial = atomic_fetch_add(&serials, 1) + 1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->available, NULL);
    if (!s->url) {
        coop_store_close(s);
        return COOP_ERR_NOMEM;
    }
    /* Open one connection now so that a bad URL fails at start. */
    struct coop_conn *c;
    coop_err err = coop_store_acquire(s, &c);
    if (err) {
        coop_store_close(s);
        return err;
    }
    coop_store_release(s, c);
    *out = s;
    return COOP_ERR_OK;
}

void coop_store_close(struct coop_store *store)
{
    if (!store)
        return;
    struct coop_conn *c = store->free_list;
    while (c) {
        struct coop_conn *next = c->next_free;
        store->ops->disconnect(c->impl);
        free(c);
        c = next;
    }
    pthread_mutex_destroy(&store->lock);
    pthread_cond_destroy(&store->available);
    if (store->url) {
        memset(store->url, 0, strlen(store->url));
        free(store->url);
    }
    free(store);
}

enum coop_store_dialect coop_store_dialect(const struct coop_store *store)
{
    return store->ops->dialect;
}

const char *coop_store_backend_name(const struct coop_store *store)
{
    return store->ops->name;
}

uint64_t coop_store_serial(const struct coop_store *store)
{
    return store->serial;
}

coop_err coop_store_acquire(struct coop_store *store, struct coop_conn **out)
{
    pthread_mutex_lock(&store->lock);
    while (!store->free_list && store->open_conns >= store->max_conns)
        pthread_cond_wait(&store->available, &store->lock);
    struct coop_conn *c = store->free_list;
    if (c) {
        store->free_list = c->next_free;
        pthread_mutex_unlock(&store->lock);
        *out = c;
        return COOP_ERR_OK;
    }
    store->open_conns++;
    pthread_mutex_unlock(&store->lock);

    c = calloc(1, sizeof *c);
    coop_err err = c ? store->ops->connect(store->url, &c->impl) : COOP_ERR_NOMEM;
    if (err) {
        free(c);
        pthread_mutex_lock(&store->lock);
        store->open_conns--;
        pthread_cond_signal(&store->available);
        pthread_mutex_unlock(&store->lock);
        return err;
    }
    c->ops = store->ops;
    *out = c;
    return COOP_ERR_OK;
}

/* Closes conn instead of pooling it; the next acquire opens another. */
static void drop(struct coop_store *store, struct coop_conn *conn)
{
    store->ops->disconnect(conn->impl);
    free(conn);
    pthread_mutex_lock(&store->lock);
    store->open_conns--;
    pthread_cond_signal(&store->available);
    pthread_mutex_unlock(&store->lock);
}

void coop_store_release(struct coop_store *store, struct coop_conn *conn)
{
    /* A connection the backend reports broken is dropped, not pooled, so
     * that the next acquire reconnects (a restarted database server). */
    if (store->ops->ping(conn->impl) == COOP_ERR_UNAVAILABLE) {
        drop(store, conn);
        return;
    }
    pthread_mutex_lock(&store->lock);
    conn->next_free = store->free_list;
    store->free_list = conn;
    pthread_cond_signal(&store->available);
    pthread_mutex_unlock(&store->lock);
}

coop_err coop_conn_begin(struct coop_conn *conn, bool write)
{
    return conn->ops->begin(conn->impl, write);
}

coop_err coop_conn_commit(struct coop_conn *conn)
{
    return conn->ops->commit(conn->impl);
}

coop_err coop_conn_rollback(struct coop_conn *conn)
{
    return conn->ops->rollback(conn->impl);
}

coop_err coop_conn_exec(struct coop_conn *conn, const char *sql, const struct coop_param *params,
                        size_t nparams, int64_t *changes)
{
    return conn->ops->exec(conn->impl, sql, params, nparams, changes);
}

coop_err coop_conn_query(struct coop_conn *conn, const char *sql, const struct coop_param *params,
                         size_t nparams, coop_row_fn fn, void *ctx)
{
    return conn->ops->query(conn->impl, sql, params, nparams, fn, ctx);
}

coop_err coop_conn_script(struct coop_conn *conn, const char *sql)
{
    return conn->ops->script(conn->impl, sql);
}

enum coop_store_dialect coop_conn_dialect(const struct coop_conn *conn)
{
    return conn->ops->dialect;
}

static coop_err first_int(void *ctx, const struct coop_row *row)
{
    int64_t *out = ctx;
    *out = coop_row_int(row, 0);
    return COOP_ERR_DUPLICATE; /* stop after the first row */
}

coop_err coop_conn_query_int(struct coop_conn *conn, const char *sql,
                             const struct coop_param *params, size_t nparams, int64_t *out)
{
    coop_err err = coop_conn_query(conn, sql, params, nparams, first_int, out);
    if (err == COOP_ERR_DUPLICATE)
        return COOP_ERR_OK;
    return err ? err : COOP_ERR_NOT_FOUND;
}

/* A transaction that reports COOP_ERR_BUSY (SQLite's lock wait ran out,
 * a PostgreSQL serialization failure or deadlock) runs again, this often. */
#define STORE_TX_ATTEMPTS 16

/* Between 1/2 and 1 of 2^attempt ms (at most 128 ms): the jitter keeps
 * writers that conflicted together from retrying together. */
static void backoff(int attempt)
{
    long ceiling = 1000000L << (attempt < 7 ? attempt : 7);
    long ns = ceiling / 2 + (long)(randombytes_uniform((uint32_t)(ceiling / 2)));
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* Begins c's transaction; lazy relaxes its commit's wait for the disk. */
static coop_err begin(struct coop_conn *c, bool write, bool lazy)
{
    bool sqlite = coop_conn_dialect(c) == COOP_STORE_SQLITE;
    coop_err err = COOP_ERR_OK;
    if (lazy && sqlite)
        err = coop_conn_exec(c, "PRAGMA synchronous=NORMAL", COOP_NOPARAMS, NULL);
    if (!err)
        err = coop_conn_begin(c, write);
    if (!err && lazy && !sqlite)
        err = coop_conn_exec(c, "SET LOCAL synchronous_commit = off", COOP_NOPARAMS, NULL);
    return err;
}

static coop_err run_tx(struct coop_store *store, bool write, bool lazy, coop_tx_fn fn, void *ctx)
{
    coop_err err = COOP_ERR_BUSY;
    for (int attempt = 0; attempt < STORE_TX_ATTEMPTS && err == COOP_ERR_BUSY; attempt++) {
        struct coop_conn *c;
        if (attempt)
            backoff(attempt);
        if ((err = coop_store_acquire(store, &c)))
            return err;
        err = begin(c, write, lazy);
        if (!err) {
            err = fn(c, ctx);
            if (!err)
                err = coop_conn_commit(c);
            if (err)
                coop_conn_rollback(c);
        }
        /* The connection goes back to the pool as durable as it came, or
         * not at all. */
        if (lazy && coop_conn_dialect(c) == COOP_STORE_SQLITE &&
            coop_conn_exec(c, "PRAGMA synchronous=FULL", COOP_NOPARAMS, NULL))
            drop(store, c);
        else
            coop_store_release(store, c);
    }
    return err;
}

coop_err coop_store_tx(struct coop_store *store, bool write, coop_tx_fn fn, void *ctx)
{
    return run_tx(store, write, false, fn, ctx);
}

coop_err coop_store_tx_lazy(struct coop_store *store, coop_tx_fn fn, void *ctx)
{
    return run_tx(store, true, true, fn, ctx);
}

coop_err coop_store_exec(struct coop_store *store, const char *sql, const struct coop_param *params,
                         size_t nparams, int64_t *changes)
{
    struct coop_conn *c;
    coop_err err = coop_store_acquire(store, &c);
    if (err)
        return err;
    err = coop_conn_exec(c, sql, params, nparams, changes);
    coop_store_release(store, c);
    return err;
}

coop_err coop_store_query(struct coop_store *store, const char *sql,
                          const struct coop_param *params, size_t nparams, coop_row_fn fn,
                          void *ctx)
{
    struct coop_conn *c;
    coop_err err = coop_store_acquire(store, &c);
    if (err)
        return err;
    err = coop_conn_query(c, sql, params, nparams, fn, ctx);
    coop_store_release(store, c);
    return err;
}

coop_err coop_store_ping(struct coop_store *store)
{
    struct coop_conn *c;
    coop_err err = coop_store_acquire(store, &c);
    if (err)
        return err;
    err = store->ops->ping(c->impl);
    if (!err)
        err = coop_conn_exec(c, "SELECT 1", COOP_NOPARAMS, NULL);
    coop_store_release(store, c);
    return err;
}

/* ---- notifications --------------------------------------------------------- */

struct coop_store_listener {
    struct coop_store *store;
    char channel[64];
    void *impl; /* NULL while disconnected */
};

static bool channel_valid(const char *channel)
{
    size_t n = channel ? strlen(channel) : 0;
    if (n == 0 || n >= 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = channel[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
            return false;
    }
    return true;
}

coop_err coop_store_listen(struct coop_store *store, const char *channel,
                           struct coop_store_listener **out)
{
    *out = NULL;
    if (!channel_valid(channel))
        return COOP_ERR_INVALID;
    if (!store->ops->listen)
        return COOP_ERR_UNAVAILABLE;
    struct coop_store_listener *l = calloc(1, sizeof *l);
    if (!l)
        return COOP_ERR_NOMEM;
    l->store = store;
    memcpy(l->channel, channel, strlen(channel) + 1);
    coop_err err = store->ops->listen(store->url, channel, &l->impl);
    if (err) {
        free(l);
        return err;
    }
    *out = l;
    return COOP_ERR_OK;
}

coop_err coop_store_listener_wait(struct coop_store_listener *l, int timeout_ms)
{
    const struct coop_store_ops *ops = l->store->ops;
    if (!l->impl) {
        coop_err err = ops->listen(l->store->url, l->channel, &l->impl);
        if (err) {
            l->impl = NULL;
            struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            return err;
        }
        return COOP_ERR_OK; /* back: what was sent meanwhile is lost */
    }
    coop_err err = ops->wait(l->impl, timeout_ms);
    if (err == COOP_ERR_UNAVAILABLE) {
        ops->unlisten(l->impl);
        l->impl = NULL;
    }
    return err;
}

void coop_store_listener_free(struct coop_store_listener *l)
{
    if (!l)
        return;
    if (l->impl)
        l->store->ops->unlisten(l->impl);
    free(l);
}

coop_err coop_conn_notify(struct coop_conn *conn, const char *channel)
{
    if (!channel_valid(channel))
        return COOP_ERR_INVALID;
    return conn->ops->notify ? conn->ops->notify(conn->impl, channel) : COOP_ERR_OK;
}
