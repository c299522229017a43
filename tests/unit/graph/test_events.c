/* Webhook events into the graph, from the hosts' published sample payloads
 * (tests/data/webhook/fixtures): pushes, truncated pushes and pushes
 * without file lists (recorded as gaps), pull requests, reviews, Slack
 * users; applying the same delivery twice changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "store_both.h" /* SQLite, then PostgreSQL (COOP_TEST_PG) */

#include "coop/event.h"
#include "coop/graph.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef coop_err (*parse_fn)(const char *, struct json_object *, struct coop_event **);

static struct coop_event *load(parse_fn parse, const char *event, const char *file)
{
    char path[1024];
    const char *dir = getenv("COOP_TEST_DATA");
    snprintf(path, sizeof path, "%s/webhook/%s", dir ? dir : "tests/data", file);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    struct json_object *o;
    assert_int_equal(coop_json_parse(buf, n, 64, false, &o), COOP_ERR_OK);
    struct coop_event *ev = NULL;
    assert_int_equal(parse(event, o, &ev), COOP_ERR_OK);
    json_object_put(o);
    assert_non_null(ev);
    return ev;
}

static coop_err apply_tx(struct coop_conn *c, void *ctx)
{
    for (struct coop_event *ev = ctx; ev; ev = ev->next) {
        coop_err err = coop_graph_apply_event(c, ev, NULL);
        if (err)
            return err;
    }
    return COOP_ERR_OK;
}

static void apply_twice(struct coop_event *ev)
{
    assert_int_equal(coop_store_tx(store, true, apply_tx, ev), COOP_ERR_OK);
    assert_int_equal(coop_store_tx(store, true, apply_tx, ev), COOP_ERR_OK);
    coop_event_free(ev);
}

static int64_t count(const char *sql)
{
    int64_t n = -1;
    struct coop_conn *c;
    assert_int_equal(coop_store_acquire(store, &c), COOP_ERR_OK);
    assert_int_equal(coop_conn_query_int(c, sql, COOP_NOPARAMS, &n), COOP_ERR_OK);
    coop_store_release(store, c);
    return n;
}

static void test_gitlab_push_truncated(void **state)
{
    /* The sample lists 2 commits of total_commits_count 4 on master, the
     * default branch: both are applied (once), and the gap is recorded. */
    struct coop_event *ev = load(coop_event_parse_gitlab, "Push Hook", "fixtures/gitlab/push-event.json");
    char repo[256];
    snprintf(repo, sizeof repo, "%s", ev->repo);
    apply_twice(ev);
    assert_int_equal(count("SELECT commits FROM graph_repos"), 2);
    assert_int_equal(count("SELECT COUNT(*) FROM graph_commits"), 2);
    assert_int_equal(count("SELECT COUNT(*) FROM graph_gaps WHERE reason = 'truncated'"
                           " AND expected = 4 AND received = 2"),
                     1);
    /* both sample commits add CHANGELOG (the sample is synthetic): one file, two changes */
    struct coop_graph_query q = {.repo = repo, .path = "CHANGELOG"};
    struct json_object *o;
    const char *what;
    assert_int_equal(coop_graph_history(store, &q, &o, &what), COOP_ERR_OK);
    struct json_object *commits;
    json_object_object_get_ex(o, "commits", &commits);
    assert_int_equal(json_object_array_length(commits), 2);
    json_object_put(o);
}

static void test_bitbucket_push_without_files(void **state)
{
    struct coop_event *ev = load(coop_event_parse_bitbucket, "repo:push", "fixtures/bitbucket/repo-push.json");
    apply_twice(ev);
    /* no file lists: nothing applied, a "files" gap for the sync */
    assert_int_equal(count("SELECT COUNT(*) FROM graph_commits c JOIN graph_repos r ON r.id = c.repo"
                           " WHERE r.name LIKE 'bitbucket.org/%'"),
                     0);
    assert_int_equal(count("SELECT COUNT(*) FROM graph_gaps WHERE reason = 'files'"), 1);
}

