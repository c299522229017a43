/*
 * The SSE parser: events split at every possible byte boundary come out
 * the same; CR, LF and CRLF line ends; comments; multi-line data; limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "router/router_int.h"

#include <string.h>

struct seen {
    int n;
    char events[8][32];
    char data[8][128];
};

static coop_err collect(void *ctx, const char *event, const char *data, size_t len)
{
    struct seen *s = ctx;
    if (s->n >= 8)
        return COOP_ERR_TOO_LARGE;
    coop_strlcpy(s->events[s->n], event ? event : "-", sizeof s->events[0]);
    size_t n = len < sizeof s->data[0] - 1 ? len : sizeof s->data[0] - 1;
    memcpy(s->data[s->n], data, n);
    s->data[s->n][n] = '\0';
    s->n++;
    return COOP_ERR_OK;
}

static const char stream[] = ": comment\r\n"
                             "event: message_start\r\n"
                             "data: {\"a\":1}\r\n\r\n"
                             "data: line1\n"
                             "data: line2\n\n"
                             "id: 7\rdata:nospace\r\r"
                             "data: [DONE]\n\n";

static void check(const struct seen *s)
{
    assert_int_equal(s->n, 4);
    assert_string_equal(s->events[0], "message_start");
    assert_string_equal(s->data[0], "{\"a\":1}");
    assert_string_equal(s->events[1], "-");
    assert_string_equal(s->data[1], "line1\nline2");
    assert_string_equal(s->data[2], "nospace");
    assert_string_equal(s->data[3], "[DONE]");
}

static void test_whole(void **state)
{
    struct sse_parser p;
    struct seen s = {0};
    sse_init(&p, 4096);
    assert_int_equal(sse_feed(&p, stream, sizeof stream - 1, collect, &s), COOP_ERR_OK);
    check(&s);
    sse_dispose(&p);
}

static void test_every_split(void **state)
{
    for (size_t cut = 0; cut <= sizeof stream - 1; cut++) {
        struct sse_parser p;
        struct seen s = {0};
        sse_init(&p, 4096);
        assert_int_equal(sse_feed(&p, stream, cut, collect, &s), COOP_ERR_OK);
        assert_int_equal(sse_feed(&p, stream + cut, sizeof stream - 1 - cut, collect, &s),
                         COOP_ERR_OK);
        check(&s);
        sse_dispose(&p);
    }
}

static void test_byte_by_byte(void **state)
{
    struct sse_parser p;
    struct seen s = {0};
    sse_init(&p, 4096);
    for (size_t i = 0; i < sizeof stream - 1; i++)
        assert_int_equal(sse_feed(&p, stream + i, 1, collect, &s), COOP_ERR_OK);
    check(&s);
    sse_dispose(&p);
}

static void test_limits(void **state)
{
    struct sse_parser p;
    struct seen s = {0};
    char big[300];
    memset(big, 'x', sizeof big);
    sse_init(&p, 256);
    assert_int_equal(sse_feed(&p, "data: ", 6, collect, &s), COOP_ERR_OK);
    assert_int_equal(sse_feed(&p, big, sizeof big, collect, &s), COOP_ERR_TOO_LARGE);
    sse_dispose(&p);
    sse_init(&p, 4096);
    char ev[100] = "event: ";
    memset(ev + 7, 'e', 80);
    memcpy(ev + 87, "\n", 2);
    assert_int_equal(sse_feed(&p, ev, strlen(ev), collect, &s), COOP_ERR_TOO_LARGE);
    sse_dispose(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
