/*
 * Bitbucket, both flavours:
 *  - Cloud, API 2.0: repositories/{ws}/{repo}, src (raw), commits,
 *    diffstat, pull requests' diffstat and participants. Pages carry a
 *    "next" URL in the body.
 *  - Data Center / Server, REST 1.0: projects/{KEY}/repos/{slug}, raw,
 *    commits, a commit's changes, pull requests' changes and reviewers.
 *    Pages say isLastPage and nextPageStart; the next page is the first
 *    page's URL with &start=N (a relative "next" the caller appends).
 */
#include "hosts_int.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

static const char *const bitbucket_codeowners[] = {".bitbucket/CODEOWNERS", NULL};

/* ---- shared ---------------------------------------------------------------- */

/* Cloud pages: {"values":[...], "next":"https://..."}. */
static struct json_object *cloud_values(const char *body, size_t len, char *next,
                                        size_t next_size, struct json_object **root)
{
    if (hosts_json_object(body, len, root))
        return NULL;
    const char *n = coop_json_str(*root, "next");
    if (next && n && strlen(n) < next_size)
        coop_strlcpy(next, n, next_size);
    return coop_json_arr(*root, "values");
}

/* Data Center pages: {"values":[...], "isLastPage":false, "nextPageStart":25}. */
static struct json_object *dc_values(const char *body, size_t len, char *next, size_t next_size,
                                     struct json_object **root)
{
    if (hosts_json_object(body, len, root))
        return NULL;
    bool last = true;
    int64_t start = 0;
    if (next && coop_json_bool(*root, "isLastPage", &last) && !last &&
        coop_json_int(*root, "nextPageStart", &start) && start > 0)
        snprintf(next, next_size, "&start=%lld", (long long)start);
    return coop_json_arr(*root, "values");
}

/* ---- Cloud ------------------------------------------------------------------ */

static coop_err repo_base(struct coop_buf *url, const char *project)
{
    coop_err err = coop_buf_puts(url, "/repositories/");
    return err ? err : hosts_url_escape(url, project, true);
}

static coop_err bb_repo_url(struct coop_buf *url, const char *project)
{
    return repo_base(url, project);
}

static coop_err bb_repo_parse(const char *body, size_t len, char *branch, size_t size)
{
    struct json_object *o;
    coop_err err = hosts_json_object(body, len, &o);
    if (err)
        return err;
    const char *b = hosts_json_path_str(o, "mainbranch.name");
    err = b && *b ? COOP_ERR_OK : COOP_ERR_PROTOCOL;
    if (b)
        coop_strlcpy(branch, b, size);
    json_object_put(o);
    return err;
}

static coop_err bb_file_url(struct coop_buf *url, const char *project, const char *path,
                            const char *ref)
{
    coop_err err = repo_base(url, project);
    if (!err)
        err = coop_buf_puts(url, "/src/");
    if (!err)
        err = hosts_url_escape(url, ref ? ref : "HEAD", false);
    if (!err)
        err = coop_buf_puts(url, "/");
    if (!err)
        err = hosts_url_escape(url, path, true);
    return err;
}

static coop_err bb_commits_url(struct coop_buf *url, const char *project, const char *ref)
{
    coop_err err = repo_base(url, project);
    if (!err)
        err = coop_buf_puts(url, "/commits");
    if (!err && ref && *ref) {
        err = coop_buf_puts(url, "/");
        if (!err)
            err = hosts_url_escape(url, ref, false);
    }
    if (!err)
        err = coop_buf_puts(url, "?pagelen=100");
    return err;
}

static coop_err bb_commits_parse(const char *body, size_t len, struct coop_hosts_commits *l,
                                 char *next, size_t next_size)
{
    struct json_object *root = NULL;
    struct json_object *values = cloud_values(body, len, next, next_size, &root);
    coop_err err = values ? COOP_ERR_OK : COOP_ERR_PROTOCOL;
    for (size_t i = 0; !err && i < json_object_array_length(values); i++) {
        struct json_object *c = json_object_array_get_idx(values, i);
        const char *sha = coop_json_str(c, "hash");
        struct coop_graph_commit *g = sha && *sha ? hosts_commit_add(l) : NULL;
        if (!g) {
            err = sha && *sha ? COOP_ERR_NOMEM : COOP_ERR_PROTOCOL;
            break;
        }
        char *name, *email;
        g->sha = hosts_strdup(&l->arena_, sha);
        hosts_split_raw_author(&l->arena_, hosts_json_path_str(c, "author.raw"), &name, &email);
        g->author_name = name;
        g->author_email = email;
        g->author_login = hosts_strdup(&l->arena_, hosts_json_path_str(c, "author.user.nickname"));
        const char *date = coop_json_str(c, "date");
        int64_t ms = 0;
        if (date && coop_clock_parse(date, &ms) == COOP_ERR_OK)
            g->time_ms = ms;
        const char *msg = coop_json_str(c, "message");
        if (msg)
            g->message = hosts_strndup(&l->arena_, msg, strcspn(msg, "\n"));
    }
    json_object_put(root);
    return err;
}

