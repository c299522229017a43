/*
 * The hosts' response parsing on their documented example bodies
 * (tests/data/hosts/), Link headers, rate-limit verdicts, URL building and
 * the client's refusals. No network: the e2e test drives the HTTP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coop/hosts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *load(const char *name, size_t *len)
{
    char path[1024];
    const char *dir = getenv("COOP_TEST_DATA");
    snprintf(path, sizeof path, "%s/hosts/%s", dir ? dir : "tests/data", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void test_link_next(void **state)
{
    char out[256];
    const char *v = "<https://api.github.com/repositories/1300192/issues?page=2>; rel=\"prev\", "
                    "<https://api.github.com/repositories/1300192/issues?page=4>; rel=\"next\", "
                    "<https://api.github.com/repositories/1300192/issues?page=515>; rel=\"last\"";
    coop_hosts_link_next(v, strlen(v), out, sizeof out);
    assert_string_equal(out, "https://api.github.com/repositories/1300192/issues?page=4");
    v = "<https://gitlab.example.com/api/v4/projects/8/issues/8/notes?page=3&per_page=3>; rel=\"next\"";
    coop_hosts_link_next(v, strlen(v), out, sizeof out);
    assert_string_equal(out, "https://gitlab.example.com/api/v4/projects/8/issues/8/notes?page=3&per_page=3");
    v = "<https://x/?page=1>; rel=\"first\", <https://x/?page=9>; rel=\"last\"";
    coop_hosts_link_next(v, strlen(v), out, sizeof out);
    assert_string_equal(out, "");
    v = "<https://x/?page=2>; rel=next";
    coop_hosts_link_next(v, strlen(v), out, sizeof out);
    assert_string_equal(out, "https://x/?page=2");
    v = "<https://x/?page=2; rel=\"next\""; /* unterminated */
    coop_hosts_link_next(v, strlen(v), out, sizeof out);
    assert_string_equal(out, "");
}

static void header(struct coop_hosts_response *r, const char *line, int64_t now)
{
    coop_hosts_response_header(r, line, strlen(line), now);
}

static void fresh(struct coop_hosts_response *r, long status)
{
    memset(r, 0, sizeof *r);
    r->remaining = -1;
    r->status = status;
    coop_buf_init(&r->body, 4096);
}

static void test_rate_limits(void **state)
{
    const int64_t now = 1700000000000;
    struct coop_hosts_response r;
    /* 429 with Retry-After. */
    fresh(&r, 429);
    header(&r, "HTTP/2 429\r\n", now);
    header(&r, "retry-after: 30\r\n", now);
    assert_int_equal(coop_hosts_classify(&r, now), COOP_ERR_RATE_LIMITED);
    assert_int_equal(r.retry_at_ms, now + 30000);
    coop_buf_dispose(&r.body);
    /* GitHub's primary limit: 403, remaining 0, reset in epoch seconds. */
    fresh(&r, 403);
    header(&r, "x-ratelimit-remaining: 0\r\n", now);
    header(&r, "x-ratelimit-reset: 1700000120\r\n", now);
    assert_int_equal(coop_hosts_classify(&r, now), COOP_ERR_RATE_LIMITED);
    assert_int_equal(r.retry_at_ms, 1700000120000);
    coop_buf_dispose(&r.body);
    /* GitHub's secondary limit: 403 with the text and no headers: a minute. */
    fresh(&r, 403);
    coop_buf_puts(&r.body, "{\"message\":\"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.\"}");
    assert_int_equal(coop_hosts_classify(&r, now), COOP_ERR_RATE_LIMITED);
    assert_int_equal(r.retry_at_ms, now + 60000);
    coop_buf_dispose(&r.body);
    /* A plain 403 is a refusal, 401 an authentication failure, 404 not found. */
    fresh(&r, 403);
    header(&r, "X-RateLimit-Remaining: 4999\r\n", now);
    assert_int_equal(coop_hosts_classify(&r, now), COOP_ERR_FORBIDDEN);
    assert_int_equal(r.remaining, 4999);
    r.status = 401;
    assert_int_equal(coop_hosts_classify(&r, now), COOP_ERR_AUTH);
    r.status = 404;
    assert_int_equal(coop_hosts_classify(&r, now), COOP_ERR_NOT_FOUND);
    r.status = 502;
    assert_int_equal(coop_hosts_classify(&r, now), COOP_ERR_UPSTREAM);
    r.status = 304;
    assert_int_equal(coop_hosts_classify(&r, now), COOP_ERR_OK);
    coop_buf_dispose(&r.body);
    /* GitLab's RateLimit-* names; a new status line forgets the last response's. */
    fresh(&r, 429);
    header(&r, "RateLimit-Reset: 1700000005\r\n", now);
    header(&r, "ETag: W/\"abc\"\r\n", now);
    assert_string_equal(r.etag, "W/\"abc\"");
    header(&r, "HTTP/1.1 200 OK\r\n", now);
    assert_int_equal(r.reset_ms, 0);
    assert_string_equal(r.etag, "");
    header(&r, "RateLimit-Reset: 1700000005\r\n", now);
    assert_int_equal(coop_hosts_classify(&r, now), COOP_ERR_RATE_LIMITED);
    assert_int_equal(r.retry_at_ms, 1700000005000);
    coop_buf_dispose(&r.body);
}

