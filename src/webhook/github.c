/*
 * GitHub: X-Hub-Signature-256 "sha256=<hex>" over the body with
 * COOP_GITHUB_WEBHOOK_SECRET; event in X-GitHub-Event, dedupe key in
 * X-GitHub-Delivery. Events used: push, pull_request, pull_request_review,
 * repository (renamed, transferred). A push lists at most 2,048 commits and
 * reports renames as removed + added.
 */
#include "webhook_int.h"

#include <string.h>

#define GITHUB_MAX_COMMITS 2048

static coop_err github_verify(const struct coop_config *cfg, const struct coop_webhook_input *in)
{
    return coop_webhook_verify_hub(coop_config_get(cfg, "COOP_GITHUB_WEBHOOK_SECRET"), in->body,
                                   in->len, in->header(in->header_ctx, "X-Hub-Signature-256"));
}

/* Without a dedupe key from the host, identical bodies count as one delivery. */
void coop_webhook_body_key_(const struct coop_webhook_input *in, struct coop_webhook_meta *out)
{
    char hex[65];
    coop_sha256_hex(in->body, in->len, hex);
    snprintf(out->delivery, sizeof out->delivery, "sha256:%s", hex);
}

static coop_err github_describe(const struct coop_webhook_input *in, struct json_object *body,
                                struct coop_webhook_meta *out)
{
    const char *ev = in->header(in->header_ctx, "X-GitHub-Event");
    const char *id = in->header(in->header_ctx, "X-GitHub-Delivery");
    if (!ev || !*ev || strlen(ev) >= sizeof out->event)
        return COOP_ERR_PROTOCOL;
    coop_strlcpy(out->event, ev, sizeof out->event);
    if (id && *id && strlen(id) < sizeof out->delivery)
        coop_strlcpy(out->delivery, id, sizeof out->delivery);
    else
        coop_webhook_body_key_(in, out);
    return COOP_ERR_OK;
}

/* repo id, default branch and sender, common to every event. */
static void common(struct coop_event *ev, struct json_object *p)
{
    struct json_object *repo = jget(p, "repository");
    ev->repo = ev_repo_from_url(ev, jstr(repo, "html_url"));
    if (!ev->repo && jstr(repo, "full_name")) {
        size_t n = strlen(jstr(repo, "full_name"));
        ev->repo = ev_alloc(ev, n + 12);
        if (ev->repo)
            snprintf(ev->repo, n + 12, "github.com/%s", jstr(repo, "full_name"));
    }
    ev->default_branch = ev_strdup(ev, jstr(repo, "default_branch"));
    ev->sender.login = ev_strdup(ev, jstr(p, "sender.login"));
}

static void parse_commit(struct coop_event *ev, struct coop_event_commit *c, struct json_object *o)
{
    c->sha = ev_strdup(ev, jstr(o, "id"));
    c->author.name = ev_strdup(ev, jstr(o, "author.name"));
    c->author.email = ev_strdup(ev, jstr(o, "author.email"));
    c->author.login = ev_strdup(ev, jstr(o, "author.username"));
    c->time_ms = ev_time(jstr(o, "timestamp"));
    c->message = ev_first_line(ev, jstr(o, "message"));
    c->files_known = true;
    ev_str_array(ev, jarr(o, "added"), &c->added, &c->n_added);
    ev_str_array(ev, jarr(o, "modified"), &c->modified, &c->n_modified);
    ev_str_array(ev, jarr(o, "removed"), &c->removed, &c->n_removed);
}

