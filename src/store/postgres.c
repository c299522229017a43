/*
 * The PostgreSQL backend: what lets several coopd instances share one
 * database. One libpq connection per pooled connection; every statement is
 * prepared once per connection (cache keyed by SQL text and parameter
 * types) after its `?` placeholders are numbered $1..$n.
 *
 * Parameters travel in binary with explicit types (text, int8, float8,
 * bytea), so no value is ever formatted into SQL text. Results come back as
 * text and are converted on access (bytea is unescaped on demand).
 *
 * Write transactions are SERIALIZABLE: modules are written against SQLite,
 * where writers are serialized, and SERIALIZABLE keeps that guarantee with
 * conflicts reported as serialization failures, which the store core
 * retries (COOP_ERR_BUSY). Read transactions are REPEATABLE READ, one
 * snapshot like SQLite's.
 *
 * A connection the server dropped (restart, idle kill) is reset before the
 * next transaction or autocommit statement; one lost in the middle of a
 * transaction reports COOP_ERR_UNAVAILABLE, and ping then tells the pool to
 * drop it. Nothing logged here holds the connection URL or a bound value.
 */
#include "coop/store.h"

#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STMT_CACHE 128
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25
#define OID_FLOAT8 701

struct cached_stmt {
    char *key; /* SQL text, NUL, parameter type letters */
    size_t key_len;
    uint64_t hash;
    char name[16];
};

struct pg_conn {
    PGconn *db;
    struct cached_stmt cache[STMT_CACHE];
    int ncached;
    unsigned next_name;
    bool in_tx;  /* between our BEGIN and COMMIT/ROLLBACK */
    bool broken; /* the server side is gone; reset before reuse */
};

/* ---- URLs and error mapping ------------------------------------------------ */

static bool pg_accepts(const char *url)
{
    return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

static int pg_max_connections(const char *url, int wanted)
{
    (void)url;
    return wanted;
}

static bool sqlstate_is(const char *state, const char *want)
{
    return state && strncmp(state, want, strlen(want)) == 0;
}

static coop_err map_sqlstate(const char *state)
{
    if (!state)
        return COOP_ERR_STORE;
    if (sqlstate_is(state, "40001") || sqlstate_is(state, "40P01") || sqlstate_is(state, "55P03"))
        return COOP_ERR_BUSY;
    if (sqlstate_is(state, "23"))
        return COOP_ERR_CONFLICT;
    if (sqlstate_is(state, "08") || sqlstate_is(state, "57P01") || sqlstate_is(state, "57P02") ||
        sqlstate_is(state, "57P03") || sqlstate_is(state, "53300"))
        return COOP_ERR_UNAVAILABLE;
    if (sqlstate_is(state, "57014"))
        return COOP_ERR_TIMEOUT;
    if (sqlstate_is(state, "53200"))
        return COOP_ERR_NOMEM;
    if (sqlstate_is(state, "54") || sqlstate_is(state, "22001"))
        return COOP_ERR_TOO_LARGE;
    if (sqlstate_is(state, "53"))
        return COOP_ERR_IO;
    if (sqlstate_is(state, "22"))
        return COOP_ERR_INVALID;
    return COOP_ERR_STORE;
}

/*
 * Maps a failed result (res may be NULL) to a coop_err and logs it. Only
 * the SQLSTATE, the constraint name and the primary message are logged,
 * never DETAIL (it quotes key values); for data errors (class 22), whose
 * primary message quotes the offending value, only the SQLSTATE.
 */
static coop_err fail(struct pg_conn *c, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    bool lost = PQstatus(c->db) != CONNECTION_OK;
    coop_err err = lost ? COOP_ERR_UNAVAILABLE : map_sqlstate(state);
    if (err == COOP_ERR_UNAVAILABLE)
        c->broken = true;
    if (err == COOP_ERR_CONFLICT || err == COOP_ERR_BUSY) {
        const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
        coop_log_debug("postgresql conflict", COOP_F_STR("op", what),
                       COOP_F_STR("sqlstate", state ? state : ""),
                       COOP_F_STR("constraint", constraint ? constraint : ""));
        return err;
    }
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg || sqlstate_is(state, "22"))
        msg = "";
    coop_log_warn("postgresql error", COOP_F_STR("op", what),
                  COOP_F_STR("sqlstate", state ? state : ""), COOP_F_STR("detail", msg),
                  COOP_F_BOOL("connection_lost", lost));
    return err;
}