static void test_github(void **state)
{
    size_t len;
    char *body = load("github_commits.json", &len);
    struct coop_hosts_commits l;
    char next[256] = "";
    coop_hosts_commits_init(&l);
    assert_int_equal(coop_host_github.commits_parse(body, len, &l, next, sizeof next), COOP_ERR_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].sha, "6dcb09b5b57875f334f61aebed695e2e4193db5e");
    assert_string_equal(l.items[0].author_name, "Monalisa Octocat");
    assert_string_equal(l.items[0].author_email, "support@github.com");
    assert_string_equal(l.items[0].author_login, "octocat");
    assert_string_equal(l.items[0].message, "Fix all the bugs");
    assert_int_equal(l.items[0].time_ms, 1302796849000);
    assert_null(l.items[1].author_login); /* "author": null: no linked account */
    assert_false(l.files_known[0]);
    free(body);

    body = load("github_commit.json", &len);
    assert_int_equal(coop_host_github.changes_parse(body, len, &l, 0, next, sizeof next), COOP_ERR_OK);
    assert_true(l.files_known[0]);
    assert_int_equal(l.items[0].n_changes, 4);
    assert_int_equal(l.items[0].changes[0].status, 'M');
    assert_int_equal(l.items[0].changes[1].status, 'A');
    assert_int_equal(l.items[0].changes[2].status, 'D');
    assert_int_equal(l.items[0].changes[3].status, 'R');
    assert_string_equal(l.items[0].changes[3].path, "docs/moved.md");
    assert_string_equal(l.items[0].changes[3].old_path, "moved.md");
    free(body);
    coop_hosts_commits_dispose(&l);

    struct coop_buf text;
    coop_buf_init(&text, COOP_HOSTS_MAX_FILE);
    body = load("github_contents.json", &len);
    assert_int_equal(coop_host_github.file_parse(body, len, &text), COOP_ERR_OK);
    assert_string_equal(text.data, "# Owners\n*       @octo/everyone\n/src/   @alice @octo/core\n");
    free(body);
    const char *dir = "{\"type\":\"dir\",\"content\":\"\",\"encoding\":\"none\"}";
    assert_int_equal(coop_host_github.file_parse(dir, strlen(dir), &text), COOP_ERR_NOT_FOUND);
    const char *bad = "{\"type\":\"file\",\"encoding\":\"base64\",\"content\":\"!!!\"}";
    assert_int_equal(coop_host_github.file_parse(bad, strlen(bad), &text), COOP_ERR_PROTOCOL);
    coop_buf_dispose(&text);

    struct coop_hosts_pull p = {0};
    body = load("github_reviews.json", &len);
    assert_int_equal(coop_host_github.pull_reviews_parse(body, len, &p, next, sizeof next), COOP_ERR_OK);
    assert_int_equal(p.n_reviewers, 2); /* PENDING is not a review yet */
    assert_string_equal(p.reviewers[0], "octocat");
    assert_string_equal(p.states[0], "approved"); /* a later comment keeps the approval */
    assert_string_equal(p.reviewers[1], "hubot");
    assert_string_equal(p.states[1], "changes_requested");
    free(body);
    coop_hosts_pull_dispose(&p);

    char branch[64];
    const char *repo = "{\"id\":1296269,\"full_name\":\"octocat/Hello-World\",\"default_branch\":\"master\"}";
    assert_int_equal(coop_host_github.repo_parse(repo, strlen(repo), branch, sizeof branch), COOP_ERR_OK);
    assert_string_equal(branch, "master");
}

