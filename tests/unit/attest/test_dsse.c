/*
 * DSSE and the attestation: the pre-authentication encoding matches the
 * specification's example, Ed25519 keys derive as RFC 8032 says, a
 * signature verifies and any changed byte (payload, type, signature) makes
 * it fail, and the statement's subjects are the audit chains' heads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "coop/attest.h"
#include "coop/audit.h"

#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 8032 section 7.1, test 1. */
#define RFC8032_SEED "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
#define RFC8032_PK "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"

static struct coop_attest_signer *signer(void)
{
    struct coop_config cfg;
    memset(&cfg, 0, sizeof cfg);
    coop_config_override(&cfg, "COOP_SIGNING_KEY", RFC8032_SEED);
    struct coop_attest_signer *s = NULL;
    char err[160];
    assert_int_equal(coop_attest_signer_open(&cfg, &s, err, sizeof err), COOP_ERR_OK);
    return s;
}

static void test_pae_matches_spec_example(void **state)
{
    struct coop_buf b;
    coop_buf_init(&b, 1024);
    assert_int_equal(coop_dsse_pae("http://example.com/HelloWorld", "hello world", 11, &b),
                     COOP_ERR_OK);
    assert_string_equal(b.data, "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
    coop_buf_reset(&b);
    /* Lengths are bytes, and the payload may hold anything. */
    assert_int_equal(coop_dsse_pae("t", "a\0b", 3, &b), COOP_ERR_OK);
    assert_int_equal(b.len, strlen("DSSEv1 1 t 3 ") + 3);
    assert_memory_equal(b.data, "DSSEv1 1 t 3 a\0b", b.len);
    coop_buf_dispose(&b);
}

static void test_key_derivation_rfc8032(void **state)
{
    struct coop_attest_signer *s = signer();
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, coop_attest_public_key(s), 32);
    assert_string_equal(hex, RFC8032_PK);
    assert_non_null(strstr(coop_attest_key_id(s), "coop-ed25519:"));
    coop_attest_signer_free(s);
}

static char *sign_text(struct coop_attest_signer *s, const char *payload)
{
    json_object *env = NULL;
    assert_int_equal(coop_dsse_sign(s, COOP_DSSE_PAYLOAD_TYPE, payload, strlen(payload), &env),
                     COOP_ERR_OK);
    char *text = strdup(json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN));
    json_object_put(env);
    return text;
}

/* Re-encodes an envelope with one field replaced. */
static char *with_field(const char *env_text, const char *field, const char *value)
{
    json_object *env = json_tokener_parse(env_text);
    if (strcmp(field, "sig") == 0) {
        json_object *sig = json_object_array_get_idx(json_object_object_get(env, "signatures"), 0);
        json_object_object_add(sig, "sig", json_object_new_string(value));
    } else {
        json_object_object_add(env, field, json_object_new_string(value));
    }
    char *out = strdup(json_object_to_json_string(env));
    json_object_put(env);
    return out;
}

