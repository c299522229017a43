/*
 * The audit log proper: the schema, appending an LLM request row or a
 * config change (each one transaction that also extends its chain), and
 * reading them back for the admin API and the retention report.
 *
 * Only metadata is accepted here; the struct has no field that could hold
 * a prompt, a response or a key, and config-change detail is written by
 * Coop's own code from setting names and non-secret values.
 */
#include "audit_int.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZERO64 "'0000000000000000000000000000000000000000000000000000000000000000'"

#define AUDIT_TABLES(BIG)                                                                          \
    "CREATE TABLE audit_chains ("                                                                  \
    " chain TEXT PRIMARY KEY,"                                                                     \
    " head_seq " BIG " NOT NULL,"                                                                  \
    " head_hash TEXT NOT NULL,"                                                                    \
    " anchor_seq " BIG " NOT NULL,"                                                                \
    " anchor_hash TEXT NOT NULL);"                                                                 \
    "INSERT INTO audit_chains VALUES ('llm', 0, " ZERO64 ", 1, " ZERO64 ");"                       \
    "INSERT INTO audit_chains VALUES ('config', 0, " ZERO64 ", 1, " ZERO64 ");"                    \
    "CREATE TABLE audit_log ("                                                                     \
    " seq " BIG " PRIMARY KEY,"                                                                    \
    " recorded_at " BIG " NOT NULL,"                                                               \
    " customer TEXT,"                                                                              \
    " provider TEXT,"                                                                              \
    " model TEXT,"                                                                                 \
    " ts " BIG " NOT NULL,"                                                                        \
    " request_id TEXT,"                                                                            \
    " status TEXT,"                                                                                \
    " status_code INTEGER NOT NULL,"                                                               \
    " byok INTEGER NOT NULL,"                                                                      \
    " zero_retention TEXT,"                                                                        \
    " sanitizer_counts TEXT,"                                                                      \
    " latency_ms " BIG " NOT NULL,"                                                                \
    " input_tokens " BIG " NOT NULL,"                                                              \
    " output_tokens " BIG " NOT NULL,"                                                             \
    " target TEXT,"                                                                                \
    " attempts INTEGER NOT NULL,"                                                                  \
    " prev_hash TEXT NOT NULL,"                                                                    \
    " hash TEXT NOT NULL);"                                                                        \
    "CREATE INDEX audit_log_ts ON audit_log (ts);"                                                 \
    "CREATE INDEX audit_log_recorded ON audit_log (recorded_at);"                                  \
    "CREATE TABLE config_changes ("                                                                \
    " seq " BIG " PRIMARY KEY,"                                                                    \
    " recorded_at " BIG " NOT NULL,"                                                               \
    " actor TEXT,"                                                                                 \
    " what TEXT,"                                                                                  \
    " detail TEXT,"                                                                                \
    " prev_hash TEXT NOT NULL,"                                                                    \
    " hash TEXT NOT NULL);"                                                                        \
    "CREATE INDEX config_changes_recorded ON config_changes (recorded_at);"

/* audit.002: the steps of retried and routed requests (router). */
#define AUDIT_ROUTE "ALTER TABLE audit_log ADD COLUMN route TEXT;"

const struct coop_migration coop_audit_migrations[] = {
    {"audit.001", AUDIT_TABLES("INTEGER"), AUDIT_TABLES("BIGINT")},
    {"audit.002", AUDIT_ROUTE, AUDIT_ROUTE},
    {NULL, NULL, NULL},
};

/* ---- appending ------------------------------------------------------------ */

static struct audit_value text(const char *s)
{
    struct audit_value v = {.null = s == NULL, .s = s, .n = s ? strlen(s) : 0};
    return v;
}

static struct audit_value integer(int64_t i)
{
    struct audit_value v = {.i = i};
    return v;
}

struct append_ctx {
    const struct audit_chain *c;
    const struct audit_value *v;
    int64_t recorded_at;
};

static coop_err append_tx(struct coop_conn *conn, void *ctx)
{
    struct append_ctx *a = ctx;
    return audit_chain_append(conn, a->c, a->v, a->recorded_at);
}

