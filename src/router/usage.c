/*
 * Usage counters of the Model Router: per UTC day, customer, token,
 * provider and model, how many requests there were, how many ended in an
 * error, and the input and output tokens the providers reported. Counts
 * only: never a prompt, a response, a key.
 *
 * The counters live in the store (router_usage), so they survive restarts
 * and several coopd on one PostgreSQL add to the same rows; the tokens per
 * day budgets are read from them. Rows are added by one writer thread: the
 * router thread queues a count and moves on, the writer folds what is
 * queued into one upsert per key, in one transaction.
 */
#include "router_int.h"

#include "coop/metrics.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE_QUEUE_MAX 100000
#define DAY_MS 86400000LL
#define PURGE_INTERVAL_MS 3600000LL

const struct coop_migration coop_router_migrations[] = {
    {"router.001",
     "CREATE TABLE router_usage ("
     " day TEXT NOT NULL,"
     " customer TEXT NOT NULL,"
     " token_id TEXT NOT NULL,"
     " provider TEXT NOT NULL,"
     " model TEXT NOT NULL,"
     " requests INTEGER NOT NULL DEFAULT 0,"
     " errors INTEGER NOT NULL DEFAULT 0,"
     " input_tokens INTEGER NOT NULL DEFAULT 0,"
     " output_tokens INTEGER NOT NULL DEFAULT 0,"
     " PRIMARY KEY (day, customer, token_id, provider, model));"
     "CREATE INDEX router_usage_token ON router_usage (day, token_id);"
     "CREATE TABLE router_budgets ("
     " id INTEGER PRIMARY KEY,"
     " doc TEXT NOT NULL,"
     " updated_at INTEGER NOT NULL);",
     "CREATE TABLE router_usage ("
     " day TEXT NOT NULL,"
     " customer TEXT NOT NULL,"
     " token_id TEXT NOT NULL,"
     " provider TEXT NOT NULL,"
     " model TEXT NOT NULL,"
     " requests BIGINT NOT NULL DEFAULT 0,"
     " errors BIGINT NOT NULL DEFAULT 0,"
     " input_tokens BIGINT NOT NULL DEFAULT 0,"
     " output_tokens BIGINT NOT NULL DEFAULT 0,"
     " PRIMARY KEY (day, customer, token_id, provider, model));"
     "CREATE INDEX router_usage_token ON router_usage (day, token_id);"
     "CREATE TABLE router_budgets ("
     " id BIGINT PRIMARY KEY,"
     " doc TEXT NOT NULL,"
     " updated_at BIGINT NOT NULL);"},
    /* The provider policy set through the admin API (policy_admin.c): one
     * row; doc NULL once the stored policy is removed; version moves on
     * every change, so other instances see a change with one cheap read. */
    {"router.002",
     "CREATE TABLE router_policy ("
     " id INTEGER PRIMARY KEY,"
     " doc TEXT,"
     " version INTEGER NOT NULL,"
     " updated_at INTEGER NOT NULL,"
     " updated_by TEXT NOT NULL);",
     "CREATE TABLE router_policy ("
     " id BIGINT PRIMARY KEY,"
     " doc TEXT,"
     " version BIGINT NOT NULL,"
     " updated_at BIGINT NOT NULL,"
     " updated_by TEXT NOT NULL);"},
    {NULL, NULL, NULL},
};

struct usage_item {
    struct usage_item *next;
    char day[11], customer[128], token_id[40], provider[32], model[128];
    int64_t requests, errors, input_tokens, output_tokens;
};

struct usage_writer {
    struct coop_store *store;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct usage_item *head;
    size_t n;
    bool stop;
    long retention_days; /* 0: counters are kept for ever */
    int64_t purged_ms;   /* when old days were last deleted */
};

/* YYYY-MM-DD (UTC) of a time in ms. */
static void utc_day(int64_t ms, char out[11])
{
    char ts[32];
    coop_clock_format(ms, ts);
    memcpy(out, ts, 10);
    out[10] = '\0';
}

