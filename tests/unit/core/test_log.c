/* Logging: every line is one JSON object, secret-looking field names are
 * refused, registered secret values are scrubbed from any string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coop/core.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char captured[65536];

/* Runs the logging calls of fn with stderr redirected to a pipe. */
static void capture(void (*fn)(void))
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    coop_log_set_fd(fds[1]);
    fn();
    coop_log_set_fd(2);
    close(fds[1]);
    ssize_t n = read(fds[0], captured, sizeof captured - 1);
    close(fds[0]);
    captured[n > 0 ? n : 0] = '\0';
}

static json_object *only_line(void)
{
    char *nl = strchr(captured, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    json_object *o = json_tokener_parse(captured);
    assert_non_null(o);
    return o;
}

static void log_plain(void)
{
    coop_log_info("hello", COOP_F_STR("route", "/x\"y\n"), COOP_F_INT("status", 200),
                  COOP_F_BOOL("ok", true), COOP_F_DBL("ms", 1.5));
}

static void test_line_is_json_with_fields(void **state)
{
    capture(log_plain);
    json_object *o = only_line();
    assert_string_equal(coop_json_str(o, "msg"), "hello");
    assert_string_equal(coop_json_str(o, "level"), "info");
    assert_string_equal(coop_json_str(o, "route"), "/x\"y\n");
    int64_t status;
    assert_true(coop_json_int(o, "status", &status));
    assert_int_equal(status, 200);
    assert_non_null(coop_json_str(o, "time"));
    json_object_put(o);
}

static coop_err refused_result;

static void log_refused(void)
{
    refused_result = coop_log_info("attempt", COOP_F_STR("api_key", "CANARY-KEY-123456"),
                                   COOP_F_STR("Authorization", "Bearer CANARY-TOK-123456"),
                                   COOP_F_STR("prompt", "CANARY-PROMPT-123456"),
                                   COOP_F_STR("x-secret-value", "CANARY-SECRET-123456"),
                                   COOP_F_STR("route", "/ok"));
}

static void test_secret_field_names_refused(void **state)
{
    capture(log_refused);
    assert_int_equal(refused_result, COOP_ERR_FORBIDDEN);
    assert_null(strstr(captured, "CANARY"));
    assert_non_null(strstr(captured, "refused_field"));
    json_object *o = only_line();
    assert_string_equal(coop_json_str(o, "route"), "/ok");
    json_object_put(o);
}

static void test_name_rule(void **state)
{
    const char *refused[] = {"key", "api_key", "API-KEY", "token", "access_token", "secret",
                             "client.secret", "password", "db_password", "authorization",
                             "auth", "prompt", "system_prompt", "body", "cookie", "headers"};
    const char *allowed[] = {"route", "status", "duration_ms", "tokens", "keyboard", "monkey",
                             "input_tokens", "customer", "provider", "request_id"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        assert_true(coop_log_name_refused(refused[i]));
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
        assert_false(coop_log_name_refused(allowed[i]));
}

static void log_value_with_secret(void)
{
    coop_log_warn("upstream said", COOP_F_STR("detail", "invalid x-api-key sk-CANARY-0123456789abcdef here"));
}

static void test_registered_secret_scrubbed(void **state)
{
    coop_log_register_secret("sk-CANARY-0123456789abcdef");
    capture(log_value_with_secret);
    assert_null(strstr(captured, "CANARY"));
    assert_non_null(strstr(captured, "[redacted]"));
    json_object_put(only_line());
}

static void log_rotating_value(void)
{
    coop_log_info("value", COOP_F_STR("path", "ghs_ROTATING-0123456789"));
}

/* Short-lived credentials come and go: forgetting the replaced ones keeps
 * room in the registry for those in use, however many came before. */
static void test_unregistered_secret_frees_room(void **state)
{
    char value[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(value, sizeof value, "ghs_TEMPORARY-%08d", i);
        coop_log_register_secret(value);
        coop_log_unregister_secret(value);
    }
    coop_log_register_secret("ghs_ROTATING-0123456789");
    capture(log_rotating_value);
    assert_null(strstr(captured, "ROTATING"));
    json_object_put(only_line());
    coop_log_unregister_secret("ghs_ROTATING-0123456789");
    capture(log_rotating_value);
    assert_non_null(strstr(captured, "ROTATING"));
    json_object_put(only_line());
}

static void log_invalid_utf8(void)
{
    coop_log_info("bytes", COOP_F_STR("path", "a\xff\xfe" "b\x01"));
}

static void test_invalid_utf8_still_json(void **state)
{
    capture(log_invalid_utf8);
    json_object *o = only_line();
    assert_non_null(coop_json_str(o, "path"));
    json_object_put(o);
}

static void log_below_level(void)
{
    coop_log_set_level(COOP_LOG_WARN);
    coop_log_info("hidden");
    coop_log_debug("hidden too");
    coop_log_set_level(COOP_LOG_INFO);
}

static void test_level_filters(void **state)
{
    capture(log_below_level);
    assert_string_equal(captured, "");
}

int main(void)
{
    coop_core_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_is_json_with_fields),
        cmocka_unit_test(test_secret_field_names_refused),
        cmocka_unit_test(test_name_rule),
        cmocka_unit_test(test_registered_secret_scrubbed),
        cmocka_unit_test(test_unregistered_secret_frees_room),
        cmocka_unit_test(test_invalid_utf8_still_json),
        cmocka_unit_test(test_level_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
