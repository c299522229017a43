/*
 * Sanitizer benchmark program (driven by bench/sanitize.sh).
 *
 *   bench-sanitize throughput FILE...
 *       Builds ~4 MiB of ordinary source: the given files (C and TypeScript
 *       of this repository) and synthetic TypeScript, with 12 secrets of
 *       different families mixed in. Prints the throughput of
 *       coop_sanitize_payload() and of the PCRE2-only baseline over it, the
 *       ratio, and the latency of 8 KiB requests cut from it.
 *
 *   bench-sanitize cases DATA_DIR OUT_DIR
 *       Writes each labelled case of DATA_DIR/<name>.txt to OUT_DIR as its
 *       own file (for another scanner) and prints one line per case:
 *       file, expected rule, expected family, rules that fired, families.
 *
 *   bench-sanitize scan FILE...
 *       Redactions per rule over real files (false alarms on code that
 *       holds no secret).
 *
 * BENCH_SANITIZE_DUMP=FILE writes the throughput corpus to FILE;
 * BENCH_SANITIZE_ONLY_COOP=1 skips the baseline (for profiling); BENCH_SMOKE
 * makes every measurement short.
 */
#include "coop/sanitize.h"
#include "sanitize/sanitize_int.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CORPUS_BYTES (4u << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void rnd(struct coop_buf *b, const char *alphabet, int n)
{
    size_t k = strlen(alphabet);
    for (int i = 0; i < n; i++) {
        char c = alphabet[rng() % k];
        coop_buf_append(b, &c, 1);
    }
}

#define AN "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define HEXD "0123456789abcdef"

static bool read_file(const char *path, struct coop_buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (coop_buf_append(b, chunk, n) != COOP_ERR_OK)
            break;
    fclose(f);
    return true;
}

/* Ordinary TypeScript of the kind a developer sends with a question: API
 * clients, token handling by reference, config, tests. */
static void synthetic_ts(struct coop_buf *b, unsigned i)
{
    static const char *const nouns[] = {"user",  "repo",   "team",    "commit", "review",
                                        "owner", "branch", "webhook", "file",   "session"};
    const char *n = nouns[i % 10];
    coop_buf_printf(
        b,
        "export interface %sRecord%u {\n  id: string;\n  createdAt: Date;\n  token?: string;\n"
        "  labels: ReadonlyArray<string>;\n}\n\n"
        "export async function fetch%s%u(client: HttpClient, id: string): Promise<%sRecord%u | "
        "undefined> {\n"
        "  const accessToken = await client.getAccessToken();\n"
        "  const url = `${client.baseUrl}/%ss/${encodeURIComponent(id)}?expand=teams&page=%u`;\n"
        "  const res = await fetch(url, { headers: { Authorization: `Bearer ${accessToken}`, "
        "'Content-Type': 'application/json' } });\n"
        "  if (!res.ok) {\n    throw new Error(`fetch %s failed: ${res.status} "
        "${res.statusText}`);\n"
        "  }\n  const body = (await res.json()) as { data: %sRecord%u[]; nextPageToken?: string "
        "};\n"
        "  return body.data.find((r) => r.id === id && r.labels.includes('%s-%u'));\n}\n\n"
        "const config%u = {\n  apiKey: process.env.COOP_API_KEY ?? '',\n  password: "
        "passwordInput.value,\n  retries: %u,\n  timeoutMs: %u,\n  key: 'ctrl+shift+%c',\n};\n\n"
        "describe('%s %u', () => {\n  it('maps the record', () => {\n    const r = map%s({ id: "
        "'%08x-%04x-4%03x-a%03x-%012llx', createdAt: new Date(%u) });\n"
        "    expect(r.token).toBeUndefined();\n  });\n});\n\n",
        n, i, n, i, n, i, n, i, n, n, i, n, i, i, i % 7, 1000 + i * 13, 'a' + (char)(i % 26), n, i,
        n, (unsigned)rng(), (unsigned)(rng() & 0xffff), (unsigned)(rng() & 0xfff),
        (unsigned)(rng() & 0xfff), (unsigned long long)(rng() & 0xffffffffffffull), i * 1000);
}

