/*
 * The hosts module of coopd serve: registers the hosts job handlers and
 * POST /v1/admin/hosts/sync, which enqueues one job:
 *   {"kind":"codeowners"|"backfill"|"gap"|"pull"|"slack_user",
 *    "repo":"github.com/o/r", "number":12, "after":"<sha>", "user":"U123"}
 * and answers 202 {"job":id}.
 *
 * It also wraps the graph's event consumer: after the graph applied an
 * event, the follow-ups are enqueued in the same transaction (so exactly
 * once per delivery) for hosts whose token is configured (or all, with
 * COOP_HOSTS_SYNC=1): a repository's first push queues its backfill and
 * CODEOWNERS, a push that leaves a gap queues hosts.gap, a push touching
 * a CODEOWNERS location queues hosts.codeowners, a pull request event
 * queues hosts.pull, a Slack user without an email queues
 * hosts.slack_user.
 */
#include "coop/event.h"
#include "coop/graph.h"
#include "hosts_int.h"
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
    json_object_put(out);
}

/* ---- follow-ups of webhook events --------------------------------------------- */

static const struct coop_config *follow_cfg;

static bool sync_enabled(const struct coop_host_ops *ops)
{
    const char *all = coop_config_get(follow_cfg, "COOP_HOSTS_SYNC");
    if (all)
        return !strcmp(all, "1");
    return coop_config_get(follow_cfg, ops->token_var) != NULL ||
           (ops->kind == COOP_HOST_GITHUB && coop_config_get(follow_cfg, "COOP_GITHUB_APP_ID")) ||
           (ops->kind == COOP_HOST_BITBUCKET_DC &&
            coop_config_get(follow_cfg, "COOP_BITBUCKET_TOKEN") != NULL);
}

static coop_err exists_row(void *ctx, const struct coop_row *row)
{
    *(bool *)ctx = true;
    return COOP_ERR_OK;
}

static bool row_exists(struct coop_conn *c, const char *sql, const char *a, const char *b)
{
    bool found = false;
    coop_conn_query(c, sql, COOP_PARAMS(COOP_PT(a), COOP_PT(b)), exists_row, &found);
    return found;
}

static bool is_codeowners(const struct coop_host_ops *ops, char *const *paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; ops->codeowners_paths[k]; k++)
            if (paths[i] && !strcmp(paths[i], ops->codeowners_paths[k]))
                return true;
    return false;
}

static coop_err follow_push(struct coop_conn *c, const struct coop_event *ev,
                            const struct coop_host_ops *ops)
{
    const struct coop_event_push *p = &ev->u.push;
    coop_err err = COOP_ERR_OK;
    bool codeowners = false, files_unknown = false;
    if (!row_exists(c, "SELECT 1 FROM hosts_sync WHERE repo = ? AND kind = ?", ev->repo,
                    "backfill")) {
        /* Unique while queued, so every push until it runs adds nothing. */
        err = coop_hosts_enqueue(c, COOP_HOSTS_JOB_BACKFILL, ev->repo, 0, NULL);
        codeowners = true;
    }
    for (size_t i = 0; i < p->n_commits && !codeowners; i++) {
        const struct coop_event_commit *cm = &p->commits[i];
        files_unknown |= !cm->files_known;
        codeowners = is_codeowners(ops, cm->added, cm->n_added) ||
                     is_codeowners(ops, cm->modified, cm->n_modified) ||
                     is_codeowners(ops, cm->removed, cm->n_removed);
    }
    /* Without file lists a change to CODEOWNERS cannot be seen: ask (an
     * unchanged file costs a 304). */
    if (!err && (codeowners || files_unknown))
        err = coop_hosts_enqueue(c, COOP_HOSTS_JOB_CODEOWNERS, ev->repo, 0, NULL);
    if (!err && p->after &&
        row_exists(c,
                   "SELECT 1 FROM graph_gaps g JOIN graph_repos r ON r.id = g.repo"
                   " WHERE r.name = ? AND g.after_sha = ? AND g.filled = 0",
                   ev->repo, p->after)) {
        char payload[600];
        if ((size_t)snprintf(payload, sizeof payload, "%s@%s", ev->repo, p->after) < sizeof payload)
            err = coop_hosts_enqueue(c, COOP_HOSTS_JOB_GAP, payload, 0, NULL);
    }
    return err;
}

static coop_err follow(struct coop_conn *c, const struct coop_event *ev)
{
    if (ev->kind == COOP_EVENT_SLACK_USER) {
        const struct coop_event_slack_user *u = &ev->u.slack_user;
        if (u->email || u->deleted || u->is_bot || !u->user_id ||
            !coop_config_get(follow_cfg, coop_host_slack.token_var))
            return COOP_ERR_OK;
        return coop_hosts_enqueue(c, COOP_HOSTS_JOB_SLACK_USER, u->user_id, 0, NULL);
    }
    const struct coop_host_ops *ops;
    const char *project;
    if (!ev->repo || coop_hosts_for_repo(follow_cfg, ev->repo, &ops, &project) || !sync_enabled(ops))
        return COOP_ERR_OK;
    switch (ev->kind) {
    case COOP_EVENT_PUSH:
        return follow_push(c, ev, ops);
    case COOP_EVENT_PULL: {
        char payload[600];
        if (ev->u.pull.number < 1 ||
            (size_t)snprintf(payload, sizeof payload, "%s#%lld", ev->repo,
                             (long long)ev->u.pull.number) >= sizeof payload)
            return COOP_ERR_OK;
        return coop_hosts_enqueue(c, COOP_HOSTS_JOB_PULL, payload, 0, NULL);
    }
    case COOP_EVENT_REVIEW:
    case COOP_EVENT_REPO_RENAMED:
    case COOP_EVENT_SLACK_USER:
        return COOP_ERR_OK;
    }
    return COOP_ERR_OK;
}

static coop_err consume(struct coop_conn *c, const struct coop_event *ev, void *ctx)
{
    coop_err err = coop_graph_apply_event(c, ev, ctx);
    return err ? err : follow(c, ev);
}

static coop_err register_routes(struct coop_app *app)
{
    coop_err err = coop_hosts_register_jobs(&app->config, app->store);
    if (err)
        return err;
    /* A GitHub App that is configured must be usable: found out at start,
     * not at the first sync. */
    struct coop_github_app *gh_app;
    char why[256];
    if (coop_github_app_from_config(&app->config, &gh_app, why, sizeof why)) {
        coop_log_error("invalid GitHub App setting", COOP_F_STR("detail", why));
        return COOP_ERR_CONFIG;
    }
    follow_cfg = &app->config;
    /* The graph set itself as the consumer just before (module order). */
    coop_event_set_consumer(consume, NULL);
    struct coop_http_route route = {.method = "POST",
                                    .pattern = "/v1/admin/hosts/sync",
                                    .scope = COOP_SCOPE_ADMIN,
                                    .max_body = 4096,
                                    .handler = sync_route,
                                    .ctx = app};
    return coop_http_add_route(app->http, &route);
}

static void stop(struct coop_app *app)
{
    coop_event_set_consumer(coop_graph_apply_event, NULL);
}

const struct coop_app_module coop_hosts_module = {
    .name = "hosts",
    .register_routes = register_routes,
    .stop = stop,
};
