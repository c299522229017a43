/*
 * The graph's HTTP endpoints (DESIGN.md section 4): query parameters in,
 * the graph's JSON out. 404 for an unknown repository or path, 400 for a
 * bad parameter, each with a message saying which.
 */
#include "app.h"

#include "coop/event.h"
#include "coop/graph.h"

#include <json-c/json.h>
#include <string.h>

static bool read_limit(struct coop_http_request *req, struct coop_http_response *res,
                       int64_t *limit)
{
    const char *s = coop_http_query(req, "limit");
    *limit = 0;
    if (!s)
        return true;
    if (coop_parse_i64(s, limit) != COOP_ERR_OK || *limit < 1) {
        coop_http_error(res, req, 400, "bad_request", "limit must be a positive integer");
        return false;
    }
    return true;
}

static void answer(struct coop_http_request *req, struct coop_http_response *res, coop_err err,
                   const char *what, struct json_object *out)
{
    if (err == COOP_ERR_OK) {
        coop_http_json(res, 200, out);
        json_object_put(out);
        return;
    }
    if (err == COOP_ERR_NOT_FOUND) {
        if (what && strcmp(what, "repo") == 0)
            coop_http_error(res, req, 404, "not_found", "unknown repository");
        else
            coop_http_error(res, req, 404, "not_found", "unknown path in this repository");
        return;
    }
    if (err == COOP_ERR_INVALID) {
        if (what && strcmp(what, "repo") == 0)
            coop_http_error(res, req, 400, "bad_request", "the repo parameter is required");
        else if (what && strcmp(what, "path") == 0)
            coop_http_error(res, req, 400, "bad_request", "the path parameter is missing or invalid");
        else if (what && strcmp(what, "limit") == 0)
            coop_http_error(res, req, 400, "bad_request", "limit is out of range");
        else if (what && strcmp(what, "cursor") == 0)
            coop_http_error(res, req, 400, "bad_request", "cursor is not one this server gave");
        else if (what && strcmp(what, "state") == 0)
            coop_http_error(res, req, 400, "bad_request", "state must be open, closed, merged or all");
        else
            coop_http_error(res, req, 400, "bad_request", "bad parameter");
        return;
    }
    coop_log_error("graph query failed", COOP_F_STR("route", req->route), COOP_F_ERR(err));
    coop_http_error(res, req, 500, "internal", "the graph could not answer");
}

typedef coop_err (*query_fn)(struct coop_store *, const struct coop_graph_query *,
                             struct json_object **, const char **);

static void run_query(struct coop_http_request *req, struct coop_http_response *res,
                      struct coop_app *app, query_fn fn)
{
    struct coop_graph_query q = {
        .repo = coop_http_query(req, "repo"),
        .path = coop_http_query(req, "path"),
        .cursor = coop_http_query(req, "cursor"),
        .state = coop_http_query(req, "state"),
    };
    if (!read_limit(req, res, &q.limit))
        return;
    if (!q.repo || !*q.repo) {
        coop_http_error(res, req, 400, "bad_request", "the repo parameter is required");
        return;
    }
    struct json_object *out = NULL;
    const char *what = NULL;
    coop_err err = fn(app->store, &q, &out, &what);
    answer(req, res, err, what, out);
}

static void repos(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    struct coop_app *app = ctx;
    struct json_object *out = NULL;
    coop_err err = coop_graph_repos(app->store, &out);
    answer(req, res, err, NULL, out);
}

#define QUERY_HANDLER(name, fn)                                                                    \
    static void name(struct coop_http_request *req, struct coop_http_response *res, void *ctx)    \
    {                                                                                              \
        run_query(req, res, ctx, fn);                                                              \
    }

typedef coop_err (*text_fn)(struct coop_store *, const struct coop_graph_query *,
                            struct coop_buf *, const char **);

/* Owners and history are the most asked questions: their JSON text is
 * written straight into the response body (often from the graph's kept
 * answers). */
static void run_text_query(struct coop_http_request *req, struct coop_http_response *res,
                           struct coop_app *app, text_fn fn)
{
    struct coop_graph_query q = {
        .repo = coop_http_query(req, "repo"),
        .path = coop_http_query(req, "path"),
        .cursor = coop_http_query(req, "cursor"),
    };
    if (!read_limit(req, res, &q.limit))
        return;
    if (!q.repo || !*q.repo) {
        coop_http_error(res, req, 400, "bad_request", "the repo parameter is required");
        return;
    }
    const char *what = NULL;
    coop_err err = fn(app->store, &q, &res->body, &what);
    if (!err) {
        res->status = 200;
        res->content_type = NULL;
        return;
    }
    coop_buf_reset(&res->body);
    answer(req, res, err, what, NULL);
}

static void owners(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    run_text_query(req, res, ctx, coop_graph_owners_text);
}

static void history(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    run_text_query(req, res, ctx, coop_graph_history_text);
}

QUERY_HANDLER(coupling, coop_graph_coupling)
QUERY_HANDLER(truck_factor, coop_graph_truck_factor_query)
QUERY_HANDLER(pulls, coop_graph_pulls)
QUERY_HANDLER(people, coop_graph_people)

static coop_err register_routes(struct coop_app *app)
{
    /* Registered before any module starts, so no job worker can run a
     * webhook delivery without the graph applying it. */
    coop_event_set_consumer(coop_graph_apply_event, NULL);
    const struct coop_http_route routes[] = {
        {.method = "GET", .pattern = "/v1/repos", .handler = repos},
        {.method = "GET", .pattern = "/v1/owners", .handler = owners},
        {.method = "GET", .pattern = "/v1/history", .handler = history},
        {.method = "GET", .pattern = "/v1/coupling", .handler = coupling},
        {.method = "GET", .pattern = "/v1/truck-factor", .handler = truck_factor},
        {.method = "GET", .pattern = "/v1/pulls", .handler = pulls},
        {.method = "GET", .pattern = "/v1/people", .handler = people},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        struct coop_http_route r = routes[i];
        r.scope = COOP_SCOPE_READ;
        r.ctx = app;
        coop_err err = coop_http_add_route(app->http, &r);
        if (err)
            return err;
    }
    return COOP_ERR_OK;
}

static void stop(struct coop_app *app)
{
    coop_event_set_consumer(NULL, NULL);
}

const struct coop_app_module coop_graph_module = {
    .name = "graph",
    .register_routes = register_routes,
    .stop = stop,
};
