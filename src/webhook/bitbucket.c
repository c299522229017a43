/*
 * Bitbucket Cloud and Data Center share one route: X-Hub-Signature
 * "sha256=<hex>" with COOP_BITBUCKET_WEBHOOK_SECRET, event in X-Event-Key,
 * dedupe key in X-Request-UUID (Cloud) or X-Request-Id (Data Center). The
 * event key tells them apart: Cloud says "repo:push", "pullrequest:...",
 * Data Center "repo:refs_changed", "pr:...".
 *
 * Neither lists files in a push; Cloud lists at most 5 commits per ref
 * (newest first, turned oldest first here), Data Center none. Repository
 * ids: "bitbucket.org/<workspace>/<repo>" for Cloud, and for Data Center
 * "<host>/<project key, lowercase>/<slug>", the path of its clone URLs.
 */
#include "webhook_int.h"

#include <ctype.h>
#include <string.h>

static coop_err bitbucket_verify(const struct coop_config *cfg, const struct coop_webhook_input *in)
{
    return coop_webhook_verify_hub(coop_config_get(cfg, "COOP_BITBUCKET_WEBHOOK_SECRET"), in->body,
                                   in->len, in->header(in->header_ctx, "X-Hub-Signature"));
}

static coop_err bitbucket_describe(const struct coop_webhook_input *in, struct json_object *body,
                                   struct coop_webhook_meta *out)
{
    const char *ev = in->header(in->header_ctx, "X-Event-Key");
    const char *id = in->header(in->header_ctx, "X-Request-UUID");
    if (!id || !*id)
        id = in->header(in->header_ctx, "X-Request-Id");
    if (!ev || !*ev || strlen(ev) >= sizeof out->event)
        return COOP_ERR_PROTOCOL;
    coop_strlcpy(out->event, ev, sizeof out->event);
    if (id && *id && strlen(id) < sizeof out->delivery)
        coop_strlcpy(out->delivery, id, sizeof out->delivery);
    else
        coop_webhook_body_key_(in, out);
    return COOP_ERR_OK;
}

/* ---- Cloud -------------------------------------------------------------------- */

static char *cloud_repo(struct coop_event *ev, const char *full_name)
{
    if (!full_name)
        return NULL;
    size_t cap = strlen(full_name) + 16;
    char *s = ev_alloc(ev, cap);
    if (s)
        snprintf(s, cap, "bitbucket.org/%s", full_name);
    return s;
}

static void cloud_user(struct coop_event *ev, struct coop_event_person *p, struct json_object *u)
{
    p->login = ev_strdup(ev, jstr(u, "nickname"));
    p->name = ev_strdup(ev, jstr(u, "display_name"));
}