static coop_err set_files_tx(struct coop_conn *c, void *ctx)
{
    int64_t repo;
    static const char *const files[] = {"app/models/user.rb", "README.md"};
    coop_err err = coop_graph_repo_lookup(c, ctx, &repo);
    return err ? err : coop_graph_pull_set_files(c, repo, 1, files, 2);
}

static void test_pulls_and_reviews(void **state)
{
    struct coop_event *ev = load(coop_event_parse_gitlab, "Merge Request Hook",
                                 "fixtures/gitlab/merge-request-event.json");
    char repo[256];
    snprintf(repo, sizeof repo, "%s", ev->repo);
    apply_twice(ev);
    struct coop_graph_query q = {.repo = repo};
    struct json_object *o;
    const char *what;
    assert_int_equal(coop_graph_pulls(store, &q, &o, &what), COOP_ERR_OK);
    struct json_object *pulls, *p, *v;
    json_object_object_get_ex(o, "pulls", &pulls);
    assert_int_equal(json_object_array_length(pulls), 1);
    p = json_object_array_get_idx(pulls, 0);
    json_object_object_get_ex(p, "state", &v);
    assert_string_equal(json_object_get_string(v), "open");
    json_object_object_get_ex(p, "reviewers", &v);
    assert_int_equal(json_object_array_length(v), 1);
    json_object_put(o);

    /* Files come from the hosts sync; a path or a directory filters on them. */
    assert_int_equal(coop_store_tx(store, true, set_files_tx, repo), COOP_ERR_OK);
    q.path = "app/models";
    assert_int_equal(coop_graph_pulls(store, &q, &o, &what), COOP_ERR_OK);
    json_object_object_get_ex(o, "pulls", &pulls);
    assert_int_equal(json_object_array_length(pulls), 1);
    json_object_put(o);
    q.path = "app/models/user.rb";
    assert_int_equal(coop_graph_pulls(store, &q, &o, &what), COOP_ERR_OK);
    json_object_object_get_ex(o, "pulls", &pulls);
    assert_int_equal(json_object_array_length(pulls), 1);
    json_object_put(o);
    q.path = "app/mod";
    assert_int_equal(coop_graph_pulls(store, &q, &o, &what), COOP_ERR_OK);
    json_object_object_get_ex(o, "pulls", &pulls);
    assert_int_equal(json_object_array_length(pulls), 0);
    json_object_put(o);
    q.path = NULL;

    ev = load(coop_event_parse_bitbucket, "pullrequest:created",
              "fixtures/bitbucket/pull-request-created.json");
    snprintf(repo, sizeof repo, "%s", ev->repo);
    apply_twice(ev);
    apply_twice(load(coop_event_parse_bitbucket, "pullrequest:approved",
                     "fixtures/bitbucket/pull-request-approved.json"));
    q.repo = repo;
    assert_int_equal(coop_graph_pulls(store, &q, &o, &what), COOP_ERR_OK);
    assert_non_null(strstr(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                           "\"state\":\"approved\""));
    json_object_put(o);
    q.state = "merged";
    assert_int_equal(coop_graph_pulls(store, &q, &o, &what), COOP_ERR_OK);
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), "{\"pulls\":[]}");
    json_object_put(o);
}

static void test_slack_user(void **state)
{
    apply_twice(load(coop_event_parse_slack, "team_join", "slack/team_join.json"));
    assert_int_equal(count("SELECT COUNT(*) FROM graph_identities WHERE kind = 'slack'"), 1);
    apply_twice(load(coop_event_parse_slack, "user_change", "slack/user_change.json"));
    assert_true(count("SELECT COUNT(*) FROM graph_identities WHERE kind = 'slack'") >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gitlab_push_truncated),
        cmocka_unit_test(test_bitbucket_push_without_files),
        cmocka_unit_test(test_pulls_and_reviews),
        cmocka_unit_test(test_slack_user),
    };
    return run_on_both(tests, sizeof tests / sizeof *tests);
}
