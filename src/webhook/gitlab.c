/*
 * GitLab: the X-Gitlab-Token shared secret (COOP_GITLAB_WEBHOOK_TOKEN) and,
 * when COOP_GITLAB_SIGNING_KEY is set, the Standard Webhooks signature too;
 * each configured one must hold. Event in X-Gitlab-Event, dedupe key in
 * Idempotency-Key, else X-Gitlab-Event-UUID. The payload's object_kind (or
 * a system hook's event_name) says what it is, so project and system hooks
 * parse alike. System hooks carry no web URL: their host comes from
 * X-Gitlab-Instance, which describe() appends to the event name as
 * "<event>;instance=<host>" (gitlab.com when absent).
 */
#include "webhook_int.h"

#include <string.h>

static coop_err gitlab_verify(const struct coop_config *cfg, const struct coop_webhook_input *in)
{
    const char *token = coop_config_get(cfg, "COOP_GITLAB_WEBHOOK_TOKEN");
    const char *key = coop_config_get(cfg, "COOP_GITLAB_SIGNING_KEY");
    if (!token && !key)
        return COOP_ERR_CONFIG;
    if (token) {
        const char *got = in->header(in->header_ctx, "X-Gitlab-Token");
        if (!got || !coop_ct_equal(got, strlen(got), token, strlen(token)))
            return COOP_ERR_AUTH;
    }
    if (key) {
        coop_err err = coop_webhook_verify_standard(
            key, in->header(in->header_ctx, "webhook-id"),
            in->header(in->header_ctx, "webhook-timestamp"), in->body, in->len,
            in->header(in->header_ctx, "webhook-signature"), in->now_ms);
        if (err)
            return err == COOP_ERR_CONFIG ? COOP_ERR_CONFIG : COOP_ERR_AUTH;
    }
    return COOP_ERR_OK;
}

static coop_err gitlab_describe(const struct coop_webhook_input *in, struct json_object *body,
                                struct coop_webhook_meta *out)
{
    const char *ev = in->header(in->header_ctx, "X-Gitlab-Event");
    const char *id = in->header(in->header_ctx, "Idempotency-Key");
    const char *instance = in->header(in->header_ctx, "X-Gitlab-Instance");
    if (!id || !*id)
        id = in->header(in->header_ctx, "X-Gitlab-Event-UUID");
    if (!ev || !*ev)
        return COOP_ERR_PROTOCOL;
    if (instance && *instance && !jstr(body, "project.web_url")) {
        const char *host = strstr(instance, "://");
        host = host ? host + 3 : instance;
        int n = snprintf(out->event, sizeof out->event, "%s;instance=%.*s", ev,
                         (int)strcspn(host, "/"), host);
        if (n < 0 || (size_t)n >= sizeof out->event)
            return COOP_ERR_PROTOCOL;
    } else if (coop_strlcpy(out->event, ev, sizeof out->event) >= sizeof out->event) {
        return COOP_ERR_PROTOCOL;
    }
    if (id && *id && strlen(id) < sizeof out->delivery)
        coop_strlcpy(out->delivery, id, sizeof out->delivery);
    else
        coop_webhook_body_key_(in, out);
    return COOP_ERR_OK;
}

static void common(struct coop_event *ev, struct json_object *p)
{
    ev->repo = ev_repo_from_url(ev, jstr(p, "project.web_url"));
    ev->default_branch = ev_strdup(ev, jstr(p, "project.default_branch"));
    ev->sender.login = ev_strdup(ev, jstr(p, "user.username"));
    if (!ev->sender.login)
        ev->sender.login = ev_strdup(ev, jstr(p, "user_username"));
    ev->sender.name = ev_strdup(ev, jstr(p, jget(p, "user.name") ? "user.name" : "user_name"));
    ev->sender.email = ev_strdup(ev, jstr(p, jget(p, "user.email") ? "user.email" : "user_email"));
}