static coop_err upsert(struct coop_conn *conn, const struct usage_item *it)
{
    return coop_conn_exec(
        conn,
        "INSERT INTO router_usage (day, customer, token_id, provider, model, requests, errors, "
        "input_tokens, output_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (day, customer, token_id, provider, model) DO UPDATE SET "
        "requests = router_usage.requests + excluded.requests, "
        "errors = router_usage.errors + excluded.errors, "
        "input_tokens = router_usage.input_tokens + excluded.input_tokens, "
        "output_tokens = router_usage.output_tokens + excluded.output_tokens",
        COOP_PARAMS(COOP_PT(it->day), COOP_PT(it->customer), COOP_PT(it->token_id),
                    COOP_PT(it->provider), COOP_PT(it->model), COOP_PI(it->requests),
                    COOP_PI(it->errors), COOP_PI(it->input_tokens), COOP_PI(it->output_tokens)),
        NULL);
}

static bool same_key(const struct usage_item *a, const struct usage_item *b)
{
    return strcmp(a->day, b->day) == 0 && strcmp(a->customer, b->customer) == 0 &&
           strcmp(a->token_id, b->token_id) == 0 && strcmp(a->provider, b->provider) == 0 &&
           strcmp(a->model, b->model) == 0;
}

/* Folds items with the same key into the first of them (a short list: what
 * queued up while the previous batch was written). */
static void fold(struct usage_item *list)
{
    for (struct usage_item *a = list; a; a = a->next) {
        struct usage_item **pp = &a->next;
        while (*pp) {
            struct usage_item *b = *pp;
            if (!same_key(a, b)) {
                pp = &b->next;
                continue;
            }
            a->requests += b->requests;
            a->errors += b->errors;
            a->input_tokens += b->input_tokens;
            a->output_tokens += b->output_tokens;
            *pp = b->next;
            free(b);
        }
    }
}

static coop_err write_tx(struct coop_conn *conn, void *ctx)
{
    coop_err err = COOP_ERR_OK;
    for (const struct usage_item *it = ctx; it && !err; it = it->next)
        err = upsert(conn, it);
    return err;
}

static void write_list(struct coop_store *store, struct usage_item *list)
{
    fold(list);
    coop_err err = coop_store_tx(store, true, write_tx, list);
    if (err)
        coop_log_error("usage counters not written", COOP_F_ERR(err));
    while (list) {
        struct usage_item *next = list->next;
        free(list);
        list = next;
    }
}

/* Deletes the days past the retention period, at most once an hour (from
 * the writer thread, so the request path never waits on it). */
static void purge(struct usage_writer *w)
{
    int64_t now = coop_clock_now_ms();
    if (!w->retention_days || now - w->purged_ms < PURGE_INTERVAL_MS)
        return;
    w->purged_ms = now;
    char oldest[11];
    utc_day(now - (int64_t)w->retention_days * DAY_MS, oldest);
    int64_t n = 0;
    coop_err err = coop_store_exec(w->store, "DELETE FROM router_usage WHERE day < ?",
                                   COOP_PARAMS(COOP_PT(oldest)), &n);
    if (err)
        coop_log_warn("old usage counters not deleted", COOP_F_ERR(err));
    else if (n)
        coop_log_info("old usage counters deleted", COOP_F_INT("rows", n));
}

static void *writer(void *arg)
{
    struct usage_writer *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        if (!w->stop) {
            pthread_mutex_unlock(&w->lock);
            purge(w);
            pthread_mutex_lock(&w->lock);
        }
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->cond, &w->lock);
        if (!w->head && w->stop)
            break;
        struct usage_item *list = w->head;
        w->head = NULL;
        w->n = 0;
        pthread_mutex_unlock(&w->lock);
        write_list(w->store, list);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

