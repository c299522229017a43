/*
 * The sanitizer: every case of tests/data/sanitize/<name>.txt (one per line,
 * "<expected rule id or none><TAB><text with C escapes>") is redacted as
 * expected; the prefilter changes nothing against running PCRE2 alone;
 * placeholders come out byte for byte; arbitrary bytes, bounded output,
 * counts, idempotence, the rule list and concurrent use.
 *
 * A file whose first line is "#! pii" runs with the PII group on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coop/sanitize.h"
#include "sanitize/sanitize_int.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct coop_sanitizer *san;

static int setup(void **state)
{
    assert_int_equal(coop_core_init(), COOP_ERR_OK);
    assert_int_equal(coop_sanitizer_new(&san), COOP_ERR_OK);
    return 0;
}

static int teardown(void **state)
{
    coop_sanitizer_free(san);
    san = NULL;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes \n \r \t \\ \0 \xHH in place; returns the new length. */
static size_t unescape(char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\' || i + 1 == len) {
            s[o++] = s[i];
            continue;
        }
        char c = s[++i];
        if (c == 'n')
            s[o++] = '\n';
        else if (c == 'r')
            s[o++] = '\r';
        else if (c == 't')
            s[o++] = '\t';
        else if (c == '0')
            s[o++] = '\0';
        else if (c == '\\')
            s[o++] = '\\';
        else if (c == 'x' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            s[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            s[o++] = '\\';
            s[o++] = c;
        }
    }
    return o;
}

static bool counted(const struct coop_sanitize_counts *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->by_rule[i].rule_id, id) == 0)
            return true;
    return false;
}

static void describe(const struct coop_sanitize_counts *c, char *out, size_t size)
{
    struct coop_buf b;
    coop_buf_init(&b, size - 1);
    for (size_t i = 0; i < c->n; i++) {
        coop_buf_puts(&b, i ? "," : "");
        coop_buf_puts(&b, c->by_rule[i].rule_id);
    }
    snprintf(out, size, "%s", c->n && b.data ? b.data : "none");
    coop_buf_dispose(&b);
}

struct case_stats {
    unsigned cases, failures;
};

/* One case: the expected rule fires (and its marker appears), or nothing
 * does and the text comes out unchanged; PCRE2 alone agrees byte for byte;
 * sanitizing the result again finds nothing more. */
static void run_case(const char *file, unsigned line, unsigned groups, const char *expected,
                     const char *text, size_t len, struct case_stats *st)
{
    struct coop_buf out, base, again;
    coop_buf_init(&out, len * 4 + 4096);
    coop_buf_init(&base, len * 4 + 4096);
    coop_buf_init(&again, len * 4 + 4096);
    struct coop_sanitize_counts c = {0}, cb = {0}, ca = {0};
    assert_int_equal(coop_sanitize_payload(san, groups, text, len, &out, &c), COOP_ERR_OK);
    assert_int_equal(coop_sanitize_payload_pcre2_only(san, groups, text, len, &base, &cb),
                     COOP_ERR_OK);
    assert_int_equal(coop_sanitize_payload(san, groups, out.data, out.len, &again, &ca),
                     COOP_ERR_OK);
    bool ok;
    char got[512];
    describe(&c, got, sizeof got);
    if (strcmp(expected, "none") == 0) {
        ok = c.total == 0 && out.len == len && memcmp(out.data, text, len) == 0;
    } else {
        char marker[96];
        snprintf(marker, sizeof marker, "[REDACTED:%s]", expected);
        ok = counted(&c, expected) && memmem(out.data, out.len, marker, strlen(marker)) != NULL;
    }
    if (!ok) {
        fprintf(stderr, "%s:%u: expected %s, got %s: %s\n", file, line, expected, got, out.data);
        st->failures++;
    }
    if (out.len != base.len || memcmp(out.data, base.data, out.len) != 0) {
        fprintf(stderr, "%s:%u: prefilter and PCRE2-only differ:\n  %s\n  %s\n", file, line,
                out.data, base.data);
        st->failures++;
    }
    if (ca.total != 0) {
        fprintf(stderr, "%s:%u: redacted output redacts again: %s\n", file, line, again.data);
        st->failures++;
    }
    st->cases++;
    coop_buf_dispose(&out);
    coop_buf_dispose(&base);
    coop_buf_dispose(&again);
}

static void run_file(const char *dir, const char *name, struct case_stats *st)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned lineno = 0;
    unsigned groups = COOP_SANITIZE_SECRETS;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (lineno == 1 && strncmp(line, "#! pii", 6) == 0)
            groups |= COOP_SANITIZE_PII;
        if (n == 0 || line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab) {
            fprintf(stderr, "%s:%u: no tab\n", name, lineno);
            st->failures++;
            continue;
        }
        *tab = '\0';
        char *text = tab + 1;
        size_t len = unescape(text, (size_t)(line + n - text));
        run_case(name, lineno, groups, line, text, len, st);
    }
    free(line);
    fclose(f);
}