static void test_gitlab(void **state)
{
    size_t len;
    char next[256] = "";
    struct coop_hosts_commits l;
    coop_hosts_commits_init(&l);
    char *body = load("gitlab_commits.json", &len);
    assert_int_equal(coop_host_gitlab.commits_parse(body, len, &l, next, sizeof next), COOP_ERR_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].sha, "ed899a2f4b50b4370feeea94676502b42383c746");
    assert_string_equal(l.items[0].author_email, "user@example.com");
    assert_string_equal(l.items[0].message, "Replace sanitize with escape once");
    assert_int_equal(l.items[0].time_ms, 1632127822001); /* +03:00 */
    free(body);
    body = load("gitlab_diff.json", &len);
    assert_int_equal(coop_host_gitlab.changes_parse(body, len, &l, 1, next, sizeof next), COOP_ERR_OK);
    assert_int_equal(l.items[1].n_changes, 4);
    assert_int_equal(l.items[1].changes[0].status, 'M');
    assert_int_equal(l.items[1].changes[1].status, 'A');
    assert_int_equal(l.items[1].changes[2].status, 'D');
    assert_string_equal(l.items[1].changes[2].path, "lib/gone.rb");
    assert_int_equal(l.items[1].changes[3].status, 'R');
    assert_string_equal(l.items[1].changes[3].old_path, "lib/before.rb");
    free(body);
    coop_hosts_commits_dispose(&l);

    struct coop_hosts_pull p = {0};
    body = load("gitlab_mr_changes.json", &len);
    assert_int_equal(coop_host_gitlab.pull_files_parse(body, len, &p, next, sizeof next), COOP_ERR_OK);
    assert_int_equal(p.n_files, 2);
    assert_string_equal(p.files[1], "old.txt");
    free(body);
    body = load("gitlab_approvals.json", &len);
    assert_int_equal(coop_host_gitlab.pull_reviews_parse(body, len, &p, next, sizeof next), COOP_ERR_OK);
    assert_int_equal(p.n_reviewers, 1);
    assert_string_equal(p.reviewers[0], "root");
    assert_string_equal(p.states[0], "approved");
    free(body);
    coop_hosts_pull_dispose(&p);

    struct coop_buf url;
    coop_buf_init(&url, COOP_HOSTS_URL_MAX);
    assert_int_equal(coop_host_gitlab.file_url(&url, "group/sub/project", ".gitlab/CODEOWNERS", "main"), COOP_ERR_OK);
    assert_string_equal(url.data, "/projects/group%2Fsub%2Fproject/repository/files/.gitlab%2FCODEOWNERS/raw?ref=main");
    coop_buf_reset(&url);
    assert_int_equal(coop_host_gitlab.commits_url(&url, "g/p", "feature/x y"), COOP_ERR_OK);
    assert_string_equal(url.data, "/projects/g%2Fp/repository/commits?per_page=100&ref_name=feature%2Fx%20y");
    coop_buf_dispose(&url);
}

