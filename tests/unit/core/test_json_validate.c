/* The allocation-free validating scan: agrees with coop_json_parse on every
 * real webhook fixture, accepts RFC 8259 documents, refuses what the full
 * parse refuses and what RFC 8259 forbids even where json-c is lax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coop/core.h"

#include <ftw.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH 128

static coop_err validate(const char *s, size_t n)
{
    return coop_json_validate(s, n, DEPTH, NULL);
}

#define OK(lit) assert_int_equal(validate(lit, sizeof(lit) - 1), COOP_ERR_OK)
#define BAD(lit) assert_int_not_equal(validate(lit, sizeof(lit) - 1), COOP_ERR_OK)

static void test_accepts_rfc_documents(void **state)
{
    OK("{}");
    OK("[]");
    OK("\"x\"");
    OK(" \t\r\n{ \"a\" : [ 1 , -2.5e+3 , 0 , -0 , 0.0E-0 , true , false , null , { } , [ ] ] } \n");
    OK("{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\\ud800\\u0000\"}");
    OK("{\"\\u0000\":1}");
    OK("{\"a\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf\"}");
    OK("{\"n\":18446744073709551615,\"m\":-9223372036854775808,\"d\":1e400}");
    OK("{\"a\":\"0123456789abcdef0123456789abcdef long enough for the 8-byte steps\"}");
}

static void test_refuses_malformed(void **state)
{
    BAD("");
    BAD("   ");
    BAD("{");
    BAD("{\"a\":1");
    BAD("{\"a\":1,}");
    BAD("[1,]");
    BAD("[1 2]");
    BAD("{\"a\" 1}");
    BAD("{a:1}");
    BAD("{'a':1}");
    BAD("{\"a\":'x'}");
    BAD("{\"a\":True}");
    BAD("{\"a\":nul}");
    BAD("{\"a\":tru}");
    BAD("{} {}");
    BAD("{}x");
    BAD("/*c*/{}");
    BAD("{}//c");
    BAD("\v{}");
    BAD("{}\f");
    BAD("{\"a\":\"x");
    BAD("{\"a\":\"\\x\"}");
    BAD("{\"a\":\"\\u12\"}");
    BAD("{\"a\":\"\\u12G4\"}");
    BAD("{\"a\":\"\\");
    BAD("{\"a\":-}");
    BAD("{\"a\":1e}");
    BAD("{\"a\":+1}");
    BAD("{\"a\":01}");
    BAD("{\"a\":.5}");
    BAD("{\"a\":0x1}");
    BAD("{\"a\":1e5.}");
    BAD("{\"a\":18446744073709551616}");
    BAD("{\"a\":-9223372036854775809}");
    BAD("{\"a\":123456789012345678901234567890123456789012345678901234567890123}");
    BAD("{\"a\":\"\xff\"}");
    BAD("{\"a\":\"\xc3\"}");
    BAD("{\"a\":\"\xc3");
    BAD("{\"a\":1}\0");
    BAD("{\"a\":\"x\0y\"}");
    /* Bare scalars: json-c cannot end them without more input. */
    BAD("1");
    BAD("true");
    BAD("null");
}

/* json-c lets these through; RFC 8259 does not, and neither does the scan. */
static void test_refuses_json_c_leniencies(void **state)
{
    BAD("{\"a\":NaN}");
    BAD("{\"a\":Infinity}");
    BAD("{\"a\":-Infinity}");
    BAD("{\"a\":00}");
    BAD("{\"a\":-01}");
    BAD("{\"a\":1.}");
    BAD("{\"a\":\"\x01\"}");
    BAD("{\"a\":\"\x1f\"}");
    BAD("{\"a\":\"\t\"}");
    BAD("{\"a\":\"\xc0\x80\"}");
    BAD("{\"a\":\"\xed\xa0\x80\"}");
    BAD("{\"a\":\"\xf4\x90\x80\x80\"}");
    BAD("{\"a\":\"\xf5\x80\x80\x80\"}");
}

/* levels containers ('[' or '{"k":' each), with inner (may be "") inside. */
static void nest(char *buf, int levels, bool objects, const char *inner, size_t *n)
{
    *n = 0;
    for (int i = 0; i < levels; i++) {
        memcpy(buf + *n, objects ? "{\"k\":" : "[", objects ? 5 : 1);
        *n += objects ? 5 : 1;
    }
    if (objects && !*inner) {
        /* An object needs a value: the innermost one is empty instead. */
        *n -= 5;
        memcpy(buf + *n, "{}", 2);
        *n += 2;
        for (int i = 1; i < levels; i++)
            buf[(*n)++] = '}';
        return;
    }
    memcpy(buf + *n, inner, strlen(inner));
    *n += strlen(inner);
    for (int i = 0; i < levels; i++)
        buf[(*n)++] = objects ? '}' : ']';
}

/* The same nesting limit as the full parse, level for level, with empty
 * containers and with a scalar at the bottom (json-c counts it as a
 * level too). */
static void test_depth_matches_parse(void **state)
{
    static const char *const inners[] = {"", "false", "1", "\"x\"", "[]"};
    char buf[8 * 300];
    for (size_t k = 0; k < sizeof inners / sizeof *inners; k++) {
        for (int objects = 0; objects <= 1; objects++) {
            for (int levels = DEPTH - 2; levels <= DEPTH + 2; levels++) {
                size_t n;
                nest(buf, levels, objects, inners[k], &n);
                json_object *o = NULL;
                coop_err parsed = coop_json_parse(buf, n, DEPTH, false, &o);
                json_object_put(o);
                coop_err scanned = validate(buf, n);
                if (scanned != parsed)
                    fail_msg("%d levels of %s around '%s': scan %s, parse %s", levels,
                             objects ? "objects" : "arrays", inners[k], coop_err_name(scanned),
                             coop_err_name(parsed));
            }
        }
    }
}

static int fixtures_checked;

static int check_fixture(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    size_t plen = strlen(path);
    if (type != FTW_F || plen < 5 || strcmp(path + plen - 5, ".json") != 0)
        return 0;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *text = malloc((size_t)sb->st_size + 1);
    assert_non_null(text);
    size_t n = fread(text, 1, (size_t)sb->st_size, f);
    fclose(f);
    json_object *o = NULL;
    coop_err parsed = coop_json_parse(text, n, DEPTH, false, &o);
    json_object_put(o);
    char root = 0;
    coop_err scanned = coop_json_validate(text, n, DEPTH, &root);
    if (scanned != parsed)
        fail_msg("%s: scan %s, parse %s", path, coop_err_name(scanned), coop_err_name(parsed));
    if (!scanned)
        assert_true(root == '{' || root == '[');
    free(text);
    fixtures_checked++;
    return 0;
}

static void test_agrees_on_webhook_fixtures(void **state)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/webhook", getenv("COOP_TEST_DATA"));
    fixtures_checked = 0;
    assert_int_equal(nftw(dir, check_fixture, 16, FTW_PHYS), 0);
    assert_true(fixtures_checked > 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_rfc_documents),
        cmocka_unit_test(test_refuses_malformed),
        cmocka_unit_test(test_refuses_json_c_leniencies),
        cmocka_unit_test(test_depth_matches_parse),
        cmocka_unit_test(test_agrees_on_webhook_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