static void test_data_cases(void **state)
{
    const char *root = getenv("COOP_TEST_DATA");
    assert_non_null(root);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/sanitize", root);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    struct case_stats st = {0};
    unsigned files = 0;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".txt") != 0)
            continue;
        run_file(dir, e->d_name, &st);
        files++;
    }
    closedir(d);
    fprintf(stderr, "sanitize: %u cases in %u files, %u failures\n", st.cases, files, st.failures);
    assert_true(files > 0);
    assert_true(st.cases > 100);
    assert_int_equal(st.failures, 0);
}

/* Every rule has a unique id, a description and a group; every family of
 * the contract is there. */
static void test_rule_list(void **state)
{
    const struct coop_sanitize_rule_info *rules;
    size_t n = coop_sanitize_rules(&rules);
    assert_true(n >= 25 && n <= COOP_SANITIZE_MAX_COUNTS);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(rules[i].id);
        assert_true(strlen(rules[i].description) > 10);
        assert_true(rules[i].group == COOP_SANITIZE_SECRETS || rules[i].group == COOP_SANITIZE_PII);
        assert_non_null(rules[i].family);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(rules[i].id, rules[j].id);
    }
    static const char *const families[] = {
        "aws",
        "github",
        "gitlab",
        "slack",
        "stripe",
        "openai",
        "anthropic",
        "google",
        "azure",
        "twilio",
        "sendgrid",
        "npm",
        "pypi",
        "private-key",
        "jwt",
        "url-credentials",
        "connection-string",
        "authorization-header",
        "generic",
        "pii",
    };
    for (size_t f = 0; f < sizeof families / sizeof *families; f++) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found = found || strcmp(rules[i].family, families[f]) == 0;
        if (!found)
            fprintf(stderr, "no rule for family %s\n", families[f]);
        assert_true(found);
    }
}

#define GH                                                                                         \
    "ghp_"                                                                                         \
    "R8nTq2VxL0aZk5Yc3WmP7sDf1GhJ4uKe9BoQ"

static void test_replaces_exact_span(void **state)
{
    const char *in = "token for CI: " GH " (rotate monthly)";
    struct coop_buf out;
    coop_buf_init(&out, 4096);
    struct coop_sanitize_counts c = {0};
    assert_int_equal(coop_sanitize_payload(san, 0, in, strlen(in), &out, &c), COOP_ERR_OK);
    assert_string_equal(out.data, "token for CI: [REDACTED:github-token] (rotate monthly)");
    assert_int_equal(c.total, 1);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.by_rule[0].rule_id, "github-token");
    /* Counts add up over calls, as over the messages of one request. */
    assert_int_equal(coop_sanitize_payload(san, 0, in, strlen(in), &out, &c), COOP_ERR_OK);
    assert_int_equal(c.total, 2);
    assert_int_equal(c.by_rule[0].count, 2);
    coop_buf_dispose(&out);
}

static void test_assignment_keeps_name(void **state)
{
    const char *in = "DB_PASSWORD=\"s3cr3t-Pa55!\"\napi_key: 'a9F3kQ7zL2mX8vB4nR6t'\n";
    struct coop_buf out;
    coop_buf_init(&out, 4096);
    assert_int_equal(coop_sanitize_payload(san, 0, in, strlen(in), &out, NULL), COOP_ERR_OK);
    assert_string_equal(out.data, "DB_PASSWORD=\"[REDACTED:password-assignment]\"\n"
                                  "api_key: '[REDACTED:generic-secret]'\n");
    coop_buf_dispose(&out);
}

/* Text with NULs and invalid UTF-8 around a secret: the bytes are kept,
 * the secret goes, nothing past len is read (ASan checks the copy). */
static void test_arbitrary_bytes(void **state)
{
    static const char raw[] = "\xff\xfe\0\x80 key=" GH "\0\xc3\x28 tail";
    size_t len = sizeof raw - 1;
    char *heap = malloc(len);
    memcpy(heap, raw, len);
    struct coop_buf out;
    coop_buf_init(&out, 4096);
    struct coop_sanitize_counts c = {0};
    assert_int_equal(coop_sanitize_payload(san, COOP_SANITIZE_PII, heap, len, &out, &c),
                     COOP_ERR_OK);
    assert_int_equal(c.total, 1);
    static const char want[] = "\xff\xfe\0\x80 key=[REDACTED:github-token]\0\xc3\x28 tail";
    assert_int_equal(out.len, sizeof want - 1);
    assert_memory_equal(out.data, want, sizeof want - 1);
    /* The empty text. */
    coop_buf_reset(&out);
    assert_int_equal(coop_sanitize_payload(san, 0, heap, 0, &out, &c), COOP_ERR_OK);
    assert_int_equal(out.len, 0);
    /* A secret that is the very end of the buffer. */
    coop_buf_reset(&out);
    const char *tail = strstr(raw + 8, "ghp_");
    size_t tlen = strlen(GH);
    char *exact = malloc(tlen);
    memcpy(exact, tail, tlen);
    assert_int_equal(coop_sanitize_payload(san, 0, exact, tlen, &out, NULL), COOP_ERR_OK);
    assert_string_equal(out.data, "[REDACTED:github-token]");
    free(exact);
    free(heap);
    coop_buf_dispose(&out);
}