/* Bounded lengths keep one row from bloating the log; longer values are
 * a caller's bug, refused rather than cut. */
static bool too_long(const char *s, size_t max)
{
    return s && strnlen(s, max + 1) > max;
}

#define LLM_COLUMNS 16

/* The row's values in audit_log's column order; COOP_ERR_INVALID when a
 * field is longer than its column allows. */
static coop_err row_values(const struct coop_audit_row *row, int64_t now,
                           struct audit_value v[LLM_COLUMNS])
{
    if (too_long(row->customer, 128) || too_long(row->provider, 64) || too_long(row->model, 256) ||
        too_long(row->request_id, 128) || too_long(row->status, 32) ||
        too_long(row->zero_retention, 512) || too_long(row->sanitizer_counts, 8192) ||
        too_long(row->target, 320) || too_long(row->route, 4096))
        return COOP_ERR_INVALID;
    const struct audit_value values[] = {
        text(row->customer),
        text(row->provider),
        text(row->model),
        integer(row->timestamp_ms ? row->timestamp_ms : now),
        text(row->request_id),
        text(row->status),
        integer(row->status_code),
        integer(row->byok ? 1 : 0),
        text(row->zero_retention),
        text(row->sanitizer_counts),
        integer(row->latency_ms),
        integer(row->input_tokens),
        integer(row->output_tokens),
        text(row->target),
        integer(row->attempts),
        text(row->route),
    };
    _Static_assert(sizeof values / sizeof *values == LLM_COLUMNS,
                   "one value per column of audit_log");
    memcpy(v, values, sizeof values);
    return COOP_ERR_OK;
}

coop_err coop_audit_append(struct coop_store *store, const struct coop_audit_row *row)
{
    return coop_audit_append_many(store, row, 1);
}

struct many_ctx {
    const struct audit_value (*v)[LLM_COLUMNS];
    size_t n;
    int64_t recorded_at;
};

static coop_err many_tx(struct coop_conn *conn, void *ctx)
{
    struct many_ctx *m = ctx;
    coop_err err = COOP_ERR_OK;
    for (size_t i = 0; !err && i < m->n; i++)
        err = audit_chain_append(conn, &audit_chain_llm, m->v[i], m->recorded_at);
    return err;
}

coop_err coop_audit_append_many(struct coop_store *store, const struct coop_audit_row *rows,
                                size_t n)
{
    if (!store || (!rows && n) || n > COOP_AUDIT_BATCH_MAX)
        return COOP_ERR_INVALID;
    if (n == 0)
        return COOP_ERR_OK;
    struct audit_value(*v)[LLM_COLUMNS] = calloc(n, sizeof *v);
    if (!v)
        return COOP_ERR_NOMEM;
    int64_t now = coop_clock_now_ms();
    coop_err err = COOP_ERR_OK;
    for (size_t i = 0; !err && i < n; i++)
        err = row_values(&rows[i], now, v[i]);
    struct many_ctx m = {(const struct audit_value(*)[LLM_COLUMNS])v, n, now};
    if (!err)
        err = coop_store_tx(store, true, many_tx, &m);
    free(v);
    if (err)
        coop_log_error("audit row not written", COOP_F_ERR(err), COOP_F_INT("rows", (int64_t)n));
    return err;
}

coop_err coop_audit_config_change(struct coop_store *store, const char *actor, const char *what,
                                  const char *detail)
{
    if (!store || !what || too_long(actor, 128) || too_long(what, 128) || too_long(detail, 16384))
        return COOP_ERR_INVALID;
    const struct audit_value v[] = {text(actor), text(what), text(detail)};
    struct append_ctx a = {&audit_chain_config, v, coop_clock_now_ms()};
    coop_err err = coop_store_tx(store, true, append_tx, &a);
    if (err)
        coop_log_error("config change not written", COOP_F_STR("what", what), COOP_F_ERR(err));
    return err;
}