static coop_err bb_changes_url(struct coop_buf *url, const char *project, const char *sha)
{
    coop_err err = repo_base(url, project);
    if (!err)
        err = coop_buf_puts(url, "/diffstat/");
    if (!err)
        err = hosts_url_escape(url, sha, false);
    if (!err)
        err = coop_buf_puts(url, "?pagelen=500");
    return err;
}

/* A diffstat entry: {"status":"added|removed|modified|renamed", "old":{path}, "new":{path}}. */
static coop_err diffstat_entry(struct json_object *d, char *st, const char **path,
                               const char **old)
{
    const char *s = coop_json_str(d, "status");
    *old = hosts_json_path_str(d, "old.path");
    *path = hosts_json_path_str(d, "new.path");
    *st = 'M';
    if (s && !strcmp(s, "added"))
        *st = 'A';
    else if (s && !strcmp(s, "removed")) {
        *st = 'D';
        *path = *old;
    } else if (s && !strcmp(s, "renamed"))
        *st = 'R';
    return *path ? COOP_ERR_OK : COOP_ERR_INVALID;
}

static coop_err bb_changes_parse(const char *body, size_t len, struct coop_hosts_commits *l,
                                 size_t index, char *next, size_t next_size)
{
    struct json_object *root = NULL;
    struct json_object *values = cloud_values(body, len, next, next_size, &root);
    coop_err err = values ? COOP_ERR_OK : COOP_ERR_PROTOCOL;
    if (!err)
        l->files_known[index] = true;
    for (size_t i = 0; !err && i < json_object_array_length(values); i++) {
        char st;
        const char *path, *old;
        if (diffstat_entry(json_object_array_get_idx(values, i), &st, &path, &old))
            continue;
        err = hosts_change_add(l, index, st, path, old);
    }
    json_object_put(root);
    return err;
}

static coop_err pr_url(struct coop_buf *url, const char *project, int64_t number, const char *tail)
{
    coop_err err = repo_base(url, project);
    return err ? err : coop_buf_printf(url, "/pullrequests/%lld%s", (long long)number, tail);
}

static coop_err bb_pull_files_url(struct coop_buf *url, const char *project, int64_t number)
{
    return pr_url(url, project, number, "/diffstat?pagelen=500");
}

static coop_err bb_pull_files_parse(const char *body, size_t len, struct coop_hosts_pull *out,
                                    char *next, size_t next_size)
{
    struct json_object *root = NULL;
    struct json_object *values = cloud_values(body, len, next, next_size, &root);
    coop_err err = values ? COOP_ERR_OK : COOP_ERR_PROTOCOL;
    for (size_t i = 0; !err && i < json_object_array_length(values); i++) {
        char st;
        const char *path, *old;
        if (!diffstat_entry(json_object_array_get_idx(values, i), &st, &path, &old))
            err = hosts_pull_file(out, path);
    }
    json_object_put(root);
    return err;
}

static coop_err bb_pull_reviews_url(struct coop_buf *url, const char *project, int64_t number)
{
    return pr_url(url, project, number, "");
}

/* participants: [{"user":{"nickname"}, "role":"REVIEWER|PARTICIPANT", "approved":true,
 * "state":"approved|changes_requested|null"}]. */
static coop_err bb_pull_reviews_parse(const char *body, size_t len, struct coop_hosts_pull *out,
                                      char *next, size_t next_size)
{
    struct json_object *o;
    coop_err err = hosts_json_object(body, len, &o);
    if (err)
        return err;
    struct json_object *ps = coop_json_arr(o, "participants");
    for (size_t i = 0; !err && ps && i < json_object_array_length(ps); i++) {
        struct json_object *p = json_object_array_get_idx(ps, i);
        const char *state = coop_json_str(p, "state"), *role = coop_json_str(p, "role");
        bool approved = false;
        coop_json_bool(p, "approved", &approved);
        const char *s = approved ? "approved"
                        : state && !strcmp(state, "changes_requested") ? "changes_requested"
                        : role && !strcmp(role, "REVIEWER")            ? "requested"
                                                                       : "commented";
        const char *login = hosts_json_path_str(p, "user.nickname");
        err = hosts_pull_review(out, login ? login : hosts_json_path_str(p, "user.display_name"),
                                s);
    }
    json_object_put(o);
    return err;
}