/* ---- connections ------------------------------------------------------------ */

static void clear_cache(struct pg_conn *c)
{
    for (int i = 0; i < c->ncached; i++)
        free(c->cache[i].key);
    c->ncached = 0;
}

static void pg_disconnect(void *conn)
{
    struct pg_conn *c = conn;
    if (!c)
        return;
    clear_cache(c);
    if (c->db)
        PQfinish(c->db);
    free(c);
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* NOTICEs ("relation already exists, skipping") are noise */
}

/* Session settings every connection gets, after connecting and resetting. */
static coop_err setup_session(struct pg_conn *c)
{
    PQsetNoticeProcessor(c->db, ignore_notice, NULL);
    PGresult *res = PQexec(c->db, "SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC'");
    coop_err err = PQresultStatus(res) == PGRES_COMMAND_OK ? COOP_ERR_OK : fail(c, res, "setup");
    PQclear(res);
    return err;
}

/*
 * libpq's connection errors can quote the URL (a malformed one is echoed),
 * so the password is registered with the log's redaction and the message
 * is logged only when it does not contain it.
 */
static bool password_in(const char *url, const char *message)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    PQfreemem(perr);
    if (!opts)
        return true; /* cannot tell: assume the worst */
    bool found = false;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val) {
            coop_log_register_secret(o->val);
            found = message && strstr(message, o->val);
        }
    }
    PQconninfoFree(opts);
    return found;
}

static void log_connect_failure(const char *url, const char *message)
{
    bool safe = !password_in(url, message);
    char detail[256] = "";
    if (safe && message) {
        coop_strlcpy(detail, message, sizeof detail);
        detail[strcspn(detail, "\r\n")] = '\0';
    }
    coop_log_error("postgresql connection failed",
                   COOP_F_STR("detail", safe ? detail : "invalid connection URL"));
}

static coop_err pg_connect(const char *url, void **out)
{
    *out = NULL;
    struct pg_conn *c = calloc(1, sizeof *c);
    if (!c)
        return COOP_ERR_NOMEM;
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    PQfreemem(perr);
    if (!opts) {
        log_connect_failure(url, NULL);
        free(c);
        return COOP_ERR_CONFIG;
    }
    PQconninfoFree(opts);
    password_in(url, NULL); /* registers it with the log's redaction */
    c->db = PQconnectdb(url);
    if (!c->db) {
        free(c);
        return COOP_ERR_NOMEM;
    }
    if (PQstatus(c->db) != CONNECTION_OK) {
        log_connect_failure(url, PQerrorMessage(c->db));
        pg_disconnect(c);
        return COOP_ERR_UNAVAILABLE;
    }
    coop_err err = setup_session(c);
    if (err) {
        pg_disconnect(c);
        return err;
    }
    *out = c;
    return COOP_ERR_OK;
}

/*
 * Before a statement that starts a unit of work (BEGIN, or one outside any
 * transaction): notice a connection the server has closed since its last
 * use, and reconnect it. Nothing was in flight, so nothing is lost.
 */
static coop_err revive(struct pg_conn *c)
{
    if (c->in_tx) /* a transaction cannot survive a reconnect */
        return c->broken || PQstatus(c->db) != CONNECTION_OK ? COOP_ERR_UNAVAILABLE : COOP_ERR_OK;
    if (!c->broken && PQstatus(c->db) == CONNECTION_OK) {
        /* Reads whatever the server sent while idle (a termination notice
         * and EOF after a restart) without blocking. */
        if (PQconsumeInput(c->db) && PQstatus(c->db) == CONNECTION_OK)
            return COOP_ERR_OK;
    }
    clear_cache(c);
    PQreset(c->db);
    if (PQstatus(c->db) != CONNECTION_OK) {
        c->broken = true;
        coop_log_warn("postgresql reconnect failed");
        return COOP_ERR_UNAVAILABLE;
    }
    c->broken = false;
    coop_log_info("postgresql connection re-established");
    return setup_session(c);
}

/* ---- placeholders and prepared statements ---------------------------------- */

/*
 * Copies sql with each `?` outside string literals, quoted identifiers and
 * comments replaced by $1, $2, ...; *count gets how many there were.
 * NULL when out of memory.
 */
/* True when the text after a placeholder is IS [NOT] NULL: the one place
 * where PostgreSQL cannot infer a NULL parameter's type from context. */
