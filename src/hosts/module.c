/*
 * The hosts module of coopd serve: registers the hosts job handlers and
 * POST /v1/admin/hosts/sync, which enqueues one job:
 *   {"kind":"codeowners"|"backfill"|"gap"|"pull"|"slack_user",
 *    "repo":"github.com/o/r", "number":12, "after":"<sha>", "user":"U123"}
 * and answers 202 {"job":id}. The graph's event consumer enqueues the
 * same jobs through coop_hosts_enqueue().
 */
#include "coop/hosts.h"
#include "coop/http.h"
#include "coop/jobs.h"
#include "main/app.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

struct sync_req {
    const char *kind;
    char payload[600];
    int64_t id;
};

static coop_err sync_tx(struct coop_conn *conn, void *ctx)
{
    struct sync_req *r = ctx;
    return coop_hosts_enqueue(conn, r->kind, r->payload, 0, &r->id);
}

static bool repo_ok(const char *repo)
{
    return repo && strchr(repo, '/') && strlen(repo) < 400 && !strpbrk(repo, "#@ \t\r\n");
}

static void sync_route(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    struct coop_app *app = ctx;
    struct json_object *body = NULL;
    if (coop_json_parse(req->body, req->body_len, 8, true, &body) ||
        !json_object_is_type(body, json_type_object)) {
        json_object_put(body);
        return coop_http_error(res, req, 400, "invalid_json", "the body must be a JSON object");
    }
    const char *kind = coop_json_str(body, "kind"), *repo = coop_json_str(body, "repo");
    struct sync_req r = {0};
    int64_t number = 0;
    const char *after = coop_json_str(body, "after"), *user = coop_json_str(body, "user");
    const char *bad = NULL;
    if (!kind)
        bad = "kind is required";
    else if (!strcmp(kind, "slack_user")) {
        r.kind = COOP_HOSTS_JOB_SLACK_USER;
        if (!user || !*user || strlen(user) > 32)
            bad = "user must be a Slack user id";
        else
            snprintf(r.payload, sizeof r.payload, "%s", user);
    } else if (!repo_ok(repo)) {
        bad = "repo must be HOST/PATH";
    } else if (!strcmp(kind, "codeowners") || !strcmp(kind, "backfill")) {
        r.kind = kind[0] == 'c' ? COOP_HOSTS_JOB_CODEOWNERS : COOP_HOSTS_JOB_BACKFILL;
        snprintf(r.payload, sizeof r.payload, "%s", repo);
    } else if (!strcmp(kind, "pull")) {
        r.kind = COOP_HOSTS_JOB_PULL;
        if (!coop_json_int(body, "number", &number) || number < 1)
            bad = "number must be a pull request number";
        else
            snprintf(r.payload, sizeof r.payload, "%s#%lld", repo, (long long)number);
    } else if (!strcmp(kind, "gap")) {
        r.kind = COOP_HOSTS_JOB_GAP;
        if (!after || !*after || strlen(after) > 64 || strspn(after, "0123456789abcdef") != strlen(after))
            bad = "after must be a commit sha";
        else
            snprintf(r.payload, sizeof r.payload, "%s@%s", repo, after);
    } else {
        bad = "kind must be codeowners, backfill, gap, pull or slack_user";
    }
    if (bad) {
        json_object_put(body);
        return coop_http_error(res, req, 400, "invalid_request", bad);
    }
    coop_err err = coop_store_tx(app->store, true, sync_tx, &r);
    json_object_put(body);
    if (err)
        return coop_http_error(res, req, 503, "store_error", "the job could not be queued");
    coop_jobs_notify();
    struct json_object *out = json_object_new_object();
    json_object_object_add(out, "job", json_object_new_int64(r.id));
    coop_http_json(res, 202, out);
}

static coop_err register_routes(struct coop_app *app)
{
    coop_err err = coop_hosts_register_jobs(&app->config, app->store);
    if (err)
        return err;
    struct coop_http_route route = {.method = "POST",
                                    .pattern = "/v1/admin/hosts/sync",
                                    .scope = COOP_SCOPE_ADMIN,
                                    .max_body = 4096,
                                    .handler = sync_route,
                                    .ctx = app};
    return coop_http_add_route(app->http, &route);
}

const struct coop_app_module coop_hosts_module = {
    .name = "hosts",
    .register_routes = register_routes,
};
