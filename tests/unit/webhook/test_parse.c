/* Parsers: every host sample under tests/data/webhook/fixtures becomes the
 * events listed for it in tests/data/webhook/expected.json (compared field
 * by field), and Slack users, GitHub edge cases and bad payloads parse as
 * documented in coop/event.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coop/event.h"
#include "coop/webhook.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct json_object *load_json(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/webhook/%s", getenv("COOP_TEST_DATA"), rel);
    struct json_object *o = json_object_from_file(path);
    if (!o)
        fail_msg("cannot read %s", path);
    return o;
}

/* Every member of want is in got with an equal value (objects compared as
 * subsets, arrays element by element with equal lengths). */
static bool subset(struct json_object *want, struct json_object *got, char *where, size_t room)
{
    if (json_object_get_type(want) != json_object_get_type(got)) {
        snprintf(where + strlen(where), room - strlen(where), " (type)");
        return false;
    }
    switch (json_object_get_type(want)) {
    case json_type_object: {
        json_object_object_foreach(want, k, v)
        {
            struct json_object *g = NULL;
            size_t len = strlen(where);
            snprintf(where + len, room - len, ".%s", k);
            json_object_object_get_ex(got, k, &g);
            if (!subset(v, g, where, room))
                return false;
            where[len] = '\0';
        }
        return true;
    }
    case json_type_array: {
        size_t n = json_object_array_length(want);
        if (n != json_object_array_length(got)) {
            snprintf(where + strlen(where), room - strlen(where), " (length %zu, got %zu)", n,
                     json_object_array_length(got));
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(where);
            snprintf(where + len, room - len, "[%zu]", i);
            if (!subset(json_object_array_get_idx(want, i), json_object_array_get_idx(got, i),
                        where, room))
                return false;
            where[len] = '\0';
        }
        return true;
    }
    case json_type_null:
        return true;
    default:
        if (!json_object_equal(want, got)) {
            snprintf(where + strlen(where), room - strlen(where), " (want %s, got %s)",
                     json_object_to_json_string(want), json_object_to_json_string(got));
            return false;
        }
        return true;
    }
}

static struct json_object *render(struct coop_event *events)
{
    struct json_object *arr = json_object_new_array();
    for (struct coop_event *ev = events; ev; ev = ev->next) {
        struct json_object *o = NULL;
        assert_int_equal(coop_event_to_json(ev, &o), COOP_ERR_OK);
        json_object_array_add(arr, o);
    }
    return arr;
}

static void test_every_fixture(void **state)
{
    struct json_object *expected = load_json("expected.json");
    struct json_object *cases = NULL;
    assert_true(json_object_object_get_ex(expected, "cases", &cases));
    size_t n = json_object_array_length(cases), with_events = 0;
    assert_true(n >= 70);
    for (size_t i = 0; i < n; i++) {
        struct json_object *c = json_object_array_get_idx(cases, i);
        const char *file = coop_json_str(c, "file"), *event = coop_json_str(c, "event");
        const char *parser = coop_json_str(c, "parser");
        char rel[256];
        snprintf(rel, sizeof rel, "fixtures/%s", file);
        struct json_object *payload = load_json(rel);
        const struct coop_webhook_source *src = coop_webhook_source_find(parser);
        assert_non_null(src);
        struct coop_event *events = NULL;
        coop_err err = src->parse(event, payload, &events);
        if (err)
            fail_msg("%s: %s", file, coop_err_name(err));
        struct json_object *got = render(events);
        char where[512];
        snprintf(where, sizeof where, "%s", file);
        struct json_object *want = coop_json_arr(c, "events");
        if (!subset(want, got, where, sizeof where))
            fail_msg("%s\n got: %s", where, json_object_to_json_string(got));
        with_events += json_object_array_length(want) > 0;
        coop_event_free(events);
        json_object_put(got);
        json_object_put(payload);
    }
    assert_true(with_events >= 25);
    json_object_put(expected);
}

static void test_slack_users(void **state)
{
    struct json_object *p = load_json("slack/team_join.json");
    struct coop_event *ev = NULL;
    assert_int_equal(coop_event_parse_slack("team_join", p, &ev), COOP_ERR_OK);
    assert_non_null(ev);
    assert_int_equal(ev->kind, COOP_EVENT_SLACK_USER);
    assert_int_equal(ev->source, COOP_EVENT_SOURCE_SLACK);
    assert_null(ev->repo);
    assert_string_equal(ev->u.slack_user.user_id, "W012A3CDE");
    assert_string_equal(ev->u.slack_user.team_id, "T061EG9R6");
    assert_string_equal(ev->u.slack_user.name, "spengler");
    assert_string_equal(ev->u.slack_user.real_name, "Egon Spengler");
    assert_string_equal(ev->u.slack_user.display_name, "spengler");
    assert_string_equal(ev->u.slack_user.email, "spengler@ghostbusters.example.com");
    assert_false(ev->u.slack_user.deleted);
    assert_int_equal(ev->time_ms, 1360782804000LL);
    assert_null(ev->next);
    coop_event_free(ev);
    json_object_put(p);

    p = load_json("slack/user_change.json");
    assert_int_equal(coop_event_parse_slack("user_change", p, &ev), COOP_ERR_OK);
    assert_string_equal(ev->u.slack_user.name, "egon");
    assert_null(ev->u.slack_user.email);
    assert_true(ev->u.slack_user.deleted);
    coop_event_free(ev);
    /* The bare inner event parses too. */
    struct json_object *inner = coop_json_obj(p, "event");
    assert_int_equal(coop_event_parse_slack("user_change", inner, &ev), COOP_ERR_OK);
    assert_string_equal(ev->u.slack_user.user_id, "W012A3CDE");
    coop_event_free(ev);
    json_object_put(p);
}