/* One secret of a given kind, as it would sit in code. */
static void secret(struct coop_buf *b, unsigned kind)
{
    switch (kind % 12) {
    case 0:
        coop_buf_puts(b, "const GH = \"ghp_");
        rnd(b, AN, 36);
        coop_buf_puts(b, "\";\n");
        break;
    case 1:
        coop_buf_puts(b, "aws_access_key_id = AKIA");
        rnd(b, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);
        coop_buf_puts(b, "\naws_secret_access_key = ");
        rnd(b, AN "+/", 40);
        coop_buf_puts(b, "\n");
        break;
    case 2:
        coop_buf_puts(b, "SLACK_BOT_TOKEN=xoxb-1234567890-9876543210-");
        rnd(b, AN, 24);
        coop_buf_puts(b, "\n");
        break;
    case 3:
        coop_buf_puts(b, "const stripe = new Stripe('sk_live_");
        rnd(b, AN, 32);
        coop_buf_puts(b, "');\n");
        break;
    case 4:
        coop_buf_puts(b, "OPENAI_API_KEY=sk-proj-");
        rnd(b, AN, 60);
        coop_buf_puts(b, "T3BlbkFJ");
        rnd(b, AN, 60);
        coop_buf_puts(b, "\n");
        break;
    case 5:
        coop_buf_puts(b, "-----BEGIN RSA PRIVATE KEY-----\n");
        for (int l = 0; l < 8; l++) {
            rnd(b, AN "+/", 64);
            coop_buf_puts(b, "\n");
        }
        coop_buf_puts(b, "-----END RSA PRIVATE KEY-----\n");
        break;
    case 6:
        coop_buf_puts(b, "DATABASE_URL=postgres://app:");
        rnd(b, AN, 20);
        coop_buf_puts(b, "@db.internal:5432/app\n");
        break;
    case 7:
        coop_buf_puts(b, "\"ConnectionString\": \"Server=sql01;Database=shop;User Id=sa;Password=");
        rnd(b, AN, 14);
        coop_buf_puts(b, ";\"\n");
        break;
    case 8:
        coop_buf_puts(b, "const apiKey = \"");
        rnd(b, AN, 32);
        coop_buf_puts(b, "\";\n");
        break;
    case 9:
        coop_buf_puts(b, "curl -H 'Authorization: Bearer ");
        rnd(b, AN, 40);
        coop_buf_puts(b, "' https://api.acme.io\n");
        break;
    case 10:
        coop_buf_puts(b, "GOOGLE_API_KEY=AIza");
        rnd(b, AN "-_", 35);
        coop_buf_puts(b, "\n");
        break;
    default:
        coop_buf_puts(b, "//registry.npmjs.org/:_authToken=npm_");
        rnd(b, AN, 36);
        coop_buf_puts(b, "\n");
        break;
    }
}

static void build_corpus(struct coop_buf *corpus, int nfiles, char **files, size_t *real_bytes)
{
    struct coop_buf real;
    coop_buf_init(&real, 64u << 20);
    for (int i = 0; i < nfiles; i++)
        read_file(files[i], &real);
    *real_bytes = real.len;
    /* Half real source (repeated as needed), half synthetic TypeScript,
     * in 64 KiB blocks; a secret after every twelfth of the corpus. */
    size_t off = 0;
    unsigned ts = 0, secrets = 0;
    while (corpus->len < CORPUS_BYTES) {
        size_t block = 64 * 1024;
        if (real.len && (corpus->len / block) % 2 == 0) {
            size_t take = real.len - off < block ? real.len - off : block;
            coop_buf_append(corpus, real.data + off, take);
            off = (off + take) % real.len;
        } else {
            size_t target = corpus->len + block;
            while (corpus->len < target)
                synthetic_ts(corpus, ts++);
        }
        if (secrets < 12 && corpus->len >= (size_t)(secrets + 1) * (CORPUS_BYTES / 13))
            secret(corpus, secrets++);
    }
    coop_buf_dispose(&real);
}

typedef coop_err (*sanitize_fn)(const struct coop_sanitizer *, unsigned, const char *, size_t,
                                struct coop_buf *, struct coop_sanitize_counts *);