/* "Name <email>" */
static void raw_author(struct coop_event *ev, struct coop_event_person *p, const char *raw)
{
    if (!raw)
        return;
    const char *lt = strchr(raw, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (!lt || !gt) {
        p->name = ev_strdup(ev, raw);
        return;
    }
    size_t n = (size_t)(lt - raw);
    while (n > 0 && raw[n - 1] == ' ')
        n--;
    p->name = ev_strndup(ev, raw, n);
    p->email = ev_strndup(ev, lt + 1, (size_t)(gt - lt - 1));
}

static void cloud_common(struct coop_event *ev, struct json_object *p)
{
    ev->repo = cloud_repo(ev, jstr(p, "repository.full_name"));
    ev->default_branch = ev_strdup(ev, jstr(p, "repository.mainbranch.name"));
    cloud_user(ev, &ev->sender, jget(p, "actor"));
}

static const char *ref_prefix(const char *type)
{
    return type && !strcmp(type, "tag") ? "refs/tags/" : "refs/heads/";
}

static void cloud_change(struct coop_event *ev, struct json_object *ch)
{
    struct coop_event_push *push = &ev->u.push;
    struct json_object *nw = jget(ch, "new"), *old = jget(ch, "old");
    bool has_new = nw && json_object_is_type(nw, json_type_object);
    bool has_old = old && json_object_is_type(old, json_type_object);
    struct json_object *side = has_new ? nw : old;
    const char *name = jstr(side, "name");
    size_t cap = (name ? strlen(name) : 0) + 12;
    push->ref = ev_alloc(ev, cap);
    if (push->ref)
        snprintf(push->ref, cap, "%s%s", ref_prefix(jstr(side, "type")), name ? name : "");
    const char *before = has_old ? jstr(old, "target.hash") : NULL;
    const char *after = has_new ? jstr(nw, "target.hash") : NULL;
    push->before = ev_strdup(ev, before ? before : SHA40_ZERO);
    push->after = ev_strdup(ev, after ? after : SHA40_ZERO);
    push->created = jbool(ch, "created") || !has_old;
    push->deleted = jbool(ch, "closed") || !has_new;
    push->forced = jbool(ch, "forced");
    push->pusher = ev->sender;
    struct json_object *commits = jarr(ch, "commits");
    size_t n = commits ? json_object_array_length(commits) : 0;
    if (n)
        push->commits = ev_alloc(ev, n * sizeof *push->commits);
    for (size_t i = 0; push->commits && i < n; i++) {
        /* Bitbucket lists newest first. */
        struct json_object *o = json_object_array_get_idx(commits, n - 1 - i);
        struct coop_event_commit *c = &push->commits[push->n_commits++];
        c->sha = ev_strdup(ev, jstr(o, "hash"));
        if (jstr(o, "author.raw")) {
            raw_author(ev, &c->author, jstr(o, "author.raw"));
            c->author.login = ev_strdup(ev, jstr(o, "author.user.nickname"));
        } else {
            cloud_user(ev, &c->author, jget(o, "author")); /* older payloads: the user itself */
        }
        c->time_ms = ev_time(jstr(o, "date"));
        c->message = ev_first_line(ev, jstr(o, "message"));
        c->files_known = false;
    }
    push->truncated = jbool(ch, "truncated");
    push->total_commits = push->truncated ? -1 : (int64_t)n;
    ev->time_ms = has_new ? ev_time(jstr(nw, "target.date")) : 0;
}

static coop_err cloud_push(const char *name, struct json_object *p, struct coop_event **out)
{
    struct json_object *changes = jarr(p, "push.changes");
    if (!changes || !jget(p, "repository"))
        return COOP_ERR_PROTOCOL;
    struct coop_event *head = NULL;
    size_t n = json_object_array_length(changes);
    for (size_t i = 0; i < n; i++) {
        struct coop_event *ev = ev_new(COOP_EVENT_PUSH, COOP_EVENT_SOURCE_BITBUCKET, name);
        if (!ev) {
            coop_event_free(head);
            return COOP_ERR_NOMEM;
        }
        cloud_common(ev, p);
        cloud_change(ev, json_object_array_get_idx(changes, i));
        ev_append(&head, ev);
    }
    return ev_finish(head, out);
}

static void cloud_pull(struct coop_event *ev, struct coop_event_pull *pr, struct json_object *o,
                       const char *key)
{
    const char *state = jstr(o, "state");
    pr->number = jint(o, "id", 0);
    pr->title = ev_strdup(ev, jstr(o, "title"));
    pr->state = state && !strcmp(state, "MERGED") ? COOP_EVENT_PULL_STATE_MERGED
                : state && (!strcmp(state, "DECLINED") || !strcmp(state, "SUPERSEDED"))
                    ? COOP_EVENT_PULL_STATE_CLOSED
                    : COOP_EVENT_PULL_STATE_OPEN;
    /* The event key is authoritative where it implies the state. */
    if (!strcmp(key, "pullrequest:fulfilled"))
        pr->state = COOP_EVENT_PULL_STATE_MERGED;
    else if (!strcmp(key, "pullrequest:rejected"))
        pr->state = COOP_EVENT_PULL_STATE_CLOSED;
    pr->action_name = ev_strdup(ev, key);
    pr->action = !strcmp(key, "pullrequest:created")     ? COOP_EVENT_PULL_OPENED
                 : !strcmp(key, "pullrequest:updated")   ? COOP_EVENT_PULL_UPDATED
                 : !strcmp(key, "pullrequest:fulfilled") ? COOP_EVENT_PULL_MERGED
                 : !strcmp(key, "pullrequest:rejected")  ? COOP_EVENT_PULL_CLOSED
                                                         : COOP_EVENT_PULL_OTHER;
    cloud_user(ev, &pr->author, jget(o, "author"));
    struct json_object *rv = jarr(o, "reviewers");
    size_t n = rv ? json_object_array_length(rv) : 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *u = json_object_array_get_idx(rv, i);
        ev_push_str(ev, &pr->reviewers, &pr->n_reviewers,
                    jstr(u, "nickname") ? jstr(u, "nickname") : jstr(u, "display_name"));
    }
    pr->url = ev_strdup(ev, jstr(o, "links.html.href"));
    pr->source_branch = ev_strdup(ev, jstr(o, "source.branch.name"));
    pr->target_branch = ev_strdup(ev, jstr(o, "destination.branch.name"));
    pr->head_sha = ev_strdup(ev, jstr(o, "source.commit.hash"));
    if (pr->state == COOP_EVENT_PULL_STATE_MERGED)
        pr->merge_sha = ev_strdup(ev, jstr(o, "merge_commit.hash"));
    pr->created_ms = ev_time(jstr(o, "created_on"));
    pr->updated_ms = ev_time(jstr(o, "updated_on"));
    if (pr->state != COOP_EVENT_PULL_STATE_OPEN)
        pr->closed_ms = pr->updated_ms;
}

