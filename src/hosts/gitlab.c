/*
 * GitLab REST v4 (gitlab.com and self-managed instances): project,
 * repository files (raw), commits and a commit's diff, merge request
 * changes and approvals. A project is addressed by its URL-encoded path;
 * pages follow the Link header GitLab sends with offset pagination.
 */
#include "hosts_int.h"

#include <json-c/json.h>
#include <string.h>

static const char *const gitlab_codeowners[] = {"CODEOWNERS", "docs/CODEOWNERS",
                                                ".gitlab/CODEOWNERS", NULL};

static coop_err project_base(struct coop_buf *url, const char *project)
{
    coop_err err = coop_buf_puts(url, "/projects/");
    return err ? err : hosts_url_escape(url, project, false);
}

static coop_err gl_repo_url(struct coop_buf *url, const char *project)
{
    return project_base(url, project);
}

static coop_err gl_repo_parse(const char *body, size_t len, char *branch, size_t size)
{
    struct json_object *o;
    coop_err err = hosts_json_object(body, len, &o);
    if (err)
        return err;
    const char *b = coop_json_str(o, "default_branch");
    err = b && *b ? COOP_ERR_OK : COOP_ERR_PROTOCOL; /* an empty project has none */
    if (b)
        coop_strlcpy(branch, b, size);
    json_object_put(o);
    return err;
}

static coop_err gl_file_url(struct coop_buf *url, const char *project, const char *path,
                            const char *ref)
{
    coop_err err = project_base(url, project);
    if (!err)
        err = coop_buf_puts(url, "/repository/files/");
    if (!err)
        err = hosts_url_escape(url, path, false);
    if (!err)
        err = coop_buf_puts(url, "/raw");
    if (!err && ref) {
        err = coop_buf_puts(url, "?ref=");
        if (!err)
            err = hosts_url_escape(url, ref, false);
    }
    return err;
}

static coop_err gl_commits_url(struct coop_buf *url, const char *project, const char *ref)
{
    coop_err err = project_base(url, project);
    if (!err)
        err = coop_buf_puts(url, "/repository/commits?per_page=100");
    if (!err && ref && *ref) {
        err = coop_buf_puts(url, "&ref_name=");
        if (!err)
            err = hosts_url_escape(url, ref, false);
    }
    return err;
}

static coop_err gl_commits_parse(const char *body, size_t len, struct coop_hosts_commits *l,
                                 char *next, size_t next_size)
{
    struct json_object *a;
    coop_err err = hosts_json_array(body, len, &a);
    for (size_t i = 0; !err && i < json_object_array_length(a); i++) {
        struct json_object *c = json_object_array_get_idx(a, i);
        const char *sha = coop_json_str(c, "id");
        if (!sha || !*sha) {
            err = COOP_ERR_PROTOCOL;
            break;
        }
        struct coop_graph_commit *g = hosts_commit_add(l);
        if (!g) {
            err = COOP_ERR_NOMEM;
            break;
        }
        g->sha = hosts_strdup(&l->arena_, sha);
        g->author_name = hosts_strdup(&l->arena_, coop_json_str(c, "author_name"));
        g->author_email = hosts_strdup(&l->arena_, coop_json_str(c, "author_email"));
        const char *date = coop_json_str(c, "authored_date");
        int64_t ms = 0;
        if (date && coop_clock_parse(date, &ms) == COOP_ERR_OK)
            g->time_ms = ms;
        g->message = hosts_strdup(&l->arena_, coop_json_str(c, "title"));
        if (!g->sha)
            err = COOP_ERR_NOMEM;
    }
    json_object_put(a);
    return err;
}

static coop_err gl_changes_url(struct coop_buf *url, const char *project, const char *sha)
{
    coop_err err = project_base(url, project);
    if (!err)
        err = coop_buf_puts(url, "/repository/commits/");
    if (!err)
        err = hosts_url_escape(url, sha, false);
    if (!err)
        err = coop_buf_puts(url, "/diff?per_page=100");
    return err;
}

static bool flag(struct json_object *o, const char *k)
{
    bool b = false;
    return coop_json_bool(o, k, &b) && b;
}

