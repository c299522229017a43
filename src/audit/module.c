/*
 * The audit log in coopd serve: the retention job (COOP_AUDIT_RETENTION_DAYS,
 * default 90; COOP_AUDIT_PURGE_INTERVAL_S, default 3600) and the admin API:
 * GET /v1/admin/audit, GET /v1/admin/config-changes and
 * GET /v1/admin/audit/verify.
 */
#include "audit_int.h"

#include "coop/http.h"
#include "main/app.h"

#include <json-c/json.h>
#include <string.h>

static struct coop_audit_purger *purger;

/* RFC 3339 or milliseconds since the epoch. */
static bool parse_time(const char *s, int64_t *out)
{
    if (!s)
        return true;
    if (coop_parse_i64(s, out) == COOP_ERR_OK)
        return *out >= 0;
    return coop_clock_parse(s, out) == COOP_ERR_OK;
}

static bool page_args(struct coop_http_request *req, struct coop_http_response *res, int64_t *since,
                      int64_t *until, int64_t *cursor, int64_t *limit)
{
    *since = *until = *cursor = 0;
    *limit = 100;
    const char *l = coop_http_query(req, "limit"), *c = coop_http_query(req, "cursor");
    if (!parse_time(coop_http_query(req, "since"), since) ||
        !parse_time(coop_http_query(req, "until"), until)) {
        coop_http_error(res, req, 400, "invalid_time",
                        "since and until take RFC 3339 times or milliseconds since the epoch");
        return false;
    }
    if (c && (coop_parse_i64(c, cursor) || *cursor < 1)) {
        coop_http_error(res, req, 400, "invalid_cursor", "cursor must be a next_cursor value");
        return false;
    }
    if (l && (coop_parse_i64(l, limit) || *limit < 1 || *limit > 1000)) {
        coop_http_error(res, req, 400, "invalid_limit", "limit must be 1 to 1000");
        return false;
    }
    return true;
}

typedef coop_err (*list_fn)(struct coop_store *, int64_t, int64_t, int64_t, int,
                            struct json_object **, int64_t *);

static void page(struct coop_http_request *req, struct coop_http_response *res,
                 struct coop_store *store, list_fn fn)
{
    int64_t since, until, cursor, limit, next = 0;
    if (!page_args(req, res, &since, &until, &cursor, &limit))
        return;
    json_object *rows = NULL;
    if (fn(store, since, until, cursor, (int)limit, &rows, &next) != COOP_ERR_OK)
        return coop_http_error(res, req, 503, "store_unavailable", "the log could not be read");
    json_object *o = json_object_new_object();
    json_object_object_add(o, "rows", rows);
    json_object_object_add(o, "next_cursor", next ? json_object_new_int64(next) : NULL);
    coop_http_json(res, 200, o);
    json_object_put(o);
}

static void audit_rows(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    page(req, res, ctx, coop_audit_list);
}

static void config_rows(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    page(req, res, ctx, coop_audit_config_list);
}

static json_object *verify_json(const struct coop_audit_verify_result *v,
                                const struct coop_audit_chain_state *st)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "intact", json_object_new_boolean(v->intact));
    json_object_object_add(o, "entries", json_object_new_int64(v->entries));
    json_object_object_add(o, "anchor_seq", json_object_new_int64(st->anchor_seq));
    json_object_object_add(o, "anchor_hash", json_object_new_string(st->anchor_hash));
    json_object_object_add(o, "head_seq", json_object_new_int64(st->head_seq));
    json_object_object_add(o, "head_hash", json_object_new_string(v->head_hash));
    if (!v->intact) {
        json_object_object_add(o, "bad_seq", json_object_new_int64(v->bad_seq));
        json_object_object_add(o, "reason", json_object_new_string(v->reason));
    }
    return o;
}

static void verify(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    const char *chains[] = {COOP_AUDIT_CHAIN_LLM, COOP_AUDIT_CHAIN_CONFIG};
    json_object *o = json_object_new_object();
    bool intact = true;
    for (size_t i = 0; i < 2; i++) {
        struct coop_audit_verify_result v;
        struct coop_audit_chain_state st;
        if (coop_audit_verify(ctx, chains[i], &v) || coop_audit_chain_state(ctx, chains[i], &st)) {
            json_object_put(o);
            return coop_http_error(res, req, 503, "store_unavailable", "the log could not be read");
        }
        intact = intact && v.intact;
        json_object_object_add(o, chains[i], verify_json(&v, &st));
    }
    json_object_object_add(o, "intact", json_object_new_boolean(intact));
    coop_http_json(res, 200, o);
    json_object_put(o);
}

static coop_err audit_routes(struct coop_app *app)
{
    const struct coop_http_route routes[] = {
        {.method = "GET",
         .pattern = "/v1/admin/audit",
         .scope = COOP_SCOPE_ADMIN,
         .handler = audit_rows,
         .ctx = app->store},
        {.method = "GET",
         .pattern = "/v1/admin/audit/verify",
         .scope = COOP_SCOPE_ADMIN,
         .handler = verify,
         .ctx = app->store},
        {.method = "GET",
         .pattern = "/v1/admin/config-changes",
         .scope = COOP_SCOPE_ADMIN,
         .handler = config_rows,
         .ctx = app->store},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        coop_err err = coop_http_add_route(app->http, &routes[i]);
        if (err)
            return err;
    }
    return COOP_ERR_OK;
}

coop_err coop_audit_retention_days(const struct coop_config *cfg, int *days)
{
    char msg[160];
    long d = 0;
    coop_err err =
        coop_config_get_int(cfg, "COOP_AUDIT_RETENTION_DAYS", COOP_AUDIT_RETENTION_DAYS_DEFAULT, 1,
                            3650, &d, msg, sizeof msg);
    if (err) {
        coop_log_error("invalid audit setting", COOP_F_STR("detail", msg));
        return err;
    }
    *days = (int)d;
    return COOP_ERR_OK;
}

static coop_err audit_start(struct coop_app *app)
{
    char msg[160] = "";
    long interval = 0;
    int days = 0;
    coop_err err = coop_audit_retention_days(&app->config, &days);
    if (err)
        return err;
    err = coop_config_get_int(&app->config, "COOP_AUDIT_PURGE_INTERVAL_S", 3600, 1, 86400 * 7,
                              &interval, msg, sizeof msg);
    if (err) {
        coop_log_error("invalid audit setting", COOP_F_STR("detail", msg));
        return err;
    }
    return coop_audit_purger_start(app->store, days, (int)interval, &purger);
}

static void audit_stop(struct coop_app *app)
{
    coop_audit_purger_stop(purger);
    purger = NULL;
}

const struct coop_app_module coop_audit_module = {
    .name = "audit",
    .register_routes = audit_routes,
    .start = audit_start,
    .stop = audit_stop,
};