static coop_err cloud_pullrequest(const char *name, struct json_object *p, struct coop_event **out)
{
    struct json_object *o = jget(p, "pullrequest");
    if (!o || !jget(o, "id"))
        return COOP_ERR_PROTOCOL;
    const char *review_of = NULL;
    enum coop_event_review_state rs = COOP_EVENT_REVIEW_APPROVED;
    if (!strcmp(name, "pullrequest:approved")) {
        review_of = "approval";
    } else if (!strcmp(name, "pullrequest:unapproved")) {
        review_of = "approval";
        rs = COOP_EVENT_REVIEW_UNAPPROVED;
    } else if (!strcmp(name, "pullrequest:changes_request_created")) {
        review_of = "changes_request";
        rs = COOP_EVENT_REVIEW_CHANGES_REQUESTED;
    } else if (!strncmp(name, "pullrequest:comment_", 20) ||
               !strcmp(name, "pullrequest:changes_request_removed")) {
        *out = NULL;
        return COOP_ERR_OK;
    }
    struct coop_event *ev =
        ev_new(review_of ? COOP_EVENT_REVIEW : COOP_EVENT_PULL, COOP_EVENT_SOURCE_BITBUCKET, name);
    if (!ev)
        return COOP_ERR_NOMEM;
    cloud_common(ev, p);
    if (review_of) {
        struct json_object *r = jget(p, review_of);
        ev->u.review.state = rs;
        cloud_user(ev, &ev->u.review.reviewer, jget(r, "user"));
        if (!ev->u.review.reviewer.login && !ev->u.review.reviewer.name)
            ev->u.review.reviewer = ev->sender;
        ev->u.review.time_ms = ev_time(jstr(r, "date"));
        cloud_pull(ev, &ev->u.review.pull, o, name);
        ev->u.review.pull.action = COOP_EVENT_PULL_OTHER;
        ev->u.review.commit_sha = ev_strdup(ev, jstr(o, "source.commit.hash"));
        ev->time_ms = ev->u.review.time_ms;
    } else {
        cloud_pull(ev, &ev->u.pull, o, name);
        ev->time_ms = ev->u.pull.updated_ms;
    }
    return ev_finish(ev, out);
}

static coop_err cloud_repo_updated(const char *name, struct json_object *p, struct coop_event **out)
{
    const char *from = jstr(p, "changes.full_name.old"), *to = jstr(p, "changes.full_name.new");
    *out = NULL;
    if (!from || !to || !strcmp(from, to))
        return COOP_ERR_OK;
    struct coop_event *ev = ev_new(COOP_EVENT_REPO_RENAMED, COOP_EVENT_SOURCE_BITBUCKET, name);
    if (!ev)
        return COOP_ERR_NOMEM;
    cloud_common(ev, p);
    ev->u.renamed.old_id = cloud_repo(ev, from);
    ev->u.renamed.new_id = cloud_repo(ev, to);
    ev->repo = ev->u.renamed.new_id;
    size_t a = strcspn(from, "/"), b = strcspn(to, "/");
    ev->u.renamed.transferred = a != b || strncmp(from, to, a) != 0;
    return ev_finish(ev, out);
}

/* ---- Data Center -------------------------------------------------------------- */