static void test_bitbucket(void **state)
{
    size_t len;
    char next[256] = "";
    struct coop_hosts_commits l;
    coop_hosts_commits_init(&l);
    char *body = load("bitbucket_commits.json", &len);
    assert_int_equal(coop_host_bitbucket.commits_parse(body, len, &l, next, sizeof next), COOP_ERR_OK);
    assert_string_equal(next, "https://api.bitbucket.org/2.0/repositories/ws/repo/commits/main?page=2");
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].author_name, "Jane Doe");
    assert_string_equal(l.items[0].author_email, "jane@example.com");
    assert_string_equal(l.items[0].author_login, "jdoe");
    assert_string_equal(l.items[0].message, "Fix the parser");
    assert_string_equal(l.items[1].author_name, "build-bot");
    assert_null(l.items[1].author_email);
    free(body);
    body = load("bitbucket_diffstat.json", &len);
    next[0] = '\0';
    assert_int_equal(coop_host_bitbucket.changes_parse(body, len, &l, 0, next, sizeof next), COOP_ERR_OK);
    assert_string_equal(next, "");
    assert_int_equal(l.items[0].n_changes, 4);
    assert_int_equal(l.items[0].changes[2].status, 'D');
    assert_string_equal(l.items[0].changes[2].path, "src/old.c");
    assert_int_equal(l.items[0].changes[3].status, 'R');
    assert_string_equal(l.items[0].changes[3].old_path, "README");
    free(body);
    coop_hosts_commits_dispose(&l);

    struct coop_hosts_pull p = {0};
    body = load("bitbucket_pr.json", &len);
    assert_int_equal(coop_host_bitbucket.pull_reviews_parse(body, len, &p, next, sizeof next), COOP_ERR_OK);
    assert_int_equal(p.n_reviewers, 4);
    assert_string_equal(p.states[0], "approved");
    assert_string_equal(p.states[1], "changes_requested");
    assert_string_equal(p.states[2], "requested");
    assert_string_equal(p.states[3], "commented");
    free(body);
    coop_hosts_pull_dispose(&p);

    /* Data Center. */
    coop_hosts_commits_init(&l);
    body = load("bbdc_commits.json", &len);
    assert_int_equal(coop_host_bitbucket_dc.commits_parse(body, len, &l, next, sizeof next), COOP_ERR_OK);
    assert_string_equal(next, "&start=25");
    assert_int_equal(l.items[0].time_ms, 1548720847608);
    assert_string_equal(l.items[0].author_email, "charlie@example.com");
    assert_string_equal(l.items[0].message, "More work on feature 1");
    free(body);
    body = load("bbdc_changes.json", &len);
    next[0] = '\0';
    assert_int_equal(coop_host_bitbucket_dc.changes_parse(body, len, &l, 0, next, sizeof next), COOP_ERR_OK);
    assert_string_equal(next, "");
    assert_int_equal(l.items[0].n_changes, 3);
    assert_string_equal(l.items[0].changes[0].path, "path/to/file.txt");
    assert_int_equal(l.items[0].changes[1].status, 'R');
    assert_string_equal(l.items[0].changes[1].old_path, "old/place.txt");
    assert_int_equal(l.items[0].changes[2].status, 'D');
    free(body);
    coop_hosts_commits_dispose(&l);
    body = load("bbdc_pr.json", &len);
    assert_int_equal(coop_host_bitbucket_dc.pull_reviews_parse(body, len, &p, next, sizeof next), COOP_ERR_OK);
    assert_int_equal(p.n_reviewers, 3);
    assert_string_equal(p.reviewers[0], "jcitizen");
    assert_string_equal(p.states[0], "approved");
    assert_string_equal(p.states[1], "changes_requested");
    free(body);
    coop_hosts_pull_dispose(&p);

    struct coop_buf url;
    coop_buf_init(&url, COOP_HOSTS_URL_MAX);
    assert_int_equal(coop_host_bitbucket_dc.file_url(&url, "PROJ/repo", ".bitbucket/CODEOWNERS", "main"), COOP_ERR_OK);
    assert_string_equal(url.data, "/projects/PROJ/repos/repo/raw/.bitbucket/CODEOWNERS?at=main");
    coop_buf_reset(&url);
    assert_int_equal(coop_host_bitbucket_dc.repo_url(&url, "no-slash"), COOP_ERR_INVALID);
    coop_buf_reset(&url);
    assert_int_equal(coop_host_bitbucket.file_url(&url, "ws/repo", ".bitbucket/CODEOWNERS", "main"), COOP_ERR_OK);
    assert_string_equal(url.data, "/repositories/ws/repo/src/main/.bitbucket/CODEOWNERS");
    coop_buf_dispose(&url);
}

