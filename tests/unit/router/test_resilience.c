/*
 * Router resilience, the parts that need no network: backoff with jitter,
 * Retry-After in both of its forms, which failures are retried, key pool
 * parsing and choice by weight with cooldown, and routes in the policy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "router/router_int.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static const struct router_retry_cfg cfg = {
    .max_attempts = 3,
    .backoff_ms = 100,
    .backoff_max_ms = 1000,
    .retry_after_max_ms = 5000,
    .deadline_ms = 60000,
    .key_cooldown_ms = 60000,
};

static void test_backoff_bounds(void **state)
{
    (void)state;
    /* Retry n waits between half and all of min(100 * 2^(n-1), 1000). */
    static const long full[] = {0, 100, 200, 400, 800, 1000, 1000, 1000};
    for (int n = 1; n < 8; n++) {
        assert_int_equal(router_backoff_ms(&cfg, n, 0), full[n] / 2);
        assert_int_equal(router_backoff_ms(&cfg, n, (uint32_t)full[n] / 2), full[n]);
        for (uint32_t r = 0; r < 5000; r += 37) {
            long d = router_backoff_ms(&cfg, n, r * 2654435761u);
            assert_true(d >= full[n] / 2 && d <= full[n]);
        }
    }
    assert_int_equal(router_backoff_ms(&cfg, 0, 7), 0);
    assert_int_equal(router_backoff_ms(&cfg, 1000, UINT32_MAX) <= 1000, 1);
    struct router_retry_cfg none = cfg;
    none.backoff_ms = 0;
    assert_int_equal(router_backoff_ms(&none, 3, 12345), 0);
}

static void test_backoff_jitter_spreads(void **state)
{
    (void)state;
    /* Different random inputs give different delays (clients that failed
     * together do not come back together). */
    long seen[8] = {0};
    size_t distinct = 0;
    for (uint32_t r = 0; r < 8; r++) {
        long d = router_backoff_ms(&cfg, 3, r * 50u);
        bool dup = false;
        for (size_t i = 0; i < distinct; i++)
            dup |= seen[i] == d;
        if (!dup)
            seen[distinct++] = d;
    }
    assert_true(distinct >= 4);
}

static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(router_retry_after_ms("7", 0), 7000);
    assert_int_equal(router_retry_after_ms(" 0 ", 0), 0);
    assert_int_equal(router_retry_after_ms("120\r\n", 0), 120000);
    assert_int_equal(router_retry_after_ms("", 0), -1);
    assert_int_equal(router_retry_after_ms(NULL, 0), -1);
    assert_int_equal(router_retry_after_ms("5s", 0), -1);
    assert_int_equal(router_retry_after_ms("-3", 0), -1);
    assert_int_equal(router_retry_after_ms("99999999999999999999", 0), -1);
    /* An HTTP date: Wed, 21 Oct 2015 07:28:00 GMT is 1445412480. */
    assert_int_equal(router_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470), 10000);
    assert_int_equal(router_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 1445412490), 0);
    assert_int_equal(router_retry_after_ms("not a date", 0), -1);
}

