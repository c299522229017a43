/*
 * GitHub REST v3 (github.com and GitHub Enterprise Server, whose base URL
 * is https://HOST/api/v3): repository, contents (base64), commits list
 * and single commit with its files, pull request files and reviews.
 * Pages follow the Link header.
 */
#include "hosts_int.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static const char *const github_codeowners[] = {".github/CODEOWNERS", "CODEOWNERS",
                                                "docs/CODEOWNERS", NULL};

static coop_err repo_base(struct coop_buf *url, const char *project)
{
    coop_err err = coop_buf_puts(url, "/repos/");
    return err ? err : hosts_url_escape(url, project, true);
}

static coop_err gh_repo_url(struct coop_buf *url, const char *project)
{
    return repo_base(url, project);
}

static coop_err gh_repo_parse(const char *body, size_t len, char *branch, size_t size)
{
    struct json_object *o;
    coop_err err = hosts_json_object(body, len, &o);
    if (err)
        return err;
    const char *b = coop_json_str(o, "default_branch");
    err = b && *b ? COOP_ERR_OK : COOP_ERR_PROTOCOL;
    if (b)
        coop_strlcpy(branch, b, size);
    json_object_put(o);
    return err;
}

static coop_err gh_file_url(struct coop_buf *url, const char *project, const char *path,
                            const char *ref)
{
    coop_err err = repo_base(url, project);
    if (!err)
        err = coop_buf_puts(url, "/contents/");
    if (!err)
        err = hosts_url_escape(url, path, true);
    if (!err && ref) {
        err = coop_buf_puts(url, "?ref=");
        if (!err)
            err = hosts_url_escape(url, ref, false);
    }
    return err;
}

/* The contents API answers {"type":"file","encoding":"base64","content":"..."}
 * with the base64 broken into lines. */