/* Throughput in bytes per second: repeated passes for at least min_s. */
static double throughput(struct coop_sanitizer *s, sanitize_fn fn, const struct coop_buf *in,
                         double min_s, struct coop_sanitize_counts *counts)
{
    struct coop_buf out;
    coop_buf_init(&out, in->len * 2 + 65536);
    double best = 0;
    double start = now_s();
    int runs = 0;
    do {
        coop_buf_reset(&out);
        struct coop_sanitize_counts c = {0};
        double t0 = now_s();
        if (fn(s, 0, in->data, in->len, &out, &c) != COOP_ERR_OK) {
            fprintf(stderr, "sanitize failed\n");
            exit(1);
        }
        double rate = (double)in->len / (now_s() - t0);
        if (rate > best)
            best = rate;
        *counts = c;
        runs++;
    } while (now_s() - start < min_s || runs < 3);
    coop_buf_dispose(&out);
    return best;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Latency of 8 KiB requests cut at random offsets: p50, p99, mean in us. */
static void latency(struct coop_sanitizer *s, sanitize_fn fn, const struct coop_buf *in, int n,
                    double out_us[4])
{
    double *t = malloc(sizeof *t * (size_t)n);
    struct coop_buf out;
    coop_buf_init(&out, 1 << 20);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        size_t off = (size_t)(rng() % (in->len - 8192));
        /* The router sanitizes text it has just parsed: the request is in
         * cache. An untimed pass puts it there. */
        coop_buf_reset(&out);
        fn(s, 0, in->data + off, 8192, &out, NULL);
        coop_buf_reset(&out);
        double t0 = now_s();
        fn(s, 0, in->data + off, 8192, &out, NULL);
        t[i] = (now_s() - t0) * 1e6;
        sum += t[i];
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    out_us[0] = t[n / 2];
    out_us[1] = t[(n * 99) / 100];
    out_us[3] = t[(n * 90) / 100];
    out_us[2] = sum / n;
    free(t);
    coop_buf_dispose(&out);
}

static int cmd_throughput(struct coop_sanitizer *s, int nfiles, char **files)
{
    struct coop_buf corpus;
    coop_buf_init(&corpus, CORPUS_BYTES + (1u << 20));
    size_t real_bytes = 0;
    build_corpus(&corpus, nfiles, files, &real_bytes);
    const char *dump = getenv("BENCH_SANITIZE_DUMP");
    if (dump) {
        FILE *f = fopen(dump, "wb");
        if (f) {
            fwrite(corpus.data, 1, corpus.len, f);
            fclose(f);
        }
    }
    printf("corpus: %zu bytes: %d files of this repository (%zu bytes, repeated) and synthetic "
           "TypeScript, 12 secrets\n",
           corpus.len, nfiles, real_bytes);

    /* BENCH_SMOKE: a short run that only shows the program still works. */
    bool smoke = getenv("BENCH_SMOKE") != NULL;
    struct coop_sanitize_counts c1, c2;
    double hs = throughput(s, coop_sanitize_payload, &corpus, smoke ? 0.2 : 3.0, &c1);
    if (getenv("BENCH_SANITIZE_ONLY_COOP")) {
        printf("throughput coop: %.2f GB/s\n", hs / 1e9);
        return 0;
    }
    double pc = throughput(s, coop_sanitize_payload_pcre2_only, &corpus, smoke ? 0.2 : 2.0, &c2);
    printf("redactions: coop %u, pcre2-only %u\n", c1.total, c2.total);
    for (size_t i = 0; i < c1.n; i++)
        printf("  %-28s %u\n", c1.by_rule[i].rule_id, c1.by_rule[i].count);
    printf("throughput coop (Vectorscan prefilter + PCRE2 JIT): %.2f GB/s (goal >= 1 GB/s per "
           "core)\n",
           hs / 1e9);
    printf("throughput pcre2-only baseline (every rule over the whole text): %.3f GB/s\n",
           pc / 1e9);
    printf("ratio coop / pcre2-only: %.1fx\n", hs / pc);

    double l1[4], l2[4];
    latency(s, coop_sanitize_payload, &corpus, smoke ? 1000 : 20000, l1);
    latency(s, coop_sanitize_payload_pcre2_only, &corpus, smoke ? 200 : 2000, l2);
    printf("8 KiB request coop: p50 %.1f us, p90 %.1f us, p99 %.1f us, mean %.1f us (goal < 20 "
           "us)\n",
           l1[0], l1[3], l1[1], l1[2]);
    printf("8 KiB request pcre2-only: p50 %.1f us, p90 %.1f us, p99 %.1f us, mean %.1f us\n", l2[0],
           l2[3], l2[1], l2[2]);
    printf("ratio 8 KiB p50 pcre2-only / coop: %.1fx\n", l2[0] / l1[0]);
    coop_buf_dispose(&corpus);
    return 0;
}

static const char *family_of(const char *rule_id)
{
    const struct coop_sanitize_rule_info *rules;
    size_t n = coop_sanitize_rules(&rules);
    for (size_t i = 0; i < n; i++)
        if (strcmp(rules[i].id, rule_id) == 0)
            return rules[i].family;
    return "none";
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

/* The escapes of the test data: \n \r \t \0 \\ \xHH. */
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

static int cmd_cases(struct coop_sanitizer *s, const char *dir, const char *outdir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "no %s\n", dir);
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".txt") != 0)
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        unsigned lineno = 0, groups = 0;
        while ((n = getline(&line, &cap, f)) >= 0) {
            lineno++;
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
            if (lineno == 1 && strncmp(line, "#! pii", 6) == 0)
                groups = COOP_SANITIZE_PII;
            char *tab = strchr(line, '\t');
            if (n == 0 || line[0] == '#' || !tab)
                continue;
            *tab = '\0';
            char *text = tab + 1;
            size_t len = unescape(text, (size_t)(line + n - text));
            char name[600];
            snprintf(name, sizeof name, "%.*s-%03u.txt", (int)(l - 4), e->d_name, lineno);
            snprintf(path, sizeof path, "%s/%s", outdir, name);
            FILE *o = fopen(path, "wb");
            if (o) {
                fwrite(text, 1, len, o);
                fclose(o);
            }
            struct coop_buf out;
            coop_buf_init(&out, len * 4 + 4096);
            struct coop_sanitize_counts c = {0};
            coop_sanitize_payload(s, groups, text, len, &out, &c);
            printf("%s\t%s\t%s\t", name, line, strcmp(line, "none") ? family_of(line) : "none");
            for (size_t i = 0; i < c.n; i++)
                printf("%s%s", i ? "," : "", c.by_rule[i].rule_id);
            printf("%s\t", c.n ? "" : "none");
            for (size_t i = 0; i < c.n; i++)
                printf("%s%s", i ? "," : "", family_of(c.by_rule[i].rule_id));
            printf("%s\n", c.n ? "" : "none");
            coop_buf_dispose(&out);
        }
        free(line);
        fclose(f);
    }
    closedir(d);
    return 0;
}