static void test_sign_verify_and_changed_bytes(void **state)
{
    struct coop_attest_signer *s = signer();
    const unsigned char *pk = coop_attest_public_key(s);
    const char *payload = "{\"_type\":\"https://in-toto.io/Statement/v1\",\"n\":1}";
    char *env = sign_text(s, payload);
    json_object *st = NULL;
    assert_int_equal(coop_dsse_verify(env, strlen(env), pk, &st), COOP_ERR_OK);
    assert_int_equal(json_object_get_int(json_object_object_get(st, "n")), 1);
    json_object_put(st);

    /* One changed payload byte. */
    char b64[256];
    const char *changed = "{\"_type\":\"https://in-toto.io/Statement/v1\",\"n\":2}";
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)changed, strlen(changed),
                      sodium_base64_VARIANT_ORIGINAL);
    char *bad = with_field(env, "payload", b64);
    assert_int_equal(coop_dsse_verify(bad, strlen(bad), pk, NULL), COOP_ERR_CRYPTO);
    free(bad);

    /* The type is signed too. */
    bad = with_field(env, "payloadType", "application/json");
    assert_int_equal(coop_dsse_verify(bad, strlen(bad), pk, NULL), COOP_ERR_CRYPTO);
    free(bad);

    /* One changed signature byte. */
    json_object *e = json_tokener_parse(env);
    const char *sig64 = json_object_get_string(json_object_object_get(
        json_object_array_get_idx(json_object_object_get(e, "signatures"), 0), "sig"));
    unsigned char sig[64];
    size_t n = 0;
    assert_int_equal(sodium_base642bin(sig, sizeof sig, sig64, strlen(sig64), NULL, &n, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    sig[10] ^= 1;
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    json_object_put(e);
    bad = with_field(env, "sig", b64);
    assert_int_equal(coop_dsse_verify(bad, strlen(bad), pk, NULL), COOP_ERR_CRYPTO);
    free(bad);

    /* Another key. */
    unsigned char other[32];
    memcpy(other, pk, 32);
    other[0] ^= 0x80;
    assert_int_not_equal(coop_dsse_verify(env, strlen(env), other, NULL), COOP_ERR_OK);

    /* Not an envelope. */
    assert_int_equal(coop_dsse_verify("{}", 2, pk, NULL), COOP_ERR_INVALID);
    assert_int_equal(coop_dsse_verify("nope", 4, pk, NULL), COOP_ERR_INVALID);
    const char *bad_b64 = "{\"payload\":\"!!\",\"payloadType\":\"t\",\"signatures\":[{}]}";
    assert_int_equal(coop_dsse_verify(bad_b64, strlen(bad_b64), pk, NULL), COOP_ERR_INVALID);
    free(env);
    coop_attest_signer_free(s);
}

static void test_public_key_formats(void **state)
{
    struct coop_attest_signer *s = signer();
    const unsigned char *pk = coop_attest_public_key(s);
    unsigned char out[32];
    struct coop_buf pem;
    coop_buf_init(&pem, 1024);
    assert_int_equal(coop_attest_public_pem(pk, &pem), COOP_ERR_OK);
    /* The well-known SPKI form of the RFC 8032 key. */
    assert_non_null(
        strstr(pem.data, "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="));
    assert_int_equal(coop_attest_parse_public_key(pem.data, pem.len, out), COOP_ERR_OK);
    assert_memory_equal(out, pk, 32);
    const char *raw = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    memset(out, 0, sizeof out);
    assert_int_equal(coop_attest_parse_public_key(raw, strlen(raw), out), COOP_ERR_OK);
    assert_memory_equal(out, pk, 32);
    char json[200];
    snprintf(json, sizeof json, "{\"public_key\":\"%s\",\"key_id\":\"x\"}", raw);
    memset(out, 0, sizeof out);
    assert_int_equal(coop_attest_parse_public_key(json, strlen(json), out), COOP_ERR_OK);
    assert_memory_equal(out, pk, 32);
    assert_int_equal(coop_attest_parse_public_key("c2hvcnQ=", 8, out), COOP_ERR_INVALID);
    coop_buf_dispose(&pem);
    coop_attest_signer_free(s);
}

static int64_t fixed_now(void)
{
    return 1800000000000LL;
}

static void test_statement_over_audit_log(void **state)
{
    struct coop_store *store = NULL;
    assert_int_equal(coop_store_open("memory", 1, &store), COOP_ERR_OK);
    assert_int_equal(coop_store_migrate(store, NULL), COOP_ERR_OK);
    coop_clock_set_override(fixed_now);
    const char *statuses[] = {"ok", "ok", "ok", "blocked"};
    for (int i = 0; i < 4; i++) {
        struct coop_audit_row r = {.provider = "openai",
                                   .model = "gpt-4o-mini",
                                   .request_id = "r",
                                   .status = statuses[i],
                                   .status_code = i == 3 ? 403 : 200,
                                   .byok = i == 0,
                                   .zero_retention = i == 2 ? NULL : "headers,store_false"};
        assert_int_equal(coop_audit_append(store, &r), COOP_ERR_OK);
    }
    assert_int_equal(coop_audit_config_change(store, "env", "policy", "{}"), COOP_ERR_OK);

    struct coop_attest_signer *s = signer();
    json_object *env = NULL, *st = NULL;
    assert_int_equal(coop_attest_envelope(s, store, fixed_now(), 30, 90, &env), COOP_ERR_OK);
    const char *text = json_object_to_json_string(env);
    assert_int_equal(coop_dsse_verify(text, strlen(text), coop_attest_public_key(s), &st),
                     COOP_ERR_OK);
    assert_string_equal(coop_json_str(st, "_type"), "https://in-toto.io/Statement/v1");
    assert_string_equal(coop_json_str(env, "payloadType"), "application/vnd.in-toto+json");

    struct coop_audit_chain_state head;
    assert_int_equal(coop_audit_chain_state(store, COOP_AUDIT_CHAIN_LLM, &head), COOP_ERR_OK);
    json_object *subj = json_object_array_get_idx(coop_json_arr(st, "subject"), 0);
    assert_string_equal(coop_json_str(coop_json_obj(subj, "digest"), "sha256"), head.head_hash);

    json_object *pred = coop_json_obj(st, "predicate");
    json_object *req = coop_json_obj(pred, "llm_requests");
    int64_t v = 0;
    assert_true(coop_json_int(req, "total", &v) && v == 4);
    assert_true(coop_json_int(req, "sent_to_providers", &v) && v == 3);
    assert_true(coop_json_int(req, "byok", &v) && v == 1);
    double pct = json_object_get_double(json_object_object_get(req, "zero_retention_percent"));
    assert_true(pct > 66.6 && pct < 66.7);
    json_object *changes = coop_json_arr(coop_json_obj(pred, "config_changes"), "entries");
    assert_int_equal(json_object_array_length(changes), 1);
    json_object *rules = coop_json_arr(coop_json_obj(pred, "sanitization"), "rules");
    assert_non_null(rules);
    assert_true(json_object_array_length(rules) > 0);
    assert_non_null(coop_json_str(json_object_array_get_idx(rules, 0), "id"));
    bool intact = false;
    assert_true(
        coop_json_bool(coop_json_obj(coop_json_obj(coop_json_obj(pred, "audit"), "chains"), "llm"),
                       "intact", &intact) &&
        intact);

    json_object_put(st);
    json_object_put(env);
    coop_attest_signer_free(s);
    coop_clock_set_override(NULL);
    coop_store_close(store);
}

int main(void)
{
    assert_int_equal(coop_core_init(), COOP_ERR_OK);
    coop_log_set_level(COOP_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pae_matches_spec_example),
        cmocka_unit_test(test_key_derivation_rfc8032),
        cmocka_unit_test(test_sign_verify_and_changed_bytes),
        cmocka_unit_test(test_public_key_formats),
        cmocka_unit_test(test_statement_over_audit_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