static struct coop_event *parse_text(coop_err (*fn)(const char *, struct json_object *,
                                                    struct coop_event **),
                                     const char *event, const char *text, coop_err want)
{
    struct json_object *p = NULL;
    assert_int_equal(coop_json_parse(text, strlen(text), 64, false, &p), COOP_ERR_OK);
    struct coop_event *ev = (struct coop_event *)1;
    assert_int_equal(fn(event, p, &ev), want);
    json_object_put(p);
    return ev;
}

static void test_github_push_details(void **state)
{
    const char *text =
        "{\"ref\":\"refs/heads/"
        "main\",\"before\":\"0000000000000000000000000000000000000000\",\"after\":\"abc\","
        "\"created\":true,\"deleted\":false,\"forced\":false,"
        "\"repository\":{\"html_url\":\"https://GitHub.com/Octo/"
        "Hello\",\"default_branch\":\"main\"},"
        "\"pusher\":{\"name\":\"octo\",\"email\":\"o@example.com\"},\"sender\":{\"login\":\"octo\"}"
        ","
        "\"commits\":[{\"id\":\"c1\",\"message\":\"Fix it\\r\\n\\nbody\",\"timestamp\":"
        "\"2024-01-02T03:04:05+01:00\",\"author\":{\"name\":\"A\",\"email\":\"a@x\",\"username\":"
        "\"a\"},"
        "\"added\":[\"n.c\"],\"modified\":[\"m.c\",\"m2.c\"],\"removed\":[\"r.c\"]}]}";
    struct coop_event *ev = parse_text(coop_event_parse_github, "push", text, COOP_ERR_OK);
    assert_int_equal(ev->kind, COOP_EVENT_PUSH);
    assert_string_equal(ev->repo, "github.com/Octo/Hello");
    assert_string_equal(ev->default_branch, "main");
    const struct coop_event_push *p = &ev->u.push;
    assert_true(p->created);
    assert_string_equal(p->pusher.login, "octo");
    assert_int_equal(p->n_commits, 1);
    assert_int_equal(p->total_commits, 1);
    assert_false(p->truncated);
    const struct coop_event_commit *c = &p->commits[0];
    assert_string_equal(c->message, "Fix it");
    assert_int_equal(c->time_ms, 1704161045000LL);
    assert_string_equal(c->author.login, "a");
    assert_int_equal(c->n_added, 1);
    assert_int_equal(c->n_modified, 2);
    assert_string_equal(c->modified[1], "m2.c");
    assert_int_equal(c->n_removed, 1);
    assert_true(c->files_known);
    coop_event_free(ev);
}

static void test_ignored_and_bad(void **state)
{
    assert_null(parse_text(coop_event_parse_github, "ping", "{\"zen\":\"x\"}", COOP_ERR_OK));
    assert_null(parse_text(coop_event_parse_github, "issues", "{}", COOP_ERR_OK));
    assert_null(parse_text(coop_event_parse_github, "push", "{\"ref\":1}", COOP_ERR_PROTOCOL));
    assert_null(parse_text(coop_event_parse_github, "pull_request", "{\"action\":\"opened\"}",
                           COOP_ERR_PROTOCOL));
    assert_null(parse_text(coop_event_parse_github, "push", "[]", COOP_ERR_PROTOCOL));
    assert_null(parse_text(coop_event_parse_gitlab, "Push Hook", "{\"object_kind\":\"push\"}",
                           COOP_ERR_PROTOCOL));
    assert_null(
        parse_text(coop_event_parse_bitbucket, "repo:push", "{\"push\":{}}", COOP_ERR_PROTOCOL));
    assert_null(parse_text(coop_event_parse_slack, "team_join",
                           "{\"event\":{\"type\":\"team_join\",\"user\":{}}}", COOP_ERR_PROTOCOL));
    assert_null(parse_text(coop_event_parse_slack, "message", "{\"event\":{\"type\":\"message\"}}",
                           COOP_ERR_OK));
    coop_event_free(NULL);
}

static void test_gitlab_instance_host(void **state)
{
    struct json_object *p = load_json("fixtures/gitlab/system-project-renamed.json");
    struct coop_event *ev = NULL;
    assert_int_equal(coop_event_parse_gitlab("System Hook;instance=git.example.org", p, &ev),
                     COOP_ERR_OK);
    assert_string_equal(ev->u.renamed.old_id, "git.example.org/jsmith/overscore");
    assert_string_equal(ev->repo, "git.example.org/jsmith/underscore");
    assert_string_equal(ev->event_name, "System Hook");
    coop_event_free(ev);
    json_object_put(p);
}

static void test_names(void **state)
{
    assert_string_equal(coop_event_source_name(COOP_EVENT_SOURCE_BITBUCKET_SERVER),
                        "bitbucket-server");
    assert_string_equal(coop_event_kind_name(COOP_EVENT_REPO_RENAMED), "repo_renamed");
    assert_non_null(coop_webhook_source_find("slack"));
    assert_null(coop_webhook_source_find("svn"));
}

int main(void)
{
    coop_core_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_fixture),        cmocka_unit_test(test_slack_users),
        cmocka_unit_test(test_github_push_details),  cmocka_unit_test(test_ignored_and_bad),
        cmocka_unit_test(test_gitlab_instance_host), cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