static coop_err gh_file_parse(const char *body, size_t len, struct coop_buf *out)
{
    struct json_object *o;
    coop_err err = hosts_json_object(body, len, &o);
    if (err)
        return err;
    const char *type = coop_json_str(o, "type"), *enc = coop_json_str(o, "encoding");
    const char *content = coop_json_str(o, "content");
    if ((type && strcmp(type, "file")) || !enc || strcmp(enc, "base64") || !content) {
        /* A directory or symlink where a file was expected: not there. */
        err = type && strcmp(type, "file") ? COOP_ERR_NOT_FOUND : COOP_ERR_PROTOCOL;
        json_object_put(o);
        return err;
    }
    size_t n = strlen(content), k = 0;
    char *clean = malloc(n + 1);
    unsigned char *raw = malloc(n / 4 * 3 + 4);
    if (!clean || !raw) {
        free(clean);
        free(raw);
        json_object_put(o);
        return COOP_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        if (content[i] != '\n' && content[i] != '\r')
            clean[k++] = content[i];
    clean[k] = '\0';
    size_t rl = 0;
    err = coop_base64_decode(clean, raw, n / 4 * 3 + 4, &rl);
    if (err)
        err = COOP_ERR_PROTOCOL;
    else
        err = hosts_file_raw((const char *)raw, rl, out);
    free(clean);
    free(raw);
    json_object_put(o);
    return err;
}

static coop_err gh_commits_url(struct coop_buf *url, const char *project, const char *ref)
{
    coop_err err = repo_base(url, project);
    if (!err)
        err = coop_buf_puts(url, "/commits?per_page=100");
    if (!err && ref && *ref) {
        err = coop_buf_puts(url, "&sha=");
        if (!err)
            err = hosts_url_escape(url, ref, false);
    }
    return err;
}

static coop_err add_commit(struct coop_hosts_commits *l, struct json_object *c)
{
    const char *sha = coop_json_str(c, "sha");
    if (!sha || !*sha)
        return COOP_ERR_PROTOCOL;
    struct coop_graph_commit *g = hosts_commit_add(l);
    if (!g)
        return COOP_ERR_NOMEM;
    g->sha = hosts_strdup(&l->arena_, sha);
    g->author_name = hosts_strdup(&l->arena_, hosts_json_path_str(c, "commit.author.name"));
    g->author_email = hosts_strdup(&l->arena_, hosts_json_path_str(c, "commit.author.email"));
    g->author_login = hosts_strdup(&l->arena_, hosts_json_path_str(c, "author.login"));
    const char *date = hosts_json_path_str(c, "commit.author.date");
    int64_t ms = 0;
    if (date && coop_clock_parse(date, &ms) == COOP_ERR_OK)
        g->time_ms = ms;
    const char *msg = hosts_json_path_str(c, "commit.message");
    if (msg)
        g->message = hosts_strndup(&l->arena_, msg, strcspn(msg, "\n"));
    return g->sha ? COOP_ERR_OK : COOP_ERR_NOMEM;
}

static coop_err gh_commits_parse(const char *body, size_t len, struct coop_hosts_commits *out,
                                 char *next, size_t next_size)
{
    struct json_object *a;
    coop_err err = hosts_json_array(body, len, &a);
    for (size_t i = 0; !err && i < json_object_array_length(a); i++)
        err = add_commit(out, json_object_array_get_idx(a, i));
    json_object_put(a);
    return err;
}

static coop_err gh_changes_url(struct coop_buf *url, const char *project, const char *sha)
{
    coop_err err = repo_base(url, project);
    if (!err)
        err = coop_buf_puts(url, "/commits/");
    if (!err)
        err = hosts_url_escape(url, sha, false);
    return err;
}

static char status_of(const char *s)
{
    if (!s)
        return 'M';
    if (!strcmp(s, "added") || !strcmp(s, "copied"))
        return 'A';
    if (!strcmp(s, "removed"))
        return 'D';
    if (!strcmp(s, "renamed"))
        return 'R';
    return 'M'; /* modified, changed, unchanged */
}

static coop_err gh_changes_parse(const char *body, size_t len, struct coop_hosts_commits *l,
                                 size_t index, char *next, size_t next_size)
{
    struct json_object *o;
    coop_err err = hosts_json_object(body, len, &o);
    if (err)
        return err;
    struct json_object *files = coop_json_arr(o, "files");
    if (!files)
        err = COOP_ERR_PROTOCOL;
    else
        l->files_known[index] = true;
    for (size_t i = 0; !err && files && i < json_object_array_length(files); i++) {
        struct json_object *f = json_object_array_get_idx(files, i);
        err = hosts_change_add(l, index, status_of(coop_json_str(f, "status")),
                               coop_json_str(f, "filename"),
                               coop_json_str(f, "previous_filename"));
        if (err == COOP_ERR_INVALID)
            err = COOP_ERR_OK;
    }
    json_object_put(o);
    return err;
}

static coop_err pull_url(struct coop_buf *url, const char *project, int64_t number,
                         const char *what)
{
    coop_err err = repo_base(url, project);
    return err ? err : coop_buf_printf(url, "/pulls/%lld/%s?per_page=100", (long long)number, what);
}

static coop_err gh_pull_files_url(struct coop_buf *url, const char *project, int64_t number)
{
    return pull_url(url, project, number, "files");
}

static coop_err gh_pull_files_parse(const char *body, size_t len, struct coop_hosts_pull *out,
                                    char *next, size_t next_size)
{
    struct json_object *a;
    coop_err err = hosts_json_array(body, len, &a);
    for (size_t i = 0; !err && i < json_object_array_length(a); i++)
        err = hosts_pull_file(out, coop_json_str(json_object_array_get_idx(a, i), "filename"));
    json_object_put(a);
    return err;
}

static coop_err gh_pull_reviews_url(struct coop_buf *url, const char *project, int64_t number)
{
    return pull_url(url, project, number, "reviews");
}

static const char *review_state(const char *s)
{
    if (!s)
        return NULL;
    if (!strcmp(s, "APPROVED"))
        return "approved";
    if (!strcmp(s, "CHANGES_REQUESTED"))
        return "changes_requested";
    if (!strcmp(s, "DISMISSED"))
        return "dismissed";
    if (!strcmp(s, "COMMENTED"))
        return "commented";
    return NULL; /* PENDING: not submitted */
}

static coop_err gh_pull_reviews_parse(const char *body, size_t len, struct coop_hosts_pull *out,
                                      char *next, size_t next_size)
{
    struct json_object *a;
    coop_err err = hosts_json_array(body, len, &a);
    for (size_t i = 0; !err && i < json_object_array_length(a); i++) {
        struct json_object *r = json_object_array_get_idx(a, i);
        err = hosts_pull_review(out, hosts_json_path_str(r, "user.login"),
                                review_state(coop_json_str(r, "state")));
    }
    json_object_put(a);
    return err;
}

const struct coop_host_ops coop_host_github = {
    .version = 1,
    .name = "github",
    .kind = COOP_HOST_GITHUB,
    .base_var = "COOP_GITHUB_API_URL",
    .base_default = "https://api.github.com",
    .token_var = "COOP_GITHUB_TOKEN",
    .repo_url = gh_repo_url,
    .repo_parse = gh_repo_parse,
    .file_url = gh_file_url,
    .file_parse = gh_file_parse,
    .commits_url = gh_commits_url,
    .commits_parse = gh_commits_parse,
    .changes_url = gh_changes_url,
    .changes_parse = gh_changes_parse,
    .pull_files_url = gh_pull_files_url,
    .pull_files_parse = gh_pull_files_parse,
    .pull_reviews_url = gh_pull_reviews_url,
    .pull_reviews_parse = gh_pull_reviews_parse,
    .codeowners_paths = github_codeowners,
};
