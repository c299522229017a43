/*
 * The vault, the audit chains and the attestation on PostgreSQL
 * (COOP_TEST_PG: the fixture's server or COOP_TEST_PG_URL; skipped without
 * one, except on CI): the same schema and SQL as on SQLite, BYTEA
 * ciphertext, upserts, chained appends from concurrent writers under
 * SERIALIZABLE, tamper detection, purge with an injected clock, and no
 * canary key anywhere in the database's tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coop/attest.h"
#include "coop/audit.h"
#include "coop/vault.h"
#include "pg_test.h"

#include <json-c/json.h>
#include <pthread.h>

#define CANARY "sk-PGCANARY-byok-41c2d3e4f5a6b7c8"
#define MASTER "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define OTHER_MASTER "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
#define DAY_MS 86400000LL

static struct coop_test_pg pg;
static struct coop_store *store;
static int64_t fake_now;

static int64_t fake_clock(void)
{
    return fake_now;
}

static int setup_group(void **state)
{
    if (!coop_test_pg_open(&pg))
        return -1;
    if (coop_store_open(pg.url, 6, &store) || coop_store_migrate(store, NULL))
        return -1;
    return 0;
}

static int teardown_group(void **state)
{
    coop_store_close(store);
    coop_test_pg_close(&pg);
    return 0;
}

#define ZERO "'0000000000000000000000000000000000000000000000000000000000000000'"

static int clean(void **state)
{
    const char *sql[] = {
        "DELETE FROM audit_log",
        "DELETE FROM config_changes",
        "DELETE FROM byok_keys",
        "UPDATE audit_chains SET head_seq = 0, head_hash = " ZERO
        ", anchor_seq = 1, anchor_hash = " ZERO,
    };
    for (size_t i = 0; i < sizeof sql / sizeof *sql; i++)
        if (coop_store_exec(store, sql[i], COOP_NOPARAMS, NULL))
            return -1;
    fake_now = 1700000000000LL;
    coop_clock_set_override(fake_clock);
    return 0;
}

static struct coop_vault *vault_with(const char *current, const char *previous)
{
    struct coop_config cfg;
    memset(&cfg, 0, sizeof cfg);
    coop_config_override(&cfg, "COOP_MASTER_KEY", current);
    if (previous)
        coop_config_override(&cfg, "COOP_MASTER_KEY_PREVIOUS", previous);
    struct coop_vault *v = NULL;
    char err[160];
    assert_int_equal(coop_vault_open(&cfg, store, &v, err, sizeof err), COOP_ERR_OK);
    return v;
}

static void append(int i)
{
    struct coop_audit_row r = {.customer = "acme",
                               .provider = "openai",
                               .model = "gpt-4o",
                               .timestamp_ms = coop_clock_now_ms(),
                               .request_id = "r",
                               .status = "ok",
                               .status_code = 200,
                               .byok = i & 1,
                               .zero_retention = "headers,store_false",
                               .attempts = 1};
    assert_int_equal(coop_audit_append(store, &r), COOP_ERR_OK);
}

static void expect(const char *chain, bool intact, int64_t entries_or_bad)
{
    struct coop_audit_verify_result v;
    assert_int_equal(coop_audit_verify(store, chain, &v), COOP_ERR_OK);
    if (v.intact != intact)
        fail_msg("chain %s: intact=%d (%s at %lld)", chain, v.intact, v.reason,
                 (long long)v.bad_seq);
    assert_int_equal(intact ? v.entries : v.bad_seq, entries_or_bad);
}

static coop_err collect_text(void *ctx, const struct coop_row *row)
{
    size_t n = 0;
    const char *s = coop_row_text(row, 0, &n);
    if (s)
        coop_buf_append(ctx, s, n);
    return COOP_ERR_OK;
}

static void test_vault_round_trip_and_no_canary_in_tables(void **state)
{
    struct coop_vault *v = vault_with(MASTER, NULL);
    char prefix[17];
    bool replaced = true;
    assert_int_equal(coop_vault_put(v, "acme", "openai", CANARY, strlen(CANARY), prefix, &replaced),
                     COOP_ERR_OK);
    assert_false(replaced);
    assert_int_equal(coop_vault_put(v, "acme", "openai", CANARY, strlen(CANARY), prefix, &replaced),
                     COOP_ERR_OK);
    assert_true(replaced);
    struct coop_vault_secret *s = NULL;
    assert_int_equal(coop_vault_open_key(v, "acme", "openai", &s), COOP_ERR_OK);
    assert_string_equal(s->data, CANARY);
    coop_vault_secret_free(s);
    assert_int_equal(coop_audit_config_change(store, "env", "byok.put", "{\"customer\":\"acme\"}"),
                     COOP_ERR_OK);

    /* Every table of the schema as text (BYTEA in its escape form). */
    struct coop_buf all;
    coop_buf_init(&all, 1u << 24);
    const char *tables[] = {"byok_keys", "audit_log", "config_changes", "audit_chains",
                            "api_tokens"};
    for (size_t i = 0; i < 5; i++) {
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT row_to_json(t)::text FROM %s t", tables[i]);
        assert_int_equal(coop_store_query(store, sql, COOP_NOPARAMS, collect_text, &all),
                         COOP_ERR_OK);
    }
    assert_int_equal(coop_store_query(store,
                                      "SELECT encode(sealed, 'escape') || encode(nonce, 'escape') "
                                      "FROM byok_keys",
                                      COOP_NOPARAMS, collect_text, &all),
                     COOP_ERR_OK);
    assert_non_null(strstr(all.data, prefix)); /* the scan sees the rows */
    assert_null(strstr(all.data, CANARY));
    assert_null(strstr(all.data, "41c2d3e4f5a6b7c8"));
    assert_null(strstr(all.data, MASTER));
    coop_buf_dispose(&all);

    /* Wrong master key refused; rotation with both keys; then the new alone. */
    coop_vault_free(v);
    v = vault_with(OTHER_MASTER, NULL);
    assert_int_equal(coop_vault_open_key(v, "acme", "openai", &s), COOP_ERR_CRYPTO);
    coop_vault_free(v);
    v = vault_with(OTHER_MASTER, MASTER);
    int64_t done = 0, failed = 0;
    assert_int_equal(coop_vault_rewrap(v, &done, &failed), COOP_ERR_OK);
    assert_int_equal(done, 1);
    assert_int_equal(failed, 0);
    coop_vault_free(v);
    v = vault_with(OTHER_MASTER, NULL);
    assert_int_equal(coop_vault_open_key(v, "acme", "openai", &s), COOP_ERR_OK);
    coop_vault_secret_free(s);
    json_object *rows = NULL;
    assert_int_equal(coop_vault_list(v, &rows), COOP_ERR_OK);
    assert_int_equal(json_object_array_length(rows), 1);
    assert_null(strstr(json_object_to_json_string(rows), CANARY));
    json_object_put(rows);
    assert_int_equal(coop_vault_delete(v, "acme", "openai"), COOP_ERR_OK);
    assert_int_equal(coop_vault_delete(v, "acme", "openai"), COOP_ERR_NOT_FOUND);
    coop_vault_free(v);
}