const struct coop_host_ops coop_host_bitbucket = {
    .version = 1,
    .name = "bitbucket",
    .kind = COOP_HOST_BITBUCKET,
    .base_var = "COOP_BITBUCKET_API_URL",
    .base_default = "https://api.bitbucket.org/2.0",
    .token_var = "COOP_BITBUCKET_TOKEN",
    .repo_url = bb_repo_url,
    .repo_parse = bb_repo_parse,
    .file_url = bb_file_url,
    .file_parse = hosts_file_raw,
    .commits_url = bb_commits_url,
    .commits_parse = bb_commits_parse,
    .changes_url = bb_changes_url,
    .changes_parse = bb_changes_parse,
    .pull_files_url = bb_pull_files_url,
    .pull_files_parse = bb_pull_files_parse,
    .pull_reviews_url = bb_pull_reviews_url,
    .pull_reviews_parse = bb_pull_reviews_parse,
    .codeowners_paths = bitbucket_codeowners,
};

/* ---- Data Center -------------------------------------------------------------- */

/* "KEY/slug" -> /projects/KEY/repos/slug */
static coop_err dc_base(struct coop_buf *url, const char *project)
{
    const char *slash = strchr(project, '/');
    if (!slash || strchr(slash + 1, '/') || slash == project || !slash[1])
        return COOP_ERR_INVALID;
    char key[256];
    size_t n = (size_t)(slash - project);
    if (n >= sizeof key)
        return COOP_ERR_INVALID;
    memcpy(key, project, n);
    key[n] = '\0';
    coop_err err = coop_buf_puts(url, "/projects/");
    if (!err)
        err = hosts_url_escape(url, key, false);
    if (!err)
        err = coop_buf_puts(url, "/repos/");
    if (!err)
        err = hosts_url_escape(url, slash + 1, false);
    return err;
}

static coop_err dc_repo_url(struct coop_buf *url, const char *project)
{
    coop_err err = dc_base(url, project);
    return err ? err : coop_buf_puts(url, "/default-branch");
}

static coop_err dc_repo_parse(const char *body, size_t len, char *branch, size_t size)
{
    struct json_object *o;
    coop_err err = hosts_json_object(body, len, &o);
    if (err)
        return err;
    const char *b = coop_json_str(o, "displayId");
    err = b && *b ? COOP_ERR_OK : COOP_ERR_PROTOCOL;
    if (b)
        coop_strlcpy(branch, b, size);
    json_object_put(o);
    return err;
}

static coop_err dc_file_url(struct coop_buf *url, const char *project, const char *path,
                            const char *ref)
{
    coop_err err = dc_base(url, project);
    if (!err)
        err = coop_buf_puts(url, "/raw/");
    if (!err)
        err = hosts_url_escape(url, path, true);
    if (!err && ref) {
        err = coop_buf_puts(url, "?at=");
        if (!err)
            err = hosts_url_escape(url, ref, false);
    }
    return err;
}

static coop_err dc_commits_url(struct coop_buf *url, const char *project, const char *ref)
{
    coop_err err = dc_base(url, project);
    if (!err)
        err = coop_buf_puts(url, "/commits?limit=100");
    if (!err && ref && *ref) {
        err = coop_buf_puts(url, "&until=");
        if (!err)
            err = hosts_url_escape(url, ref, false);
    }
    return err;
}

static coop_err dc_commits_parse(const char *body, size_t len, struct coop_hosts_commits *l,
                                 char *next, size_t next_size)
{
    struct json_object *root = NULL;
    struct json_object *values = dc_values(body, len, next, next_size, &root);
    coop_err err = values ? COOP_ERR_OK : COOP_ERR_PROTOCOL;
    for (size_t i = 0; !err && i < json_object_array_length(values); i++) {
        struct json_object *c = json_object_array_get_idx(values, i);
        const char *sha = coop_json_str(c, "id");
        struct coop_graph_commit *g = sha && *sha ? hosts_commit_add(l) : NULL;
        if (!g) {
            err = sha && *sha ? COOP_ERR_NOMEM : COOP_ERR_PROTOCOL;
            break;
        }
        g->sha = hosts_strdup(&l->arena_, sha);
        g->author_name = hosts_strdup(&l->arena_, hosts_json_path_str(c, "author.name"));
        g->author_email = hosts_strdup(&l->arena_, hosts_json_path_str(c, "author.emailAddress"));
        int64_t ms = 0;
        if (coop_json_int(c, "authorTimestamp", &ms))
            g->time_ms = ms;
        const char *msg = coop_json_str(c, "message");
        if (msg)
            g->message = hosts_strndup(&l->arena_, msg, strcspn(msg, "\n"));
    }
    json_object_put(root);
    return err;
}

static coop_err dc_changes_url(struct coop_buf *url, const char *project, const char *sha)
{
    coop_err err = dc_base(url, project);
    if (!err)
        err = coop_buf_puts(url, "/commits/");
    if (!err)
        err = hosts_url_escape(url, sha, false);
    if (!err)
        err = coop_buf_puts(url, "/changes?limit=500");
    return err;
}

