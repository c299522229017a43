/*
 * The BYOK vault: keys round-trip through XChaCha20-Poly1305, the database
 * file holds only ciphertext, a wrong master key is refused and said so
 * without either key being printed, a sealed key cannot be moved to
 * another customer, and rotation reseals under the new master key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "coop/vault.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CANARY "sk-canary-BYOK-7f3a9c2e41d85b60aa17"
#define KEY_A                                                                                      \
    "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" /* "0123456789abcdef0123456789abcdef" */
#define KEY_B "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="

struct fx {
    char dir[64];
    char url[128];
    char log_path[128];
    int log_fd;
    struct coop_store *store;
    struct coop_config cfg;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_int_equal(coop_core_init(), COOP_ERR_OK);
    coop_strlcpy(f->dir, "/tmp/coop-vault-XXXXXX", sizeof f->dir);
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->url, sizeof f->url, "sqlite:%s/coop.db", f->dir);
    snprintf(f->log_path, sizeof f->log_path, "%s/log", f->dir);
    f->log_fd = open(f->log_path, O_CREAT | O_WRONLY | O_APPEND, 0600);
    coop_log_set_fd(f->log_fd);
    assert_int_equal(coop_store_open(f->url, 2, &f->store), COOP_ERR_OK);
    assert_int_equal(coop_store_migrate(f->store, NULL), COOP_ERR_OK);
    coop_strlcpy(f->cfg.data_dir, f->dir, sizeof f->cfg.data_dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    coop_store_close(f->store);
    coop_log_set_fd(2);
    close(f->log_fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static struct coop_vault *open_with(struct fx *f, const char *current, const char *previous)
{
    struct coop_config cfg = f->cfg;
    if (current)
        coop_config_override(&cfg, "COOP_MASTER_KEY", current);
    if (previous)
        coop_config_override(&cfg, "COOP_MASTER_KEY_PREVIOUS", previous);
    struct coop_vault *v = NULL;
    char err[160] = "";
    assert_int_equal(coop_vault_open(&cfg, f->store, &v, err, sizeof err), COOP_ERR_OK);
    return v;
}

/* True when needle occurs anywhere in the file (binary-safe). */
static bool file_contains(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    size_t n = strlen(needle), cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    size_t r;
    bool found = false;
    while ((r = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += r;
        if (len == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(fp);
    for (size_t i = 0; i + n <= len && !found; i++)
        found = memcmp(buf + i, needle, n) == 0;
    free(buf);
    return found;
}

static bool dir_contains(const char *dir, const char *needle)
{
    const char *names[] = {"coop.db", "coop.db-wal", "coop.db-shm", "log"};
    for (size_t i = 0; i < 4; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (file_contains(path, needle))
            return true;
    }
    return false;
}

static void test_round_trip(void **state)
{
    struct fx *f = *state;
    struct coop_vault *v = open_with(f, KEY_A, NULL);
    char prefix[17];
    bool replaced = true;
    assert_int_equal(coop_vault_put(v, "acme", "openai", CANARY, strlen(CANARY), prefix, &replaced),
                     COOP_ERR_OK);
    assert_false(replaced);
    char full[65];
    coop_sha256_hex(CANARY, strlen(CANARY), full);
    assert_memory_equal(prefix, full, 16);

    struct coop_vault_secret *s = NULL;
    assert_int_equal(coop_vault_open_key(v, "acme", "openai", &s), COOP_ERR_OK);
    assert_int_equal(s->len, strlen(CANARY));
    assert_string_equal(s->data, CANARY);
    coop_vault_secret_free(s);

    /* Another customer, or another provider, has none. */
    assert_int_equal(coop_vault_open_key(v, "globex", "openai", &s), COOP_ERR_NOT_FOUND);
    assert_null(s);
    assert_int_equal(coop_vault_open_key(v, "acme", "anthropic", &s), COOP_ERR_NOT_FOUND);

    assert_int_equal(
        coop_vault_put(v, "acme", "openai", "sk-second-key-123", 17, prefix, &replaced),
        COOP_ERR_OK);
    assert_true(replaced);
    assert_int_equal(coop_vault_delete(v, "acme", "openai"), COOP_ERR_OK);
    assert_int_equal(coop_vault_delete(v, "acme", "openai"), COOP_ERR_NOT_FOUND);
    assert_int_equal(coop_vault_open_key(v, "acme", "openai", &s), COOP_ERR_NOT_FOUND);
    coop_vault_free(v);
}

static void test_only_ciphertext_in_db_file(void **state)
{
    struct fx *f = *state;
    struct coop_vault *v = open_with(f, KEY_A, NULL);
    char prefix[17];
    assert_int_equal(coop_vault_put(v, "acme", "openai", CANARY, strlen(CANARY), prefix, NULL),
                     COOP_ERR_OK);
    struct coop_vault_secret *s = NULL;
    assert_int_equal(coop_vault_open_key(v, "acme", "openai", &s), COOP_ERR_OK);
    coop_vault_secret_free(s);
    json_object *rows = NULL;
    assert_int_equal(coop_vault_list(v, &rows), COOP_ERR_OK);
    const char *text = json_object_to_json_string(rows);
    assert_null(strstr(text, CANARY));
    assert_non_null(strstr(text, prefix));
    json_object *row = json_object_array_get_idx(rows, 0);
    assert_non_null(coop_json_str(row, "last_used_at"));
    json_object_put(rows);
    coop_vault_free(v);
    coop_store_close(f->store);
    f->store = NULL;
    /* The scan sees the database (the hash prefix is there)... */
    assert_true(dir_contains(f->dir, prefix));
    /* ...and neither the key, nor a distinctive part of it, nor the master key. */
    assert_false(dir_contains(f->dir, CANARY));
    assert_false(dir_contains(f->dir, "7f3a9c2e41d85b60aa17"));
    assert_false(dir_contains(f->dir, KEY_A));
    assert_false(dir_contains(f->dir, "0123456789abcdef0123456789abcdef"));
    assert_int_equal(coop_store_open(f->url, 2, &f->store), COOP_ERR_OK);
}

static void test_wrong_master_key_refused_quietly(void **state)
{
    struct fx *f = *state;
    struct coop_vault *v = open_with(f, KEY_A, NULL);
    char prefix[17];
    assert_int_equal(coop_vault_put(v, "acme", "openai", CANARY, strlen(CANARY), prefix, NULL),
                     COOP_ERR_OK);
    coop_vault_free(v);

    v = open_with(f, KEY_B, NULL);
    struct coop_vault_secret *s = NULL;
    assert_int_equal(coop_vault_open_key(v, "acme", "openai", &s), COOP_ERR_CRYPTO);
    assert_null(s);
    int64_t cur = -1, prev = -1, bad = -1;
    assert_int_equal(coop_vault_check(v, &cur, &prev, &bad), COOP_ERR_OK);
    assert_int_equal(cur, 0);
    assert_int_equal(bad, 1);

    /* Even with the id forged to the current key's, authentication fails. */
    assert_int_equal(coop_store_exec(f->store, "UPDATE byok_keys SET master_id = ?",
                                     COOP_PARAMS(COOP_PT(coop_vault_master_id(v))), NULL),
                     COOP_ERR_OK);
    assert_int_equal(coop_vault_open_key(v, "acme", "openai", &s), COOP_ERR_CRYPTO);
    coop_vault_free(v);

    /* The refusals were logged, naming the problem and neither key. */
    assert_true(file_contains(f->log_path, "does not hold"));
    assert_true(file_contains(f->log_path, "failed authentication"));
    assert_false(file_contains(f->log_path, CANARY));
    assert_false(file_contains(f->log_path, KEY_A));
    assert_false(file_contains(f->log_path, KEY_B));
}

static void test_sealed_key_bound_to_customer(void **state)
{
    struct fx *f = *state;
    struct coop_vault *v = open_with(f, KEY_A, NULL);
    char prefix[17];
    assert_int_equal(coop_vault_put(v, "acme", "openai", CANARY, strlen(CANARY), prefix, NULL),
                     COOP_ERR_OK);
    assert_int_equal(coop_vault_put(v, "globex", "openai", "sk-globex-0000000", 17, prefix, NULL),
                     COOP_ERR_OK);
    /* Copy acme's ciphertext into globex's row: it must not open there. */
    assert_int_equal(coop_store_exec(f->store,
                                     "UPDATE byok_keys SET nonce = (SELECT nonce FROM byok_keys "
                                     "WHERE customer = 'acme'), sealed = (SELECT sealed FROM "
                                     "byok_keys WHERE customer = 'acme') WHERE customer = 'globex'",
                                     COOP_NOPARAMS, NULL),
                     COOP_ERR_OK);
    struct coop_vault_secret *s = NULL;
    assert_int_equal(coop_vault_open_key(v, "globex", "openai", &s), COOP_ERR_CRYPTO);
    assert_null(s);
    coop_vault_free(v);
}

static void test_rewrap(void **state)
{
    struct fx *f = *state;
    struct coop_vault *v = open_with(f, KEY_A, NULL);
    char prefix[17];
    assert_int_equal(coop_vault_put(v, "acme", "openai", CANARY, strlen(CANARY), prefix, NULL),
                     COOP_ERR_OK);
    assert_int_equal(coop_vault_put(v, "acme", "anthropic", "sk-ant-000000000", 16, prefix, NULL),
                     COOP_ERR_OK);
    coop_vault_free(v);

    /* During the rotation the server holds both keys and opens both. */
    v = open_with(f, KEY_B, KEY_A);
    struct coop_vault_secret *s = NULL;
    assert_int_equal(coop_vault_open_key(v, "acme", "openai", &s), COOP_ERR_OK);
    coop_vault_secret_free(s);
    int64_t done = -1, failed = -1;
    assert_int_equal(coop_vault_rewrap(v, &done, &failed), COOP_ERR_OK);
    assert_int_equal(done, 2);
    assert_int_equal(failed, 0);
    assert_int_equal(coop_vault_rewrap(v, &done, &failed), COOP_ERR_OK);
    assert_int_equal(done, 0);
    coop_vault_free(v);

    /* After it, the new key alone opens them and the old one cannot. */
    v = open_with(f, KEY_B, NULL);
    assert_int_equal(coop_vault_open_key(v, "acme", "openai", &s), COOP_ERR_OK);
    assert_string_equal(s->data, CANARY);
    coop_vault_secret_free(s);
    coop_vault_free(v);
    v = open_with(f, KEY_A, NULL);
    assert_int_equal(coop_vault_open_key(v, "acme", "openai", &s), COOP_ERR_CRYPTO);
    assert_int_equal(coop_vault_rewrap(v, &done, &failed), COOP_ERR_OK);
    assert_int_equal(failed, 2);
    coop_vault_free(v);
}

static void test_development_key_file(void **state)
{
    struct fx *f = *state;
    struct coop_vault *v = open_with(f, NULL, NULL);
    char id[17], path[128];
    coop_strlcpy(id, coop_vault_master_id(v), sizeof id);
    coop_vault_free(v);
    snprintf(path, sizeof path, "%s/master.key", f->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* The same key next time. */
    v = open_with(f, NULL, NULL);
    assert_string_equal(coop_vault_master_id(v), id);
    coop_vault_free(v);
    /* A key file others can read is refused. */
    chmod(path, 0644);
    struct coop_vault *w = NULL;
    char err[160] = "";
    assert_int_equal(coop_vault_open(&f->cfg, f->store, &w, err, sizeof err), COOP_ERR_CONFIG);
    assert_non_null(strstr(err, "0600"));
    /* Production never generates one. */
    struct coop_config prod = f->cfg;
    prod.production = true;
    assert_int_equal(coop_vault_open(&prod, f->store, &w, err, sizeof err), COOP_ERR_CONFIG);
    assert_non_null(strstr(err, "COOP_MASTER_KEY"));
}

static void test_bad_master_key_setting(void **state)
{
    struct fx *f = *state;
    struct coop_config cfg = f->cfg;
    coop_config_override(&cfg, "COOP_MASTER_KEY", "c2hvcnQ=");
    struct coop_vault *v = NULL;
    char err[160] = "";
    assert_int_equal(coop_vault_open(&cfg, f->store, &v, err, sizeof err), COOP_ERR_CONFIG);
    assert_non_null(strstr(err, "COOP_MASTER_KEY"));
    assert_null(strstr(err, "c2hvcnQ="));
}

/* A slot reused by the next request holds nothing of the previous key. */
static void test_secret_memory_wiped_between_requests(void **state)
{
    struct fx *f = *state;
    struct coop_vault *v = open_with(f, KEY_A, NULL);
    char prefix[17], long_key[4097];
    memset(long_key, 'Z', 4096);
    long_key[4096] = '\0';
    assert_int_equal(coop_vault_put(v, "acme", "openai", long_key, 4096, prefix, NULL),
                     COOP_ERR_OK);
    assert_int_equal(coop_vault_put(v, "acme", "gemini", "sk-short-1", 10, prefix, NULL),
                     COOP_ERR_OK);
    struct coop_vault_secret *s = NULL;
    assert_int_equal(coop_vault_open_key(v, "acme", "openai", &s), COOP_ERR_OK);
    assert_int_equal(s->len, 4096);
    coop_vault_secret_free(s);
    assert_int_equal(coop_vault_open_key(v, "acme", "gemini", &s), COOP_ERR_OK);
    assert_string_equal(s->data, "sk-short-1");
    for (size_t i = s->len; i <= 4096; i++)
        if (s->data[i] != 0)
            fail_msg("byte %zu of the reused slot is not zero", i);
    coop_vault_secret_free(s);
    coop_vault_free(v);
}

static void test_refuses_bad_input(void **state)
{
    struct fx *f = *state;
    struct coop_vault *v = open_with(f, KEY_A, NULL);
    char prefix[17];
    assert_int_equal(coop_vault_put(v, "acme", "openai", "short", 5, prefix, NULL),
                     COOP_ERR_INVALID);
    assert_int_equal(coop_vault_put(v, "acme", "openai", "sk-with\r\nheader", 15, prefix, NULL),
                     COOP_ERR_INVALID);
    assert_int_equal(coop_vault_put(v, "acme", "openai", "sk-with space1", 14, prefix, NULL),
                     COOP_ERR_INVALID);
    assert_int_equal(coop_vault_put(v, "ac/me", "openai", CANARY, strlen(CANARY), prefix, NULL),
                     COOP_ERR_INVALID);
    assert_int_equal(coop_vault_put(v, "acme", "Open AI", CANARY, strlen(CANARY), prefix, NULL),
                     COOP_ERR_INVALID);
    assert_int_equal(coop_vault_put(v, "", "openai", CANARY, strlen(CANARY), prefix, NULL),
                     COOP_ERR_INVALID);
    coop_vault_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_ciphertext_in_db_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_master_key_refused_quietly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_key_bound_to_customer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_development_key_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_master_key_setting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_memory_wiped_between_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
