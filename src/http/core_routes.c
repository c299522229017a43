/*
 * The server's own endpoints: liveness, readiness (the store answers) and
 * the Prometheus metrics.
 */
#include "http_int.h"

#include "coop/metrics.h"
#include "coop/store.h"

static void healthz(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    coop_http_json_text(res, 200, "{\"status\":\"ok\"}");
}

static void readyz(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    struct coop_http_server *srv = ctx;
    struct coop_store *store = coop_http_store_(srv);
    if (store && coop_store_ping(store) == COOP_ERR_OK)
        coop_http_json_text(res, 200, "{\"status\":\"ready\"}");
    else
        coop_http_error(res, req, 503, "unavailable", "the store does not answer");
}

static void metrics(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    res->status = 200;
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
    if (coop_metrics_render(&res->body) != COOP_ERR_OK)
        coop_http_error(res, req, 500, "internal", "metrics could not be rendered");
}

coop_err coop_http_add_core_routes(struct coop_http_server *srv)
{
    const struct coop_http_route routes[] = {
        {.method = "GET", .pattern = "/healthz", .handler = healthz, .ctx = srv},
        {.method = "GET", .pattern = "/readyz", .handler = readyz, .ctx = srv},
        {.method = "GET",
         .pattern = "/metrics",
         .scope = COOP_SCOPE_READ | COOP_ROUTE_DEV_OPEN,
         .handler = metrics,
         .ctx = srv},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        coop_err err = coop_http_add_route(srv, &routes[i]);
        if (err)
            return err;
    }
    return COOP_ERR_OK;
}
