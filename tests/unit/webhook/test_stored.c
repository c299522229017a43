/* Stored delivery bodies back into events: a body stored deflated (zlib)
 * loads like the same body stored as it came; a deflated body that is
 * corrupt, truncated, inflates past the largest accepted body, or has an
 * encoding coopd does not know is refused as unparsable (COOP_ERR_PROTOCOL),
 * never read past its end. On SQLite, then PostgreSQL (COOP_TEST_PG). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "store_both.h" /* SQLite, then PostgreSQL (COOP_TEST_PG) */

#include "coop/event.h"
#include "coop/webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* A GitHub push of n commits, well over 1 KB. */
static char *push_json(int n, size_t *len)
{
    size_t cap = 512 + (size_t)n * 512;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t k = (size_t)snprintf(s, cap,
                                "{\"ref\":\"refs/heads/main\",\"before\":\"%040d\","
                                "\"after\":\"%040d\",\"repository\":{\"id\":1,"
                                "\"full_name\":\"octo/stored\",\"default_branch\":\"main\"},"
                                "\"pusher\":{\"name\":\"octo\",\"email\":\"octo@example.com\"},"
                                "\"commits\":[",
                                1, n + 1);
    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(s + k, cap - k,
                              "%s{\"id\":\"%040d\",\"message\":\"change %d\\n\\nbody\","
                              "\"timestamp\":\"2024-05-01T10:%02d:00Z\","
                              "\"author\":{\"name\":\"Octo Cat\",\"email\":\"octo@example.com\","
                              "\"username\":\"octocat\"},\"added\":[\"src/new_%d.c\"],"
                              "\"modified\":[\"src/file_%d.c\"],\"removed\":[]}",
                              i ? "," : "", i + 2, i, i % 60, i, i);
    k += (size_t)snprintf(s + k, cap - k, "]}");
    *len = k;
    return s;
}

static unsigned char *deflated(const void *text, size_t n, size_t *out_len)
{
    uLongf cap = compressBound((uLong)n);
    unsigned char *z = malloc(cap);
    assert_non_null(z);
    assert_int_equal(compress2(z, &cap, text, (uLong)n, 1), Z_OK);
    *out_len = cap;
    return z;
}

struct row {
    const char *delivery, *encoding;
    const void *body;
    size_t len;
    int64_t id;
};

static coop_err insert_tx(struct coop_conn *c, void *ctx)
{
    struct row *r = ctx;
    return coop_conn_query_int(
        c,
        "INSERT INTO coop_webhook_deliveries (source, delivery, event, received_at, body,"
        " body_encoding) VALUES ('github', ?, 'push', 0, ?, ?) RETURNING id",
        COOP_PARAMS(COOP_PT(r->delivery), COOP_PB(r->body, r->len), COOP_PT(r->encoding)), &r->id);
}

struct loaded {
    int64_t id;
    struct coop_event *events;
};

static coop_err load_tx(struct coop_conn *c, void *ctx)
{
    struct loaded *l = ctx;
    char payload[24];
    snprintf(payload, sizeof payload, "%lld", (long long)l->id);
    return coop_webhook_load_events(c, payload, &l->events);
}

/* Stores body under encoding and loads it back: the load's result, events
 * in *events (NULL on error). */
static coop_err store_and_load(const char *delivery, const void *body, size_t len,
                               const char *encoding, struct coop_event **events)
{
    struct row r = {delivery, encoding, body, len, 0};
    assert_int_equal(coop_store_tx(store, true, insert_tx, &r), COOP_ERR_OK);
    struct loaded l = {r.id, NULL};
    coop_err err = coop_store_tx(store, false, load_tx, &l);
    *events = l.events;
    return err;
}

static void test_deflated_loads_like_identity(void **state)
{
    size_t len, zlen;
    char *json = push_json(12, &len);
    assert_true(len > 1024);
    unsigned char *z = deflated(json, len, &zlen);
    assert_true(zlen < len / 2);
    struct coop_event *plain = NULL, *inflated = NULL;
    assert_int_equal(store_and_load("plain", json, len, "identity", &plain), COOP_ERR_OK);
    assert_int_equal(store_and_load("deflated", z, zlen, "zlib", &inflated), COOP_ERR_OK);
    assert_non_null(plain);
    assert_non_null(inflated);
    assert_int_equal(inflated->kind, COOP_EVENT_PUSH);
    assert_int_equal(inflated->u.push.n_commits, 12);
    assert_int_equal(plain->u.push.n_commits, inflated->u.push.n_commits);
    for (size_t i = 0; i < inflated->u.push.n_commits; i++) {
        assert_string_equal(plain->u.push.commits[i].sha, inflated->u.push.commits[i].sha);
        assert_string_equal(plain->u.push.commits[i].message, inflated->u.push.commits[i].message);
    }
    assert_string_equal(inflated->u.push.commits[11].sha,
                        "0000000000000000000000000000000000000013");
    assert_string_equal(inflated->delivery, "deflated");
    coop_event_free(plain);
    coop_event_free(inflated);
    free(z);
    free(json);
}

static void test_bad_deflated_refused(void **state)
{
    size_t len, zlen;
    char *json = push_json(12, &len);
    unsigned char *z = deflated(json, len, &zlen);
    struct coop_event *ev = NULL;
    /* Truncated: the stream ends before its end marker. */
    assert_int_equal(store_and_load("truncated", z, zlen / 2, "zlib", &ev), COOP_ERR_PROTOCOL);
    assert_null(ev);
    /* Damaged in the middle: the stream's checksum or codes fail. */
    z[zlen / 2] ^= 0x5a;
    z[zlen / 2 + 1] ^= 0xa5;
    assert_int_equal(store_and_load("damaged", z, zlen, "zlib", &ev), COOP_ERR_PROTOCOL);
    assert_null(ev);
    /* Not zlib at all, and an encoding coopd does not write. */
    assert_int_equal(store_and_load("text", json, len, "zlib", &ev), COOP_ERR_PROTOCOL);
    assert_int_equal(store_and_load("brotli", json, len, "br", &ev), COOP_ERR_PROTOCOL);
    assert_null(ev);
    free(z);
    free(json);
}

/* 26 MB of spaces deflate to a small fraction of that; inflated, they pass the
 * largest body a webhook may have (25 MB): refused once the inflated text
 * reaches that size, not inflated further. */
static void test_inflating_past_the_limit_refused(void **state)
{
    size_t big = COOP_WEBHOOK_MAX_BODY + 1024 * 1024, zlen;
    char *spaces = malloc(big);
    assert_non_null(spaces);
    memset(spaces, ' ', big);
    unsigned char *z = deflated(spaces, big, &zlen);
    free(spaces);
    assert_true(zlen < big / 100);
    struct coop_event *ev = NULL;
    assert_int_equal(store_and_load("bomb", z, zlen, "zlib", &ev), COOP_ERR_PROTOCOL);
    assert_null(ev);
    free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deflated_loads_like_identity),
        cmocka_unit_test(test_bad_deflated_refused),
        cmocka_unit_test(test_inflating_past_the_limit_refused),
    };
    return run_on_both(tests, sizeof tests / sizeof *tests);
}