static void test_classify(void **state)
{
    (void)state;
    assert_int_equal(router_classify(CURLE_OK, 200, true), ROUTER_OK);
    assert_int_equal(router_classify(CURLE_COULDNT_CONNECT, 0, false), ROUTER_FAIL_RETRY);
    assert_int_equal(router_classify(CURLE_COULDNT_RESOLVE_HOST, 0, false), ROUTER_FAIL_RETRY);
    assert_int_equal(router_classify(CURLE_GOT_NOTHING, 0, false), ROUTER_FAIL_RETRY);
    /* A timeout or a cut before the first byte is retried, after it not. */
    assert_int_equal(router_classify(CURLE_OPERATION_TIMEDOUT, 0, false), ROUTER_FAIL_RETRY);
    assert_int_equal(router_classify(CURLE_OPERATION_TIMEDOUT, 200, true), ROUTER_FAIL_FINAL);
    assert_int_equal(router_classify(CURLE_RECV_ERROR, 200, true), ROUTER_FAIL_FINAL);
    assert_int_equal(router_classify(CURLE_PEER_FAILED_VERIFICATION, 0, false), ROUTER_FAIL_NEXT);
    /* Our own aborts end the request. */
    assert_int_equal(router_classify(CURLE_WRITE_ERROR, 200, true), ROUTER_FAIL_FINAL);
    assert_int_equal(router_classify(CURLE_ABORTED_BY_CALLBACK, 0, false), ROUTER_FAIL_FINAL);
    static const struct {
        long status;
        enum router_failure f;
    } statuses[] = {
        {429, ROUTER_FAIL_RETRY}, {500, ROUTER_FAIL_RETRY}, {502, ROUTER_FAIL_RETRY},
        {503, ROUTER_FAIL_RETRY}, {504, ROUTER_FAIL_RETRY}, {529, ROUTER_FAIL_RETRY},
        {408, ROUTER_FAIL_RETRY}, {401, ROUTER_FAIL_NEXT},  {403, ROUTER_FAIL_NEXT},
        {404, ROUTER_FAIL_NEXT},  {501, ROUTER_FAIL_NEXT},  {400, ROUTER_FAIL_FINAL},
        {413, ROUTER_FAIL_FINAL}, {422, ROUTER_FAIL_FINAL},
    };
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        assert_int_equal(router_classify(CURLE_OK, statuses[i].status, false), statuses[i].f);
}

static struct key_pool *pool(const char *spec)
{
    struct key_pool *p = NULL;
    char err[96] = "";
    coop_err e = key_pool_parse(spec, &p, err, sizeof err);
    if (e) {
        /* The reason never quotes a key. */
        assert_null(strstr(err, "sk-"));
        return NULL;
    }
    return p;
}