static void test_chain_tamper_and_purge(void **state)
{
    for (int i = 1; i <= 3; i++)
        append(i);
    fake_now += 50 * DAY_MS;
    for (int i = 4; i <= 5; i++)
        append(i);
    expect(COOP_AUDIT_CHAIN_LLM, true, 5);

    fake_now += 45 * DAY_MS;
    int64_t deleted = 0;
    assert_int_equal(coop_audit_purge(store, coop_clock_now_ms(), 90, &deleted), COOP_ERR_OK);
    assert_int_equal(deleted, 3);
    expect(COOP_AUDIT_CHAIN_LLM, true, 2);
    append(6);
    expect(COOP_AUDIT_CHAIN_LLM, true, 3);

    assert_int_equal(coop_store_exec(store, "UPDATE audit_log SET model = 'other' WHERE seq = 5",
                                     COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    expect(COOP_AUDIT_CHAIN_LLM, false, 5);
    assert_int_equal(coop_store_exec(store, "UPDATE audit_log SET model = 'gpt-4o' WHERE seq = 5",
                                     COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    assert_int_equal(
        coop_store_exec(store, "DELETE FROM audit_log WHERE seq = 6", COOP_NOPARAMS, NULL),
        COOP_ERR_OK);
    expect(COOP_AUDIT_CHAIN_LLM, false, 6);

    struct coop_audit_totals t;
    assert_int_equal(coop_audit_totals(store, 0, 0, &t), COOP_ERR_OK);
    assert_int_equal(t.requests, 2);
    assert_int_equal(t.sent_zero_retention, 2);
}

static void *appender(void *arg)
{
    for (int i = 0; i < 20; i++) {
        struct coop_audit_row r = {.provider = "anthropic",
                                   .model = "m",
                                   .request_id = "r",
                                   .status = "ok",
                                   .status_code = 200,
                                   .attempts = (int)(intptr_t)arg};
        if (coop_audit_append(store, &r) != COOP_ERR_OK)
            return (void *)1;
    }
    return NULL;
}

/* SERIALIZABLE writers conflict on the chain head; the store retries and
 * the chain stays one line. */
static void test_concurrent_appends(void **state)
{
    coop_clock_set_override(NULL);
    pthread_t th[4];
    for (intptr_t i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, appender, (void *)i);
    for (int i = 0; i < 4; i++) {
        void *rv = NULL;
        pthread_join(th[i], &rv);
        assert_null(rv);
    }
    expect(COOP_AUDIT_CHAIN_LLM, true, 80);
}

static void test_attestation_on_postgres(void **state)
{
    append(1);
    assert_int_equal(coop_audit_config_change(store, "env", "policy", "{}"), COOP_ERR_OK);
    struct coop_config cfg;
    memset(&cfg, 0, sizeof cfg);
    coop_config_override(&cfg, "COOP_SIGNING_KEY", "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=");
    struct coop_attest_signer *s = NULL;
    char err[160];
    assert_int_equal(coop_attest_signer_open(&cfg, &s, err, sizeof err), COOP_ERR_OK);
    json_object *env = NULL, *st = NULL;
    assert_int_equal(coop_attest_envelope(s, store, coop_clock_now_ms(), 30, 90, &env),
                     COOP_ERR_OK);
    const char *text = json_object_to_json_string(env);
    assert_int_equal(coop_dsse_verify(text, strlen(text), coop_attest_public_key(s), &st),
                     COOP_ERR_OK);
    int64_t total = 0;
    assert_true(coop_json_int(coop_json_obj(coop_json_obj(st, "predicate"), "llm_requests"),
                              "total", &total));
    assert_int_equal(total, 1);
    json_object_put(st);
    json_object_put(env);
    coop_attest_signer_free(s);
}

int main(void)
{
    if (coop_core_init())
        return 1;
    coop_log_set_level(COOP_LOG_ERROR);
    char base[1024];
    coop_test_pg_base(base, sizeof base);
    if (!base[0]) {
        if (coop_test_pg_required()) {
            fprintf(stderr, "COOP_TEST_PG: no PostgreSQL server on CI\n");
            return 1;
        }
        fprintf(stderr, "COOP_TEST_PG: no PostgreSQL server, skipped\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_vault_round_trip_and_no_canary_in_tables, clean),
        cmocka_unit_test_setup(test_chain_tamper_and_purge, clean),
        cmocka_unit_test_setup(test_concurrent_appends, clean),
        cmocka_unit_test_setup(test_attestation_on_postgres, clean),
    };
    return cmocka_run_group_tests_name("vault-audit-postgres", tests, setup_group, teardown_group);
}
