/* Tokens: shown once, stored only as a hash, scoped, bound to a customer,
 * revocable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coop/http.h"
#include "coop/store.h"

#include <json-c/json.h>
#include <string.h>

static struct coop_store *store;

static int setup(void **state)
{
    if (coop_store_open("memory", 1, &store) != COOP_ERR_OK)
        return -1;
    return coop_store_migrate(store, NULL) == COOP_ERR_OK ? 0 : -1;
}

static int teardown(void **state)
{
    coop_store_close(store);
    return 0;
}

static coop_err count_plain(void *ctx, const struct coop_row *row)
{
    const char *token = ctx;
    for (int i = 0; i < coop_row_columns(row); i++) {
        const char *v = coop_row_text(row, i, NULL);
        if (v && strstr(v, token + 5))
            fail_msg("token stored in the clear");
    }
    return COOP_ERR_OK;
}

static void test_create_lookup_revoke(void **state)
{
    char token[80], id[40];
    assert_int_equal(coop_auth_token_create(store, COOP_SCOPE_READ | COOP_SCOPE_LLM, "acme", token, id),
                     COOP_ERR_OK);
    assert_true(strncmp(token, "coop_", 5) == 0);
    assert_int_equal(strlen(token), 69);

    struct coop_principal p;
    assert_int_equal(coop_auth_token_lookup(store, token, &p), COOP_ERR_OK);
    assert_int_equal(p.scopes, COOP_SCOPE_READ | COOP_SCOPE_LLM);
    assert_string_equal(p.customer, "acme");
    assert_string_equal(p.token_id, id);

    /* Only the hash is stored. */
    assert_int_equal(coop_store_query(store, "SELECT * FROM api_tokens", COOP_NOPARAMS, count_plain, token),
                     COOP_ERR_OK);

    token[10] ^= 1;
    assert_int_equal(coop_auth_token_lookup(store, token, &p), COOP_ERR_AUTH);
    assert_int_equal(p.scopes, 0);
    token[10] ^= 1;

    assert_int_equal(coop_auth_token_revoke(store, id), COOP_ERR_OK);
    assert_int_equal(coop_auth_token_lookup(store, token, &p), COOP_ERR_AUTH);
    assert_int_equal(coop_auth_token_revoke(store, id), COOP_ERR_NOT_FOUND);
}

static void test_refuses_bad_input(void **state)
{
    char token[80], id[40];
    struct coop_principal p;
    assert_int_equal(coop_auth_token_create(store, 0, NULL, token, id), COOP_ERR_INVALID);
    assert_int_equal(coop_auth_token_create(store, 1u << 7, NULL, token, id), COOP_ERR_INVALID);
    assert_int_equal(coop_auth_token_create(store, COOP_SCOPE_READ, "", token, id), COOP_ERR_INVALID);
    assert_int_equal(coop_auth_token_lookup(store, "short", &p), COOP_ERR_AUTH);
    assert_int_equal(coop_auth_token_lookup(store, "", &p), COOP_ERR_AUTH);
}

static void test_list_never_shows_hash(void **state)
{
    char token[80], id[40];
    assert_int_equal(coop_auth_token_create(store, COOP_SCOPE_ADMIN, NULL, token, id), COOP_ERR_OK);
    json_object *rows;
    assert_int_equal(coop_auth_token_list(store, &rows), COOP_ERR_OK);
    const char *text = json_object_to_json_string(rows);
    char hash[65];
    coop_sha256_hex(token, strlen(token), hash);
    assert_null(strstr(text, hash));
    assert_null(strstr(text, token));
    assert_non_null(strstr(text, id));
    assert_non_null(strstr(text, "\"admin\""));
    json_object_put(rows);
}

static void test_scope_names(void **state)
{
    char out[32];
    assert_int_equal(coop_scope_parse("read"), COOP_SCOPE_READ);
    assert_int_equal(coop_scope_parse("root"), 0);
    coop_scope_format(COOP_SCOPE_ALL, out, sizeof out);
    assert_string_equal(out, "read,llm,admin");
    coop_scope_format(COOP_SCOPE_LLM | COOP_SCOPE_ADMIN, out, sizeof out);
    assert_string_equal(out, "llm,admin");
}

int main(void)
{
    coop_core_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_lookup_revoke),
        cmocka_unit_test(test_refuses_bad_input),
        cmocka_unit_test(test_list_never_shows_hash),
        cmocka_unit_test(test_scope_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
