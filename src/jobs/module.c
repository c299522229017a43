/*
 * The jobs module of coopd serve: the worker threads, and the admin view of
 * the queue (GET /v1/jobs?state=&limit=&before=, GET /v1/jobs/{id}). The
 * view shows state, attempts, times and the last error, never a payload.
 */
#include "jobs_int.h"

#include "coop/http.h"
#include "main/app.h"

#include <json-c/json.h>
#include <string.h>

static struct coop_jobs *engine;
static struct coop_store *view_store;

#define JOB_COLUMNS                                                                                \
    "id, kind, state, priority, attempts, max_attempts, run_at, created_at, updated_at,"           \
    " finished_at, last_error, unique_key"

static void put_int_or_null(struct json_object *o, const char *k, const struct coop_row *row,
                            int col)
{
    json_object_object_add(
        o, k, coop_row_is_null(row, col) ? NULL : json_object_new_int64(coop_row_int(row, col)));
}

static struct json_object *job_json(const struct coop_row *row)
{
    struct json_object *o = json_object_new_object();
    const char *s;
    json_object_object_add(o, "id", json_object_new_int64(coop_row_int(row, 0)));
    json_object_object_add(o, "kind", json_object_new_string(coop_row_text(row, 1, NULL)));
    json_object_object_add(o, "state", json_object_new_string(coop_row_text(row, 2, NULL)));
    json_object_object_add(o, "priority", json_object_new_int64(coop_row_int(row, 3)));
    json_object_object_add(o, "attempts", json_object_new_int64(coop_row_int(row, 4)));
    json_object_object_add(o, "max_attempts", json_object_new_int64(coop_row_int(row, 5)));
    put_int_or_null(o, "run_at", row, 6);
    put_int_or_null(o, "created_at", row, 7);
    put_int_or_null(o, "updated_at", row, 8);
    put_int_or_null(o, "finished_at", row, 9);
    s = coop_row_text(row, 10, NULL);
    json_object_object_add(o, "last_error", s ? json_object_new_string(s) : NULL);
    s = coop_row_text(row, 11, NULL);
    json_object_object_add(o, "unique_key", s ? json_object_new_string(s) : NULL);
    return o;
}

static coop_err add_row(void *ctx, const struct coop_row *row)
{
    json_object_array_add(ctx, job_json(row));
    return COOP_ERR_OK;
}

static bool state_ok(const char *s)
{
    return !strcmp(s, "queued") || !strcmp(s, "running") || !strcmp(s, "done") ||
           !strcmp(s, "dead");
}

static void list_jobs(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    const char *state = coop_http_query(req, "state");
    const char *limit_s = coop_http_query(req, "limit");
    const char *before_s = coop_http_query(req, "before");
    int64_t limit = 100, before = INT64_MAX;
    if (state && !state_ok(state))
        return coop_http_error(res, req, 400, "invalid_state",
                               "state must be queued, running, done or dead");
    if (limit_s && (coop_parse_i64(limit_s, &limit) || limit < 1 || limit > 1000))
        return coop_http_error(res, req, 400, "invalid_limit", "limit must be 1 to 1000");
    if (before_s && (coop_parse_i64(before_s, &before) || before < 1))
        return coop_http_error(res, req, 400, "invalid_cursor", "before must be a job id");
    struct json_object *arr = json_object_new_array();
    coop_err err =
        state ? coop_store_query(view_store,
                                 "SELECT " JOB_COLUMNS " FROM coop_jobs WHERE state = ? AND id < ?"
                                 " ORDER BY id DESC LIMIT ?",
                                 COOP_PARAMS(COOP_PT(state), COOP_PI(before), COOP_PI(limit)),
                                 add_row, arr)
              : coop_store_query(view_store,
                                 "SELECT " JOB_COLUMNS " FROM coop_jobs WHERE id < ?"
                                 " ORDER BY id DESC LIMIT ?",
                                 COOP_PARAMS(COOP_PI(before), COOP_PI(limit)), add_row, arr);
    if (err) {
        json_object_put(arr);
        return coop_http_error(res, req, 503, "store_unavailable",
                               "the job list could not be read");
    }
    struct json_object *out = json_object_new_object();
    size_t n = json_object_array_length(arr);
    struct json_object *last = n ? json_object_array_get_idx(arr, n - 1) : NULL;
    json_object_object_add(out, "jobs", arr);
    json_object_object_add(
        out, "next_before",
        (int64_t)n == limit && last ? json_object_get(json_object_object_get(last, "id")) : NULL);
    coop_http_json(res, 200, out);
    json_object_put(out);
}

