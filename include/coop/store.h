/*
 * store: everything persistent goes through here.
 *
 * A backend (SQLite, PostgreSQL) is a `const struct coop_store_ops` that
 * knows how to open one connection and run SQL on it; the store core keeps
 * a pool of those connections, applies migrations, and offers transactions.
 * Modules write portable SQL with `?` placeholders (the PostgreSQL backend
 * numbers them) and branch on coop_store_dialect() only where the two
 * engines truly differ (job claiming, for example).
 *
 * Thread safety: a struct coop_store is shared by all threads; a struct
 * coop_conn belongs to one thread between acquire and release.
 */
#ifndef COOP_STORE_H
#define COOP_STORE_H

#include "coop/core.h"

enum coop_store_dialect {
    COOP_STORE_SQLITE,
    COOP_STORE_POSTGRES,
};

/* ---- parameters and rows ----------------------------------------------- */

enum coop_param_type {
    COOP_P_NULL,
    COOP_P_INT,
    COOP_P_DOUBLE,
    COOP_P_TEXT,
    COOP_P_BLOB,
};

struct coop_param {
    enum coop_param_type type;
    union {
        int64_t i;
        double d;
        struct {
            const void *p;
            size_t n;
        } b;
    } v;
};

#define COOP_PNULL ((struct coop_param){.type = COOP_P_NULL})
#define COOP_PI(x) ((struct coop_param){.type = COOP_P_INT, .v.i = (int64_t)(x)})
#define COOP_PD(x) ((struct coop_param){.type = COOP_P_DOUBLE, .v.d = (double)(x)})
/* A NUL-terminated string; NULL binds SQL NULL. */
#define COOP_PT(s) coop_param_text(s)
#define COOP_PTN(s, n) ((struct coop_param){.type = COOP_P_TEXT, .v.b = {(s), (n)}})
#define COOP_PB(p, n) ((struct coop_param){.type = COOP_P_BLOB, .v.b = {(p), (n)}})
struct coop_param coop_param_text(const char *s);

/* Builds the (params, count) pair from a list: COOP_PARAMS(COOP_PI(1), COOP_PT(s)). */
#define COOP_PARAMS(...)                                                                           \
    (const struct coop_param[]){__VA_ARGS__},                                                      \
        sizeof((const struct coop_param[]){__VA_ARGS__}) / sizeof(struct coop_param)
#define COOP_NOPARAMS NULL, 0

struct coop_row_ops {
    int (*columns)(void *impl);
    bool (*is_null)(void *impl, int col);
    int64_t (*get_int)(void *impl, int col);
    double (*get_double)(void *impl, int col);
    /* Text and blobs stay valid until the row callback returns. */
    const char *(*get_text)(void *impl, int col, size_t *len);
    const void *(*get_blob)(void *impl, int col, size_t *len);
};

struct coop_row {
    const struct coop_row_ops *ops;
    void *impl;
};

int coop_row_columns(const struct coop_row *row);
bool coop_row_is_null(const struct coop_row *row, int col);
int64_t coop_row_int(const struct coop_row *row, int col);
double coop_row_double(const struct coop_row *row, int col);
/* NULL for SQL NULL; len (may be NULL) gets the byte length. */
const char *coop_row_text(const struct coop_row *row, int col, size_t *len /* OUT */);
const void *coop_row_blob(const struct coop_row *row, int col, size_t *len /* OUT */);

/* Called once per row; anything but COOP_ERR_OK stops the query and is
 * returned by it. */
typedef coop_err (*coop_row_fn)(void *ctx, const struct coop_row *row);

/* ---- backends ---------------------------------------------------------- */

/*
 * A backend works on single connections; pooling, retries and migrations
 * are the core's. Every function returns a coop_err and writes no secret
 * (the URL may hold a password) anywhere.
 */
struct coop_store_ops {
    int version; /* 1 */
    const char *name;
    enum coop_store_dialect dialect;
    /* True when this backend handles the URL. */
    bool (*accepts)(const char *url);
    /* How many connections the pool may open for this URL (SQLite's
     * :memory: database exists once per connection, so it answers 1). */
    int (*max_connections)(const char *url, int wanted);
    coop_err (*connect)(const char *url, void **conn /* OUT */);
    void (*disconnect)(void *conn);
    coop_err (*begin)(void *conn, bool write);
    coop_err (*commit)(void *conn);
    coop_err (*rollback)(void *conn);
    coop_err (*exec)(void *conn, const char *sql, const struct coop_param *params, size_t nparams,
                     int64_t *changes /* OUT, may be NULL */);
    coop_err (*query)(void *conn, const char *sql, const struct coop_param *params, size_t nparams,
                      coop_row_fn fn, void *ctx);
    /* Several statements without parameters (migrations). */
    coop_err (*script)(void *conn, const char *sql);
    /* Cheap liveness check; a broken connection answers COOP_ERR_UNAVAILABLE. */
    coop_err (*ping)(void *conn);
    /* Optional (NULL where the engine has no notifications): a connection
     * of its own listening on channel; waiting on it answers COOP_ERR_OK
     * when a notification came, COOP_ERR_TIMEOUT when none did, and
     * COOP_ERR_UNAVAILABLE when the connection is lost. */
    coop_err (*listen)(const char *url, const char *channel, void **listener /* OUT */);
    coop_err (*wait)(void *listener, int timeout_ms);
    void (*unlisten)(void *listener);
    /* Optional: inside a transaction, signal channel's listeners at commit. */
    coop_err (*notify)(void *conn, const char *channel);
};