static bool tested_for_null(const char *after)
{
    after += strspn(after, " \t\r\n");
    if (strncasecmp(after, "IS", 2) != 0)
        return false;
    after += 2;
    after += strspn(after, " \t\r\n");
    if (strncasecmp(after, "NOT", 3) == 0) {
        after += 3;
        after += strspn(after, " \t\r\n");
    }
    return strncasecmp(after, "NULL", 4) == 0;
}

static char *number_placeholders(const char *sql, size_t *count, bool **null_tested)
{
    size_t len = strlen(sql), n = 0;
    for (size_t i = 0; i < len; i++)
        n += sql[i] == '?';
    char *out = malloc(len + n * 6 + 1);
    *null_tested = calloc(n ? n : 1, sizeof **null_tested);
    if (!out || !*null_tested) {
        free(out);
        free(*null_tested);
        *null_tested = NULL;
        return NULL;
    }
    size_t o = 0;
    n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = sql[i];
        if (ch == '\'' || ch == '"') {
            size_t j = i + 1;
            while (j < len && sql[j] != ch)
                j++;
            size_t end = j < len ? j : len - 1;
            memcpy(out + o, sql + i, end - i + 1);
            o += end - i + 1;
            i = end;
        } else if (ch == '-' && sql[i + 1] == '-') {
            size_t end = i + strcspn(sql + i, "\n");
            memcpy(out + o, sql + i, end - i);
            o += end - i;
            i = end - 1;
        } else if (ch == '/' && sql[i + 1] == '*') {
            const char *close = strstr(sql + i + 2, "*/");
            size_t end = close ? (size_t)(close - sql) + 2 : len;
            memcpy(out + o, sql + i, end - i);
            o += end - i;
            i = end - 1;
        } else if (ch == '?') {
            (*null_tested)[n] = tested_for_null(sql + i + 1);
            o += (size_t)snprintf(out + o, 8, "$%zu", ++n);
        } else {
            out[o++] = ch;
        }
    }
    out[o] = '\0';
    *count = n;
    return out;
}

static char type_letter(enum coop_param_type t)
{
    switch (t) {
    case COOP_P_NULL:
        return 'n';
    case COOP_P_INT:
        return 'i';
    case COOP_P_DOUBLE:
        return 'd';
    case COOP_P_TEXT:
        return 't';
    case COOP_P_BLOB:
        return 'b';
    }
    return 'n';
}

