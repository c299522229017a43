/*
 * GitHub App JWTs: RS256 over the app's key, verified here with the public
 * half (OpenSSL), with GitHub's claims (iat a minute back, exp within ten
 * minutes, iss the app id); keys that cannot work are refused with a
 * message naming the setting and never the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "hosts/hosts_int.h"

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/coop-ghapp-XXXXXX";
static char key_path[256], ec_path[256], junk_path[256], small_path[256];
static EVP_PKEY *rsa;

static void write_key(const char *path, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

static int setup(void **state)
{
    if (coop_core_init() || !mkdtemp(dir))
        return -1;
    snprintf(key_path, sizeof key_path, "%s/app.pem", dir);
    snprintf(ec_path, sizeof ec_path, "%s/ec.pem", dir);
    snprintf(junk_path, sizeof junk_path, "%s/junk.pem", dir);
    snprintf(small_path, sizeof small_path, "%s/small.pem", dir);
    rsa = EVP_RSA_gen(2048);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    EVP_PKEY *small = EVP_RSA_gen(1024);
    if (!rsa || !ec || !small)
        return -1;
    write_key(key_path, rsa);
    write_key(ec_path, ec);
    write_key(small_path, small);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(small);
    FILE *f = fopen(junk_path, "w");
    fputs(
        "-----BEGIN RSA PRIVATE KEY-----\nSECRETKEYMATERIALSECRET\n-----END RSA PRIVATE KEY-----\n",
        f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    EVP_PKEY_free(rsa);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static size_t b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    size_t n = 0;
    assert_int_equal(sodium_base642bin(out, cap, in, len, NULL, &n, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    return n;
}

static struct json_object *part_json(const char *in, size_t len)
{
    unsigned char buf[512];
    size_t n = b64url_decode(in, len, buf, sizeof buf - 1);
    buf[n] = '\0';
    struct json_object *o = NULL;
    assert_int_equal(coop_json_parse((const char *)buf, n, 4, true, &o), COOP_ERR_OK);
    return o;
}

static void test_jwt_is_rs256_with_github_claims(void **state)
{
    struct coop_github_app *app = NULL;
    char why[256] = "";
    assert_int_equal(coop_github_app_new("12345", key_path, 0, &app, why, sizeof why), COOP_ERR_OK);
    struct coop_buf jwt;
    coop_buf_init(&jwt, 4096);
    int64_t now = 1700000000;
    assert_int_equal(coop_github_app_jwt(app, now, &jwt), COOP_ERR_OK);
    const char *d1 = strchr(jwt.data, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    assert_non_null(d2);

    struct json_object *h = part_json(jwt.data, (size_t)(d1 - jwt.data));
    assert_string_equal(coop_json_str(h, "alg"), "RS256");
    assert_string_equal(coop_json_str(h, "typ"), "JWT");
    json_object_put(h);
    struct json_object *c = part_json(d1 + 1, (size_t)(d2 - d1 - 1));
    struct json_object *v;
    assert_true(json_object_object_get_ex(c, "iat", &v));
    int64_t iat = json_object_get_int64(v);
    assert_true(json_object_object_get_ex(c, "exp", &v));
    int64_t exp = json_object_get_int64(v);
    assert_int_equal(iat, now - 60);
    assert_true(exp > now && exp - iat <= 600);
    assert_string_equal(coop_json_str(c, "iss"), "12345");
    json_object_put(c);

    unsigned char sig[512];
    size_t sig_len = b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, rsa), 1);
    assert_int_equal(EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)jwt.data,
                                      (size_t)(d2 - jwt.data)),
                     1);
    /* One changed byte of the claims no longer verifies. */
    jwt.data[(d1 - jwt.data) + 3] ^= 1;
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, rsa), 1);
    assert_int_not_equal(EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)jwt.data,
                                          (size_t)(d2 - jwt.data)),
                         1);
    EVP_MD_CTX_free(md);
    coop_buf_dispose(&jwt);
    coop_github_app_free(app);
}

static void refused(const char *id, const char *path, int64_t installation, const char *setting)
{
    struct coop_github_app *app = NULL;
    char why[256] = "";
    assert_int_equal(coop_github_app_new(id, path, installation, &app, why, sizeof why),
                     COOP_ERR_CONFIG);
    assert_null(app);
    assert_non_null(strstr(why, setting));
    assert_null(strstr(why, "SECRETKEY"));
    assert_null(strstr(why, "BEGIN"));
}

static void test_unusable_settings_refused(void **state)
{
    refused("12345", "/nonexistent/app.pem", 0, "COOP_GITHUB_APP_PRIVATE_KEY_FILE");
    refused("12345", junk_path, 0, "COOP_GITHUB_APP_PRIVATE_KEY_FILE");
    refused("12345", ec_path, 0, "COOP_GITHUB_APP_PRIVATE_KEY_FILE");
    refused("12345", small_path, 0, "COOP_GITHUB_APP_PRIVATE_KEY_FILE");
    refused("12345", NULL, 0, "COOP_GITHUB_APP_PRIVATE_KEY_FILE");
    refused("app-one", key_path, 0, "COOP_GITHUB_APP_ID");
    refused("", key_path, 0, "COOP_GITHUB_APP_ID");
    refused("12345", key_path, -4, "COOP_GITHUB_APP_INSTALLATION_ID");
}

int main(void)
{
    coop_log_set_level(COOP_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwt_is_rs256_with_github_claims),
        cmocka_unit_test(test_unusable_settings_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