static void test_pool_parse(void **state)
{
    (void)state;
    struct key_pool *p = pool("sk-a:3, sk-b ,sk-c:1000,sk:d:e");
    assert_non_null(p);
    assert_int_equal(key_pool_size(p), 4);
    assert_string_equal(key_pool_key(p, 0), "sk-a");
    assert_int_equal(key_pool_weight(p, 0), 3);
    assert_string_equal(key_pool_key(p, 1), "sk-b");
    assert_int_equal(key_pool_weight(p, 1), 1);
    assert_int_equal(key_pool_weight(p, 2), 1000);
    /* Only digits after the last ':' are a weight. */
    assert_string_equal(key_pool_key(p, 3), "sk:d:e");
    assert_null(key_pool_key(p, 4));
    key_pool_free(p);
    static const char *const bad[] = {
        "", "sk-a,", ",sk-a", "sk-a:0", "sk-a:1001", "sk a", "sk-a\t:2x,sk-\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(pool(bad[i]));
    struct coop_buf many;
    coop_buf_init(&many, 4096);
    for (int i = 0; i < KEY_POOL_MAX + 1; i++)
        coop_buf_printf(&many, "%ssk-%d", i ? "," : "", i);
    assert_null(pool(many.data));
    coop_buf_dispose(&many);
}

static void test_pool_weights_and_cooldown(void **state)
{
    (void)state;
    struct key_pool *p = pool("k0:3,k1:1");
    int count[2] = {0, 0};
    /* rnd % 4 in 0..2 picks k0, 3 picks k1: 3:1 exactly over a cycle. */
    for (uint32_t r = 0; r < 400; r++)
        count[key_pool_pick(p, 0, r, -1)]++;
    assert_int_equal(count[0], 300);
    assert_int_equal(count[1], 100);
    /* k0 cools down until t=1000: only k1 until then. */
    key_pool_cool(p, 0, 1000);
    for (uint32_t r = 0; r < 50; r++)
        assert_int_equal(key_pool_pick(p, 999, r, -1), 1);
    assert_true(key_pool_has_other(p, 999, 0));
    assert_false(key_pool_has_other(p, 999, 1));
    assert_int_equal(key_pool_pick(p, 1000, 0, -1), 0);
    /* A shorter cooldown never shortens a longer one. */
    key_pool_cool(p, 0, 500);
    assert_int_equal(key_pool_pick(p, 999, 0, -1), 1);
    /* Both cooling: the one free soonest. */
    key_pool_cool(p, 1, 2000);
    assert_int_equal(key_pool_pick(p, 999, 7, -1), 0);
    assert_int_equal(key_pool_pick(p, 999, 7, 0), 0);
    key_pool_free(p);
    assert_int_equal(key_pool_pick(NULL, 0, 0, -1), -1);
}

static void test_pool_var(void **state)
{
    (void)state;
    char v[64];
    key_pool_var(&coop_provider_openai, v, sizeof v);
    assert_string_equal(v, "COOP_OPENAI_API_KEYS");
    key_pool_var(&coop_provider_selfhosted, v, sizeof v);
    assert_string_equal(v, "COOP_SELFHOSTED_API_KEYS");
}

static struct coop_policy *policy(const char *json, char *err, size_t errlen)
{
    struct coop_policy *p = NULL;
    if (coop_policy_parse(json, strlen(json), &p, err, errlen))
        return NULL;
    return p;
}

static void test_routes_parse(void **state)
{
    (void)state;
    char err[200];
    struct coop_policy *p = policy(
        "{\"providers\":{\"openai\":{}},\"routes\":{\"coop/smart\":[\"anthropic/claude-x\","
        "\"openai/gpt-4o\"],\"openai/gpt-4o\":[\"openai/gpt-4o\",\"selfhosted/org/llama\"]}}",
        err, sizeof err);
    assert_non_null(p);
    const struct coop_route *rt = coop_policy_route(p, "coop/smart");
    assert_non_null(rt);
    assert_int_equal(rt->ntargets, 2);
    assert_string_equal(rt->targets[0], "anthropic/claude-x");
    assert_string_equal(rt->targets[1], "openai/gpt-4o");
    assert_int_equal(coop_policy_route(p, "openai/gpt-4o")->ntargets, 2);
    assert_null(coop_policy_route(p, "coop/other"));
    assert_non_null(coop_policy_route_at(p, 1));
    assert_null(coop_policy_route_at(p, 2));
    /* Round trip through the JSON the admin API shows. */
    struct json_object *j = coop_policy_to_json(p);
    const char *text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
    struct coop_policy *q = policy(text, err, sizeof err);
    assert_non_null(q);
    assert_string_equal(coop_policy_route(q, "coop/smart")->targets[0], "anthropic/claude-x");
    coop_policy_free(q);
    json_object_put(j);
    coop_policy_free(p);
    /* No routes: none. */
    p = policy("{\"providers\":{}}", err, sizeof err);
    assert_null(coop_policy_route_at(p, 0));
    coop_policy_free(p);
}

static void test_routes_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"providers\":{},\"routes\":[]}",
        "{\"providers\":{},\"routes\":{\"coop/x\":[]}}",
        "{\"providers\":{},\"routes\":{\"coop/x\":\"openai/gpt-4o\"}}",
        "{\"providers\":{},\"routes\":{\"coop/x\":[\"nope/m\"]}}",
        "{\"providers\":{},\"routes\":{\"coop/x\":[\"coop/y\"]}}",
        "{\"providers\":{},\"routes\":{\"coop/x\":[\"openai/\"]}}",
        "{\"providers\":{},\"routes\":{\"coop/x\":[\"openai/a b\"]}}",
        "{\"providers\":{},\"routes\":{\"coop/x\":[1]}}",
        "{\"providers\":{},\"routes\":{\"smart\":[\"openai/gpt-4o\"]}}",
        "{\"providers\":{},\"routes\":{\"other/x\":[\"openai/gpt-4o\"]}}",
        "{\"providers\":{},\"routes\":{\"coop/x\":[\"openai/a\",\"openai/a\",\"openai/a\","
        "\"openai/a\",\"openai/a\",\"openai/a\",\"openai/a\",\"openai/a\",\"openai/a\"]}}",
        "{\"providers\":{},\"routes\":{},\"extra\":1}",
        "{\"routes\":{}}",
    };
    char err[200];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        struct coop_policy *p = policy(bad[i], err, sizeof err);
        if (p)
            fail_msg("accepted: %s", bad[i]);
        assert_true(err[0] != '\0');
    }
}