extern const struct coop_store_ops coop_store_sqlite;
extern const struct coop_store_ops coop_store_postgres;
/* NULL-terminated list of the backends built in. */
extern const struct coop_store_ops *const coop_store_backends[];

/* ---- migrations -------------------------------------------------------- */

/*
 * A schema step, identified by "<module>.<nnn>"; applied once, in list
 * order, inside a transaction, and recorded in coop_migrations. Each
 * module exports a list ended by an entry whose id is NULL.
 */
struct coop_migration {
    const char *id;
    const char *sqlite;
    const char *postgres;
};

/* ---- the store --------------------------------------------------------- */

struct coop_store;
struct coop_conn;

/*
 * Opens a store for url ("sqlite:PATH", "memory", "postgresql://...") with
 * at most pool_size connections. The store does not migrate by itself.
 */
coop_err coop_store_open(const char *url, int pool_size, struct coop_store **out /* OUT */);
void coop_store_close(struct coop_store *store);
enum coop_store_dialect coop_store_dialect(const struct coop_store *store);
const char *coop_store_backend_name(const struct coop_store *store);
/* A number no other store opened by this process shares (even one opened
 * after this one is closed), for in-memory caches keyed by store. */
uint64_t coop_store_serial(const struct coop_store *store);

/* Applies every migration not yet applied; *applied (may be NULL) counts them. */
coop_err coop_store_migrate(struct coop_store *store, int *applied /* OUT */);
/* The schema of all modules, in order; defined in src/store/schema.c. */
extern const struct coop_migration *const coop_schema[];

/* Borrow a connection (waits while all are in use); give it back after. */
coop_err coop_store_acquire(struct coop_store *store, struct coop_conn **out /* OUT */);
void coop_store_release(struct coop_store *store, struct coop_conn *conn);

coop_err coop_conn_begin(struct coop_conn *conn, bool write);
coop_err coop_conn_commit(struct coop_conn *conn);
coop_err coop_conn_rollback(struct coop_conn *conn);
coop_err coop_conn_exec(struct coop_conn *conn, const char *sql, const struct coop_param *params,
                        size_t nparams, int64_t *changes /* OUT, may be NULL */);
coop_err coop_conn_query(struct coop_conn *conn, const char *sql, const struct coop_param *params,
                         size_t nparams, coop_row_fn fn, void *ctx);
/* Several statements without parameters (used by migrations). */
coop_err coop_conn_script(struct coop_conn *conn, const char *sql);
enum coop_store_dialect coop_conn_dialect(const struct coop_conn *conn);

/*
 * Runs fn inside one transaction on a pooled connection: commit when fn
 * returns COOP_ERR_OK, rollback otherwise. A transaction that fails with
 * COOP_ERR_BUSY (lock contention, serialization failure) is retried a few
 * times, so fn must be safe to run again.
 */
typedef coop_err (*coop_tx_fn)(struct coop_conn *conn, void *ctx);
coop_err coop_store_tx(struct coop_store *store, bool write, coop_tx_fn fn, void *ctx);

/*
 * A write transaction like coop_store_tx's whose commit does not wait for
 * the disk: a power failure (or a crash of the PostgreSQL server) soon
 * after may undo it, whole, but never part of it, and never an earlier
 * transaction. For work that is simply done again when undone, such as a
 * job whose completion is written in the same transaction as its effects.
 * SQLite commits it with synchronous=NORMAL (the write-ahead log reaches
 * the disk with the next durable commit or checkpoint); PostgreSQL with
 * synchronous_commit off.
 */
coop_err coop_store_tx_lazy(struct coop_store *store, coop_tx_fn fn, void *ctx);

/* One statement on a pooled connection, outside any explicit transaction. */
coop_err coop_store_exec(struct coop_store *store, const char *sql, const struct coop_param *params,
                         size_t nparams, int64_t *changes /* OUT, may be NULL */);
coop_err coop_store_query(struct coop_store *store, const char *sql,
                          const struct coop_param *params, size_t nparams, coop_row_fn fn,
                          void *ctx);

/* Convenience: the first column of the first row as an integer;
 * COOP_ERR_NOT_FOUND when there is no row. */
coop_err coop_conn_query_int(struct coop_conn *conn, const char *sql,
                             const struct coop_param *params, size_t nparams,
                             int64_t *out /* OUT */);

/* ---- notifications across processes ----------------------------------- */

/*
 * What lets several coopd instances on one PostgreSQL wake each other (a
 * job enqueued by one is run at once by an idle worker of another). On
 * SQLite, which is one process, these do nothing: notify succeeds and
 * coop_store_listen answers COOP_ERR_UNAVAILABLE.
 *
 * channel is an identifier: lowercase letters, digits and '_'.
 */
struct coop_store_listener;

coop_err coop_store_listen(struct coop_store *store, const char *channel,
                           struct coop_store_listener **out /* OUT */);
/* Waits up to timeout_ms: COOP_ERR_OK when notified (or when the listening
 * connection was re-established, since notifications may have been
 * missed), COOP_ERR_TIMEOUT otherwise. Other errors: the server is away;
 * the next call tries again. */
coop_err coop_store_listener_wait(struct coop_store_listener *l, int timeout_ms);
void coop_store_listener_free(struct coop_store_listener *l);
/* Inside a write transaction on conn: listeners of channel are notified
 * when it commits, and not at all if it rolls back. */
coop_err coop_conn_notify(struct coop_conn *conn, const char *channel);

/* COOP_ERR_OK when a connection can be had and answers. */
coop_err coop_store_ping(struct coop_store *store);

#endif