coop_err coop_audit_config_change_conn(struct coop_conn *conn, const char *actor, const char *what,
                                       const char *detail)
{
    if (!conn || !what || too_long(actor, 128) || too_long(what, 128) || too_long(detail, 16384))
        return COOP_ERR_INVALID;
    const struct audit_value v[] = {text(actor), text(what), text(detail)};
    coop_err err = audit_chain_append(conn, &audit_chain_config, v, coop_clock_now_ms());
    if (err)
        coop_log_error("config change not written", COOP_F_STR("what", what), COOP_F_ERR(err));
    return err;
}

/* ---- reading -------------------------------------------------------------- */

static json_object *json_text_or_null(const struct coop_row *row, int col)
{
    size_t n;
    const char *s = coop_row_text(row, col, &n);
    return s ? json_object_new_string_len(s, (int)n) : NULL;
}

/* A stored JSON column back as JSON; as a string if it does not parse. */
static json_object *json_embedded(const struct coop_row *row, int col)
{
    size_t n;
    const char *s = coop_row_text(row, col, &n);
    json_object *o = NULL;
    if (!s)
        return NULL;
    if (coop_json_parse(s, n, 16, false, &o) != COOP_ERR_OK)
        return json_object_new_string_len(s, (int)n);
    return o;
}

static json_object *time_string(int64_t ms)
{
    char t[32];
    coop_clock_format(ms, t);
    return json_object_new_string(t);
}

struct list_ctx {
    json_object *rows;
    int limit;
    int count;
    int64_t last_seq;
    bool more;
};

static coop_err llm_row(void *ctx, const struct coop_row *row)
{
    struct list_ctx *l = ctx;
    if (l->count == l->limit) {
        l->more = true;
        return COOP_ERR_OK;
    }
    json_object *o = json_object_new_object();
    json_object *zr = json_object_new_array();
    size_t n;
    const char *z = coop_row_text(row, 10, &n);
    for (const char *p = z; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len)
            json_object_array_add(zr, json_object_new_string_len(p, (int)len));
        p = comma ? comma + 1 : p + len;
    }
    json_object_object_add(o, "seq", json_object_new_int64(coop_row_int(row, 0)));
    json_object_object_add(o, "customer", json_text_or_null(row, 2));
    json_object_object_add(o, "provider", json_text_or_null(row, 3));
    json_object_object_add(o, "model", json_text_or_null(row, 4));
    json_object_object_add(o, "timestamp", time_string(coop_row_int(row, 5)));
    json_object_object_add(o, "timestamp_ms", json_object_new_int64(coop_row_int(row, 5)));
    json_object_object_add(o, "request_id", json_text_or_null(row, 6));
    json_object_object_add(o, "status", json_text_or_null(row, 7));
    json_object_object_add(o, "status_code", json_object_new_int64(coop_row_int(row, 8)));
    json_object_object_add(o, "byok", json_object_new_boolean(coop_row_int(row, 9) != 0));
    json_object_object_add(o, "zero_retention", zr);
    json_object_object_add(o, "sanitizer_counts", json_embedded(row, 11));
    json_object_object_add(o, "latency_ms", json_object_new_int64(coop_row_int(row, 12)));
    json_object_object_add(o, "input_tokens", json_object_new_int64(coop_row_int(row, 13)));
    json_object_object_add(o, "output_tokens", json_object_new_int64(coop_row_int(row, 14)));
    json_object_object_add(o, "target", json_text_or_null(row, 15));
    json_object_object_add(o, "attempts", json_object_new_int64(coop_row_int(row, 16)));
    json_object_object_add(o, "route", json_embedded(row, 17));
    json_object_object_add(o, "hash", json_text_or_null(row, 19));
    json_object_array_add(l->rows, o);
    l->count++;
    l->last_seq = coop_row_int(row, 0);
    return COOP_ERR_OK;
}

static coop_err config_row(void *ctx, const struct coop_row *row)
{
    struct list_ctx *l = ctx;
    if (l->count == l->limit) {
        l->more = true;
        return COOP_ERR_OK;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "seq", json_object_new_int64(coop_row_int(row, 0)));
    json_object_object_add(o, "time", time_string(coop_row_int(row, 1)));
    json_object_object_add(o, "time_ms", json_object_new_int64(coop_row_int(row, 1)));
    json_object_object_add(o, "actor", json_text_or_null(row, 2));
    json_object_object_add(o, "what", json_text_or_null(row, 3));
    json_object_object_add(o, "detail", json_embedded(row, 4));
    json_object_object_add(o, "hash", json_text_or_null(row, 6));
    json_object_array_add(l->rows, o);
    l->count++;
    l->last_seq = coop_row_int(row, 0);
    return COOP_ERR_OK;
}