static void test_route_checks(void **state)
{
    (void)state;
    char err[200];
    struct coop_config cfg = {0};
    setenv("OPENAI_API_KEY", "sk-unit-route-check-0123", 1);
    struct coop_policy *p = policy(
        "{\"providers\":{\"openai\":{\"policy_url\":\"https://x\",\"verified_at\":"
        "\"2026-11-01T00:00:00Z\",\"allowed_models\":[\"gpt-4o\"]},\"deepseek\":{\"enabled\":"
        "false}},\"routes\":{\"coop/smart\":[\"deepseek/deepseek-chat\",\"openai/gpt-4o\"],"
        "\"coop/none\":[\"openai/gpt-4o-mini\",\"anthropic/claude-x\"]}}",
        err, sizeof err);
    assert_non_null(p);
    struct coop_buf out;
    coop_buf_init(&out, 1 << 16);
    int warnings = 0;
    coop_router_check(&cfg, p, &out, &warnings);
    assert_non_null(strstr(out.data, "ok   route coop/smart: 1 of 2 targets allowed"));
    assert_non_null(strstr(out.data, "WARN route coop/none: the policy refuses every target"));
    assert_true(warnings >= 1);
    assert_null(strstr(out.data, "sk-unit-route-check"));
    coop_buf_dispose(&out);
    coop_policy_free(p);
    unsetenv("OPENAI_API_KEY");
}

/* A call between attempts, as the router thread sees it when a transfer
 * ended: on target 0 of two, one attempt made, deadline 10 s away. */
static struct call *failed_call(struct coop_router *r, long status)
{
    struct call *c = calloc(1, sizeof *c);
    c->router = r;
    c->ops = &coop_provider_openai;
    coop_strlcpy(c->provider, "openai", sizeof c->provider);
    c->ntargets = 2;
    coop_strlcpy(c->targets[0], "openai/gpt-4o", sizeof c->targets[0]);
    coop_strlcpy(c->targets[1], "anthropic/claude-x", sizeof c->targets[1]);
    c->attempts = c->target_attempts = 1;
    c->key_index = -1;
    c->retry_after_ms = -1;
    c->upstream_status = status;
    c->deadline_ns = 10000LL * 1000000;
    coop_buf_init(&c->route, 4000);
    return c;
}

static void free_call(struct call *c)
{
    coop_buf_dispose(&c->route);
    free(c);
}

#define MS 1000000LL