static coop_err one_row(void *ctx, const struct coop_row *row)
{
    *(struct json_object **)ctx = job_json(row);
    return COOP_ERR_OK;
}

static void get_job(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    int64_t id;
    if (coop_parse_i64(req->params[0], &id) || id < 1)
        return coop_http_error(res, req, 404, "not_found", "no such job");
    struct json_object *job = NULL;
    coop_err err =
        coop_store_query(view_store, "SELECT " JOB_COLUMNS " FROM coop_jobs WHERE id = ?",
                         COOP_PARAMS(COOP_PI(id)), one_row, &job);
    if (err) {
        json_object_put(job);
        return coop_http_error(res, req, 503, "store_unavailable", "the job could not be read");
    }
    if (!job)
        return coop_http_error(res, req, 404, "not_found", "no such job");
    coop_http_json(res, 200, job);
    json_object_put(job);
}

static coop_err jobs_routes(struct coop_app *app)
{
    view_store = app->store;
    const struct coop_http_route routes[] = {
        {.method = "GET", .pattern = "/v1/jobs", .scope = COOP_SCOPE_ADMIN, .handler = list_jobs},
        {.method = "GET",
         .pattern = "/v1/jobs/{id}",
         .scope = COOP_SCOPE_ADMIN,
         .handler = get_job},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        coop_err err = coop_http_add_route(app->http, &routes[i]);
        if (err)
            return err;
    }
    return COOP_ERR_OK;
}

/* ---- retention: finished jobs are kept COOP_JOBS_RETENTION_DAYS ------------------- */

#define PURGE_CHUNK 10000

static long retention_days = 7;

static coop_err purge_handler(struct coop_job *job, struct coop_conn *conn, void *ctx)
{
    int64_t cutoff = coop_clock_now_ms() - (int64_t)retention_days * 24 * 3600 * 1000;
    int64_t deleted = 0;
    coop_err err = coop_conn_exec(conn,
                                  "DELETE FROM coop_jobs WHERE id IN (SELECT id FROM coop_jobs"
                                  " WHERE state = 'done' AND finished_at < ? ORDER BY id LIMIT ?)",
                                  COOP_PARAMS(COOP_PI(cutoff), COOP_PI(PURGE_CHUNK)), &deleted);
    if (err)
        return err;
    if (deleted == PURGE_CHUNK) {
        /* More to do: another run right away, in small transactions. */
        struct coop_job_spec more = {.kind = "jobs.purge", .priority = -10};
        return coop_jobs_enqueue(conn, &more, NULL, NULL);
    }
    return coop_jobs_schedule_daily(conn, "jobs.purge", true);
}

static coop_err schedule_purge(struct coop_conn *conn, void *ctx)
{
    return coop_jobs_schedule_daily(conn, "jobs.purge", false);
}

static coop_err jobs_start(struct coop_app *app)
{
    char msg[160];
    long lease = 0, poll = 0;
    coop_err err = coop_config_get_int(&app->config, "COOP_JOBS_LEASE_MS", 60000, 100, 86400000L,
                                       &lease, msg, sizeof msg);
    if (!err)
        err = coop_config_get_int(&app->config, "COOP_JOBS_POLL_MS", 250, 1, 60000, &poll, msg,
                                  sizeof msg);
    if (!err)
        err = coop_config_get_int(&app->config, "COOP_JOBS_RETENTION_DAYS", 7, 1, 3650,
                                  &retention_days, msg, sizeof msg);
    if (err) {
        coop_log_error("invalid jobs setting", COOP_F_STR("detail", msg));
        return err;
    }
    struct coop_jobs_options opt = {
        .workers = app->config.workers, .lease_ms = lease, .poll_ms = (int)poll};
    if ((err = coop_jobs_new(app->store, &opt, &engine)))
        return err;
    if ((err = coop_jobs_register_handler("jobs.purge", purge_handler, NULL)) ||
        (err = coop_jobs_write_tx(app->store, schedule_purge, NULL)))
        return err;
    coop_jobs_refresh_metrics(app->store);
    return coop_jobs_start(engine);
}

static void jobs_stop(struct coop_app *app)
{
    coop_jobs_free(engine);
    engine = NULL;
}

const struct coop_app_module coop_jobs_module = {
    .name = "jobs",
    .register_routes = jobs_routes,
    .start = jobs_start,
    .stop = jobs_stop,
};
