/* Errors, bounded buffers, JSON strictness, clock parsing, constant-time
 * comparison and the configuration's refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coop/config.h"
#include "coop/core.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static void test_err_table(void **state)
{
    assert_string_equal(coop_err_name(COOP_ERR_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(coop_strerror(COOP_ERR_OK), "success");
    assert_string_equal(coop_strerror(COOP_ERR_TOO_LARGE), "input too large");
}

static void test_buf_bounded(void **state)
{
    struct coop_buf b;
    coop_buf_init(&b, 8);
    assert_int_equal(coop_buf_puts(&b, "12345678"), COOP_ERR_OK);
    assert_int_equal(coop_buf_puts(&b, "9"), COOP_ERR_TOO_LARGE);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "12345678");
    coop_buf_reset(&b);
    assert_int_equal(coop_buf_printf(&b, "%d-%s", 42, "x"), COOP_ERR_OK);
    assert_string_equal(b.data, "42-x");
    assert_int_equal(coop_buf_printf(&b, "%s", "toolong"), COOP_ERR_TOO_LARGE);
    coop_buf_dispose(&b);
}

static void test_buf_json_str(void **state)
{
    struct coop_buf b;
    coop_buf_init(&b, 1024);
    coop_buf_json_str(&b, "a\"\\\n\x01\xff\xc3\xa9", 8);
    assert_string_equal(b.data, "\"a\\\"\\\\\\n\\u0001\xEF\xBF\xBD\xc3\xa9\"");
    json_object *o = json_tokener_parse(b.data);
    assert_non_null(o);
    json_object_put(o);
    coop_buf_dispose(&b);
}

static coop_err parse(const char *s, bool dup)
{
    json_object *o = NULL;
    coop_err err = coop_json_parse(s, strlen(s), 32, dup, &o);
    if (!err) {
        assert_non_null(o);
        json_object_put(o);
    } else {
        assert_null(o);
    }
    return err;
}

static void test_json_strict(void **state)
{
    assert_int_equal(parse("{\"a\":1,\"b\":[1,2,{\"c\":null}]}", true), COOP_ERR_OK);
    assert_int_equal(parse("{\"model\":\"a\",\"model\":\"b\"}", true), COOP_ERR_DUPLICATE);
    assert_int_equal(parse("{\"model\":\"a\",\"mod\\u0065l\":\"b\"}", true), COOP_ERR_DUPLICATE);
    assert_int_equal(parse("{\"model\":\"a\",\"model\":\"b\"}", false), COOP_ERR_OK);
    /* The same key in sibling objects is fine. */
    assert_int_equal(parse("[{\"a\":1},{\"a\":2}]", true), COOP_ERR_OK);
    assert_int_equal(parse("{\"a\":{\"x\":1},\"b\":{\"x\":1}}", true), COOP_ERR_OK);
    assert_int_equal(parse("{\"n\":123456789012345678901234}", true), COOP_ERR_INVALID);
    assert_int_equal(parse("{\"n\":-9223372036854775808}", true), COOP_ERR_OK);
    assert_int_equal(parse("{\"n\":1.5e300}", true), COOP_ERR_OK);
    assert_int_equal(parse("{\"a\":1,}", true), COOP_ERR_INVALID);
    assert_int_equal(parse("{'a':1}", true), COOP_ERR_INVALID);
    assert_int_equal(parse("{\"a\":1} x", true), COOP_ERR_INVALID);
    assert_int_equal(parse("\"\xff\"", true), COOP_ERR_INVALID);
    assert_int_equal(parse("", true), COOP_ERR_INVALID);
    /* A bare number is complete at the end of the input, with or without
     * whitespace after it; a cut-off one is not. */
    assert_int_equal(parse("1", true), COOP_ERR_OK);
    assert_int_equal(parse("1 ", true), COOP_ERR_OK);
    assert_int_equal(parse("-2.5e3", true), COOP_ERR_OK);
    assert_int_equal(parse("-", true), COOP_ERR_INVALID);
    assert_int_equal(parse("1e", true), COOP_ERR_INVALID);
    assert_int_equal(parse("[1", true), COOP_ERR_INVALID);
    assert_int_equal(parse("tru", true), COOP_ERR_INVALID);
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    json_object *o = NULL;
    assert_int_equal(coop_json_parse(deep, 200, 32, true, &o), COOP_ERR_TOO_LARGE);
}