static Oid type_oid(enum coop_param_type t)
{
    switch (t) {
    case COOP_P_NULL:
        return 0; /* the server infers it from the context */
    case COOP_P_INT:
        return OID_INT8;
    case COOP_P_DOUBLE:
        return OID_FLOAT8;
    case COOP_P_TEXT:
        return OID_TEXT;
    case COOP_P_BLOB:
        return OID_BYTEA;
    }
    return 0;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* The cache key: SQL text, a NUL, then one letter per parameter type (a
 * statement prepared for a NULL first argument must not serve a text one). */
static char *make_key(const char *sql, const struct coop_param *p, size_t n, size_t *key_len)
{
    size_t len = strlen(sql);
    char *key = malloc(len + 1 + n + 1);
    if (!key)
        return NULL;
    memcpy(key, sql, len + 1);
    for (size_t i = 0; i < n; i++)
        key[len + 1 + i] = type_letter(p[i].type);
    key[len + 1 + n] = '\0';
    *key_len = len + 1 + n;
    return key;
}

/*
 * Finds or prepares the statement for (sql, parameter types); name gets the
 * server-side name ("" for an unnamed statement when the cache is full).
 */
static coop_err prepare(struct pg_conn *c, const char *sql, const struct coop_param *p, size_t n,
                        char name[16])
{
    size_t key_len;
    char *key = make_key(sql, p, n, &key_len);
    if (!key)
        return COOP_ERR_NOMEM;
    uint64_t h = hash_bytes(key, key_len);
    for (int i = 0; i < c->ncached; i++) {
        struct cached_stmt *s = &c->cache[i];
        if (s->hash == h && s->key_len == key_len && memcmp(s->key, key, key_len) == 0) {
            memcpy(name, s->name, 16);
            free(key);
            return COOP_ERR_OK;
        }
    }
    size_t count;
    bool *null_tested;
    char *text = number_placeholders(sql, &count, &null_tested);
    if (!text) {
        free(key);
        return COOP_ERR_NOMEM;
    }
    Oid *types = count == n ? calloc(n ? n : 1, sizeof *types) : NULL;
    if (!types) {
        free(null_tested);
        free(text);
        free(key);
        return count == n ? COOP_ERR_NOMEM : COOP_ERR_INVALID;
    }
    for (size_t i = 0; i < n; i++)
        types[i] = p[i].type == COOP_P_NULL && null_tested[i] ? OID_TEXT : type_oid(p[i].type);
    free(null_tested);
    bool cached = c->ncached < STMT_CACHE;
    if (cached)
        snprintf(name, 16, "coop_%u", c->next_name++);
    else
        name[0] = '\0';
    PGresult *res = PQprepare(c->db, name, text, (int)n, types);
    free(types);
    free(text);
    coop_err err = COOP_ERR_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        err = fail(c, res, "prepare");
    PQclear(res);
    if (err || !cached) {
        free(key);
        return err;
    }
    c->cache[c->ncached++] = (struct cached_stmt){key, key_len, h, {0}};
    memcpy(c->cache[c->ncached - 1].name, name, 16);
    return COOP_ERR_OK;
}

/* ---- parameters ------------------------------------------------------------- */

static void put_be64(unsigned char *out, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

struct bound {
    const char **values;
    int *lengths;
    int *formats;
    unsigned char (*numbers)[8];
};

static coop_err bind(const struct coop_param *p, size_t n, struct bound *b)
{
    size_t m = n ? n : 1;
    b->values = calloc(m, sizeof *b->values);
    b->lengths = calloc(m, sizeof *b->lengths);
    b->formats = calloc(m, sizeof *b->formats);
    b->numbers = calloc(m, sizeof *b->numbers);
    if (!b->values || !b->lengths || !b->formats || !b->numbers)
        return COOP_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        b->formats[i] = 1; /* binary */
        switch (p[i].type) {
        case COOP_P_NULL:
            b->values[i] = NULL;
            break;
        case COOP_P_INT:
            put_be64(b->numbers[i], (uint64_t)p[i].v.i);
            b->values[i] = (const char *)b->numbers[i];
            b->lengths[i] = 8;
            break;
        case COOP_P_DOUBLE: {
            uint64_t bits;
            memcpy(&bits, &p[i].v.d, sizeof bits);
            put_be64(b->numbers[i], bits);
            b->values[i] = (const char *)b->numbers[i];
            b->lengths[i] = 8;
            break;
        }
        case COOP_P_TEXT:
        case COOP_P_BLOB:
            if (p[i].v.b.n > INT32_MAX)
                return COOP_ERR_TOO_LARGE;
            b->values[i] = p[i].v.b.p ? p[i].v.b.p : "";
            b->lengths[i] = (int)p[i].v.b.n;
            break;
        }
    }
    return COOP_ERR_OK;
}

static void unbind(struct bound *b)
{
    free(b->values);
    free(b->lengths);
    free(b->formats);
    free(b->numbers);
}

/* ---- rows --------------------------------------------------------------------- */

struct pg_row {
    PGresult *res;
    int row;
    /* bytea values unescaped for this row, freed after the callback */
    unsigned char **decoded;
    size_t *decoded_len;
};

static int row_columns(void *impl)
{
    struct pg_row *r = impl;
    return PQnfields(r->res);
}

static bool in_range(struct pg_row *r, int col)
{
    return col >= 0 && col < PQnfields(r->res);
}

static bool row_is_null(void *impl, int col)
{
    struct pg_row *r = impl;
    return !in_range(r, col) || PQgetisnull(r->res, r->row, col);
}

static int64_t row_int(void *impl, int col)
{
    struct pg_row *r = impl;
    if (row_is_null(r, col))
        return 0;
    const char *s = PQgetvalue(r->res, r->row, col);
    if (s[0] == 't' && s[1] == '\0')
        return 1; /* boolean */
    if (strpbrk(s, ".eE")) {
        double d = strtod(s, NULL);
        return isfinite(d) && fabs(d) < 9.2e18 ? (int64_t)d : 0;
    }
    return strtoll(s, NULL, 10);
}

static double row_double(void *impl, int col)
{
    struct pg_row *r = impl;
    if (row_is_null(r, col))
        return 0.0;
    const char *s = PQgetvalue(r->res, r->row, col);
    if (s[0] == 't' && s[1] == '\0')
        return 1.0;
    return strtod(s, NULL);
}

/* A bytea column's bytes, unescaped once per row and column. */
static const void *bytea_value(struct pg_row *r, int col, size_t *len)
{
    if (!r->decoded[col]) {
        size_t n = 0;
        unsigned char *p =
            PQunescapeBytea((const unsigned char *)PQgetvalue(r->res, r->row, col), &n);
        if (!p)
            return NULL;
        r->decoded[col] = p;
        r->decoded_len[col] = n;
    }
    *len = r->decoded_len[col];
    return r->decoded[col];
}

static const char *row_text(void *impl, int col, size_t *len)
{
    struct pg_row *r = impl;
    if (row_is_null(r, col))
        return NULL;
    if (PQftype(r->res, col) == OID_BYTEA)
        return bytea_value(r, col, len);
    *len = (size_t)PQgetlength(r->res, r->row, col);
    return PQgetvalue(r->res, r->row, col);
}

static const void *row_blob(void *impl, int col, size_t *len)
{
    return row_text(impl, col, len);
}

static const struct coop_row_ops pg_row_ops = {
    .columns = row_columns,
    .is_null = row_is_null,
    .get_int = row_int,
    .get_double = row_double,
    .get_text = row_text,
    .get_blob = row_blob,
};

static coop_err deliver_rows(PGresult *res, coop_row_fn fn, void *ctx)
{
    int cols = PQnfields(res), rows = PQntuples(res);
    if (!fn || rows == 0)
        return COOP_ERR_OK;
    struct pg_row r = {.res = res};
    r.decoded = calloc((size_t)(cols ? cols : 1), sizeof *r.decoded);
    r.decoded_len = calloc((size_t)(cols ? cols : 1), sizeof *r.decoded_len);
    coop_err err = r.decoded && r.decoded_len ? COOP_ERR_OK : COOP_ERR_NOMEM;
    struct coop_row row = {&pg_row_ops, &r};
    for (int i = 0; i < rows && !err; i++) {
        r.row = i;
        err = fn(ctx, &row);
        for (int k = 0; k < cols; k++) {
            PQfreemem(r.decoded[k]);
            r.decoded[k] = NULL;
        }
    }
    free(r.decoded);
    free(r.decoded_len);
    return err;
}

/* ---- statements --------------------------------------------------------------- */

static coop_err run(struct pg_conn *c, const char *sql, const struct coop_param *params,
                    size_t nparams, coop_row_fn fn, void *ctx, int64_t *changes)
{
    coop_err err = revive(c);
    if (err)
        return err;
    char name[16];
    err = prepare(c, sql, params, nparams, name);
    if (err == COOP_ERR_UNAVAILABLE && !c->in_tx && !(err = revive(c)))
        err = prepare(c, sql, params, nparams, name); /* nothing ran: safe to retry */
    if (err)
        return err;
    struct bound b = {0};
    if ((err = bind(params, nparams, &b))) {
        unbind(&b);
        return err;
    }
    PGresult *res = PQexecPrepared(c->db, name, (int)nparams, b.values, b.lengths, b.formats, 0);
    unbind(&b);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        if (changes) {
            const char *t = PQcmdTuples(res);
            *changes = t && *t ? strtoll(t, NULL, 10) : 0;
        }
        err = deliver_rows(res, fn, ctx);
    } else {
        err = fail(c, res, fn ? "query" : "exec");
    }
    PQclear(res);
    return err;
}

