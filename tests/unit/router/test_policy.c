/*
 * Provider policy: the built-in defaults, parsing and refusals, the
 * compliance checks, and which base URLs are allowed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "coop/router.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static int64_t fake_now;
static int64_t fake_clock(void)
{
    return fake_now;
}

static struct coop_policy *parse(const char *json)
{
    struct coop_policy *p = NULL;
    char err[200];
    if (coop_policy_parse(json, strlen(json), &p, err, sizeof err))
        return NULL;
    return p;
}

static void test_builtin(void **state)
{
    struct coop_config cfg = {0};
    setenv("OPENAI_API_KEY", "sk-unit-test-key-0123456789", 1);
    unsetenv("DEEPSEEK_API_KEY");
    unsetenv("COOP_POLICY_FILE");
    struct coop_policy *p = NULL;
    char err[200];
    assert_int_equal(coop_policy_load(&cfg, &p, err, sizeof err), COOP_ERR_OK);
    const struct coop_provider_policy *o = coop_policy_provider(p, "openai");
    assert_true(o->enabled);
    assert_false(coop_policy_provider(p, "deepseek")->enabled);
    assert_false(coop_policy_provider(p, "deepseek")->dpa_approved);
    unsigned g = coop_policy_provider(p, "gemini")->disabled;
    assert_true(g & COOP_FEATURE_GROUNDING);
    assert_true(g & COOP_FEATURE_CACHED_CONTENT);
    assert_true(g & COOP_FEATURE_SESSION_STORAGE);
    struct json_object *j = coop_policy_to_json(p);
    const char *text = json_object_to_json_string(j);
    assert_null(strstr(text, "sk-unit-test-key"));
    json_object_put(j);
    coop_policy_free(p);
    unsetenv("OPENAI_API_KEY");
}

static void test_parse_refusals(void **state)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{}",
        "{\"providers\":[]}",
        "{\"providers\":{},\"x\":1}",
        "{\"providers\":{\"acme\":{}}}",
        "{\"providers\":{\"openai\":{\"enabled\":\"yes\"}}}",
        "{\"providers\":{\"openai\":{\"colour\":1}}}",
        "{\"providers\":{\"openai\":{\"verified_at\":\"last week\"}}}",
        "{\"providers\":{\"openai\":{\"disabled_features\":[\"telepathy\"]}}}",
        "{\"providers\":{\"openai\":{\"allowed_models\":[\"\"]}}}",
        "{\"providers\":{\"openai\":{},\"openai\":{}}}",
        "{\"providers\":{\"openai\":{\"retention_annotation\":\"url\"}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(parse(bad[i]));
}

static void test_models_and_features(void **state)
{
    struct coop_policy *p = parse("{\"providers\":{\"openai\":{\"allowed_models\":[\"gpt-4o\"],"
                                  "\"disabled_features\":[\"tools\"]},\"gemini\":{}}}");
    assert_non_null(p);
    const struct coop_provider_policy *o = coop_policy_provider(p, "openai");
    assert_true(coop_policy_model_allowed(o, "gpt-4o"));
    assert_false(coop_policy_model_allowed(o, "gpt-4o-mini"));
    assert_int_equal(o->disabled, COOP_FEATURE_TOOLS);
    /* Left out: the built-in value, so Gemini's features stay off. */
    assert_true(coop_policy_provider(p, "gemini")->disabled & COOP_FEATURE_GROUNDING);
    assert_null(coop_policy_provider(p, "anthropic"));
    coop_policy_free(p);
}

static void test_checks(void **state)
{
    struct coop_config cfg = {0};
    setenv("DEEPSEEK_API_KEY", "sk-unit-deepseek-0123456789", 1);
    unsetenv("COOP_DEEPSEEK_BASE_URL");
    coop_clock_set_override(fake_clock);
    int64_t verified;
    assert_int_equal(coop_clock_parse("2026-01-01T00:00:00Z", &verified), COOP_ERR_OK);
    fake_now = verified + 10LL * 86400000;
    struct coop_policy *p = parse("{\"providers\":{\"deepseek\":{\"policy_url\":\"https://x\","
                                  "\"verified_at\":\"2026-01-01T00:00:00Z\"}}}");
    struct coop_buf out;
    coop_buf_init(&out, 1 << 16);
    int warnings = -1;
    assert_int_equal(coop_router_check(&cfg, p, &out, &warnings), 1);
    assert_non_null(strstr(out.data, "DPA"));
    assert_null(strstr(out.data, "sk-unit-deepseek"));
    coop_policy_free(p);
    coop_buf_reset(&out);
    p = parse("{\"providers\":{\"deepseek\":{\"policy_url\":\"https://x\","
              "\"verified_at\":\"2026-01-01T00:00:00Z\",\"dpa_approved\":true}}}");
    fake_now = verified + 200LL * 86400000;
    assert_int_equal(coop_router_check(&cfg, p, &out, &warnings), 0);
    assert_int_equal(warnings, 1);
    assert_non_null(strstr(out.data, "WARN provider deepseek"));
    coop_policy_free(p);
    coop_buf_dispose(&out);
    coop_clock_set_override(NULL);
    unsetenv("DEEPSEEK_API_KEY");
}

static void test_urls(void **state)
{
    assert_true(coop_router_url_allowed("https://api.openai.com/v1"));
    assert_true(coop_router_url_allowed("http://127.0.0.1:8080/v1"));
    assert_true(coop_router_url_allowed("http://localhost:11434"));
    assert_true(coop_router_url_allowed("http://[::1]:9000"));
    assert_false(coop_router_url_allowed("http://api.example.com/v1"));
    assert_false(coop_router_url_allowed("http://127.0.0.1.evil.com/v1"));
    assert_false(coop_router_url_allowed("http://127.0.0.1@evil.com/v1"));
    assert_false(coop_router_url_allowed("http://localhost.evil.com"));
    assert_false(coop_router_url_allowed("ftp://127.0.0.1"));
    assert_false(coop_router_url_allowed("https://"));
}

int main(void)
{
    coop_core_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_models_and_features),
        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