static void test_retry_decisions(void **state)
{
    (void)state;
    struct coop_router r = {.retry = cfg};
    int64_t at = -1;

    /* 503: the same target after the backoff of retry 1 (50-100 ms). */
    struct call *c = failed_call(&r, 503);
    assert_true(call_retry(c, CURLE_OK, 0, &at));
    assert_true(at >= 50 * MS && at <= 100 * MS);
    assert_int_equal(c->target, 0);
    assert_non_null(strstr(c->route.data, "\"result\":\"error\",\"status\":503"));
    free_call(c);

    /* 429 with Retry-After 2 s (under the 5 s maximum): waited for. */
    c = failed_call(&r, 429);
    c->retry_after_ms = 2000;
    assert_true(call_retry(c, CURLE_OK, 0, &at));
    assert_int_equal(at, 2000 * MS);
    assert_int_equal(c->target, 0);
    free_call(c);

    /* Retry-After 9 s (over the maximum): the next target, at once. */
    c = failed_call(&r, 429);
    c->retry_after_ms = 9000;
    assert_true(call_retry(c, CURLE_OK, 0, &at));
    assert_int_equal(at, 0);
    assert_int_equal(c->target, 1);
    assert_int_equal(c->target_attempts, 0);
    /* ... and on the last target, nothing more: the client gets the 429. */
    c->retry_after_ms = 9000;
    assert_false(call_retry(c, CURLE_OK, 0, &at));
    free_call(c);

    /* A Retry-After that ends past the deadline: not waited for. */
    c = failed_call(&r, 429);
    c->retry_after_ms = 2000;
    c->deadline_ns = 1500 * MS;
    assert_true(call_retry(c, CURLE_OK, 0, &at));
    assert_int_equal(c->target, 1);
    /* Past the deadline, not even the next target. */
    c->target = 0;
    assert_false(call_retry(c, CURLE_OK, 1600 * MS, &at));
    free_call(c);

    /* Attempts used up on a target: the next one. */
    c = failed_call(&r, 500);
    c->target_attempts = cfg.max_attempts;
    assert_true(call_retry(c, CURLE_OK, 0, &at));
    assert_int_equal(c->target, 1);
    free_call(c);

    /* Final failures, and anything once content reached the client. */
    c = failed_call(&r, 400);
    assert_false(call_retry(c, CURLE_OK, 0, &at));
    free_call(c);
    c = failed_call(&r, 503);
    c->content_sent = true;
    assert_false(call_retry(c, CURLE_OK, 0, &at));
    free_call(c);
    c = failed_call(&r, 200);
    c->got_bytes = true;
    assert_false(call_retry(c, CURLE_OPERATION_TIMEDOUT, 0, &at));
    c->got_bytes = false;
    c->upstream_status = 0;
    assert_true(call_retry(c, CURLE_OPERATION_TIMEDOUT, 0, &at));
    assert_non_null(strstr(c->route.data, "\"result\":\"timeout\""));
    free_call(c);

    /* 401 with a direct request (one target) and no pool: answered. */
    c = failed_call(&r, 401);
    c->ntargets = 1;
    assert_false(call_retry(c, CURLE_OK, 0, &at));
    free_call(c);
}

static void test_retry_with_key_pool(void **state)
{
    (void)state;
    struct coop_router r = {.retry = cfg};
    r.pools[0] = pool("k0,k1");
    int64_t at = -1;

    /* 401 on key 0: it cools down and the other key is tried at once. */
    struct call *c = failed_call(&r, 401);
    c->ntargets = 1;
    c->key_index = 0;
    assert_true(call_retry(c, CURLE_OK, 0, &at));
    assert_int_equal(at, 0);
    assert_non_null(strstr(c->route.data, "\"key\":0"));
    for (uint32_t rnd = 0; rnd < 20; rnd++)
        assert_int_equal(key_pool_pick(r.pools[0], 59999 * MS, rnd, -1), 1);
    assert_int_equal(key_pool_pick(r.pools[0], 60000 * MS, 0, -1), 0);
    free_call(c);

    /* 429 with Retry-After 3 s on key 1: it rests 3 s, and the retry with
     * key 0 does not wait for it (the backoff only). */
    c = failed_call(&r, 429);
    c->key_index = 1;
    c->retry_after_ms = 3000;
    c->deadline_ns = 70000 * MS;
    assert_true(call_retry(c, CURLE_OK, 60000 * MS, &at));
    assert_true(at - 60000 * MS <= 100 * MS);
    assert_int_equal(c->target, 0);
    assert_false(key_pool_has_other(r.pools[0], 62999 * MS, 0));
    assert_true(key_pool_has_other(r.pools[0], 63000 * MS, 0));
    free_call(c);
    key_pool_free(r.pools[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_bounds),  cmocka_unit_test(test_backoff_jitter_spreads),
        cmocka_unit_test(test_retry_after),     cmocka_unit_test(test_classify),
        cmocka_unit_test(test_pool_parse),      cmocka_unit_test(test_pool_weights_and_cooldown),
        cmocka_unit_test(test_pool_var),        cmocka_unit_test(test_routes_parse),
        cmocka_unit_test(test_routes_refused),  cmocka_unit_test(test_route_checks),
        cmocka_unit_test(test_retry_decisions), cmocka_unit_test(test_retry_with_key_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