coop_err usage_writer_new(struct coop_store *store, long retention_days, struct usage_writer **out)
{
    struct usage_writer *w = calloc(1, sizeof *w);
    if (!w)
        return COOP_ERR_NOMEM;
    w->store = store;
    w->retention_days = retention_days;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, writer, w)) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
        return COOP_ERR_INTERNAL;
    }
    *out = w;
    return COOP_ERR_OK;
}

void usage_writer_free(struct usage_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}

/* coop_llm_tokens_total{provider,kind}: provider names come from the
 * fixed list of backends, never from input. */
static void count_tokens(const struct usage_item *it)
{
    if (!coop_provider_find(it->provider, strlen(it->provider)))
        return;
    char labels[80];
    const char *help = "LLM tokens reported by providers";
    if (it->input_tokens) {
        snprintf(labels, sizeof labels, "provider=\"%s\",kind=\"input\"", it->provider);
        coop_metric_add(coop_metric_get(COOP_METRIC_COUNTER, "coop_llm_tokens_total", help, labels),
                        it->input_tokens);
    }
    if (it->output_tokens) {
        snprintf(labels, sizeof labels, "provider=\"%s\",kind=\"output\"", it->provider);
        coop_metric_add(coop_metric_get(COOP_METRIC_COUNTER, "coop_llm_tokens_total", help, labels),
                        it->output_tokens);
    }
}

