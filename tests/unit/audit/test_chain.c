/*
 * The audit hash chains: appends link up, any changed, removed or
 * reordered entry is found, and retention purges (driven by an injected
 * clock) keep what remains verifiable from its anchor.
 *
 * Every case runs on SQLite and on PostgreSQL (COOP_TEST_PG: the fixture's
 * server or COOP_TEST_PG_URL; that half is skipped without one, except on
 * CI). On PostgreSQL each case gets a fresh schema.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "coop/audit.h"
#include "pg_test.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY_MS 86400000LL

static int64_t fake_now;
static int64_t fake_clock(void)
{
    return fake_now;
}

/* The backend the current group runs on: on PostgreSQL, the case's schema. */
static bool on_pg;
static struct coop_test_pg pg;

static int setup(void **state)
{
    struct coop_store *s = NULL;
    assert_int_equal(coop_core_init(), COOP_ERR_OK);
    if (on_pg) {
        if (!coop_test_pg_open(&pg))
            return -1;
        assert_int_equal(coop_store_open(pg.url, 1, &s), COOP_ERR_OK);
    } else {
        assert_int_equal(coop_store_open("memory", 1, &s), COOP_ERR_OK);
    }
    assert_int_equal(coop_store_migrate(s, NULL), COOP_ERR_OK);
    fake_now = 1700000000000LL;
    coop_clock_set_override(fake_clock);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    coop_store_close(*state);
    coop_clock_set_override(NULL);
    if (on_pg)
        coop_test_pg_close(&pg);
    return 0;
}

static void append(struct coop_store *s, const char *customer, int i)
{
    char rid[32];
    snprintf(rid, sizeof rid, "req-%d", i);
    struct coop_audit_row r = {
        .customer = customer,
        .provider = "openai",
        .model = "gpt-4o-mini",
        .timestamp_ms = coop_clock_now_ms(),
        .request_id = rid,
        .status = "ok",
        .status_code = 200,
        .byok = i % 2,
        .zero_retention = "system_instruction,headers,store_false",
        .sanitizer_counts = i % 3 ? NULL : "{\"aws-access-key-id\":1}",
        .latency_ms = 10 + i,
        .input_tokens = 100,
        .output_tokens = 20,
        .attempts = 1,
    };
    assert_int_equal(coop_audit_append(s, &r), COOP_ERR_OK);
}

static void expect_intact(struct coop_store *s, const char *chain, int64_t entries)
{
    struct coop_audit_verify_result v;
    assert_int_equal(coop_audit_verify(s, chain, &v), COOP_ERR_OK);
    if (!v.intact)
        fail_msg("chain %s broken at %lld: %s", chain, (long long)v.bad_seq, v.reason);
    assert_int_equal(v.entries, entries);
}

static void expect_broken(struct coop_store *s, const char *chain, int64_t bad_seq)
{
    struct coop_audit_verify_result v;
    assert_int_equal(coop_audit_verify(s, chain, &v), COOP_ERR_OK);
    assert_false(v.intact);
    assert_int_equal(v.bad_seq, bad_seq);
    assert_true(v.reason[0] != '\0');
}

static void test_empty_chain_is_intact(void **state)
{
    expect_intact(*state, COOP_AUDIT_CHAIN_LLM, 0);
    expect_intact(*state, COOP_AUDIT_CHAIN_CONFIG, 0);
}

static void test_appends_link(void **state)
{
    struct coop_store *s = *state;
    for (int i = 1; i <= 5; i++)
        append(s, i % 2 ? "acme" : NULL, i);
    expect_intact(s, COOP_AUDIT_CHAIN_LLM, 5);
    struct coop_audit_chain_state st;
    assert_int_equal(coop_audit_chain_state(s, COOP_AUDIT_CHAIN_LLM, &st), COOP_ERR_OK);
    assert_int_equal(st.head_seq, 5);
    assert_int_equal(st.anchor_seq, 1);
    assert_int_equal(strlen(st.head_hash), 64);
}

/* The canonical form is documented in docs/security.md so that anyone can
 * recompute a hash; this pins it. */
static void test_canonical_form(void **state)
{
    struct coop_store *s = *state;
    assert_int_equal(
        coop_audit_config_change(s, "tok_1", "policy", "{\"openai\":{\"enabled\":true}}"),
        COOP_ERR_OK);
    char expected[65], text[512];
    snprintf(text, sizeof text,
             "0000000000000000000000000000000000000000000000000000000000000000\n"
             "[\"coop.audit.config.v1\",1,%lld,\"tok_1\",\"policy\","
             "\"{\\\"openai\\\":{\\\"enabled\\\":true}}\"]",
             (long long)fake_now);
    coop_sha256_hex(text, strlen(text), expected);
    struct coop_audit_chain_state st;
    assert_int_equal(coop_audit_chain_state(s, COOP_AUDIT_CHAIN_CONFIG, &st), COOP_ERR_OK);
    assert_string_equal(st.head_hash, expected);
}