static coop_err parse_push(const char *name, struct json_object *p, struct coop_event **out)
{
    const char *ref = jstr(p, "ref"), *before = jstr(p, "before"), *after = jstr(p, "after");
    if (!ref || !before || !after)
        return COOP_ERR_PROTOCOL;
    struct coop_event *ev = ev_new(COOP_EVENT_PUSH, COOP_EVENT_SOURCE_GITLAB, name);
    if (!ev)
        return COOP_ERR_NOMEM;
    common(ev, p);
    struct coop_event_push *push = &ev->u.push;
    push->ref = ev_strdup(ev, ref);
    push->before = ev_strdup(ev, before);
    push->after = ev_strdup(ev, after);
    push->created = !strcmp(before, SHA40_ZERO);
    push->deleted = !strcmp(after, SHA40_ZERO);
    push->pusher = ev->sender;
    struct json_object *commits = jarr(p, "commits");
    size_t n = commits ? json_object_array_length(commits) : 0;
    if (n)
        push->commits = ev_alloc(ev, n * sizeof *push->commits);
    for (size_t i = 0; push->commits && i < n; i++) {
        struct json_object *o = json_object_array_get_idx(commits, i);
        struct coop_event_commit *c = &push->commits[push->n_commits++];
        c->sha = ev_strdup(ev, jstr(o, "id"));
        c->author.name = ev_strdup(ev, jstr(o, "author.name"));
        c->author.email = ev_strdup(ev, jstr(o, "author.email"));
        c->time_ms = ev_time(jstr(o, "timestamp"));
        c->message = ev_first_line(ev, jstr(o, "message"));
        c->files_known = true;
        ev_str_array(ev, jarr(o, "added"), &c->added, &c->n_added);
        ev_str_array(ev, jarr(o, "modified"), &c->modified, &c->n_modified);
        ev_str_array(ev, jarr(o, "removed"), &c->removed, &c->n_removed);
    }
    push->total_commits = jint(p, "total_commits_count", (int64_t)n);
    push->truncated = push->total_commits > (int64_t)n;
    if (n)
        ev->time_ms = push->commits[n - 1].time_ms;
    return ev_finish(ev, out);
}

static enum coop_event_pull_action mr_action(const char *a)
{
    if (!a)
        return COOP_EVENT_PULL_OTHER;
    if (!strcmp(a, "open"))
        return COOP_EVENT_PULL_OPENED;
    if (!strcmp(a, "close"))
        return COOP_EVENT_PULL_CLOSED;
    if (!strcmp(a, "reopen"))
        return COOP_EVENT_PULL_REOPENED;
    if (!strcmp(a, "merge"))
        return COOP_EVENT_PULL_MERGED;
    if (!strcmp(a, "update"))
        return COOP_EVENT_PULL_UPDATED;
    return COOP_EVENT_PULL_OTHER;
}

static void parse_mr(struct coop_event *ev, struct coop_event_pull *pr, struct json_object *p)
{
    struct json_object *o = jget(p, "object_attributes");
    const char *action = jstr(o, "action");
    const char *state = jstr(o, "state");
    pr->number = jint(o, "iid", 0);
    pr->title = ev_strdup(ev, jstr(o, "title"));
    pr->state = state && !strcmp(state, "merged") ? COOP_EVENT_PULL_STATE_MERGED
                : state && (!strcmp(state, "closed") || !strcmp(state, "locked"))
                    ? COOP_EVENT_PULL_STATE_CLOSED
                    : COOP_EVENT_PULL_STATE_OPEN;
    pr->action = mr_action(action);
    pr->action_name = ev_strdup(ev, action ? action : "");
    /* The payload names the author only by id; the user who opened it is
     * the author. */
    if (action && !strcmp(action, "open")) {
        pr->author.login = ev_strdup(ev, jstr(p, "user.username"));
        pr->author.name = ev_strdup(ev, jstr(p, "user.name"));
        pr->author.email = ev_strdup(ev, jstr(p, "user.email"));
    }
    struct json_object *rv = jarr(p, "reviewers");
    size_t n = rv ? json_object_array_length(rv) : 0;
    for (size_t i = 0; i < n; i++)
        ev_push_str(ev, &pr->reviewers, &pr->n_reviewers,
                    jstr(json_object_array_get_idx(rv, i), "username"));
    pr->url = ev_strdup(ev, jstr(o, "url"));
    pr->source_branch = ev_strdup(ev, jstr(o, "source_branch"));
    pr->target_branch = ev_strdup(ev, jstr(o, "target_branch"));
    pr->head_sha = ev_strdup(ev, jstr(o, "last_commit.id"));
    pr->merge_sha = ev_strdup(ev, jstr(o, "merge_commit_sha"));
    pr->created_ms = ev_time(jstr(o, "created_at"));
    pr->updated_ms = ev_time(jstr(o, "updated_at"));
    if (pr->state != COOP_EVENT_PULL_STATE_OPEN)
        pr->closed_ms =
            ev_time(jstr(o, pr->state == COOP_EVENT_PULL_STATE_MERGED ? "merged_at" : "closed_at"));
}