static coop_err parse_push(const char *name, struct json_object *p, struct coop_event **out)
{
    const char *ref = jstr(p, "ref"), *before = jstr(p, "before"), *after = jstr(p, "after");
    if (!ref || !before || !after || !jget(p, "repository"))
        return COOP_ERR_PROTOCOL;
    struct coop_event *ev = ev_new(COOP_EVENT_PUSH, COOP_EVENT_SOURCE_GITHUB, name);
    if (!ev)
        return COOP_ERR_NOMEM;
    common(ev, p);
    struct coop_event_push *push = &ev->u.push;
    push->ref = ev_strdup(ev, ref);
    push->before = ev_strdup(ev, before);
    push->after = ev_strdup(ev, after);
    push->created = jbool(p, "created");
    push->deleted = jbool(p, "deleted");
    push->forced = jbool(p, "forced");
    push->pusher.name = ev_strdup(ev, jstr(p, "pusher.name"));
    push->pusher.email = ev_strdup(ev, jstr(p, "pusher.email"));
    push->pusher.login = ev_strdup(ev, jstr(p, "sender.login"));
    struct json_object *commits = jarr(p, "commits");
    size_t n = commits ? json_object_array_length(commits) : 0;
    if (n) {
        push->commits = ev_alloc(ev, n * sizeof *push->commits);
        for (size_t i = 0; push->commits && i < n; i++)
            parse_commit(ev, &push->commits[push->n_commits++],
                         json_object_array_get_idx(commits, i));
    }
    push->truncated = n >= GITHUB_MAX_COMMITS;
    push->total_commits = push->truncated ? -1 : (int64_t)n;
    ev->time_ms = ev_time(jstr(p, "head_commit.timestamp"));
    return ev_finish(ev, out);
}

/* The pull request object, shared by pull_request and pull_request_review. */
static void parse_pull(struct coop_event *ev, struct coop_event_pull *pr, struct json_object *o,
                       const char *action)
{
    pr->number = jint(o, "number", 0);
    pr->title = ev_strdup(ev, jstr(o, "title"));
    bool merged = jbool(o, "merged") || jstr(o, "merged_at");
    const char *state = jstr(o, "state");
    pr->state = merged                              ? COOP_EVENT_PULL_STATE_MERGED
                : state && !strcmp(state, "closed") ? COOP_EVENT_PULL_STATE_CLOSED
                                                    : COOP_EVENT_PULL_STATE_OPEN;
    pr->action_name = ev_strdup(ev, action ? action : "");
    if (!action)
        pr->action = COOP_EVENT_PULL_OTHER;
    else if (!strcmp(action, "opened"))
        pr->action = COOP_EVENT_PULL_OPENED;
    else if (!strcmp(action, "closed"))
        pr->action = merged ? COOP_EVENT_PULL_MERGED : COOP_EVENT_PULL_CLOSED;
    else if (!strcmp(action, "reopened"))
        pr->action = COOP_EVENT_PULL_REOPENED;
    else if (!strcmp(action, "synchronize") || !strcmp(action, "edited") ||
             !strcmp(action, "review_requested") || !strcmp(action, "review_request_removed") ||
             !strcmp(action, "ready_for_review") || !strcmp(action, "converted_to_draft"))
        pr->action = COOP_EVENT_PULL_UPDATED;
    else
        pr->action = COOP_EVENT_PULL_OTHER;
    pr->author.login = ev_strdup(ev, jstr(o, "user.login"));
    struct json_object *rv = jarr(o, "requested_reviewers");
    size_t n = rv ? json_object_array_length(rv) : 0;
    for (size_t i = 0; i < n; i++)
        ev_push_str(ev, &pr->reviewers, &pr->n_reviewers,
                    jstr(json_object_array_get_idx(rv, i), "login"));
    pr->url = ev_strdup(ev, jstr(o, "html_url"));
    pr->source_branch = ev_strdup(ev, jstr(o, "head.ref"));
    pr->target_branch = ev_strdup(ev, jstr(o, "base.ref"));
    pr->head_sha = ev_strdup(ev, jstr(o, "head.sha"));
    if (merged)
        pr->merge_sha = ev_strdup(ev, jstr(o, "merge_commit_sha"));
    pr->created_ms = ev_time(jstr(o, "created_at"));
    pr->updated_ms = ev_time(jstr(o, "updated_at"));
    pr->closed_ms = ev_time(jstr(o, merged ? "merged_at" : "closed_at"));
}

static coop_err parse_pull_request(const char *name, struct json_object *p, struct coop_event **out)
{
    struct json_object *o = jget(p, "pull_request");
    if (!o || !jget(o, "number"))
        return COOP_ERR_PROTOCOL;
    struct coop_event *ev = ev_new(COOP_EVENT_PULL, COOP_EVENT_SOURCE_GITHUB, name);
    if (!ev)
        return COOP_ERR_NOMEM;
    common(ev, p);
    parse_pull(ev, &ev->u.pull, o, jstr(p, "action"));
    ev->time_ms = ev->u.pull.updated_ms;
    return ev_finish(ev, out);
}