/* A diff entry: {old_path, new_path, new_file, renamed_file, deleted_file}. */
static char diff_status(struct json_object *d)
{
    if (flag(d, "new_file"))
        return 'A';
    if (flag(d, "deleted_file"))
        return 'D';
    if (flag(d, "renamed_file"))
        return 'R';
    return 'M';
}

static coop_err gl_changes_parse(const char *body, size_t len, struct coop_hosts_commits *l,
                                 size_t index, char *next, size_t next_size)
{
    struct json_object *a;
    coop_err err = hosts_json_array(body, len, &a);
    if (!err)
        l->files_known[index] = true;
    for (size_t i = 0; !err && i < json_object_array_length(a); i++) {
        struct json_object *d = json_object_array_get_idx(a, i);
        char st = diff_status(d);
        err = hosts_change_add(l, index, st,
                               coop_json_str(d, st == 'D' ? "old_path" : "new_path"),
                               coop_json_str(d, "old_path"));
        if (err == COOP_ERR_INVALID)
            err = COOP_ERR_OK;
    }
    json_object_put(a);
    return err;
}

static coop_err mr_url(struct coop_buf *url, const char *project, int64_t number, const char *what)
{
    coop_err err = project_base(url, project);
    return err ? err : coop_buf_printf(url, "/merge_requests/%lld/%s", (long long)number, what);
}

static coop_err gl_pull_files_url(struct coop_buf *url, const char *project, int64_t number)
{
    return mr_url(url, project, number, "changes");
}

static coop_err gl_pull_files_parse(const char *body, size_t len, struct coop_hosts_pull *out,
                                    char *next, size_t next_size)
{
    struct json_object *o;
    coop_err err = hosts_json_object(body, len, &o);
    if (err)
        return err;
    struct json_object *changes = coop_json_arr(o, "changes");
    if (!changes)
        err = COOP_ERR_PROTOCOL;
    for (size_t i = 0; !err && changes && i < json_object_array_length(changes); i++) {
        struct json_object *d = json_object_array_get_idx(changes, i);
        err = hosts_pull_file(out, coop_json_str(d, flag(d, "deleted_file") ? "old_path"
                                                                           : "new_path"));
    }
    json_object_put(o);
    return err;
}

static coop_err gl_pull_reviews_url(struct coop_buf *url, const char *project, int64_t number)
{
    return mr_url(url, project, number, "approvals");
}

/* {"approved_by":[{"user":{"username":...}}], "suggested_approvers": ...}. */
static coop_err gl_pull_reviews_parse(const char *body, size_t len, struct coop_hosts_pull *out,
                                      char *next, size_t next_size)
{
    struct json_object *o;
    coop_err err = hosts_json_object(body, len, &o);
    if (err)
        return err;
    struct json_object *by = coop_json_arr(o, "approved_by");
    for (size_t i = 0; !err && by && i < json_object_array_length(by); i++)
        err = hosts_pull_review(
            out, hosts_json_path_str(json_object_array_get_idx(by, i), "user.username"),
            "approved");
    json_object_put(o);
    return err;
}

const struct coop_host_ops coop_host_gitlab = {
    .version = 1,
    .name = "gitlab",
    .kind = COOP_HOST_GITLAB,
    .base_var = "COOP_GITLAB_API_URL",
    .base_default = "https://gitlab.com/api/v4",
    .token_var = "COOP_GITLAB_TOKEN",
    .repo_url = gl_repo_url,
    .repo_parse = gl_repo_parse,
    .file_url = gl_file_url,
    .file_parse = hosts_file_raw,
    .commits_url = gl_commits_url,
    .commits_parse = gl_commits_parse,
    .changes_url = gl_changes_url,
    .changes_parse = gl_changes_parse,
    .pull_files_url = gl_pull_files_url,
    .pull_files_parse = gl_pull_files_parse,
    .pull_reviews_url = gl_pull_reviews_url,
    .pull_reviews_parse = gl_pull_reviews_parse,
    .codeowners_paths = gitlab_codeowners,
};