/* "<host>/<project key>/<slug>" from a repository object. */
static char *server_repo(struct coop_event *ev, struct json_object *repo)
{
    const char *key = jstr(repo, "project.key"), *slug = jstr(repo, "slug");
    struct json_object *self = jarr(repo, "links.self");
    const char *href = self && json_object_array_length(self)
                           ? jstr(json_object_array_get_idx(self, 0), "href")
                           : NULL;
    if (!key || !slug || !href)
        return NULL;
    const char *host = strstr(href, "://");
    host = host ? host + 3 : href;
    size_t hn = strcspn(host, "/:");
    size_t cap = hn + strlen(key) + strlen(slug) + 3;
    char *s = ev_alloc(ev, cap);
    if (!s)
        return NULL;
    snprintf(s, cap, "%.*s/%s/%s", (int)hn, host, key, slug);
    for (char *c = s; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return s;
}

static void server_user(struct coop_event *ev, struct coop_event_person *p, struct json_object *u)
{
    p->login = ev_strdup(ev, jstr(u, "slug") ? jstr(u, "slug") : jstr(u, "name"));
    p->name = ev_strdup(ev, jstr(u, "displayName"));
    p->email = ev_strdup(ev, jstr(u, "emailAddress"));
}

static void server_common(struct coop_event *ev, struct json_object *p, struct json_object *repo)
{
    ev->repo = server_repo(ev, repo);
    server_user(ev, &ev->sender, jget(p, "actor"));
    ev->time_ms = ev_time(jstr(p, "date"));
}

static coop_err server_refs_changed(const char *name, struct json_object *p,
                                    struct coop_event **out)
{
    struct json_object *changes = jarr(p, "changes");
    if (!changes || !jget(p, "repository"))
        return COOP_ERR_PROTOCOL;
    struct coop_event *head = NULL;
    size_t n = json_object_array_length(changes);
    for (size_t i = 0; i < n; i++) {
        struct json_object *ch = json_object_array_get_idx(changes, i);
        struct coop_event *ev = ev_new(COOP_EVENT_PUSH, COOP_EVENT_SOURCE_BITBUCKET_SERVER, name);
        if (!ev) {
            coop_event_free(head);
            return COOP_ERR_NOMEM;
        }
        server_common(ev, p, jget(p, "repository"));
        struct coop_event_push *push = &ev->u.push;
        const char *type = jstr(ch, "type");
        push->ref = ev_strdup(ev, jstr(ch, "refId") ? jstr(ch, "refId") : jstr(ch, "ref.id"));
        push->before = ev_strdup(ev, jstr(ch, "fromHash") ? jstr(ch, "fromHash") : SHA40_ZERO);
        push->after = ev_strdup(ev, jstr(ch, "toHash") ? jstr(ch, "toHash") : SHA40_ZERO);
        push->created = type && !strcmp(type, "ADD");
        push->deleted = type && !strcmp(type, "DELETE");
        push->pusher = ev->sender;
        /* Data Center sends no commits: every push but a deletion has a gap. */
        push->total_commits = -1;
        push->truncated = !push->deleted;
        ev_append(&head, ev);
    }
    return ev_finish(head, out);
}

static void server_pull(struct coop_event *ev, struct coop_event_pull *pr, struct json_object *o,
                        const char *key)
{
    const char *state = jstr(o, "state");
    pr->number = jint(o, "id", 0);
    pr->title = ev_strdup(ev, jstr(o, "title"));
    pr->state = state && !strcmp(state, "MERGED")     ? COOP_EVENT_PULL_STATE_MERGED
                : state && !strcmp(state, "DECLINED") ? COOP_EVENT_PULL_STATE_CLOSED
                                                      : COOP_EVENT_PULL_STATE_OPEN;
    pr->action_name = ev_strdup(ev, key);
    pr->action = !strcmp(key, "pr:opened") ? COOP_EVENT_PULL_OPENED
                 : !strcmp(key, "pr:modified") || !strcmp(key, "pr:reviewer:updated") ||
                         !strcmp(key, "pr:from_ref_updated")
                     ? COOP_EVENT_PULL_UPDATED
                 : !strcmp(key, "pr:merged") ? COOP_EVENT_PULL_MERGED
                 : !strcmp(key, "pr:declined") || !strcmp(key, "pr:deleted")
                     ? COOP_EVENT_PULL_CLOSED
                     : COOP_EVENT_PULL_OTHER;
    server_user(ev, &pr->author, jget(o, "author.user"));
    struct json_object *rv = jarr(o, "reviewers");
    size_t n = rv ? json_object_array_length(rv) : 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *u = jget(json_object_array_get_idx(rv, i), "user");
        ev_push_str(ev, &pr->reviewers, &pr->n_reviewers,
                    jstr(u, "slug") ? jstr(u, "slug") : jstr(u, "name"));
    }
    struct json_object *self = jarr(o, "links.self");
    if (self && json_object_array_length(self))
        pr->url = ev_strdup(ev, jstr(json_object_array_get_idx(self, 0), "href"));
    pr->source_branch = ev_strdup(ev, jstr(o, "fromRef.displayId"));
    pr->target_branch = ev_strdup(ev, jstr(o, "toRef.displayId"));
    pr->head_sha = ev_strdup(ev, jstr(o, "fromRef.latestCommit"));
    pr->merge_sha = ev_strdup(ev, jstr(o, "properties.mergeCommit.id"));
    pr->created_ms = jint(o, "createdDate", 0);
    pr->updated_ms = jint(o, "updatedDate", 0);
    pr->closed_ms = jint(o, "closedDate", 0);
}

