/*
 * Benchmark of the audit chain and the vault, each against a baseline in
 * the same run on the same SQLite file:
 *   - coop_audit_append (one durable transaction that also extends the
 *     hash chain) vs. a plain INSERT of the same row in its own transaction;
 *   - coop_audit_verify over every row;
 *   - coop_vault_open_key (read, XChaCha20-Poly1305 open into sodium_malloc
 *     memory, wipe on free) vs. the same SELECT without the decryption.
 *   bench-audit_vault DIR [ROWS]
 */
#include "bench_args.h"
#include "coop/audit.h"
#include "coop/vault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double now_s(void)
{
    return (double)coop_clock_mono_ns() / 1e9;
}

static coop_err ignore_row(void *ctx, const struct coop_row *row)
{
    (void)ctx;
    (void)row;
    return COOP_ERR_OK;
}

static coop_err plain_insert(struct coop_conn *conn, void *ctx)
{
    int i = *(int *)ctx;
    return coop_conn_exec(conn,
                          "INSERT INTO bench_plain (customer, provider, model, ts, request_id, "
                          "status, status_code, byok, zero_retention, latency_ms, input_tokens, "
                          "output_tokens, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          COOP_PARAMS(COOP_PT("acme"), COOP_PT("openai"), COOP_PT("gpt-4o-mini"),
                                      COOP_PI(coop_clock_now_ms()), COOP_PT("req-bench"),
                                      COOP_PT("ok"), COOP_PI(200), COOP_PI(i & 1),
                                      COOP_PT("system_instruction,headers,store_false"),
                                      COOP_PI(120), COOP_PI(800), COOP_PI(60), COOP_PI(1)),
                          NULL);
}

int main(int argc, char **argv)
{
    if (argc < 2 || coop_core_init() != COOP_ERR_OK) {
        fprintf(stderr, "usage: bench-audit_vault DIR [ROWS]\n");
        return 2;
    }
    int rows = bench_arg_int(argc, argv, 2, 2000);
    char url[4200];
    snprintf(url, sizeof url, "sqlite:%s/bench.db", argv[1]);
    coop_log_set_level(COOP_LOG_ERROR);
    struct coop_store *store = NULL;
    if (coop_store_open(url, 2, &store) || coop_store_migrate(store, NULL) ||
        coop_store_exec(store,
                        "CREATE TABLE bench_plain (id INTEGER PRIMARY KEY, customer TEXT, provider "
                        "TEXT, model TEXT, ts INTEGER, request_id TEXT, status TEXT, status_code "
                        "INTEGER, byok INTEGER, zero_retention TEXT, latency_ms INTEGER, "
                        "input_tokens INTEGER, output_tokens INTEGER, attempts INTEGER)",
                        COOP_NOPARAMS, NULL)) {
        fprintf(stderr, "store setup failed\n");
        return 1;
    }

    double t0 = now_s();
    for (int i = 0; i < rows; i++)
        if (coop_store_tx(store, true, plain_insert, &i))
            return 1;
    double plain = now_s() - t0;

    t0 = now_s();
    for (int i = 0; i < rows; i++) {
        struct coop_audit_row r = {.customer = "acme",
                                   .provider = "openai",
                                   .model = "gpt-4o-mini",
                                   .timestamp_ms = coop_clock_now_ms(),
                                   .request_id = "req-bench",
                                   .status = "ok",
                                   .status_code = 200,
                                   .byok = i & 1,
                                   .zero_retention = "system_instruction,headers,store_false",
                                   .latency_ms = 120,
                                   .input_tokens = 800,
                                   .output_tokens = 60,
                                   .attempts = 1};
        if (coop_audit_append(store, &r))
            return 1;
    }
    double chained = now_s() - t0;

    struct coop_audit_verify_result v;
    t0 = now_s();
    if (coop_audit_verify(store, COOP_AUDIT_CHAIN_LLM, &v) || !v.intact)
        return 1;
    double verify = now_s() - t0;

    struct coop_config cfg;
    memset(&cfg, 0, sizeof cfg);
    coop_config_override(&cfg, "COOP_MASTER_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
    struct coop_vault *vault = NULL;
    char err[200], prefix[17];
    const char *key = "sk-bench-0123456789abcdefghijklmnopqrstuvwxyz0123456789";
    if (coop_vault_open(&cfg, store, &vault, err, sizeof err) ||
        coop_vault_put(vault, "acme", "openai", key, strlen(key), prefix, NULL))
        return 1;
    int opens = rows * 5;
    t0 = now_s();
    for (int i = 0; i < opens; i++)
        if (coop_store_query(store,
                             "SELECT master_id, nonce, sealed, last_used_at FROM byok_keys "
                             "WHERE customer = ? AND provider = ?",
                             COOP_PARAMS(COOP_PT("acme"), COOP_PT("openai")), ignore_row, NULL))
            return 1;
    double select = now_s() - t0;
    t0 = now_s();
    for (int i = 0; i < opens; i++) {
        struct coop_vault_secret *s = NULL;
        if (coop_vault_open_key(vault, "acme", "openai", &s))
            return 1;
        coop_vault_secret_free(s);
    }
    double open = now_s() - t0;

    printf("audit and vault: SQLite file (WAL, synchronous=FULL), %d rows\n", rows);
    printf("  plain INSERT, one tx each   : %9.0f rows/s\n", rows / plain);
    printf("  coop_audit_append (chained) : %9.0f rows/s\n", rows / chained);
    printf("  ratio chained/plain         : %9.2f\n", plain / chained);
    printf("  coop_audit_verify           : %9.0f rows/s\n", rows / verify);
    printf("  SELECT sealed key           : %9.1f us\n", select / opens * 1e6);
    printf("  coop_vault_open_key + free  : %9.1f us\n", open / opens * 1e6);
    printf("  added by decrypt and wipe   : %9.1f us\n", (open - select) / opens * 1e6);
    coop_vault_free(vault);
    coop_store_close(store);
    return 0;
}