void usage_count(struct usage_writer *w, const char *customer, const char *token_id,
                 const char *provider, const char *model, bool ok, int64_t input_tokens,
                 int64_t output_tokens)
{
    if (!w)
        return;
    struct usage_item *it = calloc(1, sizeof *it);
    if (!it) {
        coop_log_error("usage count dropped: out of memory");
        return;
    }
    utc_day(coop_clock_now_ms(), it->day);
    coop_strlcpy(it->customer, customer ? customer : "", sizeof it->customer);
    coop_strlcpy(it->token_id, token_id ? token_id : "", sizeof it->token_id);
    coop_strlcpy(it->provider, provider ? provider : "", sizeof it->provider);
    coop_strlcpy(it->model, model ? model : "", sizeof it->model);
    it->requests = 1;
    it->errors = ok ? 0 : 1;
    it->input_tokens = input_tokens > 0 ? input_tokens : 0;
    it->output_tokens = output_tokens > 0 ? output_tokens : 0;
    count_tokens(it);
    pthread_mutex_lock(&w->lock);
    if (w->n >= USAGE_QUEUE_MAX) {
        /* The store cannot keep up: write this one here rather than drop it. */
        pthread_mutex_unlock(&w->lock);
        write_list(w->store, it);
        return;
    }
    it->next = w->head;
    w->head = it;
    w->n++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static coop_err read_sum(void *ctx, const struct coop_row *row)
{
    *(int64_t *)ctx = coop_row_is_null(row, 0) ? 0 : coop_row_int(row, 0);
    return COOP_ERR_OK;
}

coop_err usage_tokens_today(struct coop_store *store, const char *customer, const char *token_id,
                            int64_t *out)
{
    char day[11];
    utc_day(coop_clock_now_ms(), day);
    *out = 0;
    if (customer)
        return coop_store_query(store,
                                "SELECT SUM(input_tokens + output_tokens) FROM router_usage "
                                "WHERE day = ? AND customer = ?",
                                COOP_PARAMS(COOP_PT(day), COOP_PT(customer)), read_sum, out);
    return coop_store_query(store,
                            "SELECT SUM(input_tokens + output_tokens) FROM router_usage "
                            "WHERE day = ? AND token_id = ?",
                            COOP_PARAMS(COOP_PT(day), COOP_PT(token_id)), read_sum, out);
}

/* ---- GET /v1/admin/usage ------------------------------------------------------------ */

struct usage_rows {
    struct json_object *rows;
    bool by_token;
    int64_t totals[4];
};

static coop_err add_row(void *ctx, const struct coop_row *row)
{
    struct usage_rows *u = ctx;
    struct json_object *o = json_object_new_object();
    int col = 0;
    const char *customer = coop_row_text(row, col++, NULL);
    json_object_object_add(o, "customer",
                           customer && customer[0] ? json_object_new_string(customer) : NULL);
    if (u->by_token) {
        const char *tok = coop_row_text(row, col++, NULL);
        json_object_object_add(o, "token_id", json_object_new_string(tok ? tok : ""));
    }
    const char *provider = coop_row_text(row, col++, NULL);
    const char *model = coop_row_text(row, col++, NULL);
    json_object_object_add(o, "provider", json_object_new_string(provider ? provider : ""));
    json_object_object_add(o, "model", json_object_new_string(model ? model : ""));
    static const char *const names[] = {"requests", "errors", "input_tokens", "output_tokens"};
    for (int i = 0; i < 4; i++) {
        int64_t v = coop_row_int(row, col++);
        u->totals[i] += v;
        json_object_object_add(o, names[i], json_object_new_int64(v));
    }
    json_object_array_add(u->rows, o);
    return COOP_ERR_OK;
}

static bool day_ok(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    return true;
}

static coop_err query_usage(struct coop_store *store, const char *since, const char *until,
                            const char *customer, struct usage_rows *u)
{
    char sql[640];
    const char *cols =
        u->by_token ? "customer, token_id, provider, model" : "customer, provider, model";
    snprintf(sql, sizeof sql,
             "SELECT %s, SUM(requests), SUM(errors), SUM(input_tokens), SUM(output_tokens) "
             "FROM router_usage WHERE day >= ? AND day <= ?%s GROUP BY %s ORDER BY %s",
             cols, customer ? " AND customer = ?" : "", cols, cols);
    if (customer)
        return coop_store_query(
            store, sql, COOP_PARAMS(COOP_PT(since), COOP_PT(until), COOP_PT(customer)), add_row, u);
    return coop_store_query(store, sql, COOP_PARAMS(COOP_PT(since), COOP_PT(until)), add_row, u);
}

void usage_handler(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    struct coop_router *r = ctx;
    char since[11], until[11];
    int64_t now = coop_clock_now_ms();
    utc_day(now - 29 * DAY_MS, since);
    utc_day(now, until);
    const char *qs = coop_http_query(req, "since"), *qu = coop_http_query(req, "until");
    const char *customer = coop_http_query(req, "customer"), *by = coop_http_query(req, "by");
    if ((qs && !day_ok(qs)) || (qu && !day_ok(qu))) {
        coop_http_error(res, req, 400, "invalid_date", "since and until are dates, YYYY-MM-DD");
        return;
    }
    if (by && strcmp(by, "token") != 0 && strcmp(by, "customer") != 0) {
        coop_http_error(res, req, 400, "invalid_request", "by is customer (default) or token");
        return;
    }
    if (customer && strlen(customer) >= 128) {
        coop_http_error(res, req, 400, "invalid_request", "customer is too long");
        return;
    }
    if (qs)
        coop_strlcpy(since, qs, sizeof since);
    if (qu)
        coop_strlcpy(until, qu, sizeof until);
    struct usage_rows u = {.rows = json_object_new_array(), .by_token = by && by[0] == 't'};
    coop_err err = query_usage(r->store, since, until, customer, &u);
    if (err) {
        json_object_put(u.rows);
        coop_http_error(res, req, 503, "store_unavailable", "usage counters cannot be read");
        return;
    }
    struct json_object *root = json_object_new_object(), *tot = json_object_new_object();
    json_object_object_add(root, "since", json_object_new_string(since));
    json_object_object_add(root, "until", json_object_new_string(until));
    json_object_object_add(root, "rows", u.rows);
    static const char *const names[] = {"requests", "errors", "input_tokens", "output_tokens"};
    for (int i = 0; i < 4; i++)
        json_object_object_add(tot, names[i], json_object_new_int64(u.totals[i]));
    json_object_object_add(root, "totals", tot);
    coop_http_json(res, 200, root);
    json_object_put(root);
}