static coop_err server_pr(const char *name, struct json_object *p, struct coop_event **out)
{
    struct json_object *o = jget(p, "pullRequest");
    if (!o || !jget(o, "id"))
        return COOP_ERR_PROTOCOL;
    *out = NULL;
    if (!strncmp(name, "pr:comment:", 11))
        return COOP_ERR_OK;
    bool review = !strcmp(name, "pr:reviewer:approved") ||
                  !strcmp(name, "pr:reviewer:unapproved") ||
                  !strcmp(name, "pr:reviewer:needs_work");
    struct coop_event *ev = ev_new(review ? COOP_EVENT_REVIEW : COOP_EVENT_PULL,
                                   COOP_EVENT_SOURCE_BITBUCKET_SERVER, name);
    if (!ev)
        return COOP_ERR_NOMEM;
    server_common(ev, p, jget(o, "toRef.repository"));
    if (review) {
        struct coop_event_review *rv = &ev->u.review;
        rv->state = !strcmp(name, "pr:reviewer:approved")     ? COOP_EVENT_REVIEW_APPROVED
                    : !strcmp(name, "pr:reviewer:needs_work") ? COOP_EVENT_REVIEW_CHANGES_REQUESTED
                                                              : COOP_EVENT_REVIEW_UNAPPROVED;
        server_user(ev, &rv->reviewer, jget(p, "participant.user"));
        rv->commit_sha = ev_strdup(ev, jstr(p, "participant.lastReviewedCommit"));
        rv->time_ms = ev->time_ms;
        server_pull(ev, &rv->pull, o, name);
    } else {
        server_pull(ev, &ev->u.pull, o, name);
    }
    return ev_finish(ev, out);
}

static coop_err server_repo_modified(const char *name, struct json_object *p,
                                     struct coop_event **out)
{
    *out = NULL;
    if (!jget(p, "old") || !jget(p, "new"))
        return COOP_ERR_PROTOCOL;
    struct coop_event *ev =
        ev_new(COOP_EVENT_REPO_RENAMED, COOP_EVENT_SOURCE_BITBUCKET_SERVER, name);
    if (!ev)
        return COOP_ERR_NOMEM;
    server_common(ev, p, jget(p, "new"));
    ev->u.renamed.old_id = server_repo(ev, jget(p, "old"));
    ev->u.renamed.new_id = ev->repo;
    const char *ok = jstr(p, "old.project.key"), *nk = jstr(p, "new.project.key");
    ev->u.renamed.transferred = ok && nk && strcmp(ok, nk) != 0;
    if (!ev->u.renamed.old_id || !ev->u.renamed.new_id ||
        !strcmp(ev->u.renamed.old_id, ev->u.renamed.new_id)) {
        coop_event_free(ev); /* modified without a move (description...) */
        return COOP_ERR_OK;
    }
    return ev_finish(ev, out);
}

coop_err coop_event_parse_bitbucket(const char *event_name, struct json_object *payload,
                                    struct coop_event **out)
{
    *out = NULL;
    if (!event_name || !payload || !json_object_is_type(payload, json_type_object))
        return COOP_ERR_PROTOCOL;
    if (!strcmp(event_name, "repo:push"))
        return cloud_push(event_name, payload, out);
    if (!strncmp(event_name, "pullrequest:", 12))
        return cloud_pullrequest(event_name, payload, out);
    if (!strcmp(event_name, "repo:updated"))
        return cloud_repo_updated(event_name, payload, out);
    if (!strcmp(event_name, "repo:refs_changed"))
        return server_refs_changed(event_name, payload, out);
    if (!strncmp(event_name, "pr:", 3))
        return server_pr(event_name, payload, out);
    if (!strcmp(event_name, "repo:modified"))
        return server_repo_modified(event_name, payload, out);
    return COOP_ERR_OK;
}

const struct coop_webhook_source coop_webhook_bitbucket = {
    .version = 1,
    .name = "bitbucket",
    .route = "/webhooks/bitbucket",
    .job_kind = "webhook.bitbucket",
    .verify = bitbucket_verify,
    .describe = bitbucket_describe,
    .describe_from_headers = true,
    .parse = coop_event_parse_bitbucket,
};