/* {"path":{"toString":"a/b"}, "srcPath":{...}, "type":"ADD|MODIFY|DELETE|MOVE|COPY"} */
static char dc_change(struct json_object *c, const char **path, const char **old)
{
    const char *t = coop_json_str(c, "type");
    *path = hosts_json_path_str(c, "path.toString");
    *old = hosts_json_path_str(c, "srcPath.toString");
    if (!t)
        return 'M';
    if (!strcmp(t, "ADD") || !strcmp(t, "COPY"))
        return 'A';
    if (!strcmp(t, "DELETE"))
        return 'D';
    if (!strcmp(t, "MOVE"))
        return 'R';
    return 'M';
}

static coop_err dc_changes_parse(const char *body, size_t len, struct coop_hosts_commits *l,
                                 size_t index, char *next, size_t next_size)
{
    struct json_object *root = NULL;
    struct json_object *values = dc_values(body, len, next, next_size, &root);
    coop_err err = values ? COOP_ERR_OK : COOP_ERR_PROTOCOL;
    if (!err)
        l->files_known[index] = true;
    for (size_t i = 0; !err && i < json_object_array_length(values); i++) {
        const char *path, *old;
        char st = dc_change(json_object_array_get_idx(values, i), &path, &old);
        if (path)
            err = hosts_change_add(l, index, st, path, old);
    }
    json_object_put(root);
    return err;
}

static coop_err dc_pull_files_url(struct coop_buf *url, const char *project, int64_t number)
{
    coop_err err = dc_base(url, project);
    return err ? err
               : coop_buf_printf(url, "/pull-requests/%lld/changes?limit=500", (long long)number);
}

static coop_err dc_pull_files_parse(const char *body, size_t len, struct coop_hosts_pull *out,
                                    char *next, size_t next_size)
{
    struct json_object *root = NULL;
    struct json_object *values = dc_values(body, len, next, next_size, &root);
    coop_err err = values ? COOP_ERR_OK : COOP_ERR_PROTOCOL;
    for (size_t i = 0; !err && i < json_object_array_length(values); i++) {
        const char *path, *old;
        dc_change(json_object_array_get_idx(values, i), &path, &old);
        err = hosts_pull_file(out, path);
    }
    json_object_put(root);
    return err;
}

static coop_err dc_pull_reviews_url(struct coop_buf *url, const char *project, int64_t number)
{
    coop_err err = dc_base(url, project);
    return err ? err : coop_buf_printf(url, "/pull-requests/%lld", (long long)number);
}

/* reviewers: [{"user":{"name":"jdoe"}, "status":"APPROVED|NEEDS_WORK|UNAPPROVED"}] */
static coop_err dc_pull_reviews_parse(const char *body, size_t len, struct coop_hosts_pull *out,
                                      char *next, size_t next_size)
{
    struct json_object *o;
    coop_err err = hosts_json_object(body, len, &o);
    if (err)
        return err;
    struct json_object *rs = coop_json_arr(o, "reviewers");
    for (size_t i = 0; !err && rs && i < json_object_array_length(rs); i++) {
        struct json_object *r = json_object_array_get_idx(rs, i);
        const char *st = coop_json_str(r, "status");
        const char *s = st && !strcmp(st, "APPROVED")     ? "approved"
                        : st && !strcmp(st, "NEEDS_WORK") ? "changes_requested"
                                                          : "requested";
        err = hosts_pull_review(out, hosts_json_path_str(r, "user.name"), s);
    }
    json_object_put(o);
    return err;
}

const struct coop_host_ops coop_host_bitbucket_dc = {
    .version = 1,
    .name = "bitbucket-server",
    .kind = COOP_HOST_BITBUCKET_DC,
    .base_var = "COOP_BITBUCKET_SERVER_API_URL",
    .base_default = NULL, /* always self-hosted */
    .token_var = "COOP_BITBUCKET_SERVER_TOKEN",
    .repo_url = dc_repo_url,
    .repo_parse = dc_repo_parse,
    .file_url = dc_file_url,
    .file_parse = hosts_file_raw,
    .commits_url = dc_commits_url,
    .commits_parse = dc_commits_parse,
    .changes_url = dc_changes_url,
    .changes_parse = dc_changes_parse,
    .pull_files_url = dc_pull_files_url,
    .pull_files_parse = dc_pull_files_parse,
    .pull_reviews_url = dc_pull_reviews_url,
    .pull_reviews_parse = dc_pull_reviews_parse,
    .codeowners_paths = bitbucket_codeowners,
};

const struct coop_host_ops *const coop_host_backends[] = {
    &coop_host_github, &coop_host_gitlab, &coop_host_bitbucket, &coop_host_bitbucket_dc, NULL,
};