static coop_err pg_exec(void *conn, const char *sql, const struct coop_param *params,
                        size_t nparams, int64_t *changes)
{
    return run(conn, sql, params, nparams, NULL, NULL, changes);
}

static coop_err pg_query(void *conn, const char *sql, const struct coop_param *params,
                         size_t nparams, coop_row_fn fn, void *ctx)
{
    return run(conn, sql, params, nparams, fn, ctx, NULL);
}

static coop_err simple(struct pg_conn *c, const char *sql, const char *what)
{
    PGresult *res = PQexec(c->db, sql);
    ExecStatusType st = PQresultStatus(res);
    coop_err err = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY
                       ? COOP_ERR_OK
                       : fail(c, res, what);
    PQclear(res);
    return err;
}

static coop_err pg_script(void *conn, const char *sql)
{
    struct pg_conn *c = conn;
    coop_err err = revive(c);
    return err ? err : simple(c, sql, "script");
}

/* ---- transactions --------------------------------------------------------------- */

static coop_err pg_begin(void *conn, bool write)
{
    struct pg_conn *c = conn;
    coop_err err = revive(c);
    if (err)
        return err;
    const char *sql =
        write ? "BEGIN ISOLATION LEVEL SERIALIZABLE" : "BEGIN ISOLATION LEVEL REPEATABLE READ";
    err = simple(c, sql, "begin");
    if (err == COOP_ERR_UNAVAILABLE && !(err = revive(c)))
        err = simple(c, sql, "begin"); /* a connection lost while idle */
    c->in_tx = !err;
    return err;
}