static void test_output_bound(void **state)
{
    const char *in = "prefix " GH;
    struct coop_buf out;
    coop_buf_init(&out, 12);
    assert_int_equal(coop_buf_puts(&out, "kept"), COOP_ERR_OK);
    assert_int_equal(coop_sanitize_payload(san, 0, in, strlen(in), &out, NULL), COOP_ERR_TOO_LARGE);
    assert_string_equal(out.data, "kept");
    coop_buf_dispose(&out);
    assert_int_equal(coop_sanitize_payload(NULL, 0, in, 3, &out, NULL), COOP_ERR_INVALID);
}

/* PII rules apply only when asked for. */
static void test_pii_group(void **state)
{
    const char *in = "contact jane.doe@acme-corp.io from 203.0.113.9";
    struct coop_buf out;
    coop_buf_init(&out, 4096);
    struct coop_sanitize_counts c = {0};
    assert_int_equal(coop_sanitize_payload(san, COOP_SANITIZE_SECRETS, in, strlen(in), &out, &c),
                     COOP_ERR_OK);
    assert_int_equal(c.total, 0);
    assert_string_equal(out.data, in);
    coop_buf_reset(&out);
    assert_int_equal(coop_sanitize_payload(san, COOP_SANITIZE_PII, in, strlen(in), &out, &c),
                     COOP_ERR_OK);
    assert_string_equal(out.data, "contact [REDACTED:email-address] from [REDACTED:ipv4-address]");
    /* With PII on, URL credentials keep their host. */
    const char *url = "postgres://app:S3cretPw9x@db.acme-corp.io:5432/app mailto:ops@acme-corp.io";
    coop_buf_reset(&out);
    assert_int_equal(coop_sanitize_payload(san, COOP_SANITIZE_PII, url, strlen(url), &out, NULL),
                     COOP_ERR_OK);
    assert_string_equal(out.data,
                        "postgres://app:[REDACTED:url-credentials]@db.acme-corp.io:5432/app "
                        "mailto:[REDACTED:email-address]");
    coop_buf_dispose(&out);
}

/* A big text full of candidates: many windows, many spans, one pass. */
static void test_many_hits(void **state)
{
    struct coop_buf in, out;
    coop_buf_init(&in, 1 << 22);
    coop_buf_init(&out, 1 << 23);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(
            coop_buf_printf(&in, "x%d = token: %s; password = 'hunter%d!'\n", i, GH, i),
            COOP_ERR_OK);
    struct coop_sanitize_counts c = {0};
    assert_int_equal(coop_sanitize_payload(san, 0, in.data, in.len, &out, &c), COOP_ERR_OK);
    assert_int_equal(c.total, 4000);
    assert_null(strstr(out.data, "ghp_"));
    assert_null(strstr(out.data, "hunter"));
    coop_buf_dispose(&in);
    coop_buf_dispose(&out);
}

static void *worker(void *arg)
{
    const char *in = "curl -H 'Authorization: Bearer " GH "' https://api.github.com";
    for (int i = 0; i < 200; i++) {
        struct coop_buf out;
        coop_buf_init(&out, 4096);
        struct coop_sanitize_counts c = {0};
        if (coop_sanitize_payload(san, 0, in, strlen(in), &out, &c) != COOP_ERR_OK ||
            c.total != 1 || strstr(out.data, "ghp_")) {
            coop_buf_dispose(&out);
            return (void *)1;
        }
        coop_buf_dispose(&out);
    }
    return NULL;
}

static void test_threads(void **state)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        assert_null(rv);
    }
}

static void test_entropy(void **state)
{
    assert_true(coop_sanitize_entropy("aaaaaaaa", 8) < 0.01);
    double h = coop_sanitize_entropy("abcdefgh", 8);
    assert_true(h > 2.99 && h < 3.01);
    assert_true(coop_sanitize_entropy("", 0) == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_list),
        cmocka_unit_test(test_replaces_exact_span),
        cmocka_unit_test(test_assignment_keeps_name),
        cmocka_unit_test(test_arbitrary_bytes),
        cmocka_unit_test(test_output_bound),
        cmocka_unit_test(test_pii_group),
        cmocka_unit_test(test_many_hits),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_entropy),
        cmocka_unit_test(test_data_cases),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