static coop_err list(struct coop_store *store, const struct audit_chain *c, const char *time_col,
                     coop_row_fn fn, int64_t since_ms, int64_t until_ms, int64_t cursor, int limit,
                     json_object **rows, int64_t *next_cursor)
{
    if (limit < 1 || limit > 1000)
        return COOP_ERR_INVALID;
    char sql[1024];
    struct coop_buf cols;
    coop_buf_init(&cols, 1024);
    coop_buf_puts(&cols, "seq, recorded_at");
    for (size_t i = 0; i < c->ncolumns; i++)
        coop_buf_printf(&cols, ", %s", c->columns[i].name);
    snprintf(sql, sizeof sql,
             "SELECT %s, prev_hash, hash FROM %s WHERE seq < ? AND %s >= ? AND %s < ? "
             "ORDER BY seq DESC LIMIT ?",
             cols.data, c->table, time_col, time_col);
    coop_buf_dispose(&cols);
    struct list_ctx l = {.rows = json_object_new_array(), .limit = limit};
    coop_err err = coop_store_query(
        store, sql,
        COOP_PARAMS(COOP_PI(cursor > 0 ? cursor : INT64_MAX), COOP_PI(since_ms),
                    COOP_PI(until_ms > 0 ? until_ms : INT64_MAX), COOP_PI(limit + 1)),
        fn, &l);
    if (err) {
        json_object_put(l.rows);
        return err;
    }
    *rows = l.rows;
    *next_cursor = l.more ? l.last_seq : 0;
    return COOP_ERR_OK;
}

coop_err coop_audit_list(struct coop_store *store, int64_t since_ms, int64_t until_ms,
                         int64_t cursor, int limit, json_object **rows, int64_t *next_cursor)
{
    return list(store, &audit_chain_llm, "ts", llm_row, since_ms, until_ms, cursor, limit, rows,
                next_cursor);
}

coop_err coop_audit_config_list(struct coop_store *store, int64_t since_ms, int64_t until_ms,
                                int64_t cursor, int limit, json_object **rows, int64_t *next_cursor)
{
    return list(store, &audit_chain_config, "recorded_at", config_row, since_ms, until_ms, cursor,
                limit, rows, next_cursor);
}

static coop_err read_totals(void *ctx, const struct coop_row *row)
{
    struct coop_audit_totals *t = ctx;
    t->requests = coop_row_int(row, 0);
    t->sent = coop_row_int(row, 1);
    t->sent_zero_retention = coop_row_int(row, 2);
    t->byok = coop_row_int(row, 3);
    t->blocked = coop_row_int(row, 4);
    t->errors = coop_row_int(row, 5);
    t->first_ms = coop_row_is_null(row, 6) ? 0 : coop_row_int(row, 6);
    t->last_ms = coop_row_is_null(row, 7) ? 0 : coop_row_int(row, 7);
    return COOP_ERR_OK;
}

coop_err coop_audit_totals(struct coop_store *store, int64_t since_ms, int64_t until_ms,
                           struct coop_audit_totals *out)
{
    memset(out, 0, sizeof *out);
    return coop_store_query(
        store,
        "SELECT COUNT(*),"
        " COALESCE(SUM(CASE WHEN status = 'blocked' THEN 0 ELSE 1 END), 0),"
        " COALESCE(SUM(CASE WHEN status <> 'blocked' AND zero_retention IS NOT NULL"
        "   AND zero_retention <> '' THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN byok <> 0 THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN status = 'blocked' THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END), 0),"
        " MIN(ts), MAX(ts)"
        " FROM audit_log WHERE ts >= ? AND ts < ?",
        COOP_PARAMS(COOP_PI(since_ms), COOP_PI(until_ms > 0 ? until_ms : INT64_MAX)), read_totals,
        out);
}