static coop_err pg_commit(void *conn)
{
    struct pg_conn *c = conn;
    coop_err err = simple(c, "COMMIT", "commit");
    /* A failed COMMIT still ends the transaction (the server rolls back). */
    c->in_tx = false;
    return err;
}

static coop_err pg_rollback(void *conn)
{
    struct pg_conn *c = conn;
    c->in_tx = false;
    if (c->broken || PQstatus(c->db) != CONNECTION_OK) {
        c->broken = true;
        return COOP_ERR_UNAVAILABLE;
    }
    if (PQtransactionStatus(c->db) == PQTRANS_IDLE)
        return COOP_ERR_OK;
    return simple(c, "ROLLBACK", "rollback");
}

static coop_err pg_ping(void *conn)
{
    struct pg_conn *c = conn;
    if (!c || !c->db || c->broken || PQstatus(c->db) != CONNECTION_OK)
        return COOP_ERR_UNAVAILABLE;
    PGTransactionStatusType t = PQtransactionStatus(c->db);
    /* A connection left inside a transaction or with a command in flight
     * must not go back to the pool. */
    if (t == PQTRANS_ACTIVE || t == PQTRANS_UNKNOWN) {
        c->broken = true;
        return COOP_ERR_UNAVAILABLE;
    }
    if (t == PQTRANS_IDLE && (!PQconsumeInput(c->db) || PQstatus(c->db) != CONNECTION_OK)) {
        c->broken = true;
        return COOP_ERR_UNAVAILABLE;
    }
    return COOP_ERR_OK;
}

/* ---- notifications ------------------------------------------------------------ */

static coop_err pg_notify(void *conn, const char *channel)
{
    return run(conn, "SELECT pg_notify(?, '')", COOP_PARAMS(COOP_PT(channel)), NULL, NULL, NULL);
}

/* A listener is a connection of its own, outside the pool: LISTEN holds
 * for the session, and waiting blocks in poll() on its socket. */
static coop_err pg_listen(const char *url, const char *channel, void **out)
{
    void *conn;
    coop_err err = pg_connect(url, &conn);
    if (err)
        return err;
    char sql[96];
    snprintf(sql, sizeof sql, "LISTEN %s", channel); /* checked identifier */
    if ((err = simple(conn, sql, "listen"))) {
        pg_disconnect(conn);
        return err;
    }
    *out = conn;
    return COOP_ERR_OK;
}

static bool drain_notifications(struct pg_conn *c)
{
    bool got = false;
    PGnotify *n;
    while ((n = PQnotifies(c->db)) != NULL) {
        got = true;
        PQfreemem(n);
    }
    return got;
}

static coop_err pg_wait(void *listener, int timeout_ms)
{
    struct pg_conn *c = listener;
    if (!PQconsumeInput(c->db) || PQstatus(c->db) != CONNECTION_OK)
        return COOP_ERR_UNAVAILABLE;
    if (drain_notifications(c))
        return COOP_ERR_OK;
    struct pollfd pfd = {.fd = PQsocket(c->db), .events = POLLIN};
    int rc = poll(&pfd, 1, timeout_ms);
    if (rc < 0)
        return COOP_ERR_TIMEOUT; /* EINTR: the caller loops */
    if (rc == 0)
        return COOP_ERR_TIMEOUT;
    if (!PQconsumeInput(c->db) || PQstatus(c->db) != CONNECTION_OK)
        return COOP_ERR_UNAVAILABLE;
    return drain_notifications(c) ? COOP_ERR_OK : COOP_ERR_TIMEOUT;
}

const struct coop_store_ops coop_store_postgres = {
    .version = 1,
    .name = "postgres",
    .dialect = COOP_STORE_POSTGRES,
    .accepts = pg_accepts,
    .max_connections = pg_max_connections,
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .exec = pg_exec,
    .query = pg_query,
    .script = pg_script,
    .ping = pg_ping,
    .listen = pg_listen,
    .wait = pg_wait,
    .unlisten = pg_disconnect,
    .notify = pg_notify,
};