static void test_slack(void **state)
{
    size_t len;
    char why[64];
    struct coop_hosts_slack_user u;
    char *body = load("slack_users_info.json", &len);
    assert_int_equal(coop_hosts_slack_parse_user(body, len, &u, why, sizeof why), COOP_ERR_OK);
    assert_string_equal(u.id, "W012A3CDE");
    assert_string_equal(u.team, "T012AB3C4");
    assert_string_equal(u.email, "spengler@ghostbusters.example.com");
    assert_string_equal(u.real_name, "Egon Spengler");
    free(body);
    const char *e = "{\"ok\":false,\"error\":\"token_expired\"}";
    assert_int_equal(coop_hosts_slack_parse_user(e, strlen(e), &u, why, sizeof why), COOP_ERR_AUTH);
    assert_string_equal(why, "token_expired");
    e = "{\"ok\":false,\"error\":\"user_not_found\"}";
    assert_int_equal(coop_hosts_slack_parse_user(e, strlen(e), &u, why, sizeof why), COOP_ERR_NOT_FOUND);
    e = "{\"ok\":false,\"error\":\"xoxb-looks-like-a-token\"}";
    assert_int_equal(coop_hosts_slack_parse_user(e, strlen(e), &u, why, sizeof why), COOP_ERR_UPSTREAM);
    assert_string_equal(why, "slack_error"); /* an unknown word is not echoed */
}

static void test_client_refusals(void **state)
{
    struct coop_hosts_client *c = NULL;
    struct coop_hosts_client_options o = {.ops = &coop_host_github, .base_url = "http://api.github.com"};
    assert_int_equal(coop_hosts_client_new(&o, &c), COOP_ERR_CONFIG); /* http, not loopback */
    o.base_url = "ftp://127.0.0.1/";
    assert_int_equal(coop_hosts_client_new(&o, &c), COOP_ERR_CONFIG);
    o.base_url = "http://127.0.0.1.evil.example/";
    assert_int_equal(coop_hosts_client_new(&o, &c), COOP_ERR_CONFIG); /* a name, not loopback */
    o.base_url = "http://127.0.0.1:8080/github";
    assert_int_equal(coop_hosts_client_new(&o, &c), COOP_ERR_OK);
    coop_hosts_client_free(c);
    o.base_url = "http://localhost:8080";
    assert_int_equal(coop_hosts_client_new(&o, &c), COOP_ERR_OK);
    coop_hosts_client_free(c);
    o.base_url = "https://api.github.com/";
    o.token = "line\r\nX-Injected: 1";
    assert_int_equal(coop_hosts_client_new(&o, &c), COOP_ERR_CONFIG);
    o.token = "ghp-unit-test-token-000000";
    assert_int_equal(coop_hosts_client_new(&o, &c), COOP_ERR_OK);
    /* A next-page URL pointing at another origin is refused before any request. */
    struct coop_hosts_response r;
    assert_int_equal(coop_hosts_get(c, "https://api.github.com.evil.example/x", false, &r), COOP_ERR_FORBIDDEN);
    coop_hosts_response_dispose(&r);
    assert_int_equal(coop_hosts_get(c, "https://evil.example/repos", false, &r), COOP_ERR_FORBIDDEN);
    coop_hosts_response_dispose(&r);
    struct coop_buf url;
    coop_buf_init(&url, COOP_HOSTS_URL_MAX);
    assert_int_equal(coop_hosts_client_base(c, &url), COOP_ERR_OK);
    assert_string_equal(url.data, "https://api.github.com"); /* trailing slash dropped */
    coop_buf_dispose(&url);
    coop_hosts_client_free(c);
}

int main(void)
{
    coop_core_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_next),    cmocka_unit_test(test_rate_limits),
        cmocka_unit_test(test_github),       cmocka_unit_test(test_gitlab),
        cmocka_unit_test(test_bitbucket),    cmocka_unit_test(test_slack),
        cmocka_unit_test(test_client_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