static coop_err parse_merge_request(const char *name, struct json_object *p,
                                    struct coop_event **out)
{
    struct json_object *o = jget(p, "object_attributes");
    if (!o || !jget(o, "iid"))
        return COOP_ERR_PROTOCOL;
    const char *action = jstr(o, "action");
    bool approve = action && (!strcmp(action, "approved") || !strcmp(action, "approval"));
    bool unapprove = action && (!strcmp(action, "unapproved") || !strcmp(action, "unapproval"));
    struct coop_event *ev = ev_new(approve || unapprove ? COOP_EVENT_REVIEW : COOP_EVENT_PULL,
                                   COOP_EVENT_SOURCE_GITLAB, name);
    if (!ev)
        return COOP_ERR_NOMEM;
    common(ev, p);
    if (approve || unapprove) {
        struct coop_event_review *rv = &ev->u.review;
        rv->state = approve ? COOP_EVENT_REVIEW_APPROVED : COOP_EVENT_REVIEW_UNAPPROVED;
        rv->reviewer = ev->sender;
        rv->time_ms = ev_time(jstr(o, "updated_at"));
        rv->commit_sha = ev_strdup(ev, jstr(o, "last_commit.id"));
        parse_mr(ev, &rv->pull, p);
        ev->time_ms = rv->time_ms;
    } else {
        parse_mr(ev, &ev->u.pull, p);
        ev->time_ms = ev->u.pull.updated_ms;
    }
    return ev_finish(ev, out);
}

/* System hooks: project_rename / project_transfer. */
static coop_err parse_project_moved(const char *name, const char *instance, struct json_object *p,
                                    bool transferred, struct coop_event **out)
{
    const char *from = jstr(p, "old_path_with_namespace"), *to = jstr(p, "path_with_namespace");
    if (!from || !to)
        return COOP_ERR_PROTOCOL;
    struct coop_event *ev = ev_new(COOP_EVENT_REPO_RENAMED, COOP_EVENT_SOURCE_GITLAB, name);
    if (!ev)
        return COOP_ERR_NOMEM;
    const char *host = instance ? instance : "gitlab.com";
    size_t cap = strlen(host) + strlen(from) + strlen(to) + 2;
    char *old = ev_alloc(ev, cap), *new_id = ev_alloc(ev, cap);
    if (old && new_id) {
        snprintf(old, cap, "%s/%s", host, from);
        snprintf(new_id, cap, "%s/%s", host, to);
    }
    ev->repo = new_id;
    ev->u.renamed.old_id = old;
    ev->u.renamed.new_id = new_id;
    ev->u.renamed.transferred = transferred;
    ev->sender.name = ev_strdup(ev, jstr(p, "owner_name"));
    ev->sender.email = ev_strdup(ev, jstr(p, "owner_email"));
    ev->time_ms = ev_time(jstr(p, "updated_at"));
    return ev_finish(ev, out);
}

coop_err coop_event_parse_gitlab(const char *event_name, struct json_object *payload,
                                 struct coop_event **out)
{
    *out = NULL;
    if (!event_name || !payload || !json_object_is_type(payload, json_type_object))
        return COOP_ERR_PROTOCOL;
    char name[128], instance[128];
    const char *inst = strstr(event_name, ";instance=");
    size_t n = inst ? (size_t)(inst - event_name) : strlen(event_name);
    if (n >= sizeof name || (inst && strlen(inst + 10) >= sizeof instance))
        return COOP_ERR_PROTOCOL;
    memcpy(name, event_name, n);
    name[n] = '\0';
    if (inst)
        coop_strlcpy(instance, inst + 10, sizeof instance);
    const char *kind = jstr(payload, "object_kind");
    const char *sys = jstr(payload, "event_name");
    if (!kind)
        kind = sys; /* system hooks name pushes in event_name */
    if (kind && (!strcmp(kind, "push") || !strcmp(kind, "tag_push")))
        return parse_push(name, payload, out);
    if (kind && !strcmp(kind, "merge_request"))
        return parse_merge_request(name, payload, out);
    if (sys && !strcmp(sys, "project_rename"))
        return parse_project_moved(name, inst ? instance : NULL, payload, false, out);
    if (sys && !strcmp(sys, "project_transfer"))
        return parse_project_moved(name, inst ? instance : NULL, payload, true, out);
    return COOP_ERR_OK;
}

const struct coop_webhook_source coop_webhook_gitlab = {
    .version = 1,
    .name = "gitlab",
    .route = "/webhooks/gitlab",
    .job_kind = "webhook.gitlab",
    .verify = gitlab_verify,
    .describe = gitlab_describe,
    .parse = coop_event_parse_gitlab,
};