static int cmd_scan(struct coop_sanitizer *s, int nfiles, char **files)
{
    struct coop_sanitize_counts c = {0};
    size_t bytes = 0;
    unsigned flagged = 0;
    for (int i = 0; i < nfiles; i++) {
        struct coop_buf in, out;
        coop_buf_init(&in, 64u << 20);
        coop_buf_init(&out, 128u << 20);
        read_file(files[i], &in);
        unsigned before = c.total;
        coop_sanitize_payload(s, 0, in.data, in.len, &out, &c);
        if (c.total > before) {
            flagged++;
            printf("flagged: %s\n", files[i]);
        }
        bytes += in.len;
        coop_buf_dispose(&in);
        coop_buf_dispose(&out);
    }
    printf("scanned %d files, %zu bytes: %u redactions in %u files\n", nfiles, bytes, c.total,
           flagged);
    for (size_t i = 0; i < c.n; i++)
        printf("  %-28s %u\n", c.by_rule[i].rule_id, c.by_rule[i].count);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-sanitize throughput FILE... | cases DATA_DIR OUT_DIR | "
                        "scan FILE...\n");
        return 2;
    }
    coop_core_init();
    struct coop_sanitizer *s;
    double t0 = now_s();
    if (coop_sanitizer_new(&s) != COOP_ERR_OK)
        return 1;
    double compile_ms = (now_s() - t0) * 1e3;
    int rc = 2;
    if (strcmp(argv[1], "throughput") == 0) {
        printf("rules compiled in %.1f ms\n", compile_ms);
        rc = cmd_throughput(s, argc - 2, argv + 2);
    } else if (strcmp(argv[1], "cases") == 0 && argc == 4) {
        rc = cmd_cases(s, argv[2], argv[3]);
    } else if (strcmp(argv[1], "scan") == 0) {
        rc = cmd_scan(s, argc - 2, argv + 2);
    }
    coop_sanitizer_free(s);
    return rc;
}