static void test_clock_parse_format(void **state)
{
    int64_t ms;
    assert_int_equal(coop_clock_parse("2024-02-29T12:34:56Z", &ms), COOP_ERR_OK);
    assert_int_equal(ms, 1709210096000LL);
    assert_int_equal(coop_clock_parse("2024-02-29T14:34:56.5+02:00", &ms), COOP_ERR_OK);
    assert_int_equal(ms, 1709210096500LL);
    assert_int_equal(coop_clock_parse("2024-13-01T00:00:00Z", &ms), COOP_ERR_INVALID);
    assert_int_equal(coop_clock_parse("yesterday", &ms), COOP_ERR_INVALID);
    char out[32];
    coop_clock_format(1709210096500LL, out);
    assert_string_equal(out, "2024-02-29T12:34:56.500Z");
}

static void test_ct_equal(void **state)
{
    assert_true(coop_ct_equal("abc", 3, "abc", 3));
    assert_false(coop_ct_equal("abc", 3, "abd", 3));
    assert_false(coop_ct_equal("abc", 3, "abcd", 4));
    assert_true(coop_ct_equal("", 0, "", 0));
}

static void test_parse_i64(void **state)
{
    int64_t v;
    assert_int_equal(coop_parse_i64("42", &v), COOP_ERR_OK);
    assert_int_equal(v, 42);
    assert_int_equal(coop_parse_i64("-7", &v), COOP_ERR_OK);
    assert_int_equal(coop_parse_i64(" 1", &v), COOP_ERR_INVALID);
    assert_int_equal(coop_parse_i64("1x", &v), COOP_ERR_INVALID);
    assert_int_equal(coop_parse_i64("99999999999999999999", &v), COOP_ERR_INVALID);
    assert_int_equal(coop_parse_i64("", &v), COOP_ERR_INVALID);
}

static void test_config_refusals_name_variable_not_value(void **state)
{
    struct {
        const char *var, *value;
    } bad[] = {
        {"COOP_ENV", "staging-CANARY"},
        {"COOP_LISTEN", "nocolon-CANARY"},
        {"COOP_STORE", "mysql://CANARY"},
        {"COOP_API_TOKEN", "short-CANARY"},
        {"COOP_LOG_LEVEL", "loud-CANARY"},
        {"COOP_TLS_TERMINATED_BY_PROXY", "yes-CANARY"},
        {"COOP_HTTP_THREADS", "0x10-CANARY"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct coop_config cfg;
        char err[256];
        memset(&cfg, 0, sizeof cfg);
        coop_config_override(&cfg, bad[i].var, bad[i].value);
        assert_int_equal(coop_config_load(&cfg, err, sizeof err), COOP_ERR_CONFIG);
        assert_non_null(strstr(err, bad[i].var));
        assert_null(strstr(err, "CANARY"));
        coop_config_dispose(&cfg);
    }
}

static void test_config_defaults_and_overrides(void **state)
{
    struct coop_config cfg;
    char err[256];
    memset(&cfg, 0, sizeof cfg);
    unsetenv("COOP_LISTEN");
    unsetenv("COOP_STORE");
    coop_config_override(&cfg, "COOP_DATA_DIR", "/tmp/coop-x");
    coop_config_override(&cfg, "COOP_LISTEN", "[::1]:9");
    assert_int_equal(coop_config_load(&cfg, err, sizeof err), COOP_ERR_OK);
    assert_false(cfg.production);
    assert_string_equal(cfg.listen_host, "::1");
    assert_int_equal(cfg.listen_port, 9);
    assert_string_equal(cfg.store_url, "sqlite:/tmp/coop-x/coop.db");
    assert_null(cfg.api_token);
    coop_config_dispose(&cfg);
}

int main(void)
{
    coop_core_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_table),
        cmocka_unit_test(test_buf_bounded),
        cmocka_unit_test(test_buf_json_str),
        cmocka_unit_test(test_json_strict),
        cmocka_unit_test(test_clock_parse_format),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_parse_i64),
        cmocka_unit_test(test_config_refusals_name_variable_not_value),
        cmocka_unit_test(test_config_defaults_and_overrides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
