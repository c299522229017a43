/*
 * Webhook events into the graph. Called by the webhook job inside the
 * transaction that completes the job, so an event is applied exactly once;
 * every write here is idempotent anyway (commits by sha, pulls and
 * reviewers by key), so a redelivery changes nothing.
 *
 * Pushes: only the default branch's commits enter history (a feature
 * branch's commits arrive through its pull request and the merge). A
 * commit whose host sent no file list is not applied but recorded as a gap
 * ("files"), as is a truncated push ("truncated": GitLab keeps the newest
 * 20 commits, Bitbucket Cloud 5): the code-host sync fills both and then
 * applies the commits in full. Hosts report renames as removed + added.
 */
#include "graph_int.h"

#include "coop/event.h"

#include <stdlib.h>
#include <string.h>

static bool on_default_branch(struct coop_conn *c, int64_t repo, const struct coop_event *ev)
{
    const char *ref = ev->u.push.ref;
    if (!ref || strncmp(ref, "refs/heads/", 11) != 0 || ev->u.push.deleted)
        return false;
    char stored[256] = "";
    struct coop_graph_text_ t = {stored, sizeof stored, false};
    if (!ev->default_branch || !*ev->default_branch)
        coop_conn_query(c, "SELECT default_branch FROM graph_repos WHERE id = ?",
                        COOP_PARAMS(COOP_PI(repo)), coop_graph_row_text_, &t);
    const char *dflt = ev->default_branch && *ev->default_branch ? ev->default_branch : stored;
    return !*dflt || strcmp(ref + 11, dflt) == 0;
}

static coop_err push_commit(struct coop_conn *c, int64_t repo, const struct coop_event_commit *ec)
{
    size_t n = ec->n_added + ec->n_modified + ec->n_removed, k = 0;
    struct coop_graph_change *ch = calloc(n ? n : 1, sizeof *ch);
    if (!ch)
        return COOP_ERR_NOMEM;
    for (size_t i = 0; i < ec->n_removed; i++)
        ch[k++] = (struct coop_graph_change){'D', ec->removed[i], NULL};
    for (size_t i = 0; i < ec->n_added; i++)
        ch[k++] = (struct coop_graph_change){'A', ec->added[i], NULL};
    for (size_t i = 0; i < ec->n_modified; i++)
        ch[k++] = (struct coop_graph_change){'M', ec->modified[i], NULL};
    struct coop_graph_commit cm = {
        .sha = ec->sha,
        .author_name = ec->author.name,
        .author_email = ec->author.email,
        .author_login = ec->author.login,
        .time_ms = ec->time_ms,
        .message = ec->message,
        .changes = ch,
        .n_changes = k,
    };
    coop_err err = coop_graph_commit_apply(c, repo, &cm, NULL);
    free(ch);
    return err;
}

static coop_err apply_push(struct coop_conn *c, int64_t repo, const struct coop_event *ev)
{
    const struct coop_event_push *p = &ev->u.push;
    if (!on_default_branch(c, repo, ev))
        return COOP_ERR_OK;
    coop_err err = COOP_ERR_OK;
    if (p->truncated)
        err = coop_graph_gap_record(c, repo, p->ref, p->before, p->after, p->total_commits,
                                    (int64_t)p->n_commits, "truncated");
    bool files_missing = false;
    for (size_t i = 0; !err && i < p->n_commits; i++) {
        if (!p->commits[i].files_known) {
            files_missing = true;
            continue;
        }
        err = push_commit(c, repo, &p->commits[i]);
        if (err == COOP_ERR_INVALID)
            err = COOP_ERR_OK; /* a commit without a sha: nothing to key it by */
    }
    if (!err && (files_missing || (p->n_commits == 0 && !p->created && p->after)))
        err = coop_graph_gap_record(c, repo, p->ref, p->before, p->after, p->total_commits,
                                    (int64_t)p->n_commits, "files");
    return err;
}

static const char *pull_state(enum coop_event_pull_state s)
{
    switch (s) {
    case COOP_EVENT_PULL_STATE_OPEN:
        return "open";
    case COOP_EVENT_PULL_STATE_CLOSED:
        return "closed";
    case COOP_EVENT_PULL_STATE_MERGED:
        return "merged";
    }
    return "open";
}