static void test_changed_row_is_found(void **state)
{
    struct coop_store *s = *state;
    for (int i = 1; i <= 5; i++)
        append(s, "acme", i);
    assert_int_equal(coop_store_exec(s, "UPDATE audit_log SET model = 'gpt-4o' WHERE seq = 3",
                                     COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    expect_broken(s, COOP_AUDIT_CHAIN_LLM, 3);
}

static void test_changed_flag_is_found(void **state)
{
    struct coop_store *s = *state;
    for (int i = 1; i <= 4; i++)
        append(s, "acme", i);
    assert_int_equal(coop_store_exec(s, "UPDATE audit_log SET byok = 1 - byok WHERE seq = 2",
                                     COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    expect_broken(s, COOP_AUDIT_CHAIN_LLM, 2);
}

/* Recomputing the row's own hash is not enough: the next link breaks. */
static void test_rehashed_row_is_found(void **state)
{
    struct coop_store *s = *state;
    for (int i = 1; i <= 4; i++)
        append(s, "acme", i);
    assert_int_equal(coop_store_exec(s,
                                     "UPDATE audit_log SET hash = (SELECT hash FROM audit_log "
                                     "WHERE seq = 1) WHERE seq = 2",
                                     COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    expect_broken(s, COOP_AUDIT_CHAIN_LLM, 2);
}

static void test_removed_rows_are_found(void **state)
{
    struct coop_store *s = *state;
    for (int i = 1; i <= 5; i++)
        append(s, "acme", i);
    assert_int_equal(coop_store_exec(s, "DELETE FROM audit_log WHERE seq = 3", COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    expect_broken(s, COOP_AUDIT_CHAIN_LLM, 3);
}

static void test_removed_tail_is_found(void **state)
{
    struct coop_store *s = *state;
    for (int i = 1; i <= 5; i++)
        append(s, "acme", i);
    assert_int_equal(
        coop_store_exec(s, "DELETE FROM audit_log WHERE seq >= 4", COOP_NOPARAMS, NULL),
        COOP_ERR_OK);
    expect_broken(s, COOP_AUDIT_CHAIN_LLM, 4);
}

static void test_removed_head_is_found(void **state)
{
    struct coop_store *s = *state;
    for (int i = 1; i <= 3; i++)
        append(s, "acme", i);
    assert_int_equal(coop_store_exec(s, "DELETE FROM audit_log WHERE seq = 1", COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    expect_broken(s, COOP_AUDIT_CHAIN_LLM, 1);
}

static void test_config_change_tamper(void **state)
{
    struct coop_store *s = *state;
    assert_int_equal(coop_audit_config_change(s, "env", "byok.put", "{\"customer\":\"acme\"}"),
                     COOP_ERR_OK);
    assert_int_equal(
        coop_audit_config_change(s, "env", "policy", "{\"deepseek\":{\"enabled\":false}}"),
        COOP_ERR_OK);
    expect_intact(s, COOP_AUDIT_CHAIN_CONFIG, 2);
    assert_int_equal(coop_store_exec(s, "UPDATE config_changes SET actor = 'someone' WHERE seq = 1",
                                     COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    expect_broken(s, COOP_AUDIT_CHAIN_CONFIG, 1);
}

struct conn_change {
    const char *what;
    coop_err then; /* what the transaction returns after the append */
};

static coop_err conn_change_tx(struct coop_conn *conn, void *ctx)
{
    const struct conn_change *c = ctx;
    coop_err err = coop_audit_config_change_conn(conn, "tok_1", c->what, "{\"action\":\"put\"}");
    return err ? err : c->then;
}

/* An entry appended inside the caller's transaction goes with it: rolled
 * back, it leaves no entry and the chain intact; committed, it links up
 * with the entries appended on their own. */
static void test_config_change_in_callers_transaction(void **state)
{
    struct coop_store *s = *state;
    assert_int_equal(coop_audit_config_change(s, "env", "byok.put", "{}"), COOP_ERR_OK);
    struct conn_change failed = {"policy", COOP_ERR_STORE};
    assert_int_equal(coop_store_tx(s, true, conn_change_tx, &failed), COOP_ERR_STORE);
    expect_intact(s, COOP_AUDIT_CHAIN_CONFIG, 1);
    struct conn_change ok = {"policy", COOP_ERR_OK};
    assert_int_equal(coop_store_tx(s, true, conn_change_tx, &ok), COOP_ERR_OK);
    assert_int_equal(coop_audit_config_change(s, "env", "budgets", "{}"), COOP_ERR_OK);
    expect_intact(s, COOP_AUDIT_CHAIN_CONFIG, 3);
    struct conn_change bad = {NULL, COOP_ERR_OK};
    assert_int_equal(coop_store_tx(s, true, conn_change_tx, &bad), COOP_ERR_INVALID);
    expect_intact(s, COOP_AUDIT_CHAIN_CONFIG, 3);
}

static void test_purge_keeps_chain_verifiable(void **state)
{
    struct coop_store *s = *state;
    int64_t t0 = fake_now, deleted = -1;
    for (int i = 1; i <= 3; i++)
        append(s, "acme", i);
    assert_int_equal(coop_audit_config_change(s, "env", "policy", "{}"), COOP_ERR_OK);
    fake_now = t0 + 50 * DAY_MS;
    for (int i = 4; i <= 5; i++)
        append(s, "acme", i);

    /* Day 89: nothing is old enough yet. */
    fake_now = t0 + 89 * DAY_MS;
    assert_int_equal(coop_audit_purge(s, coop_clock_now_ms(), 90, &deleted), COOP_ERR_OK);
    assert_int_equal(deleted, 0);

    /* Day 95: the first three rows and the config change go. */
    fake_now = t0 + 95 * DAY_MS;
    assert_int_equal(coop_audit_purge(s, coop_clock_now_ms(), 90, &deleted), COOP_ERR_OK);
    assert_int_equal(deleted, 4);
    expect_intact(s, COOP_AUDIT_CHAIN_LLM, 2);
    expect_intact(s, COOP_AUDIT_CHAIN_CONFIG, 0);
    struct coop_audit_chain_state st;
    assert_int_equal(coop_audit_chain_state(s, COOP_AUDIT_CHAIN_LLM, &st), COOP_ERR_OK);
    assert_int_equal(st.anchor_seq, 4);
    assert_int_equal(st.head_seq, 5);

    /* Appending after a purge continues the chain. */
    append(s, "acme", 6);
    expect_intact(s, COOP_AUDIT_CHAIN_LLM, 3);

    /* Tampering with a kept row is still found. */
    assert_int_equal(coop_store_exec(s, "UPDATE audit_log SET status_code = 500 WHERE seq = 4",
                                     COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    expect_broken(s, COOP_AUDIT_CHAIN_LLM, 4);
    assert_int_equal(coop_store_exec(s, "UPDATE audit_log SET status_code = 200 WHERE seq = 4",
                                     COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    expect_intact(s, COOP_AUDIT_CHAIN_LLM, 3);

    /* Deleting the oldest kept row by hand is found against the anchor. */
    fake_now = t0 + 400 * DAY_MS;
    assert_int_equal(coop_audit_purge(s, coop_clock_now_ms(), 90, &deleted), COOP_ERR_OK);
    assert_int_equal(deleted, 3);
    expect_intact(s, COOP_AUDIT_CHAIN_LLM, 0);
    append(s, "acme", 7);
    append(s, "acme", 8);
    expect_intact(s, COOP_AUDIT_CHAIN_LLM, 2);
    assert_int_equal(coop_store_exec(s, "DELETE FROM audit_log WHERE seq = 7", COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    expect_broken(s, COOP_AUDIT_CHAIN_LLM, 7);
}

static void test_retention_is_configurable(void **state)
{
    struct coop_store *s = *state;
    int64_t t0 = fake_now, deleted = -1;
    append(s, "acme", 1);
    fake_now = t0 + 8 * DAY_MS;
    append(s, "acme", 2);
    assert_int_equal(coop_audit_purge(s, coop_clock_now_ms(), 7, &deleted), COOP_ERR_OK);
    assert_int_equal(deleted, 1);
    expect_intact(s, COOP_AUDIT_CHAIN_LLM, 1);
    assert_int_equal(coop_audit_purge(s, coop_clock_now_ms(), 0, &deleted), COOP_ERR_INVALID);
}

/* The periodic job purges on start, using the (injected) clock. */
static void test_purger_thread(void **state)
{
    struct coop_store *s = *state;
    int64_t t0 = fake_now;
    append(s, "acme", 1);
    fake_now = t0 + 91 * DAY_MS;
    append(s, "acme", 2);
    struct coop_audit_purger *p = NULL;
    assert_int_equal(coop_audit_purger_start(s, 90, 3600, &p), COOP_ERR_OK);
    for (int i = 0; i < 200; i++) {
        struct coop_audit_chain_state st;
        assert_int_equal(coop_audit_chain_state(s, COOP_AUDIT_CHAIN_LLM, &st), COOP_ERR_OK);
        if (st.anchor_seq == 2)
            break;
        usleep(10000);
    }
    coop_audit_purger_stop(p);
    expect_intact(s, COOP_AUDIT_CHAIN_LLM, 1);
}

static void test_list_and_totals(void **state)
{
    struct coop_store *s = *state;
    for (int i = 1; i <= 5; i++)
        append(s, "acme", i);
    json_object *rows = NULL;
    int64_t next = -1;
    assert_int_equal(coop_audit_list(s, 0, 0, 0, 2, &rows, &next), COOP_ERR_OK);
    assert_int_equal(json_object_array_length(rows), 2);
    assert_int_equal(next, 4);
    json_object *first = json_object_array_get_idx(rows, 0);
    assert_string_equal(coop_json_str(first, "request_id"), "req-5");
    json_object_put(rows);
    assert_int_equal(coop_audit_list(s, 0, 0, next, 10, &rows, &next), COOP_ERR_OK);
    assert_int_equal(json_object_array_length(rows), 3);
    assert_int_equal(next, 0);
    json_object_put(rows);

    struct coop_audit_totals t;
    assert_int_equal(coop_audit_totals(s, 0, 0, &t), COOP_ERR_OK);
    assert_int_equal(t.requests, 5);
    assert_int_equal(t.sent, 5);
    assert_int_equal(t.sent_zero_retention, 5);
    assert_int_equal(t.byok, 3);
}

static void test_refuses_oversized_fields(void **state)
{
    char big[400];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct coop_audit_row r = {.provider = "openai", .model = "m", .customer = big};
    assert_int_equal(coop_audit_append(*state, &r), COOP_ERR_INVALID);
    expect_intact(*state, COOP_AUDIT_CHAIN_LLM, 0);
}

/* Concurrent appends from several connections (a file database, or the
 * PostgreSQL schema, where they run as serializable transactions that may
 * be retried) never fork the chain. */
struct worker {
    struct coop_store *s;
    int base;
};

static void *appender(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 25; i++) {
        struct coop_audit_row r = {.provider = "anthropic",
                                   .model = "m",
                                   .request_id = "r",
                                   .status = "ok",
                                   .status_code = 200,
                                   .attempts = w->base + i};
        if (coop_audit_append(w->s, &r) != COOP_ERR_OK)
            return (void *)1;
    }
    return NULL;
}

static void test_concurrent_appends(void **state)
{
    char dir[] = "/tmp/coop-audit-XXXXXX", url[sizeof pg.url];
    assert_non_null(mkdtemp(dir));
    if (on_pg)
        coop_strlcpy(url, pg.url, sizeof url);
    else
        snprintf(url, sizeof url, "sqlite:%s/a.db", dir);
    struct coop_store *s = NULL;
    assert_int_equal(coop_store_open(url, 4, &s), COOP_ERR_OK);
    assert_int_equal(coop_store_migrate(s, NULL), COOP_ERR_OK);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){s, i * 100};
        pthread_create(&th[i], NULL, appender, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        assert_null(rv);
    }
    expect_intact(s, COOP_AUDIT_CHAIN_LLM, 100);
    coop_store_close(s);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

#define CASE(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    coop_log_set_level(COOP_LOG_ERROR);
    if (coop_core_init())
        return 1;
    const struct CMUnitTest tests[] = {
        CASE(test_empty_chain_is_intact),
        CASE(test_appends_link),
        CASE(test_canonical_form),
        CASE(test_changed_row_is_found),
        CASE(test_changed_flag_is_found),
        CASE(test_rehashed_row_is_found),
        CASE(test_removed_rows_are_found),
        CASE(test_removed_tail_is_found),
        CASE(test_removed_head_is_found),
        CASE(test_config_change_tamper),
        CASE(test_config_change_in_callers_transaction),
        CASE(test_purge_keeps_chain_verifiable),
        CASE(test_retention_is_configurable),
        CASE(test_purger_thread),
        CASE(test_list_and_totals),
        CASE(test_refuses_oversized_fields),
        CASE(test_concurrent_appends),
    };
    int failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);

    char base[1024];
    coop_test_pg_base(base, sizeof base);
    if (!base[0]) {
        if (coop_test_pg_required()) {
            fprintf(stderr, "COOP_TEST_PG: no PostgreSQL server on CI\n");
            return 1;
        }
        fprintf(stderr, "COOP_TEST_PG: no PostgreSQL server, its half is skipped\n");
        return failed;
    }
    on_pg = true;
    failed += cmocka_run_group_tests_name("postgres", tests, NULL, NULL);
    return failed;
}