static coop_err parse_review(const char *name, struct json_object *p, struct coop_event **out)
{
    struct json_object *o = jget(p, "pull_request"), *r = jget(p, "review");
    const char *state = jstr(r, "state");
    if (!o || !r || !state)
        return COOP_ERR_PROTOCOL;
    struct coop_event *ev = ev_new(COOP_EVENT_REVIEW, COOP_EVENT_SOURCE_GITHUB, name);
    if (!ev)
        return COOP_ERR_NOMEM;
    common(ev, p);
    struct coop_event_review *rv = &ev->u.review;
    const char *action = jstr(p, "action");
    if (action && !strcmp(action, "dismissed"))
        rv->state = COOP_EVENT_REVIEW_DISMISSED;
    else if (!strcasecmp(state, "approved"))
        rv->state = COOP_EVENT_REVIEW_APPROVED;
    else if (!strcasecmp(state, "changes_requested"))
        rv->state = COOP_EVENT_REVIEW_CHANGES_REQUESTED;
    else if (!strcasecmp(state, "dismissed"))
        rv->state = COOP_EVENT_REVIEW_DISMISSED;
    else
        rv->state = COOP_EVENT_REVIEW_COMMENTED;
    rv->reviewer.login = ev_strdup(ev, jstr(r, "user.login"));
    rv->time_ms = ev_time(jstr(r, "submitted_at"));
    rv->commit_sha = ev_strdup(ev, jstr(r, "commit_id"));
    rv->url = ev_strdup(ev, jstr(r, "html_url"));
    parse_pull(ev, &rv->pull, o, NULL);
    ev->time_ms = rv->time_ms;
    return ev_finish(ev, out);
}

static coop_err parse_repository(const char *name, struct json_object *p, struct coop_event **out)
{
    const char *action = jstr(p, "action");
    bool renamed = action && !strcmp(action, "renamed");
    bool transferred = action && !strcmp(action, "transferred");
    *out = NULL;
    if (!renamed && !transferred)
        return COOP_ERR_OK;
    struct coop_event *ev = ev_new(COOP_EVENT_REPO_RENAMED, COOP_EVENT_SOURCE_GITHUB, name);
    if (!ev)
        return COOP_ERR_NOMEM;
    common(ev, p);
    const char *repo = ev->repo;
    const char *from = renamed ? jstr(p, "changes.repository.name.from") : NULL;
    if (transferred) {
        from = jstr(p, "changes.owner.from.user.login");
        if (!from)
            from = jstr(p, "changes.owner.from.organization.login");
    }
    const char *slash = repo ? strchr(repo, '/') : NULL;
    const char *last = repo ? strrchr(repo, '/') : NULL;
    if (!from || !slash || slash == last) {
        coop_event_free(ev);
        return COOP_ERR_PROTOCOL;
    }
    /* host/owner/name: a rename changes name, a transfer changes owner. */
    size_t cap = strlen(repo) + strlen(from) + 2;
    char *old = ev_alloc(ev, cap);
    if (old) {
        if (renamed)
            snprintf(old, cap, "%.*s/%s", (int)(last - repo), repo, from);
        else
            snprintf(old, cap, "%.*s/%s%s", (int)(slash - repo), repo, from, last);
    }
    ev->u.renamed.old_id = old;
    ev->u.renamed.new_id = ev_strdup(ev, repo);
    ev->u.renamed.transferred = transferred;
    ev->time_ms = ev_time(jstr(p, "repository.updated_at"));
    return ev_finish(ev, out);
}

coop_err coop_event_parse_github(const char *event_name, struct json_object *payload,
                                 struct coop_event **out)
{
    *out = NULL;
    if (!event_name || !payload || !json_object_is_type(payload, json_type_object))
        return COOP_ERR_PROTOCOL;
    if (!strcmp(event_name, "push"))
        return parse_push(event_name, payload, out);
    if (!strcmp(event_name, "pull_request"))
        return parse_pull_request(event_name, payload, out);
    if (!strcmp(event_name, "pull_request_review"))
        return parse_review(event_name, payload, out);
    if (!strcmp(event_name, "repository"))
        return parse_repository(event_name, payload, out);
    return COOP_ERR_OK;
}

const struct coop_webhook_source coop_webhook_github = {
    .version = 1,
    .name = "github",
    .route = "/webhooks/github",
    .job_kind = "webhook.github",
    .verify = github_verify,
    .describe = github_describe,
    .parse = coop_event_parse_github,
    .describe_from_headers = true,
};