static coop_err apply_pull(struct coop_conn *c, int64_t repo, const char *host,
                           const struct coop_event_pull *p, int64_t fallback_ms)
{
    struct coop_graph_pull gp = {
        .number = p->number,
        .title = p->title,
        .state = pull_state(p->state),
        .author_name = p->author.name,
        .author_email = p->author.email,
        .author_login = p->author.login,
        .url = p->url,
        .source_branch = p->source_branch,
        .target_branch = p->target_branch,
        .head_sha = p->head_sha,
        .merge_sha = p->merge_sha,
        .created_ms = p->created_ms,
        .updated_ms = p->updated_ms ? p->updated_ms : fallback_ms,
        .closed_ms = p->closed_ms,
    };
    if (gp.number <= 0)
        return COOP_ERR_OK; /* nothing to key it by */
    coop_err err = coop_graph_pull_upsert(c, repo, host, &gp);
    for (size_t i = 0; !err && i < p->n_reviewers; i++)
        if (p->reviewers[i] && *p->reviewers[i])
            err = coop_graph_pull_reviewer(c, repo, p->number, p->reviewers[i], "requested",
                                           gp.updated_ms);
    return err;
}

static const char *review_state(enum coop_event_review_state s)
{
    switch (s) {
    case COOP_EVENT_REVIEW_APPROVED:
        return "approved";
    case COOP_EVENT_REVIEW_CHANGES_REQUESTED:
        return "changes_requested";
    case COOP_EVENT_REVIEW_COMMENTED:
        return "commented";
    case COOP_EVENT_REVIEW_DISMISSED:
        return "dismissed";
    case COOP_EVENT_REVIEW_UNAPPROVED:
        return "unapproved";
    }
    return "commented";
}

static coop_err apply_review(struct coop_conn *c, int64_t repo, const char *host,
                             const struct coop_event *ev)
{
    const struct coop_event_review *r = &ev->u.review;
    coop_err err = apply_pull(c, repo, host, &r->pull, r->time_ms);
    const char *who = r->reviewer.login ? r->reviewer.login : r->reviewer.name;
    if (!err && who && *who && r->pull.number > 0)
        err = coop_graph_pull_reviewer(c, repo, r->pull.number, who, review_state(r->state),
                                       r->time_ms ? r->time_ms : ev->time_ms);
    return err;
}

static coop_err apply_rename(struct coop_conn *c, const struct coop_event_repo_renamed *r)
{
    if (!r->old_id || !r->new_id)
        return COOP_ERR_OK;
    coop_err err = coop_graph_repo_rename(c, r->old_id, r->new_id);
    if (err == COOP_ERR_NOT_FOUND)
        return COOP_ERR_OK; /* nothing known under the old name */
    if (err == COOP_ERR_CONFLICT) {
        coop_log_warn("repository rename onto a known repository ignored",
                      COOP_F_STR("repo", r->new_id));
        return COOP_ERR_OK;
    }
    return err;
}

static coop_err apply_slack(struct coop_conn *c, const struct coop_event_slack_user *u)
{
    if (u->deleted || u->is_bot || !u->user_id)
        return COOP_ERR_OK;
    const char *name = u->real_name && *u->real_name ? u->real_name
                       : u->display_name && *u->display_name ? u->display_name
                                                            : u->name;
    return coop_graph_person_add_slack(c, u->team_id, u->user_id, name, u->email);
}

coop_err coop_graph_apply_event(struct coop_conn *c, const struct coop_event *ev, void *ctx)
{
    (void)ctx;
    if (ev->kind == COOP_EVENT_SLACK_USER)
        return apply_slack(c, &ev->u.slack_user);
    if (ev->kind == COOP_EVENT_REPO_RENAMED)
        return apply_rename(c, &ev->u.renamed);
    if (!ev->repo || !*ev->repo)
        return COOP_ERR_OK;
    int64_t repo;
    coop_err err = coop_graph_repo_ensure(c, ev->repo, &repo);
    if (!err)
        err = coop_graph_repo_set_default_branch(c, repo, ev->default_branch);
    if (err)
        return err;
    char host[256];
    coop_graph_repo_host_(ev->repo, host, sizeof host);
    switch (ev->kind) {
    case COOP_EVENT_PUSH:
        err = apply_push(c, repo, ev);
        break;
    case COOP_EVENT_PULL:
        err = apply_pull(c, repo, host, &ev->u.pull, ev->time_ms);
        break;
    case COOP_EVENT_REVIEW:
        err = apply_review(c, repo, host, ev);
        break;
    case COOP_EVENT_REPO_RENAMED:
    case COOP_EVENT_SLACK_USER:
        break;
    }
    if (!err && ev->time_ms > 0)
        err = coop_conn_exec(c,
                             "UPDATE graph_repos SET last_event_at = ? WHERE id = ?"
                             " AND (last_event_at IS NULL OR last_event_at < ?)",
                             COOP_PARAMS(COOP_PI(ev->time_ms), COOP_PI(repo), COOP_PI(ev->time_ms)),
                             NULL);
    return err;
}
